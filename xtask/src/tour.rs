//! `cargo xtask tour`: the main job. Builds every step as the calling user,
//! then runs each demo in the order the book tells them. Demos that need
//! root run through `sudo` when we are not root, and the tour says so first.

use std::process::Command;

use anyhow::{Result, bail};

use crate::util::{self, cargo, root};

// What a demo needs beyond an ordinary user: the labs' vocabulary, so that
// the tour and `cargo xtask lab check` decide about sudo the same way.
pub use tincan_labs::Needs;

/// One step of the tour.
pub struct Step {
    /// Two-digit step number, e.g. "01".
    pub number: &'static str,
    /// Package name.
    pub package: &'static str,
    /// The demo binary (the package name, except for step 05's `tincan`).
    pub binary: &'static str,
    /// What the step teaches, one line.
    pub title: &'static str,
    /// Demo arguments and what each needs.
    pub demos: &'static [(&'static [&'static str], Needs)],
}

// ANCHOR: steps
/// The steps that exist, in order.
pub const STEPS: &[Step] = &[
    Step {
        number: "01",
        package: "step01-vm-vs-process",
        binary: "step01-vm-vs-process",
        title: "a plain process next to a real KVM virtual machine",
        demos: &[
            (&["process"], Needs::Nothing),
            (&["noisy-neighbor"], Needs::Nothing),
            (&["vm"], Needs::Kvm),
            (&["compare"], Needs::Kvm),
        ],
    },
    Step {
        number: "02",
        package: "step02-namespaces",
        binary: "step02-namespaces",
        title: "namespaces, each one narrows what a process sees",
        // Rootless works wherever unprivileged user namespaces are allowed;
        // the mount demo shows propagation on the host only as root.
        demos: &[
            (&["uts"], Needs::Nothing),
            (&["pid"], Needs::Nothing),
            (&["mount"], Needs::Root),
            (&["net"], Needs::Nothing),
            (&["ipc"], Needs::Nothing),
            (&["user"], Needs::Nothing),
            (&["cgroup"], Needs::Nothing),
            (&["time"], Needs::Nothing),
            (&["all"], Needs::Nothing),
        ],
    },
    Step {
        number: "03",
        package: "step03-cgroups",
        binary: "step03-cgroups",
        title: "cgroups: limits and accounting (cpu, memory, pids, io, stats), the cgroup namespace",
        demos: &[
            (&["cpu"], Needs::Root),
            (&["memory"], Needs::Root),
            (&["pids"], Needs::Root),
            (&["io"], Needs::Root),
            (&["stats", "--seconds", "3"], Needs::Root),
            (&["cgroupns"], Needs::Root),
        ],
    },
    Step {
        number: "04",
        package: "step04-chroot-pivot",
        binary: "step04-chroot-pivot",
        title: "a root filesystem of our own: chroot, its escape, pivot_root",
        demos: &[
            (&["chroot"], Needs::Root),
            (&["escape"], Needs::Root),
            (&["pivot"], Needs::Root),
        ],
    },
    Step {
        number: "05",
        package: "step05-full-container",
        binary: "tincan",
        title: "tincan: a container runtime composed from steps 02-04",
        demos: &[
            (&["capabilities"], Needs::Nothing),
            (
                &[
                    "run",
                    "--explain",
                    "--memory",
                    "64m",
                    "--pids-limit",
                    "64",
                    "--",
                    "/bin/sh",
                    "-c",
                    "hostname; id; ps; ls /",
                ],
                Needs::Root,
            ),
        ],
    },
];
// ANCHOR_END: steps

/// Run the tour (all steps, or only `only`).
pub fn run(only: Option<&str>) -> Result<()> {
    let steps: Vec<&Step> = STEPS
        .iter()
        .filter(|s| only.is_none_or(|n| s.number == n.trim_start_matches("step")))
        .collect();
    if steps.is_empty() {
        bail!(
            "no step {:?}; the steps are {}",
            only.unwrap_or(""),
            numbers()
        );
    }
    // Build as the calling user, so that target/ stays theirs even when a
    // demo later runs through sudo.
    util::run(cargo().args(["build", "--quiet", "--workspace", "--bins"]))?;
    let bin_dir = target_dir().join("debug");
    for step in steps {
        println!("\n=== step {}: {} ===", step.number, step.title);
        if step.package == "step04-chroot-pivot" || step.package == "step05-full-container" {
            // Steps 04 and 05 run inside tincan's own rootfs: build it (as
            // the calling user, like everything else) before they start.
            crate::rootfs::run()?;
        }
        for (args, needs) in step.demos {
            let mut cmd = demo_command(&bin_dir.join(step.binary), *needs);
            cmd.args(*args);
            let shown: Vec<String> = args
                .iter()
                .map(|a| {
                    if a.contains(' ') {
                        format!("\"{a}\"")
                    } else {
                        a.to_string()
                    }
                })
                .collect();
            println!("\n$ cargo run -p {} -- {}", step.package, shown.join(" "));
            let status = cmd.status()?;
            if !status.success() {
                bail!(
                    "demo `{} {}` failed ({status})",
                    step.package,
                    args.join(" ")
                );
            }
        }
    }
    println!("\nTour complete. The book explains every table: cargo xtask book");
    Ok(())
}

fn numbers() -> String {
    STEPS
        .iter()
        .map(|s| s.number)
        .collect::<Vec<_>>()
        .join(", ")
}

fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), Into::into)
}

fn demo_command(bin: &std::path::Path, needs: Needs) -> Command {
    if needs.needs_sudo() {
        println!(
            "(this demo needs {}; running it through sudo)",
            match needs {
                Needs::Kvm => "access to /dev/kvm",
                _ => "root",
            }
        );
        let mut cmd = Command::new("sudo");
        cmd.arg("--preserve-env=TINCAN_REDACT").arg(bin);
        cmd
    } else {
        Command::new(bin)
    }
}
