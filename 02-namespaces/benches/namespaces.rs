//! What a namespace costs: start `/bin/true` in each kind of new namespace,
//! and in all of them at once, against a plain fork + exec of the same
//! program (the step 01 baseline). Prints a summary of ratios at the end.
//!
//! Run with `cargo bench -p step02-namespaces` (as root to measure the
//! namespaces alone; as a user, each one also gets a user namespace).

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::Criterion;
use step01::report::{self, Table};
use step02::{Namespace, Namespaces, Sandbox};

const PROGRAM: &str = "/bin/true";

/// The variants: a label and the namespaces (None = plain spawn).
fn variants() -> Vec<(String, Option<Namespaces>)> {
    let mut list = vec![
        ("plain spawn".to_string(), None),
        // Our clone + handshake + exec, with no new namespace: what the
        // machinery costs before any namespace is made.
        ("Sandbox, none".to_string(), Some(Namespaces::none())),
    ];
    for ns in Namespace::ALL {
        list.push((ns.name().to_string(), Some(Namespaces::none().with(ns))));
    }
    list.push(("all".to_string(), Some(Namespaces::all())));
    list
}

fn start(namespaces: &Option<Namespaces>) {
    match namespaces {
        None => {
            let status = Command::new(PROGRAM).status().expect("spawn /bin/true");
            assert!(status.success());
        }
        Some(ns) => {
            let exit = Sandbox::new(ns.clone())
                .spawn_program(&[PROGRAM])
                .and_then(|child| child.wait())
                .expect("start /bin/true in new namespaces");
            assert!(exit.success());
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("namespaces");
    for (label, namespaces) in variants() {
        group.bench_function(&label, |b| b.iter(|| start(black_box(&namespaces))));
    }
    group.finish();
}

/// Our own short measurement for the summary: the median of a few runs.
fn median(namespaces: &Option<Namespaces>, runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            start(namespaces);
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn summary() {
    let variants = variants();
    let medians: Vec<Duration> = variants.iter().map(|(_, ns)| median(ns, 21)).collect();
    let base = medians[0].as_secs_f64();
    let machinery = medians[1].as_secs_f64();
    let mut table = Table::new([
        "child started in",
        "median",
        "vs plain spawn",
        "vs Sandbox, none",
    ]);
    for ((label, _), d) in variants.iter().zip(&medians) {
        let secs = d.as_secs_f64();
        table.row([
            label.clone(),
            report::duration(*d),
            report::ratio(secs / base),
            report::ratio(secs / machinery),
        ]);
    }
    println!(
        "\nStarting {PROGRAM}, median of 21 runs each:\n\n{}",
        table.render()
    );
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
    summary();
}
