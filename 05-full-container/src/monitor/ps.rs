//! `tincan ps [-a]`: the containers, from their state records (the OCI
//! runtime spec's "State"; proc(5) for the liveness check).
//!
//! There is no daemon to ask, and a record on disk can lie: the tincan
//! that wrote "running" may have been killed since. So every row's status
//! is the record checked against `/proc` ([`super::seen`]), after the
//! clean-up every tincan command starts with has marked the dead ones.

use std::fmt::Write as _;

use anyhow::Result;
use step01::report::Table;

use super::{Seen, ago, pid_text, seen};
use crate::state::{State, StateRoot};

// ANCHOR: ps
/// The `ps` table: running containers, or with `all` every one (exited
/// detached ones, created ones).
pub fn table(root: &StateRoot, all: bool) -> Result<String> {
    let mut t = Table::new([
        "NAME", "IMAGE", "COMMAND", "STATUS", "PID", "ADDRESS", "PORTS",
    ]);
    for state in super::all(root)? {
        let now = seen(&state);
        if !all && !matches!(now, Seen::Running(_) | Seen::Paused(_)) {
            continue;
        }
        let pid = match now {
            Seen::Running(p) | Seen::Paused(p) => pid_text(p.pid),
            _ => "-".into(),
        };
        t.row([
            state.id.clone(),
            image(&state),
            command(&state),
            status(&state, now),
            pid,
            address(&state),
            ports(&state),
        ]);
    }
    Ok(t.render())
}
// ANCHOR_END: ps

/// "Up 5 seconds", "Exited (0) 3 minutes ago", as `docker ps` says it.
fn status(state: &State, now: Seen) -> String {
    let created = state.monitor.as_ref().map_or(0, |m| m.created);
    match now {
        Seen::Creating => "Creating".into(),
        Seen::Created => format!("Created {} ago", ago(created)),
        Seen::Running(_) => format!("Up {}", ago(created)),
        Seen::Paused(_) => format!("Up {} (Paused)", ago(created)),
        Seen::Exited(Some(exit)) => {
            let code = exit.code.map_or("?".into(), |c| c.to_string());
            format!("Exited ({code}) {} ago", ago(exit.finished))
        }
        Seen::Exited(None) => "Exited (?)".into(),
    }
}

/// The command, quoted as a shell would need it, cut at 30 characters.
fn command(state: &State) -> String {
    let args = state.monitor.as_ref().map_or(&[][..], |m| &m.command[..]);
    let mut text = String::new();
    for (i, arg) in args.iter().enumerate() {
        let sep = if i == 0 { "" } else { " " };
        if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || "'\"$;&|".contains(c)) {
            let _ = write!(text, "{sep}'{}'", arg.replace('\'', r"'\''"));
        } else {
            let _ = write!(text, "{sep}{arg}");
        }
    }
    if text.chars().count() > 30 {
        text = text.chars().take(29).collect::<String>() + "…";
    }
    text
}

/// The image directory; `[IMAGE]` when redacting, since its path is this
/// machine's (a test's temporary directory).
fn image(state: &State) -> String {
    if step01::report::redacting() {
        "[IMAGE]".into()
    } else {
        state.rootfs.display().to_string()
    }
}

fn address(state: &State) -> String {
    let pod = state.monitor.as_ref().and_then(|m| m.network_of.as_ref());
    match (&state.net, pod) {
        (Some(net), _) => net.address.to_string(),
        // A pod member has no address of its own: it has the other's.
        (None, Some(id)) => format!("container:{id}"),
        (None, None) => "-".into(),
    }
}

/// `127.0.0.1:8080->80/tcp`, as `docker ps` writes a published port.
fn ports(state: &State) -> String {
    let Some(net) = &state.net else {
        return "-".into();
    };
    if net.publish.is_empty() {
        return "-".into();
    }
    net.publish
        .iter()
        .map(|p| format!("127.0.0.1:{}->{}/tcp", p.host_port, p.container_port))
        .collect::<Vec<_>>()
        .join(", ")
}
