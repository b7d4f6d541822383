//! The fair comparison's tables (runtimes side by side, podman, scale)
//! and the JSON of every figure the bench measured.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::Row;
use super::fair::{Stats, paired_ratio};
use super::render::duration;
use super::runtimes::Measured;
use super::scale::{ScalePoint, growth};

fn or_dash(d: Option<Duration>) -> String {
    d.map_or_else(|| "—".into(), duration)
}

/// "0" or "3 (first: the error)".
pub fn failures(stats: &Stats) -> String {
    match (stats.failures(), stats.first_error()) {
        (0, _) => "0".into(),
        (n, Some(e)) => format!("{n} (first: {})", e.replace('|', "/")),
        (n, None) => n.to_string(),
    }
}

// ANCHOR: primitives
/// How far the whole runtime is from its own kernel primitives: `tincan run`
/// against step 04's container, which composes the same ones (namespaces,
/// `pivot_root`, the container mounts, a step 03 cgroup) and nothing else.
/// The goal is at most 2×. Empty when either row is missing.
pub fn against_primitives(rows: &[Row]) -> String {
    let median = |key: &str| {
        let row = rows.iter().find(|r| r.key == key)?;
        row.median.as_ref().ok().copied()
    };
    let (Some(whole), Some(parts)) = (
        median("container/tincan_run_true"),
        median("rootfs/pivot_root + mounts + cgroup (step 03)"),
    ) else {
        return String::new();
    };
    let ratio = whole.as_secs_f64() / parts.as_secs_f64();
    let verdict = if ratio <= 2.0 {
        "within the goal of 2×"
    } else {
        "over the goal of 2×"
    };
    format!(
        "`tincan run -- /bin/true` took {ratio:.1}× step 04's container made of the same \
         kernel primitives (namespaces, `pivot_root`, the container mounts, a cgroup): \
         {verdict}. The rest is the runtime's own work: the state record, the device \
         allowlist, capabilities, seccomp, the network, and checking the request.\n"
    )
}
// ANCHOR_END: primitives

// ANCHOR: side_by_side
/// Every row with its median, min, max, runs and failures, and its ratio
/// to each reference row (`refs`: key and name) from the same rounds.
pub fn side_by_side(rows: &[Measured], refs: &[(&str, &str)]) -> String {
    let mut out = String::from("| what starts | median | min | max | runs | failed |");
    for (_, name) in refs {
        let _ = write!(out, " vs {name} |");
    }
    out.push_str("\n|---|---:|---:|---:|---:|---:|");
    out.push_str(&"---:|".repeat(refs.len()));
    out.push('\n');
    for row in rows {
        let s = &row.stats;
        let _ = write!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.label,
            or_dash(s.median()),
            or_dash(s.min()),
            or_dash(s.max()),
            s.n(),
            failures(s)
        );
        for (key, _) in refs {
            let cell = rows
                .iter()
                .find(|r| r.key == *key)
                .and_then(|r| paired_ratio(s, &r.stats))
                .map_or_else(|| "—".into(), |r| format!("{r:.2}×"));
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out
}
// ANCHOR_END: side_by_side

/// The scale table: wall time, cost per container, failures, and the
/// per-container cost against crun's at the same point.
pub fn scale_table(points: &[ScalePoint]) -> String {
    let mut out = String::from(
        "| runtime | at a time | containers | wall | per container | vs crun | failed |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for p in points {
        let crun = points
            .iter()
            .find(|c| c.runtime == "crun" && c.width == p.width && c.count == p.count)
            .map_or_else(
                || "—".into(),
                |c| {
                    format!(
                        "{:.2}×",
                        p.per_container().as_secs_f64() / c.per_container().as_secs_f64()
                    )
                },
            );
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {crun} | {} |",
            p.runtime,
            p.width,
            p.count,
            duration(p.wall),
            duration(p.per_container()),
            failures(&p.runs)
        );
    }
    let mut runtimes: Vec<&str> = points.iter().map(|p| p.runtime.as_str()).collect();
    runtimes.dedup();
    runtimes.sort_unstable();
    runtimes.dedup();
    out.push('\n');
    for rt in runtimes {
        for width in [1, super::runtimes::SLOTS] {
            if let Some(g) = growth(points, rt, width) {
                let _ = writeln!(
                    out,
                    "- {rt}, {width} at a time: the cost per container at the largest count is \
                     {} the cost at the smallest.",
                    ratio_2(g)
                );
            }
        }
    }
    out
}

fn ratio_2(r: f64) -> String {
    format!("{r:.2}×")
}

fn ms(d: Option<Duration>) -> Value {
    d.map_or(Value::Null, |d| json!(d.as_secs_f64() * 1e3))
}

fn measured_json(m: &Measured) -> Value {
    let s = &m.stats;
    json!({
        "key": m.key, "label": m.label,
        "median_ms": ms(s.median()), "min_ms": ms(s.min()), "max_ms": ms(s.max()),
        "n": s.n(), "failures": s.failures(), "first_error": s.first_error(),
    })
}

// ANCHOR: json
/// Every figure of the run, for anyone who wants to plot or compare it:
/// the machine, the start-up spectrum, the side-by-side runtimes, podman,
/// and the scale points. Times in milliseconds.
pub fn json_report(
    machine: Value,
    spectrum: &[Row],
    runtimes: &[Measured],
    podman: &[Measured],
    scale: &[ScalePoint],
) -> Value {
    let spectrum: Vec<Value> = spectrum
        .iter()
        .map(|r| {
            let spread = r.spread.as_ref();
            json!({
                "label": r.label, "source": r.source,
                "median_ms": ms(r.median.as_ref().ok().copied()),
                "min_ms": ms(spread.map(|s| s.min)), "max_ms": ms(spread.map(|s| s.max)),
                "n": spread.map(|s| s.n), "note": r.median.as_ref().err(),
            })
        })
        .collect();
    let scale: Vec<Value> = scale
        .iter()
        .map(|p| {
            json!({
                "runtime": p.runtime, "at_a_time": p.width, "containers": p.count,
                "wall_ms": ms(Some(p.wall)), "per_container_ms": ms(Some(p.per_container())),
                "median_ms": ms(p.runs.median()), "min_ms": ms(p.runs.min()),
                "max_ms": ms(p.runs.max()), "n": p.runs.n(), "failures": p.runs.failures(),
            })
        })
        .collect();
    json!({
        "machine": machine,
        "startup": spectrum,
        "runtimes": runtimes.iter().map(measured_json).collect::<Vec<_>>(),
        "podman": podman.iter().map(measured_json).collect::<Vec<_>>(),
        "scale": scale,
    })
}
// ANCHOR_END: json

/// A fair row as a row of the start-up spectrum (median and spread).
pub fn as_row(m: &Measured, how: &str) -> Row {
    let s = &m.stats;
    Row {
        key: m.key.clone(),
        label: m.label.clone(),
        source: format!("timed by xtask, {} runs, {how}", s.rounds.len()),
        median: s
            .median()
            .ok_or_else(|| format!("every run failed: {}", s.first_error().unwrap_or("?"))),
        spread: s
            .min()
            .zip(s.max())
            .map(|(min, max)| super::Spread { min, max, n: s.n() }),
    }
}
