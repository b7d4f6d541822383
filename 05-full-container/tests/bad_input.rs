//! Bad input: one clear line naming the problem and the fix, a non-zero
//! exit, and nothing left behind.

mod common;

use common::{TempDir, assert_nothing_left, rootfs, stderr, tincan, tincan_without_cap};

#[test]
fn bad_input_is_one_line_and_leaves_nothing() {
    let image = rootfs("bad");
    let state = TempDir::new("state-bad");
    let root = image.path().to_str().expect("utf-8");
    let bundle = TempDir::new("bad-bundle");
    std::fs::write(
        bundle.path().join("config.json"),
        "{\n  \"ociVersion\": \"1.0.2\",\n  \"process\" {}\n}\n",
    )
    .expect("write config");
    let bundle_arg = bundle.path().to_str().expect("utf-8");
    // Most cases are `tincan run --rootfs IMAGE --name tincan-bad` plus
    // the flags that make them bad.
    let run = |extra: &[&'static str]| {
        let mut args = vec!["run", "--rootfs", root, "--name", "tincan-bad"];
        args.extend_from_slice(extra);
        args
    };
    let cases: &[(&str, Vec<&str>)] = &[
        (
            "missing rootfs",
            vec![
                "run",
                "--rootfs",
                "/nonexistent/tincan-image",
                "--name",
                "tincan-bad",
            ],
        ),
        ("--memory lots", run(&["--memory", "lots"])),
        ("--cpus x", run(&["--cpus", "x"])),
        ("--pids-limit 0", run(&["--pids-limit", "0"])),
        ("unknown capability", run(&["--cap-add", "NET_RAWW"])),
        (
            "capability the host lacks",
            run(&["--cap-add", "SYS_RESOURCE"]),
        ),
        ("--user name", run(&["--user", "nobody"])),
        ("--volume relative", run(&["-v", "data:/data"])),
        ("--seccomp file", run(&["--seccomp", "/etc/profile.json"])),
        (
            "bad name",
            vec!["run", "--rootfs", root, "--name", "../etc"],
        ),
        (
            "malformed config.json",
            vec!["run", "--bundle", bundle_arg, "tincan-bad"],
        ),
        ("program not in the image", run(&["--", "/bin/bash"])),
    ];
    let mut report = String::new();
    for (what, args) in cases {
        // The host's bounding set may hold every capability: take this one
        // away from tincan, so the case means the same thing everywhere.
        let out = if *what == "capability the host lacks" {
            tincan_without_cap(state.path(), args, caps::Capability::CAP_SYS_RESOURCE)
        } else {
            tincan(state.path(), args)
        };
        let err = stderr(&out);
        // Root is needed to get as far as the last case; as a user it fails earlier, also in one line.
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert_eq!(err.lines().count(), 1, "{what}: not one line: {err}");
        assert!(err.starts_with("error: "), "{what}: {err}");
        assert_nothing_left(state.path(), "tincan-bad");
        report.push_str(&format!("$ tincan {}\n{err}\n", args.join(" ")));
    }
    if step01::testing::need_root() {
        let report = report
            .replace(root, "[IMAGE]")
            .replace(bundle_arg, "[BUNDLE]")
            .replace(state.path().to_str().expect("utf-8"), "[STATE]");
        insta::assert_snapshot!("step05_bad_input", report);
    }
}
