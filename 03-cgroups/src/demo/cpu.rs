//! The `cpu` demo: the noisy neighbour of step 01 again, and the same
//! neighbour capped by the CPU bandwidth controller (see [`crate::cpu`]).
//!
//! The victim is this program's own thread, pinned to one CPU; two hogs
//! spin on that CPU, each in a cgroup of its own (cpuset), one without a
//! limit and one capped. As in step 01 the conditions are measured in short
//! windows, interleaved in shuffled rounds, with the hogs stopped (SIGSTOP)
//! outside their windows, so that the machine's drift cancels out of each
//! round's ratios.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use step01::noisy::{self, AffinityGuard, Spread, Stats, Verdict, Victim, run_victim};
use step01::report::{self, Table, measured};

use super::{opt, plain, start};
use crate::cgroup::{self, Cgroup, check_interrupted};
use crate::limits::{self, Cpus, Limits};
use crate::spawn::Child;

/// One window of a round: longer than one CPU bandwidth period (100 ms),
/// so that the capped hog meets its quota inside every window.
const WINDOW: Duration = Duration::from_millis(200);
/// Rounds of three windows (alone, beside each hog): about 6 seconds.
const ROUNDS: usize = 10;

/// What the rounds measured.
struct Measurement {
    /// Pooled latencies: alone, beside the hog, beside the capped hog.
    stats: [Stats; 3],
    /// Slowdown beside the hog without a limit, one ratio per round.
    uncapped: Spread,
    /// Slowdown beside the capped hog.
    capped: Spread,
}

/// A hog in a cgroup of its own, pinned to `cpu`, stopped until its window.
fn start_hog(name: &str, cpu: usize, cap: Option<Cpus>) -> Result<(Box<dyn Cgroup>, Child)> {
    let limits = Limits {
        cpuset: Some(cpu.to_string()),
        cpus: cap,
        ..Limits::default()
    };
    let (cg, _notes) = cgroup::create(name, &limits)?;
    let child = start(cg.as_ref(), &["hog"], false)?;
    noisy::pause(child.pid.as_raw())?;
    Ok((cg, child))
}

// ANCHOR: rounds
/// Interleave the three conditions in shuffled rounds; each round's ratios
/// compare windows measured one right after the other.
fn measure(cpu: usize, cap: Cpus) -> Result<(Measurement, Box<dyn Cgroup>)> {
    let _pinned = AffinityGuard::pin(cpu)?;
    // The guards kill and remove the hogs on the way out, also on an error.
    let (_free_cg, free) = start_hog("cpu-hog", cpu, None)?;
    let (capped_cg, capped) = start_hog("cpu-hog-capped", cpu, Some(cap))?;
    let hogs = [None, Some(free.pid), Some(capped.pid)];
    let mut victim = Victim::new();
    run_victim(&mut victim, Duration::from_millis(50), &mut Vec::new())?;
    let mut latencies: [Vec<Duration>; 3] = Default::default();
    let (mut uncapped, mut capped_ratios) = (Vec::new(), Vec::new());
    let mut order = [0, 1, 2];
    for round in 0..ROUNDS {
        check_interrupted()?;
        order.rotate_left(round % 3); // every condition comes first, middle and last
        let mut units_per_s = [0.0; 3];
        for &condition in &order {
            if let Some(pid) = hogs[condition] {
                noisy::resume(pid.as_raw())?;
            }
            units_per_s[condition] = run_victim(&mut victim, WINDOW, &mut latencies[condition])?;
            if let Some(pid) = hogs[condition] {
                noisy::pause(pid.as_raw())?;
            }
        }
        let [alone, beside_free, beside_capped] = units_per_s;
        uncapped.push(alone / beside_free);
        capped_ratios.push(alone / beside_capped);
    }
    // ANCHOR_END: rounds
    let elapsed = WINDOW * ROUNDS as u32;
    let [a, b, c] = latencies;
    let stats = [
        Stats::from_latencies(a, elapsed)?,
        Stats::from_latencies(b, elapsed)?,
        Stats::from_latencies(c, elapsed)?,
    ];
    drop((free, capped));
    let m = Measurement {
        stats,
        uncapped: Spread::of(uncapped),
        capped: Spread::of(capped_ratios),
    };
    Ok((m, capped_cg))
}

/// The CPU the demo uses: the last one we may run on.
fn pin_cpu() -> Result<usize> {
    noisy::allowed_cpus()?
        .last()
        .copied()
        .context("sched_getaffinity returned no CPU")
}

/// The `cpu` demo: the noisy neighbour, then the same neighbour capped.
// ANCHOR: cpu_demo
pub fn cpu(out: &mut dyn Write, cpus: &str) -> Result<()> {
    let cap = limits::parse_cpus(cpus)?;
    let cpu = pin_cpu()?;
    writeln!(
        out,
        "victim: this program, short units of CPU work timed one by one; hogs: spin forever.\n\
         all on CPU {}, the hogs pinned with the cpuset controller; {ROUNDS} rounds of {} ms windows,\n\
         alone and beside each hog, in turn (a hog is stopped outside its window).\n",
        measured(cpu),
        WINDOW.as_millis(),
    )?;
    let (m, capped_cg) = measure(cpu, cap)?;
    let stats = capped_cg.stats()?;
    write!(out, "{}", table(&m, cpus))?;
    writeln!(
        out,
        "\nthe capped hog was throttled in {} of {} periods ({} in total)\n",
        opt(stats.cpu_throttled_periods, plain),
        opt(stats.cpu_periods, plain),
        stats.cpu_throttled.map_or("n/a".into(), report::duration),
    )?;
    writeln!(out, "{}", words(&m.uncapped, &m.capped, cpus))?;
    Ok(())
}
// ANCHOR_END: cpu_demo

fn table(m: &Measurement, cpus: &str) -> String {
    let mut t = Table::new([
        "victim",
        "median unit",
        "p99",
        "slowdown (middle half of rounds)",
    ]);
    let rows = [
        ("alone", "1.00x".to_string()),
        ("beside the hog, no limit", noisy::spread(&m.uncapped)),
        (
            &*format!("beside the hog capped at {cpus} CPU"),
            noisy::spread(&m.capped),
        ),
    ];
    for ((label, slowdown), s) in rows.into_iter().zip(&m.stats) {
        t.row([
            label.to_string(),
            report::duration(s.median),
            report::duration(s.p99),
            slowdown,
        ]);
    }
    t.render()
}

/// The sentences under the table, chosen by what the rounds can show.
pub fn words(uncapped: &Spread, capped: &Spread, cpus: &str) -> String {
    let first = match uncapped.verdict() {
        Verdict::Slower => format!(
            "Without a limit the scheduler shares the CPU fairly, so the victim waits for the\n\
             hog's turns: {} as slow in the median round.",
            report::ratio(uncapped.median)
        ),
        _ => "Without a limit the hog's cost was not measurable on this run: the rounds\n\
              disagree (a busy machine moves them), so this run cannot say."
            .to_string(),
    };
    let second = if capped.q3 < uncapped.q1 {
        format!(
            "With cpu.max (v2) / cpu.cfs_quota_us (v1) the hog may run only {cpus} of a CPU per\n\
             100 ms period and is throttled the rest of the time: the victim got most of the CPU\n\
             back ({} as slow instead of {}).",
            report::ratio(capped.median),
            report::ratio(uncapped.median)
        )
    } else {
        "The capped hog's rounds overlap the uncapped hog's: the cap's effect was not\n\
         measurable on this run."
            .to_string()
    };
    format!("{first}\n{second}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(ratios: &[f64]) -> Spread {
        Spread::of(ratios.to_vec())
    }

    #[test]
    fn words_follow_the_numbers() {
        let clear = spread(&[1.9, 2.0, 2.1, 2.2]);
        let capped = spread(&[1.1, 1.2, 1.25, 1.3]);
        let text = words(&clear, &capped, "0.2");
        assert!(text.contains("2.05x as slow"), "{text}");
        assert!(
            text.contains("got most of the CPU") && text.contains("1.23x"),
            "{text}"
        );
        // An uncapped hog whose rounds include 1.0 proves nothing.
        let unclear = spread(&[0.8, 1.0, 1.3, 1.6]);
        assert!(words(&unclear, &capped, "0.2").contains("not measurable"));
        // A cap whose rounds overlap the uncapped hog's is not claimed.
        let overlapping = spread(&[1.8, 2.0, 2.2, 2.4]);
        let text = words(&clear, &overlapping, "0.2");
        assert!(text.contains("cap's effect was not"), "{text}");
        assert!(!text.contains("got most of the CPU"), "{text}");
    }
}
