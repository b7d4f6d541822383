//! `cargo xtask`: the project's workflow, as a Rust program so that it runs
//! wherever cargo does. One module per subcommand.

mod as_user;
mod bench;
mod book;
mod rootfs;
mod tour;
mod util;
mod vm_test;

use clap::{Parser, Subcommand};

/// The tincan workflow.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Walk every step in order: build as you, then run each demo (privileged
    /// ones through sudo when you are not root).
    Tour {
        /// Only this step (e.g. `01`).
        #[arg(long)]
        step: Option<String>,
    },
    /// Build the book, English into book/book and Korean into book/book/ko
    /// (installs a pinned mdbook and mdbook-i18n-helpers if needed). Fails when
    /// book/po/ko.po is stale; prints how much of the book it translates.
    Book {
        /// Serve the book on localhost and rebuild on change (one edition:
        /// English, or the one --lang names).
        #[arg(long)]
        serve: bool,
        /// Only this edition: `en` or `ko`.
        #[arg(long)]
        lang: Option<String>,
        /// Only extract book/po/messages.pot and merge it into book/po/ko.po
        /// (with msgmerge, from gettext): new messages come in untranslated.
        #[arg(long)]
        pot: bool,
    },
    /// Build the static toolbox and tincan's own rootfs (target/rootfs, target/rootfs.tar).
    Rootfs,
    /// `cargo test --workspace` as an ordinary user, as a learner runs it: in
    /// a clone owned by nobody (uid 65534), without CI=true, skips counted
    /// (as root; takes a full build, ~5 min).
    TestAsUser,
    /// Everything CI checks: fmt, clippy, the book, the tour, the cgroup v2 VM test, the tests.
    Ci,
    /// Run the step 03 and step 05 cgroup tests on cgroup v2, in a QEMU VM
    /// (installs qemu-system-x86 and linux-image-amd64 with apt-get when root).
    VmTest {
        /// Take the cgroup v2 snapshots (`*_v2.snap`) anew in the VM and
        /// write them into the checkout, instead of comparing.
        #[arg(long)]
        accept: bool,
    },
    /// Measure start-up, from a plain process to a Linux boot, tincan side
    /// by side with crun and runc, and many containers at once: tables, a
    /// JSON and SVG charts in target/bench-report/. Runs as root (through
    /// sudo when you are not).
    Bench {
        /// Criterion's quick mode, only the table's benchmarks, fewer runs
        /// (10 rounds, scale 1,10).
        #[arg(long)]
        quick: bool,
        /// Rounds of the side-by-side start-up comparison (default 40).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        runs: Option<u16>,
        /// Container counts of the scale test, e.g. 1,10,50 (default 1,10,50,100).
        #[arg(long, value_name = "COUNTS", value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..))]
        scale: Option<Vec<u16>>,
        /// Only the container runtimes: skip criterion's benches and the boot.
        #[arg(long, conflicts_with = "book")]
        runtimes_only: bool,
        /// Also write the tables and charts into the book (book/src/generated/).
        #[arg(long)]
        book: bool,
        /// The half that measures (what the sudo'ed run does).
        #[arg(long, hide = true)]
        measure_only: bool,
    },
    /// Classroom labs: write the heart of a mechanism yourself, graded by
    /// the kernel (list, start, hint, check, reset).
    Lab {
        #[command(subcommand)]
        command: tincan_labs::Command,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Tour { step } => tour::run(step.as_deref()),
        Task::Book { serve, lang, pot } => book::run(&book::Options {
            serve,
            lang: lang.or_else(|| serve.then(|| "en".to_string())),
            pot,
        }),
        Task::Rootfs => rootfs::run(),
        Task::Ci => util::ci(),
        Task::TestAsUser => as_user::run_tests(),
        Task::VmTest { accept } => vm_test::run(accept),
        Task::Bench {
            quick,
            runs,
            scale,
            runtimes_only,
            book,
            measure_only,
        } => bench::run(
            &bench::Plan {
                quick,
                runs: runs.map(usize::from),
                scale: scale.map(|c| c.into_iter().map(usize::from).collect()),
                runtimes_only,
                book,
            },
            measure_only,
        ),
        Task::Lab { command } => tincan_labs::run(command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
