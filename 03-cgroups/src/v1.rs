//! cgroup v1: one hierarchy per controller (cgroups(7), "Cgroups version 1").
//!
//! On v1 "the cgroup tincan/web" is really one directory *per controller*:
//! `/sys/fs/cgroup/memory/tincan/web`, `/sys/fs/cgroup/pids/tincan/web`, and
//! so on. Each must be created, each gets the pid written into its
//! `cgroup.procs`, and each must be removed. That bookkeeping is why v2
//! replaced it with a single tree.

use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use anyhow::Result;
use nix::unistd::Pid;

use crate::cgroup::{
    Cgroup, PARENT, Stats, kill_until_empty, make_dir_in_parent, read_procs, remove_dir,
    remove_parent_if_empty, write,
};
use crate::limits::Limits;
use crate::{cpu, cpuset, io, memory, pids};

/// The v1 controllers we use (`cpuacct` for CPU usage, `blkio` for I/O).
pub const V1_CONTROLLERS: [&str; 6] = ["memory", "cpu", "cpuacct", "pids", "blkio", "cpuset"];

/// A cgroup on v1: `<controller mount>/tincan/<name>` for each controller.
#[derive(Debug)]
pub struct V1Cgroup {
    /// Controller -> its directory for this cgroup (co-mounted controllers
    /// such as `cpu,cpuacct` share one).
    dirs: BTreeMap<String, PathBuf>,
    removed: bool,
}

impl V1Cgroup {
    /// Create `tincan/<name>` in every mounted v1 controller hierarchy.
    // ANCHOR: create_v1
    pub fn create(mounts: &BTreeMap<String, PathBuf>, name: &str) -> Result<V1Cgroup> {
        V1Cgroup::create_at(mounts, &Path::new(PARENT).join(name))
    }

    /// Create the cgroup at `path` (relative to each hierarchy's root) in
    /// every mounted v1 controller hierarchy, creating missing parents.
    pub fn create_at(mounts: &BTreeMap<String, PathBuf>, path: &Path) -> Result<V1Cgroup> {
        let mut cgroup = V1Cgroup {
            dirs: BTreeMap::new(),
            removed: false,
        };
        for controller in V1_CONTROLLERS {
            let Some(mount) = mounts.get(controller) else {
                continue;
            };
            let dir = mount.join(path);
            let parent = dir.parent().unwrap_or(mount).to_path_buf();
            if !cgroup.dirs.values().any(|d| *d == dir) {
                // Record first: if mkdir fails half-way, Drop removes what exists.
                cgroup.dirs.insert(controller.to_string(), dir.clone());
                make_dir_in_parent(&parent, &dir)?;
                if controller == "cpuset" {
                    cpuset::inherit_v1(&parent)?;
                    cpuset::inherit_v1(&dir)?;
                }
            } else {
                cgroup.dirs.insert(controller.to_string(), dir);
            }
        }
        Ok(cgroup)
    }
    // ANCHOR_END: create_v1

    fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs.get(controller).map(PathBuf::as_path)
    }

    fn unique_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self.dirs.values().cloned().collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }
}

impl Cgroup for V1Cgroup {
    fn version(&self) -> &'static str {
        "v1"
    }

    fn dirs(&self) -> Vec<PathBuf> {
        self.unique_dirs()
    }

    fn apply(&self, limits: &Limits) -> Result<Vec<String>> {
        let mut notes = Vec::new();
        let missing = |c: &str, notes: &mut Vec<String>| {
            notes.push(format!(
                "the v1 {c} controller is not mounted: its limit is skipped"
            ))
        };
        if let Some(limit) = limits.memory {
            match self.dir("memory") {
                Some(dir) => memory::apply_v1(dir, limit, &mut notes)?,
                None => missing("memory", &mut notes),
            }
        }
        if limits.cpus.is_some() || limits.cpu_weight.is_some() {
            match self.dir("cpu") {
                Some(dir) => cpu::apply_v1(dir, limits.cpus, limits.cpu_weight)?,
                None => missing("cpu", &mut notes),
            }
        }
        if let Some(limit) = limits.pids {
            match self.dir("pids") {
                Some(dir) => pids::apply(dir, limit)?,
                None => missing("pids", &mut notes),
            }
        }
        if let Some(cpus) = &limits.cpuset {
            match self.dir("cpuset") {
                Some(dir) => cpuset::apply(dir, cpus)?,
                None => missing("cpuset", &mut notes),
            }
        }
        if limits.read_bps.is_some() || limits.write_bps.is_some() {
            match self.dir("blkio") {
                Some(dir) if dir.join("blkio.throttle.read_bps_device").exists() => {
                    io::apply_v1(dir, limits.read_bps.as_ref(), limits.write_bps.as_ref())?
                }
                Some(_) => notes.push(
                    "this kernel's blkio has no throttle files (CONFIG_BLK_DEV_THROTTLING): \
                     I/O is not limited"
                        .into(),
                ),
                None => missing("blkio", &mut notes),
            }
        }
        Ok(notes)
    }

    // ANCHOR: add_v1
    fn add(&self, pid: Pid) -> Result<()> {
        // One write per hierarchy: the process joins each controller's group.
        for dir in self.unique_dirs() {
            write(&dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }
    // ANCHOR_END: add_v1

    fn procs(&self) -> Result<Vec<Pid>> {
        // Every hierarchy lists the same processes; pids has one for sure.
        match self.dir("pids").or_else(|| self.dir("memory")) {
            Some(dir) => read_procs(dir),
            None => Ok(Vec::new()),
        }
    }

    fn stats(&self) -> Result<Stats> {
        let mut stats = Stats::default();
        if let Some(dir) = self.dir("memory") {
            memory::stats_v1(dir, &mut stats)?;
        }
        cpu::stats_v1(self.dir("cpu"), self.dir("cpuacct"), &mut stats)?;
        if let Some(dir) = self.dir("pids") {
            pids::stats(dir, &mut stats)?;
        }
        if let Some(dir) = self.dir("blkio") {
            io::stats_v1(dir, &mut stats)?;
        }
        Ok(stats)
    }

    fn dir_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    fn kill_all(&self) -> Result<()> {
        // v1 has no "kill the group" file: signal each listed process.
        kill_until_empty(&self.unique_dirs())
    }

    fn remove(&mut self) -> Result<()> {
        if self.removed {
            return Ok(());
        }
        self.kill_all()?;
        for dir in self.unique_dirs() {
            remove_dir(&dir)?;
            // Only our own `tincan` parent: another parent (an engine's,
            // such as podman's `libpod_parent`) belongs to its creator.
            if let Some(parent) = dir.parent().filter(|p| p.ends_with(PARENT)) {
                remove_parent_if_empty(parent);
            }
        }
        self.removed = true;
        Ok(())
    }
}

impl Drop for V1Cgroup {
    fn drop(&mut self) {
        if let Err(err) = self.remove() {
            eprintln!("warning: could not remove cgroup: {err:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{Cpus, Limit};

    /// The file-level mapping, against plain directories standing in for the
    /// hierarchies (the kernel tests check the real thing).
    #[test]
    fn limits_land_in_the_v1_files() {
        let root = std::env::temp_dir().join(format!("tincan-unit-v1-{}", std::process::id()));
        let mut mounts = BTreeMap::new();
        for c in ["memory", "cpu", "pids", "blkio"] {
            std::fs::create_dir_all(root.join(c)).expect("mkdir");
            mounts.insert(c.to_string(), root.join(c));
        }
        mounts.insert("cpuacct".to_string(), root.join("cpu")); // co-mounted
        let cg = V1Cgroup::create(&mounts, "unit").expect("create");
        assert_eq!(cg.dirs().len(), 4, "cpu and cpuacct share one directory");
        let limits = Limits {
            memory: Some(Limit::Value(64 << 20)),
            cpus: Some(Cpus::Fraction(0.5)),
            cpu_weight: Some(200),
            pids: Some(Limit::Value(32)),
            read_bps: Some(("254:0".into(), 1 << 20)),
            ..Limits::default()
        };
        let notes = cg.apply(&limits).expect("apply");
        let read = |c: &str, f: &str| {
            std::fs::read_to_string(root.join(c).join(PARENT).join("unit").join(f)).expect(f)
        };
        assert_eq!(read("memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(read("cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(read("cpu", "cpu.shares"), "2048");
        assert_eq!(read("pids", "pids.max"), "32");
        assert!(notes.iter().any(|n| n.contains("swap")), "{notes:?}");
        assert!(notes.iter().any(|n| n.contains("throttle")), "{notes:?}");
        // Plain directories cannot be rmdir'ed with files inside: skip Drop.
        std::mem::forget(cg);
        std::fs::remove_dir_all(&root).expect("clean up");
    }
}
