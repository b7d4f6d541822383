//! `linux`: namespaces (new or joined), the user namespace's maps, the
//! cgroup path, sysctls, seccomp, and the fields tincan refuses.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{Linux, LinuxNamespaceType, Spec};
use step02::Namespace;

use super::process::ProcessPart;
use super::unsupported;
use crate::config::{self, IdMap};
use crate::seccomp::Profile;

/// Whether the config asks for a *new* namespace of this kind.
fn has(namespaces: &[config::Namespace], kind: Namespace) -> bool {
    namespaces
        .iter()
        .any(|n| n.kind == kind && n.path.is_none())
}

/// `linux.seccomp`. Without it the spec says: no filter. With one, every
/// feature it uses is honoured or rejected here, before anything exists.
pub(super) fn seccomp(linux: &Linux) -> Result<Profile> {
    Ok(match linux.seccomp() {
        None => Profile::Unconfined,
        Some(profile) => {
            crate::seccomp::validate_oci(profile)?;
            Profile::Oci(Box::new(profile.clone()))
        }
    })
}

/// The `linux` fields tincan does not implement.
pub(super) fn unsupported_fields(linux: &Linux) -> Result<()> {
    reject_if_some!(linux.net_devices(), "linux.netDevices");
    // An SELinux label for the mounts: meaningless where SELinux is off, so
    // ignored there (as runc does); refused where it would matter.
    if linux.mount_label().is_some() && Path::new("/sys/fs/selinux/enforce").exists() {
        return Err(unsupported(
            "linux.mountLabel (SELinux is enabled here)",
            "remove it: tincan does not label mounts",
        ));
    }
    reject_if_some!(linux.intel_rdt(), "linux.intelRdt");
    reject_if_some!(linux.memory_policy(), "linux.memoryPolicy");
    reject_if_some!(linux.personality(), "linux.personality");
    reject_if_some!(linux.time_offsets(), "linux.timeOffsets");
    if let Some(p) = linux.rootfs_propagation() {
        crate::propagation::parse_root(p)?;
    }

    Ok(())
}

/// `linux.namespaces`, each new or joined by path (opened and checked now).
pub(super) fn namespaces(linux: &Linux) -> Result<Vec<config::Namespace>> {
    let mut namespaces = Vec::new();
    for ns in linux.namespaces().iter().flatten() {
        let kind = match ns.typ() {
            LinuxNamespaceType::Time => {
                return Err(unsupported("linux.namespaces type \"time\"", "remove it"));
            }
            LinuxNamespaceType::Mount => Namespace::Mount,
            LinuxNamespaceType::Cgroup => Namespace::Cgroup,
            LinuxNamespaceType::Uts => Namespace::Uts,
            LinuxNamespaceType::Ipc => Namespace::Ipc,
            LinuxNamespaceType::User => Namespace::User,
            LinuxNamespaceType::Pid => Namespace::Pid,
            LinuxNamespaceType::Network => Namespace::Net,
        };
        let name = kind.proc_name();
        if namespaces
            .iter()
            .any(|n: &config::Namespace| n.kind == kind)
        {
            bail!("linux.namespaces lists {name} twice");
        }
        // ANCHOR: join_by_path
        if let Some(path) = ns.path() {
            match kind {
                Namespace::Mount => {
                    return Err(unsupported(
                        &format!("linux.namespaces mnt with a path ({})", path.display()),
                        "remove the path: tincan pivots into the rootfs inside its mount \
                         namespace, which would change a joined one for every process in it",
                    ));
                }
                Namespace::User => {
                    return Err(unsupported(
                        &format!("linux.namespaces user with a path ({})", path.display()),
                        "remove the path and give linux.uidMappings/gidMappings: the \
                         namespaces tincan creates would belong to the host's user namespace",
                    ));
                }
                _ => {}
            }
            // The kernel says what the file is: one line if it is not a
            // namespace of this kind (step 02's join).
            step02::join::open_checked(kind, path)
                .with_context(|| format!("linux.namespaces {name}"))?;
        }
        // ANCHOR_END: join_by_path
        namespaces.push(config::Namespace {
            kind,
            path: ns.path().clone(),
        });
    }
    if !has(&namespaces, Namespace::Mount) {
        bail!(
            "linux.namespaces has no new mount namespace: tincan's mounts and pivot_root would \
             change the host's; add {{\"type\": \"mount\"}}"
        );
    }
    Ok(namespaces)
}

/// `hostname` needs a uts namespace of the container's own.
pub(super) fn check_hostname(spec: &Spec, namespaces: &[config::Namespace]) -> Result<()> {
    // A joined uts namespace is allowed: the spec lets the container rename it.
    let uts = namespaces.iter().any(|n| n.kind == Namespace::Uts);
    if spec.hostname().is_some() && !uts {
        bail!(
            "hostname is set but linux.namespaces has no uts namespace: it would rename the host"
        );
    }
    Ok(())
}

/// `linux.uidMappings` / `gidMappings` and the new user namespace they map.
pub(super) fn user_namespace(
    linux: &Linux,
    namespaces: &[config::Namespace],
    process: &ProcessPart,
) -> Result<(Vec<IdMap>, Vec<IdMap>)> {
    let id_maps = |maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| -> Vec<IdMap> {
        maps.iter()
            .flatten()
            .map(|m| IdMap {
                inside: m.container_id(),
                outside: m.host_id(),
                count: m.size(),
            })
            .collect()
    };
    let uid_mappings = id_maps(linux.uid_mappings());
    let gid_mappings = id_maps(linux.gid_mappings());
    // ANCHOR: user_namespace
    if (!uid_mappings.is_empty() || !gid_mappings.is_empty()) && !has(namespaces, Namespace::User) {
        bail!("linux.uidMappings/gidMappings need a new user namespace in linux.namespaces");
    }
    if has(namespaces, Namespace::User) {
        // Every namespace clone creates with the user namespace belongs to
        // it: root inside may configure those, and nothing else. A joined
        // namespace belongs to the host's user namespace, out of its reach.
        if let Some(joined) = namespaces.iter().find(|n| n.path.is_some()) {
            bail!(
                "linux.namespaces: a new user namespace cannot join the {} namespace at {} \
                 (it belongs to the host's user namespace); remove the path or the user namespace",
                joined.kind.proc_name(),
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

            mapped(
                "process.user.uid",
                process.uid,
                "linux.uidMappings",
                &uid_mappings,
            )?;
            mapped(
                "process.user.gid",
                process.gid,
                "linux.gidMappings",
                &gid_mappings,
            )?;
            for gid in &process.additional_gids {
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
    Ok((uid_mappings, gid_mappings))
}

/// `linux.cgroupsPath`: where the engine wants the container's cgroup.
/// A relative path is placed under tincan's own `/tincan` (the spec leaves
/// "relative to what" to the runtime).
pub(super) fn cgroups_path(linux: &Linux, id: &str) -> Result<Option<std::path::PathBuf>> {
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
        let relative = path.strip_prefix("/").unwrap_or(path);
        let plain = relative.components().all(|c| {
            matches!(c, std::path::Component::Normal(n)
                if !n.is_empty() && n.to_string_lossy().chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        });
        if !plain || relative.components().count() < 1 {
            bail!(
                "linux.cgroupsPath {text:?} must be /-separated names of letters, digits, '-' or \
                 '_', such as /mygroup/{id}"
            );
        }
        if !path.is_absolute() {
            return Ok(Some(Path::new("/tincan").join(relative)));
        }
    }
    // ANCHOR_END: cgroups_path
    Ok(linux.cgroups_path().clone())
}

/// `linux.sysctl`: only namespaced keys, with their namespace.
pub(super) fn sysctl(
    linux: &Linux,
    namespaces: &[config::Namespace],
) -> Result<BTreeMap<String, String>> {
    let mut sysctl = BTreeMap::new();
    for (key, value) in linux.sysctl().iter().flatten() {
        let needs = if key.starts_with("net.") {
            Namespace::Net
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
            Namespace::Ipc
        } else {
            bail!(
                "linux.sysctl {key:?} is not namespaced: setting it in a container would change the host"
            );
        };
        if !has(namespaces, needs) {
            bail!("linux.sysctl {key:?} needs a new {needs} namespace in linux.namespaces");
        }
        sysctl.insert(key.clone(), value.clone());
    }

    Ok(sysctl)
}

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
        let end = |start: u32| u64::from(start) + u64::from(m.count);
        if m.count == 0 || end(m.inside) > 1 << 32 || end(m.outside) > 1 << 32 {
            bail!(
                "{field}[{i}]: containerID {} hostID {} size {} is empty or goes past 2^32",
                m.inside,
                m.outside,
                m.count
            );
        }
        if let Some(j) = maps[..i].iter().position(|o| {
            u64::from(o.inside) < end(m.inside)
                && u64::from(m.inside) < u64::from(o.inside) + u64::from(o.count)
        }) {
            bail!("{field}[{i}] overlaps {field}[{j}] inside the container");
        }
    }
    Ok(())
}

/// `id` must be inside one of `maps`, or the process could not become it.
fn mapped(what: &str, id: u32, field: &str, maps: &[IdMap]) -> Result<()> {
    if maps.iter().any(|m| {
        u64::from(id) >= u64::from(m.inside)
            && u64::from(id) < u64::from(m.inside) + u64::from(m.count)
    }) {
        return Ok(());
    }
    bail!("{what} {id} is not mapped by {field}; add a mapping that covers it")
}
