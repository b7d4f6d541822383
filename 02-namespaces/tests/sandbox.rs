//! The library API steps 03–05 build on, tested against real kernel state.

use std::io::Read;

use anyhow::{Result, ensure};
use step01::probe::ns_inode;
use step02::testing::as_unprivileged;
use step02::{Exit, Namespace, Namespaces, Sandbox, join};

/// Run `check` as we are, and again as an unprivileged user when we are root.
fn as_root_and_rootless(check: fn() -> Result<()>) {
    check().expect("as the current user");
    if nix::unistd::geteuid().is_root() {
        as_unprivileged(check).expect("as an unprivileged user");
    } else {
        step01::testing::skip("the rootless-as-root variant needs root");
    }
}

#[test]
fn sandbox_child_gets_new_namespaces_and_hostname() {
    as_root_and_rootless(|| {
        let outside = ns_inode("uts").expect("our uts inode");
        let host = nix::unistd::gethostname()?;
        let exit = Sandbox::new(Namespaces::parse("uts,ipc")?)
            .hostname("tincan-test")
            .run(move || {
                ensure!(ns_inode("uts") != Some(outside), "uts inode unchanged");
                ensure!(
                    nix::unistd::gethostname()? == "tincan-test",
                    "hostname not set"
                );
                Ok(0)
            })?;
        ensure!(exit == Exit::Code(0), "child ended with {exit}");
        ensure!(nix::unistd::gethostname()? == host, "host hostname changed");
        Ok(())
    });
}

#[test]
fn sandbox_maps_caller_to_root_inside_user_namespace() {
    as_root_and_rootless(|| {
        let me = nix::unistd::geteuid().as_raw();
        let exit = Sandbox::new(Namespaces::parse("user")?).run(move || {
            let map = std::fs::read_to_string("/proc/self/uid_map")?;
            let fields: Vec<&str> = map.split_whitespace().collect();
            ensure!(fields == ["0", &me.to_string(), "1"], "uid_map is {map:?}");
            ensure!(nix::unistd::geteuid().is_root(), "not root inside");
            Ok(0)
        })?;
        ensure!(exit.success(), "{exit}");
        Ok(())
    });
}

#[test]
fn sandbox_rootless_adds_a_user_namespace() {
    as_root_and_rootless(|| {
        let sandbox = Sandbox::new(Namespaces::parse("net")?);
        let root = nix::unistd::geteuid().is_root();
        ensure!(sandbox.namespaces().contains(Namespace::User) != root);
        Ok(())
    });
}

#[test]
fn sandbox_parent_setup_runs_before_child_continues() {
    let (read, write) = nix::unistd::pipe().expect("pipe");
    let exit = Sandbox::new(Namespaces::parse("uts").expect("uts"))
        .parent_setup(move |pid| {
            // The child is blocked on its go pipe: it cannot have exited yet.
            let status = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG))?;
            ensure!(
                status == nix::sys::wait::WaitStatus::StillAlive,
                "child ran ahead: {status:?}"
            );
            nix::unistd::write(&write, b"parent was here")?;
            Ok(())
        })
        .run(move || {
            // Read exactly what the parent wrote: we hold a copy of the
            // write end ourselves (a child inherits every descriptor), so
            // reading to EOF would wait forever.
            let mut text = [0u8; 15];
            std::fs::File::from(read).read_exact(&mut text)?;
            Ok(if &text == b"parent was here" { 0 } else { 1 })
        })
        .expect("run");
    assert_eq!(exit, Exit::Code(0));
}

#[test]
fn sandbox_child_setup_error_comes_back_as_one_line() {
    let err = Sandbox::new(Namespaces::parse("uts").expect("uts"))
        .child_setup(|| anyhow::bail!("mount proc at /nowhere/proc: ENOENT"))
        .spawn(|| Ok(0))
        .expect_err("set-up fails");
    assert_eq!(err.to_string(), "mount proc at /nowhere/proc: ENOENT");
}

#[test]
fn sandbox_missing_program_fails_cleanly() {
    let err = Sandbox::new(Namespaces::parse("uts").expect("uts"))
        .spawn_program(&["tincan-no-such-program"])
        .expect_err("no such program");
    let text = format!("{err:#}");
    assert!(
        text.contains("tincan-no-such-program") && text.contains("ENOENT"),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");
}

#[test]
fn sandbox_program_exit_status_is_returned() {
    let child = Sandbox::new(Namespaces::parse("uts").expect("uts"))
        .spawn_program(&["sh", "-c", "exit 7"])
        .expect("spawn sh");
    assert_eq!(child.wait().expect("wait"), Exit::Code(7));
}

#[test]
fn sandbox_rejects_long_hostname_before_cloning() {
    let err = Sandbox::new(Namespaces::parse("uts").expect("uts"))
        .hostname("x".repeat(65))
        .spawn(|| Ok(0))
        .expect_err("65 bytes is too long");
    assert!(err.to_string().contains("65 bytes"), "{err}");
}

#[test]
fn sandbox_time_namespace_shifts_monotonic_clock() {
    as_root_and_rootless(|| {
        let outside = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)?;
        let exit = Sandbox::new(Namespaces::parse("time")?)
            .time_offsets(86_400, 0)
            .run(move || {
                let inside = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)?;
                let shift = inside.tv_sec() - outside.tv_sec();
                ensure!((86_400..86_400 + 60).contains(&shift), "shift {shift}");
                Ok(0)
            })?;
        ensure!(exit.success(), "{exit}");
        Ok(())
    });
}

#[test]
fn join_enters_a_running_childs_namespaces() {
    as_root_and_rootless(|| {
        // A child that holds its namespaces open until we kill it.
        let child = Sandbox::new(Namespaces::parse("uts,pid,mount")?)
            .hostname("tincan-joined")
            .spawn(|| {
                loop {
                    nix::unistd::pause();
                }
            })?;
        let pid = child.pid();
        let mut ns = Namespaces::parse("uts,pid,mount")?;
        if !nix::unistd::geteuid().is_root() {
            ns.insert(Namespace::User);
        }
        let exit = join::run_in(pid, &ns, || {
            ensure!(nix::unistd::gethostname()? == "tincan-joined", "hostname");
            // The sandbox's init is PID 1, so we are a later pid.
            ensure!(nix::unistd::getpid().as_raw() > 1, "pid");
            Ok(0)
        })?;
        ensure!(exit.success(), "{exit}");
        child.kill(nix::sys::signal::Signal::SIGKILL)?;
        ensure!(child.wait()? == Exit::Signaled(nix::sys::signal::Signal::SIGKILL));
        Ok(())
    });
}
