//! A root filesystem with no download: tincan's static toolbox, a few
//! directories and three files of `/etc`.
//!
//! A root filesystem is only a directory tree. What makes it usable as `/`
//! is what the programs in it expect to find: a `/bin/sh`, the directories
//! the runtime mounts over (`/proc`, `/sys`, `/dev`, `/tmp`, see
//! [`crate::mounts`]), and `/etc/passwd`, `/etc/group` and `/etc/hostname`
//! for tools that look names up. Because the toolbox is linked statically,
//! the tree needs no `/lib` at all (ld.so(8) explains what a dynamic program
//! would need). `cargo xtask rootfs` calls [`build`]; the demos and tests
//! call [`locate`] and [`check`].

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The commands the toolbox answers to: one `bin/<name>` link each.
pub const COMMANDS: &[&str] = &[
    "sh",
    "ls",
    "cat",
    "echo",
    "touch",
    "ps",
    "hostname",
    "id",
    "mount",
    "sleep",
    "true",
    "false",
    "probe",
    "hog-cpu",
    "hog-mem",
    "fork-bomb",
    "crash",
    "escape-chroot",
    "syscall",
    "thread",
];

/// The target triple the toolbox is built for. Naming it explicitly keeps
/// `+crt-static` off build scripts and proc-macros, which must stay dynamic.
pub const TOOLBOX_TARGET: &str = "x86_64-unknown-linux-gnu";

/// The workspace root (this crate lives one folder below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the step04 crate lives one folder below the workspace root")
        .to_path_buf()
}

/// Cargo's target directory (`$CARGO_TARGET_DIR` or `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), Into::into)
}

/// Where `cargo xtask rootfs` puts the rootfs directory.
pub fn default_dir() -> PathBuf {
    target_dir().join("rootfs")
}

/// Where `cargo xtask rootfs` puts the rootfs tarball.
pub fn default_tarball() -> PathBuf {
    target_dir().join("rootfs.tar")
}

/// The rootfs to use: `given`, or the default one. Checked with [`check`].
pub fn locate(given: Option<&Path>) -> Result<PathBuf> {
    match given {
        Some(dir) => {
            check(dir)?;
            Ok(dir.to_path_buf())
        }
        None => {
            let dir = default_dir();
            if !dir.join("bin/toolbox").is_file() {
                bail!("rootfs missing: run `cargo xtask rootfs` (or pass --rootfs DIR)");
            }
            check(&dir)?;
            Ok(dir)
        }
    }
}

// ANCHOR: check
/// Is `dir` usable as a root filesystem? One clear error per problem.
pub fn check(dir: &Path) -> Result<()> {
    let meta = match fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "rootfs {} does not exist: run `cargo xtask rootfs` or pass an existing directory",
            dir.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("stat rootfs {}", dir.display())),
    };
    if !meta.is_dir() {
        bail!(
            "rootfs {} is not a directory: pass a directory (import a tarball with `import`)",
            dir.display()
        );
    }
    // `/bin/sh` may be a symlink *inside* the rootfs (bin/sh -> toolbox, or
    // an absolute /bin/busybox); resolve it relative to the rootfs, never
    // against the host's `/`.
    if resolve_inside(dir, Path::new("bin/sh"), 0).is_none() {
        bail!(
            "rootfs {} has no /bin/sh: every container here starts with /bin/sh; \
             pass a rootfs that has one (or run `cargo xtask rootfs`)",
            dir.display()
        );
    }
    Ok(())
}
// ANCHOR_END: check

/// Follow `rel` inside `root` the way the kernel will after chroot: an
/// absolute link target starts again at `root`. Returns the real file if it
/// is a regular file.
fn resolve_inside(root: &Path, rel: &Path, depth: u32) -> Option<PathBuf> {
    if depth > 16 {
        return None;
    }
    let mut path = root.to_path_buf();
    let components: Vec<_> = rel.components().collect();
    for (i, component) in components.iter().enumerate() {
        match component {
            std::path::Component::Normal(name) => path.push(name),
            std::path::Component::ParentDir => {
                if path != root {
                    path.pop();
                }
            }
            _ => continue,
        }
        let meta = fs::symlink_metadata(&path).ok()?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).ok()?;
            let base = path.parent()?.strip_prefix(root).ok()?.to_path_buf();
            let joined = if target.is_absolute() {
                target.strip_prefix("/").ok()?.to_path_buf()
            } else {
                base.join(target)
            };
            let rest: PathBuf = components[i + 1..].iter().collect();
            return resolve_inside(root, &joined.join(rest), depth + 1);
        }
    }
    fs::metadata(&path).ok()?.is_file().then_some(path)
}

/// The RUSTFLAGS of every static build (the toolbox, and the binaries of
/// `cargo xtask vm-test`): the same flags, so that the builds share one
/// target directory without rebuilding each other's crates.
pub const STATIC_RUSTFLAGS: &str = "-C target-feature=+crt-static -C strip=debuginfo";

/// Build the static toolbox with cargo and return the binary's path.
/// `strip=debuginfo` keeps it near 2 MB instead of 11: the rootfs is copied
/// and archived, and nobody debugs inside it.
pub fn build_toolbox() -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(workspace_root())
        .env("RUSTFLAGS", STATIC_RUSTFLAGS)
        .args([
            "build",
            "--quiet",
            "-p",
            "step04-toolbox",
            "--target",
            TOOLBOX_TARGET,
        ])
        .status()
        .context("run cargo build -p step04-toolbox")?;
    if !status.success() {
        bail!("cargo build -p step04-toolbox --target {TOOLBOX_TARGET} failed ({status})");
    }
    let binary = target_dir().join(TOOLBOX_TARGET).join("debug/toolbox");
    if !binary.is_file() {
        bail!(
            "cargo built the toolbox but {} is missing",
            binary.display()
        );
    }
    Ok(binary)
}

// ANCHOR: assemble
/// Lay out a root filesystem in `dir` around the `toolbox` binary and, when
/// there is one, a static `busybox` (its shell becomes `/bin/sh`, its other
/// applets fill the names the toolbox does not have). Safe to run again: it
/// only rewrites what differs.
pub fn assemble(toolbox: &Path, busybox: Option<&Path>, dir: &Path) -> Result<()> {
    for sub in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        let path = dir.join(sub);
        fs::create_dir_all(&path).with_context(|| format!("mkdir {}", path.display()))?;
    }
    // /tmp is world-writable with the sticky bit, as everywhere.
    set_mode(&dir.join("tmp"), 0o1777)?;
    install(toolbox, &dir.join("bin/toolbox"))?;
    for name in COMMANDS {
        link(dir, name, "toolbox")?;
    }
    if let Some(busybox) = busybox {
        install(busybox, &dir.join("bin/busybox"))?;
        for applet in crate::busybox::applets(busybox)? {
            if applet == "sh" || !COMMANDS.contains(&applet.as_str()) {
                link(dir, &applet, "busybox")?;
            }
        }
    }
    let files = [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ("etc/hostname", "tincan\n"),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        if fs::read_to_string(&path).ok().as_deref() != Some(text) {
            fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
        }
    }
    Ok(())
}
// ANCHOR_END: assemble

/// Copy the program `from` to `to` unless it is there already. Copy to a
/// new name and rename: a running container keeps its old binary, and a
/// half-written one never appears. The name is this process's own: two
/// builds at once (a test and `cargo xtask vm-test`) must not write the
/// same temporary file.
fn install(from: &Path, to: &Path) -> Result<()> {
    let wanted = fs::read(from)
        .with_context(|| format!("read {} (run `cargo xtask rootfs`)", from.display()))?;
    if fs::read(to).ok().as_ref() == Some(&wanted) {
        return Ok(());
    }
    let tmp = to.with_extension(format!("new.{}", std::process::id()));
    fs::write(&tmp, &wanted).with_context(|| format!("write {}", tmp.display()))?;
    set_mode(&tmp, 0o755)?;
    fs::rename(&tmp, to).with_context(|| format!("rename to {}", to.display()))
}

/// `bin/<name>` -> `<program>`: the program reads its `argv[0]` to know
/// which command it is.
fn link(dir: &Path, name: &str, program: &str) -> Result<()> {
    let link = dir.join("bin").join(name);
    if fs::read_link(&link).is_ok_and(|t| t == Path::new(program)) {
        return Ok(());
    }
    let _ = fs::remove_file(&link);
    if let Err(e) = std::os::unix::fs::symlink(program, &link) {
        // Another build made the same link in between: fine.
        if !fs::read_link(&link).is_ok_and(|t| t == Path::new(program)) {
            return Err(e).with_context(|| format!("symlink {} -> {program}", link.display()));
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

/// Write `dir` as an uncompressed tarball at `tarball` (symlinks stored as
/// links), through a temporary file so a reader never sees half of it.
pub fn write_tarball(dir: &Path, tarball: &Path) -> Result<()> {
    let tmp = tarball.with_extension("tar.partial");
    let file = fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    let mut builder = tar::Builder::new(file);
    builder.follow_symlinks(false);
    builder
        .append_dir_all(".", dir)
        .with_context(|| format!("archive {}", dir.display()))?;
    builder.into_inner().context("finish the tarball")?;
    fs::rename(&tmp, tarball).with_context(|| format!("rename to {}", tarball.display()))?;
    Ok(())
}

/// What `cargo xtask rootfs` does: build the toolbox, assemble the default
/// rootfs, write the tarball. Returns (directory, tarball).
pub fn build() -> Result<(PathBuf, PathBuf)> {
    let toolbox = build_toolbox()?;
    let busybox = match crate::busybox::locate() {
        Ok(path) => Some(path),
        Err(e) => {
            eprintln!("no static busybox ({e:#}): /bin/sh stays the toolbox's small shell");
            None
        }
    };
    let dir = default_dir();
    assemble(&toolbox, busybox.as_deref(), &dir)?;
    check(&dir)?;
    let tarball = default_tarball();
    write_tarball(&dir, &tarball)?;
    Ok((dir, tarball))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_inside_follows_absolute_links_within_the_root() {
        let root = std::env::temp_dir().join(format!("tincan-resolve-{}", std::process::id()));
        fs::create_dir_all(root.join("bin")).expect("mkdir");
        fs::write(root.join("bin/busybox"), "x").expect("write");
        std::os::unix::fs::symlink("/bin/busybox", root.join("bin/sh")).expect("link");
        std::os::unix::fs::symlink("/etc/passwd", root.join("bin/evil")).expect("link");
        assert_eq!(
            resolve_inside(&root, Path::new("bin/sh"), 0),
            Some(root.join("bin/busybox"))
        );
        // An absolute link to a host file resolves inside the root: missing.
        assert_eq!(resolve_inside(&root, Path::new("bin/evil"), 0), None);
        fs::remove_dir_all(&root).expect("clean up");
    }
}
