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

mod browser;
mod i18n;
mod images;

/// The mdbook release the book is written for.
const MDBOOK_VERSION: &str = "0.5.4";

/// What `cargo xtask book` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Serve on localhost and rebuild on change, instead of building once.
    pub serve: bool,
    /// Only this edition (`en`, or one of `i18n::LANGUAGES`); both when unset.
    pub lang: Option<String>,
    /// Only extract `po/messages.pot` and merge it into the catalogs.
    pub pot: bool,
}

/// Build (or serve) the book: the English edition into book/book, each
/// translation into book/book/<lang>.
pub fn run(opts: &Options) -> Result<()> {
    let book = root().join("book");
    if let Some(lang) = opts.lang.as_deref() {
        if lang != "en" && !i18n::LANGUAGES.contains(&lang) {
            bail!(
                "no {lang} edition: the book has en and {:?}",
                i18n::LANGUAGES
            );
        }
    }
    export_snapshots(&book.join("src/output"))?;
    tincan_labs::export_book(&book.join("src/output"))?;
    check_includes(&book.join("src"))?;
    check_chapter_shape(&book.join("src"))?;
    images::check(&book.join("src"))?;
    let mdbook = mdbook()?;
    let path = i18n::tool_path()?;
    let pot = i18n::extract(&mdbook, &path, &book)?;
    if opts.pot {
        for lang in i18n::LANGUAGES {
            i18n::merge(&pot, lang)?;
        }
    }
    for lang in i18n::LANGUAGES {
        i18n::check(&pot, lang)?;
    }
    if opts.pot {
        return Ok(());
    }
    let langs: Vec<&str> = match opts.lang.as_deref() {
        Some(lang) => vec![lang],
        // English first: its build empties book/book, translations included.
        None => std::iter::once("en")
            .chain(i18n::LANGUAGES.iter().copied())
            .collect(),
    };
    for &lang in &langs {
        let dest = if lang == "en" {
            book.join("book")
        } else {
            book.join("book").join(lang)
        };
        let mut cmd = Command::new(&mdbook);
        cmd.env("PATH", &path)
            .env("MDBOOK_BOOK__LANGUAGE", lang)
            .arg(if opts.serve { "serve" } else { "build" })
            .arg("--dest-dir")
            .arg(&dest)
            .arg(&book);
        if let Some(title) = i18n::title(lang) {
            cmd.env("MDBOOK_BOOK__TITLE", title);
        }
        util::run(&mut cmd)?;
        if !opts.serve {
            println!(
                "book ({lang}) written to {}",
                dest.join("index.html").display()
            );
        }
    }
    if !opts.serve {
        browser::check(&book.join("book"), &langs)?;
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

/// Every chapter `ch*.md` opens with "Run this" (the exact commands, in a
/// `console` block, before its first `## ` heading) and ends with a
/// `## Try this` section (its last `## ` heading, not counting the labs'
/// `## Lab ...` sections that follow it).
fn check_chapter_shape(src: &Path) -> Result<()> {
    let mut chapters: Vec<PathBuf> = fs::read_dir(src)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    chapters.retain(|p| {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        name.starts_with("ch") && name.ends_with(".md")
    });
    chapters.sort();
    let mut problems = Vec::new();
    for chapter in &chapters {
        let text =
            fs::read_to_string(chapter).with_context(|| format!("read {}", chapter.display()))?;
        for missing in shape_problems(&text) {
            let name = chapter.strip_prefix(root()).unwrap_or(chapter);
            problems.push(format!("{}: {missing}", name.display()));
        }
    }
    if !problems.is_empty() {
        bail!(
            "chapters must start with \"Run this\" and end with \"Try this\":\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(())
}

/// What a chapter's text lacks of the "Run this" / "Try this" frame.
fn shape_problems(text: &str) -> Vec<String> {
    // Lines outside code blocks, so that a `## ` inside a listing is not a heading.
    let mut in_code = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        lines.push((line, in_code));
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
    }
    let is_heading = |(line, code): &(&str, bool)| !code && line.starts_with("## ");
    let first_section = lines
        .iter()
        .position(is_heading)
        .map_or(&lines[..], |end| &lines[..end]);

    let mut problems = Vec::new();
    let run_this = first_section
        .iter()
        .position(|(line, code)| !code && line.contains("Run this"));
    let console_follows = run_this.is_some_and(|at| {
        first_section[at + 1..]
            .iter()
            .find(|(line, _)| line.trim_start().starts_with("```"))
            .is_some_and(|(line, _)| line.trim() == "```console")
    });
    if !console_follows {
        problems.push(
            "no \"Run this\" line followed by a ```console block before the first `## ` heading"
                .to_string(),
        );
    }
    let last = lines
        .iter()
        .filter(|l| is_heading(l))
        .map(|(line, _)| line.trim_end())
        .rfind(|line| !line.starts_with("## Lab "));
    match last {
        Some("## Try this") => {}
        Some(other) => problems.push(format!(
            "its last section (before any labs) is `{other}`, not `## Try this`"
        )),
        None => problems.push("no `## Try this` section at the end".to_string()),
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_header_keeps_only_the_body() {
        let snap = "---\nsource: x\nexpression: y\n---\nline 1\nline 2\n";
        assert_eq!(strip_header(snap), "line 1\nline 2\n");
    }

    #[test]
    fn a_chapter_with_run_this_and_try_this_passes() {
        let text = "# Step 09: x\n\nIntro.\n\nRun this:\n\n```console\n$ cargo run\n```\n\n\
                    ## Body\n\n```sh\n## not a heading\n```\n\n## Try this\n\n- a thing\n\n\
                    ## Lab 09-x: a lab {#lab-09-x}\n\ntext\n";
        assert_eq!(shape_problems(text), Vec::<String>::new());
    }

    #[test]
    fn a_chapter_without_them_is_named() {
        let text = "# Step 09: x\n\n```console\n$ cargo run\n```\n\n## Body\n\nRun this:\n\n\
                    ```console\n$ x\n```\n\n## Try this\n\n## What it costs\n";
        let problems = shape_problems(text);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("Run this"), "{problems:?}");
        assert!(problems[1].contains("`## What it costs`"), "{problems:?}");
        // "Run this" with a block of another kind does not count either.
        let sh = "# x\n\nRun this:\n\n```sh\ncargo run\n```\n\n## Try this\n";
        assert_eq!(shape_problems(sh).len(), 1);
        assert_eq!(
            shape_problems("# x\n\nRun this:\n```console\n```\n"),
            ["no `## Try this` section at the end"]
        );
    }
}
