//! hvnet's own FRR for the EVPN overlays ([`hvnet_core::evpn`]): one zebra and one bgpd per
//! network namespace, everything of theirs in `STATE/frr/` — configuration (`-f`), pid files
//! (`-i`), the zebra API socket (`-z`), the vty sockets (`--vty_socket`) and logs — so they
//! never meet the system's FRR (`/etc/frr`, `/run/frr`) or another namespace's.
//!
//! They run as root with group `frrvty` (`-u root -g frrvty`: FRR refuses a user outside its
//! vty group, and hvnet's state directory may be private to root), without a TCP vty
//! (`-P 0`), in the foreground of their own process group, in the network namespace of the
//! calling thread. Like dnsmasq ([`crate::dnsmasq`]) they are found by what they are: a
//! process whose `argv[0]` is `zebra` (`bgpd`) and whose command line
//! names `STATE/frr/zebra.conf` (`bgpd.conf`).
//!
//! [`status`] asks bgpd and zebra through `vtysh --vty_socket STATE/frr` for the EVPN
//! sessions and VNIs (`show bgp l2vpn evpn summary json`, `show evpn vni json`).
//!
//! The daemons are looked for in `/usr/lib/frr` (Debian's `frr` package), or in the
//! directory `HVNET_FRR_DIR` names.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hvnet_core::evpn::{FrrService, ObservedFrr, BGPD_CONF, PACKAGE, ZEBRA_CONF};

use crate::daemon::{self, Identity, Processes, SpawnError, StopError};

/// How long a daemon gets to write its pid file.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a daemon gets after `SIGTERM` before `SIGKILL`.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// An error running hvnet's FRR.
#[derive(Debug, thiserror::Error)]
pub enum FrrError {
    /// zebra or bgpd is missing.
    #[error("FRR is not installed: no {0} (Debian: apt-get install {PACKAGE})")]
    NotInstalled(String),
    /// A file or process could not be handled.
    #[error("FRR: {what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or program.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// A daemon did not come up; its log says why.
    #[error("FRR: {daemon} did not start (see {log}): {tail}")]
    NotStarted {
        /// zebra or bgpd.
        daemon: &'static str,
        /// Its log.
        log: String,
        /// The end of its log.
        tail: String,
    },
    /// Another FRR daemon (the system's) runs in this network namespace: two zebras would
    /// fight over the kernel's routes and forwarding entries, and two bgpds over port 179.
    #[error(
        "FRR's {daemon} (pid {pid}) already runs in this network namespace and is not hvnet's; \
         hvnet runs its own FRR for EVPN overlays and cannot share one yet: stop it, or run \
         hvnet's EVPN networks in another namespace (--netns)"
    )]
    Foreign {
        /// zebra or bgpd.
        daemon: String,
        /// Its pid.
        pid: i32,
    },
    /// A daemon could not be stopped.
    #[error("FRR: stopping {daemon}: {why}")]
    Stop {
        /// zebra or bgpd.
        daemon: &'static str,
        /// Why.
        why: String,
    },
}

/// The two daemons, in start order.
const DAEMONS: [&str; 2] = ["zebra", "bgpd"];

/// The directory FRR's daemons are in.
pub fn daemon_dir() -> PathBuf {
    std::env::var_os("HVNET_FRR_DIR").map_or_else(|| PathBuf::from("/usr/lib/frr"), PathBuf::from)
}

/// Whether zebra and bgpd are installed (executable files in [`daemon_dir`]).
pub fn installed() -> bool {
    missing().is_none()
}

fn missing() -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = daemon_dir();
    DAEMONS.iter().map(|d| dir.join(d)).find(|p| {
        !fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

fn names(daemon: &'static str) -> &'static [&'static str] {
    match daemon {
        "zebra" => &["zebra"],
        _ => &["bgpd"],
    }
}

fn conf_file(daemon: &str) -> &'static str {
    if daemon == "zebra" {
        ZEBRA_CONF
    } else {
        BGPD_CONF
    }
}

/// Which processes are daemon `daemon` (`zebra`, `bgpd`) of directory `dir`.
pub(crate) fn identity(dir: &Path, daemon: &'static str) -> Identity {
    Identity {
        names: names(daemon),
        path: dir.join(conf_file(daemon)),
        pid_file: dir.join(format!("{daemon}.pid")),
    }
}

/// The program names to scan `/proc` for.
pub(crate) const NAMES: &[&str] = &["zebra", "bgpd"];

/// hvnet's FRR in `dir` as found (`procs` scanned for at least [`NAMES`]).
pub(crate) fn observe(dir: &Path, procs: &Processes) -> io::Result<ObservedFrr> {
    let read = |f: &str| match fs::read_to_string(dir.join(f)) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    };
    Ok(ObservedFrr {
        installed: installed(),
        dir: dir.to_path_buf(),
        zebra_conf: read(ZEBRA_CONF)?,
        bgpd_conf: read(BGPD_CONF)?,
        zebra_pid: identity(dir, "zebra").running_in(procs).first().copied(),
        bgpd_pid: identity(dir, "bgpd").running_in(procs).first().copied(),
    })
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> FrrError {
    let path = path.display().to_string();
    move |source| FrrError::Io { what, path, source }
}

/// Stops what runs in the service's directory, writes its two files (0644, directory 0755)
/// and starts zebra, then bgpd, each once it wrote its pid file. A daemon that does not come
/// up is stopped with the other.
///
/// # Errors
///
/// [`FrrError`]: not installed, files, a daemon not starting.
pub fn start(svc: &FrrService) -> Result<(), FrrError> {
    if let Some(p) = missing() {
        return Err(FrrError::NotInstalled(p.display().to_string()));
    }
    let dir = &svc.dir;
    if let Some((daemon, pid)) = foreign(dir) {
        return Err(FrrError::Foreign { daemon, pid });
    }
    stop_daemons(dir)?;
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(io_err("creating directory", dir))?;
    for (file, text) in [(ZEBRA_CONF, &svc.zebra_conf), (BGPD_CONF, &svc.bgpd_conf)] {
        let path = dir.join(file);
        fs::write(&path, text).map_err(io_err("writing", &path))?;
    }
    let zserv = dir.join("zserv.api");
    for daemon in DAEMONS {
        let pid_file = dir.join(format!("{daemon}.pid"));
        let log = dir.join(format!("{daemon}.log"));
        let mut cmd = Command::new(daemon_dir().join(daemon));
        cmd.arg("-f")
            .arg(dir.join(conf_file(daemon)))
            .arg("-i")
            .arg(&pid_file)
            .arg("-z")
            .arg(&zserv)
            .arg("--vty_socket")
            .arg(dir)
            .args(["-u", "root", "-g", "frrvty", "-P", "0"]);
        let r = daemon::spawn(cmd, &pid_file, &log, START_TIMEOUT);
        if let Err(e) = r {
            let _ = stop_daemons(dir);
            return Err(match e {
                SpawnError::Io { what, path, source } => FrrError::Io { what, path, source },
                SpawnError::Exited(_) | SpawnError::Timeout => FrrError::NotStarted {
                    daemon,
                    tail: tail(&log),
                    log: log.display().to_string(),
                },
            });
        }
    }
    Ok(())
}

/// A zebra or bgpd that is not hvnet's (its command line does not name `dir`) and runs in
/// the calling thread's network namespace, if there is one.
fn foreign(dir: &Path) -> Option<(String, i32)> {
    let here = fs::read_link("/proc/thread-self/ns/net").ok()?;
    let procs = daemon::Processes::scan(NAMES).ok()?;
    let ours = procs.matching(NAMES, dir);
    let found = procs.all().find_map(|(pid, cmd)| {
        if ours.contains(&pid) || fs::read_link(format!("/proc/{pid}/ns/net")).ok()? != here {
            return None;
        }
        let argv0 = cmd.split(|&b| b == 0).next()?;
        let name = String::from_utf8_lossy(argv0.rsplit(|&b| b == b'/').next()?).into_owned();
        Some((name, pid))
    });
    found
}

/// The last lines of a log.
fn tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(3)..].join(" / ")
}

fn stop_daemons(dir: &Path) -> Result<(), FrrError> {
    // bgpd first: it withdraws its routes while zebra still runs.
    for daemon in DAEMONS.iter().rev() {
        identity(dir, daemon)
            .stop_all(STOP_TIMEOUT)
            .map_err(|e| FrrError::Stop {
                daemon,
                why: match e {
                    StopError::Scan(e) | StopError::Remove(e) => e.to_string(),
                    StopError::Signal { pid, source } => format!("pid {pid}: {source}"),
                },
            })?;
    }
    Ok(())
}

/// Stops hvnet's bgpd and zebra of `dir` (found in `/proc` by their configuration paths) and
/// removes their configuration and sockets (the logs stay). Nothing running is fine.
///
/// # Errors
///
/// A daemon cannot be signalled, or a file cannot be removed.
pub fn stop(dir: &Path) -> Result<(), FrrError> {
    stop_daemons(dir)?;
    for file in [BGPD_CONF, ZEBRA_CONF, "zserv.api", "zebra.vty", "bgpd.vty"] {
        let path = dir.join(file);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_err("removing", &path)(e))
            }
            _ => {}
        }
    }
    Ok(())
}

/// One BGP EVPN session as bgpd reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Session {
    /// The neighbour.
    pub peer: String,
    /// Its state (`Established`, `Active`, `Connect`, …).
    pub state: String,
    /// EVPN prefixes received from it.
    pub prefixes: u64,
}

/// One VNI as zebra reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VniState {
    /// The VNI.
    pub vni: u32,
    /// Its VXLAN device.
    pub device: String,
    /// MACs zebra knows (local and remote).
    pub macs: u64,
    /// Remote VTEPs of its flood list.
    pub remote_vteps: u64,
}

/// The EVPN control plane of hvnet's FRR in `dir`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Status {
    /// The sessions.
    pub sessions: Vec<Session>,
    /// The VNIs zebra knows.
    pub vnis: Vec<VniState>,
    /// The VNIs bgpd advertises (`advertise-all-vni`, the device in the kernel).
    pub advertised: Vec<u32>,
}

impl Status {
    /// The session with `peer`.
    pub fn session(&self, peer: &str) -> Option<&Session> {
        self.sessions.iter().find(|s| s.peer == peer)
    }
}

fn vtysh(dir: &Path, command: &str) -> Result<serde_json::Value, FrrError> {
    let out = Command::new("vtysh")
        .arg("--vty_socket")
        .arg(dir)
        .args(["-c", command])
        .output()
        .map_err(io_err("running", Path::new("vtysh")))?;
    if out.status.success() && out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    if !out.status.success() {
        return Err(FrrError::Io {
            what: "asking",
            path: format!("vtysh --vty_socket {} -c '{command}'", dir.display()),
            source: io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        });
    }
    serde_json::from_slice(&out.stdout).map_err(|e| FrrError::Io {
        what: "parsing the answer of",
        path: format!("vtysh -c '{command}'"),
        source: io::Error::other(e.to_string()),
    })
}

/// Asks hvnet's bgpd and zebra of `dir` for the EVPN sessions and VNIs.
///
/// # Errors
///
/// vtysh cannot be run or answers with something that is not JSON.
pub fn status(dir: &Path) -> Result<Status, FrrError> {
    let bgp = vtysh(dir, "show bgp l2vpn evpn summary json")?;
    let vni = vtysh(dir, "show evpn vni json")?;
    let adv = vtysh(dir, "show bgp l2vpn evpn vni json")?;
    Ok(parse_status(&bgp, &vni, &adv))
}

/// The [`Status`] in the JSON answers of `show bgp l2vpn evpn summary json`,
/// `show evpn vni json` (zebra) and `show bgp l2vpn evpn vni json` (bgpd).
pub fn parse_status(
    bgp: &serde_json::Value,
    vni: &serde_json::Value,
    adv: &serde_json::Value,
) -> Status {
    let all_vnis = adv.get("advertiseAllVnis").and_then(|a| a.as_str()) == Some("Enabled");
    let mut advertised: Vec<u32> = adv
        .as_object()
        .filter(|_| all_vnis)
        .map(|o| {
            o.values()
                .filter(|v| v.get("inKernel").and_then(|k| k.as_str()) == Some("True"))
                .filter_map(|v| u32::try_from(v.get("vni")?.as_u64()?).ok())
                .collect()
        })
        .unwrap_or_default();
    advertised.sort_unstable();
    let mut sessions: Vec<Session> = bgp
        .get("peers")
        .and_then(|p| p.as_object())
        .map(|peers| {
            peers
                .iter()
                .map(|(peer, v)| Session {
                    peer: peer.clone(),
                    state: v
                        .get("state")
                        .and_then(|s| s.as_str())
                        .unwrap_or("unknown")
                        .to_string(),
                    prefixes: v.get("pfxRcd").and_then(|p| p.as_u64()).unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default();
    sessions.sort_by(|a, b| a.peer.cmp(&b.peer));
    let mut vnis: Vec<VniState> = vni
        .as_object()
        .map(|o| {
            o.values()
                .filter_map(|v| {
                    Some(VniState {
                        vni: u32::try_from(v.get("vni")?.as_u64()?).ok()?,
                        device: v
                            .get("vxlanIf")
                            .and_then(|s| s.as_str())
                            .unwrap_or("")
                            .to_string(),
                        macs: v.get("numMacs").and_then(|n| n.as_u64()).unwrap_or(0),
                        remote_vteps: match v.get("numRemoteVteps") {
                            Some(n) => n.as_u64().unwrap_or(0),
                            None => 0,
                        },
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    vnis.sort_by_key(|v| v.vni);
    Status {
        sessions,
        vnis,
        advertised,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_frr_8_answers() {
        let bgp = serde_json::json!({"routerId": "172.16.0.1", "as": 65000, "peers": {
            "172.16.0.254": {"remoteAs": 65000, "state": "Established", "pfxRcd": 6},
            "172.16.0.9": {"remoteAs": 65000, "state": "Active", "pfxRcd": 0}}});
        let vni = serde_json::json!({"100": {"vni": 100, "type": "L2", "vxlanIf": "vxlan100",
            "numMacs": 4, "numArpNd": 0, "numRemoteVteps": 3, "tenantVrf": "default"}});
        let adv = serde_json::json!({"advertiseAllVnis": "Enabled", "numVnis": 1,
            "100": {"vni": 100, "type": "L2", "inKernel": "True"}});
        let s = parse_status(&bgp, &vni, &adv);
        assert_eq!(s.advertised, [100]);
        assert_eq!(s.sessions.len(), 2);
        assert_eq!(
            s.session("172.16.0.9").map(|x| x.state.as_str()),
            Some("Active")
        );
        assert_eq!(s.session("172.16.0.254").map(|x| x.prefixes), Some(6));
        assert_eq!(
            s.vnis,
            [VniState {
                vni: 100,
                device: "vxlan100".into(),
                macs: 4,
                remote_vteps: 3
            }]
        );
        let none = serde_json::Value::Null;
        assert_eq!(parse_status(&none, &none, &none), Status::default());
    }
}
