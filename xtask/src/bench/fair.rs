//! The fair part of the bench: every runtime started the same way, from
//! the same process, in the same mount namespace, taking turns.
//!
//! - [`enter_private_mount_namespace`]: one private mount namespace
//!   (mount_namespaces(7)) for the xtask itself, so every runtime it starts
//!   inherits the same view; on a hybrid cgroup host the cgroup2 mount is
//!   unmounted there (crun refuses a host with both), for all of them alike.
//! - [`alternation`] and [`alternate`]: A B C A B C ..., so a slow minute of
//!   a shared machine hits every contender, not one.
//! - [`Stats`] and [`paired_ratio`]: what a row reports, failures included.

use std::ffi::CString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::util;

/// Where a hybrid host mounts cgroup2 next to its v1 hierarchies.
pub(super) const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// Is `path` a mount point (field 5 of /proc/self/mountinfo, proc(5))?
pub(super) fn mounted(path: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some(path))
}

// ANCHOR: namespace
/// Move the xtask into a private mount namespace of its own, before it
/// starts any runtime: `unshare(CLONE_NEWNS)`, then `/` made private
/// recursively (nothing we unmount here reaches the host), then on a
/// hybrid host `umount /sys/fs/cgroup/unified`. Every runtime is then
/// started directly by this process (no `sh -c`, no `unshare` in front of
/// one and not the others) and sees exactly the same mounts. Returns how,
/// in words, for the table's header.
pub(super) fn enter_private_mount_namespace() -> Result<String> {
    // SAFETY: unshare(2) takes only flags; it gives this thread (the main
    // one: nothing else runs yet) and what it starts a copy of the mounts.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        bail!(
            "unshare(CLONE_NEWNS): {} (the bench needs root)",
            std::io::Error::last_os_error()
        );
    }
    let root = CString::new("/").expect("no NUL in /");
    // SAFETY: valid NUL-terminated path; null source, type and data are
    // allowed for a propagation change (mount(2), MS_PRIVATE).
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        bail!(
            "mount --make-rprivate /: {}",
            std::io::Error::last_os_error()
        );
    }
    let mut how = "all from one private mount namespace entered by the xtask, started directly \
                   (no shell), alternating"
        .to_string();
    if mounted(UNIFIED) {
        let unified = CString::new(UNIFIED).expect("no NUL");
        // SAFETY: valid NUL-terminated path; the mount is in our own
        // private namespace, so the host keeps its cgroup2 mount.
        if unsafe { libc::umount2(unified.as_ptr(), 0) } != 0 {
            bail!("umount {UNIFIED}: {}", std::io::Error::last_os_error());
        }
        how.push_str(&format!(
            ", with {UNIFIED} unmounted there (a hybrid cgroup host, which crun refuses)"
        ));
    }
    Ok(how)
}
// ANCHOR_END: namespace

// ANCHOR: alternation
/// The order of the timed runs: round after round, each contender once,
/// always in the same order (A B C A B C ...). Returns (round, contender).
pub fn alternation(contenders: usize, rounds: usize) -> Vec<(usize, usize)> {
    (0..rounds)
        .flat_map(|r| (0..contenders).map(move |c| (r, c)))
        .collect()
}
// ANCHOR_END: alternation

/// What one contender measured: each round's time or its error.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Round by round: the time, or why that run failed.
    pub rounds: Vec<Result<Duration, String>>,
}

impl Stats {
    /// The successful times, sorted.
    pub fn sorted(&self) -> Vec<Duration> {
        let mut times: Vec<Duration> = self.rounds.iter().filter_map(|r| r.clone().ok()).collect();
        times.sort();
        times
    }

    /// The median of the successful runs (the mean of the two middle ones
    /// for an even count).
    pub fn median(&self) -> Option<Duration> {
        median(&self.sorted())
    }

    pub fn min(&self) -> Option<Duration> {
        self.sorted().first().copied()
    }

    pub fn max(&self) -> Option<Duration> {
        self.sorted().last().copied()
    }

    /// Successful runs.
    pub fn n(&self) -> usize {
        self.rounds.iter().filter(|r| r.is_ok()).count()
    }

    /// Failed runs: a result to print, not a reason to stop.
    pub fn failures(&self) -> usize {
        self.rounds.len() - self.n()
    }

    /// The first error, to show next to the count.
    pub fn first_error(&self) -> Option<&str> {
        self.rounds
            .iter()
            .find_map(|r| r.as_ref().err().map(String::as_str))
    }
}

/// The median of sorted durations.
pub fn median(sorted: &[Duration]) -> Option<Duration> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
    }
}

// ANCHOR: paired_ratio
/// `a` relative to `b` from the same run: the median, over the rounds in
/// which both succeeded, of a's time divided by b's. The two ran back to
/// back in each round, so whatever else the machine did then slowed both.
pub fn paired_ratio(a: &Stats, b: &Stats) -> Option<f64> {
    let mut ratios: Vec<f64> = a
        .rounds
        .iter()
        .zip(&b.rounds)
        .filter_map(|(x, y)| match (x, y) {
            (Ok(x), Ok(y)) if !y.is_zero() => Some(x.as_secs_f64() / y.as_secs_f64()),
            _ => None,
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(ratios[n / 2]),
        _ => Some(f64::midpoint(ratios[n / 2 - 1], ratios[n / 2])),
    }
}
// ANCHOR_END: paired_ratio

/// One thing to start: its command for round `r` (a fresh container id
/// each time), and what to do after a failed run (remove a container the
/// runtime may have left).
pub struct Contender<'a> {
    pub command: Box<dyn Fn(usize) -> Command + 'a>,
    pub after_failure: Box<dyn Fn(usize) + 'a>,
}

/// Run `cmd` with no input and no output kept but its stderr; the wall
/// time from spawn to exit, or the error in one line.
pub fn timed(cmd: &mut Command) -> Result<Duration, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("start {}: {e}", util::show(cmd)))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("wait for {}: {e}", util::show(cmd)))?;
    let took = start.elapsed();
    if out.status.success() {
        Ok(took)
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        Err(format!("{} ({})", last.trim(), out.status))
    }
}

// ANCHOR: alternate
/// One untimed warm-up round (page cache, first-use set-up), then `rounds`
/// timed rounds in [`alternation`] order. A failure is recorded and the
/// next run goes on.
pub fn alternate(contenders: &[Contender<'_>], rounds: usize) -> Vec<Stats> {
    for (i, c) in contenders.iter().enumerate() {
        // Round numbers past the timed ones: the warm-up's ids are its own.
        let warm = rounds + 1 + i;
        if timed(&mut (c.command)(warm)).is_err() {
            (c.after_failure)(warm);
        }
    }
    let mut stats = vec![Stats::default(); contenders.len()];
    for (round, which) in alternation(contenders.len(), rounds) {
        let c = &contenders[which];
        let result = timed(&mut (c.command)(round));
        if result.is_err() {
            (c.after_failure)(round);
        }
        stats[which].rounds.push(result);
    }
    stats
}
// ANCHOR_END: alternate

/// Remove what a runtime left of a container after a failed run: its
/// state (`delete --force`), without timing or checking it.
pub fn delete_force(exe: &Path, state: &Path, id: &str) {
    let _ = Command::new(exe)
        .arg("--root")
        .arg(state)
        .args(["delete", "--force", id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
