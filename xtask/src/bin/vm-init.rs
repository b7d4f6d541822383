//! `vm-init`: PID 1 of the small VM that `cargo xtask vm-test` boots.
//!
//! The kernel unpacks the initramfs (a cpio archive) into its root
//! filesystem and runs `/init` as process 1 (see the kernel's
//! Documentation/filesystems/ramfs-rootfs-initramfs.rst). This init mounts
//! what the tests need (proc(5), sysfs(5), and cgroup2 with all its
//! controllers, see cgroups(7)), runs the step 03 and step 05 test
//! binaries (with `cargo xtask vm-test --accept`, it then prints the
//! snapshot files they wrote), prints a marker line on the serial console,
//! and powers off. `cargo xtask bench`
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

    // Step 03's kernel tests and demo snapshots, then step 05's cgroup
    // tests (with the one that needs an initramfs root, ignored elsewhere).
    let before = snapshots();
    let on_initramfs: [(&str, &[&str]); 3] = [
        ("/kernel-tests", &[]),
        ("/step03-demos", &[]),
        ("/step05-cgroup_view", &["--include-ignored"]),
    ];
    let mut ok = run_suites(&on_initramfs);
    // The other step 05 tests run `tincan run` as on a disk-booted host,
    // with pivot_root(2). It refuses the initramfs itself (the root mount
    // has no parent), so do what an initramfs's init does before it starts
    // the real system: make a mount the root (here a bind of `/` itself,
    // moved onto `/`, with a chroot into it, as switch_root(8) does).
    if let Err(e) = leave_the_initramfs() {
        println!("vm-init: {e}");
        power_off(false);
    }
    // Each with a filter when only some of a file's tests are about cgroups
    // (the rest need the host: podman, the network bridge, its users).
    let on_a_mount: [(&str, &[&str]); 9] = [
        ("/step05-devices", &[]),
        ("/step05-cleanup", &[]),
        ("/step05-lifecycle", &[]),
        ("/step05-run", &["kill_9"]),
        ("/step05-oci_spec", &["relative_cgroups_path"]),
        // linux.devices in the v2 eBPF device program.
        ("/step05-propagation", &["linux_devices"]),
        // The limits stop the bombs; the device rule lets mknod-disk through.
        (
            "/step05-escape",
            &["every_escape_attempt", "the_same_attempts"],
        ),
        ("/step05-concurrency", &[]),
        // Refused limits and flags leave no cgroup behind, on v2 too.
        ("/step05-bad_input", &[]),
    ];
    ok &= run_suites(&on_a_mount);
    if std::env::var_os("TINCAN_VM_ACCEPT").is_some() {
        print_changed_snapshots(&before);
    }
    power_off(ok);
}

/// Every insta snapshot file under `INSTA_WORKSPACE_ROOT` (the checkout,
/// at its own path in the initramfs) with its contents.
fn snapshots() -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut found = std::collections::BTreeMap::new();
    let Some(root) = std::env::var_os("INSTA_WORKSPACE_ROOT") else {
        return found;
    };
    let mut stack = vec![std::path::PathBuf::from(root)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() && path.extension().is_some_and(|e| e == "snap") {
                found.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    found
}

/// `cargo xtask vm-test --accept`: print each snapshot file the tests
/// wrote (new, or changed since `before`) between marker lines, for the
/// xtask to write into the checkout: the VM has no disk of its own.
fn print_changed_snapshots(before: &std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>) {
    for (path, data) in snapshots() {
        if before.get(&path) == Some(&data) {
            continue;
        }
        println!("TINCAN-SNAPSHOT-BEGIN {}", path.display());
        let text = String::from_utf8_lossy(&data);
        for line in text.lines() {
            println!("{line}");
        }
        println!("TINCAN-SNAPSHOT-END");
    }
}

/// Run each test binary (with its extra arguments); true if all passed.
fn run_suites(suites: &[(&str, &[&str])]) -> bool {
    let mut ok = true;
    for (tests, extra) in suites {
        let passed = run_tests(tests, extra);
        println!(
            "vm-init: {tests}: {}",
            if passed { "passed" } else { "FAILED" }
        );
        ok &= passed;
    }
    ok
}

/// Make a bind mount of the initramfs our root: bind `/` (with every
/// mount under it) at `/sysroot`, move that onto `/`, and chroot into it.
fn leave_the_initramfs() -> Result<(), String> {
    let call = |what: &str, rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(format!("{what}: {}", std::io::Error::last_os_error()))
        }
    };
    std::fs::create_dir_all("/sysroot").map_err(|e| format!("mkdir /sysroot: {e}"))?;
    // SAFETY: NUL-terminated literals; no data argument.
    call("mount --rbind / /sysroot", unsafe {
        libc::mount(
            c"/".as_ptr(),
            c"/sysroot".as_ptr(),
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        )
    })?;
    // SAFETY: a NUL-terminated literal.
    call("chdir /sysroot", unsafe {
        libc::chdir(c"/sysroot".as_ptr())
    })?;
    // SAFETY: NUL-terminated literals; no data argument.
    call("mount --move /sysroot /", unsafe {
        libc::mount(
            c".".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_MOVE,
            std::ptr::null(),
        )
    })?;
    // SAFETY: NUL-terminated literals.
    call("chroot .", unsafe { libc::chroot(c".".as_ptr()) })?;
    // SAFETY: a NUL-terminated literal.
    call("chdir /", unsafe { libc::chdir(c"/".as_ptr()) })
}

/// Run one test binary, one test at a time, and reap every orphan (the
/// fork bombs' children) while it runs: we are PID 1.
fn run_tests(tests: &str, extra: &[&str]) -> bool {
    let child = Command::new(tests)
        .args(["--test-threads=1", "--nocapture"])
        .args(extra)
        // The host's programs sit at the host's paths (see the xtask's
        // `cpio.rs`), the test binaries at `/`.
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin:/")
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
