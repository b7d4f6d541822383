//! The command line of the step 01 demos.

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
