//! The grader of lab 04-tar-dotdot (`cargo xtask lab check 04-tar-dotdot`):
//! hostile tarballs are imported for real, and what lands on the disk is
//! the verdict. No test reads the learner's source or error wording; an
//! import must fail, and nothing may appear outside the target.

mod common;

use std::path::Path;

use common::{Scratch, nonce, raw_tarball};
use step04::import::import_tarball;

/// Import `entries` as a tarball into `<scratch>/a/target`; the result and
/// the scratch folder's file names afterwards (the tarball is `evil.tar`).
fn import(
    scratch: &Scratch,
    entries: &[(&str, tar::EntryType, &str)],
) -> (anyhow::Result<()>, Vec<String>) {
    let tarball = scratch.0.join("evil.tar");
    raw_tarball(&tarball, entries);
    let result = import_tarball(&tarball, &scratch.0.join("a/target")).map(drop);
    let mut names = Vec::new();
    walk(&scratch.0, Path::new(""), &mut names);
    names.sort();
    (result, names)
}

fn walk(dir: &Path, rel: &Path, names: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read scratch").flatten() {
        let rel = rel.join(entry.file_name());
        names.push(rel.display().to_string());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&entry.path(), &rel, names);
        }
    }
}

/// The import must fail and leave only the tarball behind.
fn assert_refused(entries: &[(&str, tar::EntryType, &str)], what: &str) {
    let scratch = Scratch::new("lab-tar");
    let (result, names) = import(&scratch, entries);
    let escaped: Vec<&String> = names
        .iter()
        .filter(|n| !n.starts_with("a/target") && *n != "evil.tar" && *n != "a")
        .collect();
    assert!(
        escaped.is_empty(),
        "{what}: the import wrote {escaped:?} outside the target"
    );
    assert!(
        result.is_err(),
        "{what}: the import succeeded; it must refuse the tarball (files now: {names:?})"
    );
    assert_eq!(
        names,
        ["evil.tar"],
        "{what}: the import failed, but not before writing (check every entry first)"
    );
}

#[test]
fn dotdot_at_the_start_is_refused() {
    assert_refused(
        &[
            ("bin/sh", tar::EntryType::Regular, "ok"),
            ("../escaped.txt", tar::EntryType::Regular, "x"),
        ],
        "entry ../escaped.txt",
    );
}

#[test]
fn dotdot_in_the_middle_is_refused() {
    assert_refused(
        &[
            ("bin/sh", tar::EntryType::Regular, "ok"),
            ("bin/../../escaped.txt", tar::EntryType::Regular, "x"),
        ],
        "entry bin/../../escaped.txt",
    );
}

#[test]
fn absolute_path_is_refused() {
    let outside = std::env::temp_dir().join(format!("tincan-lab-absolute-{}", nonce()));
    let name = outside.to_str().expect("utf-8 temp dir").to_string();
    assert_refused(
        &[(&name, tar::EntryType::Regular, "x")],
        "an absolute entry",
    );
    assert!(
        !outside.exists(),
        "an absolute entry: the import wrote the host's file"
    );
}

#[test]
fn plain_and_dot_entries_land_inside_the_target() {
    let scratch = Scratch::new("lab-tar");
    let (result, names) = import(
        &scratch,
        &[
            ("./bin/sh", tar::EntryType::Regular, "ok"),
            ("etc/./hostname", tar::EntryType::Regular, "box"),
        ],
    );
    if let Err(e) = result {
        panic!("a harmless tarball (./bin/sh, etc/./hostname) was refused: {e:#}");
    }
    for file in ["a/target/bin/sh", "a/target/etc/hostname"] {
        assert!(
            names.iter().any(|n| n == file),
            "{file} missing after the import: {names:?}"
        );
    }
}
