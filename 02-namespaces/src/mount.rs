//! The mount namespace: a list of mounts of one's own
//! (mount_namespaces(7), mount(2)).
//!
//! A new mount namespace starts as a *copy* of its parent's mounts. Copies
//! are linked by propagation: a mount that is "shared" passes every later
//! mount and unmount under it on to its peers, in every namespace. Many
//! systems (systemd makes `/` shared at boot) would therefore see our
//! container's mounts appear on the host. That is why every container
//! runtime first makes its copy of `/` private, recursively
//! (`mount --make-rprivate /`): from then on, mounts stay where they are made.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use step01::probe::Probe;

use crate::demo::{self, host};
use crate::namespaces::{Namespace, Namespaces};
use crate::sandbox::{Exit, Sandbox};

// ANCHOR: make_private
/// `mount --make-rprivate /`: stop mount events from propagating between
/// our mount namespace and the one we were copied from.
pub fn make_root_private() -> Result<()> {
    set_propagation(Path::new("/"), MsFlags::MS_REC | MsFlags::MS_PRIVATE)
}
// ANCHOR_END: make_private

// ANCHOR: set_propagation
/// Change the propagation type of the mount at `target`: `flags` is one of
/// `MS_SHARED`, `MS_SLAVE`, `MS_PRIVATE`, `MS_UNBINDABLE`, with `MS_REC`
/// for the mounts below it too (`mount --make-[r]shared` and so on).
///
/// Propagation is not a property of a filesystem but of a mount, and the
/// kernel keeps it in *peer groups*: mounts that are copies of each other
/// (a bind, or the copy a new mount namespace gets) and are `shared` form
/// a group, and a mount or unmount under one member is repeated under
/// every other. A `slave` receives its master group's events but sends
/// none back; `private` neither sends nor receives; `unbindable` is private
/// and may not be bind-mounted either. So the type cannot be given with
/// the mount itself: mount(2) takes it in a call of its own, with no
/// source, no filesystem type and no other flag.
pub fn set_propagation(target: &Path, flags: MsFlags) -> Result<()> {
    mount(None::<&str>, target, None::<&str>, flags, None::<&str>).with_context(|| {
        format!(
            "change the propagation of {} to {flags:?} (mount(2) with only that flag)",
            target.display()
        )
    })
}
// ANCHOR_END: set_propagation

/// The mount point that holds `path` (the longest mount point in
/// /proc/self/mountinfo that is a prefix of it), for calls such as
/// [`set_propagation`] that want a mount point, not any directory.
pub fn mount_point_of(path: &Path) -> Result<PathBuf> {
    let path =
        std::fs::canonicalize(path).with_context(|| format!("resolve {}", path.display()))?;
    let info =
        std::fs::read_to_string("/proc/self/mountinfo").context("read /proc/self/mountinfo")?;
    info.lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(PathBuf::from)
        .filter(|m| path.starts_with(m))
        .max_by_key(|m| m.components().count())
        .with_context(|| format!("no mount holds {}", path.display()))
}

/// Mount a small tmpfs at `dir` and put a file in it.
pub fn mount_tmpfs_with_file(dir: &Path) -> Result<()> {
    mount(
        Some("tincan"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("size=1m"),
    )
    .with_context(|| format!("mount tmpfs at {}", dir.display()))?;
    let file = dir.join("made-inside");
    std::fs::write(&file, "hello\n").with_context(|| format!("write {}", file.display()))?;
    Ok(())
}

/// The propagation of the mount at `target` as /proc/self/mountinfo shows
/// it: `shared:N`, `master:N` (a slave), or nothing (private).
pub fn propagation_of(target: &str) -> Result<String> {
    let info =
        std::fs::read_to_string("/proc/self/mountinfo").context("read /proc/self/mountinfo")?;
    // Fields: id parent major:minor root mountpoint options [optional...] - fstype ...
    let line = info
        .lines()
        .rfind(|l| l.split_whitespace().nth(4) == Some(target))
        .with_context(|| format!("{target} is not a mount point"))?;
    let tags: Vec<&str> = line
        .split_whitespace()
        .skip(6)
        .take_while(|f| *f != "-")
        .map(|t| {
            if t.starts_with("shared:") {
                "shared"
            } else if t.starts_with("master:") {
                "slave"
            } else {
                t
            }
        })
        .collect();
    Ok(if tags.is_empty() {
        "private".into()
    } else {
        tags.join(",")
    })
}

/// A directory of ours under the temp dir, removed (and unmounted) on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Make `/tmp/tincan-02-<what>-<pid>`.
    pub fn new(what: &str) -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!("tincan-02-{what}-{}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("mkdir {}", path.display()))?;
        Ok(TempDir(path))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Detach anything still mounted there (only ever our own mounts).
        while umount2(&self.0, MntFlags::MNT_DETACH).is_ok() {}
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How many entries `dir` has, as the calling process sees it.
fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

// ANCHOR: propagation
/// As root: make our own shared mount point on the host, then mount a tmpfs
/// under it from a new mount namespace, once without and once after making
/// `/` private. Returns how many entries the host then sees, each time.
pub fn propagation_experiment() -> Result<(usize, usize)> {
    let shared = TempDir::new("shared")?;
    let dir = shared.path().to_path_buf();
    // Our own mount point, marked shared, like systemd marks `/`.
    mount(
        Some(&dir),
        &dir,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("bind-mount {} on itself", dir.display()))?;
    mount(
        None::<&str>,
        &dir,
        None::<&str>,
        MsFlags::MS_SHARED,
        None::<&str>,
    )
    .with_context(|| format!("mount --make-shared {}", dir.display()))?;
    let mut seen = Vec::new();
    for private_first in [false, true] {
        let sub = dir.join(if private_first { "private" } else { "leaky" });
        std::fs::create_dir_all(&sub).with_context(|| format!("mkdir {}", sub.display()))?;
        let inner = sub.clone();
        let exit = Sandbox::new(Namespaces::none().with(Namespace::Mount)).run(move || {
            if private_first {
                make_root_private()?;
            }
            mount_tmpfs_with_file(&inner)?;
            Ok(0)
        })?;
        anyhow::ensure!(exit == Exit::Code(0), "mount child ended with {exit}");
        seen.push(entries(&sub));
        // A leaked mount is ours: take it down before the next round.
        let _ = umount2(&sub, MntFlags::MNT_DETACH);
    }
    Ok((seen[0], seen[1]))
}
// ANCHOR_END: propagation

// ANCHOR: demo
/// The `mount` demo.
pub fn demo(out: &mut dyn Write) -> Result<()> {
    let outside = Probe::collect()?;
    let dir = TempDir::new("mount")?;
    let inner = dir.path().to_path_buf();
    let sandbox = Sandbox::new(Namespaces::none().with(Namespace::Mount));
    let inside = demo::probe_inside(sandbox, move || {
        let before = propagation_of("/")?;
        make_root_private()?;
        mount_tmpfs_with_file(&inner)?;
        Ok(vec![
            ("root_before".into(), before),
            ("root_after".into(), propagation_of("/")?),
            ("entries".into(), entries(&inner).to_string()),
        ])
    })?;
    demo::print_table(
        out,
        "A child in a new mount namespace, after mounting a tmpfs on a directory:",
        &outside,
        &inside.probe,
    )?;
    writeln!(
        out,
        "The tmpfs holds {} file inside; outside, the same directory holds {}.",
        inside.fact("entries"),
        entries(dir.path())
    )?;
    writeln!(
        out,
        "Propagation of / inside: {} when the namespace was copied, {} after\n\
         mount --make-rprivate /. (On the host it is {}.)",
        host(inside.fact("root_before")),
        inside.fact("root_after"),
        host(propagation_of("/")?),
    )?;
    if nix::unistd::geteuid().is_root() {
        let (leaky, private) = propagation_experiment()?;
        writeln!(
            out,
            "Under a shared mount point of our own, a tmpfs mounted inside showed up on the\n\
             host ({leaky} file) when / was left shared, and did not ({private} files) after\n\
             making / private first."
        )?;
    } else {
        writeln!(
            out,
            "(Run as root to also watch a mount leak to the host through a shared mount point.)"
        )?;
    }
    writeln!(
        out,
        "\nWhat just happened: the child got a copy of the host's mounts; after making its copy\n\
         private, what it mounts stays invisible to the host, and the host's later mounts\n\
         stay invisible to it."
    )?;
    Ok(())
}
// ANCHOR_END: demo
