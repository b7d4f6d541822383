//! The command line of `tincan`: `run` for people (docker-like flags), and
//! the OCI lifecycle verbs that podman and other engines call.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// tincan: a small container runtime, built one kernel mechanism at a time.
#[derive(Debug, Parser)]
#[command(
    name = "tincan",
    version,
    long_version = concat!("version ", env!("CARGO_PKG_VERSION"), "\nspec: 1.1.0"),
    about,
    long_about = None
)]
pub struct Cli {
    /// Directory of container states (runc's `--root`).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Also write errors to this file (engines read them back from there).
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// The format of `--log` lines.
    #[arg(long, global = true, value_enum, default_value_t = step05::log::Format::Text)]
    pub log_format: step05::log::Format,

    /// Accepted for runc compatibility: tincan has no more to say.
    #[arg(long, global = true)]
    pub debug: bool,

    /// Manage cgroups through systemd (refused: tincan writes cgroupfs itself).
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// tincan's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command in a new container, and wait for it (like `docker run --rm`).
    Run(Box<RunArgs>),
    /// Images in the layer store: load, ls, rm, inspect.
    Image(step05::image::ImageArgs),
    /// Write a default OCI config.json in the current directory (like `runc spec`).
    Spec {
        /// Write into this bundle directory instead of the current one.
        #[arg(long, short = 'b', value_name = "DIR")]
        bundle: Option<PathBuf>,
    },
    /// List every capability, which ones Docker keeps, and which this host has.
    Capabilities,
    /// Print tincan's default seccomp profile for this machine: the groups of
    /// allowed calls, the argument rules, the calls a capability opens.
    Seccomp {
        /// Add a capability to Docker's default set first (`--cap-add SYS_ADMIN`).
        #[arg(long = "cap-add", value_name = "CAP")]
        cap_add: Vec<String>,
    },
    /// Print the OCI runtime features document (what tincan supports), as JSON.
    Features,
    /// Remove leftovers of containers whose tincan process died.
    Cleanup,
    /// Try to escape (run this inside a container): each attempt and what stopped it.
    Escape {
        /// Only these attempts (default: all).
        names: Vec<String>,
        /// Exit with the effective uid as status (used by the setuid attempt).
        #[arg(long, hide = true)]
        exit_euid: bool,
    },
    /// OCI: set up a container from a bundle, without starting its program.
    Create {
        /// The bundle directory (config.json + rootfs).
        #[arg(long, short = 'b', value_name = "DIR", default_value = ".")]
        bundle: PathBuf,
        /// Write the container's pid to this file.
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// Unix socket to send the terminal's master to, when config.json
        /// asks for a terminal (podman's and ctr's `-t`).
        #[arg(long, value_name = "SOCKET")]
        console_socket: Option<PathBuf>,
        /// Enter the root without pivot_root (for a host whose / is the initramfs).
        #[arg(long)]
        no_pivot: bool,
        /// Container id.
        id: String,
    },
    /// OCI: start the program of a created container.
    Start {
        /// Container id.
        id: String,
    },
    /// OCI: send a signal (a number or a name such as TERM) to a container.
    Kill {
        /// Container id.
        id: String,
        /// Signal, default TERM.
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// OCI: remove a stopped container (`--force`: kill it first).
    Delete {
        /// Kill the container if it still runs.
        #[arg(long, short = 'f')]
        force: bool,
        /// Container id.
        id: String,
    },
    /// OCI: run one more program in a running container (`podman exec`).
    Exec {
        /// The program to run: an OCI process description (JSON).
        #[arg(long, short = 'p', value_name = "FILE")]
        process: std::path::PathBuf,
        /// Write the new process's pid to this file.
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// Return as soon as the program runs, without waiting for it.
        #[arg(long, short = 'd')]
        detach: bool,
        /// A terminal for the program (podman exec -t), even if the process
        /// description asks for none.
        #[arg(long, short = 't')]
        tty: bool,
        /// Unix socket to send the terminal's master to (with --tty --detach).
        #[arg(long, value_name = "SOCKET")]
        console_socket: Option<PathBuf>,
        /// Container id.
        id: String,
    },
    /// OCI: freeze every process of a container (the freezer cgroup).
    Pause {
        /// Container id.
        id: String,
    },
    /// OCI: thaw a paused container.
    Resume {
        /// Container id.
        id: String,
    },
    /// OCI: print a container's state as JSON.
    State {
        /// Container id.
        id: String,
    },
    /// List containers (running ones; `-a`: also exited and created ones).
    Ps {
        /// Show every container, not only running ones.
        #[arg(long, short = 'a', conflicts_with = "id")]
        all: bool,
        /// One container: its processes (runc's `ps ID`, which engines call).
        id: Option<String>,
        /// With an id: `table` (as `tincan top`) or `json` (the pids, for shims).
        #[arg(long, short = 'f', value_enum, default_value_t = PsFormat::Table, requires = "id")]
        format: PsFormat,
    },
    /// Print what a detached container (`run -d`) wrote to stdout and stderr.
    Logs {
        /// Keep printing what it writes until it exits (or Ctrl-C).
        #[arg(long, short = 'f')]
        follow: bool,
        /// Container id.
        id: String,
    },
    /// Stop a container: SIGTERM, then SIGKILL after a grace period.
    Stop {
        /// Seconds to wait after TERM before KILL (default 10).
        #[arg(long = "time", short = 't', value_name = "SECS")]
        time: Option<String>,
        /// Container id.
        id: String,
    },
    /// Remove an exited container, its record and its log (`-f`: kill it first).
    Rm {
        /// Kill the container if it still runs.
        #[arg(long, short = 'f')]
        force: bool,
        /// Container id.
        id: String,
    },
    /// Live CPU, memory, network, block I/O and pids of running containers,
    /// from their cgroups (Ctrl-C ends it).
    Stats {
        /// Print one table and exit.
        #[arg(long)]
        no_stream: bool,
        /// Only these containers (default: every running one).
        ids: Vec<String>,
    },
    /// List the processes of a running container (from its cgroup).
    Top {
        /// Container id.
        id: String,
    },
    /// Demos of containers at work (as root).
    Demo {
        /// Which demo.
        #[command(subcommand)]
        demo: Demo,
    },
}

/// `tincan demo`'s demos.
#[derive(Debug, Subcommand)]
pub enum Demo {
    /// Two containers talk by name, one on --net none cannot, a published
    /// port answers on loopback.
    ///
    /// It talks only to its own bridge (tincan0) and to loopback, so it may
    /// run in the host's network namespace (then the host's 127.0.0.1
    /// answers the published port); --own-netns keeps even that off the
    /// host, in a network namespace of its own (the tests run it so).
    Microservices {
        /// The image (default: the toolbox rootfs of `cargo xtask rootfs`).
        #[arg(long, value_name = "DIR")]
        rootfs: Option<PathBuf>,
        /// The loopback port published to the server's 8080.
        #[arg(long, value_name = "PORT", default_value_t = 18080)]
        port: u16,
        /// First move into a new network namespace of its own.
        #[arg(long)]
        own_netns: bool,
    },
}

/// `tincan run`'s options: step 05's [`step05::RunFlags`], or a bundle.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub flags: step05::RunFlags,
    /// Print each set-up step and the system calls behind it.
    #[arg(long)]
    pub explain: bool,
    /// Enter the root with a move and chroot instead of pivot_root (for a
    /// host whose / is the initramfs; weaker: a chroot can be escaped).
    #[arg(long)]
    pub no_pivot: bool,
    /// Run an OCI bundle instead: `--bundle DIR ID`.
    #[arg(long, value_name = "DIR", requires = "id")]
    pub bundle: Option<PathBuf>,
    /// Container id, with --bundle.
    #[arg(index = 1, requires = "bundle")]
    pub id: Option<String>,
    /// Run in the background: print the id once the program runs, its
    /// output going to a log (`tincan logs ID`); `tincan stop`, `tincan rm`.
    #[arg(long, short = 'd', conflicts_with = "explain")]
    pub detach: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn podman_calls_parse() {
        for line in [
            "tincan create --bundle /b --pid-file /p ctr",
            "tincan create --bundle /b --pid-file /p --console-socket /s ctr",
            "tincan start ctr",
            "tincan kill ctr 15",
            "tincan kill ctr 9",
            "tincan delete --force ctr",
            "tincan state ctr",
            "tincan exec --pid-file /p --process /pr --detach ctr",
            "tincan exec --pid-file /p --console-socket /s --tty --process /pr --detach ctr",
            "tincan pause ctr",
            "tincan resume ctr",
            "tincan run --memory 64m --cap-drop ALL --seccomp unconfined -- sh -c true",
            "tincan run --bundle /b ctr",
            "tincan --root /r --log /l --log-format json create --bundle /b --pid-file /p ctr",
            "tincan features",
            "tincan run -d --name web -- sleep 60",
            "tincan run -it -- sh",
            "tincan ps -a",
            "tincan logs -f web",
            "tincan stop -t 3 web",
            "tincan rm -f web",
            "tincan stats --no-stream web db",
            "tincan top web",
            "tincan ps web --format json",
            "tincan run --image oci-archive:/i.tar -- ls",
            "tincan image --storage /s load oci:/d:latest",
            "tincan image ls",
            "tincan image rm a b",
            "tincan image inspect a",
            "tincan demo microservices --own-netns",
            "tincan run --net container:web -- sh",
        ] {
            Cli::try_parse_from(line.split(' ')).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
    }
}

/// How `tincan ps ID` prints the container's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PsFormat {
    /// The table of `tincan top`.
    Table,
    /// A JSON array of host pids, as runc prints it.
    Json,
}
