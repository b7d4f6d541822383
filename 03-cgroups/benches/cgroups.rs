//! What a cgroup costs: create + place a child + remove, per cgroup version
//! this host can run, and a child in namespaces with and without a cgroup.
//!
//! Run as root: `cargo bench -p step03-cgroups`. On a hybrid v1 host the v2
//! code runs on the controller-less cgroup2 mount (grouping and
//! CLONE_INTO_CGROUP work there, limits do not).

use criterion::{Criterion, criterion_group, criterion_main};
use step03::cgroup::{self, Cgroup};
use step03::limits::{Limit, Limits};
use step03::spawn::{self, NAMESPACES};
use step03::version::Hierarchy;

fn run_true(cg: Option<&dyn Cgroup>, namespaces: &str) {
    let mut child = spawn::spawn(cg, namespaces, "/bin/true", &[], false).expect("spawn /bin/true");
    child.wait().expect("wait");
}

fn bench(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: the cgroups bench needs root");
        return;
    }
    let limits = Limits {
        pids: Some(Limit::Value(64)),
        ..Limits::default()
    };
    let mut hierarchies = vec![Hierarchy::detect().expect("detect")];
    if let (Hierarchy::V1 { .. }, Ok(Some(mount))) = (&hierarchies[0], Hierarchy::cgroup2_mount()) {
        hierarchies.push(Hierarchy::V2 { mount });
    }
    let mut group = c.benchmark_group("cgroups");
    group
        .sample_size(10)
        .measurement_time(std::time::Duration::from_secs(2));
    for h in hierarchies {
        let label = format!("create+attach+remove {}", h.version());
        group.bench_function(&label, |b| {
            b.iter(|| {
                let (cg, _) = cgroup::create_in(h.clone(), "bench", &limits).expect("create");
                run_true(Some(cg.as_ref()), "");
                drop(cg);
            })
        });
    }
    let (cg, _) = cgroup::create("bench-ns", &limits).expect("create");
    group.bench_function("child in namespaces", |b| {
        b.iter(|| run_true(None, NAMESPACES))
    });
    group.bench_function("child in namespaces + cgroup", |b| {
        b.iter(|| run_true(Some(cg.as_ref()), NAMESPACES))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
