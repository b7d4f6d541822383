//! The `cpu` demo: the noisy neighbour. A victim and a CPU hog share one
//! CPU (pinned with cpuset), first without a limit, then with the hog
//! capped by the CPU bandwidth controller (see [`crate::cpu`]).

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use step01::report::{self, Table, measured, ratio};

use super::{opt, plain, start};
use crate::cgroup::{self, Stats, check_interrupted};
use crate::limits::{self, Cpus, Limits};

/// Burst latencies of one victim run, in nanoseconds, sorted.
fn victim_run(
    hog_limit: Option<Cpus>,
    with_hog: bool,
    rounds: u32,
) -> Result<(Vec<u64>, Option<Stats>)> {
    let pin = Limits {
        cpuset: Some(pin_cpu()?),
        ..Limits::default()
    };
    let (victim_cg, _) = cgroup::create("cpu-victim", &pin)?;
    let hog = if with_hog {
        let limits = Limits {
            cpus: hog_limit,
            ..pin.clone()
        };
        let (hog_cg, _) = cgroup::create("cpu-hog", &limits)?;
        let child = start(hog_cg.as_ref(), &["hog"], false)?;
        // Let the hog settle on the CPU before measuring.
        std::thread::sleep(Duration::from_millis(100));
        Some((hog_cg, child))
    } else {
        None
    };
    let rounds_text = rounds.to_string();
    let mut victim = start(
        victim_cg.as_ref(),
        &["victim", "--rounds", &rounds_text],
        true,
    )?;
    let text = victim.read_stdout()?;
    victim.wait()?;
    let hog_stats = match &hog {
        Some((cg, _)) => Some(cg.stats()?),
        None => None,
    };
    let mut bursts: Vec<u64> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    if bursts.len() != rounds as usize {
        bail!("the victim reported {} of {rounds} bursts", bursts.len());
    }
    bursts.sort_unstable();
    Ok((bursts, hog_stats))
}

/// The CPU both demo processes are pinned to: the last one we may use.
fn pin_cpu() -> Result<String> {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .context("sched_getaffinity")?;
    let cpu = (0..nix::sched::CpuSet::count())
        .rev()
        .find(|&c| set.is_set(c).unwrap_or(false));
    Ok(cpu.unwrap_or(0).to_string())
}

fn mean(v: &[u64]) -> f64 {
    v.iter().sum::<u64>() as f64 / v.len().max(1) as f64
}

/// The `cpu` demo: the noisy neighbour, then the same neighbour capped.
// ANCHOR: cpu_demo
pub fn cpu(out: &mut dyn Write, cpus: &str) -> Result<()> {
    let cap = limits::parse_cpus(cpus)?;
    let rounds = 40;
    writeln!(
        out,
        "victim: {rounds} short bursts of CPU work, timed one by one; hog: spins forever."
    )?;
    writeln!(
        out,
        "both pinned to CPU {} with the cpuset controller.\n",
        measured(pin_cpu()?)
    )?;
    let (alone, _) = victim_run(None, false, rounds)?;
    check_interrupted()?;
    let (noisy, _) = victim_run(None, true, rounds)?;
    check_interrupted()?;
    let (capped, hog) = victim_run(Some(cap), true, rounds)?;
    let ns = |n: f64| report::duration(Duration::from_nanos(n as u64));
    let p = |v: &[u64], q: f64| v[((v.len() - 1) as f64 * q) as usize] as f64;
    let mut t = Table::new(["run", "mean burst", "p50", "p90", "vs alone"]);
    for (label, v) in [
        ("victim alone", &alone),
        ("victim + hog, no limit", &noisy),
        (&*format!("victim + hog capped at {cpus} CPU"), &capped),
    ] {
        t.row([
            label.to_string(),
            ns(mean(v)),
            ns(p(v, 0.5)),
            ns(p(v, 0.9)),
            ratio(mean(v) / mean(&alone)),
        ]);
    }
    write!(out, "{}", t.render())?;
    if let Some(stats) = hog {
        writeln!(
            out,
            "\nthe capped hog was throttled in {} of {} periods ({} in total)",
            opt(stats.cpu_throttled_periods, plain),
            opt(stats.cpu_periods, plain),
            stats.cpu_throttled.map_or("n/a".into(), report::duration),
        )?;
    }
    writeln!(
        out,
        "\nWithout a limit the scheduler shares the CPU fairly, so each burst of the victim waits\n\
         for the hog's turn: about twice as slow. With cpu.max (v2) / cpu.cfs_quota_us (v1) the\n\
         hog may run only its quota per 100 ms period; the rest of the time it is throttled and\n\
         the victim runs almost as if alone."
    )?;
    Ok(())
}
// ANCHOR_END: cpu_demo
