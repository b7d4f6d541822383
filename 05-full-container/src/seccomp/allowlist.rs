//! The system calls tincan's default profile allows, group by group, after
//! Docker's default profile (moby `profiles/seccomp/default.json`), written
//! out in our own words with the reason a container needs each group.
//!
//! Everything not listed here is refused with `EPERM`. Names are resolved
//! per architecture ([`crate::syscalls::number_on`]); a name the
//! architecture does not have is skipped, as libseccomp does. The 32-bit
//! names of Docker's list (`chown32`, `_llseek`, `socketcall`, the
//! `*_time64` calls...) are left out: the filter admits only the 64-bit
//! calling convention, so the kernel could never deliver them.

use caps::Capability;
use seccompiler::TargetArch;

// ANCHOR: allowed
/// Calls allowed together, and why a container needs them.
pub struct Group {
    /// Why these calls are safe and needed.
    pub why: &'static str,
    /// Their names, as in syscalls(2).
    pub calls: &'static [&'static str],
}

/// Allowed to every container, whatever its capabilities. Each call still
/// meets the kernel's own checks: `chown` needs `CAP_CHOWN`, `setuid` needs
/// `CAP_SETUID`, `mknod` the device cgroup's consent, `adjtimex` can only
/// read the clock without `CAP_SYS_TIME`.
#[rustfmt::skip]
pub const ALLOWED: &[Group] = &[
    Group {
        why: "files: open, read, write, seek, copy and close what the mount namespace shows",
        calls: &[
            "open", "openat", "openat2", "creat", "close", "close_range", "read", "readv",
            "pread64", "preadv", "preadv2", "write", "writev", "pwrite64", "pwritev", "pwritev2",
            "lseek", "dup", "dup2", "dup3", "fcntl", "flock", "fsync", "fdatasync", "sync",
            "syncfs", "sync_file_range", "truncate", "ftruncate", "fallocate", "fadvise64",
            "readahead", "copy_file_range", "sendfile", "splice", "tee", "vmsplice",
        ],
    },
    Group {
        why: "names and metadata: directories, links, owners, modes, times (the kernel checks)",
        calls: &[
            "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access",
            "faccessat", "faccessat2", "chdir", "fchdir", "getcwd", "getdents", "getdents64",
            "mkdir", "mkdirat", "rmdir", "rename", "renameat", "renameat2", "link", "linkat",
            "symlink", "symlinkat", "unlink", "unlinkat", "readlink", "readlinkat", "mknod",
            "mknodat", "chmod", "fchmod", "fchmodat", "chown", "fchown", "fchownat", "lchown",
            "umask", "utime", "utimes", "utimensat", "futimesat", "name_to_handle_at",
        ],
    },
    // ANCHOR_END: allowed
    Group {
        why: "extended attributes: ACLs, file capabilities, security labels",
        calls: &[
            "getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr",
            "listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr",
            "fremovexattr",
        ],
    },
    Group {
        why: "pipes and waiting for events: every shell, event loop and server",
        calls: &[
            "pipe", "pipe2", "poll", "ppoll", "select", "pselect6", "epoll_create",
            "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait", "epoll_wait_old",
            "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "inotify_init", "inotify_init1",
            "inotify_add_watch", "inotify_rm_watch", "fanotify_mark", "signalfd", "signalfd4",
            "timerfd_create", "timerfd_settime", "timerfd_gettime",
        ],
    },
    Group {
        why: "asynchronous I/O: databases and runtimes (Docker allows io_uring too)",
        calls: &[
            "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
            "io_uring_setup", "io_uring_enter", "io_uring_register",
        ],
    },
    Group {
        why: "memory: map, protect and lock its own pages (the memory cgroup limits them)",
        calls: &[
            "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock",
            "mlock2", "munlock", "mlockall", "munlockall", "remap_file_pages", "membarrier",
            "memfd_create", "memfd_secret", "pkey_alloc", "pkey_free", "pkey_mprotect",
        ],
    },
    Group {
        why: "processes and threads: exec, exit, wait, futexes; fork and vfork make no namespaces",
        calls: &[
            "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
            "set_tid_address", "set_robust_list", "get_robust_list", "futex", "futex_waitv",
            "rseq", "gettid", "getpid", "getppid", "getpgid", "setpgid", "getpgrp", "getsid",
            "setsid", "restart_syscall", "prctl", "pidfd_open", "process_mrelease",
            "get_thread_area", "set_thread_area",
        ],
    },
    Group {
        why: "signals: within the pid namespace, the only processes a container can name",
        calls: &[
            "kill", "tkill", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
            "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigqueueinfo",
            "rt_tgsigqueueinfo", "sigaltstack", "pause", "pidfd_send_signal",
        ],
    },
    Group {
        why: "clocks and timers: read the time and sleep; setting the clock needs CAP_SYS_TIME",
        calls: &[
            "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday",
            "time", "times", "alarm", "getitimer", "setitimer", "timer_create", "timer_delete",
            "timer_settime", "timer_gettime", "timer_getoverrun", "adjtimex", "clock_adjtime",
        ],
    },
    Group {
        why: "users, groups, capabilities: switch within what CAP_SETUID/CAP_SETGID allow",
        calls: &[
            "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
            "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid",
            "setfsgid", "setgroups", "capget", "capset",
        ],
    },
    Group {
        why: "scheduling and limits: priorities, CPU affinity, rlimits (the cgroup caps them)",
        calls: &[
            "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
            "sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_getattr",
            "sched_setattr", "sched_get_priority_max", "sched_get_priority_min",
            "sched_rr_get_interval", "getpriority", "setpriority", "ioprio_get", "ioprio_set",
            "getrlimit", "setrlimit", "prlimit64", "getrusage", "getcpu",
        ],
    },
    Group {
        why: "networking: in the container's own network namespace (socket has its own rule)",
        calls: &[
            "bind", "connect", "listen", "accept", "accept4", "getsockname", "getpeername",
            "socketpair", "setsockopt", "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg",
            "sendmmsg", "recvmmsg", "shutdown",
        ],
    },
    Group {
        why: "System V and POSIX IPC: the IPC namespace gives the container its own",
        calls: &[
            "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
            "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend",
            "mq_timedreceive", "mq_notify", "mq_getsetattr",
        ],
    },
    Group {
        why: "the machine: as the namespaces show it; ioctl is checked by each device",
        calls: &["uname", "sysinfo", "getrandom", "ioctl"],
    },
    Group {
        why: "sandboxing oneself: a filter or a Landlock rule can only take rights away",
        calls: &[
            "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
        ],
    },
    // `clone`, `clone3`, `personality` and `socket` are allowed too, with
    // the argument rules of mod.rs.
    Group {
        why: "with argument rules (see compile)",
        calls: &["clone", "clone3", "personality", "socket"],
    },
];

// ANCHOR: arch_specific
/// Calls only one architecture has, and needs.
pub const ARCH_SPECIFIC: &[(TargetArch, &[&str], &str)] = &[
    (
        TargetArch::x86_64,
        &["arch_prctl", "modify_ldt"],
        "arch_prctl sets a thread's FS base (every program's start-up); modify_ldt, 16-bit code",
    ),
    // aarch64 needs nothing of its own: Docker's arm group (cacheflush,
    // set_tls, arm_fadvise64_64...) names 32-bit ARM calls only.
];
// ANCHOR_END: arch_specific

// ANCHOR: by_capability
/// Calls allowed only to a container whose bounding set holds the
/// capability, as Docker does: with `--cap-add SYS_ADMIN` the kernel would
/// let it mount, so the filter does not stand in the way either. Without
/// the capability the kernel would refuse them anyway; the filter refuses
/// them before the kernel's code for them runs at all (less attack
/// surface), and keeps refusing in a user namespace, where capabilities
/// can be had.
#[rustfmt::skip]
pub const BY_CAPABILITY: &[(Capability, &[&str])] = &[
    (
        Capability::CAP_SYS_ADMIN,
        &[
            "mount", "umount2", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
            "open_tree", "mount_setattr", "unshare", "setns", "sethostname", "setdomainname",
            "quotactl", "quotactl_fd", "fanotify_init", "lookup_dcookie", "bpf",
            "perf_event_open", "syslog",
        ],
    ),
    (Capability::CAP_DAC_READ_SEARCH, &["open_by_handle_at"]),
    (Capability::CAP_SYS_BOOT, &["reboot"]),
    (Capability::CAP_SYS_CHROOT, &["chroot"]),
    (
        Capability::CAP_SYS_MODULE,
        &["init_module", "finit_module", "delete_module"],
    ),
    (Capability::CAP_SYS_PACCT, &["acct"]),
    // Docker allows ptrace and process_vm_* to everyone on kernels since
    // 4.8 (a tracer can no longer rewrite a call after the filter saw it);
    // tincan keeps them behind CAP_SYS_PTRACE, as Docker did before: a
    // debugger in a container is `--cap-add SYS_PTRACE`.
    (
        Capability::CAP_SYS_PTRACE,
        &[
            "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
            "process_madvise",
        ],
    ),
    (Capability::CAP_SYS_RAWIO, &["iopl", "ioperm"]),
    (
        Capability::CAP_SYS_TIME,
        &["settimeofday", "clock_settime"],
    ),
    (Capability::CAP_SYS_TTY_CONFIG, &["vhangup"]),
    (
        Capability::CAP_SYS_NICE,
        &[
            "get_mempolicy", "set_mempolicy", "mbind", "set_mempolicy_home_node",
        ],
    ),
    (Capability::CAP_SYSLOG, &["syslog"]),
    (Capability::CAP_BPF, &["bpf"]),
    (Capability::CAP_PERFMON, &["perf_event_open"]),
];
// ANCHOR_END: by_capability

// ANCHOR: argument_rules
/// `personality(2)` values allowed (Docker's): the default persona, the
/// 32-bit `uname -m` of `linux32`, the 2.6-style version of `UNAME26`, both,
/// and the query. Others (`ADDR_NO_RANDOMIZE`, `READ_IMPLIES_EXEC`) switch
/// off protections such as address-space randomisation.
pub const PERSONALITIES: &[(u64, &str)] = &[
    (0x0000_0000, "PER_LINUX"),
    (0x0000_0008, "PER_LINUX32"),
    (0x0002_0000, "UNAME26"),
    (0x0002_0008, "UNAME26 | PER_LINUX32"),
    (0xffff_ffff, "query"),
];

/// `socket(2)` of any family but this one: `AF_VSOCK` talks to the
/// hypervisor or the host across every network namespace.
pub const REFUSED_SOCKET_FAMILY: (u64, &str) = (libc::AF_VSOCK as u64, "AF_VSOCK");
// ANCHOR_END: argument_rules

// ANCHOR: listing
/// The `tincan seccomp` listing: the default profile for `arch` and a
/// container whose bounding set is `bounding`, one row per group, with the
/// number of calls it allows on that architecture.
pub fn listing(arch: TargetArch, bounding: &crate::capabilities::CapabilitySet) -> String {
    let count = |calls: &[&str]| {
        calls
            .iter()
            .filter(|n| crate::syscalls::number_on(arch, n).is_some())
            .count()
            .to_string()
    };
    let mut table = step01::report::Table::new(["allowed", "calls", "why, or what decides"]);
    for group in ALLOWED.iter().filter(|g| !g.calls.contains(&"clone")) {
        let (name, why) = group.why.split_once(": ").unwrap_or((group.why, ""));
        table.row([name.to_string(), count(group.calls), why.to_string()]);
    }
    for (on, calls, why) in ARCH_SPECIFIC.iter().filter(|(a, _, _)| *a == arch) {
        table.row([format!("{on:?} only"), count(calls), why.to_string()]);
    }
    let admin = bounding.contains(&Capability::CAP_SYS_ADMIN);
    let rules = [
        (
            "clone",
            if admin {
                "any flags (CAP_SYS_ADMIN)"
            } else {
                "only without CLONE_NEW* flags"
            },
        ),
        (
            "clone3",
            if admin {
                "allowed (CAP_SYS_ADMIN)"
            } else {
                "answers ENOSYS: glibc falls back to clone"
            },
        ),
        ("personality", "PER_LINUX, PER_LINUX32, UNAME26, or a query"),
        ("socket", "any family but AF_VSOCK"),
    ];
    for (call, rule) in rules {
        table.row([call.to_string(), "1".to_string(), rule.to_string()]);
    }
    for (cap, calls) in BY_CAPABILITY {
        let name = cap.to_string();
        let held = if bounding.contains(cap) {
            "held: allowed"
        } else {
            "not held: EPERM"
        };
        let mut names = calls.iter().take(4).copied().collect::<Vec<_>>().join(" ");
        if calls.len() > 4 {
            names.push_str(" ...");
        }
        table.row([
            format!("with {name}"),
            count(calls),
            format!("{held} ({names})"),
        ]);
    }
    table.row(["anything else", "-", "EPERM (Operation not permitted)"]);
    table.render()
}
// ANCHOR_END: listing

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::number_on;

    const ARCHES: [TargetArch; 2] = [TargetArch::x86_64, TargetArch::aarch64];

    #[test]
    fn every_name_is_a_call_of_x86_64_or_aarch64() {
        let names = ALLOWED
            .iter()
            .flat_map(|g| g.calls)
            .chain(BY_CAPABILITY.iter().flat_map(|(_, c)| *c));
        for name in names {
            assert!(
                ARCHES.iter().any(|a| number_on(*a, name).is_some()),
                "{name:?} is a call of neither x86_64 nor aarch64 (a typo, or 32-bit only)"
            );
        }
        for (arch, calls, _) in ARCH_SPECIFIC {
            for name in *calls {
                assert!(number_on(*arch, name).is_some(), "{name} on {arch:?}");
            }
        }
    }

    #[test]
    fn no_call_is_listed_twice_in_the_unconditional_groups() {
        let mut names: Vec<_> = ALLOWED.iter().flat_map(|g| g.calls).collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all);
        // And none of them is also one a capability gates.
        for (cap, calls) in BY_CAPABILITY {
            for call in *calls {
                assert!(
                    !names.contains(&call),
                    "{call} is unconditional and behind {cap}"
                );
            }
        }
    }
}
