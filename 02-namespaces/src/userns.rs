//! User namespaces: root inside, an ordinary user outside.
//!
//! A process in a new user namespace holds every capability *over the
//! namespaces that user namespace owns*, and none over the host. Its user
//! and group ids mean nothing until its parent writes `/proc/<pid>/uid_map`
//! and `gid_map`, lines of "inside outside count" (user_namespaces(7)).
//! An unprivileged parent may map exactly one id, its own, and must first
//! write `deny` to `/proc/<pid>/setgroups` (so that dropping a group with
//! setgroups(2) cannot be used to escape a "deny by group" file mode).
//!
//! Some distributions forbid unprivileged user namespaces; [`blocker`]
//! names the exact setting, so the error can say how to get out.

use std::fs;

use anyhow::{Context, Result};
use nix::unistd::Pid;

/// One line of a `uid_map` / `gid_map`: ids `inside..inside+count` in the
/// namespace are ids `outside..outside+count` on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    /// First id inside the namespace.
    pub inside: u32,
    /// The host id it stands for.
    pub outside: u32,
    /// How many consecutive ids.
    pub count: u32,
}

impl IdMap {
    /// Map root inside (id 0) to `outside`, and nothing else.
    pub fn root_is(outside: u32) -> IdMap {
        IdMap {
            inside: 0,
            outside,
            count: 1,
        }
    }
}

/// The uid and gid maps to write for a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMaps {
    /// Lines of `/proc/<pid>/uid_map`.
    pub uids: Vec<IdMap>,
    /// Lines of `/proc/<pid>/gid_map`.
    pub gids: Vec<IdMap>,
}

impl IdMaps {
    /// Whether id 0 inside is mapped, for both users and groups.
    pub fn maps_root(&self) -> bool {
        let has_zero = |map: &[IdMap]| map.iter().any(|m| m.inside == 0 && m.count > 0);
        has_zero(&self.uids) && has_zero(&self.gids)
    }

    /// Root inside is `uid`/`gid` outside (as root, map it to an unprivileged
    /// user to see what an ordinary user gets).
    pub fn root_is(uid: u32, gid: u32) -> IdMaps {
        IdMaps {
            uids: vec![IdMap::root_is(uid)],
            gids: vec![IdMap::root_is(gid)],
        }
    }

    /// What `unshare --map-root-user` does: root inside is the caller outside.
    pub fn root_is_caller() -> IdMaps {
        IdMaps {
            uids: vec![IdMap::root_is(nix::unistd::geteuid().as_raw())],
            gids: vec![IdMap::root_is(nix::unistd::getegid().as_raw())],
        }
    }
}

fn render(map: &[IdMap]) -> String {
    map.iter()
        .map(|m| format!("{} {} {}\n", m.inside, m.outside, m.count))
        .collect()
}

// ANCHOR: write_maps
/// Write the uid/gid maps of `pid`, which must be in a new user namespace
/// and not have used its ids yet (each file can be written only once).
pub fn write_maps(pid: Pid, maps: &IdMaps) -> Result<()> {
    // ANCHOR: lab-02-uid-map
    let proc = format!("/proc/{pid}");
    // Only a parent with CAP_SETGID over the parent namespace may let the
    // child keep setgroups(2); everyone else has to give it up before the
    // kernel accepts a gid_map.
    if !nix::unistd::geteuid().is_root() {
        fs::write(format!("{proc}/setgroups"), "deny")
            .with_context(|| format!("write \"deny\" to {proc}/setgroups"))?;
    }
    fs::write(format!("{proc}/uid_map"), render(&maps.uids))
        .with_context(|| format!("write {proc}/uid_map ({:?})", render(&maps.uids)))?;
    fs::write(format!("{proc}/gid_map"), render(&maps.gids))
        .with_context(|| format!("write {proc}/gid_map ({:?})", render(&maps.gids)))?;
    Ok(())
    // ANCHOR_END: lab-02-uid-map
}
// ANCHOR_END: write_maps

/// A kernel setting that forbids unprivileged user namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    /// The sysctl, e.g. `kernel.unprivileged_userns_clone`.
    pub sysctl: &'static str,
    /// Its current value.
    pub value: String,
    /// The value that allows user namespaces.
    pub allow: &'static str,
    /// Who sets it that way.
    pub origin: &'static str,
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the kernel forbids unprivileged user namespaces: {} = {} ({}); \
             two ways out: run as root (sudo), or allow them with \
             `sudo sysctl -w {}={}`",
            self.sysctl, self.value, self.origin, self.sysctl, self.allow
        )
    }
}

// ANCHOR: blocker
/// Which setting, if any, forbids unprivileged user namespaces here.
pub fn blocker() -> Option<Blocker> {
    blocker_from(|path| fs::read_to_string(path).ok())
}

/// [`blocker`], reading the sysctl files through `read` (so it can be tested).
pub fn blocker_from(read: impl Fn(&str) -> Option<String>) -> Option<Blocker> {
    let checks: [(&str, &'static str, &str, &'static str, &'static str); 3] = [
        // Debian and older Ubuntu: a switch added by their kernel patch.
        (
            "/proc/sys/kernel/unprivileged_userns_clone",
            "kernel.unprivileged_userns_clone",
            "0",
            "1",
            "Debian's kernel patch",
        ),
        // Any kernel: the number of user namespaces allowed per user.
        (
            "/proc/sys/user/max_user_namespaces",
            "user.max_user_namespaces",
            "0",
            "15000",
            "a limit of zero",
        ),
        // Ubuntu 23.10 and later: AppArmor lets only profiled programs in.
        (
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            "kernel.apparmor_restrict_unprivileged_userns",
            "1",
            "0",
            "Ubuntu's AppArmor restriction",
        ),
    ];
    checks
        .into_iter()
        .find_map(|(path, sysctl, blocking, allow, origin)| {
            let value = read(path)?.trim().to_string();
            (value == blocking).then_some(Blocker {
                sysctl,
                value,
                allow,
                origin,
            })
        })
}
// ANCHOR_END: blocker

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_render_as_kernel_lines() {
        let maps = [
            IdMap::root_is(1000),
            IdMap {
                inside: 1,
                outside: 100000,
                count: 65536,
            },
        ];
        assert_eq!(render(&maps), "0 1000 1\n1 100000 65536\n");
    }

    #[test]
    fn blocker_names_the_setting_that_blocks() {
        let debian = blocker_from(|p| {
            p.ends_with("unprivileged_userns_clone")
                .then(|| "0\n".into())
        })
        .expect("debian switch off blocks");
        assert_eq!(debian.sysctl, "kernel.unprivileged_userns_clone");
        let text = debian.to_string();
        assert!(
            text.contains("sudo sysctl -w kernel.unprivileged_userns_clone=1"),
            "{text}"
        );
        assert!(text.contains("run as root"), "{text}");

        let ubuntu = blocker_from(|p| {
            p.ends_with("apparmor_restrict_unprivileged_userns")
                .then(|| "1".into())
        })
        .expect("apparmor restriction blocks");
        assert_eq!(ubuntu.allow, "0");

        let zero = blocker_from(|p| p.ends_with("max_user_namespaces").then(|| "0".into()))
            .expect("a limit of zero blocks");
        assert_eq!(zero.sysctl, "user.max_user_namespaces");
    }

    #[test]
    fn blocker_is_none_when_settings_allow() {
        let allowing = |p: &str| {
            Some(
                if p.ends_with("max_user_namespaces") {
                    "96364"
                } else if p.contains("apparmor") {
                    "0"
                } else {
                    "1"
                }
                .into(),
            )
        };
        assert_eq!(blocker_from(allowing), None);
        assert_eq!(blocker_from(|_| None), None);
    }
}
