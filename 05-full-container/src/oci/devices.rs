//! `linux.devices`: device nodes the container gets in addition to the
//! standard ones, each created in its /dev and allowed (read, write, mknod)
//! by the device cgroup, as the runtime spec says: a listed device must be
//! usable.

use std::path::{Component, Path};

use anyhow::{Result, bail};
use nix::sys::stat::SFlag;
use oci_spec::runtime::{Linux, LinuxDeviceType};

use crate::config::{DeviceNode, DeviceRule};

// ANCHOR: linux_devices
/// The nodes of `linux.devices`, checked; each char or block device's
/// `rwm` rule is appended to `rules`, after the bundle's own
/// `linux.resources.devices`, so that no rule there can take it away.
pub(super) fn convert(linux: &Linux, rules: &mut Vec<DeviceRule>) -> Result<Vec<DeviceNode>> {
    let mut nodes = Vec::new();
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        let path = d.path();
        let plain = path
            .components()
            .skip(1)
            .all(|c| matches!(c, Component::Normal(_)));
        if !path.is_absolute() || !plain || path == Path::new("/") {
            bail!(
                "linux.devices[{i}].path {:?} must be an absolute path without '..', \
                 such as /dev/fuse",
                path.display().to_string()
            );
        }
        // `u` is an unbuffered character device: to the kernel, a char device.
        let (kind, letter) = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => (SFlag::S_IFCHR, Some('c')),
            LinuxDeviceType::B => (SFlag::S_IFBLK, Some('b')),
            LinuxDeviceType::P => (SFlag::S_IFIFO, None),
            LinuxDeviceType::A => bail!(
                "linux.devices[{i}].type \"a\" is not a node type; use c, b, u or p \
                 (\"a\" belongs in linux.resources.devices)"
            ),
        };
        let (major, minor) = match (letter, d.major(), d.minor()) {
            (None, _, _) => (0, 0),
            (Some(_), major, minor) if major >= 0 && minor >= 0 => (major as u64, minor as u64),
            (Some(_), major, minor) => bail!(
                "linux.devices[{i}] ({}) has major {major}, minor {minor}: both must be 0 or more, \
                 such as 10 and 229 for /dev/fuse",
                path.display()
            ),
        };
        if let Some(letter) = letter {
            rules.push(DeviceRule {
                allow: true,
                rule: format!("{letter} {major}:{minor} rwm"),
            });
        }
        let mode = d.file_mode().unwrap_or(0o666);
        if mode & !0o7777 != 0 {
            bail!("linux.devices[{i}].fileMode {mode:o} has bits beyond the permissions (07777)");
        }
        nodes.push(DeviceNode {
            path: path.clone(),
            kind,
            major,
            minor,
            mode,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    Ok(nodes)
}
// ANCHOR_END: linux_devices
