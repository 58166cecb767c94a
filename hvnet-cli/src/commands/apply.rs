//! `hvnet apply`: make the host match the config, transactionally.

use crate::cli::Global;
use crate::commands::{execute, plan::compute_with, print_commands};
use crate::context::{host, load_config, lock, state_dir};
use crate::error::{CliError, CliResult};

pub fn run(g: &Global, dry_run: bool) -> CliResult {
    let cfg = load_config(g)?;
    let _lock = if dry_run { None } else { Some(lock(g)?) };
    let mut host = host()?;
    crate::context::prepare(g, &mut host)?;
    let c = compute_with(
        &cfg,
        &mut host,
        &state_dir(g),
        &g.config.display().to_string(),
    )?;
    if dry_run {
        print_commands(g, &c.plan);
        return Ok(());
    }
    execute(&mut host, &c.plan, "applied")?;
    host.save_name_hints(&c.name_hints)
        .map_err(CliError::runtime)
}
