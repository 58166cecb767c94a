//! `hvnet stats`: per-interface traffic counters and rates, like `iftop -i vif5.0` (Xen seed
//! docs) or two `ip -s link` readings apart. The kernel is read, the links selected and the
//! rates worked out by `hvnet_linux::stats`; this file keeps time and prints.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use hvnet_linux::netlink::Rtnl;
use hvnet_linux::stats::{self as kernel, missing, rows};
use nix::sys::signal::{SigSet, Signal};

mod print;

use print::{json, table};

use crate::cli::{Global, StatsArgs};
use crate::error::{CliError, CliResult};

/// The interval when neither `--interval` nor `--watch INTERVAL` gives one.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

pub fn run(g: &Global, args: &StatsArgs) -> CliResult {
    let interval = interval(args)?;
    let watch = args.watch.is_some();
    let mut rtnl =
        Rtnl::open().map_err(|e| CliError::Runtime(format!("cannot open rtnetlink: {e}")))?;
    // Each reading holds the host lock shared (never a half-built host), and only while it
    // reads: a watch must not keep writers out.
    let mut engine = crate::context::engine(g)?;
    let mut read = || {
        // Counters are readable by anyone: a lock this user cannot take (no state directory
        // it may create) is skipped; a busy one is waited for.
        match engine.lock(hvnet_core::engine::LockMode::Shared) {
            Err(hvnet_core::engine::EngineError::Lock(l)) if !l.timed_out => {}
            other => other.map_err(crate::context::engine_error)?,
        }
        let sample = kernel::sample(&mut rtnl).map_err(CliError::runtime);
        engine.host().release_readers();
        sample
    };
    let mut prev = read()?;
    let missing = missing(&prev, &args.ifnames);
    if !missing.is_empty() {
        return Err(CliError::Input(format!(
            "no such interface: {}",
            missing.join(", ")
        )));
    }
    // Only a watch installs its own SIGINT handling; a single reading dies as usual.
    let stop = if watch { Some(interrupts()?) } else { None };
    let mut deadline = prev.taken + interval;
    loop {
        if wait_until(deadline, stop.as_ref()) {
            return Ok(());
        }
        let cur = read()?;
        let rows = rows(&prev, &cur, &args.ifnames);
        let elapsed = cur.taken.saturating_duration_since(prev.taken);
        let text = if args.json {
            json(elapsed, &rows, !watch)?
        } else {
            let mut t = table(&rows, args.ifnames.is_empty());
            if watch {
                t.push('\n');
            }
            t
        };
        if !print(&text)? || !watch {
            return Ok(());
        }
        prev = cur;
        // Keep to the schedule; after a stall (a slow dump, a stopped process) start afresh.
        deadline += interval;
        if deadline <= Instant::now() {
            deadline = Instant::now() + interval;
        }
    }
}

/// The interval: `--watch INTERVAL` or `--interval` (both only if equal), else 1 s.
fn interval(args: &StatsArgs) -> CliResult<Duration> {
    match (args.interval, args.watch.flatten()) {
        (Some(i), Some(w)) if i != w => Err(CliError::Input(format!(
            "--interval {i} and --watch {w} disagree; give the interval once"
        ))),
        (Some(i), _) | (None, Some(i)) => Ok(i.as_std()),
        (None, None) => Ok(DEFAULT_INTERVAL),
    }
}

/// Blocks SIGINT and SIGTERM in this thread (and so in threads it starts) and receives them
/// on a thread of their own, which reports them on the returned channel.
fn interrupts() -> CliResult<Receiver<()>> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block()
        .map_err(|e| CliError::Runtime(format!("cannot block SIGINT: {e}")))?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if set.wait().is_ok() {
                let _ = tx.send(());
            }
        })
        .map_err(|e| CliError::Runtime(format!("cannot start the signal thread: {e}")))?;
    Ok(rx)
}

/// Sleeps until `deadline`; true if a signal arrived first.
fn wait_until(deadline: Instant, stop: Option<&Receiver<()>>) -> bool {
    let timeout = deadline.saturating_duration_since(Instant::now());
    match stop.map(|rx| rx.recv_timeout(timeout)) {
        Some(Ok(())) => true,
        Some(Err(RecvTimeoutError::Timeout)) => false,
        // No signal thread (or it ended): plain sleep.
        None | Some(Err(RecvTimeoutError::Disconnected)) => {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            false
        }
    }
}

/// Writes `text` to stdout; false when the reader has gone (`hvnet stats --watch | head`).
fn print(text: &str) -> CliResult<bool> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(CliError::Runtime(format!("cannot write to stdout: {e}"))),
    }
}
