//! The `stats` demo: two workloads with different limits, watched live
//! from their cgroups' files, as `docker stats` does.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Result;
use step01::report::{Table, bytes, measured};

use super::{opt, plain, show_limit, start};
use crate::cgroup::{self, Stats, check_interrupted};
use crate::limits::{self, Limit, Limits};

/// One `docker stats`-like row.
fn stats_row(name: &str, now: &Stats, cpu_percent: Option<f64>) -> Vec<String> {
    let mem = format!(
        "{} / {}",
        opt(now.memory_current, bytes),
        show_limit(now.memory_limit, bytes)
    );
    vec![
        name.to_string(),
        cpu_percent.map_or("-".into(), |p| measured(format!("{p:.1}%"))),
        mem,
        opt(now.memory_peak, bytes),
        now.pids_current.map_or("n/a".into(), |n| n.to_string()),
        opt(now.cpu_throttled_periods, plain),
        now.oom_kills.map_or("n/a".into(), |n| n.to_string()),
    ]
}

/// The `stats` demo: two workloads with different limits, watched live.
// ANCHOR: stats_demo
pub fn stats(out: &mut dyn Write, seconds: u64, once: bool) -> Result<()> {
    let seconds = if once { 1 } else { seconds.max(1) };
    let specs = [
        ("stats-a", "0.5", "96m", "48"),
        ("stats-b", "0.2", "64m", "24"),
    ];
    let mut running = Vec::new();
    for (name, cpus, memory, mib) in specs {
        let limits = Limits {
            cpus: Some(limits::parse_cpus(cpus)?),
            memory: Some(limits::parse_bytes("--memory", memory)?),
            pids: Some(Limit::Value(16)),
            ..Limits::default()
        };
        let (cg, _) = cgroup::create(name, &limits)?;
        let child = start(cg.as_ref(), &["busy", "--mib", mib], false)?;
        let first = cg.stats()?;
        running.push((name, cg, child, first, Instant::now()));
    }
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    for tick in 1..=seconds {
        std::thread::sleep(Duration::from_secs(1));
        check_interrupted()?;
        let mut t = Table::new([
            "CGROUP",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM PEAK",
            "PIDS",
            "THROTTLED",
            "OOM KILLS",
        ]);
        for (name, cg, _child, last, at) in running.iter_mut() {
            let now = cg.stats()?;
            let wall = at.elapsed();
            let cpu_percent = match (now.cpu_usage, last.cpu_usage) {
                (Some(a), Some(b)) => {
                    Some(100.0 * (a.saturating_sub(b)).as_secs_f64() / wall.as_secs_f64())
                }
                _ => None,
            };
            t.row(stats_row(
                &format!("{}/{name}", cgroup::PARENT),
                &now,
                cpu_percent,
            ));
            *last = now;
            *at = Instant::now();
        }
        if tty {
            write!(out, "\x1b[2J\x1b[H")?; // clear the screen, like docker stats
        }
        writeln!(out, "after {tick} s:")?;
        write!(out, "{}", t.render())?;
        out.flush()?;
    }
    writeln!(
        out,
        "\nEvery number comes from the cgroup's own files (memory.current or memory.usage_in_bytes,\n\
         cpu.stat, pids.current, ...): this is all `docker stats` does. CPU % is the growth of\n\
         the CPU usage counter over the wall time between two readings."
    )?;
    Ok(())
}
// ANCHOR_END: stats_demo
