//! `--net slirp4netns`: a network for a namespace that an unprivileged
//! user made (slirp4netns(1), tuntap: Documentation/networking/tuntap.rst).
//!
//! A rootless user may not create a veth or a bridge on the host: links
//! of the host's network namespace need `CAP_NET_ADMIN` there. Inside the
//! container's own namespace, which belongs to the container's user
//! namespace, it may do anything — but nothing there leads out. slirp4netns
//! joins that namespace, creates a TAP device `tap0` in it (an interface
//! whose frames a program reads and writes through a file descriptor), and
//! takes the descriptor back to the host's namespace. There it plays the
//! whole network in user space (libslirp, QEMU's user-mode network): a TCP
//! connection the container opens to 10.0.2.2 or the world becomes an
//! ordinary socket of the slirp4netns process, the user's own. The
//! container's side is fixed: `tap0` 10.0.2.100/24, gateway 10.0.2.2, DNS
//! 10.0.2.3. `--disable-host-loopback` keeps 10.0.2.2 from reaching the
//! host's 127.0.0.1, whose services trust local callers.
//!
//! This is how rootless podman gets its network (and why it is slower: each
//! packet crosses to user space and back).

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};
use nix::fcntl::OFlag;
use nix::unistd::Pid;

use crate::explain::Explain;

/// The program (Debian package `slirp4netns`).
pub const PROGRAM: &str = "slirp4netns";

/// The interface it creates in the container.
pub const TAP: &str = "tap0";

/// Is slirp4netns in `PATH` (as `command -v slirp4netns` would say)?
pub fn available() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(PROGRAM).is_file()))
}

/// A running slirp4netns serving one container; dropping it stops it.
#[derive(Debug)]
pub struct Slirp {
    child: Child,
    // The write end of its --exit-fd: closing it tells slirp4netns to
    // quit, and it closes by itself if tincan is killed with -9.
    exit: Option<OwnedFd>,
}

// ANCHOR: start
/// Give the network namespace of `pid` (cloned, waiting for its parent) a
/// `tap0` served by slirp4netns, and return once it is configured:
/// slirp4netns writes to its `--ready-fd` when the address and the route
/// are in place. Its messages go to `log`.
pub fn start(pid: Pid, log: &Path, explain: Explain) -> Result<Slirp> {
    let (ready_read, ready_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe2 (ready)")?;
    let (exit_read, exit_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe2 (exit)")?;
    let output = File::create(log).with_context(|| format!("create {}", log.display()))?;
    let (ready_fd, exit_fd) = (ready_write.as_raw_fd(), exit_read.as_raw_fd());
    let mut command = Command::new(PROGRAM);
    command
        .args(["--configure", "--mtu=65520", "--disable-host-loopback"])
        .arg(format!("--ready-fd={ready_fd}"))
        .arg(format!("--exit-fd={exit_fd}"))
        .arg(pid.to_string())
        .arg(TAP)
        .stdin(Stdio::null())
        .stdout(output.try_clone().context("dup the slirp4netns log")?)
        .stderr(output);
    // SAFETY: between fork and exec the hook only calls fcntl(2), which is
    // async-signal-safe, on two descriptors that stay open until after the
    // spawn returns (we own them).
    unsafe {
        command.pre_exec(move || keep_open(&[ready_fd, exit_fd]));
    }
    let child = command
        .spawn()
        .with_context(|| format!("start {PROGRAM} (is the Debian package installed?)"))?;
    // Our copies of its ends must go: a slirp4netns that dies unready
    // then shows as end-of-file on `ready`.
    drop((ready_write, exit_read));
    let mut slirp = Slirp {
        child,
        exit: Some(exit_write),
    };
    let mut byte = [0u8; 1];
    let n = nix::unistd::read(&ready_read, &mut byte).context("read slirp4netns's ready-fd")?;
    if n == 0 {
        let status = slirp.child.wait().context("wait for slirp4netns")?;
        let said = std::fs::read_to_string(log).unwrap_or_default();
        let last = said.lines().last().unwrap_or("no message");
        bail!("{PROGRAM} failed ({status}): {last}");
    }
    explain.step(
        "1",
        format_args!(
            "network: {PROGRAM} made {TAP} 10.0.2.100/24 via 10.0.2.2 in the container's namespace (a TAP device served from user space)"
        ),
    );
    Ok(slirp)
}
// ANCHOR_END: start

/// In the forked child, before exec: clear close-on-exec on `fds`.
fn keep_open(fds: &[RawFd]) -> std::io::Result<()> {
    for &fd in fds {
        // SAFETY: F_SETFD with 0 on a descriptor we own changes only its
        // close-on-exec flag.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

impl Drop for Slirp {
    fn drop(&mut self) {
        // Closing the exit fd asks it to quit; the kill makes sure.
        drop(self.exit.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
