//! `process`: what to run, as whom, with which capabilities and limits.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{PosixRlimitType, Spec};

use super::unsupported;
use crate::capabilities::{self, CapabilitySet, ProcessCapabilities};
use crate::config::Rlimit;
use crate::terminal::{Size, Terminal};

/// The `process` section, checked and converted.
pub(super) struct ProcessPart {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
    pub capabilities: ProcessCapabilities,
    pub no_new_privileges: bool,
    pub rlimits: Vec<Rlimit>,
    pub oom_score_adj: Option<i32>,
    pub terminal: Option<Terminal>,
}

/// Convert `process`, refusing what tincan cannot do.
pub(super) fn convert(spec: &Spec) -> Result<ProcessPart> {
    let process = spec
        .process()
        .as_ref()
        .context("process: missing; tincan run needs a process to start")?;
    let terminal = terminal(process)?;
    reject_if_some!(process.command_line(), "process.commandLine");
    reject_if_some!(process.apparmor_profile(), "process.apparmorProfile");
    reject_if_some!(process.selinux_label(), "process.selinuxLabel");
    reject_if_some!(process.io_priority(), "process.ioPriority");
    reject_if_some!(process.scheduler(), "process.scheduler");
    reject_if_some!(process.exec_cpu_affinity(), "process.execCPUAffinity");
    reject_if_some!(process.user().username(), "process.user.username");
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        bail!("process.args is empty; name the program to run");
    }
    if !process.cwd().is_absolute() {
        bail!("process.cwd {:?} must be an absolute path", process.cwd());
    }

    let mut capabilities = match process.capabilities() {
        None => ProcessCapabilities::uniform(CapabilitySet::default()),
        Some(c) => ProcessCapabilities {
            bounding: cap_set(c.bounding(), "bounding")?,
            effective: cap_set(c.effective(), "effective")?,
            permitted: cap_set(c.permitted(), "permitted")?,
            inheritable: cap_set(c.inheritable(), "inheritable")?,
            ambient: cap_set(c.ambient(), "ambient")?,
        },
    };
    // The kernel raises an ambient capability only if it is permitted and
    // inheritable too (capabilities(7)); like runc, leave out those that
    // are not (`runc spec` lists three ambient ones and no inheritable).
    let ProcessCapabilities {
        permitted,
        inheritable,
        ambient,
        ..
    } = &mut capabilities;
    ambient.retain(|cap| permitted.contains(cap) && inheritable.contains(cap));
    capabilities.validate().context("process.capabilities")?;

    let rlimits = process
        .rlimits()
        .iter()
        .flatten()
        .map(|r| {
            let (resource, name) = rlimit_resource(r.typ());
            if r.soft() > r.hard() {
                bail!(
                    "process.rlimits {name}: soft limit {} is above hard limit {}",
                    r.soft(),
                    r.hard()
                );
            }
            Ok(Rlimit {
                resource,
                name,
                soft: r.soft(),
                hard: r.hard(),
            })
        })
        .collect::<Result<Vec<_>>>()?;

    Ok(ProcessPart {
        args,
        env: process.env().clone().unwrap_or_default(),
        cwd: process.cwd().clone(),
        uid: process.user().uid(),
        gid: process.user().gid(),
        additional_gids: process.user().additional_gids().clone().unwrap_or_default(),
        umask: process.user().umask(),
        capabilities,
        no_new_privileges: process.no_new_privileges().unwrap_or(false),
        rlimits,
        oom_score_adj: process.oom_score_adj(),
        terminal,
    })
}

/// `terminal` and `consoleSize`, which the spec says to ignore without a
/// terminal. Where the master goes is the caller's to say.
fn terminal(process: &oci_spec::runtime::Process) -> Result<Option<Terminal>> {
    if !process.terminal().unwrap_or(false) {
        return Ok(None);
    }
    let size = match process.console_size() {
        None => None,
        Some(size) => {
            let fit = |n: u64, what: &str| {
                u16::try_from(n).with_context(|| {
                    format!("process.consoleSize.{what} {n} is above a terminal's 65535")
                })
            };
            Some(Size {
                rows: fit(size.height(), "height")?,
                cols: fit(size.width(), "width")?,
            })
        }
    };
    Ok(Some(Terminal { size, socket: None }))
}

fn cap_set(set: &Option<oci_spec::runtime::Capabilities>, which: &str) -> Result<CapabilitySet> {
    let mut out = CapabilitySet::default();
    for cap in set.iter().flatten() {
        let name = cap.to_string();
        out.insert(
            capabilities::parse_name(&name)
                .with_context(|| format!("process.capabilities.{which}"))?,
        );
    }
    Ok(out)
}

fn rlimit_resource(typ: PosixRlimitType) -> (libc::c_int, &'static str) {
    use PosixRlimitType::*;
    let (r, name) = match typ {
        RlimitCpu => (libc::RLIMIT_CPU, "RLIMIT_CPU"),
        RlimitFsize => (libc::RLIMIT_FSIZE, "RLIMIT_FSIZE"),
        RlimitData => (libc::RLIMIT_DATA, "RLIMIT_DATA"),
        RlimitStack => (libc::RLIMIT_STACK, "RLIMIT_STACK"),
        RlimitCore => (libc::RLIMIT_CORE, "RLIMIT_CORE"),
        RlimitRss => (libc::RLIMIT_RSS, "RLIMIT_RSS"),
        RlimitNproc => (libc::RLIMIT_NPROC, "RLIMIT_NPROC"),
        RlimitNofile => (libc::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
        RlimitMemlock => (libc::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
        RlimitAs => (libc::RLIMIT_AS, "RLIMIT_AS"),
        RlimitLocks => (libc::RLIMIT_LOCKS, "RLIMIT_LOCKS"),
        RlimitSigpending => (libc::RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
        RlimitMsgqueue => (libc::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
        RlimitNice => (libc::RLIMIT_NICE, "RLIMIT_NICE"),
        RlimitRtprio => (libc::RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
        RlimitRttime => (libc::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
    };
    (r as libc::c_int, name)
}
