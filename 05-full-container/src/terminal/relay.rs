//! tincan in the foreground holds the master itself (`run -t`, `exec
//! --tty`): it copies the caller's keystrokes to the master and the
//! master's output to its own stdout, as runc's foreground mode does
//! (termios(3), signal(7)).
//!
//! Two terminals are now in a row: the caller's and the container's. Only
//! one of them may interpret the keys, and it must be the container's, or
//! Ctrl-C would stop tincan instead of the program inside. So the caller's
//! terminal goes into *raw* mode (no echo, no line editing, no signals:
//! every byte passes as it is) and back as it was when the relay ends, on
//! an error too. When the caller's window changes size, the kernel sends
//! tincan SIGWINCH; tincan copies the new size onto the master, and the
//! kernel then sends SIGWINCH to the program inside, which redraws.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::sys::termios::{SetArg, Termios};

use super::{get_size, set_size};

/// The write end of the SIGWINCH pipe (-1: no relay).
static WINCH: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_winch(_: libc::c_int) {
    let fd = WINCH.load(Ordering::SeqCst);
    if fd >= 0 {
        // A handler may only do async-signal-safe work: write(2) is. The
        // errno it may change belongs to the interrupted code: keep it.
        let saved = nix::errno::Errno::last_raw();
        // SAFETY: write(2) of one byte from a static buffer; a bad or full
        // (non-blocking) pipe only makes it fail, which is harmless here.
        unsafe { libc::write(fd, b"w".as_ptr().cast(), 1) };
        nix::errno::Errno::set_raw(saved);
    }
}

/// The relay between the caller and the container's terminal. Drop
/// restores the caller's terminal and stops the input side.
#[derive(Debug)]
pub struct Relay {
    output: Option<JoinHandle<()>>,
    saved: Option<Termios>,
    winch: Option<OwnedFd>,
}

// ANCHOR: relay
impl Relay {
    /// Raw mode on the caller's terminal (if stdin is one), the window size
    /// copied over, and one thread each way.
    pub fn start(master: OwnedFd) -> Result<Relay> {
        let stdin = std::io::stdin();
        let is_tty = stdin.is_terminal();
        let saved = match is_tty {
            true => Some(raw_mode(&stdin)?),
            false => None,
        };
        // From here on, Drop puts the caller's terminal back.
        let mut relay = Relay {
            output: None,
            saved,
            winch: None,
        };
        if let Some(size) = is_tty.then(|| get_size(stdin.as_fd())).flatten() {
            set_size(master.as_fd(), size)?;
        }
        let (winch_read, winch_write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).context("pipe2 (SIGWINCH)")?;
        WINCH.store(winch_write.as_raw_fd(), Ordering::SeqCst);
        relay.winch = Some(winch_write);
        let action = SigAction::new(
            SigHandler::Handler(on_winch),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: the handler only writes one byte to a pipe
        // (async-signal-safe); SIGWINCH has no other handler in tincan.
        unsafe { sigaction(Signal::SIGWINCH, &action) }.context("sigaction(SIGWINCH)")?;

        let input = File::from(master.try_clone().context("dup the master")?);
        std::thread::spawn(move || pump_input(input, winch_read, is_tty));
        let mut output = File::from(master);
        // A copy of fd 1 of our own: `std::io::stdout()` is a lock that
        // tincan's main thread may hold for its whole run.
        let mut stdout = File::from(
            std::io::stdout()
                .as_fd()
                .try_clone_to_owned()
                .context("dup stdout")?,
        );
        relay.output = Some(std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once the last holder of the slave has closed it: the
            // container's processes are gone.
            while let Ok(n @ 1..) = output.read(&mut buf) {
                if stdout.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }));
        Ok(relay)
    }

    /// After the container's process ended: wait until its last output is
    /// printed, then restore the caller's terminal (Drop).
    pub fn finish(mut self) {
        if let Some(output) = self.output.take() {
            let _ = output.join();
        }
    }
}
// ANCHOR_END: relay

impl Drop for Relay {
    fn drop(&mut self) {
        let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        // SAFETY: puts back the default disposition of SIGWINCH (ignore).
        let _ = unsafe { sigaction(Signal::SIGWINCH, &default) };
        WINCH.store(-1, Ordering::SeqCst);
        // Closing the write end wakes the input thread, which then leaves.
        self.winch = None;
        if let Some(saved) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, saved);
        }
    }
}

/// cfmakeraw(3) on the caller's terminal; returns the settings to restore.
fn raw_mode(stdin: &std::io::Stdin) -> Result<Termios> {
    let saved = nix::sys::termios::tcgetattr(stdin).context("tcgetattr(stdin)")?;
    let mut raw = saved.clone();
    nix::sys::termios::cfmakeraw(&mut raw);
    nix::sys::termios::tcsetattr(stdin, SetArg::TCSANOW, &raw).context("tcsetattr(stdin, raw)")?;
    Ok(saved)
}

/// stdin to the master, and each SIGWINCH's new size too, until the
/// SIGWINCH pipe closes (the relay ended). At the end of stdin, only the
/// sizes are left to pass on: the program inside reads on until it exits.
fn pump_input(mut master: File, winch: OwnedFd, is_tty: bool) {
    let stdin = std::io::stdin();
    let mut stdin_open = true;
    let mut buf = [0u8; 4096];
    loop {
        let mut fds = vec![PollFd::new(winch.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        let (winch_ready, stdin_ready) = (ready(&fds[0]), fds.get(1).is_some_and(ready));
        drop(fds);
        if winch_ready {
            match nix::unistd::read(&winch, &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EBADF) => return,
                _ => {}
            }
            if let Some(size) = is_tty.then(|| get_size(stdin.as_fd())).flatten() {
                let _ = set_size(master.as_fd(), size);
            }
        }
        if stdin_ready {
            match nix::unistd::read(&stdin, &mut buf) {
                Ok(n @ 1..) => {
                    if master.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
                Ok(0) | Err(_) => stdin_open = false,
            }
        }
    }
}
