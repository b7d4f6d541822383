//! `cargo xtask lab selfcheck`, for CI (rustlings' `dev check`, with kernel
//! tests): every stub compiles and fails its tests, every solution passes
//! them, the workspace builds with the labs started, every lab has hints and
//! a book section, and the book's run-through is what the tools print today.
//!
//! It edits the source, so a guard puts every file back as it was, whether
//! the self-check passes, fails, panics or is interrupted (Ctrl-C reaches
//! cargo and the tests, which stop; we stop after them), and a final
//! `git diff --exit-code` proves the committed code is not left stubbed.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};

use crate::catalog::Lab;
use crate::grade::{self, Outcome};
use crate::util::{self, cargo, root};
use crate::{region, reset, start};

/// The files the labs touch, as they were; written back on drop.
struct Restore {
    files: BTreeMap<String, String>,
}

impl Restore {
    fn new(labs: &[Lab]) -> Result<Restore> {
        let mut files = BTreeMap::new();
        for r in labs.iter().flat_map(|l| &l.regions) {
            let path = root().join(&r.file);
            let text =
                fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
            files.insert(r.file.clone(), text);
        }
        Ok(Restore { files })
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        for (file, text) in &self.files {
            let path = root().join(file);
            if fs::read_to_string(&path).ok().as_ref() != Some(text) {
                match fs::write(&path, text) {
                    Ok(()) => eprintln!("selfcheck: restored {file}"),
                    Err(e) => eprintln!("error: could not restore {}: {e}", path.display()),
                }
            }
        }
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Survive Ctrl-C and SIGTERM long enough to restore the files. The
/// handler is reset to the default in the programs we start (execve does
/// that), so cargo and the tests still stop at once.
fn catch_interrupts() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; the cast is how signal(2) takes a handler.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

fn bail_if_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted; every lab's code was put back");
    }
    Ok(())
}

/// The whole self-check.
pub fn run(labs: &[Lab]) -> Result<()> {
    catch_interrupts();
    ensure!(labs.len() >= 13, "the course has at least 13 labs");
    for lab in labs {
        ensure!(
            region::status(lab)? == region::Status::NotStarted,
            "lab {} is started: reset it (cargo xtask lab reset {}) or run the self-check in a clean clone",
            lab.name,
            lab.name
        );
        book_section(lab)?;
    }
    let files: Vec<&str> = labs
        .iter()
        .flat_map(|l| &l.regions)
        .map(|r| r.file.as_str())
        .collect();
    let git_diff = || {
        let mut cmd = std::process::Command::new("git");
        cmd.args(["diff", "--exit-code", "--stat", "--"])
            .args(&files)
            .current_dir(root());
        cmd
    };
    // Only a clean tree can be compared with git at the end; a developer's
    // uncommitted change is compared with itself by the guard.
    let clean = git_diff().output().is_ok_and(|o| o.status.success());
    let guard = Restore::new(labs)?;
    let result = phases(labs);
    drop(guard);
    for lab in labs {
        region::forget_solution(lab)?;
    }
    if clean {
        util::run(&mut git_diff()).context("the self-check left a lab's code changed")?;
    }
    result
}

fn phases(labs: &[Lab]) -> Result<()> {
    let sink = &mut std::io::sink();
    let mut times = Vec::new();
    // 1. Each stub fails its own tests. Latest step first, so that the
    // crates each build recompiles are only the lab's own.
    let t = Instant::now();
    for lab in labs.iter().rev() {
        start(sink, lab, false)?;
        let outcome = grade::run(lab)?;
        bail_if_interrupted()?;
        reset(sink, lab)?;
        match outcome {
            Outcome::NoBuild(errors) => {
                bail!("the stub of lab {} does not compile:\n{errors}", lab.name)
            }
            o if o.passed() => bail!(
                "lab {}: its tests pass with the stub; they grade nothing",
                lab.name
            ),
            _ => eprintln!(
                "selfcheck: lab {}: the stub compiles and fails its tests",
                lab.name
            ),
        }
    }
    times.push(("every stub fails", t.elapsed()));
    // 2. The workspace, tests included, builds with every lab started at
    // once; a stub changes no signature, so any one lab started builds too.
    let t = Instant::now();
    for lab in labs {
        start(sink, lab, false)?;
    }
    let built = util::run(cargo().args(["check", "--quiet", "--workspace", "--all-targets"]));
    for lab in labs {
        reset(sink, lab)?;
    }
    built.context("the workspace does not build with every lab started")?;
    bail_if_interrupted()?;
    times.push(("workspace builds with the labs started", t.elapsed()));
    // 3. Every solution passes.
    let t = Instant::now();
    for lab in labs {
        let outcome = grade::run(lab)?;
        bail_if_interrupted()?;
        if !outcome.passed() {
            let mut card = Vec::new();
            grade::scorecard(&mut card, lab, &outcome, None)?;
            bail!(
                "the solution of lab {} fails its tests:\n{}",
                lab.name,
                String::from_utf8_lossy(&card)
            );
        }
        eprintln!("selfcheck: lab {}: the solution passes", lab.name);
    }
    times.push(("every solution passes", t.elapsed()));
    // 4. The run-through the book shows.
    let t = Instant::now();
    run_through(labs)?;
    times.push(("the book's run-through", t.elapsed()));
    for (what, time) in &times {
        eprintln!("selfcheck: {what}: {:.0} s", time.as_secs_f64());
    }
    eprintln!("selfcheck: {} labs, all good", labs.len());
    Ok(())
}

/// Every lab has a `{#lab-NN-name}` heading in its chapter that includes
/// its text (from [`crate::export_book`]) and each of its regions.
pub fn book_section(lab: &Lab) -> Result<()> {
    let path = root().join("book/src").join(&lab.book);
    let text = fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let id = format!("{{#{}}}", lab.book_id());
    let Some(at) = text.find(&id) else {
        bail!(
            "{}: no section `## ... {id}` for lab {}",
            path.display(),
            lab.name
        );
    };
    let section = &text[at..];
    let section = section[id.len()..]
        .find("\n## ")
        .map_or(section, |end| &section[..end + id.len()]);
    ensure!(
        section.contains(&format!("{{{{#include output/lab-{}.md}}}}", lab.name)),
        "{}: the section of lab {} does not include output/lab-{}.md",
        path.display(),
        lab.name,
        lab.name
    );
    for r in &lab.regions {
        ensure!(
            section.contains(&format!(":{}}}}}", r.anchor)),
            "{}: the section of lab {} does not include its region {}",
            path.display(),
            lab.name,
            r.anchor
        );
    }
    Ok(())
}

/// What a learner's first try at lab 04-tar-dotdot could be: it looks
/// only at the start of the path.
const WRONG_ANSWER: &str = r#"
if entry.starts_with("..") || entry.has_root() {
    bail!("tarball entry {} would escape the target", entry.display());
}
Ok(entry.to_path_buf())
"#;

/// Their fix, after the scorecard and a hint: every component is looked at.
const FIXED_ANSWER: &str = r#"
let mut inside = PathBuf::new();
for part in entry.components() {
    match part {
        Component::Normal(name) => inside.push(name),
        Component::CurDir => {}
        _ => bail!("tarball entry {} leaves the target (`..` or `/`)", entry.display()),
    }
}
Ok(inside)
"#;

/// Start a lab, write a wrong answer, check, take a hint, fix it, check:
/// the transcript is the insta snapshot the book includes.
fn run_through(labs: &[Lab]) -> Result<()> {
    let lab = crate::catalog::find(labs, "04-tar-dotdot")?;
    let r = &lab.regions[0];
    let mut t: Vec<u8> = Vec::new();
    writeln!(t, "$ cargo xtask lab start {}", lab.name)?;
    start(&mut t, lab, false)?;
    let indent = "    ";
    writeln!(
        t,
        "\n# A first answer, in {} (it looks only at the start):",
        r.file
    )?;
    t.extend_from_slice(region::indented(WRONG_ANSWER, indent).as_bytes());
    region::write_body(r, &region::indented(WRONG_ANSWER, indent))?;
    writeln!(t, "\n$ cargo xtask lab check {}", lab.name)?;
    let first = crate::check(&mut t, lab, true)?;
    writeln!(t, "\n$ cargo xtask lab hint {}", lab.name)?;
    crate::hint(&mut t, lab)?;
    writeln!(
        t,
        "\n# The fix, in the same place: every component of the path is looked at."
    )?;
    t.extend_from_slice(region::indented(FIXED_ANSWER, indent).as_bytes());
    region::write_body(r, &region::indented(FIXED_ANSWER, indent))?;
    writeln!(t, "\n$ cargo xtask lab check {}", lab.name)?;
    let second = crate::check(&mut t, lab, true)?;
    writeln!(t, "\n$ cargo xtask lab list")?;
    crate::list(&mut t, labs)?;
    ensure!(
        !first && second,
        "the run-through should fail first and pass after the fix"
    );
    let transcript = String::from_utf8(t).context("the transcript is UTF-8")?;
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("labs/tests/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.add_filter(r"\.rs:\d+", ".rs:[LINE]");
    settings.add_filter(r"/tmp/[^\s\]\x22']+", "[TMP]");
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!("lab_run_through", transcript));
    }));
    if checked.is_err() {
        bail!(
            "the book's run-through (labs/tests/snapshots/lab_run_through.snap) is not what \
             the lab commands print today: review it with `cargo insta review`, or accept it \
             with `INSTA_UPDATE=always cargo xtask lab selfcheck`"
        );
    }
    Ok(())
}
