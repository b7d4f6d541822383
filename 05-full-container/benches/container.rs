//! Criterion bench `container`: what tincan's own protections cost.
//!
//! - compiling the seccomp deny list to BPF (done once per container, in the parent);
//! - a child that installs the filter and exits, next to one that just exits
//!   (the price of seccomp at start-up);
//! - mounting and removing a per-container overlay (as root);
//! - the kernel primitives of a container, one by one: `clone` into new
//!   namespaces, a cgroup created and removed (step 03);
//! - and the whole thing: `tincan run -- /bin/true` (as root), to compare
//!   with the sum of its parts.

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

/// clone(2) into the same namespaces `tincan run` creates, and exit.
fn clone_namespaces_exit() {
    let flags = step05::flags::CONTAINER_NAMESPACES
        .iter()
        .fold(nix::sched::CloneFlags::empty(), |f, ns| f | ns.clone_flag());
    let mut stack = vec![0u8; 64 * 1024];
    // SAFETY: the child runs a closure that returns at once on its own stack.
    let pid = unsafe { nix::sched::clone(Box::new(|| 0), &mut stack, flags, Some(libc::SIGCHLD)) }
        .expect("clone");
    waitpid(pid, None).expect("waitpid");
}

/// Copy a program and its libraries into an image directory.
fn install(root: &std::path::Path, program: &str) {
    let ldd = std::process::Command::new("ldd")
        .arg(program)
        .output()
        .expect("ldd");
    let libs = String::from_utf8_lossy(&ldd.stdout).into_owned();
    for file in libs
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .chain([program])
    {
        let target = root.join(&file[1..]);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(file, &target).expect("copy");
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("container");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    group.bench_function("seccomp_compile", |b| {
        b.iter(|| {
            compile(&Profile::Default, &step05::capabilities::docker_default()).expect("compile")
        })
    });
    let filters =
        compile(&Profile::Default, &step05::capabilities::docker_default()).expect("compile");
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
        group.bench_function("clone_namespaces_exit", |b| b.iter(clone_namespaces_exit));
        group.bench_function("cgroup_create_remove", |b| {
            b.iter(|| {
                let limits = step03::limits::Limits::default();
                let (mut cgroup, _) =
                    step03::cgroup::create("tincan-bench", &limits).expect("cgroup");
                cgroup.remove().expect("remove")
            })
        });
        let image = base.join("image");
        install(&image, "/bin/true");
        // The mount points every real image has (busybox, Alpine, Debian).
        // Without them the container creates each one in its writable
        // layer, and removing those directories afterwards is what took the
        // most time in a profile of `tincan run` (strace -f -T: each rmdir
        // waited for a discard on this disk-backed state directory).
        for dir in ["proc", "dev", "sys", "tmp"] {
            std::fs::create_dir_all(image.join(dir)).expect("mkdir mount point");
        }
        let state = base.join("state");
        group.bench_function("tincan_run_true", |b| {
            b.iter(|| {
                let status = std::process::Command::new(env!("CARGO_BIN_EXE_tincan"))
                    .arg("--root")
                    .arg(&state)
                    .args(["run", "--rootfs"])
                    .arg(&image)
                    .args(["--", "/bin/true"])
                    .status()
                    .expect("run tincan");
                assert!(status.success());
            })
        });
        let _ = std::fs::remove_dir_all(&base);
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
