//! The OCI lifecycle as podman drives it: `create`, `start`, `state`,
//! `kill`, `delete`, with a bundle written by `tincan spec`. As root.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{TempDir, assert_nothing_left, rootfs};

/// Run tincan with stdio in files (see `common::tincan_quiet`), inside the
/// state directory, which the test removes (tincan lists only
/// subdirectories as containers). Returns success and stderr.
fn tincan(state: &Path, args: &[&str]) -> (bool, String) {
    let out = common::tincan_quiet(state, state, args);
    (out.ok, out.stderr)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A bundle from `tincan spec`, running `script` with `out` bound at /out.
fn bundle(tag: &str, image: &Path, out: &Path, script: &str) -> TempDir {
    common::script_bundle(tag, image, out, script, |_| {})
}

#[test]
fn create_start_kill_delete_like_podman() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("lifecycle");
    let state = TempDir::new("state-lifecycle");
    let out = TempDir::new("out-lifecycle");
    // The program copies /out/gate, which the test rewrites just before
    // `start`: had it run before `start`, it would hold "created".
    let script = "cat /out/gate > /out/started; trap 'echo term > /out/term; exit 0' TERM; while :; do sleep 0.05; done";
    let bundle = bundle("life", image.path(), out.path(), script);
    let pid_file = out.path().join("pid");
    let b = bundle.path().to_str().expect("utf-8");
    let p = pid_file.to_str().expect("utf-8");

    std::fs::write(out.path().join("gate"), "created\n").expect("write gate");
    let (ok, err) = tincan(
        state.path(),
        &["create", "--bundle", b, "--pid-file", p, "tincan-life"],
    );
    assert!(ok, "create: {err}");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .parse()
        .expect("a pid");
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the container's process exists"
    );
    let state_text =
        std::fs::read_to_string(state.path().join("tincan-life/state.json")).expect("state");
    assert!(state_text.contains("\"created\""), "{state_text}");
    std::fs::write(out.path().join("gate"), "started\n").expect("write gate");
    let (ok, err) = tincan(state.path(), &["start", "tincan-life"]);
    assert!(ok, "start: {err}");
    wait_for("the program to start", || {
        std::fs::read_to_string(out.path().join("started")).is_ok_and(|t| t.ends_with('\n'))
    });
    assert_eq!(
        std::fs::read_to_string(out.path().join("started")).expect("started"),
        "started\n",
        "the program ran before start"
    );

    // PID 1 ignores TERM until its trap is set: resend until it answers.
    wait_for("the TERM trap", || {
        let _ = tincan(state.path(), &["kill", "tincan-life", "15"]);
        out.path().join("term").exists()
    });
    // The container exits; its state stays until `delete` (OCI "stopped").
    wait_for("the container to exit", || {
        !step05::state::ProcessId::of(pid).is_ok_and(|p| p.is_alive())
    });
    let (ok, err) = tincan(state.path(), &["delete", "tincan-life"]);
    assert!(ok, "delete of a stopped container: {err}");
    assert_nothing_left(state.path(), "tincan-life");
}

#[test]
fn delete_force_kills_a_running_container() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("lifecycle-force");
    let state = TempDir::new("state-lifecycle-force");
    let out = TempDir::new("out-lifecycle-force");
    let bundle = bundle("force", image.path(), out.path(), "sleep 600");
    let b = bundle.path().to_str().expect("utf-8");
    let (ok, err) = tincan(state.path(), &["create", "--bundle", b, "tincan-force"]);
    assert!(ok, "create: {err}");
    let (ok, err) = tincan(state.path(), &["start", "tincan-force"]);
    assert!(ok, "start: {err}");
    let (ok, err) = tincan(state.path(), &["delete", "tincan-force"]);
    assert!(
        !ok && err.contains("--force"),
        "delete of a running container must refuse: {err}"
    );
    let (ok, err) = tincan(state.path(), &["delete", "--force", "tincan-force"]);
    assert!(ok, "delete --force: {err}");
    assert_nothing_left(state.path(), "tincan-force");
}
