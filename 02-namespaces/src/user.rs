//! The user namespace: user ids and capabilities of one's own
//! (user_namespaces(7), capabilities(7)).
//!
//! Inside a new user namespace the child may be root, uid 0 with every
//! capability, yet outside it is an ordinary user. Its capabilities count
//! only for things *owned by* its user namespace: the other namespaces
//! created with it, never the host's. Files keep their real owners: a host
//! file readable only by real root stays unreadable.

use std::io::Write;

use anyhow::Result;
use step01::probe::Probe;

use crate::demo::{self, host};
use crate::namespaces::{Namespace, Namespaces};
use crate::sandbox::{Exit, Sandbox};
use crate::testing::UNPRIVILEGED;
use crate::userns::IdMaps;

/// A file on every Debian-like host that only root (and group shadow) may read.
pub const ROOT_ONLY_FILE: &str = "/etc/shadow";

/// How the host protects [`ROOT_ONLY_FILE`], read from the host (Debian
/// makes it 0640 root:shadow, Fedora 0000): what matters to the lesson is
/// that others may not read it.
fn root_only_file_kind() -> &'static str {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(ROOT_ONLY_FILE) {
        Ok(m) if m.uid() == 0 && m.mode() & 0o004 == 0 => {
            "host file of root, not readable by others"
        }
        Ok(_) => "host file, but readable by others here: not a root-only file",
        Err(_) => "missing on this host",
    }
}

fn outcome(result: std::result::Result<(), nix::errno::Errno>) -> String {
    match result {
        Ok(()) => "allowed".into(),
        Err(errno) => format!("refused ({errno})"),
    }
}

// ANCHOR: tries
/// What root inside a bare user namespace may and may not do.
fn tries() -> Result<demo::Facts> {
    let read = std::fs::File::open(ROOT_ONLY_FILE)
        .map(drop)
        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)));
    // The UTS namespace we are in belongs to the host's user namespace.
    let host_uts = nix::unistd::sethostname("tincan");
    // A UTS namespace we create now belongs to *our* user namespace. (We
    // try it in a child of ours, to keep our own hostname for the probe.)
    let own_uts = Sandbox::new(Namespaces::none().with(Namespace::Uts))
        .run(|| Ok(nix::unistd::sethostname("tincan").map_or_else(|e| e as i32, |()| 0)))?;
    let own_uts = match own_uts {
        Exit::Code(0) => Ok(()),
        Exit::Code(errno) => Err(nix::errno::Errno::from_raw(errno)),
        Exit::Signaled(_) => Err(nix::errno::Errno::EINTR),
    };
    Ok(vec![
        (
            "uid_map".into(),
            std::fs::read_to_string("/proc/self/uid_map")?
                .trim()
                .to_string(),
        ),
        ("read".into(), outcome(read)),
        ("host_uts".into(), outcome(host_uts)),
        ("own_uts".into(), outcome(own_uts)),
    ])
}
// ANCHOR_END: tries

// ANCHOR: demo
/// The `user` demo.
pub fn demo(out: &mut dyn Write) -> Result<()> {
    let outside = Probe::collect()?;
    let me = nix::unistd::geteuid().as_raw();
    // As root, mapping root to root would hide the lesson: map root inside
    // to an unprivileged user instead, which is what an ordinary caller gets.
    let (uid, gid) = if me == 0 {
        (UNPRIVILEGED, UNPRIVILEGED)
    } else {
        (me, nix::unistd::getegid().as_raw())
    };
    let sandbox =
        Sandbox::new(Namespaces::none().with(Namespace::User)).id_maps(IdMaps::root_is(uid, gid));
    let inside = demo::probe_inside(sandbox, tries)?;
    demo::print_table(
        out,
        &format!(
            "A child in a new user namespace, root inside mapped to uid {} outside:",
            host(uid)
        ),
        &outside,
        &inside.probe,
    )?;
    let uid_map = inside
        .fact("uid_map")
        .split_whitespace()
        .collect::<Vec<_>>();
    let uid_map = match uid_map.as_slice() {
        [inside, outside, count] => format!("{inside} {} {count}", host(outside)),
        _ => inside.fact("uid_map").to_string(),
    };
    writeln!(
        out,
        "/proc/self/uid_map inside: {uid_map}  (inside, outside, count)\n"
    )?;
    let mut table = step01::report::Table::new(["root inside tries to", "result"]);
    table.row([
        format!("read {ROOT_ONLY_FILE} ({})", root_only_file_kind()),
        inside.fact("read").to_string(),
    ]);
    table.row([
        "set the hostname of the host's UTS namespace".to_string(),
        inside.fact("host_uts").to_string(),
    ]);
    table.row([
        "make its own UTS namespace and set its hostname".to_string(),
        inside.fact("own_uts").to_string(),
    ]);
    write!(out, "{}", table.render())?;
    writeln!(
        out,
        "\nWhat just happened: the child is uid 0 with all capabilities, but only over what its\n\
         user namespace owns. Host files and host namespaces still judge it as the user it\n\
         maps to outside."
    )?;
    Ok(())
}
// ANCHOR_END: demo
