//! `hvnet plan`: what `apply` would do, as human text.

use hvnet_core::engine::{Intent, Scope};

use crate::cli::Global;
use crate::context::{engine_error, load_config, reader};
use crate::error::CliResult;

pub fn run(g: &Global) -> CliResult {
    let cfg = load_config(g)?;
    let mut engine = reader(g)?;
    let planned = engine
        .plan(&cfg, &Scope::Config, Intent::Up)
        .map_err(engine_error)?;
    print!("{}", planned.plan);
    Ok(())
}
