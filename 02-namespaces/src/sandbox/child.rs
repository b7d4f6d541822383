//! The child's side of the handshake: wait for "go", set up, run.

use std::os::fd::{AsFd, OwnedFd};

use anyhow::{Context, Result};
use nix::errno::Errno;

use super::program::Program;
use super::{ChildHook, EXEC_FAILED, SETUP_FAILED};
use crate::join::{NsFile, same_namespace};
use crate::namespaces::Namespace;

/// What the child runs once it is set up.
pub(super) enum Main<'a> {
    Closure(Box<dyn FnOnce() -> Result<i32> + 'a>),
    Program(Program),
}

/// What the child sets up by itself, before its hooks.
pub(super) struct ChildPlan {
    pub die_with_parent: bool,
    pub hostname: Option<String>,
    pub new_time: bool,
    pub time_offsets: (i64, i64),
    pub become_root: bool,
    pub drop_groups: bool,
}

// ANCHOR: child
/// The child's side: wait for "go", set up, then run `main`. Never returns.
pub(super) fn child(
    go: &OwnedFd,
    report: &OwnedFd,
    plan: &ChildPlan,
    joins: &[NsFile],
    hooks: Vec<ChildHook<'_>>,
    gate: Option<ChildHook<'_>>,
    main: Main<'_>,
) -> isize {
    if plan.die_with_parent
        && nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).is_err()
    {
        exit_child(SETUP_FAILED);
    }
    let mut byte = [0u8; 1];
    if !matches!(nix::unistd::read(go, &mut byte), Ok(1)) {
        // The parent gave up (its set-up failed, or it died): leave quietly.
        exit_child(SETUP_FAILED);
    }
    let setup = || -> Result<Option<std::path::PathBuf>> {
        join_namespaces(joins)?;
        if matches!(main, Main::Program(_)) {
            close_descriptors_on_exec()?;
        }
        if plan.become_root {
            become_root(plan.drop_groups)?;
        }
        // ANCHOR: lab-02-hostname
        if let Some(name) = &plan.hostname {
            nix::unistd::sethostname(name).with_context(|| format!("sethostname({name:?})"))?;
        }
        // ANCHOR_END: lab-02-hostname
        if plan.new_time {
            crate::time::enter_new_time_namespace(plan.time_offsets)?;
        }
        for hook in hooks {
            hook()?;
        }
        // Resolved before the gate, so that a missing program is reported
        // while the parent still listens.
        let path = match &main {
            Main::Program(program) => Some(program.resolve()?),
            Main::Closure(_) => None,
        };
        if let Some(gate) = gate {
            tell_parent(report, "R");
            gate()?;
        }
        Ok(path)
    };
    let path = match setup() {
        Ok(path) => path,
        Err(err) => {
            tell_parent(report, &format!("E{err:#}"));
            exit_child(SETUP_FAILED);
        }
    };
    match (main, path) {
        (Main::Program(program), Some(path)) => {
            // On success execve(2) never returns, and O_CLOEXEC closes `report`.
            let err = program.exec(&path);
            tell_parent(report, &format!("E{err:#}"));
            exit_child(EXEC_FAILED)
        }
        (Main::Closure(main), _) => {
            tell_parent(report, "R");
            match main() {
                Ok(code) => exit_child(code),
                Err(err) => {
                    tell_parent(report, &format!("E{err:#}"));
                    exit_child(1)
                }
            }
        }
        (Main::Program(_), None) => exit_child(SETUP_FAILED),
    }
}
// ANCHOR_END: child

/// Join the namespaces given by path, the user namespace first: it is the
/// one that grants the capabilities to join the others. The pid namespace
/// was entered for the clone already (only children enter one).
fn join_namespaces(joins: &[NsFile]) -> Result<()> {
    let user_first = joins
        .iter()
        .filter(|j| j.namespace == Namespace::User)
        .chain(joins.iter().filter(|j| j.namespace != Namespace::User));
    for ns in user_first.filter(|j| j.namespace != Namespace::Pid) {
        // Joining the user namespace we are already in fails with EINVAL
        // (the clone helper may have joined it for us): nothing to do then.
        if ns.namespace == Namespace::User && same_namespace(&ns.path, "/proc/self/ns/user") {
            continue;
        }
        nix::sched::setns(ns.fd.as_fd(), ns.namespace.clone_flag())
            .with_context(|| format!("setns({})", ns.path.display()))?;
    }
    Ok(())
}

/// The child is a copy of a possibly multithreaded parent and holds every
/// descriptor the parent had open, including other threads' pipes. The
/// program gets only stdin, stdout and stderr; a child_setup hook may still
/// pass one on with dup2(2).
fn close_descriptors_on_exec() -> Result<()> {
    // SAFETY: close_range(2) takes plain integers; CLOEXEC only marks
    // descriptors and closes nothing this process is using.
    let rc = unsafe {
        libc::close_range(
            3,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
        )
    };
    Errno::result(rc).context("close_range(3, ~0, CLOSE_RANGE_CLOEXEC)")?;
    Ok(())
}

// ANCHOR: become_root
/// Our ids are still the parent's. Now that root inside is mapped, become
/// it: this is what makes files we create belong to "root" inside (and, on
/// the host, to whatever root maps to). The namespace's capabilities stay:
/// the kernel drops them only when its own root becomes non-root.
fn become_root(drop_groups: bool) -> Result<()> {
    if drop_groups {
        // The host's supplementary groups mean nothing here; drop them
        // while setgroups(2) is allowed.
        nix::unistd::setgroups(&[]).context("setgroups([]) in the user namespace")?;
    }
    let (uid, gid) = (nix::unistd::Uid::from_raw(0), nix::unistd::Gid::from_raw(0));
    nix::unistd::setresgid(gid, gid, gid)
        .context("setresgid(0, 0, 0) in the user namespace (is gid 0 mapped?)")?;
    nix::unistd::setresuid(uid, uid, uid)
        .context("setresuid(0, 0, 0) in the user namespace (is uid 0 mapped?)")?;
    Ok(())
}
// ANCHOR_END: become_root

fn tell_parent(report: &OwnedFd, message: &str) {
    // Best effort: if the parent is gone there is nobody to tell.
    let _ = nix::unistd::write(report, message.as_bytes());
}

/// Leave the child without running our parent's exit handlers twice.
///
/// We do not flush Rust's stdout here: the child is a copy of one thread of
/// a possibly multithreaded parent, and the lock around stdout may have been
/// held by a thread that does not exist in the child, so taking it could
/// wait forever. Stdout is line-buffered: a child should print whole lines.
pub(super) fn exit_child(code: i32) -> ! {
    // SAFETY: _exit(2) ends this process at once; it takes a plain int and
    // touches no Rust state. We use it (not `exit`) because the child is a
    // copy of the parent: running the parent's atexit handlers and
    // destructors here would do the parent's clean-up twice.
    unsafe { libc::_exit(code) }
}
