//! `cargo xtask rootfs`: build the static toolbox and assemble tincan's own
//! root filesystem (target/rootfs/ and target/rootfs.tar). The assembly
//! lives in the step 04 library, so tests and demos use the same code.

use anyhow::Result;

/// Build the rootfs directory and tarball, and say where they are.
pub fn run() -> Result<()> {
    let started = std::time::Instant::now();
    let (dir, tarball) = step04::rootfs::build()?;
    println!("rootfs:  {}", dir.display());
    println!("tarball: {}", tarball.display());
    println!(
        "done in {:.1} s; try: cargo run -p step04-chroot-pivot -- chroot",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
