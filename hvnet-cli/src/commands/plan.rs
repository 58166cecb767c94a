//! `hvnet plan`: what `apply` would do, as human text, or (`--commands`) as the equivalent
//! commands `apply --dry-run` prints.

use hvnet_core::engine::{Intent, Scope};

use crate::cli::Global;
use crate::context::{engine_error, load_config, reader};
use crate::error::CliResult;

pub fn run(g: &Global, commands: bool) -> CliResult {
    let cfg = load_config(g)?;
    let mut engine = reader(g)?;
    let planned = engine
        .plan(&cfg, &Scope::Config, Intent::Up)
        .map_err(engine_error)?;
    if commands {
        super::print_commands(g, engine.host(), &planned.plan);
    } else {
        print!("{}", planned.plan);
    }
    Ok(())
}
