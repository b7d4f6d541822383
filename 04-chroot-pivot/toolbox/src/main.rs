//! `toolbox`: the only program inside tincan's own root filesystem.
//!
//! A root filesystem needs programs, and a dynamically linked program needs
//! its loader (`/lib64/ld-linux-x86-64.so.2`) and libc inside the new root:
//! without them `execve(2)` fails with a confusing `ENOENT`. So this one
//! binary is linked statically (`-C target-feature=+crt-static`) and, like
//! busybox, decides what to be from `argv[0]` (execve(2): the name it was
//! started under): `/bin/ls` is a symlink to `/bin/toolbox`, and so on.
//! `toolbox <command> args...` works too.

mod escape;
mod sh;
mod syscall;
mod tools;
mod workload;

use std::ffi::OsString;
use std::path::Path;

/// A command: takes its arguments (without the name), returns the exit status.
type Command = fn(&[String]) -> i32;

// ANCHOR: commands
/// Every command the toolbox provides, and what it does.
pub const COMMANDS: &[(&str, Command, &str)] = &[
    (
        "sh",
        sh::main,
        "run a command line: sh -c \"cmd args; cmd args\"",
    ),
    ("ls", tools::ls, "list directories"),
    ("cat", tools::cat, "print files"),
    ("echo", tools::echo, "print its arguments"),
    ("touch", tools::touch, "create empty files"),
    ("ps", tools::ps, "list the processes /proc shows"),
    ("hostname", tools::hostname, "print the UTS hostname"),
    ("id", tools::id, "print uid and gid"),
    (
        "mount",
        tools::mount,
        "list /proc/mounts, or try: mount -t TYPE SOURCE TARGET",
    ),
    ("sleep", tools::sleep, "sleep SECONDS"),
    ("true", |_| 0, "exit 0"),
    ("false", |_| 1, "exit 1"),
    (
        "probe",
        tools::probe,
        "print what this process sees (step 01's encoded probe)",
    ),
    ("hog-cpu", workload::hog_cpu, "spin on a CPU [for SECONDS]"),
    (
        "hog-mem",
        workload::hog_mem,
        "allocate and touch memory [up to MIB]",
    ),
    (
        "fork-bomb",
        workload::fork_bomb,
        "fork until the kernel says no [at most N]",
    ),
    (
        "crash",
        workload::crash,
        "leave a sleeping child behind [MARKER], then abort()",
    ),
    (
        "escape-chroot",
        escape::main,
        "the classic chroot escape, then print FILE's first line",
    ),
    (
        "syscall",
        syscall::main,
        "make raw system call NUMBER [ARGS] and print the kernel's answer",
    ),
    ("thread", syscall::thread, "start a thread and join it"),
];
// ANCHOR_END: commands

fn main() {
    let args: Vec<String> = std::env::args_os()
        .map(|a: OsString| a.to_string_lossy().into_owned())
        .collect();
    std::process::exit(dispatch(&args));
}

/// Pick the command from argv[0]'s file name, or from argv[1] when called
/// as `toolbox`.
fn dispatch(args: &[String]) -> i32 {
    let name = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "toolbox" {
        return match args.get(1) {
            Some(_) => dispatch(&args[1..]),
            None => {
                for (name, _, help) in COMMANDS {
                    println!("{name:14} {help}");
                }
                0
            }
        };
    }
    match find(&name) {
        Some(command) => command(&args[1..]),
        None => {
            eprintln!("toolbox: unknown command {name:?} (run `toolbox` for the list)");
            127
        }
    }
}

fn find(name: &str) -> Option<Command> {
    COMMANDS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, f, _)| *f)
}
