//! The services of virtual networks on a [`LinuxHost`]: dnsmasq daemons, hvnet's firewall
//! chains, and sysctl values saved for `down` — observed from and recorded in hvnet's state
//! directory.
//!
//! Layout of the state directory (`/run/hvnet`, or per namespace):
//!
//! | path | what |
//! |---|---|
//! | `net/NETWORK/` | a network's dnsmasq: conf, hostsfile, leases, pid file, log |
//! | `host-dhcp/NETWORK/` | the host's DHCP client on a `host_ip = "dhcp"` bridge: hook, pid, log |
//! | `frr/` | hvnet's zebra and bgpd for the EVPN overlays (see [`crate::frr`]) |
//! | `sysctl/KEY` | a sysctl's value from before hvnet first changed it (`net:ipv4:ip_forward`) |
//! | `journal` | the transaction under way (see [`crate::journal`]) |
//! | `lock`, `lock.rw` | the host lock (see [`crate::LinuxHost`]) |
//! | `names` | per generated-name prefix, where the next name starts (`vnet 12`) |
//!
//! A pid file is only a hint: the daemons are found in `/proc` by the file of their directory
//! that their command line names (see [`crate::dnsmasq`] and [`crate::dhcp_client`]).
//!
//! hvnet's firewall is found by name, by the selected renderer ([`crate::firewall`]): with
//! nftables or iptables-nft one nf_tables dump says whether hvnet's table or chains exist
//! ([`crate::firewall::probe`]), and the tool lists them only then, so a host without them
//! runs no nft or iptables listing; with iptables-legacy they are listed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use hvnet_core::dhcp::{CONF_FILE, HOSTS_FILE};
use hvnet_core::firewall::FirewallKind;
use hvnet_core::observed::{ObservedDhcp, ObservedDhcpClient, ObservedFirewall, ObservedState};
use hvnet_core::op::Op;
use hvnet_core::services::{CLIENT_HOOK, CLIENT_IFACE};
use hvnet_core::state::SysctlKey;

use crate::daemon::Processes;
use crate::dnsmasq::{self, Dnsmasq};
use crate::execute::ExecError;
use crate::firewall::{Choice, Firewall, FirewallBackend, FirewallError};
use crate::host::LinuxHost;

/// Name of the file with the generated-name hints.
const NAMES_FILE: &str = "names";

/// Name of the marker file older versions kept while hvnet's firewall chains were
/// installed; hvnet now finds its chains by name and only removes a stale marker.
const FIREWALL_MARKER: &str = "firewall";

/// A failure reading hvnet's services.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A file of the state directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The firewall could not be listed.
    #[error("cannot read the firewall: {0}")]
    Firewall(#[from] FirewallError),
    /// No state directory was set.
    #[error("no state directory is set")]
    NoStateDir,
}

fn read_opt(path: &Path) -> Result<Option<String>, ServiceError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ServiceError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn dir_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, ServiceError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ServiceError::Io {
                path: dir.to_owned(),
                source,
            })
        }
    };
    let mut out: Vec<(String, PathBuf)> = rd
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect();
    out.sort();
    Ok(out)
}

/// `/proc` could not be listed (looking for the daemons).
fn proc_err(source: io::Error) -> ServiceError {
    ServiceError::Io {
        path: PathBuf::from("/proc"),
        source,
    }
}

/// How the backend `kind` is selected when it is not the host's own (iptables: the
/// nf_tables flavour, whose chains the probe finds).
fn other_choice(kind: FirewallKind) -> Choice {
    match kind {
        FirewallKind::Nftables => Choice::Nftables,
        FirewallKind::Iptables => Choice::Iptables(Some(crate::firewall::Variant::Nft)),
    }
}

/// The file name a saved sysctl is kept under (`net:ipv4:ip_forward`).
fn sysctl_file(key: &SysctlKey) -> String {
    key.path().replace('/', ":")
}

impl LinuxHost {
    /// Sets hvnet's state directory (dnsmasq files, saved sysctls, the firewall marker).
    pub fn set_state_dir(&mut self, dir: impl Into<PathBuf>) {
        self.state_dir = Some(dir.into());
    }

    /// Uses this firewall backend instead of selecting one on first use.
    pub fn set_firewall(&mut self, backend: Firewall) {
        self.firewall = Some(backend);
    }

    /// Selects the firewall backend by `choice` on first use (default: [`Choice::Auto`]).
    pub fn set_firewall_choice(&mut self, choice: Choice) {
        self.firewall_choice = choice;
        self.firewall = None;
    }

    /// The state directory, if set.
    pub fn state_dir(&self) -> Option<&Path> {
        self.state_dir.as_deref()
    }

    fn require_state_dir(&self) -> Result<PathBuf, ServiceError> {
        self.state_dir.clone().ok_or(ServiceError::NoStateDir)
    }

    /// The firewall backend, selected on first use.
    ///
    /// # Errors
    ///
    /// The chosen backend's tools are missing.
    pub fn firewall(&mut self) -> Result<&Firewall, FirewallError> {
        let fw = match self.firewall.take() {
            Some(f) => f,
            None => Firewall::select(self.firewall_choice)?,
        };
        Ok(self.firewall.insert(fw))
    }

    /// The name hints saved by [`save_name_hints`](Self::save_name_hints) (`names` in the
    /// state directory: one `PREFIX NUMBER` line each); none without a state directory.
    pub fn name_hints(&self) -> std::collections::BTreeMap<String, u32> {
        let Some(dir) = &self.state_dir else {
            return Default::default();
        };
        fs::read_to_string(dir.join(NAMES_FILE))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (p, n) = l.split_once(' ')?;
                Some((p.to_string(), n.trim().parse().ok()?))
            })
            .collect()
    }

    /// Records the name hints (after a successful apply) when they changed.
    ///
    /// # Errors
    ///
    /// The file cannot be written.
    pub fn save_name_hints(
        &self,
        hints: &std::collections::BTreeMap<String, u32>,
    ) -> Result<(), ExecError> {
        if *hints == self.name_hints() {
            return Ok(());
        }
        let text: String = hints.iter().map(|(p, n)| format!("{p} {n}\n")).collect();
        let dir = self
            .require_state_dir()
            .map_err(|e| ExecError::State(e.to_string()))?;
        let path = dir.join(NAMES_FILE);
        overwrite(&path, text.as_bytes())
            .map_err(|e| ExecError::State(format!("cannot write {}: {e}", path.display())))
    }

    /// Adds the services to `observed`: the dnsmasq services and host DHCP clients of the
    /// state directory (with their files and whether they run), the saved sysctls (and their
    /// current values), and the generated-name hints.
    ///
    /// # Errors
    ///
    /// Unreadable state files.
    pub fn observe_services(&mut self, observed: &mut ObservedState) -> Result<(), ServiceError> {
        let dir = self.require_state_dir()?;
        let nets = dir_entries(&dir.join("net"))?;
        let clients = dir_entries(&dir.join("host-dhcp"))?;
        // The daemons are found by their command lines (see the dnsmasq and dhcp_client
        // module docs): one scan of /proc for all networks, none without any.
        let frr_dir = hvnet_core::evpn::frr_dir(&dir);
        let frr = frr_dir.is_dir();
        let procs = if nets.is_empty() && clients.is_empty() && !frr {
            Processes::default()
        } else {
            Processes::scan(
                &[dnsmasq::NAMES, crate::dhcp_client::NAMES, crate::frr::NAMES].concat(),
            )
            .map_err(proc_err)?
        };
        observed.frr = Some(if frr {
            crate::frr::observe(&frr_dir, &procs).map_err(|source| ServiceError::Io {
                path: frr_dir.clone(),
                source,
            })?
        } else {
            hvnet_core::evpn::ObservedFrr {
                installed: crate::frr::installed(),
                dir: frr_dir,
                ..Default::default()
            }
        });
        for (network, path) in nets {
            if !path.is_dir() {
                continue;
            }
            let pid = dnsmasq::identity(&path).running_in(&procs).first().copied();
            observed.dhcp.push(ObservedDhcp {
                network,
                conf: read_opt(&path.join(CONF_FILE))?,
                hosts: read_opt(&path.join(HOSTS_FILE))?,
                pid,
                dir: path,
            });
        }
        for (network, path) in clients {
            if !path.is_dir() {
                continue;
            }
            let pid = crate::dhcp_client::identity(&path)
                .running_in(&procs)
                .first()
                .copied();
            observed.dhcp_clients.push(ObservedDhcpClient {
                network,
                interface: read_opt(&path.join(CLIENT_IFACE))?.map(|s| s.trim().to_string()),
                hook: read_opt(&path.join(CLIENT_HOOK))?,
                pid,
                dir: path,
            });
        }
        for (name, path) in dir_entries(&dir.join("sysctl"))? {
            let key = SysctlKey::new(name.split(':'));
            if let Some(v) = read_opt(&path)? {
                observed
                    .saved_sysctls
                    .insert(key.clone(), v.trim().to_string());
            }
            if let Ok(now) = crate::sysctl::read(&key.path()) {
                observed.sysctls.insert(key, now);
            }
        }
        observed.name_hints = self.name_hints();
        Ok(())
    }

    /// Reads hvnet's firewall chains into `observed` (found by name; see the module docs).
    /// A host without iptables has none.
    ///
    /// # Errors
    ///
    /// iptables is installed but failed to list.
    pub fn observe_firewall(&mut self, observed: &mut ObservedState) -> Result<(), ServiceError> {
        let auto = self.firewall_choice == Choice::Auto;
        let backend = match self.firewall() {
            Ok(b) => b,
            Err(e) if auto => {
                // Neither nft nor iptables: nothing of hvnet's can be in them.
                tracing::debug!("no firewall tool, so no firewall of hvnet: {e}");
                observed.firewall = Some(ObservedFirewall::default());
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let skip = match backend {
            Firewall::Iptables(i) => {
                i.variant() == crate::firewall::Variant::Nft
                    && matches!(crate::firewall::probe::hvnet_chains_exist(), Ok(false))
            }
            Firewall::Nftables(_) => false,
        };
        let mut fw = if skip {
            ObservedFirewall::default()
        } else {
            backend.observe()?
        };
        // hvnet's rules left in the other backend (a switch, an older hvnet), found by the
        // same nf_tables dump: iptables-nft chains, or the nftables table.
        let other = match backend {
            Firewall::Nftables(_) => {
                matches!(crate::firewall::probe::hvnet_chains_exist(), Ok(true))
                    .then_some(FirewallKind::Iptables)
            }
            Firewall::Iptables(_) => matches!(
                crate::firewall::probe::table_exists(
                    crate::firewall::probe::NFPROTO_INET,
                    crate::firewall::nftables::TABLE
                ),
                Ok(true)
            )
            .then_some(FirewallKind::Nftables),
        };
        if let Some(kind) = other {
            if let Ok(b) = Firewall::select(other_choice(kind)) {
                if let Some(intent) = b.observe()?.intent {
                    fw.others.insert(kind, intent);
                }
            }
        }
        observed.firewall = Some(fw);
        Ok(())
    }

    /// The shell line `--dry-run` prints for a firewall op, in the selected backend's
    /// commands; `None` for other ops (and when no backend is available).
    pub fn firewall_command(&mut self, op: &Op) -> Option<String> {
        let intent = match op {
            Op::SetFirewall { intent, .. } => Some(&**intent),
            Op::RemoveFirewall { .. } => None,
            Op::FirewallOf {
                backend, intent, ..
            } => {
                let other = Firewall::select(other_choice(*backend)).ok()?;
                return Some(other.commands(intent.as_deref()));
            }
            _ => return None,
        };
        Some(self.firewall().ok()?.commands(intent))
    }

    /// Carries out a service op. Returns `None` for ops that are not services.
    pub(crate) fn run_service(&mut self, op: &Op) -> Option<Result<(), ExecError>> {
        let r = match op {
            Op::SaveSysctl { key, value } => self.state_write(
                &Path::new("sysctl").join(sysctl_file(key)),
                Some(&format!("{value}\n")),
            ),
            Op::ForgetSysctl { key, .. } => {
                self.state_write(&Path::new("sysctl").join(sysctl_file(key)), None)
            }
            Op::SetFirewall { intent, .. } => self
                .firewall()
                .and_then(|b| b.apply(intent))
                .map_err(ExecError::Firewall),
            Op::FirewallOf {
                backend, intent, ..
            } => Firewall::select(other_choice(*backend))
                .and_then(|b| match intent {
                    Some(i) => b.apply(i),
                    None => b.remove(),
                })
                .map_err(ExecError::Firewall),
            Op::RemoveFirewall { .. } => self
                .firewall()
                .and_then(|b| b.remove())
                .map_err(ExecError::Firewall)
                .and_then(|()| self.state_write(Path::new(FIREWALL_MARKER), None)),
            Op::StartDhcp(svc) => Dnsmasq::start(&svc.dir, &svc.conf, &svc.hosts)
                .map(drop)
                .map_err(ExecError::Dnsmasq),
            // Every dnsmasq of the directory, found by its conf path (the op's pid is one).
            Op::StopDhcp { dir, .. } => dnsmasq::stop_all(dir).map_err(ExecError::Dnsmasq),
            Op::StartDhcpClient(c) => crate::dhcp_client::start(c)
                .map(drop)
                .map_err(|e| ExecError::State(e.to_string())),
            Op::StopDhcpClient { dir, .. } => {
                crate::dhcp_client::stop(dir).map_err(|e| ExecError::State(e.to_string()))
            }
            Op::ReloadDhcpHosts { dir, hosts, .. } => {
                dnsmasq::reload_running(dir, hosts).map_err(ExecError::Dnsmasq)
            }
            Op::StartFrr(svc) => {
                crate::frr::start(svc).map_err(|e| ExecError::State(e.to_string()))
            }
            Op::StopFrr { dir, .. } => {
                crate::frr::stop(dir).map_err(|e| ExecError::State(e.to_string()))
            }
            Op::SetVifGuard { dev, guard, old } => {
                self.set_vif_guard(dev.as_str(), guard.as_ref(), old.as_ref())
            }
            Op::EditLines { file, drop, add } => crate::lines::edit(file, drop, add)
                .map_err(|e| ExecError::State(format!("{}: {e}", file.display()))),
            _ => return None,
        };
        if r.is_ok() {
            self.other_writes += 1;
        }
        Some(r)
    }

    /// [`Op::SetVifGuard`]: the rules, in the selected backend ([`crate::firewall::vif`]
    /// or [`crate::firewall::vif_nft`]), then the record. Rules an earlier guard left in
    /// the other backend (the record names the one that wrote them; records without a
    /// name, and rules without a record, are iptables') are removed too. Without the tools
    /// there is nothing to remove, but a guard cannot be set.
    fn set_vif_guard(
        &mut self,
        dev: &str,
        guard: Option<&hvnet_core::vif_guard::VifGuard>,
        old: Option<&hvnet_core::vif_guard::VifGuard>,
    ) -> Result<(), ExecError> {
        let recorded = self
            .state_dir
            .as_deref()
            .and_then(|d| crate::firewall::vif::recorded_backend(d, dev));
        let kind = match self.firewall().cloned() {
            Ok(fw) => {
                set_guard_in(&fw, dev, guard, old)?;
                match fw {
                    Firewall::Iptables(_) => FirewallKind::Iptables,
                    Firewall::Nftables(_) => FirewallKind::Nftables,
                }
            }
            Err(e) if guard.is_some() => return Err(ExecError::Firewall(e)),
            Err(e) => {
                tracing::debug!("no firewall tool, so no rules of {dev} to remove: {e}");
                recorded.unwrap_or(FirewallKind::Iptables)
            }
        };
        // Without a record, only a removal (rules of an hvnet before the records) looks
        // in iptables: a first online costs no listing of the other backend.
        let written = match (recorded, guard) {
            (Some(k), _) => k,
            (None, None) => FirewallKind::Iptables,
            (None, Some(_)) => kind,
        };
        if written != kind {
            // The other backend's tool may be missing: then it holds nothing to remove.
            if let Ok(other) = Firewall::select(other_choice(written)) {
                set_guard_in(&other, dev, None, old)?;
            }
        }
        if let Some(dir) = &self.state_dir {
            crate::firewall::vif::record(dir, dev, guard, kind)
                .map_err(|e| ExecError::State(format!("recording the firewall of {dev}: {e}")))?;
        }
        Ok(())
    }

    /// Writes (`Some`) or removes (`None`) a file under the state directory.
    fn state_write(&self, rel: &Path, text: Option<&str>) -> Result<(), ExecError> {
        let dir = self
            .state_dir
            .as_ref()
            .ok_or_else(|| ExecError::State("no state directory is set".into()))?;
        let path = dir.join(rel);
        match text {
            Some(t) => {
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(|e| {
                        ExecError::State(format!("cannot create {}: {e}", parent.display()))
                    })?;
                }
                fs::write(&path, t)
                    .map_err(|e| ExecError::State(format!("cannot write {}: {e}", path.display())))
            }
            None => remove_file(&path),
        }
    }
}

/// Writes `data` over the file at `path` (created when missing, with its directory) and cuts
/// what is left of a longer old content: the hints file changes on nearly every `guest up`,
/// and overwriting its page costs less than truncating and refilling it. A reader racing
/// the write may see a mix, which is fine for a hint (it only saves probing names).
fn overwrite(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let f = crate::state_file::open_in_dir(path, &crate::state_file::writable())?;
    f.write_all_at(data, 0)?;
    if f.metadata()?.len() > data.len() as u64 {
        f.set_len(data.len() as u64)?;
    }
    Ok(())
}

/// Makes `dev`'s rules in backend `fw` exactly `guard`'s.
fn set_guard_in(
    fw: &Firewall,
    dev: &str,
    guard: Option<&hvnet_core::vif_guard::VifGuard>,
    old: Option<&hvnet_core::vif_guard::VifGuard>,
) -> Result<(), ExecError> {
    match fw {
        Firewall::Iptables(i) => i
            .set_vif_guard(dev, guard, old)
            .map_err(|e| ExecError::Firewall(e.into())),
        Firewall::Nftables(n) => n
            .set_vif_guard(dev, guard)
            .map_err(|e| ExecError::Firewall(e.into())),
    }
}

fn remove_file(path: &Path) -> Result<(), ExecError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ExecError::State(format!(
            "cannot remove {}: {e}",
            path.display()
        ))),
        _ => Ok(()),
    }
}
