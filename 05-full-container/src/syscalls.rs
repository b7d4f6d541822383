//! System call names and numbers (syscall(2), syscalls(2); the kernel's
//! `arch/x86/entry/syscalls/syscall_64.tbl`).
//!
//! A seccomp filter sees only numbers, but an OCI seccomp profile names
//! system calls ("read", "keyctl"), and the numbers differ from one
//! architecture to the next. libseccomp carries a table for each; we use
//! the `syscalls` crate's, generated from the kernel's own tables.

use std::str::FromStr;

/// The number of system call `name` on this architecture, or `None` if it
/// has no such call (many names in a profile exist only on 32-bit x86 or
/// other architectures: `_llseek`, `socketcall`...).
pub fn number(name: &str) -> Option<i64> {
    syscalls::Sysno::from_str(name)
        .ok()
        .map(|nr| nr.id() as i64)
}

/// The number of `name` on `arch`, which need not be this machine's: the
/// default profile is compiled (and tested) for x86_64 and aarch64 alike.
/// aarch64 was born after the `*at` calls and has no `open`, `stat` or
/// `fork`; x86_64 keeps them all.
pub fn number_on(arch: seccompiler::TargetArch, name: &str) -> Option<i64> {
    use seccompiler::TargetArch;
    let id = match arch {
        TargetArch::x86_64 => syscalls::x86_64::Sysno::from_str(name).ok()?.id(),
        TargetArch::aarch64 => syscalls::aarch64::Sysno::from_str(name).ok()?.id(),
        TargetArch::riscv64 => return None,
    };
    Some(i64::from(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_knows_common_calls_and_not_32_bit_ones() {
        assert_eq!(number("read"), Some(libc::SYS_read));
        assert_eq!(number("keyctl"), Some(libc::SYS_keyctl));
        assert_eq!(number("clone3"), Some(libc::SYS_clone3));
        assert_eq!(number("_llseek"), None);
        assert_eq!(number("no_such_call"), None);
        use seccompiler::TargetArch;
        assert_eq!(number_on(TargetArch::x86_64, "read"), Some(0));
        assert_eq!(number_on(TargetArch::aarch64, "read"), Some(63));
        assert_eq!(number_on(TargetArch::aarch64, "open"), None);
    }
}
