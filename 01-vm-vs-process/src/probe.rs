//! The probe: "what does this process see of the machine?"
//!
//! Everything here is read from the kernel's own answers to the calling
//! process: `getpid(2)`, `gethostname(2)`, the links in `/proc/self/ns/`
//! (see namespaces(7)), `/proc/self/mountinfo` (proc(5)), `/proc/self/cgroup`
//! (cgroups(7)), `sched_getaffinity(2)` and `getifaddrs(3)`. Nothing is cached
//! or guessed, so the same code run inside a namespace, a cgroup or a new root
//! reports what *that* process sees. Every demo of every step prints a probe
//! taken outside next to one taken inside (see [`crate::report`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The namespace kinds Linux has, in the order `/proc/self/ns` lists them.
pub const NAMESPACES: [&str; 8] = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

/// One network interface as the calling process's network namespace sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Interface name, e.g. `lo` or `eth0`.
    pub name: String,
    /// Whether the interface is administratively up (`IFF_UP`).
    pub up: bool,
}

/// A snapshot of what one process can see. Collect it with [`Probe::collect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Process id, as seen from the process's own PID namespace.
    pub pid: i32,
    /// Parent process id (0 when the parent is outside our PID namespace).
    pub ppid: i32,
    /// Real user id.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
    /// The UTS namespace's hostname.
    pub hostname: String,
    /// Namespace kind -> inode number of `/proc/self/ns/<kind>`. Two
    /// processes share a namespace exactly when these numbers are equal.
    pub namespaces: BTreeMap<String, u64>,
    /// How many processes `/proc` lists (which depends on *which* /proc is
    /// mounted, not only on the PID namespace: that is a lesson of step 02).
    pub processes: usize,
    /// How many mounts `/proc/self/mountinfo` lists.
    pub mounts: usize,
    /// A fingerprint of which mounts those are (each one's mount point and
    /// filesystem type, in order): two processes see the same mount table
    /// exactly when these are equal, whatever the counts.
    pub mount_table: u64,
    /// Network interfaces of the process's network namespace.
    pub interfaces: Vec<Interface>,
    /// The process's cgroup path (the memory controller's on cgroup v1).
    pub cgroup: String,
    /// The first entries of the root directory, sorted.
    pub root: Vec<String>,
    /// How many CPUs the process may run on (`sched_getaffinity`).
    pub cpus: usize,
    /// `MemTotal` of `/proc/meminfo`: what tools like `free` report.
    pub mem_total_kib: u64,
    /// The memory limit of the process's cgroup, if one is set and readable.
    pub mem_limit_bytes: Option<u64>,
}

/// How many root-directory entries the probe keeps.
const ROOT_ENTRIES: usize = 4;

impl Probe {
    /// Ask the kernel what the calling process sees.
    pub fn collect() -> Result<Probe> {
        let namespaces = NAMESPACES
            .iter()
            .filter_map(|kind| ns_inode(kind).map(|ino| (kind.to_string(), ino)))
            .collect();
        let cgroup = own_cgroup().unwrap_or_else(|_| "?".into());
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        Ok(Probe {
            pid: nix::unistd::getpid().as_raw(),
            ppid: nix::unistd::getppid().as_raw(),
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            hostname: nix::unistd::gethostname()
                .context("gethostname")?
                .to_string_lossy()
                .into_owned(),
            namespaces,
            processes: count_processes(),
            mounts: mountinfo.lines().count(),
            mount_table: fingerprint(&mountinfo),
            interfaces: interfaces(),
            mem_limit_bytes: memory_limit(&cgroup),
            cgroup,
            root: root_entries(),
            cpus: allowed_cpus(),
            mem_total_kib: mem_total_kib().unwrap_or(0),
        })
    }

    /// Encode as `key=value` lines, so a child can hand its probe to its
    /// parent through a pipe (the child may live in a world where the parent's
    /// files do not exist).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let mut put = |k: &str, v: String| {
            out.push_str(k);
            out.push('=');
            out.push_str(&v);
            out.push('\n');
        };
        put("pid", self.pid.to_string());
        put("ppid", self.ppid.to_string());
        put("uid", self.uid.to_string());
        put("gid", self.gid.to_string());
        put("hostname", self.hostname.clone());
        for (kind, ino) in &self.namespaces {
            put(&format!("ns.{kind}"), ino.to_string());
        }
        put("processes", self.processes.to_string());
        put("mounts", self.mounts.to_string());
        put("mount_table", self.mount_table.to_string());
        let ifs: Vec<String> = self
            .interfaces
            .iter()
            .map(|i| format!("{}:{}", i.name, if i.up { "up" } else { "down" }))
            .collect();
        put("interfaces", ifs.join(","));
        put("cgroup", self.cgroup.clone());
        put("root", self.root.join("/"));
        put("cpus", self.cpus.to_string());
        put("mem_total_kib", self.mem_total_kib.to_string());
        put(
            "mem_limit_bytes",
            self.mem_limit_bytes
                .map_or("none".into(), |b| b.to_string()),
        );
        out
    }

    /// Decode what [`Probe::encode`] wrote.
    pub fn decode(text: &str) -> Result<Probe> {
        let mut map = BTreeMap::new();
        for line in text.lines() {
            let (k, v) = line
                .split_once('=')
                .with_context(|| format!("probe line without '=': {line:?}"))?;
            map.insert(k.to_string(), v.to_string());
        }
        let get = |k: &str| -> Result<&String> {
            map.get(k)
                .with_context(|| format!("probe output lacks {k:?}"))
        };
        let num = |k: &str| -> Result<i64> {
            get(k)?
                .parse()
                .with_context(|| format!("probe field {k:?} is not a number"))
        };
        if map.is_empty() {
            bail!("empty probe output (did the child die before reporting?)");
        }
        let namespaces = map
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("ns.")?.to_string(), v.parse().ok()?)))
            .collect();
        let interfaces = get("interfaces")?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                let (name, state) = s.rsplit_once(':').unwrap_or((s, "down"));
                Interface {
                    name: name.to_string(),
                    up: state == "up",
                }
            })
            .collect();
        Ok(Probe {
            pid: num("pid")? as i32,
            ppid: num("ppid")? as i32,
            uid: num("uid")? as u32,
            gid: num("gid")? as u32,
            hostname: get("hostname")?.clone(),
            namespaces,
            processes: num("processes")? as usize,
            mounts: num("mounts")? as usize,
            mount_table: get("mount_table")?.parse().context("mount_table")?,
            interfaces,
            cgroup: get("cgroup")?.clone(),
            root: get("root")?
                .split('/')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            cpus: num("cpus")? as usize,
            mem_total_kib: num("mem_total_kib")? as u64,
            mem_limit_bytes: get("mem_limit_bytes")?.parse().ok(),
        })
    }
}

/// Hash each mountinfo line's mount point and filesystem type (fields 5
/// and the one after the ` - ` separator, proc(5)). Mount ids and device
/// numbers are left out: a new mount namespace copies the table with new
/// ids, and that copy is still the same view.
fn fingerprint(mountinfo: &str) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    for line in mountinfo.lines() {
        let point = line.split(' ').nth(4);
        let fstype = line.split(" - ").nth(1).and_then(|s| s.split(' ').next());
        (point, fstype).hash(&mut hasher);
    }
    hasher.finish()
}

// ANCHOR: ns_inode
/// The inode of `/proc/self/ns/<kind>`: the link reads like `uts:[4026531838]`.
pub fn ns_inode(kind: &str) -> Option<u64> {
    let link = fs::read_link(format!("/proc/self/ns/{kind}")).ok()?;
    let text = link.to_string_lossy();
    text.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}
// ANCHOR_END: ns_inode

fn count_processes() -> usize {
    fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                })
                .count()
        })
        .unwrap_or(0)
}

fn interfaces() -> Vec<Interface> {
    // getifaddrs(3) asks the kernel over netlink, so it answers for the
    // calling process's network namespace (unlike /sys/class/net, which shows
    // the namespace of whoever mounted /sys).
    let mut seen: BTreeMap<String, bool> = BTreeMap::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            let up = a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP);
            *seen.entry(a.interface_name).or_default() |= up;
        }
    }
    seen.into_iter()
        .map(|(name, up)| Interface { name, up })
        .collect()
}

/// The calling process's cgroup path. On cgroup v2 there is one line,
/// `0::/path`; on v1 (and hybrid hosts) each controller has its own line and
/// we report the memory controller's.
pub fn own_cgroup() -> Result<String> {
    let text = fs::read_to_string("/proc/self/cgroup").context("read /proc/self/cgroup")?;
    let mut unified = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_id, controllers, path) = (parts.next(), parts.next(), parts.next());
        let (Some(controllers), Some(path)) = (controllers, path) else {
            continue;
        };
        if controllers.split(',').any(|c| c == "memory") {
            return Ok(path.to_string());
        }
        if controllers.is_empty() {
            unified = Some(path.to_string());
        }
    }
    unified.context("no cgroup line in /proc/self/cgroup")
}

/// The memory limit of `cgroup`, read from the mounted hierarchy when the
/// cgroup is visible there. `None` means "no limit" or "cannot tell".
fn memory_limit(cgroup: &str) -> Option<u64> {
    let candidates = [
        Path::new("/sys/fs/cgroup/memory")
            .join(cgroup.trim_start_matches('/'))
            .join("memory.limit_in_bytes"),
        Path::new("/sys/fs/cgroup")
            .join(cgroup.trim_start_matches('/'))
            .join("memory.max"),
    ];
    for file in candidates {
        if let Ok(text) = fs::read_to_string(&file) {
            let text = text.trim();
            // v1 reports "no limit" as a huge page-aligned number.
            return text.parse::<u64>().ok().filter(|&b| b < (1 << 62));
        }
    }
    None
}

fn root_entries() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir("/")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let total = names.len();
    names.truncate(ROOT_ENTRIES);
    if total > ROOT_ENTRIES {
        names.push(format!("(+{} more)", total - ROOT_ENTRIES));
    }
    names
}

fn allowed_cpus() -> usize {
    let Ok(set) = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) else {
        return 0;
    };
    (0..nix::sched::CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .count()
}

fn mem_total_kib() -> Option<u64> {
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_table_ignores_ids_and_sees_other_mounts() {
        let host = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n23 22 0:5 / /proc rw - proc proc rw\n";
        let copy =
            "301 300 8:1 / / rw - ext4 /dev/sda1 rw\n302 301 0:5 / /proc rw - proc proc rw\n";
        let other = "301 300 8:1 / / rw - ext4 /dev/sda1 rw\n302 301 0:9 / /tmp rw - tmpfs t rw\n";
        assert_eq!(fingerprint(host), fingerprint(copy));
        assert_ne!(fingerprint(host), fingerprint(other));
    }

    #[test]
    fn probe_round_trips_through_its_encoding() {
        let probe = Probe::collect().expect("probe the test process");
        let decoded = Probe::decode(&probe.encode()).expect("decode");
        assert_eq!(probe, decoded);
    }

    #[test]
    fn probe_sees_its_own_pid_and_namespaces() {
        let probe = Probe::collect().expect("probe the test process");
        assert_eq!(probe.pid as u32, std::process::id());
        assert!(probe.namespaces.contains_key("uts"), "{probe:?}");
        assert!(probe.processes >= 1);
        assert!(probe.cpus >= 1);
    }

    #[test]
    fn decode_rejects_garbage() {
        assert!(Probe::decode("").is_err());
        assert!(Probe::decode("pid 3").is_err());
    }
}
