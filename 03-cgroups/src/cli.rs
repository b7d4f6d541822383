//! The command line of the step 03 demos.

use clap::{Parser, Subcommand};

/// Step 03: cgroups limit and account what a container uses, on cgroup v1
/// and v2. Every demo needs root: it creates cgroups under `tincan/`.
#[derive(Debug, Parser)]
#[command(name = "step03-cgroups", version, about, long_about = None)]
pub struct Cli {
    /// Which demo to run.
    #[command(subcommand)]
    pub demo: Demo,
}

/// The demos of step 03, in the order the book tells them.
#[derive(Debug, Subcommand)]
pub enum Demo {
    /// The noisy neighbour again: a hog next to a victim on one CPU, then the hog capped.
    Cpu {
        /// The hog's CPU limit, in CPUs (0.2 = a fifth of one CPU).
        #[arg(long, default_value = "0.2", allow_hyphen_values = true)]
        cpus: String,
    },
    /// A program that allocates without end, in a memory-limited cgroup: OOM-killed.
    Memory {
        /// The memory limit (64m, 1.5g, ...).
        #[arg(long, default_value = "64m", allow_hyphen_values = true)]
        memory: String,
    },
    /// A fork bomb in a cgroup with a process limit: stopped.
    Pids {
        /// The process limit.
        #[arg(long, default_value = "32", allow_hyphen_values = true)]
        pids: String,
    },
    /// Read the disk with and without a bandwidth limit.
    Io {
        /// The read bandwidth limit, bytes per second (2m = 2 MiB/s).
        #[arg(long, default_value = "2m", allow_hyphen_values = true)]
        read_bps: String,
        /// How much to read each run.
        #[arg(long, default_value = "4m", allow_hyphen_values = true)]
        bytes: String,
    },
    /// Watch two limited workloads' cgroup statistics live, like `docker stats`.
    Stats {
        /// How many one-second refreshes to show.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Show one table after one second and stop.
        #[arg(long)]
        once: bool,
    },
    /// Why a container's cgroup namespace is made after it enters its cgroup.
    Cgroupns,
    /// The programs the demos run inside cgroups (internal).
    #[command(hide = true, subcommand)]
    Workload(Workload),
}

/// The programs the demos start inside their cgroups.
#[derive(Debug, Subcommand)]
pub enum Workload {
    /// Spin forever.
    Hog,
    /// Allocate memory without end.
    Allocate,
    /// Fork until refused.
    Forkbomb,
    /// Read a block device with O_DIRECT.
    ReadDisk {
        /// The device node, e.g. /dev/vda.
        device: String,
        /// How many bytes (a multiple of 1 MiB).
        #[arg(long)]
        bytes: u64,
    },
    /// Grow to some MiB and burn CPU.
    Busy {
        /// How many MiB to hold.
        #[arg(long, default_value_t = 32)]
        mib: usize,
    },
    /// Print /proc/self/cgroup.
    Whereami,
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
