//! chroot(2): change where `/` is, for this process only.
//!
//! The kernel keeps, per process, a root directory and a current
//! directory. chroot(2) replaces the first and nothing else: the mount
//! table is the host's (every mount is still there, just not reachable by
//! `/`-paths), the current directory may be outside the new root, and a
//! root process may call chroot again. That last point is why chroot is not
//! a security boundary (see [`crate::escape`]).

use std::path::Path;

use anyhow::{Context, Result};
use nix::unistd::{chdir, chroot};

// ANCHOR: enter
/// Make `rootfs` this process's `/`, and move into it.
pub fn enter(rootfs: &Path) -> Result<()> {
    chroot(rootfs).with_context(|| format!("chroot {}", rootfs.display()))?;
    // Without this chdir the current directory would still be the host's,
    // outside the new root: exactly the hole the escape uses.
    chdir("/").with_context(|| format!("chdir / after chroot {}", rootfs.display()))?;
    Ok(())
}
// ANCHOR_END: enter
