//! `hvnet check [--json]`: compare the live host with the config, change nothing, and exit
//! 1 listing every difference (each as the op `apply` would run to fix it).
//!
//! Covers everything `apply` manages: links, their attributes and masters, hairpin,
//! addresses, routes, sysctls, rate limits, hvnet's firewall chains (each missing or extra
//! rule and jump is named) and the dnsmasq daemons (running, files current).

use hvnet_core::op::Op;
use serde_json::json;

use crate::cli::Global;
use crate::commands::plan::compute_with;
use crate::context::{host, load_config, state_dir};
use crate::error::{CliError, CliResult};

pub fn run(g: &Global, as_json: bool) -> CliResult {
    let cfg = load_config(g)?;
    let mut host = host()?;
    crate::context::prepare(g, &mut host)?;
    let c = compute_with(
        &cfg,
        &mut host,
        &state_dir(g),
        &g.config.display().to_string(),
    )?;
    let plan = c.plan;
    // The firewall op says "rewrite the chains"; name what is actually wrong.
    let fw_details: Vec<String> = match (&c.desired.firewall, &c.observed.firewall) {
        (Some(want), Some(have)) => have.diff(want).iter().map(|d| d.to_string()).collect(),
        _ => Vec::new(),
    };
    let why = |op: &Op| -> Vec<String> {
        match op {
            Op::SetFirewall { .. } => fw_details.clone(),
            Op::StartDhcp(svc) => match c.observed.dhcp(&svc.network) {
                Some(o) if o.pid.is_none() => vec![format!(
                    "dnsmasq of network {} is not running (found dead or never started)",
                    svc.network
                )],
                _ => vec![],
            },
            Op::StopDhcp { network, .. }
                if c.desired.dhcp.iter().any(|d| d.network == *network) =>
            {
                vec![format!(
                    "dnsmasq of network {network} runs with an outdated configuration file"
                )]
            }
            Op::ReloadDhcpHosts { network, .. } => {
                vec![format!(
                    "the DHCP hosts file of network {network} is outdated"
                )]
            }
            _ => vec![],
        }
    };
    if as_json {
        let diffs: Vec<_> = plan
            .ops
            .iter()
            .map(|op| json!({ "link": op.link().map(|l| l.to_string()), "fix": op.to_string(), "command": op.command(), "details": why(op) }))
            .collect();
        let doc = json!({ "in_sync": plan.is_empty(), "differences": diffs });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).map_err(CliError::runtime)?
        );
    } else if plan.is_empty() {
        println!("in sync with {}", g.config.display());
    } else {
        println!(
            "{} difference(s) from {} (fix with `hvnet apply`):",
            plan.len(),
            g.config.display()
        );
        for op in &plan.ops {
            println!("  - {op}");
            for d in why(op) {
                println!("      {d}");
            }
        }
    }
    if plan.is_empty() {
        Ok(())
    } else {
        Err(CliError::Drift(plan.len()))
    }
}
