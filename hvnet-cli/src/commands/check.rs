//! `hvnet check [--json]`: compare the live host with the config, change nothing, and exit
//! 1 listing every difference (each as the op `apply` would run to fix it).
//!
//! Covers everything `apply` manages: links, their attributes and masters, hairpin,
//! addresses, routes, sysctls, rate limits, hvnet's firewall chains (each missing or extra
//! rule and jump is named), the dnsmasq daemons (running, files current) and, with EVPN,
//! hvnet's FRR (running, config current; BGP sessions not established and VNIs not
//! advertised are named).

use serde_json::json;

use crate::cli::Global;
use crate::context::{engine_error, load_config, reader};
use crate::error::{CliError, CliResult};

pub fn run(g: &Global, as_json: bool) -> CliResult {
    let cfg = load_config(g)?;
    let mut engine = reader(g)?;
    if let Some(r) = engine.pending().map_err(engine_error)? {
        eprintln!(
            "hvnet: an interrupted `{}` is recorded in the journal; the next mutating command rolls it back",
            r.verb
        );
    }
    for w in hvnet_core::macvtap::caveats(&cfg) {
        eprintln!("hvnet: warning: {w}");
    }
    let c = engine.check(&cfg).map_err(engine_error)?;
    for w in &c.warnings {
        eprintln!("hvnet: warning: {w}");
    }
    let plan = &c.plan;
    let evpn = hvnet_linux::evpn::problems(&cfg, &c.observed);
    let why = |op| c.details(op);
    if as_json {
        let diffs: Vec<_> = plan
            .ops
            .iter()
            .map(|op| json!({ "link": op.link().map(|l| l.to_string()), "fix": op.to_string(), "command": op.command(), "details": why(op) }))
            .collect();
        let doc = json!({ "in_sync": plan.is_empty() && evpn.is_empty(), "differences": diffs, "evpn": evpn });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).map_err(CliError::runtime)?
        );
    } else if plan.is_empty() && evpn.is_empty() {
        println!("in sync with {}", g.config.display());
    } else {
        println!(
            "{} difference(s) from {} (fix with `hvnet apply`):",
            plan.len() + evpn.len(),
            g.config.display()
        );
        for op in &plan.ops {
            println!("  - {op}");
            for d in why(op) {
                println!("      {d}");
            }
        }
        for p in &evpn {
            println!("  - {p}");
        }
    }
    if plan.is_empty() && evpn.is_empty() {
        Ok(())
    } else {
        Err(CliError::Drift(plan.len() + evpn.len()))
    }
}
