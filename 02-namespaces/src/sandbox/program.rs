//! The program a sandboxed child becomes: execve(2) or execvp(3).

use std::ffi::CString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use nix::errno::Errno;

/// A program and its arguments, and optionally the exact environment it
/// gets. Without one it inherits ours and is found with execvp(3).
#[derive(Debug, Clone)]
pub struct Program {
    argv: Vec<CString>,
    env: Option<Vec<CString>>,
}

fn c_string(s: &str, what: &str) -> Result<CString> {
    CString::new(s).with_context(|| format!("{what} {s:?} contains a NUL byte"))
}

impl Program {
    /// `argv[0]` with arguments `argv`.
    pub fn new<S: AsRef<str>>(argv: &[S]) -> Result<Program> {
        if argv.is_empty() {
            bail!("no program to run: give the program and its arguments");
        }
        let argv = argv
            .iter()
            .map(|a| c_string(a.as_ref(), "argument"))
            .collect::<Result<Vec<_>>>()?;
        Ok(Program { argv, env: None })
    }

    // ANCHOR: env
    /// Give the program exactly this environment (`KEY=value` strings), as
    /// a container's process description does. execve(2) takes the
    /// environment as an argument, and the kernel knows nothing of `PATH`:
    /// searching it is the C library's job, so here it is ours, in the
    /// child, after it entered its root (the program must be found in the
    /// container's files, through the container's `PATH`).
    pub fn env<S: AsRef<str>>(mut self, env: &[S]) -> Result<Program> {
        let env = env
            .iter()
            .map(|e| c_string(e.as_ref(), "environment entry"))
            .collect::<Result<Vec<_>>>()?;
        self.env = Some(env);
        Ok(self)
    }
    // ANCHOR_END: env

    fn name(&self) -> String {
        self.argv[0].to_string_lossy().into_owned()
    }

    /// The file to execute: `argv[0]` itself when it has a `/` (or for
    /// execvp, which searches by itself), else the first match in `PATH`.
    pub fn resolve(&self) -> Result<PathBuf> {
        let name = self.name();
        let Some(env) = &self.env else {
            return Ok(PathBuf::from(name));
        };
        if name.contains('/') {
            return Ok(PathBuf::from(name));
        }
        let path = env
            .iter()
            .find_map(|e| e.to_str().ok()?.strip_prefix("PATH=").map(String::from))
            .unwrap_or_else(|| "/usr/bin:/bin".into());
        path.split(':')
            .map(|dir| Path::new(dir).join(&name))
            .find(|p| p.is_file())
            .with_context(|| format!("{name}: command not found in the container's PATH ({path})"))
    }

    /// Become the program. Returns only on failure, with the reason.
    pub(super) fn exec(&self, path: &Path) -> anyhow::Error {
        let Some(env) = &self.env else {
            let errno = nix::unistd::execvp(&self.argv[0], &self.argv).unwrap_err();
            // execvp(3) reports EACCES when some PATH directory could not
            // be searched, even if the program simply is not there.
            let hint = if matches!(errno, Errno::ENOENT | Errno::EACCES) {
                " (is it installed inside, on the PATH, and executable?)"
            } else {
                ""
            };
            return anyhow!(
                "execvp {:?} inside the namespaces: {errno}{hint}",
                self.name()
            );
        };
        let file = match c_string(&path.to_string_lossy(), "program path") {
            Ok(file) => file,
            Err(e) => return e,
        };
        let errno = nix::unistd::execve(&file, &self.argv, env).unwrap_err();
        // ENOENT for a file that exists means its loader (the ELF
        // interpreter named inside it) is missing: a dynamically linked
        // program in a root without its libraries.
        anyhow!(
            "execve {} (is it in the image, and is it a static binary or are its libraries there?): {errno}",
            path.display()
        )
    }
}
