//! The host's own DHCP client on a bridge (`host_ip = "dhcp"`, seed 000's netif_mode 1):
//! busybox `udhcpc` in the foreground of its own process group, with hvnet's hook script
//! (`hvnet_core::services::client_hook`), its pid file and log in the network's directory.
//!
//! The client is started after the uplink's addresses moved onto the bridge, so the host
//! keeps its address while the client asks the LAN's server again (with the uplink's MAC,
//! which the bridge took); stopping it never releases the lease.
//!
//! A network's client is found by what it is, not only by its pid file: a process whose
//! `argv[0]` is `udhcpc` or `busybox` (any directory) and whose command line names the
//! client's pid file path (`-p STATE/host-dhcp/NETWORK/udhcpc.pid`, which hvnet always
//! passes), found with one scan of `/proc` ([`running`]). A deleted, corrupt or stale pid
//! file never hides a running client, and a pid file naming another process (any busybox
//! shell, say) never gets it signalled. [`start`] first stops every client of the directory,
//! [`stop`] stops all of them.

use std::ffi::OsString;
use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use hvnet_core::services::{CLIENT_HOOK, CLIENT_IFACE, CLIENT_PID};

use crate::daemon::{self, Identity, SpawnError, StopError};
use hvnet_core::state::DhcpClient;
use nix::errno::Errno;

/// The DHCP client binary (busybox's applet, as Debian's `udhcpc` package installs it).
pub const UDHCPC: &str = "udhcpc";
/// The multi-call binary whose `udhcpc` applet stands in when [`UDHCPC`] is not installed.
pub const BUSYBOX: &str = "busybox";
/// The client's log in its directory.
pub const CLIENT_LOG: &str = "udhcpc.log";

/// How long a start waits for the pid file.
const START_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a stop waits before `SIGKILL`.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// A failure starting or stopping the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A file or the process could not be handled.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or program.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// Neither `udhcpc` nor a `busybox` with the `udhcpc` applet is on `PATH`.
    #[error("no DHCP client: neither udhcpc nor busybox with its udhcpc applet is installed (Debian: apt-get install udhcpc)")]
    NotInstalled,
    /// The client exited or wrote no pid file in time.
    #[error("udhcpc on {interface} did not start (see {log})")]
    NotStarted {
        /// The interface.
        interface: String,
        /// Its log.
        log: String,
    },
    /// A signal could not be sent.
    #[error("cannot signal udhcpc (pid {pid}): {source}")]
    Signal {
        /// The pid.
        pid: i32,
        /// The cause.
        source: Errno,
    },
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ClientError {
    let path = path.display().to_string();
    move |source| ClientError::Io { what, path, source }
}

/// How this host runs busybox's DHCP client: a `udhcpc` program (Debian's `udhcpc` package
/// links it to busybox), else the applet of a `busybox` that has one (`busybox udhcpc`).
///
/// Found on `PATH` before anything runs, so a missing client
/// is told apart from a client that ran and failed — `ip netns exec NS udhcpc` on a host
/// without it starts fine and only its inner exec fails.
///
/// ```no_run
/// use hvnet_linux::dhcp_client::Udhcpc;
///
/// match Udhcpc::find() {
///     Some(client) => {
///         let status = client.command().args(["-i", "eth0", "-n", "-q"]).status();
///         println!("{client}: {status:?}");
///     }
///     None => println!("no DHCP client installed"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Udhcpc {
    /// A `udhcpc` executable (or a link to busybox named so).
    Program(PathBuf),
    /// `busybox udhcpc`: this busybox lists the applet.
    Applet(PathBuf),
}

impl Udhcpc {
    /// The client this host has, preferring a `udhcpc` program; `None` when there is none.
    pub fn find() -> Option<Udhcpc> {
        if let Some(p) = find_program(UDHCPC) {
            return Some(Udhcpc::Program(p));
        }
        let busybox = find_program(BUSYBOX)?;
        let list = Command::new(&busybox)
            .arg("--list")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let has = String::from_utf8_lossy(&list.stdout)
            .lines()
            .any(|l| l.trim() == UDHCPC);
        has.then_some(Udhcpc::Applet(busybox))
    }

    /// The words that start the client (`[PATH]` or `[BUSYBOX, "udhcpc"]`), to put after
    /// e.g. `ip netns exec NS`.
    pub fn argv(&self) -> Vec<OsString> {
        match self {
            Udhcpc::Program(p) => vec![p.clone().into_os_string()],
            Udhcpc::Applet(b) => vec![b.clone().into_os_string(), UDHCPC.into()],
        }
    }

    /// A [`Command`] that starts the client; add the client's own arguments.
    pub fn command(&self) -> Command {
        match self {
            Udhcpc::Program(p) => Command::new(p),
            Udhcpc::Applet(b) => {
                let mut c = Command::new(b);
                c.arg(UDHCPC);
                c
            }
        }
    }
}

impl std::fmt::Display for Udhcpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Udhcpc::Program(p) => write!(f, "{}", p.display()),
            Udhcpc::Applet(b) => write!(f, "{} {UDHCPC}", b.display()),
        }
    }
}

/// The first executable file `name` in `PATH`'s (absolute) directories.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// The pid in the client's pid file, if it holds one.
pub fn read_pid(dir: &Path) -> Option<i32> {
    daemon::read_pid(&dir.join(CLIENT_PID))
}

/// The names a client's command line may start with (Debian's `udhcpc` is busybox).
pub(crate) const NAMES: &[&str] = &["udhcpc", "busybox"];

/// Whether `pid` is a live udhcpc (exists, and its command line is udhcpc's or busybox's).
/// This checks the program only, not which network's client it is (see [`running`]).
pub fn is_alive(pid: i32) -> bool {
    daemon::is_alive(pid, NAMES)
}

/// Which processes are the client of directory `dir`.
pub(crate) fn identity(dir: &Path) -> Identity {
    Identity {
        names: NAMES,
        path: dir.join(CLIENT_PID),
        pid_file: dir.join(CLIENT_PID),
    }
}

/// The client processes running for directory `dir`, found in `/proc` by the pid file path
/// their command line names (see the [module docs](self)): the pid file's pid first when it
/// is one of them, the others by ascending pid. Empty when none runs.
///
/// # Errors
///
/// `/proc` cannot be listed.
pub fn running(dir: &Path) -> io::Result<Vec<i32>> {
    identity(dir).running()
}

/// Stops every client already running for the directory (see [`running`]), writes the hook
/// (0755) and the interface record into the client's directory and starts
/// `udhcpc -f -i IF -s HOOK -p PIDFILE -A 5` ([`Udhcpc::find`]: `busybox udhcpc` without
/// the `udhcpc` program), waiting for its pid file.
///
/// # Errors
///
/// [`ClientError::NotInstalled`]; stopping an old client fails; file errors, or the client
/// not coming up within 3 s.
pub fn start(c: &DhcpClient) -> Result<i32, ClientError> {
    let client = Udhcpc::find().ok_or(ClientError::NotInstalled)?;
    let dir = &c.dir;
    stop(dir)?;
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(io_err("creating directory", dir))?;
    let hook = dir.join(CLIENT_HOOK);
    fs::write(&hook, &c.hook).map_err(io_err("writing", &hook))?;
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755))
        .map_err(io_err("chmod 0755", &hook))?;
    let iface = dir.join(CLIENT_IFACE);
    fs::write(&iface, format!("{}\n", c.interface)).map_err(io_err("writing", &iface))?;
    let pid_path = dir.join(CLIENT_PID);
    let log_path = dir.join(CLIENT_LOG);
    let mut cmd = client.command();
    cmd.args(["-f", "-i", c.interface.as_str(), "-A", "5", "-s"])
        .arg(&hook)
        .arg("-p")
        .arg(&pid_path);
    daemon::spawn(cmd, &pid_path, &log_path, START_TIMEOUT).map_err(|e| match e {
        SpawnError::Io { what, path, source } => ClientError::Io { what, path, source },
        SpawnError::Exited(_) | SpawnError::Timeout => ClientError::NotStarted {
            interface: c.interface.to_string(),
            log: log_path.display().to_string(),
        },
    })
}

/// Stops every client running for `dir` (see [`running`]; a missing, corrupt or stale pid
/// file changes nothing): `SIGTERM`, up to 2 s, then `SIGKILL`; removes the pid file. A
/// process that is not a udhcpc with `dir`'s pid file is never signalled. Stopping a client
/// that is not running is a no-op.
///
/// # Errors
///
/// `/proc` cannot be listed, a signal cannot be sent, or the pid file cannot be removed.
pub fn stop(dir: &Path) -> Result<(), ClientError> {
    let id = identity(dir);
    id.stop_all(STOP_TIMEOUT).map(drop).map_err(|e| match e {
        StopError::Scan(e) => io_err("listing", Path::new("/proc"))(e),
        StopError::Signal { pid, source } => ClientError::Signal { pid, source },
        StopError::Remove(e) => io_err("removing", &id.pid_file)(e),
    })
}
