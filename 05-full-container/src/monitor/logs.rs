//! `tincan logs [-f] ID`: what a detached container printed.
//!
//! The container's stdout and stderr are one file, opened in append mode
//! by its monitor ([`super::detach`]); the kernel interleaves the two
//! streams in the order the writes happen. Following (`-f`) is reading on
//! from where the last read ended until the container has exited and the
//! file has nothing more, as `tail -f` does.

use std::io::{Read, Write};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{LOG_FILE, Seen, seen};
use crate::state::StateRoot;

// ANCHOR: logs
/// Copy the log of container `id` to `out`; with `follow`, keep copying
/// what it appends until it exits (or Ctrl-C).
pub fn logs(root: &StateRoot, id: &str, follow: bool, out: &mut dyn Write) -> Result<()> {
    let state = super::load(root, id)?;
    let path = root.dir(id).join(LOG_FILE);
    if !super::keeps_record(&state) || !path.exists() {
        bail!(
            "container {id:?} has no log: only `tincan run -d` keeps a container's output; \
             a foreground run printed it on its terminal"
        );
    }
    let mut file =
        std::fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
    if follow {
        step01::signals::catch_restarting(&step01::signals::INTERRUPTS)?;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_round = false;
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("read {}", path.display()))?;
        if n > 0 {
            out.write_all(&buf[..n])?;
            continue;
        }
        out.flush()?;
        // At the end of the file: done, unless following a live container.
        if !follow || last_round || step01::signals::interrupted() {
            return Ok(());
        }
        let running = root
            .load(id)
            .is_ok_and(|s| matches!(seen(&s), Seen::Running(_) | Seen::Paused(_)));
        if running {
            std::thread::sleep(Duration::from_millis(100));
        } else {
            // Once more to the end: what it wrote just before it exited.
            last_round = true;
        }
    }
}
// ANCHOR_END: logs
