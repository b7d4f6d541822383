//! Which cgroup version does this machine use? Read the answer from
//! `/proc/self/mountinfo` (proc(5)), never guess from paths.
//!
//! Linux has two cgroup filesystems (cgroups(7)). Version 1 mounts one
//! hierarchy per controller (filesystem type `cgroup`, the controller named in
//! the super options: `rw,memory`). Version 2 is a single "unified" hierarchy
//! (filesystem type `cgroup2`) whose root lists its controllers in
//! `cgroup.controllers`. A controller can be attached to only one of them at a
//! time, so a "hybrid" host that mounts v1 memory/cpu/pids hierarchies *and* a
//! cgroup2 filesystem has the controllers we need on the v1 side: choose v1.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

/// The controllers a container runtime wants, in the order we report them.
pub const CONTROLLERS: [&str; 5] = ["memory", "cpu", "pids", "io", "cpuset"];

/// The controllers v1 can mount (cgroups(7), "Cgroups version 1 controllers").
const V1_KNOWN: [&str; 14] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "blkio",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// The v1 controllers that decide "this is a v1 host" when any is mounted.
const V1_DECIDERS: [&str; 3] = ["memory", "cpu", "pids"];

/// The two cgroup versions; `Display` prints `v1` or `v2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// One hierarchy per controller.
    V1,
    /// One unified hierarchy.
    V2,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        })
    }
}

/// What the mount table says about cgroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v1: controller name -> the mount point of its hierarchy
    /// (`cpu` and `cpuacct` may share one mount point).
    V1 {
        /// Controller -> mount point.
        mounts: BTreeMap<String, PathBuf>,
    },
    /// cgroup v2: the mount point of the unified hierarchy.
    V2 {
        /// Where cgroup2 is mounted, usually `/sys/fs/cgroup`.
        mount: PathBuf,
    },
}

impl Hierarchy {
    /// Detect the hierarchy the calling process sees.
    pub fn detect() -> Result<Hierarchy> {
        let text =
            std::fs::read_to_string("/proc/self/mountinfo").context("read /proc/self/mountinfo")?;
        Hierarchy::from_mountinfo(&text)
    }

    /// Decide from the text of a mountinfo file.
    // ANCHOR: detect
    pub fn from_mountinfo(text: &str) -> Result<Hierarchy> {
        let mut v1 = BTreeMap::new();
        let mut v2 = None;
        for line in text.lines() {
            // "36 25 0:31 / /sys/fs/cgroup/memory rw,relatime shared:15 - cgroup cgroup rw,memory"
            // Optional fields end at " - "; after it: fstype, source, super options.
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let mount_point = left.split(' ').nth(4).map(unescape);
            let mut right = right.split(' ');
            let (fstype, _source, options) = (right.next(), right.next(), right.next());
            match (fstype, mount_point) {
                (Some("cgroup"), Some(point)) => {
                    for option in options.unwrap_or("").split(',') {
                        // A v1 hierarchy's super options name its controllers
                        // (among options such as `rw` or `xattr`).
                        if V1_KNOWN.contains(&option) {
                            v1.entry(option.to_string())
                                .or_insert_with(|| point.clone());
                        }
                    }
                }
                (Some("cgroup2"), Some(point)) if v2.is_none() => v2 = Some(point),
                _ => {}
            }
        }
        if V1_DECIDERS.iter().any(|c| v1.contains_key(*c)) {
            return Ok(Hierarchy::V1 { mounts: v1 });
        }
        match v2 {
            Some(mount) => Ok(Hierarchy::V2 { mount }),
            None => bail!(
                "no cgroup filesystem is mounted (checked /proc/self/mountinfo); \
                 mount one with `mount -t cgroup2 none /sys/fs/cgroup`"
            ),
        }
    }
    // ANCHOR_END: detect

    /// Where a cgroup2 filesystem is mounted, even on a hybrid host where it
    /// has no controllers (processes can still be grouped there).
    pub fn cgroup2_mount() -> Result<Option<PathBuf>> {
        let text =
            std::fs::read_to_string("/proc/self/mountinfo").context("read /proc/self/mountinfo")?;
        Ok(text.lines().find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            if right.split(' ').next()? == "cgroup2" {
                left.split(' ').nth(4).map(unescape)
            } else {
                None
            }
        }))
    }

    /// Which version this hierarchy is.
    pub fn version(&self) -> Version {
        match self {
            Hierarchy::V1 { .. } => Version::V1,
            Hierarchy::V2 { .. } => Version::V2,
        }
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
fn unescape(field: &str) -> PathBuf {
    let mut out = String::new();
    let mut chars = field.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let digits: String = chars.by_ref().take(3).collect();
            match u8::from_str_radix(&digits, 8) {
                Ok(byte) => out.push(byte as char),
                Err(_) => {
                    out.push('\\');
                    out.push_str(&digits);
                }
            }
        } else {
            out.push(c);
        }
    }
    PathBuf::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_host_with_v1_controllers_is_v1() {
        let Hierarchy::V1 { mounts } = Hierarchy::from_mountinfo(HYBRID).expect("parse") else {
            panic!("expected v1");
        };
        assert_eq!(mounts["memory"], PathBuf::from("/sys/fs/cgroup/memory"));
        assert_eq!(mounts["cpu"], PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(mounts["cpuacct"], mounts["cpu"]);
        assert!(!mounts.contains_key("xattr") && !mounts.contains_key("name=systemd"));
    }

    #[test]
    fn unified_only_host_is_v2() {
        let text = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            Hierarchy::from_mountinfo(text).expect("parse"),
            Hierarchy::V2 {
                mount: "/sys/fs/cgroup".into()
            }
        );
    }

    #[test]
    fn no_cgroup_mount_is_a_clear_error() {
        let err = Hierarchy::from_mountinfo("22 1 0:21 / /proc rw - proc proc rw\n")
            .expect_err("no cgroups");
        assert!(err.to_string().contains("mount -t cgroup2"), "{err}");
    }

    #[test]
    fn escaped_mount_points_are_decoded() {
        assert_eq!(
            unescape(r"/mnt/with\040space"),
            PathBuf::from("/mnt/with space")
        );
    }
}
