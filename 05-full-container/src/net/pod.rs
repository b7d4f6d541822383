//! `--net container:ID`: a pod, two containers in one network namespace
//! (network_namespaces(7), setns(2); Kubernetes pods, `podman --pod`).
//!
//! A network namespace is not owned by the process that made it: it lives
//! as long as anything refers to it, a process in it or an open
//! `/proc/<pid>/ns/net`. So a second container can simply *join* the
//! first one's instead of getting a new one: no veth, no lease, no route
//! of its own. Both then see the same `eth0` with the same address, and
//! the same loopback — a server of one listening on 127.0.0.1 is reached
//! by the other at 127.0.0.1. This is how the containers of a Kubernetes
//! pod share a network (its "pause" container holds the namespace).
//!
//! The namespace is taken from the other container's first process,
//! named in its state record by pid *and* start time: a pid alone could
//! by now be a different process, whose namespace we must not join.

use std::path::PathBuf;

use anyhow::{Result, bail};
use step02::{Namespace, NsFile};

use super::NetMode;
use crate::explain::Explain;
use crate::state::{StateRoot, Status};

// ANCHOR: join
/// For `--net container:ID`: open the network namespace of container
/// `ID`'s first process, checked to be that very process (before anything
/// of the new container is created, so a wrong id leaves nothing behind).
/// The new container's child joins it with setns(2) (step 02's
/// [`step02::Sandbox::join`]).
pub fn open(root: &StateRoot, mode: &NetMode, explain: Explain) -> Result<Option<NsFile>> {
    let NetMode::Container(id) = mode else {
        return Ok(None);
    };
    let fix = "start it first, or pick a running one from `tincan ps`";
    let state = match root.load(id) {
        Ok(state) => state,
        Err(_) => bail!("--net container:{id}: no container named {id:?}; {fix}"),
    };
    let running = matches!(state.status, Status::Running | Status::Paused);
    let Some(init) = state.init.filter(|p| running && p.is_alive()) else {
        bail!("--net container:{id}: the container is not running; {fix}");
    };
    let path = PathBuf::from(format!("/proc/{}/ns/net", init.pid));
    let file = step02::join::open_checked(Namespace::Net, &path)?;
    // Checked again *after* the open: had the container ended and its pid
    // been reused in between, the file we hold would be a stranger's
    // namespace. Alive now means it was that process when we opened it.
    if !init.is_alive() {
        bail!("--net container:{id}: the container ended just now; {fix}");
    }
    explain.step(
        "1",
        format_args!(
            "network: joins container {id}'s namespace, {} (setns CLONE_NEWNET in the child); no veth, no lease",
            path.display()
        ),
    );
    Ok(Some(file))
}
// ANCHOR_END: join

/// The container whose `/etc/hosts` a container of this mode shares: its
/// own when bridged, the other's in a pod (if that one has one).
pub fn hosts_owner<'a>(root: &StateRoot, own_id: &'a str, mode: &'a NetMode) -> Option<&'a str> {
    match mode {
        NetMode::Bridge => Some(own_id),
        NetMode::Container(id) if super::hosts::path(root, id).is_file() => Some(id),
        _ => None,
    }
}
