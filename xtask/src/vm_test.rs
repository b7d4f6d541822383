//! `cargo xtask vm-test`: run the step 03 kernel tests and step 05's cgroup
//! tests on a real cgroup v2 kernel, inside a small QEMU virtual machine.
//!
//! Many development hosts (and CI machines) run cgroup v1 or a hybrid; most
//! users run v2. To test the v2 code for real, this boots Debian's kernel
//! with an initramfs that holds a static init (`xtask/src/bin/vm-init.rs`)
//! that mounts cgroup2 alone, the static test binaries of
//! `03-cgroups/tests/kernel.rs` and `05-full-container/tests/cgroup_view.rs`,
//! what they start (step 03's demo, tincan, the toolbox rootfs, each at the
//! absolute path the tests were built with), and the loop and overlay
//! modules. The init prints `TINCAN-VM-TEST: PASS` or `FAIL` on the serial
//! console, which QEMU connects to our stdout. Its `/` is the initramfs,
//! where pivot_root(2) cannot work, so the step 05 tests pass `--no-pivot`
//! there (and check the refusal without it).
//!
//! The steps, each one function below:
//! 1. make sure `qemu-system-x86_64` and a kernel in /boot exist (apt-get
//!    installs `qemu-system-x86` and `linux-image-amd64` when we are root);
//! 2. extract an uncompressed `vmlinux` from the bzImage (like the kernel's
//!    `scripts/extract-vmlinux`: find a compressed payload's magic bytes and
//!    decompress from there), cached under `target/vm-test/`;
//! 3. build the test, demo and init binaries static for
//!    `x86_64-unknown-linux-gnu` (the explicit `--target` keeps
//!    `+crt-static` away from proc-macros, which must stay dynamic);
//! 4. write the initramfs (cpio "newc" format, written here in Rust);
//! 5. boot with `-M microvm,pit=on` and `tsc_early_khz=` (without them the
//!    kernel hangs calibrating its clock under emulation) and wait for the
//!    marker line, with a timeout.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::util::{self, cargo, is_root, root};

/// The target triple the static binaries are built for.
const TARGET: &str = "x86_64-unknown-linux-gnu";
/// What the VM may take in total before we call it hung.
const TIMEOUT: Duration = Duration::from_secs(240);
/// The line vm-init prints last.
pub(crate) const MARKER: &str = "TINCAN-VM-TEST:";
/// Debian packages this needs.
const PACKAGES: [&str; 2] = ["qemu-system-x86", "linux-image-amd64"];

/// Run the VM test.
pub fn run() -> Result<()> {
    let started = Instant::now();
    ensure_packages()?;
    let bzimage = newest_kernel()?;
    let work = root().join("target/vm-test");
    std::fs::create_dir_all(&work).with_context(|| format!("mkdir {}", work.display()))?;
    let vmlinux = extract_vmlinux(&bzimage, &work)?;
    let bins = build_static()?;
    let initramfs = work.join("initramfs.cpio");
    write_initramfs(&initramfs, &bins, &modules(&bzimage))?;
    let accel = choose_accel();
    eprintln!(
        "booting {} with QEMU accelerator {accel}",
        vmlinux.display()
    );
    let ok = boot(&vmlinux, &initramfs, accel)?;
    eprintln!(
        "vm-test took {:.1} s (accelerator {accel})",
        started.elapsed().as_secs_f64()
    );
    if !ok {
        bail!(
            "the step 03 or step 05 tests failed inside the cgroup v2 VM (see the console log above)"
        );
    }
    println!("vm-test: the step 03 and step 05 tests passed on cgroup v2 (accelerator {accel})");
    Ok(())
}

pub(crate) fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Step 1: QEMU and a Debian kernel, installed with apt-get when missing.
fn ensure_packages() -> Result<()> {
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

/// The static binaries the initramfs holds.
struct Binaries {
    init: PathBuf,
    tests: PathBuf,
    /// The demo binary, and the absolute path the tests will look for it at
    /// (`CARGO_BIN_EXE_step03-cgroups` is compiled into them).
    demo: PathBuf,
    /// Step 05's cgroup tests (`05-full-container/tests/cgroup_view.rs`).
    step05_tests: PathBuf,
    /// tincan, at the absolute path those tests were built with.
    tincan: PathBuf,
    /// The toolbox rootfs directory the step 05 tests use.
    rootfs: PathBuf,
}

/// Build with `+crt-static` for [`TARGET`] and return the executables cargo
/// reports in its JSON messages.
fn static_build(args: &[&str]) -> Result<Vec<PathBuf>> {
    let mut cmd = cargo();
    cmd.args(args)
        .args([
            "--target",
            TARGET,
            "--message-format",
            "json-render-diagnostics",
        ])
        .env("RUSTFLAGS", step04::rootfs::STATIC_RUSTFLAGS)
        .stdout(Stdio::piped());
    eprintln!(
        "$ RUSTFLAGS='{}' {}",
        step04::rootfs::STATIC_RUSTFLAGS,
        util::show(&cmd)
    );
    let output = cmd.output().context("run cargo")?;
    if !output.status.success() {
        bail!("static build failed: `{}`", util::show(&cmd));
    }
    Ok(executables(&String::from_utf8_lossy(&output.stdout)))
}

/// The static `vm-init` alone (what `cargo xtask bench` boots).
pub(crate) fn build_init() -> Result<PathBuf> {
    static_build(&["build", "-p", "xtask", "--bin", "vm-init"])?
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "vm-init"))
        .context("cargo reported no vm-init executable")
}

/// Step 3: build static binaries and find them in cargo's JSON messages.
fn build_static() -> Result<Binaries> {
    let tests = static_build(&[
        "test",
        "--no-run",
        "-p",
        "step03-cgroups",
        "--test",
        "kernel",
    ])?;
    let step05 = static_build(&[
        "test",
        "--no-run",
        "-p",
        "step05-full-container",
        "--test",
        "cgroup_view",
    ])?;
    let init = static_build(&["build", "-p", "xtask", "--bin", "vm-init"])?;
    // The toolbox rootfs, built with the same flags (so no rebuild).
    let (rootfs, _) = step04::rootfs::build()?;
    let find = |list: &[PathBuf], what: &str, test: &dyn Fn(&str) -> bool| {
        list.iter()
            .find(|p| p.file_name().is_some_and(|n| test(&n.to_string_lossy())))
            .cloned()
            .with_context(|| format!("cargo reported no {what} executable"))
    };
    Ok(Binaries {
        tests: find(&tests, "kernel test", &|n| n.starts_with("kernel-"))?,
        demo: find(&tests, "step03-cgroups", &|n| n == "step03-cgroups")?,
        init: find(&init, "vm-init", &|n| n == "vm-init")?,
        step05_tests: find(&step05, "cgroup_view test", &|n| {
            n.starts_with("cgroup_view-")
        })?,
        tincan: find(&step05, "tincan", &|n| n == "tincan")?,
        rootfs,
    })
}

/// The `"executable":"..."` paths in cargo's JSON messages (one object per
/// line; paths never contain quotes, so no JSON library is needed).
pub(crate) fn executables(json: &str) -> Vec<PathBuf> {
    json.lines()
        .filter(|l| l.contains(r#""reason":"compiler-artifact""#))
        .filter_map(|l| {
            let start = l.find(r#""executable":""#)? + r#""executable":""#.len();
            let end = l[start..].find('"')? + start;
            Some(PathBuf::from(&l[start..end]))
        })
        .collect()
}

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

/// The kernel modules the VM loads, by the name vm-init looks for: the loop
/// block driver (the step 03 io test reads a loop device, since the VM has
/// no disk) and overlayfs (tincan's container layer). Debian builds both
/// as modules of the kernel `bzimage`.
fn modules(bzimage: &Path) -> Vec<(&'static str, PathBuf)> {
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

fn write_initramfs(path: &Path, bins: &Binaries, modules: &[(&str, PathBuf)]) -> Result<()> {
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
    cpio.file("step05-tests", &read(&bins.step05_tests)?);
    for (name, ko) in modules {
        cpio.file(name, &read(ko)?);
    }
    // The demo, tincan and the rootfs go where the tests were told they are.
    at_own_path(&mut cpio, &bins.demo, &mut made)?;
    at_own_path(&mut cpio, &bins.tincan, &mut made)?;
    rootfs_at_own_path(&mut cpio, &bins.rootfs, &mut made)?;
    cpio.entry("TRAILER!!!", 0, (0, 0), &[]);
    std::fs::write(path, &cpio.out).with_context(|| format!("write {}", path.display()))
}

/// KVM only where it really boots Linux. The nested *software* hypervisor
/// `kvm_pvm` runs tiny guests but hangs on a stock kernel, so with it (or
/// without a usable /dev/kvm) we use QEMU's TCG emulation.
/// `TINCAN_VM_ACCEL=kvm|tcg` overrides the choice.
pub(crate) fn choose_accel() -> &'static str {
    match std::env::var("TINCAN_VM_ACCEL").as_deref() {
        Ok("kvm") => return "kvm",
        Ok("tcg") => return "tcg",
        _ => {}
    }
    let kvm_usable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let software_kvm = Path::new("/sys/module/kvm_pvm").exists();
    if kvm_usable && !software_kvm {
        "kvm"
    } else {
        "tcg"
    }
}

/// The host's TSC frequency in kHz, which the guest cannot measure quickly
/// under emulation.
pub(crate) fn tsc_khz() -> u64 {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("cpu MHz")?
                .split(':')
                .nth(1)?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(2_000_000, |mhz| (mhz * 1000.0) as u64)
}

/// The QEMU command line that boots `vmlinux` with `initramfs`: a microvm
/// with the PIT (Linux calibrates its clocks with it), one CPU, the serial
/// console on stdout (piped), and no reboot, so the guest powering off or
/// panicking ends QEMU.
pub(crate) fn qemu_command(
    vmlinux: &Path,
    initramfs: &Path,
    accel: &str,
    memory: &str,
    append: &str,
) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-M",
        "microvm,pit=on",
        "-accel",
        accel,
        "-m",
        memory,
        "-smp",
        "1",
    ])
    .args(["-nographic", "-no-reboot"])
    .arg("-kernel")
    .arg(vmlinux)
    .arg("-initrd")
    .arg(initramfs)
    .args(["-append", append])
    .stdin(Stdio::null())
    .stdout(Stdio::piped());
    cmd
}

// ANCHOR: boot
/// Step 5: boot, echo the console, and wait for the marker line.
fn boot(vmlinux: &Path, initramfs: &Path, accel: &str) -> Result<bool> {
    let mut append = format!("console=ttyS0 quiet panic=-1 tsc_early_khz={}", tsc_khz());
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        // Unknown `key=value` words on the kernel command line become
        // init's environment: the tests then refuse to skip.
        append.push_str(" CI=true");
    }
    let mut cmd = qemu_command(vmlinux, initramfs, accel, "1G", &append);
    eprintln!("$ {}", util::show(&cmd));
    let mut qemu = cmd.spawn().context("start qemu-system-x86_64")?;
    let stdout = qemu.stdout.take().context("qemu stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            eprintln!("vm| {line}");
            if let Some(verdict) = line.trim().strip_prefix(MARKER) {
                let _ = tx.send(verdict.trim() == "PASS");
            }
        }
    });
    let verdict = rx.recv_timeout(TIMEOUT);
    // Give the guest a moment to power off by itself, then make sure.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && qemu.try_wait()?.is_none() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = qemu.kill();
    let _ = qemu.wait();
    match verdict {
        Ok(pass) => Ok(pass),
        Err(_) => bail!(
            "no `{MARKER}` line from the VM within {} s",
            TIMEOUT.as_secs()
        ),
    }
}
// ANCHOR_END: boot
