//! Shared by the integration tests: the rootfs, the binary, host state.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The toolbox rootfs, built once per test binary with the same code as
/// `cargo xtask rootfs`.
pub fn rootfs() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| step04::rootfs::build().expect("build the toolbox rootfs").0)
        .clone()
}

/// Run the step 04 binary with `args`.
pub fn step04(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_step04-chroot-pivot"))
        .args(args)
        .env_remove("TINCAN_REDACT")
        .output()
        .expect("start step04-chroot-pivot")
}

/// stdout and stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The host's mount table, as this test process (in the host's mount
/// namespace) sees it.
pub fn mountinfo() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("read /proc/self/mountinfo")
        .lines()
        .map(String::from)
        .collect()
}

/// A fresh scratch directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("tincan-test-{tag}-{}-{nonce}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir scratch");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A number that differs from run to run, for markers no code can guess.
pub fn nonce() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos()
            ^ u128::from(std::process::id())
    )
}

/// A tarball whose entries are written as given, bypassing the checks the
/// tar crate's builder makes (an attacker's tarball is not polite).
pub fn raw_tarball(path: &std::path::Path, entries: &[(&str, tar::EntryType, &str)]) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).expect("create tarball"));
    for (name, kind, data) in entries {
        let mut header = tar::Header::new_gnu();
        let gnu = header.as_gnu_mut().expect("gnu header");
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(*kind);
        header.set_mode(0o644);
        if *kind == tar::EntryType::Symlink {
            header.set_link_name(data).expect("link name");
            header.set_size(0);
        } else if *kind == tar::EntryType::Char {
            // Device numbers: 1:3, what /dev/null is.
            header.set_device_major(1).expect("major");
            header.set_device_minor(3).expect("minor");
            header.set_size(0);
        } else {
            header.set_size(data.len() as u64);
        }
        header.set_cksum();
        let body: &[u8] = if *kind == tar::EntryType::Symlink {
            b""
        } else {
            data.as_bytes()
        };
        builder.append(&header, body).expect("append");
    }
    builder.finish().expect("finish tarball");
}
