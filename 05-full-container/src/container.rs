//! `tincan run`: every mechanism of steps 02–05 composed, in order
//! (clone(2), pivot_root(2), mount(2), capabilities(7), seccomp(2), execve(2)).
//!
//! Two processes cooperate. The **parent** (tincan) creates what lives
//! outside the container: the state record, the cgroups, the overlay
//! directories. The **child** is created by `clone` directly in new
//! namespaces, waits until the parent has put it in its cgroups, then
//! builds its own view of the world from the inside — overlay, mounts,
//! `pivot_root`, masked paths — drops its privileges, installs the seccomp
//! filter and becomes the user's program with `execve`.
//!
//! The order inside the child matters: `mount` and `pivot_root` need
//! `CAP_SYS_ADMIN`, which step 5 removes, and the seccomp filter of step 6
//! refuses both; so privileges go last, just before `execve`.
//!
//! Errors in the child travel to the parent through a pipe that `execve`
//! closes (`O_CLOEXEC`): if the parent reads end-of-file, the program
//! started; otherwise it reads why not, and prints it as its own error.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::{Context, Result, bail};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::CloneFlags;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, sigaction};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{chdir, pipe2, pivot_root, sethostname};

use crate::config::{IdMap, MountSpec, RunConfig};
use crate::seccomp::Filters;
use crate::state::{ProcessId, State, StateRoot, Status};

/// Prints the `--explain` lines on stderr (stdout belongs to the container).
#[derive(Debug, Clone, Copy)]
pub struct Explain(pub bool);

impl Explain {
    fn step(self, n: &str, what: impl std::fmt::Display) {
        if self.0 {
            eprintln!("tincan: {n:>2}. {what}");
        }
    }
}

/// Everything outside the container that must go when it ends. Drop
/// removes it all, so an error at any step leaves nothing behind.
struct Resources<'a> {
    root: &'a StateRoot,
    state: State,
    cgroup: Option<Box<dyn step03::cgroup::Cgroup>>,
}

impl Drop for Resources<'_> {
    fn drop(&mut self) {
        if let Some(mut cgroup) = self.cgroup.take() {
            let _ = cgroup.remove();
        }
        if let Err(e) = self.root.destroy(&self.state) {
            eprintln!("warning: {e:#}");
        }
        step03::cgroup::remove_parent_if_empty(&Path::new(crate::devices::V1_MOUNT).join("tincan"));
    }
}

static FORWARD: AtomicI32 = AtomicI32::new(0);

extern "C" fn remember_signal(signal: libc::c_int) {
    // Async-signal-safe: only store the number; the main loop forwards it.
    FORWARD.store(signal, Ordering::SeqCst);
}

// ANCHOR: run
/// Run `config` to completion and return the container's exit status
/// (128 + signal number if a signal killed it, as shells report it).
pub fn run(config: &RunConfig, root: &StateRoot, explain: Explain) -> Result<i32> {
    run_with(config, root, explain, None)
}

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

/// [`run`], optionally stopping at a [`Gate`] (OCI `create` + `start`).
pub fn run_with(
    config: &RunConfig,
    root: &StateRoot,
    explain: Explain,
    gate: Option<Gate>,
) -> Result<i32> {
    let rootless = !nix::unistd::geteuid().is_root();
    if rootless {
        // An unprivileged user cannot create cgroups on this kind of host,
        // and only uid 0 is mapped in its user namespace.
        if config.limits.memory_bytes.is_some()
            || config.limits.cpu_quota.is_some()
            || config.limits.pids.is_some()
        {
            bail!(
                "--memory, --cpus and --pids-limit need cgroups, which need root: run with sudo, or drop them"
            );
        }
        if config.uid != 0 || config.gid != 0 {
            bail!("--user needs root: a rootless container maps only your own uid, as uid 0");
        }
    }
    // Forward the signals people send to tincan (Ctrl-C, kill) to the
    // container. Installed first, so that one arriving during set-up is
    // remembered and forwarded once the container runs, instead of killing
    // tincan half-way (the guards would clean up, but the container's
    // program would never see it).
    let action = SigAction::new(
        SigHandler::Handler(remember_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        // SAFETY: the handler only stores an integer in an atomic.
        unsafe { sigaction(signal, &action) }.context("sigaction")?;
    }
    let filters = crate::seccomp::compile(&config.seccomp)?;
    let me = ProcessId::of(std::process::id() as i32)?;
    let dir = root.dir(&config.id);
    let mut res = Resources {
        root,
        state: State {
            oci_version: "1.0.2".into(),
            id: config.id.clone(),
            status: Status::Creating,
            owner: me,
            init: None,
            bundle: gate.as_ref().map(|g| g.bundle.clone()),
            rootfs: config.rootfs.clone(),
            cgroups: Vec::new(),
            overlay_dir: config.overlay.then(|| dir.join("layer")),
            cgroups_path: config.cgroups_path.clone(),
        },
        cgroup: None,
    };
    root.create(&res.state)?;
    if gate.is_some() {
        nix::unistd::mkfifo(&dir.join(EXEC_FIFO), Mode::from_bits_truncate(0o600))
            .with_context(|| format!("mkfifo {}", dir.join(EXEC_FIFO).display()))?;
    }
    explain.step("0", format_args!("state: {} (removed when the container ends, or by the next tincan if this one is killed)", dir.join("state.json").display()));

    // 2. cgroups, created before the child so that it never runs unlimited.
    let mut notes = Vec::new();
    if !rootless {
        let limits = step03::limits::Limits {
            memory: config.limits.memory_bytes.map(step03::limits::Limit::Value),
            cpus: config
                .limits
                .cpu_quota
                .map(|(q, p)| step03::limits::Cpus::Fraction(q as f64 / p as f64)),
            pids: config
                .limits
                .pids
                .map(|n| step03::limits::Limit::Value(n as u64)),
            ..Default::default()
        };
        // Write down where the cgroups will be *before* creating them: a
        // kill -9 between the mkdir and the next save must not leak one.
        // Where: tincan/<id>, or the path the engine chose (podman:
        // /libpod_parent/libpod-<id>), in every hierarchy.
        let relative = cgroup_relative_path(config);
        res.state.cgroups = planned_cgroups(&relative);
        root.save(&res.state)?;
        let (cgroup, cgroup_notes) = match &config.cgroups_path {
            None => step03::cgroup::create(&config.id, &limits)?,
            Some(path) => step03::cgroup::create_at(path, &limits)?,
        };
        notes = cgroup_notes;
        res.state.cgroups = cgroup.dirs();
        res.cgroup = Some(cgroup);
        if crate::devices::v1_available() {
            res.state
                .cgroups
                .push(Path::new(crate::devices::V1_MOUNT).join(&relative));
            root.save(&res.state)?;
            crate::devices::create_v1_at(&relative, &config.limits.devices)?;
            // The freezer, for `tincan pause` (on v2, cgroup.freeze is in
            // the one directory already).
            if Path::new(crate::lifecycle::FREEZER_V1).is_dir() {
                let freezer = Path::new(crate::lifecycle::FREEZER_V1).join(&relative);
                res.state.cgroups.push(freezer.clone());
                root.save(&res.state)?;
                step03::cgroup::make_dir_in_parent(
                    freezer
                        .parent()
                        .unwrap_or(Path::new(crate::lifecycle::FREEZER_V1)),
                    &freezer,
                )?;
            }
        } else if let Some(dir) = res.state.cgroups.first().filter(|_| {
            res.cgroup
                .as_ref()
                .is_some_and(|c| c.version() == step03::Version::V2)
        }) {
            // cgroup v2: the allowlist is an eBPF program attached to the cgroup.
            crate::devices::attach_v2(dir, &config.limits.devices)?;
        } else {
            bail!(
                "no way to enforce the device allowlist here (no v1 devices controller, no cgroup v2)"
            );
        }
    }
    root.save(&res.state)?;
    // 3. overlay directories; the mount itself happens inside the child's
    // mount namespace, so the host never sees it and it vanishes with it.
    if let Some(layer) = &res.state.overlay_dir {
        for sub in ["upper", "work", "merged"] {
            std::fs::create_dir_all(layer.join(sub))
                .with_context(|| format!("mkdir {}", layer.join(sub).display()))?;
        }
    }

    // 1. the child, in new namespaces.
    let (go_read, go_write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    let (err_read, err_write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    let flags = config
        .namespaces
        .iter()
        .filter(|n| n.path.is_none())
        .fold(CloneFlags::empty(), |f, n| {
            f | CloneFlags::from_bits_retain(n.flag)
        });
    // Namespaces the bundle names by path are opened (and checked) here,
    // on the host side; the child inherits the descriptors and joins them.
    let joined = crate::namespaces::open_all(&config.namespaces)?;
    let mut stack = vec![0u8; 1 << 20];
    let child_config = config.clone();
    let layer = res.state.overlay_dir.clone();
    let fifo = gate.as_ref().map(|_| dir.join(EXEC_FIFO));
    let (go_ref, err_ref, joined_ref) = (&go_read, &err_write, &joined);
    let go_write_fd = std::os::fd::AsRawFd::as_raw_fd(&go_write);
    let child_fn = Box::new(move || {
        // The child has a copy of every descriptor, the write end of its own
        // start pipe included. Close that copy first: if tincan dies before
        // writing, the child's read then sees end-of-file and the child exits.
        // PR_SET_PDEATHSIG alone can come too late (tincan may die between
        // clone and prctl), and the child would wait on the pipe forever.
        let _ = nix::unistd::close(go_write_fd);
        let code = child(
            &child_config,
            layer.as_deref(),
            &filters,
            joined_ref,
            (go_ref, err_ref),
            fifo.as_deref(),
            explain,
        );
        // Only reached on error: report it and exit.
        code as isize
    });
    // A joined pid namespace is entered by us, for this clone only.
    let pid_return = crate::namespaces::enter_pid_for_children(&joined)?;
    // SAFETY: the child runs `child_fn` on its own stack, in a copy of this
    // single-threaded process; it either execs or exits, never returns here.
    let pid = unsafe { nix::sched::clone(child_fn, &mut stack, flags, Some(libc::SIGCHLD)) }
        .with_context(|| format!("clone({flags:?})"));
    drop(pid_return);
    let pid = pid?;
    drop(err_write);
    res.state.init = Some(ProcessId::of(pid.as_raw())?);
    explain.step(
        "1",
        format_args!(
            "clone: pid {} in new {} namespaces{}",
            step01::report::measured(pid),
            config
                .namespaces
                .iter()
                .filter(|n| n.path.is_none())
                .map(|n| n.kind)
                .collect::<Vec<_>>()
                .join(", "),
            joined
                .iter()
                .map(|n| format!("; joins {} {}", n.kind, n.path.display()))
                .collect::<String>()
        ),
    );
    if let Some(cgroup) = &res.cgroup {
        cgroup.add(pid)?;
    }
    for dir in res.state.cgroups.iter().filter(|d| {
        d.starts_with(crate::devices::V1_MOUNT) || d.starts_with(crate::lifecycle::FREEZER_V1)
    }) {
        std::fs::write(dir.join("cgroup.procs"), pid.to_string())
            .with_context(|| format!("add {pid} to {}", dir.display()))?;
    }
    // ANCHOR: id_maps
    if !config.uid_mappings.is_empty() {
        // A bundle's user namespace, as root: we may map any host ids, so
        // the bundle's maps are written as they are, and `setgroups` stays
        // allowed (only an unprivileged writer must deny it first).
        write_id_maps(pid, &config.uid_mappings, &config.gid_mappings, false)?;
        explain.step(
            "1",
            format_args!(
                "user namespace: uid_map {}; gid_map {}",
                describe_maps(&config.uid_mappings),
                describe_maps(&config.gid_mappings)
            ),
        );
    }
    // ANCHOR_END: id_maps
    if rootless {
        // User namespace: our uid (and gid) become 0 inside, and nothing
        // else is mapped. `setgroups` must be denied before a gid_map can be
        // written by an unprivileged process (user_namespaces(7)).
        let uid = nix::unistd::geteuid();
        let gid = nix::unistd::getegid();
        let one = |host: u32| {
            vec![IdMap {
                container: 0,
                host,
                size: 1,
            }]
        };
        write_id_maps(pid, &one(uid.as_raw()), &one(gid.as_raw()), true)?;
        explain.step(
            "1",
            format_args!(
                "user namespace: uid {uid} and gid {gid} are 0 inside; nothing else is mapped"
            ),
        );
        explain.step("2", "cgroup: none (rootless: this host gives unprivileged users no cgroups), no device allowlist");
    } else {
        explain.step("2", format_args!(
        "cgroup tincan/{}, entered before the child runs anything: memory={} cpus={} pids={} devices=Docker's allowlist ({} rules){}",
        config.id,
        config.limits.memory_bytes.map_or("max".into(), step01::report::bytes),
        config.limits.cpu_quota.map_or("max".into(), |(q, p)| format!("{}", q as f64 / p as f64)),
        config.limits.pids.map_or("max".into(), |n| n.to_string()),
        config.limits.devices.len(),
        notes.iter().map(|n| format!("; {n}")).collect::<String>(),
    ));
    }

    root.save(&res.state)?;
    // Let the child go on, then learn whether its set-up succeeded.
    nix::unistd::write(&go_write, b"g").context("write to the child's start pipe")?;
    drop(go_write);
    let mut message = String::new();
    std::fs::File::from(err_read)
        .read_to_string(&mut message)
        .context("read the child's error pipe")?;
    if !message.is_empty() {
        let _ = waitpid(pid, None);
        bail!("{message}");
    }
    // ANCHOR: hand_over
    if let Some(gate) = &gate {
        // OCI `create`: the engine must become the container's parent. Its
        // monitor (podman's conmon) is a "child subreaper" (prctl(2),
        // PR_SET_CHILD_SUBREAPER): when we exit, the container's first
        // process is re-parented to it, and only a parent's waitpid(2)
        // learns the exit status. So we leave now, creating nothing more and
        // removing nothing: from here the container's own first process is
        // the owner in the state record, and the container stays until the
        // engine calls `tincan delete`, which removes what it owns (as runc).
        res.state.status = Status::Created;
        res.state.owner = res
            .state
            .init
            .context("the container has no first process")?;
        root.save(&res.state)?;
        nix::unistd::write(gate.ready, format!("ok {pid}\n").as_bytes())
            .context("report created")?;
        // Skip the guards' clean-up (Drop): the container lives on.
        std::mem::forget(res);
        return Ok(0);
    }
    // ANCHOR_END: hand_over
    {
        res.state.status = Status::Running;
        root.save(&res.state)?;
    }

    let status = loop {
        let signal = FORWARD.swap(0, Ordering::SeqCst);
        if let Ok(signal) = Signal::try_from(signal) {
            let _ = kill(pid, signal);
        }
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => break code,
            Ok(WaitStatus::Signaled(_, signal, _)) => break 128 + signal as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue, // forwarded at the top
            Err(e) => return Err(e).context("waitpid"),
        }
    };
    res.state.status = Status::Stopped;
    explain.step(
        "8",
        format_args!("exit status {status}; removing cgroups, overlay layer and state"),
    );
    Ok(status)
}
// ANCHOR_END: run

/// Write the user namespace's maps of process `pid` from outside
/// (user_namespaces(7)): the child waits on its start pipe meanwhile, because
/// until its uid_map exists its ids are unmapped and it can do almost
/// nothing. Each map may be written once.
fn write_id_maps(
    pid: nix::unistd::Pid,
    uids: &[IdMap],
    gids: &[IdMap],
    deny_setgroups: bool,
) -> Result<()> {
    let write = |file: &str, text: String| {
        std::fs::write(format!("/proc/{pid}/{file}"), &text)
            .with_context(|| format!("write {:?} to /proc/{pid}/{file}", text.trim_end()))
    };
    let lines = |maps: &[IdMap]| {
        maps.iter()
            .map(|m| format!("{} {} {}\n", m.container, m.host, m.size))
            .collect::<String>()
    };
    write("uid_map", lines(uids))?;
    if deny_setgroups {
        write("setgroups", "deny".into())?;
    }
    write("gid_map", lines(gids))
}

/// `0 -> 100000 (65536 ids)`, for --explain.
fn describe_maps(maps: &[IdMap]) -> String {
    maps.iter()
        .map(|m| format!("{} -> {} ({} ids)", m.container, m.host, m.size))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The container's cgroup, relative to each hierarchy's root: `tincan/<id>`,
/// or the bundle's `linux.cgroupsPath` without its leading `/`.
pub fn cgroup_relative_path(config: &RunConfig) -> PathBuf {
    match &config.cgroups_path {
        Some(path) => path.strip_prefix("/").unwrap_or(path).to_path_buf(),
        None => Path::new("tincan").join(&config.id),
    }
}

/// Every directory step 03 may create for the cgroup at `relative`
/// under each hierarchy mounted in /sys/fs/cgroup (v1), or under the
/// unified root (v2). Cleanup tolerates those that never existed.
fn planned_cgroups(relative: &Path) -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path().join(relative))
        .collect();
    dirs.push(base.join(relative));
    dirs.sort();
    dirs
}

/// The child's side. Returns only on error (after sending it to the parent).
fn child(
    config: &RunConfig,
    layer: Option<&Path>,
    filters: &Filters,
    joined: &[crate::namespaces::Joined],
    (go, err): (&OwnedFd, &OwnedFd),
    fifo: Option<&Path>,
    explain: Explain,
) -> i32 {
    let result = (|| -> Result<std::convert::Infallible> {
        // If tincan dies (kill -9), the kernel kills the container too;
        // except after `create`, whose process exits on purpose and hands
        // the container to the engine.
        // SAFETY: PR_SET_PDEATHSIG takes integer arguments.
        if fifo.is_none() && unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
            return Err(std::io::Error::last_os_error()).context("prctl PR_SET_PDEATHSIG");
        }
        let mut byte = [0u8; 1];
        let n = nix::unistd::read(go, &mut byte).context("wait for the parent")?;
        if n != 1 {
            bail!("tincan exited before the container started");
        }
        // Opened now, while the state directory is still reachable; O_RDWR
        // so that the open does not wait for a writer.
        let gate = fifo
            .map(|path| {
                nix::fcntl::open(
                    path,
                    nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .with_context(|| format!("open {}", path.display()))
            })
            .transpose()?
            .map(|fd| (fd, err));
        // Namespaces named by path: joined before anything is mounted, so
        // /sys shows the joined network, and before the hostname is set.
        crate::namespaces::join(joined)?;
        // Last: from here on we are no longer the host's root.
        if !config.uid_mappings.is_empty() {
            crate::namespaces::become_mapped_root()?;
        }
        setup_inside(config, layer, filters, gate, explain)
    })();
    let message = match result {
        Ok(never) => match never {},
        Err(e) => format!("{e:#}"),
    };
    let _ = nix::unistd::write(err, message.as_bytes());
    127
}

// ANCHOR: inside
/// Steps 3 to 7, inside the new namespaces.
fn setup_inside(
    config: &RunConfig,
    layer: Option<&Path>,
    filters: &Filters,
    gate: Option<(OwnedFd, &OwnedFd)>,
    explain: Explain,
) -> Result<std::convert::Infallible> {
    if let Some(hostname) = &config.hostname {
        sethostname(hostname).with_context(|| format!("sethostname {hostname}"))?;
    }
    // Our mounts must not propagate back to the host (systemd makes / shared).
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("mount --make-rprivate /")?;

    // 3. the root filesystem.
    let new_root = match layer {
        Some(layer) => {
            let data = format!(
                "lowerdir={},upperdir={},workdir={}",
                config.rootfs.display(),
                layer.join("upper").display(),
                layer.join("work").display()
            );
            let merged = layer.join("merged");
            mount(
                Some("overlay"),
                &merged,
                Some("overlay"),
                MsFlags::empty(),
                Some(data.as_str()),
            )
            .with_context(|| format!("mount overlay at {} ({data})", merged.display()))?;
            explain.step(
                "3",
                format_args!(
                    "overlay: image {} read-only below, writes go to {}",
                    config.rootfs.display(),
                    layer.join("upper").display()
                ),
            );
            merged
        }
        None => {
            // pivot_root needs a mount point: bind the rootfs onto itself.
            mount(
                Some(&config.rootfs),
                &config.rootfs,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .with_context(|| format!("bind mount {} onto itself", config.rootfs.display()))?;
            config.rootfs.clone()
        }
    };

    // 4. the mounts every program expects, then pivot_root.
    for m in &config.mounts {
        if m.typ == "cgroup" {
            mount_cgroups(&new_root, m, &cgroup_relative_path(config))?;
        } else {
            mount_one(&new_root, m)?;
        }
    }
    if config
        .mounts
        .iter()
        .any(|m| m.destination == Path::new("/dev") && m.typ == "tmpfs")
    {
        populate_dev(&new_root)?;
    }
    chdir(&new_root).with_context(|| format!("chdir {}", new_root.display()))?;
    // pivot_root(".", "."): the old root ends up stacked under the new one;
    // unmounting "." then detaches it, and the host's files are unreachable.
    pivot_root(".", ".").with_context(|| format!("pivot_root into {}", new_root.display()))?;
    umount2(".", MntFlags::MNT_DETACH).context("umount the old root")?;
    chdir("/").context("chdir /")?;
    // Namespaced sysctls, while /proc/sys is still writable.
    for (key, value) in &config.sysctl {
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&path, value)
            .with_context(|| format!("sysctl {key}={value} ({})", path.display()))?;
    }
    for path in &config.masked_paths {
        mask(path)?;
    }
    for path in &config.readonly_paths {
        remount_readonly(path, false)?;
    }
    if config.readonly_rootfs {
        remount_readonly(Path::new("/"), true)?;
    }
    explain.step(
        "4",
        format_args!(
            "pivot_root after {} mounts ({}); {} masked and {} read-only paths{}",
            config.mounts.len(),
            config
                .mounts
                .iter()
                .map(|m| m.destination.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            config.masked_paths.len(),
            config.readonly_paths.len(),
            if config.readonly_rootfs {
                "; / read-only"
            } else {
                ""
            }
        ),
    );
    chdir(&config.cwd).with_context(|| format!("chdir {} (--workdir)", config.cwd.display()))?;

    // 5. privileges.
    // Limits that need privileges to raise are set while tincan still has them.
    if let Some(adj) = config.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .context("write /proc/self/oom_score_adj")?;
    }
    for r in &config.rlimits {
        let limit = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        // SAFETY: setrlimit reads one rlimit struct that lives on our stack.
        if unsafe { libc::setrlimit(r.resource as _, &limit) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("setrlimit {} soft={} hard={}", r.name, r.soft, r.hard));
        }
    }
    crate::capabilities::drop_bounding(&config.capabilities.bounding)?;
    if config.uid != 0 || config.gid != 0 || !config.additional_gids.is_empty() {
        crate::capabilities::become_user(config.uid, config.gid, &config.additional_gids)?;
    }
    crate::capabilities::apply(&config.capabilities)?;
    if config.no_new_privileges {
        crate::capabilities::set_no_new_privs()?;
    }
    explain.step(
        "5",
        format_args!(
            "capabilities: {} ({} of {}); no_new_privs={}",
            crate::capabilities::names(&config.capabilities.bounding),
            config.capabilities.bounding.len(),
            crate::capabilities::known().len(),
            config.no_new_privileges
        ),
    );
    // 6. seccomp, last: from here on mount, pivot_root, unshare... fail.
    filters.install()?;
    explain.step(
        "6",
        if filters.is_unconfined() {
            "seccomp: unconfined (no filter)".to_string()
        } else {
            format!(
                "seccomp: {} BPF instructions, {} calls refused with EPERM, clone3 answers ENOSYS",
                filters.instructions(),
                crate::seccomp::DENIED.len()
            )
        },
    );
    // 7. become the program.
    if let Some(mask) = config.umask {
        nix::sys::stat::umask(Mode::from_bits_truncate(mask));
    }
    let program = find_program(&config.args[0], &config.env)?;
    if let Some((fifo, err)) = gate {
        // Created: tell the parent (closing the error pipe means "no error"),
        // then wait for `tincan start`.
        nix::unistd::close(std::os::fd::AsRawFd::as_raw_fd(err)).context("close the error pipe")?;
        let mut byte = [0u8; 1];
        nix::unistd::read(&fifo, &mut byte).context("wait on exec.fifo for `tincan start`")?;
    }
    explain.step(
        "7",
        format_args!(
            "execve {} as uid {} gid {}",
            program.display(),
            config.uid,
            config.gid
        ),
    );
    execve(&program, &config.args, &config.env)
}
// ANCHOR_END: inside

/// `execve(2)`: become `program`. Returns only on failure.
pub(crate) fn execve(
    program: &Path,
    args: &[String],
    env: &[String],
) -> Result<std::convert::Infallible> {
    let c = |s: &str| CString::new(s).with_context(|| format!("{s:?} contains a NUL byte"));
    let args = args.iter().map(|a| c(a)).collect::<Result<Vec<_>>>()?;
    let env = env.iter().map(|e| c(e)).collect::<Result<Vec<_>>>()?;
    let path = c(&program.to_string_lossy())?;
    let err = nix::unistd::execve(&path, &args, &env).expect_err("execve returns only on error");
    Err(err).with_context(|| {
        format!(
            "execve {} (is it in the image, and is it a static binary or are its libraries there?)",
            program.display()
        )
    })
}

/// Find `name` in the container's PATH, like a shell would.
pub(crate) fn find_program(name: &str, env: &[String]) -> Result<PathBuf> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/bin:/bin");
    path.split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name}: command not found in the container's PATH ({path})"))
}

// ANCHOR: mounts
/// Make one mount inside `root` (not yet pivoted), as the OCI spec
/// describes it: a type, a source, and options that are either mount flags
/// (`ro`, `nosuid`, `rbind`...) or data for the filesystem (`mode=755`).
fn mount_one(root: &Path, m: &MountSpec) -> Result<()> {
    let target = root.join(m.destination.strip_prefix("/").unwrap_or(&m.destination));
    let (flags, data) = mount_flags(&m.options);
    let bind = flags.contains(MsFlags::MS_BIND);
    if bind && Path::new(&m.source).is_file() {
        if !target.exists() {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("mkdir {}", parent.display()))?;
            }
            std::fs::write(&target, "").with_context(|| format!("create {}", target.display()))?;
        }
    } else {
        std::fs::create_dir_all(&target).with_context(|| format!("mkdir {}", target.display()))?;
    }
    let fstype = (!bind).then_some(m.typ.as_str());
    let data = (!data.is_empty()).then_some(data.as_str());
    // For a bind mount, flags only take effect on the remount below.
    let first = if bind {
        flags & (MsFlags::MS_BIND | MsFlags::MS_REC)
    } else {
        flags
    };
    mount(Some(m.source.as_str()), &target, fstype, first, data).with_context(|| {
        format!(
            "mount {} ({}) at {}",
            m.source,
            m.typ,
            m.destination.display()
        )
    })?;
    // A bind mount ignores most flags the first time: remount to apply them.
    if bind
        && flags.intersects(
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        )
    {
        let keep = flags
            & (MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
        mount(
            None::<&str>,
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | keep,
            None::<&str>,
        )
        .with_context(|| format!("remount {} with {keep:?}", m.destination.display()))?;
    }
    Ok(())
}

// ANCHOR: mount_cgroups
/// The `cgroup` mount of an OCI bundle (podman asks for one at
/// /sys/fs/cgroup), done as runc does on a cgroup v1 host: a tmpfs, and in
/// it, for each hierarchy, a read-only bind of *the container's own* cgroup
/// directory. The container sees its limits (`memory/memory.limit_in_bytes`)
/// and nothing above them. A fresh `mount -t cgroup` cannot be used: each v1
/// hierarchy is mounted once already, and mounting it again shows the
/// host's whole tree.
fn mount_cgroups(root: &Path, m: &MountSpec, relative: &Path) -> Result<()> {
    let host = Path::new("/sys/fs/cgroup");
    let target = root.join(m.destination.strip_prefix("/").unwrap_or(&m.destination));
    std::fs::create_dir_all(&target).with_context(|| format!("mkdir {}", target.display()))?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("tmpfs"),
        &target,
        Some("tmpfs"),
        flags,
        Some("mode=755"),
    )
    .with_context(|| format!("mount tmpfs at {}", m.destination.display()))?;
    let entries = std::fs::read_dir(host).with_context(|| format!("list {}", host.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let inside = target.join(&name);
        let kind = entry
            .file_type()
            .with_context(|| format!("stat {:?}", name))?;
        if kind.is_symlink() {
            // cpu -> cpu,cpuacct: the same link inside.
            let to = std::fs::read_link(entry.path())
                .with_context(|| format!("readlink {}", entry.path().display()))?;
            std::os::unix::fs::symlink(&to, &inside)
                .with_context(|| format!("symlink {}", inside.display()))?;
            continue;
        }
        let ours = entry.path().join(relative);
        std::fs::create_dir(&inside).with_context(|| format!("mkdir {}", inside.display()))?;
        // Hierarchies we made no cgroup in (freezer, systemd's) stay empty.
        if !ours.is_dir() {
            continue;
        }
        mount(
            Some(&ours),
            &inside,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind {} at {}", ours.display(), inside.display()))?;
        mount(
            None::<&str>,
            &inside,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
            None::<&str>,
        )
        .with_context(|| format!("remount {} read-only", inside.display()))?;
    }
    if m.options.iter().any(|o| o == "ro") {
        mount(
            None::<&str>,
            &target,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
            Some("mode=755"),
        )
        .with_context(|| format!("remount {} read-only", m.destination.display()))?;
    }
    Ok(())
}
// ANCHOR_END: mount_cgroups

/// Split mount options into flags and the data string (mount(8) names).
fn mount_flags(options: &[String]) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for option in options {
        match option.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" | "private" | "rprivate" | "defaults" => {}
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

/// The device nodes every program expects in a fresh /dev, and the
/// conventional symlinks. Nodes are created, not copied from the host: the
/// devices cgroup decides which of them may be opened.
fn populate_dev(root: &Path) -> Result<()> {
    for (name, major, minor) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        let path = root.join("dev").join(name);
        match mknod(
            &path,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(major, minor),
        ) {
            Ok(()) => {}
            // In a user namespace mknod is refused: bind the host's node instead.
            Err(nix::errno::Errno::EPERM) => {
                std::fs::write(&path, "").with_context(|| format!("create {}", path.display()))?;
                let host = Path::new("/dev").join(name);
                mount(
                    Some(&host),
                    &path,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .with_context(|| format!("bind {} at {}", host.display(), path.display()))?;
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("mknod {}", path.display())),
        }
        // mknod obeys the umask; set the mode explicitly.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .with_context(|| format!("chmod {}", path.display()))?;
    }
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let path = root.join("dev").join(link);
        std::os::unix::fs::symlink(target, &path)
            .with_context(|| format!("symlink {}", path.display()))?;
    }
    Ok(())
}
// ANCHOR_END: mounts

// ANCHOR: mask
/// Hide `path`: a file gets /dev/null bound on top, a directory an empty
/// read-only tmpfs. Missing paths are fine (not every kernel has them).
fn mask(path: &Path) -> Result<()> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    if meta.is_dir() {
        mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .with_context(|| format!("mask {} with an empty tmpfs", path.display()))
    } else {
        mount(
            Some("/dev/null"),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("mask {} with /dev/null", path.display()))
    }
}
// ANCHOR_END: mask

/// Make `path` read-only: bind it onto itself, then remount the bind
/// read-only (a bind mount's flags can differ from the original's).
fn remount_readonly(path: &Path, recursive: bool) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let rec = if recursive {
        MsFlags::MS_REC
    } else {
        MsFlags::empty()
    };
    mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND | rec,
        None::<&str>,
    )
    .with_context(|| format!("bind {} onto itself", path.display()))?;
    let flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV;
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .with_context(|| format!("remount {} read-only", path.display()))
}

/// Write the pid file podman asks for.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let mut f =
        std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    write!(f, "{pid}").with_context(|| format!("write {}", path.display()))
}
