//! pivot_root(2) done right: swap the whole mount tree's root, then cut the
//! old one off.
//!
//! chroot(2) changes one process's idea of `/`. pivot_root(2) changes the
//! root *mount* of the calling process's mount namespace: the rootfs
//! becomes `/` and the old root is moved out of the way (here: stacked on
//! top of the new root, with `pivot_root(".", ".")`), and then unmounted. After that the host's files are not hidden, they are
//! *absent* from this mount namespace: no `..`, chroot or open directory
//! can reach a mount that is not there. Each step has its own error,
//! naming the syscall and the path (mount_namespaces(7), pivot_root(2)).

use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::unistd::{chdir, pivot_root};

/// How to set up the new root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options<'a> {
    /// Mount `/proc`, `/sys`, `/dev` and `/tmp` inside ([`crate::mounts`]).
    pub mounts: bool,
    /// Remount the root read-only at the end.
    pub read_only: bool,
    /// Show the container its own cgroup at `/sys/fs/cgroup`
    /// ([`crate::mounts::own_cgroups`]): the cgroup's path below each
    /// hierarchy's root, such as `tincan/web`.
    pub own_cgroup: Option<&'a Path>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            mounts: true,
            read_only: false,
            own_cgroup: None,
        }
    }
}

// ANCHOR: pivot
/// Make `rootfs` the root of this mount namespace. Call it in a *new*
/// mount namespace (unshare/clone with `CLONE_NEWNS`), never on the host.
pub fn pivot_into(rootfs: &Path, options: Options) -> Result<()> {
    // 1. Stop mount events from propagating back to the host: the new
    //    namespace starts as a copy whose mounts may be "shared" with it
    //    (step 02's mount demo shows the leak this prevents).
    step02::mount::make_root_private()?;
    // 2. pivot_root needs the new root to be a mount point.
    bind_onto_itself(rootfs)?;
    // 3. What a container needs inside, while the host's /dev is reachable.
    if options.mounts {
        crate::mounts::mount_all(rootfs)?;
        if let Some(relative) = options.own_cgroup {
            crate::mounts::own_cgroups(&rootfs.join("sys/fs/cgroup"), relative, true)?;
        }
    }
    // 4. Swap, and cut the host off.
    switch_root(rootfs)?;
    // 5. Optionally, a read-only root: a bind mount can be remounted ro.
    if options.read_only {
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
        mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
            .context("remount / read-only (MS_REMOUNT|MS_BIND|MS_RDONLY)")?;
    }
    Ok(())
}
// ANCHOR_END: pivot

/// Bind-mount `dir` onto itself: pivot_root(2) wants the new root to be a
/// mount point, and a plain directory of the host's filesystem is not one.
/// (An overlay mounted for the container already is.)
pub fn bind_onto_itself(dir: &Path) -> Result<()> {
    mount(
        Some(dir),
        dir,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_context(|| format!("bind-mount {} onto itself", dir.display()))
}

// ANCHOR: switch_root
/// The pivot itself: make the mount at `new_root` the root of this mount
/// namespace, then unmount the old root, so that no path leads back to it.
pub fn switch_root(new_root: &Path) -> Result<()> {
    // ANCHOR: lab-04-pivot-root
    // pivot_root(".", ".") needs no directory for the old root: the old
    // root ends up mounted on top of the new one, at `/`. (A put_old
    // directory would be created in the rootfs itself, which other
    // containers may share, and they would see it appear in `/`.)
    // A handle on the old root, to name exactly that mount after the pivot.
    let old_root = std::fs::File::open("/").context("open the old root /")?;
    chdir(new_root).with_context(|| format!("chdir {}", new_root.display()))?;
    pivot_root(".", ".")
        .map_err(pivot_error)
        .with_context(|| format!("pivot_root {} (new_root = put_old = .)", new_root.display()))?;
    // The old root's mounts may still be peers of the host's (a bundle can
    // ask for a shared root, OCI `rootfsPropagation`): make them slaves
    // first, so that unmounting them here cannot unmount the host's too.
    // From the old root itself (fchdir): "." of the new root would name
    // the new root, and make the container's own mounts slaves.
    nix::unistd::fchdir(&old_root).context("fchdir to the old root")?;
    step02::mount::set_propagation(Path::new("."), MsFlags::MS_SLAVE | MsFlags::MS_REC)?;
    // Cut the host off: unmount the old root stacked on top of ours.
    // MNT_DETACH: now, even if something still uses it; the mounts below
    // it go with it, and the host keeps them.
    umount2(".", MntFlags::MNT_DETACH).context("umount2 the old root (MNT_DETACH)")?;
    chdir("/").context("chdir / after pivot_root")?;
    Ok(())
    // ANCHOR_END: lab-04-pivot-root
}
// ANCHOR_END: switch_root

/// pivot_root's EINVAL has many causes; name the one a user can act on.
fn pivot_error(errno: nix::errno::Errno) -> anyhow::Error {
    if errno == nix::errno::Errno::EINVAL && root_is_initramfs() {
        return anyhow::anyhow!(
            "/ is the initramfs (rootfs), which pivot_root(2) cannot move away from \
             (EINVAL): use --no-pivot, or have the init switch_root into a real filesystem first"
        );
    }
    errno.into()
}

/// Whether `/` of this mount namespace is the kernel's initial `rootfs`
/// (an initramfs that was never switched away from).
pub fn root_is_initramfs() -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo.lines().any(|line| {
        let mut halves = line.splitn(2, " - ");
        let (fields, fs) = (halves.next().unwrap_or(""), halves.next().unwrap_or(""));
        fields.split(' ').nth(4) == Some("/") && fs.split(' ').next() == Some("rootfs")
    })
}

// ANCHOR: move_root
/// `--no-pivot`: make `new_root` the root without pivot_root(2), for a
/// host whose `/` is the initramfs. The new root's mount is *moved* onto
/// `/` and the process chroots into it. The old root is not unmounted (the
/// initramfs cannot be): it is only hidden under the new one, and chroot(2)
/// is what keeps the process out. A process holding CAP_SYS_CHROOT can
/// escape a chroot (step 04's `escape` demo), so this is weaker than a pivot.
pub fn move_root(new_root: &Path) -> Result<()> {
    chdir(new_root).with_context(|| format!("chdir {}", new_root.display()))?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .with_context(|| format!("mount --move {} /", new_root.display()))?;
    nix::unistd::chroot(".").with_context(|| format!("chroot {}", new_root.display()))?;
    chdir("/").context("chdir / after chroot")?;
    Ok(())
}
// ANCHOR_END: move_root
