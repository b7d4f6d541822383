//! Addresses for containers, without collisions even when many start at
//! once: one lock (flock(2) on `<root>/.net/lock`) around "read the leases,
//! take a free one", and one file per leased address
//! (`<root>/.net/leases/10.88.0.2`, holding the container's id and name).
//!
//! A lease is made after the container's state directory exists and is
//! removed before that directory goes. So a lease whose container has no
//! state directory is left over from a tincan that died, and is taken back.

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::fcntl::{Flock, FlockArg};

use super::{Subnet, net_dir};
use crate::state::StateRoot;

/// The network lock: held while leases, the bridge, the NAT table or the
/// hosts files change.
pub struct NetLock {
    dir: PathBuf,
    _lock: Flock<File>,
}

/// One leased address and who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The address.
    pub address: Ipv4Addr,
    /// The container id.
    pub id: String,
    /// Its hostname.
    pub hostname: String,
}

// ANCHOR: lock
impl NetLock {
    /// Wait for the network lock of `root`.
    pub fn take(root: &StateRoot) -> Result<NetLock> {
        let dir = net_dir(root);
        std::fs::create_dir_all(dir.join("leases"))
            .with_context(|| format!("create {}", dir.join("leases").display()))?;
        let path = dir.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("open {}", path.display()))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .with_context(|| format!("flock(LOCK_EX) {}", path.display()))?;
        Ok(NetLock { dir, _lock: lock })
    }

    /// Take the first free address of `subnet` for container `id`.
    pub fn allocate(
        &self,
        root: &StateRoot,
        subnet: Subnet,
        id: &str,
        hostname: &str,
    ) -> Result<Ipv4Addr> {
        let taken = self.leases(root)?;
        for n in 2..2 + subnet.capacity() {
            let address = subnet.host(n);
            if taken.iter().any(|l| l.address == address) {
                continue;
            }
            let path = self.lease_path(address);
            std::fs::write(&path, format!("{id} {hostname}\n"))
                .with_context(|| format!("write {}", path.display()))?;
            return Ok(address);
        }
        bail!(
            "no free address left in {subnet} ({} containers); stop some, or pick a larger --subnet",
            subnet.capacity()
        )
    }
    // ANCHOR_END: lock

    /// The live leases; those of containers without a state directory are
    /// removed on the way.
    pub fn leases(&self, root: &StateRoot) -> Result<Vec<Lease>> {
        let dir = self.dir.join("leases");
        let mut leases = Vec::new();
        for entry in std::fs::read_dir(&dir).with_context(|| format!("list {}", dir.display()))? {
            let entry = entry.with_context(|| format!("list {}", dir.display()))?;
            let Ok(address) = entry.file_name().to_string_lossy().parse::<Ipv4Addr>() else {
                continue;
            };
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let mut words = text.split_whitespace();
            let id = words.next().unwrap_or_default().to_string();
            let hostname = words.next().unwrap_or(&id).to_string();
            if id.is_empty() || !root.dir(&id).is_dir() {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            leases.push(Lease {
                address,
                id,
                hostname,
            });
        }
        leases.sort_by_key(|l| l.address);
        Ok(leases)
    }

    /// Give `address` back.
    pub fn release(&self, address: Ipv4Addr) -> Result<()> {
        let path = self.lease_path(address);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("remove {}", path.display()))
            }
            _ => Ok(()),
        }
    }

    fn lease_path(&self, address: Ipv4Addr) -> PathBuf {
        self.dir.join("leases").join(address.to_string())
    }

    /// The bridge's subnet, as recorded when the bridge was made.
    pub fn recorded_subnet(&self) -> Result<Option<Subnet>> {
        let path = self.dir.join("subnet");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(
                text.trim()
                    .parse()
                    .with_context(|| format!("{}", path.display()))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
        }
    }

    /// Record (or, with `None`, forget) the bridge's subnet.
    pub fn record_subnet(&self, subnet: Option<Subnet>) -> Result<()> {
        let path = self.dir.join("subnet");
        match subnet {
            Some(s) => std::fs::write(&path, format!("{s}\n"))
                .with_context(|| format!("write {}", path.display())),
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(e).with_context(|| format!("remove {}", path.display()))
                }
                _ => Ok(()),
            },
        }
    }

    /// `<root>/.net`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
