//! Bad input is refused in one line that names the problem and the fix,
//! with exit status 1 and nothing left behind. (A test binary of its own, so
//! that no demo test creates cgroups at the same time.)

use std::process::Command;

use step03::version::Hierarchy;

const EXE: &str = env!("CARGO_BIN_EXE_step03-cgroups");

#[test]
fn bad_limits_are_refused_in_one_line_leaving_nothing() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["memory", "--memory", "lots"],
            "--memory \"lots\" is not a size",
        ),
        (&["memory", "--memory", "-64m"], "must be more than zero"),
        (
            &["cpu", "--cpus", "0"],
            "--cpus \"0\" must be more than zero",
        ),
        (&["cpu", "--cpus", "-1"], "must be more than zero"),
        (
            &["pids", "--pids", "many"],
            "--pids \"many\" is not a whole number",
        ),
        (
            &["io", "--read-bps", "fast"],
            "--read-bps \"fast\" is not a size",
        ),
    ];
    let mut transcript = String::new();
    for (args, wanted) in cases {
        let out = Command::new(EXE)
            .args(args)
            .output()
            .expect("run step03-cgroups");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(
            err.lines().count(),
            1,
            "{args:?} must print one line: {err}"
        );
        assert!(
            err.starts_with("error: ") && err.contains(wanted),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", out.stdout);
        transcript.push_str(&format!("$ step03-cgroups {}\n{err}", args.join(" ")));
    }
    insta::assert_snapshot!("step03_bad_input", transcript);
    // Nothing was created: no demo cgroup exists under tincan/.
    if let Ok(Hierarchy::V1 { mounts }) = Hierarchy::detect() {
        for demo in [
            "memory-demo",
            "cpu-hog",
            "cpu-victim",
            "pids-demo",
            "io-demo",
        ] {
            let dir = mounts["memory"].join("tincan").join(demo);
            assert!(!dir.exists(), "{} was left behind", dir.display());
        }
    }
}
