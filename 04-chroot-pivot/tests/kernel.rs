//! Real-kernel tests of step 04: the escape, what a container sees, and
//! that nothing is left on the host afterwards. They need root.

mod common;

use common::{Scratch, mountinfo, nonce, rootfs, step04, text};
use step01::testing::need_root;

/// These tests look at host-wide state (mounts, processes, cgroups, the
/// shared rootfs), so they run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn escape_succeeds_under_chroot_and_fails_under_pivot_root() {
    if !need_root() {
        return;
    }
    let _serial = serial();
    let rootfs = rootfs();
    let rootfs = rootfs.to_str().expect("utf-8 path");
    let scratch = Scratch::new("escape");
    let secret = format!("host secret {}", nonce());
    let file = scratch.0.join("secret.txt");
    std::fs::write(&file, format!("{secret}\nline two\n")).expect("write host file");
    let file = file.to_str().expect("utf-8 path");

    let chroot = step04(&[
        "run",
        "--rootfs",
        rootfs,
        "--chroot",
        "--",
        "/bin/escape-chroot",
        file,
    ]);
    let (out, err) = text(&chroot);
    assert!(
        chroot.status.success(),
        "escape under chroot should succeed: {out}{err}"
    );
    assert!(
        out.contains(&format!("ESCAPED: read {file}: {secret}")),
        "{out}"
    );

    let pivot = step04(&["run", "--rootfs", rootfs, "--", "/bin/escape-chroot", file]);
    let (out, err) = text(&pivot);
    assert!(
        !pivot.status.success(),
        "escape under pivot_root must fail: {out}"
    );
    assert!(!out.contains(&secret), "the host file was read: {out}");
    assert!(out.contains("escape failed: cannot read"), "{out}");
    assert!(err.contains("ended with status 1"), "{err}");
}

#[test]
fn chroot_changes_the_root_but_leaves_proc_empty() {
    if !need_root() {
        return;
    }
    let _serial = serial();
    let rootfs = rootfs();
    let rootfs = rootfs.to_str().expect("utf-8 path");
    let done = step04(&[
        "run",
        "--rootfs",
        rootfs,
        "--chroot",
        "--",
        "/bin/sh",
        "-c",
        "/bin/ls /; /bin/ls /proc",
    ]);
    let (out, err) = text(&done);
    assert!(done.status.success(), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["bin  dev  etc  proc  root  sys  tmp", ""], "{out}");
}

#[test]
fn pivot_root_container_sees_only_itself() {
    if !need_root() {
        return;
    }
    let _serial = serial();
    let rootfs = rootfs();
    let rootfs = rootfs.to_str().expect("utf-8 path");
    let done = step04(&["run", "--rootfs", rootfs, "--", "/bin/probe"]);
    let (out, err) = text(&done);
    assert!(done.status.success(), "{err}");
    let inside = step01::probe::Probe::decode(&out).expect("decode the probe");
    assert_eq!(inside.pid, 1, "first process of a new PID namespace");
    assert_eq!(inside.processes, 1, "fresh /proc lists only the container");
    assert_eq!(inside.hostname, "tincan");
    assert_eq!(
        inside.root[..4],
        ["bin", "dev", "etc", "proc"],
        "{:?}",
        inside.root
    );
    let host = step01::probe::Probe::collect().expect("probe the host");
    assert_ne!(inside.namespaces.get("mnt"), host.namespaces.get("mnt"));

    let ps = step04(&["run", "--rootfs", rootfs, "--", "/bin/ps"]);
    let (out, _) = text(&ps);
    assert_eq!(
        out.lines().skip(1).map(str::trim).collect::<Vec<_>>(),
        ["1  ps"],
        "{out}"
    );

    // /dev holds only what we put there; /sys is read-only.
    let dev = step04(&[
        "run",
        "--rootfs",
        rootfs,
        "--",
        "/bin/sh",
        "-c",
        "/bin/ls /dev; /bin/touch /sys/x",
    ]);
    let (out, _) = text(&dev);
    assert!(
        out.starts_with("fd  full  null  ptmx  pts  random  shm"),
        "{out}"
    );
    assert!(
        out.contains("touch: /sys/x: Read-only file system"),
        "{out}"
    );
}

#[test]
fn read_only_root_refuses_writes() {
    if !need_root() {
        return;
    }
    let _serial = serial();
    let rootfs = rootfs();
    let marker = format!("root/written-{}", nonce());
    let inside = format!("/{marker}");
    let r = rootfs.to_str().expect("utf-8 path");
    let ro = step04(&[
        "run",
        "--rootfs",
        r,
        "--read-only",
        "--",
        "/bin/touch",
        &inside,
    ]);
    let (out, _) = text(&ro);
    assert!(!ro.status.success());
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!rootfs.join(&marker).exists());
    // The same write without --read-only lands in the rootfs directory.
    let rw = step04(&["run", "--rootfs", r, "--", "/bin/touch", &inside]);
    assert!(rw.status.success(), "{}", text(&rw).1);
    assert!(rootfs.join(&marker).exists());
    std::fs::remove_file(rootfs.join(&marker)).expect("clean up");
}

/// Every cgroup directory named `prefix*` under a `tincan` parent.
fn tincan_cgroups(prefix: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut parents = vec![std::path::PathBuf::from("/sys/fs/cgroup/tincan")];
    if let Ok(dir) = std::fs::read_dir("/sys/fs/cgroup") {
        parents.extend(dir.filter_map(|e| Some(e.ok()?.path().join("tincan"))));
    }
    for parent in parents {
        if let Ok(dir) = std::fs::read_dir(&parent) {
            found.extend(
                dir.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                    .map(|e| e.path()),
            );
        }
    }
    found
}

fn processes_with(marker: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline
                .contains(marker)
                .then(|| format!("{}: {cmdline}", e.file_name().to_string_lossy()))
        })
        .collect()
}

#[test]
fn nothing_leaks_when_the_contained_program_crashes() {
    if !need_root() {
        return;
    }
    let _serial = serial();
    let rootfs = rootfs();
    let before = mountinfo();
    let marker = format!("tincan-leak-{}", nonce());
    let done = step04(&[
        "run",
        "--rootfs",
        rootfs.to_str().expect("utf-8"),
        "--memory",
        "64m",
        "--",
        "/bin/crash",
        &marker,
    ]);
    let (out, err) = text(&done);
    assert!(
        out.contains("left a child behind"),
        "the crash program ran: {out}{err}"
    );
    // abort(3) raises SIGABRT, which the kernel ignores for a namespace's
    // pid 1; glibc then faults on purpose (SIGSEGV). Either way: a signal.
    let status: i32 = err
        .rsplit("ended with status ")
        .next()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no status in {err:?}"));
    assert!(status > 128, "killed by a signal: {err}");
    assert_eq!(
        processes_with(&marker),
        Vec::<String>::new(),
        "a process survived"
    );
    assert_eq!(
        tincan_cgroups("step04-run-"),
        Vec::<std::path::PathBuf>::new(),
        "a cgroup survived"
    );
    let rootfs_text = rootfs.to_string_lossy();
    let leaked: Vec<String> = mountinfo()
        .into_iter()
        .filter(|l| !before.contains(l) && l.contains(&*rootfs_text))
        .collect();
    assert_eq!(leaked, Vec::<String>::new(), "mounts leaked to the host");
}

#[test]
fn demos_leave_the_host_mount_table_unchanged() {
    if !need_root() {
        return;
    }
    let _serial = serial();
    let rootfs = rootfs();
    let r = rootfs.to_str().expect("utf-8 path");
    let before = mountinfo();
    for demo in ["chroot", "escape", "pivot"] {
        let done = step04(&[demo, "--rootfs", r]);
        assert!(done.status.success(), "{demo}: {}", text(&done).1);
    }
    let after = mountinfo();
    let new: Vec<&String> = after.iter().filter(|l| !before.contains(l)).collect();
    // Other programs may mount things meanwhile; none of ours may show up.
    let ours: Vec<&&String> = new
        .iter()
        .filter(|l| l.contains(r) || l.contains("tincan"))
        .collect();
    assert!(ours.is_empty(), "new host mounts: {ours:#?}");
    let listing = |dir: &std::path::Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read rootfs")
            .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        listing(&rootfs),
        ["bin", "dev", "etc", "proc", "root", "sys", "tmp"]
    );
    assert_eq!(
        listing(&rootfs.join("dev")),
        Vec::<String>::new(),
        "mounts wrote into the rootfs"
    );
    assert_eq!(
        tincan_cgroups("step04-pivot-"),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn container_cgroup_limit_is_visible_and_enforced_inside() {
    if !need_root() {
        return;
    }
    let _serial = serial();
    let rootfs = rootfs();
    let r = rootfs.to_str().expect("utf-8 path");
    let probe = step04(&["run", "--rootfs", r, "--memory", "32m", "--", "/bin/probe"]);
    let (out, err) = text(&probe);
    assert!(probe.status.success(), "{err}");
    let inside = step01::probe::Probe::decode(&out).expect("decode the probe");
    assert_eq!(
        inside.cgroup, "/",
        "the cgroup namespace makes our cgroup the root"
    );
    assert_eq!(
        inside.mem_limit_bytes,
        Some(32 << 20),
        "read from the mounted cgroup fs"
    );
    let hog = step04(&[
        "run",
        "--rootfs",
        r,
        "--memory",
        "32m",
        "--",
        "/bin/hog-mem",
        "100",
    ]);
    let (out, err) = text(&hog);
    assert!(
        !out.contains("allocated 100 MiB"),
        "the limit did not hold: {out}"
    );
    assert!(
        err.contains("ended with status 137"),
        "OOM-killed (SIGKILL): {err}"
    );
}

#[test]
fn ctrl_c_removes_the_container_and_its_cgroup() {
    if !need_root() {
        return;
    }
    let _serial = serial();
    let rootfs = rootfs();
    let marker = format!("tincan-ctrl-c-{}", nonce());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_step04-chroot-pivot"))
        .args([
            "run",
            "--rootfs",
            rootfs.to_str().expect("utf-8"),
            "--memory",
            "64m",
            "--",
        ])
        .args(["/bin/sleep", "600", &marker])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the runtime");
    // Wait until the contained sleep really runs.
    let started = std::time::Instant::now();
    // (The runtime's own command line holds the marker too: look for the sleep.)
    let sleeping = |marker: &str| {
        processes_with(marker)
            .into_iter()
            .filter(|p| p.contains(": /bin/sleep 600"))
            .collect::<Vec<_>>()
    };
    while sleeping(&marker).is_empty() {
        assert!(
            started.elapsed().as_secs() < 10,
            "the container never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("send SIGINT");
    let done = child.wait_with_output().expect("wait for the runtime");
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(!done.status.success());
    assert!(err.contains("interrupted"), "{err}");
    assert_eq!(
        sleeping(&marker),
        Vec::<String>::new(),
        "the container survived Ctrl-C"
    );
    assert_eq!(
        tincan_cgroups(&format!("step04-run-{}", pid.as_raw())),
        Vec::<std::path::PathBuf>::new()
    );
}
