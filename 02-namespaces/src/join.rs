//! Joining existing namespaces with `setns(2)` (ioctl_ns(2), namespaces(7)).
//!
//! Every namespace a process is in is a file, `/proc/<pid>/ns/<kind>`; a
//! bind mount of one keeps the namespace alive without a process (`ip netns
//! add` makes those in /run/netns). Opening the file and calling setns(2)
//! on the descriptor moves the *caller* into that namespace: this is how
//! `nsenter(1)` and `docker exec` work, and how an OCI bundle says "put the
//! container in *that* network namespace". Rules worth knowing:
//!
//! - A multithreaded process may not join a mount or user namespace (the
//!   other threads would share a filesystem view or credentials that no
//!   longer match). So the joining is done by the freshly cloned,
//!   single-threaded child of a [`Sandbox`] ([`Sandbox::join`]).
//! - Joining a PID namespace changes where the caller's *children* are
//!   born, never the caller's own pid: the process that clones joins it.
//! - The user namespace is joined first: it is the one that grants the
//!   capabilities needed to join the others when we are not root.
//!
//! Before trusting a path we ask the kernel what it is: fstatfs(2) says
//! whether the file lives on nsfs, and the `NS_GET_NSTYPE` ioctl says which
//! kind of namespace it is (the same `CLONE_NEW*` number `clone` takes). A
//! typo, or a network namespace given as `uts`, is one clear line before
//! anything exists.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use crate::namespaces::{Namespace, Namespaces};
use crate::sandbox::{Exit, Sandbox};

/// An open namespace file, checked to be a namespace of its kind.
#[derive(Debug)]
pub struct NsFile {
    /// Which kind of namespace it is.
    pub namespace: Namespace,
    /// Where it was opened, for messages.
    pub path: PathBuf,
    pub(crate) fd: OwnedFd,
}

// ANCHOR: open_checked
/// Open `path` and check with the kernel that it is a `namespace`. Errors
/// name the path and say what it is instead.
pub fn open_checked(namespace: Namespace, path: &Path) -> Result<NsFile> {
    let kind = namespace.proc_name();
    if !path.is_absolute() {
        bail!(
            "{}: must be an absolute path, such as /proc/<pid>/ns/{kind}",
            path.display()
        );
    }
    let fd = open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .with_context(|| format!("open {}", path.display()))?;
    // Is it a namespace at all? Namespace files live on nsfs; a regular
    // file or /proc/<pid>/ns itself does not.
    let fs =
        nix::sys::statfs::fstatfs(&fd).with_context(|| format!("fstatfs {}", path.display()))?;
    if fs.filesystem_type() != nix::sys::statfs::NSFS_MAGIC {
        bail!(
            "{}: not a namespace file (use /proc/<pid>/ns/{kind} or a bind mount of one)",
            path.display()
        );
    }
    // Which kind? The ioctl answers with the CLONE_NEW* flag.
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the descriptor,
    // which is open for the whole call.
    let actual = unsafe { libc::ioctl(fd.as_raw_fd(), libc::NS_GET_NSTYPE) };
    if actual < 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("ioctl(NS_GET_NSTYPE) on {}", path.display()));
    }
    if actual != namespace.clone_flag().bits() {
        let name = Namespace::ALL
            .into_iter()
            .find(|ns| ns.clone_flag().bits() == actual)
            .map_or("unknown", Namespace::proc_name);
        bail!(
            "{}: is a {name} namespace, not a {kind} namespace",
            path.display()
        );
    }
    Ok(NsFile {
        namespace,
        path: path.to_path_buf(),
        fd,
    })
}
// ANCHOR_END: open_checked

/// Open the `namespaces` of process `pid` (`/proc/<pid>/ns/<kind>`).
pub fn open_of(pid: Pid, namespaces: &Namespaces) -> Result<Vec<NsFile>> {
    namespaces
        .iter()
        .map(|ns| {
            open_checked(
                ns,
                &PathBuf::from(format!("/proc/{pid}/ns/{}", ns.proc_name())),
            )
        })
        .collect()
}

// ANCHOR: join
/// Run `main` in a new child process that has joined `namespaces` of process
/// `pid`, and return how it ended.
pub fn run_in(
    pid: Pid,
    namespaces: &Namespaces,
    main: impl FnOnce() -> Result<i32>,
) -> Result<Exit> {
    // Opened here, in the parent: a wrong pid or a missing kind is
    // reported at once, with the path.
    let files = open_of(pid, namespaces)?;
    // A Sandbox with no new namespaces is a plain child process; each
    // joined namespace is entered by it (or, for pid, by its clone).
    files
        .into_iter()
        .fold(Sandbox::new(Namespaces::none()), Sandbox::join)
        .run(main)
}
// ANCHOR_END: join

/// Whether two namespace links name the same namespace.
pub(crate) fn same_namespace(a: impl AsRef<Path>, b: impl AsRef<Path>) -> bool {
    matches!((std::fs::read_link(a), std::fs::read_link(b)), (Ok(x), Ok(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_namespace_files_are_recognised_by_kind() {
        for ns in Namespace::ALL {
            let path = PathBuf::from(format!("/proc/self/ns/{}", ns.proc_name()));
            let file = open_checked(ns, &path).expect("own namespace file");
            assert_eq!(file.namespace, ns);
        }
    }

    #[test]
    fn wrong_kind_and_plain_files_are_one_line_naming_the_path() {
        let err = open_checked(Namespace::Net, Path::new("/proc/self/ns/uts"))
            .expect_err("uts given as net");
        let text = format!("{err:#}");
        assert!(
            text.contains("/proc/self/ns/uts") && text.contains("is a uts namespace, not a net"),
            "{text}"
        );
        let err =
            open_checked(Namespace::Net, Path::new("/proc/self/status")).expect_err("a plain file");
        assert!(
            format!("{err:#}").contains("not a namespace file"),
            "{err:#}"
        );
        let err = open_checked(Namespace::Net, Path::new("/no/such/ns")).expect_err("missing");
        let text = format!("{err:#}");
        assert!(
            text.contains("/no/such/ns") && !text.contains('\n'),
            "{text}"
        );
    }
}
