//! OCI bundles that join an existing namespace by path, or ask for a user
//! namespace with uid/gid mappings. As root; each assertion reads the
//! result back from the kernel (namespace inodes, /proc/self/uid_map, the
//! owner of a file on the host).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{
    TempDir, assert_nothing_left, rootfs, script_bundle as bundle, stderr, stdout, tincan,
};

/// A `sleep` in a new namespace of `kind` (unshare(1)), killed when
/// dropped: the namespace the container joins, owned by the test.
struct Held {
    child: Child,
    kind: &'static str,
}

impl Held {
    /// `kind` as in /proc/self/ns (`net`, `pid`).
    fn new(kind: &'static str) -> Held {
        // A new pid namespace holds only the children of unshare: it
        // forks, and --kill-child kills sleep (the namespace's init) when
        // unshare dies, so that nothing outlives the test.
        let args: &[&str] = match kind {
            "pid" => &["--pid", "--kill-child", "sleep", "600"],
            _ => &["--net", "sleep", "600"],
        };
        let child = Command::new("unshare")
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .expect("run unshare ... sleep");
        let held = Held { child, kind };
        // Wait until the namespace exists (for pid: until sleep, its first
        // process, is in it).
        let ours = std::fs::metadata(format!("/proc/self/ns/{kind}"))
            .expect("stat")
            .ino();
        for _ in 0..500 {
            if std::fs::metadata(held.path()).is_ok_and(|m| m.ino() != ours) {
                return held;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("unshare never made a {kind} namespace");
    }
    fn path(&self) -> String {
        // For pid, /proc/<unshare>/ns/pid_for_children is the new namespace.
        match self.kind {
            "pid" => format!("/proc/{}/ns/pid_for_children", self.child.id()),
            kind => format!("/proc/{}/ns/{kind}", self.child.id()),
        }
    }
    fn inode(&self) -> u64 {
        std::fs::metadata(self.path())
            .expect("stat namespace")
            .ino()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn set_namespace_path(json: &mut serde_json::Value, typ: &str, path: &str) {
    let list = json["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces");
    let entry = list
        .iter_mut()
        .find(|n| n["type"] == typ)
        .unwrap_or_else(|| panic!("the default spec has a {typ} namespace"));
    entry["path"] = path.into();
}

#[test]
fn container_joins_a_network_namespace_by_path() {
    if !step01::testing::need_root() {
        return;
    }
    let held = Held::new("net");
    let image = rootfs("join-net");
    let state = TempDir::new("state-join-net");
    let out = TempDir::new("out-join-net");
    let b = bundle(
        "join-net",
        image.path(),
        out.path(),
        "ls -iL /proc/self/ns/net; ls /sys/class/net",
        |json| set_namespace_path(json, "network", &held.path()),
    );
    let run = tincan(
        state.path(),
        &[
            "run",
            "--bundle",
            b.path().to_str().expect("utf-8"),
            "tincan-join-net",
        ],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let text = stdout(&run);
    let inode: u64 = text
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no inode in {text:?}"));
    assert_eq!(inode, held.inode(), "the container's net namespace");
    // The fresh namespace of `unshare --net` has only a loopback, and
    // /sys (mounted after the join) shows that namespace, not the host's.
    assert_eq!(text.lines().nth(1), Some("lo"), "{text}");
    assert_nothing_left(state.path(), "tincan-join-net");
}

#[test]
fn container_joins_a_pid_namespace_by_path() {
    if !step01::testing::need_root() {
        return;
    }
    let held = Held::new("pid");
    let image = rootfs("join-pid");
    let state = TempDir::new("state-join-pid");
    let out = TempDir::new("out-join-pid");
    let b = bundle(
        "join-pid",
        image.path(),
        out.path(),
        // /proc, mounted inside, shows the joined namespace: its pid 1 is
        // the test's sleep, and the container's shell is not pid 1.
        "ls -iL /proc/self/ns/pid; cat /proc/1/comm; echo $$",
        |json| set_namespace_path(json, "pid", &held.path()),
    );
    let run = tincan(
        state.path(),
        &[
            "run",
            "--bundle",
            b.path().to_str().expect("utf-8"),
            "tincan-join-pid",
        ],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let text = stdout(&run);
    let lines: Vec<&str> = text.lines().collect();
    let inode: u64 = lines[0]
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no inode in {text:?}"));
    assert_eq!(inode, held.inode(), "the container's pid namespace");
    assert_eq!(lines[1], "sleep", "{text}");
    assert_ne!(
        lines[2], "1",
        "the container is not the namespace's init: {text}"
    );
    assert_nothing_left(state.path(), "tincan-join-pid");
}

#[test]
fn bad_namespace_paths_are_one_line_and_leave_nothing() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("join-bad");
    let state = TempDir::new("state-join-bad");
    let out = TempDir::new("out-join-bad");
    let cases: &[(&str, &str, &str)] = &[
        (
            "network",
            "/proc/self/ns/uts",
            "is a uts namespace, not a net",
        ),
        ("network", "/etc/hostname", "not a namespace file"),
        ("ipc", "/no/such/namespace", "No such file"),
        ("network", "relative/ns", "must be an absolute path"),
        (
            "mount",
            "/proc/self/ns/mnt",
            "linux.namespaces mnt with a path",
        ),
        (
            "user",
            "/proc/self/ns/user",
            "linux.namespaces user with a path",
        ),
    ];
    for (typ, path, expected) in cases {
        let b = bundle("join-bad", image.path(), out.path(), "true", |json| {
            if *typ == "user" {
                json["linux"]["namespaces"]
                    .as_array_mut()
                    .expect("namespaces")
                    .push(serde_json::json!({"type": "user"}));
            }
            set_namespace_path(json, typ, path)
        });
        let run = tincan(
            state.path(),
            &[
                "run",
                "--bundle",
                b.path().to_str().expect("utf-8"),
                "tincan-join-bad",
            ],
        );
        let err = stderr(&run);
        assert!(!run.status.success(), "{typ} {path}: accepted");
        assert_eq!(err.lines().count(), 1, "{typ} {path}: {err}");
        assert!(
            err.contains(expected) && err.contains(path.trim_start_matches("/proc/self/ns/")),
            "{typ} {path}: {err}"
        );
        assert_nothing_left(state.path(), "tincan-join-bad");
    }
}

#[test]
fn user_namespace_maps_root_to_an_unprivileged_host_range() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("userns");
    // The image belongs to the host's root, which is nobody inside: tincan
    // cannot create mount points in it, so they exist beforehand (as in
    // any image).
    for dir in ["proc", "dev", "sys", "out"] {
        std::fs::create_dir_all(image.path().join(dir)).expect("mkdir mount point");
    }
    let state = TempDir::new("state-userns");
    let out = TempDir::new("out-userns");
    std::fs::set_permissions(out.path(), std::fs::Permissions::from_mode(0o777))
        .expect("chmod the volume");
    let b = bundle(
        "userns",
        image.path(),
        out.path(),
        "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; touch /out/made-inside",
        |json| {
            json["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces")
                .push(serde_json::json!({"type": "user"}));
            let map = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            json["linux"]["uidMappings"] = map.clone();
            json["linux"]["gidMappings"] = map;
        },
    );
    let run = tincan(
        state.path(),
        &[
            "run",
            "--bundle",
            b.path().to_str().expect("utf-8"),
            "tincan-userns",
        ],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let text = stdout(&run);
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0"], "uid inside: {text}");
    assert_eq!(lines[1], ["0"], "gid inside: {text}");
    assert_eq!(lines[2], ["0", "100000", "65536"], "uid_map: {text}");
    assert_eq!(lines[3], ["0", "100000", "65536"], "gid_map: {text}");
    // Root inside wrote the file; the host's disk says who that really is.
    let meta = std::fs::metadata(out.path().join("made-inside")).expect("file made inside");
    assert_eq!((meta.uid(), meta.gid()), (100000, 100000));
    assert_nothing_left(state.path(), "tincan-userns");
}

#[test]
fn user_namespace_without_maps_or_with_an_unmapped_user_is_refused() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("userns-bad");
    let state = TempDir::new("state-userns-bad");
    let out = TempDir::new("out-userns-bad");
    let map = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (serde_json::json!({}), "no linux.uidMappings"),
        (
            serde_json::json!({"uidMappings": map, "gidMappings": map, "user": 70000}),
            "process.user.uid 70000 is not mapped",
        ),
        (
            serde_json::json!({"uidMappings": [{"containerID": 0, "hostID": 1, "size": 0}], "gidMappings": map}),
            "linux.uidMappings[0]",
        ),
        (
            serde_json::json!({"uidMappings": map, "gidMappings": map, "join": "/proc/self/ns/net"}),
            "a new user namespace cannot join the net namespace",
        ),
    ];
    for (case, expected) in cases {
        let b = bundle("userns-bad", image.path(), out.path(), "true", |json| {
            json["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces")
                .push(serde_json::json!({"type": "user"}));
            for key in ["uidMappings", "gidMappings"] {
                if let Some(v) = case.get(key) {
                    json["linux"][key] = v.clone();
                }
            }
            if let Some(uid) = case.get("user") {
                json["process"]["user"]["uid"] = uid.clone();
            }
            if let Some(path) = case.get("join").and_then(|p| p.as_str()) {
                set_namespace_path(json, "network", path);
            }
        });
        let run = tincan(
            state.path(),
            &[
                "run",
                "--bundle",
                b.path().to_str().expect("utf-8"),
                "tincan-userns-bad",
            ],
        );
        let err = stderr(&run);
        assert!(!run.status.success(), "{case}: accepted");
        assert_eq!(err.lines().count(), 1, "{case}: {err}");
        assert!(err.contains(expected), "{case}: {err}");
        assert_nothing_left(state.path(), "tincan-userns-bad");
    }
}

/// `tincan delete --force` of a container when dropped, even if a test fails.
struct Deleted<'a>(&'a Path, &'a str);

impl Drop for Deleted<'_> {
    fn drop(&mut self) {
        let _ = Command::new(common::TINCAN)
            .arg("--root")
            .arg(self.0)
            .args(["delete", "--force", self.1])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn exec_enters_the_user_namespace_as_its_root() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("userns-exec");
    for dir in ["proc", "dev", "sys", "out"] {
        std::fs::create_dir_all(image.path().join(dir)).expect("mkdir mount point");
    }
    let state = TempDir::new("state-userns-exec");
    let out = TempDir::new("out-userns-exec");
    std::fs::set_permissions(out.path(), std::fs::Permissions::from_mode(0o777))
        .expect("chmod the volume");
    let b = bundle(
        "userns-exec",
        image.path(),
        out.path(),
        "sleep 600",
        |json| {
            json["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces")
                .push(serde_json::json!({"type": "user"}));
            let map = serde_json::json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
            json["linux"]["uidMappings"] = map.clone();
            json["linux"]["gidMappings"] = map;
        },
    );
    let id = "tincan-userns-exec";
    let _delete = Deleted(state.path(), id);
    // `create` leaves the container holding stdout: detach its stdio.
    let errors = out.path().join("create-stderr");
    let created = Command::new(common::TINCAN)
        .arg("--root")
        .arg(state.path())
        .args(["create", "--bundle", b.path().to_str().expect("utf-8"), id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&errors).expect("stderr file"))
        .status()
        .expect("create");
    assert!(
        created.success(),
        "{}",
        std::fs::read_to_string(&errors).unwrap_or_default()
    );
    let started = tincan(state.path(), &["start", id]);
    assert!(started.status.success(), "{}", stderr(&started));
    let process = b.path().join("exec.json");
    std::fs::write(
        &process,
        serde_json::json!({
            "args": ["/bin/sh", "-c", "id -u; touch /out/made-by-exec"],
            "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]
        })
        .to_string(),
    )
    .expect("write process.json");
    let exec = tincan(
        state.path(),
        &["exec", "--process", process.to_str().expect("utf-8"), id],
    );
    assert!(exec.status.success(), "{}", stderr(&exec));
    assert_eq!(stdout(&exec).trim(), "0");
    let meta = std::fs::metadata(out.path().join("made-by-exec")).expect("file made by exec");
    assert_eq!((meta.uid(), meta.gid()), (200000, 200000));
}
