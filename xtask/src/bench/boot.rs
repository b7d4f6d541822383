//! Step 4b of the bench: a Linux kernel booting under QEMU, timed to the
//! first line its init prints, and QEMU's memory at that moment.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::memory::rss_pss;
use super::{Plan, Prepared, Row};
use crate::util::root;
use crate::vm_test;

/// The median of `runs` timings; the first failure ends it.
fn median_of(runs: usize, mut once: impl FnMut() -> Result<Duration>) -> Result<Duration> {
    let mut times = (0..runs).map(|_| once()).collect::<Result<Vec<_>>>()?;
    times.sort();
    Ok(times[times.len() / 2])
}

// ANCHOR: boot
/// Step 4b: boot Debian's kernel under QEMU with an initramfs holding only
/// `vm-init`, told by the kernel command line to print its marker line at
/// once. Timed from starting QEMU to that line: QEMU's own start, the
/// kernel's boot, unpacking the initramfs, and exec of init. Also returns
/// QEMU's Rss and Pss (KiB) at that moment.
pub(super) fn time_boot(plan: &Plan, prepared: &Prepared) -> (Row, Option<(u64, u64)>) {
    let accel = vm_test::choose_accel();
    let runs = plan.runs(5, 3);
    let mut rss = Vec::new();
    let median = (|| -> Result<Duration> {
        if !vm_test::on_path("qemu-system-x86_64") {
            bail!("QEMU is not installed (`cargo xtask vm-test` installs it as root)");
        }
        let vmlinux = prepared.vmlinux.clone().map_err(anyhow::Error::msg)?;
        let init = prepared.init.clone().map_err(anyhow::Error::msg)?;
        let initramfs = root().join("target/bench/boot-initramfs.cpio");
        write_initramfs(&initramfs, &init)?;
        median_of(runs, || {
            let (took, kib) = boot_once(&vmlinux, &initramfs, accel)?;
            rss.extend(kib);
            Ok(took)
        })
    })();
    rss.sort();
    let row = Row {
        key: "boot".into(),
        spread: None,
        label: format!("Linux kernel boot to init under QEMU ({accel}, 128 MiB, 1 vCPU)"),
        source: format!("timed by xtask, {runs} runs"),
        median: median.map_err(|e| format!("{e:#}")),
    };
    (row, rss.get(rss.len() / 2).copied())
}

fn write_initramfs(path: &Path, init: &Path) -> Result<()> {
    let mut cpio = vm_test::Cpio {
        out: Vec::new(),
        ino: 0,
    };
    for dir in ["dev", "proc", "sys"] {
        cpio.dir(dir);
    }
    // init's stdin/stdout/stderr: the kernel opens /dev/console for them.
    cpio.entry("dev/console", 0o020600, (5, 1), &[]);
    let data = std::fs::read(init).with_context(|| format!("read {}", init.display()))?;
    cpio.file("init", &data);
    cpio.entry("TRAILER!!!", 0, (0, 0), &[]);
    std::fs::write(path, &cpio.out).with_context(|| format!("write {}", path.display()))
}

/// One boot: the time to the marker line, and QEMU's Rss and Pss then.
fn boot_once(
    vmlinux: &Path,
    initramfs: &Path,
    accel: &str,
) -> Result<(Duration, Option<(u64, u64)>)> {
    let append = format!(
        "console=ttyS0 quiet panic=-1 tsc_early_khz={} TINCAN_BOOT_ONLY=1",
        vm_test::tsc_khz()
    );
    let mut cmd = vm_test::qemu_command(vmlinux, initramfs, accel, "128M", &append);
    cmd.stderr(Stdio::null());
    let start = Instant::now();
    let mut qemu = cmd.spawn().context("start qemu-system-x86_64")?;
    let pid = qemu.id();
    let stdout = qemu.stdout.take().context("qemu stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains(vm_test::MARKER) {
                let _ = tx.send(Instant::now());
            }
        }
    });
    let seen = rx.recv_timeout(Duration::from_secs(120));
    let rss = rss_pss(pid).ok();
    // The guest powers itself off; make sure QEMU is gone either way.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && qemu.try_wait()?.is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = qemu.kill();
    let _ = qemu.wait();
    let at = seen
        .map_err(|_| anyhow::anyhow!("no `{}` line from the VM within 120 s", vm_test::MARKER))?;
    Ok((at - start, rss))
}
// ANCHOR_END: boot
