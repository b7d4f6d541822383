//! Networking: containers that talk to each other and to the world
//! (network_namespaces(7), veth(4), rtnetlink(7), nft(8)).
//!
//! A new network namespace holds nothing but a loopback that is down
//! (step 02). `--net bridge`, the default as root, gives it what Docker
//! gives its containers:
//!
//! 1. a Linux bridge `tincan0` on the host, a virtual switch with the
//!    subnet's first address (the containers' gateway) — [`bridge`];
//! 2. per container a veth pair, a virtual cable: one end on the bridge,
//!    the other moved into the container's namespace and renamed `eth0`,
//!    with an address leased under the state root, a default route and
//!    `lo` up — [`bridge`], [`lease`];
//! 3. outbound masquerading (source NAT) in an nftables table of tincan's
//!    own, so replies to the containers' private addresses come back —
//!    [`nat`];
//! 4. `--publish HOST:CONTAINER`: a port of the host's loopback forwarded
//!    to the container — [`publish`];
//! 5. `/etc/hosts` in every container listing the running ones by name —
//!    [`hosts`].
//!
//! Links, addresses and routes are made with netlink messages ([`netlink`]).
//! `--net none` is step 02's namespace as it is; `--net host` shares the
//! host's network (no namespace at all); `--net container:ID` joins the
//! network namespace of another running container, as the containers of a
//! Kubernetes pod do ([`pod`]); `--net slirp4netns`, the default of a
//! rootless run when that program is installed, gives a namespace an
//! unprivileged user made a network in user space ([`slirp`]).

pub mod bridge;
pub mod demo;
pub mod hosts;
pub mod lease;
pub mod nat;
pub mod netlink;
pub mod pod;
pub mod publish;
pub mod slirp;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// The bridge every `--net bridge` container is plugged into.
pub const BRIDGE: &str = "tincan0";

/// The environment variable that sets the default of `--net`
/// (`TINCAN_NET=none` keeps containers off the network unless asked).
pub const NET_ENV: &str = "TINCAN_NET";

// ANCHOR: mode
/// `--net`: which network a container gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetMode {
    /// A new network namespace with only its loopback (down): no network.
    #[default]
    None,
    /// No network namespace: the host's interfaces, routes and ports.
    Host,
    /// A new namespace plugged into the `tincan0` bridge.
    Bridge,
    /// No namespace of its own: that of the running container with this
    /// id or name (a pod: same interfaces, same addresses, same loopback).
    Container(String),
    /// A new namespace whose `tap0` slirp4netns(1) serves from user space
    /// (rootless: no link on the host is made).
    Slirp4netns,
}
// ANCHOR_END: mode

impl std::fmt::Display for NetMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetMode::None => f.write_str("none"),
            NetMode::Host => f.write_str("host"),
            NetMode::Bridge => f.write_str("bridge"),
            NetMode::Container(id) => write!(f, "container:{id}"),
            NetMode::Slirp4netns => f.write_str("slirp4netns"),
        }
    }
}

impl FromStr for NetMode {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<NetMode> {
        match text {
            "none" => Ok(NetMode::None),
            "host" => Ok(NetMode::Host),
            "bridge" => Ok(NetMode::Bridge),
            "slirp4netns" => Ok(NetMode::Slirp4netns),
            other => match other.strip_prefix("container:") {
                Some(id) if crate::config::validate_id(id).is_ok() => {
                    Ok(NetMode::Container(id.to_string()))
                }
                _ => bail!(
                    "invalid --net {other:?}; use --net bridge, none, host, slirp4netns or container:ID (the id or name of a running container)"
                ),
            },
        }
    }
}

impl NetMode {
    /// The mode when `--net` is not given: `$TINCAN_NET` if set, else
    /// `bridge` as root. An unprivileged user may not create links on the
    /// host, so a rootless run gets `slirp4netns` when it is installed and
    /// `none` otherwise, with a one-line note on stderr either way.
    pub fn default_for_run() -> Result<NetMode> {
        match std::env::var(NET_ENV) {
            Ok(text) if !text.is_empty() => text.parse(),
            _ if nix::unistd::geteuid().is_root() => Ok(NetMode::Bridge),
            _ if slirp::available() => {
                eprintln!(
                    "note: rootless: user-mode networking through slirp4netns (tap0, 10.0.2.100); --net none to go without"
                );
                Ok(NetMode::Slirp4netns)
            }
            _ => {
                eprintln!(
                    "note: rootless: no network (--net none); install slirp4netns for user-mode networking"
                );
                Ok(NetMode::None)
            }
        }
    }
}

/// An IPv4 subnet such as `10.88.0.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// The network address (host bits zero).
    pub network: Ipv4Addr,
    /// Prefix length, 16 to 28.
    pub prefix: u8,
}

impl FromStr for Subnet {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<Subnet> {
        let bad = |why: &str| {
            anyhow::anyhow!(
                "invalid --subnet {text:?}: {why}; use a private network such as 10.88.0.0/24"
            )
        };
        let (addr, prefix) = text.split_once('/').ok_or_else(|| bad("no /PREFIX"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| bad("the prefix is not a number"))?;
        if !(16..=28).contains(&prefix) {
            return Err(bad("the prefix must be 16 to 28"));
        }
        if !addr.is_private() {
            return Err(bad("not a private (RFC 1918) address"));
        }
        let subnet = Subnet {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        };
        if subnet.network != addr {
            return Err(bad(&format!("host bits are set (the network is {subnet})")));
        }
        Ok(subnet)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

impl Subnet {
    /// The `n`-th address of the subnet (1 is the gateway).
    pub fn host(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + n)
    }

    /// How many addresses containers can lease: all but the network, the
    /// gateway and the broadcast address.
    pub fn capacity(&self) -> u32 {
        (1u32 << (32 - u32::from(self.prefix))) - 3
    }

    /// Do the two networks share an address?
    pub fn overlaps(&self, network: Ipv4Addr, prefix: u8) -> bool {
        let common = mask(self.prefix.min(prefix));
        u32::from(self.network) & common == u32::from(network) & common
    }
}

/// `--publish HOSTPORT:CONTPORT[/tcp]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publish {
    /// Port on the host's loopback.
    pub host_port: u16,
    /// Port in the container.
    pub container_port: u16,
}

impl FromStr for Publish {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<Publish> {
        let bad = |why: &str| {
            anyhow::anyhow!(
                "invalid --publish {text:?}: {why}; use HOSTPORT:CONTAINERPORT[/tcp], ports 1 to 65535, e.g. 8080:80"
            )
        };
        let ports = match text.split_once('/') {
            Some((ports, "tcp")) => ports,
            Some((_, proto)) => {
                return Err(bad(&format!(
                    "protocol {proto:?} is not supported, only tcp"
                )));
            }
            None => text,
        };
        let (host, container) = ports.split_once(':').ok_or_else(|| bad("no ':'"))?;
        let port = |p: &str| match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(bad(&format!("{p:?} is not a port"))),
            Ok(n) => Ok(n),
        };
        Ok(Publish {
            host_port: port(host)?,
            container_port: port(container)?,
        })
    }
}

/// What a container's network is to be (part of [`crate::config::RunConfig`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetConfig {
    /// `--net`.
    pub mode: NetMode,
    /// `--subnet` (default: the bridge's, or the first free candidate).
    pub subnet: Option<Subnet>,
    /// `--publish` (bridge only).
    pub publish: Vec<Publish>,
}

impl NetConfig {
    /// Parse `--net`, `--subnet` and `--publish`, refusing combinations
    /// that make no sense before anything is created.
    pub fn from_flags(
        net: Option<&str>,
        subnet: Option<&str>,
        publish: &[String],
    ) -> Result<NetConfig> {
        let mode = match net {
            Some(text) => text.parse()?,
            None => NetMode::default_for_run()?,
        };
        let subnet = subnet.map(str::parse).transpose()?;
        let publish = publish
            .iter()
            .map(|p| p.parse())
            .collect::<Result<Vec<Publish>>>()?;
        if mode != NetMode::Bridge && (subnet.is_some() || !publish.is_empty()) {
            bail!("--subnet and --publish need --net bridge (this container's network is {mode})");
        }
        if matches!(mode, NetMode::Container(_)) && !nix::unistd::geteuid().is_root() {
            bail!(
                "--net {mode} needs root: a rootless container's network belongs to its own user namespace, which another may not join; use --net slirp4netns or none"
            );
        }
        if mode == NetMode::Bridge && !nix::unistd::geteuid().is_root() {
            bail!(
                "--net bridge needs root (it creates links on the host); run with sudo, or use --net none"
            );
        }
        for (i, p) in publish.iter().enumerate() {
            if publish[..i].iter().any(|q| q.host_port == p.host_port) {
                bail!("--publish: host port {} is given twice", p.host_port);
            }
        }
        Ok(NetConfig {
            mode,
            subnet,
            publish,
        })
    }
}

// ANCHOR: net_state
/// What a bridged container owns on the host, recorded in its state before
/// it is created, so that a `kill -9`'d tincan's next `cleanup` removes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetState {
    /// The leased address (a file under `<root>/.net/leases`).
    pub address: Ipv4Addr,
    /// The subnet of the bridge.
    pub subnet: Subnet,
    /// The host end of the veth pair (on the bridge).
    pub host_veth: String,
    /// Published ports.
    #[serde(default)]
    pub publish: Vec<Publish>,
}
// ANCHOR_END: net_state

/// `<root>/.net`: the lock, the bridge's subnet and the leases.
pub fn net_dir(root: &crate::state::StateRoot) -> PathBuf {
    root.path().join(".net")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_refuse_with_one_line() {
        assert_eq!("bridge".parse::<NetMode>().expect("valid"), NetMode::Bridge);
        let pod: NetMode = "container:web".parse().expect("valid");
        assert_eq!(pod, NetMode::Container("web".into()));
        assert_eq!(pod.to_string(), "container:web");
        for bad in ["bogus", "container:", "container:../x"] {
            let e = bad.parse::<NetMode>().expect_err(bad);
            assert!(e.to_string().contains("use --net bridge"), "{e}");
        }
        let p: Publish = "8080:80/tcp".parse().expect("valid");
        assert_eq!((p.host_port, p.container_port), (8080, 80));
        for bad in ["99999:80", "0:80", "80", "80:80/udp", "a:b"] {
            let e = bad.parse::<Publish>().expect_err(bad);
            assert!(e.to_string().contains("HOSTPORT:CONTAINERPORT"), "{e}");
        }
        let s: Subnet = "10.88.0.0/24".parse().expect("valid");
        assert_eq!(s.host(1), Ipv4Addr::new(10, 88, 0, 1));
        assert_eq!(s.capacity(), 253);
        assert!(s.overlaps(Ipv4Addr::new(10, 0, 0, 0), 8));
        assert!(!s.overlaps(Ipv4Addr::new(10, 89, 0, 0), 24));
        for bad in ["10.88.0.1/24", "8.8.8.0/24", "10.0.0.0/8", "10.88.0.0"] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
    }
}
