//! OCI seccomp profiles (`linux.seccomp`, as podman and containerd write
//! them) translated into the same BPF filters, faithfully or not at all.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::Filters;

// ANCHOR: oci
/// Check an OCI profile before anything is created: every feature it uses
/// must be one we can honour. Compiling it is the check.
pub fn validate_oci(profile: &LinuxSeccomp) -> Result<()> {
    compile_oci(profile).map(|_| ())
}

/// The seccomp action an OCI profile names (`SCMP_ACT_ERRNO` + `errnoRet`...).
fn oci_action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<SeccompAction> {
    use LinuxSeccompAction::*;
    Ok(match action {
        ScmpActAllow => SeccompAction::Allow,
        // libseccomp's default errno for SCMP_ACT_ERRNO is EPERM.
        ScmpActErrno => SeccompAction::Errno(errno.unwrap_or(libc::EPERM as u32)),
        ScmpActKill | ScmpActKillThread => SeccompAction::KillThread,
        ScmpActKillProcess => SeccompAction::KillProcess,
        ScmpActTrap => SeccompAction::Trap,
        ScmpActLog => SeccompAction::Log,
        ScmpActTrace => SeccompAction::Trace(errno.unwrap_or(0)),
        ScmpActNotify => bail!(
            "linux.seccomp: SCMP_ACT_NOTIFY (a user-space agent answering calls) is not supported by tincan"
        ),
    })
}

/// Translate an OCI seccomp profile (what podman and Docker send) into BPF.
///
/// An OCI profile is "for each rule, if the call and its arguments match,
/// take the rule's action; otherwise the default action". seccompiler
/// builds filters with exactly two actions each (match / mismatch), so we
/// build several and let the kernel combine them: when a process has more
/// than one filter, the kernel runs all of them and keeps the *most
/// restrictive* answer (seccomp(2): KILL > TRAP > ERRNO > TRACE > LOG > ALLOW).
///
/// 1. the *default* program: every call that any rule matches → allow;
///    anything else → the default action;
/// 2. one program per other action X: the calls of X's rules → X, anything
///    else → allow.
///
/// A call that matches an `SCMP_ACT_ERRNO` rule passes program 1 and gets
/// its errno from program 2; a call no rule names is stopped by program 1.
///
/// Names this architecture does not have (`_llseek`, `socketcall`, 32-bit
/// calls) are skipped, as libseccomp does: the kernel can never see them.
/// The filter checks the architecture first and kills a process that makes
/// a 32-bit (`int 0x80`) or x32 call, which is stricter than a profile that
/// lists those architectures.
pub fn compile_oci(profile: &LinuxSeccomp) -> Result<Filters> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| anyhow::anyhow!("seccomp: unsupported architecture: {e}"))?;
    if profile.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        bail!("linux.seccomp.flags is not supported by tincan; remove it");
    }
    if profile.listener_path().is_some() {
        bail!("linux.seccomp.listenerPath (a seccomp agent) is not supported by tincan; remove it");
    }
    let default = oci_action(profile.default_action(), profile.default_errno_ret())
        .context("linux.seccomp.defaultAction")?;
    // Every rule, grouped by its action.
    let mut matched: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut by_action: Vec<(SeccompAction, BTreeMap<i64, Vec<SeccompRule>>)> = Vec::new();
    for (i, syscall) in profile.syscalls().iter().flatten().enumerate() {
        let at = format!("linux.seccomp.syscalls[{i}]");
        let action = oci_action(syscall.action(), syscall.errno_ret()).context(at.clone())?;
        let conditions = syscall
            .args()
            .iter()
            .flatten()
            .map(|a| {
                let op = match a.op() {
                    LinuxSeccompOperator::ScmpCmpEq => SeccompCmpOp::Eq,
                    LinuxSeccompOperator::ScmpCmpNe => SeccompCmpOp::Ne,
                    LinuxSeccompOperator::ScmpCmpLt => SeccompCmpOp::Lt,
                    LinuxSeccompOperator::ScmpCmpLe => SeccompCmpOp::Le,
                    LinuxSeccompOperator::ScmpCmpGt => SeccompCmpOp::Gt,
                    LinuxSeccompOperator::ScmpCmpGe => SeccompCmpOp::Ge,
                    // libseccomp: (arg & value) == valueTwo
                    LinuxSeccompOperator::ScmpCmpMaskedEq => SeccompCmpOp::MaskedEq(a.value()),
                };
                let value = match a.op() {
                    LinuxSeccompOperator::ScmpCmpMaskedEq => a.value_two().unwrap_or(0),
                    _ => a.value(),
                };
                SeccompCondition::new(a.index() as u8, SeccompCmpArgLen::Qword, op, value)
                    .with_context(|| format!("{at}: argument {}", a.index()))
            })
            .collect::<Result<Vec<_>>>()?;
        let rule = || -> Result<Option<SeccompRule>> {
            if conditions.is_empty() {
                return Ok(None);
            }
            SeccompRule::new(conditions.clone())
                .map(Some)
                .with_context(|| format!("{at}: conditions"))
        };
        for name in syscall.names() {
            let Some(nr) = crate::syscalls::number(name) else {
                // Not a call of this architecture: the kernel never sees it.
                continue;
            };
            add_rule(&mut matched, nr, rule()?);
            if action != SeccompAction::Allow {
                let slot = match by_action.iter().position(|(a, _)| *a == action) {
                    Some(i) => i,
                    None => {
                        by_action.push((action.clone(), BTreeMap::new()));
                        by_action.len() - 1
                    }
                };
                add_rule(&mut by_action[slot].1, nr, rule()?);
            }
        }
    }
    let mut filters = Vec::new();
    if default != SeccompAction::Allow {
        filters.push(
            SeccompFilter::new(matched, default, SeccompAction::Allow, arch)
                .context("seccomp: build the default-action program")?,
        );
    }
    for (action, rules) in by_action {
        filters.push(
            SeccompFilter::new(rules, SeccompAction::Allow, action, arch)
                .context("seccomp: build a rule program")?,
        );
    }
    let programs = filters
        .into_iter()
        .map(|f| BpfProgram::try_from(f).context("seccomp: compile to BPF"))
        .collect::<Result<Vec<BpfProgram>>>()?;
    let summary = format!(
        "the bundle's profile ({} rules, default action {:?}): {} programs, {} BPF instructions",
        profile.syscalls().as_ref().map_or(0, Vec::len),
        profile.default_action(),
        programs.len(),
        programs.iter().map(Vec::len).sum::<usize>()
    );
    Ok(Filters { programs, summary })
}
// ANCHOR_END: oci

/// Add one rule for call `nr` (`None`: the call matches whatever its
/// arguments). Rules of one call are ORed; an empty list means "always".
fn add_rule(map: &mut BTreeMap<i64, Vec<SeccompRule>>, nr: i64, rule: Option<SeccompRule>) {
    match (map.get_mut(&nr), rule) {
        (Some(rules), _) if rules.is_empty() => {} // already matches always
        (Some(rules), Some(rule)) => rules.push(rule),
        (Some(rules), None) => rules.clear(),
        (None, rule) => {
            map.insert(nr, rule.into_iter().collect());
        }
    }
}
