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
    // The toolbox rootfs, whose busybox has `nc`.
    let toolbox = step04::rootfs::locate(None).expect("the toolbox rootfs (cargo xtask rootfs)");
    if !toolbox.join("bin/busybox").is_file() {
        step01::testing::skip("the rootfs has no busybox (its nc is the server and the client)");
        return;
    }
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
