//! The everyday commands: `ls`, `cat`, `echo`, `ps`, `hostname`, `id`,
//! `mount`, `sleep`, `probe`.
//!
//! Each is a few lines over one system call or one file of proc(5), which
//! is the point: inside a container, `ps` shows whatever the mounted `/proc`
//! shows (proc(5)), `hostname` whatever the UTS namespace says
//! (gethostname(2)), `mount` whatever the mount namespace holds.

use std::fs;
use std::io::Write;

/// Print an error the way the classic tools do and return status 1.
fn fail(tool: &str, what: &str, err: impl std::fmt::Display) -> i32 {
    eprintln!("{tool}: {what}: {err}");
    1
}

/// `ls [DIR...]`: the sorted names in each directory, on one line.
pub fn ls(args: &[String]) -> i32 {
    let dirs = if args.is_empty() {
        vec![".".to_string()]
    } else {
        args.to_vec()
    };
    let mut status = 0;
    for dir in &dirs {
        match fs::read_dir(dir) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                if dirs.len() > 1 {
                    println!("{dir}:");
                }
                println!("{}", names.join("  "));
            }
            Err(e) => status = fail("ls", dir, e),
        }
    }
    status
}

/// `cat FILE...`.
pub fn cat(args: &[String]) -> i32 {
    let mut status = 0;
    let mut out = std::io::stdout().lock();
    for file in args {
        match fs::read(file) {
            Ok(bytes) => {
                let _ = out.write_all(&bytes);
            }
            Err(e) => status = fail("cat", file, e),
        }
    }
    status
}

/// `echo WORDS...`.
pub fn echo(args: &[String]) -> i32 {
    println!("{}", args.join(" "));
    0
}

/// `touch FILE...`: create each file (or leave it as it is).
pub fn touch(args: &[String]) -> i32 {
    let mut status = 0;
    for file in args {
        let opened = fs::OpenOptions::new().create(true).append(true).open(file);
        if let Err(e) = opened {
            status = fail("touch", file, e);
        }
    }
    status
}

/// `ps`: one line per numeric directory of `/proc`, with the command name
/// from `/proc/<pid>/comm`.
pub fn ps(_args: &[String]) -> i32 {
    let entries = match fs::read_dir("/proc") {
        Ok(e) => e,
        Err(e) => return fail("ps", "/proc (is proc mounted?)", e),
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    println!("{:>5}  CMD", "PID");
    for pid in pids {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        println!("{pid:>5}  {}", comm.trim_end());
    }
    0
}

/// `hostname`: the UTS namespace's name.
pub fn hostname(_args: &[String]) -> i32 {
    match nix::unistd::gethostname() {
        Ok(name) => {
            println!("{}", name.to_string_lossy());
            0
        }
        Err(e) => fail("hostname", "gethostname", e),
    }
}

/// `id`: real uid and gid (no /etc/passwd lookup needed).
pub fn id(_args: &[String]) -> i32 {
    println!(
        "uid={} gid={}",
        nix::unistd::getuid(),
        nix::unistd::getgid()
    );
    0
}

/// `mount`: list `/proc/mounts`; `mount -t TYPE SOURCE TARGET` tries a
/// mount(2) and reports what the kernel answered.
pub fn mount(args: &[String]) -> i32 {
    match args {
        [] => match fs::read_to_string("/proc/mounts") {
            Ok(text) => {
                for line in text.lines() {
                    let f: Vec<&str> = line.split_whitespace().collect();
                    if let [source, target, fstype, options, ..] = f.as_slice() {
                        println!("{source} on {target} type {fstype} ({options})");
                    }
                }
                0
            }
            Err(e) => fail("mount", "/proc/mounts (is proc mounted?)", e),
        },
        [t, fstype, source, target] if t == "-t" => {
            let result = nix::mount::mount(
                Some(source.as_str()),
                target.as_str(),
                Some(fstype.as_str()),
                nix::mount::MsFlags::empty(),
                None::<&str>,
            );
            match result {
                Ok(()) => {
                    println!("mounted {fstype} {source} on {target}");
                    0
                }
                Err(e) => fail(
                    "mount",
                    &format!("mount {fstype} {source} on {target}"),
                    e.desc(),
                ),
            }
        }
        _ => {
            eprintln!("mount: usage: mount, or mount -t TYPE SOURCE TARGET");
            2
        }
    }
}

/// `sleep SECONDS [ignored...]` (extra words let tests tag a process).
pub fn sleep(args: &[String]) -> i32 {
    match args.first().map(|s| s.parse::<f64>()) {
        Some(Ok(secs)) if secs >= 0.0 => {
            std::thread::sleep(std::time::Duration::from_secs_f64(secs));
            0
        }
        _ => {
            eprintln!("sleep: usage: sleep SECONDS");
            2
        }
    }
}

/// `probe`: step 01's probe of this process, encoded as `key=value` lines
/// for the parent to decode.
pub fn probe(_args: &[String]) -> i32 {
    match step01::probe::Probe::collect() {
        Ok(p) => {
            print!("{}", p.encode());
            0
        }
        Err(e) => fail("probe", "collect", format!("{e:#}")),
    }
}
