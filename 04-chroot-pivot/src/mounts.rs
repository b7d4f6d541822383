//! What a container mounts inside its root: a fresh `/proc`, `/sys`
//! read-only, a small `/dev`, and tmpfs on `/tmp` (mount(2), proc(5),
//! sysfs(5), tmpfs(5), devpts in pts(4)).
//!
//! A chroot sees an empty `/proc` directory: `ps` shows nothing, and
//! programs that read `/proc/self/...` break. A container mounts its own
//! proc instance *from inside its PID namespace*, so it lists only the
//! container's processes. `/dev` is a tmpfs holding only the handful of
//! harmless devices every program expects, bind-mounted from the host:
//! never the host's disks. Every mount here happens inside the container's
//! private mount namespace, so the host never sees any of them.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::mount::{MsFlags, mount};

/// The device nodes every program expects in `/dev`: name, major, minor.
pub const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// `<rootfs>/<name>`, refusing a symlink there: an imported rootfs with
/// `proc -> /` would otherwise make us mount over the host's directories.
fn inside(rootfs: &Path, name: &str) -> Result<PathBuf> {
    let path = rootfs.join(name);
    if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!("{} is a symlink; refusing to mount over it", path.display());
    }
    Ok(path)
}

fn dir(rootfs: &Path, name: &str) -> Result<PathBuf> {
    let path = inside(rootfs, name)?;
    fs::create_dir_all(&path).with_context(|| format!("mkdir {}", path.display()))?;
    Ok(path)
}

fn mount_fs(fstype: &str, target: &Path, flags: MsFlags, data: Option<&str>) -> Result<()> {
    mount(Some(fstype), target, Some(fstype), flags, data)
        .with_context(|| format!("mount {fstype} at {}", target.display()))
}

/// Detach every mount at or under `dir`, deepest first (umount2(2) with
/// `MNT_DETACH`: gone from the tree at once, freed when no longer busy),
/// so that removing `dir` cannot fail on a mount point or reach through
/// one into what is mounted there. Engines (containers/storage, podman)
/// leave mounts under their storage; tests and benches call this before
/// they remove it. Errors are ignored: what is left shows in the removal.
pub fn detach_under(dir: &Path) {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // The fifth field is the mount point (proc(5)).
    let mut mine: Vec<&str> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| Path::new(m).starts_with(dir))
        .collect();
    mine.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mine {
        let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
    }
}

// ANCHOR: mounts
/// Mount `/proc`, `/sys`, `/dev` and `/tmp` inside `rootfs`. Call it in the
/// container's own mount (and PID) namespace, before pivot_root.
pub fn mount_all(rootfs: &Path) -> Result<()> {
    let safe = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    // A new proc instance: it shows the PID namespace of the mounting process.
    mount_fs("proc", &dir(rootfs, "proc")?, safe, None)?;
    // sysfs shows the host's devices and kernel knobs: read-only.
    mount_fs(
        "sysfs",
        &dir(rootfs, "sys")?,
        safe | MsFlags::MS_RDONLY,
        None,
    )?;
    mount_dev(rootfs)?;
    mount_fs(
        "tmpfs",
        &dir(rootfs, "tmp")?,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )?;
    Ok(())
}

/// A tmpfs `/dev` with a few devices bound from the host, a private
/// `/dev/pts` and a `/dev/shm`.
fn mount_dev(rootfs: &Path) -> Result<()> {
    let dev = dir(rootfs, "dev")?;
    mount_fs(
        "tmpfs",
        &dev,
        MsFlags::MS_NOSUID,
        Some("mode=755,size=65536k"),
    )?;
    add_devices(&dev, NodeSource::BindFromHost)?;
    // newinstance: the container's terminals are its own, not the host's.
    let pts = dev.join("pts");
    fs::create_dir(&pts).with_context(|| format!("mkdir {}", pts.display()))?;
    mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )
    .with_context(|| format!("mount devpts at {}", pts.display()))?;
    let shm = dev.join("shm");
    fs::create_dir(&shm).with_context(|| format!("mkdir {}", shm.display()))?;
    mount_fs(
        "tmpfs",
        &shm,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777,size=65536k"),
    )?;
    add_dev_links(&dev)?;
    Ok(())
}
// ANCHOR_END: mounts

/// Where the nodes of a container's `/dev` come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeSource {
    /// Bind-mount the host's node onto an empty file (step 04's way).
    BindFromHost,
    /// Create the node with mknod(2), as runtimes do: then the device
    /// cgroup alone decides which may be opened. Inside a user namespace
    /// mknod is refused, and the host's node is bound instead.
    Create,
}

// ANCHOR: devices
/// Fill a fresh `dev` directory with [`DEVICES`].
pub fn add_devices(dev: &Path, source: NodeSource) -> Result<()> {
    use nix::sys::stat::{Mode, SFlag, makedev, mknod};
    for (name, major, minor) in DEVICES {
        let target = dev.join(name);
        if source == NodeSource::Create {
            match mknod(
                &target,
                SFlag::S_IFCHR,
                Mode::from_bits_truncate(0o666),
                makedev(major, minor),
            ) {
                Ok(()) => {
                    // mknod obeys the umask; set the mode explicitly.
                    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o666);
                    fs::set_permissions(&target, mode)
                        .with_context(|| format!("chmod {}", target.display()))?;
                    continue;
                }
                Err(nix::errno::Errno::EPERM) => {}
                Err(e) => return Err(e).with_context(|| format!("mknod {}", target.display())),
            }
        }
        // A bind mount needs an existing target: an empty file will do.
        fs::write(&target, b"").with_context(|| format!("create {}", target.display()))?;
        let host = Path::new("/dev").join(name);
        mount(
            Some(&host),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind-mount {} at {}", host.display(), target.display()))?;
    }
    Ok(())
}
// ANCHOR_END: devices

/// One device node a container asks for by name (OCI `linux.devices`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Absolute path inside the container, such as `/dev/fuse`.
    pub path: PathBuf,
    /// `S_IFCHR`, `S_IFBLK` or `S_IFIFO`.
    pub kind: nix::sys::stat::SFlag,
    /// Major number (0 for a FIFO).
    pub major: u64,
    /// Minor number (0 for a FIFO).
    pub minor: u64,
    /// Permission bits (the `0666` of `crw-rw-rw-`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

// ANCHOR: make_node
/// Create `node` inside `root` (not yet pivoted) with mknod(2), then give
/// it its mode and owner (mknod obeys the umask and makes root the owner).
/// A file already there must be the same node: the OCI spec says to fail
/// rather than to replace something the image put there.
pub fn make_node(root: &Path, node: &DeviceNode) -> Result<()> {
    use nix::sys::stat::{Mode, SFlag, makedev, mknod};
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    let relative = node.path.strip_prefix("/").unwrap_or(&node.path);
    let target = root.join(relative);
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).with_context(|| format!("mkdir {}", parent.display()))?;
    }
    let rdev = makedev(node.major, node.minor);
    match fs::symlink_metadata(&target) {
        Ok(meta) => {
            let same_kind = match node.kind {
                SFlag::S_IFCHR => meta.file_type().is_char_device(),
                SFlag::S_IFBLK => meta.file_type().is_block_device(),
                _ => meta.file_type().is_fifo(),
            };
            if !same_kind || (node.kind != SFlag::S_IFIFO && meta.rdev() != rdev) {
                bail!(
                    "{} already exists in the rootfs and is not the device {}:{} asked for;                      remove it from the image or from linux.devices",
                    node.path.display(),
                    node.major,
                    node.minor
                );
            }
        }
        Err(_) => mknod(
            &target,
            node.kind,
            Mode::from_bits_truncate(node.mode),
            rdev,
        )
        .with_context(|| {
            format!(
                "mknod {} ({}:{})",
                node.path.display(),
                node.major,
                node.minor
            )
        })?,
    }
    fs::set_permissions(&target, fs::Permissions::from_mode(node.mode & 0o7777))
        .with_context(|| format!("chmod {:o} {}", node.mode, node.path.display()))?;
    std::os::unix::fs::lchown(&target, Some(node.uid), Some(node.gid))
        .with_context(|| format!("chown {}:{} {}", node.uid, node.gid, node.path.display()))
}
// ANCHOR_END: make_node

/// The conventional links of `/dev`: the pty multiplexer of the private
/// devpts, and the process's own descriptors.
pub fn add_dev_links(dev: &Path) -> Result<()> {
    for (name, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(target, dev.join(name))
            .with_context(|| format!("symlink /dev/{name}"))?;
    }
    Ok(())
}

// ANCHOR: remount_readonly
/// Make `path` read-only: bind it onto itself, then remount the bind
/// read-only (a bind mount's flags can differ from the original's).
/// A missing path is fine: not every kernel has every file.
pub fn remount_readonly(path: &Path, recursive: bool) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let rec = if recursive {
        MsFlags::MS_REC
    } else {
        MsFlags::empty()
    };
    mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND | rec,
        None::<&str>,
    )
    .with_context(|| format!("bind {} onto itself", path.display()))?;
    let flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV;
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .with_context(|| format!("remount {} read-only", path.display()))
}
// ANCHOR_END: remount_readonly

// ANCHOR: own_cgroups
/// A container's view of its own cgroups at `target` (an OCI bundle's
/// `cgroup` mount, usually /sys/fs/cgroup): the cgroup at `relative` to
/// each hierarchy's root, and nothing above it, so that a program reads its
/// own limits (`memory.max`) where it expects them. Programs such as the
/// JVM size their heaps from that file.
pub fn own_cgroups(target: &Path, relative: &Path, read_only: bool) -> Result<()> {
    match step03::version::Hierarchy::detect()? {
        step03::version::Hierarchy::V2 { mount } => {
            own_cgroup_v2(&mount.join(relative), target, read_only)
        }
        step03::version::Hierarchy::V1 { .. } => own_cgroups_v1(target, relative, read_only),
    }
}
// ANCHOR_END: own_cgroups

// ANCHOR: own_cgroup_v2
/// v2: one tree, so one bind of the container's own directory. It shows
/// what `mount -t cgroup2` inside the container's cgroup namespace would
/// (that namespace's root is this directory), and needs no namespace.
fn own_cgroup_v2(ours: &Path, target: &Path, read_only: bool) -> Result<()> {
    fs::create_dir_all(target).with_context(|| format!("mkdir {}", target.display()))?;
    if !ours.is_dir() {
        // No cgroup of its own (rootless): the directory stays empty.
        return Ok(());
    }
    mount(
        Some(ours),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("bind {} at {}", ours.display(), target.display()))?;
    let mut flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC;
    if read_only {
        flags |= MsFlags::MS_RDONLY;
    }
    mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
        .with_context(|| format!("remount {} with {flags:?}", target.display()))
}
// ANCHOR_END: own_cgroup_v2

// ANCHOR: own_cgroups_v1
/// v1, as runc does: a tmpfs, and in it, for each hierarchy, a read-only
/// bind of *the container's own* cgroup directory in that hierarchy
/// (`memory/memory.limit_in_bytes`). (Outside a cgroup namespace, a fresh
/// `mount -t cgroup` would show the host's whole tree.)
fn own_cgroups_v1(target: &Path, relative: &Path, read_only: bool) -> Result<()> {
    let host = Path::new("/sys/fs/cgroup");
    fs::create_dir_all(target).with_context(|| format!("mkdir {}", target.display()))?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        flags,
        Some("mode=755"),
    )
    .with_context(|| format!("mount tmpfs at {}", target.display()))?;
    let entries = fs::read_dir(host).with_context(|| format!("list {}", host.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let inside = target.join(&name);
        let kind = entry
            .file_type()
            .with_context(|| format!("stat {:?}", name))?;
        if kind.is_symlink() {
            // cpu -> cpu,cpuacct: the same link inside.
            let to = fs::read_link(entry.path())
                .with_context(|| format!("readlink {}", entry.path().display()))?;
            std::os::unix::fs::symlink(&to, &inside)
                .with_context(|| format!("symlink {}", inside.display()))?;
            continue;
        }
        let ours = entry.path().join(relative);
        fs::create_dir(&inside).with_context(|| format!("mkdir {}", inside.display()))?;
        // Hierarchies we made no cgroup in (freezer, systemd's) stay empty.
        if !ours.is_dir() {
            continue;
        }
        mount(
            Some(&ours),
            &inside,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind {} at {}", ours.display(), inside.display()))?;
        mount(
            None::<&str>,
            &inside,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
            None::<&str>,
        )
        .with_context(|| format!("remount {} read-only", inside.display()))?;
    }
    if read_only {
        mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
            Some("mode=755"),
        )
        .with_context(|| format!("remount {} read-only", target.display()))?;
    }
    Ok(())
}
// ANCHOR_END: own_cgroups_v1
