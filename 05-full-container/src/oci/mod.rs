//! OCI bundles: the format that Docker, podman and Kubernetes hand to a
//! runtime (the OCI runtime specification, `config.md` and `config-linux.md`;
//! runc(8) and `runc spec`).
//!
//! A *bundle* is a directory with a `config.json` and a root filesystem. The
//! JSON says everything the runtime must do: which namespaces, which mounts,
//! which capabilities, which cgroup limits, which command. We read it with
//! the `oci-spec` crate and convert it into our own [`RunConfig`].
//!
//! The rule of this module: **every field the spec defines is honoured or
//! rejected**. A runtime that silently skips, say, `linux.seccomp` starts a
//! container that is less isolated than its caller believes. So each field
//! we do not implement yet fails with one line naming it. Properties the
//! spec does not define are the exception: the spec says a runtime MUST
//! NOT error on them (a newer engine may add some), so they are ignored,
//! and `TINCAN_DEBUG=1` names them (found by comparing the JSON we read with the
//! JSON the parsed spec writes back).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use oci_spec::runtime::Spec;
use serde_json::Value;

use crate::config::{self, MountSpec, RunConfig};

/// `return Err(..)` naming `$field` when `$value` is set.
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

mod devices;
mod hooks;
mod linux;
mod process;
mod resources;

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
    check_fields(&raw, &spec).with_context(|| path.display().to_string())?;
    convert(&spec, bundle, id).with_context(|| path.display().to_string())
}
// ANCHOR_END: load

/// The default `config.json` that `tincan spec` writes, like `runc spec`: a
/// shell in `./rootfs`, with the usual namespaces, mounts, masked paths and
/// runc's three capabilities.
pub fn default_spec() -> Spec {
    let mut spec = Spec::default();
    spec.set_hostname(Some("tincan".into()));
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

/// Properties the parsed [`Spec`] does not contain (a typo, or a newer
/// spec version) are ignored, as the spec demands; misplaced well-known
/// ones are refused.
fn check_fields(raw: &Value, spec: &Spec) -> Result<()> {
    let parsed = serde_json::to_value(spec).context("serialize the parsed spec")?;
    if let Some(field) = first_unknown(raw, &parsed, "") {
        if std::env::var_os("TINCAN_DEBUG").is_some() {
            eprintln!("tincan: ignoring the unknown property {field:?} (the OCI spec says to)");
        }
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
pub(crate) fn unsupported(field: &str, what_to_do: &str) -> anyhow::Error {
    anyhow::anyhow!("{field} is not supported by tincan yet; {what_to_do}")
}

// ANCHOR: convert
/// Convert a parsed spec into our configuration, one section at a time.
/// Each section's function honours every field of it or refuses it.
pub fn convert(spec: &Spec, bundle: &Path, id: &str) -> Result<RunConfig> {
    config::validate_id(id)?;
    top_level(spec)?;
    let (rootfs, readonly_rootfs) = root(spec, bundle)?;
    let process = process::convert(spec)?;
    let mounts = mounts(spec)?;
    let linux = spec.linux().clone().unwrap_or_default();
    let seccomp = linux::seccomp(&linux)?;
    linux::unsupported_fields(&linux)?;
    let namespaces = linux::namespaces(&linux)?;
    let (uid_mappings, gid_mappings) = linux::user_namespace(&linux, &namespaces, &process)?;
    linux::check_hostname(spec, &namespaces)?;
    let cgroups_path = linux::cgroups_path(&linux, id)?;
    let sysctl = linux::sysctl(&linux, &namespaces)?;
    let (limits, mut devices) = resources::convert(&linux)?;
    let device_nodes = devices::convert(&linux, &mut devices)?;
    Ok(RunConfig {
        net: Default::default(),
        id: id.to_string(),
        rootfs,
        layers: Vec::new(),
        overlay: false,
        readonly_rootfs,
        args: process.args,
        env: process.env,
        cwd: process.cwd,
        uid: process.uid,
        gid: process.gid,
        additional_gids: process.additional_gids,
        umask: process.umask,
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
        capabilities: process.capabilities,
        no_new_privileges: process.no_new_privileges,
        seccomp,
        rlimits: process.rlimits,
        oom_score_adj: process.oom_score_adj,
        sysctl,
        limits,
        devices,
        device_nodes,
        cgroups_path,
        rootfs_propagation: linux.rootfs_propagation().clone(),
        no_pivot: false,
        terminal: process.terminal,
        hooks: hooks::convert(spec)?,
        annotations: spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    })
}
// ANCHOR_END: convert

/// `ociVersion` and the top-level fields tincan does not implement.
fn top_level(spec: &Spec) -> Result<()> {
    if !spec.version().starts_with("1.") {
        bail!("ociVersion {:?} is not a 1.x runtime spec", spec.version());
    }
    reject_if_some!(spec.domainname(), "domainname");
    reject_if_some!(spec.solaris(), "solaris");
    reject_if_some!(spec.windows(), "windows");
    reject_if_some!(spec.vm(), "vm");
    reject_if_some!(spec.zos(), "zos");
    // annotations are opaque metadata for the caller (the spec says a runtime
    // may ignore them), so they are accepted.
    Ok(())
}

/// `root`: the rootfs directory (relative to the bundle) and `readonly`.
fn root(spec: &Spec, bundle: &Path) -> Result<(PathBuf, bool)> {
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

    Ok((rootfs, root.readonly().unwrap_or(false)))
}

/// `mounts`: each with an absolute destination, a type (or bind), options.
fn mounts(spec: &Spec) -> Result<Vec<MountSpec>> {
    spec.mounts()
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
        .collect::<Result<Vec<_>>>()
}

#[cfg(test)]
mod tests;
