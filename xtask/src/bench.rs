//! `cargo xtask bench`: what each isolation mechanism costs at start-up, in
//! one table, from a plain process (`fork(2)` + `execve(2)`) through
//! namespaces (`clone(2)`, namespaces(7)), a cgroup (cgroups(7)) and a root
//! filesystem (`pivot_root(2)`) to a whole container runtime and a virtual
//! machine (the KVM API, and a Linux kernel booting under QEMU).
//!
//! The steps, each one function below:
//! 1. [`prepare`]: as the calling user, build the five steps' criterion
//!    benches, tincan's rootfs, and what the boot needs (the static
//!    `vm-init` and an uncompressed kernel, as `cargo xtask vm-test` does);
//! 2. [`run_benches`]: run the benches as root (through `sudo` when we are
//!    not root: they create namespaces, cgroups and mounts, and open
//!    /dev/kvm);
//! 3. [`read_criterion`]: criterion's median for each benchmark, from
//!    `target/criterion/<group>/<bench>/new/estimates.json`;
//! 4. [`time_peers`] and [`time_boot`]: time, a few runs each, what the
//!    benches cannot: `runc`, `crun`, `podman` if installed, and a Linux
//!    boot to the first line its init prints;
//! 5. [`render`]: one Markdown table, every figure also as a ratio to the
//!    plain process, written to `book/src/generated/startup.md`.
//!
//! Ratios are what we report: a busy machine makes every figure slower, but
//! roughly all of them together.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

use crate::util::{self, cargo, is_root, root};
use crate::vm_test;

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

// ANCHOR: prepare
/// Step 1: build everything as the calling user, so `target/` stays theirs.
fn prepare() -> Result<Prepared> {
    // Step 04's bench runs /bin/true from tincan's own rootfs.
    crate::rootfs::run()?;
    let mut cmd = cargo();
    cmd.args([
        "bench",
        "--no-run",
        "--message-format",
        "json-render-diagnostics",
    ]);
    for (_, package, _) in BENCHES {
        cmd.args(["-p", package]);
    }
    for (_, _, bench) in BENCHES {
        cmd.args(["--bench", bench]);
    }
    cmd.stdout(Stdio::piped());
    eprintln!("$ {}", util::show(&cmd));
    let output = cmd.output().context("run cargo bench --no-run")?;
    if !output.status.success() {
        bail!("building the benches failed: `{}`", util::show(&cmd));
    }
    let executables = vm_test::executables(&String::from_utf8_lossy(&output.stdout));
    let mut benches = Vec::new();
    for (folder, _, bench) in BENCHES {
        let exe = executables
            .iter()
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{bench}-")))
            })
            .with_context(|| format!("cargo built no executable for the bench `{bench}`"))?;
        benches.push((root().join(folder), exe.clone()));
    }
    // The bench target made cargo build tincan in the same profile.
    let tincan = executables
        .iter()
        .find(|p| p.file_name().is_some_and(|n| n == "tincan"))
        .cloned()
        .or_else(|| Some(root().join("target/release/tincan")))
        .filter(|p| p.is_file());
    let rootfs = step04::rootfs::locate(None)?;
    let vmlinux = vm_test::newest_kernel()
        .and_then(|k| {
            let work = root().join("target/vm-test");
            std::fs::create_dir_all(&work).with_context(|| format!("mkdir {}", work.display()))?;
            vm_test::extract_vmlinux(&k, &work)
        })
        .map_err(|e| format!("{e:#}"));
    let init = vm_test::build_init().map_err(|e| format!("{e:#}"));
    Ok(Prepared {
        benches,
        rootfs,
        tincan,
        vmlinux,
        init,
    })
}
// ANCHOR_END: prepare

fn save(p: &Prepared) -> Result<()> {
    let mut text = String::new();
    for (dir, exe) in &p.benches {
        let _ = writeln!(text, "bench={}\t{}", dir.display(), exe.display());
    }
    let _ = writeln!(text, "rootfs={}", p.rootfs.display());
    if let Some(t) = &p.tincan {
        let _ = writeln!(text, "tincan={}", t.display());
    }
    for (key, value) in [("vmlinux", &p.vmlinux), ("init", &p.init)] {
        match value {
            Ok(path) => writeln!(text, "{key}={}", path.display()),
            Err(e) => writeln!(text, "{key}!={}", e.replace('\n', " ")),
        }
        .expect("writing to a String cannot fail");
    }
    let path = plan_file();
    std::fs::create_dir_all(path.parent().context("plan file has a parent")?)
        .with_context(|| format!("mkdir for {}", path.display()))?;
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))
}

fn load() -> Result<Prepared> {
    let path = plan_file();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("read {} (run `cargo xtask bench`)", path.display()))?;
    let mut p = Prepared {
        benches: Vec::new(),
        rootfs: PathBuf::new(),
        tincan: None,
        vmlinux: Err("no kernel".into()),
        init: Err("no vm-init".into()),
    };
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "bench" => {
                let (dir, exe) = value.split_once('\t').context("bench line has a tab")?;
                p.benches.push((dir.into(), exe.into()));
            }
            "rootfs" => p.rootfs = value.into(),
            "tincan" => p.tincan = Some(value.into()),
            "vmlinux" => p.vmlinux = Ok(value.into()),
            "vmlinux!" => p.vmlinux = Err(value.into()),
            "init" => p.init = Ok(value.into()),
            "init!" => p.init = Err(value.into()),
            _ => {}
        }
    }
    Ok(p)
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

// ANCHOR: run_benches
/// Step 2: run each bench executable the way `cargo bench` does (from its
/// package folder, with `--bench`). Criterion's command line sets the
/// quick mode; its results go to `CRITERION_HOME`.
fn run_benches(
    plan: Plan,
    prepared: &Prepared,
    criterion_home: &Path,
    baseline: &mut Baseline,
) -> Result<()> {
    for (dir, exe) in &prepared.benches {
        baseline.sample();
        let mut cmd = Command::new(exe);
        cmd.current_dir(dir)
            .env("CRITERION_HOME", criterion_home)
            .arg("--bench");
        if plan.quick {
            // Only the benchmarks the table shows, each measured until
            // criterion's estimate is stable (or 5 s).
            cmd.args(["--quick", &filter()]);
        }
        util::run(&mut cmd)?;
    }
    Ok(())
}
// ANCHOR_END: run_benches

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

/// A criterion filter (a regex on `group/function`) for the table's rows.
fn filter() -> String {
    let ids: Vec<String> = FROM_BENCHES
        .iter()
        .chain([&KVM_GUEST])
        .map(|(id, _)| regex_escape(id))
        .collect();
    format!("^({})$", ids.join("|"))
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

// ANCHOR: read_criterion
/// Step 3: criterion writes, per benchmark, `new/benchmark.json` (its id)
/// and `new/estimates.json` (the statistics, in nanoseconds). We take the
/// median's point estimate. `since` ignores results older than this run,
/// so a benchmark that was skipped (no /dev/kvm) does not show an old figure.
pub fn read_criterion(
    home: &Path,
    since: Option<SystemTime>,
) -> Result<BTreeMap<String, Duration>> {
    let mut results = BTreeMap::new();
    let mut stack = vec![home.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("read {}", dir.display())),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "new") {
                if let Some((id, median)) = read_one(&path, since)? {
                    results.insert(id, median);
                }
            } else {
                stack.push(path);
            }
        }
    }
    Ok(results)
}

fn read_one(new: &Path, since: Option<SystemTime>) -> Result<Option<(String, Duration)>> {
    let estimates = new.join("estimates.json");
    let benchmark = new.join("benchmark.json");
    if !estimates.is_file() || !benchmark.is_file() {
        return Ok(None);
    }
    if let Some(since) = since {
        let modified = std::fs::metadata(&estimates)
            .and_then(|m| m.modified())
            .with_context(|| format!("stat {}", estimates.display()))?;
        if modified < since {
            return Ok(None);
        }
    }
    let json = |path: &Path| -> Result<serde_json::Value> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
    };
    let id = json(&benchmark)?["full_id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no full_id in {}", benchmark.display()))?;
    let nanos = json(&estimates)?["median"]["point_estimate"]
        .as_f64()
        .with_context(|| format!("no median.point_estimate in {}", estimates.display()))?;
    Ok(Some((id, Duration::from_secs_f64(nanos / 1e9))))
}
// ANCHOR_END: read_criterion

fn bench_row(results: &BTreeMap<String, Duration>, id: &str, label: &str) -> Row {
    Row {
        label: label.into(),
        source: format!("bench `{id}`"),
        median: results
            .get(id)
            .copied()
            .ok_or_else(|| "not measured in this run (see the bench's output)".to_string()),
    }
}

/// The median of `runs` timings; the first failure ends it.
fn median_of(runs: usize, mut once: impl FnMut() -> Result<Duration>) -> Result<Duration> {
    let mut times = (0..runs).map(|_| once()).collect::<Result<Vec<_>>>()?;
    times.sort();
    Ok(times[times.len() / 2])
}

fn timed(cmd: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("start {}", util::show(cmd)))?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            util::show(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(elapsed)
}

/// Is cgroup2 mounted next to v1 controllers (a "hybrid" host)? crun
/// refuses such a host unless cgroup2 is unmounted in its mount namespace.
fn hybrid() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some("/sys/fs/cgroup/unified"))
}

/// Remove a cgroup we named (`tincan-bench-*`) from every hierarchy,
/// children first: a runtime may leave it (podman leaves `conmon` in it).
fn remove_cgroup(name: &str) {
    assert!(name.starts_with("tincan-bench-"), "only our own cgroups");
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let mut dirs: Vec<PathBuf> = hierarchies
        .flatten()
        .map(|h| h.path().join(name))
        .chain([Path::new("/sys/fs/cgroup").join(name)])
        .filter(|p| p.is_dir())
        .collect();
    while let Some(dir) = dirs.pop() {
        let children: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        if children.is_empty() {
            if let Err(e) = std::fs::remove_dir(&dir) {
                eprintln!("warning: rmdir {}: {e}", dir.display());
            }
        } else {
            dirs.push(dir);
            dirs.extend(children);
        }
    }
}

// ANCHOR: peers
/// Step 4a: other runtimes start the same `/bin/true` from the same rootfs.
/// A missing runtime gives a row with a note; we install nothing.
fn time_peers(plan: Plan, prepared: &Prepared) -> Vec<Row> {
    let work = root().join("target/bench");
    let runs = plan.runs(11, 5);
    let mut rows = Vec::new();
    for runtime in ["runc", "crun"] {
        let label = format!("`{runtime} run` of a bundle");
        let median = if !vm_test::on_path(runtime) {
            Err(format!("{runtime} is not installed"))
        } else {
            let name = format!("tincan-bench-{runtime}");
            let result =
                bundle(&work.join(runtime), &prepared.rootfs, runtime, &name).and_then(|bundle| {
                    median_of(runs, || {
                        timed(&mut runtime_command(runtime, &bundle, &work, &name))
                    })
                });
            remove_cgroup(&name);
            result.map_err(|e| format!("{e:#}"))
        };
        let note = if runtime == "crun" && hybrid() {
            " (hybrid host: in a mount namespace without cgroup2)"
        } else {
            ""
        };
        rows.push(Row {
            label,
            source: format!("timed by xtask, {runs} runs{note}"),
            median,
        });
    }
    let runs = plan.runs(5, 3);
    let median = if !vm_test::on_path("podman") {
        Err("podman is not installed".to_string())
    } else {
        let result =
            podman(&work, &prepared.rootfs).and_then(|mut cmd| median_of(runs, || timed(&mut cmd)));
        remove_cgroup("tincan-bench-podman");
        result.map_err(|e| format!("{e:#}"))
    };
    let note = if hybrid() {
        " (hybrid host: crun behind the same mount namespace trick)"
    } else {
        ""
    };
    rows.push(Row {
        label: "`podman run --rm --net none --rootfs`".into(),
        source: format!("timed by xtask, {runs} runs{note}"),
        median,
    });
    rows
}
// ANCHOR_END: peers

/// An OCI bundle: the runtime's own `spec`, pointed at our rootfs.
fn bundle(dir: &Path, rootfs: &Path, runtime: &str, cgroup: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
    let config = dir.join("config.json");
    let _ = std::fs::remove_file(&config);
    util::run(Command::new(runtime).arg("spec").current_dir(dir))?;
    let text =
        std::fs::read_to_string(&config).with_context(|| format!("read {}", config.display()))?;
    let mut spec: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parse {}", config.display()))?;
    spec["root"] = serde_json::json!({ "path": rootfs, "readonly": true });
    spec["process"]["args"] = serde_json::json!(["/bin/true"]);
    spec["process"]["terminal"] = serde_json::json!(false);
    // Without a path, runc nests the container's cgroup under ours.
    spec["linux"]["cgroupsPath"] = serde_json::json!(format!("/{cgroup}"));
    std::fs::write(&config, serde_json::to_string_pretty(&spec)?)
        .with_context(|| format!("write {}", config.display()))?;
    Ok(dir.to_path_buf())
}

fn runtime_command(runtime: &str, bundle: &Path, work: &Path, name: &str) -> Command {
    let state = work.join(format!("{runtime}-state"));
    let run = format!(
        "exec {runtime} --root '{}' run --bundle '{}' {name}",
        state.display(),
        bundle.display()
    );
    if runtime == "crun" && hybrid() {
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "sh", "-c"])
            .arg(format!("umount /sys/fs/cgroup/unified && {run}"));
        cmd
    } else {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &run]);
        cmd
    }
}

/// podman, kept to our own directories and cgroup: its storage under
/// `target/bench`, a `containers.conf` with the ulimits this host allows
/// (no CAP_SYS_RESOURCE to raise them), and on a hybrid host crun behind a
/// wrapper that hides cgroup2 from it.
fn podman(work: &Path, rootfs: &Path) -> Result<Command> {
    let dir = work.join("podman");
    std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
    let conf = dir.join("containers.conf");
    std::fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n",
    )
    .with_context(|| format!("write {}", conf.display()))?;
    let mut cmd = Command::new("podman");
    cmd.env("CONTAINERS_CONF", &conf)
        .arg("--root")
        .arg(dir.join("storage"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args(["--cgroup-manager", "cgroupfs", "--events-backend", "none"]);
    if hybrid() {
        let wrapper = dir.join("crun-hybrid");
        std::fs::write(
            &wrapper,
            "#!/bin/sh\nexec unshare -m sh -c 'umount /sys/fs/cgroup/unified && exec crun \"$@\"' crun \"$@\"\n",
        )
        .with_context(|| format!("write {}", wrapper.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("chmod {}", wrapper.display()))?;
        cmd.arg("--runtime").arg(wrapper);
    }
    cmd.args([
        "run",
        "--rm",
        "--net",
        "none",
        "--cgroup-parent",
        "/tincan-bench-podman",
        "--rootfs",
    ])
    .arg(rootfs)
    .arg("/bin/true");
    Ok(cmd)
}

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

/// A process's Rss and Pss in KiB, from /proc/<pid>/smaps_rollup.
fn rss_pss(pid: u32) -> Result<(u64, u64), String> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .map_err(|e| format!("read /proc/{pid}/smaps_rollup: {e}"))?;
    match (kib_field(&rollup, "Rss:"), kib_field(&rollup, "Pss:")) {
        (Some(r), Some(p)) => Ok((r, p)),
        _ => Err(format!("no Rss/Pss in /proc/{pid}/smaps_rollup")),
    }
}

/// The KiB value of a `Name:   123 kB` line (status, smaps_rollup).
fn kib_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

// ANCHOR: memory
/// Memory: a process sleeping in a `tincan` container next to the same
/// program on the host, and QEMU with the smallest guest we boot. Rss
/// counts every page mapped; Pss shares each page among the processes that
/// map it (smaps_rollup in proc(5)).
fn memory_table(header: &str, prepared: &Prepared, qemu: Option<(u64, u64)>) -> String {
    let sleep = prepared.rootfs.join("bin/sleep");
    let host = sleeping(Command::new(&sleep).arg("2"), "sleep");
    let container = match &prepared.tincan {
        Some(tincan) => sleeping(
            Command::new(tincan)
                .arg("--root")
                .arg(root().join("target/bench/tincan-state"))
                .arg("run")
                .arg("--rootfs")
                .arg(&prepared.rootfs)
                .args(["--", "/bin/sleep", "2"]),
            "sleep",
        ),
        None => Err("tincan was not built".into()),
    };
    let mut out = format!("{header}\n\n| process | Rss | Pss |\n|---|---:|---:|\n");
    let mut line = |label: &str, m: Result<(u64, u64), String>| {
        let _ = match m {
            Ok((rss, pss)) => writeln!(out, "| {label} | {} | {} |", kib(rss), kib(pss)),
            Err(e) => writeln!(out, "| {label} | — | — ({e}) |"),
        };
    };
    line("toolbox `sleep` on the host", host.map(|(m, _)| m));
    line(
        "toolbox `sleep` inside `tincan run`",
        container.clone().map(|(m, _)| m),
    );
    line(
        "… and the `tincan` process waiting for it",
        container.and_then(|(_, runtime)| runtime.ok_or_else(|| "not found".to_string())),
    );
    line(
        "QEMU with a booted Linux guest (128 MiB, at init)",
        qemu.ok_or_else(|| "no boot measured".to_string()),
    );
    out
}
// ANCHOR_END: memory

/// Rss and Pss (KiB) of a process, and of the runtime above it (if any).
type Footprint = ((u64, u64), Option<(u64, u64)>);

/// Start `cmd`, find the process named `comm` among its descendants, and
/// read its Rss and Pss (and `cmd`'s own, if that is another process); then
/// wait for `cmd` to end.
fn sleeping(cmd: &mut Command, comm: &str) -> Result<Footprint, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("start {}: {e}", util::show(cmd)))?;
    let top = child.id();
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut found = None;
    while Instant::now() < deadline && found.is_none() {
        std::thread::sleep(Duration::from_millis(50));
        found = descendants(top).into_iter().chain([top]).find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        });
    }
    let result = found
        .ok_or_else(|| format!("no `{comm}` process appeared"))
        .and_then(|pid| {
            let runtime = (pid != top).then(|| rss_pss(top).ok()).flatten();
            Ok((rss_pss(pid)?, runtime))
        });
    let _ = child.wait();
    result
}

/// Every process below `pid`, from the ppid field of /proc/*/stat.
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|p| {
                    let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
                    // The comm field may hold spaces: ppid is the 2nd field after ')'.
                    let ppid = stat
                        .rsplit_once(')')?
                        .1
                        .split_whitespace()
                        .nth(1)?
                        .parse()
                        .ok()?;
                    Some((p, ppid))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// The 1-minute load average (the first field of /proc/loadavg, proc(5)).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// The line above the table: when, where, how.
/// `load` is the 1-minute load average when the run began: how busy the
/// machine was, so a reader can tell a quiet run from a noisy one.
fn header(plan: Plan, load: &str) -> String {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let accel = vm_test::choose_accel();
    let kvm = if Path::new("/sys/module/kvm_pvm").exists() {
        "/dev/kvm is `kvm_pvm`, a nested software hypervisor"
    } else if Path::new("/dev/kvm").exists() {
        "/dev/kvm present"
    } else {
        "no /dev/kvm"
    };
    format!(
        "Measured by `cargo xtask bench{}` on {date}: {cpus} CPUs (load average \
         {load} at the start), Linux {}, QEMU accelerator {accel} ({kvm}).",
        if plan.quick { " --quick" } else { "" },
        kernel.trim()
    )
}

// ANCHOR: render
/// Step 5: the Markdown table. The first row is the baseline of every ratio.
pub fn render(header: &str, rows: &[Row]) -> String {
    let base = rows.first().and_then(|r| r.median.as_ref().ok()).copied();
    let mut out = format!(
        "{header}\n\n| what starts | measured by | median | vs plain process |\n|---|---|---:|---:|\n"
    );
    for row in rows {
        let (median, ratio) = match (&row.median, base) {
            (Ok(d), Some(b)) => (duration(*d), ratio(d.as_secs_f64() / b.as_secs_f64())),
            (Ok(d), None) => (duration(*d), "—".into()),
            (Err(note), _) => ("—".into(), format!("— ({note})")),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {median} | {ratio} |",
            row.label, row.source
        );
    }
    out
}
// ANCHOR_END: render

/// A duration with three significant digits in a readable unit.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    let (value, unit) = if s >= 1.0 {
        (s, "s")
    } else if s >= 1e-3 {
        (s * 1e3, "ms")
    } else {
        (s * 1e6, "µs")
    };
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$} {unit}")
}

/// A ratio: one decimal below 10, whole numbers above.
pub fn ratio(r: f64) -> String {
    if r < 10.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.0}×")
    }
}

fn kib(k: u64) -> String {
    if k >= 10 * 1024 {
        format!("{:.0} MiB", k as f64 / 1024.0)
    } else {
        format!("{k} KiB")
    }
}

/// Write a file and, when sudo ran us, give it back to the user.
fn write_owned(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().context("output has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))?;
    give_back(dir);
    Ok(())
}

/// Under sudo, hand what we wrote back to the calling user (`SUDO_UID`),
/// so that their next build or `cargo xtask bench` can overwrite it.
fn give_back(path: &Path) {
    let id = |var: &str| std::env::var(var).ok().and_then(|v| v.parse::<u32>().ok());
    let (Some(uid), Some(gid)) = (id("SUDO_UID"), id("SUDO_GID")) else {
        return;
    };
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let _ = std::os::unix::fs::lchown(&p, Some(uid), Some(gid));
        if p.is_dir() && !p.is_symlink() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture criterion tree in a temp dir, removed even on failure.
    struct Fixture(PathBuf);

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn write_bench(home: &Path, dir: &str, run: &str, id: &str, median_ns: f64) {
        let new = home.join(dir).join(run);
        std::fs::create_dir_all(&new).expect("mkdir fixture");
        let (group, function) = id.split_once('/').expect("id has a group");
        std::fs::write(
            new.join("benchmark.json"),
            format!(
                r#"{{"group_id":"{group}","function_id":"{function}","value_str":null,"throughput":null,"full_id":"{id}","directory_name":"{dir}","title":"{id}"}}"#
            ),
        )
        .expect("write benchmark.json");
        std::fs::write(
            new.join("estimates.json"),
            format!(
                r#"{{"mean":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0}},"point_estimate":999999999.0,"standard_error":1.0}},"median":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0}},"point_estimate":{median_ns},"standard_error":1.0}}}}"#
            ),
        )
        .expect("write estimates.json");
    }

    #[test]
    fn criterion_medians_are_read_by_id() {
        let home = Fixture(
            std::env::temp_dir().join(format!("tincan-xtask-bench-{}", std::process::id())),
        );
        // Criterion's directory names differ from the ids (spaces, slashes).
        write_bench(
            &home.0,
            "namespaces/plain spawn",
            "new",
            "namespaces/plain spawn",
            1_000_000.0,
        );
        write_bench(
            &home.0,
            "container/tincan_run_true",
            "new",
            "container/tincan_run_true",
            6_500_000.0,
        );
        // The previous run's `base` is not this run's result.
        write_bench(&home.0, "startup/vm_x", "base", "startup/vm_x", 5.0);

        let results = read_criterion(&home.0, None).expect("read the fixture");
        assert_eq!(results.len(), 2, "{results:?}");
        assert_eq!(results["namespaces/plain spawn"], Duration::from_millis(1));
        assert_eq!(
            results["container/tincan_run_true"],
            Duration::from_micros(6500)
        );

        // Results older than this run are left out.
        let later = SystemTime::now() + Duration::from_secs(60);
        assert!(
            read_criterion(&home.0, Some(later))
                .expect("read")
                .is_empty()
        );
        // No criterion directory at all is no results, not an error.
        assert!(
            read_criterion(&home.0.join("missing"), None)
                .expect("read")
                .is_empty()
        );
    }

    #[test]
    fn table_shows_medians_and_ratios_to_the_first_row() {
        let home = Fixture(
            std::env::temp_dir().join(format!("tincan-xtask-table-{}", std::process::id())),
        );
        write_bench(
            &home.0,
            "namespaces/plain spawn",
            "new",
            "namespaces/plain spawn",
            1_000_000.0,
        );
        write_bench(
            &home.0,
            "container/tincan_run_true",
            "new",
            "container/tincan_run_true",
            6_500_000.0,
        );
        let results = read_criterion(&home.0, None).expect("read the fixture");
        let rows = vec![
            bench_row(&results, "namespaces/plain spawn", "plain"),
            bench_row(&results, "container/tincan_run_true", "tincan"),
            Row {
                label: "`runc run`".into(),
                source: "timed by xtask, 5 runs".into(),
                median: Err("runc is not installed".into()),
            },
            Row {
                label: "boot".into(),
                source: "timed by xtask, 3 runs".into(),
                median: Ok(Duration::from_millis(2600)),
            },
        ];
        let table = render("Measured here.", &rows);
        let expected = "\
Measured here.

| what starts | measured by | median | vs plain process |
|---|---|---:|---:|
| plain | bench `namespaces/plain spawn` | 1.00 ms | 1.0× |
| tincan | bench `container/tincan_run_true` | 6.50 ms | 6.5× |
| `runc run` | timed by xtask, 5 runs | — | — (runc is not installed) |
| boot | timed by xtask, 3 runs | 2.60 s | 2600× |
";
        assert_eq!(table, expected);
    }

    #[test]
    fn filter_matches_exactly_the_table_rows() {
        let f = filter();
        assert!(f.contains(r"namespaces/plain spawn|"));
        assert!(f.contains(r"pivot_root \+ mounts \+ cgroup \(step 03\)"));
        assert!(f.starts_with("^(") && f.ends_with(")$"));
    }

    #[test]
    fn units_and_ratios_read_well() {
        assert_eq!(duration(Duration::from_micros(850)), "850 µs");
        assert_eq!(duration(Duration::from_micros(35_200)), "35.2 ms");
        assert_eq!(ratio(1.04), "1.0×");
        assert_eq!(ratio(183.4), "183×");
        assert_eq!(kib_field("Rss:   1234 kB\nPss: 99 kB\n", "Pss:"), Some(99));
    }
}
