//! A real shell for the rootfs: Debian's static busybox, next to the
//! toolbox.
//!
//! The toolbox's own `sh` splits a line at `;` and runs each command: no
//! variables, no loops, no pipes. A learner who types `for i in 1 2; do
//! echo $i; done` deserves a real shell, and so do the images built from
//! this rootfs. busybox is one binary that answers to ~300 names (`sh`,
//! `ip`, `nc`, `wget`, `httpd`, ...), chosen by `argv[0]` as the toolbox
//! is. Debian's `busybox-static` is linked statically, so it needs no
//! loader and no `/lib` in the rootfs, like the toolbox: a dynamic binary
//! would fail `execve` with ENOENT, because its `PT_INTERP` loader
//! (`/lib64/ld-linux-x86-64.so.2`) is not there.
//!
//! Where it comes from, first found wins: `target/busybox/busybox` (a copy
//! made before), the host's `/bin/busybox` when that is static (Debian's
//! `busybox-static` package), or `apt-get download busybox-static` into
//! `target/busybox/`, which needs no root.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The static busybox to put in the rootfs, or why there is none.
pub fn locate() -> Result<PathBuf> {
    let cached = cache_dir().join("busybox");
    if is_static_elf(&cached) {
        return Ok(cached);
    }
    let host = Path::new("/bin/busybox");
    if is_static_elf(host) {
        return Ok(host.to_path_buf());
    }
    download(&cached)?;
    Ok(cached)
}

/// `target/busybox/`: where a downloaded busybox is kept.
fn cache_dir() -> PathBuf {
    crate::rootfs::target_dir().join("busybox")
}

/// Fetch Debian's `busybox-static` package and take `bin/busybox` out of
/// it: `apt-get download` writes the `.deb` into the current directory,
/// `dpkg-deb -x` unpacks it without installing anything.
fn download(dest: &Path) -> Result<()> {
    let dir = cache_dir();
    fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
    let fetched = Command::new("apt-get")
        .current_dir(&dir)
        .args(["download", "-qq", "busybox-static"])
        .status()
        .context("run apt-get download busybox-static")?;
    if !fetched.success() {
        bail!("apt-get download busybox-static failed ({fetched})");
    }
    let deb = fs::read_dir(&dir)
        .with_context(|| format!("read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .context("apt-get download busybox-static wrote no .deb")?;
    let unpacked = dir.join("package");
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&unpacked)
        .status()
        .context("run dpkg-deb -x")?;
    if !status.success() {
        bail!("dpkg-deb -x {} failed ({status})", deb.display());
    }
    let binary = unpacked.join("bin/busybox");
    fs::copy(&binary, dest)
        .with_context(|| format!("copy {} to {}", binary.display(), dest.display()))?;
    let _ = fs::remove_dir_all(&unpacked);
    let _ = fs::remove_file(&deb);
    if !is_static_elf(dest) {
        bail!("{} is not a static ELF binary", dest.display());
    }
    Ok(())
}

// ANCHOR: is_static
/// A static ELF binary has no `PT_INTERP` program header: nothing for the
/// kernel to load before it. (elf(5): the program header table starts at
/// `e_phoff`, `e_phnum` entries of `e_phentsize` bytes, type first.)
pub fn is_static_elf(path: &Path) -> bool {
    const PT_INTERP: u32 = 3;
    let Ok(bytes) = fs::read(path) else {
        return false;
    };
    // 64-bit little-endian ELF only: the machine this rootfs is for.
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return false;
    }
    let word = |at: usize, len: usize| -> Option<u64> {
        let mut buf = [0u8; 8];
        buf[..len].copy_from_slice(bytes.get(at..at + len)?);
        Some(u64::from_le_bytes(buf))
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (word(32, 8), word(54, 2), word(56, 2))
    else {
        return false;
    };
    (0..phnum).all(|i| {
        let at = usize::try_from(phoff + i * phentsize).unwrap_or(usize::MAX);
        word(at, 4).is_some_and(|kind| kind != u64::from(PT_INTERP))
    })
}
// ANCHOR_END: is_static

/// The names this busybox answers to (`busybox --list`, one per line).
pub fn applets(busybox: &Path) -> Result<Vec<String>> {
    let out = Command::new(busybox)
        .arg("--list")
        .output()
        .with_context(|| format!("run {} --list", busybox.display()))?;
    if !out.status.success() {
        bail!("{} --list failed ({})", busybox.display(), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        // The list names `busybox` itself: that is the binary, not a link.
        .filter(|name| !name.is_empty() && !name.contains('/') && name != "busybox")
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF header and one program header of type `kind`.
    fn elf_with_header(kind: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; 64 + 56];
        bytes[..6].copy_from_slice(b"\x7fELF\x02\x01");
        bytes[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        bytes[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        bytes[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        bytes[64..68].copy_from_slice(&kind.to_le_bytes());
        bytes
    }

    #[test]
    fn only_an_elf_without_an_interpreter_is_static() {
        let dir = std::env::temp_dir().join(format!("tincan-elf-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("mkdir");
        let (load, interp) = (dir.join("static"), dir.join("dynamic"));
        fs::write(&load, elf_with_header(1)).expect("write");
        fs::write(&interp, elf_with_header(3)).expect("write");
        assert!(is_static_elf(&load));
        assert!(!is_static_elf(&interp));
        assert!(!is_static_elf(Path::new("/etc/passwd")));
        assert!(!is_static_elf(&dir.join("missing")));
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
