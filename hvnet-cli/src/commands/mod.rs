//! One file per command.

pub mod apply;
pub mod brdelall;
pub mod check;
pub mod confirm;
pub mod demo;
pub mod down;
pub mod guest;
pub mod import;
pub mod kvm;
pub mod leases;
pub mod plan;
pub mod rate;
pub mod show;
pub mod stats;
pub mod validate;
pub mod xen;

use std::time::Instant;

use hvnet_core::plan::Plan;
use hvnet_core::txn;
use hvnet_linux::LinuxHost;

use crate::cli::Global;
use crate::context;
use crate::error::{CliError, CliResult};

/// Prints a plan's commands (dry run) — one line per op. With `--netns`, every command of
/// the line (ops joined by `&&` included) is prefixed so that pasting the line runs all of
/// it in that namespace.
pub fn print_commands(g: &Global, plan: &Plan) {
    if plan.is_empty() {
        println!("# no changes");
    }
    for c in plan.commands() {
        match &g.netns {
            Some(ns) => {
                let parts: Vec<String> = c
                    .split(" && ")
                    .map(|p| format!("ip netns exec {ns} {p}"))
                    .collect();
                println!("{}", parts.join(" && "));
            }
            None => println!("{c}"),
        }
    }
}

/// Runs a plan transactionally and reports it; `what` is the verb for the summary line.
pub fn execute(host: &mut LinuxHost, plan: &Plan, what: &str) -> CliResult {
    if plan.is_empty() {
        println!("no changes ({} kernel writes)", host.writes());
        return Ok(());
    }
    let started = Instant::now();
    let n = txn::run(host, plan, context::fault_at()?).map_err(CliError::runtime)?;
    println!(
        "{what}: {n} op(s) in {:.1} ms ({} kernel writes)",
        started.elapsed().as_secs_f64() * 1e3,
        host.writes()
    );
    Ok(())
}
