//! Supervising one dnsmasq per network (DHCP and optional DNS).
//!
//! The files live in the network's state directory, laid out as
//! [`hvnet_core::dhcp::DhcpPaths::in_dir`] says (the conf must be rendered with
//! those paths). The directory is made mode 0755 and the files 0644: dnsmasq
//! drops root for `nobody` and re-reads the hostsfile as that user on
//! `SIGHUP`; an unreadable hostsfile is only logged and the static hosts are
//! silently lost.
//!
//! dnsmasq runs in the network namespace of the **calling thread** (spawn it
//! from [`netns::run_in`](crate::netns::run_in) to put it in a namespace), in
//! the foreground of its own process group (`--keep-in-foreground`, so the
//! pid is the one we spawned and it survives the caller's terminal), logging
//! to `dnsmasq.log` in the state directory. Nothing else is exec'd.
//!
//! Across hvnet runs a network's dnsmasq is found by what it is, not only by
//! its pid file: a process whose `argv[0]` is `dnsmasq` (any directory) and
//! whose command line names the network's conf file
//! (`--conf-file=DIR/dnsmasq.conf`, also `-C DIR/dnsmasq.conf`), found with one
//! scan of `/proc` ([`running`]). The pid file only says which one comes first.
//! So a deleted, corrupt or stale pid file never hides a running daemon, and a
//! pid file naming another process never gets that process signalled.
//! [`Dnsmasq::start`] first stops every dnsmasq of the directory (an orphan
//! would hold the DHCP port, and the new one would exit with "Address already
//! in use"); [`stop_all`] stops all of them. [`is_alive`], [`stop`] and
//! [`reload_hosts`] work on a given pid (its program is checked, not its conf).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hvnet_core::dhcp::{CONF_FILE, HOSTS_FILE, LOG_FILE, PID_FILE};

use crate::daemon::{self, Identity, SpawnError, StopError};
use hvnet_core::types::MacAddr;
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The dnsmasq binary (looked up in `PATH`).
pub const DNSMASQ: &str = "dnsmasq";

/// How long [`Dnsmasq::start`] waits for the pid file.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`stop`] waits after `SIGTERM` before `SIGKILL`.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// How much of the log an error quotes.
const LOG_TAIL_BYTES: u64 = 2048;

/// An error running dnsmasq.
#[derive(Debug, thiserror::Error)]
pub enum DnsmasqError {
    /// A file operation failed.
    #[error("dnsmasq: {step} {}: {source}", path.display())]
    Io {
        /// What we were doing.
        step: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// dnsmasq exited during start-up.
    #[error("dnsmasq exited during start-up ({status}); log {}:\n{log_tail}", log.display())]
    Exited {
        /// Its exit status.
        status: String,
        /// The log file.
        log: PathBuf,
        /// The end of the log.
        log_tail: String,
    },
    /// dnsmasq did not write its pid file in time (it was killed).
    #[error("dnsmasq wrote no pid file within {timeout:?}; log {}:\n{log_tail}", log.display())]
    Timeout {
        /// How long we waited.
        timeout: Duration,
        /// The log file.
        log: PathBuf,
        /// The end of the log.
        log_tail: String,
    },
    /// The pid is not a running dnsmasq.
    #[error("pid {pid} is not a running dnsmasq")]
    NotRunning {
        /// The pid.
        pid: i32,
    },
    /// Sending a signal failed.
    #[error("dnsmasq pid {pid}: sending {signal}: {source}")]
    Signal {
        /// The pid.
        pid: i32,
        /// The signal.
        signal: Signal,
        /// The underlying error.
        #[source]
        source: Errno,
    },
}

fn io_err(step: &'static str, path: &Path) -> impl FnOnce(io::Error) -> DnsmasqError {
    let path = path.to_owned();
    move |source| DnsmasqError::Io { step, path, source }
}

/// A started dnsmasq.
#[derive(Debug)]
pub struct Dnsmasq {
    pid: i32,
    dir: PathBuf,
}

impl Dnsmasq {
    /// Stops every dnsmasq already running for `dir` (see [`running`]), writes
    /// `conf` and `hosts` into `dir` (created 0755 if missing, files
    /// 0644), starts `dnsmasq --keep-in-foreground --conf-file=DIR/dnsmasq.conf
    /// --log-facility=-` with its output in `DIR/dnsmasq.log`, and waits until
    /// it writes its pid file (`DIR/dnsmasq.pid`, which the conf must name).
    ///
    /// # Errors
    ///
    /// Stopping an old daemon fails ([`stop_all`]); file errors, or dnsmasq
    /// exiting or not writing its pid file within 5 s
    /// ([`DnsmasqError::Exited`], [`DnsmasqError::Timeout`], both quoting the
    /// end of the log).
    pub fn start(dir: &Path, conf: &str, hosts: &str) -> Result<Dnsmasq, DnsmasqError> {
        stop_all(dir)?;
        ensure_dir(dir)?;
        let conf_path = dir.join(CONF_FILE);
        write_atomic(&conf_path, conf)?;
        write_atomic(&dir.join(HOSTS_FILE), hosts)?;
        let pid_path = dir.join(PID_FILE);
        let log_path = dir.join(LOG_FILE);
        let mut conf_arg = std::ffi::OsString::from("--conf-file=");
        conf_arg.push(&conf_path);
        let mut cmd = Command::new(DNSMASQ);
        cmd.arg("--keep-in-foreground")
            .arg(conf_arg)
            .arg("--log-facility=-");
        match daemon::spawn(cmd, &pid_path, &log_path, START_TIMEOUT) {
            Ok(pid) => Ok(Dnsmasq {
                pid,
                dir: dir.to_owned(),
            }),
            Err(SpawnError::Io { what, path, source }) => Err(DnsmasqError::Io {
                step: what,
                path: path.into(),
                source,
            }),
            Err(SpawnError::Exited(status)) => Err(DnsmasqError::Exited {
                status: status.to_string(),
                log_tail: log_tail(&log_path),
                log: log_path,
            }),
            Err(SpawnError::Timeout) => Err(DnsmasqError::Timeout {
                timeout: START_TIMEOUT,
                log_tail: log_tail(&log_path),
                log: log_path,
            }),
        }
    }

    /// The daemon's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The pid in a dnsmasq pid file, if it holds one.
pub fn read_pid(path: &Path) -> Option<i32> {
    daemon::read_pid(path)
}

/// Whether `pid` is a live dnsmasq: it exists (`kill(pid, 0)`) and its
/// command line names dnsmasq (a zombie's is empty, a recycled pid's differs).
pub fn is_alive(pid: i32) -> bool {
    daemon::is_alive(pid, &[DNSMASQ])
}

/// The names dnsmasq's `argv[0]` may end in.
pub(crate) const NAMES: &[&str] = &[DNSMASQ];

/// Which processes are the dnsmasq of state directory `dir`.
pub(crate) fn identity(dir: &Path) -> Identity {
    Identity {
        names: NAMES,
        path: dir.join(CONF_FILE),
        pid_file: dir.join(PID_FILE),
    }
}

/// The dnsmasq processes running for state directory `dir`, found in `/proc`
/// by the conf file their command line names (see the [module docs](self)):
/// the pid file's pid first when it is one of them, the others by ascending
/// pid. Empty when none runs. More than one only when something else started
/// one with hvnet's conf (or one was left over); [`stop_all`] and
/// [`Dnsmasq::start`] stop them all.
///
/// # Errors
///
/// `/proc` cannot be listed.
pub fn running(dir: &Path) -> io::Result<Vec<i32>> {
    identity(dir).running()
}

/// Stops every dnsmasq running for state directory `dir` (see [`running`]; a
/// missing, corrupt or stale pid file changes nothing): `SIGTERM`, up to 2 s,
/// then `SIGKILL`; reaps our children; removes the pid file. A process that is
/// not a dnsmasq with `dir`'s conf is never signalled. Stopping when none runs
/// is a no-op.
///
/// # Errors
///
/// `/proc` cannot be listed, a signal cannot be sent, or the pid file cannot be
/// removed.
pub fn stop_all(dir: &Path) -> Result<(), DnsmasqError> {
    let id = identity(dir);
    id.stop_all(STOP_TIMEOUT).map(drop).map_err(|e| match e {
        StopError::Scan(e) => io_err("listing", Path::new("/proc"))(e),
        StopError::Signal { pid, source } => DnsmasqError::Signal {
            pid,
            signal: Signal::SIGTERM,
            source,
        },
        StopError::Remove(e) => io_err("removing", &id.pid_file)(e),
    })
}

/// Stops dnsmasq `pid`: `SIGTERM`, up to 2 s for it to go, then `SIGKILL`.
/// Reaps it if it is our child. Stopping a pid that is not a live dnsmasq is
/// a no-op.
///
/// # Errors
///
/// [`DnsmasqError::Signal`] if a signal cannot be sent (other than to a
/// process that is already gone).
pub fn stop(pid: i32) -> Result<(), DnsmasqError> {
    daemon::stop(pid, &[DNSMASQ], STOP_TIMEOUT).map_err(|source| DnsmasqError::Signal {
        pid,
        signal: Signal::SIGTERM,
        source,
    })
}

/// Replaces the hostsfile in `dir` atomically (write + rename) and sends
/// dnsmasq `pid` `SIGHUP`, which re-reads it without a restart.
///
/// # Errors
///
/// [`DnsmasqError::NotRunning`] if `pid` is not a live dnsmasq (the file is
/// still replaced, for the next start), file or signal errors.
pub fn reload_hosts(dir: &Path, hosts: &str, pid: i32) -> Result<(), DnsmasqError> {
    write_atomic(&dir.join(HOSTS_FILE), hosts)?;
    if !is_alive(pid) {
        return Err(DnsmasqError::NotRunning { pid });
    }
    signal(pid, Signal::SIGHUP)
}

/// [`reload_hosts`] for the dnsmasq running for `dir` (the first of
/// [`running`]; a lost pid file does not matter).
///
/// # Errors
///
/// As [`reload_hosts`]; `/proc` cannot be listed.
pub fn reload_running(dir: &Path, hosts: &str) -> Result<(), DnsmasqError> {
    let pids = running(dir).map_err(io_err("listing", Path::new("/proc")))?;
    reload_hosts(dir, hosts, pids.first().copied().unwrap_or(0))
}

/// One DHCP lease from dnsmasq's leasefile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Expiry, seconds since the epoch (0: infinite).
    pub expiry: u64,
    /// The client's MAC.
    pub mac: MacAddr,
    /// The leased address.
    pub ip: Ipv4Addr,
    /// The client's host name (`*` in the file: none).
    pub hostname: Option<String>,
    /// The client identifier (`*` in the file: none).
    pub client_id: Option<String>,
}

/// One DHCPv6 lease of a dnsmasq leasefile (`EXPIRY IAID IPV6 HOSTNAME DUID`, after the
/// file's `duid SERVER-DUID` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease6 {
    /// Expiry, seconds since the epoch (0: infinite).
    pub expiry: u64,
    /// The identity association's id.
    pub iaid: u32,
    /// The leased address.
    pub ip: Ipv6Addr,
    /// The client's host name (`*` in the file: none).
    pub hostname: Option<String>,
    /// The client's DUID, colon-separated hex.
    pub duid: Option<String>,
}

impl Lease6 {
    /// The client's MAC when its DUID carries one (DUID-LLT or DUID-LL over Ethernet).
    ///
    /// ```
    /// use hvnet_linux::dnsmasq::parse_leases6;
    /// let l = parse_leases6("duid 00:01:00:01:2a\n1700000000 1 fd42::105 web 00:01:00:01:2c:5e:7f:10:02:00:00:3d:00:02\n");
    /// assert_eq!(l[0].mac().map(|m| m.to_string()).as_deref(), Some("02:00:00:3d:00:02"));
    /// ```
    pub fn mac(&self) -> Option<MacAddr> {
        self.duid.as_deref().and_then(hvnet_core::dhcp6::duid_mac)
    }
}

/// Parses the DHCPv6 leases of dnsmasq leasefile text: the lines whose address is IPv6.
pub fn parse_leases6(text: &str) -> Vec<Lease6> {
    let opt = |f: Option<&str>| f.filter(|s| *s != "*").map(str::to_owned);
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let expiry = f.next()?.parse().ok()?;
            let iaid = f.next()?.parse().ok()?;
            let ip = f.next()?.parse().ok()?;
            Some(Lease6 {
                expiry,
                iaid,
                ip,
                hostname: opt(f.next()),
                duid: opt(f.next()),
            })
        })
        .collect()
}

/// The most of a leasefile read: 16 MiB, some 150,000 leases (dnsmasq's own default
/// `dhcp-lease-max` is 1000).
pub const MAX_LEASEFILE_BYTES: u64 = 16 << 20;

/// Reads the leases in the leasefile `path`; a missing file has none. Lines that are not
/// UTF-8 are skipped; see [`leases_with_warnings`] for why they were.
///
/// # Errors
///
/// Read errors other than the file not existing; a path that is not a regular file.
pub fn leases(path: &Path) -> Result<Vec<Lease>, DnsmasqError> {
    leases_with_warnings(path).map(|(l, _)| l)
}

/// Like [`leases`], also returning one warning per skipped line (`PATH:LINE: …`, not
/// UTF-8) and one if the file is larger than [`MAX_LEASEFILE_BYTES`] (the rest is not
/// read). A FIFO, a device or a directory is refused without blocking on it.
///
/// # Errors
///
/// Read errors other than the file not existing; a path that is not a regular file.
pub fn leases_with_warnings(path: &Path) -> Result<(Vec<Lease>, Vec<String>), DnsmasqError> {
    let (text, warnings) = read_leasefile(path)?;
    Ok((parse_leases(&text), warnings))
}

/// The DHCPv6 leases in the leasefile `path` (a missing file has none); the warnings of
/// [`leases_with_warnings`] are left out (it reports them for the same file).
///
/// # Errors
///
/// As [`leases`].
pub fn leases6(path: &Path) -> Result<Vec<Lease6>, DnsmasqError> {
    read_leasefile(path).map(|(text, _)| parse_leases6(&text))
}

/// A leasefile's UTF-8 lines (at most [`MAX_LEASEFILE_BYTES`]) and warnings about the rest.
fn read_leasefile(path: &Path) -> Result<(String, Vec<String>), DnsmasqError> {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; the type is checked on the
    // descriptor opened, so nothing can swap the file in between.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc_nonblock())
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((String::new(), Vec::new())),
        Err(e) => return Err(io_err("opening", path)(e)),
    };
    let meta = file.metadata().map_err(io_err("inspecting", path))?;
    if !meta.is_file() {
        return Err(DnsmasqError::Io {
            step: "reading",
            path: path.to_owned(),
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file (a leasefile is one)",
            ),
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_LEASEFILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err("reading", path))?;
    let mut warnings = Vec::new();
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_LEASEFILE_BYTES {
        bytes.truncate(usize::try_from(MAX_LEASEFILE_BYTES).unwrap_or(usize::MAX));
        // Drop the partial last line.
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        bytes.truncate(keep);
        warnings.push(format!(
            "{}: larger than {} MiB; only the leases in its first {} MiB are shown",
            path.display(),
            MAX_LEASEFILE_BYTES >> 20,
            MAX_LEASEFILE_BYTES >> 20
        ));
    }
    let mut text = String::with_capacity(bytes.len());
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        match std::str::from_utf8(line) {
            Ok(l) => {
                text.push_str(l);
                text.push('\n');
            }
            Err(_) => warnings.push(format!(
                "{}:{}: skipped: the line is not UTF-8",
                path.display(),
                i + 1
            )),
        }
    }
    Ok((text, warnings))
}

/// `O_NONBLOCK` for [`OpenOptionsExt::custom_flags`].
fn libc_nonblock() -> i32 {
    nix::fcntl::OFlag::O_NONBLOCK.bits()
}

/// Parses dnsmasq leasefile text (`EXPIRY MAC IP HOSTNAME CLIENT-ID`, `*`
/// for none). Lines that are not IPv4 Ethernet leases (the `duid` line and
/// DHCPv6 leases, non-Ethernet hardware addresses) are skipped.
pub fn parse_leases(text: &str) -> Vec<Lease> {
    let opt = |f: Option<&str>| f.filter(|s| *s != "*").map(str::to_owned);
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let expiry = f.next()?.parse().ok()?;
            let mac = f.next()?.parse().ok()?;
            let ip = f.next()?.parse().ok()?;
            Some(Lease {
                expiry,
                mac,
                ip,
                hostname: opt(f.next()),
                client_id: opt(f.next()),
            })
        })
        .collect()
}

fn signal(pid: i32, sig: Signal) -> Result<(), DnsmasqError> {
    match kill(Pid::from_raw(pid), sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(source) => Err(DnsmasqError::Signal {
            pid,
            signal: sig,
            source,
        }),
    }
}

/// Creates `dir` (and parents) and makes it 0755, so `nobody` can read in it.
fn ensure_dir(dir: &Path) -> Result<(), DnsmasqError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(io_err("creating directory", dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(io_err("chmod 0755", dir))
}

/// Writes `path` (mode 0644) through a temporary file and a rename, so that
/// dnsmasq never reads a half-written file.
fn write_atomic(path: &Path, contents: &str) -> Result<(), DnsmasqError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(io_err("creating", &tmp))?;
    f.set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(io_err("chmod 0644", &tmp))?;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io_err("writing", &tmp))?;
    fs::rename(&tmp, path).map_err(io_err("renaming into", path))
}

/// The last [`LOG_TAIL_BYTES`] of the log, lossily.
fn log_tail(path: &Path) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = File::open(path) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)));
        let _ = f.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_recipe_leasefile() {
        let text = "1795444332 02:00:00:00:00:11 192.168.100.21 guest1 01:02:00:00:00:00:11
1795444332 02:00:00:00:00:12 192.168.100.22 guest2 *
1795444333 02:00:00:00:00:13 192.168.100.84 * *
duid 00:01:00:01:2c:1f:6e:9a:02:00:00:00:00:01
1795444334 1234 fd00::5 * 00:01:00:01
";
        let l = parse_leases(text);
        assert_eq!(l.len(), 3);
        assert_eq!(
            l[0],
            Lease {
                expiry: 1_795_444_332,
                mac: "02:00:00:00:00:11".parse().expect("mac"),
                ip: Ipv4Addr::new(192, 168, 100, 21),
                hostname: Some("guest1".into()),
                client_id: Some("01:02:00:00:00:00:11".into()),
            }
        );
        assert_eq!(l[1].hostname.as_deref(), Some("guest2"));
        assert_eq!(l[1].client_id, None);
        assert_eq!(l[2].hostname, None);
        assert_eq!(l[2].ip, Ipv4Addr::new(192, 168, 100, 84));
    }

    #[test]
    fn missing_leasefile_is_empty() {
        let l = leases(Path::new("/nonexistent/hvnet/leases")).expect("no error");
        assert!(l.is_empty());
    }

    #[test]
    fn not_alive() {
        assert!(!is_alive(0));
        assert!(!is_alive(-1));
        // Our own process is alive but is not dnsmasq.
        assert!(!is_alive(std::process::id() as i32));
    }
}
