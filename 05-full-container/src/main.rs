//! `tincan`: parse the command line, clean up after any tincan that died,
//! then call the library.

mod cli;

use std::io::Write;

use clap::Parser;
use cli::{Cli, Command};
use step05::state::{StateRoot, cleanup, default_root};

fn main() -> std::process::ExitCode {
    // A lab's unfinished stub says so in one line (cargo xtask lab).
    step01::lab::install_panic_hook();
    let cli = Cli::parse();
    let root = StateRoot::new(cli.root.clone().unwrap_or_else(default_root));
    let mut out = std::io::stdout().lock();
    // Whatever a previous, killed tincan left behind goes first.
    let log = cli.log.clone().map(|path| (path, cli.log_format));
    if cli.systemd_cgroup {
        return fail(
            log.as_ref(),
            anyhow::anyhow!(
                "--systemd-cgroup: tincan writes the cgroup filesystem itself and does not ask \
                 systemd; use the cgroupfs manager (podman --cgroup-manager cgroupfs, containerd \
                 SystemdCgroup = false)"
            ),
        );
    }
    let uses_state = !matches!(
        cli.command,
        Command::Spec { .. } | Command::Capabilities | Command::Features | Command::Escape { .. }
    );
    if uses_state {
        if let Err(e) = cleanup(&root) {
            eprintln!("warning: cleanup of dead containers failed: {e:#}");
        }
    }
    let result = match cli.command {
        Command::Run(args) => match run(*args, &root) {
            // The container's own exit status becomes ours.
            Ok(status) => return std::process::ExitCode::from(status as u8),
            Err(e) => Err(e),
        },
        Command::Spec { bundle } => step05::spec(&bundle.unwrap_or_else(|| ".".into()), &mut out),
        Command::Capabilities => step05::capabilities::listing()
            .and_then(|text| out.write_all(text.as_bytes()).map_err(Into::into)),
        Command::Seccomp { cap_add } => step05::seccomp::listing(&cap_add)
            .and_then(|text| out.write_all(text.as_bytes()).map_err(Into::into)),
        Command::Features => {
            step05::features::json().and_then(|json| writeln!(out, "{json}").map_err(Into::into))
        }
        Command::Image(args) => step05::image::run_command(&args, &root, &mut out),
        Command::Cleanup => Ok(()),
        Command::Escape {
            exit_euid: true, ..
        } => {
            return std::process::ExitCode::from(nix::unistd::geteuid().as_raw() as u8);
        }
        Command::Escape { names, .. } => {
            let (table, _successes) = step05::escape::run_attempts(&names);
            out.write_all(table.as_bytes()).map_err(Into::into)
        }
        Command::Create {
            bundle,
            pid_file,
            console_socket,
            no_pivot,
            id,
        } => {
            let options = step05::lifecycle::CreateOptions {
                pid_file: pid_file.as_deref(),
                no_pivot,
                console_socket: console_socket.as_deref(),
            };
            step05::lifecycle::create(&root, &bundle, &id, options)
        }
        Command::Start { id } => step05::lifecycle::start(&root, &id),
        Command::Kill { id, signal } => step05::lifecycle::kill(&root, &id, &signal),
        Command::Delete { force, id } => step05::lifecycle::delete(&root, &id, force),
        Command::Exec {
            process,
            pid_file,
            detach,
            tty,
            console_socket,
            id,
        } => {
            let options = step05::exec::ExecOptions {
                pid_file: pid_file.as_deref(),
                detach,
                tty,
                console_socket: console_socket.as_deref(),
            };
            match step05::exec::exec(&root, &id, &process, options) {
                Ok(status) => return std::process::ExitCode::from(status as u8),
                Err(e) => Err(e),
            }
        }
        Command::Pause { id } => step05::lifecycle::freeze(&root, &id, true),
        Command::Resume { id } => step05::lifecycle::freeze(&root, &id, false),
        Command::State { id } => step05::lifecycle::state_json(&root, &id)
            .and_then(|json| writeln!(out, "{json}").map_err(Into::into)),
        Command::Ps { all, id: None, .. } => step05::monitor::ps::table(&root, all)
            .and_then(|table| out.write_all(table.as_bytes()).map_err(Into::into)),
        Command::Ps {
            id: Some(id),
            format,
            ..
        } => match format {
            cli::PsFormat::Table => step05::monitor::top::top(&root, &id, &mut out),
            cli::PsFormat::Json => step05::monitor::top::pids_json(&root, &id)
                .and_then(|json| writeln!(out, "{json}").map_err(Into::into)),
        },
        Command::Logs { follow, id } => step05::monitor::logs::logs(&root, &id, follow, &mut out),
        Command::Stop { time, id } => {
            step05::monitor::stop::stop(&root, &id, time.as_deref(), &mut out)
        }
        Command::Rm { force, id } => step05::monitor::stop::rm(&root, &id, force, &mut out),
        Command::Stats { no_stream, ids } => {
            step05::monitor::stats::stats(&root, &ids, no_stream, &mut out)
        }
        Command::Top { id } => step05::monitor::top::top(&root, &id, &mut out),
        Command::Demo { demo } => demo_command(demo, &root, &mut out),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => fail(log.as_ref(), e),
    }
}

/// Print the error as one line, also into `--log` when given.
fn fail(
    log: Option<&(std::path::PathBuf, step05::log::Format)>,
    err: anyhow::Error,
) -> std::process::ExitCode {
    if let Some((path, format)) = log {
        if let Err(e) = step05::log::error(path, *format, &format!("{err:#}")) {
            eprintln!("warning: {e:#}");
        }
    }
    step01::exit_with(Err(err))
}

fn run(args: cli::RunArgs, root: &StateRoot) -> anyhow::Result<i32> {
    let explain = step05::explain::Explain(args.explain);
    let mut config = match (&args.bundle, &args.id) {
        (Some(bundle), Some(id)) => step05::oci::load(bundle, id)?,
        _ => step05::config_from_flags(&args.flags)?,
    };
    config.no_pivot = args.no_pivot;
    // tincan holds the terminal itself; detached, nobody would.
    step05::terminal::check(config.terminal.is_some(), None, args.detach)?;
    if args.detach {
        let id = step05::monitor::detach::run(&config, root)?;
        println!("{id}");
        return Ok(0);
    }
    step05::container::run(&config, root, explain)
}

/// `tincan demo NAME`.
fn demo_command(demo: cli::Demo, root: &StateRoot, out: &mut impl Write) -> anyhow::Result<()> {
    let cli::Demo::Microservices {
        rootfs,
        port,
        own_netns,
    } = demo;
    let options = step05::net::demo::Options {
        rootfs,
        host_port: port,
        own_netns,
    };
    let table = step05::net::demo::microservices(root, &options)?;
    out.write_all(table.as_bytes())?;
    Ok(())
}
