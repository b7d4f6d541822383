//! Many tincan commands at once, on one state root: every one succeeds and
//! nothing is left behind (each command's start-up cleanup must leave the
//! others' containers alone). As root.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{TINCAN, TempDir, assert_nothing_left, rootfs};

/// Run tincan quietly; stdio detached (a created container keeps its
/// monitor's stdout open). Returns success and stderr.
fn tincan(state: &Path, errors: &Path, args: &[&str]) -> (bool, String) {
    let status = Command::new(TINCAN)
        .env("TINCAN_NET", "none")
        .arg("--root")
        .arg(state)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(errors).expect("stderr file"))
        .status()
        .expect("run tincan");
    (
        status.success(),
        std::fs::read_to_string(errors).unwrap_or_default(),
    )
}

/// Run `job(i)` for i in 0..10 on ten threads at once, and collect failures.
fn ten_at_once(job: impl Fn(usize) -> Result<(), String> + Sync) -> Vec<String> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..10)
            .map(|i| {
                scope.spawn({
                    let job = &job;
                    move || job(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().expect("thread").err())
            .collect()
    })
}

#[test]
fn ten_parallel_runs_all_succeed_and_leave_nothing() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("parallel-run");
    let state = TempDir::new("state-parallel-run");
    let logs = TempDir::new("logs-parallel-run");
    let failures = ten_at_once(|i| {
        let name = format!("tincan-par-{i}");
        let args = [
            "run",
            "--rootfs",
            image.path().to_str().expect("utf-8"),
            "--name",
            &name,
            "--pids-limit",
            "64",
            "--",
            "/bin/sh",
            "-c",
            "exit 0",
        ];
        match tincan(state.path(), &logs.path().join(&name), &args) {
            (true, _) => Ok(()),
            (false, err) => Err(format!("{name}: {err}")),
        }
    });
    assert!(failures.is_empty(), "failed runs: {failures:#?}");
    for i in 0..10 {
        assert_nothing_left(state.path(), &format!("tincan-par-{i}"));
    }
}

/// A bundle from `tincan spec` that runs `sh -c 'exit 0'`, with a cgroup path of
/// its own.
fn bundle(image: &Path, i: usize) -> TempDir {
    let tag = format!("par-{i}");
    common::spec_bundle(&tag, image, &["/bin/sh", "-c", "exit 0"], |json| {
        json["linux"]["cgroupsPath"] = format!("/tincan/tincan-cycle-{i}").into();
    })
}

#[test]
fn ten_parallel_create_start_delete_cycles_all_succeed_and_leave_nothing() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("parallel-cycle");
    let state = TempDir::new("state-parallel-cycle");
    let logs = TempDir::new("logs-parallel-cycle");
    let bundles: Vec<TempDir> = (0..10).map(|i| bundle(image.path(), i)).collect();
    let failures = ten_at_once(|i| {
        let id = format!("tincan-cycle-{i}");
        let b = bundles[i].path().to_str().expect("utf-8");
        let log = logs.path().join(&id);
        for args in [
            vec!["create", "--bundle", b, id.as_str()],
            vec!["start", id.as_str()],
            vec!["delete", "--force", id.as_str()],
        ] {
            if let (false, err) = tincan(state.path(), &log, &args) {
                return Err(format!("{id}: tincan {}: {err}", args[0]));
            }
        }
        Ok(())
    });
    assert!(failures.is_empty(), "failed cycles: {failures:#?}");
    for i in 0..10 {
        assert_nothing_left(state.path(), &format!("tincan-cycle-{i}"));
    }
}
