//! Reading a cgroup that already exists, without owning it: what a
//! runtime's `stats` and `top` do for a container another process made
//! (cgroups(7); the kernel's Documentation/admin-guide/cgroup-v2.rst).
//!
//! [`crate::cgroup::Cgroup`] is the owner's handle: dropping it kills and
//! removes the group. A monitoring command must only *look*, so it gets
//! the group by its path below each hierarchy's root (`tincan/web`) and
//! reads the same statistics files with the same per-controller readers.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use nix::unistd::Pid;

use crate::cgroup::{Stats, read_procs};
use crate::v1::V1_CONTROLLERS;
use crate::version::Hierarchy;
use crate::{Controller, cpu, io, memory, pids};

// ANCHOR: stats_at
/// The statistics of the existing cgroup at `relative` (below each
/// hierarchy's root), on whichever version this host runs: the files
/// `docker stats` reads, and nothing is created or removed.
pub fn stats_at(relative: &Path) -> Result<Stats> {
    let mut stats = Stats::default();
    match Hierarchy::detect()? {
        Hierarchy::V1 { mounts } => {
            // One directory per controller; `None` where it is not mounted.
            let dir = |c: Controller| {
                mounts
                    .get(c.v1_name())
                    .map(|m| m.join(relative))
                    .filter(|d| d.is_dir())
            };
            if let Some(d) = dir(Controller::Memory) {
                memory::stats_v1(&d, &mut stats)?;
            }
            let (cpu_dir, cpuacct) = (dir(Controller::Cpu), dir(Controller::Cpuacct));
            cpu::stats_v1(cpu_dir.as_deref(), cpuacct.as_deref(), &mut stats)?;
            if let Some(d) = dir(Controller::Pids) {
                pids::stats(&d, &mut stats)?;
            }
            if let Some(d) = dir(Controller::Io) {
                io::stats_v1(&d, &mut stats)?;
            }
        }
        Hierarchy::V2 { mount } => {
            // One directory has every controller's files.
            let d = existing(mount.join(relative))?;
            memory::stats_v2(&d, &mut stats)?;
            cpu::stats_v2(&d, &mut stats)?;
            pids::stats(&d, &mut stats)?;
            io::stats_v2(&d, &mut stats)?;
        }
    }
    Ok(stats)
}
// ANCHOR_END: stats_at

/// The processes in the existing cgroup at `relative` (its `cgroup.procs`;
/// on v1 every hierarchy lists the same ones, so the first that has the
/// group answers).
pub fn procs_at(relative: &Path) -> Result<Vec<Pid>> {
    match Hierarchy::detect()? {
        Hierarchy::V1 { mounts } => {
            let dir = V1_CONTROLLERS
                .iter()
                .filter_map(|c| mounts.get(c.v1_name()))
                .map(|m| m.join(relative))
                .find(|d| d.is_dir());
            match dir {
                Some(d) => read_procs(&d),
                None => bail!(
                    "no cgroup {} in any v1 hierarchy (has the container ended?)",
                    relative.display()
                ),
            }
        }
        Hierarchy::V2 { mount } => read_procs(&existing(mount.join(relative))?),
    }
}

fn existing(dir: PathBuf) -> Result<PathBuf> {
    if !dir.is_dir() {
        bail!("no cgroup {} (has the container ended?)", dir.display());
    }
    Ok(dir)
}
