//! The Korean edition, through gettext catalogs (as Comprehensive Rust does).
//!
//! `mdbook-xgettext` (a renderer) extracts every message of the English book
//! into `book/po/messages.pot`; `book/po/ko.po` holds their translations; the
//! `mdbook-gettext` preprocessor swaps them in when `book.language` is `ko`.
//! The check here keeps the two editions from drifting: every message of a
//! freshly extracted template must be in `ko.po`, and the build says how many
//! of them are translated.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{self, cargo, root};

/// The mdbook-i18n-helpers release that speaks mdbook 0.5 (0.3.x is for 0.4).
const HELPERS_VERSION: &str = "0.4.0";

/// The languages the book is translated into, besides English.
pub const LANGUAGES: &[&str] = &["ko"];

/// The book's title in each translation: mdbook-gettext translates the
/// chapters and the table of contents, not `book.title` of book.toml.
pub fn title(lang: &str) -> Option<&'static str> {
    match lang {
        "ko" => Some("tincan: 커널 메커니즘 하나씩 쌓아 만드는 컨테이너"),
        _ => None,
    }
}

/// A PATH on which mdbook finds `mdbook-gettext` and `mdbook-xgettext`,
/// installing them into target/tools first if they are not there.
pub fn tool_path() -> Result<OsString> {
    let bin = root().join("target/tools/bin");
    // The binaries have no --version: cargo install's record says what is there.
    let record = fs::read_to_string(root().join("target/tools/.crates.toml")).unwrap_or_default();
    let installed = record.contains(&format!("\"mdbook-i18n-helpers {HELPERS_VERSION} "))
        && bin.join("mdbook-gettext").exists()
        && bin.join("mdbook-xgettext").exists();
    if !installed {
        eprintln!(
            "installing mdbook-i18n-helpers {HELPERS_VERSION} into target/tools \
             (once, about three minutes)"
        );
        util::run(
            cargo()
                .args([
                    "install",
                    "mdbook-i18n-helpers",
                    "--quiet",
                    "--locked",
                    "--version",
                    HELPERS_VERSION,
                    "--root",
                ])
                .arg(root().join("target/tools")),
        )?;
    }
    let mut dirs = vec![bin];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    Ok(std::env::join_paths(dirs)?)
}

/// Extract the English messages into `book/po/messages.pot`.
pub fn extract(mdbook: &Path, path: &OsString, book: &Path) -> Result<PathBuf> {
    let out = root().join("target/book-pot");
    let mut cmd = Command::new(mdbook);
    cmd.env("PATH", path)
        // Only this renderer: no line numbers, so that moving a paragraph
        // does not touch every message after it.
        .env(
            "MDBOOK_OUTPUT",
            r#"{"xgettext": {"pot-file": "messages.pot", "granularity": 0}}"#,
        )
        .arg("build")
        .arg("--dest-dir")
        .arg(&out)
        .arg(book);
    util::run(&mut cmd)?;
    let pot = book.join("po/messages.pot");
    fs::create_dir_all(book.join("po"))?;
    fs::copy(out.join("messages.pot"), &pot)
        .with_context(|| format!("copy {} to {}", out.display(), pot.display()))?;
    Ok(pot)
}

/// Bring `book/po/<lang>.po` up to date with the template (msgmerge adds new
/// messages untranslated, marks changed ones fuzzy and retires gone ones).
pub fn merge(pot: &Path, lang: &str) -> Result<()> {
    let po = pot.with_file_name(format!("{lang}.po"));
    if !po.exists() {
        util::run(
            Command::new("msginit")
                .args(["--no-translator", "--locale", lang, "--input"])
                .arg(pot)
                .arg("--output-file")
                .arg(&po),
        )
        .context("msginit (install gettext: apt-get install gettext)")?;
    }
    util::run(
        Command::new("msgmerge")
            .args(["--quiet", "--update", "--backup=none", "--no-wrap"])
            .arg(&po)
            .arg(pot),
    )
    .context("msgmerge (install gettext: apt-get install gettext)")
}

/// How far a catalog is from its template.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Messages in the template.
    pub total: usize,
    /// Of those, translated in the catalog (not empty, not fuzzy).
    pub translated: usize,
    /// Of those, marked fuzzy (the English changed since the translation).
    pub fuzzy: usize,
    /// Template messages the catalog does not have at all.
    pub missing: Vec<String>,
    /// Catalog messages that are no longer in the template.
    pub gone: Vec<String>,
}

impl Coverage {
    /// The translated share, in percent, rounded down (so that one missing
    /// message in thousands does not print as 100.0%).
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            return 100.0;
        }
        #[allow(clippy::cast_precision_loss)]
        let ratio = self.translated as f64 / self.total as f64;
        (1000.0 * ratio).floor() / 10.0
    }
}

/// The header fields that polib 0.2 requires (it panics without them).
const HEADER_KEYS: &[&str] = &[
    "Project-Id-Version",
    "POT-Creation-Date",
    "PO-Revision-Date",
    "Language-Team",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Language",
    "Plural-Forms",
];

/// Name the header fields a catalog lacks, instead of letting polib panic.
fn check_header(path: &Path) -> Result<()> {
    let text = fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let header = text.split("\n\n").next().unwrap_or_default();
    let missing: Vec<&str> = HEADER_KEYS
        .iter()
        .copied()
        .filter(|key| !header.contains(&format!("\"{key}:")))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{}: the header (the first entry, msgid \"\") lacks {}",
            path.display(),
            missing.join(", ")
        );
    }
    Ok(())
}

/// Compare a template with its catalog.
pub fn coverage(pot: &Path, po: &Path) -> Result<Coverage> {
    let parse = |path: &Path| {
        check_header(path)?;
        polib::po_file::parse(path).map_err(|e| anyhow::anyhow!("parse {}: {e}", path.display()))
    };
    let template = parse(pot)?;
    let catalog = parse(po)?;
    let wanted: BTreeSet<(&str, &str)> = template
        .messages()
        .filter(|m| !m.msgid().is_empty())
        .map(|m| (m.msgctxt(), m.msgid()))
        .collect();
    let mut have = BTreeSet::new();
    let mut cov = Coverage {
        total: wanted.len(),
        ..Coverage::default()
    };
    for m in catalog.messages().filter(|m| !m.msgid().is_empty()) {
        let key = (m.msgctxt(), m.msgid());
        have.insert(key);
        if !wanted.contains(&key) {
            cov.gone.push(m.msgid().to_string());
        } else if m.is_fuzzy() {
            cov.fuzzy += 1;
        } else if m.is_translated() {
            cov.translated += 1;
        }
    }
    cov.missing = wanted
        .difference(&have)
        .map(|(_, id)| (*id).to_string())
        .collect();
    Ok(cov)
}

/// Fail when `ko.po` is stale; print how much of the book it translates.
pub fn check(pot: &Path, lang: &str) -> Result<()> {
    let po = pot.with_file_name(format!("{lang}.po"));
    let cov = coverage(pot, &po)?;
    println!(
        "{lang}: {} of {} messages translated ({:.1}%), {} fuzzy",
        cov.translated,
        cov.total,
        cov.percent(),
        cov.fuzzy
    );
    if !cov.missing.is_empty() || !cov.gone.is_empty() {
        let sample = |v: &[String]| {
            v.iter()
                .take(3)
                .map(|s| format!("    {:?}", s.chars().take(70).collect::<String>()))
                .collect::<Vec<_>>()
                .join("\n")
        };
        bail!(
            "book/po/{lang}.po is stale: {} new English messages are not in it, {} of its \
             messages are gone from the English book\n{}\n{}\n\
             run `cargo xtask book --pot` (msgmerge, from gettext) and translate the new entries",
            cov.missing.len(),
            cov.gone.len(),
            sample(&cov.missing),
            sample(&cov.gone),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header polib requires of every catalog.
    const HEADER: &str = "msgid \"\"\nmsgstr \"\"\n\
         \"Project-Id-Version: t\\n\"\n\"POT-Creation-Date: x\\n\"\n\"PO-Revision-Date: x\\n\"\n\
         \"Language-Team: x\\n\"\n\"MIME-Version: 1.0\\n\"\n\
         \"Content-Type: text/plain; charset=UTF-8\\n\"\n\
         \"Content-Transfer-Encoding: 8bit\\n\"\n\"Language: ko\\n\"\n\
         \"Plural-Forms: nplurals=1; plural=0;\\n\"\n\n";

    #[test]
    fn coverage_counts_translated_fuzzy_missing_and_gone() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("tincan-i18n-{}", std::process::id()));
        fs::create_dir_all(&dir)?;
        let pot = dir.join("messages.pot");
        let po = dir.join("ko.po");
        fs::write(
            &pot,
            format!(
                "{HEADER}msgid \"one\"\nmsgstr \"\"\n\n\
             msgid \"two\"\nmsgstr \"\"\n\n\
             msgid \"three\"\nmsgstr \"\"\n\n\
             msgid \"four\"\nmsgstr \"\"\n"
            ),
        )?;
        fs::write(
            &po,
            format!(
                "{HEADER}msgid \"one\"\nmsgstr \"하나\"\n\n\
             #, fuzzy\nmsgid \"two\"\nmsgstr \"둘\"\n\n\
             msgid \"three\"\nmsgstr \"\"\n\n\
             msgid \"old\"\nmsgstr \"옛것\"\n\n\
             #~ msgid \"older\"\n#~ msgstr \"더 옛것\"\n"
            ),
        )?;
        let cov = coverage(&pot, &po)?;
        fs::remove_dir_all(&dir)?;
        assert_eq!(
            cov,
            Coverage {
                total: 4,
                translated: 1,
                fuzzy: 1,
                missing: vec!["four".into()],
                gone: vec!["old".into()],
            }
        );
        assert!((cov.percent() - 25.0).abs() < 1e-9);
        Ok(())
    }

    #[test]
    fn a_catalog_without_its_header_is_named_not_a_panic() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("tincan-i18n-h-{}", std::process::id()));
        fs::create_dir_all(&dir)?;
        let po = dir.join("ko.po");
        fs::write(
            &po,
            "msgid \"\"\nmsgstr \"Language: ko\\n\"\n\nmsgid \"a\"\nmsgstr \"\"\n",
        )?;
        let err = coverage(&po, &po).expect_err("no header");
        fs::remove_dir_all(&dir)?;
        assert!(
            err.to_string().contains("lacks Project-Id-Version"),
            "{err}"
        );
        Ok(())
    }
}
