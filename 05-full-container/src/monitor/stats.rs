//! `tincan stats [--no-stream] [ID...]`: what each running container uses,
//! read from its cgroup (step 03's [`step03::inspect::stats_at`]) and its
//! `eth0` (`/proc/PID/net/dev`, proc(5)).
//!
//! The kernel charges every page a container's processes touch and every
//! nanosecond they run to their cgroup, whoever forked them and whatever
//! they are called: the cgroup files are the truth, and this is all
//! `docker stats` reads. CPU % is not a file: it is the growth of the CPU
//! usage counter between two readings, over the wall time between them
//! (100% is one CPU). Network bytes are the counters of the container's
//! end of its veth pair, `eth0`, read in its own network namespace.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use step01::report::{Table, bytes, measured, redacting};
use step03::cgroup::Stats;
use step03::limits::Limit;

use super::{Seen, seen};
use crate::state::{State, StateRoot};

/// One container's reading.
struct Reading {
    at: Instant,
    cgroup: Stats,
    net: Option<(u64, u64)>,
}

fn read(state: &State) -> Result<Reading> {
    Ok(Reading {
        at: Instant::now(),
        cgroup: step03::inspect::stats_at(&super::cgroup_relative(state))?,
        net: match (&state.net, state.init) {
            (Some(_), Some(init)) => eth0_bytes(init.pid),
            _ => None,
        },
    })
}

/// (received, sent) by the container's `eth0`, from `/proc/PID/net/dev`,
/// which shows the network namespace of process PID (not the reader's,
/// as /sys/class/net would: that is sysfs's mounter's).
fn eth0_bytes(pid: i32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    let line = text.lines().find_map(|l| l.trim().strip_prefix("eth0:"))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // 8 receive counters (bytes first), then the transmit ones.
    Some((*fields.first()?, *fields.get(8)?))
}

// ANCHOR: stats
/// `tincan stats`: one table after a second (`no_stream`), or a new one
/// every second until Ctrl-C. Without ids, each table lists the containers
/// running at that moment, so one started meanwhile appears in the next.
pub fn stats(root: &StateRoot, ids: &[String], no_stream: bool, out: &mut dyn Write) -> Result<()> {
    let mut states = chosen(root, ids)?;
    step01::signals::catch_restarting(&step01::signals::INTERRUPTS)?;
    let mut last: BTreeMap<String, Reading> = states
        .iter()
        .filter_map(|s| Some((s.id.clone(), read(s).ok()?)))
        .collect();
    let clear = !no_stream && std::io::IsTerminal::is_terminal(&std::io::stdout());
    loop {
        // CPU % needs two readings: wait a second (Ctrl-C ends the wait).
        for _ in 0..10 {
            if step01::signals::interrupted() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut t = Table::new([
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS",
        ]);
        for state in &states {
            // A container that ended meanwhile has no cgroup: no row.
            let Ok(now) = read(state) else { continue };
            t.row(row(&state.id, &now, last.get(&state.id)));
            last.insert(state.id.clone(), now);
        }
        if clear {
            write!(out, "\x1b[2J\x1b[H")?; // clear the screen, as docker stats does
        }
        write!(out, "{}", t.render())?;
        out.flush()?;
        if no_stream {
            return Ok(());
        }
        if ids.is_empty() {
            states = chosen(root, ids)?;
            last.retain(|id, _| states.iter().any(|s| &s.id == id));
        }
    }
}
// ANCHOR_END: stats

/// The containers named, each of which must run; or every running one.
fn chosen(root: &StateRoot, ids: &[String]) -> Result<Vec<State>> {
    let running = |s: &State| matches!(seen(s), Seen::Running(_) | Seen::Paused(_));
    if ids.is_empty() {
        return Ok(super::all(root)?.into_iter().filter(running).collect());
    }
    let mut states = Vec::new();
    for id in ids {
        let state = super::load(root, id)?;
        if !running(&state) {
            bail!("container {id:?} is not running; `tincan ps` lists the running ones");
        }
        states.push(state);
    }
    Ok(states)
}

/// One row: the numbers of `now`, CPU % against `previous`.
fn row(name: &str, now: &Reading, previous: Option<&Reading>) -> Vec<String> {
    let s = &now.cgroup;
    let cpu = match (
        s.cpu_usage,
        previous.and_then(|p| p.cgroup.cpu_usage.map(|u| (u, p.at))),
    ) {
        (Some(used), Some((before, at))) => {
            let wall = now.at.duration_since(at).as_secs_f64();
            measured(format!(
                "{:.2}%",
                100.0 * used.saturating_sub(before).as_secs_f64() / wall
            ))
        }
        _ => "-".into(),
    };
    let usage = s.memory_current.map_or("-".into(), |b| volatile(bytes(b)));
    let (limit, percent) = match (s.memory_limit, s.memory_current) {
        (Some(Limit::Value(max)), Some(cur)) if max > 0 => (
            bytes(max),
            measured(format!("{:.2}%", 100.0 * cur as f64 / max as f64)),
        ),
        _ => ("no limit".into(), "-".into()),
    };
    let net = now.net.map_or("-".into(), |(rx, tx)| {
        format!("{} / {}", volatile(bytes(rx)), volatile(bytes(tx)))
    });
    let block = match (s.io_read_bytes, s.io_write_bytes) {
        (Some(r), Some(w)) => format!("{} / {}", volatile(bytes(r)), volatile(bytes(w))),
        _ => "-".into(),
    };
    let pids = match (s.pids_current, s.pids_limit) {
        (Some(n), Some(Limit::Value(max))) => format!("{n} / {max}"),
        (Some(n), _) => n.to_string(),
        _ => "-".into(),
    };
    vec![
        name.to_string(),
        cpu,
        format!("{usage} / {limit}"),
        percent,
        net,
        block,
        pids,
    ]
}

/// A byte count that changes from run to run: `[BYTES]` when redacting.
fn volatile(text: String) -> String {
    if redacting() { "[BYTES]".into() } else { text }
}
