//! The bridge and the veth pairs (bridge(8)-like, veth(4)), step by step.
//!
//! A bridge is a switch inside the kernel: frames that arrive on one of its
//! ports leave by the port that leads to their destination's MAC address.
//! A veth pair is a cable: what enters one end leaves the other, and each
//! end can live in a different network namespace. Plug one end into the
//! bridge, push the other into the container, and the containers share a
//! LAN. Giving the bridge itself an address makes the host the LAN's
//! router: the containers' default gateway.

use std::net::Ipv4Addr;

use anyhow::{Context, Result, bail};
use nix::sched::CloneFlags;
use nix::unistd::Pid;

use super::lease::NetLock;
use super::netlink::Netlink;
use super::{BRIDGE, NetConfig, NetState, Subnet, hosts, nat, publish};
use crate::explain::Explain;
use crate::state::StateRoot;

/// Subnets tried, in order, when `--subnet` is not given: the first that
/// overlaps no route of the host wins.
pub const CANDIDATES: &[&str] = &[
    "10.88.0.0/24",
    "10.89.0.0/24",
    "10.90.0.0/24",
    "172.30.0.0/24",
    "172.31.0.0/24",
    "192.168.188.0/24",
];

/// The host end's name: `tincan` and the address in hex (15 bytes at most,
/// IFNAMSIZ); the peer's temporary name has a `p`.
pub fn veth_names(address: Ipv4Addr) -> (String, String) {
    let hex = format!("{:08x}", u32::from(address));
    (format!("tincan{hex}"), format!("tincanp{hex}"))
}

// ANCHOR: prepare
/// Before the container exists, under the network lock: the bridge (made
/// by the first container), the NAT table, an address, the hosts files.
/// `record` saves the container's [`NetState`] before anything of it is
/// created on the host.
pub fn prepare(
    root: &StateRoot,
    net: &NetConfig,
    id: &str,
    hostname: &str,
    record: impl FnOnce(&NetState) -> Result<()>,
    explain: Explain,
) -> Result<NetState> {
    let lock = NetLock::take(root)?;
    let mut nl = Netlink::open()?;
    let existing = nl.index(BRIDGE)?;
    let subnet = choose_subnet(&lock, &mut nl, existing.is_some(), net.subnet)?;
    let address = lock.allocate(root, subnet, id, hostname)?;
    let (host_veth, _) = veth_names(address);
    let state = NetState {
        address,
        subnet,
        host_veth,
        publish: net.publish.clone(),
    };
    record(&state)?;
    lock.record_subnet(Some(subnet))?;
    if existing.is_none() {
        nl.add_bridge(BRIDGE)?;
        let index = nl.require(BRIDGE)?;
        nl.add_address(index, subnet.host(1), subnet.prefix)?;
        nl.up(index)?;
        nat::add(subnet)?;
        explain.step("1", format_args!(
            "network: bridge {BRIDGE} {}/{} (RTM_NEWLINK kind bridge, RTM_NEWADDR, RTM_SETLINK IFF_UP); nftables table ip {} masquerades {subnet}",
            subnet.host(1), subnet.prefix, nat::TABLE
        ));
    } else {
        explain.step(
            "1",
            format_args!(
                "network: bridge {BRIDGE} {}/{} exists (RTM_GETLINK)",
                subnet.host(1),
                subnet.prefix
            ),
        );
    }
    hosts::update_all(&lock, root)?;
    Ok(state)
}
// ANCHOR_END: prepare

/// The bridge's subnet if it exists, else `--subnet`, else the first
/// candidate that collides with no route of the host.
fn choose_subnet(
    lock: &NetLock,
    nl: &mut Netlink,
    bridge_exists: bool,
    wanted: Option<Subnet>,
) -> Result<Subnet> {
    if bridge_exists {
        let Some(recorded) = lock.recorded_subnet()? else {
            bail!(
                "a bridge {BRIDGE} exists but {} does not record its subnet (made by a tincan with another --root?); remove it with `ip link del {BRIDGE}`",
                lock.dir().join("subnet").display()
            );
        };
        if let Some(w) = wanted.filter(|w| *w != recorded) {
            bail!(
                "--subnet {w}: bridge {BRIDGE} already uses {recorded}; drop --subnet or use {recorded}"
            );
        }
        return Ok(recorded);
    }
    let routes = nl.routes()?;
    let collision = |s: &Subnet| {
        routes
            .iter()
            .find(|r| r.prefix > 0 && s.overlaps(r.destination, r.prefix))
            .cloned()
    };
    if let Some(w) = wanted {
        if let Some(r) = collision(&w) {
            bail!(
                "--subnet {w} overlaps the host's route to {}/{}; pick another --subnet",
                r.destination,
                r.prefix
            );
        }
        return Ok(w);
    }
    CANDIDATES
        .iter()
        .map(|c| c.parse::<Subnet>().expect("candidates are valid subnets"))
        .find(|s| collision(s).is_none())
        .context("every default subnet overlaps a route of this host; pass --subnet")
}

// ANCHOR: attach
/// While the cloned child waits: its veth pair, one end on the bridge, the
/// other moved into the child's namespace and configured from in there.
pub fn attach(state: &NetState, pid: Pid, explain: Explain) -> Result<()> {
    let mut nl = Netlink::open()?;
    let bridge = nl.require(BRIDGE)?;
    let (host, peer) = veth_names(state.address);
    nl.add_veth(&host, &peer)?;
    let host_index = nl.require(&host)?;
    nl.enslave_up(host_index, bridge)?;
    let peer_index = nl.require(&peer)?;
    nl.move_to_netns_of(peer_index, pid.as_raw())?;
    explain.step("1", format_args!(
        "network: veth {host} <-> {peer} (RTM_NEWLINK kind veth), {host} on {BRIDGE} and up (RTM_SETLINK IFLA_MASTER), {peer} into the container's namespace (RTM_SETLINK IFLA_NET_NS_PID)"
    ));
    // A netlink socket talks to the namespace of the thread that opened
    // it: a thread of our own joins the container's, the rest of tincan
    // stays in the host's.
    let ns_path = format!("/proc/{pid}/ns/net");
    let ns = std::fs::File::open(&ns_path).with_context(|| format!("open {ns_path}"))?;
    let (address, subnet) = (state.address, state.subnet);
    std::thread::scope(|s| {
        s.spawn(|| -> Result<()> {
            nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET)
                .with_context(|| format!("setns({ns_path}, CLONE_NEWNET)"))?;
            inside(&peer, address, subnet)
        })
        .join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the network set-up thread panicked")))
    })?;
    explain.step("1", format_args!(
        "network: inside: {peer} renamed eth0 (RTM_SETLINK IFLA_IFNAME), {address}/{} (RTM_NEWADDR), lo and eth0 up (RTM_SETLINK IFF_UP), default via {} (RTM_NEWROUTE)",
        subnet.prefix, subnet.host(1)
    ));
    Ok(())
}

/// In the container's network namespace.
fn inside(peer: &str, address: Ipv4Addr, subnet: Subnet) -> Result<()> {
    let mut nl = Netlink::open()?;
    let index = nl.require(peer)?;
    nl.rename(index, "eth0")?;
    nl.add_address(index, address, subnet.prefix)?;
    nl.up(index)?;
    let lo = nl.require("lo")?;
    nl.up(lo)?;
    nl.add_default_route(subnet.host(1))
}
// ANCHOR_END: attach

/// Bind every `--publish` port before anything is created.
pub fn bind_published(net: &NetConfig) -> Result<Vec<publish::Listener>> {
    net.publish.iter().map(|p| publish::bind(*p)).collect()
}

// ANCHOR: teardown
/// Remove what `state` owns: its veth (gone already if its namespace died
/// with its processes), its lease, and with the last container the
/// bridge and the NAT table. Every step tolerates "already gone".
pub fn teardown(root: &StateRoot, state: &NetState) -> Result<()> {
    let lock = NetLock::take(root)?;
    let mut nl = Netlink::open()?;
    if !state.host_veth.starts_with("tincan") {
        bail!(
            "refusing to delete interface {:?}: not created by tincan",
            state.host_veth
        );
    }
    if let Some(index) = nl.index(&state.host_veth)? {
        nl.delete(index)?;
    }
    lock.release(state.address)?;
    hosts::update_all(&lock, root)?;
    if lock.leases(root)?.is_empty() {
        nat::remove()?;
        if let Some(index) = nl.index(BRIDGE)? {
            nl.delete(index)?;
        }
        lock.record_subnet(None)?;
    }
    Ok(())
}
// ANCHOR_END: teardown
