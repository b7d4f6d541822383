//! The `process` demo: a plain child shares everything with its parent.

use std::process::Command;

use step01::probe::Probe;

fn demo(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_step01-vm-vs-process"))
        .args(args)
        .env("TINCAN_REDACT", "1")
        .output()
        .expect("run the step01 binary")
}

#[test]
fn process_child_shares_every_namespace_with_its_parent() {
    let parent = Probe::collect().expect("probe the test");
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_step01-vm-vs-process"));
    let child = step01::process::probe_child_of(exe).expect("probe a child");
    assert_ne!(parent.pid, child.pid, "a child is a new process");
    assert_eq!(
        parent.namespaces, child.namespaces,
        "a plain child shares every namespace"
    );
    assert_eq!(parent.hostname, child.hostname);
    assert_eq!(parent.cgroup, child.cgroup);
    assert_eq!(parent.root, child.root);
}

#[test]
fn process_demo_output_is_stable() {
    let out = demo(&["process"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 output");
    assert!(text.contains("uts namespace"), "{text}");
    insta::assert_snapshot!("process", text);
}

#[test]
fn probe_prints_the_encoded_form_that_decodes() {
    let out = demo(&["probe", "--encoded"]);
    assert!(out.status.success());
    let probe = Probe::decode(&String::from_utf8_lossy(&out.stdout)).expect("decode");
    assert_eq!(probe.hostname, Probe::collect().expect("probe").hostname);
}

#[test]
fn unknown_demo_fails_with_usage() {
    let out = demo(&["no-such-demo"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unrecognized subcommand"), "{err}");
}
