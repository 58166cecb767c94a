//! `hvnet brdelall`: remove every hvnet-owned bridge, like seed 000's `hv_brdelall`.

use hvnet_core::backend::Observe;
use hvnet_core::teardown::brdelall;

use crate::cli::Global;
use crate::commands::execute;
use crate::context::{host, lock};
use crate::error::{CliError, CliResult};

pub fn run(g: &Global, force: bool) -> CliResult {
    let _lock = lock(g)?;
    let mut host = host()?;
    let observed = host.observe(&[]).map_err(CliError::runtime)?;
    let plan = brdelall(&observed, force).map_err(|busy| {
        let list: Vec<String> = busy.iter().map(|b| format!("{} (ports: {})", b.bridge, b.ports.join(", "))).collect();
        CliError::Runtime(format!(
            "refusing to remove bridges with guest ports attached: {}; stop the guests first or use --force",
            list.join("; ")
        ))
    })?;
    execute(&mut host, &plan, "removed")
}
