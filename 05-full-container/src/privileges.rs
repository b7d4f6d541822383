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
use crate::seccomp::Filters;

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
        become_user(config.uid, config.gid, &config.additional_gids)?;
    }
    capabilities::apply(&config.capabilities)?;
    if config.no_new_privileges {
        set_no_new_privs()?;
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
    explain.step("6", format_args!("seccomp: {}", filters.summary()));
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

// ANCHOR: no_new_privs
/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: from now on `execve` can never grant more
/// privileges (setuid bits and file capabilities are ignored). It is inherited
/// by every child and cannot be unset. It also lets an unprivileged process
/// install a seccomp filter.
pub fn set_no_new_privs() -> Result<()> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integer arguments and touches
    // no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("prctl PR_SET_NO_NEW_PRIVS");
    }
    Ok(())
}
// ANCHOR_END: no_new_privs

/// `prctl(PR_SET_KEEPCAPS)`: keep the permitted set when switching from uid 0
/// to another user (otherwise the kernel clears it; capabilities(7), "Effect
/// of user ID changes on capabilities").
fn set_keep_caps(keep: bool) -> Result<()> {
    // SAFETY: PR_SET_KEEPCAPS takes plain integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(keep), 0, 0, 0) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("prctl PR_SET_KEEPCAPS");
    }
    Ok(())
}

// ANCHOR: become_user
/// Switch to `uid`/`gid` (and supplementary `groups`) without losing the
/// permitted set, so that [`apply`] can then give a non-root user exactly the
/// container's capabilities (through the ambient set).
///
/// Order: groups first (changing groups needs `CAP_SETGID`, which a
/// non-root user no longer has), then the uid, with `PR_SET_KEEPCAPS` on
/// so the kernel keeps the permitted set across the change.
pub fn become_user(uid: u32, gid: u32, groups: &[u32]) -> Result<()> {
    use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};
    let groups: Vec<Gid> = groups.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&groups).with_context(|| format!("setgroups {groups:?}"))?;
    let gid = Gid::from_raw(gid);
    setresgid(gid, gid, gid).with_context(|| format!("setresgid {gid}"))?;
    set_keep_caps(true)?;
    let uid = Uid::from_raw(uid);
    setresuid(uid, uid, uid).with_context(|| format!("setresuid {uid}"))?;
    set_keep_caps(false)
}
// ANCHOR_END: become_user
