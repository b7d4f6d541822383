//! The cpu controller: how much CPU time a group may use (bandwidth), and
//! its share when CPUs are contended (weight).
//!
//! CFS bandwidth control gives a group a *quota* of CPU time per *period*:
//! 20 ms per 100 ms is "0.2 CPUs". Once the group has used its quota, all its
//! threads are throttled (not scheduled) until the next period starts; the
//! kernel counts those periods in `cpu.stat`. v1 files: `cpu.cfs_quota_us`,
//! `cpu.cfs_period_us`, `cpu.shares`, and CPU usage in the separate
//! `cpuacct` hierarchy; v2: `cpu.max` ("quota period"), `cpu.weight`,
//! `cpu.stat` (kernel docs: scheduler/sched-bwc.rst, cgroup-v2.rst).

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::cgroup::{Stats, keyed, read_u64, write};
use crate::limits::Cpus;

// ANCHOR: cpu_v1
/// Set CPU bandwidth (and shares, [`crate::limits::Limits::v1_shares`]) on v1.
pub fn apply_v1(dir: &Path, cpus: Option<Cpus>, shares: Option<u64>) -> Result<()> {
    if let Some(cpus) = cpus {
        let (quota, period) = cpus.quota_period();
        write(dir, "cpu.cfs_period_us", &period.to_string())?;
        let quota = quota.map_or("-1".to_string(), |q| q.to_string());
        write(dir, "cpu.cfs_quota_us", &quota)?;
    }
    if let Some(shares) = shares {
        write(dir, "cpu.shares", &shares.to_string())?;
    }
    Ok(())
}
// ANCHOR_END: cpu_v1

// ANCHOR: cpu_v2
/// Set CPU bandwidth (and weight) on v2: `cpu.max` holds "quota period".
pub fn apply_v2(dir: &Path, cpus: Option<Cpus>, weight: Option<u64>) -> Result<()> {
    if let Some(cpus) = cpus {
        let (quota, period) = cpus.quota_period();
        let quota = quota.map_or("max".to_string(), |q| q.to_string());
        write(dir, "cpu.max", &format!("{quota} {period}"))?;
    }
    if let Some(weight) = weight {
        write(dir, "cpu.weight", &weight.to_string())?;
    }
    Ok(())
}
// ANCHOR_END: cpu_v2

/// Read v1 CPU statistics: throttling from `cpu`, usage from `cpuacct`.
pub fn stats_v1(cpu: Option<&Path>, cpuacct: Option<&Path>, stats: &mut Stats) -> Result<()> {
    // ANCHOR: lab-03-cpu-stat-v1
    if let Some(dir) = cpu {
        stats.cpu_periods = keyed(dir, "cpu.stat", "nr_periods")?;
        stats.cpu_throttled_periods = keyed(dir, "cpu.stat", "nr_throttled")?;
        stats.cpu_throttled = keyed(dir, "cpu.stat", "throttled_time")?.map(Duration::from_nanos);
    }
    if let Some(dir) = cpuacct {
        stats.cpu_usage = read_u64(dir, "cpuacct.usage")?.map(Duration::from_nanos);
    }
    Ok(())
    // ANCHOR_END: lab-03-cpu-stat-v1
}

/// Read v2 CPU statistics, all from `cpu.stat` (microseconds).
pub fn stats_v2(dir: &Path, stats: &mut Stats) -> Result<()> {
    // ANCHOR: lab-03-cpu-stat-v2
    stats.cpu_usage = keyed(dir, "cpu.stat", "usage_usec")?.map(Duration::from_micros);
    stats.cpu_periods = keyed(dir, "cpu.stat", "nr_periods")?;
    stats.cpu_throttled_periods = keyed(dir, "cpu.stat", "nr_throttled")?;
    stats.cpu_throttled = keyed(dir, "cpu.stat", "throttled_usec")?.map(Duration::from_micros);
    Ok(())
    // ANCHOR_END: lab-03-cpu-stat-v2
}
