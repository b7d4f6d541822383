//! The `vm` and `compare` demos: a real guest on KVM, and the errors a
//! learner without KVM sees.

use std::path::Path;
use std::process::Command;

use step01::kvm::{self, GREETING, MARKER, NO_RAM_ANSWER};

fn demo(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_step01-vm-vs-process"))
        .args(args)
        .env("TINCAN_REDACT", "1")
        .output()
        .expect("run the step01 binary")
}

fn device() -> &'static Path {
    Path::new(kvm::DEFAULT_DEVICE)
}

/// A failed demo: non-zero exit, nothing on stdout, exactly one line on stderr.
fn one_line_error(out: &std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "one line, got: {err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

#[test]
fn vm_greeting_comes_back_through_the_serial_port() {
    if !step01::testing::need_kvm() {
        return;
    }
    let run = kvm::run_guest(device()).expect("run the guest");
    assert_eq!(run.exits.serial, GREETING);
    let io = run
        .exits
        .table
        .iter()
        .find(|e| e.kind.starts_with("KVM_EXIT_IO"))
        .expect("serial exits");
    assert_eq!(io.place, "port 0x3f8");
    assert_eq!(
        io.count,
        GREETING.len(),
        "one exit per byte of the greeting"
    );
    let hlt: Vec<_> = run
        .exits
        .table
        .iter()
        .filter(|e| e.kind == "KVM_EXIT_HLT")
        .collect();
    assert_eq!(hlt.len(), 1);
    assert_eq!(hlt[0].count, 1);
    assert_eq!(run.exits.total(), GREETING.len() + 2, "{:?}", run.exits);
}

#[test]
fn vm_guest_writes_land_in_our_memory_and_beyond_is_not_ram() {
    if !step01::testing::need_kvm() {
        return;
    }
    let run = kvm::run_guest(device()).expect("run the guest");
    // The guest's store to its address 0x2000 is visible in our mapping.
    assert_eq!(run.marker, MARKER);
    // Its read one byte past its RAM became an MMIO exit at exactly that
    // address, and it got our answer, not some host memory.
    assert_eq!(run.exits.mmio_reads, vec![kvm::GUEST_MEM_SIZE]);
    assert_eq!(run.answer, NO_RAM_ANSWER);
}

#[test]
fn vm_stops_at_the_first_output_when_asked() {
    if !step01::testing::need_kvm() {
        return;
    }
    let mut machine = kvm::Machine::create(device()).expect("create the VM");
    let exits = machine.run(kvm::Until::FirstOutput).expect("run");
    assert_eq!(exits.serial, &GREETING[..1]);
    // The guest had not reached its marker store yet.
    assert_eq!(machine.read_u16(kvm::MARKER_ADDR).expect("read"), 0);
}

#[test]
fn vm_demo_output_is_stable() {
    if !step01::testing::need_kvm() {
        return;
    }
    let out = demo(&["vm"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 output");
    assert!(text.contains("Hello from the guest!"), "{text}");
    insta::assert_snapshot!("vm", text);
}

#[test]
fn compare_demo_output_is_stable() {
    if !step01::testing::need_kvm() {
        return;
    }
    let out = demo(&["compare"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 output");
    // The first sentence follows this run's pairs; `words` is tested on
    // both sides of 1.0 in the unit tests.
    let (table, words) = text
        .split_once("\nHere ")
        .expect("sentences under the table");
    assert!(words.contains("Our guest is 36 bytes"), "{words}");
    insta::assert_snapshot!("compare", table);
}

#[test]
fn compare_words_for_typical_pairs() {
    // This machine's usual pairs: the bare guest prints in about half the
    // time of fork + exec.
    let typical = step01::noisy::Spread::of(vec![0.4, 0.45, 0.5, 0.55, 0.6]);
    insta::assert_snapshot!("compare_words", step01::compare::words(&typical));
}

#[test]
fn compare_vm_first_output_is_measured() {
    if !step01::testing::need_kvm() {
        return;
    }
    // It fails unless the guest's first serial byte reached the VMM.
    step01::compare::time_to_first_output_vm(device()).expect("time the VM");
}

#[test]
fn vm_without_a_kvm_device_says_how_to_fix_it() {
    let missing = "/nonexistent/tincan-kvm";
    for demo_name in ["vm", "compare"] {
        let err = one_line_error(&demo(&[demo_name, "--kvm-device", missing]));
        assert!(err.contains(missing), "{err}");
        assert!(err.contains("modprobe"), "{err}");
    }
}

#[test]
fn vm_on_a_file_that_is_not_kvm_says_so() {
    // Opening /dev/null read-write works for anyone; its ioctls do not.
    for demo_name in ["vm", "compare"] {
        let err = one_line_error(&demo(&[demo_name, "--kvm-device", "/dev/null"]));
        assert!(err.contains("/dev/null is not a KVM device"), "{err}");
    }
}
