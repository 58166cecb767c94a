//! `hvnet validate`: parse and check the config, change nothing.

use crate::cli::Global;
use crate::context::load_config;
use crate::error::CliResult;

pub fn run(g: &Global) -> CliResult {
    let cfg = load_config(g)?;
    let nics: usize = cfg.guests.iter().map(|x| x.nics.len()).sum();
    println!(
        "{}: ok ({} network(s), {} guest(s), {} NIC(s))",
        g.config.display(),
        cfg.networks.len() + cfg.direct.len(),
        cfg.guests.len(),
        nics
    );
    Ok(())
}
