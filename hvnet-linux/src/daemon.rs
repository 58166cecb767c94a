//! Starting a supervised daemon (dnsmasq, the host's udhcpc): in the foreground of its own
//! process group, output appended to a log file, and ready once it has written its pid
//! into its pid file. Shared by [`crate::dnsmasq`] and [`crate::dhcp_client`].

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

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
