//! `--net`: bridge, none, bad input. Every networking run happens inside a
//! network namespace this test makes first (`unshare --net`), so the
//! bridge, the veths and the nftables table live and die with it and no
//! packet can leave it.

mod common;

use std::process::Command;

use common::{TINCAN, TempDir, rootfs};

/// Run `script` with `sh` in a new network namespace (as root), `$T` being
/// tincan with its state under `state` and `$IMG` the test image.
fn in_new_netns(state: &TempDir, image: &TempDir, script: &str) -> (bool, String) {
    let out = Command::new("unshare")
        .args(["--net", "sh", "-c", script])
        .env("T", TINCAN)
        .env("STATE", state.path())
        .env("IMG", image.path())
        .env("TINCAN_REDACT", "1")
        .env_remove("TINCAN_NET")
        .output()
        .expect("run unshare --net");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The toolbox rootfs, whose busybox has `nc` and `ip` (or a skip).
fn toolbox() -> Option<std::path::PathBuf> {
    let toolbox = step04::rootfs::locate(None).expect("the toolbox rootfs (cargo xtask rootfs)");
    if !toolbox.join("bin/busybox").is_file() {
        step01::testing::skip("the rootfs has no busybox (its nc is the server and the client)");
        return None;
    }
    Some(toolbox)
}

#[test]
fn bridge_gives_eth0_a_route_and_names_and_leaves_nothing() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("net-bridge");
    let state = TempDir::new("state-net-bridge");
    let script = r#"set -e
$T --root $STATE run --rootfs $IMG --name tincan-web -- sleep 3 &
sleep 1
$T --root $STATE run --rootfs $IMG --net bridge --name tincan-client -- sh -c 'cat /etc/hosts /proc/net/dev /proc/net/route'
echo "nft: $(nft list table ip tincan | grep masquerade)"
wait
echo "after: $(cat /proc/net/dev | grep -c tincan || true) links, $(ls $STATE/.net/leases | wc -l) leases"
nft list table ip tincan 2>/dev/null && echo "table left" || echo "no table"
"#;
    let (ok, text) = in_new_netns(&state, &image, script);
    assert!(ok, "{text}");
    assert!(text.contains("10.88.0.2\ttincan-web"), "{text}");
    assert!(text.contains("10.88.0.3\ttincan-client"), "{text}");
    assert!(text.contains("eth0:"), "{text}");
    // The default route (destination 00000000) via the bridge's 10.88.0.1.
    assert!(text.contains("eth0\t00000000\t0100580A"), "{text}");
    assert!(
        text.contains("ip saddr 10.88.0.0/24 oifname != \"tincan0\" masquerade"),
        "{text}"
    );
    assert!(text.contains("after: 0 links, 0 leases"), "{text}");
    assert!(text.contains("no table"), "{text}");
    common::assert_nothing_left(state.path(), "tincan-web");
    common::assert_nothing_left(state.path(), "tincan-client");
}

#[test]
fn net_none_has_only_a_loopback() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("net-none");
    let state = TempDir::new("state-net-none");
    let (ok, text) = in_new_netns(
        &state,
        &image,
        "$T --root $STATE run --rootfs $IMG --net none -- cat /proc/net/dev",
    );
    assert!(ok, "{text}");
    let links: Vec<&str> = text.lines().filter(|l| l.contains(':')).collect();
    assert_eq!(links.len(), 1, "lo only: {text}");
    assert!(links[0].trim_start().starts_with("lo:"), "{text}");
}

#[test]
fn bad_network_flags_fail_with_one_line_and_leave_nothing() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("net-bad");
    let state = TempDir::new("state-net-bad");
    for (flags, expected) in [
        ("--publish 99999:80", "invalid --publish \"99999:80\""),
        ("--net bogus", "invalid --net \"bogus\""),
        ("--net none --publish 8080:80", "need --net bridge"),
        ("--subnet 10.88.0.1/24", "host bits are set"),
    ] {
        let script = format!(
            "$T --root $STATE run --rootfs $IMG --name tincan-bad {flags} -- true; \
             echo \"links $(grep -c tincan /proc/net/dev)\"; ls -A $STATE 2>/dev/null | grep -v '^.net$' | wc -l"
        );
        let (_, text) = in_new_netns(&state, &image, &script);
        let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(errors.len(), 1, "{flags}: {text}");
        assert!(errors[0].contains(expected), "{flags}: {text}");
        assert!(text.contains("links 0"), "{flags}: {text}");
        common::assert_nothing_left(state.path(), "tincan-bad");
    }
}

#[test]
fn two_containers_talk_by_name_and_none_cannot() {
    if !step01::testing::need_root() {
        return;
    }
    let Some(toolbox) = toolbox() else {
        return;
    };
    let state = TempDir::new("state-net-talk");
    // `show` prints a command as a reader would type it, then runs it.
    let script = r#"show() {
  printf '$ tincan'
  for a in "$@"; do case $a in *" "*) printf " '%s'" "$a" ;; *) printf ' %s' "$a" ;; esac; done
  echo
  $T --root $STATE "$@" 2>&1
}
show run -d --rootfs $TOOLBOX --net bridge --name tincan-talk-web -- nc -l -p 8080 -e sh -c 'read line; echo "tincan-talk-web got: $line"'
# The server may not listen yet: the client tries again, quietly.
show run --rootfs $TOOLBOX --net bridge --name tincan-talk-client -- sh -c 'for i in 1 2 3 4 5; do echo hello | nc tincan-talk-web 8080 2>/dev/null && exit; sleep 0.2; done; exit 1'
show run --rootfs $TOOLBOX --net none --name tincan-talk-alone -- nc tincan-talk-web 8080
echo "exit status $?"
$T --root $STATE stop -t 1 tincan-talk-web >/dev/null
$T --root $STATE rm tincan-talk-web >/dev/null
"#;
    let out = Command::new("unshare")
        .args(["--net", "sh", "-c", script])
        .env("T", TINCAN)
        .env("STATE", state.path())
        .env("TOOLBOX", &toolbox)
        .env("TINCAN_REDACT", "1")
        .env_remove("TINCAN_NET")
        .output()
        .expect("run unshare --net");
    let text =
        String::from_utf8_lossy(&out.stdout).replace(&toolbox.display().to_string(), "IMAGE");
    assert!(text.contains("\ntincan-talk-web got: hello\n"), "{text}");
    assert!(text.contains("bad address 'tincan-talk-web'"), "{text}");
    assert!(!text.contains("exit status 0"), "{text}");
    for name in ["tincan-talk-web", "tincan-talk-client", "tincan-talk-alone"] {
        common::assert_nothing_left(state.path(), name);
    }
    insta::assert_snapshot!("net_talk", text);
}

#[test]
fn pod_joins_a_running_containers_network_and_reaches_its_loopback() {
    if !step01::testing::need_root() {
        return;
    }
    let Some(toolbox) = toolbox() else {
        return;
    };
    let state = TempDir::new("state-net-pod");
    // The server prints its eth0 address into its log, then answers once
    // on port 8080 of every address, 127.0.0.1 included, and stays.
    let script = r#"
$T --root $STATE run -d --rootfs $TOOLBOX --net bridge --name tincan-pod-web -- sh -c 'ip -o -4 addr show eth0; nc -l -p 8080 -e sh -c "read line; echo pod-web got: \$line"; sleep 60' >/dev/null
$T --root $STATE run --rootfs $TOOLBOX --net container:tincan-pod-web --name tincan-pod-side -- sh -c 'ip -o -4 addr show eth0; for i in 1 2 3 4 5; do echo hello | nc 127.0.0.1 8080 2>/dev/null && exit; sleep 0.2; done; exit 1'
echo "side exit $?"
echo "links $(grep -c tincan /proc/net/dev), leases $(ls $STATE/.net/leases | wc -l)"
echo "web log: $($T --root $STATE logs tincan-pod-web)"
$T --root $STATE run -d --rootfs $TOOLBOX --net container:tincan-pod-web --name tincan-pod-ps -- sleep 60 >/dev/null
echo "ps: $($T --root $STATE ps | grep '^tincan-pod-ps ' | grep -o 'container:[a-z-]*')"
$T --root $STATE rm -f tincan-pod-ps >/dev/null
$T --root $STATE rm -f tincan-pod-web >/dev/null
$T --root $STATE run --rootfs $TOOLBOX --net container:tincan-pod-web --name tincan-pod-late -- true
echo "late exit $?"
$T --root $STATE run --rootfs $TOOLBOX --net container:tincan-pod-nobody --name tincan-pod-lost -- true
echo "lost exit $?"
"#;
    let out = Command::new("unshare")
        .args(["--net", "sh", "-c", script])
        .env("T", TINCAN)
        .env("STATE", state.path())
        .env("TOOLBOX", &toolbox)
        .env_remove("TINCAN_NET")
        .output()
        .expect("run unshare --net");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("\npod-web got: hello\n"), "{text}");
    assert!(text.contains("side exit 0"), "{text}");
    // `ps` says whose network a pod member has.
    assert!(text.contains("ps: container:tincan-pod-web\n"), "{text}");
    // The bridge, one veth and one lease (the server's): the pod member
    // has none of its own.
    assert!(text.contains("links 2, leases 1"), "{text}");
    // The same eth0 address on both sides.
    let addresses: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("eth0") && l.contains("inet "))
        .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1))
        .collect();
    assert_eq!(addresses.len(), 2, "{text}");
    assert_eq!(addresses[0], addresses[1], "{text}");
    assert!(addresses[0].starts_with("10.88.0."), "{text}");
    // A stopped or unknown container: one line each, nothing made.
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 2, "{text}");
    assert!(
        errors[0].contains("no container named \"tincan-pod-web\""),
        "{text}"
    );
    assert!(
        errors[1].contains("no container named \"tincan-pod-nobody\""),
        "{text}"
    );
    assert!(
        text.contains("late exit 1") && text.contains("lost exit 1"),
        "{text}"
    );
    for name in [
        "tincan-pod-web",
        "tincan-pod-side",
        "tincan-pod-late",
        "tincan-pod-lost",
        "tincan-pod-ps",
    ] {
        common::assert_nothing_left(state.path(), name);
    }
}

#[test]
fn rootless_run_gets_tap0_from_slirp4netns() {
    if !step01::testing::need_root() {
        return; // the test switches to `nobody`, which needs root
    }
    if std::process::Command::new("sh")
        .args(["-c", "command -v slirp4netns"])
        .output()
        .map_or(true, |o| !o.status.success())
    {
        step01::testing::skip("slirp4netns is not installed (Debian package slirp4netns)");
        return;
    }
    let image = rootfs("net-slirp");
    let state = TempDir::new("state-net-slirp");
    std::os::unix::fs::chown(state.path(), Some(65534), Some(65534)).expect("chown state dir");
    // Only the interface and its address are looked at: no packet is sent,
    // and the namespace this test made has nothing that leads out anyway.
    let script = r#"
setpriv --reuid 65534 --regid 65534 --clear-groups $T --root $STATE run --rootfs $IMG -- cat /proc/net/dev /proc/net/fib_trie
echo "exit $?"
echo "slirp4netns left: $(pgrep -u 65534 -x slirp4netns | wc -l)"
"#;
    let out = Command::new("unshare")
        .args(["--net", "sh", "-c", script])
        .env("T", TINCAN)
        .env("STATE", state.path())
        .env("IMG", image.path())
        .env_remove("TINCAN_NET")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .expect("run unshare --net");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("exit 0"), "{text}");
    assert!(
        text.contains("note: rootless: user-mode networking through slirp4netns"),
        "{text}"
    );
    assert!(text.contains("tap0:"), "{text}");
    assert!(text.contains("|-- 10.0.2.100\n"), "{text}");
    assert!(text.contains("slirp4netns left: 0"), "{text}");
    assert!(
        std::fs::read_dir(state.path())
            .expect("state")
            .next()
            .is_none(),
        "rootless run left state behind: {text}"
    );
}

#[test]
fn demo_microservices_talks_by_name_fails_on_none_and_answers_on_loopback() {
    if !step01::testing::need_root() {
        return;
    }
    if toolbox().is_none() {
        return;
    }
    let state = TempDir::new("state-net-demo");
    // --own-netns: the demo's first act is a network namespace of its own,
    // so its bridge, veths, nftables table and loopback port are not the host's.
    let out = Command::new(TINCAN)
        .arg("--root")
        .arg(state.path())
        .args(["demo", "microservices", "--own-netns"])
        .env("TINCAN_REDACT", "1")
        .env_remove("TINCAN_NET")
        .output()
        .expect("run tincan demo microservices");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", common::stderr(&out));
    assert!(
        text.contains("answered: tincan-demo-web got: hello\n"),
        "{text}"
    );
    assert!(
        text.contains("failed: nc: bad address 'tincan-demo-web'"),
        "{text}"
    );
    assert!(
        text.contains("answered: tincan-demo-web got: hello from the host"),
        "{text}"
    );
    for name in ["tincan-demo-web", "tincan-demo-client", "tincan-demo-alone"] {
        common::assert_nothing_left(state.path(), name);
    }
    insta::assert_snapshot!("net_demo_microservices", text);
}
