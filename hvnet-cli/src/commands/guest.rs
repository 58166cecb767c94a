//! `hvnet guest up|down NAME`: create or remove one guest's links (and a dynamic bridge with
//! its first or last guest), transactionally, leaving every other guest alone.
//!
//! `hvnet guest args|xml|macs NAME`: a guest's NICs as QEMU arguments, libvirt
//! `<interface>` XML, or its MAC plan. The host-side names are resolved against the live
//! host (the current namespace) exactly as `apply` does, so they name what `apply` made;
//! `--offline` resolves against an empty host instead (names from the config and
//! generation only).

use clap::{Subcommand, ValueEnum};
use hvnet_core::config::Config;
use hvnet_core::engine::{Intent, Scope};
use hvnet_core::observed::ObservedState;
use hvnet_kvm::{libvirt, macs, qemu};

use crate::cli::Global;
use crate::commands::mutate;
use crate::context::{engine, engine_error, load_config, reader};
use crate::error::{CliError, CliResult};

/// `hvnet guest …` subcommands.
#[derive(Debug, Subcommand)]
pub enum GuestCmd {
    /// Create the guest's taps/veths (and its dynamic bridges) as `apply` would.
    Up {
        /// The guest.
        name: String,
        /// Print the equivalent commands and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove the guest's links (and a dynamic bridge left without guests).
    Down {
        /// The guest.
        name: String,
        /// Print the equivalent commands and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// QEMU arguments (-netdev tap … -device virtio-net-pci …), one tap NIC per line.
    Args {
        /// The guest.
        name: String,
        /// Resolve interface names from the config alone, without reading the host.
        #[arg(long)]
        offline: bool,
    },
    /// libvirt <interface type='bridge'> snippets, one per tap NIC.
    Xml {
        /// The guest.
        name: String,
        /// Resolve interface names from the config alone, without reading the host.
        #[arg(long)]
        offline: bool,
    },
    /// The guest's MACs: a table, or seed 000's GUEST_NAME_setmac.sh.
    Macs {
        /// The guest.
        name: String,
        /// `plain`: NIC NETWORK IFNAME MAC; `setmac`: export ethmacVM1=… lines.
        #[arg(long, value_enum, default_value_t = MacFormat::Plain)]
        format: MacFormat,
        /// Resolve interface names from the config alone, without reading the host.
        #[arg(long)]
        offline: bool,
    },
}

/// Output format of `hvnet guest macs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MacFormat {
    /// A table: NIC NETWORK IFNAME MAC.
    Plain,
    /// Seed 000's GUEST_NAME_setmac.sh (export ethmacVM1=…).
    Setmac,
    /// Like seed 000's `hv_guest_start -view`: `<network> network MAC = …`.
    View,
}

pub fn run(g: &Global, cmd: &GuestCmd) -> CliResult {
    let (name, offline) = match cmd {
        GuestCmd::Up { name, dry_run } => return lifecycle(g, name, true, *dry_run),
        GuestCmd::Down { name, dry_run } => return lifecycle(g, name, false, *dry_run),
        GuestCmd::Args { name, offline }
        | GuestCmd::Xml { name, offline }
        | GuestCmd::Macs { name, offline, .. } => (name, *offline),
    };
    let cfg = load_config(g)?;
    let Some(guest) = cfg.guest(name) else {
        return Err(unknown_guest(g, &cfg, name));
    };
    let observed = if offline {
        ObservedState::default()
    } else {
        // Names not made yet are predicted as `guest up` will choose them (the hints).
        reader(g)?
            .observe(&cfg, &Scope::Guest(name.clone()))
            .map_err(engine_error)?
    };
    let nics = hvnet_kvm::planned_nics(&cfg, &observed, guest, !offline)
        .map_err(|e| CliError::Input(e.to_string()))?;
    let out = match cmd {
        GuestCmd::Args { .. } => {
            let host = qemu::QemuHost {
                ifindex: observed
                    .links
                    .iter()
                    .filter(|l| matches!(l.kind, hvnet_core::observed::ObservedKind::Macvtap(_)))
                    .map(|l| (l.name.clone(), l.ifindex))
                    .collect(),
                vhost_net: std::path::Path::new("/dev/vhost-net").exists(),
            };
            qemu::args_for(&nics, &host)
        }
        GuestCmd::Xml { .. } => libvirt::interfaces(&nics),
        GuestCmd::Macs { format, .. } => match format {
            MacFormat::Plain => macs::plain(&nics),
            MacFormat::Setmac => macs::setmac(&nics),
            MacFormat::View => macs::view(&nics),
        },
        GuestCmd::Up { .. } | GuestCmd::Down { .. } => String::new(),
    };
    print!("{out}");
    Ok(())
}

/// `guest up` / `guest down`.
fn lifecycle(g: &Global, name: &str, up: bool, dry_run: bool) -> CliResult {
    let cfg = load_config(g)?;
    if cfg.guest(name).is_none() {
        return Err(unknown_guest(g, &cfg, name));
    }
    let (intent, what) = if up {
        (Intent::Up, "guest up")
    } else {
        (Intent::Down, "guest down")
    };
    let mut engine = engine(g)?;
    let scope = Scope::Guest(name.to_string());
    mutate(g, &mut engine, &cfg, &scope, intent, dry_run, what).map(drop)
}

/// Exit 2, naming the config file and the guests it has.
pub(crate) fn unknown_guest(g: &Global, cfg: &Config, name: &str) -> CliError {
    let known: Vec<&str> = cfg.guests.iter().map(|g| g.name.as_str()).collect();
    let known = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    CliError::Input(format!(
        "{}: no guest {name:?} (known guests: {known})",
        g.config.display()
    ))
}
