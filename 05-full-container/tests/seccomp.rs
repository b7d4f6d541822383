//! The seccomp filter, for real: a forked child installs it and then makes
//! the system calls it should refuse, and some it must allow.

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
            pid > 0,
            fork > 0,
        ]
    };
    // Unconfined, the first six must NOT be refused by a filter; the last two work either way.
    for (i, refused) in results.iter().enumerate() {
        let expected = if i >= 6 { true } else { confined };
        if *refused != expected {
            return i as i32 + 1;
        }
    }
    0
}

fn run_in_child(profile: Profile) -> i32 {
    let filters = compile(&profile).expect("compile the filter in the parent");
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
fn default_filter_refuses_dangerous_calls_and_allows_ordinary_ones() {
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
    let filters = compile(&Profile::Oci(Box::new(profile))).expect("compile the OCI profile");
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
