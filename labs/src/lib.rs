//! `cargo xtask lab` (or `cargo lab`): classroom labs in the real code.
//!
//! A lab is a marked region of a step's code (`// ANCHOR: lab-NN-name`),
//! listed in `labs/labs.toml`. `start` swaps the solution for a stub that
//! compiles, `hint` gives the next hint, `check` runs the kernel tests that
//! grade it and prints a scorecard, `reset` puts the solution back (keeping
//! the learner's version). `selfcheck` proves, for CI, that every stub
//! fails its tests and every solution passes them.

mod catalog;
mod grade;
mod region;
mod selfcheck;
pub mod util;

use std::io::Write;

use anyhow::{Result, bail};
use clap::Subcommand;

pub use catalog::Needs;

use catalog::Lab;
use region::Status;

/// The lab subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every lab with its status (not started, started, passed).
    List,
    /// Replace the lab's code with a stub to write yourself.
    Start {
        /// The lab, e.g. 02-hostname.
        name: String,
        /// Start over even if the region holds changes of yours (a copy is kept).
        #[arg(long)]
        force: bool,
    },
    /// The next hint.
    Hint {
        /// The lab.
        name: String,
    },
    /// Build and run the lab's tests; print a scorecard.
    Check {
        /// The lab (or --all).
        #[arg(required_unless_present = "all")]
        name: Option<String>,
        /// Check every started lab and print a class summary.
        #[arg(long, conflicts_with = "name")]
        all: bool,
    },
    /// Put the solution back (your version is kept under target/labs).
    Reset {
        /// The lab.
        name: String,
    },
    /// For CI: every stub fails its tests, every solution passes, the
    /// workspace builds with the labs started, the run-through is current.
    Selfcheck,
}

/// Run a lab subcommand.
pub fn run(command: Command) -> Result<()> {
    let labs = catalog::load()?;
    let out = &mut std::io::stdout().lock();
    match command {
        Command::List => list(out, &labs),
        Command::Start { name, force } => start(out, catalog::find(&labs, &name)?, force),
        Command::Hint { name } => hint(out, catalog::find(&labs, &name)?),
        Command::Check { name: None, .. } => check_all(out, &labs),
        Command::Check {
            name: Some(name), ..
        } => {
            if check(out, catalog::find(&labs, &name)?, true)? {
                Ok(())
            } else {
                bail!("lab {name} does not pass yet")
            }
        }
        Command::Reset { name } => reset(out, catalog::find(&labs, &name)?),
        Command::Selfcheck => selfcheck::run(&labs),
    }
}

fn list(out: &mut dyn Write, labs: &[Lab]) -> Result<()> {
    writeln!(out, "{:<20} {:<12} {:>4}  title", "lab", "status", "min")?;
    for lab in labs {
        let status = region::status(lab)?;
        writeln!(
            out,
            "{:<20} {:<12} {:>4}  {}{}",
            lab.name,
            status.label(),
            lab.minutes,
            lab.title,
            match lab.needs {
                catalog::Needs::Nothing => "",
                catalog::Needs::Root => " (root)",
                catalog::Needs::Kvm => " (/dev/kvm)",
            }
        )?;
    }
    writeln!(
        out,
        "\nstart one: cargo xtask lab start NAME; the book's chapters end with each lab's section"
    )?;
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Swap every region of `lab` for its stub.
fn start(out: &mut dyn Write, lab: &Lab, force: bool) -> Result<()> {
    // Look at every region before touching any, so a refusal changes nothing.
    let mut plan = Vec::new();
    for r in &lab.regions {
        let (body, solution, stub) = (
            region::body(r)?,
            region::solution(lab, r)?,
            region::stub(r)?,
        );
        if body != solution && body != stub && !force {
            bail!(
                "{}:{}: the region {} holds changes of yours (it is neither the solution nor \
                 the stub), which `start` would overwrite. To start over, `cargo xtask lab \
                 start {} --force` (it keeps a copy); to see how you are doing, `cargo xtask \
                 lab check {}`",
                r.file,
                region::line_of(r)?,
                r.anchor,
                lab.name,
                lab.name
            );
        }
        plan.push((r, body, solution, stub));
    }
    let stamp = now();
    for (r, body, solution, stub) in plan {
        region::save_solution(lab, r, &solution)?;
        if body != solution && body != stub {
            let kept = region::keep_yours(lab, r, &body, stamp)?;
            writeln!(out, "your version of {} is kept in {kept}", r.anchor)?;
        }
        region::write_body(r, &stub)?;
    }
    region::save_state(lab, &region::State::default())?;
    writeln!(out, "lab {} started: {}", lab.name, lab.title)?;
    writeln!(out, "goal: {}", lab.goal)?;
    writeln!(out, "write your code in:")?;
    for r in &lab.regions {
        writeln!(out, "  {}:{} (the TODO)", r.file, region::line_of(r)?)?;
    }
    writeln!(out, "read: {}", lab.read.join("; "))?;
    writeln!(out, "check it: cargo xtask lab check {}", lab.name)?;
    writeln!(out, "stuck? cargo xtask lab hint {}", lab.name)?;
    if lab.needs != catalog::Needs::Nothing {
        writeln!(
            out,
            "its tests need {}: check builds as you and runs them through sudo",
            if lab.needs == catalog::Needs::Kvm {
                "/dev/kvm"
            } else {
                "root"
            }
        )?;
    }
    Ok(())
}

/// The next hint, counted in the lab's state; None once all were given.
fn next_hint(lab: &Lab) -> Result<Option<(usize, &str)>> {
    let mut state = region::load_state(lab);
    let Some(text) = lab.hints.get(state.hints) else {
        return Ok(None);
    };
    state.hints += 1;
    region::save_state(lab, &state)?;
    Ok(Some((state.hints, text.as_str())))
}

fn hint(out: &mut dyn Write, lab: &Lab) -> Result<()> {
    match next_hint(lab)? {
        Some((n, text)) => writeln!(out, "hint {n} of {}: {text}", lab.hints.len())?,
        None => {
            writeln!(out, "that was every hint of lab {}.", lab.name)?;
            writeln!(
                out,
                "the solution is in book/src/{}, section \"Lab {}\" (after the spoiler warning),",
                lab.book, lab.name
            )?;
            writeln!(
                out,
                "and `cargo xtask lab reset {}` puts it back in the code.",
                lab.name
            )?;
        }
    }
    Ok(())
}

/// Check one lab; with `hints`, a failing scorecard shows the next hint.
fn check(out: &mut dyn Write, lab: &Lab, hints: bool) -> Result<bool> {
    Ok(check_counted(out, lab, hints)?.passed())
}

/// [`check`], returning the whole outcome.
fn check_counted(out: &mut dyn Write, lab: &Lab, hints: bool) -> Result<grade::Outcome> {
    let outcome = grade::run(lab)?;
    let hint = if hints && !outcome.passed() {
        next_hint(lab)?
    } else {
        None
    };
    grade::scorecard(out, lab, &outcome, hint)?;
    let mut stubs = true;
    for r in &lab.regions {
        stubs &= region::body(r)? == region::stub(r)?;
    }
    if stubs && !outcome.passed() {
        writeln!(
            out,
            "(the code is still the stub, whose todo! panics; a test that runs it in a \
             child process may only see that child die of SIGABRT. Write yours at the TODO.)"
        )?;
    }
    let mut state = region::load_state(lab);
    state.passed = if outcome.passed() {
        Some(region::fingerprint(lab)?)
    } else {
        None
    };
    region::save_state(lab, &state)?;
    Ok(outcome)
}

fn check_all(out: &mut dyn Write, labs: &[Lab]) -> Result<()> {
    let mut rows = Vec::new();
    for lab in labs {
        let status = region::status(lab)?;
        if status == Status::NotStarted {
            rows.push((lab, status, "-".to_string()));
            continue;
        }
        let outcome = check_counted(out, lab, false)?;
        writeln!(out)?;
        let good = match &outcome {
            grade::Outcome::NoBuild(_) => "does not compile".to_string(),
            grade::Outcome::Ran(results) => format!(
                "{}/{}",
                results
                    .iter()
                    .filter(|(_, v)| *v == grade::Verdict::Pass)
                    .count(),
                results.len()
            ),
        };
        rows.push((lab, region::status(lab)?, good));
    }
    let user = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok())
        .unwrap_or_else(|| format!("uid {}", current_uid()));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    writeln!(out, "tincan labs of {user} on {}, {date}", host.trim())?;
    writeln!(out, "{:<20} {:<12} checks", "lab", "status")?;
    for (lab, status, good) in &rows {
        writeln!(out, "{:<20} {:<12} {good}", lab.name, status.label())?;
    }
    let count = |s: Status| rows.iter().filter(|(_, st, _)| *st == s).count();
    writeln!(
        out,
        "{} labs: {} passed, {} started, {} not started",
        rows.len(),
        count(Status::Passed),
        count(Status::Started),
        count(Status::NotStarted)
    )?;
    Ok(())
}

fn current_uid() -> u32 {
    // SAFETY: getuid(2) has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Put the solution back in every region of `lab`, keeping the learner's version.
fn reset(out: &mut dyn Write, lab: &Lab) -> Result<()> {
    let stamp = now();
    let mut changed = false;
    for r in &lab.regions {
        let (body, solution, stub) = (
            region::body(r)?,
            region::solution(lab, r)?,
            region::stub(r)?,
        );
        if body == solution {
            continue;
        }
        if body != stub {
            let kept = region::keep_yours(lab, r, &body, stamp)?;
            writeln!(out, "your version of {} is kept in {kept}", r.anchor)?;
        }
        region::write_body(r, &solution)?;
        changed = true;
    }
    region::forget_solution(lab)?;
    region::save_state(lab, &region::State::default())?;
    if changed {
        writeln!(out, "lab {} reset: the solution is back", lab.name)?;
    } else {
        writeln!(out, "lab {} was not started: nothing to reset", lab.name)?;
    }
    Ok(())
}

/// Write each lab's book text (goal, what to read, the commands, the hints)
/// to `out/lab-<name>.md`, from the catalogue, for the chapters to include:
/// `cargo xtask book` calls it, so the book never repeats labs.toml by hand.
pub fn export_book(out: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(out)?;
    for lab in catalog::load()? {
        let path = out.join(format!("lab-{}.md", lab.name));
        std::fs::write(&path, book_text(&lab))
            .map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
    }
    Ok(())
}

fn book_text(lab: &Lab) -> String {
    let needs = match lab.needs {
        catalog::Needs::Nothing => "nothing beyond your own user",
        catalog::Needs::Root => "root: `check` builds as you and runs the tests through sudo",
        catalog::Needs::Kvm => "read/write access to /dev/kvm (else `check` uses sudo)",
    };
    let mut text = format!(
        "**Goal.** {}\n\n**Read first:** {}.\n\n**Time:** about {} minutes. **Needs:** {needs}.\n\n",
        lab.goal,
        lab.read.join("; "),
        lab.minutes
    );
    text += &format!(
        "```console\n$ cargo xtask lab start {0}    # your code goes where the TODO is\n\
         $ cargo xtask lab check {0}    # build, run the tests, print the scorecard\n\
         $ cargo xtask lab hint {0}     # the next hint\n\
         $ cargo xtask lab reset {0}    # the solution back (yours is kept)\n```\n\n",
        lab.name
    );
    text += &format!(
        "The grade comes from `cargo test -p {} --test {}`: {}.\n\n",
        lab.grade.package,
        lab.grade.test,
        lab.grade
            .tests
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (i, hint) in lab.hints.iter().enumerate() {
        text += &format!(
            "<details><summary>Hint {} of {}</summary>\n\n{hint}\n\n</details>\n\n",
            i + 1,
            lab.hints.len()
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_loads_and_every_region_and_book_section_exists() {
        let labs = catalog::load().expect("labs/labs.toml");
        assert!(labs.len() >= 13, "{} labs", labs.len());
        for lab in &labs {
            for r in &lab.regions {
                let stub = region::stub(r).expect("the region exists");
                assert!(stub.contains(&lab.marker()), "{}", r.anchor);
            }
            selfcheck::book_section(lab).expect("the book section");
        }
    }
}
