//! Container state on disk, and cleaning up after a tincan that died
//! (the OCI runtime spec's "State" and "Lifecycle"; proc(5) for
//! `/proc/<pid>/stat`; kill(2)).
//!
//! Everything a container owns outside itself — its cgroups, its overlay
//! directories, its processes — must go away when it ends. When tincan exits
//! normally, guards do that. But `kill -9` gives a process no chance to
//! clean up. So before creating anything, tincan writes down what it is
//! about to create in `<root>/<id>/state.json` (root: `/run/tincan`, a
//! tmpfs that a reboot empties). Every tincan command starts with
//! [`cleanup`]: any container whose owner process is gone is torn down
//! from that record.
//!
//! A pid alone is not an identity: after a process dies the kernel may give
//! its number to a new process. So the state keeps each process's start time
//! (field 22 of `/proc/<pid>/stat`, in clock ticks since boot); a pid counts
//! as "the same process" only when both match.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

mod document;
mod lock;

pub use lock::ContainerLock;
use lock::rename_noreplace;

/// Where container states live unless `--root` says otherwise.
pub fn default_root() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        PathBuf::from("/run/tincan")
    } else if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        PathBuf::from(dir).join("tincan")
    } else {
        std::env::temp_dir().join(format!("tincan-{}", nix::unistd::geteuid()))
    }
}

/// A process named by pid *and* start time, so a recycled pid is not
/// mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    /// The pid, as seen from tincan's pid namespace.
    pub pid: i32,
    /// Start time in clock ticks after boot (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
}

impl ProcessId {
    /// Identify a running process.
    pub fn of(pid: i32) -> Result<ProcessId> {
        let start_time =
            start_time(pid)?.with_context(|| format!("process {pid} does not exist"))?;
        Ok(ProcessId { pid, start_time })
    }

    /// Is this very process still alive (a zombie counts as gone)?
    pub fn is_alive(&self) -> bool {
        matches!(start_time(self.pid), Ok(Some(t)) if t == self.start_time)
    }
}

/// The start time of `pid`, or `None` if there is no such (live) process.
fn start_time(pid: i32) -> Result<Option<u64>> {
    let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("read /proc/{pid}/stat")),
    };
    // The command name (field 2) may contain spaces and ')': parse after the last ')'.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state); field 22 is index 19.
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return Ok(None);
    }
    let t = fields
        .get(19)
        .and_then(|t| t.parse().ok())
        .with_context(|| format!("parse start time in /proc/{pid}/stat"))?;
    Ok(Some(t))
}

/// Where a container is in its life (OCI runtime spec, "State").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Set-up in progress.
    Creating,
    /// Set up, the user's program not started yet.
    Created,
    /// The user's program runs.
    Running,
    /// It exited.
    Stopped,
    /// Frozen by `tincan pause`.
    Paused,
}

// ANCHOR: state
/// What `<root>/<id>/state.json` records: enough to find and remove
/// everything the container owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// OCI runtime spec version of this state.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Lifecycle status.
    pub status: Status,
    /// The process that keeps this container valid: the `tincan run`
    /// process. When it is gone, the container is a leftover.
    pub owner: ProcessId,
    /// The container's first process, once started.
    pub init: Option<ProcessId>,
    /// The OCI bundle, if started from one.
    pub bundle: Option<PathBuf>,
    /// The root filesystem (the image directory).
    pub rootfs: PathBuf,
    /// cgroup directories created for it (one per v1 controller, or one on v2).
    pub cgroups: Vec<PathBuf>,
    /// The overlay layer directory (upper, work, merged), if any.
    pub overlay_dir: Option<PathBuf>,
    /// The cgroup path an engine asked for (`linux.cgroupsPath`, e.g.
    /// `/libpod_parent/libpod-<id>`) instead of `tincan/<id>`.
    #[serde(default)]
    pub cgroups_path: Option<PathBuf>,
    /// Its network on the host (`--net bridge`): address lease, veth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<crate::net::NetState>,
    /// What `ps` and `logs` show: the command, when it was created, whether
    /// it runs detached with a log, and how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<crate::monitor::Record>,
    /// The bundle's hooks, kept from `create` to `delete` (poststop): the
    /// spec says a config.json changed after `create` must not matter.
    #[serde(default, skip_serializing_if = "crate::hooks::Hooks::is_empty")]
    pub hooks: crate::hooks::Hooks,
    /// The bundle's annotations, shown in the OCI state.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}
// ANCHOR_END: state

/// The directory of all container states (`--root`).
#[derive(Debug, Clone)]
pub struct StateRoot {
    root: PathBuf,
}

impl StateRoot {
    /// Use `root` (created on first use, mode 0700: states name processes
    /// and paths that other users need not see).
    pub fn new(root: impl Into<PathBuf>) -> StateRoot {
        StateRoot { root: root.into() }
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `<root>/<id>`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    // ANCHOR: create
    /// Claim `id`: create `<root>/<id>` with its first state, locked, and
    /// return the lock. Fails if a container with this id exists, and then
    /// touches nothing of it.
    ///
    /// Many tincan commands may run at once, and every one starts with a
    /// [`cleanup`]. So the directory is made under a hidden name, locked
    /// and given its first record there, and only then renamed
    /// into place with `RENAME_NOREPLACE` (rename(2)): no other tincan ever
    /// sees a container without its record or its lock ([`ContainerLock`]).
    pub fn create(&self, state: &State) -> Result<ContainerLock> {
        crate::config::validate_id(&state.id)?;
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("create {}", self.root.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("chmod 700 {}", self.root.display()))?;
        let dir = self.dir(&state.id);
        if dir.exists() {
            bail!("{}", already_exists(&state.id));
        }
        let hidden = self
            .root
            .join(format!("{CREATING}{}-{}", state.id, std::process::id()));
        std::fs::create_dir(&hidden).with_context(|| format!("create {}", hidden.display()))?;
        let lock = ContainerLock::create(&hidden)?;
        let claimed = self.save_in(&hidden, state).and_then(|()| {
            rename_noreplace(&hidden, &dir).map_err(|e| match e {
                nix::errno::Errno::EEXIST | nix::errno::Errno::ENOTEMPTY => {
                    anyhow::anyhow!("{}", already_exists(&state.id))
                }
                e => anyhow::Error::new(e).context(format!(
                    "rename {} to {}",
                    hidden.display(),
                    dir.display()
                )),
            })
        });
        if let Err(e) = claimed {
            let _ = std::fs::remove_dir_all(&hidden);
            return Err(e);
        }
        Ok(lock)
    }
    // ANCHOR_END: create

    /// Wait for the lock of container `id` (held by the tincan that runs
    /// it, or by another command changing its state).
    pub fn lock(&self, id: &str) -> Result<ContainerLock> {
        crate::config::validate_id(id)?;
        ContainerLock::take(&self.dir(id), false)?.with_context(|| format!("lock container {id:?}"))
    }

    /// Write `state.json` atomically (write a temporary file, then rename),
    /// so that a crash never leaves half a record.
    pub fn save(&self, state: &State) -> Result<()> {
        self.save_in(&self.dir(&state.id), state)
    }

    fn save_in(&self, dir: &Path, state: &State) -> Result<()> {
        let tmp = dir.join("state.json.tmp");
        let json = serde_json::to_string_pretty(state).context("serialize state")?;
        std::fs::write(&tmp, json).with_context(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join("state.json"))
            .with_context(|| format!("rename {} to state.json", tmp.display()))
    }

    /// Read the state of `id`.
    pub fn load(&self, id: &str) -> Result<State> {
        crate::config::validate_id(id)?;
        let path = self.dir(id).join("state.json");
        let text = match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("no container named {id:?} (no {})", path.display())
            }
            other => other.with_context(|| format!("read {}", path.display()))?,
        };
        serde_json::from_str(&text).with_context(|| format!("{}: malformed state", path.display()))
    }

    /// The ids of all containers with a state directory.
    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.root) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other.with_context(|| format!("list {}", self.root.display()))?,
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("list {}", self.root.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() && !name.starts_with('.') {
                ids.push(name);
            }
        }
        ids.sort();
        Ok(ids)
    }

    // ANCHOR: destroy
    /// Tear down everything `state` records, in reverse order of creation:
    /// kill its processes, remove its cgroups, remove its overlay, then its
    /// state directory. Every step tolerates "already gone", so destroying
    /// twice, or a half-created container, is fine.
    pub fn destroy(&self, state: &State) -> Result<()> {
        self.release_host_side(state)?;
        let dir = self.dir(&state.id);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("remove {}", dir.display()))
            }
            _ => Ok(()),
        }
    }

    /// What [`Self::destroy`] removes on the host, but not the state
    /// directory: processes, cgroups, network, overlay layer.
    pub fn release_host_side(&self, state: &State) -> Result<()> {
        if let Some(init) = state.init.filter(ProcessId::is_alive) {
            // Killing PID 1 of a pid namespace kills every process in it.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(init.pid),
                nix::sys::signal::SIGKILL,
            );
        }
        // Step 03 thaws, kills what is left and removes each directory,
        // once we have checked that the record names only cgroups we made.
        for cgroup in &state.cgroups {
            check_ours(cgroup, state.cgroups_path.as_deref())?;
        }
        step03::remove::destroy_dirs(&state.cgroups)?;
        if let Some(net) = &state.net {
            crate::net::bridge::teardown(self, net)?;
        }
        if let Some(dir) = &state.overlay_dir {
            crate::overlay::remove_layer_dir(dir)?;
        }
        Ok(())
    }
    // ANCHOR_END: destroy
}

// ANCHOR: cleanup
/// Remove the leftovers of every container whose owner process is gone
/// (its tincan was killed with `kill -9`, or the machine lost power while
/// /run survived). Returns the ids it cleaned. Every tincan command calls
/// this first.
///
/// A container whose lock another tincan holds is alive by definition and
/// is skipped without a look; the owner check of the others is made while
/// holding their lock, so two cleanups never tear down the same container,
/// and none tears down one that is being created.
pub fn cleanup(root: &StateRoot) -> Result<Vec<String>> {
    let mut cleaned = Vec::new();
    remove_abandoned_claims(root);
    for id in root.ids()? {
        let dir = root.dir(&id);
        let Some(_lock) = ContainerLock::take(&dir, true)? else {
            continue;
        };
        let state = match root.load(&id) {
            Ok(state) => state,
            // Half removed by a tincan that died while destroying it.
            Err(_) => {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("remove {}", dir.display()))?;
                cleaned.push(id);
                continue;
            }
        };
        if state.owner.is_alive() {
            continue;
        }
        // Handed over to an engine by `tincan create`: a stopped container
        // stays (the engine reads its state) until `tincan delete`.
        if state.init == Some(state.owner) {
            continue;
        }
        // Run with `-d`: its record and log stay for `ps -a` and `logs`
        // until `tincan rm`; all it owned on the host goes now.
        if crate::monitor::keeps_record(&state) {
            crate::monitor::release(root, state)
                .with_context(|| format!("clean up detached container {id:?}"))?;
            continue;
        }
        root.destroy(&state)
            .with_context(|| format!("clean up container {id:?}"))?;
        // Its tincan died before the spec's last step: the poststop hooks.
        crate::hooks::poststop(&state);
        cleaned.push(id);
    }
    Ok(cleaned)
}
// ANCHOR_END: cleanup

/// Hidden directories of claims in progress (see [`StateRoot::create`]).
const CREATING: &str = ".creating-";

/// A claim was abandoned when the tincan whose pid ends its name is gone:
/// it died before the rename. (Its lock cannot tell: a claim is locked
/// only a moment after its mkdir.)
fn remove_abandoned_claims(root: &StateRoot) {
    let Ok(entries) = std::fs::read_dir(root.path()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(claim) = name.strip_prefix(CREATING) else {
            continue;
        };
        let claimer = claim.rsplit('-').next().and_then(|p| p.parse::<i32>().ok());
        if claimer.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists()) {
            continue;
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

fn already_exists(id: &str) -> String {
    format!(
        "a container named {id:?} already exists; pick another --name or `tincan delete --force {id}`"
    )
}

/// A recorded cgroup directory is one tincan made: `.../tincan/<id>` (step
/// 03's layout), `.../tincan-*`, or the path the engine chose
/// (`linux.cgroupsPath`, whose parent is the engine's). A record naming any
/// other cgroup (a tampered or foreign file) is refused before anything is
/// killed.
pub fn check_ours(dir: &Path, engine_path: Option<&Path>) -> Result<()> {
    let tincan_named = dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("tincan"))
        || dir
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == "tincan");
    let engine = engine_path.is_some_and(|p| dir.ends_with(p.strip_prefix("/").unwrap_or(p)));
    if !tincan_named && !engine {
        bail!(
            "refusing to remove cgroup {}: not created by tincan",
            dir.display()
        );
    }
    Ok(())
}

/// Kill every process left in a cgroup tincan created, then remove it
/// (step 03's [`step03::remove::destroy_dirs`]).
pub fn remove_cgroup(dir: &Path) -> Result<()> {
    check_ours(dir, None)?;
    step03::remove::destroy_dirs(&[dir.to_path_buf()])
}

#[cfg(test)]
mod tests;
