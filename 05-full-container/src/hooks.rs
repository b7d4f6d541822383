//! OCI hooks: programs the engine asks the runtime to run at fixed points
//! of a container's life (the OCI runtime spec, `config.md` "POSIX-platform
//! Hooks" and `runtime.md` "Lifecycle").
//!
//! A runtime sets up namespaces, cgroups and a root filesystem, but some
//! set-up belongs to other programs: a CNI plugin gives the new network
//! namespace its interfaces, nvidia-container-toolkit's prestart hook
//! mounts the GPU's devices and libraries into the root filesystem (its
//! newer CDI hooks then update the library cache there), podman runs the
//! hooks an administrator installs. Each of them is a program the runtime runs, with the
//! container's state (`ociVersion`, `id`, `status`, `pid`, `bundle`,
//! `annotations`) as JSON on its standard input, so that it can find the
//! container's namespaces in `/proc/<pid>/ns/`.
//!
//! | hook | when | where |
//! |---|---|---|
//! | `prestart` (deprecated), `createRuntime` | `create`, the container's namespaces exist, before pivot_root | the runtime's namespaces |
//! | `createContainer` | `create`, the mounts are made, before pivot_root | the container's namespaces; its path is the host's |
//! | `startContainer` | `start`, before the user's program | the container, its path inside it |
//! | `poststart` | after the user's program started, before `start` returns | the runtime's namespaces |
//! | `poststop` | after the container was deleted | the runtime's namespaces |
//!
//! The spec's failure rules: a failing hook of the first four kinds fails
//! the operation (the container is destroyed, and poststop still runs); a
//! failing poststart or poststop is a warning. A hook that outlives its
//! `timeout` is killed, with every process it started (its own process
//! group, killpg(2)).

use std::cell::Cell;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::state::{State, Status};

/// One hook: a program, its argv and environment, a timeout in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    /// Absolute path of the program.
    pub path: PathBuf,
    /// Its argv, `argv[0]` included (the path when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Its whole environment, `KEY=VALUE` (nothing is inherited).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Seconds before it is killed, if set (> 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
}

/// Every hook of a container, by kind, in the order they run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    /// Deprecated by the spec, still honoured: run with `createRuntime`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prestart: Vec<Hook>,
    /// `create`: runtime's namespaces, before pivot_root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_runtime: Vec<Hook>,
    /// `create`: container's namespaces, before pivot_root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_container: Vec<Hook>,
    /// `start`: in the container, before the user's program.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub start_container: Vec<Hook>,
    /// After the user's program started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<Hook>,
    /// After the container was deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<Hook>,
}

impl Hooks {
    /// No hook at all (the record then leaves the field out).
    pub fn is_empty(&self) -> bool {
        self == &Hooks::default()
    }
}

/// The hook kinds, named as in config.json.
pub const KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

// ANCHOR: setup
/// The hooks that run while the container is set up and started, with the
/// state they read. Made from the container's record before the child is
/// cloned: the parent runs `createRuntime`, the child the other two.
pub struct Setup {
    state: State,
    /// The container's pid as the host sees it, once known in the child.
    host_pid: Cell<i32>,
}

impl Setup {
    /// The hooks and state of the container recorded in `state`.
    pub fn new(state: &State) -> Setup {
        Setup {
            state: state.clone(),
            host_pid: Cell::new(0),
        }
    }

    /// `prestart` then `createRuntime`, in the runtime's namespaces, while
    /// the cloned child `pid` waits: its namespaces exist, so a CNI plugin
    /// can configure `/proc/<pid>/ns/net` from the host's side.
    pub fn create_runtime(&self, pid: nix::unistd::Pid) -> Result<()> {
        let state = self.state.document(Status::Creating, pid.as_raw());
        let hooks = &self.state.hooks;
        run_all("prestart", &hooks.prestart, &state)?;
        run_all("createRuntime", &hooks.create_runtime, &state)
    }

    /// `createContainer`, in the child: in the container's namespaces,
    /// after its mounts, before pivot_root. The root is still the host's,
    /// so the hook's path resolves there, as the spec wants, and a hook
    /// can reach both the host's files and the container's mounts (CDI's
    /// GPU hooks fix up the libraries mounted into the rootfs here). Also
    /// notes the child's pid as the host sees it, for startContainer,
    /// while the host's /proc is still at /proc.
    pub fn create_container(&self) -> Result<()> {
        let hooks = &self.state.hooks;
        if hooks.create_container.is_empty() && hooks.start_container.is_empty() {
            return Ok(());
        }
        self.host_pid.set(host_pid()?);
        let state = self.state.document(Status::Creating, self.host_pid.get());
        run_all("createContainer", &hooks.create_container, &state)
    }

    /// `startContainer`, in the child once `start` released it: inside the
    /// container (its root, its user, its capabilities), just before the
    /// user's program is exec'd.
    pub fn start_container(&self) -> Result<()> {
        let state = self.state.document(Status::Created, self.host_pid.get());
        run_all("startContainer", &self.state.hooks.start_container, &state)
    }
}

// ANCHOR_END: setup

/// `poststart`: the user's program runs (pid `pid`); failures only warn.
pub fn poststart(state: &State, pid: i32) {
    let document = state.document(Status::Running, pid);
    warn_all("poststart", &state.hooks.poststart, &document);
}

/// `poststop`: the container is gone; failures only warn.
pub fn poststop(state: &State) {
    let document = state.document(Status::Stopped, 0);
    warn_all("poststop", &state.hooks.poststop, &document);
}

/// Our pid as the host sees it. In a new pid namespace getpid(2) says 1,
/// but until pivot_root the host's /proc is still mounted at /proc, and its
/// `self` link names us by the host's number, which is what the state's
/// `pid` means.
fn host_pid() -> Result<i32> {
    let link = std::fs::read_link("/proc/self").context("readlink /proc/self")?;
    link.to_str()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("/proc/self points to {link:?}, not to a pid"))
}

/// Run `hooks` in order; the first failure is the error.
fn run_all(kind: &str, hooks: &[Hook], state: &serde_json::Value) -> Result<()> {
    hooks.iter().try_for_each(|hook| run(kind, hook, state))
}

/// Run `hooks` in order; a failure is a warning and the next one runs.
fn warn_all(kind: &str, hooks: &[Hook], state: &serde_json::Value) {
    for hook in hooks {
        if let Err(e) = run(kind, hook, state) {
            eprintln!("warning: {e:#}; going on, as the OCI spec says");
        }
    }
}

// ANCHOR: run
/// Run one hook with the state on its stdin, killing it (and everything it
/// started) after its timeout.
pub fn run(kind: &str, hook: &Hook, state: &serde_json::Value) -> Result<()> {
    let path = hook.path.display();
    let mut command = Command::new(&hook.path);
    if let Some((argv0, rest)) = hook.args.split_first() {
        command.arg0(argv0).args(rest);
    }
    command
        .env_clear()
        .envs(hook.env.iter().filter_map(|e| e.split_once('=')))
        // stdout and stderr stay ours: a hook's messages go where tincan's go.
        .stdin(Stdio::piped())
        // Its own process group, so that a timeout kills its children too.
        .process_group(0);
    let mut child = command
        .spawn()
        .with_context(|| format!("{kind} hook {path}: spawn"))?;
    if let Some(mut pipe) = child.stdin.take() {
        // The state is far smaller than a pipe's buffer (64 KiB), so this
        // does not wait for the hook to read. A hook may also exit without
        // reading it (EPIPE): that is its business.
        match pipe.write_all(state.to_string().as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e).with_context(|| format!("{kind} hook {path}: write its stdin"));
            }
            _ => {} // dropping the pipe closes it: the hook reads end-of-file
        }
    }
    let timeout = hook.timeout.map(|s| Duration::from_secs(s.into()));
    match wait(&mut child, timeout).with_context(|| format!("{kind} hook {path}: wait"))? {
        Some(status) if status.success() => Ok(()),
        Some(status) => bail!("{kind} hook {path} failed: {}", describe(status)),
        None => bail!(
            "{kind} hook {path} timed out after {}s and was killed",
            hook.timeout.unwrap_or_default()
        ),
    }
}
// ANCHOR_END: run

/// Wait for `child`, at most `timeout`: `None` if it had to be killed.
fn wait(child: &mut std::process::Child, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
    let Some(timeout) = timeout else {
        return Ok(Some(child.wait()?));
    };
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let group = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - Instant::now()));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// "exit status 3", or "killed by signal 9".
fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}
