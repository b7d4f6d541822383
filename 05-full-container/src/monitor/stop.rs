//! `tincan stop [-t SECS] ID` and `tincan rm [-f] ID` (kill(2),
//! pid_namespaces(7)).
//!
//! Stopping is asking, then insisting: SIGTERM lets the program finish its
//! work and exit; SIGKILL, after a grace period, cannot be caught. The
//! container's program is PID 1 of its PID namespace, and the kernel
//! delivers a signal from outside to such an init only if it installed a
//! handler for it (SIGKILL excepted): a program that never thought about
//! TERM, such as `sleep`, ignores it, and only the KILL ends it. When PID 1
//! dies, the kernel kills every other process of the namespace.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use nix::sys::signal::Signal;

use super::{Seen, seen};
use crate::state::{ProcessId, StateRoot};

/// `stop`'s grace period when `-t` is not given, as Docker's.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Parse `-t SECS`: a whole number of seconds.
pub fn parse_grace(text: Option<&str>) -> Result<Duration> {
    let Some(text) = text else {
        return Ok(DEFAULT_GRACE);
    };
    match text.parse::<u32>() {
        Ok(secs) => Ok(Duration::from_secs(secs.into())),
        Err(_) => bail!(
            "invalid -t {text:?}: the grace period is a whole number of seconds, e.g. -t 10 (0 kills at once)"
        ),
    }
}

// ANCHOR: stop
/// `tincan stop`: TERM, up to `grace` for the container to exit, then
/// KILL; return once its monitor has recorded the end.
pub fn stop(root: &StateRoot, id: &str, grace: Option<&str>, out: &mut dyn Write) -> Result<()> {
    let grace = parse_grace(grace)?;
    let state = super::load(root, id)?;
    let init = match (seen(&state), state.init) {
        (Seen::Running(p), _) | (Seen::Created, Some(p)) => p,
        (Seen::Paused(p), _) => {
            // A frozen process handles no signal: thaw it first.
            crate::lifecycle::freeze(root, id, false)?;
            p
        }
        (Seen::Creating, _) => {
            bail!("container {id:?} is still being set up; try again in a moment")
        }
        _ => bail!(
            "container {id:?} is not running (it has exited); remove it with `tincan rm {id}`"
        ),
    };
    signal(init, Signal::SIGTERM);
    if !wait_until(grace, || !init.is_alive()) {
        signal(init, Signal::SIGKILL);
        wait_until(Duration::from_secs(5), || !init.is_alive());
    }
    // Its monitor removes what it owned and writes the exit status down.
    if state.owner != init {
        wait_until(Duration::from_secs(10), || !state.owner.is_alive());
    }
    writeln!(out, "{id}")?;
    Ok(())
}
// ANCHOR_END: stop

/// `tincan rm`: remove a container that has exited, its record, its log
/// and anything left of it; `force` kills a running one first.
pub fn rm(root: &StateRoot, id: &str, force: bool, out: &mut dyn Write) -> Result<()> {
    let state = super::load(root, id)?;
    if let Seen::Running(p) | Seen::Paused(p) = seen(&state) {
        if !force {
            bail!(
                "container {id:?} is running; stop it first (`tincan stop {id}`) or remove it anyway with `tincan rm -f {id}`"
            );
        }
        signal(p, Signal::SIGKILL);
        wait_until(Duration::from_secs(5), || !p.is_alive());
    }
    if super::keeps_record(&state) {
        // The monitor holds the lock until it has released everything.
        let _lock = root.lock(id)?;
        root.destroy(&root.load(id)?)?;
    } else {
        crate::lifecycle::delete(root, id, true)?;
    }
    writeln!(out, "{id}")?;
    Ok(())
}

fn signal(p: ProcessId, signal: Signal) {
    // Already gone is fine: that is what we want.
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.pid), signal);
}

/// Poll `done` every 20 ms for up to `limit`; whether it became true.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
