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

// ANCHOR: exec
/// `tincan exec --process P [--pid-file F] [--detach] ID`: run the OCI
/// process description `P` inside container `ID`. Returns the program's
/// exit status, or 0 at once with `--detach`.
pub fn exec(
    root: &StateRoot,
    id: &str,
    process: &Path,
    pid_file: Option<&Path>,
    detach: bool,
) -> Result<i32> {
    let state = root.load(id)?;
    let init = state
        .init
        .filter(|p| p.is_alive())
        .with_context(|| format!("container {id:?} is not running"))?;
    let bundle = state.bundle.as_deref().with_context(|| {
        format!("container {id:?} was not created from a bundle (`tincan create`)")
    })?;
    // The container's own config.json with the new process in it: the
    // same conversion (and the same refusals: a terminal, AppArmor...)
    // as for the first process, and the container's seccomp profile.
    let config = exec_config(bundle, id, process)?;
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
            crate::privileges::drop(&config, &filters, Explain(false))
        })
        .spawn_exec(crate::privileges::program(&config)?)?;
    if let Some(file) = pid_file {
        write_pid_file(file, child.pid().as_raw())?;
    }
    if detach {
        // The engine's monitor (a child subreaper) inherits and reaps it.
        child.detach();
        return Ok(0);
    }
    Ok(child.wait()?.code())
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
