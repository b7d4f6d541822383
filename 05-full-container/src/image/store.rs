//! The content-addressed store: every layer unpacked once, in a directory
//! named after the sha256 of its tar (its `diff_id`), and one small record
//! per image saying which layers it stacks and what its config says.
//!
//! ```text
//! STORAGE/lock                  flock(2): one loader or remover at a time
//! STORAGE/layers/<sha256>/      an unpacked, verified layer (overlay lowerdir)
//! STORAGE/images/<sha256>.json  an image: id (its config's digest), names, layers, config
//! STORAGE/tmp/                  layers being unpacked (renamed into layers/ when verified)
//! ```
//!
//! Two images built on the same base name the same `diff_id` for it, so
//! the second finds the directory there and unpacks nothing.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use oci_spec::image::{Digest, ImageConfiguration};
use serde::{Deserialize, Serialize};

/// The environment variable naming the store (tests, CI): like `--storage`.
pub const STORAGE_ENV: &str = "TINCAN_STORAGE";

/// One loaded image, as recorded in `images/<id>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The image id: the sha256 of its config, as engines count it.
    pub id: String,
    /// The names it was loaded under (a tag, or the file it came from).
    pub names: Vec<String>,
    /// Its layers' `diff_id`s, bottom first (the config's order).
    pub layers: Vec<String>,
    /// The image configuration, as the image carries it.
    pub config: ImageConfiguration,
}

impl ImageRecord {
    /// The short id shown in tables (12 hex digits, as docker).
    pub fn short_id(&self) -> &str {
        let hex = self.id.trim_start_matches("sha256:");
        &hex[..hex.len().min(12)]
    }
}

/// The store in a directory.
#[derive(Debug, Clone)]
pub struct Store {
    /// Its directory.
    pub dir: PathBuf,
}

/// An exclusive hold on the store; released when dropped (or when the
/// process dies, whatever the way: the kernel drops flock locks).
pub struct StoreLock {
    _lock: nix::fcntl::Flock<fs::File>,
    dir: PathBuf,
}

// ANCHOR: empty_store
impl Drop for StoreLock {
    /// A store left with no image (a refused first load, the last `image
    /// rm`) is removed whole, lock file included, while the lock is still
    /// held: a tincan waiting on it then finds its lock file unlinked and
    /// starts again ([`Store::lock`]), so nobody works in a removed store.
    fn drop(&mut self) {
        let empty = |sub: &str| {
            fs::read_dir(self.dir.join(sub)).is_ok_and(|mut entries| entries.next().is_none())
        };
        if ["layers", "images", "tmp"].iter().all(|sub| empty(sub)) {
            for sub in ["layers", "images", "tmp"] {
                let _ = fs::remove_dir(self.dir.join(sub));
            }
            let _ = fs::remove_file(self.dir.join("lock"));
            let _ = fs::remove_dir(&self.dir);
        }
    }
}
// ANCHOR_END: empty_store

impl Store {
    /// `--storage DIR`, else `$TINCAN_STORAGE`, else beside the image cache:
    /// `/var/cache/tincan/storage` as root.
    pub fn at(dir: Option<&Path>) -> Store {
        let dir = dir
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(STORAGE_ENV).map(PathBuf::from))
            .unwrap_or_else(|| match super::image_cache_dir().parent() {
                Some(parent) => parent.join(if nix::unistd::geteuid().is_root() {
                    "storage".to_string()
                } else {
                    format!("tincan-storage-{}", nix::unistd::geteuid())
                }),
                None => PathBuf::from("/var/cache/tincan/storage"),
            });
        Store { dir }
    }

    /// Take the store's lock (waiting for another tincan to finish), then
    /// make its directories. Whatever `tmp/` holds then is a dead loader's
    /// half-unpacked layer: removed.
    pub fn lock(&self) -> Result<StoreLock> {
        let path = self.dir.join("lock");
        let lock = loop {
            fs::create_dir_all(&self.dir)
                .with_context(|| format!("mkdir {}", self.dir.display()))?;
            let file =
                fs::File::create(&path).with_context(|| format!("create {}", path.display()))?;
            let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
                .map_err(|(_, e)| e)
                .with_context(|| format!("flock {}", path.display()))?;
            // The holder before us may have removed an empty store, and
            // our lock with it: only the file still at `path` counts.
            let held = std::os::unix::fs::MetadataExt::ino(&lock.metadata()?);
            match fs::metadata(&path) {
                Ok(now) if std::os::unix::fs::MetadataExt::ino(&now) == held => break lock,
                _ => continue,
            }
        };
        let lock = StoreLock {
            _lock: lock,
            dir: self.dir.clone(),
        };
        for sub in ["layers", "images", "tmp"] {
            let d = self.dir.join(sub);
            fs::create_dir_all(&d).with_context(|| format!("mkdir {}", d.display()))?;
        }
        let tmp = self.dir.join("tmp");
        for entry in fs::read_dir(&tmp).with_context(|| format!("read {}", tmp.display()))? {
            let path = entry?.path();
            fs::remove_dir_all(&path).with_context(|| format!("remove {}", path.display()))?;
        }
        Ok(lock)
    }

    /// The directory of the layer whose tar has sha256 `diff_id`.
    pub fn layer_dir(&self, diff_id: &str) -> PathBuf {
        self.dir
            .join("layers")
            .join(diff_id.trim_start_matches("sha256:"))
    }

    /// A fresh temporary directory name for unpacking `diff_id`.
    pub fn tmp_dir(&self, diff_id: &Digest) -> PathBuf {
        self.dir
            .join("tmp")
            .join(format!("{}-{}", diff_id.digest(), std::process::id()))
    }

    /// Every image, sorted by name.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let dir = self.dir.join("images");
        let mut all = Vec::new();
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(all);
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = fs::read(&path).with_context(|| format!("read {}", path.display()))?;
                all.push(
                    serde_json::from_slice::<ImageRecord>(&text)
                        .with_context(|| format!("parse {}", path.display()))?,
                );
            }
        }
        all.sort_by(|a, b| a.names.cmp(&b.names).then(a.id.cmp(&b.id)));
        Ok(all)
    }

    /// The image named `name` (a name, a full id, or an id's first digits).
    pub fn find(&self, name: &str) -> Result<ImageRecord> {
        let images = self.images()?;
        let hex = name.trim_start_matches("sha256:");
        let found: Vec<_> = images
            .iter()
            .filter(|i| {
                i.names
                    .iter()
                    .any(|n| n == name || n.strip_suffix(":latest") == Some(name))
                    || (hex.len() >= 4 && i.id.trim_start_matches("sha256:").starts_with(hex))
            })
            .collect();
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => bail!(
                "no such file, nor a loaded image (store {}, see `tincan image ls`); pass an OCI \
                 layout directory, an OCI or docker archive, or the name of a loaded image",
                self.dir.display()
            ),
            _ => bail!("{name} names {} images; use the image id", found.len()),
        }
    }

    /// Write `record` (atomically: a new file renamed over the old one).
    pub fn save(&self, record: &ImageRecord) -> Result<()> {
        let hex = record.id.trim_start_matches("sha256:");
        let path = self.dir.join("images").join(format!("{hex}.json"));
        let tmp = path.with_extension(format!("json.{}", std::process::id()));
        let json = serde_json::to_vec_pretty(record).context("serialise the image record")?;
        fs::write(&tmp, json).with_context(|| format!("write {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("rename {}", tmp.display()))
    }

    /// Remove the image `name`, then every layer no other image uses.
    /// `may_free` sees those layers first and may refuse (a running
    /// container stacks them). Returns the record and how many were freed.
    pub fn remove(
        &self,
        name: &str,
        may_free: impl Fn(&[PathBuf]) -> Result<()>,
    ) -> Result<(ImageRecord, usize)> {
        let _lock = self.lock()?;
        let record = self.find(name).with_context(|| format!("image {name}"))?;
        let others: Vec<String> = self
            .images()?
            .into_iter()
            .filter(|i| i.id != record.id)
            .flat_map(|i| i.layers)
            .collect();
        let freed: Vec<PathBuf> = record
            .layers
            .iter()
            .filter(|l| !others.contains(l))
            .map(|l| self.layer_dir(l))
            .filter(|d| d.exists())
            .collect();
        may_free(&freed).with_context(|| format!("image {name}"))?;
        let hex = record.id.trim_start_matches("sha256:");
        let path = self.dir.join("images").join(format!("{hex}.json"));
        fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
        for dir in &freed {
            fs::remove_dir_all(dir).with_context(|| format!("remove {}", dir.display()))?;
        }
        Ok((record, freed.len()))
    }
}

/// The bytes of the files under `dir` (lstat: links are not followed).
pub fn disk_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.path().symlink_metadata() {
            Ok(m) if m.is_dir() => disk_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
