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
//! 2. **Everywhere else: a parent hook.** The child is created, then blocks
//!    reading a pipe; the parent writes its pid into `cgroup.procs` (on v1,
//!    one file per hierarchy) and only then writes to the pipe. The child
//!    execs only after it was placed. This is what step 02's parent set-up
//!    hook is for, and what runc does on v1.
//!
//! The child also gets new PID, UTS and IPC namespaces (step 02), so every
//! demo runs as a small container: its own pid 1, its own hostname.
//!
//! The child side runs between `clone3` and `execve` in a copy of a possibly
//! multithreaded process, so it only makes raw, async-signal-safe syscalls
//! (`read`, `dup2`, `execve`, `write`, `_exit`): no allocation, no locks.

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::cgroup::{Cgroup, check_interrupted};

/// `CLONE_INTO_CGROUP` from linux/sched.h. The libc crate declares it as a
/// 32-bit `c_int`, which cannot hold bit 33, so we spell it out.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The namespaces every demo's child gets (step 02).
pub const NAMESPACES: u64 = (libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC) as u64;

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
            Placement::ParentHook => "placed by the parent (cgroup.procs) before exec",
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
    reaped: bool,
}

impl Child {
    /// Wait for the child to end, checking for Ctrl-C every few milliseconds.
    pub fn wait(&mut self) -> Result<WaitStatus> {
        loop {
            check_interrupted()?;
            match self.try_wait()? {
                Some(status) => return Ok(status),
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    /// The exit status if the child has ended, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<WaitStatus>> {
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
        if !self.reaped {
            self.kill();
            let _ = waitpid(self.pid, None);
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")
}

/// Run `program args...` in `cgroup` (if any) with `namespaces` (clone
/// flags, e.g. [`NAMESPACES`]), its stdout captured when `capture` is set.
// ANCHOR: spawn
pub fn spawn(
    cgroup: Option<&dyn Cgroup>,
    namespaces: u64,
    program: &str,
    args: &[&str],
    capture: bool,
) -> Result<Child> {
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

    let (go_read, go_write) = pipe()?; // parent -> child: "you are placed, exec"
    let (err_read, err_write) = pipe()?; // child -> parent: errno of a failed exec
    let out = if capture { Some(pipe()?) } else { None };
    let out_write: RawFd = out.as_ref().map_or(-1, |(_, w)| w.as_raw_fd());

    // Try to be born inside the cgroup; fall back to the parent hook.
    let mut placement = Placement::ParentHook;
    let mut pid = -1;
    if let Some(fd) = cgroup.and_then(|c| c.dir_fd()) {
        pid = clone3(namespaces | CLONE_INTO_CGROUP, fd.as_raw_fd());
        if pid >= 0 {
            placement = Placement::CloneIntoCgroup;
        }
    }
    if pid < 0 {
        pid = clone3(namespaces, -1);
    }
    if pid < 0 {
        return Err(std::io::Error::last_os_error())
            .context("clone3 (new PID, UTS, IPC namespaces)");
    }
    if pid == 0 {
        // The child. SAFETY (for the block): only raw async-signal-safe
        // syscalls on fds and pointers prepared before clone3.
        child_exec(
            go_read.as_raw_fd(),
            err_write.as_raw_fd(),
            out_write,
            &path,
            &argv_ptrs,
            &env_ptrs,
        );
    }
    let pid = Pid::from_raw(pid);
    drop(go_read);
    drop(err_write);
    let stdout = out.map(|(r, _w)| File::from(r));
    let child = Child {
        pid,
        stdout,
        placement,
        reaped: false,
    };
    // The parent hook: place the child before letting it exec.
    if let (Some(cgroup), Placement::ParentHook) = (cgroup, placement) {
        cgroup.add(pid)?; // on error, dropping `child` kills and reaps it
    }
    nix::unistd::write(&go_write, b"x").context("tell the child to exec (pipe write)")?;
    drop(go_write);
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
    Ok(child)
}
// ANCHOR_END: spawn

/// The raw `clone3(2)` system call, fork-like (no shared memory, SIGCHLD on
/// exit). Returns the child's pid in the parent, 0 in the child, -1 on error.
// ANCHOR: clone3
fn clone3(flags: u64, cgroup_fd: RawFd) -> libc::pid_t {
    // SAFETY: clone_args is a plain C struct; all-zero is its documented
    // "nothing requested" value.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = flags;
    args.exit_signal = libc::SIGCHLD as u64;
    if cgroup_fd >= 0 {
        args.cgroup = cgroup_fd as u64;
    }
    // SAFETY: without CLONE_VM the child gets a copy of our memory, like
    // fork(2), so no stack needs to be supplied; args outlives the call and
    // its size is passed along.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    ret as libc::pid_t
}
// ANCHOR_END: clone3

/// The child between clone3 and execve. Never returns.
fn child_exec(
    go: RawFd,
    err: RawFd,
    out: RawFd,
    path: &CString,
    argv: &[*const libc::c_char],
    env: &[*const libc::c_char],
) -> ! {
    let mut byte = 0u8;
    // SAFETY: raw syscalls on descriptors we own and pointers to memory
    // prepared before clone3 (still valid in our copy of the address space).
    unsafe {
        // Block until the parent has placed us in the cgroup.
        if libc::read(go, (&mut byte as *mut u8).cast(), 1) != 1 {
            libc::_exit(126);
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
