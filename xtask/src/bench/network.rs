//! What networking costs: `tincan run --net bridge` next to `--net none`
//! (the veth pair, its move, the lease lock, the bridge), in turns; and a
//! TCP round trip from one container to another over the bridge next to
//! the same over loopback.
//!
//! All of it happens in a network namespace the bench makes first
//! (unshare(2) `CLONE_NEWNET`, loopback up): the bridge, the veths and the
//! NAT table live and die with it, and no packet can leave the machine.
//! From here on the xtask lives in it, as it lives in its private mount
//! namespace (nothing measured after this needs the host's network).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::fair::{Contender, Stats, alternate};
use super::runtimes::{Measured, Runtime};
use crate::util;

/// Round trips per measurement (one byte each way, one connection).
const ROUND_TRIPS: usize = 2000;

/// The start-up rows and the round-trip rows, or a note why there are none.
pub fn rows(runtimes: &[Runtime], rootfs: &Path, rounds: usize) -> Result<Vec<Measured>> {
    let tincan = runtimes
        .iter()
        .find(|r| r.name == "tincan")
        .context("tincan was not built")?;
    enter_new_netns()?;
    let mut rows = startup(tincan, rootfs, rounds);
    match round_trips(tincan, rootfs) {
        Ok(more) => rows.extend(more),
        Err(e) => eprintln!("warning: no round-trip rows: {e:#}"),
    }
    Ok(rows)
}

/// unshare(CLONE_NEWNET) for this thread (the one that spawns everything
/// after), and its loopback up.
fn enter_new_netns() -> Result<()> {
    // SAFETY: unshare(2) takes a flag word and changes only the calling
    // thread's namespaces.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error()).context("unshare(CLONE_NEWNET)");
    }
    util::run(Command::new("ip").args(["link", "set", "lo", "up"]))
}

/// `--net none` and `--net bridge`, the same command otherwise, in turns.
fn startup(tincan: &Runtime, rootfs: &Path, rounds: usize) -> Vec<Measured> {
    let nets = ["none", "bridge"];
    let contenders: Vec<Contender<'_>> = nets
        .iter()
        .enumerate()
        .map(|(i, net)| {
            let id = move |r: usize| format!("tincan-bench-net{i}-{r}");
            Contender {
                command: Box::new(move |r| {
                    let mut cmd = tincan_cmd(tincan);
                    cmd.args(["run", "--net", net, "--name", &id(r), "--rootfs"])
                        .arg(rootfs)
                        .args(["--", "/bin/true"]);
                    cmd
                }),
                after_failure: Box::new(move |r| tincan.clean(&id(r))),
            }
        })
        .collect();
    let stats = alternate(&contenders, rounds);
    nets.iter()
        .zip(stats)
        .map(|(net, stats)| Measured {
            key: format!("tincan-net-{net}"),
            label: format!("`tincan run --net {net} --rootfs DIR -- /bin/true`"),
            stats,
        })
        .collect()
}

fn tincan_cmd(tincan: &Runtime) -> Command {
    let mut cmd = Command::new(&tincan.exe);
    cmd.arg("--root")
        .arg(&tincan.state)
        .env_remove("TINCAN_NET");
    cmd
}

/// Container to container over the bridge, then loopback, both answered
/// by busybox's `nc -ll -e cat` (the same echo server).
fn round_trips(tincan: &Runtime, rootfs: &Path) -> Result<Vec<Measured>> {
    let busybox = rootfs.join("bin/busybox");
    if !busybox.is_file() {
        bail!(
            "{} is missing (its nc is the echo server)",
            busybox.display()
        );
    }
    let echo = ["nc", "-ll", "-p", "7000", "-e", "/bin/busybox", "cat"];
    let _server = Detached::run(tincan, rootfs, "tincan-bench-echo", &echo)?;
    let _client = Detached::run(tincan, rootfs, "tincan-bench-peer", &["sleep", "3600"])?;
    let server = state(tincan, "tincan-bench-echo")?;
    let address: Ipv4Addr = server["net"]["address"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .context("the echo container has no address")?;
    let peer = state(tincan, "tincan-bench-peer")?["init"]["pid"]
        .as_i64()
        .context("the peer container has no pid")?;
    let netns = PathBuf::from(format!("/proc/{peer}/ns/net"));
    let bridged = std::thread::scope(|s| {
        s.spawn(|| in_netns(&netns, || measure(SocketAddr::from((address, 7000)))))
            .join()
            .map_err(|_| anyhow::anyhow!("the measuring thread panicked"))?
    })?;
    let mut local = KillOnDrop(
        Command::new(&busybox)
            .args(["nc", "-ll", "-p", "7001", "-e"])
            .arg(&busybox)
            .arg("cat")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("start busybox nc on loopback")?,
    );
    let looped = measure(SocketAddr::from((Ipv4Addr::LOCALHOST, 7001)));
    let _ = local.0.kill();
    let label = |how: &str| format!("TCP round trip, 1 byte each way, {how}");
    Ok(vec![
        Measured {
            key: "rtt-bridge".into(),
            label: label("container to container over `tincan0`"),
            stats: bridged,
        },
        Measured {
            key: "rtt-loopback".into(),
            label: label("over loopback (no container)"),
            stats: looped,
        },
    ])
}

// ANCHOR: round_trip
/// `ROUND_TRIPS` one-byte echoes on one connection (retried while the
/// server starts), each timed.
fn measure(to: SocketAddr) -> Stats {
    let mut stats = Stats::default();
    let connected = (0..25).find_map(|_| {
        let s = TcpStream::connect_timeout(&to, Duration::from_secs(1)).ok();
        if s.is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    });
    let Some(mut stream) = connected else {
        stats.rounds.push(Err(format!("could not connect to {to}")));
        return stats;
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut byte = [0u8; 1];
    for i in 0..ROUND_TRIPS + 100 {
        let start = Instant::now();
        let result = stream
            .write_all(b"x")
            .and_then(|()| stream.read_exact(&mut byte))
            .map(|()| start.elapsed())
            .map_err(|e| format!("echo from {to}: {e}"));
        let failed = result.is_err();
        // The first hundred warm up (the server's fork of cat, caches).
        if i >= 100 || failed {
            stats.rounds.push(result);
        }
        if failed {
            break;
        }
    }
    stats
}
// ANCHOR_END: round_trip

/// Run `f` on this thread after setns(2) into the network namespace at
/// `path` (a thread of its own: the namespace is per thread).
fn in_netns<T>(path: &Path, f: impl FnOnce() -> T) -> Result<T> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    // SAFETY: setns(2) on a descriptor we hold open for the call; it
    // moves only this thread, which then does nothing but `f`.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("setns({})", path.display()));
    }
    Ok(f())
}

/// The state record of container `id`, as JSON.
fn state(tincan: &Runtime, id: &str) -> Result<serde_json::Value> {
    let path = tincan.state.join(id).join("state.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
}

/// A `tincan run -d` container on the bridge, removed on drop.
struct Detached<'a>(&'a Runtime, &'static str);

impl<'a> Detached<'a> {
    fn run(tincan: &'a Runtime, rootfs: &Path, id: &'static str, argv: &[&str]) -> Result<Self> {
        let mut cmd = tincan_cmd(tincan);
        cmd.args(["run", "-d", "--net", "bridge", "--name", id, "--rootfs"])
            .arg(rootfs)
            .arg("--")
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let guard = Detached(tincan, id);
        util::run(&mut cmd)?;
        Ok(guard)
    }
}

impl Drop for Detached<'_> {
    fn drop(&mut self) {
        let _ = tincan_cmd(self.0)
            .args(["rm", "-f", self.1])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
