//! `cargo xtask test-as-user`: README's test command as an ordinary user.
//!
//! A learner runs `cargo test --workspace` without root, in a checkout of
//! their own. Every test that needs root must then skip with a visible
//! reason, and every other test must pass: rootless namespaces, the
//! parsers, the snapshots that need no privilege. CI runs as root, so this
//! task makes that learner: as root it clones the committed workspace into
//! a directory owned by `nobody` (uid 65534, the account every Linux has),
//! gives it the toolchain and the crates already downloaded (hard links:
//! nothing is copied, and the files stay read-only to it), and runs
//! `cargo test --workspace` as nobody, without `CI=true`, offline.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{is_root, root, run, test_counting_skips};

/// The user the tests run as.
const NOBODY: u32 = 65534;

/// Clone, build and test as nobody; remove everything afterwards.
pub fn run_tests() -> Result<()> {
    if !is_root() {
        bail!(
            "test-as-user makes the user nobody run the tests, which needs root; \
             as an ordinary user, `cargo test --workspace` is that test"
        );
    }
    let dir = std::env::temp_dir().join(format!("tincan-as-user-{}", std::process::id()));
    let result = prepare(&dir).and_then(|home| test_counting_skips(as_nobody(&home)));
    let _ = std::fs::remove_dir_all(&dir);
    result.context("cargo test --workspace as the user nobody")
}

/// The home of nobody for this run, holding the clone, a toolchain and a
/// cargo home. Returns the home.
fn prepare(dir: &Path) -> Result<PathBuf> {
    let home = dir.join("home");
    std::fs::create_dir_all(home.join("cargo"))
        .with_context(|| format!("mkdir {}", home.display()))?;
    run(Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(root())
        .arg(home.join("tincan")))?;
    // The toolchain and the downloaded crates, as hard links: the files
    // are root's and stay read-only to nobody; the directories are new.
    link_tree(&sysroot()?, &home.join("toolchain"))?;
    // The index and the downloaded .crate archives; not the unpacked
    // sources, where some crates keep files readable by their owner only:
    // cargo unpacks them again, as nobody, into nobody's own cargo home.
    let registry = cargo_home().join("registry");
    std::fs::create_dir_all(home.join("cargo/registry"))
        .with_context(|| format!("mkdir {}", home.display()))?;
    for part in ["index", "cache"] {
        link_tree(
            &registry.join(part),
            &home.join("cargo/registry").join(part),
        )?;
    }
    chown_dirs(&home)?;
    // The clone is nobody's own, files too, as a learner's checkout is.
    run(Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}")])
        .arg(home.join("tincan")))?;
    Ok(home)
}

/// `cargo test --workspace` in the clone, as nobody, with nobody's own
/// environment: no CI=true, its home, its cargo home, offline.
fn as_nobody(home: &Path) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(home.join("toolchain/bin/cargo"));
    cmd.args(["test", "--workspace"])
        .current_dir(home.join("tincan"))
        .env_clear()
        .env("HOME", home)
        .env("USER", "nobody")
        .env("CARGO_HOME", home.join("cargo"))
        .env("CARGO_NET_OFFLINE", "true")
        .env("CARGO_TERM_COLOR", "never")
        .env(
            "PATH",
            format!(
                "{}:/usr/sbin:/usr/bin:/sbin:/bin",
                home.join("toolchain/bin").display()
            ),
        );
    // std's `uid`, run as root, also drops the supplementary groups
    // (setgroups(0)); with every uid away from 0, no capability stays.
    cmd.uid(NOBODY).gid(NOBODY);
    cmd
}

/// Where the running toolchain lives (`rustc --print sysroot`).
fn sysroot() -> Result<PathBuf> {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .context("run rustc --print sysroot")?;
    if !out.status.success() {
        bail!("rustc --print sysroot failed ({})", out.status);
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// `$CARGO_HOME`, or `~/.cargo`.
fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"),
        PathBuf::from,
    )
}

/// `cp -al`: the same files under a new tree of directories.
fn link_tree(from: &Path, to: &Path) -> Result<()> {
    run(Command::new("cp").arg("-al").arg(from).arg(to))
}

/// Make every directory below `dir` nobody's, and no file: a file is a
/// hard link to root's own copy, and chown would change that one too.
fn chown_dirs(dir: &Path) -> Result<()> {
    let cmd = Command::new("find")
        .arg(dir)
        .args([
            "-type",
            "d",
            "-exec",
            "chown",
            &format!("{NOBODY}:{NOBODY}"),
            "{}",
            "+",
        ])
        .status()
        .context("run find -exec chown")?;
    if !cmd.success() {
        bail!(
            "chown the directories of {} to nobody failed",
            dir.display()
        );
    }
    Ok(())
}
