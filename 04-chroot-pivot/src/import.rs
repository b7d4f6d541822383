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
//! are refused unless we are root. A rootfs *directory* can be used in
//! place (`--rootfs DIR`) or copied with the same rules ([`import_dir`]).

use std::fs;
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use tar::EntryType;

pub use crate::copy::import_dir;

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Entries written.
    pub entries: usize,
    /// Symbolic links among them.
    pub symlinks: usize,
    /// Extended attributes written (file capabilities, ACLs, `user.*`).
    pub xattrs: usize,
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
    // ANCHOR: lab-04-tar-dotdot
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
    // ANCHOR_END: lab-04-tar-dotdot
}
// ANCHOR_END: safe_path

/// What an importer may create: device nodes and setuid bits need root,
/// and only a root importer that asks for it keeps the archive's owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The importer is root: device nodes and setuid/setgid bits are kept.
    pub root: bool,
    /// chown(2) each entry to the uid/gid of its header (as root only), as
    /// `tar --same-owner` does: an image layer's files keep their owners.
    pub keep_owners: bool,
}

impl Rules {
    /// The rules for this process (root or not), owners not kept.
    pub fn for_this_process() -> Rules {
        Rules {
            root: nix::unistd::geteuid().is_root(),
            keep_owners: false,
        }
    }
}

// ANCHOR: check_entry
/// Check one archive entry before anything is written for it, and return
/// the path it may be written to, relative to the target: no `..`, nothing
/// absolute, no hard link to a path outside, device nodes only as root,
/// no extended attribute of overlayfs's own.
pub fn check_entry<R: Read>(entry: &mut tar::Entry<R>, rules: Rules) -> Result<PathBuf> {
    let path = entry
        .path()
        .context("entry path is not valid")?
        .into_owned();
    let rel = safe_relative(&path)?;
    let kind = entry.header().entry_type();
    if matches!(kind, EntryType::Char | EntryType::Block) && !rules.root {
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
    crate::xattrs::check(entry, rules.root).with_context(|| path.display().to_string())?;
    Ok(rel)
}
// ANCHOR_END: check_entry

/// Unpack `tarball` into `target` (created if missing). The whole archive
/// is checked first: on bad input nothing at all is written.
pub fn import_tarball(tarball: &Path, target: &Path) -> Result<Imported> {
    let rules = Rules::for_this_process();
    // Pass 1: check every entry.
    let mut archive = open_archive(tarball)?;
    let entries = archive
        .entries()
        .with_context(|| format!("read tarball {}", tarball.display()))?;
    for entry in entries {
        let mut entry = entry.with_context(|| format!("read an entry of {}", tarball.display()))?;
        check_entry(&mut entry, rules)?;
    }
    // Pass 2: write.
    fs::create_dir_all(target).with_context(|| format!("mkdir {}", target.display()))?;
    let mut done = Imported::default();
    let mut archive = open_archive(tarball)?;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let rel = check_entry(&mut entry, rules)?;
        write_entry(&mut entry, target, &rel, rules, &mut done)?;
    }
    Ok(done)
}

// ANCHOR: write_entry
/// Write one checked entry (`rel`, from [`check_entry`]) under `target`:
/// parents made without following links, an existing file replaced rather
/// than written through, setuid/setgid bits only as root.
pub fn write_entry<R: Read>(
    entry: &mut tar::Entry<R>,
    target: &Path,
    rel: &Path,
    rules: Rules,
    done: &mut Imported,
) -> Result<()> {
    if rel.as_os_str().is_empty() {
        return Ok(());
    }
    let dest = target.join(rel);
    make_parents(target, rel)?;
    let mut mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
    if !rules.root {
        // A setuid file made by someone who is not root would be a gift
        // to whoever runs it later.
        mode &= !0o6000;
    }
    let kind = entry.header().entry_type();
    match kind {
        EntryType::Directory => {
            if fs::symlink_metadata(&dest).is_ok_and(|m| m.file_type().is_symlink()) {
                bail!(
                    "{} is a symlink in the target; refusing to use it as a directory",
                    rel.display()
                );
            }
            fs::create_dir_all(&dest).with_context(|| format!("mkdir {}", dest.display()))?;
            mode |= 0o700;
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
            let link = safe_relative(&entry.link_name()?.context("hard link without a target")?)?;
            // link(2) resolves the source's parents: through a planted
            // `evil -> /etc`, `evil/passwd` would be the host's file.
            no_symlink_in_parents(target, &link)?;
            let source = target.join(&link);
            remove_existing(&dest)?;
            fs::hard_link(&source, &dest)
                .with_context(|| format!("link {} to {}", dest.display(), source.display()))?;
        }
        EntryType::Regular | EntryType::Continuous => {
            remove_existing(&dest)?;
            write_new_file(&dest, mode, entry)?;
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            remove_existing(&dest)?;
            let sflag = match kind {
                EntryType::Char => nix::sys::stat::SFlag::S_IFCHR,
                EntryType::Block => nix::sys::stat::SFlag::S_IFBLK,
                _ => nix::sys::stat::SFlag::S_IFIFO,
            };
            let major = entry.header().device_major()?.unwrap_or(0);
            let minor = entry.header().device_minor()?.unwrap_or(0);
            nix::sys::stat::mknod(
                &dest,
                sflag,
                nix::sys::stat::Mode::from_bits_truncate(mode),
                nix::sys::stat::makedev(major.into(), minor.into()),
            )
            .with_context(|| format!("mknod {}", dest.display()))?;
        }
        // Pax headers, GNU long names and the like carry metadata only.
        _ => return Ok(()),
    }
    if rules.keep_owners && rules.root {
        let uid = entry
            .header()
            .uid()
            .ok()
            .map(|u| nix::unistd::Uid::from_raw(u as u32));
        let gid = entry
            .header()
            .gid()
            .ok()
            .map(|g| nix::unistd::Gid::from_raw(g as u32));
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            &dest,
            uid,
            gid,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .with_context(|| format!("lchown {}", dest.display()))?;
    }
    if kind != EntryType::Symlink && kind != EntryType::Link {
        // After chown, which clears setuid bits: the mode exactly.
        fs::set_permissions(&dest, fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {}", dest.display()))?;
        // After chown too, which clears a file capability.
        done.xattrs += crate::xattrs::apply(entry, &dest, rules.root)?;
    }
    done.entries += 1;
    Ok(())
}
// ANCHOR_END: write_entry

/// Import `source` into `target`: a `.tar`/`.tar.gz` file, or a directory
/// (copied without following any symlink in it).
pub fn import(source: &Path, target: &Path) -> Result<Imported> {
    match fs::metadata(source) {
        Ok(meta) if meta.is_dir() => import_dir(source, target),
        _ => import_tarball(source, target),
    }
}

/// Set the modification time of `path` (a link itself, never its target:
/// utimensat(2) with `AT_SYMLINK_NOFOLLOW`) to `secs` since the epoch.
pub fn set_mtime(path: &Path, secs: u64) -> Result<()> {
    let time = nix::sys::time::TimeSpec::new(secs as i64, 0);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &time,
        &time,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .with_context(|| format!("utimensat {}", path.display()))
}

/// Refuse `rel` if one of its parents inside `target` is a symlink (lstat).
fn no_symlink_in_parents(target: &Path, rel: &Path) -> Result<()> {
    let mut path = target.to_path_buf();
    for component in rel.parent().into_iter().flat_map(Path::components) {
        path.push(component);
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            bail!(
                "tarball entry {} goes through the symlink {}; refusing to follow links while unpacking",
                rel.display(),
                path.display()
            );
        }
    }
    Ok(())
}

/// Create the parents of `rel` inside `target`, refusing to go through a
/// symlink (lstat, never stat).
pub fn make_parents(target: &Path, rel: &Path) -> Result<()> {
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
pub fn remove_existing(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_dir() => {
            fs::remove_file(path).with_context(|| format!("remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Create `dest` as a new regular file with `mode` and fill it from `data`.
/// `O_NOFOLLOW | O_EXCL` (create_new): never write through a link that an
/// earlier entry planted.
pub(crate) fn write_new_file(dest: &Path, mode: u32, data: &mut impl std::io::Read) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dest)
        .with_context(|| format!("create {}", dest.display()))?;
    std::io::copy(data, &mut file).with_context(|| format!("write {}", dest.display()))?;
    // The umask trimmed `mode` at creation; set it exactly.
    fs::set_permissions(dest, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", dest.display()))
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
