//! podman drives tincan: `podman --runtime <tincan> run ...` calls tincan's
//! OCI verbs (`create`, `start`, `kill`, `delete`) with podman's own
//! config.json (a `linux.cgroupsPath`, a seccomp profile, a cgroup mount).
//! Skipped when podman is not installed (and failing under `CI=true`).
//!
//! Everything podman stores goes under one temporary directory (`--root`,
//! `--runroot`, `--tmpdir`, a `CONTAINERS_CONF` of our own), so the test
//! touches nobody's containers. tincan's state stays in its default
//! `/run/tincan`: podman 4.3 passes `--runtime-flag` to `create` and `start`
//! but not to `delete`. So "nothing left" is checked as "nothing new".

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{TempDir, rootfs};

/// podman's storage, state and configuration for this test; on drop, every
/// mount podman left under it is detached before the directory goes.
struct Podman {
    dir: TempDir,
    /// Hierarchies that had no `libpod_parent` before this test: podman
    /// creates `libpod_parent/conmon` there and keeps it; we remove what our
    /// run of podman created (only if empty), and nothing else.
    new_parents: Vec<PathBuf>,
}

impl Podman {
    fn new() -> Podman {
        let dir = TempDir::new("podman");
        // The host's capability bounding set lacks CAP_SYS_RESOURCE, so the
        // default rlimits (raised above the hard limit) cannot be set.
        // podman calls this script as its runtime: it notes each call, then
        // becomes tincan. The list is the snapshot of what podman asks.
        common::logged_runtime(dir.path(), "tincan-logged");
        std::fs::write(
            dir.path().join("containers.conf"),
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\n\
             [engine]\nevents_logger = \"file\"\ncgroup_manager = \"cgroupfs\"\n",
        )
        .expect("write containers.conf");
        let new_parents = common::absent_cgroups(&["libpod_parent"]);
        Podman { dir, new_parents }
    }

    fn command(&self, args: &[&str]) -> Output {
        let d = self.dir.path();
        Command::new("podman")
            .arg("--root")
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg(d.join("run"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .arg("--runtime")
            .arg(d.join("tincan-logged"))
            .args(args)
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .output()
            .expect("run podman")
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // containers/storage keeps mounts under its root.
        step04::mounts::detach_under(self.dir.path());
        common::remove_engine_cgroups(&self.new_parents);
    }
}

/// The two tests here both use tincan's default state directory (podman
/// passes no `--root` to `delete`), and the first checks that nothing is
/// new in it: they take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The container states in tincan's default state directory.
fn tincan_states() -> BTreeSet<PathBuf> {
    std::fs::read_dir(step05::state::default_root())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect()
}

/// Every `libpod-*` cgroup directory under any hierarchy's `libpod_parent`.
fn libpod_cgroups() -> BTreeSet<PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|h| std::fs::read_dir(h.path().join("libpod_parent")).ok())
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("libpod-"))
        })
        .collect()
}

/// The calls podman made, redacted to be the same on every run.
fn redacted_calls(podman: &Podman) -> String {
    let log = std::fs::read_to_string(podman.dir.path().join("calls.log")).expect("calls.log");
    // conmon's console socket is a mkdtemp(3) directory: a random suffix.
    let log = log
        .split(' ')
        .map(|word| match word.strip_prefix("/tmp/conmon-term.") {
            Some(_) => "/tmp/conmon-term.[X]",
            None => word,
        })
        .collect::<Vec<_>>()
        .join(" ");
    common::redact_calls(&log, podman.dir.path())
}

/// `-t`: tincan sends the pty's master to conmon over `--console-socket`;
/// the program's stdio is a terminal of its own, for `run` and for `exec`
/// into the running container `id`.
fn check_terminals(podman: &Podman, id: &str) {
    let out = podman.command(&[
        "run",
        "--rm",
        "-t",
        "--net",
        "none",
        "tincan-test",
        "/bin/tty",
    ]);
    assert!(out.status.success(), "podman run -t: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).replace('\r', ""), "/dev/pts/0\n");
    let out = podman.command(&["exec", "-t", id, "/bin/tty"]);
    assert!(
        out.status.success(),
        "podman exec -t: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).starts_with("/dev/pts/"),
        "{}",
        text(&out.stdout)
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn podman_runs_containers_with_tincan_and_leaves_nothing() {
    if !step01::testing::need_root() {
        return;
    }
    if Command::new("podman").arg("--version").output().is_err() {
        step01::testing::skip("podman is not installed (apt-get install podman)");
        return;
    }
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let podman = Podman::new();
    let before = libpod_cgroups();
    let states_before = tincan_states();

    // The test image, imported as a podman image (no registry needed).
    let image = rootfs("podman");
    common::install(image.path(), &common::which("tty"), Path::new("/bin/tty"));
    let tar = podman.dir.path().join("image.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(image.path())
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(ok.success(), "tar the test image");
    let out = podman.command(&["import", tar.to_str().expect("utf-8"), "tincan-test"]);
    assert!(out.status.success(), "podman import: {}", text(&out.stderr));

    let run = |args: &[&str]| {
        let mut all = vec!["run", "--rm", "--net", "none", "tincan-test"];
        all.extend_from_slice(args);
        podman.command(&all)
    };

    // 1. The program's output reaches podman.
    let out = run(&["/bin/sh", "-c", "echo hi from tincan"]);
    assert!(out.status.success(), "podman run: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi from tincan\n");

    // 2. The exit status travels back: tincan hands the container to conmon,
    // which reaps it.
    let out = run(&["/bin/sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

    // 3. Its own pid namespace (the shell is PID 1), podman's hostname
    // (a new uts namespace), podman's pids limit read through the cgroup
    // mount, and podman's seccomp profile installed.
    let out = run(&[
        "/bin/sh",
        "-c",
        "echo $$; cat /sys/fs/cgroup/pids/pids.max; grep '^Seccomp:' /proc/self/status",
    ]);
    assert!(out.status.success(), "podman run: {}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(lines[0], "1", "PID 1 in its own pid namespace: {lines:?}");
    assert_eq!(lines[1], "2048", "podman's pids limit: {lines:?}");
    assert_eq!(lines[2], "Seccomp:\t2", "a seccomp filter: {lines:?}");

    // 4. The filter is podman's profile, not tincan's default: podman
    // refuses `bpf` (SCMP_ACT_ERRNO) but allows `keyctl`, which tincan's own
    // default filter refuses.
    let out = run(&["/tincan", "escape", "bpf", "keyctl"]);
    let report = text(&out.stdout);
    let verdict = |name: &str| {
        report
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(String::from)
    };
    assert_eq!(verdict("bpf").as_deref(), Some("BLOCKED"), "{report}");
    assert_eq!(verdict("keyctl").as_deref(), Some("SUCCEEDED"), "{report}");

    // 5. A detached container: exec joins it, pause freezes it, stop ends it.
    let out = podman.command(&[
        "run",
        "-d",
        "--net",
        "none",
        "tincan-test",
        "/bin/sleep",
        "600",
    ]);
    assert!(out.status.success(), "podman run -d: {}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let out = podman.command(&["exec", &id, "/bin/cat", "/proc/1/cmdline"]);
    assert!(out.status.success(), "podman exec: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "/bin/sleep\x00600\x00",
        "exec sees the container's PID 1"
    );
    let out = podman.command(&["exec", &id, "/bin/sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5), "exec's exit status");
    check_terminals(&podman, &id);
    // The container's freezer: v1's freezer hierarchy, or v2's one tree.
    let cgroup = Path::new("libpod_parent").join(format!("libpod-{id}"));
    let freezer = [
        Path::new("/sys/fs/cgroup/freezer").join(&cgroup),
        Path::new("/sys/fs/cgroup").join(&cgroup),
    ]
    .into_iter()
    .find(|dir| step03::freezer::is_frozen(dir).is_some())
    .expect("the container has a freezer cgroup");
    let out = podman.command(&["pause", &id]);
    assert!(out.status.success(), "podman pause: {}", text(&out.stderr));
    assert_eq!(
        step03::freezer::is_frozen(&freezer),
        Some(true),
        "paused is frozen"
    );
    let out = podman.command(&["unpause", &id]);
    assert!(
        out.status.success(),
        "podman unpause: {}",
        text(&out.stderr)
    );
    assert_eq!(
        step03::freezer::is_frozen(&freezer),
        Some(false),
        "unpaused thaws"
    );
    // sleep as PID 1 ignores SIGTERM: podman sends SIGKILL after -t seconds.
    let out = podman.command(&["stop", "-t", "1", &id]);
    assert!(out.status.success(), "podman stop: {}", text(&out.stderr));
    let out = podman.command(&["rm", &id]);
    assert!(out.status.success(), "podman rm: {}", text(&out.stderr));

    // 6. Nothing is left: no tincan state, no cgroup of these containers.
    let states = tincan_states();
    let left: Vec<_> = states.difference(&states_before).collect();
    assert!(left.is_empty(), "tincan state left behind: {left:?}");
    let after = libpod_cgroups();
    let leaked: Vec<_> = after.difference(&before).collect();
    assert!(leaked.is_empty(), "cgroups left behind: {leaked:?}");

    // What podman asked of tincan, in order.
    insta::assert_snapshot!("podman_calls", redacted_calls(&podman));
}

/// The cgroup parent of the multi-runtime test's containers.
const ENV_PARENT: &str = "tincan-test-podman-env";

#[test]
fn one_image_gives_the_same_answers_under_tincan_and_podman_over_three_runtimes() {
    if !step01::testing::need_root() {
        return;
    }
    if Command::new("podman").arg("--version").output().is_err() {
        step01::testing::skip("podman is not installed (apt-get install podman)");
        return;
    }
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = TempDir::new("podman-env");
    let image = rootfs("podman-env");
    std::fs::write(
        dir.path().join("containers.conf"),
        "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n",
    )
    .expect("write containers.conf");
    let parents = common::absent_cgroups(&[ENV_PARENT, "libpod_parent"]);
    let program = ["/bin/sh", "-c", "echo \"PID $$\"; ls /bin; exit 3"];
    let mut rows = Vec::new();
    // tincan alone, as a user types it.
    let mut alone = Command::new(common::TINCAN);
    alone
        .env("TINCAN_NET", "none")
        .arg("--root")
        .arg(dir.path().join("tincan-state"))
        .args(["run", "--rootfs"])
        .arg(image.path())
        .arg("--")
        .args(program);
    rows.push((
        "tincan run --rootfs IMAGE".to_string(),
        alone.output().expect("run tincan"),
    ));
    // podman over each runtime. crun refuses a hybrid cgroup host, so all
    // three run in one private mount namespace without the cgroup2 mount.
    for runtime in [common::TINCAN, "crun", "runc"] {
        let name = Path::new(runtime)
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name != "tincan" && Command::new(runtime).arg("--version").output().is_err() {
            step01::testing::skip(&format!(
                "{runtime} is not installed (apt-get install {runtime})"
            ));
            continue;
        }
        let d = dir.path();
        let out = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("umount /sys/fs/cgroup/unified 2>/dev/null; exec \"$0\" \"$@\"")
            .arg("podman")
            .arg("--root")
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg(d.join("run"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args([
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "none",
                "--runtime",
                runtime,
            ])
            .args(["run", "--rm", "--net", "none", "--cgroup-parent"])
            .arg(format!("/{ENV_PARENT}"))
            .arg("--rootfs")
            .arg(image.path())
            .args(program)
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .output()
            .expect("run podman");
        rows.push((format!("podman --runtime {name} run --rootfs IMAGE"), out));
    }
    common::remove_engine_cgroups(&parents);
    let (first, first_out) = &rows[0];
    let mut report = format!("$ {first} -- {} -c '{}'\n", program[0], program[2]);
    report.push_str(&text(&first_out.stdout));
    report.push_str(&format!(
        "exit status {}\n\n",
        first_out.status.code().unwrap_or(-1)
    ));
    for (how, out) in &rows {
        assert_eq!(out.status.code(), Some(3), "{how}: {}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            text(&first_out.stdout),
            "{how} answers differently"
        );
        report.push_str(&format!("{how:<42} same output, exit status 3\n"));
    }
    insta::assert_snapshot!("podman_env", report);
}
