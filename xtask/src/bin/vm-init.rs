//! `vm-init`: PID 1 of the small VM that `cargo xtask vm-test` boots.
//!
//! The kernel unpacks the initramfs (a cpio archive) into its root
//! filesystem and runs `/init` as process 1 (see the kernel's
//! Documentation/filesystems/ramfs-rootfs-initramfs.rst). This init mounts
//! what the tests need (proc(5), sysfs(5), and cgroup2 with all its
//! controllers, see cgroups(7)), runs the step 03 and step 05 test
//! binaries, prints a
//! marker line on the serial console, and powers off. `cargo xtask bench`
//! boots it too, in a boot-only mode that prints the marker at once. It is
//! built static (`-C target-feature=+crt-static`): the initramfs has no
//! dynamic loader.

use std::ffi::CString;
use std::process::Command;

/// The line `cargo xtask vm-test` waits for.
const MARKER: &str = "TINCAN-VM-TEST:";

fn mount(source: &str, target: &str, fstype: &str) {
    let _ = std::fs::create_dir_all(target);
    let (s, t, f) = (
        CString::new(source).expect("no NUL in a literal"),
        CString::new(target).expect("no NUL in a literal"),
        CString::new(fstype).expect("no NUL in a literal"),
    );
    // SAFETY: three valid NUL-terminated strings and no data argument.
    let rc = unsafe { libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        println!(
            "vm-init: mount {fstype} at {target}: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Load a kernel module shipped in the initramfs (finit_module(2)): the
/// loop driver (the step 03 io test throttles a loop device, the VM having
/// no disk) and overlayfs (tincan's container layers).
fn load_module(path: &str) {
    let Ok(file) = std::fs::File::open(path) else {
        return;
    };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    // SAFETY: a valid open fd, an empty NUL-terminated parameter string, no flags.
    let rc = unsafe { libc::syscall(libc::SYS_finit_module, fd, c"".as_ptr(), 0) };
    if rc != 0 {
        println!(
            "vm-init: finit_module {path}: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn power_off(ok: bool) -> ! {
    println!("{MARKER} {}", if ok { "PASS" } else { "FAIL" });
    // SAFETY: sync(2) and reboot(2) take no pointers; we are PID 1 and root.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_POWER_OFF);
    }
    // If power-off is not possible, PID 1 exiting panics the kernel, and
    // `panic=-1` + QEMU's `-no-reboot` end the VM just the same.
    std::process::exit(if ok { 0 } else { 1 })
}

fn main() {
    // `cargo xtask bench` times a boot: the kernel's work up to the first
    // line its init prints. `TINCAN_BOOT_ONLY=1` on the kernel command line
    // (an unknown `key=value`, so it lands in our environment) asks for
    // nothing more than that line.
    if std::env::var_os("TINCAN_BOOT_ONLY").is_some() {
        power_off(true);
    }
    mount("proc", "/proc", "proc");
    mount("sysfs", "/sys", "sysfs");
    mount("devtmpfs", "/dev", "devtmpfs");
    load_module("/loop.ko");
    load_module("/overlay.ko");
    // No tmpfs on /tmp: the initramfs is already in RAM and writable, and
    // the demo binary sits at the absolute path it was built at, which may
    // itself be under /tmp (a checkout in a temporary directory).
    // cgroup2 mounted alone: a pure v2 host, every controller on the unified side.
    mount("cgroup2", "/sys/fs/cgroup", "cgroup2");
    let controllers = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
        .unwrap_or_else(|e| format!("unreadable ({e})"));
    // The root's subtree_control belongs to the system manager, which we are
    // here: hand every controller down, as systemd does on a v2 host.
    for c in controllers.split_whitespace() {
        if let Err(e) = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", format!("+{c}")) {
            println!("vm-init: enable {c}: {e}");
        }
    }
    println!(
        "vm-init: kernel {}",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    println!("vm-init: cgroup2 controllers: {}", controllers.trim());

    // Step 03's kernel tests, then step 05's cgroup tests (with the one
    // that needs an initramfs root, ignored elsewhere).
    let suites: [(&str, &[&str]); 2] = [
        ("/kernel-tests", &[]),
        ("/step05-tests", &["--include-ignored"]),
    ];
    let mut ok = true;
    for (tests, extra) in suites {
        let passed = run_tests(tests, extra);
        println!(
            "vm-init: {tests}: {}",
            if passed { "passed" } else { "FAILED" }
        );
        ok &= passed;
    }
    power_off(ok);
}

/// Run one test binary, one test at a time, and reap every orphan (the
/// fork bombs' children) while it runs: we are PID 1.
fn run_tests(tests: &str, extra: &[&str]) -> bool {
    let child = Command::new(tests)
        .args(["--test-threads=1", "--nocapture"])
        .args(extra)
        .env("PATH", "/")
        .env("RUST_BACKTRACE", "1")
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            println!("vm-init: cannot start {tests}: {e}");
            return false;
        }
    };
    let test_pid = child.id() as libc::pid_t;
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) with a valid pointer to an int.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == test_pid {
            return libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        }
        if pid < 0 {
            // No children left at all: ask std, which may have reaped it.
            return child.try_wait().ok().flatten().is_some_and(|s| s.success());
        }
    }
}
