//! The book's pictures, `book/src/img/*.svg`, are hand-written SVG. mdbook
//! copies whatever a chapter points at and says nothing when the file is
//! missing or broken (the reader gets a broken-image icon), so this check
//! does: every image a chapter shows exists, and an SVG is well-formed,
//! scales (`viewBox`), says what it shows (`<title>`, `<desc>`), and loads
//! nothing from outside (no fonts, scripts or pictures off the network, which
//! would also break the offline book). And every SVG in `img/` is shown
//! somewhere, so that none is kept up to date for nobody.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// A picture larger than this is not hand-written any more.
const MAX_SVG_BYTES: usize = 15 * 1024;

/// Check every image the chapters in `src` show, and every SVG in `src/img`.
pub fn check(src: &Path) -> Result<()> {
    let mut shown = Vec::new();
    let mut problems = Vec::new();
    let mut chapters: Vec<_> = fs::read_dir(src)
        .with_context(|| format!("read {}", src.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    chapters.retain(|p| p.extension().is_some_and(|e| e == "md"));
    chapters.sort();
    for chapter in &chapters {
        let text =
            fs::read_to_string(chapter).with_context(|| format!("read {}", chapter.display()))?;
        let name = chapter.file_name().unwrap_or_default().to_string_lossy();
        for target in image_targets(&text) {
            // Charts that `cargo xtask bench --book` draws: they must be
            // there and well-formed; the rules for hand-written ones do not
            // apply to a plotting crate's output.
            if target.starts_with("generated/") {
                match fs::read_to_string(src.join(target)) {
                    Err(_) => problems.push(format!(
                        "{name}: missing chart {target} (cargo xtask bench --book)"
                    )),
                    Ok(svg) if roxmltree::Document::parse(&svg).is_err() => {
                        problems.push(format!("{target}: not well-formed XML"));
                    }
                    Ok(_) => {}
                }
                continue;
            }
            let Some(file) = target.strip_prefix("img/") else {
                problems.push(format!(
                    "{name}: image {target} is not in img/ (or generated/)"
                ));
                continue;
            };
            let path = src.join(target);
            match fs::read_to_string(&path) {
                Err(_) => problems.push(format!("{name}: missing image {target}")),
                Ok(svg) if target.ends_with(".svg") => {
                    for problem in svg_problems(&svg) {
                        problems.push(format!("{target}: {problem}"));
                    }
                }
                Ok(_) => {}
            }
            shown.push(file.to_string());
        }
    }
    if let Ok(entries) = fs::read_dir(src.join("img")) {
        let mut files: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".svg"))
            .collect();
        files.sort();
        for file in files.iter().filter(|f| !shown.contains(f)) {
            problems.push(format!("img/{file}: no chapter shows it"));
        }
    }
    if !problems.is_empty() {
        bail!(
            "the book's pictures need fixing:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(())
}

/// The targets of the Markdown images `![alt](target)` in `markdown` (the
/// alt text may run over several lines). Code blocks are skipped: a listing
/// may show the syntax without meaning a picture.
fn image_targets(markdown: &str) -> Vec<&str> {
    let mut prose = Vec::new();
    let mut in_code = false;
    let mut offset = 0;
    for line in markdown.split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code {
            prose.push(offset..offset + line.len());
        }
        offset += line.len();
    }
    let in_prose = |at: usize| prose.iter().any(|r| r.contains(&at));
    let mut targets = Vec::new();
    let mut rest = 0;
    while let Some(start) = markdown[rest..].find("![").map(|i| rest + i) {
        rest = start + 2;
        if !in_prose(start) {
            continue;
        }
        let Some(open) = markdown[rest..].find("](").map(|i| rest + i + 2) else {
            break;
        };
        let Some(close) = markdown[open..].find(')').map(|i| open + i) else {
            break;
        };
        // `![alt](target "title")`: the target is the first word.
        let target = markdown[open..close]
            .split_whitespace()
            .next()
            .unwrap_or("");
        targets.push(target);
        rest = close;
    }
    targets
}

/// What is wrong with one SVG file's text; empty when nothing is.
fn svg_problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if text.len() > MAX_SVG_BYTES {
        problems.push(format!(
            "{} bytes, more than {MAX_SVG_BYTES}: draw less, or split it",
            text.len()
        ));
    }
    let doc = match roxmltree::Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            problems.push(format!("not well-formed XML: {e}"));
            return problems;
        }
    };
    let root = doc.root_element();
    if root.tag_name().name() != "svg" {
        problems.push(format!(
            "the root element is <{}>, not <svg>",
            root.tag_name().name()
        ));
    }
    if root.attribute("viewBox").is_none() {
        problems.push("no viewBox on <svg>: it would not scale".to_string());
    }
    for wanted in ["title", "desc"] {
        let has = root.children().any(|child| {
            child.tag_name().name() == wanted && child.text().is_some_and(|t| !t.trim().is_empty())
        });
        if !has {
            problems.push(format!(
                "no <{wanted}> with text under <svg>: screen readers need it"
            ));
        }
    }
    for node in doc.descendants().filter(roxmltree::Node::is_element) {
        let tag = node.tag_name().name();
        if tag == "script" || tag == "foreignObject" {
            problems.push(format!("a <{tag}> element: the book's pictures are static"));
        }
        for attr in node.attributes() {
            let value = attr.value().trim();
            if attr.name() == "href" && !value.starts_with('#') {
                problems.push(format!("<{tag} href=\"{value}\">: an external reference"));
            } else if external_url(value) {
                problems.push(format!("<{tag} {}>: an external reference", attr.name()));
            }
        }
        if tag == "style" {
            let css = node.text().unwrap_or("");
            if css.contains("@import") || external_url(css) {
                problems.push("<style> loads from outside (@import or url(...))".to_string());
            }
        }
    }
    problems
}

/// Whether CSS or an attribute value has a `url(...)` that is not `url(#id)`.
fn external_url(value: &str) -> bool {
    value.match_indices("url(").any(|(i, _)| {
        let inside = value[i + 4..].trim_start_matches(['\'', '"', ' ']);
        !inside.starts_with('#')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">
  <title>A box</title>
  <desc>One square box.</desc>
  <defs><marker id="m"><path d="M0 0 L1 1"/></marker></defs>
  <rect width="5" height="5" fill="#fff" marker-end="url(#m)"/>
  <use href="#m"/>
</svg>"##;

    #[test]
    fn a_tidy_svg_passes() {
        assert_eq!(svg_problems(GOOD), Vec::<String>::new());
    }

    #[test]
    fn each_fault_is_named() {
        let one = |from: &str, to: &str| {
            let svg = GOOD.replacen(from, to, 1);
            let problems = svg_problems(&svg);
            assert_eq!(problems.len(), 1, "{from} -> {to}: {problems:?}");
            problems.into_iter().next().unwrap_or_default()
        };
        assert!(one("</svg>", "").contains("not well-formed"));
        assert!(one(r#" viewBox="0 0 10 10""#, "").contains("viewBox"));
        assert!(one("<title>A box</title>", "").contains("<title>"));
        assert!(one("<desc>One square box.</desc>", "<desc> </desc>").contains("<desc>"));
        assert!(one(r##"href="#m""##, r#"href="https://x.org/a.svg""#).contains("external"));
        assert!(one("url(#m)", "url(https://x.org/f.svg#m)").contains("external"));
        assert!(
            one(
                "<defs>",
                "<style>@import 'https://x.org/f.css';</style><defs>"
            )
            .contains("<style>")
        );
        assert!(one("<defs>", "<script>alert(1)</script><defs>").contains("<script>"));
        let big = GOOD.replacen("One square box.", &"x".repeat(MAX_SVG_BYTES), 1);
        assert!(svg_problems(&big)[0].contains("bytes"));
        let html = "<html><title>t</title></html>";
        assert!(svg_problems(html).iter().any(|p| p.contains("not <svg>")));
    }

    #[test]
    fn image_targets_are_found_over_lines_and_outside_code() {
        let md = "Text ![one\nline two](img/a.svg) and ![b](img/b.svg \"t\").\n\n\
                  ```markdown\n![not this](img/c.svg)\n```\n\n[a link](ch01.md)\n";
        assert_eq!(image_targets(md), ["img/a.svg", "img/b.svg"]);
    }

    #[test]
    fn check_names_missing_unshown_and_broken_pictures() -> std::io::Result<()> {
        let dir = std::env::temp_dir().join(format!("tincan-book-images-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("img"))?;
        fs::write(dir.join("img/good.svg"), GOOD)?;
        fs::write(dir.join("ch01.md"), "# x\n\n![a box](img/good.svg)\n")?;
        let passed = check(&dir);
        fs::write(dir.join("img/broken.svg"), "<svg>")?;
        fs::write(dir.join("img/unshown.svg"), GOOD)?;
        fs::write(
            dir.join("ch02.md"),
            "![gone](img/gone.svg) ![b](img/broken.svg) ![p](pic.svg)\n",
        )?;
        let failed = check(&dir);
        fs::remove_dir_all(&dir)?;

        assert!(passed.is_ok(), "{passed:?}");
        let message = failed.err().map(|e| e.to_string()).unwrap_or_default();
        for wanted in [
            "ch02.md: missing image img/gone.svg",
            "img/broken.svg: not well-formed XML",
            "img/unshown.svg: no chapter shows it",
            "ch02.md: image pic.svg is not in img/ (or generated/)",
        ] {
            assert!(message.contains(wanted), "{wanted} not in:\n{message}");
        }
        assert!(!message.contains("good.svg"), "{message}");
        Ok(())
    }
}
