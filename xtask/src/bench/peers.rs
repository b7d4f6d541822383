//! Step 4a of the bench: time other container runtimes (runc, crun,
//! podman) starting the same `/bin/true` from the same rootfs, each in a
//! cgroup of our own (cgroups(7)) that is removed afterwards.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Plan, Prepared, Row};
use crate::util::{self, root};
use crate::vm_test;

/// The median of `runs` timings; the first failure ends it.
pub(super) fn median_of(
    runs: usize,
    mut once: impl FnMut() -> Result<Duration>,
) -> Result<Duration> {
    let mut times = (0..runs).map(|_| once()).collect::<Result<Vec<_>>>()?;
    times.sort();
    Ok(times[times.len() / 2])
}

fn timed(cmd: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("start {}", util::show(cmd)))?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            util::show(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(elapsed)
}

/// Is cgroup2 mounted next to v1 controllers (a "hybrid" host)? crun
/// refuses such a host unless cgroup2 is unmounted in its mount namespace.
fn hybrid() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some("/sys/fs/cgroup/unified"))
}

/// Remove a cgroup we named (`tincan-bench-*`) from every hierarchy,
/// children first: a runtime may leave it (podman leaves `conmon` in it).
fn remove_cgroup(name: &str) {
    assert!(name.starts_with("tincan-bench-"), "only our own cgroups");
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let mut dirs: Vec<PathBuf> = hierarchies
        .flatten()
        .map(|h| h.path().join(name))
        .chain([Path::new("/sys/fs/cgroup").join(name)])
        .filter(|p| p.is_dir())
        .collect();
    while let Some(dir) = dirs.pop() {
        let children: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        if children.is_empty() {
            if let Err(e) = std::fs::remove_dir(&dir) {
                eprintln!("warning: rmdir {}: {e}", dir.display());
            }
        } else {
            dirs.push(dir);
            dirs.extend(children);
        }
    }
}

// ANCHOR: peers
/// Step 4a: other runtimes start the same `/bin/true` from the same rootfs.
/// A missing runtime gives a row with a note; we install nothing.
pub(super) fn time_peers(plan: Plan, prepared: &Prepared) -> Vec<Row> {
    let work = root().join("target/bench");
    let runs = plan.runs(11, 5);
    let mut rows = Vec::new();
    for runtime in ["runc", "crun"] {
        let label = format!("`{runtime} run` of a bundle");
        let median = if !vm_test::on_path(runtime) {
            Err(format!("{runtime} is not installed"))
        } else {
            let name = format!("tincan-bench-{runtime}");
            let result =
                bundle(&work.join(runtime), &prepared.rootfs, runtime, &name).and_then(|bundle| {
                    median_of(runs, || {
                        timed(&mut runtime_command(runtime, &bundle, &work, &name))
                    })
                });
            remove_cgroup(&name);
            result.map_err(|e| format!("{e:#}"))
        };
        let note = if runtime == "crun" && hybrid() {
            " (hybrid host: in a mount namespace without cgroup2)"
        } else {
            ""
        };
        rows.push(Row {
            label,
            source: format!("timed by xtask, {runs} runs{note}"),
            median,
        });
    }
    let runs = plan.runs(5, 3);
    let median = if !vm_test::on_path("podman") {
        Err("podman is not installed".to_string())
    } else {
        let result =
            podman(&work, &prepared.rootfs).and_then(|mut cmd| median_of(runs, || timed(&mut cmd)));
        remove_cgroup("tincan-bench-podman");
        result.map_err(|e| format!("{e:#}"))
    };
    let note = if hybrid() {
        " (hybrid host: crun behind the same mount namespace trick)"
    } else {
        ""
    };
    rows.push(Row {
        label: "`podman run --rm --net none --rootfs`".into(),
        source: format!("timed by xtask, {runs} runs{note}"),
        median,
    });
    rows
}
// ANCHOR_END: peers

/// An OCI bundle: the runtime's own `spec`, pointed at our rootfs.
fn bundle(dir: &Path, rootfs: &Path, runtime: &str, cgroup: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
    let config = dir.join("config.json");
    let _ = std::fs::remove_file(&config);
    util::run(Command::new(runtime).arg("spec").current_dir(dir))?;
    let text =
        std::fs::read_to_string(&config).with_context(|| format!("read {}", config.display()))?;
    let mut spec: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parse {}", config.display()))?;
    spec["root"] = serde_json::json!({ "path": rootfs, "readonly": true });
    spec["process"]["args"] = serde_json::json!(["/bin/true"]);
    spec["process"]["terminal"] = serde_json::json!(false);
    // Without a path, runc nests the container's cgroup under ours.
    spec["linux"]["cgroupsPath"] = serde_json::json!(format!("/{cgroup}"));
    std::fs::write(&config, serde_json::to_string_pretty(&spec)?)
        .with_context(|| format!("write {}", config.display()))?;
    Ok(dir.to_path_buf())
}

fn runtime_command(runtime: &str, bundle: &Path, work: &Path, name: &str) -> Command {
    let state = work.join(format!("{runtime}-state"));
    let run = format!(
        "exec {runtime} --root '{}' run --bundle '{}' {name}",
        state.display(),
        bundle.display()
    );
    if runtime == "crun" && hybrid() {
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "sh", "-c"])
            .arg(format!("umount /sys/fs/cgroup/unified && {run}"));
        cmd
    } else {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &run]);
        cmd
    }
}

/// podman, kept to our own directories and cgroup: its storage under
/// `target/bench`, a `containers.conf` with the ulimits this host allows
/// (no CAP_SYS_RESOURCE to raise them), and on a hybrid host crun behind a
/// wrapper that hides cgroup2 from it.
fn podman(work: &Path, rootfs: &Path) -> Result<Command> {
    let dir = work.join("podman");
    std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
    let conf = dir.join("containers.conf");
    std::fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n",
    )
    .with_context(|| format!("write {}", conf.display()))?;
    let mut cmd = Command::new("podman");
    cmd.env("CONTAINERS_CONF", &conf)
        .arg("--root")
        .arg(dir.join("storage"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args(["--cgroup-manager", "cgroupfs", "--events-backend", "none"]);
    if hybrid() {
        let wrapper = dir.join("crun-hybrid");
        std::fs::write(
            &wrapper,
            "#!/bin/sh\nexec unshare -m sh -c 'umount /sys/fs/cgroup/unified && exec crun \"$@\"' crun \"$@\"\n",
        )
        .with_context(|| format!("write {}", wrapper.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("chmod {}", wrapper.display()))?;
        cmd.arg("--runtime").arg(wrapper);
    }
    cmd.args([
        "run",
        "--rm",
        "--net",
        "none",
        "--cgroup-parent",
        "/tincan-bench-podman",
        "--rootfs",
    ])
    .arg(rootfs)
    .arg("/bin/true");
    Ok(cmd)
}
