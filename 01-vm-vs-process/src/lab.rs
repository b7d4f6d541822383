//! Classroom labs: what a demo does when the code it needs is a learner's
//! unfinished stub.
//!
//! `cargo xtask lab start NAME` replaces a marked region of the real code
//! with `todo!("lab NAME: ...")`, so the workspace still compiles. A demo
//! that reaches such a stub should not die with a panic message and a
//! backtrace: [`install_panic_hook`] turns that one panic into one line that
//! says which lab to finish, and exit status 1. Any other panic keeps Rust's
//! usual report, since it is a bug.
//!
//! The stub may run in a process the demo cloned (a namespace's first
//! process): there the hook writes with write(2) and leaves with _exit(2),
//! as the sandbox's own children do, because the child is a copy of one
//! thread of its parent and must not take locks or run the parent's
//! exit handlers.

use std::sync::atomic::{AtomicI32, Ordering};

/// The process that installed the hook; any other pid is a child of it.
static MAIN_PID: AtomicI32 = AtomicI32::new(0);

/// The one line printed for an unfinished lab, e.g. for `02-hostname`.
pub fn unfinished(lab: &str) -> String {
    format!("error: lab {lab} is started but not finished: cargo xtask lab check {lab}")
}

/// The lab named by a stub's panic message, `lab NN-name: what to do`.
pub fn lab_of(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("not yet implemented: ")
        .unwrap_or(message)
        .strip_prefix("lab ")?;
    let name = rest.split(':').next()?;
    let well_formed = name.len() > 3
        && name.as_bytes()[..2].iter().all(u8::is_ascii_digit)
        && name.as_bytes()[2] == b'-'
        && name[3..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    well_formed.then_some(name)
}

/// Install the hook (call it first thing in a demo's `main`).
pub fn install_panic_hook() {
    MAIN_PID.store(std::process::id() as i32, Ordering::Relaxed);
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        let Some(lab) = lab_of(message) else {
            return default(info);
        };
        let line = format!("{}\n", unfinished(lab));
        if std::process::id() as i32 == MAIN_PID.load(Ordering::Relaxed) {
            eprint!("{line}");
            std::process::exit(1);
        }
        // SAFETY: write(2) of a buffer we own to fd 2, then _exit(2); neither
        // touches Rust state that another (vanished) thread could hold.
        unsafe {
            libc::write(2, line.as_ptr().cast(), line.len());
            libc::_exit(1);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_of_reads_the_name_of_a_stub_message() {
        assert_eq!(
            lab_of("not yet implemented: lab 02-hostname: set it"),
            Some("02-hostname")
        );
        assert_eq!(
            lab_of("lab 03-cpu-stat: read cpu.stat"),
            Some("03-cpu-stat")
        );
        assert_eq!(lab_of("index out of bounds"), None);
        assert_eq!(lab_of("lab report: x"), None);
    }
}
