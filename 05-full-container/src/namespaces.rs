//! Joining an existing namespace by path instead of creating one
//! (setns(2), ioctl_ns(2), namespaces(7); step 02 joins them the same way).
//!
//! An OCI bundle may say `{"type": "network", "path": "/run/netns/web"}`:
//! "put the container in *that* network namespace". A namespace is a file
//! on the `nsfs` filesystem — `/proc/<pid>/ns/net` of a process in it, or a
//! bind mount of one that keeps it alive without a process (`ip netns add`
//! makes those in /run/netns). Opening the file gives a descriptor, and
//! setns(2) on that descriptor moves the *calling* process into it.
//!
//! Before trusting a path we ask the kernel what it is: fstatfs(2) says
//! whether the file lives on nsfs, and the `NS_GET_NSTYPE` ioctl says which
//! kind of namespace it is (the same `CLONE_NEW*` number `clone` takes). A
//! typo or a network namespace given as `uts` is then one clear line, before
//! anything exists.
//!
//! Where the join happens matters:
//!
//! - net, ipc, uts, cgroup: in the container's first process, right after
//!   `clone`, before it mounts anything (sysfs shows the network namespace
//!   of whoever mounts it).
//! - pid: setns(2) into a pid namespace changes where the caller's
//!   *children* are born, never the caller itself. So tincan steps into it
//!   just for the `clone` that creates the container, then steps back.
//! - mnt and user are refused by [`crate::oci`]: tincan would `pivot_root`
//!   inside a joined mount namespace (changing it for everyone in it), and
//!   the namespaces `clone` creates belong to the user namespace of their
//!   creator, so joining one afterwards leaves them out of reach.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::fcntl::{OFlag, open};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;

use crate::config::{NAMESPACE_KINDS, Namespace};

/// One namespace to join: which kind, from which path, and the open file.
#[derive(Debug)]
pub struct Joined {
    /// Its name as in `/proc/self/ns/` (`net`, `uts`...).
    pub kind: &'static str,
    /// The `CLONE_NEW*` flag, which setns(2) checks against the file.
    pub flag: libc::c_int,
    /// Where it came from, for messages.
    pub path: PathBuf,
    /// The open namespace file.
    pub fd: OwnedFd,
}

// ANCHOR: open_checked
/// Open `path` and check with the kernel that it is a namespace of `kind`.
/// Errors are one line naming the `linux.namespaces` entry and the path.
pub fn open_checked(kind: &'static str, flag: libc::c_int, path: &Path) -> Result<Joined> {
    let field = format!("linux.namespaces {kind} path {}", path.display());
    if !path.is_absolute() {
        bail!("{field}: must be an absolute path, such as /proc/<pid>/ns/{kind}");
    }
    let fd = open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .with_context(|| format!("{field}: open"))?;
    // Is it a namespace at all? Namespace files live on nsfs; a regular
    // file or /proc/<pid>/ns itself does not.
    let fs = nix::sys::statfs::fstatfs(&fd).with_context(|| format!("{field}: fstatfs"))?;
    if fs.filesystem_type() != nix::sys::statfs::NSFS_MAGIC {
        bail!("{field}: not a namespace file (use /proc/<pid>/ns/{kind} or a bind mount of one)");
    }
    // Which kind? The ioctl answers with the CLONE_NEW* flag.
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the descriptor,
    // which is open for the whole call.
    let actual = unsafe { libc::ioctl(fd.as_raw_fd(), libc::NS_GET_NSTYPE) };
    if actual < 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("{field}: ioctl(NS_GET_NSTYPE)"));
    }
    if actual != flag {
        let name = NAMESPACE_KINDS
            .iter()
            .find(|(_, f)| *f == actual)
            .map_or("unknown", |(k, _)| *k);
        bail!("{field}: is a {name} namespace, not a {kind} namespace");
    }
    Ok(Joined {
        kind,
        flag,
        path: path.to_path_buf(),
        fd,
    })
}
// ANCHOR_END: open_checked

/// Open every namespace of `namespaces` that has a path, checked.
pub fn open_all(namespaces: &[Namespace]) -> Result<Vec<Joined>> {
    namespaces
        .iter()
        .filter_map(|n| n.path.as_deref().map(|p| open_checked(n.kind, n.flag, p)))
        .collect()
}

// ANCHOR: join
/// In the container's first process: join the namespaces opened in the
/// parent (the descriptors were inherited through `clone`). The pid
/// namespace is skipped: the parent entered it for the `clone`.
pub fn join(joined: &[Joined]) -> Result<()> {
    for ns in joined.iter().filter(|n| n.kind != "pid") {
        nix::sched::setns(ns.fd.as_fd(), CloneFlags::from_bits_retain(ns.flag))
            .with_context(|| format!("setns({}, {})", ns.path.display(), ns.kind))?;
    }
    Ok(())
}
// ANCHOR_END: join

// ANCHOR: become_mapped_root
/// In a new user namespace whose maps the parent wrote: become its uid and
/// gid 0. Creating a user namespace does not change who a process *is* on
/// the host: we are still the host's root (uid 0 outside), which the maps
/// leave unmapped, so files we create would be refused (EOVERFLOW: an
/// owner the filesystem cannot record). setresuid(2) to 0 *inside* makes
/// us host uid 100000 (say); the capabilities of the namespace stay,
/// because the kernel only drops them when its own root becomes non-root.
pub fn become_mapped_root() -> Result<()> {
    // The host's supplementary groups mean nothing here; drop them while
    // setgroups(2) is allowed (root wrote the gid_map, see user_namespaces(7)).
    nix::unistd::setgroups(&[]).context("setgroups([]) in the new user namespace")?;
    let root_gid = nix::unistd::Gid::from_raw(0);
    nix::unistd::setresgid(root_gid, root_gid, root_gid)
        .context("setresgid(0, 0, 0) in the new user namespace (is gid 0 in linux.gidMappings?)")?;
    let root_uid = nix::unistd::Uid::from_raw(0);
    nix::unistd::setresuid(root_uid, root_uid, root_uid)
        .context("setresuid(0, 0, 0) in the new user namespace (is uid 0 in linux.uidMappings?)")?;
    Ok(())
}
// ANCHOR_END: become_mapped_root

/// The pid namespace tincan was in before [`enter_pid_for_children`];
/// going out of scope steps back into it.
#[derive(Debug)]
pub struct PidReturn(OwnedFd);

impl Drop for PidReturn {
    fn drop(&mut self) {
        // Returning to our own active pid namespace is always allowed.
        if let Err(e) = nix::sched::setns(self.0.as_fd(), CloneFlags::CLONE_NEWPID) {
            eprintln!("warning: setns back into tincan's pid namespace: {e}");
        }
    }
}

// ANCHOR: pid_for_children
/// If `joined` has a pid namespace, make it the one our next child is born
/// in (`/proc/self/ns/pid_for_children`), and return the guard that steps
/// back. Our own pid never changes: a process cannot change pid namespace.
pub fn enter_pid_for_children(joined: &[Joined]) -> Result<Option<PidReturn>> {
    let Some(pid_ns) = joined.iter().find(|n| n.kind == "pid") else {
        return Ok(None);
    };
    let ours = open(
        "/proc/self/ns/pid",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context("open /proc/self/ns/pid")?;
    nix::sched::setns(pid_ns.fd.as_fd(), CloneFlags::CLONE_NEWPID)
        .with_context(|| format!("setns({}, pid)", pid_ns.path.display()))?;
    Ok(Some(PidReturn(ours)))
}
// ANCHOR_END: pid_for_children

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_namespace_files_are_recognised_by_kind() {
        for (kind, flag) in NAMESPACE_KINDS {
            let path = PathBuf::from(format!("/proc/self/ns/{kind}"));
            let joined = open_checked(kind, flag, &path).expect(kind);
            assert_eq!(joined.kind, kind);
        }
    }

    #[test]
    fn wrong_kind_and_plain_files_are_one_line_naming_the_path() {
        let err = open_checked("net", libc::CLONE_NEWNET, Path::new("/proc/self/ns/uts"))
            .expect_err("uts given as net");
        let text = format!("{err:#}");
        assert!(
            text.contains("/proc/self/ns/uts") && text.contains("is a uts namespace, not a net"),
            "{text}"
        );
        let err = open_checked("net", libc::CLONE_NEWNET, Path::new("/proc/self/status"))
            .expect_err("a plain file");
        assert!(
            format!("{err:#}").contains("not a namespace file"),
            "{err:#}"
        );
        let err =
            open_checked("net", libc::CLONE_NEWNET, Path::new("/no/such/ns")).expect_err("missing");
        let text = format!("{err:#}");
        assert!(
            text.contains("linux.namespaces net path /no/such/ns") && !text.contains('\n'),
            "{text}"
        );
    }
}
