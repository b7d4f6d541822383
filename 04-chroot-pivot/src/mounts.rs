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

/// The device nodes bind-mounted from the host into the container's `/dev`.
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

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
    for name in DEVICES {
        // A bind mount needs an existing target: an empty file will do.
        let target = dev.join(name);
        fs::write(&target, b"").with_context(|| format!("create {}", target.display()))?;
        let source = Path::new("/dev").join(name);
        mount(
            Some(&source),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind-mount {} at {}", source.display(), target.display()))?;
    }
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
    std::os::unix::fs::symlink("pts/ptmx", dev.join("ptmx")).context("symlink /dev/ptmx")?;
    let shm = dev.join("shm");
    fs::create_dir(&shm).with_context(|| format!("mkdir {}", shm.display()))?;
    mount_fs(
        "tmpfs",
        &shm,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777,size=65536k"),
    )?;
    for (name, target) in [
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
// ANCHOR_END: mounts

// ANCHOR: cgroup
/// Mount the cgroup filesystem at `/sys/fs/cgroup`, read-only. Call it in
/// a new cgroup namespace (cgroup_namespaces(7)): the mount then shows the
/// container's own cgroup as the root, so `memory.max` (v2) or
/// `memory/memory.limit_in_bytes` (v1) at the top are the container's limits.
pub fn mount_cgroup(rootfs: &Path, version: step03::Version) -> Result<()> {
    let ro = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY;
    let top = dir(rootfs, "sys/fs/cgroup")?;
    if version == step03::Version::V2 {
        return mount(Some("cgroup2"), &top, Some("cgroup2"), ro, None::<&str>)
            .with_context(|| format!("mount cgroup2 at {}", top.display()));
    }
    // v1: a small tmpfs holding one directory per controller hierarchy.
    mount_fs(
        "tmpfs",
        &top,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=755,size=64k"),
    )?;
    for controller in ["memory", "pids"] {
        let target = top.join(controller);
        fs::create_dir(&target).with_context(|| format!("mkdir {}", target.display()))?;
        mount(
            Some("cgroup"),
            &target,
            Some("cgroup"),
            ro,
            Some(controller),
        )
        .with_context(|| format!("mount cgroup ({controller}) at {}", target.display()))?;
    }
    let remount = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    mount(None::<&str>, &top, None::<&str>, remount, None::<&str>)
        .with_context(|| format!("remount {} read-only", top.display()))?;
    Ok(())
}
// ANCHOR_END: cgroup
