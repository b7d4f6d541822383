//! Running one program in a root filesystem: under chroot only, or as a
//! small container (new namespaces, an optional cgroup, pivot_root).
//!
//! The child is created with clone(2) (namespaces of step 02), waits on a
//! pipe until the parent has put it into its cgroup (step 03's parent
//! hook), then sets up its root and execve(2)s the program. Errors in the
//! child travel back to the parent through a close-on-exec pipe: the pipe
//! closes without data when execve succeeds, so the parent can tell "the
//! program ran" from "the set-up failed" and print the set-up error itself.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use anyhow::{Context, Result, bail};
use nix::sched::CloneFlags;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
use step03::cgroup::Cgroup;

use crate::pivot;

/// How much of the host the program is kept from.
pub enum Isolation<'a> {
    /// chroot(2) only, in a plain child: same namespaces, same mounts.
    Chroot,
    /// New mount, PID, UTS, IPC and network namespaces, pivot_root into
    /// the rootfs with fresh mounts, optionally inside a cgroup.
    Container {
        /// What to mount and whether the root is read-only.
        options: pivot::Options,
        /// The UTS hostname inside.
        hostname: &'a str,
        /// The cgroup to place the child in before it runs anything.
        cgroup: Option<&'a dyn Cgroup>,
    },
}

/// The namespaces a container gets (namespaces(7)); the cgroup namespace is
/// added by the child itself once it sits in its cgroup.
pub const NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWNS
    .union(CloneFlags::CLONE_NEWPID)
    .union(CloneFlags::CLONE_NEWUTS)
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWNET);

/// How the program ended, and what it printed (stdout and stderr).
#[derive(Debug)]
pub struct Finished {
    /// The wait status of the child.
    pub status: WaitStatus,
    /// Everything it wrote to stdout and stderr.
    pub output: String,
}

impl Finished {
    /// True when the program exited with status 0.
    pub fn success(&self) -> bool {
        matches!(self.status, WaitStatus::Exited(_, 0))
    }

    /// The exit code, or 128 + signal as shells report it.
    pub fn code(&self) -> i32 {
        match self.status {
            WaitStatus::Exited(_, code) => code,
            WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
            _ => -1,
        }
    }
}

/// Kills and reaps the child if we return early.
struct Reaper(Option<Pid>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")
}

/// Read a pipe until every writer has closed it, checking for Ctrl-C
/// (step 03's handler) every 50 ms so that an interrupted run returns an
/// error, and the guards kill the child and remove its cgroup.
fn read_to_end(fd: OwnedFd) -> Result<String> {
    use nix::poll::{PollFd, PollFlags, poll};
    let mut file = File::from(fd);
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        step03::cgroup::check_interrupted()?;
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&file),
            PollFlags::POLLIN,
        )];
        match poll(&mut fds, 50u16) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(e).context("poll"),
        }
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("read"),
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

// ANCHOR: run
/// Run `argv` (an absolute path inside the rootfs, then arguments) in
/// `rootfs` with `isolation`, and collect what it prints.
pub fn run(rootfs: &Path, isolation: &Isolation, argv: &[&str]) -> Result<Finished> {
    crate::rootfs::check(rootfs)?;
    let rootfs = rootfs
        .canonicalize()
        .with_context(|| format!("resolve rootfs {}", rootfs.display()))?;
    let args = argv
        .iter()
        .map(|a| CString::new(*a).context("argument contains NUL"))
        .collect::<Result<Vec<_>>>()?;
    let Some(program) = args.first() else {
        bail!("no program to run")
    };
    let env = [c"PATH=/bin".to_owned(), c"HOME=/root".to_owned()];
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    let flags = match isolation {
        Isolation::Chroot => CloneFlags::empty(),
        Isolation::Container { .. } => NAMESPACES,
    };
    let child_main = || -> isize {
        let result = (|| -> Result<()> {
            // If the runtime dies (Ctrl-C, a crash), the kernel kills us too:
            // a PID namespace's init ignores SIGINT from its parent's namespace.
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("prctl(PR_SET_PDEATHSIG)")?;
            // Wait until the parent has placed us into the cgroup.
            // (A 0-byte read means the parent died before saying "go".)
            let mut byte = [0u8; 1];
            if nix::unistd::read(&go_r, &mut byte).context("wait for the parent")? == 0 {
                bail!("the parent exited before the container started");
            }
            match isolation {
                Isolation::Chroot => crate::chroot::enter(&rootfs)?,
                Isolation::Container {
                    options,
                    hostname,
                    cgroup,
                } => {
                    if cgroup.is_some() {
                        // Now that we sit in our cgroup, make it our cgroup root.
                        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
                            .context("unshare(CLONE_NEWCGROUP)")?;
                    }
                    nix::unistd::sethostname(hostname).context("sethostname")?;
                    let options = pivot::Options {
                        cgroup_fs: cgroup.map(|c| c.version()),
                        ..*options
                    };
                    pivot::pivot_into(&rootfs, options)?;
                }
            }
            nix::unistd::dup2_stdout(&out_w).context("dup2 stdout")?;
            nix::unistd::dup2_stderr(&out_w).context("dup2 stderr")?;
            let Err(e) = nix::unistd::execve(program, &args, &env);
            Err(e).with_context(|| format!("execve {} inside the rootfs", argv[0]))
        })();
        if let Err(e) = result {
            // Short messages fit the pipe buffer, so one write does it.
            let _ = nix::unistd::write(&err_w, format!("{e:#}").as_bytes());
        }
        127
    };
    let mut stack = vec![0u8; 1 << 20];
    // SAFETY: the child gets a copy of our memory (no CLONE_VM) and its own
    // stack; this program does not run other threads while it sets up (the
    // test harness runs the binary, not this function).
    let pid =
        unsafe { nix::sched::clone(Box::new(child_main), &mut stack, flags, Some(libc::SIGCHLD)) }
            .with_context(|| format!("clone({flags:?})"))?;
    let mut reaper = Reaper(Some(pid));
    drop((out_w, err_w, go_r));
    if let Isolation::Container {
        cgroup: Some(cgroup),
        ..
    } = isolation
    {
        cgroup.add(pid)?;
    }
    File::from(go_w)
        .write_all(b"g")
        .context("tell the child to go on")?;
    let setup_error = read_to_end(err_r).context("read the child's set-up error")?;
    if !setup_error.is_empty() {
        bail!("container set-up failed: {setup_error}");
    }
    let output = read_to_end(out_r).context("read the program's output")?;
    reaper.0 = None;
    let status = waitpid(pid, None).with_context(|| format!("waitpid {pid}"))?;
    Ok(Finished { status, output })
}
// ANCHOR_END: run
