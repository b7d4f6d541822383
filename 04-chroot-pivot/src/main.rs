//! `step04-chroot-pivot`: the demos of step 04. Parsing only; the work is
//! in the library.

mod cli;

use clap::Parser;
use cli::{Cli, Demo};

fn main() -> std::process::ExitCode {
    // A lab's unfinished stub says so in one line (cargo xtask lab).
    step01::lab::install_panic_hook();
    let cli = Cli::parse();
    // Ctrl-C becomes an error that the guards clean up after (step 03's
    // wait loops check for it).
    if let Err(e) = step01::signals::catch_restarting(&step01::signals::INTERRUPTS) {
        return step01::exit_with(Err(e));
    }
    let mut out = std::io::stdout().lock();
    let rootfs = cli.rootfs.as_deref();
    let result = match cli.demo {
        Demo::Chroot => {
            step04::rootfs::locate(rootfs).and_then(|r| step04::demo::chroot(&mut out, &r))
        }
        Demo::Escape => {
            step04::rootfs::locate(rootfs).and_then(|r| step04::escape::demo(&mut out, &r))
        }
        Demo::Pivot { read_only } => step04::rootfs::locate(rootfs)
            .and_then(|r| step04::demo::pivot(&mut out, &r, read_only)),
        Demo::Run {
            chroot,
            read_only,
            memory,
            command,
        } => step04::run_command(
            &mut out,
            rootfs,
            chroot,
            read_only,
            memory.as_deref(),
            &command,
        ),
        Demo::Import { tarball, dir } => step04::import_demo(&mut out, &tarball, &dir),
    };
    step01::exit_with(result)
}
