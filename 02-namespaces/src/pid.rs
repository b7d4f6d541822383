//! The PID namespace: process ids of one's own, starting at 1
//! (pid_namespaces(7)).
//!
//! The first process in a new PID namespace is its PID 1, its "init": it
//! sees only the processes of its namespace, it inherits every orphan in
//! it (and must reap them with wait(2), or they stay zombies), and when it
//! dies the kernel kills every other process in the namespace. What `ps`
//! shows comes from `/proc`, which belongs to the PID namespace of whoever
//! *mounted* it, so a new PID namespace needs a fresh /proc, mounted in a
//! new mount namespace so the host's /proc is left alone.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::mount::{MsFlags, mount};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};
use step01::probe::Probe;

use crate::demo::{self, Facts};
use crate::namespaces::{Namespace, Namespaces};
use crate::sandbox::{Exit, Sandbox};

// ANCHOR: fresh_proc
/// Mount a fresh /proc for the calling process's PID namespace. Call it in a
/// child that is in new PID and mount namespaces (a `child_setup` hook).
pub fn mount_fresh_proc() -> Result<()> {
    // ANCHOR: lab-02-proc-mount
    // Our new mount namespace started as a copy of the host's, with the same
    // propagation: if / is "shared", mounting here would show on the host.
    crate::mount::make_root_private()?;
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .context("mount proc at /proc")?;
    Ok(())
    // ANCHOR_END: lab-02-proc-mount
}
// ANCHOR_END: fresh_proc

/// New PID and mount namespaces, with a fresh /proc inside.
pub fn sandbox<'a>() -> Sandbox<'a> {
    Sandbox::new(
        Namespaces::none()
            .with(Namespace::Pid)
            .with(Namespace::Mount),
    )
    .child_setup(mount_fresh_proc)
}

// ANCHOR: orphan
/// In PID 1 of a new namespace: make an orphan and reap it. A child forks a
/// grandchild and exits at once; the grandchild is re-parented to us, PID 1.
fn orphan_is_reaped_by_pid1() -> Result<Facts> {
    // SAFETY: we are a single-threaded process (the sandbox child); the
    // forked child only forks again, sleeps and exits.
    match unsafe { nix::unistd::fork() }.context("fork")? {
        ForkResult::Child => {
            // SAFETY: as above, single-threaded.
            if let Ok(ForkResult::Child) = unsafe { nix::unistd::fork() } {
                // The grandchild: wait until our parent is gone.
                while nix::unistd::getppid().as_raw() != 1 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                // SAFETY: _exit(2) ends the process; no Rust state involved.
                unsafe { libc::_exit(0) }
            }
            // SAFETY: as above.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            let mut reaped = Vec::new();
            // Reap our child, then the orphan: PID 1 waits for *any* child.
            while reaped.len() < 2 {
                match waitpid(Pid::from_raw(-1), None).context("waitpid(-1)")? {
                    WaitStatus::Exited(pid, _) => reaped.push(pid),
                    other => bail!("unexpected wait status {other:?}"),
                }
            }
            let orphan = reaped.iter().find(|p| **p != child).copied();
            Ok(vec![
                ("child".into(), child.to_string()),
                (
                    "orphan".into(),
                    orphan.map_or("?".into(), |p| p.to_string()),
                ),
            ])
        }
    }
}
// ANCHOR_END: orphan

// ANCHOR: kill_init
/// Start a PID namespace whose init has a second process, kill the init,
/// and check that the second process died with it. Returns whether it did.
pub fn killing_pid1_kills_the_namespace() -> Result<bool> {
    let (ready_read, ready_write) = nix::unistd::pipe().context("pipe (ready)")?;
    let child = sandbox().spawn(move || {
        // SAFETY: single-threaded sandbox child; the forked child only sleeps.
        if let ForkResult::Child = unsafe { nix::unistd::fork() }.context("fork")? {
            loop {
                nix::unistd::pause();
            }
        }
        demo::write_all(&ready_write, b"R")?;
        loop {
            nix::unistd::pause();
        }
    })?;
    let mut byte = [0u8; 1];
    nix::unistd::read(&ready_read, &mut byte).context("wait for the namespace's init")?;
    // The second process is the child of our child; find its host pid.
    let other = children_of(child.pid())?
        .first()
        .copied()
        .context("the init's child is not in /proc")?;
    child.kill(Signal::SIGKILL)?;
    let exit = child.wait()?;
    if exit != Exit::Signaled(Signal::SIGKILL) {
        bail!("PID 1 ended with {exit}, not SIGKILL");
    }
    // When waitpid returns, the kernel has already killed and reaped every
    // other process of the namespace: the pid no longer exists.
    Ok(nix::sys::signal::kill(other, None) == Err(nix::errno::Errno::ESRCH))
}
// ANCHOR_END: kill_init

/// The host pids of `parent`'s children, from `/proc/<pid>/stat`.
pub fn children_of(parent: Pid) -> Result<Vec<Pid>> {
    let mut kids = Vec::new();
    for entry in std::fs::read_dir("/proc").context("read /proc")?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name (which may contain spaces): state ppid ...
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(parent.as_raw()) {
            kids.push(Pid::from_raw(pid));
        }
    }
    Ok(kids)
}

// ANCHOR: demo
/// The `pid` demo.
pub fn demo(out: &mut dyn Write) -> Result<()> {
    let outside = Probe::collect()?;
    let inside = demo::probe_inside(sandbox(), orphan_is_reaped_by_pid1)?;
    demo::print_table(
        out,
        "A child in new PID and mount namespaces, with a fresh /proc mounted inside:",
        &outside,
        &inside.probe,
    )?;
    writeln!(
        out,
        "Orphans: PID 1 forked pid {}, which forked pid {} and exited at once. The orphan was\n\
         re-parented to PID 1, which reaped both with waitpid(-1).",
        inside.fact("child"),
        inside.fact("orphan"),
    )?;
    let died = killing_pid1_kills_the_namespace()?;
    writeln!(
        out,
        "Killing PID 1 (SIGKILL from the host) {} the other process of its namespace.\n",
        if died { "also killed" } else { "did NOT kill" }
    )?;
    writeln!(
        out,
        "What just happened: the child is PID 1 of its own PID namespace and its /proc lists\n\
         only its own processes; its parent is outside, so it sees parent pid 0. Like init, it\n\
         adopts orphans, and the namespace lives exactly as long as it does."
    )?;
    Ok(())
}
// ANCHOR_END: demo
