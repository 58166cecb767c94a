//! `hvnet down`: remove what the config created (its networks' bridges, its guests' links,
//! their dnsmasq daemons, hvnet's firewall chains), detach its uplinks, and put back the
//! sysctls hvnet changed (`ip_forward`) to their values from before.

use hvnet_core::engine::{Intent, Scope};

use crate::cli::Global;
use crate::commands::mutate;
use crate::context::{engine, load_config};
use crate::error::CliResult;

pub fn run(g: &Global, dry_run: bool) -> CliResult {
    let cfg = load_config(g)?;
    let mut engine = engine(g)?;
    mutate(
        g,
        &mut engine,
        &cfg,
        &Scope::Config,
        Intent::Down,
        dry_run,
        "removed",
    )
    .map(drop)
}
