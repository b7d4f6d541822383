//! Many containers: `count` of them one after the other, and `count` of
//! them [`SLOTS`] at a time, for each runtime; the wall time per container
//! as the count grows, and every failure counted.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::fair::{Stats, timed};
use super::runtimes::{Runtime, SLOTS, Work};

/// One point of the scale test.
#[derive(Debug, Clone)]
pub struct ScalePoint {
    pub runtime: String,
    /// How many ran at once: 1 (sequential) or [`SLOTS`].
    pub width: usize,
    pub count: usize,
    /// From the first start to the last exit.
    pub wall: Duration,
    /// Each container's own run, in the order they finished.
    pub runs: Stats,
}

impl ScalePoint {
    /// The wall time divided by the containers asked for: what one more
    /// container costs at this count.
    pub fn per_container(&self) -> Duration {
        self.wall / u32::try_from(self.count.max(1)).unwrap_or(u32::MAX)
    }
}

// ANCHOR: scale
/// For each count: sequential, then `SLOTS` wide, each runtime in turn
/// at that point (so drift over the minutes hits all of them alike).
pub fn scale(runtimes: &[Runtime], work: &Work, counts: &[usize]) -> Vec<ScalePoint> {
    let mut points = Vec::new();
    for &count in counts {
        for width in [1, SLOTS] {
            for rt in runtimes {
                let point = run_many(rt, work, count, width);
                println!(
                    "scale: {:>6} {count:>4} containers, {width:>2} at a time: {:>8.1} ms, {} failed",
                    rt.name,
                    point.wall.as_secs_f64() * 1e3,
                    point.runs.failures()
                );
                points.push(point);
            }
        }
    }
    points
}

/// `count` containers, `width` threads each taking the next one; thread
/// `s` uses bundle slot `s` (its own cgroupsPath). A failed run is cleaned
/// up and counted, and the others go on.
fn run_many(rt: &Runtime, work: &Work, count: usize, width: usize) -> ScalePoint {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(count));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for slot in 0..width.min(count) {
            let (next, results) = (&next, &results);
            let bundle = rt.bundle(work, slot);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let id = format!("tincan-bench-{}-w{width}-n{count}-{i}", rt.name);
                    let result = timed(&mut rt.run(&bundle, &id));
                    if result.is_err() {
                        rt.clean(&id);
                    }
                    results
                        .lock()
                        .expect("no thread panics holding it")
                        .push(result);
                }
            });
        }
    });
    let wall = start.elapsed();
    ScalePoint {
        runtime: rt.name.to_string(),
        width,
        count,
        wall,
        runs: Stats {
            rounds: results.into_inner().expect("threads joined"),
        },
    }
}
// ANCHOR_END: scale

/// The growth of the sequential per-container cost from the smallest to
/// the largest count, for one runtime (1.0 = no growth).
pub fn growth(points: &[ScalePoint], runtime: &str, width: usize) -> Option<f64> {
    let mine: Vec<&ScalePoint> = points
        .iter()
        .filter(|p| p.runtime == runtime && p.width == width && p.runs.failures() == 0)
        .collect();
    let first = mine.iter().min_by_key(|p| p.count)?;
    let last = mine.iter().max_by_key(|p| p.count)?;
    (first.count != last.count)
        .then(|| last.per_container().as_secs_f64() / first.per_container().as_secs_f64())
}
