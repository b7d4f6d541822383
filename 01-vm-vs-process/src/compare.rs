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
use crate::report::{self, Table};

/// How many runs the demo times by default.
pub const DEFAULT_RUNS: u16 = 5;

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

/// Time `f` `runs` times and summarise.
pub fn measure(runs: usize, mut f: impl FnMut() -> Result<Duration>) -> Result<Summary> {
    let times = (0..runs).map(|_| f()).collect::<Result<Vec<_>>>()?;
    Summary::of(&times).context("at least one run is needed")
}

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

    let process = measure(runs, time_to_first_output_process)?;
    let vm = measure(runs, || time_to_first_output_vm(device))?;

    writeln!(out, "Time to first output, {runs} runs each:\n")?;
    let mut table = Table::new(["what starts", "until", "median", "fastest", "slowest"]);
    table.row([
        "a process: fork + exec `echo`".to_string(),
        "its line arrives".into(),
        report::duration(process.median),
        report::duration(process.min),
        report::duration(process.max),
    ]);
    table.row([
        format!("a VM: open {}, build, run", device.display()),
        "the first serial byte".into(),
        report::duration(vm.median),
        report::duration(vm.min),
        report::duration(vm.max),
    ]);
    write!(out, "{}", table.render())?;
    let ratio = vm.median.as_secs_f64() / process.median.as_secs_f64();
    writeln!(
        out,
        "\nVM / process (medians): {}\n\n\
         Our guest is 36 bytes of code with no operating system, so the VM's time is only\n\
         the VMM's work: create the VM, map its memory, set up a vCPU, enter it. A bare\n\
         machine is cheap to build and may even beat fork + exec. What makes a real VM\n\
         slow to start comes next: it boots its own kernel and init before any application\n\
         prints a line (seconds, not milliseconds). A process needs none of that: the\n\
         kernel it runs on is already up. Containers keep that advantage; the next steps\n\
         show how they still get isolation.",
        report::ratio(ratio)
    )?;
    Ok(())
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
    fn process_first_output_takes_real_time() {
        let t = time_to_first_output_process().expect("spawn echo");
        assert!(t > Duration::ZERO);
    }
}
