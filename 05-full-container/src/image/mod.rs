//! Images: what `--image REF` names, turned into the directories of an
//! overlay and the defaults of the program to run (the OCI image spec:
//! image layout, manifest, config, layers).
//!
//! An image is not one tarball but a stack: each layer a tar of the
//! changes made on top of the ones below (whiteout files for deletions), a
//! manifest naming the layers by digest, and a config saying what to run.
//! tincan reads the stack from an OCI layout, an OCI archive or a `docker
//! save` archive ([`reference`]), unpacks each layer once into a
//! content-addressed [`store`] after checking its digests ([`layer`]), and
//! gives overlayfs all of them as lower layers. The config's Entrypoint,
//! Cmd, Env, WorkingDir and User become the run's defaults ([`config`]).
//! A flat tarball (what `docker export` writes) is still an image of one
//! layer and no config ([`flat`]).

pub mod commands;
pub mod config;
pub mod flat;
pub mod layer;
pub mod load;
pub mod reference;
pub mod store;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

pub use commands::{ImageArgs, ImageCommand, run_command};
pub use flat::{image_cache_dir, unpack_image};
pub use reference::Reference;
pub use store::Store;

/// An image ready to be the root of a container.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Its layers, topmost first (overlayfs's lowerdir order); one
    /// directory for a flat image.
    pub layers: Vec<PathBuf>,
    /// The run defaults of its config (none for a flat image).
    pub config: Option<oci_spec::image::Config>,
}

// ANCHOR: resolve
/// `--image REF`: load the image into the store if needed (each new layer
/// verified and unpacked once), and return its layers and config.
pub fn resolve(text: &str, storage: Option<&Path>) -> Result<Resolved> {
    let reference = reference::parse(text)?;
    let store = Store::at(storage);
    let record = match &reference {
        Reference::Flat(tar) => {
            return Ok(Resolved {
                layers: vec![unpack_image(tar)?],
                config: None,
            });
        }
        Reference::Stored(name) => store.find(name)?,
        Reference::OciDir { dir: path, .. }
        | Reference::OciArchive { file: path, .. }
        | Reference::DockerArchive { file: path, .. } => {
            load::load(&store, &reference, &load::default_name(path))?.record
        }
    };
    let layers: Vec<PathBuf> = record
        .layers
        .iter()
        .rev()
        .map(|l| store.layer_dir(l))
        .collect();
    if layers.is_empty() {
        bail!(
            "image {} has no layers: there is nothing to run",
            record.short_id()
        );
    }
    if let Some(missing) = layers.iter().find(|l| !l.is_dir()) {
        bail!(
            "layer {} of image {} is missing from the store; load the image again",
            missing.display(),
            record.short_id()
        );
    }
    crate::overlay::lowerdir(&layers)?;
    Ok(Resolved {
        layers,
        config: record.config.config().clone(),
    })
}
// ANCHOR_END: resolve
