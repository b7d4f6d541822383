//! containerd drives tincan: `ctr run --runc-binary <tincan>` goes through
//! containerd's runc shim (`containerd-shim-runc-v2`), the same shim that a
//! Kubernetes node uses, which calls tincan's OCI verbs with the global
//! flags `--root`, `--log` and `--log-format json`.
//! Skipped when containerd is not installed (and failing under `CI=true`).
//!
//! The containerd is private to this test: its root, state, socket and the
//! FIFOs of the container's stdio are under one temporary directory, and it
//! runs in a mount namespace of its own where that directory's `run/` is
//! bound on `/run` (the shim keeps its sockets in `/run/containerd/s`), so
//! nothing of the host's containerd, if there is one, is touched.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{TempDir, logged_runtime};

/// The containerd namespace (ctr's default), which containerd also uses as
/// the parent of every container's cgroup: `/default/<id>`.
const NAMESPACE: &str = "default";

/// A private containerd; on drop, its tasks are killed and it is stopped.
struct Containerd {
    dir: TempDir,
    daemon: Child,
    runtime: PathBuf,
    /// Hierarchies that had no `default` cgroup before this test.
    new_parents: Vec<PathBuf>,
}

impl Containerd {
    fn start() -> Containerd {
        let dir = TempDir::new("containerd");
        let d = dir.path();
        for sub in ["root", "state", "run", "fifo", "runc-root"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        std::fs::write(
            d.join("config.toml"),
            format!(
                "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n\
                 [grpc]\n  address = \"{0}/containerd.sock\"\n\
                 [ttrpc]\n  address = \"{0}/containerd.sock.ttrpc\"\n",
                d.display()
            ),
        )
        .expect("write config.toml");
        let runtime = logged_runtime(d, "tincan-logged");
        let new_parents = std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .map(|h| h.path().join(NAMESPACE))
            .filter(|p| !p.exists())
            .collect();
        let log = std::fs::File::create(d.join("containerd.log")).expect("log");
        let daemon = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount --bind {0}/run /run && exec containerd --config {0}/config.toml",
                d.display()
            ))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let containerd = Containerd {
            dir,
            daemon,
            runtime,
            new_parents,
        };
        containerd.wait_until_serving();
        containerd
    }

    /// containerd answers once its socket accepts a `version` call.
    fn wait_until_serving(&self) {
        let start = Instant::now();
        while !self.ctr(&["version"]).status.success() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "containerd did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(self.dir.path().join("containerd.sock"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ctr")
    }

    /// `ctr run` with tincan as the runtime and its stdio FIFOs in our dir.
    fn run(&self, args: &[&str]) -> Output {
        let d = self.dir.path();
        let (runtime, fifo, root) = (
            self.runtime.display().to_string(),
            d.join("fifo").display().to_string(),
            d.join("runc-root").display().to_string(),
        );
        let mut all = vec![
            "run",
            "--runc-binary",
            &runtime,
            "--runc-root",
            &root,
            "--fifo-dir",
            &fifo,
        ];
        all.extend_from_slice(args);
        self.ctr(&all)
    }

    /// [`Containerd::run`] with a terminal: `ctr run -t` puts its own
    /// terminal in raw mode, so it gets one, a pty of the test's. Returns
    /// whether ctr succeeded and what it printed there (`\r\n` as `\n`).
    fn run_on_a_terminal(&self, args: &[&str]) -> (bool, String) {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let stdio = || Stdio::from(pty.slave.try_clone().expect("dup the slave"));
        let d = self.dir.path();
        let mut child = Command::new("ctr")
            .arg("--address")
            .arg(d.join("containerd.sock"))
            .args(["run", "--runc-binary"])
            .arg(&self.runtime)
            .arg("--runc-root")
            .arg(d.join("runc-root"))
            .arg("--fifo-dir")
            .arg(d.join("fifo"))
            .args(args)
            .stdin(stdio())
            .stdout(stdio())
            .stderr(stdio())
            .spawn()
            .expect("run ctr");
        // Ours goes, so that the master reads end-of-file (EIO) once ctr exits.
        drop(pty.slave);
        let mut master = std::fs::File::from(pty.master);
        let (mut seen, mut buf) = (Vec::new(), [0u8; 1024]);
        while let Ok(n @ 1..) = std::io::Read::read(&mut master, &mut buf) {
            seen.extend_from_slice(&buf[..n]);
        }
        let ok = child.wait().expect("wait for ctr").success();
        (ok, text(&seen).replace('\r', ""))
    }

    /// The container state directories tincan keeps for this containerd.
    fn tincan_states(&self) -> Vec<PathBuf> {
        let root = self.dir.path().join("runc-root").join(NAMESPACE);
        std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Tasks a failed test left: kill and delete them, so their shims exit.
        let tasks = text(&self.ctr(&["task", "ls", "-q"]).stdout);
        for id in tasks.lines().filter(|l| !l.is_empty()) {
            let _ = self.ctr(&["task", "kill", "-s", "9", id]);
            std::thread::sleep(Duration::from_millis(300));
            let _ = self.ctr(&["task", "rm", "-f", id]);
            let _ = self.ctr(&["container", "rm", id]);
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        for parent in &self.new_parents {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The freezer of containerd's cgroup for `id` (v1's freezer hierarchy, or
/// v2's single tree), frozen or not.
fn frozen(id: &str) -> Option<bool> {
    let cgroup = Path::new(NAMESPACE).join(id);
    [
        Path::new("/sys/fs/cgroup/freezer").join(&cgroup),
        Path::new("/sys/fs/cgroup").join(&cgroup),
    ]
    .into_iter()
    .find_map(|dir| step03::freezer::is_frozen(&dir))
}

/// Wait until `ctr task ls` shows `id` in `status`.
fn wait_for_status(containerd: &Containerd, id: &str, status: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let tasks = text(&containerd.ctr(&["task", "ls"]).stdout);
        if tasks
            .lines()
            .any(|l| l.split_whitespace().next() == Some(id) && l.contains(status))
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A copy of the toolbox rootfs: ctr's default spec mounts a tmpfs on
/// /run, and the runtime makes that mount point in the rootfs, which must
/// not change the toolbox rootfs every other test and demo shares.
fn toolbox_copy() -> TempDir {
    let toolbox = step04::rootfs::locate(None).expect("the toolbox rootfs (cargo xtask rootfs)");
    let image = TempDir::new("containerd-rootfs");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", toolbox.display()))
        .arg(image.path())
        .status()
        .expect("run cp");
    assert!(copied.success(), "copy the toolbox rootfs");
    image
}

#[test]
fn containerd_runs_containers_with_tincan_and_leaves_nothing() {
    if !step01::testing::need_root() {
        return;
    }
    if Command::new("containerd")
        .arg("--version")
        .output()
        .is_err()
    {
        step01::testing::skip("containerd is not installed (apt-get install containerd)");
        return;
    }
    let containerd = Containerd::start();
    let image = toolbox_copy();
    let rootfs = image.path().display().to_string();

    // 1. Output and exit status travel back through the shim.
    let out = containerd.run(&[
        "--rm",
        "--rootfs",
        &rootfs,
        "tincan-ctr-echo",
        "/bin/echo",
        "hi",
    ]);
    assert!(out.status.success(), "ctr run: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n");
    let out = containerd.run(&[
        "--rm",
        "--rootfs",
        &rootfs,
        "tincan-ctr-exit",
        "/bin/sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    // A terminal: the shim's console socket gets the master from tincan.
    let (ok, out) = containerd.run_on_a_terminal(&[
        "--rm",
        "-t",
        "--rootfs",
        &rootfs,
        "tincan-ctr-tty",
        "/bin/tty",
    ]);
    assert!(ok, "ctr run -t: {out}");
    assert_eq!(out, "/dev/pts/0\n");

    // 2. A detached container; exec joins it and sees its PID 1.
    let id = "tincan-ctr-sleep";
    let out = containerd.run(&["-d", "--rootfs", &rootfs, id, "/bin/sleep", "600"]);
    assert!(out.status.success(), "ctr run -d: {}", text(&out.stderr));
    assert!(
        wait_for_status(&containerd, id, "RUNNING"),
        "{}",
        containerd.log()
    );
    let fifo = containerd.dir.path().join("fifo").display().to_string();
    let out = containerd.ctr(&[
        "task",
        "exec",
        "--fifo-dir",
        &fifo,
        "--exec-id",
        "tincan-e1",
        id,
        "/bin/cat",
        "/proc/1/cmdline",
    ]);
    assert!(out.status.success(), "ctr task exec: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "/bin/sleep\x00600\x00");

    // `ctr task ps` asks tincan for the pids (`ps --format json ID`).
    let out = containerd.ctr(&["task", "ps", id]);
    assert!(out.status.success(), "ctr task ps: {}", text(&out.stderr));
    let listed = text(&out.stdout);
    let pid = listed
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_default()
        .to_string();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert_eq!(cmdline, b"/bin/sleep\x00600\x00", "ctr task ps: {listed}");

    // 3. pause freezes its cgroup, resume thaws it.
    let out = containerd.ctr(&["task", "pause", id]);
    assert!(
        out.status.success(),
        "ctr task pause: {}",
        text(&out.stderr)
    );
    assert!(wait_for_status(&containerd, id, "PAUSED"));
    assert_eq!(frozen(id), Some(true), "paused is frozen");
    let out = containerd.ctr(&["task", "resume", id]);
    assert!(
        out.status.success(),
        "ctr task resume: {}",
        text(&out.stderr)
    );
    assert_eq!(frozen(id), Some(false), "resumed thaws");

    // 4. kill ends it; the task and the container go.
    let out = containerd.ctr(&["task", "kill", "-s", "9", id]);
    assert!(out.status.success(), "ctr task kill: {}", text(&out.stderr));
    assert!(wait_for_status(&containerd, id, "STOPPED"));
    let out = containerd.ctr(&["task", "rm", id]);
    assert!(out.status.success(), "ctr task rm: {}", text(&out.stderr));
    let out = containerd.ctr(&["container", "rm", id]);
    assert!(
        out.status.success(),
        "ctr container rm: {}",
        text(&out.stderr)
    );

    // 5. Nothing is left: no tincan state, no container cgroup.
    assert_eq!(
        containerd.tincan_states(),
        Vec::<PathBuf>::new(),
        "tincan state left"
    );
    assert_eq!(frozen(id), None, "the container's cgroup is gone");

    // What containerd's shim asked of tincan, in order.
    let log = std::fs::read_to_string(containerd.dir.path().join("calls.log")).expect("calls.log");
    insta::assert_snapshot!(
        "containerd_calls",
        common::redact_calls(&log, containerd.dir.path())
    );
}
