//! The `chroot` and `pivot` demos: the same rootfs seen through chroot(2)
//! alone, then through a full small container (namespaces of step 02, a
//! cgroup of step 03, pivot_root(2) and fresh mounts).

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use step01::probe::Probe;
use step01::report;
use step03::limits::{Limits, parse_bytes};

use crate::container::{self, Isolation};
use crate::pivot;

fn show_command(
    out: &mut dyn Write,
    rootfs: &Path,
    isolation: &Isolation,
    line: &str,
) -> Result<()> {
    let done = container::run(rootfs, isolation, &["/bin/sh", "-c", line])?;
    writeln!(out, "  $ {line}")?;
    for l in done.output.lines() {
        writeln!(out, "    {l}")?;
    }
    Ok(())
}

// ANCHOR: chroot_demo
/// The `chroot` demo: a shell in the rootfs with chroot only.
pub fn chroot(out: &mut dyn Write, rootfs: &Path) -> Result<()> {
    writeln!(
        out,
        "chroot into the rootfs, then run the toolbox's commands through its /bin/sh:\n"
    )?;
    // Full paths: busybox's shell would run its own `ls` for a bare `ls`.
    for line in ["/bin/ls /", "/bin/cat /etc/hostname", "/bin/ps", "/bin/id"] {
        show_command(out, rootfs, &Isolation::Chroot, line)?;
    }
    writeln!(
        out,
        "\nWhat changed: only the root directory. `/` is now the rootfs, but /proc is an\n\
         empty directory (nothing is mounted in a chroot), so `ps` lists nothing. The\n\
         hostname file says \"tincan\" while the UTS hostname is still the host's, and\n\
         the process shares the host's PID, mount and network namespaces. Next: `escape`."
    )?;
    Ok(())
}
// ANCHOR_END: chroot_demo

// ANCHOR: pivot_demo
/// The `pivot` demo: the probe outside vs inside the full step-04 container.
pub fn pivot(out: &mut dyn Write, rootfs: &Path, read_only: bool) -> Result<()> {
    let limits = Limits {
        memory: Some(parse_bytes("--memory", "64m")?),
        pids: Some(step03::limits::Limit::Value(64)),
        ..Limits::default()
    };
    let name = format!("step04-pivot-{}", std::process::id());
    // Dropping the cgroup kills anything left inside and removes it.
    let (cgroup, _notes) = step03::cgroup::create(&name, &limits)?;
    let isolation = Isolation::Container {
        options: pivot::Options {
            mounts: true,
            read_only,
            own_cgroup: None,
        },
        hostname: "tincan",
        cgroup: Some(cgroup.as_ref()),
    };
    let outside = Probe::collect()?;
    let done = container::run(rootfs, &isolation, &["/bin/probe"])?;
    let inside = Probe::decode(&done.output)?;
    writeln!(
        out,
        "A container: new mount, PID, UTS, IPC, network and cgroup namespaces, a cgroup\n\
         (memory 64 MiB, 64 pids), pivot_root into the rootfs, fresh /proc, /sys (ro),\n\
         /dev and /tmp{}. The probe, outside and inside:\n",
        if read_only { ", root read-only" } else { "" }
    )?;
    write!(out, "{}", report::side_by_side(&outside, &inside))?;
    writeln!(out, "\nInside, the toolbox's commands through /bin/sh:")?;
    for line in ["/bin/ls /", "/bin/ps", "/bin/hostname", "/bin/ls /dev"] {
        show_command(out, rootfs, &isolation, line)?;
    }
    if read_only {
        show_command(out, rootfs, &isolation, "/bin/touch /hello")?;
    }
    writeln!(
        out,
        "\nWhat changed: the root directory is the rootfs and the host's tree is gone from\n\
         this mount namespace (not hidden: unmounted). /proc was mounted from inside the new\n\
         PID namespace, so `ps` lists only the container, whose first process is pid 1.\n\
         Everything was mounted in a private mount namespace: the host saw none of it."
    )?;
    Ok(())
}
// ANCHOR_END: pivot_demo
