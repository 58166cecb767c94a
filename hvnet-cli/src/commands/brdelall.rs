//! `hvnet brdelall`: remove every hvnet-owned bridge, like seed 000's `hv_brdelall`.

use std::time::Instant;

use hvnet_core::backend::Query;
use hvnet_core::teardown::brdelall;

use crate::cli::Global;
use crate::commands::recover;
use crate::context::{engine, engine_error};
use crate::error::{CliError, CliResult};

pub fn run(g: &Global, force: bool) -> CliResult {
    let mut engine = engine(g)?;
    recover(&mut engine)?;
    let observed = engine
        .observe_query(&Query::default())
        .map_err(engine_error)?;
    let plan = brdelall(&observed, force).map_err(|busy| {
        let list: Vec<String> = busy.iter().map(|b| format!("{} (ports: {})", b.bridge, b.ports.join(", "))).collect();
        CliError::Runtime(format!(
            "refusing to remove bridges with guest ports attached: {}; stop the guests first or use --force",
            list.join("; ")
        ))
    })?;
    if plan.is_empty() {
        println!("no changes ({} kernel writes)", engine.host().writes());
        return Ok(());
    }
    let started = Instant::now();
    let n = engine.transact("brdelall", &plan).map_err(engine_error)?;
    println!(
        "removed: {n} op(s) in {:.1} ms ({} kernel writes)",
        started.elapsed().as_secs_f64() * 1e3,
        engine.host().writes()
    );
    Ok(())
}
