//! The measurement: rounds of four short windows (alone, beside the CPU
//! hog, alone again, beside the memory hog) in a shuffled order, and what
//! the memory hog did to `MemAvailable` (proc(5), /proc/meminfo).

use std::time::Duration;

use anyhow::{Context, Result, ensure};

use super::hogs::{Hogs, pause, resume};
use super::pinning::{AffinityGuard, allowed_cpus};
use super::victim::{Victim, run_victim};
use super::{Hog, Measurement, MemoryEffect, Options, Phase, Spread, Stats};
use crate::report;

/// `MemAvailable` from /proc/meminfo, in bytes.
pub fn mem_available() -> Result<u64> {
    meminfo_field("/proc/meminfo", "MemAvailable:")
}

/// A `<label> <n> kB` field of a /proc file, in bytes.
fn meminfo_field(path: &str, label: &str) -> Result<u64> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {path}"))?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no {label} line in {path}"))?;
    Ok(kib * 1024)
}

/// The memory hog's size: what was asked, but at most a quarter of the
/// memory available right now, so the demo can never push a machine into
/// swapping or the OOM killer.
pub fn hog_size(asked_mib: u64, available: u64) -> u64 {
    asked_mib.saturating_mul(1 << 20).min(available / 4) >> 20
}

/// How long the victim runs in one window of a round: a few scheduler time
/// slices, so that a hog gets its fair share within each window.
pub const WINDOW: Duration = Duration::from_millis(25);

/// Shuffle four conditions (Fisher-Yates with xorshift64: a fixed seed, so
/// every run measures in the same orders).
fn shuffle(order: &mut [usize; 4], seed: &mut u64) {
    for i in (1..order.len()).rev() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        order.swap(i, (*seed % (i as u64 + 1)) as usize);
    }
}

/// Run the rounds and return what was measured. Every hog is killed and
/// reaped before this returns, whether it succeeds or not.
pub fn measure(opts: &Options) -> Result<Measurement> {
    opts.validate()?;
    let rounds = ((opts.seconds / (4.0 * WINDOW.as_secs_f64())) as usize).max(4);
    // A hog gives up by itself after this long, should everything else fail.
    let limit = opts.seconds * 2.0 + 10.0;
    let cpus = allowed_cpus()?;
    let cpu = *cpus.first().context("sched_getaffinity returned no CPU")?;
    // The memory hog goes on *another* CPU when there is one, so that it
    // takes no CPU time from the victim: what is left is memory contention.
    let mem_hog_cpu = cpus.get(1).copied().unwrap_or(cpu);
    let mut victim = Victim::new();
    let _pinned = AffinityGuard::pin(cpu)?;
    let mut hogs = Hogs::default();

    let cpu_pid = hogs.start(&opts.exe, Hog::Cpu, cpu, 0, limit)?;
    pause(cpu_pid)?;
    let available_before = mem_available()?;
    let mib = hog_size(opts.hog_mib, available_before);
    ensure!(
        mib >= 1,
        "only {} of memory is available; not enough to run a memory hog safely",
        report::bytes(available_before)
    );
    let mem_pid = hogs.start(&opts.exe, Hog::Mem, mem_hog_cpu, mib, limit)?;
    let available_with_hog = mem_available()?;
    let hog_rss = meminfo_field(&format!("/proc/{mem_pid}/status"), "VmRSS:")?;
    pause(mem_pid)?;

    // Warm up: fault the victim's pages in and fill the caches.
    run_victim(&mut victim, Duration::from_millis(50), &mut Vec::new())?;

    // ANCHOR: rounds
    // Four windows a round, one right after the other: alone, beside the CPU
    // hog, alone again, beside the memory hog, in an order shuffled anew
    // every round (what ran just before a window, a hog that flushed the
    // caches say, must not favour one condition). Each ratio compares windows
    // of the same round, so the machine's own drift cancels out of it.
    let mut latencies: [Vec<Duration>; 4] = Default::default();
    let (mut cpu_ratios, mut again_ratios, mut mem_ratios) = (vec![], vec![], vec![]);
    let mut order = [0, 1, 2, 3];
    let mut seed: u64 = 0x5eed_f00d_7e57_ab1e;
    for _ in 0..rounds {
        shuffle(&mut order, &mut seed);
        let mut units_per_s = [0.0; 4];
        for &condition in &order {
            let hog = [None, Some(cpu_pid), None, Some(mem_pid)][condition];
            if let Some(pid) = hog {
                resume(pid)?;
            }
            units_per_s[condition] = run_victim(&mut victim, WINDOW, &mut latencies[condition])?;
            if let Some(pid) = hog {
                pause(pid)?;
            }
        }
        let [alone, with_cpu_hog, alone_again, with_mem_hog] = units_per_s;
        // A slowdown is a throughput ratio: 2.0 means half the work done.
        // The baseline of a hog's ratio is both "alone" windows of its round.
        let baseline = (alone + alone_again) / 2.0;
        cpu_ratios.push(baseline / with_cpu_hog);
        again_ratios.push(alone / alone_again);
        mem_ratios.push(baseline / with_mem_hog);
    }
    // ANCHOR_END: rounds
    drop(hogs); // killed and reaped here
    let elapsed = WINDOW * rounds as u32;
    let kinds = [None, Some(Hog::Cpu), None, Some(Hog::Mem)];
    let phases = kinds
        .into_iter()
        .zip(latencies)
        .map(|(hog, l)| {
            Ok(Phase {
                hog,
                stats: Stats::from_latencies(l, elapsed)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Measurement {
        cpu,
        mem_hog_cpu,
        window: WINDOW,
        phases,
        cpu_hog: Spread::of(cpu_ratios),
        again: Spread::of(again_ratios),
        mem_hog: Spread::of(mem_ratios),
        memory: MemoryEffect {
            hog_bytes: mib << 20,
            available_before,
            available_with_hog,
            hog_rss,
        },
        hog_pids: vec![cpu_pid, mem_pid],
    })
}
