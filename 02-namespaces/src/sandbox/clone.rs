//! The clone(2) itself: from this process, or from a single-threaded helper.

use std::os::fd::{AsFd, RawFd};

use anyhow::{Context, Result, anyhow, bail};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid};

use super::child::exit_child;
use crate::join::{NsFile, same_namespace};
use crate::namespaces::{Namespace, Namespaces};
use crate::userns;

/// How much stack the cloned child gets. It runs Rust code (the probe, the
/// demos, a runtime's set-up) before any exec, so be generous: pages are
/// only used when touched.
const STACK_SIZE: usize = 8 << 20;

/// Clone the child into `namespaces`, in the joined pid namespace if
/// `joins` has one, and return its pid as we see it.
pub(super) fn clone_child(
    callback: nix::sched::CloneCb<'_>,
    namespaces: &Namespaces,
    joins: &[NsFile],
    into_cgroup: Option<RawFd>,
) -> Result<Pid> {
    // clone(2) cannot take CLONE_NEWTIME (see Namespace::clone_flag); the
    // child makes its time namespace itself, in `enter_new_time_namespace`.
    let flags = namespaces.clone_flags() - Namespace::Time.clone_flag();
    let mut stack = vec![0u8; STACK_SIZE];
    // setns(2) into a pid namespace changes where the caller's *children*
    // are born. The cloning process must do it, and it cannot undo it
    // without more privilege, so a forked helper does: it joins (the user
    // namespace first, which grants the right to join the pid namespace
    // when we are not root), clones, and exits.
    let before_clone: Vec<&NsFile> = match joins.iter().find(|j| j.namespace == Namespace::Pid) {
        Some(pid_ns) => joins
            .iter()
            .filter(|j| j.namespace == Namespace::User)
            .chain([pid_ns])
            .collect(),
        None => Vec::new(),
    };
    let how = How { flags, into_cgroup };
    match clone_via_helper(callback, &mut stack, how, &before_clone)? {
        Ok(pid) => Ok(pid),
        Err(errno) if into_cgroup.is_some() => Err(anyhow!(
            "clone3(2) with CLONE_INTO_CGROUP and new namespaces {namespaces}: {errno} \
             (cgroup v2 needs Linux 5.7 or later for it)"
        )),
        Err(errno) => Err(clone_error(errno, namespaces)),
    }
}

/// The clone's flags, and the cgroup v2 directory to be born in, if any.
#[derive(Clone, Copy)]
struct How {
    flags: CloneFlags,
    into_cgroup: Option<RawFd>,
}

/// One clone of `callback`'s child: clone(2) on `stack`, or, to be born in
/// a cgroup, step 02's fork-like [`crate::clone3`], whose child runs the
/// callback on its copy of our stack and ends with its return value.
fn clone_once(
    mut callback: nix::sched::CloneCb<'_>,
    stack: &mut [u8],
    how: How,
    extra: CloneFlags,
) -> std::result::Result<Pid, Errno> {
    let flags = how.flags | extra;
    let Some(fd) = how.into_cgroup else {
        // SAFETY: without CLONE_VM the child runs on its own copy of our
        // memory, so `stack` and everything the callback borrows stay valid
        // for it; it ends with _exit(2) and never returns into our frames.
        return unsafe { nix::sched::clone(callback, stack, flags, Some(libc::SIGCHLD)) };
    };
    let flags = flags.bits() as u64 | crate::clone3::CLONE_INTO_CGROUP;
    match crate::clone3::clone3(flags, Some(fd)) {
        -1 => Err(Errno::last()),
        0 => exit_child(callback() as i32),
        pid => Ok(Pid::from_raw(pid)),
    }
}

// ANCHOR: clone_via_helper
/// clone(2) a child of ours into new namespaces, from a single-threaded helper.
///
/// The caller may have many threads (a test harness does), and the child of
/// clone(2) is a copy of one of them only. A lock that another thread held
/// at that instant, such as the C library's `malloc` lock, stays locked in
/// the child forever, and the child's first allocation hangs. fork(3) takes
/// care of `malloc` (it runs the library's at-fork handlers), raw clone(2)
/// does not. So we fork(3) a helper, which has a single thread and a sound
/// heap; the helper clones the real child with `CLONE_PARENT`, which makes
/// the child ours (we can waitpid(2) it), tells us its pid, and exits.
fn clone_via_helper(
    callback: nix::sched::CloneCb<'_>,
    stack: &mut [u8],
    how: How,
    before_clone: &[&NsFile],
) -> Result<std::result::Result<Pid, Errno>> {
    if single_threaded() && before_clone.is_empty() {
        // Nobody else can hold a lock: clone directly.
        return Ok(clone_once(callback, stack, how, CloneFlags::empty()));
    }
    let (pid_read, pid_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe2 (pid)")?;
    // SAFETY: the helper only joins namespaces, clones, writes to a pipe and
    // calls _exit(2); it never returns into the caller's frames or unwinds.
    match unsafe { nix::unistd::fork() }.context("fork(2) the clone helper")? {
        ForkResult::Child => {
            let answer = match join_before_clone(before_clone) {
                // With CLONE_PARENT the child, and its exit signal, are ours.
                Ok(()) => match clone_once(callback, stack, how, CloneFlags::CLONE_PARENT) {
                    // The helper's own pid namespace is still ours (setns
                    // only changed where its children go), so this is the
                    // pid as we see it.
                    Ok(pid) => Answer::Cloned(pid.as_raw()),
                    Err(errno) => Answer::CloneFailed(errno as i32),
                },
                Err(errno) => Answer::JoinFailed(errno as i32),
            };
            let _ = nix::unistd::write(&pid_write, &answer.encode());
            exit_child(0)
        }
        ForkResult::Parent { child: helper } => {
            drop(pid_write);
            let mut bytes = [0u8; 8];
            let n = nix::unistd::read(&pid_read, &mut bytes)
                .context("read the clone helper's answer")?;
            let _ = waitpid(helper, None);
            if n != 8 {
                bail!("the clone helper died without an answer");
            }
            match Answer::decode(bytes) {
                Answer::Cloned(pid) => Ok(Ok(Pid::from_raw(pid))),
                Answer::CloneFailed(errno) => Ok(Err(Errno::from_raw(errno))),
                Answer::JoinFailed(errno) => {
                    let path = before_clone.last().map(|ns| ns.path.display().to_string());
                    bail!(
                        "setns({}) before clone: {}",
                        path.unwrap_or_default(),
                        Errno::from_raw(errno)
                    )
                }
            }
        }
    }
}
// ANCHOR_END: clone_via_helper

/// What the helper tells us, in 8 bytes: a kind and a number.
enum Answer {
    Cloned(i32),
    CloneFailed(i32),
    JoinFailed(i32),
}

impl Answer {
    fn encode(&self) -> [u8; 8] {
        let (kind, n): (i32, i32) = match *self {
            Answer::Cloned(pid) => (0, pid),
            Answer::CloneFailed(errno) => (1, errno),
            Answer::JoinFailed(errno) => (2, errno),
        };
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&kind.to_ne_bytes());
        bytes[4..].copy_from_slice(&n.to_ne_bytes());
        bytes
    }

    fn decode(bytes: [u8; 8]) -> Answer {
        let half =
            |i: usize| i32::from_ne_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        match (half(0), half(4)) {
            (0, pid) => Answer::Cloned(pid),
            (1, errno) => Answer::CloneFailed(errno),
            (_, errno) => Answer::JoinFailed(errno),
        }
    }
}

/// In the helper: join what must be joined by the cloning process.
fn join_before_clone(before_clone: &[&NsFile]) -> std::result::Result<(), Errno> {
    for ns in before_clone {
        if ns.namespace == Namespace::User && same_namespace(&ns.path, "/proc/self/ns/user") {
            continue;
        }
        nix::sched::setns(ns.fd.as_fd(), ns.namespace.clone_flag())?;
    }
    Ok(())
}

/// Whether the calling process has a single thread (`/proc/self/task`).
fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task").is_ok_and(|tasks| tasks.count() == 1)
}

/// What `clone(2)` failing means, in words (and which setting blocks user
/// namespaces, if one does).
fn clone_error(errno: Errno, namespaces: &Namespaces) -> anyhow::Error {
    if namespaces.contains(Namespace::User) {
        if let Some(blocker) = userns::blocker() {
            return anyhow!("{blocker}");
        }
    }
    let hint = match errno {
        Errno::EPERM => ": creating these namespaces needs root, or a user namespace",
        Errno::ENOSPC => ": a /proc/sys/user/max_*_namespaces limit is reached",
        Errno::EINVAL => ": this kernel does not support one of these namespaces",
        _ => "",
    };
    anyhow!("clone(2) with new namespaces {namespaces}: {errno}{hint}")
}
