//! Joining the namespaces of a running process with `setns(2)`.
//!
//! Every namespace a process is in is a file, `/proc/<pid>/ns/<kind>`.
//! Opening it and calling setns(2) on the descriptor moves the *caller* into
//! that namespace: this is how `nsenter(1)` and `docker exec` work. Two
//! kinds have rules worth knowing:
//!
//! - A multithreaded process may not join a mount or user namespace (the
//!   other threads would share a filesystem view or credentials that no
//!   longer match). A Rust test binary is multithreaded, so we always join
//!   from a freshly forked, single-threaded child.
//! - Joining a PID namespace changes where the caller's *children* go, never
//!   the caller's own pid. So after joining one we fork once more.
//!
//! The user namespace is joined first: it is the one that grants the
//! capabilities needed to join the others when we are not root.

use std::fs::File;
use std::os::fd::AsFd;

use anyhow::{Context, Result};
use nix::unistd::Pid;

use crate::namespaces::{Namespace, Namespaces};
use crate::sandbox::{Exit, Sandbox};

// ANCHOR: join
/// Run `main` in a new child process that has joined `namespaces` of process
/// `pid`, and return how it ended.
pub fn run_in(
    pid: Pid,
    namespaces: &Namespaces,
    main: impl FnOnce() -> Result<i32>,
) -> Result<Exit> {
    // Open the namespace files first, in the parent: a wrong pid or a missing
    // kind is reported here, with the path.
    let mut files = Vec::new();
    let user_first = namespaces
        .iter()
        .filter(|ns| *ns == Namespace::User)
        .chain(namespaces.iter().filter(|ns| *ns != Namespace::User));
    for ns in user_first {
        let path = format!("/proc/{pid}/ns/{}", ns.proc_name());
        let file = File::open(&path).with_context(|| format!("open {path}"))?;
        files.push((ns, path, file));
    }
    let joins_pid = namespaces.contains(Namespace::Pid);
    // A Sandbox with no new namespaces is a plain child process.
    Sandbox::new(Namespaces::none())
        .child_setup(move || {
            for (ns, path, file) in files {
                // Joining the user namespace we are already in fails with
                // EINVAL; nothing to do then.
                if ns == Namespace::User && same_namespace(&path, "/proc/self/ns/user") {
                    continue;
                }
                nix::sched::setns(file.as_fd(), ns.clone_flag())
                    .with_context(|| format!("setns({path})"))?;
            }
            Ok(())
        })
        .run(move || {
            if joins_pid {
                // Only our children enter the PID namespace we joined.
                return match Sandbox::new(Namespaces::none()).run(main)? {
                    Exit::Code(code) => Ok(code),
                    Exit::Signaled(sig) => Ok(128 + sig as i32),
                };
            }
            main()
        })
}
// ANCHOR_END: join

fn same_namespace(a: &str, b: &str) -> bool {
    matches!((std::fs::read_link(a), std::fs::read_link(b)), (Ok(x), Ok(y)) if x == y)
}
