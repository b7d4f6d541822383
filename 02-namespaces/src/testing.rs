//! Test helpers: run a closure as an unprivileged user, so that the rootless
//! path is tested even when the tests run as root (as they do on CI).
//!
//! Dropping privileges is `setgroups(2)`, `setresgid(2)`, `setresuid(2)`, in
//! that order (once the uid is not root, we may no longer change groups).
//! Changing credentials also clears the process's "dumpable" flag
//! (prctl(2), `PR_SET_DUMPABLE`), which makes its `/proc/<pid>` files owned
//! by root, and its children's too: a rootless parent could then not write
//! its child's `uid_map`. So we set the flag back, as a login would have it.

use anyhow::{Context, Result, bail};
use nix::unistd::{Gid, Uid};

use crate::namespaces::Namespaces;
use crate::sandbox::{Exit, Sandbox};

/// The unprivileged user the rootless tests run as (`nobody` on Debian).
pub const UNPRIVILEGED: u32 = 65534;

// ANCHOR: as_unprivileged
/// Run `f` in a child process whose uid and gid are [`UNPRIVILEGED`]. Must be
/// called as root. `f`'s error comes back as this function's error.
pub fn as_unprivileged(f: impl FnOnce() -> Result<()>) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("as_unprivileged must be called as root (it drops to uid {UNPRIVILEGED})");
    }
    let exit = Sandbox::new(Namespaces::none()).run(|| {
        let (uid, gid) = (Uid::from_raw(UNPRIVILEGED), Gid::from_raw(UNPRIVILEGED));
        nix::unistd::setgroups(&[]).context("setgroups([])")?;
        nix::unistd::setresgid(gid, gid, gid).context("setresgid")?;
        nix::unistd::setresuid(uid, uid, uid).context("setresuid")?;
        nix::sys::prctl::set_dumpable(true).context("prctl(PR_SET_DUMPABLE, 1)")?;
        f()?;
        Ok(0)
    })?;
    if exit != Exit::Code(0) {
        bail!("the unprivileged child ended with {exit}");
    }
    Ok(())
}
// ANCHOR_END: as_unprivileged
