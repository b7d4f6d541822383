//! `syscall NR [ARG...]`: make one raw system call by number and print the
//! kernel's answer (syscall(2)); `thread`: start one thread and join it.
//!
//! Both exist to look at a seccomp filter from the inside. A number the
//! kernel has no call for answers `ENOSYS` on the host; inside a container
//! whose filter is an allowlist it answers `EPERM`, because the filter
//! refuses it before the kernel looks it up. And glibc starts threads with
//! `clone3` first, falling back to `clone` only on `ENOSYS`: a thread that
//! starts shows that fallback works.

/// `syscall NR [ARG...]`: integer arguments only (at most six).
pub fn main(args: &[String]) -> i32 {
    let parsed: Result<Vec<i64>, _> = args.iter().map(|a| a.parse::<i64>()).collect();
    let (nr, rest) = match parsed.as_deref() {
        Ok([nr, rest @ ..]) if rest.len() <= 6 => (*nr, rest.to_vec()),
        _ => {
            eprintln!("syscall: usage: syscall NUMBER [INTEGER ARG...] (at most six arguments)");
            return 2;
        }
    };
    let mut a = [0i64; 6];
    a[..rest.len()].copy_from_slice(&rest);
    // SAFETY: integer arguments only; a call that takes pointers gets
    // numbers, which the kernel checks (EFAULT), never our memory.
    let rc = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if rc < 0 {
        let errno = nix::errno::Errno::last();
        println!("syscall {nr}: {errno:?} ({})", errno.desc());
        1
    } else {
        println!("syscall {nr}: returned {rc}");
        0
    }
}

/// `thread`: start a thread, join it, say so.
pub fn thread(_args: &[String]) -> i32 {
    match std::thread::Builder::new().spawn(|| 42).map(|t| t.join()) {
        Ok(Ok(42)) => {
            println!("thread: started and joined");
            0
        }
        Ok(_) => {
            eprintln!("thread: the thread panicked");
            1
        }
        Err(e) => {
            eprintln!("thread: cannot start a thread: {e}");
            1
        }
    }
}
