//! `hvnet plan`: what `apply` would do, as human text.

use hvnet_core::backend::Observe;
use hvnet_core::plan::plan;
use hvnet_core::resolve::resolve;
use hvnet_kvm::KvmBackend;

use crate::cli::Global;
use crate::context::{host, load_config};
use crate::error::{CliError, CliResult};

pub fn run(g: &Global) -> CliResult {
    let p = compute(g)?;
    print!("{p}");
    Ok(())
}

/// The apply plan for the config in the current namespace.
pub fn compute(g: &Global) -> CliResult<hvnet_core::plan::Plan> {
    let cfg = load_config(g)?;
    let mut host = host()?;
    compute_with(&cfg, &mut host)
}

/// The apply plan of `cfg` against `host`.
pub fn compute_with(
    cfg: &hvnet_core::config::Config,
    host: &mut hvnet_linux::LinuxHost,
) -> CliResult<hvnet_core::plan::Plan> {
    let mut observed = host.observe(&[]).map_err(CliError::runtime)?;
    let desired = resolve(cfg, &observed, &KvmBackend);
    if !desired.sysctls.is_empty() {
        let keys: Vec<_> = desired.sysctls.iter().map(|s| s.key.clone()).collect();
        observed.sysctls = host.read_sysctls(&keys);
    }
    // The config cannot be applied to this host (a foreign link holds a wanted name, an
    // uplink is missing): like any invalid input, nothing was touched.
    plan(&observed, &desired).map_err(|e| CliError::Input(e.to_string()))
}
