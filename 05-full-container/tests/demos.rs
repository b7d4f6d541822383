//! Snapshots of the outputs the book shows that need no container.

mod common;

use common::{TempDir, stdout, tincan};

#[test]
fn capabilities_listing_marks_dockers_fourteen() {
    let state = TempDir::new("state-caps");
    let out = tincan(state.path(), &["capabilities"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert_eq!(text.matches(" kept ").count(), 14, "{text}");
    insta::assert_snapshot!("step05_capabilities", text);
}

/// The counts are x86_64's: aarch64 has no `open`, `stat`, `fork`...
#[cfg(target_arch = "x86_64")]
#[test]
fn seccomp_listing_follows_the_capabilities() {
    let state = TempDir::new("state-seccomp-listing");
    let out = tincan(state.path(), &["seccomp"]);
    assert!(out.status.success());
    let text = stdout(&out);
    // Docker's default set holds CAP_SYS_CHROOT and nothing else of the gated ones.
    assert_eq!(text.matches("held: allowed").count(), 1, "{text}");
    assert!(text.contains("only without CLONE_NEW* flags"), "{text}");
    let admin = stdout(&tincan(
        state.path(),
        &["seccomp", "--cap-add", "SYS_ADMIN"],
    ));
    assert!(admin.contains("held: allowed (mount "), "{admin}");
    assert!(admin.contains("any flags (CAP_SYS_ADMIN)"), "{admin}");
    insta::assert_snapshot!("step05_seccomp_listing", text);
}
