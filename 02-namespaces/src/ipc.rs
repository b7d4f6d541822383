//! The IPC namespace: System V IPC objects and POSIX message queues of
//! one's own (ipc_namespaces(7), msgget(2), sysvipc(7)).
//!
//! Message queues, semaphore sets and shared memory segments are found by a
//! numeric key that any process on the machine may ask for. In a new IPC
//! namespace that whole table of keys is new and empty, so a container
//! cannot attach to (or trample on) another's shared memory.

use std::io::Write;

use anyhow::{Result, bail};
use step01::probe::Probe;

use crate::demo;
use crate::namespaces::{Namespace, Namespaces};
use crate::sandbox::Sandbox;

/// A System V message queue of ours, removed (IPC_RMID) on drop.
pub struct MessageQueue {
    /// Its key, how other processes find it.
    pub key: libc::key_t,
    id: libc::c_int,
}

impl MessageQueue {
    /// Create a new queue under a key derived from our pid.
    pub fn create() -> Result<MessageQueue> {
        let key = 0x7402_0000 | (std::process::id() as libc::key_t & 0xffff);
        // SAFETY: msgget(2) takes plain integers.
        let id = unsafe { libc::msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) };
        if id < 0 {
            bail!(
                "msgget({key:#x}, IPC_CREAT | IPC_EXCL): {}",
                nix::errno::Errno::last()
            );
        }
        Ok(MessageQueue { key, id })
    }
}

impl Drop for MessageQueue {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID ignores the buffer argument, so null is fine.
        unsafe { libc::msgctl(self.id, libc::IPC_RMID, std::ptr::null_mut()) };
    }
}

// ANCHOR: lookup
/// Look a queue up by key: `Ok(true)` if it exists here.
pub fn queue_exists(key: libc::key_t) -> Result<bool> {
    // SAFETY: msgget(2) takes plain integers; flags 0 only looks up.
    let id = unsafe { libc::msgget(key, 0) };
    match nix::errno::Errno::last() {
        _ if id >= 0 => Ok(true),
        nix::errno::Errno::ENOENT => Ok(false),
        errno => bail!("msgget({key:#x}, 0): {errno}"),
    }
}
// ANCHOR_END: lookup

/// How many message queues `/proc/sysvipc/msg` lists for our IPC namespace.
pub fn queues() -> usize {
    std::fs::read_to_string("/proc/sysvipc/msg").map_or(0, |t| t.lines().count().saturating_sub(1))
}

// ANCHOR: demo
/// The `ipc` demo.
pub fn demo(out: &mut dyn Write) -> Result<()> {
    let queue = MessageQueue::create()?;
    let key = queue.key;
    let outside = Probe::collect()?;
    let sandbox = Sandbox::new(Namespaces::none().with(Namespace::Ipc));
    let inside = demo::probe_inside(sandbox, move || {
        Ok(vec![
            ("found".into(), queue_exists(key)?.to_string()),
            ("queues".into(), queues().to_string()),
        ])
    })?;
    demo::print_table(
        out,
        "A child in a new IPC namespace:",
        &outside,
        &inside.probe,
    )?;
    writeln!(
        out,
        "We created a System V message queue (msgget with key {}) before starting it.\n\
         Found by key outside: {}; inside: {}. Queues listed inside: {}.\n",
        step01::report::measured(format!("{key:#x}")),
        queue_exists(key)?,
        inside.fact("found"),
        inside.fact("queues"),
    )?;
    writeln!(
        out,
        "What just happened: the child's IPC namespace has its own, empty table of System V\n\
         keys, so the queue the host made does not exist for it."
    )?;
    drop(queue);
    Ok(())
}
// ANCHOR_END: demo
