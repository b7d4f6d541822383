//! The demos of step 03: each puts a misbehaving program into a cgroup and
//! shows, with numbers read back from the kernel, that the limit held.
//!
//! Every demo validates its input first (nothing is created for bad input),
//! creates its cgroups under `tincan/`, starts its workload with
//! [`crate::spawn::spawn`] in new namespaces, and removes everything on the
//! way out: the cgroup guards' `Drop` kills what is left and `rmdir`s.
//!
//! One demo per file: [`cpu`], [`memory`], [`pids`], [`io`], [`stats`],
//! [`cgroupns`]. This
//! file holds what they share: starting a workload and printing a header.

use std::io::Write;

use anyhow::Result;
use step01::report::measured;

use crate::cgroup::{self, Cgroup};
use crate::limits::Limit;
use crate::spawn::{self, Child, NAMESPACES};
use crate::version::Version;

pub mod cgroupns;
pub mod cpu;
pub mod io;
pub mod memory;
pub mod pids;
pub mod stats;

pub use cgroupns::cgroupns;
pub use cpu::cpu;
pub use io::io;
pub use memory::{MemoryOutcome, memory, run_memory};
pub use pids::{PidsOutcome, pids, run_pids};
pub use stats::stats;

pub(crate) fn show_limit(limit: Option<Limit>, unit: fn(u64) -> String) -> String {
    match limit {
        Some(Limit::Value(n)) => unit(n),
        Some(Limit::Max) => "max".into(),
        None => "n/a".into(),
    }
}

pub(crate) fn opt(value: Option<u64>, unit: fn(u64) -> String) -> String {
    value.map_or("n/a".into(), |n| measured(unit(n)))
}

pub(crate) fn plain(n: u64) -> String {
    n.to_string()
}

/// Describe where the child runs: cgroup, version, placement, namespaces.
pub(crate) fn header(
    out: &mut dyn Write,
    cg: &dyn Cgroup,
    name: &str,
    notes: &[String],
) -> Result<()> {
    let version = match cg.version() {
        Version::V1 => format!(
            "cgroup v1: one directory in each of {} controller hierarchies",
            cg.dirs().len()
        ),
        Version::V2 => "cgroup v2: one directory in the unified hierarchy".to_string(),
    };
    writeln!(out, "cgroup {}/{name} ({version})", cgroup::PARENT)?;
    for note in notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

pub(crate) fn placed(out: &mut dyn Write, placement: spawn::Placement) -> Result<()> {
    writeln!(
        out,
        "the child was {}, in new PID, UTS and IPC namespaces",
        placement.describe()
    )?;
    Ok(())
}

/// Start this program's hidden `workload <args>` in `cg`.
pub fn start(cg: &dyn Cgroup, args: &[&str], capture: bool) -> Result<Child> {
    start_exe(&spawn::own_exe()?, cg, args, capture)
}

/// Start `exe workload <args>` in `cg` (tests pass the demo binary's path).
pub fn start_exe(exe: &str, cg: &dyn Cgroup, args: &[&str], capture: bool) -> Result<Child> {
    let mut full = vec!["workload"];
    full.extend_from_slice(args);
    spawn::spawn(Some(cg), NAMESPACES, exe, &full, capture)
}
