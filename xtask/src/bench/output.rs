//! Where the bench's results go: target/bench-report/ always (the
//! tables, `report.json` with every figure, and the two SVG charts), and
//! with `--book` the book's `src/generated/` as well.

use anyhow::{Context, Result};

use super::memory::memory_table;
use super::render::{give_back, render, write_owned};
use super::{CHART, FairRun, Plan, Prepared, Row, chart, report, report_dir};
use crate::util::root;

/// Write the tables, the JSON and the charts to target/bench-report, and
/// with `--book` the tables and charts into book/src/generated.
pub(super) fn write_reports(
    plan: &Plan,
    header: &str,
    rows: &[Row],
    fair: &FairRun,
    memory: Option<(&Prepared, Option<(u64, u64)>)>,
) -> Result<()> {
    let dir = report_dir();
    let startup = format!(
        "{}\n{}",
        render(header, rows),
        report::against_primitives(rows)
    );
    let mut files = vec![("startup.md", startup)];
    let missing = if fair.missing.is_empty() {
        String::new()
    } else {
        format!(" Not measured: {}.", fair.missing.join(", "))
    };
    files.push((
        "runtimes.md",
        format!(
            "{header}\n\nHow: {}. {} rounds, after one untimed warm-up round; each ratio is \
             the median of the per-round ratios.{missing}\n\n{}\n{}",
            fair.how,
            plan.rounds(),
            report::side_by_side(&fair.startup, &[("crun", "crun"), ("runc", "runc")]),
            report::side_by_side(
                &fair.podman,
                &[
                    ("podman-crun", "podman + crun"),
                    ("podman-runc", "podman + runc")
                ]
            ),
        ),
    ));
    let (trips, starts): (Vec<_>, Vec<_>) = fair
        .network
        .iter()
        .cloned()
        .partition(|m| m.key.starts_with("rtt-"));
    files.push((
        "network.md",
        format!(
            "{header}\n\nIn a network namespace of the bench's own. Start-up in turns, \
             {} rounds; a round trip is one byte each way on one TCP connection.\n\n{}\n{}",
            plan.rounds(),
            report::side_by_side(&starts, &[("tincan-net-none", "--net none")]),
            report::side_by_side(&trips, &[("rtt-loopback", "loopback")]),
        ),
    ));
    files.push((
        "scale.md",
        format!("{header}\n\n{}", report::scale_table(&fair.scale)),
    ));
    if let Some((prepared, qemu)) = memory {
        files.push(("memory.md", memory_table(header, prepared, qemu)));
    }
    for (name, text) in &files {
        println!("\n{text}");
        write_owned(&dir.join(name), text)?;
    }
    let machine = serde_json::json!({
        "header": header,
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "how": fair.how,
    });
    let json = report::json_report(machine, rows, &fair.startup, &fair.podman, &fair.scale);
    write_owned(
        &dir.join("report.json"),
        &serde_json::to_string_pretty(&json)?,
    )?;
    let bars: Vec<(String, f64)> = CHART
        .iter()
        .filter_map(|(key, label)| {
            let row = rows.iter().find(|r| r.key == *key)?;
            let d = row.median.as_ref().ok()?;
            Some(((*label).to_string(), d.as_secs_f64() * 1e3))
        })
        .collect();
    chart::startup_bars(
        &dir.join("startup.svg"),
        "Start-up, median (log scale)",
        &bars,
    )?;
    chart::scale_lines(
        &dir.join("scale.svg"),
        "Cost per container as the count grows",
        &fair.scale,
    )?;
    give_back(&dir);
    println!("wrote {}", dir.display());
    if plan.book {
        let book = root().join("book/src/generated");
        for name in files
            .iter()
            .map(|f| f.0)
            .chain(["startup.svg", "scale.svg"])
        {
            std::fs::copy(dir.join(name), book.join(name))
                .with_context(|| format!("copy {name} into {}", book.display()))?;
        }
        give_back(&book);
        println!("wrote the tables and charts into {}", book.display());
    }
    Ok(())
}
