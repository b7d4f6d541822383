//! `tincan run -d`: return once the program runs, and leave a monitor
//! behind that owns the container (fork(2), setsid(2), dup2(2)).
//!
//! A foreground `tincan run` is the container's parent: it waits for it,
//! forwards signals, and removes what it owned when it exits. Detached,
//! the same code runs in a forked child, the *monitor*, in a session of
//! its own (so the terminal's Ctrl-C and hang-up do not reach it), with
//! stdin on /dev/null and stdout and stderr on the container's log. The
//! container inherits those descriptors: what it prints lands in the log,
//! and nothing keeps the caller's terminal or pipes open. The caller waits
//! only for the monitor's one-line report, prints the id and exits.
//!
//! The monitor stays the container's parent, so it alone can learn the
//! exit status (waitpid(2)) and write it into the record. If it is killed,
//! the container dies with it (`PR_SET_PDEATHSIG`, step 02), and the next
//! tincan's clean-up marks the record exited.

use std::os::fd::OwnedFd;
use std::path::Path;

use anyhow::{Context, Result};

use crate::config::RunConfig;
use crate::state::{State, StateRoot};

// ANCHOR: detach
/// `tincan run -d`: start `config` under a monitor of its own; return its
/// id once the program runs (after `execve`), or the set-up's error.
pub fn run(config: &RunConfig, root: &StateRoot) -> Result<String> {
    crate::lifecycle::fork_monitor(|ready| crate::container::run_detached(config, root, ready))?;
    Ok(config.id.clone())
}

/// In the monitor, once the state directory exists: stdin from /dev/null,
/// stdout and stderr appended to `<dir>/container.log` (the container
/// inherits all three), and the record marked detached.
pub fn redirect_output(state: &mut State, dir: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(super::LOG_FILE);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("create {}", path.display()))?;
    let null = std::fs::File::open("/dev/null").context("open /dev/null")?;
    // dup2 makes fd 0, 1 or 2 a copy of the file (and closes what it was:
    // the caller's terminal or pipe).
    let context = |fd: &str| format!("dup2 {} onto {fd}", path.display());
    nix::unistd::dup2_stdin(&null).context("dup2 /dev/null onto stdin")?;
    nix::unistd::dup2_stdout(&log).with_context(|| context("stdout"))?;
    nix::unistd::dup2_stderr(&log).with_context(|| context("stderr"))?;
    if let Some(record) = state.monitor.as_mut() {
        record.detached = true;
    }
    Ok(())
}

/// In the monitor, once the program runs: tell the waiting `tincan run -d`.
pub fn report_running(ready: &OwnedFd, state: &State) -> Result<()> {
    let pid = state.init.map_or(0, |p| p.pid);
    nix::unistd::write(ready, format!("ok {pid}\n").as_bytes()).context("report running")?;
    Ok(())
}
// ANCHOR_END: detach
