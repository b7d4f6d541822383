//! The bench's report: the header line (when, where, how busy), the
//! Markdown table with its ratios, and writing the files back to the user
//! who ran `cargo xtask bench` through sudo.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{Plan, Row};
use crate::vm_test;

/// The 1-minute load average (the first field of /proc/loadavg, proc(5)).
pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// The line above the table: when, where, how.
/// `load` is the 1-minute load average when the run began: how busy the
/// machine was, so a reader can tell a quiet run from a noisy one.
pub(super) fn header(plan: &Plan, load: &str) -> String {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let accel = vm_test::choose_accel();
    let kvm = if Path::new("/sys/module/kvm_pvm").exists() {
        "/dev/kvm is `kvm_pvm`, a nested software hypervisor"
    } else if Path::new("/dev/kvm").exists() {
        "/dev/kvm present"
    } else {
        "no /dev/kvm"
    };
    format!(
        "Measured by `cargo xtask bench{}` on {date}: {cpus} CPUs (load average \
         {load} at the start), Linux {}, QEMU accelerator {accel} ({kvm}).",
        plan.args()
            .iter()
            .filter(|a| *a != "--book")
            .fold(String::new(), |s, a| s + " " + a),
        kernel.trim()
    )
}

// ANCHOR: render
/// Step 5: the Markdown table. The first row is the baseline of every ratio.
pub fn render(header: &str, rows: &[Row]) -> String {
    let base = rows.first().and_then(|r| r.median.as_ref().ok()).copied();
    let mut out = format!(
        "{header}\n\n| what starts | measured by | median | vs plain process |\n|---|---|---:|---:|\n"
    );
    for row in rows {
        let (median, ratio) = match (&row.median, base) {
            (Ok(d), Some(b)) => (duration(*d), ratio(d.as_secs_f64() / b.as_secs_f64())),
            (Ok(d), None) => (duration(*d), "—".into()),
            (Err(note), _) => ("—".into(), format!("— ({note})")),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {median} | {ratio} |",
            row.label, row.source
        );
    }
    out
}
// ANCHOR_END: render

/// A duration with three significant digits in a readable unit.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    let (value, unit) = if s >= 1.0 {
        (s, "s")
    } else if s >= 1e-3 {
        (s * 1e3, "ms")
    } else {
        (s * 1e6, "µs")
    };
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$} {unit}")
}

/// A ratio: one decimal below 10, whole numbers above.
pub fn ratio(r: f64) -> String {
    if r < 10.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.0}×")
    }
}

pub(super) fn kib(k: u64) -> String {
    if k >= 10 * 1024 {
        format!("{:.0} MiB", k as f64 / 1024.0)
    } else {
        format!("{k} KiB")
    }
}

/// Write a file and, when sudo ran us, give it back to the user.
pub(super) fn write_owned(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().context("output has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))?;
    give_back(dir);
    Ok(())
}

/// Under sudo, hand what we wrote back to the calling user (`SUDO_UID`),
/// so that their next build or `cargo xtask bench` can overwrite it.
pub(super) fn give_back(path: &Path) {
    let id = |var: &str| std::env::var(var).ok().and_then(|v| v.parse::<u32>().ok());
    let (Some(uid), Some(gid)) = (id("SUDO_UID"), id("SUDO_GID")) else {
        return;
    };
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let _ = std::os::unix::fs::lchown(&p, Some(uid), Some(gid));
        if p.is_dir() && !p.is_symlink() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        }
    }
}
