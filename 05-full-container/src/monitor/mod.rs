//! Watching containers: detached runs, `ps`, `logs`, `stop`, `rm`,
//! `stats` and `top` (proc(5), cgroups(7); what `docker ps`, `docker
//! logs` and `docker stats` read).
//!
//! Nothing here asks a daemon. There is none: each answer comes from a
//! file the kernel or tincan keeps.
//!
//! - `ps` reads the state records under the state root, and checks each
//!   recorded process against `/proc` (pid *and* start time, see
//!   [`crate::state::ProcessId`]), so a container whose processes died
//!   shows as exited, never as running ([`ps`]).
//! - `run -d` forks a monitor that owns the container as `tincan run`
//!   does, with the container's stdout and stderr in a log file in its
//!   state directory ([`detach`], [`logs`]). When the container exits, or
//!   when the next tincan finds its monitor killed, everything it owned on
//!   the host goes, but its record and log stay until `tincan rm`
//!   ([`release`], [`stop`]).
//! - `stats` and `top` read the container's cgroup: the kernel charges
//!   every page and every CPU nanosecond of every process in it, so the
//!   cgroup files are the source of truth (step 03's [`step03::inspect`];
//!   [`stats`], [`top`]).

pub mod detach;
pub mod logs;
pub mod ps;
pub mod stats;
pub mod stop;
pub mod top;

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::state::{ProcessId, State, StateRoot, Status};

/// The log of a detached container, in its state directory.
pub const LOG_FILE: &str = "container.log";

// ANCHOR: record
/// What the state record keeps for `ps` and `logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// The command and its arguments.
    pub command: Vec<String>,
    /// When the container was created (seconds since the epoch).
    pub created: i64,
    /// Started by `tincan run -d`: its output is in [`LOG_FILE`], and its
    /// record stays after it exits, until `tincan rm`.
    #[serde(default)]
    pub detached: bool,
    /// How it ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<Exit>,
    /// `--net container:ID`: the container whose network it shares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_of: Option<String>,
}

/// How a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// Its exit status (128 + signal); `None` when its monitor was killed
    /// and nobody could wait for it.
    pub code: Option<i32>,
    /// When (seconds since the epoch).
    pub finished: i64,
}
// ANCHOR_END: record

impl Record {
    /// A record for a container about to run `command`.
    pub fn new(command: &[String]) -> Record {
        Record {
            command: command.to_vec(),
            created: now(),
            detached: false,
            exit: None,
            network_of: None,
        }
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Does this container's record outlive it (a `run -d`)?
pub fn keeps_record(state: &State) -> bool {
    state.monitor.as_ref().is_some_and(|m| m.detached)
}

/// Write down how the container ended (once: a later call keeps the first).
pub fn exited(state: &mut State, code: Option<i32>) {
    if let Some(record) = state.monitor.as_mut() {
        record.exit.get_or_insert(Exit {
            code,
            finished: now(),
        });
    }
}

/// What a container is now, from its record *and* `/proc`: a record that
/// says running while its first process is gone is shown as exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Being set up.
    Creating,
    /// Set up, waiting for `tincan start`.
    Created,
    /// Its program runs, since this process started.
    Running(ProcessId),
    /// Frozen.
    Paused(ProcessId),
    /// It ended, with this status if anyone saw it.
    Exited(Option<Exit>),
}

/// See [`Seen`].
pub fn seen(state: &State) -> Seen {
    let alive = state.init.filter(ProcessId::is_alive);
    let exit = state.monitor.as_ref().and_then(|m| m.exit);
    match (state.status, alive) {
        (Status::Creating, _) => Seen::Creating,
        (Status::Created, Some(_)) => Seen::Created,
        (Status::Running, Some(p)) => Seen::Running(p),
        (Status::Paused, Some(p)) => Seen::Paused(p),
        _ => Seen::Exited(exit),
    }
}

// ANCHOR: release
/// A detached container ended (or its monitor was killed): remove all it
/// owned on the host — processes, cgroups, network, overlay — as
/// [`StateRoot::destroy`] does, but keep its state directory, with the
/// record saying how it ended and the log. Each step tolerates "already
/// gone", and the record is saved only after them, so a tincan killed
/// half-way leaves the rest to the next one.
pub fn release(root: &StateRoot, mut state: State) -> Result<()> {
    let owns_nothing = state.cgroups.is_empty() && state.net.is_none();
    if state.status == Status::Stopped && owns_nothing && state.overlay_dir.is_none() {
        return Ok(());
    }
    root.release_host_side(&state)?;
    // No exit status recorded: the monitor died before it could wait.
    exited(&mut state, None);
    state.status = Status::Stopped;
    state.cgroups.clear();
    state.net = None;
    state.overlay_dir = None;
    root.save(&state)
}
// ANCHOR_END: release

/// [`StateRoot::load`], with the way out when there is no such container.
pub fn load(root: &StateRoot, id: &str) -> Result<State> {
    if !root.dir(id).join("state.json").exists() {
        crate::config::validate_id(id)?;
        anyhow::bail!("no container {id:?}; `tincan ps -a` lists the containers there are");
    }
    root.load(id)
}

/// The container's cgroup below each hierarchy's root: `tincan/<id>`, or
/// the path its bundle asked for.
pub fn cgroup_relative(state: &State) -> PathBuf {
    match &state.cgroups_path {
        Some(p) => p.strip_prefix("/").unwrap_or(p).to_path_buf(),
        None => PathBuf::from(step03::cgroup::PARENT).join(&state.id),
    }
}

/// Every container's state, in id order (records being removed are skipped).
pub fn all(root: &StateRoot) -> Result<Vec<State>> {
    let mut states = Vec::new();
    for id in root.ids().context("list containers")? {
        if let Ok(state) = root.load(&id) {
            states.push(state);
        }
    }
    Ok(states)
}

/// "5 seconds", "3 minutes", "2 hours", "4 days", as `docker ps` says it;
/// `[TIME]` when redacting (`TINCAN_REDACT=1`).
pub fn ago(since: i64) -> String {
    if step01::report::redacting() {
        return "[TIME]".into();
    }
    let secs = (now() - since).max(0);
    let (n, unit) = match secs {
        0..=1 => return "1 second".into(),
        2..=119 => (secs, "seconds"),
        120..=7199 => (secs / 60, "minutes"),
        7200..=172_799 => (secs / 3600, "hours"),
        _ => (secs / 86400, "days"),
    };
    format!("{n} {unit}")
}

/// A pid for people, or `[PID]` when redacting.
pub fn pid_text(pid: i32) -> String {
    if step01::report::redacting() {
        "[PID]".into()
    } else {
        pid.to_string()
    }
}
