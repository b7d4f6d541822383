//! `cargo xtask bench`: what each isolation mechanism costs at start-up, in
//! one table, from a plain process (`fork(2)` + `execve(2)`) through
//! namespaces (`clone(2)`, namespaces(7)), a cgroup (cgroups(7)) and a root
//! filesystem (`pivot_root(2)`) to a whole container runtime and a virtual
//! machine (the KVM API, and a Linux kernel booting under QEMU).
//!
//! The steps, each one function (and the file it is in):
//! 1. [`prepare`] (`prepare.rs`): as the calling user, build the five
//!    steps' criterion benches, tincan's rootfs, and what the boot needs
//!    (the static `vm-init` and an uncompressed kernel, as `cargo xtask
//!    vm-test` does);
//! 2. [`run_benches`] (`criterion.rs`): run the benches as root (through
//!    `sudo` when we are not root: they create namespaces, cgroups and
//!    mounts, and open /dev/kvm);
//! 3. [`read_criterion`] (`criterion.rs`): criterion's median for each
//!    benchmark, from `target/criterion/<group>/<bench>/new/estimates.json`;
//! 4. [`time_peers`] (`peers.rs`) and [`time_boot`] (below): time, a
//!    few runs each, what the benches cannot: `runc`, `crun`, `podman` if
//!    installed, and a Linux boot to the first line its init prints;
//! 5. [`render`] (`render.rs`): one Markdown table, every figure also as a
//!    ratio to the plain process, written to `book/src/generated/startup.md`;
//!    [`memory_table`] (`memory.rs`) adds what stays resident, and
//!    `network.rs` what `--net bridge` costs next to `--net none` and a TCP
//!    round trip between containers next to loopback (in a network
//!    namespace of the bench's own).
//!
//! Ratios are what we report: a busy machine makes every figure slower, but
//! roughly all of them together.

mod boot;
mod chart;
mod criterion;
mod fair;
mod memory;
mod network;
mod output;
mod podman;
mod prepare;
mod render;
mod report;
mod runtimes;
mod scale;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

use crate::util::{self, is_root, root};
use boot::time_boot;
use criterion::{bench_row, read_criterion, run_benches};
use prepare::{load, prepare, save};
use render::{give_back, header, load_average};

/// The criterion benches: (package folder, package, bench target).
const BENCHES: [(&str, &str, &str); 5] = [
    ("01-vm-vs-process", "step01-vm-vs-process", "vm"),
    ("02-namespaces", "step02-namespaces", "namespaces"),
    ("03-cgroups", "step03-cgroups", "cgroups"),
    ("04-chroot-pivot", "step04-chroot-pivot", "rootfs"),
    ("05-full-container", "step05-full-container", "container"),
];

// ANCHOR: rows
/// The table's criterion rows, in order: criterion's id (`group/function`)
/// and what starts. Each starts `/bin/true` unless it says otherwise.
const FROM_BENCHES: &[(&str, &str)] = &[
    (
        "namespaces/plain spawn",
        "… the same, in the bench's own window of a second",
    ),
    (
        "namespaces/Sandbox, none",
        "step 02 `Sandbox`: clone + handshake, no new namespace",
    ),
    ("namespaces/cgroup", "… + a cgroup namespace"),
    ("namespaces/ipc", "… + an ipc namespace"),
    ("namespaces/mount", "… + a mount namespace"),
    ("namespaces/net", "… + a net namespace"),
    ("namespaces/pid", "… + a pid namespace"),
    ("namespaces/time", "… + a time namespace"),
    ("namespaces/user", "… + a user namespace"),
    ("namespaces/uts", "… + a uts namespace"),
    ("namespaces/all", "… + all eight namespaces"),
    (
        "cgroups/child in namespaces",
        "step 03: child in pid, uts, ipc namespaces",
    ),
    (
        "cgroups/child in namespaces + cgroup",
        "… + placed in a cgroup (`CLONE_INTO_CGROUP` / `cgroup.procs`)",
    ),
    (
        "cgroups/create+attach+remove v1",
        "step 03: create a v1 cgroup, start the child in it, remove it",
    ),
    (
        "cgroups/create+attach+remove v2",
        "step 03: the same on cgroup v2",
    ),
    ("rootfs/chroot", "step 04: `chroot` into the rootfs"),
    (
        "rootfs/pivot_root + mounts",
        "step 04: namespaces + `pivot_root` + container mounts",
    ),
    (
        "rootfs/pivot_root + mounts + cgroup (step 03)",
        "… + a step 03 cgroup",
    ),
    (
        "container/tincan_run_true",
        "step 05: `tincan run -- /bin/true` (the whole runtime)",
    ),
];

/// The bare KVM guest comes after the peer runtimes, before the boot.
const KVM_GUEST: (&str, &str) = (
    "startup/vm_create_run_to_hlt_drop",
    "step 01: bare KVM guest: create the VM, run to `hlt`, drop it",
);
// ANCHOR_END: rows

/// The chart's bars, top to bottom: (row key, short label). Rows this run
/// did not measure are left out.
const CHART: &[(&str, &str)] = &[
    ("true", "process: /bin/true"),
    ("unshare", "unshare: 5 namespaces"),
    ("namespaces/all", "step 02: clone, all 8 namespaces"),
    (
        "cgroups/create+attach+remove v1",
        "step 03: + a new cgroup (v1)",
    ),
    (
        "rootfs/pivot_root + mounts + cgroup (step 03)",
        "step 04: + pivot_root and mounts",
    ),
    ("tincan", "tincan run --bundle"),
    ("tincan-rootfs", "tincan run --rootfs (docker-like)"),
    ("crun", "crun run"),
    ("runc", "runc run"),
    ("podman-tincan", "podman --runtime tincan"),
    ("podman-crun", "podman --runtime crun"),
    ("podman-runc", "podman --runtime runc"),
    (
        "startup/vm_create_run_to_hlt_drop",
        "step 01: bare KVM guest",
    ),
    ("boot", "Linux boot under QEMU"),
];

/// One row of the table: what starts, who measured it, and the median (or
/// why there is none).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// A short name: the criterion id, or the xtask's own key.
    pub key: String,
    /// What starts.
    pub label: String,
    /// Where the figure comes from (a criterion id, or "timed by xtask").
    pub source: String,
    /// The median, or a note saying why it is missing.
    pub median: Result<Duration, String>,
    /// The fastest and slowest runs, and how many, where known.
    pub spread: Option<Spread>,
}

/// The range of a row's runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    pub min: Duration,
    pub max: Duration,
    pub n: usize,
}

/// What to measure and how long: `cargo xtask bench`'s options.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Criterion's quick mode, fewer runs and counts here.
    pub quick: bool,
    /// Rounds of the side-by-side start-up comparison.
    pub runs: Option<usize>,
    /// Container counts of the scale test.
    pub scale: Option<Vec<usize>>,
    /// Only the runtimes: no criterion benches, no boot.
    pub runtimes_only: bool,
    /// Also write the tables and charts into the book.
    pub book: bool,
}

impl Plan {
    fn runs(&self, full: usize, quick: usize) -> usize {
        if self.quick { quick } else { full }
    }

    /// Rounds of the start-up comparison: 40, or 10 with `--quick`.
    fn rounds(&self) -> usize {
        self.runs.unwrap_or_else(|| self.runs(40, 10)).max(1)
    }

    /// Counts of the scale test: 1, 10, 50, 100, or 1, 10 with `--quick`.
    fn counts(&self) -> Vec<usize> {
        self.scale.clone().unwrap_or_else(|| {
            if self.quick {
                vec![1, 10]
            } else {
                vec![1, 10, 50, 100]
            }
        })
    }

    /// The same options again, for the sudo'ed half.
    pub(super) fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (on, flag) in [
            (self.quick, "--quick"),
            (self.runtimes_only, "--runtimes-only"),
            (self.book, "--book"),
        ] {
            if on {
                args.push(flag.to_string());
            }
        }
        if let Some(n) = self.runs {
            args.push(format!("--runs={n}"));
        }
        if let Some(counts) = &self.scale {
            let counts: Vec<String> = counts.iter().map(ToString::to_string).collect();
            args.push(format!("--scale={}", counts.join(",")));
        }
        args
    }
}

/// What [`prepare`] built, for the (possibly sudo'ed) measuring half.
struct Prepared {
    /// (package folder, bench executable).
    benches: Vec<(PathBuf, PathBuf)>,
    rootfs: PathBuf,
    tincan: Option<PathBuf>,
    vmlinux: Result<PathBuf, String>,
    init: Result<PathBuf, String>,
}

/// Where the prepared paths are written between the two halves.
fn plan_file() -> PathBuf {
    root().join("target/bench/prepared.txt")
}

/// Where every run writes its tables, charts and JSON.
fn report_dir() -> PathBuf {
    root().join("target/bench-report")
}

/// `cargo xtask bench [options]`. `measure_only` is the half that runs as
/// root after `prepare` ran as the calling user.
pub fn run(plan: &Plan, measure_only: bool) -> Result<()> {
    if !measure_only {
        let prepared = prepare(plan)?;
        save(&prepared)?;
        if !is_root() {
            println!(
                "The benches create namespaces, cgroups and mounts, and open /dev/kvm: \
                 running the measuring half through sudo."
            );
            let exe = std::env::current_exe().context("find our own executable")?;
            let mut cmd = Command::new("sudo");
            cmd.arg(exe)
                .args(["bench", "--measure-only"])
                .args(plan.args());
            return util::run(&mut cmd);
        }
    }
    measure(plan, &load()?)
}

/// What the fair part measured, in its own mount namespace.
struct FairRun {
    how: String,
    startup: Vec<runtimes::Measured>,
    podman: Vec<runtimes::Measured>,
    scale: Vec<scale::ScalePoint>,
    /// `--net bridge` against `--net none`, and TCP round trips.
    network: Vec<runtimes::Measured>,
    missing: Vec<String>,
}

/// The runtimes side by side, podman over each, and the scale test. From
/// here on the xtask lives in its private mount namespace.
fn fair_run(plan: &Plan, prepared: &Prepared) -> Result<FairRun> {
    let how = fair::enter_private_mount_namespace()?;
    let mut work = runtimes::Work::new()?;
    let (found, missing) = runtimes::runtimes(prepared, &mut work)?;
    let rounds = plan.rounds();
    println!("start-up: {rounds} rounds, every contender once per round, in turns");
    let startup = runtimes::startup(&found, &work, &prepared.rootfs, rounds);
    let podman_rounds = (rounds / 4).max(3);
    println!("podman: {podman_rounds} rounds over each runtime, in turns");
    let podman = podman::podman_rows(&found, &mut work, &prepared.rootfs, podman_rounds)?;
    let scale = scale::scale(&found, &work, &plan.counts());
    // Last: it moves the xtask into a network namespace of its own.
    println!("network: {rounds} rounds of --net none and --net bridge, in turns; TCP round trips");
    let network = network::rows(&found, &prepared.rootfs, rounds).unwrap_or_else(|e| {
        eprintln!("warning: no network rows: {e:#}");
        Vec::new()
    });
    Ok(FairRun {
        how,
        startup,
        podman,
        scale,
        network,
        missing,
    })
}

/// Steps 2 to 5, as root.
fn measure(plan: &Plan, prepared: &Prepared) -> Result<()> {
    if !is_root() {
        bail!("the measuring half needs root: run `cargo xtask bench` (it uses sudo)");
    }
    let started = SystemTime::now();
    let load = load_average();
    let criterion_home = root().join("target/criterion");
    let mut baseline = Baseline::default();
    let results = if plan.runtimes_only {
        BTreeMap::new()
    } else {
        run_benches(plan, prepared, &criterion_home, &mut baseline)?;
        read_criterion(&criterion_home, Some(started))?
    };
    let mut rows: Vec<Row> = FROM_BENCHES
        .iter()
        .filter(|_| !plan.runtimes_only)
        .map(|(id, label)| bench_row(&results, id, label))
        .collect();
    baseline.sample();
    let fair = fair_run(plan, prepared)?;
    let in_turns = fair.startup.iter().chain(&fair.podman);
    rows.extend(in_turns.map(|m| report::as_row(m, "in turns")));
    baseline.sample();
    let mut memory = None;
    if !plan.runtimes_only {
        rows.push(bench_row(&results, KVM_GUEST.0, KVM_GUEST.1));
        let (boot, qemu_memory) = time_boot(plan, prepared);
        rows.push(boot);
        baseline.sample();
        memory = Some((prepared, qemu_memory));
    }
    // The baseline goes first: every ratio divides by it.
    rows.insert(0, baseline.row());
    output::write_reports(plan, &header(plan, &load), &rows, &fair, memory)?;
    give_back(&criterion_home);
    give_back(&root().join("target/bench"));
    Ok(())
}

// ANCHOR: baseline
/// The unit of every ratio, a plain spawn of `/bin/true`, sampled between
/// the other measurements all through the run. A bench measures its rows
/// in a window of a second or two, and one unlucky window for the baseline
/// would skew every ratio in the table; the median of samples spread over
/// the whole run does not depend on one moment.
#[derive(Default)]
struct Baseline(Vec<Duration>);

impl Baseline {
    /// Twenty-one spawns, now.
    fn sample(&mut self) {
        for _ in 0..21 {
            let start = Instant::now();
            let status = Command::new("/bin/true").status();
            if status.is_ok_and(|s| s.success()) {
                self.0.push(start.elapsed());
            }
        }
    }

    fn row(mut self) -> Row {
        self.0.sort();
        Row {
            key: "baseline".into(),
            label: "plain process: `posix_spawn` + exec".into(),
            source: format!("timed by xtask, {} runs spread over the run", self.0.len()),
            median: self
                .0
                .get(self.0.len() / 2)
                .copied()
                .ok_or_else(|| "could not start /bin/true".to_string()),
            spread: self.0.first().zip(self.0.last()).map(|(min, max)| Spread {
                min: *min,
                max: *max,
                n: self.0.len(),
            }),
        }
    }
}
// ANCHOR_END: baseline
