//! The runtimes compared (tincan, crun, runc), the one bundle they all
//! start, and the start-up rows timed in turns by [`super::fair`].

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::Prepared;
use super::fair::{Contender, Stats, alternate, delete_force};
use crate::util;

/// Parallel slots: scale runs this many containers at a time, each slot
/// with a bundle of its own (its own cgroupsPath).
pub const SLOTS: usize = 10;

/// One measured row of the comparison: a short key (for the JSON and the
/// charts), what started, and its runs.
#[derive(Debug, Clone)]
pub struct Measured {
    pub key: String,
    pub label: String,
    pub stats: Stats,
}

/// An OCI runtime: its name, its executable, its own state root (all of
/// them under the same tmpfs directory: the same kind of state root).
#[derive(Debug, Clone)]
pub struct Runtime {
    pub name: &'static str,
    pub exe: PathBuf,
    pub state: PathBuf,
    /// `<runtime> --version`'s first line.
    pub version: String,
}

impl Runtime {
    /// `<runtime> --root S run --bundle B ID`: the same argv for all three.
    pub fn run(&self, bundle: &Path, id: &str) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("--root")
            .arg(&self.state)
            .arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg(id);
        cmd
    }

    /// The bundle of parallel slot `slot` (0 for sequential runs).
    pub fn bundle(&self, work: &Work, slot: usize) -> PathBuf {
        work.dir.join(format!("bundle-{}-{slot}", self.name))
    }

    /// Remove a container a failed run may have left.
    pub fn clean(&self, id: &str) {
        delete_force(&self.exe, &self.state, id);
    }
}

/// The bench's own directory on a tmpfs (`/run/tincan-bench-<pid>`):
/// state roots and bundles. Removed on drop, with the cgroups it names.
pub struct Work {
    pub dir: PathBuf,
    pub cgroups: Vec<String>,
}

impl Work {
    pub fn new() -> Result<Work> {
        let dir = PathBuf::from(format!("/run/tincan-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
        Ok(Work {
            dir,
            cgroups: Vec::new(),
        })
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        for name in &self.cgroups {
            remove_cgroup(name);
        }
        step04::mounts::detach_under(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An executable on `$PATH`, as a full path.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn version(exe: &Path) -> String {
    Command::new(exe)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// tincan (the release build), crun and runc, whichever exist, each with
/// a state root under `work` and `SLOTS` bundles; and a note per missing one.
pub fn runtimes(prepared: &Prepared, work: &mut Work) -> Result<(Vec<Runtime>, Vec<String>)> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let candidates = [
        ("tincan", prepared.tincan.clone()),
        ("crun", which("crun")),
        ("runc", which("runc")),
    ];
    for (name, exe) in candidates {
        let Some(exe) = exe else {
            missing.push(format!("{name} is not installed"));
            continue;
        };
        let state = work.dir.join(format!("state-{name}"));
        let version = version(&exe);
        found.push(Runtime {
            name,
            exe,
            state,
            version,
        });
    }
    let template = spec_template(&found, &work.dir)?;
    for rt in &found {
        for slot in 0..SLOTS {
            let cgroup = format!("tincan-bench-{}-{slot}", rt.name);
            write_bundle(&rt.bundle(work, slot), &template, &prepared.rootfs, &cgroup)?;
            work.cgroups.push(cgroup);
        }
    }
    Ok((found, missing))
}

// ANCHOR: bundle
/// The one config all three start: `runc spec`'s (or, without runc,
/// the first runtime's `spec`), written once and copied into each bundle.
fn spec_template(found: &[Runtime], work: &Path) -> Result<serde_json::Value> {
    let maker = found
        .iter()
        .find(|r| r.name == "runc")
        .or(found.first())
        .context("no runtime to write a config.json (tincan was not built)")?;
    let dir = work.join("spec");
    std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
    let _ = std::fs::remove_file(dir.join("config.json"));
    util::run(Command::new(&maker.exe).arg("spec").current_dir(&dir))?;
    let path = dir.join("config.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
}

/// A bundle: the template pointed at the rootfs (read-only, shared by
/// every container), `/bin/true`, no terminal, and its own cgroupsPath
/// (without one, runc nests the container's cgroup under ours).
fn write_bundle(
    dir: &Path,
    template: &serde_json::Value,
    rootfs: &Path,
    cgroup: &str,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
    let mut spec = template.clone();
    spec["root"] = serde_json::json!({ "path": rootfs, "readonly": true });
    spec["process"]["args"] = serde_json::json!(["/bin/true"]);
    spec["process"]["terminal"] = serde_json::json!(false);
    spec["linux"]["cgroupsPath"] = serde_json::json!(format!("/{cgroup}"));
    let config = dir.join("config.json");
    std::fs::write(&config, serde_json::to_string_pretty(&spec)?)
        .with_context(|| format!("write {}", config.display()))
}
// ANCHOR_END: bundle

// ANCHOR: startup
/// The start-up rows, timed in turns: a plain process, `unshare` with the
/// five namespaces a container gets, tincan two ways, crun and runc.
pub fn startup(runtimes: &[Runtime], work: &Work, rootfs: &Path, rounds: usize) -> Vec<Measured> {
    let mut keys = vec![
        ("true", "`/bin/true`".to_string()),
        (
            "unshare",
            "`unshare --pid --fork --mount --uts --ipc --net /bin/true`".to_string(),
        ),
    ];
    let mut contenders: Vec<Contender<'_>> = vec![
        Contender {
            command: Box::new(|_| Command::new("/bin/true")),
            after_failure: Box::new(|_| {}),
        },
        Contender {
            command: Box::new(|_| {
                let mut cmd = Command::new("unshare");
                cmd.args([
                    "--pid",
                    "--fork",
                    "--mount",
                    "--uts",
                    "--ipc",
                    "--net",
                    "/bin/true",
                ]);
                cmd
            }),
            after_failure: Box::new(|_| {}),
        },
    ];
    for rt in runtimes {
        let id = move |r: usize| format!("tincan-bench-{}-{r}", rt.name);
        let bundle = rt.bundle(work, 0);
        if rt.name == "tincan" {
            keys.push((
                "tincan-rootfs",
                "`tincan run --net none --rootfs DIR -- /bin/true` (docker-like, release build)"
                    .into(),
            ));
            contenders.push(Contender {
                command: Box::new(move |r| {
                    let mut cmd = Command::new(&rt.exe);
                    cmd.arg("--root")
                        .arg(&rt.state)
                        .args([
                            "run",
                            "--net",
                            "none",
                            "--name",
                            &id(r + 100_000),
                            "--rootfs",
                        ])
                        .arg(rootfs)
                        .args(["--", "/bin/true"]);
                    cmd
                }),
                after_failure: Box::new(move |r| rt.clean(&id(r + 100_000))),
            });
        }
        keys.push((
            rt.name,
            if rt.name == "tincan" {
                "`tincan run --bundle B ID` (release build)".into()
            } else {
                format!("`{} run --bundle B ID` ({})", rt.name, rt.version)
            },
        ));
        contenders.push(Contender {
            command: Box::new(move |r| rt.run(&bundle, &id(r))),
            after_failure: Box::new(move |r| rt.clean(&id(r))),
        });
    }
    let stats = alternate(&contenders, rounds);
    keys.into_iter()
        .zip(stats)
        .map(|((key, label), stats)| Measured {
            key: key.to_string(),
            label,
            stats,
        })
        .collect()
}
// ANCHOR_END: startup

/// Remove a cgroup we named (`tincan-bench-*`) from every hierarchy,
/// children first: a runtime may leave some (podman leaves `libpod-*`).
/// Each directory is tried once: one that stays is reported, not retried.
pub fn remove_cgroup(name: &str) {
    assert!(name.starts_with("tincan-bench-"), "only our own cgroups");
    let top = Path::new("/sys/fs/cgroup");
    let hierarchies = std::fs::read_dir(top)
        .map(|rd| rd.flatten().map(|h| h.path()).collect::<Vec<_>>())
        .unwrap_or_default();
    for dir in hierarchies
        .iter()
        .map(|h| h.join(name))
        .chain([top.join(name)])
    {
        if !dir.is_dir() {
            continue;
        }
        if dir.starts_with(super::fair::UNIFIED) && !super::fair::mounted(super::fair::UNIFIED) {
            // Not a cgroup: with cgroup2 unmounted in our namespace, crun
            // and podman still mkdir their "unified" cgroup and write its
            // cgroup.procs, onto the tmpfs below the mount point. Plain
            // files: remove them, or they stay hidden under the host's mount.
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                eprintln!("warning: remove {}: {e}", dir.display());
            }
        } else {
            remove_tree(&dir);
        }
    }
}

/// rmdir a cgroup and its children, deepest first.
fn remove_tree(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for child in rd.flatten().map(|e| e.path()) {
            if child.is_dir() && !child.is_symlink() {
                remove_tree(&child);
            }
        }
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        eprintln!("warning: rmdir {}: {e}", dir.display());
    }
}
