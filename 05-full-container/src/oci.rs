//! OCI bundles: the format that Docker, podman and Kubernetes hand to a
//! runtime (the OCI runtime specification, `config.md` and `config-linux.md`;
//! runc(8) and `runc spec`).
//!
//! A *bundle* is a directory with a `config.json` and a root filesystem. The
//! JSON says everything the runtime must do: which namespaces, which mounts,
//! which capabilities, which cgroup limits, which command. We read it with
//! the `oci-spec` crate and convert it into our own [`RunConfig`].
//!
//! The rule of this module: **every field is either honoured or rejected**.
//! A runtime that silently skips, say, `linux.seccomp` starts a container
//! that is less isolated than its caller believes. So each field we do not
//! implement yet fails with one line naming it, and fields that even
//! `oci-spec` does not know (a typo such as `"proces"`) are found by
//! comparing the JSON we read with the JSON the parsed spec writes back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{LinuxNamespaceType, PosixRlimitType, Spec};
use serde_json::Value;

use crate::capabilities::{self, CapabilitySet, ProcessCapabilities};
use crate::config::{self, DeviceRule, IdMap, Limits, MountSpec, Namespace, Rlimit, RunConfig};
use crate::seccomp::Profile;

/// The file name inside a bundle.
pub const CONFIG_FILE: &str = "config.json";

// ANCHOR: load
/// Read `<bundle>/config.json` and convert it, rejecting what we do not
/// support. `id` is the container id given on the command line.
pub fn load(bundle: &Path, id: &str) -> Result<RunConfig> {
    let path = bundle.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "read {}: is {} an OCI bundle? (`tincan spec` writes a config.json)",
            path.display(),
            bundle.display()
        )
    })?;
    // serde_json's error carries the position: "expected `,` or `}` at line 3 column 5".
    let raw: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: malformed JSON", path.display()))?;
    let spec: Spec = serde_json::from_value(raw.clone())
        .or_else(|_| serde_json::from_str(&text)) // re-parse from text so the error has a position
        .with_context(|| format!("{}: not a valid OCI runtime config", path.display()))?;
    reject_unknown_fields(&raw, &spec).with_context(|| path.display().to_string())?;
    convert(&spec, bundle, id).with_context(|| path.display().to_string())
}
// ANCHOR_END: load

/// The default `config.json` that `tincan spec` writes, like `runc spec`: a
/// shell in `./rootfs`, with the usual namespaces, mounts, masked paths and
/// runc's three capabilities.
pub fn default_spec() -> Spec {
    let mut spec = Spec::default();
    spec.set_hostname(Some("tincan".into()));
    // tincan does not mount cgroupfs inside containers yet (see `convert`).
    let mounts = spec.mounts().clone().unwrap_or_default();
    spec.set_mounts(Some(
        mounts
            .into_iter()
            .filter(|m| m.typ().as_deref() != Some("cgroup"))
            .collect(),
    ));
    spec
}

/// `tincan spec`: write the default `config.json` into `dir`, refusing to
/// overwrite one that exists.
pub fn write_default(dir: &Path) -> Result<PathBuf> {
    let path = dir.join(CONFIG_FILE);
    let json =
        serde_json::to_string_pretty(&default_spec()).context("serialize the default spec")?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| match path.exists() {
            true => format!("{} exists; remove it first", path.display()),
            false => format!("create {}", path.display()),
        })?;
    std::io::Write::write_all(&mut file, format!("{json}\n").as_bytes())
        .with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

/// Fail on the first JSON field that the parsed [`Spec`] does not contain:
/// a field `oci-spec` does not model (a typo, or a newer spec version).
fn reject_unknown_fields(raw: &Value, spec: &Spec) -> Result<()> {
    let parsed = serde_json::to_value(spec).context("serialize the parsed spec")?;
    if let Some(field) = first_unknown(raw, &parsed, "") {
        bail!("unknown field {field:?}: tincan does not know it (a typo?), and will not ignore it");
    }
    for deprecated in ["uidMappings", "gidMappings"] {
        if raw.get(deprecated).is_some() {
            bail!("{deprecated:?} belongs under \"linux\", not at the top level");
        }
    }
    Ok(())
}

fn first_unknown(raw: &Value, parsed: &Value, at: &str) -> Option<String> {
    match (raw, parsed) {
        (Value::Object(r), Value::Object(p)) => r.iter().find_map(|(k, v)| {
            let here = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            match p.get(k) {
                None if v.is_null() => None,
                None => Some(here),
                Some(pv) => first_unknown(v, pv, &here),
            }
        }),
        (Value::Array(r), Value::Array(p)) => r
            .iter()
            .zip(p)
            .enumerate()
            .find_map(|(i, (rv, pv))| first_unknown(rv, pv, &format!("{at}[{i}]"))),
        _ => None,
    }
}

/// One line naming an unsupported field.
fn unsupported(field: &str, what_to_do: &str) -> anyhow::Error {
    anyhow::anyhow!("{field} is not supported by tincan yet; {what_to_do}")
}

macro_rules! reject_if_some {
    ($value:expr, $field:literal) => {
        if $value.is_some() {
            return Err(unsupported(
                $field,
                concat!("remove ", $field, " from config.json"),
            ));
        }
    };
}

// ANCHOR: convert
/// Convert a parsed spec into our configuration, field by field.
pub fn convert(spec: &Spec, bundle: &Path, id: &str) -> Result<RunConfig> {
    config::validate_id(id)?;
    if !spec.version().starts_with("1.") {
        bail!("ociVersion {:?} is not a 1.x runtime spec", spec.version());
    }
    reject_if_some!(spec.domainname(), "domainname");
    reject_if_some!(spec.hooks(), "hooks");
    reject_if_some!(spec.solaris(), "solaris");
    reject_if_some!(spec.windows(), "windows");
    reject_if_some!(spec.vm(), "vm");
    reject_if_some!(spec.zos(), "zos");
    // annotations are opaque metadata for the caller (the spec says a runtime
    // may ignore them), so they are accepted.

    let root = spec
        .root()
        .as_ref()
        .context("root: missing; set root.path to the rootfs directory")?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    if !rootfs.is_dir() {
        bail!("root.path {} is not a directory", rootfs.display());
    }

    let process = spec
        .process()
        .as_ref()
        .context("process: missing; tincan run needs a process to start")?;
    if process.terminal().unwrap_or(false) {
        return Err(unsupported(
            "process.terminal=true",
            "set it to false (tincan cannot allocate a pty yet)",
        ));
    }
    reject_if_some!(process.console_size(), "process.consoleSize");
    reject_if_some!(process.command_line(), "process.commandLine");
    reject_if_some!(process.apparmor_profile(), "process.apparmorProfile");
    reject_if_some!(process.selinux_label(), "process.selinuxLabel");
    reject_if_some!(process.io_priority(), "process.ioPriority");
    reject_if_some!(process.scheduler(), "process.scheduler");
    reject_if_some!(process.exec_cpu_affinity(), "process.execCPUAffinity");
    reject_if_some!(process.user().username(), "process.user.username");
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        bail!("process.args is empty; name the program to run");
    }
    if !process.cwd().is_absolute() {
        bail!("process.cwd {:?} must be an absolute path", process.cwd());
    }

    let capabilities = match process.capabilities() {
        None => ProcessCapabilities::uniform(CapabilitySet::default()),
        Some(c) => ProcessCapabilities {
            bounding: cap_set(c.bounding(), "bounding")?,
            effective: cap_set(c.effective(), "effective")?,
            permitted: cap_set(c.permitted(), "permitted")?,
            inheritable: cap_set(c.inheritable(), "inheritable")?,
            ambient: cap_set(c.ambient(), "ambient")?,
        },
    };
    capabilities.validate().context("process.capabilities")?;

    let rlimits = process
        .rlimits()
        .iter()
        .flatten()
        .map(|r| {
            let (resource, name) = rlimit_resource(r.typ());
            if r.soft() > r.hard() {
                bail!(
                    "process.rlimits {name}: soft limit {} is above hard limit {}",
                    r.soft(),
                    r.hard()
                );
            }
            Ok(Rlimit {
                resource,
                name,
                soft: r.soft(),
                hard: r.hard(),
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let mounts = spec
        .mounts()
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, m)| {
            if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
                return Err(unsupported(
                    &format!("mounts[{i}].uidMappings (idmapped mounts)"),
                    "remove them",
                ));
            }
            if !m.destination().is_absolute() {
                bail!(
                    "mounts[{i}].destination {:?} must be absolute",
                    m.destination()
                );
            }
            let options = m.options().clone().unwrap_or_default();
            let is_bind = options.iter().any(|o| o == "bind" || o == "rbind");
            let typ = m.typ().clone().unwrap_or_else(|| {
                if is_bind {
                    "bind".into()
                } else {
                    String::new()
                }
            });
            if typ.is_empty() {
                bail!(
                    "mounts[{i}] ({}) has no type and is not a bind mount",
                    m.destination().display()
                );
            }
            let source = m
                .source()
                .as_ref()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| typ.clone());
            Ok(MountSpec {
                destination: m.destination().clone(),
                typ,
                source,
                options,
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let linux = spec.linux().clone().unwrap_or_default();
    reject_if_some!(linux.net_devices(), "linux.netDevices");
    // Without linux.seccomp the spec says: no filter. With one, every
    // feature it uses is honoured or rejected here, before anything exists.
    let seccomp = match linux.seccomp() {
        None => Profile::Unconfined,
        Some(profile) => {
            crate::seccomp::validate_oci(profile)?;
            Profile::Oci(Box::new(profile.clone()))
        }
    };
    reject_if_some!(linux.mount_label(), "linux.mountLabel");
    reject_if_some!(linux.intel_rdt(), "linux.intelRdt");
    reject_if_some!(linux.memory_policy(), "linux.memoryPolicy");
    reject_if_some!(linux.personality(), "linux.personality");
    reject_if_some!(linux.time_offsets(), "linux.timeOffsets");
    if linux.devices().as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(unsupported(
            "linux.devices",
            "remove it; tincan creates the standard /dev nodes itself",
        ));
    }
    if let Some(p) = linux.rootfs_propagation() {
        // tincan always makes the container's mounts rprivate.
        if !["private", "rprivate"].contains(&p.as_str()) {
            return Err(unsupported(
                &format!("linux.rootfsPropagation {p:?}"),
                "use rprivate",
            ));
        }
    }

    let mut namespaces = Vec::new();
    for ns in linux.namespaces().iter().flatten() {
        let kind = match ns.typ() {
            LinuxNamespaceType::Time => {
                return Err(unsupported("linux.namespaces type \"time\"", "remove it"));
            }
            LinuxNamespaceType::Mount => "mnt",
            LinuxNamespaceType::Cgroup => "cgroup",
            LinuxNamespaceType::Uts => "uts",
            LinuxNamespaceType::Ipc => "ipc",
            LinuxNamespaceType::User => "user",
            LinuxNamespaceType::Pid => "pid",
            LinuxNamespaceType::Network => "net",
        };
        if namespaces.iter().any(|n: &Namespace| n.kind == kind) {
            bail!("linux.namespaces lists {kind} twice");
        }
        // ANCHOR: join_by_path
        if let Some(path) = ns.path() {
            match kind {
                "mnt" => {
                    return Err(unsupported(
                        &format!("linux.namespaces mnt with a path ({})", path.display()),
                        "remove the path: tincan pivots into the rootfs inside its mount \
                         namespace, which would change a joined one for every process in it",
                    ));
                }
                "user" => {
                    return Err(unsupported(
                        &format!("linux.namespaces user with a path ({})", path.display()),
                        "remove the path and give linux.uidMappings/gidMappings: the \
                         namespaces tincan creates would belong to the host's user namespace",
                    ));
                }
                _ => {}
            }
            // The kernel says what the file is: one line if it is not a
            // namespace of this kind (see crate::namespaces).
            crate::namespaces::open_checked(kind, ns.typ() as libc::c_int, path)?;
        }
        // ANCHOR_END: join_by_path
        namespaces.push(Namespace {
            kind,
            flag: ns.typ() as libc::c_int,
            path: ns.path().clone(),
        });
    }
    let has = |kind: &str| {
        namespaces
            .iter()
            .any(|n| n.kind == kind && n.path.is_none())
    };
    if spec.hostname().is_some() && !has("uts") {
        bail!(
            "hostname is set but linux.namespaces has no new uts namespace: it would rename the host"
        );
    }
    let id_maps = |maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| -> Vec<IdMap> {
        maps.iter()
            .flatten()
            .map(|m| IdMap {
                container: m.container_id(),
                host: m.host_id(),
                size: m.size(),
            })
            .collect()
    };
    let uid_mappings = id_maps(linux.uid_mappings());
    let gid_mappings = id_maps(linux.gid_mappings());
    // ANCHOR: user_namespace
    if (!uid_mappings.is_empty() || !gid_mappings.is_empty()) && !has("user") {
        bail!("linux.uidMappings/gidMappings need a new user namespace in linux.namespaces");
    }
    if !has("mnt") {
        bail!(
            "linux.namespaces has no new mount namespace: tincan's mounts and pivot_root would \
             change the host's; add {{\"type\": \"mount\"}}"
        );
    }
    if has("user") {
        // Every namespace clone creates with the user namespace belongs to
        // it: root inside may configure those, and nothing else. A joined
        // namespace belongs to the host's user namespace, out of its reach.
        if let Some(joined) = namespaces.iter().find(|n| n.path.is_some()) {
            bail!(
                "linux.namespaces: a new user namespace cannot join the {} namespace at {} \
                 (it belongs to the host's user namespace); remove the path or the user namespace",
                joined.kind,
                joined.path.as_deref().unwrap_or(Path::new("")).display()
            );
        }
        if nix::unistd::geteuid().is_root() {
            if uid_mappings.is_empty() || gid_mappings.is_empty() {
                bail!(
                    "linux.namespaces has a new user namespace but no linux.uidMappings and \
                     gidMappings: every id in it would be unmapped (nobody); map e.g. \
                     containerID 0 to hostID 100000, size 65536"
                );
            }
            check_id_maps("linux.uidMappings", &uid_mappings)?;
            check_id_maps("linux.gidMappings", &gid_mappings)?;
            let user = process.user();
            mapped(
                "process.user.uid",
                user.uid(),
                "linux.uidMappings",
                &uid_mappings,
            )?;
            mapped(
                "process.user.gid",
                user.gid(),
                "linux.gidMappings",
                &gid_mappings,
            )?;
            for gid in user.additional_gids().iter().flatten() {
                mapped(
                    "process.user.additionalGids",
                    *gid,
                    "linux.gidMappings",
                    &gid_mappings,
                )?;
            }
        } else if !uid_mappings.is_empty() || !gid_mappings.is_empty() {
            bail!(
                "linux.uidMappings/gidMappings need root (rootless, tincan maps only your own \
                 uid, as 0); remove them or run as root"
            );
        }
    }
    // ANCHOR_END: user_namespace
    // ANCHOR: cgroups_path
    // The engine decides where its containers' cgroups live (podman:
    // /libpod_parent/libpod-<id>); we create exactly that, and only that.
    if let Some(path) = linux.cgroups_path() {
        let text = path.to_string_lossy();
        if text.contains(':') {
            bail!(
                "linux.cgroupsPath {text:?} is in systemd's slice:prefix:name form, which tincan \
                 does not support; use a path (podman: --cgroup-manager cgroupfs)"
            );
        }
        if !path.is_absolute() {
            bail!("linux.cgroupsPath {text:?} must be an absolute path such as /mygroup/{id}");
        }
        let plain = path.components().skip(1).all(|c| {
            matches!(c, std::path::Component::Normal(n)
                if !n.is_empty() && n.to_string_lossy().chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        });
        if !plain || path.components().count() < 2 {
            bail!(
                "linux.cgroupsPath {text:?} must be /-separated names of letters, digits, '-' or '_'"
            );
        }
    }
    // ANCHOR_END: cgroups_path

    let mut sysctl = BTreeMap::new();
    for (key, value) in linux.sysctl().iter().flatten() {
        let needs = if key.starts_with("net.") {
            "net"
        } else if key.starts_with("fs.mqueue.")
            || [
                "kernel.msgmax",
                "kernel.msgmnb",
                "kernel.msgmni",
                "kernel.sem",
                "kernel.shmall",
                "kernel.shmmax",
                "kernel.shmmni",
                "kernel.shm_rmid_forced",
            ]
            .contains(&key.as_str())
        {
            "ipc"
        } else {
            bail!(
                "linux.sysctl {key:?} is not namespaced: setting it in a container would change the host"
            );
        };
        if !has(needs) {
            bail!("linux.sysctl {key:?} needs a new {needs} namespace in linux.namespaces");
        }
        sysctl.insert(key.clone(), value.clone());
    }

    Ok(RunConfig {
        id: id.to_string(),
        rootfs,
        overlay: false,
        readonly_rootfs: root.readonly().unwrap_or(false),
        args,
        env: process.env().clone().unwrap_or_default(),
        cwd: process.cwd().clone(),
        uid: process.user().uid(),
        gid: process.user().gid(),
        additional_gids: process.user().additional_gids().clone().unwrap_or_default(),
        umask: process.user().umask(),
        hostname: spec.hostname().clone(),
        namespaces,
        uid_mappings,
        gid_mappings,
        mounts,
        masked_paths: linux
            .masked_paths()
            .iter()
            .flatten()
            .map(PathBuf::from)
            .collect(),
        readonly_paths: linux
            .readonly_paths()
            .iter()
            .flatten()
            .map(PathBuf::from)
            .collect(),
        capabilities,
        no_new_privileges: process.no_new_privileges().unwrap_or(false),
        seccomp,
        rlimits,
        oom_score_adj: process.oom_score_adj(),
        sysctl,
        limits: limits(&linux)?,
        cgroups_path: linux.cgroups_path().clone(),
        rootfs_propagation: linux.rootfs_propagation().clone(),
    })
}
// ANCHOR_END: convert

/// Each mapping maps at least one id and stays within 32 bits, and no two
/// overlap inside the container (user_namespaces(7) refuses both).
fn check_id_maps(field: &str, maps: &[IdMap]) -> Result<()> {
    if maps.len() > 340 {
        bail!(
            "{field}: {} lines, the kernel takes at most 340",
            maps.len()
        );
    }
    for (i, m) in maps.iter().enumerate() {
        let end = |start: u32| u64::from(start) + u64::from(m.size);
        if m.size == 0 || end(m.container) > 1 << 32 || end(m.host) > 1 << 32 {
            bail!(
                "{field}[{i}]: containerID {} hostID {} size {} is empty or goes past 2^32",
                m.container,
                m.host,
                m.size
            );
        }
        if let Some(j) = maps[..i].iter().position(|o| {
            u64::from(o.container) < end(m.container)
                && u64::from(m.container) < u64::from(o.container) + u64::from(o.size)
        }) {
            bail!("{field}[{i}] overlaps {field}[{j}] inside the container");
        }
    }
    Ok(())
}

/// `id` must be inside one of `maps`, or the process could not become it.
fn mapped(what: &str, id: u32, field: &str, maps: &[IdMap]) -> Result<()> {
    if maps.iter().any(|m| {
        u64::from(id) >= u64::from(m.container)
            && u64::from(id) < u64::from(m.container) + u64::from(m.size)
    }) {
        return Ok(());
    }
    bail!("{what} {id} is not mapped by {field}; add a mapping that covers it")
}

fn cap_set(set: &Option<oci_spec::runtime::Capabilities>, which: &str) -> Result<CapabilitySet> {
    let mut out = CapabilitySet::default();
    for cap in set.iter().flatten() {
        let name = cap.to_string();
        out.insert(
            capabilities::parse_name(&name)
                .with_context(|| format!("process.capabilities.{which}"))?,
        );
    }
    Ok(out)
}

fn rlimit_resource(typ: PosixRlimitType) -> (libc::c_int, &'static str) {
    use PosixRlimitType::*;
    let (r, name) = match typ {
        RlimitCpu => (libc::RLIMIT_CPU, "RLIMIT_CPU"),
        RlimitFsize => (libc::RLIMIT_FSIZE, "RLIMIT_FSIZE"),
        RlimitData => (libc::RLIMIT_DATA, "RLIMIT_DATA"),
        RlimitStack => (libc::RLIMIT_STACK, "RLIMIT_STACK"),
        RlimitCore => (libc::RLIMIT_CORE, "RLIMIT_CORE"),
        RlimitRss => (libc::RLIMIT_RSS, "RLIMIT_RSS"),
        RlimitNproc => (libc::RLIMIT_NPROC, "RLIMIT_NPROC"),
        RlimitNofile => (libc::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
        RlimitMemlock => (libc::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
        RlimitAs => (libc::RLIMIT_AS, "RLIMIT_AS"),
        RlimitLocks => (libc::RLIMIT_LOCKS, "RLIMIT_LOCKS"),
        RlimitSigpending => (libc::RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
        RlimitMsgqueue => (libc::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
        RlimitNice => (libc::RLIMIT_NICE, "RLIMIT_NICE"),
        RlimitRtprio => (libc::RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
        RlimitRttime => (libc::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
    };
    (r as libc::c_int, name)
}

/// `linux.resources`: memory limit, CPU quota/period, pids, device rules.
fn limits(linux: &oci_spec::runtime::Linux) -> Result<Limits> {
    // Device rules as runc orders them: deny everything, the bundle's
    // rules, then the devices every container needs (/dev/null, /dev/tty...),
    // so that podman's leading "deny all" does not take those away.
    let docker = config::docker_devices();
    let (deny_all, standard) = docker.split_at(1);
    let mut limits = Limits {
        devices: deny_all.to_vec(),
        ..Limits::default()
    };
    let Some(res) = linux.resources() else {
        limits.devices.extend_from_slice(standard);
        return Ok(limits);
    };
    reject_if_some!(res.block_io(), "linux.resources.blockIO");
    reject_if_some!(res.hugepage_limits(), "linux.resources.hugepageLimits");
    reject_if_some!(res.network(), "linux.resources.network");
    reject_if_some!(res.rdma(), "linux.resources.rdma");
    reject_if_some!(res.unified(), "linux.resources.unified");
    if let Some(m) = res.memory() {
        reject_if_some!(m.reservation(), "linux.resources.memory.reservation");
        reject_if_some!(m.swap(), "linux.resources.memory.swap");
        reject_if_some!(m.kernel(), "linux.resources.memory.kernel");
        reject_if_some!(m.kernel_tcp(), "linux.resources.memory.kernelTCP");
        reject_if_some!(m.swappiness(), "linux.resources.memory.swappiness");
        reject_if_some!(
            m.disable_oom_killer(),
            "linux.resources.memory.disableOOMKiller"
        );
        reject_if_some!(m.use_hierarchy(), "linux.resources.memory.useHierarchy");
        reject_if_some!(
            m.check_before_update(),
            "linux.resources.memory.checkBeforeUpdate"
        );
        if let Some(limit) = m.limit() {
            let bytes = u64::try_from(limit)
                .ok()
                .filter(|b| *b >= 6 << 20)
                .with_context(|| {
                    format!("linux.resources.memory.limit {limit} must be at least 6 MiB")
                })?;
            limits.memory_bytes = Some(bytes);
        }
    }
    if let Some(c) = res.cpu() {
        reject_if_some!(c.shares(), "linux.resources.cpu.shares");
        reject_if_some!(c.idle(), "linux.resources.cpu.idle");
        reject_if_some!(c.burst(), "linux.resources.cpu.burst");
        reject_if_some!(c.realtime_runtime(), "linux.resources.cpu.realtimeRuntime");
        reject_if_some!(c.realtime_period(), "linux.resources.cpu.realtimePeriod");
        reject_if_some!(c.cpus(), "linux.resources.cpu.cpus");
        reject_if_some!(c.mems(), "linux.resources.cpu.mems");
        match (c.quota(), c.period()) {
            (Some(q), p) if q > 0 => limits.cpu_quota = Some((q, p.unwrap_or(100_000))),
            (Some(_), _) | (None, None) => {} // quota <= 0 means "no limit"
            (None, Some(_)) => {
                bail!("linux.resources.cpu.period without a quota limits nothing; add quota")
            }
        }
    }
    if let Some(p) = res.pids() {
        if p.limit() > 0 {
            limits.pids = Some(p.limit());
        }
    }
    for (i, d) in res.devices().iter().flatten().enumerate() {
        let typ = d.typ().map_or("a".to_string(), |t| t.as_str().to_string());
        let typ = typ.as_str();
        if !["a", "b", "c"].contains(&typ) {
            bail!("linux.resources.devices[{i}].type {typ:?} must be a, b or c");
        }
        let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
        let access = d.access().clone().unwrap_or_else(|| "rwm".into());
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
            bail!("linux.resources.devices[{i}].access {access:?} must be letters from \"rwm\"");
        }
        let rule = format!("{typ} {}:{} {access}", num(d.major()), num(d.minor()));
        limits.devices.push(DeviceRule {
            allow: d.allow(),
            rule,
        });
    }
    limits.devices.extend_from_slice(standard);
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(json: &str) -> (tempdir::Dir, Result<RunConfig>) {
        let dir = tempdir::Dir::new();
        std::fs::create_dir(dir.path().join("rootfs")).expect("mkdir rootfs");
        std::fs::write(dir.path().join(CONFIG_FILE), json).expect("write config");
        let result = load(dir.path(), "tincan-test");
        (dir, result)
    }

    fn default_json() -> Value {
        serde_json::to_value(default_spec()).expect("serialize")
    }

    /// A tiny self-removing temp dir, to avoid a dependency for one test helper.
    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p = std::env::temp_dir().join(format!("tincan-oci-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&p).expect("mkdir temp");
                Dir(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn default_spec_round_trips_into_a_run_config() {
        let (_dir, result) = bundle_with(&default_json().to_string());
        let config = result.expect("the default spec is supported");
        assert_eq!(config.args, ["sh"]);
        assert_eq!(config.hostname.as_deref(), Some("tincan"));
        assert!(config.namespaces.iter().any(|n| n.kind == "pid"));
        assert!(config.no_new_privileges);
        assert_eq!(
            capabilities::names(&config.capabilities.bounding),
            "KILL,NET_BIND_SERVICE,AUDIT_WRITE"
        );
    }

    #[test]
    fn malformed_json_names_file_and_position() {
        let (_dir, result) = bundle_with("{\n  \"ociVersion\": \"1.0.2\",\n  \"process\" {}\n}");
        let err = format!("{:#}", result.expect_err("malformed"));
        assert!(err.contains("config.json: malformed JSON"), "{err}");
        assert!(err.contains("line 3 column"), "{err}");
    }

    #[test]
    fn unknown_field_is_rejected_by_name() {
        let mut json = default_json();
        json["process"]["proces_typo"] = Value::Bool(true);
        let (_dir, result) = bundle_with(&json.to_string());
        let err = format!("{:#}", result.expect_err("unknown field"));
        assert!(err.contains("\"process.proces_typo\""), "{err}");
    }

    #[test]
    fn unsupported_fields_are_rejected_never_ignored() {
        let cases: &[(&str, Value)] = &[
            ("/process/terminal", Value::Bool(true)),
            (
                "/linux/seccomp",
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/agent.sock"}),
            ),
            ("/hooks", serde_json::json!({"prestart": []})),
            (
                "/linux/resources/blockIO",
                serde_json::json!({"weight": 10}),
            ),
            ("/domainname", Value::String("x".into())),
        ];
        for (pointer, value) in cases {
            let mut json = default_json();
            let (parent, key) = pointer.rsplit_once('/').expect("pointer");
            let target = if parent.is_empty() {
                &mut json
            } else {
                json.pointer_mut(parent).expect(parent)
            };
            target[key] = value.clone();
            let (_dir, result) = bundle_with(&json.to_string());
            let err = format!("{:#}", result.expect_err(pointer));
            let field = pointer.trim_start_matches('/').replace('/', ".");
            assert!(err.contains(&field), "{pointer}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }

    #[test]
    fn resources_become_limits() {
        let mut json = default_json();
        json["linux"]["resources"] = serde_json::json!({
            "memory": {"limit": 67108864},
            "cpu": {"quota": 50000, "period": 100000},
            "pids": {"limit": 64},
            "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]
        });
        let (_dir, result) = bundle_with(&json.to_string());
        let limits = result.expect("supported").limits;
        assert_eq!(limits.memory_bytes, Some(64 << 20));
        assert_eq!(limits.cpu_quota, Some((50_000, 100_000)));
        assert_eq!(limits.pids, Some(64));
        assert_eq!(limits.devices[0].rule, "a *:* rwm", "deny all first");
        assert!(
            limits
                .devices
                .iter()
                .any(|d| d.allow && d.rule == "c 1:3 rw"),
            "{:?}",
            limits.devices
        );
        assert_eq!(
            limits.devices.last(),
            config::docker_devices().last(),
            "the standard devices last"
        );
    }

    #[test]
    fn host_wide_sysctl_is_refused() {
        let mut json = default_json();
        json["linux"]["sysctl"] = serde_json::json!({"kernel.panic": "1"});
        let (_dir, result) = bundle_with(&json.to_string());
        let err = format!("{:#}", result.expect_err("not namespaced"));
        assert!(
            err.contains("kernel.panic") && err.contains("not namespaced"),
            "{err}"
        );
    }

    #[test]
    fn missing_rootfs_is_one_line() {
        let mut json = default_json();
        json["root"]["path"] = Value::String("no-such-rootfs".into());
        let (_dir, result) = bundle_with(&json.to_string());
        let err = format!("{:#}", result.expect_err("missing rootfs"));
        assert!(
            err.contains("no-such-rootfs") && err.contains("not a directory"),
            "{err}"
        );
    }

    #[test]
    fn write_default_refuses_to_overwrite() {
        let dir = tempdir::Dir::new();
        let path = write_default(dir.path()).expect("first write");
        assert!(path.exists());
        let err = write_default(dir.path()).expect_err("exists");
        assert!(
            format!("{err:#}").contains("exists; remove it first"),
            "{err:#}"
        );
    }
}
