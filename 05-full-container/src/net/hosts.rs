//! Names: `/etc/hosts` in every bridged container lists the running ones
//! (hosts(5)). Each container's file lives in its state directory and is
//! bind-mounted onto its `/etc/hosts`; when a container starts or stops,
//! every file is rewritten *in place* (truncate and write, never a rename),
//! because a bind mount pins the inode: a renamed new file would not be
//! seen inside. No DNS server is needed for a handful of containers.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::lease::{Lease, NetLock};
use crate::state::StateRoot;

/// A container's hosts file, `<root>/<id>/hosts`.
pub fn path(root: &StateRoot, id: &str) -> PathBuf {
    root.dir(id).join("hosts")
}

// ANCHOR: render
/// The text of every container's `/etc/hosts`.
pub fn render(leases: &[Lease]) -> String {
    let mut text = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n");
    for l in leases {
        if l.hostname == l.id {
            text.push_str(&format!("{}\t{}\n", l.address, l.id));
        } else {
            text.push_str(&format!("{}\t{} {}\n", l.address, l.hostname, l.id));
        }
    }
    text
}
// ANCHOR_END: render

/// Rewrite the hosts file of every container with a lease (under the lock).
pub fn update_all(lock: &NetLock, root: &StateRoot) -> Result<()> {
    let leases = lock.leases(root)?;
    let text = render(&leases);
    for l in &leases {
        let path = path(root, &l.id);
        let mut file = std::fs::File::options()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .with_context(|| format!("open {}", path.display()))?;
        file.write_all(text.as_bytes())
            .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

/// For `--net bridge`: `config` with the container's hosts file
/// bind-mounted read-only onto `/etc/hosts`; in a pod (`--net
/// container:ID`), the other container's, so both know the same names.
pub fn with_mount(
    config: &crate::config::RunConfig,
    root: &StateRoot,
) -> Option<crate::config::RunConfig> {
    let owner = super::pod::hosts_owner(root, &config.id, &config.net.mode)?;
    let source = path(root, owner).to_string_lossy().into_owned();
    let mut config = config.clone();
    config.mounts.push(crate::config::MountSpec {
        destination: "/etc/hosts".into(),
        typ: "bind".into(),
        source,
        options: vec!["bind".into(), "ro".into(), "nosuid".into(), "nodev".into()],
    });
    Some(config)
}
