//! The programs the demos put into cgroups: a CPU hog, a latency-sensitive
//! victim, an allocator that never stops, a fork bomb, a disk reader.
//!
//! They are hidden subcommands of this same binary (`step03-cgroups
//! workload hog`), started with `execve(2)` by [`crate::spawn`], so each one
//! is a real separate process that the kernel accounts on its own.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Spin forever: a CPU hog.
pub fn hog() -> ! {
    let mut x: u64 = 1;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

/// Allocate and touch memory 1 MiB at a time, forever, reporting every
/// 4 MiB. Only the kernel can stop it.
pub fn allocate(out: &mut dyn Write) -> Result<()> {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        // Touch every page, or the kernel would never actually hand them out.
        chunks.push(vec![1u8; 1 << 20]);
        if chunks.len() % 4 == 0 {
            writeln!(out, "{}", chunks.len())?;
            out.flush()?;
        }
    }
}

/// Fork until the kernel says no, then report how many forks succeeded and
/// wait to be killed. Every child just sleeps.
pub fn forkbomb(out: &mut dyn Write) -> Result<()> {
    let mut forked = 0u64;
    loop {
        // SAFETY: this process is single-threaded (it was just exec'd), so
        // the child may run any code; it only sleeps.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
            Ok(nix::unistd::ForkResult::Parent { .. }) => forked += 1,
            Err(errno) => {
                writeln!(out, "{forked} {errno}")?;
                out.flush()?;
                // Keep our children alive so the parent can count them.
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            }
        }
    }
}

/// Read `bytes` from the start of `device` (a file or a disk) with
/// `O_DIRECT` (no page cache, so the disk really is read and the throttle
/// sees it) and print the elapsed nanoseconds.
pub fn read_disk(device: &str, bytes: u64, out: &mut dyn Write) -> Result<()> {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(device)
        .with_context(|| format!("open {device} with O_DIRECT"))?;
    // O_DIRECT needs an aligned buffer: a page-aligned mapping.
    const CHUNK: usize = 1 << 20;
    let layout = std::alloc::Layout::from_size_align(CHUNK, 4096).context("layout")?;
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { std::alloc::alloc(layout) };
    if ptr.is_null() {
        anyhow::bail!("out of memory for a 1 MiB buffer");
    }
    // SAFETY: ptr points to CHUNK bytes we own until dealloc below.
    let buf = unsafe { std::slice::from_raw_parts_mut(ptr, CHUNK) };
    let start = Instant::now();
    let mut offset = 0;
    let mut result = Ok(());
    while offset < bytes {
        if let Err(e) = file.read_exact_at(buf, offset) {
            result = Err(e).with_context(|| format!("read {device} at {offset}"));
            break;
        }
        offset += CHUNK as u64;
    }
    let elapsed = start.elapsed();
    // SAFETY: allocated above with the same layout, not used after this.
    unsafe { std::alloc::dealloc(ptr, layout) };
    result?;
    writeln!(out, "{}", elapsed.as_nanos())?;
    Ok(())
}

/// A workload for `stats`: grows to `mib` MiB over a few seconds while
/// burning CPU, then keeps burning.
pub fn busy(mib: usize) -> ! {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut x: u64 = 1;
    loop {
        if chunks.len() < mib {
            chunks.push(vec![1u8; 1 << 20]);
        }
        let until = Instant::now() + Duration::from_millis(50);
        while Instant::now() < until {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

/// Print the process's own `/proc/self/cgroup`, then its pid and hostname,
/// and exit: how a test sees where a child was before it ran any code of its
/// own, and which namespaces it got.
pub fn whereami(out: &mut dyn Write) -> Result<()> {
    let text = std::fs::read_to_string("/proc/self/cgroup").context("read /proc/self/cgroup")?;
    write!(out, "{text}")?;
    let host = nix::unistd::gethostname().context("gethostname")?;
    writeln!(out, "pid {}", std::process::id())?;
    writeln!(out, "hostname {}", host.to_string_lossy())?;
    Ok(())
}
