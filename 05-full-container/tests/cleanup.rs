//! Leftovers of a tincan that was killed: the next `tincan` command removes
//! its processes, cgroup, overlay and state directory. As root.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command};

use step05::overlay::{Overlay, is_mount_point};
use step05::state::{ProcessId, State, StateRoot, Status, remove_cgroup};

/// The pids controller's directory for a test cgroup: v1 or v2.
fn test_cgroup(name: &str) -> PathBuf {
    let v1 = PathBuf::from("/sys/fs/cgroup/pids");
    if v1.join("cgroup.procs").exists() {
        v1.join(name)
    } else {
        PathBuf::from("/sys/fs/cgroup").join(name)
    }
}

/// Everything the test creates, removed even when it fails.
struct Leftovers {
    base: PathBuf,
    cgroup: PathBuf,
    sleeper: Option<Child>,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        if let Some(child) = &mut self.sleeper {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = remove_cgroup(&self.cgroup);
        let _ = step05::overlay::remove_layer_dir(&self.base.join("layer"));
        let _ = fs::remove_dir_all(&self.base);
    }
}

/// The pid of a process that has exited: an owner that was `kill -9`ed.
fn dead_owner() -> ProcessId {
    let mut child = Command::new("sleep").arg("60").spawn().expect("spawn");
    let owner = ProcessId::of(child.id() as i32).expect("identify");
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    owner
}

#[test]
fn next_command_removes_what_a_killed_tincan_left() {
    if !step01::testing::need_root() {
        return;
    }
    let tag = format!("tincan-test-cleanup-{}", std::process::id());
    let mut left = Leftovers {
        base: std::env::temp_dir().join(&tag),
        cgroup: test_cgroup(&tag),
        sleeper: None,
    };
    let _ = fs::remove_dir_all(&left.base);
    let image = left.base.join("image");
    fs::create_dir_all(&image).expect("mkdir image");
    let root = StateRoot::new(left.base.join("state"));

    // What a container had when its tincan died: a process in a cgroup, and
    // a mounted overlay.
    fs::create_dir(&left.cgroup).expect("create cgroup");
    let sleeper = Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("spawn sleep");
    let sleeper_id = ProcessId::of(sleeper.id() as i32).expect("identify");
    fs::write(left.cgroup.join("cgroup.procs"), sleeper.id().to_string()).expect("enter cgroup");
    left.sleeper = Some(sleeper);
    let overlay = Overlay::mount(&image, &left.base.join("layer")).expect("mount overlay");
    let layer = overlay.dir.clone();
    std::mem::forget(overlay); // as a kill -9 would: no Drop runs
    let state = State {
        oci_version: "1.0.2".into(),
        id: "tincan-dead".into(),
        status: Status::Running,
        owner: dead_owner(),
        init: Some(sleeper_id),
        bundle: None,
        rootfs: image.clone(),
        cgroups: vec![left.cgroup.clone()],
        overlay_dir: Some(layer.clone()),
        cgroups_path: None,
        net: None,
        monitor: None,
        hooks: Default::default(),
        annotations: Default::default(),
    };
    root.create(&state).expect("write state");
    // A live container next to it must be left alone.
    let alive = State {
        id: "tincan-alive".into(),
        owner: ProcessId::of(std::process::id() as i32).expect("me"),
        init: None,
        cgroups: vec![],
        overlay_dir: None,
        cgroups_path: None,
        ..state
    };
    root.create(&alive).expect("write state");

    // The next tincan command, whatever it is, cleans up first.
    let out = Command::new(env!("CARGO_BIN_EXE_tincan"))
        .env("TINCAN_NET", "none")
        .args([
            "--root".as_ref(),
            root.path().as_os_str(),
            "cleanup".as_ref(),
        ])
        .output()
        .expect("run tincan");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let status = left.sleeper.take().expect("sleeper").wait().expect("wait");
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "the container's process was killed"
    );
    assert!(!left.cgroup.exists(), "cgroup removed");
    assert!(
        !is_mount_point(&layer.join("merged")).expect("mountinfo"),
        "overlay unmounted"
    );
    assert!(!layer.exists(), "overlay directories removed");
    assert!(!root.dir("tincan-dead").exists(), "state removed");
    assert!(
        root.dir("tincan-alive").exists(),
        "a live container is untouched"
    );
    assert!(image.exists(), "the image is never removed");
}

#[test]
fn remove_cgroup_refuses_a_cgroup_tincan_did_not_create() {
    // Checked by name before anything is touched, so no cgroup is needed.
    let err = remove_cgroup(&PathBuf::from("/sys/fs/cgroup/pids/user.slice")).expect_err("refused");
    assert!(err.to_string().contains("not created by tincan"), "{err}");
}
