//! `--image REF`: which kind of image a reference names, and reading the
//! files of that image (an OCI layout directory, or a tar archive holding
//! one) without unpacking anything.
//!
//! Engines say `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]` and
//! `docker-archive:FILE[:TAG]` (skopeo's and podman's "transports"). With no
//! prefix, tincan looks: a directory with an `oci-layout` file is an OCI
//! layout; a tar with `oci-layout` at its top is an OCI archive, one with
//! `manifest.json` a `docker save` archive; any other tar a flat root
//! filesystem; a name that is no file at all, an image already loaded.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// What `--image REF` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/`).
    OciDir {
        /// The directory.
        dir: PathBuf,
        /// Which of its images (`org.opencontainers.image.ref.name`).
        tag: Option<String>,
    },
    /// The same layout as one tar file (`podman save --format oci-archive`).
    OciArchive {
        /// The archive.
        file: PathBuf,
        /// Which of its images.
        tag: Option<String>,
    },
    /// `docker save`'s format: `manifest.json`, configs and layer tars.
    DockerArchive {
        /// The archive.
        file: PathBuf,
        /// Which of its images (one of `RepoTags`).
        tag: Option<String>,
    },
    /// A flat root filesystem tarball (`docker export`): one layer, no config.
    Flat(PathBuf),
    /// The name or id of an image already in the store.
    Stored(String),
}

// ANCHOR: parse
/// Parse `REF`: a transport prefix, or detection by looking at the file.
pub fn parse(text: &str) -> Result<Reference> {
    for (prefix, make) in [("oci:", 0), ("oci-archive:", 1), ("docker-archive:", 2)] {
        let Some(rest) = text.strip_prefix(prefix) else {
            continue;
        };
        let (path, tag) = split_tag(rest);
        if !path.exists() {
            bail!(
                "{} does not exist; pass {prefix}PATH of an existing image",
                path.display()
            );
        }
        return Ok(match make {
            0 => Reference::OciDir { dir: path, tag },
            1 => Reference::OciArchive { file: path, tag },
            _ => Reference::DockerArchive { file: path, tag },
        });
    }
    let path = PathBuf::from(text);
    if path.is_dir() {
        if !path.join("oci-layout").is_file() {
            bail!(
                "{text} has no oci-layout file, so it is no OCI image layout; for a plain root \
                 filesystem directory use --rootfs {text}"
            );
        }
        return Ok(Reference::OciDir {
            dir: path,
            tag: None,
        });
    }
    if path.is_file() {
        return detect_archive(&path);
    }
    Ok(Reference::Stored(text.to_string()))
}
// ANCHOR_END: parse

/// `PATH[:TAG]`: a tag is what follows the last `:` when it holds no `/`.
fn split_tag(text: &str) -> (PathBuf, Option<String>) {
    match text.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') && !tag.is_empty() && !Path::new(text).exists() => {
            (PathBuf::from(path), Some(tag.to_string()))
        }
        _ => (PathBuf::from(text), None),
    }
}

/// An archive's kind, from the names at its top level.
fn detect_archive(path: &Path) -> Result<Reference> {
    let name = path.to_string_lossy();
    // A compressed tarball is a flat root filesystem (image archives are
    // plain tar files whose blobs are compressed inside).
    if [".gz", ".tgz", ".zst"].iter().any(|s| name.ends_with(s)) {
        return Ok(Reference::Flat(path.to_path_buf()));
    }
    let source = Source::open(&Reference::Flat(path.to_path_buf()))?;
    Ok(if source.has("oci-layout") {
        Reference::OciArchive {
            file: path.to_path_buf(),
            tag: None,
        }
    } else if source.has("manifest.json") {
        Reference::DockerArchive {
            file: path.to_path_buf(),
            tag: None,
        }
    } else {
        Reference::Flat(path.to_path_buf())
    })
}

/// Where an image's files are read from: a directory, or a tar archive
/// whose regular files were indexed once (name → offset and size), so a
/// blob is read by seeking, never by unpacking the archive.
#[derive(Debug)]
pub enum Source {
    /// An OCI layout directory.
    Dir(PathBuf),
    /// A tar archive.
    Tar {
        /// The archive.
        file: PathBuf,
        /// Each regular file: (offset of its data, size).
        entries: HashMap<String, (u64, u64)>,
    },
}

impl Source {
    /// Open the files of `reference` (an archive is indexed here).
    pub fn open(reference: &Reference) -> Result<Source> {
        let file = match reference {
            Reference::OciDir { dir, .. } => return Ok(Source::Dir(dir.clone())),
            Reference::OciArchive { file, .. }
            | Reference::DockerArchive { file, .. }
            | Reference::Flat(file) => file,
            Reference::Stored(name) => bail!("{name} is not a file"),
        };
        let what = || format!("read the archive {}", file.display());
        let mut archive = tar::Archive::new(
            File::open(file).with_context(|| format!("open {}", file.display()))?,
        );
        let mut entries = HashMap::new();
        for entry in archive.entries_with_seek().with_context(what)? {
            let entry = entry.with_context(what)?;
            if entry.header().entry_type().is_file() {
                let path = entry.path().with_context(what)?;
                let name = path.to_string_lossy().trim_start_matches("./").to_string();
                entries.insert(name, (entry.raw_file_position(), entry.size()));
            }
        }
        Ok(Source::Tar {
            file: file.clone(),
            entries,
        })
    }

    /// True if the image has a file `name` (relative to its top).
    pub fn has(&self, name: &str) -> bool {
        match self {
            Source::Dir(dir) => dir.join(name).is_file(),
            Source::Tar { entries, .. } => entries.contains_key(name),
        }
    }

    /// Read the file `name`, a path inside the image checked by step 04's
    /// rules (a manifest naming `../../etc/shadow` reads nothing).
    pub fn open_file(&self, name: &str) -> Result<Box<dyn Read>> {
        let clean = step04::import::safe_relative(Path::new(name))
            .with_context(|| format!("the image names the file {name}"))?;
        match self {
            Source::Dir(dir) => {
                let path = dir.join(&clean);
                let file = File::open(&path).with_context(|| {
                    format!(
                        "open {}: the image layout is missing a file",
                        path.display()
                    )
                })?;
                Ok(Box::new(file))
            }
            Source::Tar { file, entries } => {
                let Some(&(offset, size)) = entries.get(&*clean.to_string_lossy()) else {
                    bail!(
                        "{}: the archive has no file {name}; it is incomplete or not an image",
                        file.display()
                    );
                };
                let mut f = File::open(file).with_context(|| format!("open {}", file.display()))?;
                f.seek(SeekFrom::Start(offset))
                    .with_context(|| format!("seek in {}", file.display()))?;
                Ok(Box::new(f.take(size)))
            }
        }
    }

    /// Read the whole file `name` into memory (manifests and configs: small).
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_file(name)?
            .read_to_end(&mut bytes)
            .with_context(|| format!("read {name}"))?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_prefixes_and_tags() {
        let dir = std::env::temp_dir();
        let d = dir.display();
        assert_eq!(
            parse(&format!("oci:{d}:v1")).expect("valid"),
            Reference::OciDir {
                dir: dir.clone(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            parse("no-such-image-here").expect("a stored name"),
            Reference::Stored("no-such-image-here".into())
        );
        assert!(parse("oci-archive:/no/such/file.tar").is_err());
        // A directory that is no OCI layout is refused with a pointer to --rootfs.
        let err = format!("{:#}", parse(&d.to_string()).expect_err("not a layout"));
        assert!(err.contains("--rootfs"), "{err}");
    }
}
