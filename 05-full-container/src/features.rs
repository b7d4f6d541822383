//! `tincan features`: what this runtime supports, as the OCI runtime spec's
//! `features.md` document that engines read before they write a config
//! (runc features, crun features). Every entry is a claim the tests keep:
//! the namespaces it creates, the capabilities it knows, the cgroup
//! versions and seccomp actions it honours.

use anyhow::{Context, Result};
use oci_spec::runtime::{
    CgroupBuilder, Features, FeaturesBuilder, LinuxFeatureBuilder, LinuxNamespaceType,
    LinuxSeccompAction, SeccompBuilder,
};

/// The runtime-spec versions tincan reads.
pub const OCI_VERSION_MIN: &str = "1.0.0";
/// The newest runtime-spec version tincan knows.
pub const OCI_VERSION_MAX: &str = "1.1.0";

/// The features document.
pub fn features() -> Result<Features> {
    use LinuxNamespaceType::*;
    use LinuxSeccompAction::*;
    let seccomp = SeccompBuilder::default()
        .enabled(true)
        .actions(vec![
            ScmpActAllow,
            ScmpActErrno,
            ScmpActKill,
            ScmpActKillThread,
            ScmpActKillProcess,
            ScmpActTrap,
            ScmpActLog,
            ScmpActTrace,
        ])
        .operators(
            [
                "SCMP_CMP_EQ",
                "SCMP_CMP_NE",
                "SCMP_CMP_LT",
                "SCMP_CMP_LE",
                "SCMP_CMP_GT",
                "SCMP_CMP_GE",
                "SCMP_CMP_MASKED_EQ",
            ]
            .map(String::from)
            .to_vec(),
        )
        .build()
        .context("build the seccomp features")?;
    let cgroup = CgroupBuilder::default()
        .v1(true)
        .v2(true)
        .systemd(false)
        .systemd_user(false)
        .build()
        .context("build the cgroup features")?;
    let linux = LinuxFeatureBuilder::default()
        .namespaces(vec![Mount, Pid, Network, Uts, Ipc, User, Cgroup])
        .capabilities(
            crate::capabilities::known()
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>(),
        )
        .cgroup(cgroup)
        .seccomp(seccomp)
        .build()
        .context("build the linux features")?;
    FeaturesBuilder::default()
        .oci_version_min(OCI_VERSION_MIN)
        .oci_version_max(OCI_VERSION_MAX)
        .hooks(crate::hooks::KINDS.map(String::from).to_vec())
        .mount_options(
            crate::rootfs::MOUNT_OPTIONS
                .iter()
                .chain(crate::propagation::PROPAGATION_OPTIONS)
                .map(|(name, _)| name.to_string())
                .collect::<Vec<_>>(),
        )
        .linux(linux)
        .build()
        .context("build the features document")
}

/// The features document as JSON, as `runc features` prints it.
pub fn json() -> Result<String> {
    serde_json::to_string_pretty(&features()?).context("serialize the features")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_name_the_namespaces_and_the_default_capabilities() {
        let json: serde_json::Value = serde_json::from_str(&json().expect("json")).expect("parse");
        assert_eq!(json["ociVersionMin"], OCI_VERSION_MIN);
        let namespaces = json["linux"]["namespaces"].as_array().expect("namespaces");
        assert!(namespaces.iter().any(|n| n == "pid"), "{namespaces:?}");
        let caps = json["linux"]["capabilities"].as_array().expect("caps");
        assert!(caps.iter().any(|c| c == "CAP_NET_RAW"), "{caps:?}");
        assert_eq!(json["linux"]["cgroup"]["systemd"], false);
        let hooks = json["hooks"].as_array().expect("hooks");
        assert_eq!(hooks.len(), 6, "all six hook kinds: {hooks:?}");
    }
}
