//! `hvnet kvm ifup TAP` / `hvnet kvm ifdown TAP`: QEMU's `script=` and `downscript=`.
//!
//! QEMU creates the tap (`-netdev tap,ifname=TAP,script=…,downscript=…`) and runs the script
//! with the tap's name. The tap is matched to a guest NIC of the config by name (the NIC's
//! `ifname`) or, failing that, by MAC (the tap carries the guest's MAC, or its host-side
//! `fe:` form as libvirt sets it). `ifup` adopts the tap (tags it `hvnet:GUEST`), gives it
//! the host-side MAC and the bridge's MTU, attaches it, brings it up, and applies the NIC's
//! rate limits and hairpin — creating a dynamic bridge with its first guest; the tap's own
//! flags (vnet_hdr, multiqueue, owner), which QEMU chose, are kept. `ifdown` removes the
//! NIC's links (and a dynamic bridge left without guests). Both are transactional; the
//! logic is hvnet_kvm::hooks.

use clap::Subcommand;
use hvnet_core::types::IfName;

use crate::cli::Global;
use crate::commands::{execute, recover};
use crate::context::{engine, engine_error, load_config};
use crate::error::{CliError, CliResult};

/// `hvnet kvm …` subcommands.
#[derive(Debug, Subcommand)]
pub enum KvmCmd {
    /// QEMU `script=`: attach the tap QEMU made to its guest NIC's network.
    Ifup {
        /// The tap (QEMU passes its name).
        tap: String,
    },
    /// QEMU `downscript=`: remove the tap's NIC links (and an emptied dynamic bridge).
    Ifdown {
        /// The tap (QEMU passes its name).
        tap: String,
    },
}

pub fn run(g: &Global, cmd: &KvmCmd) -> CliResult {
    let (tap, up) = match cmd {
        KvmCmd::Ifup { tap } => (tap, true),
        KvmCmd::Ifdown { tap } => (tap, false),
    };
    let tap = IfName::new(tap).map_err(|e| CliError::Input(format!("tap name {tap:?}: {e}")))?;
    let cfg = load_config(g)?;
    let mut engine = engine(g)?;
    recover(&mut engine)?;
    let planned = hvnet_kvm::hooks::plan(&mut engine, &cfg, &tap, up).map_err(engine_error)?;
    execute(&mut engine, &planned, if up { "ifup" } else { "ifdown" })
}
