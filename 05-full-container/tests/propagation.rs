//! Mount propagation (OCI `linux.rootfsPropagation` and the propagation
//! options of `mounts`) and `linux.devices`, each checked by its effect
//! inside the container. As root.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    TINCAN, TempDir, assert_nothing_left, install, rootfs, script_bundle as bundle, which,
};
use nix::mount::{MntFlags, MsFlags, mount, umount2};

/// A host directory that is a shared mount point of its own (as systemd
/// makes `/`), unmounted with everything under it and removed when
/// dropped, even if the test fails.
struct SharedDir(TempDir);

impl SharedDir {
    fn new(tag: &str) -> SharedDir {
        let dir = TempDir::new(tag);
        let p = dir.path().to_path_buf();
        mount(Some(&p), &p, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .expect("bind onto itself");
        // From here on, dropping it unmounts it.
        let shared = SharedDir(dir);
        mount(
            None::<&str>,
            &p,
            None::<&str>,
            MsFlags::MS_SHARED,
            None::<&str>,
        )
        .expect("make-shared");
        shared
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for SharedDir {
    fn drop(&mut self) {
        for sub in ["host-sub", "inside"] {
            while umount2(&self.path().join(sub), MntFlags::MNT_DETACH).is_ok() {}
        }
        while umount2(self.path(), MntFlags::MNT_DETACH).is_ok() {}
    }
}

/// An image with `mount`, `stat` and `mknod` too.
fn image(tag: &str) -> TempDir {
    let image = rootfs(tag);
    for program in ["mount", "stat", "mknod"] {
        install(
            image.path(),
            &which(program),
            &Path::new("/bin").join(program),
        );
    }
    image
}

fn tincan_run(state: &Path, bundle: &Path, id: &str) -> std::process::Child {
    Command::new(TINCAN)
        .env("TINCAN_NET", "none")
        .arg("--root")
        .arg(state)
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run tincan")
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The optional fields (`shared:N`, `master:N`, `unbindable`) of the mount
/// at `point` in a mountinfo text, without their numbers.
fn propagation(mountinfo: &str, point: &str) -> String {
    // The last mount at `point` is the one on top, except at `/`: there the
    // first is the root of the namespace, the one every path starts from
    // (a read-only root stacks a bind of it on top, which nothing uses).
    let mut lines = mountinfo
        .lines()
        .filter(|l| l.split_whitespace().nth(4) == Some(point));
    let line = if point == "/" {
        lines.next()
    } else {
        lines.next_back()
    }
    .unwrap_or_else(|| panic!("{point} is not a mount point inside:\n{mountinfo}"));
    let tags: Vec<&str> = line
        .split_whitespace()
        .skip(6)
        .take_while(|f| *f != "-")
        .map(|t| t.split(':').next().unwrap_or(t))
        .collect();
    if tags.is_empty() {
        "private".into()
    } else {
        tags.join(" ")
    }
}

/// Add what mounting and mknod inside need to the default sets.
fn more_capabilities(json: &mut serde_json::Value) {
    let caps = [
        "CAP_SYS_ADMIN",
        "CAP_MKNOD",
        "CAP_DAC_OVERRIDE",
        "CAP_CHOWN",
    ];
    for set in ["bounding", "effective", "permitted"] {
        let list = json["process"]["capabilities"][set]
            .as_array_mut()
            .expect("a capability list");
        list.extend(caps.map(serde_json::Value::from));
    }
}

#[test]
fn rslave_volume_receives_the_hosts_mounts_and_sends_none() {
    if !step01::testing::need_root() {
        return;
    }
    let image = image("prop-slave");
    let state = TempDir::new("state-prop-slave");
    let out = TempDir::new("out-prop-slave");
    let vol = SharedDir::new("vol-prop-slave");
    for sub in ["host-sub", "inside"] {
        std::fs::create_dir(vol.path().join(sub)).expect("mkdir");
    }
    // Wait for the host's mount under /vol, then mount under /vol inside.
    let script = "touch /out/ready; i=0; \
        while [ ! -e /vol/host-sub/hello ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done; \
        cat /vol/host-sub/hello > /out/seen 2>/dev/null; \
        mount -t tmpfs tincan /vol/inside && touch /vol/inside/leak; \
        cat /proc/self/mountinfo > /out/mountinfo";
    let b = bundle("prop-slave", image.path(), out.path(), script, |json| {
        more_capabilities(json);
        let mounts = json["mounts"].as_array_mut().expect("mounts");
        mounts.push(serde_json::json!({"destination": "/vol", "type": "bind",
            "source": vol.path(), "options": ["rbind", "rslave"]}));
        // Propagation options used to reach tmpfs as data: EINVAL.
        mounts.push(
            serde_json::json!({"destination": "/scratch", "type": "tmpfs",
            "source": "tmpfs", "options": ["nosuid", "rprivate", "mode=755"]}),
        );
    });
    let mut child = tincan_run(state.path(), b.path(), "tincan-prop-slave");
    wait_for(&out.path().join("ready"));
    let sub = vol.path().join("host-sub");
    mount(
        Some("tincan"),
        &sub,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=1m"),
    )
    .expect("host tmpfs");
    std::fs::write(sub.join("hello"), "from the host\n").expect("write");
    assert!(
        child.wait().expect("wait").success(),
        "the container failed"
    );

    let seen = std::fs::read_to_string(out.path().join("seen")).unwrap_or_default();
    assert_eq!(
        seen.trim(),
        "from the host",
        "the host's later mount appears inside"
    );
    assert!(
        !vol.path().join("inside/leak").exists(),
        "a mount made inside must not appear on the host"
    );
    let info = std::fs::read_to_string(out.path().join("mountinfo")).expect("mountinfo");
    assert_eq!(propagation(&info, "/vol"), "master", "/vol is a slave");
    assert_eq!(
        propagation(&info, "/scratch"),
        "private",
        "tmpfs with rprivate"
    );
    assert_eq!(propagation(&info, "/"), "private", "the root stays private");
    let leaked = vol.path().join("inside/leak").exists();
    let rows = [
        (
            "inside",
            "asked in config.json",
            "mountinfo inside".to_string(),
        ),
        ("/", "nothing (the default)", propagation(&info, "/")),
        ("/vol", "bind: rbind,rslave", propagation(&info, "/vol")),
        (
            "/scratch",
            "tmpfs: rprivate,mode=755",
            propagation(&info, "/scratch"),
        ),
    ];
    let mut table: String = rows
        .iter()
        .map(|(a, b, c)| format!("{a:<10} {b:<26} {c}\n"))
        .collect();
    table += &format!(
        "\nthe host's later mount under the volume, inside: {:?}\n\
         the container's mount under the volume, on the host: {}\n",
        seen.trim(),
        if leaked { "seen" } else { "absent" }
    );
    insta::assert_snapshot!("propagation_volumes", table);
    assert_nothing_left(state.path(), "tincan-prop-slave");
}

#[test]
fn rshared_volume_sends_the_containers_mounts_to_the_host() {
    if !step01::testing::need_root() {
        return;
    }
    let image = image("prop-shared");
    let state = TempDir::new("state-prop-shared");
    let out = TempDir::new("out-prop-shared");
    let vol = SharedDir::new("vol-prop-shared");
    std::fs::create_dir(vol.path().join("inside")).expect("mkdir");
    let script = "mount -t tmpfs tincan /vol/inside && touch /vol/inside/made-inside; \
                  cat /proc/self/mountinfo > /out/mountinfo";
    let b = bundle("prop-shared", image.path(), out.path(), script, |json| {
        more_capabilities(json);
        // As podman does for an rshared volume: the root rshared too, so
        // that the copy of the host's mount the volume is bound from is
        // still the host's peer.
        json["linux"]["rootfsPropagation"] = "rshared".into();
        json["mounts"]
            .as_array_mut()
            .expect("mounts")
            .push(serde_json::json!({
            "destination": "/vol", "type": "bind",
            "source": vol.path(), "options": ["rbind", "rshared"]}));
    });
    let mut child = tincan_run(state.path(), b.path(), "tincan-prop-shared");
    assert!(
        child.wait().expect("wait").success(),
        "the container failed"
    );
    let info = std::fs::read_to_string(out.path().join("mountinfo")).expect("mountinfo");
    assert_eq!(propagation(&info, "/vol"), "shared", "/vol is shared");
    assert!(
        vol.path().join("inside/made-inside").exists(),
        "the container's mount under an rshared volume appears on the host"
    );
    assert_nothing_left(state.path(), "tincan-prop-shared");
}

#[test]
fn rootfs_propagation_is_what_the_container_sees() {
    if !step01::testing::need_root() {
        return;
    }
    let image = image("prop-root");
    let state = TempDir::new("state-prop-root");
    let mut table = format!("{:<19} {}\n", "rootfsPropagation", "/ in mountinfo inside");
    for (value, expected) in [
        ("shared", "shared"),
        ("rshared", "shared"),
        ("unbindable", "unbindable"),
        ("rprivate", "private"),
    ] {
        let out = TempDir::new(&format!("out-prop-root-{value}"));
        let script = "cat /proc/self/mountinfo > /out/mountinfo";
        let b = bundle("prop-root", image.path(), out.path(), script, |json| {
            json["linux"]["rootfsPropagation"] = value.into();
        });
        let mut child = tincan_run(state.path(), b.path(), "tincan-prop-root");
        assert!(
            child.wait().expect("wait").success(),
            "rootfsPropagation {value}"
        );
        let info = std::fs::read_to_string(out.path().join("mountinfo")).expect("mountinfo");
        assert_eq!(
            propagation(&info, "/"),
            expected,
            "rootfsPropagation {value}"
        );
        table += &format!("{value:<19} {}\n", propagation(&info, "/"));
        assert_nothing_left(state.path(), "tincan-prop-root");
    }
    insta::assert_snapshot!("propagation_rootfs", table);
    // Not a propagation type: one line, nothing made.
    let out = TempDir::new("out-prop-root-bad");
    let b = bundle("prop-root", image.path(), out.path(), "true", |json| {
        json["linux"]["rootfsPropagation"] = "sideways".into();
    });
    let run = common::tincan(
        state.path(),
        &[
            "run",
            "--bundle",
            b.path().to_str().expect("utf-8"),
            "tincan-prop-bad",
        ],
    );
    let err = common::stderr(&run);
    assert!(!run.status.success());
    assert!(
        err.contains("rootfsPropagation \"sideways\" is not a propagation type"),
        "{err}"
    );
    assert_nothing_left(state.path(), "tincan-prop-bad");
}

/// What `stat` says of a node: type, major:minor (hex), mode, owner.
const STAT: &str = "stat -c '%F %t:%T %a %u:%g'";

#[test]
fn linux_devices_are_created_and_allowed_and_others_are_not() {
    if !step01::testing::need_root() {
        return;
    }
    let image = image("oci-devices");
    let state = TempDir::new("state-oci-devices");
    let out = TempDir::new("out-oci-devices");
    // /dev/tincan-null is the null device (1:3) under a name of its own;
    // /dev/tincan-tun (10:200) is made inside with mknod, listed nowhere.
    let script = format!(
        "{STAT} /dev/tincan-null > /out/node; \
         echo x > /dev/tincan-null && echo written > /out/write; \
         mknod /dev/tincan-tun c 10 200; \
         (echo x > /dev/tincan-tun) 2> /out/refused; true"
    );
    let b = bundle("oci-devices", image.path(), out.path(), &script, |json| {
        more_capabilities(json);
        json["linux"]["devices"] = serde_json::json!([{"path": "/dev/tincan-null",
            "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 1000, "gid": 100}]);
        // The bundle's own rules deny everything: a listed device stays usable.
        json["linux"]["resources"] =
            serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]});
    });
    let mut child = tincan_run(state.path(), b.path(), "tincan-oci-devices");
    assert!(
        child.wait().expect("wait").success(),
        "the container failed"
    );
    let read = |f: &str| std::fs::read_to_string(out.path().join(f)).unwrap_or_default();
    assert_eq!(
        read("node").trim(),
        "character special file 1:3 640 1000:100"
    );
    assert_eq!(
        read("write").trim(),
        "written",
        "the listed node can be written"
    );
    assert!(
        read("refused").contains("Operation not permitted"),
        "{}",
        read("refused")
    );
    let table = format!(
        "{:<38} {}\n{:<38} {}\n{:<38} {}\n",
        "stat /dev/tincan-null",
        read("node").trim(),
        "echo x > /dev/tincan-null",
        read("write").trim(),
        "echo x > /dev/tincan-tun (10:200)",
        read("refused").trim(),
    );
    insta::assert_snapshot!("propagation_devices", table);
    assert_nothing_left(state.path(), "tincan-oci-devices");

    // A relative path is refused in one line, before anything exists.
    let b = bundle(
        "oci-devices-bad",
        image.path(),
        out.path(),
        "true",
        |json| {
            json["linux"]["devices"] =
                serde_json::json!([{"path": "dev/x", "type": "c", "major": 1, "minor": 3}]);
        },
    );
    let run = common::tincan(
        state.path(),
        &[
            "run",
            "--bundle",
            b.path().to_str().expect("utf-8"),
            "tincan-oci-devices-bad",
        ],
    );
    let err = common::stderr(&run);
    assert!(!run.status.success());
    assert!(
        err.contains("linux.devices[0].path \"dev/x\" must be an absolute path"),
        "{err}"
    );
    assert_nothing_left(state.path(), "tincan-oci-devices-bad");
}
