//! Time to first output: a plain process next to a KVM guest.
//!
//! A process starts with `fork(2)` + `execve(2)` (see `clone(2)`): the
//! kernel it runs on is already up, so it only has to load a program. A VM
//! starts with `KVM_CREATE_VM` (the kernel's KVM API document): the VMM must
//! build a machine — memory, a vCPU, registers — before the first guest
//! instruction runs, and a real guest would then boot its own kernel.
//! Both timers stop at the first byte of output we receive.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::kvm::{self, Machine, Until};
use crate::noisy::{Spread, Verdict};
use crate::report::{self, Table};

/// How many pairs of runs the demo times by default.
pub const DEFAULT_RUNS: u16 = 11;

// ANCHOR: time_to_first_output
/// Spawn `echo` and time until its line arrives through the pipe.
pub fn time_to_first_output_process() -> Result<Duration> {
    let start = Instant::now();
    let mut child = Command::new("echo")
        .arg("Hello from a process!")
        .stdout(Stdio::piped())
        .spawn()
        .context("spawn echo (fork + execve)")?;
    let stdout = child
        .stdout
        .take()
        .context("take the child's stdout pipe")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("read the child's first line")?;
    let elapsed = start.elapsed();
    let status = child.wait().context("wait for echo")?;
    if !status.success() || line.is_empty() {
        bail!("echo printed {line:?} and exited with {status}");
    }
    Ok(elapsed)
}

/// Build a VM on `device` and time from opening it until the guest's first
/// serial byte reaches the VMM. The VM is torn down after the clock stops.
pub fn time_to_first_output_vm(device: &Path) -> Result<Duration> {
    let start = Instant::now();
    let mut machine = Machine::create(device)?;
    let exits = machine.run(Until::FirstOutput)?;
    let elapsed = start.elapsed();
    if exits.serial.is_empty() {
        bail!("the guest stopped before writing to the serial port");
    }
    Ok(elapsed)
}
// ANCHOR_END: time_to_first_output

/// The median, fastest and slowest of some timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// The middle value (the mean of the two middle ones for an even count).
    pub median: Duration,
    /// The fastest run.
    pub min: Duration,
    /// The slowest run.
    pub max: Duration,
}

impl Summary {
    /// Summarise `runs`; `None` when there are none.
    pub fn of(runs: &[Duration]) -> Option<Summary> {
        let mut sorted = runs.to_vec();
        sorted.sort();
        let n = sorted.len();
        let median = match n {
            0 => return None,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
        };
        Some(Summary {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        })
    }
}

/// The timings of both, and the VM / process ratio of each pair of runs.
#[derive(Debug, Clone)]
pub struct Pairs {
    /// The process's times.
    pub process: Summary,
    /// The VM's times.
    pub vm: Summary,
    /// VM / process, one ratio per pair.
    pub ratio: Spread,
}

// ANCHOR: pairs
/// Time the process and the VM in `runs` pairs, one right after the other,
/// in alternating order: drift of the machine's speed (another tenant, a
/// frequency change) then changes both sides of a pair's ratio alike.
pub fn measure_pairs(runs: usize, device: &Path) -> Result<Pairs> {
    let (mut process, mut vm, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for pair in 0..runs {
        let (p, v) = if pair % 2 == 0 {
            let p = time_to_first_output_process()?;
            (p, time_to_first_output_vm(device)?)
        } else {
            let v = time_to_first_output_vm(device)?;
            (time_to_first_output_process()?, v)
        };
        ratios.push(v.as_secs_f64() / p.as_secs_f64());
        process.push(p);
        vm.push(v);
    }
    Ok(Pairs {
        process: Summary::of(&process).context("at least one run is needed")?,
        vm: Summary::of(&vm).context("at least one run is needed")?,
        ratio: Spread::of(ratios),
    })
}
// ANCHOR_END: pairs

/// The `compare` demo: time to first output, process vs KVM guest.
pub fn demo(out: &mut dyn Write, device: &Path, runs: usize) -> Result<()> {
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    // Fail with the one-line explanation before timing anything.
    drop(kvm::open_device(device)?);
    // One untimed run of each, so that neither pays for loading code from disk.
    time_to_first_output_process()?;
    time_to_first_output_vm(device)?;
    let pairs = measure_pairs(runs, device)?;
    writeln!(
        out,
        "Time to first output, {runs} pairs of runs (process and VM one after the other):\n"
    )?;
    let mut table = Table::new(["what starts", "until", "median", "fastest", "slowest"]);
    for (what, until, s) in [
        (
            "a process: fork + exec `echo`".to_string(),
            "its line arrives",
            pairs.process,
        ),
        (
            format!("a VM: open {}, build, run", device.display()),
            "the first serial byte",
            pairs.vm,
        ),
    ] {
        table.row([
            what,
            until.into(),
            report::duration(s.median),
            report::duration(s.min),
            report::duration(s.max),
        ]);
    }
    write!(out, "{}", table.render())?;
    writeln!(
        out,
        "\nVM / process, per pair: {}\n",
        crate::noisy::spread(&pairs.ratio)
    )?;
    writeln!(out, "{}", words(&pairs.ratio))?;
    Ok(())
}

/// The sentences under the table: the first follows this run's pairs.
pub fn words(ratio: &Spread) -> String {
    let first = match ratio.verdict() {
        Verdict::Slower => format!(
            "Here the bare VM took {} as long as fork + exec to print.",
            report::ratio(ratio.median)
        ),
        Verdict::Faster => format!(
            "Here the bare VM printed first: {} of the time of fork + exec.",
            report::ratio(ratio.median)
        ),
        Verdict::NotMeasurable => {
            "Here neither was measurably faster: the middle half of the pairs includes 1.0x."
                .to_string()
        }
    };
    format!(
        "{first}\n\n\
         Our guest is 36 bytes of code with no operating system, so the VM's time is only\n\
         the VMM's work: create the VM, map its memory, set up a vCPU, enter it. A bare\n\
         machine is cheap to build. What makes a real VM slow to start comes next: it boots\n\
         its own kernel and init before any application prints a line (seconds, not\n\
         milliseconds). A process needs none of that: the kernel it runs on is already up.\n\
         Containers keep that advantage; the next steps show how they still get isolation."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_takes_the_middle_value() {
        let ms = Duration::from_millis;
        let s = Summary::of(&[ms(5), ms(1), ms(3)]).expect("three runs");
        assert_eq!((s.median, s.min, s.max), (ms(3), ms(1), ms(5)));
        let even = Summary::of(&[ms(4), ms(2)]).expect("two runs");
        assert_eq!(even.median, ms(3));
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn the_first_sentence_follows_the_pairs() {
        let slower = words(&Spread::of(vec![1.5, 1.6, 1.8]));
        assert!(
            slower.starts_with("Here the bare VM took 1.60x"),
            "{slower}"
        );
        let faster = words(&Spread::of(vec![0.4, 0.5, 0.6]));
        assert!(
            faster.starts_with("Here the bare VM printed first: 0.50x"),
            "{faster}"
        );
        let unclear = words(&Spread::of(vec![0.8, 1.0, 1.3]));
        assert!(
            unclear.starts_with("Here neither was measurably faster"),
            "{unclear}"
        );
    }
}
