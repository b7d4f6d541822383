//! A very small shell: split a command line into commands and arguments,
//! then `fork(2)` + `execve(2)` each one from `/bin`.
//!
//! Enough to run `sh -c "hostname; ls /"` inside the rootfs. No pipes, no
//! variables, no globbing: `;` separates commands, single and double quotes
//! group words. A command line with a single command is `exec`ed directly,
//! so that it takes the shell's place (and stays PID 1 in a new PID
//! namespace, as a container's first process should).

use std::convert::Infallible;
use std::ffi::CString;

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, execv, fork};

/// `sh -c "LINE"`, or `sh CMD ARGS...` (run one command).
pub fn main(args: &[String]) -> i32 {
    let commands = match args {
        [flag, line, ..] if flag == "-c" => match parse(line) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("sh: {e}");
                return 2;
            }
        },
        [] => {
            eprintln!("sh: this shell is not interactive; use sh -c \"cmd args; cmd args\"");
            return 2;
        }
        words => vec![words.to_vec()],
    };
    if let [only] = commands.as_slice() {
        let Err(code) = exec(only);
        return code;
    }
    let mut status = 0;
    for command in &commands {
        status = run(command);
    }
    status
}

/// Split `line` into commands (on `;`) and words (on blanks, honouring quotes).
pub fn parse(line: &str) -> Result<Vec<Vec<String>>, String> {
    let mut commands = Vec::new();
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, ';') => {
                words.extend(word.take());
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    if quote.is_some() {
        return Err(format!("unterminated quote in {line:?}"));
    }
    words.extend(word.take());
    if !words.is_empty() {
        commands.push(words);
    }
    Ok(commands)
}

/// Fork, exec `command` in the child, wait, and return its exit status
/// (128 + signal number when a signal killed it, as shells do).
fn run(command: &[String]) -> i32 {
    // SAFETY: this shell is single-threaded, so the child may do anything
    // the parent could (allocate, format) before it execs.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let Err(code) = exec(command);
            std::process::exit(code)
        }
        Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => code,
            Ok(WaitStatus::Signaled(_, signal, _)) => 128 + signal as i32,
            _ => 1,
        },
        Err(e) => {
            eprintln!("sh: fork: {e}");
            1
        }
    }
}

/// Replace this process with `command`, looked up in `/bin` unless it
/// contains a `/`. Returns only on failure, with the shell's exit code.
fn exec(command: &[String]) -> Result<Infallible, i32> {
    let Some(name) = command.first() else {
        return Err(0);
    };
    let path = if name.contains('/') {
        name.clone()
    } else {
        format!("/bin/{name}")
    };
    let to_c = |s: &String| CString::new(s.as_bytes()).map_err(|_| 2);
    let program = to_c(&path)?;
    let argv = command.iter().map(to_c).collect::<Result<Vec<_>, _>>()?;
    let Err(err) = execv(&program, &argv);
    eprintln!("sh: {name}: execve {path}: {}", err.desc());
    Err(if err == nix::errno::Errno::ENOENT {
        127
    } else {
        126
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parse_splits_commands_and_honours_quotes() {
        let got = parse("echo 'a b' c; ls /;; cat \"x\"").expect("parses");
        assert_eq!(
            got,
            vec![
                vec!["echo".to_string(), "a b".into(), "c".into()],
                vec!["ls".into(), "/".into()],
                vec!["cat".into(), "x".into()],
            ]
        );
        assert!(parse("echo 'open").is_err());
    }
}
