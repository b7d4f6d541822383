//! `tincan top ID`: the processes of one container (proc(5): `stat`,
//! `status`, `cmdline`; cgroups(7): `cgroup.procs`).
//!
//! Which processes belong to a container? Not "the children of its first
//! process": a process can be re-parented, and a double fork leaves no
//! trace in the tree. But a child starts in its parent's cgroup and cannot
//! leave it without privileges the container does not have, so the
//! cgroup's `cgroup.procs` lists every one. Each has two pids: the host's,
//! and the one its own PID namespace gave it (the last number of `NSpid`
//! in `/proc/PID/status`); the container's first process is 1 inside.

use std::io::Write;

use anyhow::{Result, bail};
use step01::report::Table;

use super::{Seen, pid_text, seen};
use crate::state::StateRoot;

/// What `/proc/PID/stat` and `status` say about one process.
struct Process {
    pid: i32,
    inside: String,
    ppid: i32,
    state: String,
    cpu_ticks: u64,
    command: String,
}

fn process(pid: i32) -> Option<Process> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    let (name, rest) = stat.rsplit_once(')')?;
    let name = name.split_once('(').map_or("", |(_, n)| n);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3: state, ppid (4), ..., utime (14), stime (15).
    let num = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let inside = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or("?")
        .to_string();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(Process {
        pid,
        inside,
        ppid: num(1) as i32,
        state: fields.first()?.to_string(),
        cpu_ticks: num(11) + num(12),
        command: if args.is_empty() {
            format!("[{name}]")
        } else {
            args.join(" ")
        },
    })
}

/// The host pids of every process in container `id`'s cgroup, sorted.
pub fn pids(root: &StateRoot, id: &str) -> Result<Vec<nix::unistd::Pid>> {
    let state = super::load(root, id)?;
    if !matches!(seen(&state), Seen::Running(_) | Seen::Paused(_)) {
        bail!("container {id:?} is not running; `tincan ps` lists the running ones");
    }
    if state.cgroups.is_empty() {
        bail!(
            "container {id:?} has no cgroup (run without root), so its processes cannot be listed"
        );
    }
    let mut pids = step03::inspect::procs_at(&super::cgroup_relative(&state))?;
    pids.sort();
    Ok(pids)
}

/// runc's `ps --format json ID`, which containerd's shim calls for `ctr
/// task ps`: the container's pids as a JSON array.
pub fn pids_json(root: &StateRoot, id: &str) -> Result<String> {
    let pids: Vec<i32> = pids(root, id)?.iter().map(|p| p.as_raw()).collect();
    Ok(serde_json::to_string(&pids)?)
}

// ANCHOR: top
/// The `top` table of container `id`: every process in its cgroup.
pub fn top(root: &StateRoot, id: &str, out: &mut dyn Write) -> Result<()> {
    let pids = pids(root, id)?;
    let tick = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|t| *t > 0)
        .unwrap_or(100) as u64;
    let mut t = Table::new(["PID", "PID INSIDE", "PPID", "STATE", "TIME", "COMMAND"]);
    // A process that exits between the listing and the read has no row.
    for p in pids.iter().filter_map(|pid| process(pid.as_raw())) {
        let secs = p.cpu_ticks / tick;
        t.row([
            pid_text(p.pid),
            p.inside,
            pid_text(p.ppid),
            p.state,
            format!("{}:{:02}", secs / 60, secs % 60),
            p.command,
        ]);
    }
    write!(out, "{}", t.render())?;
    Ok(())
}
// ANCHOR_END: top
