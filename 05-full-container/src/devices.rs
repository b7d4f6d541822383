//! The device allowlist: which device files a container may open (the
//! kernel's `Documentation/admin-guide/cgroup-v1/devices.rst`).
//!
//! `CAP_MKNOD` lets a container *create* `/dev/sda` (major 8, minor 0), and
//! a device node is just a name for a driver: whoever can open it can read
//! the host's disk. The cgroup v1 `devices` controller decides which
//! `(type, major, minor)` may be opened, whatever the file is called: we
//! write `a` (all) to `devices.deny`, then Docker's short list to
//! `devices.allow` ([`crate::config::DOCKER_DEVICES`]).
//!
//! On cgroup v2 the same job is done by an eBPF program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the cgroup. tincan does not
//! build one yet: on a v2 host this protection is missing, and `--explain`
//! says so.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::DeviceRule;

/// Where the v1 devices controller is mounted on hosts that have it.
pub const V1_MOUNT: &str = "/sys/fs/cgroup/devices";

/// True when this host has the v1 devices controller.
pub fn v1_available() -> bool {
    Path::new(V1_MOUNT).join("devices.allow").exists()
}

// ANCHOR: apply
/// Create `devices/tincan/<id>`, deny everything, allow `rules` in order,
/// and return the directory (the caller records it and adds the container's
/// process to it).
pub fn create_v1(id: &str, rules: &[DeviceRule]) -> Result<PathBuf> {
    let parent = Path::new(V1_MOUNT).join("tincan");
    let dir = parent.join(id);
    // Another tincan may remove the empty parent between our two mkdirs: retry.
    for attempt in 0.. {
        let _ = std::fs::create_dir(&parent);
        match std::fs::create_dir(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < 5 => continue,
            other => other.with_context(|| format!("mkdir {}", dir.display()))?,
        }
        break;
    }
    let write = |file: &str, line: &str| {
        std::fs::write(dir.join(file), line)
            .with_context(|| format!("write {line:?} to {}", dir.join(file).display()))
    };
    let result = rules.iter().try_for_each(|rule| {
        write(
            if rule.allow {
                "devices.allow"
            } else {
                "devices.deny"
            },
            &rule.rule,
        )
    });
    if let Err(e) = result {
        let _ = std::fs::remove_dir(&dir);
        return Err(e);
    }
    Ok(dir)
}
// ANCHOR_END: apply
