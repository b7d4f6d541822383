//! Layered images: built here by podman (never downloaded), saved in the
//! three formats, and run by tincan, which must see exactly the tree podman
//! sees; then hostile and broken images built with the tar crate, each
//! refused in one line with nothing left in the store.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

use common::oci::{Blob, honest, layout, sha, tar_of, tar_with_xattrs};
use common::{TINCAN, TempDir, install, rootfs, which};

/// tincan with its store in `storage`, no network.
fn tincan(storage: &Path, args: &[&str]) -> Output {
    Command::new(TINCAN)
        .args(args)
        .env("TINCAN_STORAGE", storage)
        .env("TINCAN_NET", "none")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run tincan")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A podman of our own: storage, state and configuration under one
/// `tincan-test-*` directory, so the machine's podman is never touched.
struct Podman {
    dir: TempDir,
}

impl Podman {
    fn new() -> Podman {
        let dir = TempDir::new("images-podman");
        // The host lacks CAP_SYS_RESOURCE (FACTS.md): podman's default
        // rlimits could not be set.
        std::fs::write(
            dir.path().join("containers.conf"),
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\n\
             [engine]\nevents_logger = \"file\"\ncgroup_manager = \"cgroupfs\"\n",
        )
        .expect("write containers.conf");
        Podman { dir }
    }

    /// Run podman; its stdout, trimmed; panics with its stderr on failure.
    fn run(&self, args: &[&str]) -> String {
        let d = self.dir.path();
        let out = Command::new("podman")
            .arg("--root")
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg(d.join("run"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(args)
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .output()
            .expect("run podman");
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout).trim().to_string()
    }

    /// A new image `to` from `from` (an image, and a command if it has
    /// none), changed by `change` in the mounted
    /// tree of a container (podman mount: no runtime involved), committed
    /// with the Dockerfile instructions `instructions`.
    fn layer(
        &self,
        from: (&str, &[&str]),
        to: &str,
        change: impl FnOnce(&Path),
        instructions: &[&str],
    ) {
        let name = format!("{}-work", to.rsplit('/').next().expect("name"));
        let mut create = vec!["create", "--name", &name, from.0];
        create.extend(from.1);
        self.run(&create);
        let merged = self.run(&["mount", &name]);
        change(Path::new(&merged));
        self.run(&["umount", &name]);
        let mut args = vec!["commit", "-q"];
        for i in instructions {
            args.extend(["--change", i]);
        }
        args.extend([name.as_str(), to]);
        self.run(&args);
        self.run(&["rm", &name]);
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // containers/storage keeps mounts under its root.
        step04::mounts::detach_under(self.dir.path());
    }
}

/// The listing both sides print: every path under /data and /etc with its
/// type, mode, owner, time (to the minute) and link target, then the files' contents.
const LISTING: &str = "find ROOT/data ROOT/etc -printf '%p %y %m %U:%G %TY-%Tm-%Td-%TH:%TM %l\\n' | sort; \
     find ROOT/data -type f -printf '%p\\n' | sort | while read f; do echo \"$f: $(cat $f)\"; done";

/// The base image's files: the test rootfs (a real shell and coreutils of
/// this machine), `find`, a passwd with a user `app`, and files to change.
fn base_tree() -> TempDir {
    let base = rootfs("images-base");
    for program in ["find", "sort", "tr"] {
        install(
            base.path(),
            &which(program),
            &Path::new("/bin").join(program),
        );
    }
    let p = base.path();
    std::fs::create_dir_all(p.join("data/dir")).expect("mkdir");
    std::fs::create_dir_all(p.join("etc")).expect("mkdir");
    for (file, content) in [
        (
            "etc/passwd",
            "root:x:0:0::/root:/bin/sh\napp:x:1234:2345::/data:/bin/sh\n",
        ),
        ("etc/group", "root:x:0:\napp:x:2345:\nstaff:x:50:app\n"),
        ("data/keep", "kept\n"),
        ("data/changed", "old\n"),
        ("data/gone", "deleted in layer 2\n"),
        ("data/dir/a", "hidden by layer 3\n"),
    ] {
        std::fs::write(p.join(file), content).expect("write");
    }
    std::os::unix::fs::symlink("keep", p.join("data/link")).expect("symlink");
    std::fs::create_dir(p.join("data/owned")).expect("mkdir");
    std::os::unix::fs::chown(p.join("data/owned"), Some(1234), Some(2345)).expect("chown");
    // Old times, which a layer must keep (an unpack that set "now" would show).
    let ok = Command::new("touch")
        .args(["-h", "-d", "2001-02-03 04:05"])
        .args(["data/keep", "data/link", "data/owned", "etc/passwd", "etc"].map(|f| p.join(f)))
        .status()
        .expect("run touch");
    assert!(ok.success(), "touch");
    base
}

/// Build base (1 layer), app (2: adds, changes, deletes; a config) and
/// full (3: an opaque directory) with podman.
fn build_images(podman: &Podman) {
    let base = base_tree();
    let tar = podman.dir.path().join("base.tar");
    let ok = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(base.path())
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(ok.success(), "tar the base image");
    podman.run(&[
        "import",
        tar.to_str().expect("utf-8"),
        "localhost/tincan-test-base",
    ]);
    podman.layer(
        ("localhost/tincan-test-base", &["/bin/sh"]),
        "localhost/tincan-test-app",
        |m| {
            std::fs::write(m.join("data/new"), "added in layer 2\n").expect("write");
            std::fs::write(m.join("data/changed"), "changed in layer 2\n").expect("write");
            std::fs::remove_file(m.join("data/gone")).expect("rm");
        },
        &[
            "ENV GREETING=hello",
            "WORKDIR /data",
            "USER app",
            r#"ENTRYPOINT ["/bin/sh", "-c"]"#,
            r#"CMD ["echo from-cmd; pwd; echo $GREETING"]"#,
            "EXPOSE 8080",
        ],
    );
    podman.layer(
        ("localhost/tincan-test-app", &[]),
        "localhost/tincan-test-full",
        |m| {
            std::fs::remove_dir_all(m.join("data/dir")).expect("rm -r");
            std::fs::create_dir(m.join("data/dir")).expect("mkdir");
            std::fs::write(m.join("data/dir/b"), "only file of layer 3's dir\n").expect("write");
        },
        &[],
    );
}

/// What podman's own overlay of the full image holds.
fn podman_listing(podman: &Podman) -> String {
    podman.run(&[
        "create",
        "--name",
        "tincan-listing",
        "localhost/tincan-test-full",
    ]);
    let merged = podman.run(&["mount", "tincan-listing"]);
    let out = Command::new("sh")
        .arg("-c")
        .arg(LISTING.replace("ROOT", &merged))
        .output()
        .expect("run the listing on the host");
    podman.run(&["umount", "tincan-listing"]);
    podman.run(&["rm", "tincan-listing"]);
    text(&out.stdout).replace(&merged, "")
}

#[test]
fn podman_images_run_as_podman_sees_them_and_share_layers() {
    if !step01::testing::need_root() {
        return;
    }
    if Command::new("podman").arg("--version").output().is_err() {
        step01::testing::skip("podman is not installed (apt-get install podman)");
        return;
    }
    let podman = Podman::new();
    build_images(&podman);
    let d = podman.dir.path();
    let archive = |name: &str| d.join(name).to_str().expect("utf-8").to_string();
    for (format, file, image) in [
        ("oci-archive", "full-oci.tar", "full"),
        ("oci-dir", "full-oci", "full"),
        ("docker-archive", "full-docker.tar", "full"),
        ("oci-archive", "app-oci.tar", "app"),
    ] {
        let image = format!("localhost/tincan-test-{image}");
        podman.run(&["save", "--format", format, "-o", &archive(file), &image]);
    }
    let zstd = format!("oci:{}:full", archive("full-zstd"));
    podman.run(&[
        "push",
        "--compression-format",
        "zstd",
        "localhost/tincan-test-full",
        &zstd,
    ]);
    let expected = podman_listing(&podman);
    assert!(expected.contains("/data/dir/b: only file"), "{expected}");
    assert!(
        expected.contains("/data/keep f 644 0:0 2001-02-03-04:05"),
        "{expected}"
    );
    assert!(
        !expected.contains("/data/gone") && !expected.contains("/data/dir/a"),
        "{expected}"
    );

    // 1. Each format, detected or named, shows podman's tree; the five
    // name the same three layers, stored once.
    let formats = TempDir::new("images-formats");
    for reference in [
        archive("full-oci.tar"),
        format!("oci:{}", archive("full-oci")),
        archive("full-docker.tar"),
        format!("docker-archive:{}", archive("full-docker.tar")),
        format!("oci:{}:full", archive("full-zstd")),
    ] {
        let listing = LISTING.replace("ROOT", "");
        let out = tincan(
            formats.path(),
            &["run", "--image", &reference, "--", &listing],
        );
        assert!(out.status.success(), "{reference}: {}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            expected,
            "{reference}: tincan and podman differ"
        );
    }
    let stored = std::fs::read_dir(formats.path().join("layers"))
        .expect("layers")
        .count();
    assert_eq!(stored, 3, "the formats share their three layers");
    let store = TempDir::new("images-store");
    let s = store.path();

    // 2. The config: Entrypoint + Cmd, WorkingDir, Env, User (the image's `app`).
    let full = archive("full-oci.tar");
    let out = tincan(s, &["run", "--image", &full]);
    assert_eq!(
        text(&out.stdout),
        "from-cmd\n/data\nhello\n",
        "{}",
        text(&out.stderr)
    );
    let ids = "grep -E '^(Uid|Gid|Groups)' /proc/self/status | tr -s '\\t ' ' '; echo $GREETING";
    let out = tincan(
        s,
        &["run", "--image", &full, "-e", "GREETING=bye", "--", ids],
    );
    assert_eq!(
        text(&out.stdout),
        "Uid: 1234 1234 1234 1234\nGid: 2345 2345 2345 2345\nGroups: 50 \nbye\n",
        "{}",
        text(&out.stderr)
    );
    let out = tincan(
        s,
        &[
            "run",
            "--image",
            &full,
            "-u",
            "root",
            "-w",
            "/etc",
            "--",
            "pwd; id -u",
        ],
    );
    assert_eq!(text(&out.stdout), "/etc\n0\n", "{}", text(&out.stderr));

    sharing_ls_and_rm(s, &archive("app-oci.tar"));
}

/// Steps 3 to 5, on the store `s` that holds the full image: load the app
/// image (sharing), `ls` and `inspect` (snapshot), `rm` both.
fn sharing_ls_and_rm(s: &Path, app: &str) {
    // 3. Sharing: the app image's two layers are the full image's lower
    // two; loading it unpacks nothing, and the base layer is untouched.
    let base_layer = |n: usize| {
        let layers = std::fs::read_dir(s.join("layers")).expect("layers").count();
        let ino: Vec<u64> = std::fs::read_dir(s.join("layers"))
            .expect("layers")
            .flatten()
            .map(|e| e.metadata().expect("stat").ino())
            .collect();
        assert_eq!(layers, n, "layers in the store");
        ino
    };
    let before = base_layer(3);
    let out = tincan(s, &["image", "load", app]);
    assert!(
        text(&out.stdout).contains("2 layers, 0 unpacked, 2 already in the store"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let after = base_layer(3);
    assert!(
        before.iter().all(|i| after.contains(i)),
        "a layer was unpacked again"
    );

    // 4. ls and inspect, as the book shows them.
    let ls = tincan(s, &["image", "ls"]);
    let inspect = tincan(
        s,
        &["image", "inspect", "localhost/tincan-test-full:latest"],
    );
    let shown = format!(
        "$ tincan image ls\n{}$ tincan image inspect localhost/tincan-test-full:latest\n{}",
        text(&ls.stdout),
        text(&inspect.stdout)
    );
    insta::with_settings!({filters => vec![
        (r"[0-9a-f]{64}", "[DIGEST]"),
        (r"\b[0-9a-f]{12}\b", "[IMAGE ID]  "),
        (r"\d+(\.\d)? (B|kB|MB) on disk \(\d+(\.\d)? (B|kB|MB)", "[SIZE] on disk ([SIZE]"),
        (r"\s+\d+(\.\d)? (B|kB|MB)", "     [SIZE]"),
        (r"/tmp/tincan-test-[^ ]*", "[TMP]"),
    ]}, {
        insta::assert_snapshot!("images_ls_inspect", shown);
    });

    // 5. rm refuses while a container stacks a layer it would free.
    refuses_rm_while_running(s);

    // 6. rm frees what no other image uses, and the store ends empty.
    let out = tincan(s, &["image", "rm", "localhost/tincan-test-full"]);
    assert!(
        text(&out.stdout).contains("1 layers freed, 2 kept"),
        "{}",
        text(&out.stderr)
    );
    let out = tincan(s, &["image", "rm", "localhost/tincan-test-app"]);
    assert!(
        text(&out.stdout).contains("2 layers freed, 0 kept"),
        "{}",
        text(&out.stderr)
    );
    assert!(!s.exists(), "the store, empty now, is left behind");
}

/// `tincan image rm` of the image a running container uses fails in one
/// line, and the container goes on.
fn refuses_rm_while_running(s: &Path) {
    let state = TempDir::new("images-state");
    let with_root = |args: &[&str]| {
        let mut all = vec!["--root", state.path().to_str().expect("utf-8")];
        all.extend_from_slice(args);
        all.iter().map(|a| a.to_string()).collect::<Vec<String>>()
    };
    let run = with_root(&[
        "run",
        "--name",
        "tincan-images-busy",
        "--image",
        "localhost/tincan-test-full",
        "--",
        "trap 'exit 0' TERM; sleep 30 & wait",
    ]);
    // Output into files, never pipes (tests/common: tincan_quiet).
    let log = |n: &str| std::fs::File::create(state.path().join(n)).expect("log file");
    let mut child = Command::new(TINCAN)
        .args(&run)
        .env("TINCAN_STORAGE", s)
        .env("TINCAN_NET", "none")
        .stdout(log("out.txt"))
        .stderr(log("err.txt"))
        .spawn()
        .expect("spawn tincan run");
    let record = state.path().join("tincan-images-busy/state.json");
    for _ in 0..100 {
        if record.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(record.exists(), "the container did not start");
    let rm = with_root(&["image", "rm", "localhost/tincan-test-full"]);
    let rm: Vec<&str> = rm.iter().map(String::as_str).collect();
    let out = tincan(s, &rm);
    assert!(!out.status.success(), "rm under a running container");
    assert!(
        text(&out.stderr).contains("container tincan-images-busy runs it"),
        "{}",
        text(&out.stderr)
    );
    // SIGTERM: tincan forwards it to the container and removes it.
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("kill");
    child.wait().expect("wait tincan run");
    assert!(
        !state.path().join("tincan-images-busy").exists(),
        "state left behind"
    );
}

// ---- hostile and broken images, built with the tar crate ----

/// The broken and hostile layouts: (case, its layers, a phrase of the refusal).
fn hostile_cases(good: &[u8], outside_str: &str) -> Vec<(&'static str, Vec<Blob>, &'static str)> {
    use tar::EntryType::{Link, Regular, Symlink};
    let mut wrong_digest = honest(&tar_of(&[("x", Regular, "the real layer\n")]));
    wrong_digest.digest = sha(b"another layer");
    let mut truncated = honest(&tar_of(&[("big", Regular, &"0123456789".repeat(5000))]));
    truncated.bytes.truncate(truncated.bytes.len() / 2);
    truncated.digest = sha(&truncated.bytes);
    let mut wrong_diff = honest(good);
    wrong_diff.diff_id = sha(b"not this tar");
    vec![
        (
            "wrong-digest",
            vec![honest(good), wrong_digest],
            "but the manifest says",
        ),
        ("truncated", vec![honest(good), truncated], "layer 2 of 2"),
        ("wrong-diff-id", vec![wrong_diff], "diff_id says"),
        (
            "dotdot",
            vec![honest(&tar_of(&[("../../tincan-escaped", Regular, "x")]))],
            "contains `..`",
        ),
        (
            "absolute",
            vec![honest(&tar_of(&[("/tmp/tincan-escaped", Regular, "x")]))],
            "absolute path",
        ),
        (
            "symlink-escape",
            vec![honest(&tar_of(&[
                ("evil", Symlink, outside_str),
                ("evil/pwned", Regular, "x"),
            ]))],
            "goes through the symlink",
        ),
        (
            "trusted-xattr",
            vec![honest(&tar_with_xattrs(&[(
                "bin/x",
                "x",
                vec![("trusted.overlay.redirect", b"/etc".to_vec())],
            )]))],
            "trusted.* is where overlayfs",
        ),
        (
            "hardlink-escape",
            vec![honest(&tar_of(&[
                ("evil", Symlink, "/etc"),
                ("stolen", Link, "evil/hostname"),
            ]))],
            "goes through the symlink",
        ),
    ]
}

#[test]
fn hostile_and_broken_images_are_refused_and_leave_nothing() {
    use tar::EntryType::{Directory, Regular};
    let tmp = TempDir::new("images-hostile");
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).expect("mkdir outside");
    let good = tar_of(&[("bin/", Directory, ""), ("bin/hello", Regular, "hi\n")]);
    let cases = hostile_cases(&good, outside.to_str().expect("utf-8"));
    let store = tmp.path().join("store");
    let mut shown = String::new();
    let mut check = |case: &str, reference: &str, args: &[&str], phrase: &str| {
        let out = tincan(&store, args);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{case}: accepted");
        assert_eq!(err.lines().count(), 1, "{case}: one line: {err}");
        assert!(err.contains(phrase), "{case}: {err}");
        // The store was empty before: a refused load removes it whole,
        // the lock file and its empty directories too.
        assert!(
            !store.exists(),
            "{case}: the store {} was left behind",
            store.display()
        );
        assert_eq!(
            std::fs::read_dir(&outside).expect("outside").count(),
            0,
            "{case}: wrote outside"
        );
        let command = args.join(" ").replace(reference, case);
        shown.push_str(&format!(
            "$ tincan {command}\n{}",
            err.replace(reference, case)
        ));
    };
    for (case, layers, phrase) in cases {
        let dir = tmp.path().join(case);
        layout(&dir, &layers);
        let reference = dir.to_str().expect("utf-8");
        check(case, reference, &["image", "load", reference], phrase);
    }
    // The same through `tincan run`, and the input that is not an image at all.
    let dir = tmp.path().join("dotdot");
    let dotdot = dir.to_str().expect("utf-8");
    check(
        "dotdot",
        dotdot,
        &["run", "--image", dotdot],
        "contains `..`",
    );
    let broken = tmp.path().join("malformed");
    layout(&broken, &[honest(&good)]);
    std::fs::write(
        broken.join("index.json"),
        "{\"schemaVersion\": 2, \"manifests\": [",
    )
    .expect("write");
    let broken = broken.to_str().expect("utf-8");
    check(
        "malformed",
        broken,
        &["image", "load", &format!("oci:{broken}")],
        "index.json is not",
    );
    check(
        "missing",
        "/nonexistent/tincan.tar",
        &["image", "load", "oci-archive:/nonexistent/tincan.tar"],
        "does not exist",
    );
    assert!(
        !Path::new("/tmp/tincan-escaped").exists(),
        "an entry escaped"
    );
    insta::with_settings!({filters => vec![
        (r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]"),
        (r"/tmp/tincan-test-[^ :;]*", "[TMP]"),
    ]}, {
        insta::assert_snapshot!("images_refused", shown);
    });
}

#[test]
fn concurrent_loads_unpack_each_layer_once() {
    use tar::EntryType::{Directory, Regular};
    let tmp = TempDir::new("images-concurrent");
    let dir = tmp.path().join("layout");
    let layers: Vec<Blob> = (0..3)
        .map(|i| {
            let body = format!("layer {i}\n").repeat(20000);
            let name = format!("l{i}/file");
            honest(&tar_of(&[
                (&name[..3], Directory, ""),
                (&name, Regular, &body),
            ]))
        })
        .collect();
    layout(&dir, &layers);
    let store = tmp.path().join("store");
    let reference = format!("oci:{}", dir.display());
    // Four tincans at once on an empty store: the store's lock lets one
    // unpack, the others find the layers there.
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(TINCAN)
                .args(["image", "load", &reference])
                .env("TINCAN_STORAGE", &store)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn tincan")
        })
        .collect();
    let mut unpacked = 0;
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let line = text(&out.stdout);
        let n: usize = line
            .split(", ")
            .find_map(|part| part.strip_suffix(" unpacked"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count in {line:?}"));
        unpacked += n;
    }
    assert_eq!(unpacked, 3, "each layer unpacked exactly once");
    assert_eq!(
        std::fs::read_dir(store.join("layers"))
            .expect("layers")
            .count(),
        3
    );
    assert_eq!(
        std::fs::read_dir(store.join("tmp")).expect("tmp").count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(store.join("images"))
            .expect("images")
            .count(),
        1
    );
}

#[test]
fn a_multi_platform_index_gives_this_machines_manifest() {
    use tar::EntryType::Regular;
    let tmp = TempDir::new("images-platforms");
    let dir = tmp.path().join("layout");
    layout(&dir, &[honest(&tar_of(&[("hello", Regular, "hi\n")]))]);
    // The layout's one manifest becomes this machine's entry of a nested
    // index, beside another platform's whose blob does not even exist.
    let mut inner: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("read"))
            .expect("json");
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let mut ours = inner["manifests"][0].clone();
    ours["platform"] = serde_json::json!({"architecture": arch, "os": "linux"});
    let mut theirs = ours.clone();
    theirs["platform"] = serde_json::json!({"architecture": "s390x", "os": "linux"});
    theirs["digest"] = sha(b"no such manifest").into();
    inner["manifests"] = serde_json::json!([theirs, ours]);
    let inner = inner.to_string();
    let hex = sha(inner.as_bytes());
    std::fs::write(
        dir.join("blobs/sha256")
            .join(hex.trim_start_matches("sha256:")),
        &inner,
    )
    .expect("blob");
    let outer = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": hex, "size": inner.len()}]});
    std::fs::write(dir.join("index.json"), outer.to_string()).expect("index.json");
    let store = tmp.path().join("store");
    let out = tincan(&store, &["image", "load", dir.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 layers, 1 unpacked"),
        "{}",
        text(&out.stdout)
    );
}

/// `lgetxattr(2)` of `name` on `path`, or None when it has none.
fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    let c_name = std::ffi::CString::new(name).expect("name");
    let mut value = vec![0u8; 256];
    // SAFETY: both strings are NUL-terminated; the buffer and its length
    // describe `value`, which outlives the call.
    let len = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    (len >= 0).then(|| value[..len as usize].to_vec())
}

#[test]
fn file_capabilities_and_user_attributes_reach_the_layer() {
    if !step01::testing::need_root() {
        return;
    }
    // security.capability as the kernel stores it (VFS_CAP_REVISION_2 with
    // the effective bit): cap_net_raw (13) permitted, none inheritable.
    let mut cap = 0x0200_0001u32.to_le_bytes().to_vec();
    for word in [1u32 << 13, 0, 0, 0] {
        cap.extend_from_slice(&word.to_le_bytes());
    }
    let tar = tar_with_xattrs(&[(
        "bin/ping",
        "not really ping\n",
        vec![
            ("security.capability", cap.clone()),
            ("user.tincan.note", b"kept".to_vec()),
            (
                "security.selinux",
                b"system_u:object_r:ping_exec_t".to_vec(),
            ),
        ],
    )]);
    let tmp = TempDir::new("images-xattrs");
    let dir = tmp.path().join("layout");
    let layer = honest(&tar);
    layout(&dir, std::slice::from_ref(&layer));
    let store = tmp.path().join("store");
    let out = tincan(
        &store,
        &["image", "load", &format!("oci:{}", dir.display())],
    );
    assert!(out.status.success(), "load: {}", text(&out.stderr));
    let file = store
        .join("layers")
        .join(layer.diff_id.trim_start_matches("sha256:"))
        .join("bin/ping");
    assert_eq!(
        xattr(&file, "security.capability"),
        Some(cap),
        "the file capability"
    );
    assert_eq!(xattr(&file, "user.tincan.note"), Some(b"kept".to_vec()));
    assert_eq!(
        xattr(&file, "security.selinux"),
        None,
        "a label is the engine's business, not the image's"
    );
    let name = dir.canonicalize().expect("layout path");
    let out = tincan(&store, &["image", "rm", name.to_str().expect("utf-8")]);
    assert!(out.status.success(), "rm: {}", text(&out.stderr));
    assert!(!store.exists(), "the last rm leaves an empty store behind");
}
