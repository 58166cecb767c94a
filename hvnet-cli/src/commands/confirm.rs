//! `hvnet apply --confirm DURATION` and `hvnet confirm`: apply, then revert automatically
//! unless confirmed in time (like `netplan try`), so a change that cuts the admin off — an
//! uplink moved under a bridge, a wrong address — undoes itself.
//!
//! After a successful apply, hvnet forks a watchdog that keeps the writers' host lock (no
//! other apply can interleave; readers may look) and the inverse of the plan. `hvnet confirm` leaves a `confirmed`
//! file in the state directory; the watchdog sees it and exits, keeping the change. At the
//! deadline without it, the watchdog runs the inverse plan as a journaled transaction, so a
//! watchdog killed half-way through the revert is rolled back by the next command. Its output goes
//! to `STATE/confirm.log`; `STATE/pending` holds its pid while it waits.

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use hvnet_core::engine::Engine;
use hvnet_core::op::Op;
use hvnet_core::plan::Plan;
use hvnet_kvm::KvmBackend;
use hvnet_linux::LinuxHost;
use nix::sys::signal::kill;
use nix::unistd::{fork, setsid, ForkResult, Pid};

use crate::cli::Global;
use crate::context::state_dir;
use crate::error::{CliError, CliResult};

/// The watchdog's pid, while it waits.
const PENDING: &str = "pending";
/// Left by `hvnet confirm` for the watchdog.
const CONFIRMED: &str = "confirmed";
/// The watchdog's log.
const LOG: &str = "confirm.log";

/// Forks the watchdog for an applied `plan` (see the module docs); the parent returns.
pub fn arm(
    g: &Global,
    mut host: LinuxHost,
    plan: &Plan,
    window: hvnet_core::types::Duration,
) -> CliResult {
    let dir = state_dir(g);
    let undo = Plan {
        ops: plan.ops.iter().rev().flat_map(Op::inverse).collect(),
    };
    let _ = fs::remove_file(dir.join(CONFIRMED));
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(LOG))
        .map_err(|e| CliError::Runtime(format!("cannot open {}: {e}", dir.join(LOG).display())))?;
    // Flush what the apply printed so the child does not print it again.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: hvnet is single-threaded here — commands run on the main thread and no thread
    // was spawned for `apply` — so the child may keep running Rust code after fork.
    match unsafe { fork() } {
        Err(e) => Err(CliError::Runtime(format!(
            "cannot start the confirm watchdog: {e}"
        ))),
        Ok(ForkResult::Parent { child }) => {
            fs::write(dir.join(PENDING), format!("{child}\n")).map_err(CliError::runtime)?;
            println!(
                "pending: run `hvnet confirm` within {window} or this change is reverted (watchdog pid {child}, log {})",
                dir.join(LOG).display()
            );
            // The watchdog holds the host lock now: this process must not unlock it on exit
            // (the lock belongs to the open file both processes share).
            std::mem::forget(host);
            Ok(())
        }
        Ok(ForkResult::Child) => {
            let _ = setsid();
            let _ = nix::unistd::dup2_stdout(&log);
            let _ = nix::unistd::dup2_stderr(&log);
            // Readers may look while the watchdog only waits.
            host.release_readers();
            let code = watch(&dir, host, &undo, window.as_std());
            std::process::exit(code);
        }
    }
}

/// The watchdog: waits for `confirmed` until the deadline, else reverts.
fn watch(dir: &Path, host: LinuxHost, undo: &Plan, window: Duration) -> i32 {
    let deadline = Instant::now() + window;
    let confirmed = dir.join(CONFIRMED);
    while Instant::now() < deadline {
        if confirmed.exists() {
            let _ = fs::remove_file(&confirmed);
            let _ = fs::remove_file(dir.join(PENDING));
            println!("confirmed: the change stays");
            return 0;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("not confirmed in time: reverting {} op(s)", undo.len());
    let mut engine = Engine::new(host, KvmBackend);
    let code = match engine.transact("apply --confirm (revert)", undo) {
        Ok(n) => {
            println!("reverted: {n} op(s)");
            0
        }
        Err(e) => {
            println!("revert failed: {e}");
            1
        }
    };
    let _ = fs::remove_file(dir.join(PENDING));
    code
}

/// `hvnet confirm`.
pub fn run(g: &Global) -> CliResult {
    let dir = state_dir(g);
    let pid = fs::read_to_string(dir.join(PENDING))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|p| kill(Pid::from_raw(*p), None).is_ok());
    let Some(pid) = pid else {
        // No watchdog holds the lock: a revert it left half-done is rolled back now.
        let _ = fs::remove_file(dir.join(PENDING));
        crate::commands::recover(&mut crate::context::engine(g)?)?;
        return Err(CliError::Input(format!(
            "nothing to confirm: no `apply --confirm` is pending in {}",
            dir.display()
        )));
    };
    fs::write(dir.join(CONFIRMED), "").map_err(CliError::runtime)?;
    let until = Instant::now() + Duration::from_secs(5);
    while dir.join(PENDING).exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    if dir.join(PENDING).exists() {
        return Err(CliError::Runtime(format!(
            "the watchdog (pid {pid}) did not acknowledge the confirmation; see {}",
            dir.join(LOG).display()
        )));
    }
    println!("confirmed: the change stays");
    Ok(())
}
