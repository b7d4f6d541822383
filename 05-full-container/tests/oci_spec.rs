//! The OCI runtime spec as engines use it: each area checked by its effect
//! inside the container, not only by the config being accepted. As root.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{TINCAN, TempDir, assert_nothing_left, rootfs, script_bundle as bundle};

/// `tincan run --bundle B ID`: success and stderr.
fn run(state: &Path, bundle: &Path, id: &str) -> (bool, String) {
    let out = Command::new(TINCAN)
        .env("TINCAN_NET", "none")
        .arg("--root")
        .arg(state)
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .output()
        .expect("run tincan");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn read(out: &Path, file: &str) -> String {
    std::fs::read_to_string(out.join(file))
        .unwrap_or_else(|e| panic!("read /out/{file}: {e}"))
        .trim()
        .to_string()
}

/// The lines `NoNewPrivs:` and `Seccomp:` of /proc/self/status, written to
/// /out/nnp: the flag as configured, and the filter in force (2) either way.
const NNP: &str = "grep -e NoNewPrivs -e 'Seccomp:' /proc/self/status > /out/nnp";

#[test]
fn runc_spec_ambient_capabilities_and_unknown_properties_are_accepted() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("oci-runc");
    let state = TempDir::new("state-oci-runc");
    let out = TempDir::new("out-oci-runc");
    // What `runc spec` writes: ambient capabilities that are neither
    // inheritable nor needed; and a property no spec version defines.
    let b = bundle(
        "oci-runc",
        image.path(),
        out.path(),
        "grep CapAmb /proc/self/status > /out/amb",
        |json| {
            json["process"]["capabilities"]["ambient"] =
                serde_json::json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
            json["process"]["capabilities"]
                .as_object_mut()
                .expect("capabilities")
                .remove("inheritable");
            json["someFutureProperty"] = serde_json::json!({"enabled": true});
        },
    );
    let (ok, err) = run(state.path(), b.path(), "tincan-oci-runc");
    assert!(ok, "{err}");
    assert_eq!(
        read(out.path(), "amb"),
        "CapAmb:\t0000000000000000",
        "none raised"
    );
    assert_nothing_left(state.path(), "tincan-oci-runc");
}

#[test]
fn no_new_privileges_is_what_the_config_says_also_with_seccomp() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("oci-nnp");
    let state = TempDir::new("state-oci-nnp");
    let profile = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"}]
    });
    for (nnp, expected) in [
        (false, "NoNewPrivs:\t0\nSeccomp:\t2"),
        (true, "NoNewPrivs:\t1\nSeccomp:\t2"),
    ] {
        let out = TempDir::new(&format!("out-oci-nnp-{nnp}"));
        let b = bundle("oci-nnp", image.path(), out.path(), NNP, |json| {
            json["process"]["noNewPrivileges"] = nnp.into();
            json["linux"]["seccomp"] = profile.clone();
        });
        let (ok, err) = run(state.path(), b.path(), "tincan-oci-nnp");
        assert!(ok, "noNewPrivileges {nnp}: {err}");
        assert_eq!(read(out.path(), "nnp"), expected, "noNewPrivileges {nnp}");
    }
    assert_nothing_left(state.path(), "tincan-oci-nnp");
}

#[test]
fn relative_cgroups_path_and_cpu_shares_land_in_the_container_cgroup() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("oci-cgroup");
    let state = TempDir::new("state-oci-cgroup");
    let out = TempDir::new("out-oci-cgroup");
    let b = bundle(
        "oci-cgroup",
        image.path(),
        out.path(),
        "cat /proc/self/cgroup > /out/cgroup; sleep 1",
        |json| {
            json["linux"]["cgroupsPath"] = "tincan-rel/oci-cgroup".into();
            json["linux"]["resources"] = serde_json::json!({"cpu": {"shares": 512}});
        },
    );
    // Look at the cgroup while the container runs.
    let mut child = Command::new(TINCAN)
        .env("TINCAN_NET", "none")
        .arg("--root")
        .arg(state.path())
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg("tincan-oci-cgroup")
        .spawn()
        .expect("run tincan");
    let relative = Path::new("tincan/tincan-rel/oci-cgroup");
    let (dir, file, expected) = match step03::version::Hierarchy::detect().expect("cgroups") {
        step03::version::Hierarchy::V1 { mounts } => {
            (mounts["cpu"].join(relative), "cpu.shares", "512")
        }
        step03::version::Hierarchy::V2 { mount } => (mount.join(relative), "cpu.weight", "20"),
    };
    // The weight file exists (with its default) as soon as the cgroup
    // does, before tincan writes the limit; the container's first line of
    // output means its limits are in place.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(out.path().join("cgroup")).map_or(true, |t| t.is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the container never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(dir.join(file).exists(), "no {}", dir.display());
    let value = std::fs::read_to_string(dir.join(file)).expect("read the weight");
    assert!(child.wait().expect("wait").success());
    assert_eq!(value.trim(), expected, "{file}");
    assert!(!dir.exists(), "the cgroup is removed with the container");
    let made_for_it = dir.parent().expect("tincan/tincan-rel");
    assert!(!made_for_it.exists(), "and so is {}", made_for_it.display());
}

#[test]
fn create_with_an_id_in_use_fails_and_touches_nothing() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("oci-dup");
    let state = TempDir::new("state-oci-dup");
    let out = TempDir::new("out-oci-dup");
    let b = bundle("oci-dup", image.path(), out.path(), "sleep 600", |_| {});
    let tincan = |args: &[&str]| {
        let out = common::tincan_quiet(state.path(), out.path(), args);
        (out.ok, out.stderr)
    };
    let bundle_arg = b.path().to_str().expect("utf-8");
    let (first, err) = tincan(&["create", "--bundle", bundle_arg, "tincan-oci-dup"]);
    assert!(first, "{err}");
    let before =
        std::fs::read_to_string(state.path().join("tincan-oci-dup/state.json")).expect("state");
    let (second, err) = tincan(&["create", "--bundle", bundle_arg, "tincan-oci-dup"]);
    assert!(!second, "a second create with the same id succeeded");
    assert!(
        err.contains("already exists") && err.lines().count() == 1,
        "{err}"
    );
    let after = std::fs::read_to_string(state.path().join("tincan-oci-dup/state.json"))
        .expect("state kept");
    assert_eq!(before, after, "the first container's state is untouched");
    let (state_json, _) = tincan(&["state", "tincan-oci-dup"]);
    assert!(state_json, "the first container is still known");
    let (deleted, err) = tincan(&["delete", "--force", "tincan-oci-dup"]);
    assert!(deleted, "{err}");
    assert_nothing_left(state.path(), "tincan-oci-dup");
}

#[test]
fn memory_swap_and_reservation_land_in_the_container_cgroup() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("oci-swap");
    let state = TempDir::new("state-oci-swap");
    let out = TempDir::new("out-oci-swap");
    // The container's own cgroup, read-only at /sys/fs/cgroup: v1's memory
    // hierarchy, or v2's one directory.
    let script = "cat /sys/fs/cgroup/memory/memory.soft_limit_in_bytes \
                  /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes > /out/mem 2>/dev/null \
                  || cat /sys/fs/cgroup/memory.low /sys/fs/cgroup/memory.swap.max > /out/mem";
    let memory = |swap: i64| serde_json::json!({"memory": {"limit": 64 << 20, "swap": swap, "reservation": 32 << 20}});
    let b = bundle("oci-swap", image.path(), out.path(), script, |json| {
        json["linux"]["resources"] = memory(96 << 20);
    });
    let (ok, err) = run(state.path(), b.path(), "tincan-oci-swap");
    assert!(ok, "{err}");
    let lines: Vec<String> = read(out.path(), "mem").lines().map(String::from).collect();
    // v1: the soft limit and memory+swap as given; v2: memory.low, and
    // memory.swap.max as swap alone (96 - 64 = 32 MiB).
    let expected = match step03::version::Hierarchy::detect().expect("cgroups") {
        step03::version::Hierarchy::V1 { .. } => [32 << 20, 96 << 20],
        step03::version::Hierarchy::V2 { .. } => [32 << 20, 32 << 20],
    };
    assert_eq!(
        lines,
        expected.map(|n: u64| n.to_string()),
        "reservation, swap"
    );
    assert_nothing_left(state.path(), "tincan-oci-swap");

    // Memory plus swap below the memory limit is refused, and nothing is made.
    let b = bundle("oci-swap-low", image.path(), out.path(), "true", |json| {
        json["linux"]["resources"] = memory(32 << 20);
    });
    let (ok, err) = run(state.path(), b.path(), "tincan-oci-swap-low");
    assert!(!ok, "swap below the limit must be refused");
    assert!(
        err.contains("memory.swap 33554432 is below memory.limit"),
        "{err}"
    );
    assert_nothing_left(state.path(), "tincan-oci-swap-low");
}
