//! What every demo does: probe ourselves, probe a child made in new
//! namespaces, and print the two side by side (the step 01 report).
//!
//! The child cannot simply print: it may live in a world where our files
//! and terminal look different, and its stdout is shared with ours. So it
//! writes its probe, plus any extra facts as `key=value` lines, into a pipe
//! (pipe(2)) that the parent reads once the child is gone.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::OwnedFd;

use anyhow::{Context, Result, bail};
use nix::fcntl::OFlag;
use step01::probe::Probe;
use step01::report;

use crate::sandbox::{Exit, Sandbox};

/// What a child reported: its probe, and extra `key=value` facts.
#[derive(Debug, Clone)]
pub struct Inside {
    /// The probe taken inside.
    pub probe: Probe,
    /// Extra facts the child reported, by key.
    pub facts: BTreeMap<String, String>,
}

impl Inside {
    /// One extra fact, or `?` when the child did not report it.
    pub fn fact(&self, key: &str) -> &str {
        self.facts.get(key).map_or("?", String::as_str)
    }
}

/// The extra facts a child collects before its probe: a list of
/// `(key, value)`, values on one line.
pub type Facts = Vec<(String, String)>;

// ANCHOR: probe_inside
/// Start `sandbox` with a main that runs `extra` (which may change things
/// and return facts), then probes itself and reports both to us.
pub fn probe_inside(sandbox: Sandbox<'_>, extra: impl FnOnce() -> Result<Facts>) -> Result<Inside> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe2 (probe)")?;
    let exit = sandbox.run(move || {
        let facts = extra()?;
        let mut text = Probe::collect()?.encode();
        for (key, value) in facts {
            text.push_str(&format!("fact.{key}={}\n", value.replace('\n', " ")));
        }
        write_all(&write, text.as_bytes())?;
        Ok(0)
    })?;
    if exit != Exit::Code(0) {
        bail!("the child ended with {exit} before reporting its probe");
    }
    let text = read_available(read)?;
    let probe = Probe::decode(&text)?;
    let facts = text
        .lines()
        .filter_map(|l| l.strip_prefix("fact.")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Ok(Inside { probe, facts })
}
// ANCHOR_END: probe_inside

/// Write all of `bytes` to a pipe.
pub fn write_all(fd: &OwnedFd, mut bytes: &[u8]) -> Result<()> {
    while !bytes.is_empty() {
        let n = nix::unistd::write(fd, bytes).context("write to the report pipe")?;
        bytes = &bytes[n..];
    }
    Ok(())
}

/// Everything already in a pipe, without waiting for its writers to close
/// it (a grandchild may still hold a copy of the write end).
pub fn read_available(fd: OwnedFd) -> Result<String> {
    let flags = nix::fcntl::fcntl(&fd, nix::fcntl::F_GETFL).context("fcntl(F_GETFL)")?;
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&fd, nix::fcntl::F_SETFL(flags)).context("fcntl(F_SETFL, O_NONBLOCK)")?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = nix::unistd::read(&fd, &mut buf) {
        out.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Print the heading, the probe table and a blank line.
pub fn print_table(
    out: &mut dyn Write,
    heading: &str,
    outside: &Probe,
    inside: &Probe,
) -> Result<()> {
    writeln!(out, "{heading}\n")?;
    write!(out, "{}", report::side_by_side(outside, inside))?;
    writeln!(out)?;
    Ok(())
}

/// A host fact: shown, or `[HOST]` when redacting.
pub fn host(value: impl std::fmt::Display) -> String {
    if report::redacting() {
        "[HOST]".into()
    } else {
        value.to_string()
    }
}

/// A process id: shown, or `[PID]` when redacting.
pub fn pid(value: impl std::fmt::Display) -> String {
    if report::redacting() {
        "[PID]".into()
    } else {
        value.to_string()
    }
}
