//! The bench's memory table: what a process in a container, its runtime
//! and a booted VM keep resident (Rss and Pss from smaps_rollup, proc(5)).

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Prepared;
use super::render::kib;
use crate::util::{self, root};

/// A process's Rss and Pss in KiB, from /proc/<pid>/smaps_rollup.
pub(super) fn rss_pss(pid: u32) -> Result<(u64, u64), String> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .map_err(|e| format!("read /proc/{pid}/smaps_rollup: {e}"))?;
    match (kib_field(&rollup, "Rss:"), kib_field(&rollup, "Pss:")) {
        (Some(r), Some(p)) => Ok((r, p)),
        _ => Err(format!("no Rss/Pss in /proc/{pid}/smaps_rollup")),
    }
}

/// The KiB value of a `Name:   123 kB` line (status, smaps_rollup).
pub(super) fn kib_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

// ANCHOR: memory
/// Memory: a process sleeping in a `tincan` container next to the same
/// program on the host, and QEMU with the smallest guest we boot. Rss
/// counts every page mapped; Pss shares each page among the processes that
/// map it (smaps_rollup in proc(5)).
pub(super) fn memory_table(header: &str, prepared: &Prepared, qemu: Option<(u64, u64)>) -> String {
    let sleep = prepared.rootfs.join("bin/sleep");
    let host = sleeping(Command::new(&sleep).arg("2"), "sleep");
    let container = match &prepared.tincan {
        Some(tincan) => sleeping(
            Command::new(tincan)
                .arg("--root")
                .arg(root().join("target/bench/tincan-state"))
                .arg("run")
                .arg("--rootfs")
                .arg(&prepared.rootfs)
                .args(["--", "/bin/sleep", "2"]),
            "sleep",
        ),
        None => Err("tincan was not built".into()),
    };
    let mut out = format!("{header}\n\n| process | Rss | Pss |\n|---|---:|---:|\n");
    let mut line = |label: &str, m: Result<(u64, u64), String>| {
        let _ = match m {
            Ok((rss, pss)) => writeln!(out, "| {label} | {} | {} |", kib(rss), kib(pss)),
            Err(e) => writeln!(out, "| {label} | — | — ({e}) |"),
        };
    };
    line("toolbox `sleep` on the host", host.map(|(m, _)| m));
    line(
        "toolbox `sleep` inside `tincan run`",
        container.clone().map(|(m, _)| m),
    );
    line(
        "… and the `tincan` process waiting for it",
        container.and_then(|(_, runtime)| runtime.ok_or_else(|| "not found".to_string())),
    );
    line(
        "QEMU with a booted Linux guest (128 MiB, at init)",
        qemu.ok_or_else(|| "no boot measured".to_string()),
    );
    out
}
// ANCHOR_END: memory

/// Rss and Pss (KiB) of a process, and of the runtime above it (if any).
type Footprint = ((u64, u64), Option<(u64, u64)>);

/// Start `cmd`, find the process named `comm` among its descendants, and
/// read its Rss and Pss (and `cmd`'s own, if that is another process); then
/// wait for `cmd` to end.
fn sleeping(cmd: &mut Command, comm: &str) -> Result<Footprint, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("start {}: {e}", util::show(cmd)))?;
    let top = child.id();
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut found = None;
    while Instant::now() < deadline && found.is_none() {
        std::thread::sleep(Duration::from_millis(50));
        found = descendants(top).into_iter().chain([top]).find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        });
    }
    let result = found
        .ok_or_else(|| format!("no `{comm}` process appeared"))
        .and_then(|pid| {
            let runtime = (pid != top).then(|| rss_pss(top).ok()).flatten();
            Ok((rss_pss(pid)?, runtime))
        });
    let _ = child.wait();
    result
}

/// Every process below `pid`, from the ppid field of /proc/*/stat.
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|p| {
                    let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
                    // The comm field may hold spaces: ppid is the 2nd field after ')'.
                    let ppid = stat
                        .rsplit_once(')')?
                        .1
                        .split_whitespace()
                        .nth(1)?
                        .parse()
                        .ok()?;
                    Some((p, ppid))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}
