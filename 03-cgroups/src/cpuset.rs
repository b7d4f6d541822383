//! The cpuset controller: which CPUs (and memory nodes) a group may use.
//!
//! Pinning is what makes a noisy neighbour noisy: two programs on the same
//! CPU must take turns. On v1 a new cpuset group starts with *no* CPUs and
//! no memory nodes, and the kernel refuses to move a process into it until
//! both are set, so we copy the parent's. On v2 an empty `cpuset.cpus`
//! means "inherit the parent's" (cpuset(7)).

use std::path::Path;

use anyhow::Result;

use crate::cgroup::{levels_below, read, write};

/// v1: give a fresh cpuset group, and every fresh group between it and the
/// hierarchy's `mount`, its parent's CPUs and memory nodes. v1 starts a new
/// cpuset group with none, and a process cannot join a group without CPUs
/// (`cgroup.procs`: ENOSPC); so a new `tincan/a/b` needs `tincan` and
/// `tincan/a` filled first, top down.
pub fn inherit_v1_down(mount: &Path, dir: &Path) -> Result<()> {
    levels_below(mount, dir)
        .into_iter()
        .try_for_each(inherit_v1)
}

/// v1: give a fresh cpuset group its parent's CPUs and memory nodes.
fn inherit_v1(dir: &Path) -> Result<()> {
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
