//! # Step 02: namespaces, each one narrows what a process sees
//!
//! A namespace gives a process its own copy of one global resource. This
//! crate starts children in new namespaces with `clone(2)` and shows, one
//! kind at a time, what changes for them (namespaces(7)):
//!
//! 1. [`namespaces`] names the eight kinds and parses a set of them
//!    (`Namespaces::parse("uts,pid,net")`).
//! 2. [`sandbox`] is the primitive every later step builds on: a
//!    [`Sandbox`] clones a child into the chosen namespaces, lets the parent
//!    finish its set-up (uid/gid maps, and in later steps cgroups and
//!    networking) while the child waits on a pipe, runs the child's own
//!    set-up, then its main (a Rust closure, or a program via `execvp`).
//! 3. [`userns`] writes uid/gid maps and explains why rootless may fail:
//!    when we are not root, a user namespace is added automatically.
//! 4. [`join`] enters the namespaces of an existing process with `setns(2)`
//!    (what `docker exec` does), in a forked child.
//! 5. One module per namespace kind ([`uts`], [`pid`], [`mount`], [`net`],
//!    [`ipc`], [`user`], [`cgroup`], [`time`]) and [`all`] holds a demo that
//!    prints the step 01 probe outside vs inside.
//!
//! ```
//! use step02::{Namespaces, Sandbox};
//!
//! # if !nix::unistd::geteuid().is_root() && step02::userns::blocker().is_some() { return Ok(()); }
//! let namespaces = Namespaces::parse("uts")?;
//! let host = nix::unistd::gethostname()?;
//! let exit = Sandbox::new(namespaces)
//!     .hostname("tincan")
//!     .parent_setup(|pid| {
//!         // Runs in the parent while the child waits: e.g. cgroup placement.
//!         assert!(pid.as_raw() > 0);
//!         Ok(())
//!     })
//!     .child_setup(|| {
//!         // Runs in the child, inside its namespaces, before its main.
//!         Ok(())
//!     })
//!     .run(|| {
//!         let inside = nix::unistd::gethostname()?;
//!         Ok(if inside == "tincan" { 0 } else { 1 })
//!     })?;
//! assert!(exit.success());
//! assert_eq!(nix::unistd::gethostname()?, host, "the host's hostname is unchanged");
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod all;
pub mod cgroup;
pub mod clone3;
pub mod demo;
pub mod ipc;
pub mod join;
pub mod mount;
pub mod namespaces;
pub mod net;
pub mod pid;
pub mod sandbox;
pub mod testing;
pub mod time;
pub mod user;
pub mod userns;
pub mod uts;

pub use join::NsFile;
pub use namespaces::{Namespace, Namespaces};
pub use sandbox::{Child, Exit, Program, Sandbox};

// ANCHOR: run_program
/// The `run` command: run `command` in the namespaces listed in `ns`
/// (`"uts,pid"`), with a fresh /proc when there are new PID and mount
/// namespaces, and return how it ended.
pub fn run_program(ns: &str, hostname: Option<String>, command: &[String]) -> anyhow::Result<Exit> {
    let namespaces = Namespaces::parse(ns)?;
    let fresh_proc = namespaces.contains(Namespace::Pid) && namespaces.contains(Namespace::Mount);
    let mut sandbox = Sandbox::new(namespaces);
    if let Some(name) = hostname {
        sandbox = sandbox.hostname(name);
    }
    if fresh_proc {
        sandbox = sandbox.child_setup(pid::mount_fresh_proc);
    }
    sandbox.spawn_program(command)?.wait()
}
// ANCHOR_END: run_program
