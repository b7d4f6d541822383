//! `tincan run --explain`: one numbered line per set-up step, on stderr
//! (stdout belongs to the container), naming the system calls behind it.
//! The numbers follow the chapter's list of steps, not the order the code
//! runs in: the cgroup (2) exists before the clone (1) puts a child in it.

use anyhow::Result;
use nix::unistd::Pid;

use crate::config::RunConfig;

/// Prints the `--explain` lines on stderr (stdout belongs to the container).
#[derive(Debug, Clone, Copy)]
pub struct Explain(pub bool);

impl Explain {
    /// One numbered step.
    pub(crate) fn step(self, n: &str, what: impl std::fmt::Display) {
        if self.0 {
            eprintln!("tincan: {n:>2}. {what}");
        }
    }

    /// Step 7's line, and the program resolved in the container's PATH.
    pub(crate) fn exec_line(self, config: &RunConfig, program: &step02::Program) -> Result<()> {
        if self.0 {
            let path = program.resolve()?;
            self.step(
                "7",
                format_args!(
                    "execve {} as uid {} gid {}",
                    path.display(),
                    config.uid,
                    config.gid
                ),
            );
        }
        Ok(())
    }

    /// Step 1's lines: the clone, and the user namespace's maps.
    pub(crate) fn clone_lines(self, config: &RunConfig, pid: Pid) {
        let new = config.namespaces.iter().filter(|n| n.path.is_none());
        let joined = config.namespaces.iter().filter_map(|n| {
            n.path
                .as_ref()
                .map(|p| format!("; joins {} {}", n.kind.proc_name(), p.display()))
        });
        self.step(
            "1",
            format_args!(
                "clone: pid {} in new {} namespaces{}",
                step01::report::measured(pid),
                new.map(|n| n.kind.proc_name())
                    .collect::<Vec<_>>()
                    .join(", "),
                joined.collect::<String>()
            ),
        );
        let describe = |maps: &[crate::config::IdMap]| {
            maps.iter()
                .map(|m| format!("{} -> {} ({} ids)", m.inside, m.outside, m.count))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !config.uid_mappings.is_empty() {
            self.step(
                "1",
                format_args!(
                    "user namespace: uid_map {}; gid_map {}",
                    describe(&config.uid_mappings),
                    describe(&config.gid_mappings)
                ),
            );
        } else if !nix::unistd::geteuid().is_root() {
            self.step(
                "1",
                format_args!(
                    "user namespace: uid {} and gid {} are 0 inside; nothing else is mapped",
                    nix::unistd::geteuid(),
                    nix::unistd::getegid()
                ),
            );
        }
    }

    /// Step 2's line: the cgroup and its limits.
    pub(crate) fn cgroup_line(self, config: &RunConfig, has_cgroup: bool, notes: &[String]) {
        if !has_cgroup {
            self.step("2", "cgroup: none (rootless: this host gives unprivileged users no cgroups), no device allowlist");
            return;
        }
        let limits = &config.limits;
        let memory = match limits.memory {
            Some(step03::limits::Limit::Value(bytes)) => step01::report::bytes(bytes),
            _ => "max".into(),
        };
        let cpus = match limits.cpus {
            Some(step03::limits::Cpus::Fraction(f)) => format!("{f}"),
            _ => "max".into(),
        };
        let pids = match limits.pids {
            Some(step03::limits::Limit::Value(n)) => n.to_string(),
            _ => "max".into(),
        };
        self.step("2", format_args!(
        "cgroup tincan/{}, entered before the child runs anything: memory={memory} cpus={cpus} pids={pids} devices=Docker's allowlist ({} rules){}",
        config.id,
        config.devices.len(),
        notes.iter().map(|n| format!("; {n}")).collect::<String>(),
    ));
    }
}
