//! cgroup v2: one unified hierarchy (cgroups(7), "Cgroups version 2";
//! the kernel's Documentation/admin-guide/cgroup-v2.rst).
//!
//! On v2 a cgroup is one directory, `<mount>/tincan/<name>`, and a process
//! is in exactly one cgroup. Controllers are switched on per subtree: a
//! parent lists in `cgroup.subtree_control` which controllers its children
//! get, so we enable them in the root (if not already) and in `tincan`.
//! Processes live only in leaves ("no internal processes" rule), which is
//! why `tincan` itself never holds one.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::unistd::Pid;

use crate::cgroup::{
    Cgroup, Controller, PARENT, Stats, levels_below, make_dir_in_parent, read, read_procs,
    remove_dir, remove_parent_if_empty, write,
};
use crate::limits::Limits;
use crate::version::{CONTROLLERS, Version};
use crate::{cpu, cpuset, freezer, io, memory, pids, remove};

/// A cgroup on v2: `<mount>/tincan/<name>`, kept open for `CLONE_INTO_CGROUP`.
#[derive(Debug)]
pub struct V2Cgroup {
    dir: PathBuf,
    /// `dir` below the mount.
    relative: PathBuf,
    /// The directory opened `O_PATH`-like (read-only), for clone3.
    fd: File,
    /// Controllers available in our cgroup.
    controllers: Vec<String>,
    removed: bool,
}

// ANCHOR: enable_v2
/// Enable every controller we use in `dir`'s `cgroup.subtree_control`, so
/// that `dir`'s children get them. Returns those that are enabled.
fn enable_controllers(dir: &Path) -> Result<Vec<String>> {
    let available = read(dir, "cgroup.controllers")?;
    let enabled = read(dir, "cgroup.subtree_control")?;
    let mut on = Vec::new();
    for c in CONTROLLERS {
        if !available.split(' ').any(|a| a == c) {
            continue;
        }
        if !enabled.split(' ').any(|e| e == c) {
            write(dir, "cgroup.subtree_control", &format!("+{c}"))?;
        }
        on.push(c.to_string());
    }
    Ok(on)
}
// ANCHOR_END: enable_v2

/// Enable our controllers in every level from the mount's first child down
/// to `parent`, top down, and return those `parent` passes on. A level
/// offers its children only what its own parent enabled for it (its
/// `cgroup.controllers`), so for a new nested path (`tincan/a/b`) the
/// enabling in `a` alone finds nothing to enable: `tincan` must pass them
/// on first. Levels that already pass them on are left as they are.
fn enable_down_to(mount: &Path, parent: &Path) -> Result<Vec<String>> {
    let levels = levels_below(mount, parent);
    // A cgroup right below the mount: only the root itself passes them on.
    if levels.is_empty() {
        return enable_controllers(mount);
    }
    let mut on = Vec::new();
    for level in levels {
        on = enable_controllers(level)?;
    }
    Ok(on)
}

impl V2Cgroup {
    /// Create `<mount>/tincan/<name>` with our controllers enabled.
    pub fn create(mount: &Path, name: &str) -> Result<V2Cgroup> {
        V2Cgroup::create_at(mount, &Path::new(PARENT).join(name))
    }

    /// Create the cgroup at `path` (relative to the mount), creating missing
    /// parents, with our controllers enabled in its parent.
    pub fn create_at(mount: &Path, path: &Path) -> Result<V2Cgroup> {
        let dir = mount.join(path);
        let parent = dir.parent().unwrap_or(mount).to_path_buf();
        make_dir_in_parent(&parent, &dir)?;
        // Children get only what their parent enables; a new `tincan`
        // (and any new level below it) has nothing enabled yet.
        let controllers = match enable_down_to(mount, &parent) {
            Ok(c) => c,
            Err(e) => {
                let _ = remove_dir(&dir);
                if parent.ends_with(PARENT) {
                    remove_parent_if_empty(&parent);
                }
                return Err(e);
            }
        };
        let fd = match File::open(&dir) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = remove_dir(&dir);
                return Err(e).with_context(|| format!("open {}", dir.display()));
            }
        };
        Ok(V2Cgroup {
            dir,
            relative: path.to_path_buf(),
            fd,
            controllers,
            removed: false,
        })
    }

    fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

impl Cgroup for V2Cgroup {
    fn version(&self) -> Version {
        Version::V2
    }

    fn relative(&self) -> &Path {
        &self.relative
    }

    fn dirs(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }

    fn controller_dir(&self, controller: Controller) -> Option<PathBuf> {
        // One directory for all; a named controller only if it is enabled.
        match controller.v2_name() {
            Some(name) if !self.has(name) => None,
            _ => Some(self.dir.clone()),
        }
    }

    fn apply(&self, limits: &Limits) -> Result<Vec<String>> {
        let mut notes = Vec::new();
        let dir = &self.dir;
        let mut missing = |c: &str| {
            notes.push(format!(
                "the v2 {c} controller is not available: its limit is skipped"
            ))
        };
        if limits.memory.is_some() && !self.has("memory") {
            missing("memory");
        }
        if (limits.cpus.is_some() || limits.v2_weight().is_some()) && !self.has("cpu") {
            missing("cpu");
        }
        if limits.pids.is_some() && !self.has("pids") {
            missing("pids");
        }
        if limits.cpuset.is_some() && !self.has("cpuset") {
            missing("cpuset");
        }
        if (limits.read_bps.is_some() || limits.write_bps.is_some()) && !self.has("io") {
            missing("io");
        }
        if let (Some(limit), true) = (limits.memory, self.has("memory")) {
            memory::apply_v2(dir, limit, &mut notes)?;
        }
        if self.has("memory") {
            let (swap, reservation) = (limits.memory_swap, limits.memory_reservation);
            memory::apply_extras_v2(dir, limits.memory, swap, reservation, &mut notes)?;
        }
        if self.has("cpu") {
            cpu::apply_v2(dir, limits.cpus, limits.v2_weight())?;
        }
        if let (Some(limit), true) = (limits.pids, self.has("pids")) {
            pids::apply(dir, limit)?;
        }
        if let (Some(cpus), true) = (&limits.cpuset, self.has("cpuset")) {
            cpuset::apply(dir, cpus)?;
        }
        if self.has("io") {
            io::apply_v2(dir, limits.read_bps.as_ref(), limits.write_bps.as_ref())?;
        }
        Ok(notes)
    }

    // ANCHOR: add_v2
    fn add(&self, pid: Pid) -> Result<()> {
        // ANCHOR: lab-03-cgroup-place-v2
        // One write moves the process for every controller at once.
        write(&self.dir, "cgroup.procs", &pid.to_string())
        // ANCHOR_END: lab-03-cgroup-place-v2
    }
    // ANCHOR_END: add_v2

    fn procs(&self) -> Result<Vec<Pid>> {
        read_procs(&self.dir)
    }

    fn stats(&self) -> Result<Stats> {
        let mut stats = Stats::default();
        memory::stats_v2(&self.dir, &mut stats)?;
        cpu::stats_v2(&self.dir, &mut stats)?;
        pids::stats(&self.dir, &mut stats)?;
        io::stats_v2(&self.dir, &mut stats)?;
        Ok(stats)
    }

    fn dir_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.fd.as_fd())
    }

    fn kill_all(&self) -> Result<()> {
        // cgroup.kill where the kernel has it (5.14+), else one by one.
        remove::kill_all_in(std::slice::from_ref(&self.dir))
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        if !freezer::set_frozen(&self.dir, frozen)? {
            bail!(
                "{} has no cgroup.freeze (Linux 5.2+): this cgroup cannot be frozen",
                self.dir.display()
            );
        }
        Ok(())
    }

    fn remove(&mut self) -> Result<()> {
        if self.removed {
            return Ok(());
        }
        // Thaw, kill, rmdir, remove an empty `tincan` parent: the same code
        // as for a recorded directory.
        remove::destroy_unchecked(std::slice::from_ref(&self.dir))?;
        self.removed = true;
        Ok(())
    }
}

impl Drop for V2Cgroup {
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

    /// The file-level mapping, against a plain directory standing in for
    /// the cgroup2 mount (the VM test checks the real thing).
    #[test]
    fn limits_land_in_the_v2_files() {
        let mount = std::env::temp_dir().join(format!("tincan-unit-v2-{}", std::process::id()));
        let parent = mount.join(PARENT);
        std::fs::create_dir_all(&parent).expect("mkdir");
        // What the root hands down to tincan/ (no io here).
        std::fs::write(
            parent.join("cgroup.controllers"),
            "cpuset cpu memory pids\n",
        )
        .expect("w");
        std::fs::write(parent.join("cgroup.subtree_control"), "").expect("w");
        let cg = V2Cgroup::create(&mount, "unit").expect("create");
        assert_eq!(cg.controllers, ["memory", "cpu", "pids", "cpuset"]);
        let limits = Limits {
            memory: Some(Limit::Value(64 << 20)),
            cpus: Some(Cpus::Fraction(0.5)),
            pids: Some(Limit::Max),
            cpuset: Some("0".into()),
            read_bps: Some(("254:0".into(), 1 << 20)),
            ..Limits::default()
        };
        let notes = cg.apply(&limits).expect("apply");
        let read = |f: &str| std::fs::read_to_string(parent.join("unit").join(f)).expect(f);
        assert_eq!(read("memory.max"), "67108864");
        assert_eq!(read("cpu.max"), "50000 100000");
        assert_eq!(read("pids.max"), "max");
        assert_eq!(read("cpuset.cpus"), "0");
        assert!(!parent.join("unit/io.max").exists());
        assert!(
            notes.iter().any(|n| n.contains("io controller")),
            "{notes:?}"
        );
        assert!(notes.iter().any(|n| n.contains("swap")), "{notes:?}");
        std::mem::forget(cg);
        std::fs::remove_dir_all(&mount).expect("clean up");
    }
}
