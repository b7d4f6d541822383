//! Starting a child *inside* a cgroup, before it runs a single instruction
//! of the program: `clone3(2)` with `CLONE_INTO_CGROUP`, or a parent hook.
//!
//! A limit only helps if the process is under it from the start. Writing
//! the child's pid into `cgroup.procs` after `exec` would be a race: a fork
//! bomb could fork a thousand times first. Two ways to avoid the race:
//!
//! 1. **v2, Linux 5.7+: `CLONE_INTO_CGROUP`.** `clone3(2)` takes an open
//!    cgroup directory and the kernel creates the child directly in it. The
//!    child is never anywhere else, not even for a microsecond; no extra
//!    write, no migration cost (moving a process between cgroups makes the
//!    kernel re-charge its memory and take a global lock).
//! 2. **Everywhere else: a parent hook.** Step 02's [`step02::Sandbox`]
//!    creates the child blocked on a pipe; its `parent_setup` hook writes the
//!    child's pid into `cgroup.procs` (on v1, one file per hierarchy) and
//!    only then lets it go on and exec. This is what runc does on v1.
//!
//! Either way the child also gets new PID, UTS and IPC namespaces (step
//! 02), so every demo runs as a small container: its own pid 1, its own
//! hostname.
//!
//! The `clone3` child runs between `clone3` and `execve` in a copy of a
//! possibly multithreaded process, so it only makes raw, async-signal-safe
//! syscalls (`sethostname`, `dup2`, `execve`, `write`, `_exit`): no allocation, no
//! locks. (Step 02's Sandbox solves the same problem with a forked helper.)

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use step02::{Namespaces, Sandbox};

use crate::cgroup::{Cgroup, check_interrupted};

/// `CLONE_INTO_CGROUP`: step 02's `clone3` module has the system call.
pub use step02::clone3::CLONE_INTO_CGROUP;

/// The namespaces every demo's child gets (step 02's names).
pub const NAMESPACES: &str = "pid,uts,ipc";

/// The hostname the demo containers get.
pub const HOSTNAME: &str = "tincan";

/// How the child got into its cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// `clone3(CLONE_INTO_CGROUP)`: born inside.
    CloneIntoCgroup,
    /// Parent hook: the parent wrote the pid to `cgroup.procs` before the
    /// child was allowed to exec.
    ParentHook,
}

impl Placement {
    /// How to say it in a demo.
    pub fn describe(self) -> &'static str {
        match self {
            Placement::CloneIntoCgroup => "born in the cgroup (clone3 with CLONE_INTO_CGROUP)",
            Placement::ParentHook => "placed by step 02's parent hook (cgroup.procs) before exec",
        }
    }
}

/// A child started by [`spawn`]. Dropping it kills and reaps it.
#[derive(Debug)]
pub struct Child {
    /// The child's pid (in our PID namespace).
    pub pid: Pid,
    /// Its standard output, when captured.
    pub stdout: Option<File>,
    /// How it was placed into its cgroup.
    pub placement: Placement,
    /// The step 02 child, when the Sandbox started it (it kills and reaps
    /// on drop; waiting goes through it too).
    sandboxed: Option<step02::Child>,
    reaped: bool,
}

impl Child {
    /// Wait for the child to end, checking for Ctrl-C every few milliseconds.
    pub fn wait(&mut self) -> Result<WaitStatus> {
        if let Some(child) = self.sandboxed.take() {
            // Step 02's child reaps in one blocking call; our demos' children
            // all end by themselves or are killed within seconds.
            self.reaped = true;
            let status = match child.wait()? {
                step02::Exit::Code(code) => WaitStatus::Exited(self.pid, code),
                step02::Exit::Signaled(signal) => WaitStatus::Signaled(self.pid, signal, false),
            };
            check_interrupted()?;
            return Ok(status);
        }
        loop {
            check_interrupted()?;
            match self.try_wait()? {
                Some(status) => return Ok(status),
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    fn try_wait(&mut self) -> Result<Option<WaitStatus>> {
        if self.reaped {
            bail!("child {} was already waited for", self.pid);
        }
        let status = waitpid(self.pid, Some(WaitPidFlag::WNOHANG))
            .with_context(|| format!("waitpid {}", self.pid))?;
        match status {
            WaitStatus::StillAlive => Ok(None),
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => {
                self.reaped = true;
                Ok(Some(status))
            }
            _ => Ok(None),
        }
    }

    /// Read the child's whole standard output (until it closes it).
    pub fn read_stdout(&mut self) -> Result<String> {
        let mut text = String::new();
        if let Some(out) = self.stdout.as_mut() {
            out.read_to_string(&mut text)
                .context("read the child's stdout")?;
        }
        Ok(text)
    }

    /// SIGKILL the child.
    pub fn kill(&self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // A sandboxed child is killed and reaped by step 02's own Drop.
        if !self.reaped && self.sandboxed.is_none() {
            self.kill();
            let _ = waitpid(self.pid, None);
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")
}

/// Run `program args...` in `cgroup` (if any) and new `namespaces` (step
/// 02's names, e.g. [`NAMESPACES`]), its stdout captured when `capture` is set.
pub fn spawn(
    cgroup: Option<&dyn Cgroup>,
    namespaces: &str,
    program: &str,
    args: &[&str],
    capture: bool,
) -> Result<Child> {
    let set = Namespaces::parse(namespaces)?;
    // v2: be born inside the cgroup. If this kernel refuses (before 5.7),
    // fall back to the parent hook.
    if let Some(fd) = cgroup.and_then(|c| c.dir_fd()) {
        match clone3_into_cgroup(fd.as_raw_fd(), &set, program, args, capture)? {
            Some(child) => return Ok(child),
            None => eprintln!("note: clone3(CLONE_INTO_CGROUP) unsupported; using the parent hook"),
        }
    }
    spawn_with_hook(cgroup, &set, program, args, capture)
}

// ANCHOR: spawn
/// Step 02's Sandbox, with a parent set-up hook that puts the child into its
/// cgroup while it waits, before it may exec.
fn spawn_with_hook(
    cgroup: Option<&dyn Cgroup>,
    namespaces: &Namespaces,
    program: &str,
    args: &[&str],
    capture: bool,
) -> Result<Child> {
    let out = if capture { Some(pipe()?) } else { None };
    let out_write: Option<RawFd> = out.as_ref().map(|(_, w)| w.as_raw_fd());
    let mut sandbox = Sandbox::new(namespaces.clone());
    if namespaces.contains(step02::Namespace::Uts) {
        sandbox = sandbox.hostname(HOSTNAME);
    }
    if let Some(cgroup) = cgroup {
        // The parent hook: the child exists and waits; place it, then it goes on.
        sandbox = sandbox.parent_setup(move |pid| cgroup.add(pid));
    }
    if let Some(fd) = out_write {
        sandbox = sandbox.child_setup(move || {
            // Inside the child: its stdout becomes our pipe.
            // SAFETY: dup2(2) on two descriptors this process owns.
            let rc = unsafe { libc::dup2(fd, 1) };
            nix::errno::Errno::result(rc).context("dup2 the stdout pipe")?;
            Ok(())
        });
    }
    let mut argv = vec![program];
    argv.extend_from_slice(args);
    let child = sandbox.spawn_program(&argv)?;
    Ok(Child {
        pid: child.pid(),
        stdout: out.map(|(r, _w)| File::from(r)),
        placement: Placement::ParentHook,
        sandboxed: Some(child),
        reaped: false,
    })
}
// ANCHOR_END: spawn

/// v2: `clone3(CLONE_INTO_CGROUP)`. `Ok(None)` if the kernel refuses the flag.
// ANCHOR: clone_into
fn clone3_into_cgroup(
    cgroup_fd: RawFd,
    namespaces: &Namespaces,
    program: &str,
    args: &[&str],
    capture: bool,
) -> Result<Option<Child>> {
    // Everything the child needs is prepared before clone3: after it, the
    // child may not allocate.
    let path = CString::new(program).context("program path contains NUL")?;
    let mut argv: Vec<CString> = vec![path.clone()];
    for arg in args {
        argv.push(CString::new(*arg).context("argument contains NUL")?);
    }
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());

    let hostname = if namespaces.contains(step02::Namespace::Uts) {
        Some(CString::new(HOSTNAME).context("hostname contains NUL")?)
    } else {
        None
    };
    let (err_read, err_write) = pipe()?; // child -> parent: errno of a failed exec
    let out = if capture { Some(pipe()?) } else { None };
    let out_write: RawFd = out.as_ref().map_or(-1, |(_, w)| w.as_raw_fd());

    let flags = namespaces.clone_flags().bits() as u64 | CLONE_INTO_CGROUP;
    let pid = step02::clone3::clone3(flags, Some(cgroup_fd));
    if pid < 0 {
        let err = std::io::Error::last_os_error();
        // E2BIG/EINVAL/ENOSYS: a kernel without clone3 or CLONE_INTO_CGROUP.
        if matches!(
            err.raw_os_error(),
            Some(libc::E2BIG | libc::EINVAL | libc::ENOSYS)
        ) {
            return Ok(None);
        }
        return Err(err).context(format!(
            "clone3 (CLONE_INTO_CGROUP, new {namespaces} namespaces)"
        ));
    }
    if pid == 0 {
        // The child: already in its cgroup and namespaces. Only raw
        // async-signal-safe syscalls until execve.
        child_exec(
            err_write.as_raw_fd(),
            out_write,
            hostname.as_ref(),
            &path,
            &argv_ptrs,
            &env_ptrs,
        );
    }
    drop(err_write);
    let child = Child {
        pid: Pid::from_raw(pid),
        stdout: out.map(|(r, _w)| File::from(r)),
        placement: Placement::CloneIntoCgroup,
        sandboxed: None,
        reaped: false,
    };
    // exec closes err_write (O_CLOEXEC): EOF means success; 4 bytes mean errno.
    let mut errno = [0u8; 4];
    let mut err_file = File::from(err_read);
    if err_file
        .read(&mut errno)
        .context("read exec status from the child")?
        == 4
    {
        let err = std::io::Error::from_raw_os_error(i32::from_ne_bytes(errno));
        return Err(err).with_context(|| format!("execve {program}"));
    }
    Ok(Some(child))
}
// ANCHOR_END: clone_into

/// The child between clone3 and execve. Never returns.
fn child_exec(
    err: RawFd,
    out: RawFd,
    hostname: Option<&CString>,
    path: &CString,
    argv: &[*const libc::c_char],
    env: &[*const libc::c_char],
) -> ! {
    // SAFETY: raw syscalls on descriptors we own and pointers to memory
    // prepared before clone3 (still valid in our copy of the address space).
    unsafe {
        if let Some(name) = hostname {
            // Our own UTS namespace: this changes nobody else's hostname.
            libc::sethostname(name.as_ptr(), name.as_bytes().len());
        }
        if out >= 0 {
            libc::dup2(out, 1);
        }
        libc::execve(path.as_ptr(), argv.as_ptr(), env.as_ptr());
        let errno = *libc::__errno_location();
        libc::write(err, (&errno as *const i32).cast(), 4);
        libc::_exit(127);
    }
}

/// This program's own executable, to run its hidden `workload` commands.
pub fn own_exe() -> Result<String> {
    let exe = std::env::current_exe().context("find our own executable (/proc/self/exe)")?;
    Ok(exe.to_string_lossy().into_owned())
}
