//! `cargo xtask vm-test`: run the step 03 kernel tests and demo snapshots,
//! and step 05's cgroup tests, on a real cgroup v2 kernel, inside a small
//! QEMU virtual machine.
//!
//! Many development hosts (and CI machines) run cgroup v1 or a hybrid; most
//! users run v2. To test the v2 code for real, this boots Debian's kernel
//! with an initramfs that holds a static init (`xtask/src/bin/vm-init.rs`)
//! that mounts cgroup2 alone; the static test binaries of
//! `03-cgroups/tests/{kernel,demos}.rs` and of the step 05 files in
//! `binaries::STEP05_TESTS`; what they start (step 03's demo, tincan, the
//! toolbox rootfs, each at the absolute path the tests were built with);
//! the host programs step 05's test images are made of, with their
//! libraries; the committed v2 snapshots (see `snapshots.rs`); and the loop
//! and overlay modules. The init prints `TINCAN-VM-TEST: PASS` or `FAIL` on
//! the serial console, which QEMU connects to our stdout. Its `/` is the
//! initramfs, where pivot_root(2) cannot work, so `cgroup_view.rs` passes
//! `--no-pivot` there (and checks the refusal without it); for the other
//! step 05 files the init first makes a bind mount of `/` the root.
//!
//! The steps, each in a file of its own:
//! 1. (`kernel.rs`) make sure `qemu-system-x86_64` and a kernel in /boot exist (apt-get
//!    installs `qemu-system-x86` and `linux-image-amd64` when we are root);
//! 2. (`kernel.rs`) extract an uncompressed `vmlinux` from the bzImage (like the kernel's
//!    `scripts/extract-vmlinux`: find a compressed payload's magic bytes and
//!    decompress from there), cached under `target/vm-test/`;
//! 3. (`binaries.rs`) build the test, demo and init binaries static for
//!    `x86_64-unknown-linux-gnu` (the explicit `--target` keeps
//!    `+crt-static` away from proc-macros, which must stay dynamic);
//! 4. (`cpio.rs`) write the initramfs (cpio "newc" format, written here in Rust);
//! 5. (`qemu.rs`, [`boot`] below) boot with `-M microvm,pit=on` and `tsc_early_khz=` (without them the
//!    kernel hangs calibrating its clock under emulation) and wait for the
//!    marker line, with a timeout.

mod binaries;
mod cpio;
mod kernel;
mod qemu;
mod snapshots;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::util::{self, root};
use binaries::build_static;
pub(crate) use binaries::{build_init, executables};
pub(crate) use cpio::Cpio;
use cpio::write_initramfs;
use kernel::{ensure_packages, modules};
pub(crate) use kernel::{extract_vmlinux, newest_kernel};
pub(crate) use qemu::{choose_accel, qemu_command, tsc_khz};

/// The target triple the static binaries are built for.
const TARGET: &str = "x86_64-unknown-linux-gnu";
/// What the VM may take in total before we call it hung.
const TIMEOUT: Duration = Duration::from_secs(240);
/// The line vm-init prints last.
pub(crate) const MARKER: &str = "TINCAN-VM-TEST:";
/// Debian packages this needs.
const PACKAGES: [&str; 2] = ["qemu-system-x86", "linux-image-amd64"];

/// Run the VM test; with `accept`, write the v2 snapshots the VM took into
/// the checkout instead of comparing them (see [`snapshots`]).
pub fn run(accept: bool) -> Result<()> {
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
    let booted = Instant::now();
    let (ok, taken) = boot(&vmlinux, &initramfs, accel, accept)?;
    eprintln!(
        "vm-test took {:.1} s, the VM {:.1} s of it (accelerator {accel})",
        started.elapsed().as_secs_f64(),
        booted.elapsed().as_secs_f64()
    );
    if accept {
        snapshots::write_back(&taken)?;
    }
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

// ANCHOR: boot
/// Step 5: boot, echo the console, and wait for the marker line.
fn boot(
    vmlinux: &Path,
    initramfs: &Path,
    accel: &str,
    accept: bool,
) -> Result<(bool, Vec<(PathBuf, String)>)> {
    let mut append = format!("console=ttyS0 quiet panic=-1 tsc_early_khz={}", tsc_khz());
    append.push_str(&snapshots::kernel_args(accept));
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
    let reader = std::thread::spawn(move || {
        let mut taken = snapshots::Collector::default();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if taken.line(&line) {
                continue;
            }
            eprintln!("vm| {line}");
            if let Some(verdict) = line.trim().strip_prefix(MARKER) {
                let _ = tx.send(verdict.trim() == "PASS");
            }
        }
        taken.files
    });
    let verdict = rx.recv_timeout(TIMEOUT);
    // Give the guest a moment to power off by itself, then make sure.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && qemu.try_wait()?.is_none() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = qemu.kill();
    let _ = qemu.wait();
    // QEMU is gone, so its stdout has ended and the reader returns.
    let taken = reader.join().unwrap_or_default();
    match verdict {
        Ok(pass) => Ok((pass, taken)),
        Err(_) => bail!(
            "no `{MARKER}` line from the VM within {} s",
            TIMEOUT.as_secs()
        ),
    }
}
// ANCHOR_END: boot
