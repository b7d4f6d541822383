//! Who owns a container's state: a lock per container directory, and an
//! atomic claim of its name (fcntl(2), rename(2)).

use std::path::Path;

use anyhow::{Context, Result};

// ANCHOR: lock
/// A write lock on `<dir>/lock` (fcntl(2), `F_SETLK`): "a live tincan owns
/// this container". It is a POSIX record lock on purpose. Such a lock
/// belongs to the *process*: the kernel drops it when the process exits,
/// whatever the way, `kill -9` included, and a child made by fork or clone
/// does not inherit it. (A flock(2) lock belongs to the open file, and the
/// container's first process, a copy of tincan until its `execve`, would
/// keep it alive for a moment after tincan died.)
#[derive(Debug)]
pub struct ContainerLock {
    _file: std::fs::File,
}

impl ContainerLock {
    /// Make the lock file of a new claim `dir`, and lock it.
    pub(super) fn create(dir: &Path) -> Result<ContainerLock> {
        let path = dir.join("lock");
        std::fs::File::create_new(&path).with_context(|| format!("create {}", path.display()))?;
        ContainerLock::take(dir, true)?.with_context(|| format!("lock {}", path.display()))
    }

    /// Lock `dir`; `None` if `try_only` and another process holds it, or if
    /// the lock file is gone (the directory is being removed).
    pub(super) fn take(dir: &Path, try_only: bool) -> Result<Option<ContainerLock>> {
        let path = dir.join("lock");
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && try_only => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("open {}", path.display())),
        };
        let whole_file = libc::flock {
            l_type: libc::F_WRLCK as libc::c_short,
            l_whence: libc::SEEK_SET as libc::c_short,
            l_start: 0,
            l_len: 0,
            l_pid: 0,
        };
        let request = if try_only {
            nix::fcntl::FcntlArg::F_SETLK(&whole_file)
        } else {
            nix::fcntl::FcntlArg::F_SETLKW(&whole_file)
        };
        match nix::fcntl::fcntl(&file, request) {
            Ok(_) => Ok(Some(ContainerLock { _file: file })),
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) if try_only => Ok(None),
            Err(e) => Err(e).with_context(|| format!("fcntl(F_SETLK) {}", path.display())),
        }
    }
}
// ANCHOR_END: lock

/// rename(2) that fails instead of replacing `to` (renameat2, RENAME_NOREPLACE).
pub(super) fn rename_noreplace(
    from: &Path,
    to: &Path,
) -> std::result::Result<(), nix::errno::Errno> {
    nix::fcntl::renameat2(
        nix::fcntl::AT_FDCWD,
        from,
        nix::fcntl::AT_FDCWD,
        to,
        nix::fcntl::RenameFlags::RENAME_NOREPLACE,
    )
}
