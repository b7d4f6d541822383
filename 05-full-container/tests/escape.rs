//! The escape suite: `tincan escape` runs inside a container and tries
//! twenty classic ways out. With tincan's defaults every one must fail;
//! with the relevant protection switched off, those that can safely
//! succeed must succeed, which proves it is that protection doing the work.

mod common;

use common::{TempDir, rootfs, stderr, stdout, tincan};

/// `attempt -> result` from the table `tincan escape` prints.
fn results(table: &str) -> Vec<(String, String)> {
    table
        .lines()
        .skip(2)
        .filter_map(|l| {
            let mut cells = l.split_whitespace();
            Some((cells.next()?.to_string(), cells.next()?.to_string()))
        })
        .collect()
}

// ANCHOR: hardened
/// Docker's defaults plus the limits a bomb needs to fail (Docker sets none
/// by default) and without `CAP_NET_RAW` (Docker keeps it).
const HARDENED: &[&str] = &[
    "--memory",
    "64m",
    "--pids-limit",
    "64",
    "--cap-drop",
    "NET_RAW",
];
// ANCHOR_END: hardened

#[test]
fn every_escape_attempt_fails_in_a_default_container() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("escape");
    let state = TempDir::new("state-escape");
    let mut args = vec!["run", "--rootfs", image.path().to_str().expect("utf-8")];
    args.extend(HARDENED);
    args.extend(["--", "/tincan", "escape"]);
    let out = tincan(state.path(), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    let results = results(&table);
    assert_eq!(results.len(), step05::escape::ATTEMPTS.len(), "{table}");
    let succeeded: Vec<_> = results.iter().filter(|(_, r)| r == "SUCCEEDED").collect();
    assert!(succeeded.is_empty(), "escapes: {succeeded:?}\n{table}");
    let blocked = results.iter().filter(|(_, r)| r == "BLOCKED").count();
    assert!(
        blocked >= 15,
        "only {blocked} attempts were tried for real:\n{table}"
    );
    // /proc/kcore and /proc/sysrq-trigger exist only on some kernels.
    insta::with_settings!({filters => vec![(r"(?m)^(sysrq-trigger|proc-kcore)(\s+)\S+\s+.*$", "$1$2[HOST]")]}, {
        insta::assert_snapshot!("step05_escape", table);
    });
}

#[test]
fn the_same_attempts_succeed_with_the_protections_off() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("escape-off");
    let state = TempDir::new("state-escape-off");
    // No seccomp, the capabilities the attempts need, no limits, NET_RAW
    // kept, and loop block devices (7:*) allowed in the device cgroup.
    let args = [
        "run",
        "--rootfs",
        image.path().to_str().expect("utf-8"),
        "--seccomp",
        "unconfined",
        "--cap-add",
        "SYS_ADMIN",
        "--cap-add",
        "SYS_PTRACE",
        "--cap-add",
        "SYS_MODULE",
        "--cap-add",
        "BPF",
        "--cap-add",
        "PERFMON",
        "--device-cgroup-rule",
        "b 7:* rwm",
        "--",
        "/tincan",
        "escape",
    ];
    let out = tincan(state.path(), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    let results = results(&table);
    let result = |name: &str| {
        results
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.as_str())
    };
    let must_succeed = [
        "mount",
        "umount-mask",
        "unshare-user",
        "keyctl",
        "ptrace",
        "bpf",
        "perf-event",
        "raw-socket",
        "mknod-disk",
        "fork-bomb",
        "memory-bomb",
    ];
    for name in must_succeed {
        assert_eq!(
            result(name),
            Some("SUCCEEDED"),
            "{name} should succeed unprotected:\n{table}"
        );
    }
    // A kernel without module support answers ENOSYS: "n/a", but never EPERM.
    assert_ne!(result("load-module"), Some("BLOCKED"), "{table}");
    // Protections not switched off here still hold.
    for name in [
        "proc-sys",
        "sys-firmware",
        "proc-1-root",
        "chroot-escape",
        "setuid-root",
    ] {
        assert_eq!(result(name), Some("BLOCKED"), "{name}:\n{table}");
    }
}

/// The same kind of attempts with step 04's toolbox image (the default image
/// of `tincan run`): its `escape-chroot` and `mount` commands.
#[test]
fn toolbox_escapes_fail_in_the_default_image() {
    if !step01::testing::need_root() {
        return;
    }
    // What `cargo xtask rootfs` does (fast when it is already built).
    step04::rootfs::build().expect("build the toolbox rootfs");
    let state = TempDir::new("state-toolbox");
    let secret = TempDir::new("secret");
    let host_file = secret.path().join("host-secret");
    std::fs::write(&host_file, "host secret\n").expect("write the host file");
    let host_file = host_file.to_str().expect("utf-8");

    let out = tincan(
        state.path(),
        &["run", "--", "/bin/escape-chroot", host_file],
    );
    assert!(
        !stdout(&out).contains("host secret"),
        "escaped:\n{}",
        stdout(&out)
    );
    assert_ne!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    let out = tincan(
        state.path(),
        &["run", "--", "/bin/mount", "-t", "tmpfs", "none", "/tmp"],
    );
    assert_ne!(
        out.status.code(),
        Some(0),
        "mount worked in a default container"
    );
    let unconfined = [
        "run",
        "--seccomp",
        "unconfined",
        "--cap-add",
        "SYS_ADMIN",
        "--",
    ];
    let out = tincan(
        state.path(),
        &[
            &unconfined[..],
            &["/bin/mount", "-t", "tmpfs", "none", "/tmp"],
        ]
        .concat(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "mount should work unprotected: {}",
        stderr(&out)
    );
}
