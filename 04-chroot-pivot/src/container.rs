//! Running one program in a root filesystem: under chroot only, or as a
//! small container (new namespaces, an optional cgroup, pivot_root).
//!
//! Step 02's [`Sandbox`] does the process part: clone(2) into new
//! namespaces, a parent hook while the child waits on a pipe (step 03 puts
//! it into its cgroup there), a child hook, then execve(2), with set-up
//! errors reported back to the parent. This step adds what the child hook
//! does: enter the rootfs, by chroot(2) or by pivot_root(2) with fresh
//! mounts (mount_namespaces(7)).

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

use anyhow::{Context, Result};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use step02::{Exit, Namespace, Namespaces, Sandbox};
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
        options: pivot::Options<'a>,
        /// The UTS hostname inside.
        hostname: &'a str,
        /// The cgroup to place the child in before it runs anything.
        cgroup: Option<&'a dyn Cgroup>,
    },
}

/// The namespaces a container gets (namespaces(7)); the cgroup namespace is
/// added by the child itself once it sits in its cgroup.
pub fn namespaces() -> Namespaces {
    [
        Namespace::Mount,
        Namespace::Pid,
        Namespace::Uts,
        Namespace::Ipc,
        Namespace::Net,
    ]
    .into_iter()
    .fold(Namespaces::none(), Namespaces::with)
}

/// How the program ended, and what it printed (stdout and stderr).
#[derive(Debug)]
pub struct Finished {
    /// How the child ended.
    pub exit: Exit,
    /// Everything it wrote to stdout and stderr.
    pub output: String,
}

impl Finished {
    /// True when the program exited with status 0.
    pub fn success(&self) -> bool {
        self.exit.success()
    }

    /// The exit code, or 128 + signal as shells report it.
    pub fn code(&self) -> i32 {
        match self.exit {
            Exit::Code(code) => code,
            Exit::Signaled(signal) => 128 + signal as i32,
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")
}

/// Read a pipe until every writer has closed it, checking for Ctrl-C
/// (step 03's `check_interrupted`) every 50 ms so that an interrupted run
/// returns an error, and the guards kill the child and remove its cgroup.
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
    let (out_r, out_w) = pipe()?;
    let mut sandbox = match isolation {
        Isolation::Chroot => Sandbox::new(Namespaces::none()),
        Isolation::Container {
            hostname, cgroup, ..
        } => {
            let sandbox = Sandbox::new(namespaces()).hostname(*hostname);
            match cgroup {
                // Step 03: into the cgroup while the child still waits.
                Some(cgroup) => sandbox.parent_setup(|pid| cgroup.add(pid)),
                None => sandbox,
            }
        }
    };
    sandbox = sandbox.child_setup(|| {
        // If the runtime dies (Ctrl-C, a crash), the kernel kills us too:
        // a PID namespace's init ignores SIGINT sent from outside.
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("prctl(PR_SET_PDEATHSIG)")?;
        match isolation {
            Isolation::Chroot => crate::chroot::enter(&rootfs)?,
            Isolation::Container {
                options, cgroup, ..
            } => {
                if cgroup.is_some() {
                    // Now that we sit in our cgroup, make it our cgroup root.
                    nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
                        .context("unshare(CLONE_NEWCGROUP)")?;
                }
                let own_cgroup = cgroup.map(|c| c.relative());
                pivot::pivot_into(
                    &rootfs,
                    pivot::Options {
                        own_cgroup,
                        ..*options
                    },
                )?;
            }
        }
        clean_environment();
        nix::unistd::dup2_stdout(&out_w).context("dup2 stdout")?;
        nix::unistd::dup2_stderr(&out_w).context("dup2 stderr")?;
        Ok(())
    });
    let child = sandbox
        .spawn_program(argv)
        .context("container set-up failed")?;
    // Our copy of the write end must go, or we would never see EOF.
    drop(out_w);
    let output = read_to_end(out_r).context("read the program's output")?;
    let exit = child.wait()?;
    Ok(Finished { exit, output })
}
// ANCHOR_END: run

/// The program gets a small, known environment, not the host's.
fn clean_environment() {
    for (key, _) in std::env::vars_os() {
        // SAFETY: this runs in the freshly cloned child, which has a single
        // thread, so nothing can read the environment concurrently.
        unsafe { std::env::remove_var(key) };
    }
    // SAFETY: as above, single-threaded child.
    unsafe {
        std::env::set_var("PATH", "/bin");
        std::env::set_var("HOME", "/root");
    }
}
