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
    // Wait until both cgroups exist, each with its workload inside.
    let first_pid = |dir: &std::path::Path| -> Option<i32> {
        let pids = std::fs::read_to_string(dir.join("cgroup.procs")).ok()?;
        pids.lines().next()?.trim().parse().ok()
    };
    let mut workloads = Vec::new();
    for _ in 0..200 {
        workloads = dirs.iter().filter_map(|d| first_pid(d)).collect();
        if workloads.len() == dirs.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(workloads.len(), dirs.len(), "a workload in each cgroup");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("send SIGINT");
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    for dir in &dirs {
        assert!(!dir.exists(), "{} was left behind", dir.display());
    }
    // Both workloads are gone (killed and reaped), not orphaned.
    for workload in workloads {
        assert!(
            !std::path::Path::new(&format!("/proc/{workload}")).exists(),
            "pid {workload} survived"
        );
    }
}
