//! The cgroup v2 snapshots (`*_v2.snap`), which only the VM can take.
//!
//! insta finds a test's snapshots under `<workspace>/<dir of the test's
//! source>/snapshots`, the workspace being `INSTA_WORKSPACE_ROOT` (there is
//! no cargo in the VM to ask). So the committed snapshots of those tests
//! travel in the initramfs at their own absolute paths (the `*_v2.snap`
//! ones, and those a test shares between both versions, such as step
//! 05's escape table), and the kernel command line
//! sets `INSTA_WORKSPACE_ROOT` to this checkout and `INSTA_UPDATE`: `no`,
//! so a snapshot that differs (or is missing) fails the VM test with
//! insta's diff on the console; with `--accept`, `always`, so insta writes
//! the new ones in the VM's memory. The VM has no disk to keep them on:
//! `vm-init` then prints every snapshot file that is new or changed on the
//! console between [`BEGIN`] and [`END`] lines, and [`Collector`] writes
//! them into the checkout.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::util::root;

/// The line before a snapshot file's contents: `BEGIN <absolute path>`.
pub(crate) const BEGIN: &str = "TINCAN-SNAPSHOT-BEGIN";
/// The line after them.
pub(crate) const END: &str = "TINCAN-SNAPSHOT-END";

/// The snapshot directories of the tests the VM runs (relative to the
/// workspace).
const DIRS: [&str; 2] = [
    "03-cgroups/tests/snapshots",
    "05-full-container/tests/snapshots",
];

/// The committed snapshots' absolute paths.
pub(super) fn committed() -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for dir in DIRS {
        let dir = root().join(dir);
        let entries = std::fs::read_dir(&dir).with_context(|| format!("list {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "snap") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The kernel command line words (`key=value` become init's environment,
/// and so the tests') that point insta at this checkout.
pub(super) fn kernel_args(accept: bool) -> String {
    let update = if accept { "always" } else { "no" };
    let mut args = format!(
        " INSTA_WORKSPACE_ROOT={} INSTA_UPDATE={update}",
        root().display()
    );
    if accept {
        args.push_str(" TINCAN_VM_ACCEPT=1");
    }
    args
}

/// Gathers the snapshot files `vm-init` prints, one console line at a time.
#[derive(Default)]
pub(super) struct Collector {
    current: Option<(PathBuf, String)>,
    /// The files printed so far: `(absolute path, contents)`.
    pub(super) files: Vec<(PathBuf, String)>,
}

impl Collector {
    /// Take one console line; true if it belonged to a snapshot block (the
    /// caller then does not echo it).
    pub(super) fn line(&mut self, line: &str) -> bool {
        // The console's tty ends lines with "\r\n".
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(path) = line.strip_prefix(BEGIN) {
            self.current = Some((PathBuf::from(path.trim()), String::new()));
            return true;
        }
        if line == END {
            if let Some((path, text)) = self.current.take() {
                let lines = text.lines().count();
                eprintln!("vm| (snapshot {}: {lines} lines)", path.display());
                self.files.push((path, text));
            }
            return true;
        }
        let Some((_, text)) = &mut self.current else {
            return false;
        };
        text.push_str(line);
        text.push('\n');
        true
    }
}

/// Write the snapshots the VM printed into the checkout (only below one of
/// [`DIRS`], and only `*_v2.snap` files: a snapshot both versions share
/// belongs to the v1 host too, so a v2 difference there is a failure).
pub(super) fn write_back(files: &[(PathBuf, String)]) -> Result<()> {
    let shared: Vec<_> = files
        .iter()
        .filter(|(p, _)| !p.to_string_lossy().ends_with("_v2.snap"))
        .map(|(p, _)| relative(p).display().to_string())
        .collect();
    if !shared.is_empty() {
        bail!(
            "on cgroup v2 these snapshots, shared with the v1 host, came out differently \
             (give the test a `_v2` snapshot name on v2): {}",
            shared.join(", ")
        );
    }
    for (path, text) in files {
        let allowed = DIRS.iter().any(|d| path.parent() == Some(&root().join(d)))
            && path.extension().is_some_and(|e| e == "snap");
        if !allowed {
            bail!(
                "the VM printed a snapshot outside the snapshot directories: {}",
                path.display()
            );
        }
        std::fs::write(path, text).with_context(|| format!("write {}", path.display()))?;
        println!("vm-test: wrote {}", relative(path).display());
    }
    if files.is_empty() {
        println!("vm-test: no snapshot changed");
    }
    Ok(())
}

fn relative(path: &Path) -> &Path {
    path.strip_prefix(root()).unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_takes_the_blocks_and_leaves_other_lines() {
        let mut c = Collector::default();
        assert!(!c.line("vm-init: kernel 6.1\r"));
        assert!(c.line(&format!(
            "{BEGIN} /w/03-cgroups/tests/snapshots/x_v2.snap\r"
        )));
        assert!(c.line("---\r"));
        assert!(c.line("line 1\r"));
        assert!(c.line(&format!("{END}\r")));
        assert!(!c.line("TINCAN-VM-TEST: PASS"));
        assert_eq!(
            c.files,
            [(
                PathBuf::from("/w/03-cgroups/tests/snapshots/x_v2.snap"),
                "---\nline 1\n".to_string()
            )]
        );
    }
}
