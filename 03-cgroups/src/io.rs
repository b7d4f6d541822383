//! The io (v2) / blkio (v1) controller: block-device bandwidth.
//!
//! Limits are per device, named by its `major:minor` numbers: "at most
//! 2 MiB/s read from 254:0". v1 files: `blkio.throttle.read_bps_device`
//! and `blkio.throttle.write_bps_device` ("254:0 2097152"); v2: `io.max`
//! ("254:0 rbps=2097152"). Statistics: v1 `blkio.throttle.io_service_bytes`,
//! v2 `io.stat`. On v1 only direct I/O is attributed to the group (buffered
//! writes are flushed later by the kernel's writeback threads, outside it);
//! v2 fixed that. Weights need the BFQ scheduler, which is rarely enabled,
//! so they are not offered (kernel docs: cgroup-v1/blkio-controller.rst).

use std::path::Path;

use anyhow::{Context, Result};

use crate::cgroup::{Stats, read, write};

// ANCHOR: io
/// Set read/write bandwidth caps on v1.
pub fn apply_v1(
    dir: &Path,
    read_bps: Option<&(String, u64)>,
    write_bps: Option<&(String, u64)>,
) -> Result<()> {
    if let Some((dev, bps)) = read_bps {
        write(
            dir,
            "blkio.throttle.read_bps_device",
            &format!("{dev} {bps}"),
        )?;
    }
    if let Some((dev, bps)) = write_bps {
        write(
            dir,
            "blkio.throttle.write_bps_device",
            &format!("{dev} {bps}"),
        )?;
    }
    Ok(())
}

/// Set read/write bandwidth caps on v2: one `io.max` line per device.
pub fn apply_v2(
    dir: &Path,
    read_bps: Option<&(String, u64)>,
    write_bps: Option<&(String, u64)>,
) -> Result<()> {
    if let Some((dev, bps)) = read_bps {
        write(dir, "io.max", &format!("{dev} rbps={bps}"))?;
    }
    if let Some((dev, bps)) = write_bps {
        write(dir, "io.max", &format!("{dev} wbps={bps}"))?;
    }
    Ok(())
}
// ANCHOR_END: io

/// Read v1 byte counters: lines like `254:0 Read 4194304`.
pub fn stats_v1(dir: &Path, stats: &mut Stats) -> Result<()> {
    if !dir.join("blkio.throttle.io_service_bytes").exists() {
        return Ok(());
    }
    let text = read(dir, "blkio.throttle.io_service_bytes")?;
    let (mut r, mut w) = (0, 0);
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(_dev), Some(op), Some(n)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let n: u64 = n.parse().unwrap_or(0);
        match op {
            "Read" => r += n,
            "Write" => w += n,
            _ => {}
        }
    }
    stats.io_read_bytes = Some(r);
    stats.io_write_bytes = Some(w);
    Ok(())
}

/// Read v2 byte counters: lines like `254:0 rbytes=4194304 wbytes=0 ...`.
pub fn stats_v2(dir: &Path, stats: &mut Stats) -> Result<()> {
    if !dir.join("io.stat").exists() {
        return Ok(());
    }
    let text = read(dir, "io.stat")?;
    let (mut r, mut w) = (0, 0);
    for field in text.split_whitespace() {
        if let Some(n) = field.strip_prefix("rbytes=") {
            r += n.parse::<u64>().unwrap_or(0);
        } else if let Some(n) = field.strip_prefix("wbytes=") {
            w += n.parse::<u64>().unwrap_or(0);
        }
    }
    stats.io_read_bytes = Some(r);
    stats.io_write_bytes = Some(w);
    Ok(())
}

/// The whole disk that holds `path`: its `major:minor` and `/dev` node.
/// Throttling works on disks, so a partition is mapped to its disk.
pub fn disk_of(path: &Path) -> Result<(String, std::path::PathBuf)> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(path)
        .with_context(|| format!("stat {}", path.display()))?
        .dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let mut sys = std::path::PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
    if !sys.exists() {
        anyhow::bail!(
            "{} is not on a block device ({major}:{minor} is not in /sys/dev/block)",
            path.display()
        );
    }
    if sys.join("partition").exists() {
        sys = sys.join("..");
    }
    let uevent = std::fs::read_to_string(sys.join("uevent"))
        .with_context(|| format!("read {}", sys.join("uevent").display()))?;
    let field = |key: &str| {
        uevent
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::to_string)
    };
    let (Some(maj), Some(min), Some(name)) = (field("MAJOR="), field("MINOR="), field("DEVNAME="))
    else {
        anyhow::bail!("{} lacks MAJOR/MINOR/DEVNAME", sys.join("uevent").display());
    };
    Ok((
        format!("{maj}:{min}"),
        std::path::Path::new("/dev").join(name),
    ))
}
