//! What a root filesystem costs to set up: chroot alone, pivot_root with
//! the container mounts (in new namespaces), and the same inside a step 03
//! cgroup. Each iteration runs `/bin/true` from the toolbox rootfs.
//!
//! Needs root and the rootfs (`cargo xtask rootfs`); without them the
//! bench prints why and measures nothing.

use criterion::{Criterion, criterion_group, criterion_main};
use std::time::Duration;
use step04::container::{Isolation, run};
use step04::pivot::Options;

fn rootfs(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("rootfs bench: needs root (chroot, mount and pivot_root do)");
        return;
    }
    let dir = match step04::rootfs::locate(None) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("rootfs bench: {e:#}");
            return;
        }
    };
    let mut group = c.benchmark_group("rootfs");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    group.bench_function("chroot", |b| {
        b.iter(|| run(&dir, &Isolation::Chroot, &["/bin/true"]).expect("chroot run"));
    });
    let container = Isolation::Container {
        options: Options::default(),
        hostname: "tincan",
        cgroup: None,
    };
    group.bench_function("pivot_root + mounts", |b| {
        b.iter(|| run(&dir, &container, &["/bin/true"]).expect("pivot run"));
    });
    let limits = step03::limits::Limits {
        memory: step03::limits::parse_bytes("--memory", "64m").ok(),
        ..Default::default()
    };
    let name = format!("step04-bench-{}", std::process::id());
    let (cgroup, _) = step03::cgroup::create(&name, &limits).expect("create the bench cgroup");
    let with_cgroup = Isolation::Container {
        options: Options::default(),
        hostname: "tincan",
        cgroup: Some(cgroup.as_ref()),
    };
    group.bench_function("pivot_root + mounts + cgroup (step 03)", |b| {
        b.iter(|| run(&dir, &with_cgroup, &["/bin/true"]).expect("container run"));
    });
    group.finish();
}

criterion_group!(benches, rootfs);
criterion_main!(benches);
