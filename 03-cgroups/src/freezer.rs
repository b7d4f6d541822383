//! The freezer: stop every process of a cgroup at once, and let them go
//! again (cgroups(7); the kernel's Documentation/admin-guide/cgroup-v1/
//! freezer-subsystem.rst and cgroup-v2.rst, "cgroup.freeze").
//!
//! `docker pause` and the OCI runtime verbs `pause` / `resume` use it.
//! Frozen processes keep their memory and open files but get no CPU time;
//! unlike with SIGSTOP, they cannot notice, catch or refuse it, and a
//! process that forks while being frozen cannot leave a child running.
//! v1 has a `freezer` controller with its own hierarchy (`freezer.state`);
//! v2 builds it into every cgroup but the root (`cgroup.freeze`, and
//! `cgroup.events` reports when freezing is complete).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Where cgroup v1 usually mounts its freezer controller.
pub const FREEZER_V1: &str = "/sys/fs/cgroup/freezer";

// ANCHOR: set_frozen
/// Freeze (`true`) or thaw a cgroup directory, if it can be frozen: v1's
/// `freezer.state` (`FROZEN` / `THAWED`) or v2's `cgroup.freeze` (`1` / `0`).
/// Freezing takes a moment (each task must stop in the kernel), so we wait
/// until the cgroup reports it. Returns false for a directory that has no
/// freezer (another v1 controller's).
pub fn set_frozen(dir: &Path, frozen: bool) -> Result<bool> {
    let v1 = dir.join("freezer.state");
    let v2 = dir.join("cgroup.freeze");
    let (path, value) = match (v1.exists(), v2.exists()) {
        (true, _) => (v1, if frozen { "FROZEN" } else { "THAWED" }),
        (false, true) => (v2, if frozen { "1" } else { "0" }),
        (false, false) => return Ok(false),
    };
    std::fs::write(&path, value).with_context(|| format!("write {value} to {}", path.display()))?;
    // v1 passes through FREEZING; v2 reports "frozen 1" in cgroup.events.
    let done = || {
        if path.ends_with("freezer.state") {
            std::fs::read_to_string(&path).is_ok_and(|t| t.trim() == value)
        } else {
            std::fs::read_to_string(dir.join("cgroup.events"))
                .is_ok_and(|t| t.lines().any(|l| l == format!("frozen {value}")))
        }
    };
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if done() {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    bail!("{} did not become {value} within a second", path.display())
}
// ANCHOR_END: set_frozen

/// Whether a cgroup directory is frozen now (`None`: it has no freezer).
pub fn is_frozen(dir: &Path) -> Option<bool> {
    let v1 = std::fs::read_to_string(dir.join("freezer.state"));
    if let Ok(state) = v1 {
        return Some(state.trim() != "THAWED");
    }
    let events = std::fs::read_to_string(dir.join("cgroup.events")).ok()?;
    dir.join("cgroup.freeze")
        .exists()
        .then(|| events.lines().any(|l| l == "frozen 1"))
}
