//! Escape attempts: what an attacker inside a container tries first, each
//! as the raw system call, so you can see which protection answers
//! (`tincan run -- /path/to/tincan escape` with tincan copied into the
//! image; the tests do exactly that).
//!
//! Every attempt is harmless even when it succeeds: it opens
//! `/proc/sysrq-trigger` but never writes to it, loads `/dev/null` as a
//! "module" (the kernel refuses the format), reads one byte of a disk.
//! "BLOCKED" names the kernel's answer (`EPERM` from seccomp or a missing
//! capability, `EROFS` from a read-only mount, an empty file where a path
//! is masked...).

use std::ffi::CString;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The protection held; why.
    Blocked(String),
    /// The attempt worked; what it got.
    Succeeded(String),
    /// The target does not exist on this kernel (e.g. no /proc/kcore), so
    /// the attempt proves nothing either way.
    NotApplicable(String),
}

/// Blocked by `errno`, unless the errno says the target is simply absent.
fn failed(errno: nix::errno::Errno, what: &str) -> Outcome {
    if errno == nix::errno::Errno::ENOENT {
        Outcome::NotApplicable(format!("{what}: not in this kernel"))
    } else {
        Outcome::Blocked(format!("{errno:?}"))
    }
}

/// One attempt: a name, what it tries, and the code.
pub struct Attempt {
    /// Short name (`keyctl`).
    pub name: &'static str,
    /// What an attacker wants from it.
    pub goal: &'static str,
    /// Try it.
    pub run: fn() -> Outcome,
}

fn errno_name() -> String {
    let e = nix::errno::Errno::last();
    format!("{e:?}")
}

/// Run `f` in a forked child (so that an attempt that changes the process,
/// such as `unshare` or `chroot`, does not change the prober) and return
/// its exit code, or 128+signal.
fn in_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the prober is single-threaded; the child runs `f` and exits.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let code = f();
            // SAFETY: _exit ends the child without running the parent's handlers.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => code,
            Ok(WaitStatus::Signaled(_, sig, _)) => 128 + sig as i32,
            _ => 255,
        },
        Err(_) => 254,
    }
}

/// A raw system call's result as an outcome: failure is "blocked".
fn syscall_outcome(rc: libc::c_long, success: &str) -> Outcome {
    if rc < 0 {
        Outcome::Blocked(errno_name())
    } else {
        Outcome::Succeeded(success.into())
    }
}

fn c(s: &str) -> CString {
    CString::new(s).expect("attempt paths have no NUL byte")
}

mod attempts;

use attempts::*;

// ANCHOR: attempts
/// Every attempt, in the order the book discusses them.
pub const ATTEMPTS: &[Attempt] = &[
    Attempt {
        name: "mount",
        goal: "mount a filesystem (uncover masked paths, reach devices)",
        run: mount_tmpfs,
    },
    Attempt {
        name: "umount-mask",
        goal: "unmount the mask on /proc/keys",
        run: umount_mask,
    },
    Attempt {
        name: "unshare-user",
        goal: "a new user namespace, where we hold every capability",
        run: unshare_user,
    },
    Attempt {
        name: "keyctl",
        goal: "the kernel keyring (not namespaced: other containers' secrets)",
        run: keyctl,
    },
    Attempt {
        name: "ptrace",
        goal: "attach to another process and rewrite it",
        run: ptrace,
    },
    Attempt {
        name: "load-module",
        goal: "load code into the host kernel",
        run: load_module,
    },
    Attempt {
        name: "bpf",
        goal: "load a BPF program into the kernel",
        run: bpf,
    },
    Attempt {
        name: "perf-event",
        goal: "kernel performance counters (leaks, attack surface)",
        run: perf_event,
    },
    Attempt {
        name: "sysrq-trigger",
        goal: "open /proc/sysrq-trigger for writing (crash or reboot the host)",
        run: sysrq,
    },
    Attempt {
        name: "proc-sys",
        goal: "write a host kernel setting under /proc/sys",
        run: proc_sys,
    },
    Attempt {
        name: "proc-kcore",
        goal: "read the host's memory through /proc/kcore",
        run: proc_kcore,
    },
    Attempt {
        name: "proc-keys",
        goal: "list the kernel's keys in /proc/keys",
        run: proc_keys,
    },
    Attempt {
        name: "proc-timer-list",
        goal: "other processes' timers in /proc/timer_list",
        run: proc_timer_list,
    },
    Attempt {
        name: "sys-firmware",
        goal: "read the host's firmware tables in /sys/firmware",
        run: sys_firmware,
    },
    Attempt {
        name: "proc-1-root",
        goal: "reach the host's / through /proc/<pid>/root",
        run: proc_1_root,
    },
    Attempt {
        name: "chroot-escape",
        goal: "the double-chroot trick to climb above the root",
        run: chroot_escape,
    },
    Attempt {
        name: "mknod-disk",
        goal: "create a block device for the host's disk and read it",
        run: mknod_disk,
    },
    Attempt {
        name: "setuid-root",
        goal: "a setuid-root copy of a program, run as uid 1000, gains root",
        run: setuid_root,
    },
    Attempt {
        name: "raw-socket",
        goal: "open a raw socket (forge packets)",
        run: raw_socket,
    },
    Attempt {
        name: "fork-bomb",
        goal: "exhaust the host's process table (stops at 2000)",
        run: fork_bomb,
    },
    Attempt {
        name: "memory-bomb",
        goal: "exhaust the host's memory (stops at 512 MiB)",
        run: memory_bomb,
    },
];
// ANCHOR_END: attempts

/// Run the attempts named in `only` (all when empty) and render a table.
/// Returns the table and the number of attempts that succeeded.
pub fn run_attempts(only: &[String]) -> (String, usize) {
    let mut table = step01::report::Table::new(["attempt", "result", "detail"]);
    let mut successes = 0;
    for attempt in ATTEMPTS
        .iter()
        .filter(|a| only.is_empty() || only.iter().any(|o| o == a.name))
    {
        let (result, detail) = match (attempt.run)() {
            Outcome::Blocked(why) => ("BLOCKED", why),
            Outcome::Succeeded(what) => {
                successes += 1;
                ("SUCCEEDED", what)
            }
            Outcome::NotApplicable(why) => ("n/a", why),
        };
        table.row([attempt.name.to_string(), result.to_string(), detail]);
    }
    (table.render(), successes)
}
