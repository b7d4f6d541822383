//! Each namespace's effect, read back from the kernel, as we are and (when
//! we are root) again as an unprivileged user, so CI covers rootless too.

use anyhow::{Result, ensure};
use step01::probe::{Probe, ns_inode};
use step02::demo::probe_inside;
use step02::mount::TempDir;
use step02::testing::as_unprivileged;
use step02::{Exit, Namespace, Namespaces, Sandbox, ipc, mount, net, pid};

fn as_root_and_rootless(check: fn() -> Result<()>) {
    if !step02::testing::need_namespaces() {
        return;
    }
    check().expect("as the current user");
    if nix::unistd::geteuid().is_root() {
        as_unprivileged(check).expect("as an unprivileged user");
    } else {
        step01::testing::skip("the rootless-as-root variant needs root");
    }
}

fn only(ns: Namespace) -> Namespaces {
    Namespaces::none().with(ns)
}

#[test]
fn pid_child_is_pid1_and_sees_only_itself() {
    as_root_and_rootless(|| {
        let exit = pid::sandbox().run(|| {
            ensure!(nix::unistd::getpid().as_raw() == 1, "not PID 1");
            ensure!(nix::unistd::getppid().as_raw() == 0, "parent visible");
            let probe = Probe::collect()?;
            ensure!(
                probe.processes == 1,
                "/proc lists {} processes",
                probe.processes
            );
            Ok(0)
        })?;
        ensure!(exit.success(), "{exit}");
        Ok(())
    });
}

#[test]
fn pid_killing_init_kills_every_process_in_the_namespace() {
    as_root_and_rootless(|| {
        ensure!(
            pid::killing_pid1_kills_the_namespace()?,
            "a process survived its init"
        );
        Ok(())
    });
}

#[test]
fn mount_tmpfs_inside_is_invisible_outside() {
    as_root_and_rootless(|| {
        let dir = TempDir::new("test-mount")?;
        let inner = dir.path().to_path_buf();
        let exit = Sandbox::new(only(Namespace::Mount)).run(move || {
            mount::make_root_private()?;
            mount::mount_tmpfs_with_file(&inner)?;
            ensure!(inner.join("made-inside").exists(), "file missing inside");
            Ok(0)
        })?;
        ensure!(exit.success(), "{exit}");
        ensure!(
            std::fs::read_dir(dir.path())?.count() == 0,
            "tmpfs leaked to the host"
        );
        let path = dir.path().to_string_lossy().into_owned();
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        ensure!(
            !mountinfo
                .lines()
                .any(|l| l.split_whitespace().nth(4) == Some(path.as_str())),
            "the host sees a mount at {path}"
        );
        Ok(())
    });
}

#[test]
fn mount_shared_propagates_unless_made_private() {
    if !step01::testing::need_root() {
        return;
    }
    let (leaky, private) = mount::propagation_experiment().expect("experiment");
    assert_eq!((leaky, private), (1, 0));
}

#[test]
fn net_has_only_loopback_down_until_brought_up() {
    as_root_and_rootless(|| {
        let exit = Sandbox::new(only(Namespace::Net)).run(|| {
            let names = |p: Probe| {
                p.interfaces
                    .into_iter()
                    .map(|i| (i.name, i.up))
                    .collect::<Vec<_>>()
            };
            ensure!(
                names(Probe::collect()?) == [("lo".to_string(), false)],
                "not just lo, down"
            );
            net::bring_loopback_up()?;
            ensure!(
                names(Probe::collect()?) == [("lo".to_string(), true)],
                "lo still down"
            );
            Ok(0)
        })?;
        ensure!(exit.success(), "{exit}");
        Ok(())
    });
}

#[test]
fn ipc_queue_made_outside_is_missing_inside() {
    as_root_and_rootless(|| {
        let queue = ipc::MessageQueue::create()?;
        let key = queue.key;
        ensure!(ipc::queue_exists(key)?, "queue missing outside");
        let exit = Sandbox::new(only(Namespace::Ipc)).run(move || {
            ensure!(!ipc::queue_exists(key)?, "queue visible inside");
            ensure!(ipc::queues() == 0, "queues listed inside");
            Ok(0)
        })?;
        ensure!(exit.success(), "{exit}");
        Ok(())
    });
}

#[test]
fn user_root_inside_cannot_read_root_only_host_file() {
    as_root_and_rootless(|| {
        let me = nix::unistd::geteuid().as_raw();
        let outside = if me == 0 {
            step02::testing::UNPRIVILEGED
        } else {
            me
        };
        let maps = step02::userns::IdMaps::root_is(outside, outside);
        let exit = Sandbox::new(only(Namespace::User))
            .id_maps(maps)
            .run(move || {
                ensure!(nix::unistd::geteuid().is_root(), "not root inside");
                let map = std::fs::read_to_string("/proc/self/uid_map")?;
                ensure!(
                    map.split_whitespace().collect::<Vec<_>>() == ["0", &outside.to_string(), "1"],
                    "{map}"
                );
                let err = std::fs::File::open(step02::user::ROOT_ONLY_FILE)
                    .expect_err("read a root-only file");
                ensure!(err.kind() == std::io::ErrorKind::PermissionDenied, "{err}");
                ensure!(
                    nix::unistd::sethostname("tincan") == Err(nix::errno::Errno::EPERM),
                    "host uts writable"
                );
                Ok(0)
            })?;
        ensure!(exit.success(), "{exit}");
        Ok(())
    });
}

#[test]
fn cgroup_inside_sees_its_cgroup_as_root() {
    as_root_and_rootless(|| {
        let exit = Sandbox::new(only(Namespace::Cgroup)).run(|| {
            let text = std::fs::read_to_string("/proc/self/cgroup")?;
            for line in text.lines() {
                ensure!(line.ends_with(":/"), "cgroup line {line:?} is not at /");
            }
            Ok(0)
        })?;
        ensure!(exit.success(), "{exit}");
        Ok(())
    });
}

#[test]
fn all_namespaces_change_every_inode() {
    as_root_and_rootless(|| {
        let outside = Probe::collect()?;
        let sandbox = Sandbox::new(Namespaces::all())
            .hostname("tincan")
            .child_setup(pid::mount_fresh_proc);
        let inside = probe_inside(sandbox, || Ok(vec![]))?.probe;
        for kind in step01::probe::NAMESPACES {
            ensure!(
                outside.namespaces.get(kind) != inside.namespaces.get(kind),
                "{kind} namespace is the host's"
            );
        }
        ensure!(inside.pid == 1 && inside.hostname == "tincan" && inside.cgroup == "/");
        ensure!(
            ns_inode("uts") == outside.namespaces.get("uts").copied(),
            "we moved"
        );
        Ok(())
    });
}

#[test]
fn run_program_reports_exit_status() {
    if !step02::testing::need_namespaces() {
        return;
    }
    let exit = step02::run_program(
        "uts,pid,mount",
        Some("tincan".into()),
        &["sh".into(), "-c".into(), "exit 3".into()],
    )
    .expect("run sh");
    assert_eq!(exit, Exit::Code(3));
}
