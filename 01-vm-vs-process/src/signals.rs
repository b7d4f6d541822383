//! Catching signals without dying: Ctrl-C for the demos, forwarding for a
//! runtime (signal(7), sigaction(2)).
//!
//! A signal handler runs in the middle of whatever the process was doing,
//! so it may only do async-signal-safe work: storing a number in an atomic
//! is, and that is all ours do. The normal code notices later: a demo's
//! loop stops its workload and cleans up; a runtime waiting in waitpid(2)
//! sees `EINTR` (the handler is installed without `SA_RESTART`) and passes
//! the signal on to its container. Every step uses this one module.
//!
//! One choice differs between programs: what a blocking system call does
//! when the signal arrives. A runtime that forwards signals wants it to fail
//! with `EINTR` ([`catch`]), or it would not notice until its container
//! exits. Step 03's demos never wait for a signal: they check
//! [`interrupted`] between short steps, and an `EINTR` from a call that
//! does not retry would only turn Ctrl-C into a confusing error, or skip a
//! clean-up; they resume such calls instead ([`catch_restarting`]).

use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::{Context, Result};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// The last signal caught and not yet taken (0: none).
static PENDING: AtomicI32 = AtomicI32::new(0);

extern "C" fn remember(signal: libc::c_int) {
    // Async-signal-safe: only store the number.
    PENDING.store(signal, Ordering::SeqCst);
}

/// The signals people send to stop a program: Ctrl-C and `kill`.
pub const INTERRUPTS: [Signal; 2] = [Signal::SIGINT, Signal::SIGTERM];

/// What a runtime forwards to its container, as runc and docker do.
pub const FORWARDED: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

// ANCHOR: catch
/// From now on, `signals` no longer kill us: each is remembered for
/// [`take`] and [`interrupted`]. A blocking system call in progress fails
/// with `EINTR`, so a wait loop gets the chance to react.
pub fn catch(signals: &[Signal]) -> Result<()> {
    install(signals, SaFlags::empty())
}

/// `sigaction(2)` with our handler for each of `signals`.
fn install(signals: &[Signal], flags: SaFlags) -> Result<()> {
    let action = SigAction::new(SigHandler::Handler(remember), flags, SigSet::empty());
    for &signal in signals {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe, and it replaces no handler that other code of
        // this process relies on.
        unsafe { sigaction(signal, &action) }.with_context(|| format!("sigaction({signal})"))?;
    }
    Ok(())
}
// ANCHOR_END: catch

/// [`catch`], but a blocking system call in progress resumes (`SA_RESTART`,
/// see signal(7)) instead of failing with `EINTR`: for programs that only
/// check [`interrupted`] now and then. Some calls fail with `EINTR` anyway,
/// whatever the flag says: poll(2) and the sleeps, which loops retry.
pub fn catch_restarting(signals: &[Signal]) -> Result<()> {
    install(signals, SaFlags::SA_RESTART)
}

/// The signal caught since the last call, if any (and forget it).
pub fn take() -> Option<Signal> {
    Signal::try_from(PENDING.swap(0, Ordering::SeqCst)).ok()
}

/// Whether a signal was caught and not yet taken (it stays pending).
pub fn interrupted() -> bool {
    PENDING.load(Ordering::SeqCst) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_signal_is_remembered_once() {
        catch(&[Signal::SIGUSR2]).expect("sigaction");
        assert_eq!(take(), None);
        nix::sys::signal::raise(Signal::SIGUSR2).expect("raise");
        assert!(interrupted());
        assert_eq!(take(), Some(Signal::SIGUSR2));
        assert_eq!(take(), None, "taken once");
    }

    #[test]
    fn catch_restarting_asks_for_sa_restart() {
        catch_restarting(&[Signal::SIGUSR1]).expect("sigaction");
        let same = SigAction::new(
            SigHandler::Handler(remember),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: installs the very handler that is in place, to read back
        // the flags of the one it replaces.
        let old = unsafe { sigaction(Signal::SIGUSR1, &same) }.expect("sigaction");
        assert!(old.flags().contains(SaFlags::SA_RESTART));
    }
}
