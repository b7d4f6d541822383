//! The OCI lifecycle verbs that engines such as podman call: `create`,
//! `start`, `kill`, `delete`, `state` (the OCI runtime spec's
//! `runtime.md`; runc(8)).
//!
//! `create` sets everything up and stops the container's process just
//! before `execve`; `start` lets it go. Between the two, an engine attaches
//! its logging and networking. tincan's `create` forks a process that sets
//! the container up and then exits, so that the container is re-parented to
//! the engine's monitor (conmon is a child subreaper) and the engine reaps
//! it and learns its exit status, as with runc. From then on the
//! container's first process owns its state record, and the container stays
//! (`stopped` once it has exited) until the engine calls `tincan delete`,
//! which removes its cgroups, overlay and state. The gate is a FIFO in the state directory: the
//! container blocks reading it; `start` writes one byte.

use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::path::Path;

use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, fork, pipe2, setsid};

use crate::container::{EXEC_FIFO, Gate, STARTED_FIFO, run_with};
use crate::explain::Explain;
use crate::state::{StateRoot, Status};

/// What `create` takes besides the bundle.
#[derive(Debug, Default, Clone, Copy)]
pub struct CreateOptions<'a> {
    /// Write the container's pid here (`--pid-file`).
    pub pid_file: Option<&'a Path>,
    /// Enter the root without pivot_root (`--no-pivot`).
    pub no_pivot: bool,
    /// Send the terminal's master here (`--console-socket`).
    pub console_socket: Option<&'a Path>,
}

// ANCHOR: create
/// `tincan create --bundle B [--pid-file F] [--console-socket S] [--no-pivot] ID`.
pub fn create(root: &StateRoot, bundle: &Path, id: &str, options: CreateOptions) -> Result<()> {
    let CreateOptions {
        pid_file,
        no_pivot,
        console_socket,
    } = options;
    // Everything is validated before the fork: bad input is one line here.
    let mut config = crate::oci::load(bundle, id)?;
    config.no_pivot = no_pivot;
    crate::terminal::check(config.terminal.is_some(), console_socket, true)?;
    if let Some(terminal) = &mut config.terminal {
        terminal.socket = console_socket.map(Path::to_path_buf);
    }
    let bundle = bundle
        .canonicalize()
        .with_context(|| format!("resolve {}", bundle.display()))?;
    let pid = fork_monitor(|ready| {
        let gate = Gate { ready, bundle };
        run_with(&config, root, Explain(false), Some(gate))
    })?;
    if let Some(file) = pid_file {
        std::fs::write(file, &pid).with_context(|| format!("write pid file {}", file.display()))?;
    }
    Ok(())
}

/// Fork a monitor that runs `body` in a session of its own and exits with
/// its status, and wait until it reports on the pipe it is given: `ok
/// <pid>` (returned) once the container is ready, or `error <why>`. Both
/// `create` and `run -d` return while their container lives on.
pub fn fork_monitor(body: impl FnOnce(&OwnedFd) -> Result<i32>) -> Result<String> {
    let (ready_read, ready_write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    // SAFETY: tincan is single-threaded here; the child runs the monitor and exits.
    match unsafe { fork() }.context("fork the monitor")? {
        ForkResult::Child => {
            drop(ready_read);
            // A session of its own: the caller's terminal and process group
            // signals do not reach the monitor.
            let _ = setsid();
            let code = match body(&ready_write) {
                Ok(status) => status,
                Err(e) => {
                    let _ = nix::unistd::write(&ready_write, format!("error {e:#}\n").as_bytes());
                    1
                }
            };
            std::process::exit(code);
        }
        ForkResult::Parent { .. } => {
            drop(ready_write);
            let mut line = String::new();
            BufReader::new(std::fs::File::from(ready_read))
                .read_line(&mut line)
                .context("read the monitor's report")?;
            let line = line.trim_end();
            match line.strip_prefix("ok ") {
                Some(pid) => Ok(pid.to_string()),
                None => bail!(
                    "{}",
                    line.strip_prefix("error ")
                        .unwrap_or("the monitor died during set-up")
                ),
            }
        }
    }
}
// ANCHOR_END: create

/// `tincan start ID`: release a created container, wait until its
/// startContainer hooks ran and its program was exec'd, then run the
/// poststart hooks.
pub fn start(root: &StateRoot, id: &str) -> Result<()> {
    let mut state = root.load(id)?;
    if state.status != Status::Created {
        bail!(
            "container {id:?} is {:?}, not created; only a created container can be started",
            state.status
        );
    }
    // Opened before the gate opens, so that the answer cannot be missed.
    let started = open_started(root, id)?;
    // ANCHOR: lab-05-start-gate-release
    let fifo = root.dir(id).join(EXEC_FIFO);
    // O_NONBLOCK: if nobody reads the FIFO (the container died), fail at once (ENXIO).
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .with_context(|| format!("open {} (is the container still there?)", fifo.display()))?;
    std::io::Write::write_all(&mut &file, b"s")
        .with_context(|| format!("write {}", fifo.display()))?;
    // ANCHOR_END: lab-05-start-gate-release
    if let Err(e) = started.map(|fifo| await_started(fifo, id)).transpose() {
        // The spec: a failing startContainer hook stops the container; it
        // stays, stopped, until `delete` destroys it (and runs poststop).
        state.status = Status::Stopped;
        root.save(&state)?;
        return Err(e);
    }
    state.status = Status::Running;
    root.save(&state)?;
    crate::hooks::poststart(&state, state.init.map_or(0, |p| p.pid));
    Ok(())
}

/// `started.fifo`, for reading (see [`crate::container::STARTED_FIFO`]);
/// `None` for a container made by a tincan without it.
fn open_started(root: &StateRoot, id: &str) -> Result<Option<std::fs::File>> {
    let path = root.dir(id).join(STARTED_FIFO);
    // O_NONBLOCK: opening a FIFO's read end would otherwise wait for a
    // writer; the container holds one open already, so this cannot miss.
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
    {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        other => other.with_context(|| format!("open {}", path.display()))?,
    };
    // Reads block from here on: they wait for the container's answer.
    nix::fcntl::fcntl(&file, nix::fcntl::F_SETFL(nix::fcntl::OFlag::empty()))
        .with_context(|| format!("fcntl(F_SETFL) {}", path.display()))?;
    Ok(Some(file))
}

/// Wait for the container's answer: end-of-file once its program runs, or
/// the error of a startContainer hook.
fn await_started(mut fifo: std::fs::File, id: &str) -> Result<()> {
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut fifo, &mut answer)
        .with_context(|| format!("read {STARTED_FIFO} of container {id:?}"))?;
    if !answer.is_empty() {
        bail!("start {id}: {answer}");
    }
    Ok(())
}

use std::os::unix::fs::OpenOptionsExt;

/// Parse a signal as engines send it: `15`, `TERM` or `SIGTERM`.
pub fn parse_signal(text: &str) -> Result<Signal> {
    let bad =
        || anyhow::anyhow!("unknown signal {text:?}; use a number (15) or a name (TERM, SIGKILL)");
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let name = text.to_ascii_uppercase();
    let name = if name.starts_with("SIG") {
        name
    } else {
        format!("SIG{name}")
    };
    name.parse().map_err(|_| bad())
}

/// `tincan kill ID SIGNAL`.
pub fn kill(root: &StateRoot, id: &str, signal: &str) -> Result<()> {
    let signal = parse_signal(signal)?;
    let state = root.load(id)?;
    let init = state
        .init
        .filter(|p| p.is_alive())
        .with_context(|| format!("container {id:?} is not running"))?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(init.pid), signal)
        .with_context(|| format!("kill {} {signal}", init.pid))
}

/// `tincan delete [--force] ID`.
pub fn delete(root: &StateRoot, id: &str, force: bool) -> Result<()> {
    let state = match root.load(id) {
        Ok(state) => state,
        // Its monitor already removed it when it exited: nothing to do.
        Err(_) if force && !root.dir(id).exists() => return Ok(()),
        Err(e) => return Err(e),
    };
    if let Some(init) = state.init.filter(|p| p.is_alive()) {
        if !force && state.status != Status::Created {
            bail!("container {id:?} is running; stop it first or use `tincan delete --force {id}`");
        }
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(init.pid), Signal::SIGKILL);
    }
    // Created by `tincan create` and handed over: nobody else cleans up.
    if state.init == Some(state.owner) {
        let _lock = root.lock(id)?;
        root.destroy(&state)?;
        crate::hooks::poststop(&state);
        return Ok(());
    }
    // `tincan run`'s process removes everything once its container is gone;
    // give it a moment.
    for _ in 0..200 {
        if !root.dir(id).exists() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    root.destroy(&root.load(id)?)
}

// ANCHOR: freezer
/// `tincan pause ID` / `tincan resume ID`: freeze or thaw every process
/// of the container. Frozen processes keep their memory and open files
/// but get no CPU time; unlike SIGSTOP, they cannot notice or refuse.
pub fn freeze(root: &StateRoot, id: &str, frozen: bool) -> Result<()> {
    let mut state = root.load(id)?;
    let (from, to) = if frozen {
        (Status::Running, Status::Paused)
    } else {
        (Status::Paused, Status::Running)
    };
    if state.status != from || !state.init.is_some_and(|p| p.is_alive()) {
        bail!(
            "container {id:?} is {:?}; only a {:?} container can be {}",
            state.status,
            from,
            if frozen { "paused" } else { "resumed" }
        );
    }
    let mut done = false;
    for dir in &state.cgroups {
        done |= step03::freezer::set_frozen(dir, frozen)?;
    }
    if !done {
        bail!("container {id:?} has no freezer cgroup (it runs without cgroups)");
    }
    state.status = to;
    root.save(&state)
}
// ANCHOR_END: freezer

/// `tincan state ID`: the OCI state as JSON.
pub fn state_json(root: &StateRoot, id: &str) -> Result<String> {
    let state = root.load(id)?;
    let alive = state.init.filter(|p| p.is_alive());
    let status = match (state.status, alive) {
        (Status::Created | Status::Running | Status::Paused, None) => Status::Stopped,
        (s, _) => s,
    };
    let json = state.document(status, alive.map_or(0, |p| p.pid));
    serde_json::to_string_pretty(&json).context("serialize state")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_as_podman_sends_them() {
        assert_eq!(parse_signal("15").expect("valid"), Signal::SIGTERM);
        assert_eq!(parse_signal("9").expect("valid"), Signal::SIGKILL);
        assert_eq!(parse_signal("TERM").expect("valid"), Signal::SIGTERM);
        assert_eq!(parse_signal("sigkill").expect("valid"), Signal::SIGKILL);
        assert!(parse_signal("99").is_err());
        assert!(parse_signal("FOO").is_err());
    }
}
