//! Start-up cost, measured: a KVM virtual machine (`KVM_CREATE_VM` → run to
//! `hlt` → drop) next to a process (`fork` + `execve` of `echo` → its line).
//!
//! Run with `cargo bench -p step01-vm-vs-process --bench vm` (needs /dev/kvm
//! for the VM half; without it that half is skipped with a note).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use step01::kvm::{self, Machine, Until};

fn startup(c: &mut Criterion) {
    let mut group = c.benchmark_group("startup");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    group.bench_function("process_spawn_to_first_output", |b| {
        b.iter(|| step01::compare::time_to_first_output_process().expect("spawn echo"))
    });

    let device = Path::new(kvm::DEFAULT_DEVICE);
    match kvm::open_device(device) {
        Ok(_) => {
            group.bench_function("vm_create_run_to_hlt_drop", |b| {
                b.iter(|| {
                    let mut machine = Machine::create(device).expect("create the VM");
                    let exits = machine.run(Until::Halt).expect("run the guest");
                    black_box(exits);
                    // `machine` drops here: vCPU, VM, then its memory.
                })
            });
        }
        Err(e) => eprintln!("skipping the VM benchmark: {e:#}"),
    }
    group.finish();
}

criterion_group!(benches, startup);
criterion_main!(benches);
