//! A plain process: `fork(2)` + `execve(2)`, and nothing else.
//!
//! This is the "traditional deployment" baseline. A child started the
//! ordinary way inherits every namespace, the cgroup, the root directory and
//! the CPUs of its parent: it sees and shares the whole machine. Every later
//! step changes one row of the table this demo prints.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::probe::Probe;
use crate::report;

/// Start this same program as a child (`<exe> probe --encoded`) and return
/// the probe it reports from its side.
pub fn probe_child() -> Result<Probe> {
    let exe = std::env::current_exe().context("find our own executable (/proc/self/exe)")?;
    probe_child_of(&exe)
}

/// Start `exe probe --encoded` (a step binary) and decode what it reports.
pub fn probe_child_of(exe: &Path) -> Result<Probe> {
    let output = Command::new(exe)
        .args(["probe", "--encoded"])
        .output()
        .with_context(|| format!("spawn child {}", exe.display()))?;
    if !output.status.success() {
        bail!(
            "child probe {} failed ({}): {}",
            exe.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Probe::decode(&String::from_utf8_lossy(&output.stdout))
}

// ANCHOR: process_demo
/// The `process` demo: probe ourselves, spawn a child, compare.
pub fn demo(out: &mut dyn Write) -> Result<()> {
    let parent = Probe::collect()?;
    let child = probe_child()?;
    writeln!(
        out,
        "A child started with fork + exec, seen from both sides:\n"
    )?;
    write!(
        out,
        "{}",
        report::side_by_side_labeled(("parent", &parent), ("child", &child))
    )?;
    let shared = parent.namespaces == child.namespaces
        && parent.hostname == child.hostname
        && parent.cgroup == child.cgroup
        && parent.root == child.root;
    writeln!(out)?;
    if shared {
        writeln!(
            out,
            "What just happened: the child got its own pid (and /proc now lists it too), but it\n\
             shares every namespace, the cgroup, the root directory and all CPUs with its\n\
             parent: it can see, and starve, everything else on the machine. This is the\n\
             \"traditional deployment\" era."
        )?;
    } else {
        writeln!(
            out,
            "Note: the child differs in more than its pid; are we already inside a container?"
        )?;
    }
    Ok(())
}
// ANCHOR_END: process_demo
