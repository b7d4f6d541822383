//! The noisy neighbour: two applications on one machine share its CPUs and
//! its memory, and nothing stops one of them from taking them all.
//!
//! This is the "traditional deployment" problem, measured. A latency-sensitive
//! *victim* (a loop doing a fixed small unit of work) runs alone, then beside a
//! *hog* that spins on the CPU, then alone again, then beside a hog that keeps
//! touching a large buffer. Nothing in the kernel stops a plain process from
//! doing that: the CPU scheduler shares a CPU fairly between every runnable
//! task (see sched(7)), and memory is first come, first served (see proc(5)
//! for `MemAvailable`). Step 03 puts limits on both with cgroups.
//!
//! Three kernel interfaces keep the demo honest and tidy:
//! - `sched_setaffinity(2)` pins the victim and the CPU hog to the same CPU,
//!   so the contention is real on a machine with any number of cores;
//! - `prctl(2)` with `PR_SET_PDEATHSIG` makes the kernel kill a hog when we
//!   die, whatever kills us;
//! - `sigaction(2)` catches Ctrl-C ([`crate::signals`]) so that we stop the
//!   hogs ourselves first.
//!
//! The files, in the order the demo uses them: [`demo`] (below) catches
//! Ctrl-C and calls [`measure`] (`measure.rs`), which pins
//! the victim (`pinning.rs`), starts and pauses the hogs (`hogs.rs`; a hog's
//! own side is `hog_process.rs`) and runs the victim loop (`victim.rs`);
//! [`render`] (`render.rs`) turns the numbers into tables and sentences.

mod hog_process;
mod hogs;
mod measure;
mod pinning;
mod render;
mod victim;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

pub use hog_process::{die_with_parent, hog_main};
pub use hogs::{pause, resume};
pub use measure::{WINDOW, hog_size, measure, mem_available};
pub use pinning::{AffinityGuard, allowed_cpus, pin_to};
pub use render::{WORDS_HEADING, render, render_tables, render_words, spread};
pub use victim::{Victim, run_victim};

use crate::signals;

/// The hidden subcommand that runs a hog: `<exe> __hog cpu|mem ...`.
pub const HOG_SUBCOMMAND: &str = "__hog";

/// The default size of the memory hog's buffer: big enough to show in
/// `MemAvailable`, small enough never to endanger a machine (and capped at a
/// quarter of what is available, see [`hog_size`]).
pub const DEFAULT_HOG_MIB: u64 = 512;

/// The longest total run we accept for `--seconds`.
pub const MAX_SECONDS: f64 = 60.0;

/// What a hog eats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hog {
    /// Spins on the CPU it is pinned to and never sleeps.
    Cpu,
    /// Allocates a large buffer, touches every page, then keeps writing to it.
    Mem,
}

impl Hog {
    /// The name used on the hog's command line.
    pub fn name(self) -> &'static str {
        match self {
            Hog::Cpu => "cpu",
            Hog::Mem => "mem",
        }
    }
}

/// What the demo runs: which binary holds the hidden `__hog` subcommand, how
/// long to measure in total, and how big the memory hog is.
#[derive(Debug, Clone)]
pub struct Options {
    /// A step 01 binary; the hogs are started as `<exe> __hog ...`.
    pub exe: PathBuf,
    /// Total measuring time, split into rounds of four short windows.
    pub seconds: f64,
    /// The memory hog's buffer, in MiB, before the safety cap.
    pub hog_mib: u64,
}

impl Options {
    /// The defaults for the binary `exe`: 4 seconds, a 512 MiB memory hog.
    pub fn new(exe: impl Into<PathBuf>) -> Options {
        Options {
            exe: exe.into(),
            seconds: 4.0,
            hog_mib: DEFAULT_HOG_MIB,
        }
    }

    /// Refuse options that would make a useless or harmful run.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.seconds.is_finite() && (1.0..=MAX_SECONDS).contains(&self.seconds),
            "--seconds {} is out of range; give a total between 1 and {MAX_SECONDS} seconds",
            self.seconds
        );
        ensure!(
            self.hog_mib >= 1,
            "--hog-mib 0 would not hog anything; give at least 1"
        );
        Ok(())
    }

    /// The defaults for the running binary, whose `__hog` subcommand the
    /// hogs will run.
    pub fn this_binary() -> Result<Options> {
        let exe = std::env::current_exe().context("find our own executable (/proc/self/exe)")?;
        Ok(Options::new(exe))
    }
}

/// Latencies of one run of the victim loop.
#[derive(Debug, Clone)]
pub struct Stats {
    /// How many units of work the victim finished.
    pub iterations: usize,
    /// Wall-clock time of the whole run.
    pub elapsed: Duration,
    /// Median latency of one unit of work.
    pub median: Duration,
    /// 99th percentile latency: one unit in a hundred took this long or longer.
    pub p99: Duration,
    /// The slowest unit of work.
    pub max: Duration,
}

impl Stats {
    /// Units of work per second.
    pub fn throughput(&self) -> f64 {
        self.iterations as f64 / self.elapsed.as_secs_f64()
    }

    /// How many times slower than `baseline` (throughput ratio): 2.0 means
    /// the victim got half as much work done per second.
    pub fn slowdown_vs(&self, baseline: &Stats) -> f64 {
        baseline.throughput() / self.throughput()
    }

    /// The statistics of `latencies`, measured over `elapsed` in all.
    pub fn from_latencies(mut latencies: Vec<Duration>, elapsed: Duration) -> Result<Stats> {
        ensure!(
            !latencies.is_empty(),
            "the victim finished no unit of work in {elapsed:?}; use a longer --seconds"
        );
        latencies.sort_unstable();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
        Ok(Stats {
            iterations: latencies.len(),
            elapsed,
            median: at(0.5),
            p99: at(0.99),
            max: at(1.0),
        })
    }
}

/// One condition of the demo: the victim with or without a hog beside it,
/// its latencies pooled over every round.
#[derive(Debug, Clone)]
pub struct Phase {
    /// What ran beside the victim, if anything.
    pub hog: Option<Hog>,
    /// The victim's latencies, all rounds together.
    pub stats: Stats,
}

/// Whether an interval of slowdowns lies above, around or below 1.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The whole interval is above 1.0: the victim was measurably slower.
    Slower,
    /// The interval includes 1.0: no effect was measurable on this run.
    NotMeasurable,
    /// The whole interval is below 1.0: the victim was measurably faster.
    Faster,
}

// ANCHOR: spread
/// The slowdowns of one comparison, one per round, summed up by their
/// median and their interquartile range (the middle half of the rounds).
///
/// Each ratio compares two windows measured one right after the other, so
/// a machine whose speed drifts over seconds (a frequency change, another
/// tenant) changes both sides of a ratio alike and cancels out of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The median ratio.
    pub median: f64,
    /// The first quartile: a quarter of the rounds were below it.
    pub q1: f64,
    /// The third quartile: a quarter of the rounds were above it.
    pub q3: f64,
    /// How many rounds (ratios) there were.
    pub rounds: usize,
}

impl Spread {
    /// The median and quartiles of `ratios` (linear interpolation between
    /// the nearest ranks). Panics on an empty list.
    pub fn of(mut ratios: Vec<f64>) -> Spread {
        assert!(!ratios.is_empty(), "a spread of no ratios");
        ratios.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let x = (ratios.len() - 1) as f64 * q;
            let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
            ratios[lo] + (ratios[hi] - ratios[lo]) * (x - lo as f64)
        };
        Spread {
            median: at(0.5),
            q1: at(0.25),
            q3: at(0.75),
            rounds: ratios.len(),
        }
    }

    /// Above, around or below 1.0: what this run can say.
    pub fn verdict(&self) -> Verdict {
        if self.q1 > 1.0 {
            Verdict::Slower
        } else if self.q3 < 1.0 {
            Verdict::Faster
        } else {
            Verdict::NotMeasurable
        }
    }
}
// ANCHOR_END: spread

/// What the memory hog did to the host's memory.
#[derive(Debug, Clone)]
pub struct MemoryEffect {
    /// The size of the hog's buffer.
    pub hog_bytes: u64,
    /// `MemAvailable` (from /proc/meminfo) before the hog started.
    pub available_before: u64,
    /// `MemAvailable` once the hog had touched its whole buffer.
    pub available_with_hog: u64,
    /// The hog's resident memory (`VmRSS` in /proc/<pid>/status).
    pub hog_rss: u64,
}

/// Everything the demo measured.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// The CPU the victim and the CPU hog were pinned to.
    pub cpu: usize,
    /// The CPU the memory hog was pinned to (another one when there is one).
    pub mem_hog_cpu: usize,
    /// How long the victim ran in each window of a round.
    pub window: Duration,
    /// Alone, beside the CPU hog, alone again, beside the memory hog.
    pub phases: Vec<Phase>,
    /// Per round: alone (both windows) vs beside the CPU hog.
    pub cpu_hog: Spread,
    /// Per round: alone vs alone again (no hog in either; about 1x).
    pub again: Spread,
    /// Per round: alone (both windows) vs beside the memory hog.
    pub mem_hog: Spread,
    /// What the memory hog did to the host's available memory.
    pub memory: MemoryEffect,
    /// The pids of every hog we started (all killed and reaped by now).
    pub hog_pids: Vec<i32>,
}

impl Measurement {
    /// The victim alone, every round: the baseline.
    pub fn alone(&self) -> &Stats {
        &self.phases[0].stats
    }
    /// The victim beside the CPU hog.
    pub fn with_cpu_hog(&self) -> &Stats {
        &self.phases[1].stats
    }
    /// The victim alone again, with the CPU hog stopped.
    pub fn alone_again(&self) -> &Stats {
        &self.phases[2].stats
    }
    /// The victim beside the memory hog.
    pub fn with_mem_hog(&self) -> &Stats {
        &self.phases[3].stats
    }
}

/// Fail once Ctrl-C (or SIGTERM) was caught; the victim loop checks every
/// unit of work. The error unwinds through the guards, which stop the hogs.
fn check_interrupted() -> Result<()> {
    if signals::interrupted() {
        bail!("interrupted; every hog was killed and reaped");
    }
    Ok(())
}

/// The `noisy-neighbor` demo: catch Ctrl-C, measure, print.
pub fn demo(out: &mut dyn Write, opts: &Options) -> Result<()> {
    opts.validate()?;
    // Ctrl-C and SIGTERM no longer kill us on the spot: the demo stops its
    // hogs itself first.
    signals::catch(&signals::INTERRUPTS)?;
    writeln!(
        out,
        "A victim loop does a fixed unit of work over and over and times each unit.\n\
         It runs alone, beside a process that spins on its CPU (both pinned to one CPU with\n\
         sched_setaffinity, so they really compete on any machine), alone again, and beside\n\
         a process that fills and keeps writing a large buffer: in short rounds, each in a\n\
         shuffled order, the hogs stopped (SIGSTOP) when it is not their turn. {:.1} s in all.\n",
        opts.seconds
    )?;
    out.flush()?;
    let measurement = measure(opts)?;
    write!(out, "{}", render(&measurement))?;
    Ok(())
}
