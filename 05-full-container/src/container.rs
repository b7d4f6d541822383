//! `tincan run`: every mechanism of steps 02–05 composed, in order.
//!
//! Two processes cooperate, as in step 02. The **parent** (tincan) creates
//! what lives outside the container: the state record, the cgroups (step
//! 03), the overlay directories. The **child** is step 02's [`Sandbox`]:
//! cloned into new namespaces, it waits until the parent has put it in its
//! cgroups, then builds its own view of the world from the inside
//! ([`crate::rootfs`], with step 04's pivot), drops its privileges
//! ([`crate::privileges`]) and becomes the user's program with `execve`.
//!
//! The order inside the child matters: `mount` and `pivot_root` need
//! `CAP_SYS_ADMIN`, which step 5 removes, and the seccomp filter of step 6
//! refuses both; so privileges go last, just before `execve`.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use step02::{Child, Namespace, Namespaces, NsFile, Sandbox};

use crate::config::RunConfig;
use crate::explain::Explain;
use crate::state::{ContainerLock, ProcessId, State, StateRoot, Status};

/// For `tincan create`: the container stops just before `execve` until
/// `tincan start` writes to `exec.fifo` in its state directory, and the
/// monitor reports `ok <pid>` (or `error <why>`) on `ready`.
#[derive(Debug)]
pub struct Gate<'a> {
    /// Where to report that the container is created.
    pub ready: &'a OwnedFd,
    /// The OCI bundle it came from.
    pub bundle: PathBuf,
}

/// The FIFO `tincan start` writes to.
pub const EXEC_FIFO: &str = "exec.fifo";
/// The FIFO `tincan start` then reads: the startContainer hooks' failure,
/// or end-of-file once the user's program was exec'd.
pub const STARTED_FIFO: &str = "started.fifo";

// ANCHOR: run
/// Run `config` to completion and return the container's exit status
/// (128 + signal number if a signal killed it, as shells report it).
pub fn run(config: &RunConfig, root: &StateRoot, explain: Explain) -> Result<i32> {
    run_with(config, root, explain, None)
}

/// [`run`], optionally stopping at a [`Gate`] (OCI `create` + `start`).
pub fn run_with(
    config: &RunConfig,
    root: &StateRoot,
    explain: Explain,
    gate: Option<Gate>,
) -> Result<i32> {
    run_inner(config, root, explain, gate, None)
}

/// `tincan run -d`'s monitor: [`run`] with the container's output in its
/// log ([`crate::monitor::detach`]), reporting `ok <pid>` on `ready` once
/// the program runs; the record stays after it exits, until `tincan rm`.
pub fn run_detached(config: &RunConfig, root: &StateRoot, ready: &OwnedFd) -> Result<i32> {
    run_inner(config, root, Explain(false), None, Some(ready))
}

fn run_inner(
    config: &RunConfig,
    root: &StateRoot,
    explain: Explain,
    gate: Option<Gate>,
    detach: Option<&OwnedFd>,
) -> Result<i32> {
    check_rootless(config)?;
    // Signals sent to tincan (Ctrl-C, kill) go to the container. Caught
    // first, so that one arriving during set-up is forwarded once the
    // container runs instead of killing tincan half-way.
    step01::signals::catch(&step01::signals::FORWARDED)?;
    let filters = crate::seccomp::compile(&config.seccomp, &config.capabilities.bounding)?;
    // Published ports are bound first: a port in use fails with nothing made.
    let listeners = crate::net::bridge::bind_published(&config.net)?;
    // `--net container:ID`: that container's namespace, opened and checked now.
    let pod = crate::net::pod::open(root, &config.net.mode, explain)?;
    let with_hosts;
    let config = match crate::net::hosts::with_mount(config, root) {
        Some(c) => {
            with_hosts = c;
            &with_hosts
        }
        None => config,
    };
    // 0. the state record: from here on, Drop (or the next tincan) cleans up.
    let mut res = Resources::claim(root, config, gate.as_ref().map(|g| g.bundle.clone()))?;
    explain.step("0", format_args!("state: {} (removed when the container ends, or by the next tincan if this one is killed)", res.dir().join("state.json").display()));
    if detach.is_some() {
        let dir = res.dir();
        crate::monitor::detach::redirect_output(&mut res.state, &dir)?;
    }
    // 2. cgroups, created before the child so that it never runs unlimited.
    let notes = res.create_cgroups(config)?;
    // 1. the network's host side: bridge, address lease, NAT, /etc/hosts.
    res.prepare_network(config, explain)?;
    // 3. the overlay's directories (it is mounted inside, by the child).
    if let Some(layer) = &res.state.overlay_dir {
        crate::overlay::make_layer_dirs(layer)?;
    }
    let fifos = gate.as_ref().map(|_| res.make_gate_fifos()).transpose()?;
    // 1. the child: step 02's Sandbox, with everything above and below.
    let mut joins = open_joins(config)?;
    joins.extend(pod);
    // The terminal's socket (an engine's, or ours): connected before the clone.
    let console = crate::terminal::Console::prepare(config.terminal.as_ref(), true)?;
    let program = crate::privileges::program(config)?;
    let layer = res.state.overlay_dir.clone();
    let born_in = res.cgroup_dir_fd();
    // The OCI hooks of create and start, from a copy of the record (`res`
    // itself is lent to the parent's set-up).
    let hooks = &crate::hooks::Setup::new(&res.state);
    let sandbox = sandbox(config, joins, gate.is_none(), born_in)
        .parent_setup(|pid| res.enter(config, pid, &notes, born_in.is_some(), explain))
        .parent_setup(|pid| hooks.create_runtime(pid))
        .child_setup(|| {
            crate::rootfs::enter(config, layer.as_deref(), explain, || {
                hooks.create_container()
            })
        })
        // After the pivot (the container's /dev/ptmx), while it may still mount.
        .child_setup(|| crate::terminal::child_side(console.as_ref()))
        .child_setup(|| crate::privileges::drop(config, &filters, explain))
        .child_setup(|| explain.exec_line(config, &program));
    let child = match fifos {
        Some((exec, started)) => sandbox.gate(move || {
            wait_for_start(exec)?;
            report_started(&started, hooks.start_container())
        }),
        None => sandbox.child_setup(|| hooks.start_container()),
    }
    .spawn_exec(program.clone())?;
    // The master: to the engine before `create` returns, or relayed by us.
    let relay = crate::terminal::hand_master(console)?;
    if let Some(gate) = &gate {
        return hand_over(res, child, gate);
    }
    res.set_status(Status::Running)?;
    crate::hooks::poststart(&res.state, child.pid().as_raw());
    if let Some(ready) = detach {
        crate::monitor::detach::report_running(ready, &res.state)?;
    }
    if let Some(net) = &res.state.net {
        listeners.into_iter().for_each(|l| l.serve(net.address));
    }
    let exit = child.wait_forwarding()?;
    if let Some(relay) = relay {
        relay.finish();
    }
    res.state.status = Status::Stopped;
    crate::monitor::exited(&mut res.state, Some(exit.code()));
    explain.step(
        "8",
        format_args!(
            "exit status {}; removing cgroups, overlay layer and state",
            exit.code()
        ),
    );
    Ok(exit.code())
}
// ANCHOR_END: run

/// The child of step 02, in the container's namespaces: new ones, and
/// those a bundle names by path. The cgroup namespace is made by the child
/// itself once it sits in its cgroup, so that its cgroup is its root `/`.
fn sandbox(
    config: &RunConfig,
    joins: Vec<NsFile>,
    die_with_parent: bool,
    born_in: Option<RawFd>,
) -> Sandbox<'_> {
    let new: Namespaces = config
        .namespaces
        .iter()
        .filter(|n| n.path.is_none() && n.kind != Namespace::Cgroup)
        .map(|n| n.kind)
        .collect();
    let mut sandbox = joins.into_iter().fold(Sandbox::new(new), Sandbox::join);
    if let Some(hostname) = &config.hostname {
        sandbox = sandbox.hostname(hostname);
    }
    if !config.uid_mappings.is_empty() {
        // A bundle's user namespace, as root: its maps are written as they
        // are, and `setgroups` stays allowed.
        sandbox = sandbox.id_maps(step02::userns::IdMaps {
            uids: config.uid_mappings.clone(),
            gids: config.gid_mappings.clone(),
        });
    }
    if die_with_parent {
        // `tincan run`: if tincan is killed, so is the container. Not after
        // `create`, whose process exits on purpose and hands it over.
        sandbox = sandbox.die_with_parent();
    }
    if let Some(dir) = born_in {
        // cgroup v2: born in its cgroup (step 02's clone3), no move at all.
        sandbox = sandbox.into_cgroup(dir);
    }
    let new_cgroup_ns = config
        .namespaces
        .iter()
        .any(|n| n.kind == Namespace::Cgroup && n.path.is_none());
    if new_cgroup_ns {
        sandbox = sandbox.child_setup(|| {
            nix::sched::unshare(Namespace::Cgroup.clone_flag()).context("unshare(CLONE_NEWCGROUP)")
        });
    }
    sandbox
}

/// The namespaces a bundle names by path, opened and checked (step 02)
/// before anything is cloned.
fn open_joins(config: &RunConfig) -> Result<Vec<NsFile>> {
    config
        .namespaces
        .iter()
        .filter_map(|n| n.path.as_deref().map(|path| (n.kind, path)))
        .map(|(kind, path)| {
            step02::join::open_checked(kind, path)
                .with_context(|| format!("linux.namespaces {}", kind.proc_name()))
        })
        .collect()
}

/// The gate of `create`: block until `tincan start` writes a byte.
fn wait_for_start(fifo: OwnedFd) -> Result<()> {
    // ANCHOR: lab-05-start-gate-wait
    let mut byte = [0u8; 1];
    nix::unistd::read(&fifo, &mut byte).context("wait on exec.fifo for `tincan start`")?;
    Ok(())
    // ANCHOR_END: lab-05-start-gate-wait
}

/// Tell `tincan start` through `started.fifo` how the startContainer
/// hooks went: a failure as its message (the child then exits), success as
/// nothing at all: the FIFO is closed on `execve` (O_CLOEXEC), and `start`
/// reads end-of-file once the user's program runs.
fn report_started(started: &OwnedFd, hooks: Result<()>) -> Result<()> {
    if let Err(e) = &hooks {
        let _ = nix::unistd::write(started, format!("{e:#}").as_bytes());
    }
    hooks
}

/// Rootless, an unprivileged user has no cgroups on this kind of host,
/// and only uid 0 is mapped in its user namespace.
fn check_rootless(config: &RunConfig) -> Result<()> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let limits = &config.limits;
    if limits.memory.is_some() || limits.cpus.is_some() || limits.pids.is_some() {
        bail!(
            "--memory, --cpus and --pids-limit need cgroups, which need root: run with sudo, or drop them"
        );
    }
    if config.uid != 0 || config.gid != 0 {
        bail!("--user needs root: a rootless container maps only your own uid, as uid 0");
    }
    Ok(())
}

// ANCHOR: hand_over
/// OCI `create`: the engine must become the container's parent. Its
/// monitor (podman's conmon) is a "child subreaper" (prctl(2),
/// PR_SET_CHILD_SUBREAPER): when we exit, the container's first process is
/// re-parented to it, and only a parent's waitpid(2) learns the exit
/// status. So we leave now, creating nothing more and removing nothing:
/// from here the container's own first process is the owner in the state
/// record, and the container stays until the engine calls `tincan delete`,
/// which removes what it owns (as runc).
fn hand_over(mut res: Resources<'_>, child: Child, gate: &Gate) -> Result<i32> {
    let pid = child.detach();
    res.state.owner = res
        .state
        .init
        .context("the container has no first process")?;
    res.set_status(Status::Created)?;
    nix::unistd::write(gate.ready, format!("ok {pid}\n").as_bytes()).context("report created")?;
    // Skip the guard's clean-up (Drop): the container lives on.
    std::mem::forget(res);
    Ok(0)
}
// ANCHOR_END: hand_over

/// Everything outside the container that must go when it ends. Drop
/// removes it all, so an error at any step leaves nothing behind.
struct Resources<'a> {
    root: &'a StateRoot,
    state: State,
    cgroup: Option<Box<dyn step03::cgroup::Cgroup>>,
    slirp: Option<crate::net::slirp::Slirp>,
    // Held for the container's whole life under this tincan: other
    // commands' cleanups leave a locked container alone. Last field, so
    // it is released after Drop's clean-up.
    _lock: ContainerLock,
}

impl<'a> Resources<'a> {
    /// Claim the id: create the state directory and the first record.
    fn claim(root: &'a StateRoot, config: &RunConfig, bundle: Option<PathBuf>) -> Result<Self> {
        let dir = root.dir(&config.id);
        let state = State {
            oci_version: "1.0.2".into(),
            id: config.id.clone(),
            status: Status::Creating,
            owner: ProcessId::of(std::process::id() as i32)?,
            init: None,
            bundle,
            rootfs: config.rootfs.clone(),
            cgroups: Vec::new(),
            overlay_dir: config.overlay.then(|| dir.join("layer")),
            hooks: config.hooks.clone(),
            annotations: config.annotations.clone(),
            cgroups_path: config.cgroups_path.clone(),
            net: None,
            monitor: Some(crate::monitor::Record {
                network_of: match &config.net.mode {
                    crate::net::NetMode::Container(id) => Some(id.clone()),
                    _ => None,
                },
                ..crate::monitor::Record::new(&config.args)
            }),
        };
        let lock = root.create(&state)?;
        Ok(Resources {
            root,
            state,
            cgroup: None,
            slirp: None,
            _lock: lock,
        })
    }

    fn dir(&self) -> PathBuf {
        self.root.dir(&self.state.id)
    }

    /// cgroup v2: the container's cgroup directory, open, for the child to
    /// be born in (`CLONE_INTO_CGROUP`). v1 has no such thing.
    fn cgroup_dir_fd(&self) -> Option<RawFd> {
        let cgroup = self.cgroup.as_ref()?;
        cgroup.dir_fd().map(|fd| fd.as_raw_fd())
    }

    fn set_status(&mut self, status: Status) -> Result<()> {
        self.state.status = status;
        self.root.save(&self.state)
    }

    /// The cgroup (step 03) and the device allowlist, in every hierarchy.
    fn create_cgroups(&mut self, config: &RunConfig) -> Result<Vec<String>> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(Vec::new());
        }
        // Write down where the cgroups will be *before* creating them: a
        // kill -9 between the mkdir and the next save must not leak one.
        let relative = cgroup_relative_path(config);
        self.state.cgroups = step03::cgroup::planned_dirs(&relative);
        self.root.save(&self.state)?;
        let (cgroup, notes) = match &config.cgroups_path {
            None => step03::cgroup::create(&config.id, &config.limits)?,
            Some(path) => step03::cgroup::create_at(path, &config.limits)?,
        };
        self.state.cgroups = cgroup.dirs();
        let cgroup = self.cgroup.insert(cgroup);
        self.root.save(&self.state)?;
        // The device allowlist: v1's devices controller, or on v2 an eBPF
        // program attached to the one directory.
        // (v2 has no devices files: its one directory is no devices
        // controller's, so the version decides, not the directory.)
        let devices = cgroup.controller_dir(step03::cgroup::Controller::Devices);
        match (cgroup.version(), devices) {
            (step03::Version::V2, _) => {
                step03::devices::attach_v2(&cgroup.dirs()[0], &config.devices)?
            }
            (step03::Version::V1, Some(dir)) => step03::devices::allow_v1(&dir, &config.devices)?,
            (step03::Version::V1, None) => bail!(
                "no way to enforce the device allowlist here (no v1 devices controller, no cgroup v2)"
            ),
        }
        Ok(notes)
    }

    /// `--net bridge`: the host's side, recorded before it is made.
    fn prepare_network(&mut self, config: &RunConfig, explain: Explain) -> Result<()> {
        if config.net.mode != crate::net::NetMode::Bridge {
            return Ok(());
        }
        let hostname = config.hostname.as_deref().unwrap_or(&config.id);
        let (root, state) = (self.root, &mut self.state);
        crate::net::bridge::prepare(
            root,
            &config.net,
            &config.id,
            hostname,
            |net| {
                state.net = Some(net.clone());
                root.save(state)
            },
            explain,
        )?;
        Ok(())
    }

    /// `exec.fifo` and `started.fifo`, the gate of `create` and the
    /// answer to `start`.
    fn make_gate_fifos(&self) -> Result<(OwnedFd, OwnedFd)> {
        Ok((self.make_fifo(EXEC_FIFO)?, self.make_fifo(STARTED_FIFO)?))
    }

    /// A FIFO in the state directory, opened read-write (so the open does
    /// not wait for the other side); the child inherits it.
    fn make_fifo(&self, name: &str) -> Result<OwnedFd> {
        let path = self.dir().join(name);
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600))
            .with_context(|| format!("mkfifo {}", path.display()))?;
        let flags = nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC;
        nix::fcntl::open(&path, flags, Mode::empty())
            .with_context(|| format!("open {}", path.display()))
    }

    /// The parent's set-up of the cloned child, while it waits: record it,
    /// put it into its cgroups.
    fn enter(
        &mut self,
        config: &RunConfig,
        pid: Pid,
        notes: &[String],
        born_in_cgroup: bool,
        explain: Explain,
    ) -> Result<()> {
        self.state.init = Some(ProcessId::of(pid.as_raw())?);
        explain.clone_lines(config, pid);
        match &self.cgroup {
            // Every hierarchy's directory, devices and freezer included.
            Some(cgroup) if !born_in_cgroup => cgroup.add(pid)?,
            _ => {}
        }
        if let Some(net) = &self.state.net {
            crate::net::bridge::attach(net, pid, explain)?;
        }
        if config.net.mode == crate::net::NetMode::Slirp4netns {
            let log = self.dir().join("slirp4netns.log");
            self.slirp = Some(crate::net::slirp::start(pid, &log, explain)?);
        }
        explain.cgroup_line(config, self.cgroup.is_some(), notes);
        self.root.save(&self.state)
    }
}

impl Drop for Resources<'_> {
    fn drop(&mut self) {
        drop(self.slirp.take());
        if let Some(mut cgroup) = self.cgroup.take() {
            let _ = cgroup.remove();
        }
        // A detached container that ran keeps its record and log.
        let result =
            if self.state.status == Status::Stopped && crate::monitor::keeps_record(&self.state) {
                crate::monitor::release(self.root, self.state.clone())
            } else {
                self.root.destroy(&self.state)
            };
        if let Err(e) = result {
            eprintln!("warning: {e:#}");
        }
        // The spec's last step, also after a failed create: poststop.
        crate::hooks::poststop(&self.state);
    }
}

/// The container's cgroup, relative to each hierarchy's root: `tincan/<id>`,
/// or the bundle's `linux.cgroupsPath` without its leading `/`.
pub fn cgroup_relative_path(config: &RunConfig) -> PathBuf {
    match &config.cgroups_path {
        Some(path) => path.strip_prefix("/").unwrap_or(path).to_path_buf(),
        None => Path::new("tincan").join(&config.id),
    }
}

/// Write the pid file podman asks for.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    std::fs::write(path, pid.to_string()).with_context(|| format!("write {}", path.display()))
}
