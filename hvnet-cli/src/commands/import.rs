//! `hvnet import …`: other tools' network settings → hvnet TOML on stdout.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use hvnet_kvm::import::{libvirt_network, usr_guest_config};

use crate::error::{CliError, CliResult};

/// What to import.
#[derive(Debug, Subcommand)]
pub enum ImportWhat {
    /// Seed 000's usr_guest_config.sh (read as data, never executed) → [[network]]s for
    /// vmbridge, br-DEVICE, br-rtosvnet, vmvnetbridge and br-guest.
    UsrGuestConfig {
        /// The usr_guest_config.sh file.
        file: PathBuf,
    },
    /// A libvirt `<network>` XML (`virsh net-dumpxml NAME`) → one [[network]] (nat, routed,
    /// open or isolated, with its DHCP range and hosts), in the virtual-networks config.
    LibvirtNetwork {
        /// The network XML file.
        file: PathBuf,
    },
}

pub fn run(what: &ImportWhat) -> CliResult {
    match what {
        ImportWhat::UsrGuestConfig { file } => usr_guest_config(file),
        ImportWhat::LibvirtNetwork { file } => libvirt_network(file),
    }
}

fn usr_guest_config(file: &Path) -> CliResult {
    let name = file.display().to_string();
    let text =
        std::fs::read(file).map_err(|e| CliError::Input(format!("{name}: cannot read: {e}")))?;
    let text = String::from_utf8_lossy(&text);
    match usr_guest_config::import(&text, &name) {
        Ok(out) => {
            for w in &out.warnings {
                eprintln!("hvnet: {}", w.in_file(&name));
            }
            print!("{}", out.toml);
            Ok(())
        }
        Err(errors) => Err(CliError::Input(
            errors
                .iter()
                .map(|e| e.in_file(&name))
                .collect::<Vec<_>>()
                .join("\nhvnet: "),
        )),
    }
}

fn libvirt_network(file: &Path) -> CliResult {
    let name = file.display().to_string();
    let text =
        std::fs::read(file).map_err(|e| CliError::Input(format!("{name}: cannot read: {e}")))?;
    let text = String::from_utf8(text)
        .map_err(|e| CliError::Input(format!("{name}: not UTF-8 XML: {e}")))?;
    match libvirt_network::import(&text, &name) {
        Ok(out) => {
            for w in &out.warnings {
                eprintln!("hvnet: {}", w.in_file(&name));
            }
            print!("{}", out.toml);
            Ok(())
        }
        Err(errors) => Err(CliError::Input(
            errors
                .iter()
                .map(|e| e.in_file(&name))
                .collect::<Vec<_>>()
                .join("\nhvnet: "),
        )),
    }
}
