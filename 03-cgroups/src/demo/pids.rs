//! The `pids` demo: a fork bomb in a cgroup with a process limit, refused
//! by fork(2) with EAGAIN once the cgroup is full (see [`crate::pids`]).

use std::io::Write;

use anyhow::{Context, Result, bail};
use step01::report::Table;

use super::{header, placed, plain, show_limit, start_exe};
use crate::cgroup::{self, Cgroup, Stats};
use crate::limits::{self, Limit, Limits};
use crate::spawn;

/// What the `pids` demo observed.
#[derive(Debug)]
pub struct PidsOutcome {
    /// Forks that succeeded before the kernel refused.
    pub forked: u64,
    /// The error fork returned.
    pub error: String,
    /// Statistics while the bomb's processes were alive.
    pub stats: Stats,
    /// How the bomb was placed into the cgroup.
    pub placement: spawn::Placement,
}

// ANCHOR: pids_demo
/// Run a fork bomb (`exe workload forkbomb`) in a cgroup limited to `max`
/// processes.
pub fn run_pids(exe: &str, name: &str, max: Limit) -> Result<(Box<dyn Cgroup>, PidsOutcome)> {
    let limits = Limits {
        pids: Some(max),
        ..Limits::default()
    };
    let (cg, _notes) = cgroup::create(name, &limits)?;
    let outcome = {
        let mut child = start_exe(exe, cg.as_ref(), &["forkbomb"], true)?;
        let mut line = String::new();
        let stdout = child.stdout.as_mut().context("stdout was captured")?;
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .context("read the fork bomb's report")?;
        let (forked, error) = line.trim().split_once(' ').unwrap_or(("0", "none"));
        let stats = cg.stats()?;
        PidsOutcome {
            forked: forked.parse().unwrap_or(0),
            error: error.to_string(),
            stats,
            placement: child.placement,
        }
    };
    Ok((cg, outcome))
}
// ANCHOR_END: pids_demo

/// The `pids` demo.
pub fn pids(out: &mut dyn Write, pids: &str) -> Result<()> {
    let max = limits::parse_pids(pids)?;
    if max == Limit::Max {
        bail!("--pids max would let the fork bomb take the host: give a number such as 32");
    }
    let (cg, outcome) = run_pids(&spawn::own_exe()?, "pids-demo", max)?;
    header(out, cg.as_ref(), "pids-demo", &[])?;
    writeln!(out, "pids.max = {}", max.to_v2())?;
    placed(out, outcome.placement)?;
    writeln!(out, "a fork bomb forked until the kernel said no...\n")?;
    let mut t = Table::new(["what the kernel reports", "value"]);
    t.row([
        "forks that succeeded".to_string(),
        outcome.forked.to_string(),
    ]);
    t.row([
        "then fork(2) failed with".to_string(),
        outcome.error.clone(),
    ]);
    t.row([
        "processes in the cgroup".to_string(),
        outcome
            .stats
            .pids_current
            .map_or("n/a".into(), |n| n.to_string()),
    ]);
    t.row([
        "pids.max".to_string(),
        show_limit(outcome.stats.pids_limit, plain),
    ]);
    t.row([
        "forks refused (pids.events max)".to_string(),
        outcome
            .stats
            .pids_refused
            .map_or("n/a".into(), |n| n.to_string()),
    ]);
    write!(out, "{}", t.render())?;
    writeln!(
        out,
        "\nThe bomb itself counts as one process, so {} forks filled the cgroup; the next fork\n\
         failed with EAGAIN, the same error as hitting RLIMIT_NPROC. Removing the cgroup kills\n\
         them all; the host's own pid space was never at risk.",
        outcome.forked
    )?;
    Ok(())
}
