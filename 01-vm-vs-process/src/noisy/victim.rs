//! The victim: a latency-sensitive loop whose speed is the speed of the
//! CPU and the memory hierarchy it gets (sched(7)).

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::check_interrupted;

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
