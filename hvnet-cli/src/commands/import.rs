//! `hvnet import …`: other tools' network settings → hvnet TOML on stdout.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use hvnet_core::import::{ImportFailure, ImportWarning};
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
    /// xl vif specs → one [[guest]] with a [[guest.nic]] per spec, in order: one spec
    /// (`mac=00:16:3e:4f:94:a9,bridge=br0,rate=100Mb/s@20ms`), one quoted spec, or a whole
    /// `vif = [ '…', '…' ]` line. `rate` is parsed exactly like xl; keys hvnet does not
    /// translate are warned about on stderr.
    #[cfg(feature = "xen")]
    XlVif {
        /// The spec(s): comma-separated key=value as xl reads it, quoted or not, or the
        /// whole `vif = [ … ]` line.
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
        #[cfg(feature = "xen")]
        ImportWhat::XlVif { spec, guest } => xl_vif(spec, guest),
    }
}

/// Prints the warnings (always, also when the import failed: they often explain it), then
/// the TOML or the errors.
fn finish<E>(
    result: Result<(String, Vec<ImportWarning>), ImportFailure<E>>,
    source: &str,
    error: impl Fn(&E) -> String,
) -> CliResult {
    let warnings = match &result {
        Ok((_, w)) => w,
        Err(f) => &f.warnings,
    };
    for w in warnings {
        eprintln!("hvnet: {}", w.in_file(source));
    }
    match result {
        Ok((toml, _)) => {
            print!("{toml}");
            Ok(())
        }
        Err(f) => Err(CliError::Input(
            f.errors
                .iter()
                .map(error)
                .collect::<Vec<_>>()
                .join("\nhvnet: "),
        )),
    }
}

fn read(file: &Path) -> Result<(String, Vec<u8>), CliError> {
    let name = file.display().to_string();
    let bytes =
        std::fs::read(file).map_err(|e| CliError::Input(format!("{name}: cannot read: {e}")))?;
    Ok((name, bytes))
}

fn usr_guest_config(file: &Path) -> CliResult {
    let (name, bytes) = read(file)?;
    let text = String::from_utf8_lossy(&bytes);
    let result = usr_guest_config::import(&text, &name).map(|o| (o.toml, o.warnings));
    finish(result, &name, |e| e.in_file(&name))
}

fn libvirt_network(file: &Path) -> CliResult {
    let (name, bytes) = read(file)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| CliError::Input(format!("{name}: not UTF-8 XML: {e}")))?;
    let result = libvirt_network::import_any(&text, &name);
    finish(result, &name, |e| e.in_file(&name))
}

#[cfg(feature = "xen")]
fn xl_vif(spec: &str, guest: &str) -> CliResult {
    let result = hvnet_xen::import::xl_vif::import(spec, guest).map(|o| (o.toml, o.warnings));
    finish(result, "xl-vif argument", ToString::to_string)
}
