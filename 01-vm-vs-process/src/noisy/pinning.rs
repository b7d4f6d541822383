//! Pinning: `sched_setaffinity(2)` puts the victim and the CPU hog on one
//! CPU, so that they really compete on a machine with any number of cores.

use anyhow::{Context, Result};
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;

// ANCHOR: pinning
/// Pin the calling thread to one CPU with `sched_setaffinity(2)`.
///
/// Why pin at all: on a machine with two or more idle cores the scheduler
/// would simply run the hog on another core, and the victim would barely
/// notice. A noisy neighbour hurts when there are more runnable tasks than
/// CPUs, as on a fully booked server. Pinning both to one CPU builds that
/// situation on any machine, with one hog instead of one hog per core.
pub fn pin_to(cpu: usize) -> Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu)
        .with_context(|| format!("CPU {cpu} does not fit in a CpuSet"))?;
    // Pid 0 means "the calling thread": affinity is per thread in Linux.
    sched_setaffinity(Pid::from_raw(0), &set)
        .with_context(|| format!("sched_setaffinity(0, {{{cpu}}})"))?;
    Ok(())
}
// ANCHOR_END: pinning

/// The CPUs this thread may run on (`sched_getaffinity(2)`).
pub fn allowed_cpus() -> Result<Vec<usize>> {
    let set = sched_getaffinity(Pid::from_raw(0)).context("sched_getaffinity(0)")?;
    Ok((0..CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .collect())
}

/// Puts the calling thread's CPU affinity back when dropped, so that a
/// library caller (a test thread, say) is not left pinned.
pub struct AffinityGuard(CpuSet);

impl AffinityGuard {
    /// Pin the calling thread to `cpu` until the guard is dropped.
    pub fn pin(cpu: usize) -> Result<AffinityGuard> {
        let before = sched_getaffinity(Pid::from_raw(0)).context("sched_getaffinity(0)")?;
        pin_to(cpu)?;
        Ok(AffinityGuard(before))
    }
}

impl Drop for AffinityGuard {
    fn drop(&mut self) {
        // Best effort: there is nothing useful to do if this fails.
        let _ = sched_setaffinity(Pid::from_raw(0), &self.0);
    }
}
