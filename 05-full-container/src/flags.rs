//! `tincan run`'s flags, docker style, turned into a [`RunConfig`].
//!
//! Parsing everything *before* creating anything is what makes bad input
//! cheap: a typo fails with one line and leaves nothing behind.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use step02::Namespace;
use step03::limits::{Cpus, Limit};

use crate::capabilities::ProcessCapabilities;
use crate::config::{self, Limits, RunConfig, parse_env, parse_user, parse_volume};
use crate::net::{NetConfig, NetMode};
use step03::limits::docker::{parse_cpus, parse_memory, parse_pids};

/// The namespaces every `tincan run` container gets, in the order
/// `--explain` lists them.
pub const CONTAINER_NAMESPACES: [Namespace; 6] = [
    Namespace::Mount,
    Namespace::Pid,
    Namespace::Net,
    Namespace::Uts,
    Namespace::Ipc,
    Namespace::Cgroup,
];

/// The flags of `tincan run`, named as in `docker run`, as plain strings
/// before validation.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct RunFlags {
    /// Image directory to run (default: the workspace's toolbox rootfs).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["image", "bundle"])]
    pub rootfs: Option<PathBuf>,
    /// Image: oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE, a flat
    /// tarball, or an image loaded before (the format is detected).
    #[arg(long, value_name = "REF", conflicts_with = "bundle")]
    pub image: Option<String>,
    /// The image layer store (default: $TINCAN_STORAGE, else /var/cache/tincan/storage as root).
    #[arg(long, value_name = "DIR")]
    pub storage: Option<PathBuf>,
    /// Container name (default: tincan-<random>).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Hostname inside the container (default: the name).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Memory limit: 64m, 1g...
    #[arg(long, short = 'm', value_name = "SIZE")]
    pub memory: Option<String>,
    /// CPU limit in CPUs: 0.5 = half of one CPU.
    #[arg(long, value_name = "CPUS")]
    pub cpus: Option<String>,
    /// Maximum number of processes.
    #[arg(long, value_name = "N")]
    pub pids_limit: Option<String>,
    /// Mount the root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Set an environment variable (repeatable).
    #[arg(long, short = 'e', value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory inside the container.
    #[arg(long, short = 'w', value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Run as this user (and group): numbers, or names of the image's /etc/passwd.
    #[arg(long, short = 'u', value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Bind mount a host directory (repeatable).
    #[arg(long, short = 'v', value_name = "HOST:CONTAINER[:ro]")]
    pub volume: Vec<String>,
    /// Allow a device in the device cgroup, as `docker run`: 'b 7:* rwm' (repeatable).
    #[arg(long = "device-cgroup-rule", value_name = "RULE")]
    pub device_cgroup_rules: Vec<String>,
    /// Network: bridge (default as root, unless $TINCAN_NET says otherwise),
    /// none, host, container:ID (join a running container's network, a
    /// pod), slirp4netns (user-mode; the rootless default when installed).
    #[arg(long, value_name = "MODE")]
    pub net: Option<String>,
    /// The bridge's subnet (default: a free /24 such as 10.88.0.0/24).
    #[arg(long, value_name = "CIDR")]
    pub subnet: Option<String>,
    /// Forward a TCP port of the host's loopback to the container (repeatable).
    #[arg(long, short = 'p', value_name = "HOSTPORT:CONTPORT[/tcp]")]
    pub publish: Vec<String>,
    /// `unconfined` switches the seccomp filter off.
    #[arg(long, value_name = "PROFILE", default_value = "default")]
    pub seccomp: String,
    /// Add a capability to Docker's default set (repeatable; ALL for all).
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability from Docker's default set (repeatable; ALL for all).
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// A terminal for the program (`-it` as in docker): tincan relays it.
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Keep stdin attached. It always is (accepted for docker's `-it`).
    #[arg(long, short = 'i')]
    pub interactive: bool,
    /// The command and its arguments (after `--`).
    // Position 2: the CLI's optional bundle id is position 1.
    #[arg(index = 2, last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// The environment every container starts with, as in Docker.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ANCHOR: from_flags
/// Validate every flag and build the configuration, before anything is
/// created: bad input costs one line and leaves nothing behind.
pub fn config_from_flags(flags: &RunFlags) -> Result<RunConfig> {
    let id = match &flags.name {
        Some(name) => name.clone(),
        None => format!("tincan-{:08x}", random_u32()),
    };
    config::validate_id(&id).context("--name")?;
    let image = image(flags)?;
    let config = image.config.as_ref();
    let set = crate::capabilities::with_changes(&flags.cap_add, &flags.cap_drop)?;
    let capabilities = ProcessCapabilities::uniform(set);
    capabilities.validate()?;
    let (uid, gid, additional_gids) = user(flags, &image)?;
    let env = env(flags, &id, config)?;
    let workdir = match &flags.workdir {
        Some(dir) => dir.clone(),
        None => crate::image::config::workdir(config)?.unwrap_or_else(|| "/".into()),
    };
    if !workdir.is_absolute() {
        bail!(
            "--workdir {} must be an absolute path inside the container",
            workdir.display()
        );
    }
    let limits = Limits {
        memory: flags
            .memory
            .as_deref()
            .map(|m| parse_memory(m).map(Limit::Value))
            .transpose()?,
        cpus: flags
            .cpus
            .as_deref()
            .map(|c| parse_cpus(c).map(|(q, p)| Cpus::Fraction(q as f64 / p as f64)))
            .transpose()?,
        pids: flags
            .pids_limit
            .as_deref()
            .map(|n| parse_pids(n).map(|n| Limit::Value(n as u64)))
            .transpose()?,
        ..Limits::default()
    };
    let mut devices = config::docker_devices();
    for rule in &flags.device_cgroup_rules {
        step03::devices::parse_allow(rule).context("--device-cgroup-rule")?;
        devices.push(config::DeviceRule {
            allow: true,
            rule: rule.trim().to_string(),
        });
    }
    let mut mounts = config::standard_mounts();
    for v in &flags.volume {
        mounts.push(parse_volume(v)?);
    }
    // A user namespace only when not root: as root, tincan maps nothing
    // and keeps real uid 0 with reduced capabilities, as Docker does.
    let user = (!nix::unistd::geteuid().is_root()).then_some(Namespace::User);
    let net = NetConfig::from_flags(
        flags.net.as_deref(),
        flags.subnet.as_deref(),
        &flags.publish,
    )?;
    let namespaces = user
        .into_iter()
        .chain(CONTAINER_NAMESPACES)
        // `--net host`: no network namespace, the host's network; `--net
        // container:ID`: no new one, that container's is joined.
        .filter(|n| {
            *n != Namespace::Net || !matches!(net.mode, NetMode::Host | NetMode::Container(_))
        })
        .map(config::Namespace::new)
        .collect();
    let args = match config {
        Some(_) => crate::image::config::command(config, &flags.command)?,
        None if flags.command.is_empty() => vec!["/bin/sh".to_string()],
        None => flags.command.clone(),
    };
    Ok(RunConfig {
        hostname: Some(flags.hostname.clone().unwrap_or_else(|| id.clone())),
        id,
        rootfs: image.layers[0].clone(),
        layers: if image.config.is_some() {
            image.layers
        } else {
            Vec::new()
        },
        overlay: true,
        readonly_rootfs: flags.read_only,
        args,
        env,
        cwd: workdir,
        uid,
        gid,
        additional_gids,
        umask: Some(0o022),
        namespaces,
        uid_mappings: Vec::new(),
        gid_mappings: Vec::new(),
        mounts,
        masked_paths: config::DOCKER_MASKED_PATHS
            .iter()
            .map(PathBuf::from)
            .collect(),
        readonly_paths: config::DOCKER_READONLY_PATHS
            .iter()
            .map(PathBuf::from)
            .collect(),
        capabilities,
        no_new_privileges: true,
        seccomp: flags.seccomp.parse()?,
        rlimits: Vec::new(),
        oom_score_adj: None,
        sysctl: Default::default(),
        limits,
        devices,
        cgroups_path: None,
        rootfs_propagation: None,
        device_nodes: Vec::new(),
        no_pivot: false,
        // Hooks and annotations are for engines: only a bundle has them.
        hooks: Default::default(),
        annotations: Default::default(),
        net,
        terminal: flags.tty.then(Default::default),
    })
}
// ANCHOR_END: from_flags

/// `--rootfs DIR`, `--image REF`, or step 04's toolbox rootfs (built by
/// `cargo xtask rootfs`), as the layers of an overlay.
fn image(flags: &RunFlags) -> Result<crate::image::Resolved> {
    let dir = match (&flags.rootfs, &flags.image) {
        (Some(dir), _) => {
            if !dir.is_dir() {
                bail!(
                    "--rootfs {}: no such directory; pass the directory holding the container's files",
                    dir.display()
                );
            }
            dir.clone()
        }
        (None, Some(reference)) => {
            return crate::image::resolve(reference, flags.storage.as_deref())
                .with_context(|| format!("--image {reference}"));
        }
        (None, None) => step04::rootfs::locate(None)?,
    };
    Ok(crate::image::Resolved {
        layers: vec![dir],
        config: None,
    })
}

/// Docker's PATH and the HOSTNAME, then the image's Env, then `-e`: a
/// later value of a name replaces an earlier one.
fn env(
    flags: &RunFlags,
    id: &str,
    config: Option<&oci_spec::image::Config>,
) -> Result<Vec<String>> {
    let given: Vec<String> = flags
        .env
        .iter()
        .map(|e| parse_env(e))
        .collect::<Result<_>>()?;
    Ok(crate::image::config::merge_env(
        vec![
            DEFAULT_PATH.to_string(),
            format!("HOSTNAME={}", flags.hostname.as_deref().unwrap_or(id)),
        ],
        &[
            config.and_then(|c| c.env().as_deref()).unwrap_or_default(),
            &given,
        ],
    ))
}

/// `--user`, else the image's `User`: numbers as they are, names through
/// the image's own /etc/passwd and /etc/group.
fn user(flags: &RunFlags, image: &crate::image::Resolved) -> Result<(u32, u32, Vec<u32>)> {
    let from_image = image.config.as_ref().and_then(|c| c.user().clone());
    match (flags.user.as_deref(), from_image.as_deref()) {
        (Some(spec), _) => match parse_user(spec) {
            Ok((uid, gid)) if spec.contains(':') => Ok((uid, gid, Vec::new())),
            _ => crate::image::config::resolve_user(spec, &image.layers)
                .with_context(|| format!("--user {spec}")),
        },
        (None, Some(spec)) if !spec.is_empty() => {
            crate::image::config::resolve_user(spec, &image.layers)
                .with_context(|| format!("the image's User {spec}"))
        }
        _ => Ok((0, 0, Vec::new())),
    }
}

/// A random number for container names, from the kernel (getrandom(2) via /dev/urandom).
fn random_u32() -> u32 {
    let mut buf = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut buf);
    }
    u32::from_ne_bytes(buf) ^ std::process::id()
}
