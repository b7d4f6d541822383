//! `check`: build exactly the lab's test binary, run exactly its tests, and
//! turn libtest's output into a scorecard, one line per test.
//!
//! The tests are the workspace's own kernel tests (or, for a lab whose
//! tests would read error wording, a grader file next to them): they look at
//! what the kernel did, never at the learner's source.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::catalog::{Lab, Needs};
use crate::util::{cargo, show};

/// One test's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It passed.
    Pass,
    /// It failed; what it said.
    Fail(String),
    /// It skipped itself (no root, no /dev/kvm): not a pass.
    Skipped(String),
    /// It never reported (the test binary died first).
    Missing,
}

/// What one check found.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The code does not compile: cargo's errors.
    NoBuild(String),
    /// Each test and its verdict.
    Ran(Vec<(String, Verdict)>),
}

impl Outcome {
    /// Every test passed.
    pub fn passed(&self) -> bool {
        matches!(self, Outcome::Ran(r) if r.iter().all(|(_, v)| *v == Verdict::Pass))
    }
}

/// Build the lab's test binary as the calling user; its path and package folder.
fn build(lab: &Lab) -> Result<std::result::Result<(PathBuf, PathBuf), String>> {
    let mut cmd = cargo();
    cmd.args(["test", "--quiet", "-p", &lab.grade.package, "--test"])
        .arg(&lab.grade.test)
        .args(["--no-run", "--message-format=json-render-diagnostics"])
        .stdin(Stdio::null());
    eprintln!("$ {}", show(&cmd));
    let out = cmd
        .output()
        .with_context(|| format!("start {}", show(&cmd)))?;
    if !out.status.success() {
        return Ok(Err(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_it = msg["reason"] == "compiler-artifact"
            && msg["target"]["name"] == lab.grade.test.as_str()
            && msg["target"]["kind"][0] == "test";
        if let (true, Some(exe), Some(manifest)) = (
            is_it,
            msg["executable"].as_str(),
            msg["manifest_path"].as_str(),
        ) {
            let dir = PathBuf::from(manifest)
                .parent()
                .context("a manifest has a folder")?
                .to_path_buf();
            return Ok(Ok((PathBuf::from(exe), dir)));
        }
    }
    bail!(
        "cargo built no test binary {} of {}",
        lab.grade.test,
        lab.grade.package
    )
}

/// Build and run the lab's tests.
pub fn run(lab: &Lab) -> Result<Outcome> {
    let (exe, dir) = match build(lab)? {
        Ok(found) => found,
        Err(errors) => return Ok(Outcome::NoBuild(errors)),
    };
    let mut cmd = if lab.needs.needs_sudo() {
        eprintln!(
            "(the tests of {} need {}; running them through sudo, as the tour does)",
            lab.name,
            if lab.needs == Needs::Kvm {
                "access to /dev/kvm"
            } else {
                "root"
            }
        );
        let mut cmd = Command::new("sudo");
        cmd.arg("--preserve-env=CI,TINCAN_NET,RUST_BACKTRACE")
            .arg(&exe);
        cmd
    } else {
        Command::new(&exe)
    };
    cmd.args(["--exact", "--test-threads=1"])
        .args(&lab.grade.tests)
        .env("RUST_BACKTRACE", "0")
        .current_dir(dir)
        .stdin(Stdio::null());
    eprintln!("$ {}", show(&cmd));
    let out = cmd
        .output()
        .with_context(|| format!("start {}", show(&cmd)))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    Ok(Outcome::Ran(
        lab.grade
            .tests
            .iter()
            .map(|t| (t.clone(), verdict(t, &stdout, &stderr)))
            .collect(),
    ))
}

/// Read one test's verdict from libtest's output.
pub fn verdict(test: &str, stdout: &str, stderr: &str) -> Verdict {
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("test {test} ... ")));
    match line {
        Some("ok") => {
            let skipped = stderr
                .lines()
                .find_map(|l| l.strip_prefix(&format!("SKIPPED {test}: ")));
            match skipped {
                Some(reason) => Verdict::Skipped(reason.to_string()),
                None => Verdict::Pass,
            }
        }
        Some(_) => Verdict::Fail(failure_message(test, stdout)),
        None => Verdict::Missing,
    }
}

/// The panic message in a failed test's `---- name stdout ----` block.
fn failure_message(test: &str, stdout: &str) -> String {
    let header = format!("---- {test} stdout ----\n");
    let Some(start) = stdout.find(&header) else {
        return "(no message)".into();
    };
    let block = &stdout[start + header.len()..];
    let block = block.split("\n---- ").next().unwrap_or(block);
    let block = block.split("\n\nfailures:").next().unwrap_or(block);
    let mut lines = Vec::new();
    let mut in_panic = false;
    for line in block.lines() {
        if line.starts_with("thread '") && line.contains("panicked at") {
            in_panic = true;
            continue;
        }
        if line.starts_with("note: run with `RUST_BACKTRACE") {
            in_panic = false;
            continue;
        }
        if in_panic && !line.trim().is_empty() {
            lines.push(line.trim_end());
        }
    }
    if lines.is_empty() {
        "(no message)".into()
    } else {
        lines.join("\n")
    }
}

/// A test name as a sentence: `pids_limit_stops_fork_bomb` → "pids limit stops fork bomb".
fn sentence(test: &str) -> String {
    test.replace('_', " ")
}

/// Print the scorecard; `hint` is the next hint to show, if any.
pub fn scorecard(
    out: &mut dyn Write,
    lab: &Lab,
    outcome: &Outcome,
    hint: Option<(usize, &str)>,
) -> Result<()> {
    writeln!(out, "lab {}: {}", lab.name, lab.title)?;
    match outcome {
        Outcome::NoBuild(errors) => {
            writeln!(out, "  does not compile yet; cargo says:")?;
            for line in errors
                .lines()
                .filter(|l| !l.starts_with("warning") && !l.trim().is_empty())
                .take(40)
            {
                writeln!(out, "    {line}")?;
            }
        }
        Outcome::Ran(results) => {
            for (test, verdict) in results {
                let (mark, said) = match verdict {
                    Verdict::Pass => ("ok    ", None),
                    Verdict::Fail(message) => ("FAILED", Some(message.as_str())),
                    Verdict::Skipped(reason) => ("SKIP  ", Some(reason.as_str())),
                    Verdict::Missing => ("DIED  ", Some("the test binary ended before this test")),
                };
                writeln!(out, "  {mark} {}", sentence(test))?;
                for line in said.into_iter().flat_map(str::lines).take(12) {
                    writeln!(out, "         {line}")?;
                }
            }
            let good = results.iter().filter(|(_, v)| *v == Verdict::Pass).count();
            let verdict = if good == results.len() {
                format!("lab {} passed", lab.name)
            } else {
                "not yet".into()
            };
            writeln!(out, "{good} of {} checks pass: {verdict}.", results.len())?;
            if results
                .iter()
                .any(|(_, v)| matches!(v, Verdict::Skipped(_)))
            {
                writeln!(
                    out,
                    "a skipped check is not a pass: run the check as root (sudo -E cargo xtask lab check {})",
                    lab.name
                )?;
            }
        }
    }
    if let (false, Some((n, text))) = (outcome.passed(), hint) {
        writeln!(out, "hint {n} of {}: {text}", lab.hints.len())?;
        if n < lab.hints.len() {
            writeln!(out, "(the next: cargo xtask lab hint {})", lab.name)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "\nrunning 2 tests\ntest a_b ... ok\ntest c_d ... FAILED\n\nfailures:\n\n---- c_d stdout ----\n\nthread 'c_d' panicked at x.rs:1:2:\nhostname not set\nsecond line\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n\nfailures:\n    c_d\n";

    #[test]
    fn verdicts_come_from_libtest_output() {
        assert_eq!(verdict("a_b", OUT, ""), Verdict::Pass);
        assert_eq!(
            verdict("c_d", OUT, ""),
            Verdict::Fail("hostname not set\nsecond line".into())
        );
        assert_eq!(verdict("e_f", OUT, ""), Verdict::Missing);
        assert_eq!(
            verdict("a_b", OUT, "SKIPPED a_b: needs root\n"),
            Verdict::Skipped("needs root".into())
        );
    }
}
