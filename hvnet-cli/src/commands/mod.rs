//! One file per command.

pub mod apply;
pub mod brdelall;
pub mod check;
pub mod confirm;
pub mod demo;
pub mod docs;
pub mod down;
pub mod guest;
pub mod hooks;
pub mod import;
pub mod kvm;
pub mod leases;
pub mod overlay_view;
pub mod plan;
pub mod rate;
pub mod show;
pub mod stats;
pub mod topology;
pub mod validate;
#[cfg(feature = "xen")]
pub mod xen;

use std::io::IsTerminal;
use std::time::Instant;

use hvnet_core::config::Config;
use hvnet_core::engine::{Engine, Intent, Planned, Scope};
use hvnet_core::plan::Plan;
use hvnet_linux::LinuxHost;

use crate::cli::Global;
use crate::context::engine_error;
use crate::error::CliResult;
use crate::progress::{progress_line, PROGRESS_AFTER};

/// Prints a plan's commands (dry run) — one line per op. With `--netns`, every command of
/// the line (ops joined by `&&` included) is prefixed so that pasting the line runs all of
/// it in that namespace. The firewall's commands are those of the host's backend.
pub fn print_commands(g: &Global, host: &mut LinuxHost, plan: &Plan) {
    if plan.is_empty() {
        println!("# no changes");
    }
    for op in &plan.ops {
        let c = host.firewall_command(op).unwrap_or_else(|| op.command());
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

/// A mutating verb: roll back what a crash left half-done, plan `intent` for `scope` and
/// run it as one journaled transaction (or, with `dry_run`, print its commands under the
/// shared lock). `what` is the verb of the summary line. Returns the plan that ran.
pub fn mutate(
    g: &Global,
    engine: &mut Engine<LinuxHost>,
    cfg: &Config,
    scope: &Scope,
    intent: Intent,
    dry_run: bool,
    what: &str,
) -> CliResult<Planned> {
    if dry_run {
        engine
            .lock(hvnet_core::engine::LockMode::Shared)
            .map_err(engine_error)?;
        if let Some(r) = engine.pending().map_err(engine_error)? {
            eprintln!(
                "hvnet: note: an interrupted `{}` is recorded; the next command rolls it back first",
                r.verb
            );
        }
        let planned = engine.plan(cfg, scope, intent).map_err(engine_error)?;
        print_commands(g, engine.host(), &planned.plan);
        return Ok(planned);
    }
    recover(engine)?;
    let planned = engine.plan(cfg, scope, intent).map_err(engine_error)?;
    for w in &planned.warnings {
        eprintln!("hvnet: warning: {w}");
    }
    execute(engine, &planned, what)?;
    Ok(planned)
}

/// Rolls back an interrupted transaction, saying so on stderr.
pub fn recover(engine: &mut Engine<LinuxHost>) -> CliResult {
    if let Some(r) = engine.recover().map_err(engine_error)? {
        eprintln!(
            "hvnet: rolled back the interrupted `{}` ({} of its {} op(s) had to be undone)",
            r.verb, r.undone, r.recorded
        );
    }
    Ok(())
}

/// Runs a plan transactionally and reports it; `what` is the verb for the summary line.
pub fn execute(engine: &mut Engine<LinuxHost>, planned: &Planned, what: &str) -> CliResult {
    if planned.plan.is_empty() {
        println!("no changes ({} kernel writes)", engine.host().writes());
        return Ok(());
    }
    let started = Instant::now();
    let progress = std::io::stderr().is_terminal();
    if progress {
        engine.host().set_progress(Some(progress_line(what)));
    }
    let applied = engine.apply(planned);
    if progress {
        engine.host().set_progress(None);
        if started.elapsed() >= PROGRESS_AFTER {
            // Clear the progress line.
            eprint!("\r\x1b[K");
        }
    }
    let applied = applied.map_err(engine_error)?;
    println!(
        "{what}: {} op(s) in {:.1} ms ({} kernel writes)",
        applied.ops,
        started.elapsed().as_secs_f64() * 1e3,
        engine.host().writes()
    );
    for w in &applied.warnings {
        eprintln!("hvnet: warning: {w}");
    }
    Ok(())
}
