//! Steps 1 and 2 of the VM test: QEMU and Debian's kernel (installed with
//! apt-get when missing), the uncompressed `vmlinux` inside its bzImage,
//! and the kernel modules the guest loads.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::{PACKAGES, on_path};
use crate::util::{self, is_root};

/// Step 1: QEMU and a Debian kernel, installed with apt-get when missing.
pub(super) fn ensure_packages() -> Result<()> {
    let have_qemu = on_path("qemu-system-x86_64");
    let have_kernel = newest_kernel().is_ok();
    if have_qemu && have_kernel {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "vm-test needs QEMU and a kernel image: run `sudo apt-get install {}` \
             (or run this as root, and it installs them)",
            PACKAGES.join(" ")
        );
    }
    let install = |update: bool| -> Result<()> {
        if update {
            util::run(Command::new("apt-get").args(["update", "-q"]))?;
        }
        util::run(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "-q", "--no-install-recommends"])
                .args(PACKAGES),
        )
    };
    // A fresh machine may have no package lists yet: update and retry once.
    install(false).or_else(|_| install(true))
}

/// The newest `/boot/vmlinuz-*`.
pub(crate) fn newest_kernel() -> Result<PathBuf> {
    let mut kernels: Vec<PathBuf> = std::fs::read_dir("/boot")
        .context("read /boot")?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .collect();
    kernels.sort();
    kernels
        .pop()
        .context("no /boot/vmlinuz-* (install linux-image-amd64)")
}

// ANCHOR: extract
/// Step 2: find a compressed payload in the bzImage and decompress it. The
/// first candidate that decompresses to an ELF file is the kernel.
pub(crate) fn extract_vmlinux(bzimage: &Path, work: &Path) -> Result<PathBuf> {
    let name = bzimage
        .file_name()
        .map_or("vmlinuz".into(), |n| n.to_string_lossy().into_owned());
    let out = work.join(name.replace("vmlinuz", "vmlinux"));
    if out.exists() {
        return Ok(out);
    }
    let image = std::fs::read(bzimage).with_context(|| format!("read {}", bzimage.display()))?;
    let formats: [(&[u8], &str, &[&str]); 3] = [
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], "xz", &["-dc"]),
        (&[0x28, 0xb5, 0x2f, 0xfd], "zstd", &["-dcq"]),
        (&[0x1f, 0x8b, 0x08], "gzip", &["-dc"]),
    ];
    for (magic, tool, args) in formats {
        let starts = image
            .windows(magic.len())
            .enumerate()
            .filter(|(_, w)| *w == magic);
        for (offset, _) in starts {
            let mut child = Command::new(tool)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("start {tool} (apt-get install {tool})"))?;
            let mut stdin = child.stdin.take().context("stdin")?;
            let payload = image[offset..].to_vec();
            // Feed from a thread: the decompressor's output pipe must be
            // drained at the same time. Trailing bytes make it complain on
            // stderr; the output is what counts.
            let feeder = std::thread::spawn(move || {
                let _ = stdin.write_all(&payload);
            });
            let output = child
                .wait_with_output()
                .with_context(|| format!("run {tool}"))?;
            let _ = feeder.join();
            if output.stdout.starts_with(b"\x7fELF") {
                std::fs::write(&out, &output.stdout)
                    .with_context(|| format!("write {}", out.display()))?;
                eprintln!(
                    "extracted {} ({tool} payload at byte {offset})",
                    out.display()
                );
                return Ok(out);
            }
        }
    }
    bail!(
        "no xz, zstd or gzip payload in {} decompresses to an ELF kernel",
        bzimage.display()
    )
}
// ANCHOR_END: extract
/// The kernel modules the VM loads, by the name vm-init looks for: the loop
/// block driver (the step 03 io test reads a loop device, since the VM has
/// no disk) and overlayfs (tincan's container layer). Debian builds both
/// as modules of the kernel `bzimage`.
pub(super) fn modules(bzimage: &Path) -> Vec<(&'static str, PathBuf)> {
    let Some(release) = bzimage
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinuz-"))
    else {
        return Vec::new();
    };
    let dir = Path::new("/lib/modules").join(release).join("kernel");
    [
        ("loop.ko", "drivers/block/loop.ko"),
        ("overlay.ko", "fs/overlayfs/overlay.ko"),
    ]
    .into_iter()
    .map(|(name, path)| (name, dir.join(path)))
    .filter(|(_, ko)| ko.exists())
    .collect()
}
