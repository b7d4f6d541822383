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
//! Docker's default profile allows about 300 calls and refuses the rest. We
//! write the same idea the other way round, as a short **deny list** that is
//! easy to read: the calls that only make sense for the host's administrator
//! (load a kernel module, reboot, swapon), the ones that expose kernel
//! internals (`keyctl`, `bpf`, `perf_event_open`, `userfaultfd`), and the
//! ones that would let the container rebuild its own privileges (`mount`,
//! `unshare`, `clone` of a new user namespace). They fail with `EPERM`, as
//! in Docker, so programs see an ordinary "Operation not permitted".
//!
//! We use the `seccompiler` crate (pure Rust, from Firecracker) to turn the
//! rules into BPF; no C library is needed.
//!
//! Gap, stated plainly: a deny list lets through any system call that it
//! does not name, including ones added to future kernels; Docker's allow list
//! does not. On x86_64 a deny list must also care about the x32 ABI (the
//! same calls with bit 30 set); Debian's kernels turn x32 off
//! (`syscall.x32=n`), so we do not handle it here.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use oci_spec::runtime::LinuxSeccomp;
mod oci;

pub use oci::{compile_oci, validate_oci};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

// ANCHOR: denied
/// System calls refused outright with `EPERM`, and why a container must not
/// make them.
pub const DENIED: &[(&str, libc::c_long, &str)] = &[
    (
        "keyctl",
        libc::SYS_keyctl,
        "the kernel keyring is not namespaced",
    ),
    (
        "add_key",
        libc::SYS_add_key,
        "the kernel keyring is not namespaced",
    ),
    (
        "request_key",
        libc::SYS_request_key,
        "the kernel keyring is not namespaced",
    ),
    (
        "ptrace",
        libc::SYS_ptrace,
        "read and write other processes' memory",
    ),
    (
        "process_vm_readv",
        libc::SYS_process_vm_readv,
        "read other processes' memory",
    ),
    (
        "process_vm_writev",
        libc::SYS_process_vm_writev,
        "write other processes' memory",
    ),
    (
        "kexec_load",
        libc::SYS_kexec_load,
        "replace the running kernel",
    ),
    (
        "kexec_file_load",
        libc::SYS_kexec_file_load,
        "replace the running kernel",
    ),
    (
        "init_module",
        libc::SYS_init_module,
        "load code into the kernel",
    ),
    (
        "finit_module",
        libc::SYS_finit_module,
        "load code into the kernel",
    ),
    (
        "delete_module",
        libc::SYS_delete_module,
        "unload kernel code",
    ),
    ("mount", libc::SYS_mount, "mount filesystems"),
    ("umount2", libc::SYS_umount2, "uncover what a mount hides"),
    ("fsopen", libc::SYS_fsopen, "the new mount API"),
    ("fsmount", libc::SYS_fsmount, "the new mount API"),
    ("move_mount", libc::SYS_move_mount, "the new mount API"),
    ("open_tree", libc::SYS_open_tree, "the new mount API"),
    (
        "pivot_root",
        libc::SYS_pivot_root,
        "change the root filesystem",
    ),
    ("swapon", libc::SYS_swapon, "host memory management"),
    ("swapoff", libc::SYS_swapoff, "host memory management"),
    ("reboot", libc::SYS_reboot, "reboot the host"),
    (
        "unshare",
        libc::SYS_unshare,
        "new namespaces, including a user namespace with all capabilities",
    ),
    ("setns", libc::SYS_setns, "join other namespaces"),
    (
        "perf_event_open",
        libc::SYS_perf_event_open,
        "kernel profiling: leaks and a large attack surface",
    ),
    (
        "userfaultfd",
        libc::SYS_userfaultfd,
        "stalls the kernel at will: a classic exploit helper",
    ),
    ("bpf", libc::SYS_bpf, "load programs into the kernel"),
    ("acct", libc::SYS_acct, "host process accounting"),
    (
        "settimeofday",
        libc::SYS_settimeofday,
        "the clock is not namespaced",
    ),
    (
        "clock_settime",
        libc::SYS_clock_settime,
        "the clock is not namespaced",
    ),
    (
        "clock_adjtime",
        libc::SYS_clock_adjtime,
        "the clock is not namespaced",
    ),
    (
        "adjtimex",
        libc::SYS_adjtimex,
        "the clock is not namespaced",
    ),
    (
        "syslog",
        libc::SYS_syslog,
        "the kernel log leaks host addresses",
    ),
    (
        "open_by_handle_at",
        libc::SYS_open_by_handle_at,
        "the 'shocker' escape: open host files by inode",
    ),
    ("iopl", libc::SYS_iopl, "raw I/O ports"),
    ("ioperm", libc::SYS_ioperm, "raw I/O ports"),
    ("quotactl", libc::SYS_quotactl, "host filesystem quotas"),
    (
        "lookup_dcookie",
        libc::SYS_lookup_dcookie,
        "kernel profiling",
    ),
    ("vhangup", libc::SYS_vhangup, "hang up the host's terminal"),
];
// ANCHOR_END: denied

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
    /// The default deny list ([`DENIED`] and namespace-creating `clone`).
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
}

// ANCHOR: compile
/// Compile `profile` for this machine's architecture.
///
/// Two programs: the deny list answering `EPERM`, and one that answers
/// `ENOSYS` ("not implemented") to `clone3`. A filter cannot read `clone3`'s
/// flags (they sit in a struct in memory, and BPF only sees the registers),
/// so, like Docker, we pretend the kernel is too old for it; the C library
/// then falls back to `clone`, whose flags the first program can check.
pub fn compile(profile: &Profile) -> Result<Filters> {
    match profile {
        Profile::Unconfined => {
            return Ok(Filters {
                programs: Vec::new(),
            });
        }
        Profile::Oci(oci) => return compile_oci(oci),
        Profile::Default => {}
    }
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| anyhow::anyhow!("seccomp: unsupported architecture: {e}"))?;

    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (_, nr, _) in DENIED {
        rules.insert(*nr, Vec::new()); // no condition: always matches
    }
    // One rule per flag: the rules of a syscall are ORed together.
    let mut clone_rules = Vec::new();
    for (name, flag) in CLONE_NAMESPACE_FLAGS {
        let flag = *flag as u64;
        let condition = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(flag),
            flag,
        )
        .with_context(|| format!("seccomp: condition on clone {name}"))?;
        clone_rules.push(SeccompRule::new(vec![condition]).context("seccomp: clone rule")?);
    }
    rules.insert(libc::SYS_clone, clone_rules);

    let deny = SeccompFilter::new(
        rules,
        SeccompAction::Allow,                     // any call not listed
        SeccompAction::Errno(libc::EPERM as u32), // a listed call
        arch,
    )
    .context("seccomp: build the deny list")?;
    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .context("seccomp: build the clone3 filter")?;
    let programs = [deny, clone3]
        .into_iter()
        .map(|f| BpfProgram::try_from(f).context("seccomp: compile to BPF"))
        .collect::<Result<_>>()?;
    Ok(Filters { programs })
}
// ANCHOR_END: compile

impl Filters {
    /// True for `--seccomp=unconfined`.
    pub fn is_unconfined(&self) -> bool {
        self.programs.is_empty()
    }

    /// Number of BPF instructions, for `--explain`.
    pub fn instructions(&self) -> usize {
        self.programs.iter().map(Vec::len).sum()
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
        let filters = compile(&Profile::Default).expect("compiles");
        assert!(!filters.is_unconfined());
        assert!(filters.instructions() > DENIED.len());
        assert!(
            compile(&Profile::Unconfined)
                .expect("compiles")
                .is_unconfined()
        );
    }

    #[test]
    fn denied_list_has_no_duplicates() {
        let mut nrs: Vec<_> = DENIED.iter().map(|d| d.1).collect();
        nrs.sort_unstable();
        nrs.dedup();
        assert_eq!(nrs.len(), DENIED.len());
    }
}
