//! The eight kinds of Linux namespace, and a set of them.
//!
//! A namespace wraps one global resource (hostnames, process ids, mounts,
//! network stacks, System V IPC objects, user ids, the cgroup root, clocks)
//! so that the processes inside get their own isolated instance of it. A
//! new process gets new namespaces when `clone(2)` is given `CLONE_NEW*`
//! flags; see namespaces(7) for the list and `/proc/<pid>/ns/` for the
//! namespaces a process is in.

use std::collections::BTreeSet;
use std::fmt;

use anyhow::{Result, bail};
use nix::sched::CloneFlags;

/// One kind of namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Namespace {
    /// `CLONE_NEWCGROUP`: the process's cgroup becomes the root `/` of what it sees.
    Cgroup,
    /// `CLONE_NEWIPC`: its own System V message queues, semaphores, shared memory.
    Ipc,
    /// `CLONE_NEWNS`: its own list of mounts.
    Mount,
    /// `CLONE_NEWNET`: its own interfaces, routes, firewall, ports.
    Net,
    /// `CLONE_NEWPID`: its own process ids, starting at 1.
    Pid,
    /// `CLONE_NEWTIME`: its own offsets for CLOCK_MONOTONIC and CLOCK_BOOTTIME.
    Time,
    /// `CLONE_NEWUSER`: its own user and group ids, and capabilities over its namespaces.
    User,
    /// `CLONE_NEWUTS`: its own hostname and NIS domain name.
    Uts,
}

impl Namespace {
    /// Every kind, in the order `/proc/self/ns` lists them.
    pub const ALL: [Namespace; 8] = [
        Namespace::Cgroup,
        Namespace::Ipc,
        Namespace::Mount,
        Namespace::Net,
        Namespace::Pid,
        Namespace::Time,
        Namespace::User,
        Namespace::Uts,
    ];

    /// The name used on the command line (`mount`, `uts`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Namespace::Cgroup => "cgroup",
            Namespace::Ipc => "ipc",
            Namespace::Mount => "mount",
            Namespace::Net => "net",
            Namespace::Pid => "pid",
            Namespace::Time => "time",
            Namespace::User => "user",
            Namespace::Uts => "uts",
        }
    }

    /// The name of its link in `/proc/<pid>/ns/` (the mount namespace is `mnt`).
    pub fn proc_name(self) -> &'static str {
        match self {
            Namespace::Mount => "mnt",
            other => other.name(),
        }
    }

    /// Parse one name; `mnt` is accepted for `mount`.
    pub fn from_name(name: &str) -> Option<Namespace> {
        let name = name.trim().to_ascii_lowercase();
        Namespace::ALL
            .into_iter()
            .find(|ns| ns.name() == name || ns.proc_name() == name)
    }

    // ANCHOR: clone_flag
    /// The `clone(2)` / `unshare(2)` / `setns(2)` flag for this kind.
    pub fn clone_flag(self) -> CloneFlags {
        match self {
            Namespace::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            Namespace::Ipc => CloneFlags::CLONE_NEWIPC,
            Namespace::Mount => CloneFlags::CLONE_NEWNS,
            Namespace::Net => CloneFlags::CLONE_NEWNET,
            Namespace::Pid => CloneFlags::CLONE_NEWPID,
            // nix 0.32 has no name for CLONE_NEWTIME (Linux 5.6), so we take
            // the number from libc. Its value, 0x80, lies inside CSIGNAL, the
            // byte where clone(2) expects the exit signal: clone(2) cannot
            // take it, only unshare(2), setns(2) and clone3(2) can.
            Namespace::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
            Namespace::User => CloneFlags::CLONE_NEWUSER,
            Namespace::Uts => CloneFlags::CLONE_NEWUTS,
        }
    }
    // ANCHOR_END: clone_flag
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of namespace kinds, e.g. `Namespaces::parse("uts,pid,net")`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces(BTreeSet<Namespace>);

impl Namespaces {
    /// The empty set: a child made with it is a plain process.
    pub fn none() -> Namespaces {
        Namespaces::default()
    }

    /// Every kind of namespace.
    pub fn all() -> Namespaces {
        Namespace::ALL.into_iter().collect()
    }

    /// Parse a comma-separated list such as `uts,pid,net` (or `all`). An
    /// unknown name is an error that names it and lists the valid ones.
    pub fn parse(list: &str) -> Result<Namespaces> {
        let mut set = Namespaces::none();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if name == "all" {
                set.0.extend(Namespace::ALL);
                continue;
            }
            match Namespace::from_name(name) {
                Some(ns) => {
                    set.0.insert(ns);
                }
                None => bail!(
                    "unknown namespace {name:?}: the namespaces are {} (or all)",
                    Namespace::ALL.map(Namespace::name).join(", ")
                ),
            }
        }
        Ok(set)
    }

    /// This set plus `ns`.
    pub fn with(mut self, ns: Namespace) -> Namespaces {
        self.0.insert(ns);
        self
    }

    /// Add `ns`.
    pub fn insert(&mut self, ns: Namespace) {
        self.0.insert(ns);
    }

    /// Whether `ns` is in the set.
    pub fn contains(&self, ns: Namespace) -> bool {
        self.0.contains(&ns)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The kinds in the set, in `/proc/self/ns` order.
    pub fn iter(&self) -> impl Iterator<Item = Namespace> + '_ {
        self.0.iter().copied()
    }

    /// All the `CLONE_NEW*` flags of the set, or-ed together (for
    /// `unshare(2)`; `clone(2)` cannot take the time flag, see
    /// [`Namespace::clone_flag`]).
    pub fn clone_flags(&self) -> CloneFlags {
        self.iter()
            .fold(CloneFlags::empty(), |acc, ns| acc | ns.clone_flag())
    }
}

impl FromIterator<Namespace> for Namespaces {
    fn from_iter<I: IntoIterator<Item = Namespace>>(iter: I) -> Namespaces {
        Namespaces(iter.into_iter().collect())
    }
}

impl fmt::Display for Namespaces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.iter().map(Namespace::name).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_names_aliases_and_all() {
        let set = Namespaces::parse("uts, pid,mnt").expect("valid names");
        assert_eq!(set.to_string(), "mount,pid,uts");
        assert_eq!(Namespaces::parse("all").expect("all"), Namespaces::all());
        assert!(Namespaces::parse("").expect("empty").is_empty());
    }

    #[test]
    fn parse_rejects_unknown_name_and_lists_valid_ones() {
        let err = Namespaces::parse("uts,bogus").expect_err("bogus is not a namespace");
        let text = err.to_string();
        assert!(text.contains("\"bogus\""), "{text}");
        assert!(
            text.contains("cgroup, ipc, mount, net, pid, time, user, uts"),
            "{text}"
        );
    }

    #[test]
    fn clone_flags_are_distinct_bits() {
        let mut seen = CloneFlags::empty();
        for ns in Namespace::ALL {
            assert!(!seen.intersects(ns.clone_flag()), "{ns} overlaps");
            seen |= ns.clone_flag();
        }
        assert_eq!(Namespaces::all().clone_flags(), seen);
    }
}
