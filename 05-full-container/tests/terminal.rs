//! A terminal for the container, as engines ask for one: `create
//! --console-socket` with `process.terminal`, and `exec --tty
//! --console-socket --detach`. The test plays the engine: it listens on a
//! unix socket, receives the pty master with SCM_RIGHTS, and talks to the
//! program through it. As root.

mod common;

use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{TempDir, assert_nothing_left, rootfs, tincan_quiet};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, UnixAddr};

/// The program: its terminal's name and size, then one line read back.
const SCRIPT: &str = "tty; stty size; read x; echo got:$x";

/// [`SCRIPT`] with one more `stty size` after the line was read.
const RESIZED: &str = "tty; stty size; read x; stty size; echo got:$x";

/// The test image with `tty` and `stty` too.
fn image(tag: &str) -> TempDir {
    let image = rootfs(tag);
    for program in ["tty", "stty"] {
        common::install(
            image.path(),
            &common::which(program),
            &Path::new("/bin").join(program),
        );
    }
    image
}

/// The engine's side of `--console-socket`: a listening socket in `dir`.
struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    fn new(dir: &Path) -> ConsoleSocket {
        let path = dir.join("console.sock");
        let listener = UnixListener::bind(&path).expect("bind the console socket");
        listener.set_nonblocking(true).expect("non-blocking");
        ConsoleSocket { path, listener }
    }

    fn arg(&self) -> &str {
        self.path.to_str().expect("utf-8")
    }

    /// Accept tincan's connection and take the master out of its message.
    fn receive_master(&self) -> OwnedFd {
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match self.listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("tincan never connected to the console socket: {e}"),
            }
        };
        stream.set_nonblocking(false).expect("blocking");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut name = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut name)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = nix::sys::socket::recvmsg::<UnixAddr>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .expect("recvmsg on the console socket");
        for cmsg in msg.cmsgs().expect("cmsgs") {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                // SAFETY: the kernel just installed this descriptor for us.
                return unsafe { OwnedFd::from_raw_fd(fds[0]) };
            }
        }
        panic!("a message without SCM_RIGHTS on the console socket");
    }
}

/// Read the master until `needle` has appeared (or the slave is closed),
/// with `\r\n` as `\n`.
fn read_until(master: &OwnedFd, needle: &str, text: &mut String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut file = std::fs::File::from(master.try_clone().expect("dup"));
    let mut buf = [0u8; 1024];
    while !text.contains(needle) {
        assert!(Instant::now() < deadline, "no {needle:?} in {text:?}");
        let mut fds = [nix::poll::PollFd::new(
            master.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        if nix::poll::poll(&mut fds, 100u16).expect("poll") == 0 {
            continue;
        }
        match file.read(&mut buf) {
            Ok(n @ 1..) => text.push_str(&String::from_utf8_lossy(&buf[..n]).replace('\r', "")),
            // EIO: every holder of the slave closed it.
            _ => return,
        }
    }
}

fn bundle(tag: &str, image: &Path, args: &[&str], terminal: bool) -> TempDir {
    common::spec_bundle(tag, image, args, |json| {
        json["process"]["terminal"] = terminal.into();
        json["process"]["consoleSize"] = serde_json::json!({"height": 33, "width": 101});
    })
}

// ANCHOR: create_console_socket
#[test]
fn create_sends_the_terminal_to_the_console_socket() {
    if !step01::testing::need_root() {
        return;
    }
    let image = image("terminal");
    let state = TempDir::new("state-terminal");
    let bundle = bundle("terminal", image.path(), &["/bin/sh", "-c", SCRIPT], true);
    let socket = ConsoleSocket::new(state.path());
    let b = bundle.path().to_str().expect("utf-8");
    let id = "tincan-tty";
    let create = tincan_quiet(
        state.path(),
        state.path(),
        &[
            "create",
            "--bundle",
            b,
            "--console-socket",
            socket.arg(),
            id,
        ],
    );
    assert!(create.ok, "create: {}", create.stderr);
    let master = socket.receive_master();
    let start = tincan_quiet(state.path(), state.path(), &["start", id]);
    assert!(start.ok, "start: {}", start.stderr);
    let mut text = String::new();
    read_until(&master, "101\n", &mut text);
    // The line discipline echoes what we type, as on a real keyboard.
    std::fs::File::from(master.try_clone().expect("dup"))
        .write_all(b"hello\n")
        .expect("type a line");
    read_until(&master, "got:hello\n", &mut text);
    let _ = tincan_quiet(state.path(), state.path(), &["delete", "--force", id]);
    assert_nothing_left(state.path(), id);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("/dev/pts/") || lines[0] == "/dev/console",
        "tty: {text}"
    );
    assert_eq!(lines[1], "33 101", "stty size is consoleSize: {text}");
    insta::assert_snapshot!("terminal_create", text);
}
// ANCHOR_END: create_console_socket

#[test]
fn exec_tty_sends_its_own_terminal() {
    if !step01::testing::need_root() {
        return;
    }
    let image = image("terminal-exec");
    let state = TempDir::new("state-terminal-exec");
    let bundle = bundle("terminal-exec", image.path(), &["/bin/sleep", "60"], false);
    let b = bundle.path().to_str().expect("utf-8");
    let id = "tincan-tty-exec";
    let create = tincan_quiet(state.path(), state.path(), &["create", "--bundle", b, id]);
    assert!(create.ok, "create: {}", create.stderr);
    let start = tincan_quiet(state.path(), state.path(), &["start", id]);
    assert!(start.ok, "start: {}", start.stderr);
    let process = state.path().join("process.json");
    let json = serde_json::json!({
        "terminal": true, "consoleSize": {"height": 12, "width": 34},
        "user": {"uid": 0, "gid": 0}, "cwd": "/",
        "env": ["PATH=/bin"], "args": ["/bin/sh", "-c", SCRIPT],
    });
    std::fs::write(&process, json.to_string()).expect("write process.json");
    let socket = ConsoleSocket::new(state.path());
    let p = process.to_str().expect("utf-8");
    let exec = tincan_quiet(
        state.path(),
        state.path(),
        &[
            "exec",
            "--tty",
            "--detach",
            "--console-socket",
            socket.arg(),
            "--process",
            p,
            id,
        ],
    );
    let master = (exec.ok).then(|| socket.receive_master());
    let mut text = String::new();
    if let Some(master) = &master {
        read_until(master, "34\n", &mut text);
        std::fs::File::from(master.try_clone().expect("dup"))
            .write_all(b"again\n")
            .expect("type a line");
        read_until(master, "got:again\n", &mut text);
    }
    let _ = tincan_quiet(state.path(), state.path(), &["delete", "--force", id]);
    assert_nothing_left(state.path(), id);
    assert!(exec.ok, "exec: {}", exec.stderr);
    assert!(text.starts_with("/dev/pts/"), "{text}");
    assert!(text.contains("\n12 34\n"), "{text}");
    assert!(text.ends_with("got:again\n"), "{text}");
}

#[test]
fn terminal_and_console_socket_go_together() {
    if !step01::testing::need_root() {
        return;
    }
    let image = image("terminal-bad");
    let state = TempDir::new("state-terminal-bad");
    let with = bundle("terminal-with", image.path(), &["/bin/true"], true);
    let without = bundle("terminal-without", image.path(), &["/bin/true"], false);
    let socket = ConsoleSocket::new(state.path());
    for (bundle, extra, expect) in [
        (&with, vec![], "needs --console-socket"),
        (
            &without,
            vec!["--console-socket", socket.arg()],
            "process.terminal is false",
        ),
    ] {
        let b = bundle.path().to_str().expect("utf-8");
        let mut args = vec!["create", "--bundle", b];
        args.extend(extra);
        args.push("tincan-tty-bad");
        let out = tincan_quiet(state.path(), state.path(), &args);
        assert!(!out.ok, "{args:?} was accepted");
        assert!(out.stderr.contains(expect), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);
        assert_nothing_left(state.path(), "tincan-tty-bad");
    }
}

/// `tincan run -it` under a terminal of the test's own: tincan puts it in
/// raw mode, relays both ways, copies its size (at the start and on
/// SIGWINCH), and restores it at the end.
#[test]
fn run_it_relays_the_callers_terminal() {
    use nix::sys::termios::{LocalFlags, tcgetattr};
    if !step01::testing::need_root() {
        return;
    }
    let image = image("terminal-run");
    let state = TempDir::new("state-terminal-run");
    let size = nix::pty::Winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
    let before = tcgetattr(&pty.slave).expect("tcgetattr");
    let stdio = || std::process::Stdio::from(pty.slave.try_clone().expect("dup the slave"));
    let id = "tincan-tty-run";
    let mut child = std::process::Command::new(common::TINCAN)
        .env("TINCAN_NET", "none")
        .arg("--root")
        .arg(state.path())
        .args(["run", "--name", id, "--rootfs"])
        .arg(image.path())
        .args(["-it", "--", "/bin/sh", "-c", RESIZED])
        .stdin(stdio())
        .stdout(stdio())
        .stderr(stdio())
        .spawn()
        .expect("run tincan");
    let mut text = String::new();
    read_until(&pty.master, "120\n", &mut text);
    // The window grows: a terminal emulator sets the size, and the kernel
    // sends SIGWINCH to the terminal's foreground group, tincan (which is
    // not in a session of this pty, so the test sends the signal itself).
    let bigger = nix::pty::Winsize {
        ws_row: 50,
        ws_col: 132,
        ..size
    };
    // SAFETY: TIOCSWINSZ reads one `struct winsize` from `&bigger`, which
    // lives for the call; the master is open.
    let rc = unsafe { libc::ioctl(pty.master.as_raw_fd(), libc::TIOCSWINSZ, &bigger) };
    assert_eq!(rc, 0, "TIOCSWINSZ");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGWINCH).expect("SIGWINCH");
    // tincan's handler and input thread pass it on at once; the line typed
    // next must not overtake it.
    std::thread::sleep(Duration::from_millis(300));
    std::fs::File::from(pty.master.try_clone().expect("dup"))
        .write_all(b"hi\n")
        .expect("type a line");
    read_until(&pty.master, "got:hi\n", &mut text);
    let status = child.wait().expect("wait for tincan");
    let after = tcgetattr(&pty.slave).expect("tcgetattr");
    assert_nothing_left(state.path(), id);
    assert!(status.success(), "{status}: {text}");
    assert!(text.starts_with("/dev/pts/0\n40 120\n"), "{text}");
    assert!(
        text.ends_with("hi\n50 132\ngot:hi\n"),
        "typed once, echoed once, the new size inside: {text}"
    );
    let cooked = LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG;
    assert!(before.local_flags.contains(cooked));
    assert_eq!(
        after.local_flags, before.local_flags,
        "the terminal is restored"
    );
}
