//! The cpuset controller: which CPUs (and memory nodes) a group may use.
//!
//! Pinning is what makes a noisy neighbour noisy: two programs on the same
//! CPU must take turns. On v1 a new cpuset group starts with *no* CPUs and
//! no memory nodes, and the kernel refuses to move a process into it until
//! both are set, so we copy the parent's. On v2 an empty `cpuset.cpus`
//! means "inherit the parent's" (cpuset(7)).

use std::path::Path;

use anyhow::Result;

use crate::cgroup::{read, write};

/// v1: give a fresh cpuset group its parent's CPUs and memory nodes.
pub fn inherit_v1(dir: &Path) -> Result<()> {
    let parent = dir.parent().unwrap_or(dir);
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if read(dir, file)?.is_empty() {
            write(dir, file, &read(parent, file)?)?;
        }
    }
    Ok(())
}

/// Restrict the group to `cpus` (the kernel's list format, e.g. `0` or `0-1`).
pub fn apply(dir: &Path, cpus: &str) -> Result<()> {
    write(dir, "cpuset.cpus", cpus)
}
