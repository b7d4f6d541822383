//! Mount propagation as an OCI bundle asks for it: `linux.rootfsPropagation`
//! for the container's root, and the options `shared`, `slave`, `private`,
//! `unbindable` (and their recursive `r` forms) on each entry of `mounts`
//! (the runtime spec's config.md and config-linux.md; mount_namespaces(7)).
//!
//! Step 02 taught the mechanism ([`step02::mount::set_propagation`]: peer
//! groups, and one mount(2) call that changes only the type). What is
//! decided here is *which* type each mount gets:
//!
//! - By default everything in the container is **private**: a container's
//!   mounts must never appear on the host, and the host's later mounts have
//!   no business appearing in the container.
//! - An engine asks for more when a host directory is meant to stay
//!   connected: podman's `--volume /mnt/usb:/mnt:rslave` wants a USB stick
//!   the host mounts later under /mnt/usb to appear in the container too
//!   (slave: the host's events come in, none go out); `rshared` also sends
//!   the container's mounts back (a storage driver that mounts volumes for
//!   the host). That only works if the container's copy of the host's
//!   mounts is still connected to the host: so when any mount (or the root)
//!   asks for slave or shared, `/` of the new namespace is made `rslave`
//!   (runc's default) or the asked `rootfsPropagation`, instead of
//!   `rprivate`, *before* anything is bound.

use std::path::Path;

use anyhow::{Result, bail};
use nix::mount::MsFlags;

use crate::config::RunConfig;

// ANCHOR: propagation_options
/// The propagation names of mount(8) and the OCI spec, with their flags.
/// The `r` forms add `MS_REC`: the mounts below it get the type too.
pub const PROPAGATION_OPTIONS: &[(&str, MsFlags)] = &[
    ("private", MsFlags::MS_PRIVATE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("shared", MsFlags::MS_SHARED),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("slave", MsFlags::MS_SLAVE),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];
// ANCHOR_END: propagation_options

/// The flags of one propagation name, if it is one.
pub fn flags_of(name: &str) -> Option<MsFlags> {
    PROPAGATION_OPTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
}

/// `linux.rootfsPropagation`, checked before anything is made.
pub fn parse_root(value: &str) -> Result<MsFlags> {
    match flags_of(value) {
        Some(flags) => Ok(flags),
        None => bail!(
            "linux.rootfsPropagation {value:?} is not a propagation type; use one of {}",
            PROPAGATION_OPTIONS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn root_flags(config: &RunConfig) -> Option<MsFlags> {
    config
        .rootfs_propagation
        .as_deref()
        .and_then(|v| parse_root(v).ok())
}

// ANCHOR: initial
/// The propagation `/` of the new mount namespace gets first, before the
/// root and the mounts are bound from it (a bind inherits the type of its
/// source: the bind of a slave is a slave of the same master).
pub fn initial(config: &RunConfig) -> MsFlags {
    let connected = MsFlags::MS_SHARED | MsFlags::MS_SLAVE;
    let asks = config.mounts.iter().any(|m| {
        m.options
            .iter()
            .filter_map(|o| flags_of(o))
            .any(|f| f.intersects(connected))
    });
    // An unbindable `/` could not be bound from (EINVAL): that one, and
    // private, wait for `after_pivot`.
    match root_flags(config) {
        Some(flags) if flags.intersects(connected) => flags,
        _ if asks => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        _ => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
    }
}
// ANCHOR_END: initial

// ANCHOR: before_pivot
/// Before the root is mounted (the rootfs bound onto itself, or the overlay): if `/` was left shared, its bind
/// would join the host's peer group (the container's mounts would appear on
/// the host), and pivot_root(2) refuses a new root whose parent mount, or
/// a current root, is shared (EINVAL). So the mount holding the rootfs,
/// and `/`, become private (not recursively: the volumes keep theirs).
/// `dir` is where the root will be mounted.
pub fn before_root_mount(config: &RunConfig, dir: &Path) -> Result<()> {
    if !initial(config).contains(MsFlags::MS_SHARED) {
        return Ok(());
    }
    let holder = step02::mount::mount_point_of(dir)?;
    step02::mount::set_propagation(&holder, MsFlags::MS_PRIVATE)?;
    step02::mount::set_propagation(Path::new("/"), MsFlags::MS_PRIVATE)
}
// ANCHOR_END: before_pivot

// ANCHOR: after_pivot
/// After the pivot: the container's own `/` gets `rootfsPropagation`
/// (runc does the same; before the pivot `/` was still the host's copy).
pub fn after_pivot(config: &RunConfig) -> Result<()> {
    match root_flags(config) {
        Some(flags) => step02::mount::set_propagation(Path::new("/"), flags),
        None => Ok(()),
    }
}
// ANCHOR_END: after_pivot

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_one_type_and_r_adds_ms_rec() {
        assert_eq!(
            flags_of("rslave"),
            Some(MsFlags::MS_SLAVE | MsFlags::MS_REC)
        );
        assert_eq!(flags_of("shared"), Some(MsFlags::MS_SHARED));
        assert_eq!(flags_of("nosuid"), None, "not a propagation name");
        let err = parse_root("sideways").expect_err("refused").to_string();
        assert!(
            err.contains("use one of private, rprivate, shared"),
            "{err}"
        );
    }
}
