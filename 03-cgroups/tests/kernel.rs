//! Real-kernel tests of the cgroup library. They run against whichever
//! cgroup version the machine has: v1 on a hybrid host, v2 inside the VM
//! that `cargo xtask vm-test` boots. Every assertion reads an outcome back
//! from the kernel.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use step03::cgroup::{self, Cgroup, Controller};
use step03::demo::{run_memory, run_pids, start_exe};
use step03::limits::{Cpus, Limit, Limits};
use step03::spawn::Placement;
use step03::version::{Hierarchy, Version};

#[path = "support/loopdev.rs"]
mod loopdev;

const EXE: &str = env!("CARGO_BIN_EXE_step03-cgroups");

fn version() -> Version {
    Hierarchy::detect()
        .expect("detect the cgroup version")
        .version()
}

/// Print which version these tests exercise: the VM's log shows it.
fn announce(test: &str) {
    eprintln!("{test}: cgroup {}", version());
}

#[test]
fn memory_limit_oom_kills_allocator() {
    if !step01::testing::need_root() {
        return;
    }
    announce("memory_limit_oom_kills_allocator");
    let limit = 32 << 20;
    let (cg, outcome) = run_memory(EXE, "test-memory", Limit::Value(limit)).expect("run");
    assert!(
        matches!(outcome.status, WaitStatus::Signaled(_, Signal::SIGKILL, _)),
        "the allocator must be SIGKILLed, got {:?}",
        outcome.status
    );
    assert!(
        outcome.last_mib >= 8,
        "it allocated only {} MiB before dying",
        outcome.last_mib
    );
    assert!(
        outcome.last_mib * (1 << 20) <= limit,
        "it got {} MiB",
        outcome.last_mib
    );
    assert!(
        outcome.stats.oom_kills.expect("an oom_kill counter") >= 1,
        "{:?}",
        outcome.stats
    );
    if cg.version() == Version::V2 {
        assert!(outcome.stats.oom_events.expect("memory.events oom") >= 1);
    }
    if let Some(peak) = outcome.stats.memory_peak {
        assert!(peak <= limit, "peak {peak} above the limit {limit}");
    }
    assert_eq!(outcome.stats.memory_limit, Some(Limit::Value(limit)));
}

#[test]
fn pids_limit_stops_fork_bomb() {
    if !step01::testing::need_root() {
        return;
    }
    announce("pids_limit_stops_fork_bomb");
    let (_cg, outcome) = run_pids(EXE, "test-pids", Limit::Value(16)).expect("run");
    assert_eq!(
        outcome.forked, 15,
        "the bomb plus 15 children fill pids.max = 16"
    );
    assert!(
        outcome.error.contains("EAGAIN"),
        "fork failed with {}",
        outcome.error
    );
    assert_eq!(outcome.stats.pids_current, Some(16));
    assert_eq!(outcome.stats.pids_limit, Some(Limit::Value(16)));
    assert!(outcome.stats.pids_refused.expect("pids.events max") >= 1);
}

#[test]
fn cpu_max_throttles_hog() {
    if !step01::testing::need_root() {
        return;
    }
    announce("cpu_max_throttles_hog");
    let limits = Limits {
        cpus: Some(Cpus::Fraction(0.1)),
        ..Limits::default()
    };
    let (cg, _) = cgroup::create("test-cpu", &limits).expect("create");
    let _hog = start_exe(EXE, cg.as_ref(), &["hog"], false).expect("start the hog");
    // A few 100 ms periods; the hog wants all of each and gets 10 ms.
    let mut stats = cg.stats().expect("stats");
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        stats = cg.stats().expect("stats");
        if stats.cpu_throttled_periods.unwrap_or(0) >= 3 {
            break;
        }
    }
    assert!(
        stats.cpu_throttled_periods.expect("nr_throttled") >= 3,
        "{stats:?}"
    );
    assert!(
        stats.cpu_throttled.expect("throttled time") > Duration::ZERO,
        "{stats:?}"
    );
    assert!(
        stats.cpu_usage.expect("usage") > Duration::ZERO,
        "{stats:?}"
    );
}

#[test]
fn child_is_in_its_cgroup_and_namespaces_before_it_runs() {
    if !step01::testing::need_root() {
        return;
    }
    announce("child_is_in_its_cgroup_and_namespaces_before_it_runs");
    let (cg, _) = cgroup::create("test-where", &Limits::default()).expect("create");
    let mut child = start_exe(EXE, cg.as_ref(), &["whereami"], true).expect("start");
    let text = child.read_stdout().expect("read");
    child.wait().expect("wait");
    // Step 02's namespaces: pid 1 of a new PID namespace, its own hostname.
    assert!(text.lines().any(|l| l == "pid 1"), "{text}");
    assert!(text.lines().any(|l| l == "hostname tincan"), "{text}");
    let wanted = format!("/{}/test-where", cgroup::PARENT);
    match cg.version() {
        Version::V2 => {
            assert_eq!(child.placement, Placement::CloneIntoCgroup);
            assert!(text.lines().any(|l| l == format!("0::{wanted}")), "{text}");
        }
        Version::V1 => {
            for controller in ["memory", "pids", "cpu"] {
                let in_it = text.lines().any(|l| {
                    let mut parts = l.splitn(3, ':');
                    let (_, names, path) = (parts.next(), parts.next(), parts.next());
                    names.is_some_and(|n| n.split(',').any(|c| c == controller))
                        && path == Some(wanted.as_str())
                });
                assert!(in_it, "{controller} not {wanted}:\n{text}");
            }
        }
    }
}

#[test]
fn remove_kills_everything_and_leaves_nothing() {
    if !step01::testing::need_root() {
        return;
    }
    announce("remove_kills_everything_and_leaves_nothing");
    // Never an unbounded fork bomb: pids.max keeps it to 24 processes.
    let limits = Limits {
        pids: Some(Limit::Value(24)),
        ..Limits::default()
    };
    let (mut cg, _) = cgroup::create("test-remove", &limits).expect("create");
    let mut child = start_exe(EXE, cg.as_ref(), &["forkbomb"], true).expect("start");
    let mut first = [0u8; 1];
    std::io::Read::read_exact(child.stdout.as_mut().expect("stdout"), &mut first).ok();
    assert_eq!(cg.procs().expect("procs").len(), 24);
    let dirs = cg.dirs();
    cg.remove().expect("remove");
    let status = child.wait().expect("wait");
    assert!(
        matches!(status, WaitStatus::Signaled(_, Signal::SIGKILL, _)),
        "{status:?}"
    );
    for dir in dirs {
        assert!(!dir.exists(), "{} is still there", dir.display());
    }
}

#[test]
fn stats_report_what_the_workload_uses() {
    if !step01::testing::need_root() {
        return;
    }
    announce("stats_report_what_the_workload_uses");
    let limits = Limits {
        memory: Some(Limit::Value(64 << 20)),
        pids: Some(Limit::Value(8)),
        ..Limits::default()
    };
    let (cg, _) = cgroup::create("test-stats", &limits).expect("create");
    let _busy = start_exe(EXE, cg.as_ref(), &["busy", "--mib", "8"], false).expect("start");
    let mut stats = cg.stats().expect("stats");
    for _ in 0..200 {
        std::thread::sleep(Duration::from_millis(50));
        stats = cg.stats().expect("stats");
        if stats.memory_current.unwrap_or(0) >= 8 << 20 {
            break;
        }
    }
    assert!(
        stats.memory_current.expect("memory current") >= 8 << 20,
        "{stats:?}"
    );
    assert_eq!(stats.memory_limit, Some(Limit::Value(64 << 20)));
    assert_eq!(stats.pids_current, Some(1));
    assert_eq!(stats.pids_limit, Some(Limit::Value(8)));
    assert!(stats.cpu_usage.expect("cpu usage") > Duration::ZERO);
    assert_eq!(stats.oom_kills, Some(0));
}

#[test]
fn leftover_empty_cgroup_is_replaced() {
    if !step01::testing::need_root() {
        return;
    }
    announce("leftover_empty_cgroup_is_replaced");
    let (first, _) = cgroup::create("test-leftover", &Limits::default()).expect("create");
    // A run killed by SIGKILL leaves its directories behind: simulate it.
    std::mem::forget(first);
    let (second, _) = cgroup::create("test-leftover", &Limits::default()).expect("recreate");
    assert!(second.procs().expect("procs").is_empty());
}

#[test]
fn a_nested_cgroup_path_gets_its_limits_at_every_depth() {
    if !step01::testing::need_root() {
        return;
    }
    announce("a_nested_cgroup_path_gets_its_limits_at_every_depth");
    // Two new levels above the cgroup: on v2 each must pass the controllers
    // on to the next, or the limit has no file to go to.
    let level = format!("test-nested-{}", std::process::id());
    let path = std::path::Path::new("tincan").join(&level).join("inner");
    let limits = Limits {
        memory: Some(Limit::Value(64 << 20)),
        ..Limits::default()
    };
    let (mut cg, _) = cgroup::create_at(&path, &limits).expect("create the nested cgroup");
    assert_eq!(
        cg.stats().expect("stats").memory_limit,
        Some(Limit::Value(64 << 20)),
        "the memory limit of {}",
        path.display()
    );
    let dirs = cg.dirs();
    cg.remove().expect("remove");
    for dir in dirs {
        let made = dir.parent().expect("the level made for it");
        assert!(!made.exists(), "{} left behind", made.display());
    }
}

#[test]
fn v2_code_runs_on_a_hybrid_hosts_cgroup2_mount() {
    if !step01::testing::need_root() {
        return;
    }
    // A hybrid v1 host has a second, controller-less cgroup2 mount; a v2
    // host has its unified one (and the tests above run the v2 code too).
    let hierarchy = Hierarchy::detect().expect("detect");
    let hybrid = matches!(hierarchy, Hierarchy::V1 { .. });
    let mount = match hierarchy {
        Hierarchy::V2 { mount } => mount,
        Hierarchy::V1 { .. } => match Hierarchy::cgroup2_mount().expect("read mountinfo") {
            Some(mount) => mount,
            None => return step01::testing::skip("a cgroup v1 host without a cgroup2 mount"),
        },
    };
    let (cg, notes) = cgroup::create_in(
        Hierarchy::V2 { mount },
        "test-hybrid",
        &Limits {
            pids: Some(Limit::Value(8)),
            ..Limits::default()
        },
    )
    .expect("create on the cgroup2 mount");
    if hybrid {
        assert!(
            notes.iter().any(|n| n.contains("pids")),
            "no pids controller there: {notes:?}"
        );
    }
    let mut child = start_exe(EXE, cg.as_ref(), &["whereami"], true).expect("start");
    let text = child.read_stdout().expect("read");
    child.wait().expect("wait");
    assert_eq!(child.placement, Placement::CloneIntoCgroup);
    let expected = format!("0::/{}/test-hybrid", cgroup::PARENT);
    assert!(text.lines().any(|l| l == expected), "{text}");

    // Step 02's Sandbox, born in the same cgroup: what step 05 does on v2.
    // (The test harness has many threads, so this goes through the
    // Sandbox's forked helper, whose clone3 adds CLONE_PARENT.)
    let dir = cg.dir_fd().expect("a v2 cgroup keeps its directory open");
    let exit = step02::Sandbox::new(step02::Namespaces::parse("pid,uts").expect("parse"))
        .into_cgroup(std::os::fd::AsRawFd::as_raw_fd(&dir))
        .run(|| {
            let text = std::fs::read_to_string("/proc/self/cgroup")?;
            Ok(if text.lines().any(|l| l == expected) {
                0
            } else {
                3
            })
        })
        .expect("a Sandbox born in the cgroup");
    assert_eq!(exit.code(), 0, "the child was not born in {expected}");
}

/// CPU time the group has used so far.
fn cpu_usage(cg: &dyn Cgroup) -> Duration {
    cg.stats()
        .expect("stats")
        .cpu_usage
        .expect("a CPU usage counter")
}

#[test]
fn cpu_max_caps_hog_usage_whatever_else_runs() {
    if !step01::testing::need_root() {
        return;
    }
    announce("cpu_max_caps_hog_usage_whatever_else_runs");
    let limits = Limits {
        cpus: Some(Cpus::Fraction(0.1)),
        ..Limits::default()
    };
    let (quota, period) = Cpus::Fraction(0.1).quota_period();
    let share = quota.expect("a quota") as f64 / period as f64;
    let (cg, _) = cgroup::create("test-cpu-cap", &limits).expect("create");
    let _hog = start_exe(EXE, cg.as_ref(), &["hog"], false).expect("start the hog");
    std::thread::sleep(Duration::from_millis(200));
    // Other load can only take CPU away from the hog, never give it more
    // than its quota: the upper bound holds on a busy machine too.
    let (used0, at0) = (cpu_usage(cg.as_ref()), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let (used1, wall) = (cpu_usage(cg.as_ref()), at0.elapsed());
    let used = used1.saturating_sub(used0);
    let allowed = wall.mul_f64(share * 1.2);
    eprintln!("capped at {share} CPU: used {used:?} in {wall:?} (at most {allowed:?})");
    assert!(
        used <= allowed,
        "capped at {share} CPU, the hog used {used:?} in {wall:?} (at most {allowed:?})"
    );
    assert!(used > Duration::ZERO, "the hog never ran");
}

#[test]
fn io_read_bps_slows_direct_reads_of_a_device() {
    if !step01::testing::need_root() {
        return;
    }
    announce("io_read_bps_slows_direct_reads_of_a_device");
    let (bps, mib) = (2u64 << 20, 4u64);
    let device = loopdev::LoopDevice::create(mib).expect("a loop device over a scratch file");
    let limits = Limits {
        read_bps: Some((device.major_minor.clone(), bps)),
        ..Limits::default()
    };
    let (cg, notes) = cgroup::create("test-io", &limits).expect("create");
    if let Some(note) = notes
        .iter()
        .find(|n| n.contains("io") || n.contains("blkio"))
    {
        return step01::testing::skip(note);
    }
    let bytes = (mib << 20).to_string();
    let path = device.path.to_string_lossy().into_owned();
    let mut child = start_exe(
        EXE,
        cg.as_ref(),
        &["read-disk", &path, "--bytes", &bytes],
        true,
    )
    .expect("start the reader");
    let text = child.read_stdout().expect("read");
    let status = child.wait().expect("wait");
    assert_eq!(
        status,
        WaitStatus::Exited(child.pid, 0),
        "the reader failed"
    );
    let took = Duration::from_nanos(text.trim().parse().expect("elapsed ns"));
    // The throttle can only delay: load on the machine makes it slower, never
    // faster than its budget (the 0.8 leaves room for the first slice).
    let least = Duration::from_secs_f64(0.8 * (mib << 20) as f64 / bps as f64);
    eprintln!(
        "read {mib} MiB of {} in {took:?} (at least {least:?})",
        device.path.display()
    );
    assert!(
        took >= least,
        "read {mib} MiB in {took:?} under read_bps {bps}: at least {least:?} expected"
    );
    let read = cg.stats().expect("stats").io_read_bytes;
    assert!(
        read.is_some_and(|n| n >= mib << 20),
        "the cgroup was charged {read:?} bytes"
    );
}

#[test]
fn freeze_stops_the_group_and_thaw_resumes_it() {
    if !step01::testing::need_root() {
        return;
    }
    announce("freeze_stops_the_group_and_thaw_resumes_it");
    let (cg, _) = cgroup::create("test-freeze", &Limits::default()).expect("create");
    let Some(dir) = cg.controller_dir(Controller::Freezer) else {
        return step01::testing::skip("no freezer on this host (v1 without a freezer mount)");
    };
    let _hog = start_exe(EXE, cg.as_ref(), &["hog"], false).expect("start the hog");
    std::thread::sleep(Duration::from_millis(100));
    cg.freeze(true).expect("freeze");
    assert_eq!(step03::freezer::is_frozen(&dir), Some(true));
    // Frozen tasks get no CPU at all, whatever else the machine does.
    let before = cpu_usage(cg.as_ref());
    std::thread::sleep(Duration::from_millis(300));
    let frozen_use = cpu_usage(cg.as_ref()).saturating_sub(before);
    assert!(
        frozen_use < Duration::from_millis(5),
        "a frozen hog used {frozen_use:?} of CPU"
    );
    cg.freeze(false).expect("thaw");
    assert_eq!(step03::freezer::is_frozen(&dir), Some(false));
    let before = cpu_usage(cg.as_ref());
    let deadline = Instant::now() + Duration::from_secs(5);
    while cpu_usage(cg.as_ref()) == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(cpu_usage(cg.as_ref()) > before, "the thawed hog never ran");
}

#[test]
fn destroy_dirs_removes_a_recorded_frozen_cgroup_and_its_processes() {
    if !step01::testing::need_root() {
        return;
    }
    announce("destroy_dirs_removes_a_recorded_frozen_cgroup_and_its_processes");
    let (cg, _) = cgroup::create("test-destroy", &Limits::default()).expect("create");
    let mut child = start_exe(EXE, cg.as_ref(), &["hog"], false).expect("start the hog");
    let frozen = cg.freeze(true).is_ok();
    // What a runtime's state file holds: the directories, not the guard.
    let dirs = cg.dirs();
    std::mem::forget(cg);
    cgroup::destroy_dirs(&dirs).expect("destroy the recorded cgroup");
    let status = child.wait().expect("wait");
    assert!(
        matches!(status, WaitStatus::Signaled(_, Signal::SIGKILL, _)),
        "{status:?} (frozen first: {frozen})"
    );
    for dir in &dirs {
        assert!(!dir.exists(), "{} is still there", dir.display());
    }
    // Twice is fine: what is gone is gone.
    cgroup::destroy_dirs(&dirs).expect("destroy again");
}
