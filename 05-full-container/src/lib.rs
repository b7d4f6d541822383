//! # Step 05: tincan, a container runtime composed from steps 02–04
//!
//! Steps 02 to 04 each added one isolation mechanism. A real container
//! runtime is all of them, in a careful order, plus the protections that
//! turn "isolated" into "hard to escape". `tincan run` calls the earlier
//! steps' functions in this order (each step printed by `--explain`):
//!
//! 1. namespaces: step 02's `Sandbox` clones the child, joins namespaces
//!    named by path, writes uid/gid maps;
//! 2. a cgroup with limits (step 03), entered while the child waits, and a
//!    device allowlist (step 03's `devices`, [`config::DOCKER_DEVICES`]);
//! 3. the image as an overlay: its layers read-only below (unpacked once
//!    into a content-addressed store, [`image`]), a per-container upper
//!    ([`rootfs`], [`overlay`]);
//! 4. step 04's `pivot_root` into it, with the OCI mount list, masked and
//!    read-only paths ([`rootfs`], [`config::DOCKER_MASKED_PATHS`]);
//! 5. capabilities reduced to Docker's default set, and `no_new_privs`
//!    ([`privileges`], [`capabilities`]);
//! 6. a seccomp filter on the system calls themselves ([`seccomp`]);
//! 7. `execve` of the command with its environment (step 02's `Program`).
//!
//! [`container`] is the orchestrator that makes those calls, one per step.
//! The configuration ([`config::RunConfig`]) comes from `tincan run`'s flags
//! ([`flags`], [`image`]) or from an OCI bundle's `config.json` ([`oci`]);
//! [`lifecycle`] has the OCI verbs (`create`, `start`, `kill`, `delete`,
//! `state`, `pause`) engines call, [`hooks`] runs the programs a bundle
//! names at the six points of that lifecycle the OCI spec defines (network
//! plugins, GPU toolkits), and [`exec`] enters a running container;
//! [`monitor`] runs containers detached and watches them (`run -d`, `ps`,
//! `logs`, `stats`, `top`, `stop`, `rm`); [`terminal`] gives a process a
//! terminal of its own (`run -t`, and `--console-socket` for engines).
//! [`state`] records what each container owns, so that a `kill -9`'d tincan
//! leaves nothing behind after the next command; [`escape`] holds the
//! attempts that prove it all.
//!
//! ```
//! // Docker's default capabilities, minus raw sockets:
//! let caps = step05::capabilities::with_changes(&[], &["NET_RAW".into()])?;
//! assert_eq!(caps.len(), 13);
//! // An allowlist of about 300 calls for a container with those capabilities
//! // (no mount, unshare, keyctl...), compiled to BPF:
//! let filters = step05::seccomp::compile(&step05::seccomp::Profile::Default, &caps)?;
//! assert!(filters.instructions() > 40);
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod capabilities;
pub mod config;
pub mod container;
pub mod escape;
pub mod exec;
pub mod explain;
pub mod features;
pub mod flags;
pub mod hooks;
pub mod image;
pub mod lifecycle;
pub mod log;
pub mod monitor;
pub mod net;
pub mod oci;
pub mod overlay;
pub mod privileges;
pub mod propagation;
pub mod rootfs;
pub mod seccomp;
pub mod state;
pub mod syscalls;
pub mod terminal;

pub use flags::{RunFlags, config_from_flags};
pub use image::{image_cache_dir, unpack_image};

use std::path::Path;

use anyhow::Result;

/// `tincan spec`: write a default config.json into `dir`.
pub fn spec(dir: &Path, out: &mut dyn std::io::Write) -> Result<()> {
    let path = oci::write_default(dir)?;
    writeln!(
        out,
        "wrote {}; put the container's files in {}",
        path.display(),
        dir.join("rootfs").display()
    )?;
    Ok(())
}
