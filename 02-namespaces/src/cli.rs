//! The command line of the step 02 demos.

use clap::{Parser, Subcommand};

/// Step 02: namespaces, each one narrows what a process sees.
#[derive(Debug, Parser)]
#[command(name = "step02-namespaces", version, about, long_about = None)]
pub struct Cli {
    /// Which demo to run.
    #[command(subcommand)]
    pub demo: Demo,
}

/// The demos of step 02, in the order the book tells them.
#[derive(Debug, Subcommand)]
pub enum Demo {
    /// A hostname of its own.
    Uts {
        /// The hostname to set inside (1 to 64 bytes).
        #[arg(long, default_value = "tincan")]
        hostname: String,
    },
    /// PID 1 of its own process tree, a fresh /proc, orphans, and death of init.
    Pid,
    /// Mounts of its own, and why / must be made private first.
    Mount,
    /// A network stack of its own: only lo, and it is down.
    Net,
    /// System V IPC keys of its own.
    Ipc,
    /// Root inside, an ordinary user outside.
    User,
    /// Its own cgroup seen as the root `/`.
    Cgroup,
    /// Monotonic and boot-time clocks of its own.
    Time,
    /// All eight namespaces at once.
    All,
    /// Run a program in the namespaces you choose.
    Run {
        /// Comma-separated namespaces: cgroup, ipc, mount, net, pid, time, user, uts, or all.
        #[arg(long, default_value = "all")]
        ns: String,
        /// Hostname inside (needs uts).
        #[arg(long)]
        hostname: Option<String>,
        /// The program and its arguments.
        #[arg(required = true, last = true)]
        command: Vec<String>,
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
