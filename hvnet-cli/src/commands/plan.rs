//! `hvnet plan`: what `apply` would do, as human text.

use hvnet_core::backend::Observe;
use hvnet_core::plan::plan;
use hvnet_core::resolve::{next_name_hints, resolve};
use hvnet_core::services::{check_replicated_macs, check_way_out, services};
use hvnet_kvm::KvmBackend;

use crate::cli::Global;
use crate::context::{host, load_config, state_dir};
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
    crate::context::prepare(g, &mut host)?;
    Ok(compute_with(
        &cfg,
        &mut host,
        &state_dir(g),
        &g.config.display().to_string(),
    )?
    .plan)
}

/// A plan with the desired and observed states it was computed from.
pub struct Computed {
    /// The plan.
    pub plan: hvnet_core::plan::Plan,
    /// What the config wants.
    pub desired: hvnet_core::state::DesiredState,
    /// What was found.
    pub observed: hvnet_core::observed::ObservedState,
    /// The generated-name hints to save once the plan is applied.
    pub name_hints: std::collections::BTreeMap<String, u32>,
}

/// The apply plan of `cfg` against `host`, with hvnet's state in `run_dir`.
pub fn compute_with(
    cfg: &hvnet_core::config::Config,
    host: &mut hvnet_linux::LinuxHost,
    run_dir: &std::path::Path,
    source: &str,
) -> CliResult<Computed> {
    host.set_state_dir(run_dir);
    let mut observed = host.observe(&[]).map_err(CliError::runtime)?;
    // A nat network without a way out is bad input: nothing is touched.
    check_way_out(cfg, &observed).map_err(|errs| {
        CliError::Input(
            errs.iter()
                .map(|e| format!("{source}: {e}"))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    hvnet_core::preflight::check_netns(cfg, &hvnet_linux::netns::list().into_iter().collect())
        .map_err(|e| CliError::Input(e.to_string()))?;
    observed.name_hints = host.name_hints();
    check_replicated_macs(cfg, &observed).map_err(|errs| {
        CliError::Input(
            errs.iter()
                .map(|e| format!("{source}: {e}"))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let mut desired = resolve(cfg, &observed, &KvmBackend);
    let name_hints = next_name_hints(cfg, &observed, &desired, &KvmBackend);
    services(cfg, run_dir, &mut desired);
    if !desired.sysctls.is_empty() {
        let keys: Vec<_> = desired.sysctls.iter().map(|s| s.key.clone()).collect();
        observed.sysctls = host.read_sysctls(&keys);
    }
    host.observe_services(
        &mut observed,
        if desired.firewall.is_some() {
            hvnet_linux::FirewallRead::Always
        } else {
            hvnet_linux::FirewallRead::IfInstalled
        },
    )
    .map_err(CliError::runtime)?;
    // The config cannot be applied to this host (a foreign link holds a wanted name, an
    // uplink is missing): like any invalid input, nothing was touched.
    let plan = plan(&observed, &desired).map_err(|e| CliError::Input(e.to_string()))?;
    Ok(Computed {
        plan,
        desired,
        observed,
        name_hints,
    })
}
