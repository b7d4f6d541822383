//! The pids controller: a maximum number of processes (and threads).
//!
//! Once a group holds `pids.max` tasks, `fork(2)` and `clone(2)` in it fail
//! with EAGAIN, and the kernel counts the refusal in `pids.events`. That is
//! what stops a fork bomb from taking the whole machine's pid space. The
//! files are the same on v1 and v2 (kernel docs: cgroup-v1/pids.rst).

use std::path::Path;

use anyhow::Result;

use crate::cgroup::{Stats, keyed, read, read_u64, write};
use crate::limits::Limit;

// ANCHOR: pids
/// Set the process limit (same file on both versions).
pub fn apply(dir: &Path, limit: Limit) -> Result<()> {
    // ANCHOR: lab-03-pids-limit
    write(dir, "pids.max", &limit.to_v2())
    // ANCHOR_END: lab-03-pids-limit
}
// ANCHOR_END: pids

/// Read the process counters (same files on both versions).
pub fn stats(dir: &Path, stats: &mut Stats) -> Result<()> {
    stats.pids_current = read_u64(dir, "pids.current")?;
    stats.pids_limit = match read(dir, "pids.max") {
        Ok(t) if t == "max" => Some(Limit::Max),
        Ok(t) => t.parse().ok().map(Limit::Value),
        Err(_) => None,
    };
    stats.pids_refused = keyed(dir, "pids.events", "max")?;
    Ok(())
}
