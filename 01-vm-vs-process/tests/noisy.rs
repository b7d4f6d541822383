//! The `noisy-neighbor` demo: a CPU hog pinned beside the victim really
//! slows it down, and no hog outlives the demo, however the demo ends.
//!
//! The tests in this file measure CPU contention, so they must not run at the
//! same time as each other: each one takes the [`serial`] lock first.

use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use step01::noisy::{
    Hog, Measurement, MemoryEffect, Options, Phase, Spread, Stats, Verdict, WINDOW, WORDS_HEADING,
    measure, render_words,
};

const EXE: &str = env!("CARGO_BIN_EXE_step01-vm-vs-process");

static SERIAL: Mutex<()> = Mutex::new(());

/// One test at a time: a hog from one test would slow the victim of another.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One library run, shared by the tests that read its numbers.
///
/// No retry and no timing threshold: every ratio is taken within a round of
/// windows measured one right after the other, and the tests below check
/// only what the scheduler guarantees whatever else runs on this machine.
fn measurement() -> &'static Measurement {
    static RUN: OnceLock<Measurement> = OnceLock::new();
    RUN.get_or_init(|| {
        let _one_at_a_time = serial();
        let opts = Options {
            seconds: 2.0,
            hog_mib: 64,
            ..Options::new(EXE)
        };
        measure(&opts).expect("run the noisy-neighbor measurement")
    })
}

/// A measurement with made-up figures, for the words under the tables.
fn made_up(
    cpu_hog: (f64, f64, f64),
    again: (f64, f64, f64),
    mem_hog: (f64, f64, f64),
) -> Measurement {
    let stats = Stats {
        iterations: 1000,
        elapsed: Duration::from_secs(1),
        median: Duration::from_micros(300),
        p99: Duration::from_micros(500),
        max: Duration::from_millis(4),
    };
    let spread = |(q1, median, q3): (f64, f64, f64)| Spread {
        median,
        q1,
        q3,
        rounds: 40,
    };
    Measurement {
        cpu: 0,
        mem_hog_cpu: 1,
        window: WINDOW,
        phases: [None, Some(Hog::Cpu), None, Some(Hog::Mem)]
            .into_iter()
            .map(|hog| Phase {
                hog,
                stats: stats.clone(),
            })
            .collect(),
        cpu_hog: spread(cpu_hog),
        again: spread(again),
        mem_hog: spread(mem_hog),
        memory: MemoryEffect {
            hog_bytes: 512 << 20,
            available_before: 8 << 30,
            available_with_hog: (8 << 30) - (512 << 20),
            hog_rss: 512 << 20,
        },
        hog_pids: vec![],
    }
}

/// The arguments of a live (not zombie) process, or `None`.
fn live_args(pid: i32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state is the first field after the parenthesised command name.
    let state = stat.rsplit_once(") ")?.1.chars().next()?;
    if state == 'Z' || state == 'X' {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(String::from_utf8_lossy(&cmdline).replace('\0', " "))
}

/// Pids of live hogs started by the demo process `parent` (a hog carries
/// `--parent <pid>` on its command line, so we find it even after it has
/// been reparented to init).
fn hogs_of(parent: u32) -> Vec<i32> {
    let marker = format!("--parent {parent} ");
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            live_args(pid).is_some_and(|args| args.contains("__hog") && args.contains(&marker))
        })
        .collect()
}

/// Start the demo binary (bounded: 4 seconds in all).
fn start_demo() -> Child {
    Command::new(EXE)
        .args(["noisy-neighbor", "--seconds", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the demo")
}

/// Wait until the running demo has started its first hog.
fn wait_for_a_hog(demo: &mut Child) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hogs = hogs_of(demo.id());
        if !hogs.is_empty() {
            return hogs;
        }
        if Instant::now() > deadline {
            let _ = demo.kill();
            let _ = demo.wait();
            panic!("the demo started no hog");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn noisy_cpu_hog_slows_the_victim() {
    // Two runnable tasks pinned to one CPU share it: whatever else runs
    // there, the victim gets less of it while the hog runs, in every round.
    let m = measurement();
    let s = m.cpu_hog;
    assert!(
        s.median > 1.0 && s.verdict() == Verdict::Slower,
        "a CPU hog pinned to the victim's CPU should slow it down, the middle half of the \
         rounds above 1.0x; got {s:?}: {m:#?}"
    );
}

#[test]
fn noisy_spreads_are_quartiles() {
    let s = Spread::of(vec![4.0, 1.0, 3.0, 2.0, 5.0]);
    assert_eq!((s.q1, s.median, s.q3, s.rounds), (2.0, 3.0, 4.0, 5));
    let s = Spread::of(vec![1.0, 2.0]);
    assert_eq!((s.q1, s.median, s.q3), (1.25, 1.5, 1.75));
    assert_eq!(
        Spread::of(vec![0.9, 1.1, 1.2]).verdict(),
        Verdict::NotMeasurable
    );
    assert_eq!(Spread::of(vec![1.1, 1.2, 1.3]).verdict(), Verdict::Slower);
    assert_eq!(Spread::of(vec![0.7, 0.8, 0.9]).verdict(), Verdict::Faster);
}

#[test]
fn noisy_words_follow_the_numbers() {
    // Every interval clear of 1.0 on the side it is on...
    let clear = render_words(&made_up(
        (1.9, 2.0, 2.1),
        (0.95, 1.0, 1.05),
        (1.1, 1.2, 1.3),
    ));
    assert!(
        clear.contains("the victim was\n2.00x (1.90x to 2.10x) slower"),
        "{clear}"
    );
    assert!(clear.contains("back to normal"), "{clear}");
    assert!(
        clear.contains("1.20x (1.10x to 1.30x) slower: a memory hog"),
        "{clear}"
    );
    assert!(!clear.contains("not measurable"), "{clear}");
    // ...and every interval across 1.0, or below it.
    for (cpu, again, mem) in [
        ((0.9, 1.05, 1.2), (1.05, 1.1, 1.2), (0.95, 1.02, 1.1)),
        ((0.7, 0.8, 0.9), (0.8, 0.9, 0.95), (0.7, 0.8, 0.9)),
    ] {
        let noisy = render_words(&made_up(cpu, again, mem));
        assert!(
            noisy.contains("beside the CPU hog the victim's slowdown was not measurable"),
            "{noisy}"
        );
        assert!(noisy.contains("does not include\n1.00x"), "{noisy}");
        assert!(!noisy.contains("back to normal"), "{noisy}");
        assert!(
            noisy.contains("victim's\nslowdown was not measurable on this run"),
            "{noisy}"
        );
        assert!(!noisy.contains("slower"), "no claim of a slowdown: {noisy}");
    }
    // The words of a typical run on a 2-core machine, for the book, with the
    // made-up figures redacted like the measured ones.
    // (None of them is 1.00x, which the words name as the line to cross.)
    let typical = made_up((1.9, 2.0, 2.1), (0.9, 1.01, 1.1), (0.95, 1.02, 1.1));
    insta::with_settings!({ filters => vec![
        (r"\b(?:[02-9]\.\d\d|1\.(?:0[1-9]|[1-9]\d))x", "[RATIO]"),
        (r"\d+\.\d\d ms", "[DURATION]"),
        (r"\d+\.\d MiB", "[N]"),
    ] }, {
        insta::assert_snapshot!("noisy-neighbor-words", render_words(&typical));
    });
}

#[test]
fn noisy_memory_hog_really_holds_its_memory() {
    let m = measurement();
    let mem = &m.memory;
    assert_eq!(mem.hog_bytes, 64 << 20);
    assert!(
        mem.hog_rss >= mem.hog_bytes,
        "the kernel should report the hog's whole buffer as resident: {mem:#?}"
    );
}

#[test]
fn noisy_leaves_no_hog_behind() {
    let m = measurement();
    assert_eq!(m.hog_pids.len(), 2, "one CPU hog and one memory hog");
    for &pid in &m.hog_pids {
        let args = live_args(pid);
        assert!(
            args.as_ref().is_none_or(|a| !a.contains("__hog")),
            "hog {pid} is still running: {args:?}"
        );
    }
    assert_eq!(hogs_of(std::process::id()), Vec::<i32>::new());
}

#[test]
fn noisy_demo_output_is_stable() {
    let _one_at_a_time = serial();
    // The snapshot shows a machine like CI's: the memory hog on a second
    // CPU, at its full default size (a quarter of MemAvailable at most).
    let cpus = step01::noisy::allowed_cpus()
        .expect("sched_getaffinity")
        .len();
    let available = step01::noisy::mem_available().expect("read /proc/meminfo");
    if cpus < 2 || available / 4 < step01::noisy::DEFAULT_HOG_MIB << 20 {
        return step01::testing::skip(&format!(
            "the snapshot needs 2 CPUs and 2 GiB available; this machine has {cpus} and {} MiB",
            available >> 20
        ));
    }
    let out = Command::new(EXE)
        .arg("noisy-neighbor")
        .env("TINCAN_REDACT", "1")
        .output()
        .expect("run the demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 output");
    assert!(text.contains("beside a CPU hog"), "{text}");
    // The tables, figures redacted. The words under them depend on this
    // run's intervals (noisy_words_follow_the_numbers checks them).
    let (tables, words) = text
        .split_once(&format!("\n{WORDS_HEADING}"))
        .unwrap_or_else(|| panic!("no {WORDS_HEADING:?} in {text}"));
    assert!(words.contains("The memory hog took [N]"), "{words}");
    insta::assert_snapshot!("noisy-neighbor", tables.to_string() + "\n");
}

#[test]
fn noisy_ctrl_c_stops_every_hog() {
    let _one_at_a_time = serial();
    let mut child = start_demo();
    let hogs = wait_for_a_hog(&mut child);
    let demo = child.id();
    kill(Pid::from_raw(demo as i32), Signal::SIGINT).expect("send SIGINT to the demo");
    let out = child.wait_with_output().expect("wait for the demo");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: interrupted"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    // No waiting: the demo killed and reaped its hogs before it exited.
    assert_eq!(hogs_of(demo), Vec::<i32>::new(), "hogs were {hogs:?}");
}

#[test]
fn noisy_hogs_die_with_a_killed_demo() {
    let _one_at_a_time = serial();
    let mut child = start_demo();
    let hogs = wait_for_a_hog(&mut child);
    let demo = child.id();
    // SIGKILL: no handler, no Drop guard runs. Only PR_SET_PDEATHSIG, set
    // by each hog, makes the kernel kill them.
    child.kill().expect("SIGKILL the demo");
    child.wait().expect("reap the demo");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !hogs_of(demo).is_empty() {
        assert!(
            Instant::now() < deadline,
            "hogs {hogs:?} outlived their parent"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn noisy_rejects_a_bad_duration_with_one_line() {
    let out = Command::new(EXE)
        .args(["noisy-neighbor", "--seconds", "0"])
        .output()
        .expect("run the demo");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing printed before the error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--seconds 0 is out of range"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
