//! The supervised daemons' life cycle (dnsmasq, the host's udhcpc), shared by
//! [`crate::dnsmasq`] and [`crate::dhcp_client`]: start one in the foreground of its own
//! process group with its output appended to a log, ready once its pid file holds its pid;
//! tell whether a pid is still that daemon; stop it (`SIGTERM`, then `SIGKILL`).

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

/// Why a daemon did not come up.
#[derive(Debug)]
pub enum SpawnError {
    /// A file or the process could not be handled (`what` the step, `path` the file).
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or program.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// The daemon exited before writing its pid file.
    Exited(ExitStatus),
    /// No pid file within the timeout (the daemon was killed).
    Timeout,
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SpawnError {
    let path = path.display().to_string();
    move |source| SpawnError::Io { what, path, source }
}

/// The pid in a pid file, if it holds one.
pub fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Starts `cmd` with stdin closed and stdout/stderr appended to `log` (created 0644), in a
/// process group of its own, after removing a stale `pid_file`; returns its pid once
/// `pid_file` holds it, within `timeout`.
///
/// # Errors
///
/// [`SpawnError`]: files, spawning, an early exit or the timeout.
pub fn spawn(
    mut cmd: Command,
    pid_file: &Path,
    log: &Path,
    timeout: Duration,
) -> Result<i32, SpawnError> {
    match fs::remove_file(pid_file) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(io_err("removing stale", pid_file)(e))
        }
        _ => {}
    }
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(log)
        .map_err(io_err("opening", log))?;
    let err = out.try_clone().map_err(io_err("duplicating", log))?;
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(io_err("spawning", Path::new(&program)))?;
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(io_err("waiting for", Path::new(&program)))?
        {
            return Err(SpawnError::Exited(status));
        }
        if read_pid(pid_file) == Some(pid) {
            return Ok(pid);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SpawnError::Timeout);
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// Whether `pid` is alive and its command line's first word ends with one of `names` (a
/// zombie's command line is empty, a recycled pid's differs).
pub fn is_alive(pid: i32, names: &[&str]) -> bool {
    if pid <= 0 || kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmd) => {
            let argv0 = cmd.split(|&b| b == 0).next().unwrap_or_default();
            names.iter().any(|n| argv0.ends_with(n.as_bytes()))
        }
        Err(_) => false,
    }
}

/// Reaps `pid` if it is an exited child of ours (ignored otherwise).
fn reap(pid: i32) {
    let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
}

/// Stops daemon `pid` (one of `names`, see [`is_alive`]): `SIGTERM`, up to `timeout` for it
/// to go, then `SIGKILL` and up to 1 s more; reaps it if it is our child. A pid that is not
/// such a live daemon is left alone.
///
/// # Errors
///
/// The errno of a signal that could not be sent (a process already gone is fine).
pub fn stop(pid: i32, names: &[&str], timeout: Duration) -> Result<(), Errno> {
    let signal = |sig| match kill(Pid::from_raw(pid), sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(e),
    };
    let gone_within = |limit: Duration| {
        let deadline = Instant::now() + limit;
        loop {
            reap(pid);
            if !is_alive(pid, names) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    };
    if !is_alive(pid, names) {
        reap(pid);
        return Ok(());
    }
    signal(Signal::SIGTERM)?;
    if !gone_within(timeout) {
        signal(Signal::SIGKILL)?;
        gone_within(Duration::from_secs(1));
    }
    Ok(())
}
