//! Removing a cgroup: thaw it, kill what is inside, `rmdir` it.
//!
//! The kernel removes a cgroup only with `rmdir(2)`, and only once no
//! process is left in it and it has no child cgroups (EBUSY otherwise).
//! A process leaves only when it has died *and* the kernel has finished
//! tearing it down, so removal kills, waits, and retries. A frozen process
//! cannot die on v1 (it sleeps in the freezer until thawed), so a cgroup is
//! thawed before anything is killed. Every cgroup of this project, and every
//! directory a container runtime recorded earlier, goes through
//! [`destroy_dirs`]: one implementation for both.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cgroup::{PARENT, read_procs, write};
use crate::freezer::set_frozen;

/// Where every cgroup filesystem of a normal host is mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

// ANCHOR: destroy
/// Remove cgroup directories that someone recorded earlier (a container
/// runtime's state file lists them; v1 has one per hierarchy). Each must be
/// a cgroup below [`CGROUP_ROOT`], never the root of a hierarchy: a record
/// that was tampered with cannot make us kill the host. Missing directories
/// are fine (removed already). For all of them, in this order: thaw, kill
/// every process inside (child cgroups too) until they are empty, `rmdir`
/// (children first), and remove a `tincan` parent left empty. Another
/// parent (an engine's, such as podman's `libpod_parent`) stays.
pub fn destroy_dirs(dirs: &[PathBuf]) -> Result<()> {
    for dir in dirs {
        check_removable(dir)?;
    }
    destroy_unchecked(dirs)
}
// ANCHOR_END: destroy

/// Refuse anything but a cgroup below [`CGROUP_ROOT`].
fn check_removable(dir: &Path) -> Result<()> {
    let below = dir.starts_with(CGROUP_ROOT)
        && dir.components().count() > Path::new(CGROUP_ROOT).components().count()
        && dir
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !below {
        bail!(
            "refusing to remove {}: not a cgroup below {CGROUP_ROOT}",
            dir.display()
        );
    }
    let Ok(meta) = fs::symlink_metadata(dir) else {
        return Ok(()); // gone already
    };
    let fs_type = nix::sys::statfs::statfs(dir)
        .with_context(|| format!("statfs {}", dir.display()))?
        .filesystem_type();
    let cgroup_fs = fs_type == nix::sys::statfs::CGROUP_SUPER_MAGIC
        || fs_type == nix::sys::statfs::CGROUP2_SUPER_MAGIC;
    // A hierarchy's root is a mount point: its parent is on another device.
    let parent_dev = dir
        .parent()
        .and_then(|p| fs::metadata(p).ok())
        .map(|m| m.dev());
    if !meta.is_dir() || !cgroup_fs || parent_dev != Some(meta.dev()) {
        bail!(
            "refusing to remove {}: not a cgroup inside a cgroup hierarchy",
            dir.display()
        );
    }
    Ok(())
}

/// [`destroy_dirs`] for directories we created ourselves
/// ([`crate::cgroup::Cgroup::remove`]), wherever the hierarchy is mounted.
pub(crate) fn destroy_unchecked(dirs: &[PathBuf]) -> Result<()> {
    // Child cgroups first (post-order): a container may have made some.
    let mut all = Vec::new();
    for dir in dirs {
        subtree(dir, &mut all);
    }
    all.dedup();
    // Thaw first: a frozen task cannot die.
    for dir in &all {
        set_frozen(dir, false)?;
    }
    kill_all_in(&all)?;
    for dir in &all {
        remove_dir(dir)?;
    }
    for dir in dirs {
        remove_empty_ancestors(dir);
    }
    Ok(())
}

/// Remove the empty directories between `dir` and our `tincan` parent, and
/// the parent itself: a bundle's cgroupsPath `web/app` becomes
/// `tincan/web/app`, and `tincan/web` was made for it too. Nothing above
/// `tincan`, nor outside it: those directories belong to their creator.
fn remove_empty_ancestors(dir: &Path) {
    let ours = dir
        .ancestors()
        .skip(1)
        .take_while(|a| a.ancestors().any(|b| b.ends_with(PARENT)));
    for ancestor in ours {
        remove_parent_if_empty(ancestor);
    }
}

/// `dir` and every cgroup below it, children before their parents.
fn subtree(dir: &Path, out: &mut Vec<PathBuf>) {
    if !dir.is_dir() {
        return;
    }
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            subtree(&entry.path(), out);
        }
    }
    out.push(dir.to_path_buf());
}

// ANCHOR: kill_v2
/// Kill every process in the cgroup directories `dirs` and wait until they
/// are empty. v2 (Linux 5.14+): one write to `cgroup.kill` kills the whole
/// group, even processes that are forking right now; elsewhere (v1, older
/// kernels) signal them one by one.
pub fn kill_all_in(dirs: &[PathBuf]) -> Result<()> {
    for dir in dirs.iter().filter(|d| d.join("cgroup.kill").exists()) {
        write(dir, "cgroup.kill", "1")?;
    }
    kill_until_empty(dirs)
}
// ANCHOR_END: kill_v2

/// SIGKILL every process listed in the cgroup until it is empty. Processes
/// may fork while we kill (a fork bomb does), so read the list again until
/// it stays empty; give up after 10 seconds.
pub fn kill_until_empty(dirs: &[PathBuf]) -> Result<()> {
    use nix::sys::signal::{Signal, kill};
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut any = None;
        for dir in dirs {
            if !dir.exists() {
                continue;
            }
            for pid in read_procs(dir)? {
                any = Some(dir);
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
        let Some(dir) = any else {
            return Ok(());
        };
        if Instant::now() > deadline {
            bail!("processes in {} survive SIGKILL", dir.display());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `rmdir` a cgroup directory, retrying briefly: right after its last process
/// was killed, the kernel may still be tearing it down (EBUSY).
pub fn remove_dir(dir: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() < deadline && e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e).with_context(|| format!("rmdir {}", dir.display())),
        }
    }
}

/// Remove the `tincan` parent if no other cgroup of ours is left in it.
pub fn remove_parent_if_empty(parent: &Path) {
    let has_children = fs::read_dir(parent)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        })
        .unwrap_or(true);
    if !has_children {
        // Another run may create a child at this very moment: then rmdir
        // fails with EBUSY/ENOTEMPTY, and leaving the parent is right.
        let _ = fs::remove_dir(parent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destroy_refuses_what_is_not_a_cgroup_below_the_root() {
        for bad in [
            "/tmp/tincan-x",
            "/sys/fs/cgroup",
            "/sys/fs/cgroup/../../etc",
            "relative/tincan",
            "/sys/fs/cgroupx/tincan",
        ] {
            let err = destroy_dirs(&[PathBuf::from(bad)]).expect_err(bad);
            assert!(err.to_string().contains("refusing"), "{bad}: {err}");
        }
    }

    #[test]
    fn empty_directories_up_to_our_parent_go_and_nothing_above() {
        let base = std::env::temp_dir().join(format!("tincan-ancestors-{}", std::process::id()));
        let ours = base.join("hierarchy/tincan");
        fs::create_dir_all(ours.join("web")).expect("mkdir web");
        fs::create_dir_all(ours.join("db/main")).expect("mkdir db/main");
        // `web/app` is already removed; `web` is empty, `db` is not.
        remove_empty_ancestors(&ours.join("web/app"));
        assert!(!ours.join("web").exists(), "the empty intermediate goes");
        assert!(
            ours.join("db/main").exists() && ours.exists(),
            "a busy parent stays"
        );
        fs::remove_dir(ours.join("db/main")).expect("rmdir db/main");
        remove_empty_ancestors(&ours.join("db/main"));
        assert!(!ours.exists(), "our own parent goes once empty");
        assert!(base.join("hierarchy").exists(), "nothing above `tincan`");
        fs::remove_dir_all(&base).expect("clean up");
    }

    #[test]
    fn destroy_refuses_a_hierarchy_root() {
        // Whichever hierarchies this host mounts below the root (v1's, or a
        // hybrid host's cgroup2): their roots hold every process of the
        // machine, and must never be "removed". Only mount points are
        // tried, never a real cgroup (on a v2 host, the root's children).
        let Ok(root_dev) = fs::metadata(CGROUP_ROOT).map(|m| m.dev()) else {
            step01::testing::skip("no /sys/fs/cgroup on this machine");
            return;
        };
        let roots: Vec<PathBuf> = fs::read_dir(CGROUP_ROOT)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| fs::metadata(p).is_ok_and(|m| m.is_dir() && m.dev() != root_dev))
            .filter(|p| p.join("cgroup.procs").exists())
            .collect();
        for root in roots {
            let err =
                destroy_dirs(std::slice::from_ref(&root)).expect_err(&root.display().to_string());
            assert!(err.to_string().contains("refusing"), "{err}");
        }
    }
}
