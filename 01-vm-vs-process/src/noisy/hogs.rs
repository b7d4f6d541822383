//! The hogs, seen from the parent: started as child processes of our own
//! binary, paused and resumed with SIGSTOP / SIGCONT (signal(7)), and
//! killed and reaped (wait(2)) however the demo ends.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::check_interrupted;
use super::{HOG_SUBCOMMAND, Hog};

// ANCHOR: hog_guard
/// The hogs we started. Dropping this kills and reaps every one of them, on
/// success, on error (`?` unwinds through it) and after Ctrl-C alike.
#[derive(Default)]
pub(super) struct Hogs {
    children: Vec<Child>,
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for child in &mut self.children {
            // SIGKILL, then wait(2): a child that is killed but not waited
            // for stays a zombie in the process table.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
// ANCHOR_END: hog_guard

impl Hogs {
    /// Start `<exe> __hog <kind> ...` and wait until it reports `ready`.
    pub(super) fn start(
        &mut self,
        exe: &Path,
        kind: Hog,
        cpu: usize,
        mib: u64,
        limit: f64,
    ) -> Result<i32> {
        let parent = std::process::id().to_string();
        let mut child = Command::new(exe)
            .args([HOG_SUBCOMMAND, kind.name()])
            .args(["--cpu", &cpu.to_string(), "--parent", &parent])
            .args(["--mib", &mib.to_string(), "--limit", &format!("{limit:.1}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawn {} hog {}", kind.name(), exe.display()))?;
        let pid = child.id() as i32;
        let stdout = child.stdout.take();
        // Owned by the guard from here on: any error below still kills it.
        self.children.push(child);
        let mut line = String::new();
        if let Some(stdout) = stdout {
            BufReader::new(stdout)
                .read_line(&mut line)
                .with_context(|| format!("read the {} hog's ready line", kind.name()))?;
        }
        check_interrupted()?;
        if line.trim() != "ready" {
            bail!(
                "the {} hog (pid {pid}, {}) exited before it was ready; its own error, if \
                 any, is printed above",
                kind.name(),
                exe.display(),
            );
        }
        Ok(pid)
    }
}

// ANCHOR: pause
/// Stop a hog with SIGSTOP and wait until the kernel reports it stopped
/// (state `T` in /proc/<pid>/stat): a stopped process is not runnable, so
/// it takes no CPU time and touches no memory until SIGCONT.
pub fn pause(pid: i32) -> Result<()> {
    nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGSTOP)
        .with_context(|| format!("kill({pid}, SIGSTOP)"))?;
    let path = format!("/proc/{pid}/stat");
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let stat = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if state == Some('T') {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "hog {pid} did not stop within 2 s of SIGSTOP (state {state:?} in {path})"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Let a stopped hog run again.
pub fn resume(pid: i32) -> Result<()> {
    nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGCONT)
        .with_context(|| format!("kill({pid}, SIGCONT)"))
}
// ANCHOR_END: pause
