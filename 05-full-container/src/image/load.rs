//! Loading an image into the store: find its manifest (OCI `index.json`,
//! or docker's `manifest.json`), read its config, then unpack each layer
//! the store does not have yet.

use std::path::Path;

use anyhow::{Context, Result, bail};
use oci_spec::image::{
    Arch, Descriptor, Digest, DigestAlgorithm, ImageConfiguration, ImageIndex, ImageManifest,
    MediaType, Os,
};
use serde::Deserialize;
use sha2::Digest as _;

use super::reference::{Reference, Source};
use super::store::{ImageRecord, Store};

/// One layer as the image lists it: the file holding it, the digest of that
/// file when the manifest gives one, and the config's `diff_id`.
struct LayerBlob {
    path: String,
    digest: Option<Digest>,
    diff_id: Digest,
}

/// `docker save`'s manifest.json (one entry per image). Not an OCI type,
/// so oci-spec has none: these are its only fields tincan reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// What a load did: the image, and how many of its layers were new.
pub struct Loaded {
    /// The image's record.
    pub record: ImageRecord,
    /// Layers unpacked now.
    pub unpacked: usize,
    /// Layers the store had already (shared with another image).
    pub shared: usize,
}

// ANCHOR: load
/// Load `reference` into `store` (under its lock): every layer verified and
/// unpacked once; a layer already there is used as it is.
pub fn load(store: &Store, reference: &Reference, name: &str) -> Result<Loaded> {
    let source = Source::open(reference)?;
    let (config_bytes, config_digest, blobs_of, names) = match reference {
        Reference::OciDir { tag, .. } | Reference::OciArchive { tag, .. } => {
            oci_manifest(&source, tag.as_deref())?
        }
        Reference::DockerArchive { tag, .. } => docker_manifest(&source, tag.as_deref())?,
        _ => bail!("{name}: not an OCI or docker image"),
    };
    let config = ImageConfiguration::from_reader(&config_bytes[..])
        .with_context(|| format!("{name}: the image config is not valid JSON of the OCI spec"))?;
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != blobs_of.len() {
        bail!(
            "{name}: the manifest lists {} layers but the config {} diff_ids; the image is malformed",
            blobs_of.len(),
            diff_ids.len()
        );
    }
    let mut layers = Vec::new();
    for ((path, digest), diff_id) in blobs_of.into_iter().zip(diff_ids) {
        let diff_id = sha256(diff_id).with_context(|| format!("{name}: diff_id {diff_id}"))?;
        layers.push(LayerBlob {
            path,
            digest,
            diff_id,
        });
    }
    let _lock = store.lock()?;
    let (mut unpacked, mut shared) = (0, 0);
    // Layers unpacked by this load, removed again if a later one fails:
    // a refused image leaves nothing in the store.
    let mut new_dirs = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let dir = store.layer_dir(layer.diff_id.as_ref());
        if dir.is_dir() {
            shared += 1;
            continue;
        }
        let tmp = store.tmp_dir(&layer.diff_id);
        let result = source
            .open_file(&layer.path)
            .and_then(|blob| {
                super::layer::unpack(blob, layer.digest.as_ref(), &layer.diff_id, &tmp)
            })
            .and_then(|_| {
                std::fs::rename(&tmp, &dir)
                    .with_context(|| format!("rename {} to {}", tmp.display(), dir.display()))
            });
        if let Err(e) = result {
            for dir in new_dirs.iter().chain([&tmp]) {
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(e.context(format!("{name}: layer {} of {}", i + 1, layers.len())));
        }
        new_dirs.push(dir);
        unpacked += 1;
    }
    let mut record = ImageRecord {
        id: config_digest.to_string(),
        names,
        layers: layers.iter().map(|l| l.diff_id.to_string()).collect(),
        config,
    };
    if record.names.is_empty() {
        record.names.push(name.to_string());
    }
    // Loaded again under another name: keep the names it had.
    if let Ok(old) = store.find(&record.id) {
        for n in old.names {
            if !record.names.contains(&n) {
                record.names.push(n);
            }
        }
    }
    store.save(&record)?;
    Ok(Loaded {
        record,
        unpacked,
        shared,
    })
}
// ANCHOR_END: load

/// (config bytes, config digest, (layer path, blob digest) bottom first, names).
type Manifest = (Vec<u8>, Digest, Vec<(String, Option<Digest>)>, Vec<String>);

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OCI layout: `index.json` → the manifest (by tag, or the only one) →
/// the config and layer blobs, each read by digest and checked.
fn oci_manifest(source: &Source, tag: Option<&str>) -> Result<Manifest> {
    let index = ImageIndex::from_reader(&source.read("index.json")?[..])
        .context("index.json is not an OCI image index")?;
    let name_of = |d: &Descriptor| {
        d.annotations()
            .as_ref()
            .and_then(|a| a.get(REF_NAME).cloned())
    };
    let chosen: Vec<_> = index
        .manifests()
        .iter()
        .filter(|d| match tag {
            None => true,
            Some(t) => name_of(d).is_some_and(|n| n == t || n.rsplit(':').next() == Some(t)),
        })
        .collect();
    let descriptor = match chosen.as_slice() {
        [one] => *one,
        [] => bail!("index.json has no image tagged {}", tag.unwrap_or("(any)")),
        more => bail!(
            "index.json has {} images ({}); pick one with :TAG",
            more.len(),
            more.iter()
                .filter_map(|d| name_of(d))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let manifest_bytes = blob(source, this_platform(source, descriptor)?.digest())?;
    let manifest = ImageManifest::from_reader(&manifest_bytes[..])
        .context("the manifest is not an OCI image manifest")?;
    let config_digest = sha256(manifest.config().digest().as_ref())?;
    let config = blob(source, &config_digest)?;
    let mut layers = Vec::new();
    for layer in manifest.layers() {
        let digest = sha256(layer.digest().as_ref())?;
        layers.push((blob_path(&digest), Some(digest)));
    }
    Ok((
        config,
        config_digest,
        layers,
        name_of(descriptor).into_iter().collect(),
    ))
}

/// A multi-platform image points at a second index, one manifest per
/// platform: take this machine's (as `podman pull` does), else the only one.
fn this_platform(source: &Source, descriptor: &Descriptor) -> Result<Descriptor> {
    if *descriptor.media_type() != MediaType::ImageIndex {
        return Ok(descriptor.clone());
    }
    let index = ImageIndex::from_reader(&blob(source, descriptor.digest())?[..])
        .context("the nested index is not an OCI image index")?;
    let ours = |d: &&Descriptor| {
        d.platform()
            .as_ref()
            .is_some_and(|p| *p.architecture() == Arch::default() && *p.os() == Os::default())
    };
    match (
        index.manifests().iter().find(ours),
        index.manifests().as_slice(),
    ) {
        (Some(d), _) | (None, [d]) => Ok(d.clone()),
        (None, _) => bail!(
            "the image has no manifest for this machine ({:?}/{:?}) among its {} platforms",
            Os::default(),
            Arch::default(),
            index.manifests().len()
        ),
    }
}

/// `docker save`: `manifest.json` names the config and layer files by path.
fn docker_manifest(source: &Source, tag: Option<&str>) -> Result<Manifest> {
    let all: Vec<DockerManifest> = serde_json::from_slice(&source.read("manifest.json")?)
        .context("manifest.json is not a docker archive manifest")?;
    let tags = |m: &DockerManifest| m.repo_tags.clone().unwrap_or_default();
    let chosen: Vec<_> = all
        .iter()
        .filter(|m| {
            tag.is_none_or(|t| {
                tags(m)
                    .iter()
                    .any(|n| n == t || n.ends_with(&format!(":{t}")))
            })
        })
        .collect();
    let [manifest] = chosen.as_slice() else {
        bail!(
            "manifest.json has {} images matching {}; pick one with :TAG",
            chosen.len(),
            tag.unwrap_or("(any)")
        );
    };
    let config = source.read(&manifest.config)?;
    let config_digest = sha256(&format!("sha256:{:x}", sha2::Sha256::digest(&config)))?;
    // No digest of the layer files here: the config's diff_ids check them.
    let layers = manifest.layers.iter().map(|l| (l.clone(), None)).collect();
    Ok((config, config_digest, layers, tags(manifest)))
}

/// A digest that must be sha256 (the only algorithm tincan checks).
fn sha256(text: &str) -> Result<Digest> {
    let digest: Digest = text
        .parse()
        .with_context(|| format!("{text:?} is not a valid digest"))?;
    if *digest.algorithm() != DigestAlgorithm::Sha256 {
        bail!("{text}: only sha256 digests are supported");
    }
    Ok(digest)
}

fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.digest())
}

/// A small blob (a manifest, a config), read whole and checked against its digest.
fn blob(source: &Source, digest: &Digest) -> Result<Vec<u8>> {
    let digest = sha256(digest.as_ref())?;
    let bytes = source.read(&blob_path(&digest))?;
    let sum = format!("sha256:{:x}", sha2::Sha256::digest(&bytes));
    if sum != digest.to_string() {
        bail!("blob {digest}: its sha256 is {sum}; the image is corrupt or was changed");
    }
    Ok(bytes)
}

/// The name an image is recorded under when it carries none: its path.
pub fn default_name(path: &Path) -> String {
    path.canonicalize()
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
