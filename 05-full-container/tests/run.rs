//! `tincan run` end to end, as root: what the container sees, its exit
//! status, its writes, signals, and what is left afterwards (nothing).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{TINCAN, TempDir, assert_nothing_left, rootfs, stderr, stdout, tincan};

#[test]
fn container_sees_its_hostname_is_pid_1_and_its_status_is_ours() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("basic");
    let state = TempDir::new("state-basic");
    let root = image.path().to_str().expect("utf-8");
    let out = tincan(
        state.path(),
        &[
            "run",
            "--rootfs",
            root,
            "--name",
            "tincan-basic",
            "--hostname",
            "box",
            "--",
            "/bin/sh",
            "-c",
            "hostname; echo $$; ls /proc | grep -c '^[0-9]'; exit 7",
        ],
    );
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "box\n1\n3\n",
        "hostname, pid 1, and only our sh, ls and grep in /proc"
    );
    assert_nothing_left(state.path(), "tincan-basic");
}

#[test]
fn writes_go_to_the_container_layer_and_vanish_with_it() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("layer");
    let state = TempDir::new("state-layer");
    let root = image.path().to_str().expect("utf-8");
    let out = tincan(
        state.path(),
        &[
            "run",
            "--rootfs",
            root,
            "--",
            "/bin/sh",
            "-c",
            "echo x > /new && rm /bin/grep && cat /new",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "x\n");
    assert!(
        image.path().join("bin/grep").exists(),
        "the image lost a file"
    );
    assert!(
        !image.path().join("new").exists(),
        "the image gained a file"
    );
    let out = tincan(
        state.path(),
        &[
            "run",
            "--rootfs",
            root,
            "--",
            "/bin/sh",
            "-c",
            "ls /new /bin/grep",
        ],
    );
    assert_eq!(
        stdout(&out),
        "/bin/grep\n",
        "a new container starts from the image: {}",
        stderr(&out)
    );
    let out = tincan(
        state.path(),
        &[
            "run",
            "--rootfs",
            root,
            "--read-only",
            "--",
            "/bin/sh",
            "-c",
            "touch /f",
        ],
    );
    assert!(!out.status.success(), "--read-only let a write through");
    assert!(
        std::fs::read_dir(state.path())
            .expect("state dir")
            .next()
            .is_none(),
        "state left behind"
    );
}

#[test]
fn volumes_users_and_capabilities_are_what_was_asked() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("opts");
    let state = TempDir::new("state-opts");
    let data = TempDir::new("volume");
    std::fs::write(data.path().join("f"), "from the host\n").expect("write");
    let root = image.path().to_str().expect("utf-8");
    let volume = format!("{}:/data:ro", data.path().display());
    let script = "cat /data/f; touch /data/g 2>/dev/null || echo read-only; id -u; id -g; grep CapEff /proc/self/status";
    let out = tincan(
        state.path(),
        &[
            "run",
            "--rootfs",
            root,
            "-v",
            &volume,
            "--user",
            "1000:1000",
            "--cap-drop",
            "ALL",
            "--cap-add",
            "NET_BIND_SERVICE",
            "--",
            "/bin/sh",
            "-c",
            script,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // NET_BIND_SERVICE is capability 10: bit 10 = 0x400.
    assert_eq!(
        stdout(&out),
        "from the host\nread-only\n1000\n1000\nCapEff:\t0000000000000400\n"
    );
    assert!(!data.path().join("g").exists());
}

#[test]
fn sigterm_to_tincan_reaches_the_container() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("signal");
    let state = TempDir::new("state-signal");
    let mut child = Command::new(TINCAN)
        .env("TINCAN_NET", "none")
        .arg("--root")
        .arg(state.path())
        .args([
            "run",
            "--rootfs",
            image.path().to_str().expect("utf-8"),
            "--name",
            "tincan-signal",
            "--",
        ])
        .args([
            "/bin/sh",
            "-c",
            "trap 'exit 42' TERM; while :; do sleep 0.05; done",
        ])
        .spawn()
        .expect("spawn tincan");
    // Wait until the container runs: before tincan installed its handlers,
    // SIGTERM would simply kill tincan itself.
    let state_file = state.path().join("tincan-signal/state.json");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&state_file)
        .unwrap_or_default()
        .contains("\"running\"")
    {
        assert!(Instant::now() < deadline, "container never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    // PID 1 of a pid namespace ignores signals it has no handler for, so
    // until the shell has set its trap, TERM is harmlessly dropped: resend.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::SIGTERM,
        );
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the container never got SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(42));
    assert_nothing_left(state.path(), "tincan-signal");
}

#[test]
fn kill_9_of_tincan_kills_the_container_and_the_next_command_cleans_up() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("kill9");
    let state = TempDir::new("state-kill9");
    let mut child = Command::new(TINCAN)
        .env("TINCAN_NET", "none")
        .arg("--root")
        .arg(state.path())
        .args([
            "run",
            "--rootfs",
            image.path().to_str().expect("utf-8"),
            "--name",
            "tincan-kill9",
            "--",
            "/bin/sleep",
            "600",
        ])
        .spawn()
        .expect("spawn tincan");
    let state_file = state.path().join("tincan-kill9/state.json");
    let deadline = Instant::now() + Duration::from_secs(20);
    let init_pid = loop {
        let text = std::fs::read_to_string(&state_file).unwrap_or_default();
        if text.contains("\"running\"") {
            let json: serde_json::Value = serde_json::from_str(&text).expect("state json");
            break json["init"]["pid"].as_i64().expect("init pid") as i32;
        }
        assert!(Instant::now() < deadline, "container never ran");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().expect("kill -9 tincan");
    child.wait().expect("reap tincan");
    // PR_SET_PDEATHSIG: the kernel killed the container with its parent.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{init_pid}")).exists() {
        assert!(Instant::now() < deadline, "container survived its tincan");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        state_file.exists(),
        "kill -9 leaves the state for the next command"
    );
    let out = common::tincan(state.path(), &["cleanup"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_nothing_left(state.path(), "tincan-kill9");
}

#[test]
fn explain_shows_each_step_in_order() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("explain");
    let state = TempDir::new("state-explain");
    let root = image.path().to_str().expect("utf-8");
    let out = tincan(
        state.path(),
        &[
            "run",
            "--rootfs",
            root,
            "--name",
            "tincan-explain",
            "--memory",
            "64m",
            "--pids-limit",
            "64",
            "--explain",
            "--",
            "/bin/sh",
            "-c",
            "true",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stderr(&out)
        .replace(root, "[IMAGE]")
        .replace(state.path().to_str().expect("utf-8"), "[STATE]");
    insta::assert_snapshot!("step05_explain", text);
}

#[test]
fn image_tarball_is_unpacked_once_and_never_changed() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("tar");
    let state = TempDir::new("state-tar");
    let tars = TempDir::new("tars");
    let tar = tars
        .path()
        .join(format!("tincan-test-image-{}.tar", std::process::id()));
    step04::rootfs::write_tarball(image.path(), &tar).expect("write tarball");
    let tar_arg = tar.to_str().expect("utf-8");
    let out = tincan(
        state.path(),
        &[
            "run",
            "--image",
            tar_arg,
            "--",
            "/bin/sh",
            "-c",
            "echo changed > /bin/cat; echo ok",
        ],
    );
    assert_eq!(stdout(&out), "ok\n", "{}", stderr(&out));
    let cache = step05::image_cache_dir();
    let unpacked: Vec<_> = std::fs::read_dir(&cache)
        .expect("image cache")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                n.to_string_lossy()
                    .starts_with(&format!("tincan-test-image-{}", std::process::id()))
            })
        })
        .collect();
    assert_eq!(unpacked.len(), 1, "{unpacked:?}");
    let out = tincan(
        state.path(),
        &[
            "run",
            "--image",
            tar_arg,
            "--",
            "/bin/sh",
            "-c",
            "cat /bin/cat | grep -c changed",
        ],
    );
    assert_eq!(
        stdout(&out),
        "0\n",
        "the second container saw the first one's write: {}",
        stderr(&out)
    );
    for dir in unpacked {
        std::fs::remove_dir_all(dir).expect("remove unpacked image");
    }
}

#[test]
fn rootless_user_is_root_only_inside_its_user_namespace() {
    if !step01::testing::need_root() {
        return; // the test switches to `nobody`, which needs root
    }
    use std::os::unix::process::CommandExt;
    let image = rootfs("rootless");
    let state = TempDir::new("state-rootless");
    std::os::unix::fs::chown(state.path(), Some(65534), Some(65534)).expect("chown state dir");
    let script = "id -u; cat /proc/self/uid_map; echo x > /written && cat /written";
    let out = Command::new(TINCAN)
        .env("TINCAN_NET", "none")
        .arg("--root")
        .arg(state.path())
        .args([
            "run",
            "--rootfs",
            image.path().to_str().expect("utf-8"),
            "--",
            "/bin/sh",
            "-c",
            script,
        ])
        .uid(65534)
        .gid(65534)
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .expect("run tincan as nobody");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "0", "root inside: {text}");
    let map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(map, ["0", "65534", "1"], "uid 0 inside is nobody outside");
    assert_eq!(lines[2], "x");
    assert!(
        std::fs::read_dir(state.path())
            .expect("state")
            .next()
            .is_none(),
        "rootless run left state behind"
    );
    // Limits need cgroups, which an unprivileged user does not get here.
    let out = Command::new(TINCAN)
        .env("TINCAN_NET", "none")
        .arg("--root")
        .arg(state.path())
        .args([
            "run",
            "--rootfs",
            image.path().to_str().expect("utf-8"),
            "--memory",
            "64m",
            "--",
            "/bin/sh",
        ])
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run tincan as nobody");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("need root"), "{}", stderr(&out));
}

#[test]
fn kill_9_at_any_moment_of_set_up_leaves_nothing_after_cleanup() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("kill9-setup");
    let state = TempDir::new("state-kill9-setup");
    // Kill tincan after 0, 1, 2, 4... ms: somewhere between parsing the
    // command line and running the program, whatever it had created.
    for (i, delay_ms) in [0u64, 1, 2, 3, 5, 8, 12, 20].into_iter().enumerate() {
        let name = format!("tincan-setup-{i}");
        let mut child = Command::new(TINCAN)
            .env("TINCAN_NET", "none")
            .arg("--root")
            .arg(state.path())
            .args([
                "run",
                "--rootfs",
                image.path().to_str().expect("utf-8"),
                "--name",
                &name,
            ])
            .args([
                "--memory",
                "64m",
                "--",
                "/bin/sleep",
                &format!("{}", 7000 + i),
            ])
            .spawn()
            .expect("spawn tincan");
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().expect("kill -9");
        child.wait().expect("reap");
        let out = tincan(state.path(), &["cleanup"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_nothing_left(state.path(), &name);
        // And no container process: the kernel killed it with its tincan.
        // Before its execve the container's first process is a copy of
        // tincan, with tincan's command line (which names our state dir).
        let marker = format!("/bin/sleep\0{}\0", 7000 + i);
        let state_arg = state.path().to_string_lossy().into_owned();
        let survivor = |cmdline: Vec<u8>| {
            cmdline == marker.as_bytes()
                || String::from_utf8_lossy(&cmdline).contains(state_arg.as_str())
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .any(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(survivor))
        {
            assert!(Instant::now() < deadline, "{name}'s process survived");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
