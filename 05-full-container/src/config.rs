//! What to run and how: the one description of a container that both
//! front doors produce — `tincan run` flags (for people) and an OCI bundle's
//! `config.json` (for machines, see [`crate::oci`]) — and that the set-up
//! code reads. Also the parsers for the human flags (`--memory 64m`,
//! `--cpus 0.5`, `--user 1000:1000`, `--volume /src:/dst:ro`).
//!
//! Parsing everything *before* creating anything is what makes bad input
//! cheap: a typo fails with one line and leaves nothing behind to clean up.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

pub use step02::userns::IdMap;
pub use step03::devices::DeviceRule;
pub use step03::limits::Limits;
pub use step04::mounts::DeviceNode;

use crate::capabilities::ProcessCapabilities;
use crate::seccomp::Profile;

/// One namespace the container gets (namespaces(7)): a new one, or an
/// existing one joined by path (step 02's [`step02::join`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Which kind.
    pub kind: step02::Namespace,
    /// Join this existing namespace (setns(2)) instead of creating one.
    pub path: Option<PathBuf>,
}

impl Namespace {
    /// A new namespace of this kind.
    pub fn new(kind: step02::Namespace) -> Namespace {
        Namespace { kind, path: None }
    }
}

/// One mount to make inside the container (mount(8) vocabulary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Where, inside the container.
    pub destination: PathBuf,
    /// Filesystem type (`proc`, `tmpfs`, `bind`...).
    pub typ: String,
    /// Source (a host path for bind mounts, a label otherwise).
    pub source: String,
    /// Options: flags (`ro`, `nosuid`, `rbind`) and data (`mode=755`).
    pub options: Vec<String>,
}

/// A resource limit (setrlimit(2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// `libc::RLIMIT_*`.
    pub resource: libc::c_int,
    /// Its name, for messages.
    pub name: &'static str,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// Everything tincan needs to start one container.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// Container id (`tincan-<random>` when not given).
    pub id: String,
    /// The root filesystem: an image directory (a layered image's topmost layer).
    pub rootfs: PathBuf,
    /// A layered image's read-only layers, topmost first (overlayfs's
    /// lowerdir order); empty when `rootfs` alone is the image.
    pub layers: Vec<PathBuf>,
    /// Put a writable overlay (upper + work dir) on top of `rootfs` (the
    /// `tincan run` default), or use `rootfs` itself (OCI bundles).
    pub overlay: bool,
    /// Remount `/` read-only.
    pub readonly_rootfs: bool,
    /// The command and its arguments.
    pub args: Vec<String>,
    /// `KEY=value` environment.
    pub env: Vec<String>,
    /// Working directory inside the container.
    pub cwd: PathBuf,
    /// User id, group id, supplementary groups.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// umask(2) for the process, if set.
    pub umask: Option<u32>,
    /// Hostname (UTS namespace).
    pub hostname: Option<String>,
    /// Namespaces to create or join.
    pub namespaces: Vec<Namespace>,
    /// User namespace mappings.
    pub uid_mappings: Vec<IdMap>,
    /// Group mappings.
    pub gid_mappings: Vec<IdMap>,
    /// Extra mounts, in order.
    pub mounts: Vec<MountSpec>,
    /// Paths hidden from the container (a /dev/null or empty tmpfs on top).
    pub masked_paths: Vec<PathBuf>,
    /// Paths remounted read-only.
    pub readonly_paths: Vec<PathBuf>,
    /// The five capability sets.
    pub capabilities: ProcessCapabilities,
    /// prctl(PR_SET_NO_NEW_PRIVS).
    pub no_new_privileges: bool,
    /// The seccomp filter.
    pub seccomp: Profile,
    /// Resource limits.
    pub rlimits: Vec<Rlimit>,
    /// /proc/self/oom_score_adj.
    pub oom_score_adj: Option<i32>,
    /// Namespaced sysctls to set inside (`net.ipv4.ip_forward` = `1`).
    pub sysctl: BTreeMap<String, String>,
    /// cgroup limits (step 03).
    pub limits: Limits,
    /// The device allowlist, applied in order after denying everything.
    pub devices: Vec<DeviceRule>,
    /// Device nodes made in /dev after the standard ones (OCI `linux.devices`).
    pub device_nodes: Vec<DeviceNode>,
    /// Cgroup path relative to each hierarchy's root (`/tincan/<id>` by default).
    pub cgroups_path: Option<PathBuf>,
    /// Mount propagation of the root (`rprivate` by default).
    pub rootfs_propagation: Option<String>,
    /// `--no-pivot`: enter the root with a move and chroot(2) instead of
    /// pivot_root(2), for a host whose `/` is the initramfs.
    pub no_pivot: bool,
    /// The bundle's hooks ([`crate::hooks`]).
    pub hooks: crate::hooks::Hooks,
    /// The bundle's annotations: opaque to tincan, shown in its state.
    pub annotations: BTreeMap<String, String>,
    /// `--net`, `--subnet`, `--publish` (bundles: none, the engine's job).
    pub net: crate::net::NetConfig,
    /// A new terminal as stdio (`process.terminal`, `run -t`).
    pub terminal: Option<crate::terminal::Terminal>,
}

impl RunConfig {
    /// The overlay's lower directories, topmost first.
    pub fn lowers(&self) -> Vec<PathBuf> {
        if self.layers.is_empty() {
            vec![self.rootfs.clone()]
        } else {
            self.layers.clone()
        }
    }
}

// ANCHOR: docker_paths
/// Paths Docker hides from containers: they leak host information (kcore is
/// the host's memory, keys the kernel keyrings, timer_list other processes'
/// timers) or control the host's firmware.
pub const DOCKER_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only: writing them would change the host's kernel
/// (`/proc/sys` is mostly not namespaced; `sysrq-trigger` can crash or
/// reboot the machine).
pub const DOCKER_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's device allowlist (cgroup v1 `devices.allow` lines), applied after
/// `a *:* rwm` is denied: the character devices every program expects, and
/// no block device at all (a container that could open `/dev/sda` could read
/// the host's disk).
pub const DOCKER_DEVICES: &[&str] = &[
    "c *:* m",     // mknod of any char device (opening is what counts)
    "b *:* m",     // mknod of any block device
    "c 1:3 rwm",   // /dev/null
    "c 1:5 rwm",   // /dev/zero
    "c 1:7 rwm",   // /dev/full
    "c 1:8 rwm",   // /dev/random
    "c 1:9 rwm",   // /dev/urandom
    "c 5:0 rwm",   // /dev/tty
    "c 5:1 rwm",   // /dev/console
    "c 5:2 rwm",   // /dev/ptmx
    "c 136:* rwm", // /dev/pts/*
];
// ANCHOR_END: docker_paths

/// The mounts every container gets before its volumes, as Docker and
/// `runc spec` list them: (destination, type, options).
pub const STANDARD_MOUNTS: &[(&str, &str, &str)] = &[
    ("/proc", "proc", "nosuid,noexec,nodev"),
    ("/dev", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"),
    (
        "/dev/pts",
        "devpts",
        "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620",
    ),
    (
        "/dev/shm",
        "tmpfs",
        "nosuid,noexec,nodev,mode=1777,size=65536k",
    ),
    ("/dev/mqueue", "mqueue", "nosuid,noexec,nodev"),
    ("/sys", "sysfs", "nosuid,noexec,nodev,ro"),
    // The container's own cgroup, read-only (step 04's `own_cgroups`).
    (
        "/sys/fs/cgroup",
        "cgroup",
        "nosuid,noexec,nodev,relatime,ro",
    ),
    ("/tmp", "tmpfs", "nosuid,nodev,mode=1777"),
];

/// [`STANDARD_MOUNTS`] as [`MountSpec`]s.
pub fn standard_mounts() -> Vec<MountSpec> {
    STANDARD_MOUNTS
        .iter()
        .map(|(dest, typ, options)| MountSpec {
            destination: (*dest).into(),
            typ: (*typ).into(),
            source: (*typ).into(),
            options: options.split(',').map(String::from).collect(),
        })
        .collect()
}

/// Docker's device rules as [`DeviceRule`]s: deny all, then the allowlist.
pub fn docker_devices() -> Vec<DeviceRule> {
    let mut rules = vec![DeviceRule {
        allow: false,
        rule: "a *:* rwm".into(),
    }];
    rules.extend(DOCKER_DEVICES.iter().map(|r| DeviceRule {
        allow: true,
        rule: (*r).into(),
    }));
    rules
}

/// Parse a numeric `--user UID[:GID]`. Without a GID the group is 0, as
/// Docker does for a numeric user that the image's /etc/passwd does not
/// know; names go through the image's own files
/// ([`crate::image::config::resolve_user`]).
pub fn parse_user(text: &str) -> Result<(u32, u32)> {
    let bad = || {
        anyhow::anyhow!(
            "invalid --user {text:?}; use numeric UID or UID:GID, e.g. --user 1000:1000"
        )
    };
    let (uid, gid) = match text.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (text, None),
    };
    let uid: u32 = uid.parse().map_err(|_| bad())?;
    let gid: u32 = match gid {
        Some(g) => g.parse().map_err(|_| bad())?,
        None => 0,
    };
    Ok((uid, gid))
}

/// Parse `--volume HOST:CONTAINER[:ro]` into a bind mount.
pub fn parse_volume(text: &str) -> Result<MountSpec> {
    let bad = |why: &str| {
        anyhow::anyhow!(
            "invalid --volume {text:?}: {why}; use HOST_DIR:CONTAINER_DIR[:ro], both absolute"
        )
    };
    let parts: Vec<&str> = text.split(':').collect();
    let (host, container, ro) = match parts.as_slice() {
        [h, c] => (*h, *c, false),
        [h, c, "ro"] => (*h, *c, true),
        [h, c, "rw"] => (*h, *c, false),
        [_, _, other] => return Err(bad(&format!("unknown option {other:?}"))),
        _ => return Err(bad("expected two or three ':'-separated parts")),
    };
    if !host.starts_with('/') || !container.starts_with('/') {
        return Err(bad("paths must be absolute"));
    }
    let host_path = std::fs::canonicalize(host)
        .with_context(|| format!("--volume {text:?}: host path {host} does not exist"))?;
    let mut options = vec!["rbind".to_string(), "nosuid".into(), "nodev".into()];
    if ro {
        options.push("ro".into());
    }
    Ok(MountSpec {
        destination: container.into(),
        typ: "bind".into(),
        source: host_path.to_string_lossy().into_owned(),
        options,
    })
}

/// Parse `--env KEY=value` (a bare `KEY` takes tincan's own value, as in Docker).
pub fn parse_env(text: &str) -> Result<String> {
    match text.split_once('=') {
        Some((k, _)) if !k.is_empty() => Ok(text.to_string()),
        Some(_) => {
            bail!("invalid --env {text:?}: the name before '=' is empty; use --env KEY=value")
        }
        None if text.is_empty() => bail!("invalid --env \"\"; use --env KEY=value"),
        None => Ok(format!(
            "{text}={}",
            std::env::var(text).unwrap_or_default()
        )),
    }
}

/// Validate a container id: it names directories and cgroups, so keep it
/// to letters, digits, `_` and `-`.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c));
    if !ok {
        bail!("invalid container id {id:?}; use 1 to 64 letters, digits, '_' or '-'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_user_and_volume_and_env() {
        assert_eq!(parse_user("1000:100").expect("valid"), (1000, 100));
        assert_eq!(parse_user("1000").expect("valid"), (1000, 0));
        assert!(parse_user("nobody").is_err());
        let v = parse_volume("/tmp:/data:ro").expect("valid");
        assert_eq!(v.destination, PathBuf::from("/data"));
        assert!(v.options.contains(&"ro".to_string()));
        assert!(parse_volume("tmp:/data").is_err());
        assert!(parse_volume("/tmp:/data:rx").is_err());
        assert!(parse_volume("/no/such/dir/tincan:/data").is_err());
        assert_eq!(parse_env("A=b=c").expect("valid"), "A=b=c");
        assert!(parse_env("=x").is_err());
    }

    #[test]
    fn validate_id_refuses_paths() {
        assert!(validate_id("tincan-1").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }
}
