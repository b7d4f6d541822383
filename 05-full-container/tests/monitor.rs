//! Detached containers and the monitoring verbs, for real: `run -d`,
//! `logs`, `ps`, `stats`, `top`, `stop`, `rm`, and what a `kill -9` of a
//! container's monitor leaves for them. As root. The `ps` and `stats`
//! tables are snapshots that the book shows.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{TempDir, assert_nothing_left, cgroup_exists, rootfs, tincan_quiet};

/// A detached container's program: prints, handles TERM, keeps a child.
const WEB: &str = "echo hello from web; trap 'echo got TERM; exit 3' TERM; sleep 600 & wait";

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The state record of `id`, as JSON.
fn record(state: &Path, id: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(state.join(id).join("state.json")).expect("state.json");
    serde_json::from_str(&text).expect("json")
}

/// `run -d` of `script` as `id`; its id is printed, and it runs.
fn run_detached(state: &Path, work: &Path, image: &Path, id: &str, extra: &[&str], script: &str) {
    let image = image.to_str().expect("utf-8");
    let mut args = vec!["run", "-d", "--rootfs", image, "--name", id];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    let out = tincan_quiet(state, work, &args);
    assert!(out.ok, "run -d: {}", out.stderr);
    assert_eq!(out.stdout.trim(), id, "run -d prints the id");
}

/// The cells of the table row that starts with `id` (cells are separated
/// by at least two spaces).
fn row(table: &str, id: &str) -> Vec<String> {
    table
        .lines()
        .find(|l| l.starts_with(&format!("{id} ")))
        .unwrap_or_else(|| panic!("no row {id} in\n{table}"))
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

/// "640.0 KiB" in bytes.
fn parse_bytes(text: &str) -> f64 {
    let (n, unit) = text.split_once(' ').expect("number and unit");
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("unit {other}"),
    };
    n.parse::<f64>().expect("number") * scale
}

/// The memory the kernel charges to cgroup `tincan/<id>`, from its file.
fn cgroup_memory(id: &str) -> u64 {
    let files = [
        format!("/sys/fs/cgroup/memory/tincan/{id}/memory.usage_in_bytes"),
        format!("/sys/fs/cgroup/tincan/{id}/memory.current"),
    ];
    files
        .iter()
        .find_map(|f| std::fs::read_to_string(f).ok())
        .expect("a memory file of the container's cgroup")
        .trim()
        .parse()
        .expect("a number")
}

#[test]
fn detached_container_is_watched_and_stopped_and_removed() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("monitor");
    let state = TempDir::new("state-monitor");
    let work = TempDir::new("work-monitor");
    let (s, w, id) = (state.path(), work.path(), "tincan-mon-web");
    let limits = ["--memory", "64m", "--pids-limit", "32"];
    run_detached(s, w, image.path(), id, &limits, WEB);

    // It runs, in its cgroup.
    let pid = record(s, id)["init"]["pid"].as_i64().expect("init pid");
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("its /proc");
    assert!(cgroup.contains(&format!("tincan/{id}")), "{cgroup}");
    wait_for("its output in the log", Duration::from_secs(10), || {
        tincan_quiet(s, w, &["logs", id])
            .stdout
            .contains("hello from web")
    });

    let ps = tincan_quiet(s, w, &["ps"]);
    let cells = row(&ps.stdout, id);
    assert!(cells[3].starts_with("Up "), "{}", ps.stdout);
    assert_eq!(cells[4], pid.to_string(), "ps shows its real pid");

    // Memory and pids as the cgroup's own files count them.
    let stats = tincan_quiet(s, w, &["stats", "--no-stream", id]);
    assert!(stats.ok, "{}", stats.stderr);
    let cells = row(&stats.stdout, id);
    let (usage, limit) = cells[2].split_once(" / ").expect("usage / limit");
    let (shown, real) = (parse_bytes(usage), cgroup_memory(id) as f64);
    assert!(
        (shown - real).abs() <= (real / 5.0).max(512.0 * 1024.0),
        "stats says {usage}, the cgroup file {real}"
    );
    assert_eq!(limit, "64.0 MiB");
    assert_eq!(cells[6], "2 / 32", "sh and its sleep, limit 32");

    let top = tincan_quiet(s, w, &["top", id]);
    assert!(top.ok, "{}", top.stderr);
    let sh = row(&top.stdout, &pid.to_string());
    assert_eq!(
        sh[1], "1",
        "the first process is pid 1 inside:\n{}",
        top.stdout
    );
    assert!(top.stdout.contains("sleep 600"), "{}", top.stdout);

    // The tables the book shows, with what varies as placeholders.
    let snap = |args: &[&str]| common::stdout(&common::tincan(s, args));
    insta::assert_snapshot!("monitor_ps", snap(&["ps"]));
    insta::assert_snapshot!("monitor_stats", snap(&["stats", "--no-stream"]));

    // TERM is handled: it ends well within the grace period.
    let started = Instant::now();
    let stop = tincan_quiet(s, w, &["stop", "-t", "8", id]);
    assert!(stop.ok, "stop: {}", stop.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert!(
        tincan_quiet(s, w, &["logs", id])
            .stdout
            .contains("got TERM")
    );
    assert!(
        !tincan_quiet(s, w, &["ps"]).stdout.contains(id),
        "ps lists only running ones"
    );
    let all = tincan_quiet(s, w, &["ps", "-a"]).stdout;
    assert!(row(&all, id)[3].starts_with("Exited (3) "), "{all}");
    insta::assert_snapshot!("monitor_ps_all", snap(&["ps", "-a"]));
    assert!(!cgroup_exists(id), "an exited container's cgroup is gone");

    let rm = tincan_quiet(s, w, &["rm", id]);
    assert!(rm.ok, "rm: {}", rm.stderr);
    assert_nothing_left(s, id);
}

#[test]
fn stop_kills_a_program_that_ignores_term() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("monitor-kill");
    let state = TempDir::new("state-monitor-kill");
    let work = TempDir::new("work-monitor-kill");
    let (s, w, id) = (state.path(), work.path(), "tincan-mon-stubborn");
    // PID 1 without a TERM handler: the kernel does not deliver TERM to it.
    run_detached(s, w, image.path(), id, &[], "exec sleep 600");
    let started = Instant::now();
    let stop = tincan_quiet(s, w, &["stop", "-t", "1", id]);
    assert!(stop.ok, "stop: {}", stop.stderr);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(6),
        "{took:?}"
    );
    let all = tincan_quiet(s, w, &["ps", "-a"]).stdout;
    assert!(
        row(&all, id)[3].starts_with("Exited (137) "),
        "KILLed:\n{all}"
    );
    assert!(tincan_quiet(s, w, &["rm", id]).ok);
    assert_nothing_left(s, id);
}

/// A process killed and reaped when dropped, even if the test fails.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn streaming_stats_picks_up_a_container_started_after_it() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("monitor-late");
    let state = TempDir::new("state-monitor-late");
    let work = TempDir::new("work-monitor-late");
    let (s, w, id) = (state.path(), work.path(), "tincan-mon-late");
    let table = w.join("stats.txt");
    let stats = Reaped(
        std::process::Command::new(common::TINCAN)
            .arg("--root")
            .arg(s)
            .arg("stats")
            .stdout(std::fs::File::create(&table).expect("create stats.txt"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start tincan stats"),
    );
    // Its first table, with no container in it.
    let read = || std::fs::read_to_string(&table).unwrap_or_default();
    wait_for("stats' first table", Duration::from_secs(10), || {
        read().contains("NAME")
    });
    run_detached(s, w, image.path(), id, &[], "exec sleep 600");
    wait_for(
        "a row for the new container",
        Duration::from_secs(10),
        || read().lines().any(|l| l.starts_with(&format!("{id} "))),
    );
    drop(stats);
    assert!(tincan_quiet(s, w, &["rm", "-f", id]).ok);
    assert_nothing_left(s, id);
}

#[test]
fn ps_is_not_stale_after_kill_9_of_the_monitor() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("monitor-9");
    let state = TempDir::new("state-monitor-9");
    let work = TempDir::new("work-monitor-9");
    let (s, w, id) = (state.path(), work.path(), "tincan-mon-orphan");
    run_detached(s, w, image.path(), id, &[], "exec sleep 600");
    let rec = record(s, id);
    let (monitor, init) = (rec["owner"]["pid"].as_i64(), rec["init"]["pid"].as_i64());
    let (monitor, init) = (monitor.expect("owner") as i32, init.expect("init"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::SIGKILL,
    )
    .expect("kill -9 the monitor");
    // The container dies with its monitor (PR_SET_PDEATHSIG).
    wait_for("the container to die", Duration::from_secs(10), || {
        !Path::new(&format!("/proc/{init}")).exists()
            || std::fs::read_to_string(format!("/proc/{init}/stat"))
                .is_ok_and(|t| t.contains(") Z"))
    });
    let all = tincan_quiet(s, w, &["ps", "-a"]).stdout;
    assert!(row(&all, id)[3].starts_with("Exited (?)"), "{all}");
    assert!(
        !tincan_quiet(s, w, &["ps"]).stdout.contains(id),
        "not running"
    );
    assert!(!cgroup_exists(id), "the clean-up removed its cgroup");
    assert!(tincan_quiet(s, w, &["cleanup"]).ok);
    assert!(tincan_quiet(s, w, &["rm", id]).ok);
    assert_nothing_left(s, id);
}

/// One failing command: non-zero, one line on stderr that contains `want`.
fn fails(s: &Path, w: &Path, args: &[&str], want: &str) -> String {
    let out = tincan_quiet(s, w, args);
    assert!(!out.ok, "{args:?} succeeded");
    let err = out.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{args:?}: one line, got\n{err}");
    assert!(err.contains(want), "{args:?}: {err}");
    format!("$ tincan {}\n{err}", args.join(" "))
}

#[test]
fn monitor_bad_input_gets_one_clear_line() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("monitor-bad");
    let state = TempDir::new("state-monitor-bad");
    let work = TempDir::new("work-monitor-bad");
    let (s, w) = (state.path(), work.path());
    let mut report = Vec::new();
    for verb in ["logs", "stop", "rm", "top", "stats"] {
        report.push(fails(s, w, &[verb, "tincan-nobody"], "tincan ps -a"));
    }
    report.push(fails(
        s,
        w,
        &["stop", "-t", "soon", "x"],
        "whole number of seconds",
    ));

    // A foreground run keeps no log; `stop` ends it too.
    let fg = "tincan-mon-fg";
    let mut child = std::process::Command::new(common::TINCAN)
        .env("TINCAN_NET", "none")
        .arg("--root")
        .arg(s)
        .args([
            "run",
            "--rootfs",
            image.path().to_str().expect("utf-8"),
            "--name",
            fg,
        ])
        .args(["--", "sleep", "600"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tincan run");
    wait_for("the foreground container", Duration::from_secs(10), || {
        tincan_quiet(s, w, &["ps"]).stdout.contains(fg)
    });
    report.push(fails(s, w, &["logs", fg], "only `tincan run -d`"));
    assert!(tincan_quiet(s, w, &["stop", "-t", "0", fg]).ok);
    child.wait().expect("wait tincan run");
    assert_nothing_left(s, fg);

    // Running: rm refuses without -f. Exited: stop refuses.
    let id = "tincan-mon-short";
    run_detached(s, w, image.path(), id, &[], "exec sleep 600");
    report.push(fails(s, w, &["rm", id], "tincan rm -f"));
    assert!(tincan_quiet(s, w, &["stop", "-t", "0", id]).ok);
    report.push(fails(s, w, &["stop", id], "remove it with `tincan rm"));
    report.push(fails(s, w, &["top", id], "is not running"));
    assert!(tincan_quiet(s, w, &["rm", "-f", id]).ok);
    assert_nothing_left(s, id);
    insta::assert_snapshot!("monitor_bad_input", report.join("\n"));
}

#[test]
fn ps_and_stats_show_a_bridged_containers_address_ports_and_traffic() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("monitor-net");
    let state = TempDir::new("state-monitor-net");
    let work = TempDir::new("work-monitor-net");
    // In a network namespace of the test's own (see tests/net.rs): the
    // bridge, the veth and the published port live and die with it.
    let script = r#"set -e
$T --root $STATE run -d --rootfs $IMG --net bridge --publish 8080:80 --name tincan-mon-net -- sleep 600
echo '--- ps'
TINCAN_REDACT=1 $T --root $STATE ps
echo '--- stats'
TINCAN_REDACT=1 $T --root $STATE stats --no-stream
echo '--- end'
$T --root $STATE stop -t 0 tincan-mon-net
$T --root $STATE rm tincan-mon-net
echo "after: $(ls $STATE/.net/leases | wc -l) leases, $(grep -c tincan /proc/net/dev || true) links"
"#;
    // Output to a file, never a pipe: the monitor of `run -d` lives on.
    let log = work.path().join("script.txt");
    let file = || {
        std::fs::File::options()
            .append(true)
            .create(true)
            .open(&log)
            .expect("log")
    };
    let status = std::process::Command::new("unshare")
        .args(["--net", "sh", "-c", script])
        .env("T", common::TINCAN)
        .env("STATE", state.path())
        .env("IMG", image.path())
        .env_remove("TINCAN_NET")
        .stdin(std::process::Stdio::null())
        .stdout(file())
        .stderr(file())
        .status()
        .expect("run unshare --net");
    let text = std::fs::read_to_string(&log).expect("script output");
    assert!(status.success(), "{text}");
    let section = |from: &str, to: &str| {
        let start = text.find(from).expect("section") + from.len() + 1;
        text[start..text.find(to).expect("section end")].to_string()
    };
    let ps = section("--- ps", "--- stats");
    let cells = row(&ps, "tincan-mon-net");
    assert_eq!(cells[5], "10.88.0.2", "{ps}");
    assert_eq!(cells[6], "127.0.0.1:8080->80/tcp", "{ps}");
    let stats = section("--- stats", "--- end");
    assert_eq!(
        row(&stats, "tincan-mon-net")[4],
        "[BYTES] / [BYTES]",
        "{stats}"
    );
    assert!(text.contains("after: 0 leases, 0 links"), "{text}");
    insta::assert_snapshot!("monitor_ps_bridge", ps);
    assert_nothing_left(state.path(), "tincan-mon-net");
}
