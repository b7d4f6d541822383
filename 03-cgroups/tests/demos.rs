//! The demos as a learner runs them: the built binary, its output
//! snapshotted (with volatile numbers redacted) for the book, and bad input
//! refused in one line with nothing left behind.

use std::process::{Command, Output};

use step03::version::Hierarchy;

const EXE: &str = env!("CARGO_BIN_EXE_step03-cgroups");

fn run(args: &[&str]) -> Output {
    Command::new(EXE)
        .args(args)
        .env("TINCAN_REDACT", "1")
        .output()
        .expect("run the step03-cgroups binary")
}

/// The snapshot of `demo` for this host's cgroup version: `step03_<demo>`
/// shows a v1 host (the machine CI runs on), `step03_<demo>_v2` a v2 one,
/// taken in the VM of `cargo xtask vm-test` (`--accept` writes them back).
/// `None` (the test returns) without root.
fn snapshot_name(demo: &str) -> Option<String> {
    if !step01::testing::need_root() {
        return None;
    }
    Some(
        match Hierarchy::detect().expect("detect the cgroup version") {
            Hierarchy::V1 { .. } => format!("step03_{demo}"),
            Hierarchy::V2 { .. } => format!("step03_{demo}_v2"),
        },
    )
}

fn demo_output(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn memory_demo_output() {
    let Some(name) = snapshot_name("memory") else {
        return;
    };
    let text = demo_output(&["memory"]);
    assert!(text.contains("killed by SIGKILL"), "{text}");
    insta::assert_snapshot!(name, text);
}

#[test]
fn pids_demo_output() {
    let Some(name) = snapshot_name("pids") else {
        return;
    };
    let text = demo_output(&["pids"]);
    insta::assert_snapshot!(name, text);
}

#[test]
fn cpu_demo_output() {
    let Some(name) = snapshot_name("cpu") else {
        return;
    };
    // The sentences depend on this run's numbers, which a busy machine moves;
    // the snapshot keeps the tables, and the words are checked below from
    // fixed numbers.
    let text = demo_output(&["cpu"]);
    let (tables, _words) = text
        .split_once("\nWithout a limit")
        .unwrap_or_else(|| panic!("no sentences under the table: {text}"));
    insta::assert_snapshot!(name, tables.to_string() + "\n");
}

#[test]
fn cpu_demo_words_for_typical_numbers() {
    // What this machine measures on a quiet run, as round numbers.
    let uncapped = step01::noisy::Spread::of(vec![1.8, 1.9, 2.0, 2.1, 2.2]);
    let capped = step01::noisy::Spread::of(vec![1.15, 1.2, 1.25, 1.3, 1.35]);
    let words = step03::demo::cpu::words(&uncapped, &capped, "0.2");
    insta::assert_snapshot!("step03_cpu_words", words);
}

#[test]
fn io_demo_output() {
    let Some(name) = snapshot_name("io") else {
        return;
    };
    insta::assert_snapshot!(name, demo_output(&["io"]));
}

#[test]
fn stats_demo_output() {
    let Some(name) = snapshot_name("stats") else {
        return;
    };
    insta::assert_snapshot!(name, demo_output(&["stats", "--once"]));
}

#[test]
fn cgroupns_demo_shows_why_the_namespace_comes_after_the_move() {
    // The same output on v1 and v2: the demo prints only `/` and redacted paths.
    if !step01::testing::need_root() {
        return;
    }
    let text = demo_output(&["cgroupns"]);
    assert!(
        text.contains("the second sees itself at the root `/`"),
        "the kernel did not give the late namespace its cgroup as root: {text}"
    );
    insta::assert_snapshot!("step03_cgroupns", text);
}
