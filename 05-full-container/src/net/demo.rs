//! `tincan demo microservices`: two containers, a server and a client,
//! talk by name; a third on `--net none` cannot; the server's published
//! port answers on loopback. Each attempt is a real `tincan run` of this
//! very binary, and a real TCP connection.
//!
//! The demo only talks to its own bridge and to loopback. As a user you
//! may run it in the host's network namespace (it then makes `tincan0`,
//! and the host's 127.0.0.1 answers the published port); with
//! `--own-netns` it first moves into a new network namespace of its own,
//! so its bridge, veths and nftables table live and die with it — how the
//! tests run it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use step01::report::Table;

use crate::state::StateRoot;

/// The server's name, which the client uses as a host name.
pub const SERVER: &str = "tincan-demo-web";
/// The port it listens on inside its container.
pub const PORT: u16 = 8080;

/// What `tincan demo microservices` is given.
#[derive(Debug, Clone)]
pub struct Options {
    /// The image (default: the toolbox rootfs, whose busybox has `nc`).
    pub rootfs: Option<PathBuf>,
    /// The host port published to the server's 8080.
    pub host_port: u16,
    /// Move into a new network namespace first.
    pub own_netns: bool,
}

// ANCHOR: demo
/// Run the demo and return its table.
pub fn microservices(root: &StateRoot, options: &Options) -> Result<String> {
    let rootfs = prepare(options)?;
    let demo = Demo {
        root,
        rootfs: &rootfs,
    };
    let to = format!("{SERVER}:{PORT}");
    let publish = format!("{}:{PORT}", options.host_port);
    // 1. the server, detached, on the bridge, its port published: for
    // each connection (-ll) a shell that reads a line and answers.
    let serve = format!("read line; echo \"{SERVER} got: $line\"");
    let port = PORT.to_string();
    let server = ["--publish", &publish, "--", "nc", "-ll", "-p", &port];
    let _server = demo.start_server(&server, &["-e", "sh", "-c", &serve])?;
    let address = root.load(SERVER)?.net.map(|n| n.address);
    let address = address.context("the server has no address")?;
    // 2. a client by name on the bridge (retried while the server starts).
    let ask = format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do echo hello | nc {SERVER} {PORT} 2>/dev/null && exit; sleep 0.2; done; nc {SERVER} {PORT} </dev/null"
    );
    let by_name = demo.client("tincan-demo-client", "bridge", &ask)?;
    // 3. the same on --net none: no /etc/hosts entry, no route.
    let alone = format!("nc {SERVER} {PORT} </dev/null");
    let alone = demo.client("tincan-demo-alone", "none", &alone)?;
    // 4. loopback, through the published port.
    let host_to = format!("127.0.0.1:{} (--publish {publish})", options.host_port);
    let from_host = ask_loopback(options.host_port).unwrap_or_else(|e| format!("no answer: {e:#}"));
    let mut table = Table::new(["FROM", "NETWORK", "TO", "ANSWER"]);
    table.row(["tincan-demo-client", "bridge", &to, &by_name]);
    table.row(["tincan-demo-alone", "none", &to, &alone]);
    table.row(["the host", "loopback", &host_to, &from_host]);
    Ok(format!(
        "server {SERVER} at {address} on the bridge, nc listening on port {PORT}\n\n{}\n\
         On the bridge a name is a line of /etc/hosts and the address is one hop away;\n\
         on --net none there is only a loopback: no name, no route.\n",
        table.render()
    ))
}
// ANCHOR_END: demo

/// Root, the network namespace (`--own-netns`), and an image with `nc`.
fn prepare(options: &Options) -> Result<PathBuf> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "tincan demo microservices needs root (it makes a bridge and veths): run it with sudo"
        );
    }
    if options.own_netns {
        enter_own_netns()?;
    }
    let rootfs = match &options.rootfs {
        Some(dir) => dir.clone(),
        None => step04::rootfs::locate(None)?,
    };
    if !rootfs.join("bin/nc").exists() {
        bail!(
            "{}: no bin/nc (the server and the clients are busybox's nc); run `cargo xtask rootfs` or pass --rootfs",
            rootfs.display()
        );
    }
    Ok(rootfs)
}

/// The demo's containers, run by this very binary.
struct Demo<'a> {
    root: &'a StateRoot,
    rootfs: &'a Path,
}

/// Removes the server when the demo ends, even on an error.
struct Server<'a>(&'a Demo<'a>);

impl Drop for Server<'_> {
    fn drop(&mut self) {
        let _ = self.0.tincan(&["rm", "-f", SERVER]).output();
    }
}

impl Demo<'_> {
    fn tincan(&self, args: &[&str]) -> Command {
        let exe = std::env::current_exe().unwrap_or_else(|_| "tincan".into());
        let mut command = Command::new(exe);
        command.arg("--root").arg(self.root.path()).args(args);
        command.env_remove(super::NET_ENV).stdin(Stdio::null());
        command
    }

    fn start_server(&self, args: &[&str], more: &[&str]) -> Result<Server<'_>> {
        let rootfs = self.rootfs.to_string_lossy();
        let mut run = vec![
            "run", "-d", "--rootfs", &rootfs, "--net", "bridge", "--name", SERVER,
        ];
        run.extend_from_slice(args);
        run.extend_from_slice(more);
        // `run -d` returns once the program runs; the monitor's output goes
        // to the container's log, so nothing keeps these pipes open.
        let out = self.tincan(&run).output().context("start the server")?;
        let server = Server(self);
        if !out.status.success() {
            bail!("the server did not start: {}", last_line(&out.stderr));
        }
        Ok(server)
    }

    /// Run `script` in a container on `net`; its answer, or its last error line.
    fn client(&self, name: &str, net: &str, script: &str) -> Result<String> {
        let rootfs = self.rootfs.to_string_lossy();
        let out = self
            .tincan(&[
                "run", "--rootfs", &rootfs, "--net", net, "--name", name, "--", "sh", "-c", script,
            ])
            .output()
            .with_context(|| format!("run the client {name}"))?;
        let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(match (out.status.success(), said.is_empty()) {
            (true, false) => format!("answered: {said}"),
            _ => format!("failed: {}", last_line(&out.stderr)),
        })
    }
}

/// A connection to `127.0.0.1:port`, retried while the server starts.
fn ask_loopback(port: u16) -> Result<String> {
    let mut last = anyhow::anyhow!("no attempt");
    for _ in 0..10 {
        match once(port) {
            Ok(answer) if !answer.is_empty() => return Ok(format!("answered: {answer}")),
            Ok(_) => last = anyhow::anyhow!("the connection closed without an answer"),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(last)
}

fn once(port: u16) -> Result<String> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .with_context(|| format!("connect 127.0.0.1:{port}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"hello from the host\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.trim().to_string())
}

/// `--own-netns`: a new network namespace for this process (and every
/// container it starts), its loopback up.
fn enter_own_netns() -> Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
    let mut nl = super::netlink::Netlink::open()?;
    let lo = nl.require("lo")?;
    nl.up(lo)
}

fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message")
        .trim()
        .to_string()
}
