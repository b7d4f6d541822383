//! The container's root filesystem, from inside its new mount namespace
//! (mount(2), mount_namespaces(7), overlayfs; the OCI runtime spec's
//! `mounts`, `linux.maskedPaths` and `linux.readonlyPaths`).
//!
//! Step 04 taught the pivot: a root that is a mount point, fresh /proc,
//! /sys and /dev inside it, pivot_root(2), the old root unmounted. Its
//! functions do those steps here too. What step 05 adds:
//!
//! - the root is an **overlay** (the image read-only below, this container's
//!   writes above, [`crate::overlay`]) or, for a bundle, the bundle's rootfs;
//! - the mounts come from a **list** (the OCI `mounts`), each with its type,
//!   source and mount(8) options;
//! - after the pivot, **masked paths** get something empty mounted on top,
//!   and **read-only paths** are remounted read-only, as Docker does.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::mount::{MsFlags, mount};
use step04::mounts::{
    NodeSource, add_dev_links, add_devices, make_node, own_cgroups, remount_readonly,
};
use step04::pivot::{bind_onto_itself, move_root, switch_root};

use crate::config::{MountSpec, RunConfig};
use crate::explain::Explain;
use crate::propagation;

// ANCHOR: enter
/// Steps 3 and 4 of `tincan run`: build the root and pivot into it.
/// `layer` is the container's overlay directory, if it has one;
/// `before_pivot` runs once the mounts are made (OCI `createContainer`).
pub fn enter(
    config: &RunConfig,
    layer: Option<&Path>,
    explain: Explain,
    before_pivot: impl FnOnce() -> Result<()>,
) -> Result<()> {
    // Our mounts must not propagate back to the host (step 02): `/` is made
    // rprivate, or rslave when a volume asks to stay connected to the host.
    step02::mount::set_propagation(Path::new("/"), propagation::initial(config))?;
    // 3. the root filesystem: an overlay, or the bundle's rootfs.
    propagation::before_root_mount(config, layer.unwrap_or(&config.rootfs))?;
    let new_root = match layer {
        Some(layer) => mount_overlay(config, layer, explain)?,
        None => {
            bind_onto_itself(&config.rootfs)?;
            config.rootfs.clone()
        }
    };
    // 4. the mounts every program expects, then step 04's pivot.
    mount_list(&new_root, config)?;
    before_pivot()?;
    if config.no_pivot {
        move_root(&new_root)?;
    } else {
        switch_root(&new_root)?;
    }
    set_sysctls(config)?;
    for path in &config.masked_paths {
        mask(path)?;
    }
    for path in &config.readonly_paths {
        remount_readonly(path, false)?;
    }
    if config.readonly_rootfs {
        remount_readonly(Path::new("/"), true)?;
    }
    // Last: an unbindable root could not be bound onto itself above.
    propagation::after_pivot(config)?;
    explain_mounts(config, explain);
    nix::unistd::chdir(&config.cwd)
        .with_context(|| format!("chdir {} (--workdir)", config.cwd.display()))?;
    Ok(())
}
// ANCHOR_END: enter

/// Step 3: the overlay in `layer` (its directories were made by the
/// parent): the image below, this container's `upper` above.
fn mount_overlay(config: &RunConfig, layer: &Path, explain: Explain) -> Result<PathBuf> {
    let lowers = config.lowers();
    let merged = crate::overlay::mount_layer(&lowers, layer)?;
    explain.step(
        "3",
        format_args!(
            "overlay: image {} read-only below{}, writes go to {}",
            config.rootfs.display(),
            match lowers.len() {
                1 => String::new(),
                n => format!(" (and {} more layers)", n - 1),
            },
            layer.join("upper").display()
        ),
    );
    Ok(merged)
}

/// Every mount of the config's list, in order, inside `root`; then the
/// device nodes of a fresh /dev (step 04's).
fn mount_list(root: &Path, config: &RunConfig) -> Result<()> {
    for m in &config.mounts {
        if m.typ == "cgroup" {
            let target = inside(root, &m.destination);
            let read_only = m.options.iter().any(|o| o == "ro");
            own_cgroups(
                &target,
                &crate::container::cgroup_relative_path(config),
                read_only,
            )?;
        } else {
            mount_one(root, m)?;
        }
    }
    let dev_is_fresh = config
        .mounts
        .iter()
        .any(|m| m.destination == Path::new("/dev") && m.typ == "tmpfs");
    if dev_is_fresh {
        add_devices(&root.join("dev"), NodeSource::Create)?;
        add_dev_links(&root.join("dev"))?;
    }
    for node in &config.device_nodes {
        make_node(root, node)?;
    }
    Ok(())
}

fn inside(root: &Path, destination: &Path) -> PathBuf {
    root.join(destination.strip_prefix("/").unwrap_or(destination))
}

// ANCHOR: mounts
/// Make one mount inside `root` (not yet pivoted), as the OCI spec
/// describes it: a type, a source, and options that are either mount flags
/// (`ro`, `nosuid`, `rbind`...) or data for the filesystem (`mode=755`).
fn mount_one(root: &Path, m: &MountSpec) -> Result<()> {
    let target = inside(root, &m.destination);
    let (flags, propagation, data) = mount_flags(&m.options);
    let bind = flags.contains(MsFlags::MS_BIND);
    if bind && Path::new(&m.source).is_file() {
        if !target.exists() {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("mkdir {}", parent.display()))?;
            }
            std::fs::write(&target, "").with_context(|| format!("create {}", target.display()))?;
        }
    } else {
        std::fs::create_dir_all(&target).with_context(|| format!("mkdir {}", target.display()))?;
    }
    let fstype = (!bind).then_some(m.typ.as_str());
    let data = (!data.is_empty()).then_some(data.as_str());
    // For a bind mount, flags only take effect on the remount below.
    let first = if bind {
        flags & (MsFlags::MS_BIND | MsFlags::MS_REC)
    } else {
        flags
    };
    mount(Some(m.source.as_str()), &target, fstype, first, data).with_context(|| {
        format!(
            "mount {} ({}) at {}",
            m.source,
            m.typ,
            m.destination.display()
        )
    })?;
    // A bind mount ignores most flags the first time: remount to apply them.
    let keep =
        flags & (MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    if bind && !keep.is_empty() {
        mount(
            None::<&str>,
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | keep,
            None::<&str>,
        )
        .with_context(|| format!("remount {} with {keep:?}", m.destination.display()))?;
    }
    // Propagation is not mount data: a call of its own, after the mount.
    if !propagation.is_empty() {
        step02::mount::set_propagation(&target, propagation)?;
    }
    Ok(())
}
// ANCHOR_END: mounts

/// The mount(8) options that are mount flags, with their flags (`rw` asks
/// for nothing). The propagation names are [`propagation::PROPAGATION_OPTIONS`];
/// every other option goes to the filesystem as data. `tincan features`
/// lists these names and those.
pub const MOUNT_OPTIONS: &[(&str, MsFlags)] = &[
    ("bind", MsFlags::MS_BIND),
    ("defaults", MsFlags::empty()),
    ("noatime", MsFlags::MS_NOATIME),
    ("nodev", MsFlags::MS_NODEV),
    ("nodiratime", MsFlags::MS_NODIRATIME),
    ("noexec", MsFlags::MS_NOEXEC),
    ("nosuid", MsFlags::MS_NOSUID),
    ("rbind", MsFlags::MS_BIND.union(MsFlags::MS_REC)),
    ("relatime", MsFlags::MS_RELATIME),
    ("ro", MsFlags::MS_RDONLY),
    ("rw", MsFlags::empty()),
    ("strictatime", MsFlags::MS_STRICTATIME),
    ("sync", MsFlags::MS_SYNCHRONOUS),
];

// ANCHOR: mount_flags
/// Split mount options into flags, the propagation type (applied by a
/// call of its own after the mount: the kernel takes it in no other way)
/// and the data string for the filesystem (mount(8) names).
fn mount_flags(options: &[String]) -> (MsFlags, MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut propagation = MsFlags::empty();
    let mut data = Vec::new();
    for option in options {
        if let Some(p) = propagation::flags_of(option) {
            // The last one named wins, as in mount(8).
            propagation = p;
        } else if let Some((_, flag)) = MOUNT_OPTIONS.iter().find(|(name, _)| name == option) {
            flags |= *flag;
        } else {
            data.push(option.as_str());
        }
    }
    (flags, propagation, data.join(","))
}
// ANCHOR_END: mount_flags

/// Namespaced sysctls, while /proc/sys is still writable.
fn set_sysctls(config: &RunConfig) -> Result<()> {
    for (key, value) in &config.sysctl {
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&path, value)
            .with_context(|| format!("sysctl {key}={value} ({})", path.display()))?;
    }
    Ok(())
}

// ANCHOR: mask
/// Hide `path`: a file gets /dev/null bound on top, a directory an empty
/// read-only tmpfs. Missing paths are fine (not every kernel has them).
fn mask(path: &Path) -> Result<()> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    if meta.is_dir() {
        mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .with_context(|| format!("mask {} with an empty tmpfs", path.display()))
    } else {
        mount(
            Some("/dev/null"),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("mask {} with /dev/null", path.display()))
    }
}
// ANCHOR_END: mask

fn explain_mounts(config: &RunConfig, explain: Explain) {
    explain.step(
        "4",
        format_args!(
            "pivot_root after {} mounts ({}); {} masked and {} read-only paths{}",
            config.mounts.len(),
            config
                .mounts
                .iter()
                .map(|m| m.destination.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            config.masked_paths.len(),
            config.readonly_paths.len(),
            if config.readonly_rootfs {
                "; / read-only"
            } else {
                ""
            }
        ),
    );
}
