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

use anyhow::bail;

use crate::cgroup::{Cgroup, Controller, PARENT, Stats, make_dir_in_parent, read_procs, write};
use crate::limits::Limits;
use crate::version::Version;
use crate::{cpu, cpuset, freezer, io, memory, pids, remove};

/// The v1 controllers we use (`cpuacct` for CPU usage, `blkio` for I/O,
/// `devices` for a container's device allowlist, `freezer` for pausing).
pub const V1_CONTROLLERS: [Controller; 8] = [
    Controller::Memory,
    Controller::Cpu,
    Controller::Cpuacct,
    Controller::Pids,
    Controller::Io,
    Controller::Cpuset,
    Controller::Devices,
    Controller::Freezer,
];

/// A cgroup on v1: `<controller mount>/tincan/<name>` for each controller.
#[derive(Debug)]
pub struct V1Cgroup {
    /// Controller -> its directory for this cgroup (co-mounted controllers
    /// such as `cpu,cpuacct` share one).
    dirs: BTreeMap<Controller, PathBuf>,
    /// The path below each hierarchy's root.
    relative: PathBuf,
    removed: bool,
}

impl V1Cgroup {
    /// Create `tincan/<name>` in every mounted v1 controller hierarchy.
    // ANCHOR: create_v1
    pub fn create(mounts: &BTreeMap<String, PathBuf>, name: &str) -> Result<V1Cgroup> {
        V1Cgroup::create_at(mounts, &Path::new(PARENT).join(name))
    }

    /// Create the cgroup at `path` (relative to each hierarchy's root) in
    /// every mounted v1 controller hierarchy, creating missing parents. The
    /// devices and freezer hierarchies get it too, so that one [`Cgroup::add`]
    /// puts a process under every controller; their directories start with
    /// the parent's settings (all devices allowed, thawed).
    pub fn create_at(mounts: &BTreeMap<String, PathBuf>, path: &Path) -> Result<V1Cgroup> {
        let mut cgroup = V1Cgroup {
            dirs: BTreeMap::new(),
            relative: path.to_path_buf(),
            removed: false,
        };
        for controller in V1_CONTROLLERS {
            let Some(mount) = mounts.get(controller.v1_name()) else {
                continue;
            };
            let dir = mount.join(path);
            let parent = dir.parent().unwrap_or(mount).to_path_buf();
            if !cgroup.dirs.values().any(|d| *d == dir) {
                // Record first: if mkdir fails half-way, Drop removes what exists.
                cgroup.dirs.insert(controller, dir.clone());
                make_dir_in_parent(&parent, &dir)?;
                if controller == Controller::Cpuset {
                    cpuset::inherit_v1_down(mount, &dir)?;
                }
            } else {
                cgroup.dirs.insert(controller, dir);
            }
        }
        Ok(cgroup)
    }
    // ANCHOR_END: create_v1

    fn dir(&self, controller: Controller) -> Option<&Path> {
        self.dirs.get(&controller).map(PathBuf::as_path)
    }

    fn unique_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self.dirs.values().cloned().collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }
}

impl Cgroup for V1Cgroup {
    fn version(&self) -> Version {
        Version::V1
    }

    fn relative(&self) -> &Path {
        &self.relative
    }

    fn dirs(&self) -> Vec<PathBuf> {
        self.unique_dirs()
    }

    fn controller_dir(&self, controller: Controller) -> Option<PathBuf> {
        self.dir(controller).map(Path::to_path_buf)
    }

    fn apply(&self, limits: &Limits) -> Result<Vec<String>> {
        let mut notes = Vec::new();
        let missing = |c: Controller, notes: &mut Vec<String>| {
            notes.push(format!(
                "the v1 {} controller is not mounted: its limit is skipped",
                c.v1_name()
            ))
        };
        if let Some(limit) = limits.memory {
            match self.dir(Controller::Memory) {
                Some(dir) => memory::apply_v1(dir, limit, &mut notes)?,
                None => missing(Controller::Memory, &mut notes),
            }
        }
        if let (Some(dir), true) = (
            self.dir(Controller::Memory),
            limits.memory_swap.is_some() || limits.memory_reservation.is_some(),
        ) {
            let (swap, reservation) = (limits.memory_swap, limits.memory_reservation);
            memory::apply_extras_v1(dir, swap, reservation, &mut notes)?;
        }
        if limits.cpus.is_some() || limits.v1_shares().is_some() {
            match self.dir(Controller::Cpu) {
                Some(dir) => cpu::apply_v1(dir, limits.cpus, limits.v1_shares())?,
                None => missing(Controller::Cpu, &mut notes),
            }
        }
        if let Some(limit) = limits.pids {
            match self.dir(Controller::Pids) {
                Some(dir) => pids::apply(dir, limit)?,
                None => missing(Controller::Pids, &mut notes),
            }
        }
        if let Some(cpus) = &limits.cpuset {
            match self.dir(Controller::Cpuset) {
                Some(dir) => cpuset::apply(dir, cpus)?,
                None => missing(Controller::Cpuset, &mut notes),
            }
        }
        if limits.read_bps.is_some() || limits.write_bps.is_some() {
            match self.dir(Controller::Io) {
                Some(dir) if dir.join("blkio.throttle.read_bps_device").exists() => {
                    io::apply_v1(dir, limits.read_bps.as_ref(), limits.write_bps.as_ref())?
                }
                Some(_) => notes.push(
                    "this kernel's blkio has no throttle files (CONFIG_BLK_DEV_THROTTLING): \
                     I/O is not limited"
                        .into(),
                ),
                None => missing(Controller::Io, &mut notes),
            }
        }
        Ok(notes)
    }

    // ANCHOR: add_v1
    fn add(&self, pid: Pid) -> Result<()> {
        // ANCHOR: lab-03-cgroup-place-v1
        // One write per hierarchy: the process joins each controller's group.
        for dir in self.unique_dirs() {
            write(&dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
        // ANCHOR_END: lab-03-cgroup-place-v1
    }
    // ANCHOR_END: add_v1

    fn procs(&self) -> Result<Vec<Pid>> {
        // Every hierarchy lists the same processes; pids has one for sure.
        match self
            .dir(Controller::Pids)
            .or_else(|| self.dir(Controller::Memory))
        {
            Some(dir) => read_procs(dir),
            None => Ok(Vec::new()),
        }
    }

    fn stats(&self) -> Result<Stats> {
        let mut stats = Stats::default();
        if let Some(dir) = self.dir(Controller::Memory) {
            memory::stats_v1(dir, &mut stats)?;
        }
        cpu::stats_v1(
            self.dir(Controller::Cpu),
            self.dir(Controller::Cpuacct),
            &mut stats,
        )?;
        if let Some(dir) = self.dir(Controller::Pids) {
            pids::stats(dir, &mut stats)?;
        }
        if let Some(dir) = self.dir(Controller::Io) {
            io::stats_v1(dir, &mut stats)?;
        }
        Ok(stats)
    }

    fn dir_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    fn kill_all(&self) -> Result<()> {
        // v1 has no "kill the group" file: signal each listed process.
        remove::kill_all_in(&self.unique_dirs())
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        // Only the freezer hierarchy's directory can freeze on v1.
        let Some(dir) = self.dir(Controller::Freezer) else {
            bail!("the v1 freezer controller is not mounted: this cgroup cannot be frozen");
        };
        freezer::set_frozen(dir, frozen)?;
        Ok(())
    }

    fn remove(&mut self) -> Result<()> {
        if self.removed {
            return Ok(());
        }
        // Thaw, kill, rmdir every hierarchy's directory, remove an empty
        // `tincan` parent: the same code as for a recorded directory.
        remove::destroy_unchecked(&self.unique_dirs())?;
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
