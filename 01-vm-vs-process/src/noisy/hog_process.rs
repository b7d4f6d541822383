//! The hogs, from the inside: the hidden `__hog` subcommand. It asks the
//! kernel to kill it when its parent dies (`prctl(2)`, `PR_SET_PDEATHSIG`),
//! pins itself (`sched_setaffinity(2)`), then eats a CPU or memory.

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;

use super::pinning::pin_to;
use super::{Hog, MAX_SECONDS};

// ANCHOR: pdeathsig
/// Ask the kernel to SIGKILL this process when its parent dies.
///
/// A Drop guard and a Ctrl-C handler cover every way our demo can stop
/// *except* being killed itself (SIGKILL, a crash, the OOM killer): then no
/// code of ours runs, and the hog would spin forever, adopted by init.
/// `PR_SET_PDEATHSIG` moves the job to the kernel: when the parent goes, the
/// kernel sends this signal. Two subtleties: "parent" means the *thread* that
/// forked us, and the parent may already have died before we got here, so
/// we check who our parent is after setting it.
pub fn die_with_parent(parent: i32) -> Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("prctl(PR_SET_PDEATHSIG)")?;
    let ppid = nix::unistd::getppid().as_raw();
    if ppid != parent {
        bail!("parent {parent} is gone (our parent is now {ppid}); not starting");
    }
    Ok(())
}
// ANCHOR_END: pdeathsig

/// The body of `__hog`: set up, print `ready`, then eat until killed (or,
/// as a last resort, until `limit` seconds have passed).
pub fn hog_main(kind: Hog, cpu: usize, parent: i32, mib: u64, limit: f64) -> Result<()> {
    die_with_parent(parent)?;
    pin_to(cpu)?;
    let limit = if limit.is_finite() {
        limit.clamp(1.0, 2.0 * MAX_SECONDS)
    } else {
        MAX_SECONDS
    };
    let deadline = Instant::now() + Duration::from_secs_f64(limit);
    let ready = || -> Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready")?;
        out.flush().context("tell the parent we are ready")
    };
    // ANCHOR: hogs
    match kind {
        Hog::Cpu => {
            ready()?;
            let mut x: u64 = 1;
            while Instant::now() < deadline {
                // Pure arithmetic: no system calls, no sleeping, never yields.
                for _ in 0..100_000 {
                    x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
        }
        Hog::Mem => {
            let bytes = mib
                .checked_mul(1 << 20)
                .and_then(|b| usize::try_from(b).ok())
                .with_context(|| format!("a {mib} MiB buffer does not fit in memory"))?;
            // Writing one byte per page makes the kernel back every page
            // with real memory (until then, an allocation is only a promise).
            let mut buffer = vec![0u8; bytes];
            for page in buffer.chunks_mut(4096) {
                page[0] = 1;
            }
            ready()?;
            while Instant::now() < deadline {
                // Keep writing every cache line: the pages stay resident and
                // the shared cache and memory bus stay busy.
                for line in buffer.chunks_mut(64) {
                    line[0] = line[0].wrapping_add(1);
                }
                black_box(&buffer);
            }
        }
    }
    // ANCHOR_END: hogs
    Ok(())
}
