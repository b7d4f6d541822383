//! The bench's pure parts: reading criterion's files and writing the table.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::Row;
use super::criterion::{bench_row, filter, read_criterion};
use super::memory::kib_field;
use super::render::{duration, ratio, render};

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
            label: "`runc run`".into(),
            source: "timed by xtask, 5 runs".into(),
            median: Err("runc is not installed".into()),
        },
        Row {
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
