//! The book as a reader sees it: every page of both editions opened in
//! headless Chromium (Debian's `chromium`), screenshotted into
//! `target/book-check/`, and checked in the DOM that Chromium built after
//! running the page's scripts.
//!
//! Chromium's own command-line modes are the driver: `--dump-dom` prints
//! the document after its scripts ran (so highlight.js has marked every
//! code block, or has not), `--screenshot` writes the picture, and
//! `--enable-logging=stderr` prints the console, where a JavaScript error
//! shows as `Uncaught`. No WebDriver or DevTools connection is needed for
//! that, so no crate stands between the check and the browser.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use scraper::{Html, Selector};

use crate::util::root;

/// What is wrong with one page, in plain words.
pub type Problems = Vec<String>;

/// Check every page of the built book in `built` (English at the top,
/// each translation in its own folder). Screenshots go to
/// `target/book-check/<lang>/`.
pub fn check(built: &Path, langs: &[&str]) -> Result<()> {
    let Some(chromium) = chromium() else {
        if on_ci() {
            bail!("chromium not found: the browser check needs it (apt-get install chromium)");
        }
        eprintln!(
            "chromium not found: the book was not checked in a browser (apt-get install chromium)"
        );
        return Ok(());
    };
    let shots = root().join("target/book-check");
    let mut failures = Vec::new();
    let mut pages = 0;
    for lang in langs {
        let dir = if *lang == "en" {
            built.to_path_buf()
        } else {
            built.join(lang)
        };
        for page in pages_of(&dir)? {
            pages += 1;
            let shot = shots.join(lang).join(page.with_extension("png"));
            let problems = check_page(&chromium, &dir.join(&page), &shot)
                .with_context(|| format!("open {lang}/{} in chromium", page.display()))?;
            failures.extend(
                problems
                    .into_iter()
                    .map(|p| format!("{lang}/{}: {p}", page.display())),
            );
        }
    }
    if !failures.is_empty() {
        bail!(
            "the browser check found {} problem(s):\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    println!(
        "browser check: {pages} pages fine in chromium; screenshots in {}",
        shots.display()
    );
    Ok(())
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `chromium` on PATH, if it runs.
fn chromium() -> Option<PathBuf> {
    let ok = Command::new("chromium").arg("--version").output().ok()?;
    ok.status.success().then(|| PathBuf::from("chromium"))
}

/// The chapters: every `.html` below `dir` but the other editions' folders
/// and mdBook's generated pages (print view, 404, table of contents).
fn pages_of(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut pages = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let name = PathBuf::from(entry?.file_name());
        let generated = ["print.html", "404.html", "toc.html"];
        if name.extension().is_some_and(|e| e == "html")
            && !generated.iter().any(|g| name == Path::new(g))
        {
            pages.push(name);
        }
    }
    pages.sort();
    Ok(pages)
}

/// Open one page twice, for the picture and for the DOM; return what is wrong.
fn check_page(chromium: &Path, page: &Path, shot: &Path) -> Result<Problems> {
    if let Some(dir) = shot.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
    }
    let url = format!("file://{}", page.display());
    let screenshot = headless(chromium)
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,2000")
        .arg(&url)
        .output()
        .context("run chromium --screenshot")?;
    let dom = headless(chromium)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .context("run chromium --dump-dom")?;
    if !dom.status.success() || !shot.is_file() {
        bail!(
            "chromium failed ({}): {}",
            dom.status,
            String::from_utf8_lossy(&dom.stderr)
        );
    }
    let console = String::from_utf8_lossy(&screenshot.stderr).into_owned()
        + &String::from_utf8_lossy(&dom.stderr);
    let mut problems = console_errors(&console);
    problems.extend(dom_problems(&String::from_utf8_lossy(&dom.stdout), page));
    Ok(problems)
}

/// Chromium without a window, with its console on stderr, and time for the
/// page's scripts (highlighting, the language picker) to run.
fn headless(chromium: &Path) -> Command {
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=3000",
    ]);
    cmd
}

// ANCHOR: console_errors
/// JavaScript errors from Chromium's console log: an uncaught exception,
/// or a resource (script, style, image) that failed to load.
fn console_errors(log: &str) -> Problems {
    log.lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .filter(|l| {
            l.contains("Uncaught")
                || l.contains("Failed to load")
                || l.contains("ERR_FILE_NOT_FOUND")
        })
        .map(|l| format!("browser console: {}", l.trim()))
        .collect()
}
// ANCHOR_END: console_errors

/// What a reader would see wrong in the rendered page.
fn dom_problems(html: &str, page: &Path) -> Problems {
    let doc = Html::parse_document(html);
    let dir = page.parent().unwrap_or(Path::new("/"));
    let mut problems = Vec::new();
    let main = select(&doc, "main")
        .map(|m| m.text().collect::<String>())
        .collect::<String>();
    if main.trim().is_empty() {
        problems.push("the page has no content in <main>".to_string());
    }
    for directive in ["{{#include", "{{#rustdoc_include", "{{#title", "{{#"] {
        if main.contains(directive) {
            problems.push(format!("an unexpanded `{directive}` is visible"));
            break;
        }
    }
    let unhighlighted = select(&doc, "pre > code")
        .filter(|c| !c.value().classes().any(|class| class == "hljs"))
        .count();
    if unhighlighted > 0 {
        problems.push(format!(
            "{unhighlighted} code block(s) were not highlighted (did the scripts run?)"
        ));
    }
    for img in select(&doc, "main img") {
        match img.value().attr("src") {
            Some(src) if !local_target_exists(dir, src) => {
                problems.push(format!("image {src} does not load"));
            }
            None => problems.push("an <img> without src".to_string()),
            _ => {}
        }
    }
    problems.extend(link_problems(&doc, dir));
    problems
}

/// Internal links: a file that exists, and a `#fragment` of this page
/// that names an element.
fn link_problems(doc: &Html, dir: &Path) -> Problems {
    let ids: Vec<&str> = select(doc, "[id]")
        .filter_map(|e| e.value().attr("id"))
        .collect();
    let mut problems = Vec::new();
    for link in select(doc, "main a[href]") {
        let Some(href) = link.value().attr("href") else {
            continue;
        };
        if let Some(fragment) = href.strip_prefix('#') {
            if !fragment.is_empty() && !ids.contains(&fragment) {
                problems.push(format!("link {href}: no element with that id on the page"));
            }
        } else if !local_target_exists(dir, href) {
            problems.push(format!("link {href}: no such page in the book"));
        }
    }
    problems
}

/// A relative URL names a file below `dir`; external and data URLs are
/// not this check's business.
fn local_target_exists(dir: &Path, url: &str) -> bool {
    if url.contains("://") || url.starts_with("data:") || url.starts_with("mailto:") {
        return true;
    }
    let path = url.split(['#', '?']).next().unwrap_or("");
    path.is_empty() || dir.join(path).exists()
}

fn select<'a>(doc: &'a Html, css: &str) -> impl Iterator<Item = scraper::ElementRef<'a>> {
    let selector = Selector::parse(css).expect("the check's CSS selectors are valid");
    doc.select(&selector).collect::<Vec<_>>().into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: &str) -> String {
        format!("<html><body><main>{body}</main><p id=\"top\"></p></body></html>")
    }

    #[test]
    fn a_good_page_has_no_problems() {
        let dir = std::env::temp_dir();
        let html = page(
            r##"<h1>Step</h1><pre><code class="language-rust hljs">fn x() {}</code></pre><a href="#top">up</a><a href="https://kernel.org">k</a>"##,
        );
        assert_eq!(dom_problems(&html, &dir.join("x.html")), Problems::new());
    }

    #[test]
    fn unexpanded_includes_plain_code_missing_images_and_dead_links_are_found() {
        let dir = std::env::temp_dir().join(format!("tincan-browser-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("there.html"), "x").expect("write");
        let html = page(concat!(
            "{{#include ../x.rs:anchor}}<pre><code class=\"language-text\">x</code></pre>",
            "<img src=\"img/missing.svg\"><a href=\"there.html#a\">ok</a>",
            "<a href=\"gone.html\">gone</a><a href=\"#nowhere\">x</a>"
        ));
        let problems = dom_problems(&html, &dir.join("page.html"));
        std::fs::remove_dir_all(&dir).expect("clean up");
        let all = problems.join("\n");
        assert!(all.contains("unexpanded `{{#include`"), "{all}");
        assert!(
            all.contains("1 code block(s) were not highlighted"),
            "{all}"
        );
        assert!(all.contains("image img/missing.svg does not load"), "{all}");
        assert!(all.contains("link gone.html"), "{all}");
        assert!(all.contains("link #nowhere"), "{all}");
        assert!(!all.contains("there.html"), "{all}");
        assert_eq!(problems.len(), 5, "{all}");
    }

    #[test]
    fn console_errors_are_uncaught_exceptions_and_failed_loads() {
        let log = concat!(
            "[1203/1:INFO:CONSOLE(12)] \"Uncaught TypeError: x is null\", source: file:///b/book.js (12)\n",
            "[1203/1:INFO:CONSOLE(3)] \"theme loaded\", source: file:///b/x.js (3)\n",
            "[1203/1:ERROR:gpu_init.cc(1)] Passthrough is not supported\n"
        );
        let errors = console_errors(log);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("Uncaught TypeError"));
    }
}
