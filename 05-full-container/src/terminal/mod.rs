//! A terminal for the container's process (`process.terminal` in the OCI
//! runtime spec; pty(7), posix_openpt(3), ioctl_tty(2), unix(7); runc's
//! `docs/terminals.md`).
//!
//! A pseudo-terminal is a pair of character devices: whatever is written to
//! the *master* reaches the program that holds the *slave* as if typed on a
//! keyboard, and what the program writes to the slave comes out of the
//! master. Between the two sits the kernel's line discipline: it echoes,
//! edits lines, turns `\n` into `\r\n`, and turns the byte Ctrl-C into
//! SIGINT for the terminal's foreground process group. That last part needs
//! the slave to be the process's *controlling terminal*: a new session
//! (setsid(2)) whose leader claims it (`TIOCSCTTY`).
//!
//! Like runc, tincan makes the pair inside the container, from the
//! container's own `/dev/ptmx` (its devpts instance), after the pivot: the
//! program then sees `/dev/pts/0` of its own, not a host device. The slave
//! becomes its stdin, stdout and stderr, and is bound on `/dev/console`. The
//! master must reach whoever talks to the program, which lives outside the
//! container: the child sends it over a unix socket with `SCM_RIGHTS`,
//! which makes the kernel install a copy of the descriptor in the receiver.
//! Who receives it:
//!
//! - an engine (`create --console-socket SOCK`, `exec --tty --console-socket`):
//!   tincan passes the master on and closes its copy. The engine's monitor
//!   (conmon, containerd's shim) keeps it, because it, not the runtime,
//!   outlives the `create` call and stays for the container's whole life;
//! - tincan itself (`run -t`, `exec --tty` in the foreground): [`relay`]
//!   copies between the caller's terminal and the master.

pub mod relay;

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::fcntl::OFlag;
use nix::pty::Winsize;
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr,
};

pub use relay::Relay;

/// `process.terminal: true`: the container's process gets a new terminal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Terminal {
    /// `process.consoleSize`, if given (else the kernel's 0x0, or the
    /// caller's terminal's size when tincan relays).
    pub size: Option<Size>,
    /// Where the master goes: an engine's `--console-socket`, or (`None`)
    /// tincan itself, which relays it to its own stdin and stdout.
    pub socket: Option<PathBuf>,
}

/// A window size in characters (`struct winsize`, `TIOCSWINSZ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Lines (`consoleSize.height`).
    pub rows: u16,
    /// Columns (`consoleSize.width`).
    pub cols: u16,
}

// TIOCSCTTY takes an int (0: do not steal a terminal that is another
// session's); the window-size ioctls take a `struct winsize`.
nix::ioctl_write_int_bad!(
    /// Make the terminal our controlling terminal.
    tiocsctty,
    libc::TIOCSCTTY
);
nix::ioctl_write_ptr_bad!(
    /// Set a terminal's window size.
    tiocswinsz,
    libc::TIOCSWINSZ,
    Winsize
);
nix::ioctl_read_bad!(
    /// Read a terminal's window size.
    tiocgwinsz,
    libc::TIOCGWINSZ,
    Winsize
);

// ANCHOR: check
/// The combinations runc accepts. A runtime that detaches (`create`,
/// `exec --detach`, `run -d`) leaves nobody to hold a master it kept, so a
/// terminal needs a socket to send it to; and a socket with no terminal, or
/// with a tincan that stays to relay, is a mistake in the call.
pub fn check(terminal: bool, socket: Option<&Path>, detach: bool) -> Result<()> {
    match (terminal, socket, detach) {
        (true, None, true) => bail!(
            "a terminal (process.terminal, --tty, -t) needs --console-socket SOCKET when tincan \
             detaches (create, exec --detach, run -d): pass the socket, or set terminal to false"
        ),
        (false, Some(_), _) => bail!(
            "--console-socket given, but process.terminal is false: set it to true (exec: --tty), \
             or drop --console-socket"
        ),
        (true, Some(_), false) => bail!(
            "--console-socket is for a tincan that detaches (create, exec --detach); without \
             --detach, drop it and tincan relays the terminal itself"
        ),
        _ => Ok(()),
    }
}
// ANCHOR_END: check

/// The parent's half of a terminal: the socket pair the child sends the
/// master over, and where it goes next.
#[derive(Debug)]
pub struct Console {
    from_child: OwnedFd,
    to_parent: OwnedFd,
    engine: Option<UnixStream>,
    size: Option<Size>,
    bind_console: bool,
}

impl Console {
    /// Before the clone: connect to the engine's socket (a wrong path fails
    /// here, with nothing made yet) and make the pair the child inherits.
    /// `bind_console`: also bind the slave on `/dev/console` (the first
    /// process; `exec` leaves the container's mounts alone).
    pub fn prepare(terminal: Option<&Terminal>, bind_console: bool) -> Result<Option<Console>> {
        let Some(terminal) = terminal else {
            return Ok(None);
        };
        let engine = match &terminal.socket {
            Some(path) => Some(
                UnixStream::connect(path)
                    .with_context(|| format!("connect to the console socket {}", path.display()))?,
            ),
            None => None,
        };
        let (from_child, to_parent) = nix::sys::socket::socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .context("socketpair(AF_UNIX) for the terminal")?;
        Ok(Some(Console {
            from_child,
            to_parent,
            engine,
            size: terminal.size,
            bind_console,
        }))
    }
}

// ANCHOR: child_side
/// In the child, after the pivot and before privileges are dropped: make
/// the pair from the container's `/dev/ptmx`, send the master out, and make
/// the slave this process's controlling terminal and stdio.
pub fn child_side(console: Option<&Console>) -> Result<()> {
    let Some(console) = console else {
        return Ok(());
    };
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master = nix::pty::posix_openpt(flags)
        .context("posix_openpt: open /dev/ptmx in the container (mount a devpts on /dev/pts)")?;
    nix::pty::grantpt(&master).context("grantpt")?;
    nix::pty::unlockpt(&master).context("unlockpt")?;
    let name = nix::pty::ptsname_r(&master).context("ptsname_r")?;
    let slave = nix::fcntl::open(name.as_str(), flags, nix::sys::stat::Mode::empty())
        .with_context(|| format!("open {name}"))?;
    if let Some(size) = console.size {
        set_size(slave.as_fd(), size)?;
    }
    if console.bind_console {
        bind_on_dev_console(&name)?;
    }
    send_fd(console.to_parent.as_fd(), master.as_fd(), &name)?;
    // Our copy goes: the one in flight belongs to the receiver now.
    drop(master);
    // A new session has no controlling terminal; its leader may claim one.
    // From now on, the kernel sends the terminal's signals (Ctrl-C, Ctrl-\,
    // hang-up) to this session's foreground process group.
    nix::unistd::setsid().context("setsid")?;
    // SAFETY: TIOCSCTTY reads only its integer argument; `slave` is open.
    unsafe { tiocsctty(slave.as_raw_fd(), 0) }.with_context(|| format!("TIOCSCTTY on {name}"))?;
    nix::unistd::dup2_stdin(&slave).with_context(|| format!("dup2({name}, 0)"))?;
    nix::unistd::dup2_stdout(&slave).with_context(|| format!("dup2({name}, 1)"))?;
    nix::unistd::dup2_stderr(&slave).with_context(|| format!("dup2({name}, 2)"))?;
    Ok(())
}
// ANCHOR_END: child_side

/// Bind the slave on `/dev/console`, as runc does: programs that write to
/// "the console" (an init, a logger) reach this terminal instead of
/// nothing. A read-only `/dev` without the file cannot take it; the
/// terminal still works as stdio, so that case is skipped.
fn bind_on_dev_console(slave: &str) -> Result<()> {
    let console = Path::new("/dev/console");
    if !console.exists() {
        match std::fs::File::create(console) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EROFS) => return Ok(()),
            Err(e) => return Err(e).context("create /dev/console"),
        }
    }
    nix::mount::mount(
        Some(slave),
        console,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("bind {slave} on /dev/console"))
}

/// `TIOCSWINSZ`: the size the program reads with `TIOCGWINSZ` (`stty size`).
fn set_size(fd: BorrowedFd<'_>, size: Size) -> Result<()> {
    let ws = Winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: the kernel reads one `struct winsize` from `&ws`, which lives
    // for the call; `fd` is open.
    unsafe { tiocswinsz(fd.as_raw_fd(), &ws) }.context("ioctl(TIOCSWINSZ)")?;
    Ok(())
}

/// `TIOCGWINSZ` of a terminal, if `fd` is one.
fn get_size(fd: BorrowedFd<'_>) -> Option<Size> {
    let mut ws = Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: the kernel writes one `struct winsize` into `ws`; `fd` is open.
    unsafe { tiocgwinsz(fd.as_raw_fd(), &mut ws) }.ok()?;
    Some(Size {
        rows: ws.ws_row,
        cols: ws.ws_col,
    })
}

// ANCHOR: scm_rights
/// Send `fd` over the unix socket `socket` as `SCM_RIGHTS` ancillary
/// data, with `name` as the message (runc sends the pty's name too).
fn send_fd(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>, name: &str) -> Result<()> {
    let fds = [fd.as_raw_fd()];
    nix::sys::socket::sendmsg::<UnixAddr>(
        socket.as_raw_fd(),
        &[IoSlice::new(name.as_bytes())],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .context("sendmsg(SCM_RIGHTS) of the terminal's master")?;
    Ok(())
}

/// Receive the descriptor the child sent. It was sent before `spawn`
/// returned, so it is there: `MSG_DONTWAIT` turns a missing one into an
/// error instead of a wait.
fn receive_fd(socket: BorrowedFd<'_>) -> Result<OwnedFd> {
    let mut name = [0u8; 64];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<UnixAddr>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .context("recvmsg: the container's process sent no terminal")?;
    for cmsg in msg.cmsgs().context("recvmsg: the control messages")? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel has just installed `fd` in our table
                // for this message; nothing else refers to it.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    bail!("recvmsg: a message without a descriptor on the terminal's socket")
}
// ANCHOR_END: scm_rights

// ANCHOR: hand_master
/// After the spawn: take the master from the child, then send it to the
/// engine and close our copy, or keep it and relay (tincan in the
/// foreground).
pub fn hand_master(console: Option<Console>) -> Result<Option<Relay>> {
    let Some(console) = console else {
        return Ok(None);
    };
    let master = receive_fd(console.from_child.as_fd())?;
    match &console.engine {
        Some(engine) => {
            send_fd(engine.as_fd(), master.as_fd(), "tincan-console")?;
            Ok(None)
        }
        None => Relay::start(master).map(Some),
    }
}
// ANCHOR_END: hand_master

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_and_terminal_go_together_as_in_runc() {
        let sock = Some(Path::new("/s"));
        assert!(check(true, sock, true).is_ok(), "create -t with a socket");
        assert!(check(true, None, false).is_ok(), "run -t: tincan relays");
        assert!(check(false, None, true).is_ok(), "no terminal at all");
        for (terminal, socket, detach) in
            [(true, None, true), (false, sock, true), (true, sock, false)]
        {
            let err = check(terminal, socket, detach).expect_err("refused");
            assert_eq!(format!("{err:#}").lines().count(), 1, "{err:#}");
        }
    }

    #[test]
    fn a_descriptor_crosses_a_socket_pair() {
        let (a, b) = nix::sys::socket::socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .expect("socketpair");
        let (r, w) = nix::unistd::pipe().expect("pipe");
        send_fd(a.as_fd(), w.as_fd(), "pipe").expect("send");
        drop(w);
        let received = receive_fd(b.as_fd()).expect("receive");
        nix::unistd::write(&received, b"x").expect("write through the received copy");
        let mut byte = [0u8; 1];
        nix::unistd::read(&r, &mut byte).expect("read");
        assert_eq!(&byte, b"x");
    }
}
