//! The network namespace: a network stack of one's own
//! (network_namespaces(7)).
//!
//! A new network namespace has its own interfaces, addresses, routes,
//! firewall rules and port numbers. It starts with a single interface, the
//! loopback `lo`, and even that one is down: nothing can reach out, and not
//! even 127.0.0.1 works until it is brought up. Connecting it to the world
//! (a veth pair, a bridge) is set-up the parent does from outside.

use std::io::Write;

use anyhow::{Result, bail};
use step01::probe::Probe;

use crate::demo;
use crate::namespaces::{Namespace, Namespaces};
use crate::sandbox::Sandbox;

// ANCHOR: lo_up
/// `ip link set lo up`: set `IFF_UP` on the loopback interface with the
/// `SIOCGIFFLAGS` / `SIOCSIFFLAGS` ioctls (netdevice(7)) on any socket of
/// the namespace.
pub fn bring_loopback_up() -> Result<()> {
    // SAFETY: socket(2) takes plain integers and returns a new descriptor or -1.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        bail!("socket(AF_INET, SOCK_DGRAM): {}", nix::errno::Errno::last());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&socket);
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq naming an interface; the ioctl fills in
    // its flags field and reads nothing beyond the struct.
    if unsafe { libc::ioctl(raw, libc::SIOCGIFFLAGS, &mut req) } < 0 {
        bail!("ioctl(SIOCGIFFLAGS, lo): {}", nix::errno::Errno::last());
    }
    // SAFETY: SIOCGIFFLAGS set the `ifru_flags` member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above; SIOCSIFFLAGS reads the name and flags from `req`.
    if unsafe { libc::ioctl(raw, libc::SIOCSIFFLAGS, &req) } < 0 {
        bail!(
            "ioctl(SIOCSIFFLAGS, lo, IFF_UP): {}",
            nix::errno::Errno::last()
        );
    }
    Ok(())
}
// ANCHOR_END: lo_up

fn interfaces(probe: &Probe) -> String {
    let names: Vec<String> = probe
        .interfaces
        .iter()
        .map(|i| format!("{}({})", i.name, if i.up { "up" } else { "down" }))
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(" ")
    }
}

// ANCHOR: demo
/// The `net` demo.
pub fn demo(out: &mut dyn Write) -> Result<()> {
    let outside = Probe::collect()?;
    let sandbox = Sandbox::new(Namespaces::none().with(Namespace::Net));
    let inside = demo::probe_inside(sandbox, || {
        let before = interfaces(&Probe::collect()?);
        bring_loopback_up()?;
        Ok(vec![("before".into(), before)])
    })?;
    demo::print_table(
        out,
        "A child in a new network namespace, after bringing lo up:",
        &outside,
        &inside.probe,
    )?;
    writeln!(
        out,
        "Interfaces inside: {} when the namespace was made, {} after SIOCSIFFLAGS(IFF_UP).\n",
        inside.fact("before"),
        interfaces(&inside.probe)
    )?;
    writeln!(
        out,
        "What just happened: the child has a network stack of its own with only a loopback\n\
         interface, down until it brought it up; none of the host's interfaces exist there."
    )?;
    Ok(())
}
// ANCHOR_END: demo
