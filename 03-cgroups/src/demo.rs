//! The demos of step 03: each puts a misbehaving program into a cgroup and
//! shows, with numbers read back from the kernel, that the limit held.
//!
//! Every demo validates its input first (nothing is created for bad input),
//! creates its cgroups under `tincan/`, starts its workload with
//! [`crate::spawn::spawn`] in new namespaces, and removes everything on the
//! way out: the cgroup guards' `Drop` kills what is left and `rmdir`s.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use step01::report::{self, Table, bytes, measured, ratio};

use crate::cgroup::{self, Cgroup, Stats, check_interrupted};
use crate::limits::{self, Cpus, Limit, Limits};
use crate::spawn::{self, Child, NAMESPACES};

fn show_limit(limit: Option<Limit>, unit: fn(u64) -> String) -> String {
    match limit {
        Some(Limit::Value(n)) => unit(n),
        Some(Limit::Max) => "max".into(),
        None => "n/a".into(),
    }
}

fn opt(value: Option<u64>, unit: fn(u64) -> String) -> String {
    value.map_or("n/a".into(), |n| measured(unit(n)))
}

fn plain(n: u64) -> String {
    n.to_string()
}

/// Describe where the child runs: cgroup, version, placement, namespaces.
fn header(out: &mut dyn Write, cg: &dyn Cgroup, name: &str, notes: &[String]) -> Result<()> {
    let version = match cg.version() {
        "v1" => format!(
            "cgroup v1: one directory in each of {} controller hierarchies",
            cg.dirs().len()
        ),
        _ => "cgroup v2: one directory in the unified hierarchy".to_string(),
    };
    writeln!(out, "cgroup {}/{name} ({version})", cgroup::PARENT)?;
    for note in notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

fn placed(out: &mut dyn Write, placement: spawn::Placement) -> Result<()> {
    writeln!(
        out,
        "the child was {}, in new PID, UTS and IPC namespaces",
        placement.describe()
    )?;
    Ok(())
}

/// Start this program's hidden `workload <args>` in `cg`.
pub fn start(cg: &dyn Cgroup, args: &[&str], capture: bool) -> Result<Child> {
    start_exe(&spawn::own_exe()?, cg, args, capture)
}

/// Start `exe workload <args>` in `cg` (tests pass the demo binary's path).
pub fn start_exe(exe: &str, cg: &dyn Cgroup, args: &[&str], capture: bool) -> Result<Child> {
    let mut full = vec!["workload"];
    full.extend_from_slice(args);
    spawn::spawn(Some(cg), NAMESPACES, exe, &full, capture)
}

// ---- memory ---------------------------------------------------------------

/// What the `memory` demo observed.
#[derive(Debug)]
pub struct MemoryOutcome {
    /// How the allocator ended.
    pub status: WaitStatus,
    /// The last amount (MiB) it reported having allocated.
    pub last_mib: u64,
    /// Statistics read after it ended.
    pub stats: Stats,
    /// How the child was placed into the cgroup.
    pub placement: spawn::Placement,
    /// Limits this kernel could not apply.
    pub notes: Vec<String>,
}

// ANCHOR: memory_demo
/// Run the allocator (`exe workload allocate`) in a cgroup limited to
/// `memory`; it never stops by itself.
pub fn run_memory(
    exe: &str,
    name: &str,
    memory: Limit,
) -> Result<(Box<dyn Cgroup>, MemoryOutcome)> {
    let limits = Limits {
        memory: Some(memory),
        ..Limits::default()
    };
    let (cg, notes) = cgroup::create(name, &limits)?;
    let mut child = start_exe(exe, cg.as_ref(), &["allocate"], true)?;
    let text = child.read_stdout()?; // EOF when the kernel killed it
    let status = child.wait()?;
    let last_mib = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    let stats = cg.stats()?;
    Ok((
        cg,
        MemoryOutcome {
            status,
            last_mib,
            stats,
            placement: child.placement,
            notes,
        },
    ))
}
// ANCHOR_END: memory_demo

/// The `memory` demo.
pub fn memory(out: &mut dyn Write, memory: &str) -> Result<()> {
    let limit = limits::parse_bytes("--memory", memory)?;
    let Limit::Value(limit_bytes) = limit else {
        bail!("--memory max would let the demo eat the host: give a size such as 64m");
    };
    let (cg, outcome) = run_memory(&spawn::own_exe()?, "memory-demo", limit)?;
    header(out, cg.as_ref(), "memory-demo", &outcome.notes)?;
    writeln!(out, "memory limit {}, swap off", bytes(limit_bytes))?;
    placed(out, outcome.placement)?;
    writeln!(
        out,
        "it allocated and touched 1 MiB at a time, without end...\n"
    )?;
    let MemoryOutcome {
        status,
        last_mib,
        stats,
        ..
    } = outcome;
    let ended = match status {
        WaitStatus::Signaled(_, Signal::SIGKILL, _) => {
            "killed by SIGKILL (the OOM killer)".to_string()
        }
        other => format!("{other:?} (expected SIGKILL)"),
    };
    let mut t = Table::new(["what the kernel reports", "value"]);
    t.row(["how the allocator ended".to_string(), ended]);
    t.row([
        "last amount it reported".to_string(),
        measured(format!("{last_mib} MiB")),
    ]);
    t.row(["memory peak".to_string(), opt(stats.memory_peak, bytes)]);
    t.row([
        "memory limit".to_string(),
        show_limit(stats.memory_limit, bytes),
    ]);
    let peak_ok = stats.memory_peak.is_none_or(|p| p <= limit_bytes);
    t.row([
        "peak within the limit".to_string(),
        if peak_ok { "yes" } else { "NO" }.into(),
    ]);
    t.row([
        "OOM events".to_string(),
        stats
            .oom_events
            .map_or("n/a (v1 has no counter)".into(), |n| n.to_string()),
    ]);
    t.row([
        "OOM kills".to_string(),
        stats.oom_kills.map_or("n/a".into(), |n| n.to_string()),
    ]);
    write!(out, "{}", t.render())?;
    writeln!(
        out,
        "\nThe kernel charged every page the allocator touched to its cgroup. At the limit it\n\
         could not reclaim anything (no swap allowed), so the OOM killer chose a victim *inside\n\
         the cgroup*. The host, and this program that watched it, kept running."
    )?;
    Ok(())
}

// ---- pids -----------------------------------------------------------------

/// What the `pids` demo observed.
#[derive(Debug)]
pub struct PidsOutcome {
    /// Forks that succeeded before the kernel refused.
    pub forked: u64,
    /// The error fork returned.
    pub error: String,
    /// Statistics while the bomb's processes were alive.
    pub stats: Stats,
    /// How the bomb was placed into the cgroup.
    pub placement: spawn::Placement,
}

// ANCHOR: pids_demo
/// Run a fork bomb (`exe workload forkbomb`) in a cgroup limited to `max`
/// processes.
pub fn run_pids(exe: &str, name: &str, max: Limit) -> Result<(Box<dyn Cgroup>, PidsOutcome)> {
    let limits = Limits {
        pids: Some(max),
        ..Limits::default()
    };
    let (cg, _notes) = cgroup::create(name, &limits)?;
    let outcome = {
        let mut child = start_exe(exe, cg.as_ref(), &["forkbomb"], true)?;
        let mut line = String::new();
        let stdout = child.stdout.as_mut().context("stdout was captured")?;
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .context("read the fork bomb's report")?;
        let (forked, error) = line.trim().split_once(' ').unwrap_or(("0", "none"));
        let stats = cg.stats()?;
        PidsOutcome {
            forked: forked.parse().unwrap_or(0),
            error: error.to_string(),
            stats,
            placement: child.placement,
        }
    };
    Ok((cg, outcome))
}
// ANCHOR_END: pids_demo

/// The `pids` demo.
pub fn pids(out: &mut dyn Write, pids: &str) -> Result<()> {
    let max = limits::parse_pids(pids)?;
    if max == Limit::Max {
        bail!("--pids max would let the fork bomb take the host: give a number such as 32");
    }
    let (cg, outcome) = run_pids(&spawn::own_exe()?, "pids-demo", max)?;
    header(out, cg.as_ref(), "pids-demo", &[])?;
    writeln!(out, "pids.max = {}", max.to_v2())?;
    placed(out, outcome.placement)?;
    writeln!(out, "a fork bomb forked until the kernel said no...\n")?;
    let mut t = Table::new(["what the kernel reports", "value"]);
    t.row([
        "forks that succeeded".to_string(),
        outcome.forked.to_string(),
    ]);
    t.row([
        "then fork(2) failed with".to_string(),
        outcome.error.clone(),
    ]);
    t.row([
        "processes in the cgroup".to_string(),
        outcome
            .stats
            .pids_current
            .map_or("n/a".into(), |n| n.to_string()),
    ]);
    t.row([
        "pids.max".to_string(),
        show_limit(outcome.stats.pids_limit, plain),
    ]);
    t.row([
        "forks refused (pids.events max)".to_string(),
        outcome
            .stats
            .pids_refused
            .map_or("n/a".into(), |n| n.to_string()),
    ]);
    write!(out, "{}", t.render())?;
    writeln!(
        out,
        "\nThe bomb itself counts as one process, so {} forks filled the cgroup; the next fork\n\
         failed with EAGAIN, the same error as hitting RLIMIT_NPROC. Removing the cgroup kills\n\
         them all; the host's own pid space was never at risk.",
        outcome.forked
    )?;
    Ok(())
}

// ---- cpu ------------------------------------------------------------------

/// Burst latencies of one victim run, in nanoseconds, sorted.
fn victim_run(
    hog_limit: Option<Cpus>,
    with_hog: bool,
    rounds: u32,
) -> Result<(Vec<u64>, Option<Stats>)> {
    let pin = Limits {
        cpuset: Some(pin_cpu()?),
        ..Limits::default()
    };
    let (victim_cg, _) = cgroup::create("cpu-victim", &pin)?;
    let hog = if with_hog {
        let limits = Limits {
            cpus: hog_limit,
            ..pin.clone()
        };
        let (hog_cg, _) = cgroup::create("cpu-hog", &limits)?;
        let child = start(hog_cg.as_ref(), &["hog"], false)?;
        // Let the hog settle on the CPU before measuring.
        std::thread::sleep(Duration::from_millis(100));
        Some((hog_cg, child))
    } else {
        None
    };
    let rounds_text = rounds.to_string();
    let mut victim = start(
        victim_cg.as_ref(),
        &["victim", "--rounds", &rounds_text],
        true,
    )?;
    let text = victim.read_stdout()?;
    victim.wait()?;
    let hog_stats = match &hog {
        Some((cg, _)) => Some(cg.stats()?),
        None => None,
    };
    let mut bursts: Vec<u64> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    if bursts.len() != rounds as usize {
        bail!("the victim reported {} of {rounds} bursts", bursts.len());
    }
    bursts.sort_unstable();
    Ok((bursts, hog_stats))
}

/// The CPU both demo processes are pinned to: the last one we may use.
fn pin_cpu() -> Result<String> {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .context("sched_getaffinity")?;
    let cpu = (0..nix::sched::CpuSet::count())
        .rev()
        .find(|&c| set.is_set(c).unwrap_or(false));
    Ok(cpu.unwrap_or(0).to_string())
}

fn mean(v: &[u64]) -> f64 {
    v.iter().sum::<u64>() as f64 / v.len().max(1) as f64
}

/// The `cpu` demo: the noisy neighbour, then the same neighbour capped.
// ANCHOR: cpu_demo
pub fn cpu(out: &mut dyn Write, cpus: &str) -> Result<()> {
    let cap = limits::parse_cpus(cpus)?;
    let rounds = 40;
    writeln!(
        out,
        "victim: {rounds} short bursts of CPU work, timed one by one; hog: spins forever."
    )?;
    writeln!(
        out,
        "both pinned to CPU {} with the cpuset controller.\n",
        measured(pin_cpu()?)
    )?;
    let (alone, _) = victim_run(None, false, rounds)?;
    check_interrupted()?;
    let (noisy, _) = victim_run(None, true, rounds)?;
    check_interrupted()?;
    let (capped, hog) = victim_run(Some(cap), true, rounds)?;
    let ns = |n: f64| report::duration(Duration::from_nanos(n as u64));
    let p = |v: &[u64], q: f64| v[((v.len() - 1) as f64 * q) as usize] as f64;
    let mut t = Table::new(["run", "mean burst", "p50", "p90", "vs alone"]);
    for (label, v) in [
        ("victim alone", &alone),
        ("victim + hog, no limit", &noisy),
        (&*format!("victim + hog capped at {cpus} CPU"), &capped),
    ] {
        t.row([
            label.to_string(),
            ns(mean(v)),
            ns(p(v, 0.5)),
            ns(p(v, 0.9)),
            ratio(mean(v) / mean(&alone)),
        ]);
    }
    write!(out, "{}", t.render())?;
    if let Some(stats) = hog {
        writeln!(
            out,
            "\nthe capped hog was throttled in {} of {} periods ({} in total)",
            opt(stats.cpu_throttled_periods, plain),
            opt(stats.cpu_periods, plain),
            stats.cpu_throttled.map_or("n/a".into(), report::duration),
        )?;
    }
    writeln!(
        out,
        "\nWithout a limit the scheduler shares the CPU fairly, so each burst of the victim waits\n\
         for the hog's turn: about twice as slow. With cpu.max (v2) / cpu.cfs_quota_us (v1) the\n\
         hog may run only its quota per 100 ms period; the rest of the time it is throttled and\n\
         the victim runs almost as if alone."
    )?;
    Ok(())
}
// ANCHOR_END: cpu_demo

// ---- io -------------------------------------------------------------------

/// The `io` demo: read the disk with and without a bandwidth cap.
pub fn io(out: &mut dyn Write, read_bps: &str, amount: &str) -> Result<()> {
    let Limit::Value(bps) = limits::parse_bytes("--read-bps", read_bps)? else {
        bail!("--read-bps max is no limit at all: give a rate such as 2m (bytes per second)");
    };
    let Limit::Value(amount) = limits::parse_bytes("--bytes", amount)? else {
        bail!("--bytes max: give an amount such as 4m");
    };
    let amount = amount.div_ceil(1 << 20) << 20; // whole MiB, for O_DIRECT
    // Opening a raw disk is often forbidden even to root (in a VM or a
    // container), so read a scratch file: with O_DIRECT its reads still go
    // to the disk, and the throttle limits the disk.
    let scratch = Scratch::create(amount)?;
    let (dev, node) = match crate::io::disk_of(&scratch.0) {
        Ok(found) => found,
        Err(err) => {
            writeln!(
                out,
                "note: no disk to throttle here ({err:#}); the io demo needs a block device."
            )?;
            return Ok(());
        }
    };
    writeln!(
        out,
        "reading a {} file on {} (device {}) with O_DIRECT, twice:\n",
        bytes(amount),
        measured(node.display()),
        measured(&dev)
    )?;
    let file = scratch.0.to_string_lossy().into_owned();
    let mut t = Table::new(["run", "time", "throughput", "bytes the cgroup read"]);
    for (label, limit) in [
        ("no limit", None),
        (format!("read-bps {}/s", bytes(bps)).as_str(), Some(bps)),
    ] {
        let limits = Limits {
            read_bps: limit.map(|b| (dev.clone(), b)),
            ..Limits::default()
        };
        let (cg, notes) = cgroup::create("io-demo", &limits)?;
        for note in &notes {
            writeln!(out, "note: {note}")?;
        }
        let amount_text = amount.to_string();
        let mut child = start(
            cg.as_ref(),
            &["read-disk", &file, "--bytes", &amount_text],
            true,
        )?;
        let text = child.read_stdout()?;
        let status = child.wait()?;
        if status != WaitStatus::Exited(child.pid, 0) {
            bail!("the disk reader failed ({status:?}); see its error above");
        }
        let ns: u64 = text.trim().parse().context("the reader's elapsed time")?;
        let secs = ns as f64 / 1e9;
        let stats = cg.stats()?;
        t.row([
            label.to_string(),
            report::duration(Duration::from_nanos(ns)),
            measured(format!("{}/s", bytes((amount as f64 / secs) as u64))),
            // With a throttle rule, every byte passes the throttle and is
            // counted; without one, v1 kernels may count nothing.
            match (limit, stats.io_read_bytes) {
                (_, None) => "n/a".into(),
                (Some(_), Some(n)) => bytes(n),
                (None, Some(n)) => measured(bytes(n)),
            },
        ]);
    }
    write!(out, "{}", t.render())?;
    writeln!(
        out,
        "\nThe kernel's block throttle delays the cgroup's requests to the device so that it\n\
         never reads faster than its budget. O_DIRECT bypasses the page cache, so every byte\n\
         really goes to the disk and is charged to the cgroup that asked for it."
    )?;
    Ok(())
}

/// A scratch file of `n` bytes in the temporary directory, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn create(n: u64) -> Result<Scratch> {
        let path = std::env::temp_dir().join(format!("tincan-io-{}.bin", std::process::id()));
        let scratch = Scratch(path);
        let file = std::fs::File::create(&scratch.0)
            .with_context(|| format!("create {}", scratch.0.display()))?;
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..n >> 20 {
            std::io::Write::write_all(&mut &file, &chunk)
                .with_context(|| format!("write {}", scratch.0.display()))?;
        }
        // On disk, so O_DIRECT reads really read the disk.
        file.sync_all()
            .with_context(|| format!("fsync {}", scratch.0.display()))?;
        Ok(scratch)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ---- stats ----------------------------------------------------------------

/// One `docker stats`-like row.
fn stats_row(name: &str, now: &Stats, cpu_percent: Option<f64>) -> Vec<String> {
    let mem = format!(
        "{} / {}",
        opt(now.memory_current, bytes),
        show_limit(now.memory_limit, bytes)
    );
    vec![
        name.to_string(),
        cpu_percent.map_or("-".into(), |p| measured(format!("{p:.1}%"))),
        mem,
        opt(now.memory_peak, bytes),
        now.pids_current.map_or("n/a".into(), |n| n.to_string()),
        opt(now.cpu_throttled_periods, plain),
        now.oom_kills.map_or("n/a".into(), |n| n.to_string()),
    ]
}

/// The `stats` demo: two workloads with different limits, watched live.
// ANCHOR: stats_demo
pub fn stats(out: &mut dyn Write, seconds: u64, once: bool) -> Result<()> {
    let seconds = if once { 1 } else { seconds.max(1) };
    let specs = [
        ("stats-a", "0.5", "96m", "48"),
        ("stats-b", "0.2", "64m", "24"),
    ];
    let mut running = Vec::new();
    for (name, cpus, memory, mib) in specs {
        let limits = Limits {
            cpus: Some(limits::parse_cpus(cpus)?),
            memory: Some(limits::parse_bytes("--memory", memory)?),
            pids: Some(Limit::Value(16)),
            ..Limits::default()
        };
        let (cg, _) = cgroup::create(name, &limits)?;
        let child = start(cg.as_ref(), &["busy", "--mib", mib], false)?;
        let first = cg.stats()?;
        running.push((name, cg, child, first, Instant::now()));
    }
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    for tick in 1..=seconds {
        std::thread::sleep(Duration::from_secs(1));
        check_interrupted()?;
        let mut t = Table::new([
            "CGROUP",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM PEAK",
            "PIDS",
            "THROTTLED",
            "OOM KILLS",
        ]);
        for (name, cg, _child, last, at) in running.iter_mut() {
            let now = cg.stats()?;
            let wall = at.elapsed();
            let cpu_percent = match (now.cpu_usage, last.cpu_usage) {
                (Some(a), Some(b)) => {
                    Some(100.0 * (a.saturating_sub(b)).as_secs_f64() / wall.as_secs_f64())
                }
                _ => None,
            };
            t.row(stats_row(
                &format!("{}/{name}", cgroup::PARENT),
                &now,
                cpu_percent,
            ));
            *last = now;
            *at = Instant::now();
        }
        if tty {
            write!(out, "\x1b[2J\x1b[H")?; // clear the screen, like docker stats
        }
        writeln!(out, "after {tick} s:")?;
        write!(out, "{}", t.render())?;
        out.flush()?;
    }
    writeln!(
        out,
        "\nEvery number comes from the cgroup's own files (memory.current or memory.usage_in_bytes,\n\
         cpu.stat, pids.current, ...): this is all `docker stats` does. CPU % is the growth of\n\
         the CPU usage counter over the wall time between two readings."
    )?;
    Ok(())
}
// ANCHOR_END: stats_demo
