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

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

use anyhow::{Context, Result, anyhow, bail};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use crate::namespaces::{Namespace, Namespaces};
use crate::userns::{self, IdMaps};

/// The longest hostname Linux accepts (`HOST_NAME_MAX`, see gethostname(2)).
pub const HOST_NAME_MAX: usize = 64;

/// How much stack the cloned child gets. It runs Rust code (the probe, the
/// demos) before any exec, so be generous: pages are only used when touched.
const STACK_SIZE: usize = 8 << 20;

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
    hostname: Option<String>,
    id_maps: Option<IdMaps>,
    time_offsets: (i64, i64),
    parent_hooks: Vec<ParentHook<'a>>,
    child_hooks: Vec<ChildHook<'a>>,
}

/// What the child runs once it is set up.
enum Main<'a> {
    Closure(Box<dyn FnOnce() -> Result<i32> + 'a>),
    Program(Vec<CString>),
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
            hostname: None,
            id_maps: None,
            time_offsets: (0, 0),
            parent_hooks: Vec::new(),
            child_hooks: Vec::new(),
        }
    }

    /// The namespaces the child will get (including an added user namespace).
    pub fn namespaces(&self) -> &Namespaces {
        &self.namespaces
    }

    /// Set this hostname inside (needs the `uts` namespace).
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

    /// Run `hook` in the parent after the child exists (and after its uid/gid
    /// maps are written) but before it goes on. It gets the child's pid as
    /// the host sees it. Hooks run in the order they were added.
    pub fn parent_setup(mut self, hook: impl FnOnce(Pid) -> Result<()> + 'a) -> Sandbox<'a> {
        self.parent_hooks.push(Box::new(hook));
        self
    }

    /// Run `hook` in the child, inside its namespaces, after the parent's
    /// set-up and the hostname, before the child's main or program. An error
    /// is reported to the parent, which [`Sandbox::spawn`] returns.
    pub fn child_setup(mut self, hook: impl FnOnce() -> Result<()> + 'a) -> Sandbox<'a> {
        self.child_hooks.push(Box::new(hook));
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
        if argv.is_empty() {
            bail!("no program to run: give the program and its arguments");
        }
        let argv = argv
            .iter()
            .map(|a| {
                CString::new(a.as_ref())
                    .with_context(|| format!("argument {:?} contains a NUL byte", a.as_ref()))
            })
            .collect::<Result<Vec<_>>>()?;
        self.start(Main::Program(argv))
    }

    /// [`Sandbox::spawn`], then [`Child::wait`].
    pub fn run(self, main: impl FnOnce() -> Result<i32> + 'a) -> Result<Exit> {
        self.spawn(main)?.wait()
    }

    fn check(&self) -> Result<()> {
        if let Some(name) = &self.hostname {
            if !self.namespaces.contains(Namespace::Uts) {
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

        // clone(2) cannot take CLONE_NEWTIME (see Namespace::clone_flag); the
        // child makes its time namespace itself, in `enter_new_time_namespace`.
        let flags = self.namespaces.clone_flags() - Namespace::Time.clone_flag();
        let mut stack = vec![0u8; STACK_SIZE];
        let Sandbox {
            namespaces,
            hostname,
            id_maps,
            time_offsets,
            parent_hooks,
            child_hooks,
        } = self;
        let maps = namespaces
            .contains(Namespace::User)
            .then(|| id_maps.unwrap_or_else(IdMaps::root_is_caller));
        let plan = ChildPlan {
            hostname,
            new_time: namespaces.contains(Namespace::Time),
            time_offsets,
            become_root: maps.as_ref().is_some_and(IdMaps::maps_root),
        };
        let mut once = Some((main, child_hooks));
        let child_fds = (go_read, report_write);
        let go_write_fd = std::os::fd::AsRawFd::as_raw_fd(&go_write);
        let callback = Box::new(|| {
            // The child starts with a copy of every descriptor, the write end
            // of its own go pipe included. Close that copy, so that if the
            // parent dies before saying "go", the read sees end-of-file and
            // the child leaves instead of waiting forever.
            let _ = nix::unistd::close(go_write_fd);
            let Some((main, hooks)) = once.take() else {
                return 1;
            };
            child(&child_fds.0, &child_fds.1, &plan, hooks, main)
        });
        let pid = match clone_via_helper(callback, &mut stack, flags)? {
            Ok(pid) => pid,
            Err(errno) => return Err(clone_error(errno, &namespaces)),
        };
        // Our copies of the child's ends must go, or we would never see EOF.
        let (go_read, report_write) = child_fds;
        drop((go_read, report_write));
        let mut child = Child {
            pid,
            report: Some(report_read),
            reaped: false,
        };
        // From here on, an early return drops `child`, which kills and reaps it.

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

// ANCHOR: clone_via_helper
/// clone(2) a child of ours into new namespaces, from a single-threaded helper.
///
/// The caller may have many threads (a test harness does), and the child of
/// clone(2) is a copy of one of them only. A lock that another thread held
/// at that instant, such as the C library's `malloc` lock, stays locked in
/// the child forever, and the child's first allocation hangs. fork(3) takes
/// care of `malloc` (it runs the library's at-fork handlers), raw clone(2)
/// does not. So we fork(3) a helper, which has a single thread and a sound
/// heap; the helper clones the real child with `CLONE_PARENT`, which makes
/// the child ours (we can waitpid(2) it), tells us its pid, and exits.
fn clone_via_helper(
    callback: nix::sched::CloneCb<'_>,
    stack: &mut [u8],
    flags: CloneFlags,
) -> Result<std::result::Result<Pid, Errno>> {
    if single_threaded() {
        // Nobody else can hold a lock: clone directly. (This is also the
        // only correct way after setns(2) into a PID namespace: a helper
        // would be in that namespace and tell us the child's pid as seen
        // from there.)
        // SAFETY: as below, for the helper's clone.
        return Ok(unsafe { nix::sched::clone(callback, stack, flags, Some(libc::SIGCHLD)) });
    }
    let (pid_read, pid_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe2 (pid)")?;
    // SAFETY: the helper only clones, writes to a pipe and calls _exit(2);
    // it never returns into the caller's frames or unwinds.
    match unsafe { nix::unistd::fork() }.context("fork(2) the clone helper")? {
        ForkResult::Child => {
            // SAFETY: without CLONE_VM the child runs on its own copy of our
            // memory, so `stack` and everything the callback borrows stay
            // valid for it; it ends with _exit(2) and never returns into our
            // frames. With CLONE_PARENT its exit signal is ours: SIGCHLD.
            let cloned = unsafe {
                nix::sched::clone(
                    callback,
                    stack,
                    flags | CloneFlags::CLONE_PARENT,
                    Some(libc::SIGCHLD),
                )
            };
            let answer: i64 = match cloned {
                Ok(pid) => pid.as_raw().into(),
                Err(errno) => -(errno as i64),
            };
            let _ = nix::unistd::write(&pid_write, &answer.to_ne_bytes());
            exit_child(0)
        }
        ForkResult::Parent { child: helper } => {
            drop(pid_write);
            let mut bytes = [0u8; 8];
            let n = nix::unistd::read(&pid_read, &mut bytes)
                .context("read the clone helper's answer")?;
            let _ = waitpid(helper, None);
            if n != 8 {
                bail!("the clone helper died without an answer");
            }
            let answer = i64::from_ne_bytes(bytes);
            Ok(if answer > 0 {
                Ok(Pid::from_raw(answer as i32))
            } else {
                Err(Errno::from_raw(-answer as i32))
            })
        }
    }
}
// ANCHOR_END: clone_via_helper

/// Whether the calling process has a single thread (`/proc/self/task`).
fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task").is_ok_and(|tasks| tasks.count() == 1)
}

/// What `clone(2)` failing means, in words (and which setting blocks user
/// namespaces, if one does).
fn clone_error(errno: Errno, namespaces: &Namespaces) -> anyhow::Error {
    if namespaces.contains(Namespace::User) {
        if let Some(blocker) = userns::blocker() {
            return anyhow!("{blocker}");
        }
    }
    let hint = match errno {
        Errno::EPERM => ": creating these namespaces needs root, or a user namespace",
        Errno::ENOSPC => ": a /proc/sys/user/max_*_namespaces limit is reached",
        Errno::EINVAL => ": this kernel does not support one of these namespaces",
        _ => "",
    };
    anyhow!("clone(2) with new namespaces {namespaces}: {errno}{hint}")
}

/// What the child sets up by itself, before its hooks.
struct ChildPlan {
    hostname: Option<String>,
    new_time: bool,
    time_offsets: (i64, i64),
    become_root: bool,
}

// ANCHOR: child
/// The child's side: wait for "go", set up, then run `main`. Never returns.
fn child(
    go: &OwnedFd,
    report: &OwnedFd,
    plan: &ChildPlan,
    hooks: Vec<ChildHook<'_>>,
    main: Main<'_>,
) -> isize {
    let mut byte = [0u8; 1];
    if !matches!(nix::unistd::read(go, &mut byte), Ok(1)) {
        // The parent gave up (its set-up failed): leave quietly.
        exit_child(SETUP_FAILED);
    }
    let exec = matches!(main, Main::Program(_));
    let setup = || -> Result<()> {
        if exec {
            // The child is a copy of a possibly multithreaded parent and holds
            // every descriptor the parent had open, including other threads'
            // pipes. The program gets only stdin, stdout and stderr; a
            // child_setup hook may still pass one on with dup2(2).
            // SAFETY: close_range(2) takes plain integers; CLOEXEC only marks
            // descriptors and closes nothing this process is using.
            let rc = unsafe {
                libc::close_range(
                    3,
                    libc::c_uint::MAX,
                    libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
                )
            };
            Errno::result(rc).context("close_range(3, ~0, CLOSE_RANGE_CLOEXEC)")?;
        }
        if plan.become_root {
            // Our ids are still the parent's. Now that root inside is mapped,
            // become it: this is what makes files we create belong to
            // "root" inside (and, on the host, to whatever root maps to).
            let (uid, gid) = (nix::unistd::Uid::from_raw(0), nix::unistd::Gid::from_raw(0));
            nix::unistd::setresgid(gid, gid, gid).context("setresgid(0) in the user namespace")?;
            nix::unistd::setresuid(uid, uid, uid).context("setresuid(0) in the user namespace")?;
        }
        if let Some(name) = &plan.hostname {
            nix::unistd::sethostname(name).with_context(|| format!("sethostname({name:?})"))?;
        }
        if plan.new_time {
            enter_new_time_namespace(plan.time_offsets)?;
        }
        for hook in hooks {
            hook()?;
        }
        Ok(())
    };
    if let Err(err) = setup() {
        tell_parent(report, &format!("E{err:#}"));
        exit_child(SETUP_FAILED);
    }
    match main {
        Main::Closure(main) => {
            tell_parent(report, "R");
            match main() {
                Ok(code) => exit_child(code),
                Err(err) => {
                    tell_parent(report, &format!("E{err:#}"));
                    exit_child(1)
                }
            }
        }
        Main::Program(argv) => {
            // On success execve(2) never returns, and O_CLOEXEC closes `report`.
            let errno = nix::unistd::execvp(&argv[0], &argv).unwrap_err();
            let program = argv[0].to_string_lossy();
            // execvp(3) reports EACCES when some PATH directory could not
            // be searched, even if the program simply is not there.
            let hint = if matches!(errno, Errno::ENOENT | Errno::EACCES) {
                " (is it installed inside, on the PATH, and executable?)"
            } else {
                ""
            };
            tell_parent(
                report,
                &format!("Eexecvp {program:?} inside the namespaces: {errno}{hint}"),
            );
            exit_child(EXEC_FAILED)
        }
    }
}
// ANCHOR_END: child

// ANCHOR: time
/// Make a new time namespace with these clock offsets and enter it.
///
/// unshare(2) with CLONE_NEWTIME does not move the caller: the new namespace
/// is for its *future children*, and its offsets may be written only until
/// the first process enters it (after that the clocks of its members must
/// never jump). So: unshare, write `/proc/self/timens_offsets`, then
/// setns(2) into `/proc/self/ns/time_for_children` to enter it ourselves.
pub fn enter_new_time_namespace((monotonic, boottime): (i64, i64)) -> Result<()> {
    let flag = Namespace::Time.clone_flag();
    nix::sched::unshare(flag).context("unshare(CLONE_NEWTIME)")?;
    std::fs::write(
        "/proc/self/timens_offsets",
        format!("monotonic {monotonic} 0\nboottime {boottime} 0\n"),
    )
    .context("write /proc/self/timens_offsets")?;
    let ns = std::fs::File::open("/proc/self/ns/time_for_children")
        .context("open /proc/self/ns/time_for_children")?;
    nix::sched::setns(ns.as_fd(), flag).context("setns(/proc/self/ns/time_for_children)")?;
    Ok(())
}
// ANCHOR_END: time

fn tell_parent(report: &OwnedFd, message: &str) {
    // Best effort: if the parent is gone there is nobody to tell.
    let _ = nix::unistd::write(report, message.as_bytes());
}

/// Leave the child without running our parent's exit handlers twice.
///
/// We do not flush Rust's stdout here: the child is a copy of one thread of
/// a possibly multithreaded parent, and the lock around stdout may have been
/// held by a thread that does not exist in the child, so taking it could
/// wait forever. Stdout is line-buffered: a child should print whole lines.
fn exit_child(code: i32) -> ! {
    // SAFETY: _exit(2) ends this process at once; it takes a plain int and
    // touches no Rust state. We use it (not `exit`) because the child is a
    // copy of the parent: running the parent's atexit handlers and
    // destructors here would do the parent's clean-up twice.
    unsafe { libc::_exit(code) }
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// A signal killed it.
    Signaled(Signal),
}

impl Exit {
    /// Exited with status 0.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }

    /// The status a shell would report: the code, or 128 + the signal number.
    pub fn shell_status(self) -> u8 {
        match self {
            Exit::Code(code) => code as u8,
            Exit::Signaled(sig) => 128u8.wrapping_add(sig as u8),
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit status {code}"),
            Exit::Signaled(sig) => write!(f, "killed by {sig}"),
        }
    }
}

/// A running child. Dropping it without [`Child::wait`] kills and reaps it,
/// so an error path never leaves a stray process behind.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    report: Option<OwnedFd>,
    reaped: bool,
}

impl Child {
    /// The child's pid as the parent (the host) sees it.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Let the child run on without us: dropping the returned pid neither
    /// kills nor reaps it. An OCI runtime's `create` needs this, since the
    /// container outlives the command that created it. Someone must still
    /// reap it: we, with waitpid(2), or whoever inherits it when we exit.
    pub fn detach(mut self) -> Pid {
        self.reaped = true;
        self.pid
    }

    /// Send `signal` to the child.
    pub fn kill(&self, signal: Signal) -> Result<()> {
        if self.reaped {
            bail!("kill({}, {signal}): the child was already reaped", self.pid);
        }
        kill(self.pid, signal).with_context(|| format!("kill({}, {signal})", self.pid))
    }

    /// Wait for the child to end. An error the child reported (its set-up or
    /// its main failed) is returned as an error.
    pub fn wait(mut self) -> Result<Exit> {
        let exit = self.reap()?;
        match self.read_report(false)? {
            Some(message) => Err(anyhow!(message)),
            None => Ok(exit),
        }
    }

    fn reap(&mut self) -> Result<Exit> {
        loop {
            match waitpid(self.pid, None) {
                Ok(WaitStatus::Exited(_, code)) => {
                    self.reaped = true;
                    return Ok(Exit::Code(code));
                }
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    self.reaped = true;
                    return Ok(Exit::Signaled(sig));
                }
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(e) => return Err(e).with_context(|| format!("waitpid({})", self.pid)),
            }
        }
    }

    /// Wait until the child is set up: 'R' (a closure started), EOF (exec
    /// succeeded, or the child died) or 'E' + a message (it failed).
    fn await_start(&mut self) -> Result<()> {
        let Some(report) = &self.report else {
            return Ok(());
        };
        let mut first = [0u8; 1];
        let n = loop {
            match nix::unistd::read(report, &mut first) {
                Err(Errno::EINTR) => continue,
                other => break other.context("read the child's report pipe")?,
            }
        };
        if n == 1 && first[0] == b'E' {
            self.reap()?;
            let message = self.read_report(true)?.unwrap_or_default();
            bail!("{message}");
        }
        Ok(())
    }

    /// What is left in the report pipe, once the child is gone. Reads without
    /// blocking: another child cloned at the same moment may hold a copy of
    /// the pipe's write end, so EOF may come late.
    fn read_report(&mut self, after_e: bool) -> Result<Option<String>> {
        let Some(report) = self.report.take() else {
            return Ok(None);
        };
        let flags =
            nix::fcntl::fcntl(report.as_fd(), nix::fcntl::F_GETFL).context("fcntl(F_GETFL)")?;
        let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(report.as_fd(), nix::fcntl::F_SETFL(flags)).context("fcntl(F_SETFL)")?;
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = nix::unistd::read(&report, &mut buf) {
            text.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&text).into_owned();
        if after_e {
            return Ok(Some(text));
        }
        let text = text.strip_prefix('R').unwrap_or(&text);
        Ok(text.strip_prefix('E').map(String::from))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = self.reap();
        }
    }
}
