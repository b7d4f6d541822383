//! What a container sees of cgroups, and what its limits do, on whichever
//! cgroup version the kernel runs: this host's v1, and v2 in the VM of
//! `cargo xtask vm-test`, which runs this file too. So it uses only the
//! static toolbox rootfs and tincan itself, no program of the host.
//! As root.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{TINCAN, TempDir, assert_nothing_left, cgroup_exists, stderr, stdout};
use step03::version::Hierarchy;

/// The toolbox rootfs: the one `cargo xtask rootfs` made (the VM test
/// ships it), or built now.
fn toolbox_rootfs() -> PathBuf {
    step04::rootfs::locate(None)
        .unwrap_or_else(|_| step04::rootfs::build().expect("build the toolbox rootfs").0)
}

/// `tincan run` as the host needs it: where `/` is the initramfs (the
/// VM), pivot_root cannot work and `--no-pivot` is what a user would pass.
fn run_args() -> Vec<&'static str> {
    let mut args = vec!["run"];
    if step04::pivot::root_is_initramfs() {
        args.push("--no-pivot");
    }
    args
}

/// `tincan --root STATE run [--no-pivot] --rootfs TOOLBOX ARGS...`.
fn run(state: &Path, args: &[&str]) -> Output {
    let rootfs = toolbox_rootfs();
    Command::new(TINCAN)
        .env("TINCAN_NET", "none")
        .arg("--root")
        .arg(state)
        .args(run_args())
        .arg("--rootfs")
        .arg(&rootfs)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tincan")
}

#[test]
fn proc_self_cgroup_inside_is_the_namespace_root() {
    if !step01::testing::need_root() {
        return;
    }
    let state = TempDir::new("state-cg-ns");
    let out = run(
        state.path(),
        &[
            "--name",
            "tincan-cg-ns",
            "--memory",
            "64m",
            "--",
            "cat",
            "/proc/self/cgroup",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.is_empty(), "no /proc/self/cgroup");
    for line in text.lines() {
        // v2: `0::/`; v1: `4:memory:/` per hierarchy.
        assert!(
            line.ends_with(":/"),
            "the container sees where it sits in the host's tree: {line:?}\n{text}"
        );
    }
    assert_nothing_left(state.path(), "tincan-cg-ns");
}

/// What the book shows: a container's `/proc/self/cgroup` and its memory
/// limit file, snapshotted per cgroup version (`step05_cgroup_view` on
/// CI's v1 host, `step05_cgroup_view_v2` taken in the VM of `cargo xtask
/// vm-test`). v1's hierarchy numbers depend on the host: redacted.
#[test]
fn cgroup_view_transcript() {
    if !step01::testing::need_root() {
        return;
    }
    let (file, name) = match Hierarchy::detect().expect("cgroups") {
        Hierarchy::V2 { .. } => ("/sys/fs/cgroup/memory.max", "step05_cgroup_view_v2"),
        Hierarchy::V1 { .. } => (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "step05_cgroup_view",
        ),
    };
    let state = TempDir::new("state-cg-view");
    let args = [
        "--name",
        "tincan-cg-view",
        "--memory",
        "64m",
        "--",
        "cat",
        "/proc/self/cgroup",
        file,
    ];
    let out = run(state.path(), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut transcript = format!("$ tincan run {}\n", args[2..].join(" "));
    for line in stdout(&out).lines() {
        // `4:memory:/` on v1 (the number is the host's), `0::/` on v2.
        let redacted = match line.split_once(':') {
            Some((id, rest)) if id != "0" && id.parse::<u32>().is_ok() => format!("N:{rest}"),
            _ => line.to_string(),
        };
        transcript.push_str(&redacted);
        transcript.push('\n');
    }
    insta::assert_snapshot!(name, transcript);
    assert_nothing_left(state.path(), "tincan-cg-view");
}

#[test]
fn sys_fs_cgroup_shows_the_containers_own_limit_read_only() {
    if !step01::testing::need_root() {
        return;
    }
    let state = TempDir::new("state-cg-mount");
    let file = match Hierarchy::detect().expect("cgroups") {
        Hierarchy::V2 { .. } => "/sys/fs/cgroup/memory.max",
        Hierarchy::V1 { .. } => "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    };
    let out = run(
        state.path(),
        &[
            "--name",
            "tincan-cg-mount",
            "--memory",
            "64m",
            "--",
            "cat",
            file,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "67108864", "{file} inside");
    // Read-only: not even root inside may create a cgroup or change a limit.
    let out = run(
        state.path(),
        &[
            "--name",
            "tincan-cg-mount",
            "--",
            "touch",
            "/sys/fs/cgroup/tincan-escape",
        ],
    );
    assert!(!out.status.success(), "touch in /sys/fs/cgroup succeeded");
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert_nothing_left(state.path(), "tincan-cg-mount");
}

#[test]
fn the_memory_limit_oom_kills_and_the_pids_limit_stops_a_fork_bomb() {
    if !step01::testing::need_root() {
        return;
    }
    let state = TempDir::new("state-cg-limits");
    let out = run(
        state.path(),
        &[
            "--name",
            "tincan-cg-oom",
            "--memory",
            "32m",
            "--",
            "hog-mem",
            "256",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(137),
        "the OOM killer ends the allocator (128 + SIGKILL): {}",
        stderr(&out)
    );
    assert_nothing_left(state.path(), "tincan-cg-oom");
    let out = run(
        state.path(),
        &[
            "--name",
            "tincan-cg-pids",
            "--pids-limit",
            "16",
            "--",
            "fork-bomb",
            "200",
        ],
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("fork failed"),
        "the limit never stopped it: {text}"
    );
    let forked: u32 = text
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("fork-bomb printed no count: {text}"));
    assert!(
        forked < 16,
        "the fork bomb got {forked} processes past a limit of 16: {text}"
    );
    assert_nothing_left(state.path(), "tincan-cg-pids");
}

/// An OCI bundle around the toolbox rootfs, running `args`.
fn toolbox_bundle(tag: &str, args: &[&str]) -> TempDir {
    common::spec_bundle(tag, &toolbox_rootfs(), args, |_| {})
}

/// The OCI verbs, with the state root `state`: success, stdout, stderr.
fn oci(state: &Path, args: &[&str]) -> (bool, String, String) {
    let out = common::tincan_quiet(state, state, args);
    (out.ok, out.stdout, out.stderr)
}

fn status_of(state: &Path, id: &str) -> String {
    let (ok, out, err) = oci(state, &["state", id]);
    assert!(ok, "state: {err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("state JSON");
    json["status"].as_str().expect("status").to_string()
}

#[test]
fn pause_freezes_the_cgroup_and_resume_thaws_it() {
    if !step01::testing::need_root() {
        return;
    }
    let state = TempDir::new("state-cg-pause");
    let bundle = toolbox_bundle("cg-pause", &["sleep", "600"]);
    let id = "tincan-cg-pause";
    let bundle_arg = bundle.path().to_str().expect("utf-8");
    let mut create = vec!["create", "--bundle", bundle_arg];
    if step04::pivot::root_is_initramfs() {
        create.push("--no-pivot");
    }
    create.push(id);
    let (ok, _, err) = oci(state.path(), &create);
    assert!(ok, "create: {err}");
    assert!(oci(state.path(), &["start", id]).0);
    // The container's freezer: v1's freezer hierarchy, or v2's one tree.
    let cgroup = Path::new("tincan").join(id);
    let freezer = match Hierarchy::detect().expect("cgroups") {
        Hierarchy::V2 { mount } => mount.join(&cgroup),
        Hierarchy::V1 { mounts } => mounts["freezer"].join(&cgroup),
    };
    let frozen = || step03::freezer::is_frozen(&freezer);
    assert!(oci(state.path(), &["pause", id]).0);
    assert_eq!(status_of(state.path(), id), "paused");
    assert!(frozen().expect("read the freezer"), "paused but not frozen");
    assert!(oci(state.path(), &["resume", id]).0);
    assert_eq!(status_of(state.path(), id), "running");
    assert!(!frozen().expect("read the freezer"), "resumed but frozen");
    let (ok, _, err) = oci(state.path(), &["delete", "--force", id]);
    assert!(ok, "delete: {err}");
    assert_nothing_left(state.path(), id);
}

#[test]
fn cleanup_after_kill_9_of_tincan_leaves_no_cgroup_and_no_process() {
    if !step01::testing::need_root() {
        return;
    }
    let state = TempDir::new("state-cg-kill9");
    let id = "tincan-cg-kill9";
    let rootfs = toolbox_rootfs();
    let mut tincan = Command::new(TINCAN)
        .env("TINCAN_NET", "none")
        .arg("--root")
        .arg(state.path())
        .args(run_args())
        .arg("--rootfs")
        .arg(&rootfs)
        .args(["--name", id, "--memory", "64m", "--", "sleep", "600"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run tincan");
    // Wait until the container's cgroup has its process in it.
    let procs = cgroup_procs_file(id);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&procs).map_or(true, |t| t.trim().is_empty()) {
        assert!(
            Instant::now() < deadline,
            "no process in {}",
            procs.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid: i32 = std::fs::read_to_string(&procs)
        .expect("read cgroup.procs")
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("a pid");
    tincan.kill().expect("kill -9 tincan");
    tincan.wait().expect("reap tincan");
    let (ok, _, err) = oci(state.path(), &["cleanup"]);
    assert!(ok, "cleanup: {err}");
    // The container's init was killed with its cgroup, and nothing is left.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() && is_sleep(pid) {
        assert!(Instant::now() < deadline, "the container's sleep survived");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!cgroup_exists(id), "cgroup left behind");
    assert_nothing_left(state.path(), id);
}

/// `cgroup.procs` of the container's cgroup (the memory one on v1).
fn cgroup_procs_file(id: &str) -> PathBuf {
    let relative = Path::new("tincan").join(id).join("cgroup.procs");
    match Hierarchy::detect().expect("cgroups") {
        Hierarchy::V2 { mount } => mount.join(relative),
        Hierarchy::V1 { mounts } => mounts["memory"].join(relative),
    }
}

/// Whether `pid` is still the container's `sleep` (not a reused pid).
fn is_sleep(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split('\0').any(|a| a == "600"))
}

#[test]
#[ignore = "needs / to be the initramfs: `cargo xtask vm-test` runs it in its VM"]
fn on_an_initramfs_root_pivot_root_is_refused_in_one_line() {
    if !step01::testing::need_root() {
        return;
    }
    assert!(
        step04::pivot::root_is_initramfs(),
        "run by the VM test, whose / is the initramfs"
    );
    let state = TempDir::new("state-cg-initramfs");
    let rootfs = toolbox_rootfs();
    let out = Command::new(TINCAN)
        .env("TINCAN_NET", "none")
        .arg("--root")
        .arg(state.path())
        .arg("run")
        .arg("--rootfs")
        .arg(&rootfs)
        .args(["--name", "tincan-cg-initramfs", "--", "true"])
        .output()
        .expect("run tincan");
    let err = stderr(&out);
    assert!(!out.status.success(), "pivot_root on the initramfs worked?");
    assert!(
        err.contains("initramfs") && err.contains("--no-pivot"),
        "{err}"
    );
    assert_nothing_left(state.path(), "tincan-cg-initramfs");
}
