//! The conversion's rules, one test per rule.

use super::*;

fn bundle_with(json: &str) -> (tempdir::Dir, Result<RunConfig>) {
    let dir = tempdir::Dir::new();
    std::fs::create_dir(dir.path().join("rootfs")).expect("mkdir rootfs");
    std::fs::write(dir.path().join(CONFIG_FILE), json).expect("write config");
    let result = load(dir.path(), "tincan-test");
    (dir, result)
}

fn default_json() -> Value {
    serde_json::to_value(default_spec()).expect("serialize")
}

/// A tiny self-removing temp dir, to avoid a dependency for one test helper.
mod tempdir {
    pub struct Dir(std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("tincan-oci-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).expect("mkdir temp");
            Dir(p)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn default_spec_round_trips_into_a_run_config() {
    let (_dir, result) = bundle_with(&default_json().to_string());
    let config = result.expect("the default spec is supported");
    assert_eq!(config.args, ["sh"]);
    assert_eq!(config.hostname.as_deref(), Some("tincan"));
    assert!(
        config
            .namespaces
            .iter()
            .any(|n| n.kind == step02::Namespace::Pid)
    );
    assert!(config.no_new_privileges);
    assert_eq!(
        crate::capabilities::names(&config.capabilities.bounding),
        "KILL,NET_BIND_SERVICE,AUDIT_WRITE"
    );
}

#[test]
fn malformed_json_names_file_and_position() {
    let (_dir, result) = bundle_with("{\n  \"ociVersion\": \"1.0.2\",\n  \"process\" {}\n}");
    let err = format!("{:#}", result.expect_err("malformed"));
    assert!(err.contains("config.json: malformed JSON"), "{err}");
    assert!(err.contains("line 3 column"), "{err}");
}

#[test]
fn unknown_properties_are_ignored_as_the_spec_says() {
    let mut json = default_json();
    json["process"]["proces_typo"] = Value::Bool(true);
    json["someFutureField"] = serde_json::json!({"x": 1});
    let (_dir, result) = bundle_with(&json.to_string());
    let config = result.expect("unknown properties are not an error");
    assert_eq!(config.args, vec!["sh".to_string()], "the rest is honoured");
}

#[test]
fn unsupported_fields_are_rejected_never_ignored() {
    let cases: &[(&str, Value)] = &[
        (
            "/linux/seccomp",
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/agent.sock"}),
        ),
        (
            "/linux/resources/blockIO",
            serde_json::json!({"weight": 10}),
        ),
        ("/domainname", Value::String("x".into())),
    ];
    for (pointer, value) in cases {
        let mut json = default_json();
        let (parent, key) = pointer.rsplit_once('/').expect("pointer");
        let target = if parent.is_empty() {
            &mut json
        } else {
            json.pointer_mut(parent).expect(parent)
        };
        target[key] = value.clone();
        let (_dir, result) = bundle_with(&json.to_string());
        let err = format!("{:#}", result.expect_err(pointer));
        let field = pointer.trim_start_matches('/').replace('/', ".");
        assert!(err.contains(&field), "{pointer}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn resources_become_limits() {
    let mut json = default_json();
    json["linux"]["resources"] = serde_json::json!({
        "memory": {"limit": 67108864},
        "cpu": {"quota": 50000, "period": 100000},
        "pids": {"limit": 64},
        "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]
    });
    let (_dir, result) = bundle_with(&json.to_string());
    let config = result.expect("supported");
    let (limits, devices) = (config.limits, config.devices);
    use step03::limits::{Cpus, Limit};
    assert_eq!(limits.memory, Some(Limit::Value(64 << 20)));
    assert_eq!(limits.cpus, Some(Cpus::Fraction(0.5)));
    assert_eq!(limits.pids, Some(Limit::Value(64)));
    assert_eq!(devices[0].rule, "a *:* rwm", "deny all first");
    assert!(
        devices.iter().any(|d| d.allow && d.rule == "c 1:3 rw"),
        "{devices:?}"
    );
    assert_eq!(
        devices.last(),
        config::docker_devices().last(),
        "the standard devices last"
    );
}

#[test]
fn host_wide_sysctl_is_refused() {
    let mut json = default_json();
    json["linux"]["sysctl"] = serde_json::json!({"kernel.panic": "1"});
    let (_dir, result) = bundle_with(&json.to_string());
    let err = format!("{:#}", result.expect_err("not namespaced"));
    assert!(
        err.contains("kernel.panic") && err.contains("not namespaced"),
        "{err}"
    );
}

#[test]
fn missing_rootfs_is_one_line() {
    let mut json = default_json();
    json["root"]["path"] = Value::String("no-such-rootfs".into());
    let (_dir, result) = bundle_with(&json.to_string());
    let err = format!("{:#}", result.expect_err("missing rootfs"));
    assert!(
        err.contains("no-such-rootfs") && err.contains("not a directory"),
        "{err}"
    );
}

#[test]
fn write_default_refuses_to_overwrite() {
    let dir = tempdir::Dir::new();
    let path = write_default(dir.path()).expect("first write");
    assert!(path.exists());
    let err = write_default(dir.path()).expect_err("exists");
    assert!(
        format!("{err:#}").contains("exists; remove it first"),
        "{err:#}"
    );
}

#[test]
fn hooks_are_converted_and_bad_ones_refused_in_one_line() {
    let mut json = default_json();
    json["hooks"] = serde_json::json!({
        "prestart": [{"path": "/bin/true"}],
        "poststop": [{"path": "/bin/echo", "args": ["echo", "bye"], "env": ["A=1"], "timeout": 5}],
    });
    let (_dir, result) = bundle_with(&json.to_string());
    let hooks = result.expect("valid hooks").hooks;
    assert_eq!(
        hooks.prestart.len(),
        1,
        "the deprecated prestart is honoured"
    );
    assert_eq!(hooks.poststop[0].args, ["echo", "bye"]);
    assert_eq!(hooks.poststop[0].timeout, Some(5));
    let bad = [
        (
            serde_json::json!({"path": "true"}),
            "hooks.createRuntime[0].path",
        ),
        (
            serde_json::json!({"path": "/bin/true", "timeout": 0}),
            "hooks.createRuntime[0].timeout 0",
        ),
        (
            serde_json::json!({"path": "/bin/true", "env": ["A"]}),
            "hooks.createRuntime[0].env",
        ),
    ];
    for (hook, named) in bad {
        let mut json = default_json();
        json["hooks"] = serde_json::json!({ "createRuntime": [hook] });
        let (_dir, result) = bundle_with(&json.to_string());
        let err = format!("{:#}", result.expect_err(named));
        assert!(err.contains(named), "{named}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
