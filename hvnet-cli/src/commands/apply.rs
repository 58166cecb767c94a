//! `hvnet apply`: make the host match the config, transactionally.

use hvnet_core::config::{Config, NetworkKind};
use hvnet_core::services::bridge_nf_keys;
use hvnet_core::types::Duration;

use crate::cli::Global;
use crate::commands::{execute, plan::compute_with, print_commands};
use crate::context::{host, load_config, lock, state_dir};
use crate::error::{CliError, CliResult};

pub fn run(g: &Global, dry_run: bool, confirm: Option<Duration>) -> CliResult {
    let cfg = load_config(g)?;
    let lock_fd = if dry_run { None } else { Some(lock(g)?) };
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
    warn_bridge_nf_call(&cfg);
    execute(&mut host, &c.plan, "applied")?;
    host.save_name_hints(&c.name_hints)
        .map_err(CliError::runtime)?;
    match confirm {
        Some(window) if !c.plan.is_empty() => {
            crate::commands::confirm::arm(g, host, &c.plan, window, lock_fd)
        }
        _ => Ok(()),
    }
}

/// Bridged guests' traffic passes the host's iptables when bridge-nf-call is on: say so
/// for bridged networks (seed 004 recommends turning it off) unless the config decides.
fn warn_bridge_nf_call(cfg: &Config) {
    if cfg.host.bridge_nf_call.is_some() {
        return;
    }
    let bridged = cfg.networks.iter().any(|n| n.kind == NetworkKind::Bridge);
    let [key, ..] = bridge_nf_keys();
    let on = crate::context::read_sysctl(&key).is_some_and(|v| v == "1");
    if bridged && on {
        eprintln!(
            "hvnet: warning: {key} = 1: traffic between bridged guests and the LAN passes the host's iptables FORWARD chain; set `[host] bridge_nf_call = false` (seed 004's advice) or `true` to silence this"
        );
    }
}
