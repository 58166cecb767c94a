//! `hvnet guest up|down NAME`: create or remove one guest's links (and a dynamic bridge with
//! its first or last guest), transactionally, leaving every other guest alone.
//!
//! `hvnet guest args|xml|macs NAME`: a guest's NICs as QEMU arguments, libvirt
//! `<interface>` XML, or its MAC plan. The host-side names are resolved against the live
//! host (the current namespace) exactly as `apply` does, so they name what `apply` made;
//! `--offline` resolves against an empty host instead (names from the config and
//! generation only).

use clap::{Subcommand, ValueEnum};
use hvnet_core::backend::Observe;
use hvnet_core::config::Config;
use hvnet_core::observed::ObservedState;
use hvnet_core::resolve::{next_name_hints, resolve};
use hvnet_core::services::dhcp_clients;
use hvnet_kvm::{guest_nics, libvirt, macs, qemu, KvmBackend};

use hvnet_core::lifecycle::{self as life, Nics};
use hvnet_core::plan::plan;

use crate::cli::Global;
use crate::commands::{execute, print_commands};
use crate::context::{host, load_config, lock};
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
        let mut host = host()?;
        crate::context::prepare(g, &mut host)?;
        let mut o = host.observe(&[]).map_err(CliError::runtime)?;
        // Names not made yet are predicted as `guest up` will choose them.
        o.name_hints = host.name_hints();
        o
    };
    let desired = resolve(&cfg, &observed, &KvmBackend);
    let nics = guest_nics(&cfg, guest, &desired).map_err(|e| CliError::Input(e.to_string()))?;
    let out = match cmd {
        GuestCmd::Args { .. } => qemu::args(&nics),
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
    if up {
        hvnet_core::preflight::check_guest_netns(
            &cfg,
            name,
            &hvnet_linux::netns::list().into_iter().collect(),
        )
        .map_err(|e| CliError::Input(e.to_string()))?;
    }
    let _lock = if dry_run { None } else { Some(lock(g)?) };
    let mut host = host()?;
    crate::context::prepare(g, &mut host)?;
    let mut observed = host.observe(&[]).map_err(CliError::runtime)?;
    observed.name_hints = host.name_hints();
    host.observe_services(&mut observed, hvnet_linux::FirewallRead::Never)
        .map_err(CliError::runtime)?;
    // One guest's change says nothing about the firewall or sysctls (apply's business):
    // left unobserved (the firewall is not even read), the planner leaves them alone.
    observed.saved_sysctls.clear();
    let mut full = resolve(&cfg, &observed, &KvmBackend);
    // A dynamic bridge with host_ip = "dhcp" brings the host's DHCP client along.
    full.dhcp_clients = dhcp_clients(&cfg, &crate::context::state_dir(g), &full);
    let want = if up {
        life::up(&cfg, &full, name, Nics::All)
    } else {
        life::down(&cfg, &full, &observed, name, Nics::All)
    }
    .map_err(|e| CliError::Input(format!("{}: {e}", g.config.display())))?;
    let p = plan(&observed, &want).map_err(|e| CliError::Input(e.to_string()))?;
    if dry_run {
        print_commands(g, &p);
        return Ok(());
    }
    execute(&mut host, &p, if up { "guest up" } else { "guest down" })?;
    host.save_name_hints(&next_name_hints(&cfg, &observed, &want, &KvmBackend))
        .map_err(CliError::runtime)
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
