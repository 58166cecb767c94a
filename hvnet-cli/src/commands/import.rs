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
    /// One xl vif spec (`mac=00:16:3e:4f:94:a9,bridge=br0,rate=100Mb/s@20ms`, an entry of an
    /// xl config's `vif = [ … ]`) → a [[guest]] with one [[guest.nic]] joining the network
    /// named after the bridge. `rate` is parsed exactly like xl.
    XlVif {
        /// The spec: comma-separated key=value, as xl reads it (values cannot contain commas).
        spec: String,
        /// The guest's name in the emitted TOML.
        #[arg(long, default_value = "xen-guest")]
        guest: String,
    },
}

pub fn run(what: &ImportWhat) -> CliResult {
    match what {
        ImportWhat::UsrGuestConfig { file } => usr_guest_config(file),
        ImportWhat::LibvirtNetwork { file } => libvirt_network(file),
        ImportWhat::XlVif { spec, guest } => xl_vif(spec, guest),
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

fn xl_vif(spec: &str, guest: &str) -> CliResult {
    let out = hvnet_xen::import::xl_vif::import(spec, guest)
        .map_err(|e| CliError::Input(e.to_string()))?;
    for w in &out.warnings {
        eprintln!("hvnet: {w}");
    }
    print!("{}", out.toml);
    Ok(())
}
