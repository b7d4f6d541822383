//! Programs that misbehave on purpose, to test limits and clean-up: a CPU
//! hog, a memory hog, a fork bomb (fork(2) until it fails with `EAGAIN`),
//! and a crash that leaves a child behind.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, execv, fork};

fn number<T: std::str::FromStr>(args: &[String]) -> Option<T> {
    args.first().and_then(|s| s.parse().ok())
}

/// `hog-cpu [SECONDS]`: spin (forever without an argument).
pub fn hog_cpu(args: &[String]) -> i32 {
    let stop = number::<f64>(args).map(|s| Instant::now() + Duration::from_secs_f64(s));
    let mut x: u64 = 1;
    while stop.is_none_or(|t| Instant::now() < t) {
        for _ in 0..100_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    println!("hog-cpu: done");
    0
}

/// `hog-mem [MIB]`: allocate 1 MiB at a time and touch every page, so the
/// memory is really charged (untouched pages cost nothing).
pub fn hog_mem(args: &[String]) -> i32 {
    let max = number::<usize>(args).unwrap_or(usize::MAX);
    let mut kept: Vec<Vec<u8>> = Vec::new();
    while kept.len() < max {
        let mut chunk = vec![0u8; 1 << 20];
        for page in chunk.chunks_mut(4096) {
            page[0] = 1;
        }
        kept.push(chunk);
        if kept.len() % 16 == 0 {
            println!("hog-mem: {} MiB", kept.len());
        }
    }
    println!("hog-mem: allocated {} MiB", kept.len());
    0
}

/// `fork-bomb [N]`: fork children that sleep, until fork fails or N are
/// alive; report how many, then kill and reap them all.
pub fn fork_bomb(args: &[String]) -> i32 {
    let max = number::<usize>(args).unwrap_or(10_000);
    let mut children = Vec::new();
    let mut error = None;
    while children.len() < max {
        // SAFETY: single-threaded program; the child only sleeps and exits.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                std::thread::sleep(Duration::from_secs(30));
                std::process::exit(0);
            }
            Ok(ForkResult::Parent { child }) => children.push(child),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    match error {
        Some(e) => println!(
            "fork-bomb: forked {} children, then fork failed: {}",
            children.len(),
            e.desc()
        ),
        None => println!(
            "fork-bomb: forked {} children (the most asked for)",
            children.len()
        ),
    }
    for child in &children {
        let _ = kill(*child, Signal::SIGKILL);
    }
    for child in children {
        let _ = waitpid(child, None);
    }
    0
}

/// `crash [MARKER]`: start `/bin/sleep 600 MARKER` as a child, then
/// abort(3). A runtime must not leave the sleeping child behind.
pub fn crash(args: &[String]) -> i32 {
    let marker = args
        .first()
        .cloned()
        .unwrap_or_else(|| "crash-child".into());
    let argv = [
        c"/bin/sleep".to_owned(),
        c"600".to_owned(),
        cstring(&marker),
    ];
    // SAFETY: single-threaded program; the child only calls execv.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let Err(e) = execv(&argv[0], &argv);
            eprintln!("crash: execve /bin/sleep: {}", e.desc());
            std::process::exit(127);
        }
        Ok(ForkResult::Parent { .. }) => {
            // Give the child time to exec, so it is really there.
            std::thread::sleep(Duration::from_millis(100));
            println!("crash: left a child behind, now aborting");
            std::process::abort();
        }
        Err(e) => {
            eprintln!("crash: fork: {}", e.desc());
            1
        }
    }
}

fn cstring(s: &str) -> std::ffi::CString {
    std::ffi::CString::new(s.replace('\0', "")).unwrap_or_default()
}
