//! The command line of the step 04 demos.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Step 04: a root filesystem of our own: chroot, its escape, and
/// pivot_root done right.
#[derive(Debug, Parser)]
#[command(name = "step04-chroot-pivot", version, about, long_about = None)]
pub struct Cli {
    /// The root filesystem (default: the one `cargo xtask rootfs` builds).
    #[arg(long, global = true, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Which demo to run.
    #[command(subcommand)]
    pub demo: Demo,
}

/// The demos of step 04, in the order the book tells them.
#[derive(Debug, Subcommand)]
pub enum Demo {
    /// Run the toolbox shell in the rootfs with chroot only.
    Chroot,
    /// The classic chroot escape: it works under chroot, fails under pivot_root.
    Escape,
    /// The full step: namespaces + cgroup + pivot_root + fresh /proc, probed.
    Pivot {
        /// Remount the root read-only.
        #[arg(long)]
        read_only: bool,
    },
    /// Run one program in the rootfs: `run -- /bin/sh -c "ls /"`.
    Run {
        /// chroot only, instead of namespaces + pivot_root.
        #[arg(long)]
        chroot: bool,
        /// Remount the root read-only (pivot_root only).
        #[arg(long, conflicts_with = "chroot")]
        read_only: bool,
        /// Put the program in a cgroup with this memory limit (e.g. 64m).
        #[arg(long, conflicts_with = "chroot")]
        memory: Option<String>,
        /// The program (a path inside the rootfs) and its arguments.
        #[arg(required = true, last = true)]
        command: Vec<String>,
    },
    /// Unpack a .tar or .tar.gz root filesystem (or copy a directory) into DIR, safely.
    Import {
        /// The tarball (e.g. from `docker export`, or an Alpine minirootfs), or a directory.
        tarball: PathBuf,
        /// Where to unpack it (created if missing).
        dir: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
