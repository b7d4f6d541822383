//! `clone3(2)`: the newer clone, which takes its arguments as a struct and
//! so has room for what `clone(2)`'s register-sized flags cannot hold.
//!
//! One of those is `CLONE_INTO_CGROUP` (Linux 5.7, cgroup v2 only): the
//! struct carries an open cgroup directory, and the kernel creates the
//! child directly in that cgroup. Step 03 explains why that matters for
//! limits (the child is never outside them); it also saves the move that
//! writing a pid into `cgroup.procs` costs: to migrate a process the kernel
//! takes a global lock (`cgroup_threadgroup_rwsem`) for writing, and
//! taking it may wait for an RCU grace period, milliseconds on a busy
//! machine, where being born in place costs nothing extra.
//!
//! Used fork-like here (no `CLONE_VM`, no stack given): the child runs on a
//! copy of the caller's memory and returns from the call with 0.

use std::os::fd::RawFd;

/// `CLONE_INTO_CGROUP` from linux/sched.h. The libc crate declares it as a
/// 32-bit `c_int`, which cannot hold bit 33, so we spell it out.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

// ANCHOR: clone3
/// The raw `clone3(2)` system call, fork-like (no shared memory, SIGCHLD on
/// exit, as a sibling's with `CLONE_PARENT`), born into the cgroup open as `cgroup_fd` when it is given (add
/// [`CLONE_INTO_CGROUP`] to `flags` then). Returns the child's pid in the
/// parent, 0 in the child, -1 on error (errno set).
pub fn clone3(flags: u64, cgroup_fd: Option<RawFd>) -> libc::pid_t {
    // SAFETY: clone_args is a plain C struct; all-zero is its documented
    // "nothing requested" value.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = flags;
    // With CLONE_PARENT the child is a sibling and inherits the caller's own
    // exit signal; clone3 then insists on 0 here (EINVAL otherwise).
    if flags & libc::CLONE_PARENT as u64 == 0 {
        args.exit_signal = libc::SIGCHLD as u64;
    }
    if let Some(fd) = cgroup_fd {
        args.cgroup = fd as u64;
    }
    // SAFETY: without CLONE_VM the child gets a copy of our memory, like
    // fork(2), so no stack needs to be supplied; args outlives the call and
    // its size is passed along.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    ret as libc::pid_t
}
// ANCHOR_END: clone3
