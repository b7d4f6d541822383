//! Capabilities: root's power, cut into about forty pieces (capabilities(7)).
//!
//! Since Linux 2.2 "root" is not one privilege but a set of capabilities
//! (`CAP_SYS_ADMIN`, `CAP_NET_RAW`, `CAP_SYS_MODULE`...), and every thread
//! carries five sets of them:
//!
//! - **bounding**: the ceiling. Nothing outside it can ever be gained again,
//!   not even by executing a setuid-root or file-capability binary. It can
//!   only shrink (`prctl(PR_CAPBSET_DROP)`).
//! - **permitted**: what the thread may switch on.
//! - **effective**: what the kernel actually checks right now.
//! - **inheritable**: what may survive an `execve` of a program whose file
//!   grants the same capabilities.
//! - **ambient**: what survives `execve` of an ordinary program, for a
//!   non-root user (it must also be permitted and inheritable).
//!
//! A container's PID 1 is usually uid 0. Because the kernel gives uid 0 every
//! capability *in the bounding set* at `execve`, the bounding set is the set
//! that really protects the host; the other four are reduced so that what a
//! process reports (`grep Cap /proc/self/status`) is what it has.
//!
//! Docker keeps 14 capabilities ([`DOCKER_DEFAULT`]): enough for a normal
//! distribution to run (chown files, bind port 80, switch users), but not
//! `CAP_SYS_ADMIN` (mount, most namespaces), `CAP_SYS_MODULE` (load kernel
//! code), `CAP_SYS_PTRACE`, `CAP_SYS_BOOT`... `--cap-add`/`--cap-drop` change
//! that set, by name, as `docker run` does.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use caps::{CapSet, Capability};

// ANCHOR: docker_default
/// Docker's default capability set (moby `oci/caps/defaults.go`): what a
/// process in a default container keeps of root's power.
pub const DOCKER_DEFAULT: [Capability; 14] = [
    Capability::CAP_CHOWN,            // chown files it does not own
    Capability::CAP_DAC_OVERRIDE,     // ignore file permission bits
    Capability::CAP_FSETID,           // keep setuid bits when modifying a file
    Capability::CAP_FOWNER,           // chmod/utime files it does not own
    Capability::CAP_MKNOD,            // create device nodes (the cgroup decides which work)
    Capability::CAP_NET_RAW,          // raw sockets: ping
    Capability::CAP_SETGID,           // switch groups (su, login, daemons dropping root)
    Capability::CAP_SETUID,           // switch users
    Capability::CAP_SETFCAP,          // set file capabilities
    Capability::CAP_SETPCAP,          // drop capabilities from its own bounding set
    Capability::CAP_NET_BIND_SERVICE, // bind ports below 1024
    Capability::CAP_SYS_CHROOT,       // chroot
    Capability::CAP_KILL,             // signal processes of other users
    Capability::CAP_AUDIT_WRITE,      // write to the audit log (login, sshd)
];
// ANCHOR_END: docker_default

/// A set of capabilities, kept sorted by number so that it prints the same
/// way every time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilitySet(BTreeMap<u8, Capability>);

impl CapabilitySet {
    /// Add one capability.
    pub fn insert(&mut self, cap: Capability) {
        self.0.insert(cap.index(), cap);
    }
    /// Remove one capability.
    pub fn remove(&mut self, cap: &Capability) {
        self.0.remove(&cap.index());
    }
    /// Is `cap` in the set?
    pub fn contains(&self, cap: &Capability) -> bool {
        self.0.contains_key(&cap.index())
    }
    /// Keep only the capabilities for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Capability) -> bool) {
        self.0.retain(|_, cap| keep(cap));
    }
    /// Empty the set.
    pub fn clear(&mut self) {
        self.0.clear();
    }
    /// The capabilities, by number.
    pub fn iter(&self) -> impl Iterator<Item = &Capability> {
        self.0.values()
    }
    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The set as the `caps` crate wants it.
    fn to_hash(&self) -> caps::CapsHashSet {
        self.iter().copied().collect()
    }
}

impl FromIterator<Capability> for CapabilitySet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut set = CapabilitySet::default();
        set.extend(iter);
        set
    }
}

impl Extend<Capability> for CapabilitySet {
    fn extend<I: IntoIterator<Item = Capability>>(&mut self, iter: I) {
        for cap in iter {
            self.insert(cap);
        }
    }
}

impl<'a> IntoIterator for &'a CapabilitySet {
    type Item = &'a Capability;
    type IntoIter = std::collections::btree_map::Values<'a, u8, Capability>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.values()
    }
}

impl IntoIterator for CapabilitySet {
    type Item = Capability;
    type IntoIter = std::collections::btree_map::IntoValues<u8, Capability>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_values()
    }
}

/// Docker's default set as a [`CapabilitySet`].
pub fn docker_default() -> CapabilitySet {
    DOCKER_DEFAULT.into_iter().collect()
}

/// Every capability this program knows, sorted by number.
pub fn known() -> CapabilitySet {
    caps::all().into_iter().collect()
}

/// Parse one capability name as `docker run --cap-add` accepts it:
/// `NET_RAW`, `net_raw` or `CAP_NET_RAW`.
pub fn parse_name(name: &str) -> Result<Capability> {
    let canonical = caps::to_canonical(name.trim());
    canonical.parse().map_err(|_| {
        anyhow::anyhow!(
            "unknown capability {name:?}; `tincan capabilities` lists the valid names \
             (see also capabilities(7))"
        )
    })
}

// ANCHOR: add_drop
/// Docker's default set changed by `--cap-add` and `--cap-drop` (names as in
/// [`parse_name`], or `ALL`). Drops apply first, then adds, as in Docker, so
/// `--cap-drop ALL --cap-add NET_BIND_SERVICE` keeps exactly one capability.
pub fn with_changes(add: &[String], drop: &[String]) -> Result<CapabilitySet> {
    let mut set = docker_default();
    for name in drop {
        if name.eq_ignore_ascii_case("ALL") {
            set.clear();
        } else {
            set.remove(&parse_name(name).context("in --cap-drop")?);
        }
    }
    for name in add {
        if name.eq_ignore_ascii_case("ALL") {
            set.extend(known());
        } else {
            set.insert(parse_name(name).context("in --cap-add")?);
        }
    }
    Ok(set)
}
// ANCHOR_END: add_drop

/// The five capability sets of a process, as the OCI runtime spec lists
/// them (`process.capabilities`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessCapabilities {
    /// The ceiling: can never be regained.
    pub bounding: CapabilitySet,
    /// What the kernel checks.
    pub effective: CapabilitySet,
    /// What the process may switch on.
    pub permitted: CapabilitySet,
    /// What may pass through `execve` of a file with file capabilities.
    pub inheritable: CapabilitySet,
    /// What passes through `execve` of any program, even for a non-root user.
    pub ambient: CapabilitySet,
}

impl ProcessCapabilities {
    /// All five sets equal to `set`: what `docker run` does. (Docker leaves
    /// ambient empty; we fill it so that `--user 1000` keeps the same
    /// capabilities as root would, which makes `--cap-add` easy to see.)
    pub fn uniform(set: CapabilitySet) -> ProcessCapabilities {
        ProcessCapabilities {
            bounding: set.clone(),
            effective: set.clone(),
            permitted: set.clone(),
            inheritable: set.clone(),
            ambient: set,
        }
    }

    /// Check the rules the kernel will enforce, so that a bad configuration
    /// fails with a sentence instead of an `EPERM` halfway through set-up.
    pub fn validate(&self) -> Result<()> {
        self.validate_within(&current_bounding()?)
    }

    /// [`Self::validate`] against a given bounding set `ceiling` (tincan's
    /// own, in `validate`).
    pub fn validate_within(&self, ceiling: &CapabilitySet) -> Result<()> {
        if let Some(cap) = self.effective.iter().find(|c| !self.permitted.contains(c)) {
            bail!("capability {cap} is effective but not permitted; add it to the permitted set");
        }
        for cap in self.ambient.iter() {
            if !self.permitted.contains(cap) || !self.inheritable.contains(cap) {
                bail!(
                    "ambient capability {cap} must also be permitted and inheritable (capabilities(7))"
                );
            }
        }
        // The bounding set can only shrink: asking for a capability that
        // tincan's own bounding set lacks can never succeed.
        let all = self
            .bounding
            .iter()
            .chain(self.permitted.iter())
            .chain(self.inheritable.iter())
            .chain(self.effective.iter());
        for cap in all {
            if !ceiling.contains(cap) {
                bail!(
                    "capability {cap} is not in the bounding set tincan runs with \
                     (CapBnd in /proc/self/status), so no container started from here can have it; \
                     remove it (--cap-drop {})",
                    cap.to_string().trim_start_matches("CAP_")
                );
            }
        }
        Ok(())
    }
}

/// The calling thread's bounding set.
pub fn current_bounding() -> Result<CapabilitySet> {
    let set = caps::read(None, CapSet::Bounding)
        .map_err(|e| anyhow::anyhow!("read the bounding set (prctl PR_CAPBSET_READ): {e}"))?;
    Ok(set.into_iter().collect())
}

/// Read one capability set of the calling thread (`capget(2)`).
pub fn current(set: CapSet) -> Result<CapabilitySet> {
    let caps = caps::read(None, set).map_err(|e| anyhow::anyhow!("capget {set:?}: {e}"))?;
    Ok(caps.into_iter().collect())
}

// ANCHOR: drop_bounding
/// Shrink the bounding set to `keep`. Must run while the process still has
/// `CAP_SETPCAP` in its effective set, i.e. before [`apply`]. Capabilities
/// that are already out of the bounding set are left alone: they cannot be
/// raised again, and trying (this host lacks `CAP_SYS_RESOURCE`) is an error.
pub fn drop_bounding(keep: &CapabilitySet) -> Result<()> {
    // ANCHOR: lab-05-drop-caps-bounding
    for cap in current_bounding()? {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(|e| anyhow::anyhow!("prctl PR_CAPBSET_DROP {cap}: {e}"))?;
        }
    }
    Ok(())
    // ANCHOR_END: lab-05-drop-caps-bounding
}
// ANCHOR_END: drop_bounding

// ANCHOR: apply
/// Set the effective, inheritable, permitted and ambient sets (`capset(2)`,
/// `prctl(PR_CAP_AMBIENT)`). Call after [`drop_bounding`] and after switching
/// to the container's user.
///
/// The order matters because every `capset` must leave effective ⊆ permitted:
/// shrink effective first, then inheritable, then permitted; ambient last,
/// since an ambient capability must be both permitted and inheritable.
pub fn apply(sets: &ProcessCapabilities) -> Result<()> {
    // ANCHOR: lab-05-drop-caps-apply
    let steps = [
        (CapSet::Effective, &sets.effective),
        (CapSet::Inheritable, &sets.inheritable),
        (CapSet::Permitted, &sets.permitted),
    ];
    for (which, set) in steps {
        caps::set(None, which, &set.to_hash())
            .map_err(|e| anyhow::anyhow!("capset {which:?} to {}: {e}", names(set)))?;
    }
    caps::set(None, CapSet::Ambient, &sets.ambient.to_hash())
        .map_err(|e| anyhow::anyhow!("prctl PR_CAP_AMBIENT_RAISE {}: {e}", names(&sets.ambient)))?;
    Ok(())
    // ANCHOR_END: lab-05-drop-caps-apply
}
// ANCHOR_END: apply

/// Names of a set, comma-separated, without the `CAP_` prefix: `CHOWN,KILL`.
pub fn names(set: &CapabilitySet) -> String {
    if set.is_empty() {
        return "(none)".into();
    }
    set.iter()
        .map(|c| c.to_string().trim_start_matches("CAP_").to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The `tincan capabilities` listing: every capability, whether Docker keeps
/// it, and whether this machine's bounding set has it.
pub fn listing() -> Result<String> {
    let bounding = current_bounding()?;
    let default = docker_default();
    let mut table =
        step01::report::Table::new(["capability", "docker default", "host bounding set"]);
    for cap in known() {
        let host = if step01::report::redacting() {
            "[HOST]"
        } else if bounding.contains(&cap) {
            "yes"
        } else {
            "no"
        };
        let keep = if default.contains(&cap) { "kept" } else { "-" };
        table.row([cap.to_string(), keep.to_string(), host.to_string()]);
    }
    Ok(table.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_name_accepts_docker_spellings() {
        for name in ["NET_RAW", "net_raw", "CAP_NET_RAW", " cap_net_raw "] {
            assert_eq!(parse_name(name).expect(name), Capability::CAP_NET_RAW);
        }
    }

    #[test]
    fn parse_name_rejects_unknown_with_a_hint() {
        let err = format!("{:#}", parse_name("NET_RAWW").expect_err("unknown"));
        assert!(
            err.contains("NET_RAWW") && err.contains("tincan capabilities"),
            "{err}"
        );
    }

    #[test]
    fn docker_default_has_fourteen_and_no_sys_admin() {
        let set = docker_default();
        assert_eq!(set.len(), 14);
        assert!(!set.contains(&Capability::CAP_SYS_ADMIN));
        assert!(!set.contains(&Capability::CAP_SYS_RESOURCE));
    }

    #[test]
    fn with_changes_drops_then_adds() {
        let set = with_changes(&["net_bind_service".into()], &["ALL".into()]).expect("valid");
        assert_eq!(names(&set), "NET_BIND_SERVICE");
        let set = with_changes(&["SYS_PTRACE".into()], &["NET_RAW".into()]).expect("valid");
        assert!(set.contains(&Capability::CAP_SYS_PTRACE));
        assert!(!set.contains(&Capability::CAP_NET_RAW));
        let err = with_changes(&[], &["BOGUS".into()]).expect_err("unknown");
        assert!(format!("{err:#}").starts_with("in --cap-drop: unknown capability"));
    }

    #[test]
    fn validate_rejects_effective_outside_permitted() {
        let mut sets = ProcessCapabilities::uniform(docker_default());
        sets.permitted.remove(&Capability::CAP_KILL);
        sets.ambient.remove(&Capability::CAP_KILL);
        let err = sets.validate().expect_err("effective ⊄ permitted");
        assert!(err.to_string().contains("CAP_KILL"), "{err}");
    }

    #[test]
    fn validate_rejects_what_the_bounding_set_lacks() {
        let missing = Capability::CAP_SYS_RESOURCE;
        let mut ceiling = known();
        ceiling.remove(&missing);
        let mut asked = docker_default();
        assert!(
            ProcessCapabilities::uniform(asked.clone())
                .validate_within(&ceiling)
                .is_ok()
        );
        asked.insert(missing);
        let refused = ProcessCapabilities::uniform(asked).validate_within(&ceiling);
        assert!(
            refused.is_err_and(|e| e.to_string().contains(&missing.to_string())),
            "validate accepted a capability outside the bounding set"
        );
    }
}
