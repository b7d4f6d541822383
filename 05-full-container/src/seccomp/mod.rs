//! Seccomp: a filter on the system calls themselves (seccomp(2),
//! seccomp_unotify(2), and the kernel's `Documentation/userspace-api/seccomp_filter.rst`).
//!
//! Namespaces hide things and capabilities remove privileges, but the
//! container still talks to the host's one kernel through about 350 system
//! calls, and every one is attack surface. A seccomp filter is a small BPF
//! program that the kernel runs on **every** system call of the process
//! (and of all its descendants: it is inherited and can never be removed) and
//! that decides: allow it, or fail it with an errno.
//!
//! tincan's default profile is an **allowlist**, in the manner of Docker's
//! default profile: the calls an ordinary program needs, group by group
//! ([`allowlist::ALLOWED`], each group with its reason), the calls a
//! capability the container holds makes useful ([`allowlist::BY_CAPABILITY`]),
//! and argument rules for `clone`, `clone3`, `personality` and `socket`.
//! Anything else fails with `EPERM`, as in Docker, so programs see an
//! ordinary "Operation not permitted".
//!
//! Why an allowlist rather than a list of dangerous calls: a deny list
//! lets through every call it does not name, including the ones the kernel
//! gains next year (and, on x86_64, the x32 numbering of all of them, bit
//! 30 set); an allowlist refuses them until someone decides they are safe.
//!
//! We use the `seccompiler` crate (pure Rust, from Firecracker) to turn the
//! rules into BPF; no C library is needed. Names become numbers per
//! architecture ([`crate::syscalls::number_on`]), so the same table
//! compiles for x86_64 and aarch64.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use caps::Capability;
use oci_spec::runtime::LinuxSeccomp;
pub mod allowlist;
mod oci;

pub use oci::{compile_oci, validate_oci};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::capabilities::CapabilitySet;

// ANCHOR: new_namespace_flags
/// `clone(2)` flags that create namespaces. `clone` itself must stay allowed
/// (every `fork` and every thread uses it), so the filter looks at its first
/// argument and refuses only these bits. Most need `CAP_SYS_ADMIN`, which the
/// container lacks; `CLONE_NEWUSER` does not, and a new user namespace hands
/// its creator a full set of capabilities in it: the first step of many
/// container escapes.
pub const CLONE_NAMESPACE_FLAGS: &[(&str, libc::c_int)] = &[
    ("CLONE_NEWUSER", libc::CLONE_NEWUSER),
    ("CLONE_NEWNS", libc::CLONE_NEWNS),
    ("CLONE_NEWPID", libc::CLONE_NEWPID),
    ("CLONE_NEWNET", libc::CLONE_NEWNET),
    ("CLONE_NEWUTS", libc::CLONE_NEWUTS),
    ("CLONE_NEWIPC", libc::CLONE_NEWIPC),
    ("CLONE_NEWCGROUP", libc::CLONE_NEWCGROUP),
];
// ANCHOR_END: new_namespace_flags

/// Which filter a container gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Profile {
    /// The default allowlist ([`allowlist`]), shaped by the container's capabilities.
    Default,
    /// No filter at all: `--seccomp=unconfined`.
    Unconfined,
    /// The profile of an OCI bundle's `linux.seccomp` (what podman sends).
    Oci(Box<LinuxSeccomp>),
}

impl std::str::FromStr for Profile {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Profile> {
        match s {
            "default" => Ok(Profile::Default),
            "unconfined" => Ok(Profile::Unconfined),
            other => anyhow::bail!(
                "unknown seccomp profile {other:?}; use --seccomp=unconfined to switch the filter off \
                 (custom profile files are not supported yet)"
            ),
        }
    }
}

/// The BPF programs of one profile, compiled in the parent before any
/// fork, so that the child only has to install them.
#[derive(Debug, Clone)]
pub struct Filters {
    programs: Vec<BpfProgram>,
    summary: String,
}

/// Compile `profile` for this machine's architecture. The default profile
/// depends on `bounding`, the container's capability bounding set.
pub fn compile(profile: &Profile, bounding: &CapabilitySet) -> Result<Filters> {
    match profile {
        Profile::Unconfined => Ok(Filters {
            programs: Vec::new(),
            summary: "unconfined (no filter)".into(),
        }),
        Profile::Oci(oci) => compile_oci(oci),
        Profile::Default => {
            let arch = TargetArch::try_from(std::env::consts::ARCH)
                .map_err(|e| anyhow::anyhow!("seccomp: unsupported architecture: {e}"))?;
            compile_default(arch, bounding)
        }
    }
}

// ANCHOR: compile
/// Compile the default profile for `arch`, for a container whose bounding
/// set is `bounding`.
///
/// Two programs. The allowlist: every listed call → allow, anything else →
/// `EPERM`. And one that answers `ENOSYS` ("not implemented") to `clone3`:
/// a filter cannot read `clone3`'s flags (they sit in a struct in memory,
/// and BPF only sees the registers), so, like Docker, we pretend the
/// kernel is too old for it; the C library then falls back to `clone`,
/// whose flags the allowlist checks. With `CAP_SYS_ADMIN` the container
/// may make namespaces anyway, and both calls are allowed as they are.
pub fn compile_default(arch: TargetArch, bounding: &CapabilitySet) -> Result<Filters> {
    let admin = bounding.contains(&Capability::CAP_SYS_ADMIN);
    let (mut rules, unconditional, by_caps) = allowed_calls(arch, bounding);
    argument_rules(arch, admin, &mut rules)?;
    let listed = rules.len();
    let allowlist = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::EPERM as u32), // any call not listed
        SeccompAction::Allow,                     // a listed call
        arch,
    )
    .context("seccomp: build the allowlist")?;
    let mut filters = vec![allowlist];
    if !admin {
        let clone3 = number(arch, "clone3")?;
        filters.push(
            SeccompFilter::new(
                BTreeMap::from([(clone3, Vec::new())]),
                SeccompAction::Allow,
                SeccompAction::Errno(libc::ENOSYS as u32),
                arch,
            )
            .context("seccomp: build the clone3 filter")?,
        );
    }
    let programs: Vec<BpfProgram> = filters
        .into_iter()
        .map(|f| BpfProgram::try_from(f).context("seccomp: compile to BPF"))
        .collect::<Result<_>>()?;
    let instructions: usize = programs.iter().map(Vec::len).sum();
    let summary = format!(
        "allowlist of {listed} calls ({unconditional} for every container, {by_caps} for its capabilities), \
         anything else EPERM; clone {}, clone3 {}; {instructions} BPF instructions",
        if admin {
            "allowed"
        } else {
            "without namespace flags"
        },
        if admin { "allowed" } else { "answers ENOSYS" },
    );
    Ok(Filters { programs, summary })
}
// ANCHOR_END: compile

/// `tincan seccomp`: the default profile of a container with Docker's
/// capabilities plus `cap_add`, on this machine's architecture.
pub fn listing(cap_add: &[String]) -> Result<String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| anyhow::anyhow!("seccomp: unsupported architecture: {e}"))?;
    let bounding = crate::capabilities::with_changes(cap_add, &[])?;
    Ok(allowlist::listing(arch, &bounding))
}

/// The number of `name` on `arch`, for the calls every architecture has.
fn number(arch: TargetArch, name: &str) -> Result<i64> {
    crate::syscalls::number_on(arch, name)
        .with_context(|| format!("seccomp: no system call {name:?} on {arch:?}"))
}

/// The calls allowed whatever their arguments: the groups of
/// [`allowlist::ALLOWED`] and [`allowlist::ARCH_SPECIFIC`], and those of
/// [`allowlist::BY_CAPABILITY`] whose capability is in `bounding`. Returns
/// the rules (an empty list: always) and how many calls came from each.
fn allowed_calls(
    arch: TargetArch,
    bounding: &CapabilitySet,
) -> (BTreeMap<i64, Vec<SeccompRule>>, usize, usize) {
    let names = allowlist::ALLOWED.iter().flat_map(|g| g.calls).chain(
        allowlist::ARCH_SPECIFIC
            .iter()
            .filter(|(a, _, _)| *a == arch)
            .flat_map(|(_, calls, _)| *calls),
    );
    let mut rules = BTreeMap::new();
    for name in names {
        // A name this architecture lacks (`open` on aarch64) is skipped.
        if let Some(nr) = crate::syscalls::number_on(arch, name) {
            rules.insert(nr, Vec::new());
        }
    }
    let unconditional = rules.len();
    for (cap, calls) in allowlist::BY_CAPABILITY {
        if bounding.contains(cap) {
            for nr in calls
                .iter()
                .filter_map(|n| crate::syscalls::number_on(arch, n))
            {
                rules.insert(nr, Vec::new());
            }
        }
    }
    let by_caps = rules.len() - unconditional;
    (rules, unconditional, by_caps)
}

// ANCHOR: argument_rules_code
/// Replace the "always" of `clone`, `personality` and `socket` by rules on
/// their first argument. The rules of one call are ORed together.
fn argument_rules(
    arch: TargetArch,
    admin: bool,
    rules: &mut BTreeMap<i64, Vec<SeccompRule>>,
) -> Result<()> {
    let rule = |len: SeccompCmpArgLen, op: SeccompCmpOp, value: u64| -> Result<SeccompRule> {
        let condition = SeccompCondition::new(0, len, op, value).context("seccomp: condition")?;
        SeccompRule::new(vec![condition]).context("seccomp: rule")
    };
    if !admin {
        // clone is allowed only when (flags & every CLONE_NEW*) == 0.
        let mask = CLONE_NAMESPACE_FLAGS
            .iter()
            .fold(0u64, |m, (_, flag)| m | *flag as u64);
        let no_namespace = rule(SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(mask), 0)?;
        rules.insert(number(arch, "clone")?, vec![no_namespace]);
    }
    // personality and socket take an int: compare the low 32 bits only,
    // since the upper half of the register is not part of the argument.
    let personalities = allowlist::PERSONALITIES
        .iter()
        .map(|(value, _)| rule(SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, *value))
        .collect::<Result<_>>()?;
    rules.insert(number(arch, "personality")?, personalities);
    let (vsock, _) = allowlist::REFUSED_SOCKET_FAMILY;
    let not_vsock = rule(SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, vsock)?;
    rules.insert(number(arch, "socket")?, vec![not_vsock]);
    Ok(())
}
// ANCHOR_END: argument_rules_code

impl Filters {
    /// True for `--seccomp=unconfined`.
    pub fn is_unconfined(&self) -> bool {
        self.programs.is_empty()
    }

    /// Number of BPF instructions.
    pub fn instructions(&self) -> usize {
        self.programs.iter().map(Vec::len).sum()
    }

    /// What the filter does, in one line, for `--explain`.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    // ANCHOR: install
    /// Install the filters on the calling thread (`seccomp(SECCOMP_SET_MODE_FILTER)`).
    /// They are inherited across `fork` and `execve` and can never be removed.
    ///
    /// This also sets `no_new_privs`, which the kernel demands of a process
    /// without `CAP_SYS_ADMIN` (otherwise a filter could trick a setuid
    /// program into misbehaving). Call it last before `execve`: after it,
    /// tincan's own set-up calls (`mount`, `pivot_root`) would be refused too.
    /// It performs no allocation, so it is safe between `fork` and `execve`.
    pub fn install(&self) -> Result<()> {
        // ANCHOR: lab-05-seccomp-install
        for program in &self.programs {
            seccompiler::apply_filter(program).context("seccomp(SECCOMP_SET_MODE_FILTER)")?;
        }
        Ok(())
        // ANCHOR_END: lab-05-seccomp-install
    }
    // ANCHOR_END: install

    // ANCHOR: install_privileged
    /// Install the filters *without* setting `no_new_privs`, for a config
    /// that asks for `noNewPrivileges: false`. The kernel allows that only
    /// to a process holding `CAP_SYS_ADMIN`, so it must come before the
    /// capabilities are dropped (as runc does), and the filter then also
    /// sees the rest of the set-up: `capset`, `setresuid`, `prctl`.
    pub fn install_keeping_privileges(&self) -> Result<()> {
        for program in &self.programs {
            let prog = libc::sock_fprog {
                len: u16::try_from(program.len()).context("seccomp: program too long")?,
                filter: program.as_ptr() as *mut libc::sock_filter,
            };
            // SAFETY: `prog` points at `program`'s instructions, which stay
            // alive and unchanged for the whole call; the kernel copies them.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &prog as *const libc::sock_fprog,
                )
            };
            if rc != 0 {
                return Err(std::io::Error::last_os_error()).context(
                    "seccomp(SECCOMP_SET_MODE_FILTER) without no_new_privs (needs CAP_SYS_ADMIN)",
                );
            }
        }
        Ok(())
    }
    // ANCHOR_END: install_privileged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::docker_default;

    #[test]
    fn profile_parses_docker_spelling() {
        assert_eq!(
            "unconfined".parse::<Profile>().expect("valid"),
            Profile::Unconfined
        );
        let err = "/etc/profile.json"
            .parse::<Profile>()
            .expect_err("not supported");
        assert!(err.to_string().contains("--seccomp=unconfined"), "{err}");
    }

    #[test]
    fn compile_default_produces_programs_and_unconfined_none() {
        let filters = compile(&Profile::Default, &docker_default()).expect("compiles");
        assert!(!filters.is_unconfined());
        assert!(
            filters.summary().contains("clone3 answers ENOSYS"),
            "{}",
            filters.summary()
        );
        let unconfined = compile(&Profile::Unconfined, &docker_default()).expect("compiles");
        assert!(unconfined.is_unconfined());
    }

    #[test]
    fn default_profile_compiles_for_both_architectures_with_their_own_numbers() {
        for arch in [TargetArch::x86_64, TargetArch::aarch64] {
            let (rules, unconditional, _) = allowed_calls(arch, &docker_default());
            assert!(unconditional > 250, "{arch:?}: only {unconditional} calls");
            let read = crate::syscalls::number_on(arch, "read").expect("read");
            assert!(rules.contains_key(&read), "{arch:?}");
            compile_default(arch, &docker_default()).expect("compiles");
        }
        // x86_64 keeps the old calls and has arch_prctl; aarch64 has neither.
        let x86 = allowed_calls(TargetArch::x86_64, &docker_default()).1;
        let arm = allowed_calls(TargetArch::aarch64, &docker_default()).1;
        assert!(x86 > arm + 30, "x86_64 {x86}, aarch64 {arm}");
    }

    #[test]
    fn capabilities_open_their_calls_and_sys_admin_lifts_the_clone_rules() {
        let arch = TargetArch::x86_64;
        let mount = crate::syscalls::number_on(arch, "mount").expect("mount");
        let (default, _, by_caps) = allowed_calls(arch, &docker_default());
        assert!(!default.contains_key(&mount));
        // Docker's default set holds CAP_SYS_CHROOT: chroot is the one extra.
        assert_eq!(by_caps, 1);
        let mut admin = docker_default();
        admin.insert(Capability::CAP_SYS_ADMIN);
        assert!(allowed_calls(arch, &admin).0.contains_key(&mount));
        let filters = compile_default(arch, &admin).expect("compiles");
        assert_eq!(
            filters.programs.len(),
            1,
            "no clone3 program with CAP_SYS_ADMIN"
        );
        assert!(
            filters.summary().contains("clone allowed"),
            "{}",
            filters.summary()
        );
    }
}
