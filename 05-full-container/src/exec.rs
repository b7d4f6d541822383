//! `tincan exec`: run one more program inside a running container, as
//! `podman exec` asks (setns(2), namespaces(7), cgroups(7); runc-exec(8)).
//!
//! A container is nothing but a set of namespaces and cgroups, so
//! "entering" it means joining them: step 02's [`Sandbox`] with every
//! namespace of the container's first process joined (`/proc/<pid>/ns/*`,
//! [`step02::join`]) instead of new ones, placed into the container's
//! cgroups by the parent while it waits. The pid namespace is entered for
//! the clone itself, so the child is born inside it; the others, the mount
//! namespace among them, are joined by the child, after every host path
//! (the pid file, the process file) was opened by the parent.
//!
//! The new process then gets the same treatment as the container's first
//! process ([`crate::privileges`]): its capability sets, `no_new_privs`,
//! and the container's seccomp filter, before `execve`. `--detach` returns as soon as the
//! program runs; the engine's monitor (conmon, a child subreaper) then
//! inherits it and reaps it.

use std::path::Path;

use anyhow::{Context, Result};
use oci_spec::runtime::{Process, Spec};
use step02::{Namespace, Namespaces, Sandbox};

use crate::config::RunConfig;
use crate::container::write_pid_file;
use crate::explain::Explain;
use crate::state::StateRoot;

/// What `exec` takes besides the container and the process.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExecOptions<'a> {
    /// Write the new process's pid here (`--pid-file`).
    pub pid_file: Option<&'a Path>,
    /// Return once the program runs (`--detach`).
    pub detach: bool,
    /// A terminal, even if the process description has none (`--tty`).
    pub tty: bool,
    /// Send the terminal's master here (`--console-socket`).
    pub console_socket: Option<&'a Path>,
}

// ANCHOR: exec
/// `tincan exec --process P [--pid-file F] [--detach] [--tty
/// [--console-socket S]] ID`: run the OCI process description `P` inside
/// container `ID`. Returns the program's exit status, or 0 at once with
/// `--detach`.
pub fn exec(root: &StateRoot, id: &str, process: &Path, options: ExecOptions) -> Result<i32> {
    let ExecOptions {
        pid_file,
        detach,
        tty,
        console_socket,
    } = options;
    let state = root.load(id)?;
    let init = state
        .init
        .filter(|p| p.is_alive())
        .with_context(|| format!("container {id:?} is not running"))?;
    let bundle = state.bundle.as_deref().with_context(|| {
        format!("container {id:?} was not created from a bundle (`tincan create`)")
    })?;
    // The container's own config.json with the new process in it: the
    // same conversion (and the same refusals: AppArmor...) as for the
    // first process, and the container's seccomp profile.
    let mut config = exec_config(bundle, id, process)?;
    if tty && config.terminal.is_none() {
        config.terminal = Some(Default::default());
    }
    crate::terminal::check(config.terminal.is_some(), console_socket, detach)?;
    if let Some(terminal) = &mut config.terminal {
        terminal.socket = console_socket.map(Path::to_path_buf);
    }
    // No /dev/console bind: that is the first process's, and a mount here
    // would change the container for everyone in it.
    let console = crate::terminal::Console::prepare(config.terminal.as_ref(), false)?;
    let filters = crate::seccomp::compile(&config.seccomp, &config.capabilities.bounding)?;
    let kinds: Namespaces = config.namespaces.iter().map(|n| n.kind).collect();
    let joins = step02::join::open_of(nix::unistd::Pid::from_raw(init.pid), &kinds)?;
    let mut sandbox = joins
        .into_iter()
        .fold(Sandbox::new(Namespaces::none()), Sandbox::join)
        // The container's cgroups, while the child waits: its children
        // and itself are then counted against the container's limits.
        .parent_setup(|pid| {
            for dir in state.cgroups.iter().filter(|d| d.is_dir()) {
                std::fs::write(dir.join("cgroup.procs"), pid.to_string())
                    .with_context(|| format!("join cgroup {}", dir.display()))?;
            }
            Ok(())
        });
    if kinds.contains(Namespace::User) && !config.uid_mappings.is_empty() {
        // We joined the container's user namespace as the host's root, which
        // it does not map: become its root, as its first process did.
        sandbox = sandbox.root_inside();
    }
    let child = sandbox
        .child_setup(|| {
            nix::unistd::chdir(&config.cwd)
                .with_context(|| format!("chdir {}", config.cwd.display()))?;
            crate::terminal::child_side(console.as_ref())?;
            crate::privileges::drop(&config, &filters, Explain(false))
        })
        .spawn_exec(crate::privileges::program(&config)?)?;
    let relay = crate::terminal::hand_master(console)?;
    if let Some(file) = pid_file {
        write_pid_file(file, child.pid().as_raw())?;
    }
    if detach {
        // The engine's monitor (a child subreaper) inherits and reaps it.
        child.detach();
        return Ok(0);
    }
    let exit = child.wait()?;
    if let Some(relay) = relay {
        relay.finish();
    }
    Ok(exit.code())
}
// ANCHOR_END: exec

/// The container's config with `process` as its process.
fn exec_config(bundle: &Path, id: &str, process: &Path) -> Result<RunConfig> {
    let text =
        std::fs::read_to_string(process).with_context(|| format!("read {}", process.display()))?;
    let process: Process = serde_json::from_str(&text)
        .with_context(|| format!("{}: not an OCI process", process.display()))?;
    let path = bundle.join(crate::oci::CONFIG_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let mut spec: Spec =
        serde_json::from_str(&text).with_context(|| format!("{}: malformed", path.display()))?;
    spec.set_process(Some(process));
    crate::oci::convert(&spec, bundle, id).context("tincan exec --process")
}
