//! Ctrl-C in the middle of a demo: the demo stops, kills its workloads and
//! removes its cgroups (no orphaned processes, no leftover directories).

use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use step03::version::Hierarchy;

const EXE: &str = env!("CARGO_BIN_EXE_step03-cgroups");

#[test]
fn ctrl_c_removes_cgroups_and_kills_workloads() {
    if !step01::testing::need_root() {
        return;
    }
    let dirs: Vec<std::path::PathBuf> = match Hierarchy::detect().expect("detect") {
        Hierarchy::V1 { mounts } => ["stats-a", "stats-b"]
            .iter()
            .map(|n| mounts["pids"].join("tincan").join(n))
            .collect(),
        Hierarchy::V2 { mount } => ["stats-a", "stats-b"]
            .iter()
            .map(|n| mount.join("tincan").join(n))
            .collect(),
    };
    let child = Command::new(EXE)
        .args(["stats", "--seconds", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the stats demo");
    // Wait until its cgroups exist, with processes inside.
    let procs = dirs[0].join("cgroup.procs");
    let mut pids = String::new();
    for _ in 0..200 {
        pids = std::fs::read_to_string(&procs).unwrap_or_default();
        if !pids.trim().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let workload: i32 = pids
        .trim()
        .lines()
        .next()
        .expect("a workload")
        .parse()
        .expect("pid");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("send SIGINT");
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    for dir in &dirs {
        assert!(!dir.exists(), "{} was left behind", dir.display());
    }
    // The workload is gone (killed and reaped), not orphaned.
    assert!(
        !std::path::Path::new(&format!("/proc/{workload}")).exists(),
        "pid {workload} survived"
    );
}
