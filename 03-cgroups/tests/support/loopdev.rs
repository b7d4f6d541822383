//! A loop block device (loop(4)) over a scratch file: a block device of the
//! test's own, to throttle with the io controller. The host's disks stay
//! untouched, and the VM of `cargo xtask vm-test` (no disk at all) has one
//! too. Reading it with `O_DIRECT` bypasses the loop device's page cache,
//! so every byte goes through the block layer, where the throttle sits.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

// From <linux/loop.h>; the libc crate does not define them.
const LOOP_SET_FD: libc::c_ulong = 0x4C00;
const LOOP_CLR_FD: libc::c_ulong = 0x4C01;
const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;

/// An attached loop device; detached and its file removed on drop.
pub struct LoopDevice {
    /// `/dev/loopN`.
    pub path: PathBuf,
    /// `major:minor`, as io.max and blkio.throttle.* take it.
    pub major_minor: String,
    device: File,
    backing: PathBuf,
}

impl LoopDevice {
    /// A loop device over a new file of `mib` MiB in the temporary directory.
    pub fn create(mib: u64) -> Result<LoopDevice> {
        let backing = std::env::temp_dir().join(format!("tincan-loop-{}.img", std::process::id()));
        let file =
            File::create(&backing).with_context(|| format!("create {}", backing.display()))?;
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..mib {
            std::io::Write::write_all(&mut &file, &chunk)
                .with_context(|| format!("write {}", backing.display()))?;
        }
        drop(file);
        let attached = Self::attach(&backing);
        if attached.is_err() {
            let _ = std::fs::remove_file(&backing);
        }
        attached
    }

    fn attach(backing: &PathBuf) -> Result<LoopDevice> {
        let control = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/loop-control")
            .context("open /dev/loop-control (is the loop driver loaded?)")?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(backing)
            .with_context(|| format!("open {}", backing.display()))?;
        // Another program may take the free device between our two ioctls.
        for _ in 0..10 {
            // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a number.
            let n = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE) };
            if n < 0 {
                return Err(std::io::Error::last_os_error()).context("LOOP_CTL_GET_FREE");
            }
            let path = PathBuf::from(format!("/dev/loop{n}"));
            let device = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .with_context(|| format!("open {}", path.display()))?;
            // SAFETY: LOOP_SET_FD takes the backing file's descriptor by value.
            let rc = unsafe { libc::ioctl(device.as_raw_fd(), LOOP_SET_FD, file.as_raw_fd()) };
            if rc != 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() == Some(libc::EBUSY) {
                    continue;
                }
                return Err(err).with_context(|| format!("LOOP_SET_FD on {}", path.display()));
            }
            let rdev = std::fs::metadata(&path)
                .with_context(|| format!("stat {}", path.display()))?
                .rdev();
            return Ok(LoopDevice {
                major_minor: format!("{}:{}", libc::major(rdev), libc::minor(rdev)),
                path,
                device,
                backing: backing.clone(),
            });
        }
        bail!("no free loop device after 10 tries")
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        // SAFETY: LOOP_CLR_FD takes no argument; the device is ours.
        unsafe { libc::ioctl(self.device.as_raw_fd(), LOOP_CLR_FD, 0) };
        let _ = std::fs::remove_file(&self.backing);
    }
}
