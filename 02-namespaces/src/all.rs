//! Every namespace at once: what a container is, minus its own root
//! filesystem (step 04) and its resource limits (step 03).

use std::io::Write;

use anyhow::Result;
use step01::probe::Probe;

use crate::demo;
use crate::namespaces::Namespaces;
use crate::pid::mount_fresh_proc;
use crate::sandbox::Sandbox;

// ANCHOR: demo
/// The `all` demo.
pub fn demo(out: &mut dyn Write) -> Result<()> {
    let outside = Probe::collect()?;
    let sandbox = Sandbox::new(Namespaces::all())
        .hostname("tincan")
        .time_offsets(crate::time::SHIFT_SECS, crate::time::SHIFT_SECS)
        .child_setup(mount_fresh_proc);
    let inside = demo::probe_inside(sandbox, || Ok(vec![]))?;
    demo::print_table(
        out,
        "A child in all eight new namespaces at once:",
        &outside,
        &inside.probe,
    )?;
    let changed = step01::probe::NAMESPACES
        .iter()
        .filter(|kind| outside.namespaces.get(**kind) != inside.probe.namespaces.get(**kind))
        .count();
    writeln!(
        out,
        "What just happened: {changed} of {} namespace inodes changed. The child has its own\n\
         hostname, pids, mounts, network, IPC keys, user ids, cgroup root and clocks, yet it\n\
         still sees the host's files, CPUs and memory: steps 03 and 04 take those away.",
        step01::probe::NAMESPACES.len()
    )?;
    Ok(())
}
// ANCHOR_END: demo
