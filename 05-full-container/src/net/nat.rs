//! Outbound masquerading (source NAT) with nftables (nft(8)).
//!
//! A container's address is private to the bridge: a packet it sends to
//! the world leaves the host with that source address, and the answer
//! would never find its way back. A `masquerade` rule in the `postrouting`
//! hook rewrites the source to the address of the interface the packet
//! leaves by, and conntrack rewrites the answers back. The rules live in a
//! table of tincan's own, `ip tincan`, so removing them is deleting that
//! table, and no other program's rules are touched. The kernel must also
//! forward packets between interfaces at all
//! (`/proc/sys/net/ipv4/ip_forward`, one setting per network namespace).

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::{BRIDGE, Subnet};

/// The nftables table tincan owns.
pub const TABLE: &str = "tincan";

// ANCHOR: ruleset
/// The table, as `nft -f` reads it.
pub fn ruleset(subnet: Subnet) -> String {
    format!(
        "table ip {TABLE} {{\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tip saddr {subnet} oifname != \"{BRIDGE}\" masquerade\n\
         \t}}\n\
         }}\n"
    )
}
// ANCHOR_END: ruleset

/// Create the table (and turn forwarding on).
pub fn add(subnet: Subnet) -> Result<()> {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
        .context("write 1 to /proc/sys/net/ipv4/ip_forward")?;
    nft(&ruleset(subnet), &["-f", "-"])
}

/// Delete the table, if it exists.
pub fn remove() -> Result<()> {
    let listed = Command::new("nft")
        .args(["list", "table", "ip", TABLE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match listed {
        Ok(status) if status.success() => nft("", &["delete", "table", "ip", TABLE]),
        _ => Ok(()),
    }
}

fn nft(input: &str, args: &[&str]) -> Result<()> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow::anyhow!(
                "nft not found: --net bridge needs nftables (apt-get install nftables), or use --net none"
            ),
            _ => anyhow::Error::new(e).context("run nft"),
        })?;
    child
        .stdin
        .take()
        .context("nft's stdin")?
        .write_all(input.as_bytes())
        .context("write the ruleset to nft")?;
    let out = child.wait_with_output().context("wait for nft")?;
    if !out.status.success() {
        bail!(
            "nft {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
