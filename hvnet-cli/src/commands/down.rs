//! `hvnet down`: remove what the config created (its networks' bridges, its guests' links,
//! their dnsmasq daemons, hvnet's firewall chains), detach its uplinks, and put back the
//! sysctls hvnet changed (`ip_forward`) to their values from before.

use hvnet_core::backend::Observe;
use hvnet_core::plan::plan;
use hvnet_core::teardown::down_state;

use crate::cli::Global;
use crate::commands::{execute, print_commands};
use crate::context::{host, load_config, lock, prepare};
use crate::error::{CliError, CliResult};

pub fn run(g: &Global, dry_run: bool) -> CliResult {
    let cfg = load_config(g)?;
    let _lock = if dry_run { None } else { Some(lock(g)?) };
    let mut host = host()?;
    prepare(g, &mut host)?;
    let mut observed = host.observe(&[]).map_err(CliError::runtime)?;
    host.observe_services(&mut observed, hvnet_linux::FirewallRead::IfInstalled)
        .map_err(CliError::runtime)?;
    let p = plan(&observed, &down_state(&cfg, &observed))
        .map_err(|e| CliError::Input(e.to_string()))?;
    if dry_run {
        print_commands(g, &p);
        return Ok(());
    }
    execute(&mut host, &p, "removed")
}
