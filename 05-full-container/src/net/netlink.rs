//! rtnetlink (rtnetlink(7), netlink(7)): how a program asks the kernel to
//! create links, addresses and routes. `ip link add` is only a client of
//! this socket; tincan talks to it directly.
//!
//! A netlink socket is a datagram socket to the kernel itself
//! (`socket(AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE)`). A request is a
//! `nlmsghdr` (length, type such as `RTM_NEWLINK`, flags, sequence number)
//! followed by a fixed header (`ifinfomsg`, `ifaddrmsg`, `rtmsg`) and a list
//! of attributes (`IFLA_IFNAME`, `IFA_LOCAL`...). With `NLM_F_ACK` the kernel
//! answers every request with an `NLMSG_ERROR` whose code is 0 on success
//! or `-errno`. A socket belongs to the network namespace of the thread
//! that created it, which is how tincan configures a container's `eth0`.
//!
//! The message types come from `netlink-packet-route` (the rust-netlink
//! project, used by rtnetlink, youki and netavark's stack): typed structs
//! for every header and attribute, checked against the kernel's layouts, so
//! no byte is packed by hand and none of `ip`'s output is parsed. We send
//! them on a plain blocking socket (`netlink-sys`) rather than through the
//! async `rtnetlink` crate: a container runtime forks and calls setns(2),
//! which an async runtime's worker threads make fragile, and each request
//! here is one visible send and one visible acknowledgement.

use std::net::Ipv4Addr;

use anyhow::{Context, Result, bail};
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// A route of the main table, as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination network.
    pub destination: Ipv4Addr,
    /// Its prefix length (0 for the default route).
    pub prefix: u8,
    /// Outgoing interface index.
    pub oif: Option<u32>,
}

// ANCHOR: socket
/// An `AF_NETLINK`/`NETLINK_ROUTE` socket in the network namespace of the
/// thread that opened it.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    /// socket(2) + bind(2): the kernel gives the socket a port id.
    pub fn open() -> Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE).context("socket(AF_NETLINK, NETLINK_ROUTE)")?;
        socket.bind_auto().context("bind(AF_NETLINK socket)")?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .context("connect(AF_NETLINK socket to the kernel)")?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// Send one request and collect the kernel's answers until its
    /// acknowledgement (`NLMSG_ERROR` with code 0) or, for a dump, `NLMSG_DONE`.
    fn request(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.seq += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket
            .send(&buf, 0)
            .with_context(|| format!("send {what} on the netlink socket"))?;
        let mut answers = Vec::new();
        loop {
            let (data, _) = self
                .socket
                .recv_from_full()
                .with_context(|| format!("receive the answer to {what}"))?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| anyhow::anyhow!("decode the answer to {what}: {e}"))?;
                let len = reply.header.length as usize;
                offset += len.max(1).next_multiple_of(4);
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => match e.code {
                        None => return Ok(answers),
                        Some(_) => {
                            return Err(e.to_io()).with_context(|| format!("netlink {what}"));
                        }
                    },
                    NetlinkPayload::Done(_) => return Ok(answers),
                    NetlinkPayload::InnerMessage(m) => answers.push(m),
                    _ => {}
                }
            }
        }
    }

    /// `RTM_NEWLINK` with `NLM_F_CREATE|NLM_F_EXCL`: a new link.
    fn create(&mut self, link: LinkMessage, what: &str) -> Result<()> {
        self.request(
            RouteNetlinkMessage::NewLink(link),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            what,
        )
        .map(drop)
    }

    /// `RTM_SETLINK` on link `index` with these attributes and flags.
    fn set(
        &mut self,
        index: u32,
        up: bool,
        attributes: Vec<LinkAttribute>,
        what: &str,
    ) -> Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        if up {
            link.header.flags = LinkFlags::Up;
            link.header.change_mask = LinkFlags::Up;
        }
        link.attributes = attributes;
        self.request(RouteNetlinkMessage::SetLink(link), NLM_F_ACK, what)
            .map(drop)
    }
    // ANCHOR_END: socket

    /// `RTM_GETLINK` by name: the interface's index, if it exists.
    pub fn index(&mut self, name: &str) -> Result<Option<u32>> {
        let mut link = LinkMessage::default();
        link.attributes.push(LinkAttribute::IfName(name.into()));
        match self.request(
            RouteNetlinkMessage::GetLink(link),
            NLM_F_ACK,
            &format!("RTM_GETLINK {name}"),
        ) {
            Ok(answers) => Ok(answers.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if is_errno(&e, libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`Netlink::index`], or an error naming the missing link.
    pub fn require(&mut self, name: &str) -> Result<u32> {
        self.index(name)?
            .with_context(|| format!("no network interface {name}"))
    }

    // ANCHOR: messages
    /// `ip link add NAME type bridge`: `RTM_NEWLINK` with
    /// `IFLA_LINKINFO { IFLA_INFO_KIND "bridge" }`.
    pub fn add_bridge(&mut self, name: &str) -> Result<()> {
        let mut link = LinkMessage::default();
        link.attributes.push(LinkAttribute::IfName(name.into()));
        link.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.create(link, &format!("RTM_NEWLINK {name} type bridge"))
    }

    /// `ip link add HOST type veth peer name PEER`: one `RTM_NEWLINK` makes
    /// both ends; the peer is described by a nested `ifinfomsg` in
    /// `IFLA_INFO_DATA { VETH_INFO_PEER }`.
    pub fn add_veth(&mut self, host: &str, peer: &str) -> Result<()> {
        let mut peer_link = LinkMessage::default();
        peer_link
            .attributes
            .push(LinkAttribute::IfName(peer.into()));
        let mut link = LinkMessage::default();
        link.attributes.push(LinkAttribute::IfName(host.into()));
        link.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_link))),
        ]));
        self.create(link, &format!("RTM_NEWLINK {host} type veth peer {peer}"))
    }

    /// `ip link set NAME master BRIDGE up`: `RTM_SETLINK` with `IFLA_MASTER`
    /// and `IFF_UP`.
    pub fn enslave_up(&mut self, index: u32, bridge: u32) -> Result<()> {
        self.set(
            index,
            true,
            vec![LinkAttribute::Controller(bridge)],
            "RTM_SETLINK IFLA_MASTER, IFF_UP",
        )
    }

    /// `ip link set NAME netns PID`: `RTM_SETLINK` with `IFLA_NET_NS_PID`;
    /// the link leaves this namespace for that process's.
    pub fn move_to_netns_of(&mut self, index: u32, pid: i32) -> Result<()> {
        self.set(
            index,
            false,
            vec![LinkAttribute::NetNsPid(pid as u32)],
            "RTM_SETLINK IFLA_NET_NS_PID",
        )
    }

    /// `ip link set OLD name NEW`: `RTM_SETLINK` with `IFLA_IFNAME`.
    pub fn rename(&mut self, index: u32, name: &str) -> Result<()> {
        self.set(
            index,
            false,
            vec![LinkAttribute::IfName(name.into())],
            "RTM_SETLINK IFLA_IFNAME",
        )
    }

    /// `ip link set NAME up`: `RTM_SETLINK` with `IFF_UP` in flags and change mask.
    pub fn up(&mut self, index: u32) -> Result<()> {
        self.set(index, true, Vec::new(), "RTM_SETLINK IFF_UP")
    }

    /// `ip link del NAME`: `RTM_DELLINK` (a veth's peer goes with it).
    pub fn delete(&mut self, index: u32) -> Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        self.request(RouteNetlinkMessage::DelLink(link), NLM_F_ACK, "RTM_DELLINK")
            .map(drop)
    }

    /// `ip addr add ADDR/PREFIX dev NAME`: `RTM_NEWADDR` with `IFA_LOCAL`
    /// and `IFA_ADDRESS` (the kernel adds the subnet's route itself).
    pub fn add_address(&mut self, index: u32, address: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut message = AddressMessage::default();
        message.header.family = AddressFamily::Inet;
        message.header.prefix_len = prefix;
        message.header.index = index;
        message
            .attributes
            .push(AddressAttribute::Local(address.into()));
        message
            .attributes
            .push(AddressAttribute::Address(address.into()));
        self.request(
            RouteNetlinkMessage::NewAddress(message),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("RTM_NEWADDR {address}/{prefix}"),
        )
        .map(drop)
    }

    /// `ip route add default via GATEWAY`: `RTM_NEWROUTE` with a prefix
    /// length of 0 and `RTA_GATEWAY`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<()> {
        let mut route = RouteMessage::default();
        route.header.address_family = AddressFamily::Inet;
        route.header.table = RouteHeader::RT_TABLE_MAIN;
        route.header.protocol = RouteProtocol::Boot;
        route.header.scope = RouteScope::Universe;
        route.header.kind = RouteType::Unicast;
        route
            .attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(
            RouteNetlinkMessage::NewRoute(route),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("RTM_NEWROUTE default via {gateway}"),
        )
        .map(drop)
    }
    // ANCHOR_END: messages

    /// `ip route show`: `RTM_GETROUTE` with `NLM_F_DUMP`, IPv4 main table.
    pub fn routes(&mut self) -> Result<Vec<Route>> {
        let mut request = RouteMessage::default();
        request.header.address_family = AddressFamily::Inet;
        let answers = self.request(
            RouteNetlinkMessage::GetRoute(request),
            NLM_F_DUMP,
            "RTM_GETROUTE (dump)",
        )?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) if r.header.table == 254 => Some(r),
                _ => None,
            })
            .map(|r| {
                let mut route = Route {
                    destination: Ipv4Addr::UNSPECIFIED,
                    prefix: r.header.destination_prefix_length,
                    oif: None,
                };
                for a in r.attributes {
                    match a {
                        RouteAttribute::Destination(RouteAddress::Inet(d)) => route.destination = d,
                        RouteAttribute::Oif(i) => route.oif = Some(i),
                        _ => {}
                    }
                }
                route
            })
            .collect())
    }

    /// Every link: its name and index.
    pub fn links(&mut self) -> Result<Vec<(String, u32)>> {
        let answers = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
            "RTM_GETLINK (dump)",
        )?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some((n.clone(), l.header.index)),
                    _ => None,
                }),
                _ => None,
            })
            .collect())
    }
}

/// Is `e` (or its cause) this errno?
pub fn is_errno(e: &anyhow::Error, errno: i32) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(|io| io.raw_os_error())
            == Some(errno)
    })
}

/// Refuse names the kernel would refuse, with a clearer message (IFNAMSIZ is 16).
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 15 {
        bail!("interface name {name:?} must be 1 to 15 bytes (IFNAMSIZ)");
    }
    Ok(())
}
