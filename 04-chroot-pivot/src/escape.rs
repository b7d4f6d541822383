//! The classic chroot escape, run twice: under chroot, where it works, and
//! inside a pivot_root container, where it cannot.
//!
//! The escaping program is the toolbox's `escape-chroot` (chroot into a
//! subdirectory, `chdir("..")` until the real `/`, `chroot(".")`). Its
//! target is a file this demo writes on the host, outside every rootfs,
//! with a known first line: whether that line comes back is the verdict.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use step01::report::redacting;

use crate::container::{self, Finished, Isolation};
use crate::pivot;

/// The first line of the host file the escape tries to read.
pub const SECRET: &str = "TINCAN HOST SECRET: this line lives on the host, outside the rootfs";

/// A directory on the host, outside the rootfs, removed on drop.
pub struct HostSecret {
    dir: PathBuf,
    /// The file the escape tries to read.
    pub file: PathBuf,
}

impl HostSecret {
    /// Write `first_line` to a fresh file under the system temp directory.
    pub fn create(first_line: &str) -> Result<HostSecret> {
        let dir = std::env::temp_dir().join(format!("tincan-escape-{}", std::process::id()));
        fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
        let file = dir.join("host-secret.txt");
        fs::write(&file, format!("{first_line}\nsecond line\n"))
            .with_context(|| format!("write {}", file.display()))?;
        Ok(HostSecret { dir, file })
    }

    /// Show a text with the temp directory replaced when redacting.
    fn show(&self, text: &str) -> String {
        if redacting() {
            text.replace(&*self.dir.to_string_lossy(), "[TMP]")
        } else {
            text.into()
        }
    }
}

impl Drop for HostSecret {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Run the escape against `file` under `isolation`.
pub fn attempt(rootfs: &Path, isolation: &Isolation, file: &Path) -> Result<Finished> {
    let file = file.to_string_lossy();
    container::run(rootfs, isolation, &["/bin/escape-chroot", &file])
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

// ANCHOR: demo
/// The `escape` demo.
pub fn demo(out: &mut dyn Write, rootfs: &Path) -> Result<()> {
    let secret = HostSecret::create(SECRET)?;
    let shown = secret.show(&secret.file.to_string_lossy());
    writeln!(
        out,
        "On the host, outside the rootfs, {shown} begins with:\n    {SECRET}\n"
    )?;

    writeln!(
        out,
        "1. chroot only; inside it, as root: /bin/escape-chroot {shown}"
    )?;
    let jailed = attempt(rootfs, &Isolation::Chroot, &secret.file)?;
    write!(out, "{}", indent(&secret.show(&jailed.output)))?;
    let escaped = jailed.output.contains(SECRET);
    writeln!(
        out,
        "  => {}\n",
        if escaped {
            "ESCAPED: the host file was read from inside the chroot"
        } else {
            "contained (unexpected: is this process missing CAP_SYS_CHROOT?)"
        }
    )?;

    writeln!(
        out,
        "2. pivot_root in a new mount namespace; the same program, the same file:"
    )?;
    let container = Isolation::Container {
        options: pivot::Options::default(),
        hostname: "tincan",
        cgroup: None,
    };
    let contained = attempt(rootfs, &container, &secret.file)?;
    write!(out, "{}", indent(&secret.show(&contained.output)))?;
    writeln!(
        out,
        "  => {}\n",
        if contained.output.contains(SECRET) {
            "ESCAPED (unexpected!)"
        } else {
            "CONTAINED: the host file could not be read"
        }
    )?;

    writeln!(
        out,
        "Why: chroot only changes where one process's `/` lookups start; the host's mounts\n\
         are all still in its mount namespace, so a root process whose current directory is\n\
         outside its root can walk `..` back to the real `/`. pivot_root makes the rootfs the\n\
         root *mount* of a new mount namespace and the old root is unmounted, so there is no\n\
         host directory left to walk to: `..` at `/` is `/`."
    )?;
    Ok(())
}
// ANCHOR_END: demo
