//! The last set-up steps of every process that enters a container, its
//! first one (`tincan run`, `create`) and every later one (`tincan exec`):
//! resource limits, then capabilities, the user, `no_new_privs` and the
//! seccomp filter (setrlimit(2), capabilities(7), prctl(2), seccomp(2)).
//!
//! The order is forced by the kernel. Raising a limit or lowering
//! `oom_score_adj` needs privileges, so they come first. Changing uid
//! clears the capabilities unless they are kept, so the bounding set is cut
//! before and the final sets applied after (see [`crate::capabilities`]).
//! The seccomp filter comes last: it refuses calls the steps before it
//! still make.

use anyhow::{Context, Result};
use nix::sys::stat::Mode;

use crate::capabilities;
use crate::config::RunConfig;
use crate::explain::Explain;
use crate::seccomp::{DENIED, Filters};

// ANCHOR: drop
/// Steps 5 and 6 of `tincan run`, in the process that is about to become
/// the container's program.
pub fn drop(config: &RunConfig, filters: &Filters, explain: Explain) -> Result<()> {
    // Limits that need privileges to raise are set while we still have them.
    if let Some(adj) = config.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .context("write /proc/self/oom_score_adj")?;
    }
    set_rlimits(config)?;
    // `noNewPrivileges: false` with a filter: load it while we still hold
    // CAP_SYS_ADMIN, so that the kernel does not insist on no_new_privs.
    let filter_first = !config.no_new_privileges && !filters.is_unconfined();
    if filter_first {
        filters.install_keeping_privileges()?;
    }
    // 5. capabilities, around the change of user.
    capabilities::drop_bounding(&config.capabilities.bounding)?;
    if config.uid != 0 || config.gid != 0 || !config.additional_gids.is_empty() {
        capabilities::become_user(config.uid, config.gid, &config.additional_gids)?;
    }
    capabilities::apply(&config.capabilities)?;
    if config.no_new_privileges {
        capabilities::set_no_new_privs()?;
    }
    explain.step(
        "5",
        format_args!(
            "capabilities: {} ({} of {}); no_new_privs={}",
            capabilities::names(&config.capabilities.bounding),
            config.capabilities.bounding.len(),
            capabilities::known().len(),
            config.no_new_privileges
        ),
    );
    // 6. seccomp, last: from here on mount, pivot_root, unshare... fail.
    if !filter_first {
        filters.install()?;
    }
    explain.step(
        "6",
        if filters.is_unconfined() {
            "seccomp: unconfined (no filter)".to_string()
        } else {
            format!(
                "seccomp: {} BPF instructions, {} calls refused with EPERM, clone3 answers ENOSYS",
                filters.instructions(),
                DENIED.len()
            )
        },
    );
    if let Some(mask) = config.umask {
        nix::sys::stat::umask(Mode::from_bits_truncate(mask));
    }
    Ok(())
}
// ANCHOR_END: drop

/// `process.rlimits`: setrlimit(2) for each.
fn set_rlimits(config: &RunConfig) -> Result<()> {
    for r in &config.rlimits {
        let limit = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        // SAFETY: setrlimit reads one rlimit struct that lives on our stack.
        if unsafe { libc::setrlimit(r.resource as _, &limit) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("setrlimit {} soft={} hard={}", r.name, r.soft, r.hard));
        }
    }
    Ok(())
}

/// The program of `config`, with exactly its environment, for step 02's
/// Sandbox to `execve` (it searches the container's `PATH`).
pub fn program(config: &RunConfig) -> Result<step02::Program> {
    step02::Program::new(&config.args)?.env(&config.env)
}
