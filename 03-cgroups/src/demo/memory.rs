//! The `memory` demo: an allocator that never stops, in a cgroup with a
//! memory limit and no swap, until the kernel's OOM killer ends it inside
//! the cgroup (see [`crate::memory`] for the files it writes).

use std::io::Write;

use anyhow::{Result, bail};
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use step01::report::{Table, bytes, measured};

use super::{header, opt, placed, show_limit, start_exe};
use crate::cgroup::{self, Cgroup, Stats};
use crate::limits::{self, Limit, Limits};
use crate::spawn;

/// What the `memory` demo observed.
#[derive(Debug)]
pub struct MemoryOutcome {
    /// How the allocator ended.
    pub status: WaitStatus,
    /// The last amount (MiB) it reported having allocated.
    pub last_mib: u64,
    /// Statistics read after it ended.
    pub stats: Stats,
    /// How the child was placed into the cgroup.
    pub placement: spawn::Placement,
    /// Limits this kernel could not apply.
    pub notes: Vec<String>,
}

// ANCHOR: memory_demo
/// Run the allocator (`exe workload allocate`) in a cgroup limited to
/// `memory`; it never stops by itself.
pub fn run_memory(
    exe: &str,
    name: &str,
    memory: Limit,
) -> Result<(Box<dyn Cgroup>, MemoryOutcome)> {
    let limits = Limits {
        memory: Some(memory),
        ..Limits::default()
    };
    let (cg, notes) = cgroup::create(name, &limits)?;
    let mut child = start_exe(exe, cg.as_ref(), &["allocate"], true)?;
    let text = child.read_stdout()?; // EOF when the kernel killed it
    let status = child.wait()?;
    let last_mib = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    let stats = cg.stats()?;
    Ok((
        cg,
        MemoryOutcome {
            status,
            last_mib,
            stats,
            placement: child.placement,
            notes,
        },
    ))
}
// ANCHOR_END: memory_demo

/// The `memory` demo.
pub fn memory(out: &mut dyn Write, memory: &str) -> Result<()> {
    let limit = limits::parse_bytes("--memory", memory)?;
    let Limit::Value(limit_bytes) = limit else {
        bail!("--memory max would let the demo eat the host: give a size such as 64m");
    };
    let (cg, outcome) = run_memory(&spawn::own_exe()?, "memory-demo", limit)?;
    header(out, cg.as_ref(), "memory-demo", &outcome.notes)?;
    writeln!(out, "memory limit {}, swap off", bytes(limit_bytes))?;
    placed(out, outcome.placement)?;
    writeln!(
        out,
        "it allocated and touched 1 MiB at a time, without end...\n"
    )?;
    let MemoryOutcome {
        status,
        last_mib,
        stats,
        ..
    } = outcome;
    let ended = match status {
        WaitStatus::Signaled(_, Signal::SIGKILL, _) => {
            "killed by SIGKILL (the OOM killer)".to_string()
        }
        other => format!("{other:?} (expected SIGKILL)"),
    };
    let mut t = Table::new(["what the kernel reports", "value"]);
    t.row(["how the allocator ended".to_string(), ended]);
    t.row([
        "last amount it reported".to_string(),
        measured(format!("{last_mib} MiB")),
    ]);
    t.row(["memory peak".to_string(), opt(stats.memory_peak, bytes)]);
    t.row([
        "memory limit".to_string(),
        show_limit(stats.memory_limit, bytes),
    ]);
    let peak_ok = stats.memory_peak.is_none_or(|p| p <= limit_bytes);
    t.row([
        "peak within the limit".to_string(),
        if peak_ok { "yes" } else { "NO" }.into(),
    ]);
    t.row([
        "OOM events".to_string(),
        stats
            .oom_events
            .map_or("n/a (v1 has no counter)".into(), |n| n.to_string()),
    ]);
    t.row([
        "OOM kills".to_string(),
        stats.oom_kills.map_or("n/a".into(), |n| n.to_string()),
    ]);
    write!(out, "{}", t.render())?;
    writeln!(
        out,
        "\nThe kernel charged every page the allocator touched to its cgroup. At the limit it\n\
         could not reclaim anything (no swap allowed), so the OOM killer chose a victim *inside\n\
         the cgroup*. The host, and this program that watched it, kept running."
    )?;
    Ok(())
}
