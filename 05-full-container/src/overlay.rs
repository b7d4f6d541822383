//! Overlayfs: many containers on one read-only image (overlayfs in the
//! kernel's `Documentation/filesystems/overlayfs.rst`; mount(8), "overlay").
//!
//! An image must never change: ten containers share it, and the next run
//! must start from the same files. Copying the whole image for every
//! container would be slow. Overlayfs stacks directories instead:
//!
//! - **lower**: the image, read-only;
//! - **upper**: an empty directory that receives every write of *this*
//!   container (a changed file is first copied up whole; a deleted file
//!   becomes a "whiteout", a 0:0 character device that hides it);
//! - **work**: scratch space the kernel needs to make copy-up atomic, on the
//!   same filesystem as upper;
//! - **merged**: the mount point, where the container sees lower and upper
//!   as one tree.
//!
//! Removing the container removes upper and work: its changes vanish, the
//! image is untouched. An image of several layers gives several lower
//! directories, topmost first ([`lowerdir`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::mount::{MntFlags, MsFlags, mount, umount2};

/// A mounted overlay: the image at `lower`, this container's writable layer
/// in `dir` (`upper/`, `work/`, and the mount point `merged/`).
#[derive(Debug)]
pub struct Overlay {
    /// The read-only image.
    pub lower: PathBuf,
    /// The per-container directory holding upper, work and merged.
    pub dir: PathBuf,
    mounted: bool,
}

impl Overlay {
    /// Where the container's writes land.
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    /// The kernel's scratch directory.
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    /// The combined view: the container's root.
    pub fn merged(&self) -> PathBuf {
        self.dir.join("merged")
    }

    /// Create `dir/{upper,work,merged}` and mount the overlay on `merged`.
    /// `dir` must not exist yet (it belongs to this container alone). On any
    /// error, what was created is removed again.
    pub fn mount(lower: &Path, dir: &Path) -> Result<Overlay> {
        let lower = lower
            .canonicalize()
            .with_context(|| format!("image directory {} does not exist", lower.display()))?;
        if !lower.is_dir() {
            bail!("image {} is not a directory", lower.display());
        }
        std::fs::create_dir(dir).with_context(|| format!("create {}", dir.display()))?;
        // From here on, Drop cleans up whatever exists.
        let mut overlay = Overlay {
            lower,
            dir: dir.to_path_buf(),
            mounted: false,
        };
        make_layer_dirs(dir)?;
        mount_layer(std::slice::from_ref(&overlay.lower), dir)?;
        overlay.mounted = true;
        Ok(overlay)
    }
    // ANCHOR_END: mount

    /// Unmount and delete the writable layer: the container's changes are
    /// gone, the image is as it was.
    pub fn remove(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        if self.mounted {
            // MNT_DETACH: if a process still has a file open in it, the
            // mount disappears from the tree now and is freed when unused.
            umount2(&self.merged(), MntFlags::MNT_DETACH)
                .with_context(|| format!("umount {}", self.merged().display()))?;
            self.mounted = false;
        }
        remove_layer_dir(&self.dir)
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("warning: {e:#}");
        }
    }
}

/// `dir/upper`, `dir/work` and `dir/merged`, the directories of one
/// container's writable layer (made by tincan, outside the container).
pub fn make_layer_dirs(dir: &Path) -> Result<()> {
    for sub in ["upper", "work", "merged"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).with_context(|| format!("mkdir {}", path.display()))?;
    }
    Ok(())
}

// ANCHOR: mount
/// Mount the overlay of `lowers` (the image's layers, topmost first) and the
/// layer in `dir` on `dir/merged`, and return that path: the container's
/// root. Done inside the container's mount namespace, the host never sees
/// the mount.
pub fn mount_layer(lowers: &[PathBuf], dir: &Path) -> Result<PathBuf> {
    let data = format!(
        "{},upperdir={},workdir={}",
        lowerdir(lowers)?,
        dir.join("upper").display(),
        dir.join("work").display()
    );
    if dir.to_string_lossy().contains([',', ':']) {
        bail!(
            "overlay paths cannot contain ',' or ':' ({})",
            dir.display()
        );
    }
    check_length(&data, lowers.len())?;
    let merged = dir.join("merged");
    mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .with_context(|| format!("mount overlay at {} ({data})", merged.display()))?;
    Ok(merged)
}
// ANCHOR_END: mount

// ANCHOR: lowerdir
/// `lowerdir=TOP:...:BOTTOM`: overlayfs looks a name up in the leftmost
/// directory first, so the image's topmost layer comes first. The data
/// string is how overlayfs is told its layers: commas and colons separate
/// options and layers, so paths containing them cannot be used here.
pub fn lowerdir(lowers: &[PathBuf]) -> Result<String> {
    for p in lowers {
        if p.to_string_lossy().contains([',', ':']) {
            bail!("overlay paths cannot contain ',' or ':' ({})", p.display());
        }
    }
    let joined: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    let data = format!("lowerdir={}", joined.join(":"));
    // Room for upperdir and workdir, which are known only at mount time.
    check_length(&data, lowers.len())?;
    Ok(data)
}

/// mount(2) copies at most one page of option data: a longer string would
/// be cut, so it is refused here with the way out.
fn check_length(data: &str, layers: usize) -> Result<()> {
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p as usize);
    if data.len() >= page {
        bail!(
            "the overlay of {layers} layers needs {} bytes of mount options, more than the \
             kernel takes ({page}, one page); flatten the image (fewer layers, e.g. `podman \
             build --squash`) or use a shorter --storage path",
            data.len()
        );
    }
    Ok(())
}
// ANCHOR_END: lowerdir

/// Remove a container's layer directory (upper, work, merged), unmounting
/// `merged` first if it is still mounted. Used by the cleanup of containers
/// whose tincan process died.
pub fn remove_layer_dir(dir: &Path) -> Result<()> {
    let merged = dir.join("merged");
    if is_mount_point(&merged)? {
        umount2(&merged, MntFlags::MNT_DETACH)
            .with_context(|| format!("umount {}", merged.display()))?;
    }
    // The kernel leaves `work/work` with mode 000; root does not care, but a
    // rootless tincan must make it readable before it can remove it.
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(
        dir.join("work/work"),
        std::fs::Permissions::from_mode(0o700),
    );
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("remove {}", dir.display())),
    }
}

/// True when `path` is a mount point in this mount namespace
/// (/proc/self/mountinfo, field 5).
pub fn is_mount_point(path: &Path) -> Result<bool> {
    let Ok(path) = path.canonicalize() else {
        return Ok(false);
    };
    let info =
        std::fs::read_to_string("/proc/self/mountinfo").context("read /proc/self/mountinfo")?;
    let wanted = path.to_string_lossy();
    Ok(info
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(&*wanted)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowerdir_puts_the_top_first_and_refuses_past_a_page() {
        let layers: Vec<PathBuf> = ["/s/top", "/s/mid", "/s/base"].map(PathBuf::from).into();
        assert_eq!(
            lowerdir(&layers).expect("short"),
            "lowerdir=/s/top:/s/mid:/s/base"
        );
        // 50 layers with paths like the store's (~100 bytes each): > 4096.
        let long: Vec<PathBuf> = (0..50)
            .map(|i| PathBuf::from(format!("/var/cache/tincan/storage/layers/{i:064}")))
            .collect();
        let err = format!("{:#}", lowerdir(&long).expect_err("too long"));
        assert!(
            err.contains("50 layers") && err.contains("one page"),
            "{err}"
        );
        assert!(lowerdir(&[PathBuf::from("/a:b")]).is_err());
    }
}
