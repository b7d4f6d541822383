//! The command line of the step 01 demos.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Step 01: what a plain process sees and shares, next to a real KVM virtual
/// machine that sees nothing of the host.
#[derive(Debug, Parser)]
#[command(name = "step01-vm-vs-process", version, about, long_about = None)]
pub struct Cli {
    /// Which demo to run.
    #[command(subcommand)]
    pub demo: Demo,
}

/// The demos of step 01, in the order the book tells them.
#[derive(Debug, Subcommand)]
pub enum Demo {
    /// Spawn a child process and show that it shares everything with its parent.
    Process,
    /// Print what this process sees of the machine (the probe every demo uses).
    Probe {
        /// Print the machine-readable `key=value` form instead of a table.
        #[arg(long)]
        encoded: bool,
    },
    /// The noisy neighbour: a latency-sensitive loop alone, beside a CPU hog
    /// pinned to its CPU, alone again, and beside a memory hog. Prints the
    /// victim's latency and the slowdown each hog caused.
    NoisyNeighbor {
        /// Total measuring time in seconds, split into rounds of four short windows.
        #[arg(long, default_value_t = 4.0, value_name = "SECONDS")]
        seconds: f64,
        /// Size of the memory hog's buffer (capped at a quarter of MemAvailable).
        #[arg(long, default_value_t = step01::noisy::DEFAULT_HOG_MIB, value_name = "MIB")]
        hog_mib: u64,
    },
    /// (internal) A hog process started by noisy-neighbor.
    #[command(name = "__hog", hide = true)]
    Hog {
        /// What to eat.
        kind: HogKind,
        /// The CPU to pin to.
        #[arg(long)]
        cpu: usize,
        /// The pid of the demo that started us; we die with it.
        #[arg(long)]
        parent: i32,
        /// The memory hog's buffer size.
        #[arg(long, default_value_t = 0)]
        mib: u64,
        /// Give up after this many seconds, whatever happens.
        #[arg(long, default_value_t = 30.0)]
        limit: f64,
    },
    /// Build a real virtual machine on /dev/kvm with our own tiny VMM, run a
    /// 36-byte guest that says hello through a serial port, and show every
    /// step and exit the VMM handled.
    Vm {
        /// The KVM device to use.
        #[arg(long, value_name = "PATH", default_value = step01::kvm::DEFAULT_DEVICE)]
        kvm_device: PathBuf,
    },
    /// Time to first output: a process (fork + exec) vs the KVM guest.
    Compare {
        /// The KVM device to use.
        #[arg(long, value_name = "PATH", default_value = step01::kvm::DEFAULT_DEVICE)]
        kvm_device: PathBuf,
        /// How many timed pairs of runs (a process and a VM each).
        #[arg(long, default_value_t = step01::compare::DEFAULT_RUNS,
              value_parser = clap::value_parser!(u16).range(1..=1000))]
        runs: u16,
    },
}

/// What a noisy-neighbor hog eats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum HogKind {
    /// CPU time.
    Cpu,
    /// Memory.
    Mem,
}

impl From<HogKind> for step01::noisy::Hog {
    fn from(kind: HogKind) -> Self {
        match kind {
            HogKind::Cpu => step01::noisy::Hog::Cpu,
            HogKind::Mem => step01::noisy::Hog::Mem,
        }
    }
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
