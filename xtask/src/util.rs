//! Small helpers shared by the subcommands.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

// The workspace root, cargo, running and showing a command: the labs
// crate's helpers (it must build without the steps, so it owns them).
pub use tincan_labs::util::{cargo, is_root, root, run, show};

/// `cargo xtask ci`: what `.ci/run` checks, in the same order, minus
/// installing packages (the VM test installs its own when run as root).
pub fn ci() -> Result<()> {
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    crate::book::run(&crate::book::Options::default())?;
    crate::tour::run(None)?;
    crate::vm_test::run(false)?;
    let mut test = cargo();
    test.args(["test", "--workspace"]);
    test_counting_skips(test)?;
    tincan_labs::run(tincan_labs::Command::Selfcheck)
}

/// `cargo test --workspace` with its output passed through, then how many
/// tests skipped and why. A skip writes `SKIPPED <test>: <reason>` to the
/// raw stderr (`step01::testing::skip`), which the test harness does not
/// capture, so a skipped test is never mistaken for a passing one.
pub fn test_counting_skips(mut cmd: Command) -> Result<()> {
    cmd.stderr(Stdio::piped());
    eprintln!("$ {}", show(&cmd));
    let mut child = cmd
        .spawn()
        .with_context(|| format!("start {}", show(&cmd)))?;
    let stderr = child.stderr.take().context("cargo test's stderr pipe")?;
    let mut skipped = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.context("read cargo test's stderr")?;
        eprintln!("{line}");
        if let Some(skip) = skip_of(&line) {
            skipped.push(skip.to_string());
        }
    }
    let status = child.wait().context("wait for cargo test")?;
    eprintln!("\n{} test(s) skipped", skipped.len());
    for skip in &skipped {
        eprintln!("  {skip}");
    }
    if !status.success() {
        bail!("`{}` failed ({status})", show(&cmd));
    }
    Ok(())
}

/// The `<test>: <reason>` of a skip line; other tests' output may precede
/// it on the same line, as tests run in parallel.
pub fn skip_of(line: &str) -> Option<&str> {
    line.split_once("SKIPPED ").map(|(_, skip)| skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_lines_are_found_also_after_other_output() {
        let line = "SKIPPED vm_demo: no /dev/kvm (load kvm_intel)";
        assert_eq!(skip_of(line), Some("vm_demo: no /dev/kvm (load kvm_intel)"));
        assert_eq!(skip_of("partial outputSKIPPED t: r"), Some("t: r"));
        assert_eq!(skip_of("test vm_demo ... ok"), None);
    }
}
