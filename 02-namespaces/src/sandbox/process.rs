//! The parent's handle on a sandboxed child: wait for it, kill it, or let
//! it go on alone.

use std::os::fd::{AsFd, OwnedFd};

use anyhow::{Context, Result, anyhow, bail};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

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
    pub fn code(self) -> i32 {
        match self {
            Exit::Code(code) => code,
            Exit::Signaled(sig) => 128 + sig as i32,
        }
    }

    /// [`Exit::code`] as the byte a process exit status is.
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
    pub(super) fn new(pid: Pid, report: OwnedFd) -> Child {
        Child {
            pid,
            report: Some(report),
            reaped: false,
        }
    }

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

    // ANCHOR: wait_forwarding
    /// [`Child::wait`], passing on every signal that we catch meanwhile
    /// (`step01::signals::catch`): what `docker run` does with Ctrl-C, so
    /// that the program inside decides what an interrupt means.
    pub fn wait_forwarding(mut self) -> Result<Exit> {
        let exit = self.reap_with(|pid| {
            if let Some(signal) = step01::signals::take() {
                let _ = kill(pid, signal);
            }
        })?;
        match self.read_report(false)? {
            Some(message) => Err(anyhow!(message)),
            None => Ok(exit),
        }
    }
    // ANCHOR_END: wait_forwarding

    fn reap(&mut self) -> Result<Exit> {
        self.reap_with(|_| {})
    }

    /// waitpid(2) until the child is gone; `on_interrupt` runs whenever a
    /// caught signal interrupted the wait (EINTR), and once before.
    fn reap_with(&mut self, on_interrupt: impl Fn(Pid)) -> Result<Exit> {
        loop {
            on_interrupt(self.pid);
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

    /// Wait until the child is set up: 'R' (a closure started, or the child
    /// waits at its gate), EOF (exec succeeded, or the child died) or 'E' +
    /// a message (it failed).
    pub(super) fn await_start(&mut self) -> Result<()> {
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
