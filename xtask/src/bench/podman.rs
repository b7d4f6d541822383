//! podman driving each runtime in turn (`podman --runtime <path>`): the
//! same engine, the same rootfs, only the OCI runtime under it changes.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::fair::{Contender, alternate};
use super::runtimes::{Measured, Runtime, Work, which};

/// The cgroup podman puts its containers (and conmon) under.
const PARENT: &str = "tincan-bench-podman";

// ANCHOR: podman
/// `podman run --rm --net none --rootfs DIR /bin/true` with `--runtime`
/// tincan, crun and runc, in turns. podman's storage, run and temporary
/// directories and its `containers.conf` are ours, under `work`: the host
/// lacks CAP_SYS_RESOURCE, so podman's default ulimits must be lowered.
/// No wrapper for crun: podman and conmon inherit the xtask's mount
/// namespace, where the cgroup2 mount is already gone.
pub fn podman_rows(
    runtimes: &[Runtime],
    work: &mut Work,
    rootfs: &Path,
    rounds: usize,
) -> Result<Vec<Measured>> {
    let Some(podman) = which("podman") else {
        return Ok(Vec::new());
    };
    let dir = work.dir.join("podman");
    std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
    let conf = dir.join("containers.conf");
    std::fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n",
    )
    .with_context(|| format!("write {}", conf.display()))?;
    work.cgroups.push(PARENT.to_string());
    let command = |rt: &Runtime| {
        let mut cmd = Command::new(&podman);
        cmd.env("CONTAINERS_CONF", &conf)
            .arg("--root")
            .arg(dir.join("storage"))
            .arg("--runroot")
            .arg(dir.join("run"))
            .arg("--tmpdir")
            .arg(dir.join("tmp"))
            .arg("--runtime")
            .arg(&rt.exe)
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "none"])
            .args(["run", "--rm", "--net", "none", "--cgroup-parent"])
            .arg(format!("/{PARENT}"))
            .arg("--rootfs")
            .arg(rootfs)
            .arg("/bin/true");
        cmd
    };
    let contenders: Vec<Contender<'_>> = runtimes
        .iter()
        .map(|rt| Contender {
            command: Box::new(move |_| command(rt)),
            after_failure: Box::new(|_| {}),
        })
        .collect();
    let stats = alternate(&contenders, rounds);
    let version = super::runtimes::which("podman")
        .and_then(|p| Command::new(p).arg("--version").output().ok())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    Ok(runtimes
        .iter()
        .zip(stats)
        .map(|(rt, stats)| Measured {
            key: format!("podman-{}", rt.name),
            label: format!(
                "`podman --runtime {} run --rm --net none --rootfs` ({version})",
                rt.name
            ),
            stats,
        })
        .collect())
}
// ANCHOR_END: podman
