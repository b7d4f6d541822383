//! Why a runtime makes the cgroup namespace *after* it has put its child in
//! the child's own cgroup (cgroup_namespaces(7)). The root of a cgroup
//! namespace is the cgroup the process sits in when the namespace is made,
//! and it never moves afterwards. Step 02's `cgroup` demo shows the
//! namespace alone; this one needs a cgroup of its own, so it lives here.

use std::io::Write;

use anyhow::{Context, Result};
use step01::report::{Table, redacting};
use step02::{Namespace, Namespaces, Sandbox};

use crate::cgroup::{self, Cgroup};
use crate::limits::Limits;

// ANCHOR: orders
/// The `cgroupns` demo: one cgroup, two children, two orders.
pub fn cgroupns(out: &mut dyn Write) -> Result<()> {
    let name = format!("step03-cgroupns-{}", std::process::id());
    // Dropping the guard removes the cgroup, also on an error.
    let (cg, _notes) = cgroup::create(&name, &Limits::default())?;
    // Wrong: the namespace comes with clone(2), the move into the cgroup after.
    let early =
        Sandbox::new(Namespaces::none().with(Namespace::Cgroup)).parent_setup(|pid| cg.add(pid));
    let early = seen_from_inside(early)?;
    // Right (tincan's order): moved while it waits, then unshare(2).
    let late = Sandbox::new(Namespaces::none())
        .parent_setup(|pid| cg.add(pid))
        .child_setup(|| {
            nix::sched::unshare(Namespace::Cgroup.clone_flag()).context("unshare(CLONE_NEWCGROUP)")
        });
    let late = seen_from_inside(late)?;
    // ANCHOR_END: orders
    report(out, cg.as_ref(), &early, &late)
}

/// What the child's `/proc/self/cgroup` says (the memory line on v1).
fn seen_from_inside(sandbox: Sandbox<'_>) -> Result<String> {
    let inside = step02::demo::probe_inside(sandbox, || Ok(vec![]))?;
    Ok(inside.probe.cgroup)
}

fn report(out: &mut dyn Write, cg: &dyn Cgroup, early: &str, late: &str) -> Result<()> {
    let ours = cg.relative().display().to_string();
    writeln!(
        out,
        "Two children put into the same cgroup, {}; each makes a new cgroup namespace:\n",
        shown(&ours, &ours)
    )?;
    let mut table = Table::new([
        "the cgroup namespace is made",
        "its /proc/self/cgroup reads",
    ]);
    table.row(["at clone, before the move (wrong)", &shown(early, &ours)]);
    table.row(["after the move (tincan's order)", &shown(late, &ours)]);
    writeln!(out, "{}", table.render())?;
    let verdict = if late == "/" && early.ends_with(&ours) {
        "The first child sees where the host put it, as a path from the cgroup that made\n\
         its namespace; the second sees itself at the root `/`, as under docker."
    } else {
        "The two children did not read what the kernel's rule predicts; see cgroup_namespaces(7)."
    };
    writeln!(out, "{verdict}")?;
    Ok(())
}

/// A path as printed. For the snapshots, the pid in our cgroup's name is
/// redacted, and so is the part before it, which depends on where this
/// program sits in the host's tree (`/../../` under a login session).
fn shown(path: &str, ours: &str) -> String {
    if !redacting() {
        return path.to_string();
    }
    let name = format!("{}/step03-cgroupns-[PID]", cgroup::PARENT);
    match path.strip_suffix(ours) {
        Some("") => name,
        Some(_) => format!("[HOST PATH]/{name}"),
        None => path.to_string(),
    }
}
