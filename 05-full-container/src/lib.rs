//! # Step 05: tincan, a container runtime composed from steps 02–04
//!
//! Steps 02 to 04 each added one isolation mechanism. A real container
//! runtime is all of them, in a careful order, plus the protections that
//! turn "isolated" into "hard to escape". `tincan run` sets a container up
//! in this order (each step printed by `--explain`):
//!
//! 1. namespaces (step 02): uts, pid, mount, net, ipc, user, cgroup;
//! 2. a cgroup with limits and a device allowlist (step 03, [`config::DOCKER_DEVICES`]);
//! 3. the image as an overlay: read-only lower, per-container upper ([`overlay`]);
//! 4. `pivot_root` into it, with /proc, /sys, /dev, masked and read-only
//!    paths (step 04, [`config::DOCKER_MASKED_PATHS`]);
//! 5. capabilities reduced to Docker's default set, and `no_new_privs` ([`capabilities`]);
//! 6. a seccomp filter on the system calls themselves ([`seccomp`]);
//! 7. `execve` of the command, as the requested user.
//!
//! The same configuration ([`config::RunConfig`]) can also come from an OCI
//! bundle's `config.json` ([`oci`]), and [`lifecycle`] has the OCI verbs
//! (`create`, `start`, `kill`, `delete`, `state`) engines call.
//! [`state`] records what each container owns, so that a `kill -9`'d tincan
//! leaves nothing behind after the next command. [`container`] is where the
//! steps above happen, [`devices`] the device allowlist (cgroup v1 file or
//! cgroup v2 eBPF program), and [`escape`] the attempts that prove it all.
//!
//! ```
//! // Docker's default capabilities, minus raw sockets:
//! let caps = step05::capabilities::with_changes(&[], &["NET_RAW".into()])?;
//! assert_eq!(caps.len(), 13);
//! // A filter that refuses keyctl, ptrace, mount, unshare... compiled to BPF:
//! let filters = step05::seccomp::compile(&step05::seccomp::Profile::Default)?;
//! assert!(filters.instructions() > 40);
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod capabilities;
pub mod config;
pub mod container;
pub mod devices;
pub mod escape;
pub mod exec;
pub mod flags;
pub mod image;
pub mod lifecycle;
pub mod oci;
pub mod overlay;
pub mod privileges;
pub mod rootfs;
pub mod seccomp;
pub mod state;
pub mod syscalls;

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
