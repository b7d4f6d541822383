//! Copying a rootfs directory tree: the other source `tincan`'s step 04
//! imports from, with the same rules as a tarball (links copied, never
//! followed; device nodes only by root; nothing written on bad input).

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::import::{Imported, remove_existing, write_new_file};

// ANCHOR: import_dir
/// Copy a rootfs directory tree: links are copied as links (never followed),
/// device nodes only by root, and nothing is written on bad input.
pub fn import_dir(source: &Path, target: &Path) -> Result<Imported> {
    let source_real = source
        .canonicalize()
        .with_context(|| format!("resolve {}", source.display()))?;
    let target_real = target
        .parent()
        .and_then(|p| p.canonicalize().ok())
        .map(|p| p.join(target.file_name().unwrap_or_default()));
    if target_real.is_some_and(|t| t.starts_with(&source_real)) {
        bail!(
            "target {} is inside the source {}: pick a target outside it",
            target.display(),
            source.display()
        );
    }
    // Pass 1: check every entry.
    let mut entries = Vec::new();
    walk(&source_real, Path::new(""), &mut entries)?;
    let root = nix::unistd::geteuid().is_root();
    for (rel, meta) in &entries {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if (kind.is_char_device() || kind.is_block_device()) && !root {
            bail!(
                "{} is a device node: only root may create device nodes; \
                 import as root or remove it from the source",
                source.join(rel).display()
            );
        }
    }
    // Pass 2: copy, in walk order (parents before children).
    fs::create_dir_all(target).with_context(|| format!("mkdir {}", target.display()))?;
    let mut done = Imported::default();
    for (rel, meta) in &entries {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let from = source_real.join(rel);
        let dest = target.join(rel);
        let kind = meta.file_type();
        let mode = meta.mode() & 0o7777;
        if kind.is_dir() {
            fs::create_dir_all(&dest).with_context(|| format!("mkdir {}", dest.display()))?;
            fs::set_permissions(&dest, fs::Permissions::from_mode(mode | 0o700))?;
        } else if kind.is_symlink() {
            let link =
                fs::read_link(&from).with_context(|| format!("readlink {}", from.display()))?;
            remove_existing(&dest)?;
            std::os::unix::fs::symlink(&link, &dest)
                .with_context(|| format!("symlink {}", dest.display()))?;
            done.symlinks += 1;
        } else if kind.is_file() {
            remove_existing(&dest)?;
            let mut input = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&from)
                .with_context(|| format!("open {}", from.display()))?;
            write_new_file(&dest, mode, &mut input)?;
        } else if kind.is_char_device() || kind.is_block_device() || kind.is_fifo() {
            remove_existing(&dest)?;
            let sflag = nix::sys::stat::SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT);
            nix::sys::stat::mknod(
                &dest,
                sflag,
                nix::sys::stat::Mode::from_bits_truncate(mode),
                meta.rdev(),
            )
            .with_context(|| format!("mknod {}", dest.display()))?;
        } else {
            continue; // sockets: a rootfs has no use for them
        }
        done.entries += 1;
    }
    Ok(done)
}
// ANCHOR_END: import_dir

/// List `root/rel` recursively with lstat(2): a symlink is an entry, never
/// a directory to descend into.
fn walk(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, fs::Metadata)>) -> Result<()> {
    let dir = root.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .with_context(|| format!("read directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for name in names {
        let rel = rel.join(&name);
        let meta = fs::symlink_metadata(root.join(&rel))
            .with_context(|| format!("lstat {}", root.join(&rel).display()))?;
        let is_dir = meta.is_dir();
        out.push((rel.clone(), meta));
        if is_dir {
            walk(root, &rel, out)?;
        }
    }
    Ok(())
}
