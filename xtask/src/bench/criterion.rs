//! Steps 2 and 3 of the bench: run criterion's benches (sampling the plain
//! process [`Baseline`] between them), and read criterion's medians back.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use super::{Baseline, FROM_BENCHES, KVM_GUEST, Plan, Prepared, Row};
use crate::util;

// ANCHOR: run_benches
/// Step 2: run each bench executable the way `cargo bench` does (from its
/// package folder, with `--bench`). Criterion's command line sets the
/// quick mode; its results go to `CRITERION_HOME`.
pub(super) fn run_benches(
    plan: &Plan,
    prepared: &Prepared,
    criterion_home: &Path,
    baseline: &mut Baseline,
) -> Result<()> {
    for (dir, exe) in &prepared.benches {
        baseline.sample();
        let mut cmd = Command::new(exe);
        cmd.current_dir(dir)
            .env("CRITERION_HOME", criterion_home)
            .arg("--bench");
        if plan.quick {
            // Only the benchmarks the table shows, each measured until
            // criterion's estimate is stable (or 5 s).
            cmd.args(["--quick", &filter()]);
        }
        util::run(&mut cmd)?;
    }
    Ok(())
}
// ANCHOR_END: run_benches

/// A criterion filter (a regex on `group/function`) for the table's rows.
pub(super) fn filter() -> String {
    let ids: Vec<String> = FROM_BENCHES
        .iter()
        .chain([&KVM_GUEST])
        .map(|(id, _)| regex_escape(id))
        .collect();
    format!("^({})$", ids.join("|"))
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

// ANCHOR: read_criterion
/// Step 3: criterion writes, per benchmark, `new/benchmark.json` (its id)
/// and `new/estimates.json` (the statistics, in nanoseconds). We take the
/// median's point estimate. `since` ignores results older than this run,
/// so a benchmark that was skipped (no /dev/kvm) does not show an old figure.
pub fn read_criterion(
    home: &Path,
    since: Option<SystemTime>,
) -> Result<BTreeMap<String, Duration>> {
    let mut results = BTreeMap::new();
    let mut stack = vec![home.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("read {}", dir.display())),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "new") {
                if let Some((id, median)) = read_one(&path, since)? {
                    results.insert(id, median);
                }
            } else {
                stack.push(path);
            }
        }
    }
    Ok(results)
}

fn read_one(new: &Path, since: Option<SystemTime>) -> Result<Option<(String, Duration)>> {
    let estimates = new.join("estimates.json");
    let benchmark = new.join("benchmark.json");
    if !estimates.is_file() || !benchmark.is_file() {
        return Ok(None);
    }
    if let Some(since) = since {
        let modified = std::fs::metadata(&estimates)
            .and_then(|m| m.modified())
            .with_context(|| format!("stat {}", estimates.display()))?;
        if modified < since {
            return Ok(None);
        }
    }
    let json = |path: &Path| -> Result<serde_json::Value> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
    };
    let id = json(&benchmark)?["full_id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no full_id in {}", benchmark.display()))?;
    let nanos = json(&estimates)?["median"]["point_estimate"]
        .as_f64()
        .with_context(|| format!("no median.point_estimate in {}", estimates.display()))?;
    Ok(Some((id, Duration::from_secs_f64(nanos / 1e9))))
}
// ANCHOR_END: read_criterion

pub(super) fn bench_row(results: &BTreeMap<String, Duration>, id: &str, label: &str) -> Row {
    Row {
        key: id.into(),
        label: label.into(),
        source: format!("bench `{id}`"),
        spread: None,
        median: results
            .get(id)
            .copied()
            .ok_or_else(|| "not measured in this run (see the bench's output)".to_string()),
    }
}
