//! The seccomp filter, for real: a forked child installs it and then makes
//! the system calls it should refuse, and some it must allow.

mod common;

use common::{TempDir, stderr, stdout, tincan};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};
use step05::seccomp::{Profile, compile};

/// The checks the child runs, in order; the child exits with the number of
/// the first one that did not behave as expected (0: all fine).
const CHECKS: &[&str] = &[
    "keyctl refused with EPERM",
    "ptrace refused with EPERM",
    "unshare(CLONE_NEWUSER) refused with EPERM",
    "clone(CLONE_NEWUSER) refused with EPERM",
    "clone3 answered ENOSYS",
    "mount refused with EPERM",
    "syscall 1000 (no such call) refused with EPERM, not ENOSYS",
    "cachestat (not in the allowlist) refused with EPERM",
    "personality(ADDR_NO_RANDOMIZE) refused with EPERM",
    "socket(AF_VSOCK) refused with EPERM",
    "getpid allowed",
    "fork (clone without namespace flags) allowed",
];

/// The errno of the last failed call.
fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Runs in the child, after the filter: only raw system calls, no allocation.
/// `confined` says what to expect: refusals, or the calls working.
fn child_checks(confined: bool) -> i32 {
    let results =
    // SAFETY: raw system calls with integer or null arguments, as their man
    // pages allow; clone with flags and a null stack behaves like fork, and
    // the new child exits at once.
    unsafe {
        let keyctl = libc::syscall(
            libc::SYS_keyctl,
            0,  /* KEYCTL_GET_KEYRING_ID */
            -2, /* process */
            0,
        );
        let keyctl_errno = if keyctl < 0 { errno() } else { 0 };
        // Unconfined this fails with ESRCH (we are not traced): the kernel's answer, not the filter's.
        let ptrace = libc::syscall(libc::SYS_ptrace, libc::PTRACE_CONT, libc::getpid(), 0, 0);
        let ptrace_errno = if ptrace < 0 { errno() } else { 0 };
        // Before unshare: in a new user namespace the kernel itself refuses mount.
        // An invalid mount (no such target): unconfined it fails with ENOENT, not EPERM.
        let mount = libc::syscall(
            libc::SYS_mount,
            c"none".as_ptr(),
            c"/nonexistent-tincan".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            0,
        );
        let mount_errno = if mount < 0 { errno() } else { 0 };
        let clone = libc::syscall(
            libc::SYS_clone,
            libc::CLONE_NEWUSER | libc::SIGCHLD,
            0,
            0,
            0,
            0,
        );
        if clone == 0 {
            libc::_exit(0);
        }
        let clone_errno = if clone < 0 { errno() } else { 0 };
        if clone > 0 {
            libc::waitpid(clone as i32, std::ptr::null_mut(), 0);
        }
        // After clone: unmapped in a new user namespace, we could not create another.
        let unshare = libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER);
        let unshare_errno = if unshare < 0 { errno() } else { 0 };
        let clone3 = libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0);
        let clone3_errno = if clone3 < 0 { errno() } else { 0 };
        // A number no kernel has yet: without a filter, ENOSYS.
        let future = libc::syscall(1000, 0, 0, 0);
        let future_errno = if future < 0 { errno() } else { 0 };
        // cachestat (Linux 6.5) on fd -1: without a filter EBADF (or ENOSYS before 6.5).
        let cachestat = libc::syscall(451, -1, 0, 0, 0);
        let cachestat_errno = if cachestat < 0 { errno() } else { 0 };
        // Switching address-space randomisation off: refused by the argument rule.
        let persona = libc::personality(0x0040000);
        let persona_errno = if persona < 0 { errno() } else { 0 };
        let vsock = libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0);
        let vsock_errno = if vsock < 0 { errno() } else { libc::close(vsock); 0 };
        let pid = libc::syscall(libc::SYS_getpid);
        let fork = libc::fork();
        if fork == 0 {
            libc::_exit(0);
        }
        if fork > 0 {
            libc::waitpid(fork, std::ptr::null_mut(), 0);
        }
        [
            keyctl_errno == libc::EPERM,
            ptrace_errno == libc::EPERM,
            unshare_errno == libc::EPERM,
            clone_errno == libc::EPERM,
            clone3_errno == libc::ENOSYS,
            mount_errno == libc::EPERM,
            future_errno == libc::EPERM,
            cachestat_errno == libc::EPERM,
            persona_errno == libc::EPERM,
            vsock_errno == libc::EPERM,
            pid > 0,
            fork > 0,
        ]
    };
    // Unconfined, all but the last two must NOT be refused by a filter;
    // the last two work either way.
    for (i, refused) in results.iter().enumerate() {
        let expected = if i >= results.len() - 2 {
            true
        } else {
            confined
        };
        if *refused != expected {
            return i as i32 + 1;
        }
    }
    0
}

fn run_in_child(profile: Profile) -> i32 {
    let filters = compile(&profile, &step05::capabilities::docker_default())
        .expect("compile the filter in the parent");
    // SAFETY: the child only installs the precompiled filter (no allocation),
    // makes raw system calls and calls _exit.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            // A panic must not unwind into the child's copy of the test
            // harness: its thread would end, and the child exit with 0.
            let code = match std::panic::catch_unwind(|| filters.install()) {
                Ok(Ok(())) => child_checks(profile == Profile::Default),
                Ok(Err(_)) => 100,
                Err(_) => 101,
            };
            // SAFETY: _exit is async-signal-safe and skips the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
            WaitStatus::Exited(_, code) => code,
            other => panic!("child did not exit normally: {other:?}"),
        },
    }
}

fn describe(code: i32) -> &'static str {
    match code {
        0 => "all fine",
        100 => "installing the filter failed",
        101 => "installing the filter panicked (an unfinished lab's todo!?)",
        n => CHECKS
            .get(n as usize - 1)
            .copied()
            .unwrap_or("unknown check"),
    }
}

#[test]
fn default_allowlist_refuses_unlisted_calls_and_allows_ordinary_ones() {
    let code = run_in_child(Profile::Default);
    assert_eq!(code, 0, "failed check: {}", describe(code));
}

#[test]
fn unconfined_lets_the_same_calls_reach_the_kernel() {
    if !step01::testing::need_root() {
        return; // unprivileged, the kernel itself refuses mount with EPERM
    }
    let code = run_in_child(Profile::Unconfined);
    assert_eq!(
        code,
        0,
        "without the filter, this check still saw the refusal: {}",
        describe(code)
    );
}

/// Install `profile` (an OCI `linux.seccomp` as JSON) in a forked child,
/// run `checks` there (raw system calls only) and return its exit code.
fn run_oci_in_child(profile: serde_json::Value, checks: fn() -> i32) -> i32 {
    let profile: oci_spec::runtime::LinuxSeccomp =
        serde_json::from_value(profile).expect("a valid OCI seccomp profile");
    let filters = compile(
        &Profile::Oci(Box::new(profile)),
        &step05::capabilities::docker_default(),
    )
    .expect("compile the OCI profile");
    // SAFETY: the child only installs the precompiled filter, makes raw
    // system calls and calls _exit.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = match filters.install() {
                Ok(()) => checks(),
                Err(_) => 100,
            };
            // SAFETY: _exit is async-signal-safe and skips the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
            WaitStatus::Exited(_, code) => code,
            other => panic!("child did not exit normally: {other:?}"),
        },
    }
}

#[test]
fn oci_profile_rules_give_their_errno_and_argument_conditions_hold() {
    // podman's style: rules with errnoRet, and personality allowed only
    // for some arguments.
    let profile = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["keyctl", "no_such_call_on_x86_64"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
        ]
    });
    fn checks() -> i32 {
        // SAFETY: raw system calls with integer arguments.
        let keyctl = unsafe { libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0) };
        if keyctl != -1 || errno() != libc::ENOSYS {
            return 1; // keyctl answered ENOSYS (errnoRet 38)
        }
        // SAFETY: personality(8) would set UNAME26; it is refused first.
        if unsafe { libc::personality(8) } != -1 || errno() != libc::EPERM {
            return 2; // personality(8) refused with EPERM (the default errno)
        }
        // SAFETY: 0xffffffff only queries the persona.
        if unsafe { libc::personality(0xffff_ffff) } == -1 {
            return 3; // personality(query) allowed: the argument condition
        }
        0
    }
    assert_eq!(run_oci_in_child(profile, checks), 0);
}

#[test]
fn oci_profile_default_action_applies_to_calls_no_rule_names() {
    // An allow list, as podman sends: everything else gets EOPNOTSUPP.
    let profile = serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EOPNOTSUPP,
        "syscalls": [
            {"names": ["getppid", "exit", "exit_group", "_llseek"], "action": "SCMP_ACT_ALLOW"}
        ]
    });
    fn checks() -> i32 {
        // SAFETY: raw system calls without arguments.
        if unsafe { libc::syscall(libc::SYS_getppid) } <= 0 {
            return 1; // getppid allowed
        }
        // SAFETY: as above.
        if unsafe { libc::syscall(libc::SYS_getpid) } != -1 || errno() != libc::EOPNOTSUPP {
            return 2; // getpid, named by no rule, got the default errno
        }
        0
    }
    assert_eq!(run_oci_in_child(profile, checks), 0);
}

#[test]
fn oci_profile_features_tincan_cannot_honour_are_refused() {
    let profile: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_NOTIFY"}]
    }))
    .expect("valid");
    let err = step05::seccomp::validate_oci(&profile).expect_err("NOTIFY is not supported");
    assert!(format!("{err:#}").contains("SCMP_ACT_NOTIFY"), "{err:#}");
}

/// The default image (step 04's toolbox, which has `syscall` and
/// `thread`), built once: two tests building it at the same time race.
fn toolbox_rootfs() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| step04::rootfs::build().expect("build the toolbox rootfs").0)
        .clone()
}

/// The answer part of the toolbox's `syscall N: ANSWER` / `thread: ANSWER`
/// lines, in order.
fn answers(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.split_once(": ").map(|(_, a)| a.to_string()))
        .collect()
}

// ANCHOR: future_call
/// The calls of the allowlist test, as toolbox command lines: a number no
/// kernel has, a call newer than the list (cachestat, Linux 6.5: 451 on
/// every architecture), an ordinary call, and a thread (glibc tries
/// `clone3` first and falls back to `clone` on `ENOSYS`).
fn probes() -> Vec<(String, String)> {
    vec![
        ("syscall 1000".into(), "1000 (no call has it yet)".into()),
        (
            "syscall 451 -1 0 0 0".into(),
            "451 cachestat(-1, ...)".into(),
        ),
        (format!("syscall {}", libc::SYS_getuid), "getuid".into()),
        ("thread".into(), "a thread (clone3, then clone)".into()),
    ]
}
// ANCHOR_END: future_call

#[test]
fn allowlist_refuses_a_call_it_does_not_know_which_the_host_kernel_answers() {
    if !step01::testing::need_root() {
        return;
    }
    let toolbox = toolbox_rootfs().join("bin/toolbox");
    let state = TempDir::new("state-allowlist");
    let mut rows = Vec::new();
    for (line, label) in probes() {
        let args: Vec<&str> = line.split(' ').collect();
        let host = std::process::Command::new(&toolbox)
            .args(&args)
            .output()
            .expect("run the toolbox on the host");
        let mut run = vec!["run", "--", "/bin/toolbox"];
        run.extend(&args);
        let inside = tincan(state.path(), &run);
        assert!(
            inside.status.code().is_some_and(|c| c <= 1),
            "{line}: {}",
            stderr(&inside)
        );
        let host = answers(&stdout(&host)).join(" ");
        let inside = answers(&stdout(&inside)).join(" ");
        rows.push([label, host, inside]);
    }
    let (host_all, inside_all): (Vec<_>, Vec<_>) =
        rows.iter().map(|r| (r[1].clone(), r[2].clone())).unzip();
    // The host's answer to cachestat depends on its kernel (EBADF since 6.5).
    rows[1][1] = "[HOST]".into();
    let mut table = step01::report::Table::new(["system call", "on the host", "in a container"]);
    for row in rows {
        table.row(row);
    }
    let table = table.render();
    // The kernel has no call 1000; the filter refuses it before the kernel looks.
    assert!(host_all[0].starts_with("ENOSYS"), "{table}");
    assert!(inside_all[0].starts_with("EPERM"), "{table}");
    // cachestat exists (EBADF) or not (ENOSYS) on the host; the list does not name it.
    assert!(!host_all[1].starts_with("EPERM"), "{table}");
    assert!(inside_all[1].starts_with("EPERM"), "{table}");
    assert_eq!(inside_all[2], "returned 0", "{table}");
    assert_eq!(inside_all[3], "started and joined", "{table}");
    insta::assert_snapshot!("step05_allowlist", table);
}

#[test]
fn a_capability_opens_its_calls_in_the_default_profile() {
    if !step01::testing::need_root() {
        return;
    }
    toolbox_rootfs();
    let state = TempDir::new("state-allowlist-caps");
    let mount = ["/bin/mount", "-t", "tmpfs", "none", "/tmp"];
    let out = tincan(state.path(), &[&["run", "--"][..], &mount].concat());
    assert_ne!(
        out.status.code(),
        Some(0),
        "mount worked without CAP_SYS_ADMIN"
    );
    // Docker's rule: with CAP_SYS_ADMIN the filter allows mount too (the
    // default seccomp profile, not --seccomp unconfined).
    let out = tincan(
        state.path(),
        &[&["run", "--cap-add", "SYS_ADMIN", "--"][..], &mount].concat(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "mount with CAP_SYS_ADMIN: {}",
        stderr(&out)
    );
}
