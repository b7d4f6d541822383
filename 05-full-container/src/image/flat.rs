//! `--image TAR`: a flat image archive (what `docker export` writes),
//! unpacked once by step 04's safe importer: an image of one layer.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

// ANCHOR: unpack_image
/// `--image TAR`: unpack the archive once (step 04's safe importer) into a
/// cache named after its file name, size and modification time, and use
/// that directory as the read-only lower layer of every container started
/// from it. The overlay keeps the cache unchanged.
pub fn unpack_image(tar: &Path) -> Result<PathBuf> {
    let meta = std::fs::metadata(tar)
        .with_context(|| format!("--image {}: no such file", tar.display()))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    let name: String = tar
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cache = image_cache_dir().join(format!(
        "{name}-{}-{}",
        meta.len(),
        mtime.map_or(0, |t| t.as_secs())
    ));
    // The rename below is atomic: if the directory exists, it is complete.
    if cache.is_dir() {
        return Ok(cache);
    }
    // Unpack next to the cache and rename: a half-unpacked image is never used.
    let partial = cache.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    let result = step04::import::import_tarball(tar, &partial).and_then(|_| {
        match std::fs::rename(&partial, &cache) {
            // Another tincan unpacked it first: use theirs.
            Err(_) if cache.is_dir() => Ok(()),
            other => other
                .with_context(|| format!("rename {} to {}", partial.display(), cache.display())),
        }
    });
    let _ = std::fs::remove_dir_all(&partial);
    result.with_context(|| format!("--image {}", tar.display()))?;
    Ok(cache)
}
// ANCHOR_END: unpack_image

/// Where unpacked `--image` archives are kept.
pub fn image_cache_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        PathBuf::from("/var/cache/tincan/images")
    } else {
        std::env::temp_dir().join(format!("tincan-images-{}", nix::unistd::geteuid()))
    }
}
