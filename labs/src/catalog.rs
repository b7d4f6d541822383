//! The lab catalogue, `labs/labs.toml`: what each lab is, where its regions
//! are, which tests grade it.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;

use crate::util::{is_root, root};

/// What a lab's tests (or a tour demo) need beyond an ordinary user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Needs {
    /// Runs as anyone.
    Nothing,
    /// Needs root (cgroups, mounts, capabilities).
    Root,
    /// Needs read/write access to /dev/kvm.
    Kvm,
}

impl Needs {
    /// Whether this must go through sudo for the user running us (the labs'
    /// checks and the tour's demos alike).
    pub fn needs_sudo(self) -> bool {
        match self {
            Needs::Nothing => false,
            Needs::Root => !is_root(),
            Needs::Kvm => !is_root() && !kvm_usable(),
        }
    }
}

fn kvm_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// One marked region of the real code.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Path from the workspace root.
    pub file: String,
    /// The anchor name (`// ANCHOR: <anchor>`).
    pub anchor: String,
    /// What `start` puts in place of the body (indented like the anchor).
    pub stub: String,
}

/// The tests that grade a lab.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grade {
    /// Cargo package.
    pub package: String,
    /// Integration test target (`tests/<test>.rs`).
    pub test: String,
    /// Exact test names; each is one line of the scorecard.
    pub tests: Vec<String>,
}

/// One lab.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lab {
    /// `NN-short-name`, NN the step.
    pub name: String,
    /// One line.
    pub title: String,
    /// What the learner's code must achieve.
    pub goal: String,
    /// Man pages and documents to read.
    pub read: Vec<String>,
    /// Hints, in the order they are given.
    pub hints: Vec<String>,
    /// What the grading tests need.
    pub needs: Needs,
    /// Minutes a class should plan for it.
    pub minutes: u32,
    /// The chapter (under book/src) with its "Lab" section.
    pub book: String,
    /// Its grader.
    pub grade: Grade,
    /// Its regions (one lab may span several).
    pub regions: Vec<Region>,
}

impl Lab {
    /// The `todo!` message prefix every stub of this lab carries.
    pub fn marker(&self) -> String {
        format!("todo!(\"lab {}:", self.name)
    }

    /// The step the lab belongs to, e.g. "02".
    pub fn step(&self) -> &str {
        &self.name[..2]
    }

    /// The heading id of its book section, e.g. `lab-02-hostname`.
    pub fn book_id(&self) -> String {
        format!("lab-{}", self.name)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    lab: Vec<Lab>,
}

/// Where the catalogue lives.
pub fn path() -> PathBuf {
    root().join("labs/labs.toml")
}

/// Every lab, in course order.
pub fn load() -> Result<Vec<Lab>> {
    let path = path();
    let text = fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let file: File = toml::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
    for lab in &file.lab {
        check_shape(lab).with_context(|| format!("{}: lab {}", path.display(), lab.name))?;
    }
    let mut names: Vec<&str> = file.lab.iter().map(|l| l.name.as_str()).collect();
    let in_order = file.lab.windows(2).all(|w| w[0].step() <= w[1].step());
    names.sort_unstable();
    names.dedup();
    ensure!(
        in_order && names.len() == file.lab.len(),
        "{}: labs must be listed once each, by step",
        path.display()
    );
    Ok(file.lab)
}

/// Find a lab by name, or say which names exist.
pub fn find<'a>(labs: &'a [Lab], name: &str) -> Result<&'a Lab> {
    match labs.iter().find(|l| l.name == name) {
        Some(lab) => Ok(lab),
        None => bail!(
            "no lab {name:?}; the labs are: {} (cargo xtask lab list)",
            labs.iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What can be checked without touching the code.
fn check_shape(lab: &Lab) -> Result<()> {
    let b = lab.name.as_bytes();
    ensure!(
        b.len() > 3
            && b[..2].iter().all(u8::is_ascii_digit)
            && b[2] == b'-'
            && lab.name[3..]
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'),
        "a lab name is NN-short-name"
    );
    ensure!(
        (2..=3).contains(&lab.hints.len()),
        "a lab has two or three hints"
    );
    ensure!(!lab.read.is_empty(), "a lab says what to read");
    ensure!(!lab.regions.is_empty(), "a lab has at least one region");
    ensure!(!lab.grade.tests.is_empty(), "a lab has at least one test");
    ensure!(
        lab.grade
            .package
            .starts_with(&format!("step{}-", lab.step())),
        "a lab of step {} is graded by that step's package",
        lab.step()
    );
    for region in &lab.regions {
        ensure!(
            region.anchor.starts_with(&format!("lab-{}", lab.name)),
            "region {} is not named after its lab",
            region.anchor
        );
        ensure!(
            region.stub.contains(&lab.marker()) && region.stub.contains("// TODO(lab "),
            "the stub of {} has no `// TODO(lab ...)` line and `{}...\")`",
            region.anchor,
            lab.marker()
        );
    }
    Ok(())
}
