//! The `io` demo: read a file on disk with O_DIRECT, without and with a
//! read bandwidth limit on the disk that backs it (see [`crate::io`]).

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::sys::wait::WaitStatus;
use step01::report::{self, Table, bytes, measured};

use super::start;
use crate::cgroup;
use crate::limits::{self, Limit, Limits};

/// The `io` demo: read the disk with and without a bandwidth cap.
pub fn io(out: &mut dyn Write, read_bps: &str, amount: &str) -> Result<()> {
    let Limit::Value(bps) = limits::parse_bytes("--read-bps", read_bps)? else {
        bail!("--read-bps max is no limit at all: give a rate such as 2m (bytes per second)");
    };
    let Limit::Value(amount) = limits::parse_bytes("--bytes", amount)? else {
        bail!("--bytes max: give an amount such as 4m");
    };
    let amount = amount.div_ceil(1 << 20) << 20; // whole MiB, for O_DIRECT
    // Opening a raw disk is often forbidden even to root (in a VM or a
    // container), so read a scratch file: with O_DIRECT its reads still go
    // to the disk, and the throttle limits the disk.
    let scratch = Scratch::create(amount)?;
    let (dev, node) = match crate::io::disk_of(&scratch.0) {
        Ok(found) => found,
        Err(err) => {
            // The scratch file's name holds our pid: a measured value.
            let path = scratch.0.display().to_string();
            let why = format!("{err:#}").replace(&path, &measured(&path));
            writeln!(
                out,
                "note: no disk to throttle here ({why}); the io demo needs a block device."
            )?;
            return Ok(());
        }
    };
    writeln!(
        out,
        "reading a {} file on {} (device {}) with O_DIRECT, twice:\n",
        bytes(amount),
        measured(node.display()),
        measured(&dev)
    )?;
    let file = scratch.0.to_string_lossy().into_owned();
    let mut t = Table::new(["run", "time", "throughput", "bytes the cgroup read"]);
    for (label, limit) in [
        ("no limit", None),
        (format!("read-bps {}/s", bytes(bps)).as_str(), Some(bps)),
    ] {
        let limits = Limits {
            read_bps: limit.map(|b| (dev.clone(), b)),
            ..Limits::default()
        };
        let (cg, notes) = cgroup::create("io-demo", &limits)?;
        for note in &notes {
            writeln!(out, "note: {note}")?;
        }
        let amount_text = amount.to_string();
        let mut child = start(
            cg.as_ref(),
            &["read-disk", &file, "--bytes", &amount_text],
            true,
        )?;
        let text = child.read_stdout()?;
        let status = child.wait()?;
        if status != WaitStatus::Exited(child.pid, 0) {
            bail!("the disk reader failed ({status:?}); see its error above");
        }
        let ns: u64 = text.trim().parse().context("the reader's elapsed time")?;
        let secs = ns as f64 / 1e9;
        let stats = cg.stats()?;
        t.row([
            label.to_string(),
            report::duration(Duration::from_nanos(ns)),
            measured(format!("{}/s", bytes((amount as f64 / secs) as u64))),
            // With a throttle rule, every byte passes the throttle and is
            // counted; without one, v1 kernels may count nothing.
            match (limit, stats.io_read_bytes) {
                (_, None) => "n/a".into(),
                (Some(_), Some(n)) => bytes(n),
                (None, Some(n)) => measured(bytes(n)),
            },
        ]);
    }
    write!(out, "{}", t.render())?;
    writeln!(
        out,
        "\nThe kernel's block throttle delays the cgroup's requests to the device so that it\n\
         never reads faster than its budget. O_DIRECT bypasses the page cache, so every byte\n\
         really goes to the disk and is charged to the cgroup that asked for it."
    )?;
    Ok(())
}

/// A scratch file of `n` bytes in the temporary directory, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn create(n: u64) -> Result<Scratch> {
        let path = std::env::temp_dir().join(format!("tincan-io-{}.bin", std::process::id()));
        let scratch = Scratch(path);
        let file = std::fs::File::create(&scratch.0)
            .with_context(|| format!("create {}", scratch.0.display()))?;
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..n >> 20 {
            std::io::Write::write_all(&mut &file, &chunk)
                .with_context(|| format!("write {}", scratch.0.display()))?;
        }
        // On disk, so O_DIRECT reads really read the disk.
        file.sync_all()
            .with_context(|| format!("fsync {}", scratch.0.display()))?;
        Ok(scratch)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
