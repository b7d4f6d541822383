//! Step 1 of the bench: build, as the calling user, everything the
//! measuring half needs (the criterion benches, tincan's rootfs, the
//! kernel and `vm-init` for the boot), and hand the paths over in a file.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, Result, bail};

use super::{BENCHES, Plan, Prepared, plan_file};
use crate::util::{self, cargo, root};
use crate::vm_test;

// ANCHOR: prepare
/// Step 1: build everything as the calling user, so `target/` stays theirs.
pub(super) fn prepare(plan: &Plan) -> Result<Prepared> {
    // Step 04's bench runs /bin/true from tincan's own rootfs.
    crate::rootfs::run()?;
    if plan.runtimes_only {
        return runtimes_only();
    }
    let mut cmd = cargo();
    cmd.args([
        "bench",
        "--no-run",
        "--message-format",
        "json-render-diagnostics",
    ]);
    for (_, package, _) in BENCHES {
        cmd.args(["-p", package]);
    }
    for (_, _, bench) in BENCHES {
        cmd.args(["--bench", bench]);
    }
    cmd.stdout(Stdio::piped());
    eprintln!("$ {}", util::show(&cmd));
    let output = cmd.output().context("run cargo bench --no-run")?;
    if !output.status.success() {
        bail!("building the benches failed: `{}`", util::show(&cmd));
    }
    let executables = vm_test::executables(&String::from_utf8_lossy(&output.stdout));
    let mut benches = Vec::new();
    for (folder, _, bench) in BENCHES {
        let exe = executables
            .iter()
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{bench}-")))
            })
            .with_context(|| format!("cargo built no executable for the bench `{bench}`"))?;
        benches.push((root().join(folder), exe.clone()));
    }
    // The bench target made cargo build tincan in the same profile.
    let tincan = executables
        .iter()
        .find(|p| p.file_name().is_some_and(|n| n == "tincan"))
        .cloned()
        .or_else(|| Some(root().join("target/release/tincan")))
        .filter(|p| p.is_file());
    let rootfs = step04::rootfs::locate(None)?;
    let vmlinux = vm_test::newest_kernel()
        .and_then(|k| {
            let work = root().join("target/vm-test");
            std::fs::create_dir_all(&work).with_context(|| format!("mkdir {}", work.display()))?;
            vm_test::extract_vmlinux(&k, &work)
        })
        .map_err(|e| format!("{e:#}"));
    let init = vm_test::build_init().map_err(|e| format!("{e:#}"));
    Ok(Prepared {
        benches,
        rootfs,
        tincan,
        vmlinux,
        init,
    })
}
// ANCHOR_END: prepare

/// `--runtimes-only`: tincan's release build and the rootfs, nothing else.
fn runtimes_only() -> Result<Prepared> {
    util::run(cargo().args([
        "build",
        "--release",
        "-p",
        "step05-full-container",
        "--bin",
        "tincan",
    ]))?;
    let skipped = || Err("skipped (--runtimes-only)".to_string());
    Ok(Prepared {
        benches: Vec::new(),
        rootfs: step04::rootfs::locate(None)?,
        tincan: Some(root().join("target/release/tincan")),
        vmlinux: skipped(),
        init: skipped(),
    })
}

pub(super) fn save(p: &Prepared) -> Result<()> {
    let mut text = String::new();
    for (dir, exe) in &p.benches {
        let _ = writeln!(text, "bench={}\t{}", dir.display(), exe.display());
    }
    let _ = writeln!(text, "rootfs={}", p.rootfs.display());
    if let Some(t) = &p.tincan {
        let _ = writeln!(text, "tincan={}", t.display());
    }
    for (key, value) in [("vmlinux", &p.vmlinux), ("init", &p.init)] {
        match value {
            Ok(path) => writeln!(text, "{key}={}", path.display()),
            Err(e) => writeln!(text, "{key}!={}", e.replace('\n', " ")),
        }
        .expect("writing to a String cannot fail");
    }
    let path = plan_file();
    std::fs::create_dir_all(path.parent().context("plan file has a parent")?)
        .with_context(|| format!("mkdir for {}", path.display()))?;
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))
}

pub(super) fn load() -> Result<Prepared> {
    let path = plan_file();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("read {} (run `cargo xtask bench`)", path.display()))?;
    let mut p = Prepared {
        benches: Vec::new(),
        rootfs: PathBuf::new(),
        tincan: None,
        vmlinux: Err("no kernel".into()),
        init: Err("no vm-init".into()),
    };
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "bench" => {
                let (dir, exe) = value.split_once('\t').context("bench line has a tab")?;
                p.benches.push((dir.into(), exe.into()));
            }
            "rootfs" => p.rootfs = value.into(),
            "tincan" => p.tincan = Some(value.into()),
            "vmlinux" => p.vmlinux = Ok(value.into()),
            "vmlinux!" => p.vmlinux = Err(value.into()),
            "init" => p.init = Ok(value.into()),
            "init!" => p.init = Err(value.into()),
            _ => {}
        }
    }
    Ok(p)
}
