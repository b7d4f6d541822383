//! `tincan exec`: run one more program inside a running container, as
//! `podman exec` asks (setns(2), namespaces(7), cgroups(7); runc-exec(8)).
//!
//! A container is nothing but a set of namespaces and cgroups, so
//! "entering" it means joining them: open `/proc/<pid>/ns/<kind>` of its
//! first process, call `setns` on each, write our pid into its cgroups'
//! `cgroup.procs`. Two details make the order matter:
//!
//! - `setns` into a **pid** namespace changes only where our *children*
//!   are born, never our own pid: so after joining we `fork`, and the child
//!   is the process that runs inside.
//! - `setns` into a **mount** namespace moves our root directory to the
//!   container's: every host path (the pid file, the process file) must be
//!   opened before it. So the mount namespace is joined last.
//!
//! The new process then gets the same treatment as the container's first
//! process: its capability sets, `no_new_privs`, and the container's
//! seccomp filter, before `execve`. `--detach` returns as soon as the
//! program runs; the engine's monitor (conmon, a child subreaper) then
//! inherits it and reaps it.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use nix::fcntl::{OFlag, open};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, pipe2};
use oci_spec::runtime::{Process, Spec};

use crate::config::RunConfig;
use crate::seccomp::Filters;
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
    let filters = crate::seccomp::compile(&config.seccomp)?;

    // Everything on the host side is opened now, before setns(mnt).
    let mut pid_out = pid_file
        .map(|f| std::fs::File::create(f).with_context(|| format!("create {}", f.display())))
        .transpose()?;
    let mut namespaces = Vec::new();
    for ns in &config.namespaces {
        let path = format!("/proc/{}/ns/{}", init.pid, ns.kind);
        let fd = open(
            path.as_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("open {path}"))?;
        namespaces.push((ns.kind, ns.flag, fd));
    }
    // mnt last (see the module comment).
    namespaces.sort_by_key(|(kind, _, _)| *kind == "mnt");

    // 1. cgroups: our children inherit them.
    for dir in state.cgroups.iter().filter(|d| d.is_dir()) {
        std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string())
            .with_context(|| format!("join cgroup {}", dir.display()))?;
    }
    // 2. namespaces.
    for (kind, flag, fd) in &namespaces {
        nix::sched::setns(fd, CloneFlags::from_bits_retain(*flag))
            .with_context(|| format!("setns into the container's {kind} namespace"))?;
    }
    // 3. fork: the child is born in the container's pid namespace.
    let (err_read, err_write) = pipe2(OFlag::O_CLOEXEC).context("pipe2")?;
    // SAFETY: tincan is single-threaded; the child only sets up and execs.
    match unsafe { fork() }.context("fork")? {
        ForkResult::Child => {
            drop(err_read);
            let Err(e) = become_program(&config, &filters);
            let _ = nix::unistd::write(&err_write, format!("{e:#}").as_bytes());
            // SAFETY: _exit skips the parent's atexit handlers and buffers.
            unsafe { libc::_exit(127) }
        }
        ForkResult::Parent { child } => {
            drop(err_write);
            if let Some(file) = pid_out.as_mut() {
                write!(file, "{child}").context("write the pid file")?;
            }
            // End of file: execve closed the pipe, the program runs.
            let mut message = String::new();
            std::fs::File::from(err_read)
                .read_to_string(&mut message)
                .context("read the child's error pipe")?;
            if !message.is_empty() {
                let _ = waitpid(child, None);
                bail!("{message}");
            }
            if detach {
                return Ok(0);
            }
            loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                    Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(128 + signal as i32),
                    Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e).context("waitpid"),
                }
            }
        }
    }
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

/// In the forked child, already inside: privileges, seccomp, `execve`. The
/// same steps 5 to 7 as the container's first process (`container.rs`).
fn become_program(config: &RunConfig, filters: &Filters) -> Result<std::convert::Infallible> {
    nix::unistd::chdir(&config.cwd).with_context(|| format!("chdir {}", config.cwd.display()))?;
    for r in &config.rlimits {
        let limit = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        // SAFETY: setrlimit reads one rlimit struct that lives on our stack.
        if unsafe { libc::setrlimit(r.resource as _, &limit) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("setrlimit {}", r.name));
        }
    }
    if !config.uid_mappings.is_empty() {
        // We joined the container's user namespace as the host's root, which
        // it does not map: become its root, as its first process did.
        crate::namespaces::become_mapped_root()?;
    }
    crate::capabilities::drop_bounding(&config.capabilities.bounding)?;
    if config.uid != 0 || config.gid != 0 || !config.additional_gids.is_empty() {
        crate::capabilities::become_user(config.uid, config.gid, &config.additional_gids)?;
    }
    crate::capabilities::apply(&config.capabilities)?;
    if config.no_new_privileges {
        crate::capabilities::set_no_new_privs()?;
    }
    filters.install()?;
    if let Some(mask) = config.umask {
        nix::sys::stat::umask(Mode::from_bits_truncate(mask));
    }
    let program = crate::container::find_program(&config.args[0], &config.env)?;
    crate::container::execve(&program, &config.args, &config.env)
}
