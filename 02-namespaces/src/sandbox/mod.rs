//! `clone(2)` into a set of new namespaces, with a handshake so the parent
//! can finish setting the child up before the child goes on.
//!
//! Some set-up can only be done from outside, after the child exists and
//! before it runs its program: writing its uid/gid maps (user_namespaces(7)),
//! later placing it in a cgroup (step 03) or moving a network interface into
//! its network namespace. So the child is started blocked on a pipe
//! (pipe(2)): it reads one byte, and the parent writes that byte only when
//! its own set-up is done. A second pipe, closed on exec (`O_CLOEXEC`),
//! carries errors back from the child: if it is closed without a word, the
//! child's `execve(2)` succeeded.
//!
//! The same recipe serves a container runtime (step 05), which needs a few
//! more ingredients, each a builder method here: join existing namespaces
//! by path ([`Sandbox::join`]), die with the parent
//! ([`Sandbox::die_with_parent`]), an exact environment for `execve`
//! ([`Program::env`]), and a last gate after the child reported that it is
//! ready ([`Sandbox::gate`], for OCI `create` then `start`).
//!
//! The code is in four files: this builder, [`clone`] (the system call),
//! [`child`] (the child's side) and [`process`] (the parent's handle).

mod child;
mod clone;
mod process;
mod program;

use std::os::fd::RawFd;

use anyhow::{Context, Result, anyhow, bail};
use nix::fcntl::OFlag;
use nix::unistd::Pid;

pub use process::{Child, Exit};
pub use program::Program;

use crate::join::NsFile;
use crate::namespaces::{Namespace, Namespaces};
use crate::userns::{self, IdMaps};
use child::{ChildPlan, Main};

/// The longest hostname Linux accepts (`HOST_NAME_MAX`, see gethostname(2)).
pub const HOST_NAME_MAX: usize = 64;

/// The exit status the child uses when its set-up failed.
pub const SETUP_FAILED: i32 = 125;
/// The exit status the child uses when `execve(2)` failed.
pub const EXEC_FAILED: i32 = 127;

type ParentHook<'a> = Box<dyn FnOnce(Pid) -> Result<()> + 'a>;
type ChildHook<'a> = Box<dyn FnOnce() -> Result<()> + 'a>;

/// A recipe for a child in new namespaces. Build it, then [`Sandbox::spawn`]
/// a Rust closure or [`Sandbox::spawn_program`] a program.
pub struct Sandbox<'a> {
    namespaces: Namespaces,
    joins: Vec<NsFile>,
    hostname: Option<String>,
    id_maps: Option<IdMaps>,
    time_offsets: (i64, i64),
    die_with_parent: bool,
    root_inside: bool,
    parent_hooks: Vec<ParentHook<'a>>,
    child_hooks: Vec<ChildHook<'a>>,
    gate: Option<ChildHook<'a>>,
    into_cgroup: Option<RawFd>,
}

impl<'a> Sandbox<'a> {
    /// A child in these new namespaces. When we are not root, a user
    /// namespace is added and the caller is mapped to root inside: that is
    /// what lets an ordinary user create the others ("rootless").
    pub fn new(namespaces: Namespaces) -> Sandbox<'a> {
        let mut namespaces = namespaces;
        if !nix::unistd::geteuid().is_root() && !namespaces.is_empty() {
            namespaces.insert(Namespace::User);
        }
        Sandbox {
            namespaces,
            joins: Vec::new(),
            hostname: None,
            id_maps: None,
            time_offsets: (0, 0),
            die_with_parent: false,
            root_inside: false,
            parent_hooks: Vec::new(),
            child_hooks: Vec::new(),
            gate: None,
            into_cgroup: None,
        }
    }

    /// The namespaces the child will get (including an added user namespace).
    pub fn namespaces(&self) -> &Namespaces {
        &self.namespaces
    }

    /// Set this hostname inside (needs the `uts` namespace, new or joined).
    pub fn hostname(mut self, name: impl Into<String>) -> Sandbox<'a> {
        self.hostname = Some(name.into());
        self
    }

    /// The uid/gid maps to write when there is a user namespace. The default
    /// maps root inside to the caller ([`IdMaps::root_is_caller`]).
    pub fn id_maps(mut self, maps: IdMaps) -> Sandbox<'a> {
        self.id_maps = Some(maps);
        self
    }

    /// Seconds added to CLOCK_MONOTONIC and CLOCK_BOOTTIME inside (needs the
    /// `time` namespace).
    pub fn time_offsets(mut self, monotonic_secs: i64, boottime_secs: i64) -> Sandbox<'a> {
        self.time_offsets = (monotonic_secs, boottime_secs);
        self
    }

    /// Put the child in an *existing* namespace instead of a new one (see
    /// [`crate::join`]). A joined pid namespace is entered for the clone
    /// itself (only children are born into a pid namespace); the others are
    /// joined by the child first thing, the user namespace before the rest.
    pub fn join(mut self, namespace: NsFile) -> Sandbox<'a> {
        self.joins.push(namespace);
        self
    }

    /// Have the kernel kill the child with SIGKILL when its parent dies
    /// (PR_SET_PDEATHSIG, prctl(2)), so a killed runtime leaves no container
    /// running unsupervised. Set before the child waits for "go": a parent
    /// that dies even earlier closes the go pipe, and the child leaves.
    pub fn die_with_parent(mut self) -> Sandbox<'a> {
        self.die_with_parent = true;
        self
    }

    /// Become uid and gid 0 of a *joined* user namespace (in a new one
    /// whose maps cover root this happens anyway): a process that joins
    /// keeps its ids, which that namespace may not map.
    pub fn root_inside(mut self) -> Sandbox<'a> {
        self.root_inside = true;
        self
    }

    /// Run `hook` in the parent after the child exists (and after its uid/gid
    /// maps are written) but before it goes on. It gets the child's pid as
    /// the host sees it. Hooks run in the order they were added.
    pub fn parent_setup(mut self, hook: impl FnOnce(Pid) -> Result<()> + 'a) -> Sandbox<'a> {
        self.parent_hooks.push(Box::new(hook));
        self
    }

    /// Be born in the cgroup v2 directory open as `dir` (`clone3(2)` with
    /// `CLONE_INTO_CGROUP`, Linux 5.7+; see [`crate::clone3`]) instead of
    /// being moved there by a parent hook. The descriptor must stay open
    /// until [`Sandbox::spawn`] returns.
    pub fn into_cgroup(mut self, dir: RawFd) -> Sandbox<'a> {
        self.into_cgroup = Some(dir);
        self
    }

    /// Run `hook` in the child, inside its namespaces, after the parent's
    /// set-up and the hostname, before the child's main or program. An error
    /// is reported to the parent, which [`Sandbox::spawn`] returns.
    pub fn child_setup(mut self, hook: impl FnOnce() -> Result<()> + 'a) -> Sandbox<'a> {
        self.child_hooks.push(Box::new(hook));
        self
    }

    /// A last step in the child, after it has told the parent "ready" and
    /// just before its main or `execve`: typically a wait for a signal from
    /// outside. [`Sandbox::spawn`] then returns once the child is ready,
    /// without waiting for the gate. This is how OCI `create` stops a
    /// container, fully set up, until `start` (step 05).
    pub fn gate(mut self, hook: impl FnOnce() -> Result<()> + 'a) -> Sandbox<'a> {
        self.gate = Some(Box::new(hook));
        self
    }

    /// Start the child running `main`, a Rust closure whose `Ok` value is the
    /// child's exit status. Returns once the child's set-up is done.
    pub fn spawn(self, main: impl FnOnce() -> Result<i32> + 'a) -> Result<Child> {
        self.start(Main::Closure(Box::new(main)))
    }

    /// Start the child running `argv[0]` (searched in the child's `PATH`)
    /// with arguments `argv`. Returns once `execve(2)` succeeded.
    pub fn spawn_program<S: AsRef<str>>(self, argv: &[S]) -> Result<Child> {
        self.spawn_exec(Program::new(argv)?)
    }

    /// Start the child running `program` (see [`Program`]). Returns once
    /// `execve(2)` succeeded, or, with a [`Sandbox::gate`], once the child
    /// is ready and waits at the gate.
    pub fn spawn_exec(self, program: Program) -> Result<Child> {
        self.start(Main::Program(program))
    }

    /// [`Sandbox::spawn`], then [`Child::wait`].
    pub fn run(self, main: impl FnOnce() -> Result<i32> + 'a) -> Result<Exit> {
        self.spawn(main)?.wait()
    }

    fn check(&self) -> Result<()> {
        if let Some(name) = &self.hostname {
            let joined_uts = self.joins.iter().any(|j| j.namespace == Namespace::Uts);
            if !self.namespaces.contains(Namespace::Uts) && !joined_uts {
                bail!("setting a hostname needs the uts namespace (add uts to the namespaces)");
            }
            if name.is_empty() || name.len() > HOST_NAME_MAX {
                bail!(
                    "hostname {name:?} is {} bytes; the kernel accepts 1 to {HOST_NAME_MAX} (HOST_NAME_MAX): choose a shorter name",
                    name.len()
                );
            }
        }
        if self.time_offsets != (0, 0) && !self.namespaces.contains(Namespace::Time) {
            bail!("clock offsets need the time namespace (add time to the namespaces)");
        }
        Ok(())
    }

    // ANCHOR: start
    fn start(self, main: Main<'a>) -> Result<Child> {
        self.check()?;
        // "go": the parent writes one byte when its set-up is done.
        let (go_read, go_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe2 (go)")?;
        // "report": the child writes 'R' (ready) or 'E' + an error message.
        let (report_read, report_write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe2 (report)")?;
        let Sandbox {
            namespaces,
            joins,
            hostname,
            id_maps,
            time_offsets,
            die_with_parent,
            root_inside,
            parent_hooks,
            child_hooks,
            gate,
            into_cgroup,
        } = self;
        let maps = namespaces
            .contains(Namespace::User)
            .then(|| id_maps.unwrap_or_else(IdMaps::root_is_caller));
        let plan = ChildPlan {
            die_with_parent,
            hostname,
            new_time: namespaces.contains(Namespace::Time),
            time_offsets,
            become_root: root_inside || maps.as_ref().is_some_and(IdMaps::maps_root),
            // Only a parent without CAP_SETGID must deny setgroups(2)
            // (user_namespaces(7)); where it stays allowed, the child drops
            // the host's supplementary groups, which mean nothing inside.
            drop_groups: nix::unistd::geteuid().is_root(),
        };
        let child_fds = (go_read, report_write);
        let go_write_fd = std::os::fd::AsRawFd::as_raw_fd(&go_write);
        let mut once = Some((main, child_hooks, gate));
        let joins_ref = &joins;
        let callback = Box::new(|| {
            // The child starts with a copy of every descriptor, the write end
            // of its own go pipe included. Close that copy, so that if the
            // parent dies before saying "go", the read sees end-of-file and
            // the child leaves instead of waiting forever.
            let _ = nix::unistd::close(go_write_fd);
            let Some((main, hooks, gate)) = once.take() else {
                return 1;
            };
            let (go, report) = (&child_fds.0, &child_fds.1);
            child::child(go, report, &plan, joins_ref, hooks, gate, main)
        });
        let pid = clone::clone_child(callback, &namespaces, &joins, into_cgroup)?;
        // Our copies of the child's ends must go, or we would never see EOF.
        drop(child_fds);
        // From here on, an early return drops `child`, which kills and reaps it.
        let mut child = Child::new(pid, report_read);

        if let Some(maps) = &maps {
            userns::write_maps(pid, maps).map_err(|e| match userns::blocker() {
                Some(blocker) => anyhow!("{blocker}"),
                None => e,
            })?;
        }
        for hook in parent_hooks {
            hook(pid).context("parent set-up of the child")?;
        }
        nix::unistd::write(&go_write, b"G").context("write to the child's go pipe")?;
        drop(go_write);
        if let Err(err) = child.await_start() {
            // Ubuntu's AppArmor restriction lets the clone succeed but takes
            // the child's capabilities away: its set-up fails with EPERM.
            let rootless = maps.is_some() && !nix::unistd::geteuid().is_root();
            return Err(match userns::blocker().filter(|_| rootless) {
                Some(blocker) => err.context(blocker.to_string()),
                None => err,
            });
        }
        Ok(child)
    }
    // ANCHOR_END: start
}
