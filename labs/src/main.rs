//! `cargo lab`: the same as `cargo xtask lab`, from a package that depends on
//! no step, so it builds even while a learner's code does not.

use clap::Parser;

/// Classroom labs: write the heart of a mechanism yourself, graded by the kernel.
#[derive(Debug, Parser)]
#[command(name = "cargo lab", about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: tincan_labs::Command,
}

fn main() -> std::process::ExitCode {
    match tincan_labs::run(Cli::parse().command) {
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
