//! # Step 04: a root filesystem of our own
//!
//! Namespaces (step 02) change what a process sees and cgroups (step 03)
//! what it may use; its files are still the host's. This step gives the
//! container its own `/`:
//!
//! 1. [`rootfs`] builds a root filesystem with no download: one static
//!    busybox-style binary (the `toolbox` crate) and a few directories.
//!    `cargo xtask rootfs` runs it.
//! 2. [`import`] unpacks someone else's rootfs tarball without letting it
//!    write outside the target.
//! 3. [`chroot`] changes a process's root directory, and [`escape`] shows
//!    why that is not a wall: a root process walks out with `..`.
//! 4. [`pivot`] does it the right way: in a new mount namespace, make `/`
//!    private, bind the rootfs onto itself, pivot_root, unmount the old
//!    root. [`mounts`] adds what a container needs inside: `/proc`, `/sys`,
//!    `/dev`, `/tmp`.
//! 5. [`container`] runs one program either way: step 02's `Sandbox` for
//!    the namespaces, a step 03 cgroup, and this step's root. [`demo`] shows
//!    both with the probe of step 01.
//!
//! ```no_run
//! use step04::container::{Isolation, run};
//! let rootfs = step04::rootfs::locate(None)?; // "rootfs missing: run `cargo xtask rootfs`"
//! let done = run(&rootfs, &Isolation::Chroot, &["/bin/ls", "/"])?;
//! assert!(done.output.contains("bin"));
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod busybox;
pub mod chroot;
pub mod container;
pub mod copy;
pub mod demo;
pub mod escape;
pub mod import;
pub mod mounts;
pub mod pivot;
pub mod rootfs;
pub mod xattrs;

use std::io::Write;
use std::path::Path;

use anyhow::{Result, bail};

/// The `run` command: one program in the rootfs, its output passed through,
/// its exit code reported as an error when it is not 0.
pub fn run_command(
    out: &mut dyn Write,
    rootfs: Option<&Path>,
    chroot_only: bool,
    read_only: bool,
    memory: Option<&str>,
    command: &[String],
) -> Result<()> {
    let rootfs = rootfs::locate(rootfs)?;
    let argv: Vec<&str> = command.iter().map(String::as_str).collect();
    let cgroup = match memory {
        Some(text) => {
            let limits = step03::limits::Limits {
                memory: Some(step03::limits::parse_bytes("--memory", text)?),
                ..Default::default()
            };
            let name = format!("step04-run-{}", std::process::id());
            Some(step03::cgroup::create(&name, &limits)?.0)
        }
        None => None,
    };
    let isolation = if chroot_only {
        container::Isolation::Chroot
    } else {
        container::Isolation::Container {
            options: pivot::Options {
                mounts: true,
                read_only,
                own_cgroup: None,
            },
            hostname: "tincan",
            cgroup: cgroup.as_deref(),
        }
    };
    let done = container::run(&rootfs, &isolation, &argv)?;
    write!(out, "{}", done.output)?;
    if !done.success() {
        bail!("{} ended with status {}", argv.join(" "), done.code());
    }
    Ok(())
}

/// The `import` command.
pub fn import_demo(out: &mut dyn Write, source: &Path, dir: &Path) -> Result<()> {
    let done = import::import(source, dir)?;
    writeln!(
        out,
        "imported {} entries ({} symlinks) into {}",
        done.entries,
        done.symlinks,
        dir.display()
    )?;
    match rootfs::check(dir) {
        Ok(()) => writeln!(
            out,
            "{} is a usable rootfs: pass it with --rootfs",
            dir.display()
        )?,
        Err(e) => writeln!(out, "note: {e:#}")?,
    }
    Ok(())
}
