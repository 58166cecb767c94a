//! `hvnet check [--json]`: compare the live host with the config, change nothing, and exit
//! 1 listing every difference (each as the op `apply` would run to fix it).
//!
//! Covers everything `apply` manages today: links, their attributes and masters, addresses,
//! routes, sysctls and rate limits. (Firewall rules and dnsmasq join when virtual networks
//! are wired into `apply`.)

use serde_json::json;

use crate::cli::Global;
use crate::commands::plan::compute;
use crate::error::{CliError, CliResult};

pub fn run(g: &Global, as_json: bool) -> CliResult {
    let plan = compute(g)?;
    if as_json {
        let diffs: Vec<_> = plan
            .ops
            .iter()
            .map(|op| json!({ "link": op.link().map(|l| l.to_string()), "fix": op.to_string(), "command": op.command() }))
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
        }
    }
    if plan.is_empty() {
        Ok(())
    } else {
        Err(CliError::Drift(plan.len()))
    }
}
