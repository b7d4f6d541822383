//! Importing someone else's root filesystem: a `.tar` or `.tar.gz` (what
//! `docker export` or an Alpine minirootfs gives), unpacked safely.
//!
//! A tarball is a list of paths chosen by whoever made it. Unpacked
//! naively, an entry named `../../etc/cron.d/x` or `/etc/cron.d/x` writes
//! outside the target ("zip slip"), and an entry `lib -> /etc` followed by
//! `lib/passwd` writes *through* a symlink onto the host. So: every path is
//! checked before anything is written (no `..`, nothing absolute), symlinks
//! are created as links but never followed while unpacking (open(2) with
//! `O_NOFOLLOW`, parents checked with lstat(2)), and device nodes (mknod(2))
//! are refused unless we are root. A rootfs *directory* needs no import:
//! pass it with `--rootfs DIR`.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use tar::EntryType;

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Entries written.
    pub entries: usize,
    /// Symbolic links among them.
    pub symlinks: usize,
}

fn open_archive(tarball: &Path) -> Result<tar::Archive<Box<dyn Read>>> {
    let file = fs::File::open(tarball).with_context(|| {
        format!(
            "open tarball {}: pass an existing .tar or .tar.gz file",
            tarball.display()
        )
    })?;
    let name = tarball.to_string_lossy();
    let reader: Box<dyn Read> = if name.ends_with(".gz") || name.ends_with(".tgz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(tar::Archive::new(reader))
}

// ANCHOR: safe_path
/// The path an entry may be written to, relative to the target, or an error
/// naming the entry. `./a/b` is fine; `/a`, `../a` and `a/../../b` are not.
pub fn safe_relative(entry: &Path) -> Result<PathBuf> {
    let mut clean = PathBuf::new();
    for component in entry.components() {
        match component {
            Component::Normal(name) => clean.push(name),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => bail!(
                "tarball entry {} is an absolute path that would escape the target; refusing to import it",
                entry.display()
            ),
            Component::ParentDir => bail!(
                "tarball entry {} contains `..` and would escape the target; refusing to import it",
                entry.display()
            ),
        }
    }
    Ok(clean)
}
// ANCHOR_END: safe_path

/// Unpack `tarball` into `target` (created if missing). The whole archive
/// is checked first: on bad input nothing at all is written.
pub fn import_tarball(tarball: &Path, target: &Path) -> Result<Imported> {
    let root = nix::unistd::geteuid().is_root();
    // Pass 1: check every entry.
    let mut archive = open_archive(tarball)?;
    let entries = archive
        .entries()
        .with_context(|| format!("read tarball {}", tarball.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("read an entry of {}", tarball.display()))?;
        let path = entry
            .path()
            .context("entry path is not valid")?
            .into_owned();
        safe_relative(&path)?;
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::Char | EntryType::Block) && !root {
            bail!(
                "tarball entry {} is a device node: only root may create device nodes; \
                 import as root or remove it from the tarball",
                path.display()
            );
        }
        if kind == EntryType::Link {
            let target = entry.link_name().ok().flatten().unwrap_or_default();
            safe_relative(&target).with_context(|| format!("hard link {}", path.display()))?;
        }
    }
    // Pass 2: write.
    fs::create_dir_all(target).with_context(|| format!("mkdir {}", target.display()))?;
    let mut done = Imported::default();
    let mut archive = open_archive(tarball)?;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let rel = safe_relative(&entry.path()?)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let dest = target.join(&rel);
        make_parents(target, &rel)?;
        let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
        match entry.header().entry_type() {
            EntryType::Directory => {
                if fs::symlink_metadata(&dest).is_ok_and(|m| m.file_type().is_symlink()) {
                    bail!(
                        "{} is a symlink in the target; refusing to use it as a directory",
                        rel.display()
                    );
                }
                fs::create_dir_all(&dest).with_context(|| format!("mkdir {}", dest.display()))?;
                fs::set_permissions(&dest, fs::Permissions::from_mode(mode | 0o700))?;
            }
            EntryType::Symlink => {
                let link = entry.link_name()?.context("symlink without a target")?;
                remove_existing(&dest)?;
                // The link is stored as-is, even when it points outside:
                // after chroot or pivot_root it resolves inside the rootfs.
                std::os::unix::fs::symlink(&link, &dest)
                    .with_context(|| format!("symlink {}", dest.display()))?;
                done.symlinks += 1;
            }
            EntryType::Link => {
                let link = entry.link_name()?.context("hard link without a target")?;
                let source = target.join(safe_relative(&link)?);
                remove_existing(&dest)?;
                fs::hard_link(&source, &dest)
                    .with_context(|| format!("link {} to {}", dest.display(), source.display()))?;
            }
            EntryType::Regular | EntryType::Continuous => {
                remove_existing(&dest)?;
                // O_NOFOLLOW | O_EXCL: never write through a link.
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&dest)
                    .with_context(|| format!("create {}", dest.display()))?;
                std::io::copy(&mut entry, &mut file)
                    .with_context(|| format!("write {}", dest.display()))?;
                fs::set_permissions(&dest, fs::Permissions::from_mode(mode))?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                remove_existing(&dest)?;
                let kind = match entry.header().entry_type() {
                    EntryType::Char => nix::sys::stat::SFlag::S_IFCHR,
                    EntryType::Block => nix::sys::stat::SFlag::S_IFBLK,
                    _ => nix::sys::stat::SFlag::S_IFIFO,
                };
                let major = entry.header().device_major()?.unwrap_or(0);
                let minor = entry.header().device_minor()?.unwrap_or(0);
                nix::sys::stat::mknod(
                    &dest,
                    kind,
                    nix::sys::stat::Mode::from_bits_truncate(mode),
                    nix::sys::stat::makedev(major.into(), minor.into()),
                )
                .with_context(|| format!("mknod {}", dest.display()))?;
            }
            // Pax headers, GNU long names and the like carry metadata only.
            _ => continue,
        }
        done.entries += 1;
    }
    Ok(done)
}

/// Create the parents of `rel` inside `target`, refusing to go through a
/// symlink (lstat, never stat).
fn make_parents(target: &Path, rel: &Path) -> Result<()> {
    let mut path = target.to_path_buf();
    let Some(parent) = rel.parent() else {
        return Ok(());
    };
    for component in parent.components() {
        path.push(component);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => bail!(
                "tarball entry {} goes through the symlink {}; refusing to follow links while unpacking",
                rel.display(),
                path.display()
            ),
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => bail!("{} is not a directory", path.display()),
            Err(_) => fs::create_dir(&path).with_context(|| format!("mkdir {}", path.display()))?,
        }
    }
    Ok(())
}

/// Remove a non-directory at `path` (so a link there is replaced, not followed).
fn remove_existing(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_dir() => {
            fs::remove_file(path).with_context(|| format!("remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_relative_refuses_escaping_paths() {
        assert_eq!(
            safe_relative(Path::new("./bin/sh")).expect("ok"),
            Path::new("bin/sh")
        );
        assert!(safe_relative(Path::new("/etc/passwd")).is_err());
        assert!(safe_relative(Path::new("a/../../etc")).is_err());
        assert!(safe_relative(Path::new("..")).is_err());
    }
}
