//! OCI hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle"):
//! all six kinds run in the spec's order, each with the container's state
//! on stdin, in the namespaces the spec names; the failure and timeout
//! rules. The hooks are shell scripts run by the host's /bin/sh (the
//! startContainer one, which runs inside the container, by the image's).
//! As root.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{TempDir, assert_nothing_left, rootfs, tincan_quiet};
use serde_json::{Value, json};

/// A hook that notes its argv, its environment, its mount namespace and
/// the state it read on stdin in `$OUT/<kind>`, and appends its kind to
/// `$OUT/order`. Only shell built-ins and `ls`, which the image has too.
const RECORD: &str = r#"#!/bin/sh
read -r state || true
ns=$(ls -l /proc/self/ns/mnt)
{
  echo "args=$*"
  echo "var=$HOOK_VAR home=${HOME-unset}"
  echo "mnt=${ns##*-> }"
  echo "state=$state"
} > "$OUT/$1"
echo "$1" >> "$OUT/order"
"#;

const KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// One test's image, bundle directory, output directory and state root.
struct World {
    image: TempDir,
    out: TempDir,
    hooks: TempDir,
    state: TempDir,
}

impl World {
    fn new(tag: &str) -> World {
        let world = World {
            image: rootfs(&format!("hooks-{tag}")),
            out: TempDir::new(&format!("out-hooks-{tag}")),
            hooks: TempDir::new(&format!("hookdir-{tag}")),
            state: TempDir::new(&format!("state-hooks-{tag}")),
        };
        world.script("record.sh", RECORD);
        // The startContainer hook runs in the container: it is the image's.
        write_script(&world.image.path().join("record.sh"), RECORD);
        world
    }

    /// A script among the hooks, on the host.
    fn script(&self, name: &str, text: &str) -> PathBuf {
        let path = self.hooks.path().join(name);
        write_script(&path, text);
        path
    }

    /// The recording hook for `kind`, writing to the host's output dir
    /// (or to /out, the same directory bound into the container).
    fn record(&self, kind: &str) -> Value {
        let (path, out) = if kind == "startContainer" {
            (PathBuf::from("/record.sh"), PathBuf::from("/out"))
        } else {
            (self.hooks.path().join("record.sh"), self.out.path().into())
        };
        hook(&path, &[kind, "extra"], &out, kind)
    }

    /// `tincan ARGS` with output in files.
    fn tincan(&self, args: &[&str]) -> common::Quiet {
        tincan_quiet(self.state.path(), self.out.path(), args)
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.out.path().join(file)).unwrap_or_default()
    }

    /// What the hook of `kind` noted: its lines as `key=value`.
    fn noted(&self, kind: &str, key: &str) -> String {
        let text = self.read(kind);
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{kind} noted no {key}: {text:?}"))
            .to_string()
    }
}

fn write_script(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write hook");
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod hook");
}

/// A hook entry for config.json.
fn hook(path: &Path, args: &[&str], out: &Path, var: &str) -> Value {
    let mut argv = vec!["hook"];
    argv.extend_from_slice(args);
    json!({
        "path": path,
        "args": argv,
        "env": ["PATH=/usr/bin:/bin", format!("OUT={}", out.display()), format!("HOOK_VAR={var}")],
    })
}

/// A bundle around the world's image running `script`, with `hooks`.
fn bundle(world: &World, tag: &str, script: &str, hooks: Value) -> TempDir {
    common::script_bundle(tag, world.image.path(), world.out.path(), script, |json| {
        json["hooks"] = hooks;
    })
}

/// A transcript line for the book: `$ tincan ARGS` and the one line of
/// stderr, with the hooks' directory as `[HOOKS]`.
fn transcript(world: &World, command: &str, stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr:?}");
    let line = lines[0].replace(&world.hooks.path().display().to_string(), "[HOOKS]");
    format!("$ tincan {command}\n{line}\n")
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
    })
}

fn mnt_ns(pid: &str) -> String {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).expect("readlink ns/mnt");
    link.display().to_string()
}

#[test]
fn six_hooks_run_in_order_with_the_state_in_the_right_namespaces() {
    if !step01::testing::need_root() {
        return;
    }
    let world = World::new("order");
    let hooks: serde_json::Map<String, Value> = KINDS
        .iter()
        .map(|k| (k.to_string(), json!([world.record(k)])))
        .collect();
    // The program notes which hooks had run when it started.
    let bundle = bundle(
        &world,
        "order",
        "cat /out/order > /out/program",
        hooks.into(),
    );
    let b = bundle.path().to_str().expect("utf-8");
    let pid_file = world.out.path().join("pid");
    let p = pid_file.to_str().expect("utf-8");
    let id = "tincan-hooks-order";

    let created = world.tincan(&["create", "--bundle", b, "--pid-file", p, id]);
    assert!(created.ok, "create: {}", created.stderr);
    let pid = std::fs::read_to_string(&pid_file).expect("pid file");
    assert_eq!(
        world.read("order"),
        "prestart\ncreateRuntime\ncreateContainer\n",
        "create runs the first three kinds"
    );
    let container_mnt = mnt_ns(&pid);
    // The spec: a config.json changed after create must not matter (the
    // hooks are kept in the state record, poststop included).
    std::fs::write(bundle.path().join("config.json"), "{}").expect("spoil config.json");
    let started = world.tincan(&["start", id]);
    assert!(started.ok, "start: {}", started.stderr);
    assert_eq!(
        world.read("order"),
        "prestart\ncreateRuntime\ncreateContainer\nstartContainer\npoststart\n",
        "start runs startContainer, then poststart before it returns"
    );
    wait_for("the program to run", || {
        world.read("program").ends_with('\n')
    });
    // (poststart runs beside the program: the program may see it or not.)
    let program_saw = world.read("program");
    assert!(
        program_saw.starts_with("prestart\ncreateRuntime\ncreateContainer\nstartContainer\n"),
        "startContainer ran before the program: {program_saw:?}"
    );
    wait_for("the container to exit", || {
        !alive(pid.parse().expect("pid"))
    });
    let deleted = world.tincan(&["delete", id]);
    assert!(deleted.ok, "delete: {}", deleted.stderr);
    assert_nothing_left(world.state.path(), id);
    assert_eq!(world.read("order").lines().collect::<Vec<_>>(), KINDS);

    let host_mnt = mnt_ns("self");
    let bundle_path = bundle.path().canonicalize().expect("canonical bundle");
    let mut table = String::from("hook             status    pid     mount namespace\n");
    for kind in KINDS {
        assert_eq!(
            world.noted(kind, "args"),
            format!("{kind} extra"),
            "{kind}'s argv"
        );
        assert_eq!(
            world.noted(kind, "var"),
            format!("{kind} home=unset"),
            "{kind} gets exactly its env, nothing of tincan's"
        );
        let state: Value = serde_json::from_str(&world.noted(kind, "state"))
            .unwrap_or_else(|e| panic!("{kind}'s stdin is no JSON state: {e}"));
        assert_eq!(state["id"], id, "{kind}: {state}");
        assert_eq!(
            state["bundle"],
            bundle_path.to_str().expect("utf-8"),
            "{kind}"
        );
        assert_eq!(state["ociVersion"], "1.0.2", "{kind}");
        let status = state["status"].as_str().expect("status").to_string();
        let expected = match kind {
            "poststop" => "stopped",
            "poststart" => "running",
            "startContainer" => "created",
            _ => "creating",
        };
        assert_eq!(status, expected, "{kind}'s status");
        let seen_pid = state["pid"].to_string();
        if kind != "poststop" {
            assert_eq!(
                seen_pid, pid,
                "{kind} sees the container's pid as the host does"
            );
        }
        let mnt = world.noted(kind, "mnt");
        let inside = matches!(kind, "createContainer" | "startContainer");
        let expected_mnt = if inside { &container_mnt } else { &host_mnt };
        assert_eq!(&mnt, expected_mnt, "{kind}'s mount namespace");
        let pid_shown = if seen_pid == "0" { "0" } else { "[PID]" };
        let ns = if inside {
            "the container's"
        } else {
            "the host's (runtime)"
        };
        table.push_str(&format!("{kind:<16} {status:<9} {pid_shown:<7} {ns}\n"));
    }
    assert_ne!(
        container_mnt, host_mnt,
        "the container has a mount namespace of its own"
    );
    insta::assert_snapshot!("hooks_order", table);
}

#[test]
fn failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    if !step01::testing::need_root() {
        return;
    }
    let world = World::new("fail");
    let fail = world.script("fail.sh", "#!/bin/sh\nexit 3\n");
    let hooks = json!({
        "prestart": [world.record("prestart")],
        "createRuntime": [hook(&fail, &[], world.out.path(), "fail")],
        "createContainer": [world.record("createContainer")],
        "poststop": [world.record("poststop")],
    });
    let bundle = bundle(&world, "fail", "sleep 600", hooks);
    let b = bundle.path().to_str().expect("utf-8");
    let id = "tincan-hooks-fail";
    let created = world.tincan(&["create", "--bundle", b, id]);
    assert!(!created.ok, "create must fail: {}", created.stderr);
    let lines: Vec<&str> = created
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line: {:?}", created.stderr);
    let wanted = format!(
        "createRuntime hook {} failed: exit status 3",
        fail.display()
    );
    assert!(lines[0].contains(&wanted), "{:?} names the hook", lines[0]);
    // Nothing is left: no state, no cgroup, no process; createContainer
    // never ran, and poststop did (the spec's last step).
    assert_nothing_left(world.state.path(), id);
    let state: Value = serde_json::from_str(&world.noted("prestart", "state")).expect("state");
    let pid = state["pid"].as_i64().expect("pid") as i32;
    wait_for("the container's process to go", || !alive(pid));
    assert_eq!(world.read("order"), "prestart\npoststop\n");
    let listed = world.tincan(&["state", id]);
    assert!(!listed.ok, "no container {id} is known");
    insta::assert_snapshot!(
        "hooks_fail",
        transcript(
            &world,
            &format!("create --bundle [BUNDLE] {id}"),
            &created.stderr
        )
    );
}

#[test]
fn hook_past_its_timeout_is_killed_with_its_children() {
    if !step01::testing::need_root() {
        return;
    }
    let world = World::new("timeout");
    let slow = world.script(
        "slow.sh",
        "#!/bin/sh\nsleep 60 &\necho $! > \"$OUT/sleeper\"\nwait\n",
    );
    let mut slow_hook = hook(&slow, &[], world.out.path(), "slow");
    slow_hook["timeout"] = 1.into();
    let bundle = bundle(
        &world,
        "timeout",
        "sleep 600",
        json!({ "createRuntime": [slow_hook] }),
    );
    let b = bundle.path().to_str().expect("utf-8");
    let id = "tincan-hooks-timeout";
    let began = Instant::now();
    let created = world.tincan(&["create", "--bundle", b, id]);
    let took = began.elapsed();
    assert!(!created.ok, "create must fail");
    assert!(
        created.stderr.contains(&format!(
            "createRuntime hook {} timed out after 1s",
            slow.display()
        )),
        "{}",
        created.stderr
    );
    assert!(took < Duration::from_secs(10), "the timeout held: {took:?}");
    insta::assert_snapshot!(
        "hooks_timeout",
        transcript(
            &world,
            &format!("create --bundle [BUNDLE] {id}"),
            &created.stderr
        )
    );
    assert_nothing_left(world.state.path(), id);
    let sleeper: i32 = world
        .read("sleeper")
        .trim()
        .parse()
        .expect("the sleeper's pid");
    wait_for("the hook's child to be killed too", || !alive(sleeper));
}

#[test]
fn failing_poststart_warns_and_failing_start_container_fails_start() {
    if !step01::testing::need_root() {
        return;
    }
    let world = World::new("warn");
    let fail = world.script("fail.sh", "#!/bin/sh\nexit 1\n");
    // poststart fails: a warning, the container runs on.
    let hooks = json!({ "poststart": [hook(&fail, &[], world.out.path(), "x")] });
    let bundle1 = bundle(&world, "warn", "echo ran > /out/program; sleep 600", hooks);
    let b = bundle1.path().to_str().expect("utf-8");
    let id = "tincan-hooks-warn";
    let created = world.tincan(&["create", "--bundle", b, id]);
    assert!(created.ok, "create: {}", created.stderr);
    let started = world.tincan(&["start", id]);
    assert!(
        started.ok,
        "a failing poststart must not fail start: {}",
        started.stderr
    );
    assert!(
        started.stderr.contains(&format!(
            "warning: poststart hook {} failed: exit status 1",
            fail.display()
        )),
        "{}",
        started.stderr
    );
    let mut shown = transcript(&world, &format!("start {id}"), &started.stderr);
    wait_for("the program to run", || world.read("program") == "ran\n");
    let deleted = world.tincan(&["delete", "--force", id]);
    assert!(deleted.ok, "delete: {}", deleted.stderr);
    assert_nothing_left(world.state.path(), id);

    // startContainer fails (in the container): start fails, the program
    // never runs, and delete still cleans up.
    write_script(&world.image.path().join("fail.sh"), "#!/bin/sh\nexit 4\n");
    let hooks =
        json!({ "startContainer": [hook(Path::new("/fail.sh"), &[], Path::new("/out"), "x")] });
    let bundle2 = bundle(&world, "startfail", "echo ran > /out/program2", hooks);
    let b = bundle2.path().to_str().expect("utf-8");
    let id = "tincan-hooks-startfail";
    let created = world.tincan(&["create", "--bundle", b, id]);
    assert!(created.ok, "create: {}", created.stderr);
    let started = world.tincan(&["start", id]);
    assert!(!started.ok, "a failing startContainer must fail start");
    assert!(
        started
            .stderr
            .contains("startContainer hook /fail.sh failed: exit status 4"),
        "{}",
        started.stderr
    );
    shown.push_str(&transcript(&world, &format!("start {id}"), &started.stderr));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(world.read("program2"), "", "the program must not run");
    let state = world.tincan(&["state", id]);
    assert!(state.stdout.contains("\"stopped\""), "{}", state.stdout);
    let deleted = world.tincan(&["delete", id]);
    assert!(deleted.ok, "delete: {}", deleted.stderr);
    assert_nothing_left(world.state.path(), id);
    insta::assert_snapshot!("hooks_start", shown);
}

#[test]
fn run_bundle_runs_poststop_at_the_end() {
    if !step01::testing::need_root() {
        return;
    }
    let world = World::new("run");
    let hooks: serde_json::Map<String, Value> = KINDS
        .iter()
        .map(|k| (k.to_string(), json!([world.record(k)])))
        .collect();
    let bundle = bundle(&world, "run", "true", hooks.into());
    let b = bundle.path().to_str().expect("utf-8");
    let id = "tincan-hooks-run";
    let ran = world.tincan(&["run", "--bundle", b, id]);
    assert!(ran.ok, "run: {}", ran.stderr);
    assert_eq!(world.read("order").lines().collect::<Vec<_>>(), KINDS);
    assert_nothing_left(world.state.path(), id);
}

#[test]
fn poststop_runs_when_the_next_command_cleans_up_after_a_killed_run() {
    if !step01::testing::need_root() {
        return;
    }
    let world = World::new("kill9");
    let hooks = json!({ "poststop": [world.record("poststop")] });
    let bundle = bundle(&world, "kill9", "sleep 600", hooks);
    let id = "tincan-hooks-kill9";
    let mut tincan = std::process::Command::new(common::TINCAN)
        .env("TINCAN_NET", "none")
        .arg("--root")
        .arg(world.state.path())
        .args([
            "run",
            "--bundle",
            bundle.path().to_str().expect("utf-8"),
            id,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn tincan run");
    let state_file = world.state.path().join(id).join("state.json");
    wait_for("the container to run", || {
        std::fs::read_to_string(&state_file).is_ok_and(|t| t.contains("\"running\""))
    });
    tincan.kill().expect("kill -9 tincan");
    tincan.wait().expect("reap tincan");
    assert_eq!(world.read("order"), "", "nobody ran poststop yet");
    let cleaned = world.tincan(&["cleanup"]);
    assert!(cleaned.ok, "cleanup: {}", cleaned.stderr);
    assert_eq!(
        world.read("order"),
        "poststop\n",
        "the cleanup ran poststop"
    );
    assert_nothing_left(world.state.path(), id);
}
