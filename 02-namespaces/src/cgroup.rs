//! The cgroup namespace: one's own cgroup is the root `/`
//! (cgroup_namespaces(7)).
//!
//! `/proc/self/cgroup` names the control group a process is in. In a new
//! cgroup namespace, paths are shown relative to the cgroup the process was
//! in when the namespace was made, so a container sees itself at `/` and
//! learns nothing of how the host arranged its groups. (Placing the child
//! in a cgroup of its own, with limits, is step 03.)

use std::io::Write;

use anyhow::Result;
use step01::probe::Probe;

use crate::demo;
use crate::namespaces::{Namespace, Namespaces};
use crate::sandbox::Sandbox;

// ANCHOR: demo
/// The `cgroup` demo.
pub fn demo(out: &mut dyn Write) -> Result<()> {
    let outside = Probe::collect()?;
    let sandbox = Sandbox::new(Namespaces::none().with(Namespace::Cgroup));
    let inside = demo::probe_inside(sandbox, || Ok(vec![]))?;
    demo::print_table(
        out,
        "A child in a new cgroup namespace:",
        &outside,
        &inside.probe,
    )?;
    let verdict = if inside.probe.cgroup == outside.cgroup {
        "We are in the root cgroup already, so both views are the same here."
    } else {
        "Same group, two names: the host shows the full path, the child sees `/`."
    };
    writeln!(out, "{verdict}\n")?;
    writeln!(
        out,
        "What just happened: the child is still in the same cgroup (same limits), but its\n\
         /proc/self/cgroup shows that cgroup as the root `/` of its namespace."
    )?;
    Ok(())
}
// ANCHOR_END: demo
