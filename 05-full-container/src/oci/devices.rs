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

#[cfg(test)]
mod tests {
    use super::*;

    fn convert_json(devices: serde_json::Value) -> (Result<Vec<DeviceNode>>, Vec<DeviceRule>) {
        let linux: Linux =
            serde_json::from_value(serde_json::json!({ "devices": devices })).expect("linux");
        let mut rules = Vec::new();
        (convert(&linux, &mut rules), rules)
    }

    #[test]
    fn each_char_and_block_node_is_allowed_rwm_and_u_is_a_char_device() {
        let (nodes, rules) = convert_json(serde_json::json!([
            {"path": "/dev/fuse", "type": "u", "major": 10, "minor": 229},
            {"path": "/dev/sdz", "type": "b", "major": 8, "minor": 0, "fileMode": 0o600},
            {"path": "/dev/fifo", "type": "p"},
        ]));
        let nodes = nodes.expect("valid");
        assert_eq!(nodes[0].kind, SFlag::S_IFCHR);
        assert_eq!((nodes[0].mode, nodes[1].mode), (0o666, 0o600));
        let rules: Vec<&str> = rules.iter().map(|r| r.rule.as_str()).collect();
        assert_eq!(rules, ["c 10:229 rwm", "b 8:0 rwm"], "no rule for a FIFO");
    }

    #[test]
    fn bad_entries_are_one_line_naming_them() {
        for (entry, says) in [
            (
                serde_json::json!({"path": "dev/x", "type": "c", "major": 1, "minor": 3}),
                "must be an absolute path",
            ),
            (
                serde_json::json!({"path": "/dev/../etc/x", "type": "c", "major": 1, "minor": 3}),
                "without '..'",
            ),
            (
                serde_json::json!({"path": "/dev/x", "type": "a", "major": 1, "minor": 3}),
                "is not a node type",
            ),
            (
                serde_json::json!({"path": "/dev/x", "type": "c", "major": -1, "minor": 3}),
                "both must be 0 or more",
            ),
        ] {
            let (result, _) = convert_json(serde_json::json!([entry]));
            let err = result.expect_err("refused").to_string();
            assert!(err.contains(says) && !err.contains('\n'), "{err}");
        }
    }
}
