//! Bad input gets one clear line and a non-zero exit, and leaves nothing
//! behind; a good tarball imports into a working rootfs.

mod common;

use std::path::Path;

use common::{Scratch, nonce, raw_tarball, rootfs, step04, text};

/// One test at a time: two of them copy executables, and a copy that is
/// still open for writing in a process another test just forked cannot be
/// executed (ETXTBSY) until that process execs.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Assert a failure with exactly one line on stderr containing `expected`.
fn fails_with(args: &[&str], expected: &str) {
    let done = step04(args);
    let (out, err) = text(&done);
    assert!(!done.status.success(), "{args:?} should fail: {out}");
    assert_eq!(err.lines().count(), 1, "one line for {args:?}: {err}");
    assert!(
        err.starts_with("error: ") && err.contains(expected),
        "{args:?}: {err}"
    );
}

#[test]
fn missing_rootfs_is_one_clear_line() {
    let _serial = serial();
    fails_with(
        &["chroot", "--rootfs", "/nonexistent/tincan-rootfs"],
        "does not exist",
    );
}

#[test]
fn default_rootfs_missing_says_how_to_build_it() {
    let _serial = serial();
    let scratch = Scratch::new("no-target");
    let done = std::process::Command::new(env!("CARGO_BIN_EXE_step04-chroot-pivot"))
        .arg("pivot")
        .env("CARGO_TARGET_DIR", &scratch.0)
        .output()
        .expect("start step04-chroot-pivot");
    let (_, err) = text(&done);
    assert!(!done.status.success());
    assert_eq!(
        err.trim(),
        "error: rootfs missing: run `cargo xtask rootfs` (or pass --rootfs DIR)"
    );
    assert_eq!(
        std::fs::read_dir(&scratch.0).expect("scratch").count(),
        0,
        "nothing written"
    );
}

#[test]
fn rootfs_that_is_a_file_is_refused() {
    let _serial = serial();
    let scratch = Scratch::new("file");
    let file = scratch.0.join("not-a-dir");
    std::fs::write(&file, "x").expect("write");
    fails_with(
        &["escape", "--rootfs", file.to_str().expect("utf-8")],
        "is not a directory",
    );
}

#[test]
fn rootfs_without_bin_sh_is_refused() {
    let _serial = serial();
    let scratch = Scratch::new("empty");
    // bin/sh pointing at the *host's* /bin/sh must not count either.
    std::fs::create_dir(scratch.0.join("bin")).expect("mkdir");
    std::os::unix::fs::symlink("/bin/bash", scratch.0.join("bin/sh")).expect("symlink");
    fails_with(
        &["pivot", "--rootfs", scratch.0.to_str().expect("utf-8")],
        "has no /bin/sh",
    );
    assert_eq!(
        std::fs::read_dir(&scratch.0).expect("scratch").count(),
        1,
        "nothing added"
    );
}

fn import_refused(entries: &[(&str, tar::EntryType, &str)], expected: &str) {
    let scratch = Scratch::new("evil");
    let tarball = scratch.0.join("evil.tar");
    raw_tarball(&tarball, entries);
    let target = scratch.0.join("a/target");
    fails_with(
        &[
            "import",
            tarball.to_str().expect("utf-8"),
            target.to_str().expect("utf-8"),
        ],
        expected,
    );
    assert!(!target.exists(), "nothing may be written on bad input");
    let names: Vec<String> = std::fs::read_dir(&scratch.0)
        .expect("scratch")
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .collect();
    assert_eq!(names, ["evil.tar"], "nothing written next to the target");
}

#[test]
fn tarball_with_dotdot_path_is_refused() {
    let _serial = serial();
    import_refused(
        &[
            ("bin/sh", tar::EntryType::Regular, "ok"),
            ("../../escaped.txt", tar::EntryType::Regular, "x"),
        ],
        "contains `..` and would escape the target",
    );
}

#[test]
fn tarball_with_absolute_path_is_refused() {
    let _serial = serial();
    let outside = format!("/tmp/tincan-absolute-{}", nonce());
    import_refused(&[(&outside, tar::EntryType::Regular, "x")], "absolute path");
    assert!(!Path::new(&outside).exists());
}

#[test]
fn tarball_writing_through_a_symlink_is_refused() {
    let _serial = serial();
    let scratch = Scratch::new("victim");
    let victim = scratch.0.to_str().expect("utf-8").to_string();
    let s = Scratch::new("symlink");
    let tarball = s.0.join("evil.tar");
    raw_tarball(
        &tarball,
        &[
            ("lnk", tar::EntryType::Symlink, &victim),
            ("lnk/pwned", tar::EntryType::Regular, "x"),
        ],
    );
    let target = s.0.join("target");
    let done = step04(&[
        "import",
        tarball.to_str().expect("utf-8"),
        target.to_str().expect("utf-8"),
    ]);
    let (_, err) = text(&done);
    assert!(!done.status.success());
    assert!(err.contains("goes through the symlink"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        !scratch.0.join("pwned").exists(),
        "wrote through the symlink"
    );
    // The link itself is fine, stored as a link.
    assert_eq!(
        std::fs::read_link(target.join("lnk")).expect("link"),
        scratch.0
    );
}

#[test]
fn imported_tarball_is_a_working_rootfs() {
    let _serial = serial();
    let rootfs = rootfs();
    let tarball = rootfs.with_extension("tar");
    let scratch = Scratch::new("import");
    let target = scratch.0.join("imported");
    let t = target.to_str().expect("utf-8");
    let done = step04(&["import", tarball.to_str().expect("utf-8"), t]);
    let (out, err) = text(&done);
    assert!(done.status.success(), "{err}");
    assert!(out.contains("is a usable rootfs"), "{out}");
    assert_eq!(
        std::fs::read_link(target.join("bin/sh")).expect("sh link"),
        std::fs::read_link(rootfs.join("bin/sh")).expect("the rootfs's sh link")
    );
    assert_eq!(
        std::fs::read(target.join("bin/toolbox")).expect("imported toolbox"),
        std::fs::read(rootfs.join("bin/toolbox")).expect("toolbox")
    );
    if step01::testing::need_root() {
        let run = step04(&[
            "run",
            "--rootfs",
            t,
            "--",
            "/bin/sh",
            "-c",
            "cat /etc/hostname",
        ]);
        assert_eq!(text(&run).0, "tincan\n", "{}", text(&run).1);
    }
}

#[test]
fn dynamically_linked_program_fails_with_enoent_in_an_empty_rootfs() {
    let _serial = serial();
    if !step01::testing::need_root() {
        return;
    }
    let scratch = Scratch::new("dynamic");
    let bin = scratch.0.join("bin");
    std::fs::create_dir(&bin).expect("mkdir bin");
    std::fs::copy(rootfs().join("bin/toolbox"), bin.join("sh")).expect("copy the static toolbox");
    std::os::unix::fs::symlink("sh", bin.join("echo")).expect("symlink echo");
    // The host's /bin/true is dynamically linked: its loader is not here.
    std::fs::copy("/bin/true", bin.join("dynamic-true")).expect("copy /bin/true");
    let r = scratch.0.to_str().expect("utf-8");
    let done = step04(&["run", "--chroot", "--rootfs", r, "--", "/bin/dynamic-true"]);
    let (_, err) = text(&done);
    assert!(!done.status.success());
    // The file is there, yet execve says ENOENT: the loader it names is not.
    assert!(bin.join("dynamic-true").is_file());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: container set-up failed: execvp \"/bin/dynamic-true\"")
            && err.contains("ENOENT"),
        "{err}"
    );
    // The static one runs.
    let ok = step04(&[
        "run",
        "--chroot",
        "--rootfs",
        r,
        "--",
        "/bin/sh",
        "-c",
        "echo static",
    ]);
    assert_eq!(text(&ok).0, "static\n", "{}", text(&ok).1);
}

#[test]
fn bad_input_messages() {
    let _serial = serial();
    let scratch = Scratch::new("messages");
    let file = scratch.0.join("a-file");
    std::fs::write(&file, "x").expect("write");
    let empty = scratch.0.join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let evil = scratch.0.join("evil.tar");
    raw_tarball(
        &evil,
        &[("../../etc/cron.d/evil", tar::EntryType::Regular, "x")],
    );
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();
    let cases: Vec<Vec<String>> = vec![
        vec!["chroot".into(), "--rootfs".into(), "/nonexistent".into()],
        vec!["chroot".into(), "--rootfs".into(), s(&file)],
        vec!["pivot".into(), "--rootfs".into(), s(&empty)],
        vec!["import".into(), s(&evil), s(&scratch.0.join("target"))],
    ];
    let mut text_out = String::new();
    for args in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let done = step04(&args);
        let (_, err) = text(&done);
        assert!(!done.status.success());
        let shown = args.join(" ").replace(&s(&scratch.0), "[TMP]");
        text_out.push_str(&format!("$ step04-chroot-pivot {shown}\n"));
        text_out.push_str(&err.replace(&s(&scratch.0), "[TMP]"));
    }
    assert!(!scratch.0.join("target").exists());
    insta::assert_snapshot!("step04_bad_input", text_out);
}

#[test]
fn imported_directory_and_gzip_tarball_are_working_rootfses() {
    let _serial = serial();
    let rootfs = rootfs();
    let scratch = Scratch::new("import-dir");
    // A directory, copied (links stay links).
    let copy = scratch.0.join("copy");
    let done = step04(&[
        "import",
        rootfs.to_str().expect("utf-8"),
        copy.to_str().expect("utf-8"),
    ]);
    assert!(done.status.success(), "{}", text(&done).1);
    assert_eq!(
        std::fs::read_link(copy.join("bin/ls")).expect("ls link"),
        Path::new("toolbox")
    );
    // A .tar.gz of it.
    let gz = scratch.0.join("rootfs.tar.gz");
    let encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).expect("create gz"),
        flate2::Compression::fast(),
    );
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    builder.append_dir_all(".", &copy).expect("archive");
    builder.into_inner().expect("tar").finish().expect("gzip");
    let unpacked = scratch.0.join("unpacked");
    let done = step04(&[
        "import",
        gz.to_str().expect("utf-8"),
        unpacked.to_str().expect("utf-8"),
    ]);
    let (out, err) = text(&done);
    assert!(done.status.success(), "{err}");
    assert!(out.contains("is a usable rootfs"), "{out}");
    // Copying a directory into itself is refused.
    fails_with(
        &[
            "import",
            copy.to_str().expect("utf-8"),
            copy.join("inner").to_str().expect("utf-8"),
        ],
        "is inside the source",
    );
}

#[test]
fn device_nodes_are_refused_unless_root() {
    let _serial = serial();
    use std::os::unix::process::CommandExt;
    if !step01::testing::need_root() {
        return; // we need root to become someone else
    }
    let scratch = Scratch::new("device");
    let tarball = scratch.0.join("dev.tar");
    raw_tarball(&tarball, &[("dev/sda", tar::EntryType::Char, "")]);
    // A copy of the binary that the unprivileged user can surely execute.
    let binary = scratch.0.join("step04");
    std::fs::copy(env!("CARGO_BIN_EXE_step04-chroot-pivot"), &binary).expect("copy the binary");
    let target = scratch.0.join("target");
    let done = std::process::Command::new(&binary)
        .args([
            "import",
            tarball.to_str().expect("utf-8"),
            target.to_str().expect("utf-8"),
        ])
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run as nobody");
    let (_, err) = text(&done);
    assert!(!done.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("dev/sda is a device node: only root may create device nodes"),
        "{err}"
    );
    assert!(!target.exists());
    // Root may: the same archive, imported as root, has the node.
    let done = std::process::Command::new(&binary)
        .args([
            "import",
            tarball.to_str().expect("utf-8"),
            target.to_str().expect("utf-8"),
        ])
        .output()
        .expect("run as root");
    assert!(done.status.success(), "{}", text(&done).1);
    let meta = std::fs::symlink_metadata(target.join("dev/sda")).expect("dev/sda");
    use std::os::unix::fs::FileTypeExt;
    assert!(
        meta.file_type().is_char_device(),
        "root's import made a device node"
    );
}
