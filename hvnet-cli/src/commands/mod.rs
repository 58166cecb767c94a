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
pub mod plan;
pub mod rate;
pub mod show;
pub mod stats;
pub mod topology;
pub mod validate;
#[cfg(feature = "xen")]
pub mod xen;

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use hvnet_core::config::Config;
use hvnet_core::engine::{Engine, Intent, Planned, Scope};
use hvnet_core::plan::Plan;
use hvnet_linux::LinuxHost;

use crate::cli::Global;
use crate::context::engine_error;
use crate::error::CliResult;

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
        print_commands(g, &planned.plan);
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

/// How long a transaction runs before a terminal gets a progress line.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

/// A progress line on a terminal (`apply: 812/3070 ops`), shown once a transaction has run
/// for [`PROGRESS_AFTER`] and redrawn at most 10 times a second.
fn progress_line(what: &str) -> Box<dyn FnMut(usize, usize)> {
    let what = what.to_string();
    let started = Instant::now();
    let mut last: Option<Instant> = None;
    Box::new(move |done, total| {
        let now = Instant::now();
        if progress_due(now - started, last.map(|l| now - l), done, total) {
            last = Some(now);
            eprint!("\r{what}: {done}/{total} ops");
        }
    })
}

/// Whether to redraw the progress line: a batch of more than one op that has run for
/// [`PROGRESS_AFTER`], at most every 100 ms, and always at its last op.
fn progress_due(
    running: Duration,
    since_last: Option<Duration>,
    done: usize,
    total: usize,
) -> bool {
    let often = since_last.is_none_or(|d| d >= Duration::from_millis(100)) || done == total;
    total > 1 && running >= PROGRESS_AFTER && often
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_shows_only_for_long_batches_and_not_too_often() {
        let ms = Duration::from_millis;
        assert!(!progress_due(ms(999), None, 5, 100), "before a second");
        assert!(progress_due(ms(1000), None, 5, 100));
        assert!(
            !progress_due(ms(1050), Some(ms(50)), 6, 100),
            "redrawn 50 ms ago"
        );
        assert!(progress_due(ms(1100), Some(ms(100)), 7, 100));
        assert!(
            progress_due(ms(1110), Some(ms(10)), 100, 100),
            "the last op"
        );
        assert!(
            !progress_due(ms(5000), None, 1, 1),
            "one op (a rollback step)"
        );
    }
}
