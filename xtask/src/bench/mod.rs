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
//!    [`memory_table`] (`memory.rs`) adds what stays resident.
//!
//! Ratios are what we report: a busy machine makes every figure slower, but
//! roughly all of them together.

mod criterion;
mod memory;
mod peers;
mod prepare;
mod render;
#[cfg(test)]
mod tests;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

use crate::util::{self, is_root, root};
use crate::vm_test;
use criterion::{bench_row, read_criterion, run_benches};
use memory::memory_table;
use memory::rss_pss;
use peers::median_of;
use peers::time_peers;
use prepare::{load, prepare, save};
use render::{give_back, header, load_average, render, write_owned};

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

/// One row of the table: what starts, who measured it, and the median (or
/// why there is none).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What starts.
    pub label: String,
    /// Where the figure comes from (a criterion id, or "timed by xtask").
    pub source: String,
    /// The median, or a note saying why it is missing.
    pub median: Result<Duration, String>,
}

/// How long to measure: `--quick` asks criterion for its quick mode and
/// times fewer runs here.
#[derive(Debug, Clone, Copy)]
struct Plan {
    quick: bool,
}

impl Plan {
    fn runs(self, full: usize, quick: usize) -> usize {
        if self.quick { quick } else { full }
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

/// `cargo xtask bench [--quick]`. `measure_only` is the half that runs as
/// root after `prepare` ran as the calling user.
pub fn run(quick: bool, measure_only: bool) -> Result<()> {
    let plan = Plan { quick };
    if !measure_only {
        let prepared = prepare()?;
        save(&prepared)?;
        if !is_root() {
            println!(
                "The benches create namespaces, cgroups and mounts, and open /dev/kvm: \
                 running the measuring half through sudo."
            );
            let exe = std::env::current_exe().context("find our own executable")?;
            let mut cmd = Command::new("sudo");
            cmd.arg(exe).args(["bench", "--measure-only"]);
            if quick {
                cmd.arg("--quick");
            }
            return util::run(&mut cmd);
        }
    }
    measure(plan, &load()?)
}

/// Steps 2 to 5, as root.
fn measure(plan: Plan, prepared: &Prepared) -> Result<()> {
    if !is_root() {
        bail!("the measuring half needs root: run `cargo xtask bench` (it uses sudo)");
    }
    let started = SystemTime::now();
    let load = load_average();
    let criterion_home = root().join("target/criterion");
    let mut baseline = Baseline::default();
    run_benches(plan, prepared, &criterion_home, &mut baseline)?;
    let results = read_criterion(&criterion_home, Some(started))?;

    let mut rows: Vec<Row> = FROM_BENCHES
        .iter()
        .map(|(id, label)| bench_row(&results, id, label))
        .collect();
    baseline.sample();
    rows.extend(time_peers(plan, prepared));
    rows.push(bench_row(&results, KVM_GUEST.0, KVM_GUEST.1));
    baseline.sample();
    let (boot, qemu_memory) = time_boot(plan, prepared);
    rows.push(boot);
    baseline.sample();
    // The baseline goes first: every ratio divides by it.
    rows.insert(0, baseline.row());

    let header = header(plan, &load);
    let markdown = render(&header, &rows);
    println!("\n{markdown}");
    let out = root().join("book/src/generated/startup.md");
    write_owned(&out, &markdown)?;
    println!("wrote {}", out.display());

    let memory = memory_table(&header, prepared, qemu_memory);
    println!("\n{memory}");
    let out = root().join("book/src/generated/memory.md");
    write_owned(&out, &memory)?;
    println!("wrote {}", out.display());
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
            label: "plain process: `posix_spawn` + exec".into(),
            source: format!("timed by xtask, {} runs spread over the run", self.0.len()),
            median: self
                .0
                .get(self.0.len() / 2)
                .copied()
                .ok_or_else(|| "could not start /bin/true".to_string()),
        }
    }
}
// ANCHOR_END: baseline

// ANCHOR: boot
/// Step 4b: boot Debian's kernel under QEMU with an initramfs holding only
/// `vm-init`, told by the kernel command line to print its marker line at
/// once. Timed from starting QEMU to that line: QEMU's own start, the
/// kernel's boot, unpacking the initramfs, and exec of init. Also returns
/// QEMU's Rss and Pss (KiB) at that moment.
fn time_boot(plan: Plan, prepared: &Prepared) -> (Row, Option<(u64, u64)>) {
    let accel = vm_test::choose_accel();
    let runs = plan.runs(5, 3);
    let mut rss = Vec::new();
    let median = (|| -> Result<Duration> {
        if !vm_test::on_path("qemu-system-x86_64") {
            bail!("QEMU is not installed (`cargo xtask vm-test` installs it as root)");
        }
        let vmlinux = prepared.vmlinux.clone().map_err(anyhow::Error::msg)?;
        let init = prepared.init.clone().map_err(anyhow::Error::msg)?;
        let initramfs = root().join("target/bench/boot-initramfs.cpio");
        write_initramfs(&initramfs, &init)?;
        median_of(runs, || {
            let (took, kib) = boot_once(&vmlinux, &initramfs, accel)?;
            rss.extend(kib);
            Ok(took)
        })
    })();
    rss.sort();
    let row = Row {
        label: format!("Linux kernel boot to init under QEMU ({accel}, 128 MiB, 1 vCPU)"),
        source: format!("timed by xtask, {runs} runs"),
        median: median.map_err(|e| format!("{e:#}")),
    };
    (row, rss.get(rss.len() / 2).copied())
}

fn write_initramfs(path: &Path, init: &Path) -> Result<()> {
    let mut cpio = vm_test::Cpio {
        out: Vec::new(),
        ino: 0,
    };
    for dir in ["dev", "proc", "sys"] {
        cpio.dir(dir);
    }
    // init's stdin/stdout/stderr: the kernel opens /dev/console for them.
    cpio.entry("dev/console", 0o020600, (5, 1), &[]);
    let data = std::fs::read(init).with_context(|| format!("read {}", init.display()))?;
    cpio.file("init", &data);
    cpio.entry("TRAILER!!!", 0, (0, 0), &[]);
    std::fs::write(path, &cpio.out).with_context(|| format!("write {}", path.display()))
}

/// One boot: the time to the marker line, and QEMU's Rss and Pss then.
fn boot_once(
    vmlinux: &Path,
    initramfs: &Path,
    accel: &str,
) -> Result<(Duration, Option<(u64, u64)>)> {
    let append = format!(
        "console=ttyS0 quiet panic=-1 tsc_early_khz={} TINCAN_BOOT_ONLY=1",
        vm_test::tsc_khz()
    );
    let mut cmd = vm_test::qemu_command(vmlinux, initramfs, accel, "128M", &append);
    cmd.stderr(Stdio::null());
    let start = Instant::now();
    let mut qemu = cmd.spawn().context("start qemu-system-x86_64")?;
    let pid = qemu.id();
    let stdout = qemu.stdout.take().context("qemu stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains(vm_test::MARKER) {
                let _ = tx.send(Instant::now());
            }
        }
    });
    let seen = rx.recv_timeout(Duration::from_secs(120));
    let rss = rss_pss(pid).ok();
    // The guest powers itself off; make sure QEMU is gone either way.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && qemu.try_wait()?.is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = qemu.kill();
    let _ = qemu.wait();
    let at = seen
        .map_err(|_| anyhow::anyhow!("no `{}` line from the VM within 120 s", vm_test::MARKER))?;
    Ok((at - start, rss))
}
// ANCHOR_END: boot
