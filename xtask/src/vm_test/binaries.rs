//! Step 3 of the VM test: the static binaries the initramfs holds (the
//! tests, what they start, and `vm-init`), built with `+crt-static` for
//! one target and found in cargo's JSON messages.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, Result, bail};

use super::TARGET;
use crate::util::{self, cargo};

/// The static binaries the initramfs holds.
pub(super) struct Binaries {
    pub(super) init: PathBuf,
    pub(super) tests: PathBuf,
    /// Step 03's demo snapshot tests (`03-cgroups/tests/demos.rs`).
    pub(super) step03_demos: PathBuf,
    /// The demo binary, and the absolute path the tests will look for it at
    /// (`CARGO_BIN_EXE_step03-cgroups` is compiled into them).
    pub(super) demo: PathBuf,
    /// Step 05's test files the VM runs ([`STEP05_TESTS`]), each with the
    /// name of its file.
    pub(super) step05_tests: Vec<(&'static str, PathBuf)>,
    /// tincan, at the absolute path those tests were built with.
    pub(super) tincan: PathBuf,
    /// The toolbox rootfs directory the step 05 tests use.
    pub(super) rootfs: PathBuf,
}

/// Step 05's test files (`05-full-container/tests/<name>.rs`) the VM runs,
/// as `/step05-<name>` in the initramfs; `vm-init` says which of their
/// tests apply there.
pub(super) const STEP05_TESTS: [&str; 10] = [
    "cgroup_view",
    "devices",
    "cleanup",
    "lifecycle",
    "run",
    "oci_spec",
    "escape",
    "concurrency",
    "bad_input",
    "propagation",
];

/// Build with `+crt-static` for [`TARGET`] and return the executables cargo
/// reports in its JSON messages.
fn static_build(args: &[&str]) -> Result<Vec<PathBuf>> {
    let mut cmd = cargo();
    cmd.args(args)
        .args([
            "--target",
            TARGET,
            "--message-format",
            "json-render-diagnostics",
        ])
        .env("RUSTFLAGS", step04::rootfs::STATIC_RUSTFLAGS)
        .stdout(Stdio::piped());
    eprintln!(
        "$ RUSTFLAGS='{}' {}",
        step04::rootfs::STATIC_RUSTFLAGS,
        util::show(&cmd)
    );
    let output = cmd.output().context("run cargo")?;
    if !output.status.success() {
        bail!("static build failed: `{}`", util::show(&cmd));
    }
    Ok(executables(&String::from_utf8_lossy(&output.stdout)))
}

/// The static `vm-init` alone (what `cargo xtask bench` boots).
pub(crate) fn build_init() -> Result<PathBuf> {
    static_build(&["build", "-p", "xtask", "--bin", "vm-init"])?
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "vm-init"))
        .context("cargo reported no vm-init executable")
}

/// Step 3: build static binaries and find them in cargo's JSON messages.
pub(super) fn build_static() -> Result<Binaries> {
    let tests = static_build(&[
        "test",
        "--no-run",
        "-p",
        "step03-cgroups",
        "--test",
        "kernel",
        "--test",
        "demos",
    ])?;
    let mut args = vec!["test", "--no-run", "-p", "step05-full-container"];
    for name in STEP05_TESTS {
        args.extend(["--test", name]);
    }
    let step05 = static_build(&args)?;
    let init = static_build(&["build", "-p", "xtask", "--bin", "vm-init"])?;
    // The toolbox rootfs, built with the same flags (so no rebuild).
    let (rootfs, _) = step04::rootfs::build()?;
    let find = |list: &[PathBuf], what: &str, test: &dyn Fn(&str) -> bool| {
        list.iter()
            .find(|p| p.file_name().is_some_and(|n| test(&n.to_string_lossy())))
            .cloned()
            .with_context(|| format!("cargo reported no {what} executable"))
    };
    Ok(Binaries {
        tests: find(&tests, "kernel test", &|n| n.starts_with("kernel-"))?,
        step03_demos: find(&tests, "demos test", &|n| n.starts_with("demos-"))?,
        demo: find(&tests, "step03-cgroups", &|n| n == "step03-cgroups")?,
        init: find(&init, "vm-init", &|n| n == "vm-init")?,
        step05_tests: STEP05_TESTS
            .iter()
            .map(|&name| {
                let prefix = format!("{name}-");
                Ok((name, find(&step05, name, &|n| n.starts_with(&prefix))?))
            })
            .collect::<Result<_>>()?,
        tincan: find(&step05, "tincan", &|n| n == "tincan")?,
        rootfs,
    })
}

/// The `"executable":"..."` paths in cargo's JSON messages (one object per
/// line; paths never contain quotes, so no JSON library is needed).
pub(crate) fn executables(json: &str) -> Vec<PathBuf> {
    json.lines()
        .filter(|l| l.contains(r#""reason":"compiler-artifact""#))
        .filter_map(|l| {
            let start = l.find(r#""executable":""#)? + r#""executable":""#.len();
            let end = l[start..].find('"')? + start;
            Some(PathBuf::from(&l[start..end]))
        })
        .collect()
}
