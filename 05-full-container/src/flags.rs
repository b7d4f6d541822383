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

/// The flags of `tincan run`, as plain strings, before validation.
#[derive(Debug, Default, Clone)]
pub struct RunFlags {
    /// `--rootfs DIR`.
    pub rootfs: Option<PathBuf>,
    /// `--image TAR`.
    pub image: Option<PathBuf>,
    /// `--name`.
    pub name: Option<String>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `--memory`.
    pub memory: Option<String>,
    /// `--cpus`.
    pub cpus: Option<String>,
    /// `--pids-limit`.
    pub pids_limit: Option<String>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--env`.
    pub env: Vec<String>,
    /// `--workdir`.
    pub workdir: Option<PathBuf>,
    /// `--user`.
    pub user: Option<String>,
    /// `--volume`.
    pub volume: Vec<String>,
    /// `--seccomp`.
    pub seccomp: String,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--device-cgroup-rule`.
    pub device_cgroup_rules: Vec<String>,
    /// `--net` (default: [`crate::net::NetMode::default_for_run`]).
    pub net: Option<String>,
    /// `--subnet`.
    pub subnet: Option<String>,
    /// `--publish`.
    pub publish: Vec<String>,
    /// The command.
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
    let rootfs = rootfs(flags)?;
    let set = crate::capabilities::with_changes(&flags.cap_add, &flags.cap_drop)?;
    let capabilities = ProcessCapabilities::uniform(set);
    capabilities.validate()?;
    let (uid, gid) = flags
        .user
        .as_deref()
        .map(parse_user)
        .transpose()?
        .unwrap_or((0, 0));
    let mut env = vec![
        DEFAULT_PATH.to_string(),
        format!("HOSTNAME={}", flags.hostname.as_deref().unwrap_or(&id)),
    ];
    for e in &flags.env {
        env.push(parse_env(e)?);
    }
    let workdir = flags.workdir.clone().unwrap_or_else(|| "/".into());
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
        // `--net host`: no network namespace, the host's network.
        .filter(|n| *n != Namespace::Net || net.mode != NetMode::Host)
        .map(config::Namespace::new)
        .collect();
    let args = if flags.command.is_empty() {
        vec!["/bin/sh".to_string()]
    } else {
        flags.command.clone()
    };
    Ok(RunConfig {
        hostname: Some(flags.hostname.clone().unwrap_or_else(|| id.clone())),
        id,
        rootfs,
        overlay: true,
        readonly_rootfs: flags.read_only,
        args,
        env,
        cwd: workdir,
        uid,
        gid,
        additional_gids: Vec::new(),
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
        no_pivot: false,
        net,
    })
}
// ANCHOR_END: from_flags

/// `--rootfs DIR`, `--image TAR`, or step 04's toolbox rootfs (built by
/// `cargo xtask rootfs`).
fn rootfs(flags: &RunFlags) -> Result<PathBuf> {
    Ok(match (&flags.rootfs, &flags.image) {
        (Some(dir), _) => {
            if !dir.is_dir() {
                bail!(
                    "--rootfs {}: no such directory; pass the directory holding the container's files",
                    dir.display()
                );
            }
            dir.clone()
        }
        (None, Some(tar)) => crate::image::unpack_image(tar)?,
        (None, None) => step04::rootfs::locate(None)?,
    })
}

/// A random number for container names, from the kernel (getrandom(2) via /dev/urandom).
fn random_u32() -> u32 {
    let mut buf = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut buf);
    }
    u32::from_ne_bytes(buf) ^ std::process::id()
}
