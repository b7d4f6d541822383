//! `step02-namespaces`: the demos of step 02. Parsing only; the work is in
//! the library.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Demo};

fn main() -> ExitCode {
    // A lab's unfinished stub says so in one line (cargo xtask lab).
    step01::lab::install_panic_hook();
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    let result = match cli.demo {
        Demo::Uts { hostname } => step02::uts::demo(&mut out, &hostname),
        Demo::Pid => step02::pid::demo(&mut out),
        Demo::Mount => step02::mount::demo(&mut out),
        Demo::Net => step02::net::demo(&mut out),
        Demo::Ipc => step02::ipc::demo(&mut out),
        Demo::User => step02::user::demo(&mut out),
        Demo::Cgroup => step02::cgroup::demo(&mut out),
        Demo::Time => step02::time::demo(&mut out),
        Demo::All => step02::all::demo(&mut out),
        Demo::Run {
            ns,
            hostname,
            command,
        } => {
            drop(out);
            return match step02::run_program(&ns, hostname, &command) {
                Ok(exit) => ExitCode::from(exit.shell_status()),
                Err(err) => step01::exit_with(Err(err)),
            };
        }
    };
    step01::exit_with(result)
}
