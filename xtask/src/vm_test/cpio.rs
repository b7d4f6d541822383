//! Step 4 of the VM test: the initramfs, a cpio archive the kernel unpacks
//! into its first root filesystem (ramfs-rootfs-initramfs in the kernel's
//! documentation), written here in Rust.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::binaries::Binaries;

// ANCHOR: cpio
/// Step 4: a cpio archive in the "newc" format the kernel unpacks: per
/// entry a 110-byte ASCII header (magic `070701` and 13 hex fields), the
/// name, then the data, each padded to 4 bytes; `TRAILER!!!` ends it.
pub(crate) struct Cpio {
    pub(crate) out: Vec<u8>,
    pub(crate) ino: u32,
}

impl Cpio {
    pub(crate) fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while self.out.len() % 4 != 0 {
            self.out.push(0);
        }
    }

    pub(crate) fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, (0, 0), &[]);
    }

    pub(crate) fn file(&mut self, name: &str, data: &[u8]) {
        self.entry(name, 0o100755, (0, 0), data);
    }

    fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, 0o120777, (0, 0), target.as_bytes());
    }

    /// Every parent directory of `path` (relative, `a/b/c` for `a/b/c/f`)
    /// not yet written.
    fn parents(&mut self, path: &Path, made: &mut std::collections::BTreeSet<PathBuf>) {
        let mut prefix = PathBuf::new();
        for part in path.parent().into_iter().flat_map(|p| p.iter()) {
            prefix.push(part);
            if made.insert(prefix.clone()) {
                self.dir(&prefix.to_string_lossy());
            }
        }
    }
}
// ANCHOR_END: cpio
/// Put the file `from` into the archive at its own absolute path `from`
/// (tests find their binaries at the paths they were built with).
fn at_own_path(
    cpio: &mut Cpio,
    from: &Path,
    made: &mut std::collections::BTreeSet<PathBuf>,
) -> Result<()> {
    let name = from.strip_prefix("/").unwrap_or(from);
    cpio.parents(name, made);
    let data = std::fs::read(from).with_context(|| format!("read {}", from.display()))?;
    cpio.file(&name.to_string_lossy(), &data);
    Ok(())
}

/// The toolbox rootfs at its own absolute path: directories, files and
/// the toolbox's symlinks.
fn rootfs_at_own_path(
    cpio: &mut Cpio,
    dir: &Path,
    made: &mut std::collections::BTreeSet<PathBuf>,
) -> Result<()> {
    let name = dir.strip_prefix("/").unwrap_or(dir).to_path_buf();
    cpio.parents(&name.join("x"), made);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries =
            std::fs::read_dir(&current).with_context(|| format!("list {}", current.display()))?;
        for entry in entries {
            let path = entry?.path();
            let inside = path
                .strip_prefix("/")
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            let meta = std::fs::symlink_metadata(&path)
                .with_context(|| format!("stat {}", path.display()))?;
            if meta.file_type().is_symlink() {
                let to = std::fs::read_link(&path)?;
                cpio.symlink(&inside, &to.to_string_lossy());
            } else if meta.is_dir() {
                cpio.dir(&inside);
                stack.push(path);
            } else {
                let data =
                    std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
                cpio.file(&inside, &data);
            }
        }
    }
    Ok(())
}

/// The host's programs that step 05's tests copy into their test images
/// (`05-full-container/tests/common`: `sh`, `cat`..., `mount`, `stat` and
/// `mknod` for `tests/propagation.rs`, and `ldd`, a bash
/// script, to find their libraries), and `sleep`, which a test starts
/// itself. The VM has no disk, so they travel in the initramfs, at the
/// host's paths, with the libraries they load.
const HOST_PROGRAMS: [&str; 14] = [
    "sh", "cat", "ls", "id", "hostname", "sleep", "touch", "rm", "grep", "ldd", "bash", "mount",
    "stat", "mknod",
];

/// `path` with `.` and `..` taken away lexically (its directories are real
/// ones: [`host_file`] follows the symlinks first).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Put the host's file `path` into the archive at the same path, with every
/// symlink on the way as a symlink too (a merged-/usr host has `bin ->
/// usr/bin`, `lib64 -> usr/lib64`, and `ld-linux` is a link), so any of
/// its names works in the VM.
fn host_file(
    cpio: &mut Cpio,
    path: &Path,
    made: &mut std::collections::BTreeSet<PathBuf>,
) -> Result<()> {
    let mut prefix = PathBuf::from("/");
    let parts: Vec<_> = path.strip_prefix("/").unwrap_or(path).iter().collect();
    for (i, part) in parts.iter().enumerate() {
        prefix.push(part);
        let meta = std::fs::symlink_metadata(&prefix)
            .with_context(|| format!("stat {}", prefix.display()))?;
        if !meta.file_type().is_symlink() {
            continue;
        }
        let inside = prefix.strip_prefix("/").unwrap_or(&prefix).to_path_buf();
        let to = std::fs::read_link(&prefix)
            .with_context(|| format!("readlink {}", prefix.display()))?;
        if made.insert(inside.clone()) {
            cpio.parents(&inside, made);
            cpio.symlink(&inside.to_string_lossy(), &to.to_string_lossy());
        }
        let rest: PathBuf = parts[i + 1..].iter().collect();
        let mut target = normalize(&prefix.parent().unwrap_or(Path::new("/")).join(to));
        if !rest.as_os_str().is_empty() {
            target.push(rest);
        }
        return host_file(cpio, &target, made);
    }
    let inside = path.strip_prefix("/").unwrap_or(path).to_path_buf();
    if made.insert(inside.clone()) {
        cpio.parents(&inside, made);
        let data = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
        cpio.file(&inside.to_string_lossy(), &data);
    }
    Ok(())
}

/// [`HOST_PROGRAMS`], found in `PATH`, and the libraries `ldd` lists for them.
fn host_programs(cpio: &mut Cpio, made: &mut std::collections::BTreeSet<PathBuf>) -> Result<()> {
    // A merged-/usr host's top-level links, which scripts' `#!/bin/bash`
    // lines go through.
    for dir in ["bin", "sbin", "lib", "lib64"] {
        let host = Path::new("/").join(dir);
        if let Ok(to) = std::fs::read_link(&host) {
            if made.insert(PathBuf::from(dir)) {
                cpio.symlink(dir, &to.to_string_lossy());
            }
        }
    }
    let path = std::env::var("PATH").unwrap_or_default();
    for program in HOST_PROGRAMS {
        let found = path
            .split(':')
            .map(|d| Path::new(d).join(program))
            .find(|p| p.is_file())
            .with_context(|| format!("{program} not found in PATH"))?;
        host_file(cpio, &found, made)?;
        let ldd = std::process::Command::new("ldd")
            .arg(&found)
            .output()
            .context("run ldd")?;
        for lib in String::from_utf8_lossy(&ldd.stdout)
            .split_whitespace()
            .filter(|w| w.starts_with('/'))
        {
            host_file(cpio, Path::new(lib), made)?;
        }
    }
    Ok(())
}

pub(super) fn write_initramfs(
    path: &Path,
    bins: &Binaries,
    modules: &[(&str, PathBuf)],
) -> Result<()> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("read {}", p.display()));
    let mut cpio = Cpio {
        out: Vec::new(),
        ino: 0,
    };
    let mut made = std::collections::BTreeSet::new();
    for dir in ["dev", "proc", "sys", "tmp"] {
        cpio.dir(dir);
        made.insert(PathBuf::from(dir));
    }
    // The kernel opens /dev/console for init's stdin/stdout/stderr before
    // devtmpfs is mounted, so the node must be in the archive: char 5:1.
    cpio.entry("dev/console", 0o020600, (5, 1), &[]);
    cpio.file("init", &read(&bins.init)?);
    cpio.file("kernel-tests", &read(&bins.tests)?);
    cpio.file("step03-demos", &read(&bins.step03_demos)?);
    for (name, test) in &bins.step05_tests {
        cpio.file(&format!("step05-{name}"), &read(test)?);
    }
    for (name, ko) in modules {
        cpio.file(name, &read(ko)?);
    }
    // The demo, tincan and the rootfs go where the tests were told they are.
    at_own_path(&mut cpio, &bins.demo, &mut made)?;
    at_own_path(&mut cpio, &bins.tincan, &mut made)?;
    rootfs_at_own_path(&mut cpio, &bins.rootfs, &mut made)?;
    host_programs(&mut cpio, &mut made)?;
    // The committed snapshots, where insta will look for them.
    for snapshot in super::snapshots::committed()? {
        at_own_path(&mut cpio, &snapshot, &mut made)?;
    }
    cpio.entry("TRAILER!!!", 0, (0, 0), &[]);
    std::fs::write(path, &cpio.out).with_context(|| format!("write {}", path.display()))
}
