//! The time namespace: clocks of one's own (time_namespaces(7), Linux 5.6+).
//!
//! A time namespace adds fixed offsets to CLOCK_MONOTONIC and CLOCK_BOOTTIME
//! (never to the wall clock, CLOCK_REALTIME). Its purpose is checkpoint and
//! restore: a container moved to another machine must not see its monotonic
//! clock jump backwards. The offsets are written to `/proc/<pid>/timens_offsets`
//! before the first process enters the namespace; see
//! [`enter_new_time_namespace`] for the dance this needs.

use std::io::Write;

use std::os::fd::AsFd;

use anyhow::{Context, Result};
use nix::time::{ClockId, clock_gettime};
use step01::probe::Probe;

use crate::demo::{self, Facts};
use crate::namespaces::{Namespace, Namespaces};
use crate::sandbox::Sandbox;

/// The shift the demo uses: ten days.
pub const SHIFT_SECS: i64 = 10 * 24 * 3600;

/// The clocks a time namespace changes, and one it does not.
pub const CLOCKS: [(&str, ClockId); 3] = [
    ("CLOCK_MONOTONIC", ClockId::CLOCK_MONOTONIC),
    ("CLOCK_BOOTTIME", ClockId::CLOCK_BOOTTIME),
    ("CLOCK_REALTIME", ClockId::CLOCK_REALTIME),
];

// ANCHOR: time
/// Make a new time namespace with these clock offsets and enter it.
///
/// unshare(2) with CLONE_NEWTIME does not move the caller: the new namespace
/// is for its *future children*, and its offsets may be written only until
/// the first process enters it (after that the clocks of its members must
/// never jump). So: unshare, write `/proc/self/timens_offsets`, then
/// setns(2) into `/proc/self/ns/time_for_children` to enter it ourselves.
pub fn enter_new_time_namespace((monotonic, boottime): (i64, i64)) -> Result<()> {
    let flag = Namespace::Time.clone_flag();
    nix::sched::unshare(flag).context("unshare(CLONE_NEWTIME)")?;
    std::fs::write(
        "/proc/self/timens_offsets",
        format!("monotonic {monotonic} 0\nboottime {boottime} 0\n"),
    )
    .context("write /proc/self/timens_offsets")?;
    let ns = std::fs::File::open("/proc/self/ns/time_for_children")
        .context("open /proc/self/ns/time_for_children")?;
    nix::sched::setns(ns.as_fd(), flag).context("setns(/proc/self/ns/time_for_children)")?;
    Ok(())
}
// ANCHOR_END: time

/// Read every clock of [`CLOCKS`], in whole seconds.
pub fn read_clocks() -> Result<Vec<i64>> {
    CLOCKS
        .iter()
        .map(|(name, id)| {
            Ok(clock_gettime(*id)
                .map_err(|e| anyhow::anyhow!("clock_gettime({name}): {e}"))?
                .tv_sec())
        })
        .collect()
}

// ANCHOR: demo
/// The `time` demo.
pub fn demo(out: &mut dyn Write) -> Result<()> {
    let outside = Probe::collect()?;
    let before = read_clocks()?;
    let sandbox =
        Sandbox::new(Namespaces::none().with(Namespace::Time)).time_offsets(SHIFT_SECS, SHIFT_SECS);
    let inside = demo::probe_inside(sandbox, || {
        let mut facts: Facts = read_clocks()?
            .into_iter()
            .zip(CLOCKS)
            .map(|(secs, (name, _))| (name.to_string(), secs.to_string()))
            .collect();
        let offsets = std::fs::read_to_string("/proc/self/timens_offsets")?;
        let offsets: Vec<String> = offsets
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        facts.push(("offsets".into(), offsets.join("; ")));
        Ok(facts)
    })?;
    let after = read_clocks()?;
    demo::print_table(
        out,
        "A child in a new time namespace, with offsets of ten days:",
        &outside,
        &inside.probe,
    )?;
    let mut table = step01::report::Table::new(["clock", "inside minus outside"]);
    for (i, (name, _)) in CLOCKS.iter().enumerate() {
        let inside_secs: i64 = inside.fact(name).parse().unwrap_or(0);
        // The child read its clocks between our two readings: compare with
        // the reading before, rounded to whole hours so scheduling noise vanishes.
        let diff = inside_secs - before[i];
        let hours = (diff as f64 / 3600.0).round() as i64;
        debug_assert!(after[i] >= before[i]);
        table.row([name.to_string(), format!("{hours} h ({} days)", hours / 24)]);
    }
    write!(out, "{}", table.render())?;
    writeln!(
        out,
        "/proc/self/timens_offsets inside: {}\n",
        inside.fact("offsets")
    )?;
    writeln!(
        out,
        "What just happened: the child's monotonic and boot-time clocks run ten days ahead of\n\
         the host's (uptime too), while the wall clock, CLOCK_REALTIME, is the same for all."
    )?;
    Ok(())
}
// ANCHOR_END: demo
