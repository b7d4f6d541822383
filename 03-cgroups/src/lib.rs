//! # Step 03: cgroups, the limits and the accounting of a container
//!
//! Namespaces (step 02) decide what a process can *see*. Control groups
//! decide how much it can *use*: memory, CPU time, processes, disk
//! bandwidth, which CPUs. A cgroup is a directory in a special filesystem;
//! the whole interface is `mkdir`, `write`, `read` and `rmdir` (cgroups(7)).
//!
//! 1. [`version`] reads `/proc/self/mountinfo` to find out whether this host
//!    runs cgroup v1 (one hierarchy per controller) or v2 (one unified tree).
//! 2. [`limits`] turns what people type (`64m`, `0.5` CPUs, `max`) into the
//!    integers the kernel's files take, and refuses nonsense in one line.
//! 3. [`cgroup::Cgroup`] is "a cgroup for this container": create, limit,
//!    add a process, read statistics, kill everything inside, remove. It has
//!    two implementations, [`v1`] and [`v2`], and one file per controller:
//!    [`memory`], [`cpu`], [`pids`], [`io`], [`cpuset`].
//!    [`freezer`] stops every process of a cgroup at once (`docker pause`);
//!    [`remove`] takes a cgroup down again: thaw, kill, `rmdir`; [`inspect`]
//!    reads one that another process owns (a runtime's `stats`, `top`).
//! 4. [`spawn`] starts a child *already inside* its cgroup, before it
//!    executes anything: `clone3(CLONE_INTO_CGROUP)` on v2, a parent hook
//!    on v1; the child also gets new PID, UTS and IPC namespaces.
//! 5. [`demo`] shows each limit holding against a program that misbehaves
//!    on purpose ([`workload`]): a CPU hog, an endless allocator, a fork bomb.
//!
//! ```no_run
//! use step03::limits::{Limit, Limits, parse_bytes};
//! let limits = Limits { memory: Some(parse_bytes("--memory", "64m")?), ..Limits::default() };
//! let (cgroup, _notes) = step03::cgroup::create("example", &limits)?;
//! println!("{:?}", cgroup.stats()?.memory_limit); // Some(Value(67108864))
//! // Dropping `cgroup` kills whatever is inside and removes the directory.
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod cgroup;
pub mod cpu;
pub mod cpuset;
pub mod demo;
pub mod devices;
pub mod freezer;
pub mod inspect;
pub mod io;
pub mod limits;
pub mod memory;
pub mod pids;
pub mod remove;
pub mod spawn;
pub mod v1;
pub mod v2;
pub mod version;
pub mod workload;

pub use cgroup::{Cgroup, Controller};
pub use version::Version;
