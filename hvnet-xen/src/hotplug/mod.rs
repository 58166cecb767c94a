//! The libxl vif hotplug entrypoint: a drop-in replacement for Xen's `vif-bridge`,
//! `vif-route`, `vif-nat` and openSUSE's `vif-route-ifup` scripts.
//!
//! * [`env`](mod@env) — argv and environment as libxl sets them;
//! * [`store`] — the backend keys and the `hotplug-status`/`hotplug-error` reports;
//! * [`naming`] — `vif<domid>.<devid>`, `-emu`, `vifname` and IFNAMSIZ;
//! * [`mode`] — which stock script is being replaced;
//! * [`bridge`] — the `vif-bridge` behaviour;
//! * [`route`] — `vif-route` and `vif-route-ifup`;
//! * [`nat`] — `vif-nat`;
//! * [`rules`] — the backend `ip` key;
//! * [`rate`] — the backend `rate` key: validated for a vif (netback enforces it), applied
//!   with tc (IFB + tbf, guest-transmit direction) for an `-emu` tap;
//! * [`plan`] — the call as ops, a pure function of one observation.
//!
//! [`run`] ties them together: read the keys, pick the mode, take the hotplug lock, plan
//! the call against one observation and run it as one journaled transaction of hvnet's
//! engine ([`Session`]), then write `hotplug-status=connected` (vif `online` only) or, on
//! failure, `hotplug-error=<message>` and `hotplug-status=error`. A failed call is rolled
//! back; one killed half-way is rolled back by the next call (or `hvnet xen recover`).
//! The vif's firewall ([`hvnet_core::vif_guard::VifGuard`]) is rendered by
//! hvnet-linux's firewall, the tap's shaping by the engine's IFB and tbf ops.

pub mod bridge;
pub mod env;
pub mod mode;
pub mod naming;
pub mod nat;
pub mod plan;
pub mod rate;
pub mod route;
pub mod route6;
pub mod rules;
pub mod store;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use hvnet_core::engine::Engine;
use hvnet_core::firewall::FirewallChoice;
use hvnet_core::observed::ObservedState;
use hvnet_core::op::Op;
use hvnet_core::types::{IfName, IpCidr, Ipv6Cidr};
use hvnet_core::vif_guard::{GuardMode, VifGuard};
use hvnet_linux::lock::{LockError, LockEx};
use hvnet_linux::LinuxHost;

pub use env::{Action, EnvError, Invocation, TypeIf};
pub use mode::Mode;
pub use store::{BackendKeys, MemStore, Store, XsStore};

/// Where the stock scripts keep their locks (`LOCK_BASEDIR` in `locking.sh`).
pub const DEFAULT_LOCK_DIR: &str = "/var/run/xen-hotplug";

/// The lock taken for the whole run: the stock scripts' `iptables` lock, so that hvnet and
/// stock scripts (and concurrent hvnet runs) never interleave their changes.
pub const LOCK_NAME: &str = "iptables";

/// How long to wait for the lock: half of libxl's 40 s `LIBXL_HOTPLUG_TIMEOUT`, leaving time
/// for the work and for the error report before libxl's SIGKILL.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(20);

/// How the mode is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChoice {
    /// This mode (run as `vif-bridge`, ...).
    Fixed(Mode),
    /// From the backend `script` key; bridge if unset or unknown (`hvnet xen hotplug`).
    FromScriptKey,
    /// From the guest's entry in hvnet's config (run as `vif-hvnet`): the domain's name
    /// (`/local/domain/DOMID/name`) is a `[[guest]]`, NIC number DEVID its `[[guest.nic]]`:
    /// a `routed` network gives `vif-route`, any other the bridge of its network; bridge
    /// (with the backend keys) when the guest or NIC is unknown.
    FromConfig,
}

/// Run options.
#[derive(Debug, Clone)]
pub struct Options {
    /// The mode.
    pub mode: ModeChoice,
    /// The lock directory ([`DEFAULT_LOCK_DIR`]).
    pub lock_dir: PathBuf,
    /// How long to wait for the lock.
    pub lock_timeout: Duration,
    /// The dnsmasq hostsfile of the NAT mode's DHCP entries ([`nat::DEFAULT_DHCP_HOSTS`]).
    pub dhcp_hosts: PathBuf,
    /// Where `vif-route-ifup` looks for `ifcfg-DEV` (`/etc/sysconfig/network`).
    pub sysconfig_dir: PathBuf,
    /// hvnet's config, when there is one: a backend `bridge` key may name one of its
    /// networks (its bridge is used), and [`ModeChoice::FromConfig`] reads its guests.
    pub config: Option<std::sync::Arc<hvnet_core::config::Config>>,
    /// The firewall backend of the vifs' guards ([`FIREWALL_ENV`], else the config's
    /// `[host] firewall`, else auto), as `hvnet apply` chooses the networks'.
    pub firewall: FirewallChoice,
}

/// Chooses the vif guards' firewall backend (`auto`, `nftables`, `iptables`), as
/// `hvnet --firewall` does.
pub const FIREWALL_ENV: &str = "HVNET_FIREWALL";

/// Overrides the lock directory (tests; default [`DEFAULT_LOCK_DIR`], the stock scripts').
pub const LOCK_DIR_ENV: &str = "HVNET_XEN_LOCK_DIR";
/// Overrides the NAT mode's dnsmasq hostsfile (default [`nat::DEFAULT_DHCP_HOSTS`]).
pub const DHCP_HOSTS_ENV: &str = "HVNET_XEN_DHCP_HOSTS";
/// Overrides where `vif-route-ifup` looks for `ifcfg-DEV` (default /etc/sysconfig/network).
pub const SYSCONFIG_ENV: &str = "HVNET_XEN_SYSCONFIG_DIR";

/// A non-empty path from the environment.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

impl ModeChoice {
    /// The mode of a binary run as a hotplug script (`vif-bridge`, `vif-route`,
    /// `vif-route-ifup`, `vif-nat`, or `vif-hvnet` for [`ModeChoice::FromConfig`]); `None`
    /// for any other name.
    ///
    /// ```
    /// use hvnet_xen::hotplug::{Mode, ModeChoice};
    /// assert_eq!(ModeChoice::from_script_name("vif-nat"), Some(ModeChoice::Fixed(Mode::Nat)));
    /// assert_eq!(ModeChoice::from_script_name("vif-hvnet"), Some(ModeChoice::FromConfig));
    /// assert_eq!(ModeChoice::from_script_name("hvnet"), None);
    /// ```
    pub fn from_script_name(name: &str) -> Option<ModeChoice> {
        match name {
            "vif-hvnet" => Some(ModeChoice::FromConfig),
            other => Some(ModeChoice::Fixed(Mode::from_script(other)?)),
        }
    }
}

impl Options {
    /// The options libxl's call gets: `mode`; the lock directory, hostsfile and sysconfig
    /// directory from the environment ([`LOCK_DIR_ENV`], [`DHCP_HOSTS_ENV`],
    /// [`SYSCONFIG_ENV`]) or their defaults; hvnet's config from `config` if it exists and
    /// is valid (a broken config must not stop libxl from bridging a vif: it is reported
    /// and ignored).
    pub fn from_env(mode: ModeChoice, config: &std::path::Path) -> Options {
        let d = Options::default();
        let config = load_config(config);
        let firewall = firewall_from_env().unwrap_or_else(|| {
            config
                .as_ref()
                .and_then(|c| c.host.firewall)
                .unwrap_or_default()
        });
        Options {
            mode,
            lock_dir: env_path(LOCK_DIR_ENV).unwrap_or(d.lock_dir),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            dhcp_hosts: env_path(DHCP_HOSTS_ENV).unwrap_or(d.dhcp_hosts),
            sysconfig_dir: env_path(SYSCONFIG_ENV).unwrap_or(d.sysconfig_dir),
            config,
            firewall,
        }
    }

    /// These options with the guards' firewall backend `firewall` when one is given
    /// (`hvnet --firewall`).
    #[must_use]
    pub fn with_firewall(mut self, firewall: Option<FirewallChoice>) -> Options {
        self.firewall = firewall.unwrap_or(self.firewall);
        self
    }

    /// The lock directory from the environment, or the default.
    pub fn lock_dir_from_env() -> PathBuf {
        env_path(LOCK_DIR_ENV).unwrap_or_else(|| DEFAULT_LOCK_DIR.into())
    }
}

/// The backend [`FIREWALL_ENV`] names (a bad value is reported and ignored).
fn firewall_from_env() -> Option<FirewallChoice> {
    let v = std::env::var(FIREWALL_ENV).ok().filter(|v| !v.is_empty())?;
    v.parse()
        .map_err(|e| tracing::warn!("ignoring {FIREWALL_ENV}={v:?}: {e}"))
        .ok()
}

fn load_config(path: &std::path::Path) -> Option<std::sync::Arc<hvnet_core::config::Config>> {
    let text = std::fs::read_to_string(path).ok()?;
    match hvnet_core::config::Config::parse(&text, &path.display().to_string()) {
        Ok(c) => Some(std::sync::Arc::new(c)),
        Err(e) => {
            tracing::warn!("ignoring {}: {e}", path.display());
            None
        }
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            mode: ModeChoice::FromScriptKey,
            lock_dir: PathBuf::from(DEFAULT_LOCK_DIR),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            dhcp_hosts: PathBuf::from(nat::DEFAULT_DHCP_HOSTS),
            sysconfig_dir: PathBuf::from("/etc/sysconfig/network"),
            config: None,
            firewall: FirewallChoice::Auto,
        }
    }
}

/// What kind of failure (for the exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The host or the keys are not as needed, or the work failed.
    Runtime,
    /// The hotplug lock stayed busy.
    Lock,
}

/// A failed hotplug. Its message is what was written to `hotplug-error` (when
/// [`reported`](Self::reported)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HotplugError {
    /// The kind.
    pub kind: ErrorKind,
    /// The message.
    pub message: String,
    /// Whether `hotplug-error`/`hotplug-status=error` were written.
    pub reported: bool,
}

impl HotplugError {
    /// A runtime failure.
    pub fn runtime(message: impl Into<String>) -> HotplugError {
        HotplugError {
            kind: ErrorKind::Runtime,
            message: message.into(),
            reported: false,
        }
    }
}

/// Runs one hotplug call and reports its outcome in xenstore.
pub fn run(inv: &Invocation, store: &dyn Store, opts: &Options) -> Result<(), HotplugError> {
    match run_inner(inv, store, opts) {
        Ok(()) => {
            if inv.action == Action::Online && inv.type_if == TypeIf::Vif {
                store::report_connected(store, &inv.xenbus_path)
                    .map_err(|e| HotplugError::runtime(e.to_string()))?;
            }
            Ok(())
        }
        Err(mut e) => {
            match store::report_error(store, &inv.xenbus_path, &e.message) {
                Ok(()) => e.reported = true,
                Err(w) => tracing::warn!("cannot report the error in xenstore: {w}"),
            }
            Err(e)
        }
    }
}

/// The network of NIC `devid` of the guest whose domain `domid` is named in hvnet's config,
/// and the NIC's fixed `ip` and `ip6` as an `ip` key would list them (`None`: neither).
fn configured_network<'c>(
    store: &dyn Store,
    cfg: &'c hvnet_core::config::Config,
    domid: u32,
    devid: u32,
) -> Option<(&'c hvnet_core::config::Network, Option<String>)> {
    let name = store
        .read(&format!("/local/domain/{domid}/name"))
        .ok()
        .flatten()?;
    let guest = cfg.guest(name.trim())?;
    let nic = guest.nics.get(usize::try_from(devid).ok()?)?;
    let ips: Vec<String> = nic
        .ip
        .map(|a| a.to_string())
        .into_iter()
        .chain(nic.ip6.map(|a| a.to_string()))
        .collect();
    Some((
        cfg.network(&nic.network)?,
        (!ips.is_empty()).then(|| ips.join(" ")),
    ))
}

fn run_inner(inv: &Invocation, store: &dyn Store, opts: &Options) -> Result<(), HotplugError> {
    let keys = BackendKeys::read(store, &inv.xenbus_path)
        .map_err(|e| HotplugError::runtime(e.to_string()))?;
    let tap = inv.type_if == TypeIf::Tap;
    let ids = keys.ids().or_else(|| inv.path_ids());
    // The guest's network in hvnet's config (vif-hvnet), if it names one.
    let configured = match (opts.mode, &opts.config, ids) {
        (ModeChoice::FromConfig, Some(cfg), Some((domid, devid))) => {
            configured_network(store, cfg, domid, devid)
        }
        _ => None,
    };
    let mode = match opts.mode {
        ModeChoice::Fixed(m) => m,
        ModeChoice::FromScriptKey => Mode::from_script_key(keys.script.as_deref()),
        ModeChoice::FromConfig => match configured {
            Some((n, _)) if n.kind == hvnet_core::config::NetworkKind::Routed => Mode::Route,
            _ => Mode::Bridge,
        },
    };
    // A bridge key may name an hvnet network rather than a device.
    let named_bridge = keys.bridge.as_deref().or(inv.bridge.as_deref());
    let bridge = configured
        .as_ref()
        .map(|(n, _)| n.bridge.as_str())
        .or_else(|| {
            let cfg = opts.config.as_ref()?;
            Some(cfg.network(named_bridge?)?.bridge.as_str())
        })
        .or(named_bridge);
    let given = if tap {
        inv.interface.as_deref()
    } else {
        inv.vif.as_deref()
    };
    let names =
        naming::DeviceNames::resolve(tap, given, ids, keys.vifname.as_deref(), keys.emulated())
            .map_err(|e| HotplugError::runtime(e.to_string()))?;
    let frontend_mtu = match (tap, ids) {
        (false, Some((domid, devid))) => {
            Some(format!("/local/domain/{domid}/device/vif/{devid}/mtu"))
        }
        _ => None,
    };

    // Key checks that need no device come before touching anything.
    let ip_path = inv.key("ip");
    let nat_addrs = match mode {
        Mode::Nat => {
            let (domid, devid) = ids.ok_or_else(|| {
                HotplugError::runtime(format!(
                    "{} has no frontend-id/handle and is not .../<domid>/<devid>",
                    inv.xenbus_path
                ))
            })?;
            Some(nat::NatAddrs::new(
                domid,
                devid,
                keys.ip.as_deref(),
                &ip_path,
            )?)
        }
        _ => None,
    };
    // vif-nat's addresses are hosts (a /len is the guest's netmask); elsewhere a /len is a
    // routed prefix.
    // Without an ip key, a routed guest's fixed `ip` in hvnet's config stands in for it.
    let config_ip = configured.and_then(|(_, ip)| ip);
    let ip_value = keys.ip.as_ref().or(config_ip.as_ref());
    // vif-route takes IPv6 entries too (see `route6`), vif-bridge for its guard only;
    // vif-nat refuses them.
    let (ip_value, nets6, bridged6) = match (mode, ip_value) {
        (Mode::Route | Mode::RouteIfup, Some(v)) => {
            let (v4, v6) = route6::split(&ip_path, v)?;
            (Some(v4), v6, Vec::new())
        }
        (Mode::Bridge, Some(v)) => {
            let (v4, v6) = route6::split(&ip_path, v)?;
            (Some(v4), Vec::new(), v6)
        }
        (_, v) => (v.cloned(), Vec::new(), Vec::new()),
    };
    let nets = match (ip_value.as_ref(), &nat_addrs) {
        (_, Some(a)) => a.guests.clone(),
        (Some(v), None) => rules::parse_ip_list(&ip_path, v, false)?,
        (None, None) => Vec::new(),
    };
    let netdev = inv.netdev.as_deref().or(keys.gatewaydev.as_deref());
    // The rate is checked on the way up only: a bad key must not stop a teardown.
    let up = inv.action.is_up();
    let limit = if up {
        rate::parse_key(keys.rate.as_deref(), &inv.key("rate"))?
    } else {
        None
    };

    let mut session = Session::open_with(&opts.lock_dir, opts.lock_timeout, opts.firewall)?;
    let tap_names = [names.target.as_str(), names.current.as_str()];
    // IPv6 entries' proxy NDP entries live on the uplink, which an offline without
    // netdev must find by the default route: every link is read then.
    let scope =
        scope(&names, mode, bridge, netdev, up).filter(|_| nets6.is_empty() || netdev.is_some());
    let mut observed = session.observe(
        if tap { &tap_names } else { &[] },
        &tap_names,
        scope.as_ref(),
    )?;
    if up && matches!(mode, Mode::Route | Mode::RouteIfup | Mode::Nat) {
        if let Ok(Some(u)) = plan::Planner::new(&observed).find_uplink(netdev) {
            session.observe_proxy_arp(&mut observed, &u.name);
            if !nets6.is_empty() {
                let keys = route6::sysctl_keys(Some(&u.name));
                observed
                    .sysctls
                    .extend(session.engine.host().read_sysctls(&keys));
            }
        }
    }
    if !nets6.is_empty() {
        observed.proxy_ndp = session
            .engine
            .host()
            .rtnl()
            .dump_proxy6()
            .map_err(|e| HotplugError::runtime(e.to_string()))?;
    }
    let mut p = plan::Planner::new(&observed);
    let dev = names.target.as_str();
    let old_guard = session.guard(dev);
    let guard = match (mode, &nat_addrs) {
        (Mode::Nat, Some(addrs)) => {
            if up {
                let uplink = nat::up(&mut p, &names, addrs, tap, netdev)?;
                if let Some(mac) = &keys.mac {
                    let lines = read_lines(&opts.dhcp_hosts)?;
                    let entry = format!("{mac},{},{}", addrs.guests[0].addr(), addrs.hostname);
                    p.hosts_entry(
                        &opts.dhcp_hosts,
                        &lines,
                        mac,
                        Some(addrs.guests[0].addr()),
                        Some(entry),
                    );
                } else {
                    tracing::warn!("{dev}: no mac key, so no DHCP host entry");
                }
                let nets = addrs.guests.iter().map(|g| IpCidr::V4(*g)).collect();
                VifGuard::new(GuardMode::Nat, nets, uplink)
            } else {
                p.routed_down(&names);
                if let Some(mac) = &keys.mac {
                    let lines = read_lines(&opts.dhcp_hosts)?;
                    p.hosts_entry(&opts.dhcp_hosts, &lines, mac, None, None);
                }
                None
            }
        }
        (Mode::Route | Mode::RouteIfup, _) => {
            if up {
                route::up(&mut p, &names, &nets, tap, netdev)?;
                let uplink = p.find_uplink(netdev)?.map(|u| u.name);
                let metric = if tap { 1 } else { 2 };
                route6::up(
                    &observed,
                    &mut p.ops,
                    &names,
                    &nets6,
                    metric,
                    uplink.as_deref(),
                )?;
                VifGuard::new(GuardMode::Routed, both(&nets, &nets6), None)
            } else {
                p.routed_down(&names);
                let uplink = p.find_uplink(netdev).ok().flatten().map(|u| u.name);
                route6::down(&observed, &mut p.ops, &nets6, uplink.as_deref());
                None
            }
        }
        _ => {
            // Anti-spoofing only with an ip key (as the stock handle_iptable); offline
            // removes the rules even when the device is already gone.
            if up {
                p.bridge_up(&names, bridge, keys.mtu)?;
                VifGuard::new(GuardMode::Bridged, both(&nets, &bridged6), None)
            } else {
                p.bridge_down(&names);
                None
            }
        }
    };
    // Rules written before the guards were recorded (hvnet 0.1's empty mark file).
    let legacy = opts.lock_dir.join("hvnet-xen-rules").join(dev);
    let legacy = legacy.is_file().then_some(legacy);
    match (&legacy, IfName::new(dev)) {
        (Some(_), Ok(name)) if old_guard.is_none() => p.ops.push(Op::SetVifGuard {
            dev: name,
            guard,
            old: None,
        }),
        _ => p.guard(dev, guard, old_guard),
    }
    if tap {
        // Netback polices a vif's rate itself; the tap's is hvnet's. The IFB outlives the
        // tap: on the way down it goes under either name.
        if up {
            p.tap_rate(dev, &names.current, limit.as_ref())?;
        } else {
            p.tap_rate(dev, dev, None)?;
            if names.current != names.target {
                p.tap_rate(&names.current, &names.current, None)?;
            }
        }
    }
    let ifupdown = matches!(mode, Mode::RouteIfup);
    if ifupdown && !up {
        if let Err(e) = route::distro_ifupdown(&opts.sysconfig_dir, dev, false) {
            tracing::warn!("{e}");
        }
    }
    let verb = format!("xen {} {dev}", inv.action.word());
    let ops = p.ops;
    session.transact(&verb, ops)?;
    if let Some(mark) = legacy {
        let _ = std::fs::remove_file(mark);
    }
    if let (true, Some(path)) = (up, &frontend_mtu) {
        // What the device has now (a refused MTU change was only a warning).
        let mtu = session.mtu(dev)?;
        if let Some(mtu) = mtu {
            store
                .write(path, &mtu.to_string())
                .map_err(|e| HotplugError::runtime(e.to_string()))?;
        }
    }
    if ifupdown && up {
        route::distro_ifupdown(&opts.sysconfig_dir, dev, true)?;
    }
    tracing::info!("{dev}: {} done", inv.action.word());
    Ok(())
}

fn read_lines(path: &std::path::Path) -> Result<Vec<String>, HotplugError> {
    hvnet_linux::lines::read(path)
        .map_err(|e| HotplugError::runtime(format!("{}: {e}", path.display())))
}

/// The links a call reads, when it can name them all: the device under both names, their
/// IFBs (a tap's), and the bridge (with the `ethN` an `xenbrN` falls back to) or the uplink.
/// `None` — every link of the host — where the planner must search: a bridged call without a
/// bridge (the first bridge by name), a routed or NAT call on the way up without
/// `netdev`/`gatewaydev` (the default route's device).
fn scope(
    names: &naming::DeviceNames,
    mode: Mode,
    bridge: Option<&str>,
    netdev: Option<&str>,
    up: bool,
) -> Option<BTreeSet<String>> {
    let mut links: BTreeSet<String> = [&names.target, &names.current]
        .into_iter()
        .flat_map(|n| [n.clone(), rate::ifb_name(n)])
        .collect();
    match mode {
        Mode::Route | Mode::RouteIfup | Mode::Nat => {
            if up {
                links.insert(netdev?.to_string());
            } else if let Some(n) = netdev {
                links.insert(n.to_string());
            }
        }
        _ if up => {
            let b = bridge?;
            links.insert(b.to_string());
            if let Some(n) = b.strip_prefix("xenbr") {
                links.insert(format!("eth{n}"));
            }
        }
        _ => {}
    }
    Some(links)
}

/// The guard's nets: the IPv4 ones, then the IPv6 ones.
fn both(v4: &[rules::Net4], v6: &[Ipv6Cidr]) -> Vec<IpCidr> {
    let four = v4.iter().map(|n| IpCidr::V4(*n));
    four.chain(v6.iter().map(|n| IpCidr::V6(*n))).collect()
}

/// The hotplug's engine state (journal, host lock, vif guard records) under a lock
/// directory.
pub const STATE_SUBDIR: &str = "hvnet-xen";

/// One hotplug's hold on the host: the stock scripts' `iptables` lock and hvnet's engine
/// over this namespace's kernel, its state (journal, guard records) in
/// `LOCK_DIR/`[`STATE_SUBDIR`]. Opening it rolls back a call a crash cut short.
pub struct Session {
    engine: Engine<LinuxHost>,
    state_dir: PathBuf,
    _lock: LockEx,
}

impl Session {
    /// Takes the lock (waiting up to [`DEFAULT_LOCK_TIMEOUT`]) and opens the engine.
    ///
    /// # Errors
    ///
    /// The lock stayed busy ([`ErrorKind::Lock`]), rtnetlink could not be opened, or an
    /// interrupted call could not be rolled back.
    pub fn open(lock_dir: &std::path::Path) -> Result<Session, HotplugError> {
        let firewall = firewall_from_env().unwrap_or_default();
        Self::open_with(lock_dir, DEFAULT_LOCK_TIMEOUT, firewall)
    }

    /// [`Session::open`] with another lock timeout and the vif guards' firewall backend.
    ///
    /// # Errors
    ///
    /// As [`Session::open`].
    pub fn open_with(
        lock_dir: &std::path::Path,
        timeout: Duration,
        firewall: FirewallChoice,
    ) -> Result<Session, HotplugError> {
        let lock = LockEx::acquire(&lock_dir.join(LOCK_NAME), timeout).map_err(|e| match e {
            LockError::Timeout { .. } => HotplugError {
                kind: ErrorKind::Lock,
                message: e.to_string(),
                reported: false,
            },
            other => HotplugError::runtime(other.to_string()),
        })?;
        let state_dir = lock_dir.join(STATE_SUBDIR);
        let mut host = LinuxHost::open().map_err(|e| HotplugError::runtime(e.to_string()))?;
        host.set_state_dir(state_dir.clone());
        host.set_lock_timeout(timeout);
        host.set_firewall_choice(firewall.into());
        let mut engine = Engine::new(host, crate::vif::XenBackend).with_source("xenstore");
        engine.fault_at = match std::env::var("HVNET_FAULT_AT") {
            Ok(v) => v.trim().parse().ok(),
            Err(_) => None,
        };
        if let Some(r) = engine
            .recover()
            .map_err(|e| HotplugError::runtime(e.to_string()))?
        {
            tracing::warn!(
                "rolled back the interrupted `{}` ({} of {} op(s) undone)",
                r.verb,
                r.undone,
                r.recorded
            );
        }
        Ok(Session {
            engine,
            state_dir,
            _lock: lock,
        })
    }

    /// Observes links, addresses and routes — of the links named in `scope` only, or of
    /// every link with `None` —, the qdiscs of `tc_links` (and their IFBs), and the
    /// `proxy_arp` of `devs` with `ip_forward`.
    ///
    /// # Errors
    ///
    /// Reading the host failed.
    pub fn observe(
        &mut self,
        tc_links: &[&str],
        devs: &[&str],
        scope: Option<&BTreeSet<String>>,
    ) -> Result<ObservedState, HotplugError> {
        let mut links: std::collections::BTreeSet<String> =
            tc_links.iter().map(|t| t.to_string()).collect();
        links.extend(tc_links.iter().map(|t| rate::ifb_name(t)));
        let query = hvnet_core::backend::Query {
            sysctls: plan::sysctl_keys(devs.iter().copied()),
            services: false,
            firewall: false,
            tc_owners: Some(std::collections::BTreeSet::new()),
            tc_links: links,
            netns: false,
            vf_pools: Vec::new(),
            links: scope.map(|names| hvnet_core::backend::LinkScope {
                names: names.clone(),
                ..Default::default()
            }),
            name_hints: false,
        };
        self.engine
            .observe_query(&query)
            .map_err(|e| HotplugError::runtime(e.to_string()))
    }

    /// Adds the `proxy_arp` of `dev` to `observed` (the uplink, known only once observed).
    pub fn observe_proxy_arp(&mut self, observed: &mut ObservedState, dev: &str) {
        let keys = plan::sysctl_keys([dev]);
        observed
            .sysctls
            .extend(self.engine.host().read_sysctls(&keys[1..]));
    }

    /// The vif guard last set for `dev`.
    pub fn guard(&self, dev: &str) -> Option<VifGuard> {
        hvnet_linux::firewall::vif::recorded(&self.state_dir, dev)
    }

    /// The MTU `dev` has now.
    ///
    /// # Errors
    ///
    /// Reading the link failed.
    pub fn mtu(&mut self, dev: &str) -> Result<Option<u32>, HotplugError> {
        let l = self
            .engine
            .host()
            .rtnl()
            .get_link(dev)
            .map_err(|e| HotplugError::runtime(e.to_string()))?;
        Ok(l.map(|l| l.mtu))
    }

    /// Runs `ops` as one journaled transaction (rolled back if an op fails).
    ///
    /// # Errors
    ///
    /// An op failed (the message names it and says whether the rollback was complete), or
    /// the journal could not be written.
    pub fn transact(&mut self, verb: &str, ops: Vec<Op>) -> Result<usize, HotplugError> {
        let plan = hvnet_core::plan::Plan { ops };
        self.engine
            .transact(verb, &plan)
            .map_err(|e| HotplugError::runtime(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn inv(action: Action, type_if: TypeIf) -> Invocation {
        Invocation {
            action,
            type_if,
            xenbus_path: "backend/vif/5/0".into(),
            vif: Some("vif5.0".into()),
            interface: None,
            netdev: None,
            bridge: None,
        }
    }

    #[test]
    fn bad_route_and_nat_keys_are_reported_before_touching_anything() {
        let s = MemStore::with(&[
            ("backend/vif/5/0/script", "/etc/xen/scripts/vif-route"),
            ("backend/vif/5/0/ip", "192.0.2.10/24"),
        ]);
        let e = run(&inv(Action::Online, TypeIf::Vif), &s, &Options::default()).unwrap_err();
        assert!(e.message.contains("backend/vif/5/0/ip"), "{e}");
        assert!(e.message.contains("host bits set"), "{e}");
        assert!(e.reported);
        assert_eq!(
            s.get("backend/vif/5/0/hotplug-status").as_deref(),
            Some("error")
        );
        assert_eq!(s.get("backend/vif/5/0/hotplug-error"), Some(e.message));

        let s = MemStore::with(&[("x/ip", "10.0.0.1")]);
        let opts = Options {
            mode: ModeChoice::Fixed(Mode::Nat),
            ..Options::default()
        };
        let mut i = inv(Action::Offline, TypeIf::Vif);
        i.xenbus_path = "x".into();
        let e = run(&i, &s, &opts).unwrap_err();
        assert!(e.message.contains("no frontend-id/handle"), "{e}");

        let s = MemStore::with(&[("backend/vif/5/0/ip", "10.0.0.1 10.0.0.128")]);
        let e = run(&inv(Action::Online, TypeIf::Vif), &s, &opts).unwrap_err();
        assert!(e.message.contains("router address 10.0.0.128"), "{e}");
    }

    #[test]
    fn a_rate_that_blocks_the_guest_is_reported_before_touching_anything() {
        for tap in [false, true] {
            let s = MemStore::with(&[("backend/vif/5/0/rate", "0,50000")]);
            let (action, type_if) = if tap {
                (Action::Add, TypeIf::Tap)
            } else {
                (Action::Online, TypeIf::Vif)
            };
            let e = run(&inv(action, type_if), &s, &Options::default()).unwrap_err();
            assert!(
                e.message
                    .starts_with("bad xenstore key backend/vif/5/0/rate=\"0,50000\""),
                "{e}"
            );
            assert!(e.message.contains("would block the guest"), "{e}");
            assert_eq!(
                s.get("backend/vif/5/0/hotplug-status").as_deref(),
                Some("error")
            );
            assert_eq!(s.get("backend/vif/5/0/hotplug-error"), Some(e.message));
        }
    }

    #[test]
    fn bad_keys_and_names_are_reported_before_touching_anything() {
        let s = MemStore::with(&[("backend/vif/5/0/mtu", "jumbo")]);
        let e = run(&inv(Action::Online, TypeIf::Vif), &s, &Options::default()).unwrap_err();
        assert!(e.message.contains("backend/vif/5/0/mtu"), "{e}");
        assert_eq!(
            s.get("backend/vif/5/0/hotplug-status").as_deref(),
            Some("error")
        );

        let s = MemStore::with(&[
            ("backend/vif/5/0/vifname", "abcdefghijkl"),
            ("backend/vif/5/0/type", "vif_ioemu"),
        ]);
        let e = run(&inv(Action::Online, TypeIf::Vif), &s, &Options::default()).unwrap_err();
        assert!(e.message.contains("IFNAMSIZ"), "{e}");
        assert_eq!(s.get("backend/vif/5/0/hotplug-error"), Some(e.message));
    }
}
