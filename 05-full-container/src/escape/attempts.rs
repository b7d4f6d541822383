//! The attempts themselves: each tries one way out and says what the
//! kernel answered.

use super::*;

pub(super) fn mount_tmpfs() -> Outcome {
    let _ = std::fs::create_dir_all("/tmp/tincan-mnt");
    // SAFETY: valid NUL-terminated strings; a tmpfs mount changes only our mount namespace.
    let rc = unsafe {
        libc::mount(
            c"none".as_ptr(),
            c"/tmp/tincan-mnt".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        // SAFETY: as above.
        unsafe { libc::umount(c"/tmp/tincan-mnt".as_ptr()) };
    }
    syscall_outcome(rc.into(), "mounted a tmpfs")
}

pub(super) fn umount_mask() -> Outcome {
    // SAFETY: a path string; unmounting inside our own mount namespace.
    let rc = unsafe { libc::umount2(c"/proc/keys".as_ptr(), libc::MNT_DETACH) };
    syscall_outcome(rc.into(), "unmounted the mask")
}

pub(super) fn unshare_user() -> Outcome {
    let code = in_child(|| {
        // SAFETY: unshare with a flag; only the forked child changes.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWUSER) };
        if rc == 0 {
            0
        } else {
            nix::errno::Errno::last() as i32
        }
    });
    match code {
        0 => Outcome::Succeeded("new user namespace with a full capability set".into()),
        e => Outcome::Blocked(format!("{:?}", nix::errno::Errno::from_raw(e))),
    }
}

pub(super) fn keyctl() -> Outcome {
    let code = in_child(|| {
        // SAFETY: KEYCTL_JOIN_SESSION_KEYRING (1) with a NULL name creates an anonymous keyring.
        let rc = unsafe { libc::syscall(libc::SYS_keyctl, 1, std::ptr::null::<u8>()) };
        if rc >= 0 {
            0
        } else {
            nix::errno::Errno::last() as i32
        }
    });
    match code {
        0 => Outcome::Succeeded("joined a new session keyring".into()),
        e => Outcome::Blocked(format!("{:?}", nix::errno::Errno::from_raw(e))),
    }
}

pub(super) fn ptrace() -> Outcome {
    // A victim: a child that waits to be killed.
    // SAFETY: the child only pauses.
    let victim = match unsafe { fork() } {
        Ok(ForkResult::Child) => loop {
            // SAFETY: pause just waits for a signal.
            unsafe { libc::pause() };
        },
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return Outcome::Blocked(format!("fork: {e}")),
    };
    // SAFETY: PTRACE_ATTACH with a pid and null pointers.
    let rc = unsafe { libc::ptrace(libc::PTRACE_ATTACH, victim.as_raw(), 0, 0) };
    let outcome = syscall_outcome(rc, "attached to another process");
    let _ = nix::sys::signal::kill(victim, nix::sys::signal::SIGKILL);
    let _ = waitpid(victim, None);
    outcome
}

pub(super) fn load_module() -> Outcome {
    let Ok(file) = std::fs::File::open("/dev/null") else {
        return Outcome::Blocked("no /dev/null".into());
    };
    // SAFETY: finit_module with an open fd and an empty parameter string.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            std::os::fd::AsRawFd::as_raw_fd(&file),
            c"".as_ptr(),
            0,
        )
    };
    if rc < 0 && nix::errno::Errno::last() == nix::errno::Errno::EPERM {
        return Outcome::Blocked("EPERM".into());
    }
    if rc < 0 && nix::errno::Errno::last() == nix::errno::Errno::ENOSYS {
        return Outcome::NotApplicable("this kernel has no module support".into());
    }
    // Any other answer means the kernel read our "module": only its format saved us.
    Outcome::Succeeded(format!("the kernel parsed the module ({})", errno_name()))
}

pub(super) fn bpf() -> Outcome {
    // SAFETY: BPF_MAP_CREATE (0) with a null attribute pointer: EFAULT if the call is allowed.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, 0, std::ptr::null::<u8>(), 0) };
    if rc < 0 && nix::errno::Errno::last() == nix::errno::Errno::EPERM {
        return Outcome::Blocked("EPERM".into());
    }
    Outcome::Succeeded(format!("bpf() reached the kernel ({})", errno_name()))
}

pub(super) fn perf_event() -> Outcome {
    // SAFETY: a null attribute pointer: EFAULT if the call is allowed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            std::ptr::null::<u8>(),
            0,
            -1,
            -1,
            0,
        )
    };
    if rc < 0 && nix::errno::Errno::last() == nix::errno::Errno::EPERM {
        return Outcome::Blocked("EPERM".into());
    }
    Outcome::Succeeded(format!(
        "perf_event_open reached the kernel ({})",
        errno_name()
    ))
}

fn open_for_write(path: &str) -> Outcome {
    // Opening is the test; nothing is ever written.
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(_) => Outcome::Succeeded(format!("{path} is writable")),
        Err(e) => failed(
            nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            path,
        ),
    }
}

pub(super) fn sysrq() -> Outcome {
    open_for_write("/proc/sysrq-trigger")
}

pub(super) fn proc_sys() -> Outcome {
    open_for_write("/proc/sys/kernel/panic")
}

fn read_some(path: &str) -> Outcome {
    let mut buf = [0u8; 16];
    match std::fs::File::open(path).and_then(|mut f| f.read(&mut buf)) {
        Ok(0) => Outcome::Blocked("masked: reads as empty".into()),
        Ok(n) => Outcome::Succeeded(format!("read {n} bytes")),
        Err(e) => failed(
            nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            path,
        ),
    }
}

pub(super) fn proc_kcore() -> Outcome {
    read_some("/proc/kcore")
}

pub(super) fn proc_keys() -> Outcome {
    read_some("/proc/keys")
}

pub(super) fn proc_timer_list() -> Outcome {
    read_some("/proc/timer_list")
}

pub(super) fn sys_firmware() -> Outcome {
    match std::fs::read_dir("/sys/firmware") {
        Ok(entries) => match entries.count() {
            0 => Outcome::Blocked("masked: an empty directory".into()),
            n => Outcome::Succeeded(format!("{n} entries")),
        },
        Err(e) => Outcome::Blocked(e.to_string()),
    }
}

/// The (device, inode) of a directory: the identity of a root.
fn identity(path: &str) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

pub(super) fn proc_1_root() -> Outcome {
    // Any process whose root is not ours would be a door to another filesystem.
    let ours = identity("/");
    let mut doors = 0;
    let mut seen = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        seen += 1;
        let root = identity(&format!("/proc/{pid}/root/"));
        if root.is_some() && root != ours {
            doors += 1;
        }
    }
    if doors == 0 {
        Outcome::Blocked(format!(
            "all {} visible processes share our root (pid namespace)",
            step01::report::measured(seen)
        ))
    } else {
        Outcome::Succeeded(format!("{doors} processes have another root"))
    }
}

pub(super) fn chroot_escape() -> Outcome {
    let before = identity("/");
    let code = in_child(|| {
        let _ = std::fs::create_dir_all("/tmp/tincan-jail");
        // SAFETY: chroot and chdir with valid paths, in the forked child only.
        unsafe {
            // chroot into a subdirectory *without* chdir into it: cwd stays outside.
            if libc::chroot(c"/tmp/tincan-jail".as_ptr()) != 0 {
                return 1;
            }
            for _ in 0..64 {
                libc::chdir(c"..".as_ptr());
            }
            if libc::chroot(c".".as_ptr()) != 0 {
                return 1;
            }
        }
        // Escaped above the container's root?
        if identity("/") == before { 2 } else { 0 }
    });
    match code {
        0 => Outcome::Succeeded("climbed above the container's root".into()),
        1 => Outcome::Blocked(format!("chroot refused ({})", errno_name())),
        _ => Outcome::Blocked("climbed only to the container's own root (pivot_root)".into()),
    }
}

pub(super) fn mknod_disk() -> Outcome {
    // A block device the kernel lists in sysfs.
    let Some(dev) = std::fs::read_dir("/sys/dev/block")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        // loop0 (7:0) first: some sandboxes refuse even root the real disk,
        // which would make this attempt fail for the wrong reason.
        .min_by_key(|n| (n != "7:0", n.clone()))
    else {
        return Outcome::Blocked("no block device visible".into());
    };
    let (major, minor) = dev.split_once(':').unwrap_or(("0", "0"));
    let (major, minor): (u64, u64) = (major.parse().unwrap_or(0), minor.parse().unwrap_or(0));
    let path = c("/tincan-disk");
    // SAFETY: mknod of a block node at a path we own, removed below.
    let rc = unsafe {
        libc::mknod(
            path.as_ptr(),
            libc::S_IFBLK | 0o600,
            libc::makedev(major as u32, minor as u32),
        )
    };
    if rc != 0 {
        return Outcome::Blocked(format!("mknod {}", errno_name()));
    }
    let outcome = match std::fs::File::open("/tincan-disk") {
        Ok(_) => Outcome::Succeeded(format!("opened the host's block device {dev}")),
        Err(e) => Outcome::Blocked(format!(
            "mknod worked, open: {:?} (device cgroup)",
            nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0))
        )),
    };
    let _ = std::fs::remove_file("/tincan-disk");
    outcome
}

pub(super) fn setuid_root() -> Outcome {
    // A setuid-root copy of ourselves, run by uid 1000 with a flag that makes it print its euid.
    let copy = "/tincan-suid";
    // A kernel-side copy: reading the binary into our memory would make
    // this prober the OOM killer's choice in the memory-bomb attempt.
    if std::fs::copy("/proc/self/exe", copy).is_err() {
        return Outcome::Blocked(format!("cannot write {copy}"));
    }
    use std::os::unix::fs::PermissionsExt;
    if std::fs::set_permissions(copy, std::fs::Permissions::from_mode(0o4755)).is_err() {
        return Outcome::Blocked("chmod 4755 refused".into());
    }
    let code = in_child(|| {
        // SAFETY: drop to uid/gid 1000 in the child, then exec the setuid copy.
        unsafe {
            if libc::setgid(1000) != 0 || libc::setuid(1000) != 0 {
                return 100;
            }
            let argv = [
                c"tincan".as_ptr(),
                c"escape".as_ptr(),
                c"--exit-euid".as_ptr(),
                std::ptr::null(),
            ];
            libc::execv(c"/tincan-suid".as_ptr(), argv.as_ptr());
        }
        101
    });
    let _ = std::fs::remove_file(copy);
    match code {
        0 => Outcome::Succeeded("uid 1000 became euid 0".into()),
        100 | 101 => Outcome::Blocked("could not run the copy".into()),
        _ => Outcome::Blocked("setuid bit ignored: euid stayed 1000 (no_new_privs)".into()),
    }
}

pub(super) fn raw_socket() -> Outcome {
    // SAFETY: socket() with constants; the fd is closed at once.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    if fd >= 0 {
        // SAFETY: closing the fd we just opened.
        unsafe { libc::close(fd) };
    }
    syscall_outcome(fd.into(), "opened a raw socket")
}

pub(super) fn fork_bomb() -> Outcome {
    const MAX: usize = 2000;
    let code = in_child(|| {
        let mut children = Vec::new();
        let mut refused = false;
        for _ in 0..MAX {
            // SAFETY: each child only pauses until killed.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => loop {
                    // SAFETY: pause waits for the SIGKILL below.
                    unsafe { libc::pause() };
                },
                Ok(ForkResult::Parent { child }) => children.push(child),
                Err(_) => {
                    refused = true;
                    break;
                }
            }
        }
        let n = children.len();
        for child in children {
            let _ = nix::sys::signal::kill(child, nix::sys::signal::SIGKILL);
            let _ = waitpid(child, None);
        }
        if refused { (n.min(250)) as i32 } else { 251 }
    });
    match code {
        251 => Outcome::Succeeded(format!("{MAX} processes, no limit hit")),
        n => Outcome::Blocked(format!(
            "fork failed after {} processes (pids cgroup)",
            step01::report::measured(n)
        )),
    }
}

pub(super) fn memory_bomb() -> Outcome {
    const MIB: usize = 512;
    let code = in_child(|| {
        // Volunteer as the OOM killer's first choice (raising is unprivileged).
        let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
        let mut blocks = Vec::new();
        for _ in 0..MIB {
            // Touch every page, so the memory is really used.
            blocks.push(vec![1u8; 1 << 20]);
        }
        i32::from(blocks.len() != MIB)
    });
    match code {
        0 => Outcome::Succeeded(format!("{MIB} MiB allocated, no limit hit")),
        c if c == 128 + libc::SIGKILL => {
            Outcome::Blocked("killed by the OOM killer (memory cgroup)".into())
        }
        c => Outcome::Blocked(format!("exit {c}")),
    }
}
