//! Helpers for the tests of every step: skipping a test that needs root or
//! KVM on a learner's laptop, but never on CI.
//!
//! The rule: a test may skip with a printed reason, unless `CI=true`, where
//! a skip is a failure (CI runs as root with /dev/kvm, so nothing should skip).

/// True when running under CI (`CI=true`).
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Skip the current test with `reason`, or panic when on CI. Returns so the
/// caller can `return` right after: `if !have_root() { return skip("..."); }`.
pub fn skip(reason: &str) {
    if on_ci() {
        panic!("test would skip on CI, which must run it: {reason}");
    }
    // Straight to the stderr handle: the test harness captures `eprintln!`
    // and would show a skipped test as a plain `ok`, without a word.
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("SKIPPED {test}: {reason}\n").as_bytes(),
    );
}

/// True when the effective uid is 0.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Call at the top of a test that needs root: `if !step01::testing::need_root() { return; }`.
pub fn need_root() -> bool {
    if is_root() {
        return true;
    }
    skip("needs root (run the tests with sudo, or let CI run them)");
    false
}

/// Call at the top of a test that needs /dev/kvm.
pub fn need_kvm() -> bool {
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(_) => true,
        Err(e) => {
            skip(&format!("needs read/write access to /dev/kvm ({e})"));
            false
        }
    }
}
