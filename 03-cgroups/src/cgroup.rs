//! "A cgroup for this container": one interface, two implementations.
//!
//! A control group (cgroups(7)) is a directory in a special filesystem.
//! Creating the directory creates the group; writing a pid into its
//! `cgroup.procs` moves that process (and its future children) into it;
//! writing numbers into its control files sets limits; reading its statistics
//! files tells what the group used. `rmdir` removes it, which the kernel
//! allows only once no process is left inside. Both versions follow that
//! recipe; they differ in where the files are and what they are called, so
//! [`Cgroup`] is the recipe and [`crate::v1`] / [`crate::v2`] are the two
//! spellings.
//!
//! Every cgroup this project makes lives under one parent named `tincan`, so
//! a person can see them all (`ls /sys/fs/cgroup/*/tincan`) and nothing else
//! is ever touched.

use std::fs;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::unistd::Pid;

use crate::limits::{Limit, Limits};
pub use crate::remove::{destroy_dirs, kill_until_empty, remove_dir, remove_parent_if_empty};
use crate::version::{Hierarchy, Version};

/// The parent of every cgroup this project creates.
pub const PARENT: &str = "tincan";

/// What a cgroup used, read back from the kernel. `None` means this kernel
/// (or cgroup version) does not report that number.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Memory charged to the group now (bytes).
    pub memory_current: Option<u64>,
    /// The most memory the group ever had charged (bytes).
    pub memory_peak: Option<u64>,
    /// The memory limit in force.
    pub memory_limit: Option<Limit>,
    /// Times the group hit its memory limit and the OOM killer was invoked.
    pub oom_events: Option<u64>,
    /// Processes the OOM killer killed in the group.
    pub oom_kills: Option<u64>,
    /// CPU time used by all processes of the group.
    pub cpu_usage: Option<Duration>,
    /// CFS bandwidth periods that have elapsed while the group was runnable.
    pub cpu_periods: Option<u64>,
    /// Periods in which the group used up its quota and was throttled.
    pub cpu_throttled_periods: Option<u64>,
    /// Total time the group spent throttled.
    pub cpu_throttled: Option<Duration>,
    /// Processes (and threads) in the group now.
    pub pids_current: Option<u64>,
    /// The process limit in force.
    pub pids_limit: Option<Limit>,
    /// Times a fork or clone failed because of the process limit.
    pub pids_refused: Option<u64>,
    /// Bytes read from block devices.
    pub io_read_bytes: Option<u64>,
    /// Bytes written to block devices.
    pub io_write_bytes: Option<u64>,
}

/// The controllers this project uses. On v1 each has a hierarchy of its
/// own (or shares one: `cpu,cpuacct`); on v2 they are all in one directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Controller {
    /// Memory limit and accounting.
    Memory,
    /// CPU bandwidth and weight.
    Cpu,
    /// CPU usage accounting (v1; v2's `cpu.stat` always has it).
    Cpuacct,
    /// Process count limit.
    Pids,
    /// Block I/O bandwidth (`blkio` on v1, `io` on v2).
    Io,
    /// Which CPUs the group may run on.
    Cpuset,
    /// Which device nodes the group may open (v1; an eBPF program on v2).
    Devices,
    /// Freezing the whole group (v1; built into every cgroup on v2).
    Freezer,
}

impl Controller {
    /// The name of the controller's v1 hierarchy in `/proc/self/mountinfo`.
    pub fn v1_name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Pids => "pids",
            Controller::Io => "blkio",
            Controller::Cpuset => "cpuset",
            Controller::Devices => "devices",
            Controller::Freezer => "freezer",
        }
    }

    /// The name in v2's `cgroup.controllers`; `None` for what v2 builds into
    /// every cgroup (CPU accounting, the freezer) or does with eBPF (devices).
    pub fn v2_name(self) -> Option<&'static str> {
        match self {
            Controller::Memory => Some("memory"),
            Controller::Cpu => Some("cpu"),
            Controller::Pids => Some("pids"),
            Controller::Io => Some("io"),
            Controller::Cpuset => Some("cpuset"),
            Controller::Cpuacct | Controller::Devices | Controller::Freezer => None,
        }
    }
}

// ANCHOR: trait
/// A cgroup for one container, whichever cgroup version the host runs.
pub trait Cgroup: Send {
    /// Which cgroup version it lives on.
    fn version(&self) -> Version;
    /// Where it sits below each hierarchy's root (`tincan/web`): the same
    /// path in every v1 hierarchy, and in v2's one tree.
    fn relative(&self) -> &Path;
    /// The directories this cgroup consists of (one per hierarchy on v1).
    fn dirs(&self) -> Vec<PathBuf>;
    /// The directory that holds `controller`'s files for this cgroup: its
    /// own hierarchy's on v1, the one directory on v2. `None` when this host
    /// has no such controller (not mounted, not enabled).
    fn controller_dir(&self, controller: Controller) -> Option<PathBuf>;
    /// Write the limits into the control files. Returns notes about limits
    /// this kernel cannot enforce (they are skipped, not silently dropped).
    fn apply(&self, limits: &Limits) -> Result<Vec<String>>;
    /// Move a process into the cgroup (write its pid to `cgroup.procs`).
    fn add(&self, pid: Pid) -> Result<()>;
    /// The processes inside.
    fn procs(&self) -> Result<Vec<Pid>>;
    /// Read the statistics files.
    fn stats(&self) -> Result<Stats>;
    /// v2 only: the open cgroup directory, for `clone3(CLONE_INTO_CGROUP)`.
    fn dir_fd(&self) -> Option<BorrowedFd<'_>>;
    /// Kill every process inside and wait until the group is empty.
    fn kill_all(&self) -> Result<()>;
    /// Freeze (`true`) or thaw every process inside, and wait until the
    /// kernel reports it done ([`crate::freezer`]).
    fn freeze(&self, frozen: bool) -> Result<()>;
    /// Kill what is inside, remove the directories, and remove the `tincan`
    /// parent when it is empty. Safe to call twice; `Drop` calls it too.
    fn remove(&mut self) -> Result<()>;
}
// ANCHOR_END: trait

/// Create the cgroup `tincan/<name>` on whichever version this host runs,
/// and apply `limits`. On any error, whatever was created is removed again.
pub fn create(name: &str, limits: &Limits) -> Result<(Box<dyn Cgroup>, Vec<String>)> {
    create_in(Hierarchy::detect()?, name, limits)
}

/// [`create`] on a given hierarchy (tests and benches use it to drive the v2
/// code on a hybrid host's controller-less cgroup2 mount).
pub fn create_in(
    hierarchy: Hierarchy,
    name: &str,
    limits: &Limits,
) -> Result<(Box<dyn Cgroup>, Vec<String>)> {
    check_name(name)?;
    let cgroup: Box<dyn Cgroup> = match hierarchy {
        Hierarchy::V1 { mounts } => Box::new(crate::v1::V1Cgroup::create(&mounts, name)?),
        Hierarchy::V2 { mount } => Box::new(crate::v2::V2Cgroup::create(&mount, name)?),
    };
    // If apply fails, `cgroup` is dropped here, and Drop removes it.
    let notes = cgroup.apply(limits)?;
    Ok((cgroup, notes))
}

/// Create the cgroup at `path`, relative to the root of each hierarchy
/// (an OCI bundle's `linux.cgroupsPath`, e.g. `/libpod_parent/libpod-<id>`:
/// the engine chooses where its containers live), and apply `limits`.
/// Missing parents are created; only the cgroup itself is removed again.
pub fn create_at(path: &Path, limits: &Limits) -> Result<(Box<dyn Cgroup>, Vec<String>)> {
    let relative = path.strip_prefix("/").unwrap_or(path);
    let ok = relative.components().count() > 0
        && relative.components().all(|c| match c {
            // Names up to 255 bytes (NAME_MAX): podman's are `libpod-` + 64 hex digits.
            std::path::Component::Normal(part) => {
                let part = part.to_string_lossy();
                part.len() <= 255
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            }
            _ => false,
        });
    if !ok {
        bail!(
            "cgroup path {} must be /-separated names of letters, digits, '-' or '_' (no '..')",
            path.display()
        );
    }
    let cgroup: Box<dyn Cgroup> = match Hierarchy::detect()? {
        Hierarchy::V1 { mounts } => Box::new(crate::v1::V1Cgroup::create_at(&mounts, relative)?),
        Hierarchy::V2 { mount } => Box::new(crate::v2::V2Cgroup::create_at(&mount, relative)?),
    };
    let notes = cgroup.apply(limits)?;
    Ok((cgroup, notes))
}

/// Every directory [`create_at`] may make for the cgroup at `relative`:
/// below each hierarchy mounted in /sys/fs/cgroup (v1), or below the
/// unified root (v2). A runtime records these *before* it creates them, so
/// that a kill -9 between the mkdir and its next save leaks nothing; the
/// clean-up tolerates those that never existed.
pub fn planned_dirs(relative: &Path) -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let mut dirs: Vec<PathBuf> = fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path().join(relative))
        .collect();
    dirs.push(base.join(relative));
    dirs.sort();
    dirs
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        bail!("cgroup name {name:?} must be 1-64 letters, digits, '-' or '_'");
    }
    Ok(())
}

// ---- Ctrl-C ---------------------------------------------------------------

/// Fail with "interrupted" once Ctrl-C (SIGINT) or SIGTERM was caught, so
/// that the demos' wait loops return an error and the cgroup guards' `Drop`
/// cleans up, instead of the process dying with cgroups and processes left
/// behind. The binaries catch the signals with
/// [`step01::signals::catch_restarting`]: a system call in progress (a pipe
/// read, a waitpid) resumes instead of failing with EINTR, and the loops
/// notice the signal soon after.
pub fn check_interrupted() -> Result<()> {
    if step01::signals::interrupted() {
        bail!("interrupted (Ctrl-C): cleaning up the cgroups and their processes");
    }
    Ok(())
}

// ---- files ----------------------------------------------------------------

/// Write `value` to `dir/file`, with an error that names both.
pub fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    fs::write(&path, value).with_context(|| format!("write {value:?} to {}", path.display()))
}

/// Read `dir/file`, trimmed.
pub fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    let text = fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    Ok(text.trim().to_string())
}

/// Read a number from `dir/file`; `None` if the file does not exist.
pub fn read_u64(dir: &Path, file: &str) -> Result<Option<u64>> {
    if !dir.join(file).exists() {
        return Ok(None);
    }
    let text = read(dir, file)?;
    let n = text
        .parse()
        .with_context(|| format!("{} holds {text:?}, not a number", dir.join(file).display()))?;
    Ok(Some(n))
}

/// The value of `key` in a flat-keyed file (`key value` per line), such as
/// `memory.events` or `cpu.stat`; `None` if the file or key is missing.
pub fn keyed(dir: &Path, file: &str, key: &str) -> Result<Option<u64>> {
    if !dir.join(file).exists() {
        return Ok(None);
    }
    Ok(parse_keyed(&read(dir, file)?, key))
}

/// [`keyed`] on text.
pub fn parse_keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        if k == key {
            v.trim().parse().ok()
        } else {
            None
        }
    })
}

/// Read the pids in a `cgroup.procs` file.
pub fn read_procs(dir: &Path) -> Result<Vec<Pid>> {
    let text = read(dir, "cgroup.procs")?;
    Ok(text
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .map(Pid::from_raw)
        .collect())
}

/// Make `dir` (its parent must exist). A leftover from an earlier run that
/// was killed before it could clean up is removed first if it is empty; one
/// that still has processes is reported, not touched.
pub fn make_dir(dir: &Path) -> Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let procs = read_procs(dir).unwrap_or_default();
            if let Some(pid) = procs.first() {
                bail!(
                    "cgroup {} already exists and pid {pid} runs in it: is another run still \
                     going? Stop it, or pick another name",
                    dir.display()
                );
            }
            remove_dir(dir)?;
            fs::create_dir(dir).with_context(|| format!("mkdir {}", dir.display()))
        }
        Err(e) => Err(e).with_context(|| format!("mkdir {}", dir.display())),
    }
}

/// The directories from `mount`'s first child down to `dir`, top down
/// (`tincan`, `tincan/a`, `tincan/a/b`): the levels a nested cgroup path
/// may have created, which v1's cpusets and v2's controllers must fill in
/// that order. Empty when `dir` is the mount itself.
pub(crate) fn levels_below<'a>(mount: &Path, dir: &'a Path) -> Vec<&'a Path> {
    let mut levels: Vec<&Path> = dir
        .ancestors()
        .take_while(|a| *a != mount && a.starts_with(mount))
        .collect();
    levels.reverse();
    levels
}

/// Make `parent/<name>` = `dir`, creating the `tincan` parent when needed.
/// Another run may remove an empty parent between our two `mkdir`s (its
/// cleanup does that), so a vanished parent is created again.
pub fn make_dir_in_parent(parent: &Path, dir: &Path) -> Result<()> {
    for _ in 0..10 {
        match fs::create_dir_all(parent) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("mkdir {}", parent.display())),
        }
        match make_dir(dir) {
            Err(e)
                if e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) =>
            {
                continue;
            }
            other => return other,
        }
    }
    bail!(
        "{} keeps disappearing while we create {}",
        parent.display(),
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_below_go_from_the_mount_down() {
        let mount = Path::new("/sys/fs/cgroup/cpuset");
        let dir = mount.join("tincan/a/b");
        let levels: Vec<PathBuf> = levels_below(mount, &dir)
            .into_iter()
            .map(Into::into)
            .collect();
        let expected = ["tincan", "tincan/a", "tincan/a/b"].map(|l| mount.join(l));
        assert_eq!(levels, expected);
        assert!(levels_below(mount, mount).is_empty());
        assert!(levels_below(mount, Path::new("/elsewhere/x")).is_empty());
    }

    #[test]
    fn keyed_files_are_read_by_key() {
        let text = "low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\n";
        assert_eq!(parse_keyed(text, "oom_kill"), Some(1));
        assert_eq!(parse_keyed(text, "oom"), Some(2));
        assert_eq!(parse_keyed(text, "nope"), None);
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("memory-demo").is_ok());
        for bad in ["", "../etc", "a/b", "x y"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
