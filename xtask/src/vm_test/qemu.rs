//! How the VM test (step 5) and the bench start QEMU: KVM where it really
//! boots Linux, TCG emulation elsewhere, and a microvm with the clock the
//! kernel needs and its serial console on our stdout.

use std::path::Path;
use std::process::{Command, Stdio};

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
