//! The bench's pure parts: reading criterion's files and writing the table.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::chart::{scale_lines, startup_bars};
use super::criterion::{bench_row, filter, read_criterion};
use super::fair::{Stats, alternation, median, paired_ratio};
use super::memory::kib_field;
use super::render::{duration, ratio, render};
use super::report::{failures, json_report, scale_table, side_by_side};
use super::runtimes::Measured;
use super::scale::{ScalePoint, growth};
use super::{Plan, Row, Spread};

/// A fixture criterion tree in a temp dir, removed even on failure.
struct Fixture(PathBuf);

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_bench(home: &Path, dir: &str, run: &str, id: &str, median_ns: f64) {
    let new = home.join(dir).join(run);
    std::fs::create_dir_all(&new).expect("mkdir fixture");
    let (group, function) = id.split_once('/').expect("id has a group");
    std::fs::write(
        new.join("benchmark.json"),
        format!(
            r#"{{"group_id":"{group}","function_id":"{function}","value_str":null,"throughput":null,"full_id":"{id}","directory_name":"{dir}","title":"{id}"}}"#
        ),
    )
    .expect("write benchmark.json");
    std::fs::write(
        new.join("estimates.json"),
        format!(
            r#"{{"mean":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0}},"point_estimate":999999999.0,"standard_error":1.0}},"median":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0}},"point_estimate":{median_ns},"standard_error":1.0}}}}"#
        ),
    )
    .expect("write estimates.json");
}

#[test]
fn criterion_medians_are_read_by_id() {
    let home =
        Fixture(std::env::temp_dir().join(format!("tincan-xtask-bench-{}", std::process::id())));
    // Criterion's directory names differ from the ids (spaces, slashes).
    write_bench(
        &home.0,
        "namespaces/plain spawn",
        "new",
        "namespaces/plain spawn",
        1_000_000.0,
    );
    write_bench(
        &home.0,
        "container/tincan_run_true",
        "new",
        "container/tincan_run_true",
        6_500_000.0,
    );
    // The previous run's `base` is not this run's result.
    write_bench(&home.0, "startup/vm_x", "base", "startup/vm_x", 5.0);

    let results = read_criterion(&home.0, None).expect("read the fixture");
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(results["namespaces/plain spawn"], Duration::from_millis(1));
    assert_eq!(
        results["container/tincan_run_true"],
        Duration::from_micros(6500)
    );

    // Results older than this run are left out.
    let later = SystemTime::now() + Duration::from_secs(60);
    assert!(
        read_criterion(&home.0, Some(later))
            .expect("read")
            .is_empty()
    );
    // No criterion directory at all is no results, not an error.
    assert!(
        read_criterion(&home.0.join("missing"), None)
            .expect("read")
            .is_empty()
    );
}

#[test]
fn table_shows_medians_and_ratios_to_the_first_row() {
    let home =
        Fixture(std::env::temp_dir().join(format!("tincan-xtask-table-{}", std::process::id())));
    write_bench(
        &home.0,
        "namespaces/plain spawn",
        "new",
        "namespaces/plain spawn",
        1_000_000.0,
    );
    write_bench(
        &home.0,
        "container/tincan_run_true",
        "new",
        "container/tincan_run_true",
        6_500_000.0,
    );
    let results = read_criterion(&home.0, None).expect("read the fixture");
    let rows = vec![
        bench_row(&results, "namespaces/plain spawn", "plain"),
        bench_row(&results, "container/tincan_run_true", "tincan"),
        Row {
            key: "runc".into(),
            spread: None,
            label: "`runc run`".into(),
            source: "timed by xtask, 5 runs".into(),
            median: Err("runc is not installed".into()),
        },
        Row {
            key: "boot".into(),
            spread: None,
            label: "boot".into(),
            source: "timed by xtask, 3 runs".into(),
            median: Ok(Duration::from_millis(2600)),
        },
    ];
    let table = render("Measured here.", &rows);
    let expected = "\
Measured here.

| what starts | measured by | median | vs plain process |
|---|---|---:|---:|
| plain | bench `namespaces/plain spawn` | 1.00 ms | 1.0× |
| tincan | bench `container/tincan_run_true` | 6.50 ms | 6.5× |
| `runc run` | timed by xtask, 5 runs | — | — (runc is not installed) |
| boot | timed by xtask, 3 runs | 2.60 s | 2600× |
";
    assert_eq!(table, expected);
}

#[test]
fn filter_matches_exactly_the_table_rows() {
    let f = filter();
    assert!(f.contains(r"namespaces/plain spawn|"));
    assert!(f.contains(r"pivot_root \+ mounts \+ cgroup \(step 03\)"));
    assert!(f.starts_with("^(") && f.ends_with(")$"));
}

#[test]
fn units_and_ratios_read_well() {
    assert_eq!(duration(Duration::from_micros(850)), "850 µs");
    assert_eq!(duration(Duration::from_micros(35_200)), "35.2 ms");
    assert_eq!(ratio(1.04), "1.0×");
    assert_eq!(ratio(183.4), "183×");
    assert_eq!(kib_field("Rss:   1234 kB\nPss: 99 kB\n", "Pss:"), Some(99));
}

// The fair harness's pure parts: the order of the runs, the statistics,
// the ratios, failure counting, the JSON and the charts.

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn stats(rounds: &[Result<u64, &str>]) -> Stats {
    Stats {
        rounds: rounds
            .iter()
            .map(|r| r.map(ms).map_err(str::to_owned))
            .collect(),
    }
}

#[test]
fn contenders_take_turns_round_after_round() {
    assert_eq!(
        alternation(3, 2),
        [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    );
    assert!(alternation(3, 0).is_empty());
}

#[test]
fn median_min_max_count_only_the_runs_that_succeeded() {
    let s = stats(&[
        Ok(30),
        Err("boom (exit status: 1)"),
        Ok(10),
        Ok(20),
        Err("again"),
    ]);
    assert_eq!(s.median(), Some(ms(20)));
    assert_eq!((s.min(), s.max()), (Some(ms(10)), Some(ms(30))));
    assert_eq!((s.n(), s.failures()), (3, 2));
    assert_eq!(s.first_error(), Some("boom (exit status: 1)"));
    assert_eq!(failures(&s), "2 (first: boom (exit status: 1))");
    // An even count takes the mean of the two middle runs.
    assert_eq!(median(&[ms(10), ms(20), ms(40), ms(50)]), Some(ms(30)));
    assert_eq!(median(&[]), None);
    assert_eq!(stats(&[Err("x")]).median(), None);
    assert_eq!(failures(&stats(&[Ok(1)])), "0");
}

#[test]
fn ratios_pair_the_runs_of_each_round_and_skip_failed_rounds() {
    // Round 2 was slow for both: the per-round ratio stays 0.5.
    let a = stats(&[Ok(5), Ok(50), Ok(6), Err("failed")]);
    let b = stats(&[Ok(10), Ok(100), Ok(10), Ok(10)]);
    let r = paired_ratio(&a, &b).expect("three rounds in common");
    assert!((r - 0.5).abs() < 1e-9, "{r}");
    assert_eq!(paired_ratio(&stats(&[Err("x")]), &b), None);
}

fn measured(key: &str, rounds: &[Result<u64, &str>]) -> Measured {
    Measured {
        key: key.into(),
        label: format!("`{key} run`"),
        stats: stats(rounds),
    }
}

#[test]
fn side_by_side_table_shows_ratios_to_crun_and_runc_and_failures() {
    let rows = [
        measured("tincan", &[Ok(10), Ok(10), Err("rename x: No such file")]),
        measured("crun", &[Ok(20), Ok(20), Ok(20)]),
        measured("runc", &[Ok(40), Ok(40), Ok(40)]),
    ];
    let table = side_by_side(&rows, &[("crun", "crun"), ("runc", "runc")]);
    let expected = "\
| what starts | median | min | max | runs | failed | vs crun | vs runc |
|---|---:|---:|---:|---:|---:|---:|---:|
| `tincan run` | 10.0 ms | 10.0 ms | 10.0 ms | 2 | 1 (first: rename x: No such file) | 0.50× | 0.25× |
| `crun run` | 20.0 ms | 20.0 ms | 20.0 ms | 3 | 0 | 1.00× | 0.50× |
| `runc run` | 40.0 ms | 40.0 ms | 40.0 ms | 3 | 0 | 2.00× | 1.00× |
";
    assert_eq!(table, expected);
}

fn point(runtime: &str, width: usize, count: usize, wall: u64, failed: usize) -> ScalePoint {
    let mut rounds: Vec<Result<u64, &str>> = vec![Ok(1); count - failed];
    rounds.extend(vec![Err("failed"); failed]);
    ScalePoint {
        runtime: runtime.into(),
        width,
        count,
        wall: ms(wall),
        runs: stats(&rounds),
    }
}

#[test]
fn scale_counts_failures_and_cost_per_container() {
    let points = [
        point("tincan", 1, 1, 10, 0),
        point("tincan", 1, 10, 120, 0),
        point("tincan", 10, 10, 40, 2),
        point("crun", 1, 1, 20, 0),
        point("crun", 1, 10, 200, 0),
    ];
    assert_eq!(points[1].per_container(), ms(12));
    assert_eq!(points[2].runs.failures(), 2);
    let g = growth(&points, "tincan", 1).expect("two counts");
    assert!((g - 1.2).abs() < 1e-9, "{g}");
    // A point with failures is not a cost to compare.
    assert_eq!(growth(&points, "tincan", 10), None);
    let table = scale_table(&points);
    assert!(
        table.contains("| tincan | 10 | 10 | 40.0 ms | 4.00 ms | — | 2 (first: failed) |"),
        "{table}"
    );
    assert!(
        table.contains("| tincan | 1 | 10 | 120 ms | 12.0 ms | 0.60× | 0 |"),
        "{table}"
    );
    assert!(
        table.contains(
            "- tincan, 1 at a time: the cost per container at the largest count is 1.20×"
        )
    );
}

#[test]
fn json_has_every_figure_and_the_machine() {
    let rows = [
        measured("tincan", &[Ok(10), Err("x")]),
        measured("crun", &[Ok(20)]),
    ];
    let spectrum = [Row {
        key: "baseline".into(),
        label: "plain".into(),
        source: "timed".into(),
        median: Ok(ms(1)),
        spread: Some(Spread {
            min: ms(1),
            max: ms(2),
            n: 21,
        }),
    }];
    let json = json_report(
        serde_json::json!({"cpus": 2}),
        &spectrum,
        &rows,
        &[],
        &[point("crun", 10, 10, 50, 0)],
    );
    assert_eq!(json["machine"]["cpus"], 2);
    assert_eq!(json["startup"][0]["median_ms"], 1.0);
    assert_eq!(json["startup"][0]["max_ms"], 2.0);
    assert_eq!(json["startup"][0]["n"], 21);
    let tincan = &json["runtimes"][0];
    assert_eq!(tincan["key"], "tincan");
    assert_eq!(tincan["median_ms"], 10.0);
    assert_eq!(
        (tincan["n"].as_u64(), tincan["failures"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(json["podman"].as_array().map(Vec::len), Some(0));
    let scale = &json["scale"][0];
    assert_eq!(scale["per_container_ms"], 5.0);
    assert_eq!(scale["at_a_time"], 10);
    for key in ["min_ms", "max_ms", "median_ms", "n", "failures", "wall_ms"] {
        assert!(!scale[key].is_null(), "{key} in {scale}");
    }
}

#[test]
fn charts_are_written_as_svg_with_their_labels() {
    let dir =
        Fixture(std::env::temp_dir().join(format!("tincan-xtask-chart-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("mkdir");
    let bars = [
        ("process: /bin/true".to_string(), 0.8),
        ("tincan run --bundle".to_string(), 10.3),
        ("Linux boot under QEMU".to_string(), 2600.0),
    ];
    let bar_file = dir.0.join("startup.svg");
    startup_bars(&bar_file, "Start-up", &bars).expect("draw the bars");
    let svg = std::fs::read_to_string(&bar_file).expect("read the svg");
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    for label in [
        "process: /bin/true",
        "tincan run --bundle",
        "Linux boot under QEMU",
        "2.60 s",
    ] {
        assert!(svg.contains(label), "{label} not in the chart");
    }
    let line_file = dir.0.join("scale.svg");
    let points = [
        point("tincan", 1, 1, 10, 0),
        point("tincan", 1, 10, 120, 0),
        point("crun", 10, 10, 50, 3),
    ];
    scale_lines(&line_file, "Scale", &points).expect("draw the lines");
    let svg = std::fs::read_to_string(&line_file).expect("read the svg");
    assert!(
        svg.contains("<polyline") && svg.contains("tincan, one at a time"),
        "{svg}"
    );
    // crun's only point had failures: no line, no legend entry.
    assert!(!svg.contains("crun, 10 at a time"));
}

#[test]
fn options_survive_the_trip_through_sudo() {
    use clap::Parser as _;
    let plan = Plan {
        quick: true,
        runs: Some(7),
        scale: Some(vec![1, 10, 50]),
        runtimes_only: true,
        book: false,
    };
    let mut argv = vec!["xtask".to_string(), "bench".into(), "--measure-only".into()];
    argv.extend(plan.args());
    let cli = crate::Cli::try_parse_from(&argv).expect("parse our own arguments");
    let crate::Task::Bench {
        runs,
        scale,
        quick,
        runtimes_only,
        ..
    } = cli.task
    else {
        panic!("not the bench task");
    };
    assert_eq!((quick, runtimes_only, runs), (true, true, Some(7)));
    assert_eq!(scale, Some(vec![1, 10, 50]));
}

#[test]
fn the_runtime_is_measured_against_its_primitives() {
    let row = |key: &str, ms: u64| Row {
        key: key.into(),
        spread: None,
        label: key.into(),
        source: "bench".into(),
        median: Ok(Duration::from_millis(ms)),
    };
    let parts = "rootfs/pivot_root + mounts + cgroup (step 03)";
    let within =
        super::report::against_primitives(&[row("container/tincan_run_true", 9), row(parts, 6)]);
    assert!(
        within.contains("1.5×") && within.contains("within"),
        "{within}"
    );
    let over =
        super::report::against_primitives(&[row("container/tincan_run_true", 15), row(parts, 6)]);
    assert!(over.contains("2.5×") && over.contains("over"), "{over}");
    assert_eq!(
        super::report::against_primitives(&[row(parts, 6)]),
        "",
        "nothing to say without tincan's row"
    );
}
