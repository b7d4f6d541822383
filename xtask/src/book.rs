//! `cargo xtask book`: render the book with a pinned mdbook.
//!
//! The book never contains typed-in output. Before rendering, the insta
//! snapshots that the tests keep true (`*/tests/snapshots/*.snap`) are copied
//! without their metadata header to `book/src/output/<name>.txt`, and the
//! chapters include those files.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{self, cargo, root};

/// The mdbook release the book is written for.
const MDBOOK_VERSION: &str = "0.5.4";

/// Build (or serve) the book.
pub fn run(serve: bool) -> Result<()> {
    let book = root().join("book");
    export_snapshots(&book.join("src/output"))?;
    tincan_labs::export_book(&book.join("src/output"))?;
    check_includes(&book.join("src"))?;
    let mdbook = mdbook()?;
    let mut cmd = Command::new(mdbook);
    cmd.arg(if serve { "serve" } else { "build" }).arg(&book);
    util::run(&mut cmd)?;
    if !serve {
        println!("book written to {}", book.join("book/index.html").display());
    }
    Ok(())
}

/// Find mdbook `MDBOOK_VERSION`, on PATH or in target/tools, else install it there.
fn mdbook() -> Result<PathBuf> {
    let local = root().join("target/tools/bin/mdbook");
    for candidate in [PathBuf::from("mdbook"), local.clone()] {
        let version = Command::new(&candidate).arg("--version").output();
        if let Ok(out) = version {
            if String::from_utf8_lossy(&out.stdout).contains(MDBOOK_VERSION) {
                return Ok(candidate);
            }
        }
    }
    eprintln!("installing mdbook {MDBOOK_VERSION} into target/tools (once, about two minutes)");
    util::run(
        cargo()
            .args([
                "install",
                "mdbook",
                "--quiet",
                "--locked",
                "--version",
                MDBOOK_VERSION,
                "--no-default-features",
                "--features",
                "search",
                "--root",
            ])
            .arg(root().join("target/tools")),
    )?;
    Ok(local)
}

/// Copy every snapshot, minus insta's `---` header, to `out/<name>.txt`.
pub fn export_snapshots(out: &Path) -> Result<()> {
    fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    for crate_dir in fs::read_dir(root())? {
        let snaps = crate_dir?.path().join("tests/snapshots");
        let Ok(entries) = fs::read_dir(&snaps) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "snap") {
                continue;
            }
            let text =
                fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
            let body = strip_header(&text);
            let name = path
                .file_stem()
                .expect("a .snap file has a stem")
                .to_string_lossy();
            let dest = out.join(format!("{name}.txt"));
            fs::write(&dest, body).with_context(|| format!("write {}", dest.display()))?;
        }
    }
    Ok(())
}

/// insta files start with `---`, metadata lines, `---`; the body follows.
fn strip_header(text: &str) -> &str {
    if let Some(rest) = text.strip_prefix("---\n") {
        if let Some(end) = rest.find("\n---\n") {
            return &rest[end + 5..];
        }
    }
    text
}

/// Every `{{#include path:anchor}}` must name an existing file and anchor:
/// mdbook only warns, and a book with a silently empty listing is worse than
/// no book.
fn check_includes(src: &Path) -> Result<()> {
    let mut problems = Vec::new();
    for entry in fs::read_dir(src)? {
        let chapter = entry?.path();
        if chapter.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = fs::read_to_string(&chapter)?;
        for (_, rest) in text
            .match_indices("{{#include ")
            .map(|(i, _)| ((), &text[i + 11..]))
        {
            let Some(end) = rest.find("}}") else { continue };
            let spec = rest[..end].trim();
            let (file, anchor) = match spec.split_once(':') {
                Some((f, a)) if !a.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
                    (f, Some(a))
                }
                Some((f, _)) => (f, None),
                None => (spec, None),
            };
            let path = src.join(file);
            let Ok(body) = fs::read_to_string(&path) else {
                problems.push(format!("{}: missing file {file}", chapter.display()));
                continue;
            };
            if let Some(anchor) = anchor {
                if !body.contains(&format!("ANCHOR: {anchor}")) {
                    problems.push(format!(
                        "{}: no anchor {anchor} in {file}",
                        chapter.display()
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "the book includes what does not exist:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_header_keeps_only_the_body() {
        let snap = "---\nsource: x\nexpression: y\n---\nline 1\nline 2\n";
        assert_eq!(strip_header(snap), "line 1\nline 2\n");
    }
}
