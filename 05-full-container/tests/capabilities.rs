//! Capabilities for real: a child process reduces its sets, executes
//! `cat /proc/self/status`, and the kernel reports what the new program has.

use std::os::unix::process::CommandExt;
use std::process::Command;

use step05::capabilities::{
    CapabilitySet, ProcessCapabilities, apply, docker_default, drop_bounding, with_changes,
};
use step05::privileges::{become_user, set_no_new_privs};

/// The bitmask the kernel prints for a set (`CapEff: 00000000a80425fb`).
fn mask(set: &CapabilitySet) -> u64 {
    set.iter().map(|c| c.bitmask()).fold(0, |a, b| a | b)
}

/// Run `cat /proc/self/status` with `sets` applied (as `uid` when given) and
/// return the five Cap* lines as numbers: [bnd, eff, prm, inh, amb].
fn status_after(sets: &ProcessCapabilities, uid: Option<u32>) -> [u64; 5] {
    let sets = sets.clone();
    let mut cmd = Command::new("cat");
    cmd.arg("/proc/self/status");
    // SAFETY: the closure runs between fork and exec in the child; it only
    // makes system calls (and small allocations, which glibc makes safe
    // after fork) and reports failure as an io::Error.
    unsafe {
        cmd.pre_exec(move || {
            let to_io = |e: anyhow::Error| std::io::Error::other(format!("{e:#}"));
            drop_bounding(&sets.bounding).map_err(to_io)?;
            if let Some(uid) = uid {
                become_user(uid, uid, &[]).map_err(to_io)?;
            }
            apply(&sets).map_err(to_io)?;
            set_no_new_privs().map_err(to_io)
        });
    }
    let out = cmd.output().expect("run cat");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let field = |name: &str| {
        let line = text.lines().find(|l| l.starts_with(name)).expect(name);
        u64::from_str_radix(line.split_whitespace().nth(1).expect("value"), 16).expect("hex")
    };
    assert!(
        text.lines().any(|l| l == "NoNewPrivs:\t1"),
        "no_new_privs not set:\n{text}"
    );
    ["CapBnd:", "CapEff:", "CapPrm:", "CapInh:", "CapAmb:"].map(field)
}

#[test]
fn root_keeps_exactly_dockers_fourteen_after_exec() {
    if !step01::testing::need_root() {
        return;
    }
    let set = docker_default();
    let [bnd, eff, prm, inh, amb] = status_after(&ProcessCapabilities::uniform(set.clone()), None);
    let want = mask(&set);
    assert_eq!((bnd, eff, prm, inh, amb), (want, want, want, want, want));
    // Our own process still has more (the host's full set): the change was the child's alone.
    let own = step05::capabilities::current(caps::CapSet::Effective).expect("capget");
    assert!(
        mask(&own) & !want != 0,
        "the test process itself must keep its capabilities"
    );
}

#[test]
fn cap_drop_removes_from_the_bounding_set_for_good() {
    if !step01::testing::need_root() {
        return;
    }
    let set = with_changes(&[], &["NET_RAW".into(), "CHOWN".into()]).expect("valid names");
    let [bnd, eff, ..] = status_after(&ProcessCapabilities::uniform(set), None);
    let raw = caps::Capability::CAP_NET_RAW.bitmask();
    assert_eq!(bnd & raw, 0, "NET_RAW still in the bounding set");
    assert_eq!(eff & raw, 0, "NET_RAW still effective");
    assert_eq!(bnd.count_ones(), 12);
}

#[test]
fn a_non_root_user_gets_the_set_through_ambient_capabilities() {
    if !step01::testing::need_root() {
        return;
    }
    let set = with_changes(&[], &["ALL".into()]).expect("valid");
    let mut set = set;
    set.insert(caps::Capability::CAP_NET_BIND_SERVICE);
    let [bnd, eff, prm, _, amb] =
        status_after(&ProcessCapabilities::uniform(set.clone()), Some(1000));
    let want = mask(&set);
    assert_eq!((bnd, eff, prm, amb), (want, want, want, want));
    // And without ambient, uid 1000 has nothing after exec.
    let mut no_ambient = ProcessCapabilities::uniform(set);
    no_ambient.ambient = CapabilitySet::default();
    let [_, eff, prm, _, amb] = status_after(&no_ambient, Some(1000));
    assert_eq!((eff, prm, amb), (0, 0, 0));
}
