//! Every demo, run through the built binary with `TINCAN_REDACT=1`, and
//! snapshotted: the book shows these outputs. Plus bad input: one clear
//! line, a non-zero exit, and no process left behind.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_step02-namespaces");

/// One demo at a time: the probe counts processes and mounts on the host,
/// and the mount demo briefly mounts there; running demos side by side
/// would make those rows flicker between "same" and "CHANGED".
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(args: &[&str]) -> Output {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Command::new(BIN)
        .args(args)
        .env("TINCAN_REDACT", "1")
        .output()
        .expect("run the step02-namespaces binary")
}

fn demo(name: &str) -> String {
    let out = run(&[name]);
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Host-wide counts (processes, mounts) move with whatever else the machine
/// runs; when both sides are redacted, their verdict is noise too.
fn volatile_verdicts() -> Vec<(&'static str, &'static str)> {
    vec![(
        r"(?m)^((?:processes in /proc|mounts) +\[N\] +\[N\] +)(?:same|CHANGED)$",
        "$1[VERDICT]",
    )]
}

macro_rules! snapshot_demo {
    ($test:ident, $name:literal) => {
        #[test]
        fn $test() {
            if !step01::testing::need_root() {
                return;
            }
            let output = demo($name);
            insta::with_settings!({ filters => volatile_verdicts() }, {
                insta::assert_snapshot!(concat!("step02_", $name), output);
            });
        }
    };
}

snapshot_demo!(demo_uts_output, "uts");
snapshot_demo!(demo_pid_output, "pid");
snapshot_demo!(demo_mount_output, "mount");
snapshot_demo!(demo_net_output, "net");
snapshot_demo!(demo_ipc_output, "ipc");
snapshot_demo!(demo_user_output, "user");
snapshot_demo!(demo_time_output, "time");
snapshot_demo!(demo_all_output, "all");

#[test]
fn demo_cgroup_output() {
    if !step01::testing::need_root() {
        return;
    }
    // The lesson (and the snapshot) needs a process outside the root
    // cgroup: in the root one, the host's path is `/` already.
    let own = step01::probe::Probe::collect().expect("probe").cgroup;
    if own == "/" {
        return step01::testing::skip(
            "this test runs in the root cgroup, where both views are `/`; run it from a login \
             session or a service",
        );
    }
    let output = demo("cgroup");
    insta::with_settings!({ filters => volatile_verdicts() }, {
        insta::assert_snapshot!("step02_cgroup", output);
    });
}

/// Processes still running our binary whose parent is not us and not
/// another of our binary's processes: strays, orphaned by a failed run.
fn strays() -> Vec<i32> {
    let exe_of = |pid: i32| std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let ppid_of = |pid: i32| -> Option<i32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let bin = std::fs::canonicalize(BIN).expect("binary path");
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|&pid| exe_of(pid).as_ref() == Some(&bin))
        .filter(|&pid| {
            let parent = ppid_of(pid).unwrap_or(0);
            parent != me && exe_of(parent).as_ref() != Some(&bin)
        })
        .collect()
}

fn assert_one_line_error(out: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(expected),
        "{stderr}"
    );
    assert_eq!(strays(), Vec::<i32>::new(), "processes left behind");
}

#[test]
fn bad_input_unknown_namespace_names_valid_ones() {
    let out = run(&["run", "--ns", "uts,bogus", "--", "true"]);
    assert_one_line_error(
        &out,
        "unknown namespace \"bogus\": the namespaces are cgroup, ipc, mount",
    );
}

#[test]
fn bad_input_hostname_longer_than_64_bytes() {
    let long = "x".repeat(65);
    let out = run(&["uts", "--hostname", &long]);
    assert_one_line_error(&out, "is 65 bytes; the kernel accepts 1 to 64");
}

#[test]
fn bad_input_missing_program_inside() {
    if !step02::testing::need_namespaces() {
        return;
    }
    let out = run(&[
        "run",
        "--ns",
        "uts,pid,mount",
        "--",
        "tincan-no-such-program",
    ]);
    assert_one_line_error(
        &out,
        "execvp \"tincan-no-such-program\" inside the namespaces: ",
    );
}

#[test]
fn run_passes_the_exit_status_through() {
    if !step02::testing::need_namespaces() {
        return;
    }
    let out = run(&[
        "run",
        "--ns",
        "pid,mount",
        "--",
        "sh",
        "-c",
        "test $$ = 1 && exit 42",
    ]);
    assert_eq!(
        out.status.code(),
        Some(42),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
