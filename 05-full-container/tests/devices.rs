//! The cgroup v2 device program for real: attached to a cgroup2 directory
//! (the unified mount of a hybrid host works: device programs need no
//! controller), it lets a process in that cgroup open /dev/null but not the
//! disk, while the same open outside the cgroup works. As root.

use std::path::{Path, PathBuf};

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

/// The cgroup2 mount point, from /proc/self/mountinfo.
fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mount = left.split(' ').nth(4)?;
        right.starts_with("cgroup2 ").then(|| PathBuf::from(mount))
    })
}

/// A device node outside Docker's allowlist that this process can open
/// (some sandboxes refuse even root the disk itself).
fn a_forbidden_device() -> Option<PathBuf> {
    [
        "/dev/loop0",
        "/dev/kvm",
        "/dev/kmsg",
        "/dev/vda",
        "/dev/sda",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| std::fs::File::open(p).is_ok())
}

struct Cgroup(PathBuf);

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// In a child (inside `cgroup` if given): 0 if /dev/null opens, +1 if the forbidden device opens.
fn probe(cgroup: Option<&Path>, disk: &Path) -> i32 {
    // SAFETY: the child makes a few system calls and exits.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let mut code = 0;
            if let Some(dir) = cgroup {
                if std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string()).is_err()
                {
                    // SAFETY: _exit in the forked child.
                    unsafe { libc::_exit(100) };
                }
            }
            if std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
                .is_err()
            {
                code |= 2;
            }
            if std::fs::File::open(disk).is_ok() {
                code |= 1;
            }
            // SAFETY: _exit in the forked child.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
            WaitStatus::Exited(_, code) => code,
            other => panic!("{other:?}"),
        },
    }
}

#[test]
fn device_program_allows_null_and_denies_other_devices() {
    if !step01::testing::need_root() {
        return;
    }
    let (Some(mount), Some(disk)) = (cgroup2_mount(), a_forbidden_device()) else {
        return step01::testing::skip(
            "needs a cgroup2 mount and a device node outside the allowlist",
        );
    };
    let cgroup = Cgroup(mount.join(format!("tincan-test-devices-{}", std::process::id())));
    std::fs::create_dir(&cgroup.0).expect("create cgroup");
    step03::devices::attach_v2(&cgroup.0, &step05::config::docker_devices())
        .expect("attach the program");
    assert_eq!(
        probe(Some(&cgroup.0), &disk),
        0,
        "inside: /dev/null opens, {} does not",
        disk.display()
    );
    assert_eq!(
        probe(None, &disk),
        1,
        "outside the cgroup, root opens {}",
        disk.display()
    );
}
