//! Snapshots of the demos as people see them (volatile values redacted).
//! The book shows these files.

mod common;

use common::rootfs;
use step01::testing::need_root;

fn demo(args: &[&str]) -> String {
    let rootfs = rootfs();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_step04-chroot-pivot"))
        .args(args)
        .arg("--rootfs")
        .arg(&rootfs)
        .env("TINCAN_REDACT", "1")
        .output()
        .expect("run the demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn chroot_demo() {
    if !need_root() {
        return;
    }
    insta::assert_snapshot!("step04_chroot", demo(&["chroot"]));
}

#[test]
fn escape_demo() {
    if !need_root() {
        return;
    }
    let text = demo(&["escape"]);
    assert!(
        text.contains("=> ESCAPED: the host file was read"),
        "{text}"
    );
    assert!(
        text.contains("=> CONTAINED: the host file could not be read"),
        "{text}"
    );
    insta::assert_snapshot!("step04_escape", text);
}

#[test]
fn pivot_demo() {
    if !need_root() {
        return;
    }
    insta::assert_snapshot!("step04_pivot", demo(&["pivot"]));
}

#[test]
fn pivot_read_only_demo() {
    if !need_root() {
        return;
    }
    let text = demo(&["pivot", "--read-only"]);
    assert!(
        text.contains("touch: /hello: Read-only file system"),
        "{text}"
    );
}
