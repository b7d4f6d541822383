//! `step01-vm-vs-process`: the demos of step 01. Parsing only; the work is in
//! the library.

mod cli;

use clap::Parser;
use cli::{Cli, Demo};

fn main() -> std::process::ExitCode {
    // A lab's unfinished stub says so in one line (cargo xtask lab).
    step01::lab::install_panic_hook();
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    let result = match cli.demo {
        Demo::Process => step01::process::demo(&mut out),
        Demo::Probe { encoded } => step01::probe_demo(&mut out, encoded),
        Demo::NoisyNeighbor { seconds, hog_mib } => {
            step01::noisy::Options::this_binary().and_then(|defaults| {
                let opts = step01::noisy::Options {
                    seconds,
                    hog_mib,
                    ..defaults
                };
                step01::noisy::demo(&mut out, &opts)
            })
        }
        Demo::Hog {
            kind,
            cpu,
            parent,
            mib,
            limit,
        } => step01::noisy::hog_main(kind.into(), cpu, parent, mib, limit),
        Demo::Vm { kvm_device } => step01::kvm::demo(&mut out, &kvm_device),
        Demo::Compare { kvm_device, runs } => {
            step01::compare::demo(&mut out, &kvm_device, runs.into())
        }
    };
    step01::exit_with(result)
}
