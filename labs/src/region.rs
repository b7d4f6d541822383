//! A lab's regions in the source, the copies kept of them, and its status.
//!
//! The code as it is before `start` is the solution (the committed code, in
//! a learner's clone). `start` keeps a copy of it under
//! `target/labs/<lab>/solution/` (git's HEAD is the fallback); `reset` keeps
//! the learner's version under `target/labs/<lab>/yours-<time>/`, puts the
//! solution back and drops the copy. Nothing here ever commits.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::catalog::{Lab, Region};
use crate::util::root;

/// Where a region's body sits in its file (byte offsets).
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

/// The body between `// ANCHOR: anchor` and `// ANCHOR_END: anchor`, with
/// the anchor line's indentation.
fn find(text: &str, anchor: &str) -> Option<(Span, String)> {
    let open = format!("// ANCHOR: {anchor}");
    let close = format!("// ANCHOR_END: {anchor}");
    let mut offset = 0;
    let mut start = None;
    let mut indent = String::new();
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if start.is_none() && trimmed == open {
            indent = line[..line.len() - line.trim_start().len()].to_string();
            start = Some(offset + line.len());
        } else if let (Some(start), true) = (start, trimmed == close) {
            return Some((Span { start, end: offset }, indent));
        }
        offset += line.len();
    }
    None
}

/// The first line of a region (1-based), for messages.
pub fn line_of(lab_region: &Region) -> Result<usize> {
    let text = read(&lab_region.file)?;
    let (span, _) = locate(&text, lab_region)?;
    Ok(text[..span.start].lines().count() + 1)
}

fn locate(text: &str, region: &Region) -> Result<(Span, String)> {
    find(text, &region.anchor).with_context(|| {
        format!(
            "{}: no `// ANCHOR: {a}` ... `// ANCHOR_END: {a}` region",
            region.file,
            a = region.anchor
        )
    })
}

fn read(file: &str) -> Result<String> {
    let path = root().join(file);
    fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))
}

/// The region's body as it is now.
pub fn body(region: &Region) -> Result<String> {
    let text = read(&region.file)?;
    let (span, _) = locate(&text, region)?;
    Ok(text[span.start..span.end].to_string())
}

/// Replace the region's body with `new_body`.
pub fn write_body(region: &Region, new_body: &str) -> Result<()> {
    let text = read(&region.file)?;
    let (span, _) = locate(&text, region)?;
    let out = format!("{}{new_body}{}", &text[..span.start], &text[span.end..]);
    let path = root().join(&region.file);
    fs::write(&path, out).with_context(|| format!("write {}", path.display()))
}

/// The stub, indented like the region's anchor line.
pub fn stub(region: &Region) -> Result<String> {
    let text = read(&region.file)?;
    let (_, indent) = locate(&text, region)?;
    Ok(indented(&region.stub, &indent))
}

/// `text` (a TOML multi-line string) with every non-empty line indented.
pub fn indented(text: &str, indent: &str) -> String {
    text.trim_start_matches('\n')
        .lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("{indent}{l}\n")
            }
        })
        .collect()
}

/// `target/labs` (or `$CARGO_TARGET_DIR/labs`).
pub fn labs_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join("labs")
}

fn solution_copy(lab: &Lab, region: &Region) -> PathBuf {
    labs_dir()
        .join(&lab.name)
        .join("solution")
        .join(format!("{}.rs", region.anchor))
}

/// The body of the region in git's HEAD, if this is a git clone.
fn committed_body(region: &Region) -> Option<String> {
    let out = Command::new("git")
        .args(["show", &format!("HEAD:{}", region.file)])
        .current_dir(root())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let (span, _) = find(&text, &region.anchor)?;
    Some(text[span.start..span.end].to_string())
}

/// The solution's body: the copy `start` kept; before any start, the
/// region as it is (the code as committed, or as a developer changed it);
/// git's HEAD if the copy is gone while a stub is in place.
pub fn solution(lab: &Lab, region: &Region) -> Result<String> {
    let copy = solution_copy(lab, region);
    if let Ok(text) = fs::read_to_string(&copy) {
        return Ok(text);
    }
    let now = body(region)?;
    if !now.contains(&lab.marker()) {
        return Ok(now);
    }
    match committed_body(region) {
        Some(text) if !text.contains(&lab.marker()) => Ok(text),
        _ => bail!(
            "no copy of the solution of {} ({} is gone, and git has none): \
             the book shows it, in the chapter's Lab section",
            region.anchor,
            copy.display()
        ),
    }
}

/// Drop the solution's copies once the solution is back in the code, so
/// that a later change to the committed code is the solution from then on.
pub fn forget_solution(lab: &Lab) -> Result<()> {
    let dir = labs_dir().join(&lab.name).join("solution");
    match fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Keep the solution's copy (once).
pub fn save_solution(lab: &Lab, region: &Region, text: &str) -> Result<()> {
    let copy = solution_copy(lab, region);
    if copy.exists() {
        return Ok(());
    }
    write_file(&copy, text)
}

/// Keep a learner's version; returns the file it went to (as a path from
/// the workspace root when it is inside it).
pub fn keep_yours(lab: &Lab, region: &Region, text: &str, stamp: u64) -> Result<String> {
    let dir = labs_dir().join(&lab.name).join(format!("yours-{stamp}"));
    let file = dir.join(format!("{}.rs", region.anchor));
    write_file(&file, text)?;
    let root = root();
    Ok(file
        .strip_prefix(&root)
        .unwrap_or(&file)
        .display()
        .to_string())
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("mkdir {}", parent.display()))?;
    }
    fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

/// What `list` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every region is the solution.
    NotStarted,
    /// A region is a stub or the learner's work.
    Started,
    /// The last check passed, and the code has not changed since.
    Passed,
}

impl Status {
    /// As `list` prints it.
    pub fn label(self) -> &'static str {
        match self {
            Status::NotStarted => "not started",
            Status::Started => "started",
            Status::Passed => "passed",
        }
    }
}

/// What is remembered of a lab between commands (`target/labs/<lab>/state.json`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// Hints given so far.
    pub hints: usize,
    /// Fingerprint of the regions when a check last passed.
    pub passed: Option<String>,
}

fn state_path(lab: &Lab) -> PathBuf {
    labs_dir().join(&lab.name).join("state.json")
}

/// The lab's remembered state (default when there is none).
pub fn load_state(lab: &Lab) -> State {
    fs::read_to_string(state_path(lab))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Remember the lab's state.
pub fn save_state(lab: &Lab, state: &State) -> Result<()> {
    let text = serde_json::to_string_pretty(state).context("encode the lab state")?;
    write_file(&state_path(lab), &text)
}

/// A fingerprint of the lab's regions as they are now.
pub fn fingerprint(lab: &Lab) -> Result<String> {
    let mut hasher = DefaultHasher::new();
    for region in &lab.regions {
        body(region)?.hash(&mut hasher);
    }
    Ok(format!("{:016x}", hasher.finish()))
}

/// Not started, started or passed.
pub fn status(lab: &Lab) -> Result<Status> {
    let mut untouched = true;
    for region in &lab.regions {
        if body(region)? != solution(lab, region)? {
            untouched = false;
        }
    }
    if untouched {
        return Ok(Status::NotStarted);
    }
    if load_state(lab).passed == Some(fingerprint(lab)?) {
        return Ok(Status::Passed);
    }
    Ok(Status::Started)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "fn f() {\n    // ANCHOR: lab-x\n    a();\n    b()\n    // ANCHOR_END: lab-x\n}\n";

    #[test]
    fn find_gives_the_body_and_the_indent() {
        let (span, indent) = find(TEXT, "lab-x").expect("found");
        assert_eq!(&TEXT[span.start..span.end], "    a();\n    b()\n");
        assert_eq!(indent, "    ");
        assert!(find(TEXT, "lab-y").is_none());
        assert!(find(TEXT, "lab").is_none());
    }

    #[test]
    fn indented_keeps_blank_lines_blank() {
        assert_eq!(indented("\na\n\n  b\n", "  "), "  a\n\n    b\n");
    }
}
