//! The memory controller: a hard limit on RAM, with the OOM killer behind it.
//!
//! When a group's charged memory reaches its limit, the kernel first reclaims
//! (drops page cache, swaps); if that fails, the OOM killer kills a process
//! *of that group*, and the rest of the machine never notices. Swap is turned
//! off for the group, or a "64 MiB" container could quietly use gigabytes of
//! swap. v1 files: `memory.limit_in_bytes`, `memory.memsw.limit_in_bytes`,
//! `memory.oom_control`; v2: `memory.max`, `memory.swap.max`,
//! `memory.events` (see cgroups(7) and the kernel's cgroup-v2.rst).

use std::path::Path;

use anyhow::Result;

use crate::cgroup::{Stats, keyed, read_u64, write};
use crate::limits::Limit;

/// v1 writes "no limit" as -1 and reads it back as a huge number (the
/// largest page-aligned i64); anything this large means "no limit".
const V1_UNLIMITED: u64 = 1 << 62;

// ANCHOR: memory_v1
/// Set the memory limit on v1, and make memory+swap the same (no swap).
pub fn apply_v1(dir: &Path, limit: Limit, notes: &mut Vec<String>) -> Result<()> {
    // ANCHOR: lab-03-memory-limit-v1
    let value = match limit {
        Limit::Max => "-1".to_string(),
        Limit::Value(n) => n.to_string(),
    };
    // memsw (memory + swap) must never be below the memory limit, so on a
    // fresh group (both unlimited) set memory first, then memsw.
    write(dir, "memory.limit_in_bytes", &value)?;
    if dir.join("memory.memsw.limit_in_bytes").exists() {
        write(dir, "memory.memsw.limit_in_bytes", &value)?;
    } else {
        notes
            .push("swap is not limited: this kernel has no swap accounting (swapaccount=1)".into());
    }
    Ok(())
    // ANCHOR_END: lab-03-memory-limit-v1
}
// ANCHOR_END: memory_v1

// ANCHOR: memory_v2
/// Set the memory limit on v2, and forbid swap.
pub fn apply_v2(dir: &Path, limit: Limit, notes: &mut Vec<String>) -> Result<()> {
    // ANCHOR: lab-03-memory-limit-v2
    write(dir, "memory.max", &limit.to_v2())?;
    if dir.join("memory.swap.max").exists() {
        write(
            dir,
            "memory.swap.max",
            if limit == Limit::Max { "max" } else { "0" },
        )?;
    } else {
        notes.push("swap is not limited: this kernel has no memory.swap.max".into());
    }
    Ok(())
    // ANCHOR_END: lab-03-memory-limit-v2
}
// ANCHOR_END: memory_v2

// ANCHOR: memory_extras
/// v1: the soft limit, and memory+swap where it was asked for; after
/// [`apply_v1`], which sets memsw equal to the limit (no swap).
pub fn apply_extras_v1(
    dir: &Path,
    swap: Option<Limit>,
    reservation: Option<Limit>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let v1 = |limit: Limit| match limit {
        Limit::Max => "-1".to_string(),
        Limit::Value(n) => n.to_string(),
    };
    if let Some(reservation) = reservation {
        write(dir, "memory.soft_limit_in_bytes", &v1(reservation))?;
    }
    if let Some(swap) = swap {
        if dir.join("memory.memsw.limit_in_bytes").exists() {
            write(dir, "memory.memsw.limit_in_bytes", &v1(swap))?;
        } else {
            notes.push("memory+swap is not limited: this kernel has no swap accounting".into());
        }
    }
    Ok(())
}

/// v2: `memory.low` for the reservation; `memory.swap.max` counts swap
/// alone, so memory+swap becomes the difference from the memory limit.
pub fn apply_extras_v2(
    dir: &Path,
    memory: Option<Limit>,
    swap: Option<Limit>,
    reservation: Option<Limit>,
    notes: &mut Vec<String>,
) -> Result<()> {
    if let Some(reservation) = reservation {
        write(dir, "memory.low", &reservation.to_v2())?;
    }
    let Some(swap) = swap else {
        return Ok(());
    };
    let swap_only = match (swap, memory) {
        (Limit::Max, _) | (_, None | Some(Limit::Max)) => "max".to_string(),
        (Limit::Value(total), Some(Limit::Value(ram))) => total.saturating_sub(ram).to_string(),
    };
    if dir.join("memory.swap.max").exists() {
        write(dir, "memory.swap.max", &swap_only)?;
    } else {
        notes.push("memory+swap is not limited: this kernel has no memory.swap.max".into());
    }
    Ok(())
}
// ANCHOR_END: memory_extras

/// Read v1 memory statistics.
pub fn stats_v1(dir: &Path, stats: &mut Stats) -> Result<()> {
    stats.memory_current = read_u64(dir, "memory.usage_in_bytes")?;
    stats.memory_peak = read_u64(dir, "memory.max_usage_in_bytes")?;
    stats.memory_limit = read_u64(dir, "memory.limit_in_bytes")?.map(|n| {
        if n >= V1_UNLIMITED {
            Limit::Max
        } else {
            Limit::Value(n)
        }
    });
    // v1 counts kills in memory.oom_control; it has no counter of OOM events.
    stats.oom_kills = keyed(dir, "memory.oom_control", "oom_kill")?;
    Ok(())
}

/// Read v2 memory statistics.
pub fn stats_v2(dir: &Path, stats: &mut Stats) -> Result<()> {
    stats.memory_current = read_u64(dir, "memory.current")?;
    // memory.peak arrived in Linux 5.19.
    stats.memory_peak = read_u64(dir, "memory.peak")?;
    stats.memory_limit = match crate::cgroup::read(dir, "memory.max") {
        Ok(t) if t == "max" => Some(Limit::Max),
        Ok(t) => t.parse().ok().map(Limit::Value),
        Err(_) => None,
    };
    stats.oom_events = keyed(dir, "memory.events", "oom")?;
    stats.oom_kills = keyed(dir, "memory.events", "oom_kill")?;
    Ok(())
}
