//! One image layer: a (compressed) tar of the changes made on top of the
//! layers below it, unpacked into a directory of its own that overlayfs
//! can stack (`Documentation/filesystems/overlayfs.rst`; the OCI image
//! spec's `layer.md`).
//!
//! A layer cannot say "this file is gone" with a file, so the image spec
//! uses names: `.wh.NAME` means NAME was deleted, and `.wh..wh..opq` in a
//! directory means "nothing below this directory shows through". Overlayfs
//! has its own words for the same two things: a character device 0/0
//! named NAME, and the `trusted.overlay.opaque=y` extended attribute on the
//! directory. Translating one into the other once, while unpacking, lets
//! the kernel do the rest at every lookup.
//!
//! The layer is trusted only after two sha256 sums match: of the blob as
//! stored (the manifest's digest) and of the tar inside (the config's
//! `diff_id`). Both are computed while the bytes stream through, in one
//! read; the files go into a temporary directory that becomes the layer
//! (rename(2)) only when both match.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use oci_spec::image::Digest;
use sha2::{Digest as _, Sha256};
use step04::import::{
    Imported, Rules, check_entry, make_parents, remove_existing, set_mtime, write_entry,
};

/// A reader that hashes what passes through it, and remembers whether
/// reading failed (a truncated or corrupt stream, not a refused entry).
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    failed: Option<String>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self
            .inner
            .read(buf)
            .inspect_err(|e| self.failed = Some(e.to_string()))?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl<R: Read> Hashing<R> {
    fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            hasher: Sha256::new(),
            failed: None,
        }
    }
    /// Read what is left (a tar's padding, a gzip trailer), then the sum.
    fn finish(mut self) -> Result<String> {
        std::io::copy(&mut self, &mut std::io::sink()).context("read the end of the layer")?;
        Ok(format!("sha256:{:x}", self.hasher.finalize()))
    }
}

// ANCHOR: unpack
/// Unpack the layer `blob` into `tmp`, and check it: the blob's sha256 must
/// be `digest` (when the manifest gives one) and the tar's `diff_id`.
/// On any error the caller removes `tmp`; nothing of it is ever used.
pub fn unpack(
    blob: Box<dyn Read>,
    digest: Option<&Digest>,
    diff_id: &Digest,
    tmp: &Path,
) -> Result<Imported> {
    let mut compressed = Hashing::new(blob);
    let (done, diff) = {
        let mut buffered = BufReader::new(&mut compressed);
        // The first bytes say how the tar is compressed (the media type
        // says it too, but docker archives do not carry one).
        let magic = buffered.fill_buf().context("read the layer")?.to_vec();
        let tar: Box<dyn Read + '_> = if magic.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(buffered))
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Box::new(zstd::stream::read::Decoder::with_buffer(buffered).context("start zstd")?)
        } else {
            Box::new(buffered)
        };
        let mut tar = Hashing::new(tar);
        std::fs::create_dir(tmp).with_context(|| format!("mkdir {}", tmp.display()))?;
        let done = match unpack_entries(&mut tar, tmp) {
            Ok(done) => done,
            Err(e) => match tar.failed {
                Some(why) => {
                    bail!("the layer is truncated or corrupt ({why}); nothing of it was stored")
                }
                None => return Err(e),
            },
        };
        (done, tar.finish()?)
    };
    let blob_sum = compressed.finish()?;
    if let Some(digest) = digest {
        if blob_sum != digest.to_string() {
            bail!(
                "its sha256 is {blob_sum} but the manifest says {digest}; the image is corrupt or \
                 was changed, nothing of it was stored"
            );
        }
    }
    if diff != diff_id.to_string() {
        bail!(
            "the sha256 of its uncompressed tar is {diff} but the config's diff_id says \
             {diff_id}; the image is corrupt or was changed, nothing of it was stored"
        );
    }
    Ok(done)
}
// ANCHOR_END: unpack

// ANCHOR: entries
/// Every entry through step 04's checks; whiteouts become overlayfs's.
fn unpack_entries(tar: &mut impl Read, dest: &Path) -> Result<Imported> {
    let rules = Rules {
        root: nix::unistd::geteuid().is_root(),
        keep_owners: true,
    };
    let mut done = Imported::default();
    let mut dirs = Vec::new();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().context("read the layer's tar")? {
        let mut entry = entry.context("read an entry of the layer (truncated?)")?;
        let rel = check_entry(&mut entry, rules)?;
        let name = rel.file_name().map(|n| n.to_string_lossy().into_owned());
        match name.as_deref().and_then(|n| n.strip_prefix(".wh.")) {
            None => {
                write_entry(&mut entry, dest, &rel, rules, &mut done)
                    .with_context(|| format!("unpack {}", rel.display()))?;
                // Times as the image has them; a directory's after its
                // children, whose creation changes it.
                let mtime = entry.header().mtime().unwrap_or(0);
                match entry.header().entry_type() {
                    tar::EntryType::Directory => dirs.push((dest.join(&rel), mtime)),
                    tar::EntryType::Link => {}
                    _ if dest.join(&rel).symlink_metadata().is_ok() => {
                        set_mtime(&dest.join(&rel), mtime)?;
                    }
                    _ => {}
                }
            }
            Some(".wh..opq") => {
                make_parents(dest, &rel)?;
                opaque(&dest.join(rel.parent().unwrap_or(Path::new(""))))?;
            }
            // Other `.wh..wh.` names are aufs bookkeeping, not files.
            Some(other) if other.starts_with(".wh.") => {}
            Some(hidden) => {
                make_parents(dest, &rel)?;
                whiteout(&hidden_path(dest, &rel, hidden)?)?;
            }
        }
    }
    for (dir, mtime) in dirs.iter().rev() {
        set_mtime(dir, *mtime)?;
    }
    Ok(done)
}
// ANCHOR_END: entries

/// The file a `.wh.NAME` entry deletes: NAME beside it, one plain name.
fn hidden_path(dest: &Path, rel: &Path, hidden: &str) -> Result<PathBuf> {
    let name = step04::import::safe_relative(Path::new(hidden))?;
    if name.components().count() != 1 {
        bail!(
            "whiteout {} names {hidden:?}, not one file name; refusing the layer",
            rel.display()
        );
    }
    Ok(dest.join(rel.parent().unwrap_or(Path::new(""))).join(name))
}

// ANCHOR: whiteout
/// An overlayfs whiteout: a character device 0/0 (mknod(2)) named as the
/// deleted file. In a lower layer it hides that name in every layer below.
fn whiteout(path: &Path) -> Result<()> {
    remove_existing(path)?;
    if path.is_dir() {
        std::fs::remove_dir_all(path).with_context(|| format!("remove {}", path.display()))?;
    }
    nix::sys::stat::mknod(
        path,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        nix::sys::stat::makedev(0, 0),
    )
    .with_context(|| format!("mknod {} (a whiteout, 0/0; needs root)", path.display()))
}

/// Mark `dir` opaque (setxattr(2) `trusted.overlay.opaque=y`): overlayfs
/// shows none of the same directory in the layers below it.
fn opaque(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
    step04::xattrs::set(dir, "trusted.overlay.opaque", b"y")
        .context("an opaque directory (needs root)")
}
// ANCHOR_END: whiteout
