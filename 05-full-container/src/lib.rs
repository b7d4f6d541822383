//! # Step 05: tincan, a container runtime composed from steps 02–04
//!
//! Steps 02 to 04 each added one isolation mechanism. A real container
//! runtime is all of them, in a careful order, plus the protections that
//! turn "isolated" into "hard to escape". `tincan run` sets a container up
//! in this order (each step printed by `--explain`):
//!
//! 1. namespaces (step 02): uts, pid, mount, net, ipc, user, cgroup;
//! 2. a cgroup with limits and a device allowlist (step 03, [`config::DOCKER_DEVICES`]);
//! 3. the image as an overlay: read-only lower, per-container upper ([`overlay`]);
//! 4. `pivot_root` into it, with /proc, /sys, /dev, masked and read-only
//!    paths (step 04, [`config::DOCKER_MASKED_PATHS`]);
//! 5. capabilities reduced to Docker's default set, and `no_new_privs` ([`capabilities`]);
//! 6. a seccomp filter on the system calls themselves ([`seccomp`]);
//! 7. `execve` of the command, as the requested user.
//!
//! The same configuration ([`config::RunConfig`]) can also come from an OCI
//! bundle's `config.json` ([`oci`]), and [`lifecycle`] has the OCI verbs
//! (`create`, `start`, `kill`, `delete`, `state`) engines call.
//! [`state`] records what each container owns, so that a `kill -9`'d tincan
//! leaves nothing behind after the next command. [`container`] is where the
//! steps above happen, [`devices`] the device allowlist (cgroup v1 file or
//! cgroup v2 eBPF program), and [`escape`] the attempts that prove it all.
//!
//! ```
//! // Docker's default capabilities, minus raw sockets:
//! let caps = step05::capabilities::with_changes(&[], &["NET_RAW".into()])?;
//! assert_eq!(caps.len(), 13);
//! // A filter that refuses keyctl, ptrace, mount, unshare... compiled to BPF:
//! let filters = step05::seccomp::compile(&step05::seccomp::Profile::Default)?;
//! assert!(filters.instructions() > 40);
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod capabilities;
pub mod config;
pub mod container;
pub mod devices;
pub mod escape;
pub mod exec;
pub mod lifecycle;
pub mod namespaces;
pub mod oci;
pub mod overlay;
pub mod seccomp;
pub mod state;
pub mod syscalls;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::capabilities::ProcessCapabilities;
use crate::config::{
    RunConfig, parse_cpus, parse_env, parse_memory, parse_pids, parse_user, parse_volume,
};

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
    let rootfs = match (&flags.rootfs, &flags.image) {
        (Some(dir), _) => {
            if !dir.is_dir() {
                bail!(
                    "--rootfs {}: no such directory; pass the directory holding the container's files",
                    dir.display()
                );
            }
            dir.clone()
        }
        (None, Some(tar)) => unpack_image(tar)?,
        // Step 04's toolbox rootfs, built by `cargo xtask rootfs`.
        (None, None) => step04::rootfs::locate(None)?,
    };
    let set = capabilities::with_changes(&flags.cap_add, &flags.cap_drop)?;
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
    let limits = config::Limits {
        memory_bytes: flags.memory.as_deref().map(parse_memory).transpose()?,
        cpu_quota: flags.cpus.as_deref().map(parse_cpus).transpose()?,
        pids: flags.pids_limit.as_deref().map(parse_pids).transpose()?,
        devices: config::docker_devices(),
    };
    let mut limits = limits;
    for rule in &flags.device_cgroup_rules {
        devices::parse_allow(rule).context("--device-cgroup-rule")?;
        limits.devices.push(config::DeviceRule {
            allow: true,
            rule: rule.trim().to_string(),
        });
    }
    let mut mounts = config::standard_mounts();
    for v in &flags.volume {
        mounts.push(parse_volume(v)?);
    }
    let namespaces = config::NAMESPACE_KINDS
        .iter()
        // A user namespace only when not root: as root, tincan maps nothing
        // and keeps real uid 0 with reduced capabilities, as Docker does.
        .filter(|(kind, _)| *kind != "user" || !nix::unistd::geteuid().is_root())
        .map(|(kind, flag)| config::Namespace {
            kind,
            flag: *flag,
            path: None,
        })
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
        cgroups_path: None,
        rootfs_propagation: None,
    })
}
// ANCHOR_END: from_flags

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

/// A random number for container names, from the kernel (getrandom(2) via /dev/urandom).
fn random_u32() -> u32 {
    let mut buf = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut buf);
    }
    u32::from_ne_bytes(buf) ^ std::process::id()
}

/// `tincan spec`: write a default config.json into `dir`.
pub fn spec(dir: &Path, out: &mut dyn std::io::Write) -> Result<()> {
    let path = oci::write_default(dir)?;
    writeln!(
        out,
        "wrote {}; put the container's files in {}",
        path.display(),
        dir.join("rootfs").display()
    )?;
    Ok(())
}
