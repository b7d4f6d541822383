//! `tincan image load|ls|rm|inspect`: the store seen from the command line.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::reference::{self, Reference};
use super::store::{ImageRecord, Store, disk_size};

/// `tincan image`'s options.
#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    /// The layer store (default: $TINCAN_STORAGE, else /var/cache/tincan/storage as root).
    #[arg(long, value_name = "DIR")]
    pub storage: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: ImageCommand,
}

/// `tincan image`'s subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Load an image into the store: oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE.
    Load {
        /// The image (the format is detected when no prefix is given).
        reference: String,
    },
    /// List the images, their layers' sizes, and what they share.
    Ls,
    /// Remove images, and the layers no other image uses.
    Rm {
        /// Image names or ids.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Show an image's config (Entrypoint, Cmd, Env, WorkingDir, User, ports) and layers.
    Inspect {
        /// Image name or id.
        name: String,
    },
}

/// Run one `tincan image` command; its report goes to `out`. `states`
/// holds the running containers (`rm` will not pull layers from under one).
pub fn run_command(
    args: &ImageArgs,
    states: &crate::state::StateRoot,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let store = Store::at(args.storage.as_deref());
    let text = match &args.command {
        ImageCommand::Load { reference } => load(&store, reference)?,
        ImageCommand::Ls => listing(&store)?,
        ImageCommand::Rm { names } => {
            let mut text = String::new();
            for name in names {
                let (record, freed) = store.remove(name, |dirs| in_use(states, dirs))?;
                let kept = record.layers.len() - freed;
                writeln!(
                    text,
                    "removed {} ({}): {freed} layers freed, {kept} kept (used by other images)",
                    record.names.join(", "),
                    record.short_id()
                )?;
            }
            text
        }
        ImageCommand::Inspect { name } => inspect(
            &store.find(name).with_context(|| format!("image {name}"))?,
            &store,
        ),
    };
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// Refuse if a container's root stacks one of `dirs`: removing a lower
/// directory under a mounted overlay would pull its files from under it.
fn in_use(states: &crate::state::StateRoot, dirs: &[PathBuf]) -> Result<()> {
    for id in states.ids()? {
        let Ok(state) = states.load(&id) else {
            continue;
        };
        if dirs.contains(&state.rootfs) {
            bail!("container {id} runs it; stop and remove the container first");
        }
    }
    Ok(())
}

fn load(store: &Store, text: &str) -> Result<String> {
    let reference = reference::parse(text)?;
    let path = match &reference {
        Reference::OciDir { dir: p, .. }
        | Reference::OciArchive { file: p, .. }
        | Reference::DockerArchive { file: p, .. } => p.clone(),
        Reference::Flat(p) => bail!(
            "{}: a flat root filesystem tarball, not an OCI or docker image; run it with \
             `tincan run --image {}` (it is unpacked into {})",
            p.display(),
            p.display(),
            super::image_cache_dir().display()
        ),
        Reference::Stored(name) => bail!(
            "{name}: no such file; pass an OCI layout directory, an OCI archive or a docker archive"
        ),
    };
    let loaded = super::load::load(store, &reference, &super::load::default_name(&path))?;
    Ok(format!(
        "loaded {} ({}): {} layers, {} unpacked, {} already in the store\n",
        loaded.record.names.join(", "),
        loaded.record.short_id(),
        loaded.record.layers.len(),
        loaded.unpacked,
        loaded.shared
    ))
}

// ANCHOR: listing
/// `tincan image ls`: one row per image; SHARED is the part of its size
/// that is layers other images use too, stored once.
pub fn listing(store: &Store) -> Result<String> {
    let images = store.images()?;
    let mut users: BTreeMap<&str, usize> = BTreeMap::new();
    for layer in images.iter().flat_map(|i| &i.layers) {
        *users.entry(layer).or_default() += 1;
    }
    let sizes: BTreeMap<&str, u64> = users
        .keys()
        .map(|l| (*l, disk_size(&store.layer_dir(l))))
        .collect();
    let mut text = format!(
        "{:<14}{:<40}{:>7}{:>11}{:>11}\n",
        "IMAGE ID", "NAME", "LAYERS", "SIZE", "SHARED"
    );
    for image in &images {
        let size: u64 = image.layers.iter().map(|l| sizes[l.as_str()]).sum();
        let shared: u64 = image
            .layers
            .iter()
            .filter(|l| users[l.as_str()] > 1)
            .map(|l| sizes[l.as_str()])
            .sum();
        writeln!(
            text,
            "{:<14}{:<40}{:>7}{:>11}{:>11}",
            image.short_id(),
            image.names.first().map_or("", String::as_str),
            image.layers.len(),
            human(size),
            human(shared)
        )?;
    }
    let each: u64 = images
        .iter()
        .flat_map(|i| &i.layers)
        .map(|l| sizes[l.as_str()])
        .sum();
    writeln!(
        text,
        "{} layers stored, {} on disk ({} if each image had its own copy)",
        sizes.len(),
        human(sizes.values().sum()),
        human(each)
    )?;
    Ok(text)
}
// ANCHOR_END: listing

/// `tincan image inspect`: what the config says, and the layers.
pub fn inspect(image: &ImageRecord, store: &Store) -> String {
    let config = image.config.config().clone().unwrap_or_default();
    let list = |v: &Option<Vec<String>>| match v {
        Some(v) if !v.is_empty() => serde_json::to_string(v).unwrap_or_default(),
        _ => "-".into(),
    };
    let mut text = String::new();
    let mut row = |key: &str, value: &str| {
        let _ = writeln!(text, "{key:<12}{value}");
    };
    row("id", &image.id);
    row("names", &image.names.join(", "));
    row("entrypoint", &list(config.entrypoint()));
    row("cmd", &list(config.cmd()));
    // Sorted: names are unique in an image's Env, and engines write them
    // in no fixed order.
    let mut env = config.env().clone().unwrap_or_default();
    env.sort();
    for (i, var) in env.iter().enumerate() {
        row(if i == 0 { "env" } else { "" }, var);
    }
    row("workdir", config.working_dir().as_deref().unwrap_or("/"));
    row(
        "user",
        config
            .user()
            .as_deref()
            .filter(|u| !u.is_empty())
            .unwrap_or("root"),
    );
    let ports = config.exposed_ports().clone().unwrap_or_default();
    row(
        "ports",
        &if ports.is_empty() {
            "-".into()
        } else {
            ports.join(" ")
        },
    );
    for (i, layer) in image.layers.iter().enumerate() {
        let size = human(disk_size(&store.layer_dir(layer)));
        row(
            if i == 0 { "layers" } else { "" },
            &format!("{layer}  {size:>9}"),
        );
    }
    text
}

/// Bytes as people read them: 512 B, 12.3 kB, 4.5 MB (powers of 1000, as docker).
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.1} GB", b / 1e9),
    }
}
