//! Shared helpers for the integration tests: a small root filesystem made of
//! this machine's own programs (with the shared libraries they need) plus
//! the `tincan` binary under test, and a state directory per test.

#![allow(dead_code)]

pub mod oci;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The tincan binary under test.
pub const TINCAN: &str = env!("CARGO_BIN_EXE_tincan");

/// Programs copied into the test image.
const PROGRAMS: &[&str] = &[
    "sh", "cat", "ls", "id", "hostname", "sleep", "touch", "rm", "grep",
];

/// A directory removed when dropped, even if the test fails.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `/tmp/tincan-test-<tag>-<pid>`, empty.
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("tincan-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("mkdir temp");
        TempDir(p)
    }
    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copy `program` (found in PATH, or a path) and every library `ldd`
/// lists for it into `root`, at the same paths.
pub fn install(root: &Path, program: &Path, dest: &Path) {
    let target = root.join(dest.strip_prefix("/").unwrap_or(dest));
    std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
    std::fs::copy(program, &target).unwrap_or_else(|e| panic!("copy {}: {e}", program.display()));
    let ldd = Command::new("ldd").arg(program).output().expect("run ldd");
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let lib_target = root.join(&lib[1..]);
        if !lib_target.exists() {
            std::fs::create_dir_all(lib_target.parent().expect("parent")).expect("mkdir");
            std::fs::copy(lib, &lib_target).unwrap_or_else(|e| panic!("copy {lib}: {e}"));
        }
    }
}

pub fn which(name: &str) -> PathBuf {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not found in PATH"))
}

/// A test image: `bin/` with a few programs and `/tincan`.
pub fn rootfs(tag: &str) -> TempDir {
    let dir = TempDir::new(&format!("rootfs-{tag}"));
    for program in PROGRAMS {
        install(
            dir.path(),
            &which(program),
            &Path::new("/bin").join(program),
        );
    }
    install(dir.path(), Path::new(TINCAN), Path::new("/tincan"));
    dir
}

/// Run tincan with its state under `state` and `TINCAN_REDACT=1`.
pub fn tincan(state: &Path, args: &[&str]) -> Output {
    Command::new(TINCAN)
        .arg("--root")
        .arg(state)
        .args(args)
        .env("TINCAN_REDACT", "1")
        .env("TINCAN_NET", "none")
        .output()
        .expect("run tincan")
}

/// [`tincan`], started with `cap` dropped from its capability bounding set
/// (prctl(2) `PR_CAPBSET_DROP`, which needs CAP_SETPCAP): so a test can
/// count on a capability being absent, whatever the host's set holds.
pub fn tincan_without_cap(state: &Path, args: &[&str], cap: caps::Capability) -> Output {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(TINCAN);
    command
        .arg("--root")
        .arg(state)
        .args(args)
        .env("TINCAN_REDACT", "1")
        .env("TINCAN_NET", "none");
    // SAFETY: between fork and exec the closure only makes one prctl(2)
    // call, which allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || {
            let rc = libc::prctl(libc::PR_CAPBSET_DROP, cap.index() as libc::c_ulong, 0, 0, 0);
            // Without CAP_SETPCAP (not root) nothing is dropped; the
            // command then fails earlier, for lack of root.
            let _ = rc;
            Ok(())
        });
    }
    command.output().expect("run tincan")
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// True if any cgroup hierarchy still has `tincan/<name>`.
pub fn cgroup_exists(name: &str) -> bool {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .any(|c| c.path().join("tincan").join(name).exists())
        || Path::new("/sys/fs/cgroup/tincan").join(name).exists()
}

/// Nothing of container `name` is left: no state directory, no cgroup.
pub fn assert_nothing_left(state: &Path, name: &str) {
    assert!(
        !state.join(name).exists(),
        "state directory of {name} left behind"
    );
    assert!(!cgroup_exists(name), "cgroup tincan/{name} left behind");
}

/// An OCI bundle from `tincan spec` around the image `rootfs`, running
/// `args` without a terminal, then changed by `edit` (more mounts, a
/// cgroup path...). Removed when dropped.
pub fn spec_bundle(
    tag: &str,
    rootfs: &Path,
    args: &[&str],
    edit: impl FnOnce(&mut serde_json::Value),
) -> TempDir {
    let dir = TempDir::new(&format!("bundle-{tag}"));
    let ok = Command::new(TINCAN)
        .env("TINCAN_NET", "none")
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("tincan spec");
    assert!(ok.success(), "tincan spec failed");
    let path = dir.path().join("config.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    json["root"]["path"] = rootfs.to_str().expect("utf-8").into();
    json["process"]["args"] = serde_json::json!(args);
    json["process"]["terminal"] = false.into();
    edit(&mut json);
    std::fs::write(&path, json.to_string()).expect("write config.json");
    dir
}

/// Add a read-write bind of the host directory `out` at /out.
pub fn bind_out(json: &mut serde_json::Value, out: &Path) {
    json["mounts"]
        .as_array_mut()
        .expect("mounts")
        .push(serde_json::json!({
            "destination": "/out", "type": "bind", "source": out, "options": ["rbind", "rw"]
        }));
}

/// What a tincan command printed, and whether it succeeded.
pub struct Quiet {
    /// Exit status 0.
    pub ok: bool,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

/// Run tincan with its output in files under `dir`, not in pipes: the
/// monitor of `create` keeps the descriptors it was given for the
/// container, so waiting for end-of-file on a pipe would hang.
pub fn tincan_quiet(state: &Path, dir: &Path, args: &[&str]) -> Quiet {
    let (out, err) = (dir.join("tincan-stdout.txt"), dir.join("tincan-stderr.txt"));
    let status = Command::new(TINCAN)
        .env("TINCAN_NET", "none")
        .arg("--root")
        .arg(state)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .status()
        .expect("run tincan");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    Quiet {
        ok: status.success(),
        stdout: read(&out),
        stderr: read(&err),
    }
}

/// [`spec_bundle`] running `sh -c script`, with `out` bound at /out, then
/// changed by `edit`.
pub fn script_bundle(
    tag: &str,
    image: &Path,
    out: &Path,
    script: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> TempDir {
    spec_bundle(tag, image, &["/bin/sh", "-c", script], |json| {
        bind_out(json, out);
        edit(json);
    })
}

/// A log of the calls an engine made to tincan (one line each), with the
/// temporary directory `tmp` as `[TMP]`, container and exec ids (long hex
/// numbers) as `[ID]` and other long numbers (also at the end of a word) as `[N]`, so that the list is
/// the same on every run.
pub fn redact_calls(log: &str, tmp: &Path) -> String {
    let log = log.replace(&tmp.display().to_string(), "[TMP]");
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.len() >= 32 && word.chars().all(|c| c.is_ascii_hexdigit()) {
            out.push_str("[ID]");
        } else if let Some(at) = long_number_at_end(word) {
            out.push_str(&word[..at]);
            out.push_str("[N]");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in log.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Where a run of 6 or more digits ends `word` (`process1182378246`), if one does.
fn long_number_at_end(word: &str) -> Option<usize> {
    let digits = word.chars().rev().take_while(char::is_ascii_digit).count();
    (digits >= 6).then(|| word.len() - digits)
}

/// A script at `dir/<name>` that an engine calls as its runtime: it notes
/// each call's arguments in `dir/calls.log`, then becomes tincan.
pub fn logged_runtime(dir: &Path, name: &str) -> PathBuf {
    let script = dir.join(name);
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\nexec {TINCAN} \"$@\"\n",
            dir.join("calls.log").display()
        ),
    )
    .expect("write the runtime script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod the runtime script");
    script
}

/// The cgroup directories `names` in every hierarchy that do not exist
/// yet: an engine creates its parent cgroups (podman's `libpod_parent`)
/// and keeps them, so a test removes afterwards only those it caused.
pub fn absent_cgroups(names: &[&str]) -> Vec<PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|h| names.iter().map(move |n| h.path().join(n)))
        .filter(|p| !p.exists())
        .collect()
}

/// Remove the cgroups [`absent_cgroups`] found, with the `conmon` child
/// podman puts in them. rmdir(2) only removes an empty cgroup, with no
/// process and no child, so nothing in use can go.
pub fn remove_engine_cgroups(dirs: &[PathBuf]) {
    for dir in dirs {
        let _ = std::fs::remove_dir(dir.join("conmon"));
        let _ = std::fs::remove_dir(dir);
    }
}
