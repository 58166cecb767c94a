//! `hvnet`: declarative guest networking for KVM hosts and Xen Dom0s.
//!
//! Parsing and printing only; the model lives in hvnet-core, kernel effects in hvnet-linux.
//! Exit codes: 0 ok, 1 runtime failure (after rollback), 2 invalid input (nothing touched),
//! 3 lock timeout.

mod cli;
mod commands;
mod context;
mod error;
mod parse;
mod progress;

use std::process::ExitCode;

use cli::{Cli, Command};
use error::CliResult;

fn dispatch(cli: &Cli) -> CliResult {
    let g = &cli.global;
    match &cli.command {
        // The demo makes its own namespaces; everything else runs where --netns says.
        Command::Demo { keep } => return commands::demo::run(g, *keep),
        Command::Validate => return commands::validate::run(g),
        Command::Import { what } => return commands::import::run(what),
        Command::Completions { shell } => return commands::docs::completions(*shell),
        Command::Man { dir } => return commands::docs::man(dir),
        Command::Schema => return commands::docs::schema(),
        _ => context::enter_netns(g)?,
    }
    match &cli.command {
        Command::Plan { commands } => commands::plan::run(g, *commands),
        Command::Check { json } => commands::check::run(g, *json),
        Command::Apply { dry_run, confirm } => commands::apply::run(g, *dry_run, *confirm),
        Command::Confirm => commands::confirm::run(g),
        Command::Show {
            json,
            format,
            offline,
        } => match format {
            cli::ShowFormat::Dot | cli::ShowFormat::Svg => {
                commands::topology::run(g, *format, *offline)
            }
            _ if *offline => Err(error::CliError::Input(
                "--offline needs --format dot or svg".into(),
            )),
            _ => commands::show::run(g, *json || *format == cli::ShowFormat::Json),
        },
        Command::Leases { network, json } => commands::leases::run(g, network.as_deref(), *json),
        Command::Down { dry_run } => commands::down::run(g, *dry_run),
        Command::Brdelall { force } => commands::brdelall::run(g, *force),
        Command::Stats(args) => commands::stats::run(g, args),
        Command::Guest { cmd } => commands::guest::run(g, cmd),
        #[cfg(feature = "xen")]
        Command::Xen { cmd } => commands::xen::run(cmd, &g.config, g.firewall.map(Into::into)),
        Command::Kvm { cmd } => commands::kvm::run(g, cmd),
        Command::Rate {
            guest,
            nic,
            rate,
            egress,
            ingress,
            dry_run,
        } => commands::rate::run(
            g,
            &commands::rate::RateArgs {
                guest,
                nic,
                rate: rate.as_deref(),
                egress: egress.as_deref(),
                ingress: ingress.as_deref(),
                dry_run: *dry_run,
            },
        ),
        Command::Validate | Command::Demo { .. } | Command::Import { .. } => Ok(()),
        Command::Completions { .. } | Command::Man { .. } | Command::Schema => Ok(()),
    }
}

fn main() -> ExitCode {
    // The shipped binary is static (scripts/build.sh): it must not load NSS modules.
    if cfg!(target_feature = "crt-static") {
        // SAFETY: the first thing `main` does; no other thread exists.
        unsafe { hvnet_linux::accounts::nss_files_only() };
    }
    // Run as /etc/xen/scripts/vif-bridge (a symlink): the libxl hotplug, argv as libxl passes it.
    #[cfg(feature = "xen")]
    if let Some(code) = commands::xen::from_argv0() {
        return code;
    }
    // Run as /etc/hvnet/qemu-ifup or qemu-ifdown (a symlink): QEMU's script=/downscript=.
    let cli = match parse::parse(commands::hooks::qemu_argv(std::env::args_os())) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // clap uses 2 for usage errors and 0 for --help/--version.
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let level = match cli.global.verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    match dispatch(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hvnet: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
