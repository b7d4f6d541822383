//! Extended attributes in a tarball (xattr(7), setxattr(2)): name=value
//! pairs the kernel keeps beside a file's mode and owner. Tar has no field
//! for them; GNU tar and every image builder store each one as a pax
//! header record `SCHILY.xattr.NAME=VALUE` in front of the file's entry.
//!
//! Images need them for one thing above all: **file capabilities**. Debian's
//! `ping` is not setuid root; it carries `security.capability` =
//! `cap_net_raw+ep`, and the kernel grants that one capability to whoever
//! runs it (capabilities(7), "File capabilities"). An importer that drops
//! the attribute gives an image whose `ping` fails for every user but root.
//!
//! What an importer may write, by namespace of the name:
//! - `user.*`: anyone's own metadata; always kept.
//! - `security.capability` and `system.posix_acl_*`: privileges and access
//!   rules, which only root may grant (the same rule as setuid bits); kept
//!   as root, left out otherwise.
//! - `security.selinux` and other labels: the engine's business, never the
//!   image's (and meaningless where no such module runs); left out.
//! - `trusted.*`: refused. overlayfs keeps its own bookkeeping there
//!   (`trusted.overlay.opaque`, `.redirect`, `.metacopy`): a layer that
//!   brought its own could hide or redirect files of the layers below in
//!   ways the image's manifest does not say.

use std::ffi::CString;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The pax record prefix for one extended attribute.
const PAX_PREFIX: &str = "SCHILY.xattr.";

/// What an importer does with one attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Write,
    LeaveOut,
}

// ANCHOR: verdict
/// The rule for the attribute `name`, for an importer that is root or not.
fn verdict(name: &str, root: bool) -> Result<Verdict> {
    Ok(match name.split_once('.').map_or(name, |(ns, _)| ns) {
        "user" => Verdict::Write,
        "trusted" => bail!(
            "extended attribute {name:?}: trusted.* is where overlayfs keeps its own \
             whiteouts and redirects; refusing a layer that sets it"
        ),
        "security" if name == "security.capability" && root => Verdict::Write,
        "system" if name.starts_with("system.posix_acl_") && root => Verdict::Write,
        _ => Verdict::LeaveOut,
    })
}
// ANCHOR_END: verdict

/// The extended attributes an entry's pax headers carry, as (name, value).
pub fn of_entry<R: Read>(entry: &mut tar::Entry<R>) -> Result<Vec<(String, Vec<u8>)>> {
    let Some(extensions) = entry.pax_extensions().context("read the pax headers")? else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for extension in extensions {
        let extension = extension.context("read a pax header record")?;
        let Ok(key) = extension.key() else { continue };
        if let Some(name) = key.strip_prefix(PAX_PREFIX) {
            found.push((name.to_string(), extension.value_bytes().to_vec()));
        }
    }
    Ok(found)
}

/// Check an entry's attributes before anything is written (refusing
/// `trusted.*`); see the module's rules.
pub fn check<R: Read>(entry: &mut tar::Entry<R>, root: bool) -> Result<()> {
    for (name, _) in of_entry(entry)? {
        verdict(&name, root)?;
    }
    Ok(())
}

/// Write the entry's attributes that the rules keep onto `dest` (after its
/// owner and mode: chown(2) clears `security.capability`). Returns how
/// many were written.
pub fn apply<R: Read>(entry: &mut tar::Entry<R>, dest: &Path, root: bool) -> Result<usize> {
    let mut written = 0;
    for (name, value) in of_entry(entry)? {
        if verdict(&name, root)? == Verdict::Write {
            set(dest, &name, &value)?;
            written += 1;
        }
    }
    Ok(written)
}

/// `lsetxattr(2)`: set `name` = `value` on `path` itself (a symlink is not
/// followed).
pub fn set(path: &Path, name: &str, value: &[u8]) -> Result<()> {
    let c_path = CString::new(path.as_os_str().as_encoded_bytes()).context("a path with a NUL")?;
    let c_name = CString::new(name).context("an attribute name with a NUL")?;
    // SAFETY: both strings are NUL-terminated and outlive the call; the
    // value pointer and length describe the `value` slice.
    let rc = unsafe {
        libc::lsetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("setxattr {name} on {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_by_namespace() {
        let rule = |name: &str, root: bool| verdict(name, root).expect(name);
        assert_eq!(rule("user.mime_type", false), Verdict::Write);
        assert_eq!(rule("security.capability", true), Verdict::Write);
        assert_eq!(rule("security.capability", false), Verdict::LeaveOut);
        assert_eq!(rule("system.posix_acl_access", true), Verdict::Write);
        assert_eq!(rule("security.selinux", true), Verdict::LeaveOut);
        let err = verdict("trusted.overlay.redirect", true).expect_err("trusted.* refused");
        assert!(err.to_string().contains("overlayfs"), "{err}");
    }
}
