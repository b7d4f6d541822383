//! Criterion bench `container`: what tincan's own protections cost.
//!
//! - compiling the seccomp deny list to BPF (done once per container, in the parent);
//! - a child that installs the filter and exits, next to one that just exits
//!   (the price of seccomp at start-up);
//! - mounting and removing a per-container overlay (as root).

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};
use step05::seccomp::{Filters, Profile, compile};

fn fork_and_wait(filters: Option<&Filters>) {
    // SAFETY: the child only installs a precompiled filter and calls _exit.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = filters.map_or(0, |f| i32::from(f.install().is_err()));
            // SAFETY: _exit is always safe to call in a forked child.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            waitpid(child, None).expect("waitpid");
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("container");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    group.bench_function("seccomp_compile", |b| {
        b.iter(|| compile(Profile::Default).expect("compile"))
    });
    let filters = compile(Profile::Default).expect("compile");
    group.bench_function("fork_exit", |b| b.iter(|| fork_and_wait(None)));
    group.bench_function("fork_seccomp_exit", |b| {
        b.iter(|| fork_and_wait(Some(&filters)))
    });
    if nix::unistd::geteuid().is_root() {
        let base = std::env::temp_dir().join(format!("tincan-bench-{}", std::process::id()));
        let lower = base.join("lower");
        std::fs::create_dir_all(&lower).expect("mkdir lower");
        group.bench_function("overlay_mount_remove", |b| {
            b.iter(|| {
                step05::overlay::Overlay::mount(&lower, &base.join("layer"))
                    .expect("mount")
                    .remove()
                    .expect("remove")
            })
        });
        let _ = std::fs::remove_dir_all(&base);
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
