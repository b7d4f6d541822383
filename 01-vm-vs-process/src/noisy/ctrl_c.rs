//! Ctrl-C: a demo that starts hogs must stop them before it exits, so
//! SIGINT and SIGTERM are caught with `sigaction(2)` instead of killing us
//! on the spot (signal(7)).

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

// ANCHOR: ctrl_c
/// Set by the signal handler; the victim loop checks it every unit of work.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: nix::libc::c_int) {
    // Only async-signal-safe work is allowed in a handler: storing to an
    // atomic is. Everything else (killing and reaping the hogs) happens in
    // normal code once the loop sees the flag.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catch SIGINT (Ctrl-C) and SIGTERM, so that the demo stops its hogs before
/// it exits instead of dying on the spot.
pub fn catch_interrupts() -> Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe, and it does not replace a handler that other
        // code relies on (the demo binary installs no other handler).
        unsafe { sigaction(signal, &action) }
            .with_context(|| format!("sigaction({signal}) to catch Ctrl-C"))?;
    }
    Ok(())
}
// ANCHOR_END: ctrl_c

pub(super) fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted; every hog was killed and reaped");
    }
    Ok(())
}
