//! The device allowlist: which device files a container may open (the
//! kernel's `Documentation/admin-guide/cgroup-v1/devices.rst`).
//!
//! `CAP_MKNOD` lets a container *create* `/dev/sda` (major 8, minor 0), and
//! a device node is just a name for a driver: whoever can open it can read
//! the host's disk. The cgroup v1 `devices` controller decides which
//! `(type, major, minor)` may be opened, whatever the file is called: we
//! write `a` (all) to `devices.deny`, then Docker's short list to
//! `devices.allow` (step 05 uses Docker's list).
//!
//! cgroup v2 has no `devices` files. The same job is done by a small
//! eBPF program (bpf(2), `BPF_PROG_TYPE_CGROUP_DEVICE`) attached to the
//! cgroup: the kernel runs it on every open and mknod of a device node and
//! allows the access only if it returns 1. [`program`] writes that program
//! instruction by instruction from the same rules, [`attach_v2`] loads and
//! attaches it.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// One line of a device allowlist, in the cgroup v1 `devices.allow` syntax:
/// `c 1:3 rwm` (type, major:minor with `*` for any, access).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    /// Allow (true) or deny.
    pub allow: bool,
    /// `c 1:3 rwm`, `a *:* rwm`...
    pub rule: String,
}

// ANCHOR: apply
/// Write the allowlist into the container's v1 devices cgroup `dir` (step
/// 03 created it with the others): deny everything, then allow `rules` in
/// order. The container's first process is added to it before it runs.
pub fn allow_v1(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    for rule in rules {
        let file = if rule.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        crate::cgroup::write(dir, file, &rule.rule)?;
    }
    Ok(())
}
// ANCHOR_END: apply

// ---- cgroup v2: an eBPF device program ------------------------------------

/// One parsed allow rule: device type (`None`: any), major and minor
/// (`None`: any), and the access bits (mknod 1, read 2, write 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allow {
    /// 1 block, 2 char (`BPF_DEVCG_DEV_*`), `None` for `a`.
    pub typ: Option<i32>,
    /// Major number, `None` for `*`.
    pub major: Option<i32>,
    /// Minor number, `None` for `*`.
    pub minor: Option<i32>,
    /// `BPF_DEVCG_ACC_*` bits.
    pub access: i32,
}

/// Parse rules into an allowlist. The program denies by default, so the
/// rules must be "deny all" followed by allows (Docker's shape, and ours).
pub fn allowlist(rules: &[DeviceRule]) -> Result<Vec<Allow>> {
    let Some((first, rest)) = rules.split_first() else {
        return Ok(Vec::new());
    };
    if first.allow || first.rule != "a *:* rwm" {
        bail!("device rules must start with a deny of everything (a *:* rwm) on cgroup v2");
    }
    let mut allows = Vec::new();
    for r in rest {
        match (r.allow, r.rule.as_str()) {
            (true, rule) => allows.push(parse_allow(rule)?),
            // A later deny of everything, as v1 reads it: every allow
            // before it is gone (a bundle's own rules may start so, after
            // the defaults).
            (false, "a *:* rwm") => allows.clear(),
            (false, rule) => bail!(
                "device rule {rule:?}: only allows, or a deny of everything, may follow the \
                 first deny on cgroup v2"
            ),
        }
    }
    Ok(allows)
}

/// Parse one rule in the `devices.allow` syntax (`c 1:3 rwm`), as
/// `--device-cgroup-rule` takes it.
pub fn parse_allow(rule: &str) -> Result<Allow> {
    let bad = || {
        anyhow::anyhow!("device rule {rule:?}: expected TYPE MAJOR:MINOR ACCESS, e.g. c 1:3 rwm")
    };
    let parts: Vec<&str> = rule.split_whitespace().collect();
    let [typ, numbers, access] = parts.as_slice() else {
        return Err(bad());
    };
    let typ = match *typ {
        "a" => None,
        "b" => Some(1),
        "c" => Some(2),
        _ => return Err(bad()),
    };
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let num = |n: &str| -> Result<Option<i32>> {
        if n == "*" {
            Ok(None)
        } else {
            n.parse().map(Some).map_err(|_| bad())
        }
    };
    let mut bits = 0;
    for c in access.chars() {
        bits |= match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => return Err(bad()),
        };
    }
    Ok(Allow {
        typ,
        major: num(major)?,
        minor: num(minor)?,
        access: bits,
    })
}

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8, // dst in the low 4 bits, src in the high 4
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

// The opcodes we need (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const MOV64_REG: u8 = 0xbf; // dst = src
const MOV64_IMM: u8 = 0xb7; // dst = imm
const AND64_IMM: u8 = 0x57; // dst &= imm
const RSH64_IMM: u8 = 0x77; // dst >>= imm
const JNE_IMM: u8 = 0x55; // if dst != imm goto pc + off
const EXIT: u8 = 0x95; // return r0

// ANCHOR: program
/// The device program for `allows`. The kernel passes a
/// `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
/// in r1, where `access_type` is `access << 16 | type`. For each rule: if
/// the type, major and minor match and no access bit outside the rule's is
/// asked for, return 1 (allow). After the last rule, return 0 (deny).
pub fn program(allows: &[Allow]) -> Vec<Insn> {
    let mut prog = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),      // r2 = ctx->access_type
        insn(MOV64_REG, 3, 2, 0, 0),      // r3 = r2
        insn(AND64_IMM, 3, 0, 0, 0xffff), // r3 = type
        insn(RSH64_IMM, 2, 0, 0, 16),     // r2 = access
        insn(LDX_MEM_W, 4, 1, 4, 0),      // r4 = ctx->major
        insn(LDX_MEM_W, 5, 1, 8, 0),      // r5 = ctx->minor
    ];
    for allow in allows {
        let mut block = Vec::new();
        // Each test jumps past the rest of this block when it fails; the
        // offsets are filled in once the block's length is known.
        if let Some(t) = allow.typ {
            block.push(insn(JNE_IMM, 3, 0, 0, t));
        }
        if let Some(major) = allow.major {
            block.push(insn(JNE_IMM, 4, 0, 0, major));
        }
        if let Some(minor) = allow.minor {
            block.push(insn(JNE_IMM, 5, 0, 0, minor));
        }
        block.push(insn(MOV64_REG, 0, 2, 0, 0)); // r0 = access
        block.push(insn(AND64_IMM, 0, 0, 0, !allow.access)); // r0 = access bits not allowed
        block.push(insn(JNE_IMM, 0, 0, 0, 0)); // any left: no match
        block.push(insn(MOV64_IMM, 0, 0, 0, 1)); // allow
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_IMM {
                ins.off = (len - i - 1) as i16;
            }
        }
        prog.extend(block);
    }
    prog.push(insn(MOV64_IMM, 0, 0, 0, 0)); // deny
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}
// ANCHOR_END: program

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;

/// `union bpf_attr`, as raw bytes: big enough for every field we set.
#[repr(C, align(8))]
struct BpfAttr([u8; 128]);

impl BpfAttr {
    fn put(&mut self, offset: usize, bytes: &[u8]) {
        self.0[offset..offset + bytes.len()].copy_from_slice(bytes);
    }
}

// ANCHOR: attach_v2
/// Load the device program for `rules` and attach it to the cgroup v2
/// directory `cgroup`. It stays attached (and alive) as long as the cgroup
/// exists.
pub fn attach_v2(cgroup: &Path, rules: &[DeviceRule]) -> Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let prog = program(&allowlist(rules)?);
    let license = c"GPL";
    let mut attr = BpfAttr([0; 128]);
    attr.put(0, &BPF_PROG_TYPE_CGROUP_DEVICE.to_ne_bytes());
    attr.put(4, &(prog.len() as u32).to_ne_bytes());
    attr.put(8, &(prog.as_ptr() as u64).to_ne_bytes());
    attr.put(16, &(license.as_ptr() as u64).to_ne_bytes());
    // SAFETY: attr is a zeroed bpf_attr whose pointers (program, license)
    // stay valid for the duration of the call.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, &attr as *const BpfAttr, 128) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error())
            .context("bpf(BPF_PROG_LOAD) of the device program (the verifier refused it)");
    }
    // SAFETY: the kernel just returned this new descriptor; we own it.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let dir = std::fs::File::open(cgroup).with_context(|| format!("open {}", cgroup.display()))?;
    let mut attr = BpfAttr([0; 128]);
    attr.put(0, &(dir.as_raw_fd() as u32).to_ne_bytes());
    attr.put(4, &(prog_fd.as_raw_fd() as u32).to_ne_bytes());
    attr.put(8, &BPF_CGROUP_DEVICE.to_ne_bytes());
    // SAFETY: attr holds two open descriptors and constants.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_ATTACH, &attr as *const BpfAttr, 128) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("bpf(BPF_PROG_ATTACH) to {}", cgroup.display()));
    }
    Ok(())
}
// ANCHOR_END: attach_v2

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules_become_an_allowlist() {
        let rules: Vec<DeviceRule> = ["a *:* rwm", "c 1:3 rwm", "c 136:* rwm", "b *:* m"]
            .iter()
            .enumerate()
            .map(|(i, r)| DeviceRule {
                allow: i > 0,
                rule: (*r).into(),
            })
            .collect();
        let allows = allowlist(&rules).expect("valid rules");
        assert_eq!(allows.len(), 3, "the leading deny-all is the default");
        assert_eq!(
            allows[0],
            Allow {
                typ: Some(2),
                major: Some(1),
                minor: Some(3),
                access: 7
            }
        );
        assert_eq!(
            allows[1],
            Allow {
                typ: Some(2),
                major: Some(136),
                minor: None,
                access: 7
            }
        );
        let prog = program(&allows);
        assert_eq!(prog.last().map(|i| i.code), Some(EXIT));
    }

    #[test]
    fn a_later_deny_of_everything_clears_the_allows_before_it() {
        let rule = |allow: bool, rule: &str| DeviceRule {
            allow,
            rule: rule.into(),
        };
        let rules = [
            rule(false, "a *:* rwm"),
            rule(true, "c 1:3 rwm"),
            rule(false, "a *:* rwm"),
            rule(true, "c 1:5 rwm"),
        ];
        let allows = allowlist(&rules).expect("valid rules");
        assert_eq!(
            allows.len(),
            1,
            "only the allow after the second deny: {allows:?}"
        );
        assert_eq!(allows[0].minor, Some(5));
        let err = allowlist(&[rule(false, "a *:* rwm"), rule(false, "c 1:3 rwm")])
            .expect_err("a partial deny cannot be expressed");
        assert!(err.to_string().contains("only allows"), "{err}");
    }
}
