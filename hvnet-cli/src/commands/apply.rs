//! `hvnet apply`: make the host match the config, transactionally.

use hvnet_core::engine::{Intent, Scope};
use hvnet_core::types::Duration;

use crate::cli::Global;
use crate::commands::mutate;
use crate::context::{engine, load_config};
use crate::error::CliResult;

pub fn run(g: &Global, dry_run: bool, confirm: Option<Duration>) -> CliResult {
    let cfg = load_config(g)?;
    let mut engine = engine(g)?;
    let planned = mutate(
        g,
        &mut engine,
        &cfg,
        &Scope::Config,
        Intent::Up,
        dry_run,
        "applied",
    )?;
    match confirm {
        Some(window) if !dry_run && !planned.plan.is_empty() => {
            crate::commands::confirm::arm(g, engine.into_host(), &planned.plan, window)
        }
        _ => Ok(()),
    }
}
