//! # Step 01: a process next to a virtual machine
//!
//! Before containers there were two ways to run an application: as a plain
//! process on a shared machine, or inside a virtual machine. This crate shows
//! both for real:
//!
//! 1. [`probe`] asks the kernel what the calling process can see: its pid,
//!    its namespaces, processes, mounts, network interfaces, cgroup, root
//!    directory, CPUs and memory. Every later step reuses it.
//! 2. [`process`] starts a plain child (`fork` + `exec`) and shows that it
//!    sees and shares everything its parent does.
//! 3. [`report`] prints two probes side by side, so that a learner sees
//!    exactly which rows a mechanism changed.
//! 4. [`kvm`] is a tiny VMM on `/dev/kvm`: it builds a virtual machine with
//!    64 KiB of RAM and one vCPU, runs a 36-byte guest program, and handles
//!    its exits (serial output, a read past the end of its RAM, `hlt`).
//! 5. [`compare`] times the first output of a process and of that guest.
//! 6. [`noisy`] measures the noisy neighbour: a latency-sensitive loop slows
//!    down beside a process that hogs its CPU, and nothing stops a process
//!    from taking the host's memory.
//! 7. [`lab`] lets every step's demos say which classroom lab to finish
//!    when they reach a learner's unfinished stub (`cargo xtask lab`).
//!
//! ```
//! let me = step01::probe::Probe::collect()?;
//! assert_eq!(me.pid as u32, std::process::id());
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod compare;
pub mod kvm;
pub mod lab;
pub mod noisy;
pub mod probe;
pub mod process;
pub mod report;
pub mod signals;
pub mod testing;

use std::io::Write;

use anyhow::Result;

/// The `probe` command: print what this process sees.
pub fn probe_demo(out: &mut dyn Write, encoded: bool) -> Result<()> {
    let me = probe::Probe::collect()?;
    if encoded {
        write!(out, "{}", me.encode())?;
    } else {
        write!(out, "{}", report::single("this process", &me))?;
    }
    Ok(())
}

/// Turn a demo's result into the process exit status: errors are printed as
/// one line, `error: <what failed>: <why>`, and exit with status 1.
pub fn exit_with(result: Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
