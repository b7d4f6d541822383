//! `step03-cgroups`: the demos of step 03. Parsing only; the work is in
//! the library.

mod cli;

use clap::Parser;
use cli::{Cli, Demo, Workload};
use step01::signals::{INTERRUPTS, catch_restarting};
use step03::{demo, workload};

fn main() -> std::process::ExitCode {
    // A lab's unfinished stub says so in one line (cargo xtask lab).
    step01::lab::install_panic_hook();
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    let result = match cli.demo {
        Demo::Workload(w) => match w {
            Workload::Hog => workload::hog(),
            Workload::Allocate => workload::allocate(&mut out),
            Workload::Forkbomb => workload::forkbomb(&mut out),
            Workload::ReadDisk { device, bytes } => workload::read_disk(&device, bytes, &mut out),
            Workload::Busy { mib } => workload::busy(mib),
            Workload::Whereami => workload::whereami(&mut out),
        },
        // Ctrl-C becomes an error that the cgroup guards clean up after.
        demo => catch_restarting(&INTERRUPTS).and_then(|()| match demo {
            Demo::Cpu { cpus } => demo::cpu(&mut out, &cpus),
            Demo::Memory { memory } => demo::memory(&mut out, &memory),
            Demo::Pids { pids } => demo::pids(&mut out, &pids),
            Demo::Io { read_bps, bytes } => demo::io(&mut out, &read_bps, &bytes),
            Demo::Stats { seconds, once } => demo::stats(&mut out, seconds, once),
            Demo::Cgroupns => demo::cgroupns(&mut out),
            Demo::Workload(_) => unreachable!("handled above"),
        }),
    };
    step01::exit_with(result)
}
