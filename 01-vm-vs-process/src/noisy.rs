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
//! - `sigaction(2)` catches Ctrl-C so that we stop the hogs ourselves first.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::unistd::Pid;

use crate::report::{self, Table};

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

    fn from_latencies(mut latencies: Vec<Duration>, elapsed: Duration) -> Result<Stats> {
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

// ---------------------------------------------------------------------------
// Ctrl-C

// ANCHOR: ctrl_c
/// Set by the signal handler; the victim loop checks it every unit of work.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: nix::libc::c_int) {
    // Only async-signal-safe work is allowed in a handler: storing to an
    // atomic is. Everything else (killing and reaping the hogs) happens in
    // normal code once the loop sees the flag.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catch SIGINT (Ctrl-C) and SIGTERM, so that the demo stops its hogs before
/// it exits instead of dying on the spot.
pub fn catch_interrupts() -> Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe, and it does not replace a handler that other
        // code relies on (the demo binary installs no other handler).
        unsafe { sigaction(signal, &action) }
            .with_context(|| format!("sigaction({signal}) to catch Ctrl-C"))?;
    }
    Ok(())
}
// ANCHOR_END: ctrl_c

fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted; every hog was killed and reaped");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Pinning

// ANCHOR: pinning
/// Pin the calling thread to one CPU with `sched_setaffinity(2)`.
///
/// Why pin at all: on a machine with two or more idle cores the scheduler
/// would simply run the hog on another core, and the victim would barely
/// notice. A noisy neighbour hurts when there are more runnable tasks than
/// CPUs, as on a fully booked server. Pinning both to one CPU builds that
/// situation on any machine, with one hog instead of one hog per core.
pub fn pin_to(cpu: usize) -> Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu)
        .with_context(|| format!("CPU {cpu} does not fit in a CpuSet"))?;
    // Pid 0 means "the calling thread": affinity is per thread in Linux.
    sched_setaffinity(Pid::from_raw(0), &set)
        .with_context(|| format!("sched_setaffinity(0, {{{cpu}}})"))?;
    Ok(())
}
// ANCHOR_END: pinning

/// The CPUs this thread may run on (`sched_getaffinity(2)`).
pub fn allowed_cpus() -> Result<Vec<usize>> {
    let set = sched_getaffinity(Pid::from_raw(0)).context("sched_getaffinity(0)")?;
    Ok((0..CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .collect())
}

/// Puts the calling thread's CPU affinity back when dropped, so that a
/// library caller (a test thread, say) is not left pinned.
struct AffinityGuard(CpuSet);

impl AffinityGuard {
    fn pin(cpu: usize) -> Result<AffinityGuard> {
        let before = sched_getaffinity(Pid::from_raw(0)).context("sched_getaffinity(0)")?;
        pin_to(cpu)?;
        Ok(AffinityGuard(before))
    }
}

impl Drop for AffinityGuard {
    fn drop(&mut self) {
        // Best effort: there is nothing useful to do if this fails.
        let _ = sched_setaffinity(Pid::from_raw(0), &self.0);
    }
}

// ---------------------------------------------------------------------------
// The victim

/// The victim's working set: larger than a core's private caches, so that
/// each unit of work really goes to the shared cache and memory, the way an
/// application touching its data does.
const WORKING_SET_BYTES: usize = 8 << 20;

/// Steps of the pointer chase in one unit of work (a fixed amount of work,
/// roughly a few hundred microseconds on a current CPU).
const STEPS_PER_UNIT: usize = 4000;

/// The victim's data: a single random cycle through [`WORKING_SET_BYTES`]
/// of indices. Following it is a chain of dependent loads that no CPU can
/// predict or prefetch, so its speed is the speed of the memory hierarchy.
pub struct Victim {
    next: Vec<u32>,
    at: u32,
}

impl Victim {
    /// Build the cycle (Sattolo's shuffle, with a fixed seed so that every
    /// run does exactly the same work).
    pub fn new() -> Victim {
        let n = WORKING_SET_BYTES / std::mem::size_of::<u32>();
        let mut next: Vec<u32> = (0..n as u32).collect();
        let mut seed: u64 = 0x7c0f_fee5_eed5_1234;
        for i in (1..n).rev() {
            // xorshift64: a tiny deterministic generator is all we need.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let j = (seed % i as u64) as usize;
            next.swap(i, j);
        }
        Victim { next, at: 0 }
    }

    /// One unit of work: follow the cycle for [`STEPS_PER_UNIT`] steps.
    pub fn unit(&mut self) {
        let mut at = self.at;
        for _ in 0..STEPS_PER_UNIT {
            at = self.next[at as usize];
        }
        self.at = black_box(at);
    }
}

impl Default for Victim {
    fn default() -> Victim {
        Victim::new()
    }
}

// ANCHOR: victim_loop
/// The latency-sensitive application: do one fixed unit of work after
/// another for `window`, time each one (appended to `latencies`), and
/// return the units done per second.
///
/// A unit is much shorter than the scheduler's time slice, so a hog on the
/// same CPU shows up in two ways: fewer units per second (the CPU is shared)
/// and a long tail (a unit that is preempted waits a whole slice of the hog).
pub fn run_victim(
    victim: &mut Victim,
    window: Duration,
    latencies: &mut Vec<Duration>,
) -> Result<f64> {
    let before = latencies.len();
    let start = Instant::now();
    while start.elapsed() < window {
        check_interrupted()?;
        let t0 = Instant::now();
        victim.unit();
        latencies.push(t0.elapsed());
    }
    Ok((latencies.len() - before) as f64 / start.elapsed().as_secs_f64())
}
// ANCHOR_END: victim_loop

// ---------------------------------------------------------------------------
// The hogs, seen from the parent

// ANCHOR: hog_guard
/// The hogs we started. Dropping this kills and reaps every one of them, on
/// success, on error (`?` unwinds through it) and after Ctrl-C alike.
#[derive(Default)]
struct Hogs {
    children: Vec<Child>,
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for child in &mut self.children {
            // SIGKILL, then wait(2): a child that is killed but not waited
            // for stays a zombie in the process table.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
// ANCHOR_END: hog_guard

impl Hogs {
    /// Start `<exe> __hog <kind> ...` and wait until it reports `ready`.
    fn start(&mut self, exe: &Path, kind: Hog, cpu: usize, mib: u64, limit: f64) -> Result<i32> {
        let parent = std::process::id().to_string();
        let mut child = Command::new(exe)
            .args([HOG_SUBCOMMAND, kind.name()])
            .args(["--cpu", &cpu.to_string(), "--parent", &parent])
            .args(["--mib", &mib.to_string(), "--limit", &format!("{limit:.1}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawn {} hog {}", kind.name(), exe.display()))?;
        let pid = child.id() as i32;
        let stdout = child.stdout.take();
        // Owned by the guard from here on: any error below still kills it.
        self.children.push(child);
        let mut line = String::new();
        if let Some(stdout) = stdout {
            BufReader::new(stdout)
                .read_line(&mut line)
                .with_context(|| format!("read the {} hog's ready line", kind.name()))?;
        }
        check_interrupted()?;
        if line.trim() != "ready" {
            bail!(
                "the {} hog (pid {pid}, {}) exited before it was ready; its own error, if \
                 any, is printed above",
                kind.name(),
                exe.display(),
            );
        }
        Ok(pid)
    }
}

// ANCHOR: pause
/// Stop a hog with SIGSTOP and wait until the kernel reports it stopped
/// (state `T` in /proc/<pid>/stat): a stopped process is not runnable, so
/// it takes no CPU time and touches no memory until SIGCONT.
fn pause(pid: i32) -> Result<()> {
    nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGSTOP)
        .with_context(|| format!("kill({pid}, SIGSTOP)"))?;
    let path = format!("/proc/{pid}/stat");
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let stat = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if state == Some('T') {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "hog {pid} did not stop within 2 s of SIGSTOP (state {state:?} in {path})"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Let a stopped hog run again.
fn resume(pid: i32) -> Result<()> {
    nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGCONT)
        .with_context(|| format!("kill({pid}, SIGCONT)"))
}
// ANCHOR_END: pause

// ---------------------------------------------------------------------------
// The hogs, from the inside

// ANCHOR: pdeathsig
/// Ask the kernel to SIGKILL this process when its parent dies.
///
/// A Drop guard and a Ctrl-C handler cover every way our demo can stop
/// *except* being killed itself (SIGKILL, a crash, the OOM killer): then no
/// code of ours runs, and the hog would spin forever, adopted by init.
/// `PR_SET_PDEATHSIG` moves the job to the kernel: when the parent goes, the
/// kernel sends this signal. Two subtleties: "parent" means the *thread* that
/// forked us, and the parent may already have died before we got here, so
/// we check who our parent is after setting it.
pub fn die_with_parent(parent: i32) -> Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("prctl(PR_SET_PDEATHSIG)")?;
    let ppid = nix::unistd::getppid().as_raw();
    if ppid != parent {
        bail!("parent {parent} is gone (our parent is now {ppid}); not starting");
    }
    Ok(())
}
// ANCHOR_END: pdeathsig

/// The body of `__hog`: set up, print `ready`, then eat until killed (or,
/// as a last resort, until `limit` seconds have passed).
pub fn hog_main(kind: Hog, cpu: usize, parent: i32, mib: u64, limit: f64) -> Result<()> {
    die_with_parent(parent)?;
    pin_to(cpu)?;
    let limit = if limit.is_finite() {
        limit.clamp(1.0, 2.0 * MAX_SECONDS)
    } else {
        MAX_SECONDS
    };
    let deadline = Instant::now() + Duration::from_secs_f64(limit);
    let ready = || -> Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready")?;
        out.flush().context("tell the parent we are ready")
    };
    // ANCHOR: hogs
    match kind {
        Hog::Cpu => {
            ready()?;
            let mut x: u64 = 1;
            while Instant::now() < deadline {
                // Pure arithmetic: no system calls, no sleeping, never yields.
                for _ in 0..100_000 {
                    x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
        }
        Hog::Mem => {
            let bytes = mib
                .checked_mul(1 << 20)
                .and_then(|b| usize::try_from(b).ok())
                .with_context(|| format!("a {mib} MiB buffer does not fit in memory"))?;
            // Writing one byte per page makes the kernel back every page
            // with real memory (until then, an allocation is only a promise).
            let mut buffer = vec![0u8; bytes];
            for page in buffer.chunks_mut(4096) {
                page[0] = 1;
            }
            ready()?;
            while Instant::now() < deadline {
                // Keep writing every cache line: the pages stay resident and
                // the shared cache and memory bus stay busy.
                for line in buffer.chunks_mut(64) {
                    line[0] = line[0].wrapping_add(1);
                }
                black_box(&buffer);
            }
        }
    }
    // ANCHOR_END: hogs
    Ok(())
}

// ---------------------------------------------------------------------------
// The measurement

/// `MemAvailable` from /proc/meminfo, in bytes.
pub fn mem_available() -> Result<u64> {
    meminfo_field("/proc/meminfo", "MemAvailable:")
}

/// A `<label> <n> kB` field of a /proc file, in bytes.
fn meminfo_field(path: &str, label: &str) -> Result<u64> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {path}"))?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no {label} line in {path}"))?;
    Ok(kib * 1024)
}

/// The memory hog's size: what was asked, but at most a quarter of the
/// memory available right now, so the demo can never push a machine into
/// swapping or the OOM killer.
pub fn hog_size(asked_mib: u64, available: u64) -> u64 {
    asked_mib.saturating_mul(1 << 20).min(available / 4) >> 20
}

/// How long the victim runs in one window of a round: a few scheduler time
/// slices, so that a hog gets its fair share within each window.
pub const WINDOW: Duration = Duration::from_millis(25);

/// Shuffle four conditions (Fisher-Yates with xorshift64: a fixed seed, so
/// every run measures in the same orders).
fn shuffle(order: &mut [usize; 4], seed: &mut u64) {
    for i in (1..order.len()).rev() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        order.swap(i, (*seed % (i as u64 + 1)) as usize);
    }
}

/// Run the rounds and return what was measured. Every hog is killed and
/// reaped before this returns, whether it succeeds or not.
pub fn measure(opts: &Options) -> Result<Measurement> {
    opts.validate()?;
    let rounds = ((opts.seconds / (4.0 * WINDOW.as_secs_f64())) as usize).max(4);
    // A hog gives up by itself after this long, should everything else fail.
    let limit = opts.seconds * 2.0 + 10.0;
    let cpus = allowed_cpus()?;
    let cpu = *cpus.first().context("sched_getaffinity returned no CPU")?;
    // The memory hog goes on *another* CPU when there is one, so that it
    // takes no CPU time from the victim: what is left is memory contention.
    let mem_hog_cpu = cpus.get(1).copied().unwrap_or(cpu);
    let mut victim = Victim::new();
    let _pinned = AffinityGuard::pin(cpu)?;
    let mut hogs = Hogs::default();

    let cpu_pid = hogs.start(&opts.exe, Hog::Cpu, cpu, 0, limit)?;
    pause(cpu_pid)?;
    let available_before = mem_available()?;
    let mib = hog_size(opts.hog_mib, available_before);
    ensure!(
        mib >= 1,
        "only {} of memory is available; not enough to run a memory hog safely",
        report::bytes(available_before)
    );
    let mem_pid = hogs.start(&opts.exe, Hog::Mem, mem_hog_cpu, mib, limit)?;
    let available_with_hog = mem_available()?;
    let hog_rss = meminfo_field(&format!("/proc/{mem_pid}/status"), "VmRSS:")?;
    pause(mem_pid)?;

    // Warm up: fault the victim's pages in and fill the caches.
    run_victim(&mut victim, Duration::from_millis(50), &mut Vec::new())?;

    // ANCHOR: rounds
    // Four windows a round, one right after the other: alone, beside the CPU
    // hog, alone again, beside the memory hog, in an order shuffled anew
    // every round (what ran just before a window, a hog that flushed the
    // caches say, must not favour one condition). Each ratio compares windows
    // of the same round, so the machine's own drift cancels out of it.
    let mut latencies: [Vec<Duration>; 4] = Default::default();
    let (mut cpu_ratios, mut again_ratios, mut mem_ratios) = (vec![], vec![], vec![]);
    let mut order = [0, 1, 2, 3];
    let mut seed: u64 = 0x5eed_f00d_7e57_ab1e;
    for _ in 0..rounds {
        shuffle(&mut order, &mut seed);
        let mut units_per_s = [0.0; 4];
        for &condition in &order {
            let hog = [None, Some(cpu_pid), None, Some(mem_pid)][condition];
            if let Some(pid) = hog {
                resume(pid)?;
            }
            units_per_s[condition] = run_victim(&mut victim, WINDOW, &mut latencies[condition])?;
            if let Some(pid) = hog {
                pause(pid)?;
            }
        }
        let [alone, with_cpu_hog, alone_again, with_mem_hog] = units_per_s;
        // A slowdown is a throughput ratio: 2.0 means half the work done.
        // The baseline of a hog's ratio is both "alone" windows of its round.
        let baseline = (alone + alone_again) / 2.0;
        cpu_ratios.push(baseline / with_cpu_hog);
        again_ratios.push(alone / alone_again);
        mem_ratios.push(baseline / with_mem_hog);
    }
    // ANCHOR_END: rounds
    drop(hogs); // killed and reaped here
    let elapsed = WINDOW * rounds as u32;
    let kinds = [None, Some(Hog::Cpu), None, Some(Hog::Mem)];
    let phases = kinds
        .into_iter()
        .zip(latencies)
        .map(|(hog, l)| {
            Ok(Phase {
                hog,
                stats: Stats::from_latencies(l, elapsed)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Measurement {
        cpu,
        mem_hog_cpu,
        window: WINDOW,
        phases,
        cpu_hog: Spread::of(cpu_ratios),
        again: Spread::of(again_ratios),
        mem_hog: Spread::of(mem_ratios),
        memory: MemoryEffect {
            hog_bytes: mib << 20,
            available_before,
            available_with_hog,
            hog_rss,
        },
        hog_pids: vec![cpu_pid, mem_pid],
    })
}

// ---------------------------------------------------------------------------
// The report

/// The heading of the sentences under the tables.
pub const WORDS_HEADING: &str = "What the numbers say";

/// A median and the middle half of the rounds: `2.01x (1.85x to 2.20x)`.
fn spread(s: &Spread) -> String {
    format!(
        "{} ({} to {})",
        report::ratio(s.median),
        report::ratio(s.q1),
        report::ratio(s.q3)
    )
}

/// The tables and the sentences that read them.
pub fn render(m: &Measurement) -> String {
    render_tables(m) + "\n" + &render_words(m)
}

/// The victim's table (pooled latencies, median slowdown and the middle half
/// of the rounds) and the host memory table.
pub fn render_tables(m: &Measurement) -> String {
    let mut table = Table::new([
        "victim on CPU ".to_string() + &m.cpu.to_string(),
        "median".into(),
        "p99".into(),
        "max".into(),
        "units/s".into(),
        "slowdown".into(),
        "middle half of rounds".into(),
    ]);
    let spreads = [None, Some(&m.cpu_hog), Some(&m.again), Some(&m.mem_hog)];
    for ((i, phase), spread) in m.phases.iter().enumerate().zip(spreads) {
        let label = match (phase.hog, i) {
            (None, 0) => "alone".to_string(),
            (None, _) => "alone again".to_string(),
            (Some(Hog::Cpu), _) => format!("beside a CPU hog (CPU {})", m.cpu),
            (Some(Hog::Mem), _) => format!(
                "beside a {} memory hog (CPU {})",
                report::bytes(m.memory.hog_bytes),
                m.mem_hog_cpu
            ),
        };
        let s = &phase.stats;
        let (slowdown, middle) = match spread {
            None => ("baseline".to_string(), String::new()),
            Some(x) => (
                report::ratio(x.median),
                format!("{} to {}", report::ratio(x.q1), report::ratio(x.q3)),
            ),
        };
        table.row([
            label,
            report::duration(s.median),
            report::duration(s.p99),
            report::duration(s.max),
            report::measured(format!("{:.0}", s.throughput())),
            slowdown,
            middle,
        ]);
    }
    let mem = &m.memory;
    let mut memory = Table::new(["host memory", ""]);
    memory.row([
        "MemAvailable before the hog".to_string(),
        report::measured(report::bytes(mem.available_before)),
    ]);
    memory.row([
        "MemAvailable with the hog".to_string(),
        report::measured(report::bytes(mem.available_with_hog)),
    ]);
    memory.row([
        "the hog's resident memory (VmRSS)".to_string(),
        report::measured(report::bytes(mem.hog_rss)),
    ]);
    table.render() + "\n" + &memory.render()
}

// ANCHOR: words
/// The sentences under the tables. Each one is chosen by the verdict of its
/// interval, so that no sentence claims an effect its table does not show.
pub fn render_words(m: &Measurement) -> String {
    let rounds = m.cpu_hog.rounds;
    let mut out = format!(
        "{WORDS_HEADING} ({rounds} rounds of four {window} ms windows, each ratio taken within a round):\n",
        window = m.window.as_millis(),
    );
    out += &match m.cpu_hog.verdict() {
        Verdict::Slower => format!(
            "The victim and the CPU hog were both runnable on CPU {cpu}, and the scheduler\n\
             shares a CPU fairly between runnable tasks. Beside the hog the victim was\n\
             {spread} slower, and a unit that lost the CPU waited out a time\n\
             slice of the hog (see p99 and max). Nothing stops a neighbour from taking the\n\
             CPU: the resource allocation problem of the traditional era.\n",
            cpu = m.cpu,
            spread = spread(&m.cpu_hog),
        ),
        Verdict::NotMeasurable | Verdict::Faster => format!(
            "Note: beside the CPU hog the victim's slowdown was not measurable on this run:\n\
             {spread}, and the middle half of the rounds includes or lies below\n\
             1.00x. Is CPU {cpu} already busy with something else, or does this machine not\n\
             let us pin processes?\n",
            cpu = m.cpu,
            spread = spread(&m.cpu_hog),
        ),
    };
    out += &match m.again.verdict() {
        Verdict::NotMeasurable => format!(
            "With the hog stopped it was back to normal: alone vs alone again was\n\
             {}, a range that includes 1.00x.\n",
            spread(&m.again)
        ),
        Verdict::Slower | Verdict::Faster => format!(
            "Alone vs alone again was {}, a range that does not include\n\
             1.00x although no hog of ours ran in either window: that is this machine's own\n\
             noise (another program, a change of CPU frequency), and every ratio of this run\n\
             is about that uncertain.\n",
            spread(&m.again)
        ),
    };
    out += &format!(
        "\nThe memory hog took {taken} of MemAvailable away from everyone else, and nothing\n\
         stopped it either. ",
        taken = report::measured(report::bytes(
            m.memory
                .available_before
                .saturating_sub(m.memory.available_with_hog)
        )),
    );
    out += &match m.mem_hog.verdict() {
        Verdict::Slower => format!(
            "Beside it (the hog ran on CPU {cpu}) the victim was\n\
             {spread} slower: a memory hog costs its neighbours time through\n\
             the caches and the memory bus they share, and",
            cpu = m.mem_hog_cpu,
            spread = spread(&m.mem_hog),
        ),
        Verdict::NotMeasurable | Verdict::Faster => format!(
            "Beside it (the hog ran on CPU {cpu}) the victim's\n\
             slowdown was not measurable on this run: {spread}, a range\n\
             that includes or lies below 1.00x. Either this machine's shared cache and memory\n\
             bus had room for both, or its noise hid a small cost. A memory hog costs\n\
             its neighbours",
            cpu = m.mem_hog_cpu,
            spread = spread(&m.mem_hog),
        ),
    };
    out += " far more once memory runs short\n\
            (reclaim, swap, the OOM killer), which this demo takes care never to cause.\n";
    out
}
// ANCHOR_END: words

/// The `noisy-neighbor` demo: catch Ctrl-C, measure, print.
pub fn demo(out: &mut dyn Write, opts: &Options) -> Result<()> {
    opts.validate()?;
    catch_interrupts()?;
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
