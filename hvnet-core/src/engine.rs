//! The engine: one pipeline for every verb.
//!
//! config → **one observation** (a [`Query`] built from the config and the [`Scope`]) →
//! resolve → plan (pure) → **journaled transaction** → host.
//!
//! Every verb is a scoped run of it: `apply`, `check` and `down` cover the whole config
//! ([`Scope::Config`]); `guest up|down` one guest ([`Scope::Guest`]); QEMU's hooks and a live
//! rate change one NIC ([`Scope::Nic`]). The engine is generic over a [`Host`]: the Linux
//! kernel (`hvnet_linux::LinuxHost`) or the in-memory [`crate::memhost::MemHost`].
//!
//! Mutating verbs hold the host lock exclusively and first [`recover`](Engine::recover) a
//! transaction a crash left half-done; reading verbs hold it shared, so they never see a
//! half-built host and never block each other.
//!
//! Embedding it takes a config, a host and a NIC backend:
//!
//! ```
//! use hvnet_core::config::Config;
//! use hvnet_core::engine::{Engine, Intent, Scope};
//! use hvnet_core::memhost::MemHost;
//! # use hvnet_core::{backend::NicBackend, config::{Guest, Network, Nic}, state::*, types::IfName};
//! # struct Taps;
//! # impl NicBackend for Taps {
//! #   fn name(&self) -> &'static str { "test" }
//! #   fn ifname_prefix(&self, _: &Nic) -> &'static str { "vnet" }
//! #   fn host_link(&self, g: &Guest, n: &Nic, net: &Network, name: IfName) -> LinkSpec {
//! #     LinkSpec { name, kind: LinkKind::Tap(TapOpts::default()), owner: Some(Owner::new(&g.name)),
//! #       master: Some(net.bridge.clone()), mtu: net.mtu, mac: Some(n.mac.with_first_octet(0xfe)), up: true }
//! #   }
//! # }
//! let cfg = Config::parse(r#"
//!     [[network]]
//!     name = "lan"
//!     kind = "isolated"
//!     bridge = "br-lan"
//!     address = "10.7.0.1/24"
//!     [[guest]]
//!     name = "web"
//!     [[guest.nic]]
//!     network = "lan"
//! "#, "inline.toml")?;
//! let mut engine = Engine::new(MemHost::new(), Taps);
//! let planned = engine.plan(&cfg, &Scope::Config, Intent::Up)?;
//! print!("{}", planned.plan);
//! engine.apply(&planned)?;
//! assert!(engine.check(&cfg)?.plan.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::backend::{Execute, Journal, NicBackend, Observe, Query, Record};
use crate::config::{Config, NetworkKind};
use crate::lifecycle::{self, Nics};
use crate::observed::ObservedState;
use crate::op::Op;
use crate::plan::{plan, Plan};
use crate::resolve::{next_name_hints, resolve, resolve_guest};
use crate::services::{
    bridge_nf_keys, check_replicated_macs, check_way_out, dhcp_clients, ip_forward_key, services,
    way_out_warnings,
};
use crate::state::{DesiredState, SysctlKey};
use crate::teardown::down_state;
use crate::txn::{self, TxnError};

/// How a verb holds the host lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Readers (check, plan, show): many at once, never during a transaction.
    Shared,
    /// Writers: one at a time, alone.
    Exclusive,
}

/// The host lock could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockFailure {
    /// Another holder kept it for the whole timeout (otherwise an I/O failure).
    pub timed_out: bool,
    /// What happened, naming the lock.
    pub message: String,
}

/// What the engine needs of a host besides observing, executing and journaling.
pub trait Host: Observe + Execute + Journal {
    /// hvnet's state directory (daemon files live below it).
    fn state_dir(&self) -> PathBuf;

    /// Takes the host lock in `mode` (a no-op when it is held in that mode already; a held
    /// shared lock is upgraded). Released when the host is dropped.
    ///
    /// # Errors
    ///
    /// [`LockFailure`]: timed out, or the lock file could not be used.
    fn lock(&mut self, mode: LockMode) -> Result<(), LockFailure>;

    /// Records the generated-name hints after a transaction (a hint only: losing it is
    /// harmless, so it is not journaled).
    ///
    /// # Errors
    ///
    /// The hints could not be written.
    fn save_name_hints(&mut self, hints: &BTreeMap<String, u32>) -> Result<(), String>;
}

/// Which part of the config a verb is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything the config describes (`apply`, `check`, `down`).
    Config,
    /// One guest's links, and a dynamic bridge with its first or last guest (`guest up|down`).
    Guest(String),
    /// One NIC of a guest (QEMU's `script=`/`downscript=`, `rate`).
    Nic {
        /// The guest.
        guest: String,
        /// The NIC's index in the guest's `nics`.
        nic: usize,
    },
}

/// What a verb wants of its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// As the config says.
    Up,
    /// Gone (its links, and for the whole config its services).
    Down,
    /// Only the rate limits of a NIC's existing links (live; the links never flap).
    Retune,
}

/// Why the engine stopped.
#[derive(Debug)]
pub enum EngineError {
    /// Bad input, or a config this host cannot take (a foreign link holds a wanted name, an
    /// uplink is missing): nothing was changed.
    Input(String),
    /// The host lock could not be taken.
    Lock(LockFailure),
    /// Reading the host or writing the journal failed; nothing was changed.
    Host(String),
    /// The transaction failed; what it did was rolled back (see the error).
    Txn(TxnError),
    /// An interrupted transaction could not be rolled back completely; its record is kept
    /// for the next attempt.
    Recovery(String),
    /// The verb needs something the host does not have (a guest that is down for a rate).
    Refused(String),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input(m) | Self::Host(m) | Self::Recovery(m) | Self::Refused(m) => f.write_str(m),
            Self::Lock(l) => f.write_str(&l.message),
            Self::Txn(t) => write!(f, "{t}"),
        }
    }
}

impl std::error::Error for EngineError {}

fn host_err(what: &str, e: impl fmt::Display) -> EngineError {
    EngineError::Host(format!("{what}: {e}"))
}

/// A plan with what it was computed from.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The command, for the journal and messages (`apply`, `guest up web`, …).
    pub verb: String,
    /// The ops.
    pub plan: Plan,
    /// What the config wants (within the scope).
    pub desired: DesiredState,
    /// What was found.
    pub observed: ObservedState,
    /// The generated-name hints to save once the plan is applied.
    pub name_hints: BTreeMap<String, u32>,
    /// Things the admin should know (nothing is wrong enough to refuse).
    pub warnings: Vec<String>,
}

impl Planned {
    /// Why `op` is needed, in words, where its own text does not say (which firewall rules
    /// differ, whether a daemon died): one line each.
    pub fn details(&self, op: &Op) -> Vec<String> {
        match op {
            Op::FirewallOf {
                backend,
                intent: None,
                ..
            } => vec![format!(
                "hvnet's rules are left in {backend}, which is not the selected firewall backend"
            )],
            Op::SetFirewall { .. } | Op::RemoveFirewall { .. } => {
                match (&self.desired.firewall, &self.observed.firewall) {
                    (Some(want), Some(have)) => {
                        have.diff(want).iter().map(|d| d.to_string()).collect()
                    }
                    _ => Vec::new(),
                }
            }
            Op::StartDhcp(svc) => match self.observed.dhcp(&svc.network) {
                Some(o) if o.pid.is_none() => vec![format!(
                    "dnsmasq of network {} is not running (found dead or never started)",
                    svc.network
                )],
                _ => Vec::new(),
            },
            Op::StopDhcp { network, .. }
                if self.desired.dhcp.iter().any(|d| d.network == *network) =>
            {
                vec![format!(
                    "dnsmasq of network {network} runs with an outdated configuration file"
                )]
            }
            Op::ReloadDhcpHosts { network, .. } => vec![format!(
                "the DHCP hosts file of network {network} is outdated"
            )],
            _ => Vec::new(),
        }
    }
}

/// What a successful apply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Ops carried out.
    pub ops: usize,
    /// Things that went wrong after the transaction committed (nothing to undo).
    pub warnings: Vec<String>,
}

/// What [`Engine::recover`] rolled back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The interrupted command.
    pub verb: String,
    /// Ops of the interrupted transaction.
    pub recorded: usize,
    /// Ops carried out to roll it back.
    pub undone: usize,
}

/// The sysctls every whole-config observation reads: the ones hvnet may set.
fn config_sysctls() -> Vec<SysctlKey> {
    let mut keys = vec![ip_forward_key()];
    keys.extend(bridge_nf_keys());
    keys
}

/// The pipeline over a host (see the module docs).
pub struct Engine<H: Host> {
    host: H,
    backend: Box<dyn NicBackend>,
    /// `Some(k)`: op k (1-based) of the next transaction fails (tests prove rollbacks).
    pub fault_at: Option<usize>,
    /// Where messages name the config (`FILE: …`); set by [`Engine::with_source`].
    source: String,
}

impl<H: Host> Engine<H> {
    /// An engine over `host`, with `backend` deciding how guest NICs look on the host.
    pub fn new(host: H, backend: impl NicBackend + 'static) -> Self {
        Self {
            host,
            backend: Box::new(backend),
            fault_at: None,
            source: "config".into(),
        }
    }

    /// Names the config file in messages.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// How messages name the config.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The host.
    pub fn host(&mut self) -> &mut H {
        &mut self.host
    }

    /// The host, giving the engine up (the confirm watchdog keeps it, and its lock).
    pub fn into_host(self) -> H {
        self.host
    }

    /// Takes the host lock.
    ///
    /// # Errors
    ///
    /// [`EngineError::Lock`].
    pub fn lock(&mut self, mode: LockMode) -> Result<(), EngineError> {
        self.host.lock(mode).map_err(EngineError::Lock)
    }

    /// Rolls back a transaction a crash cut short, if the journal holds one (takes the
    /// lock exclusively). Every mutating verb starts with this.
    ///
    /// # Errors
    ///
    /// The lock, reading the journal or the host, or an undo that failed
    /// ([`EngineError::Recovery`]: the record stays for the next attempt).
    pub fn recover(&mut self) -> Result<Option<Recovered>, EngineError> {
        self.lock(LockMode::Exclusive)?;
        let Some(record) = self
            .host
            .pending()
            .map_err(|e| host_err("reading the journal", e))?
        else {
            return Ok(None);
        };
        let mut query = Query::everything();
        query.sysctls = config_sysctls();
        for op in &record.ops {
            if let Op::SetSysctl { key, .. } = op {
                query.sysctls.push(key.clone());
            }
        }
        query.vf_pools = crate::sriov::sources_of(&record.ops);
        let observed = self
            .host
            .observe(&query)
            .map_err(|e| host_err("reading the host", e))?;
        let undo = crate::recovery::plan(&record, &observed);
        let mut failed = Vec::new();
        for op in &undo.ops {
            if let Err(f) = self.host.execute(std::slice::from_ref(op)) {
                failed.push(format!("{op}: {}", f.error));
            }
        }
        if !failed.is_empty() {
            return Err(EngineError::Recovery(format!(
                "rolling back the interrupted `{}` failed: {}",
                record.verb,
                failed.join("; ")
            )));
        }
        self.host
            .finish()
            .map_err(|e| host_err("closing the journal", e))?;
        Ok(Some(Recovered {
            verb: record.verb,
            recorded: record.ops.len(),
            undone: undo.len(),
        }))
    }

    /// The observation a verb about `scope` needs.
    pub fn query(&self, cfg: &Config, scope: &Scope) -> Query {
        match scope {
            Scope::Config => Query {
                vf_pools: cfg.pools.iter().map(|p| p.source.clone()).collect(),
                sysctls: [config_sysctls(), crate::ipv6::sysctl_keys(cfg)].concat(),
                ..Query::everything()
            },
            Scope::Guest(guest) | Scope::Nic { guest, .. } => crate::scoped::query(cfg, guest),
        }
    }

    /// Observes the host as `scope` needs it (no lock: callers that go on to apply take it
    /// first).
    ///
    /// # Errors
    ///
    /// [`EngineError::Host`].
    pub fn observe(&mut self, cfg: &Config, scope: &Scope) -> Result<ObservedState, EngineError> {
        let query = self.query(cfg, scope);
        let mut observed = self.observe_query(&query)?;
        if let Scope::Guest(guest) | Scope::Nic { guest, .. } = scope {
            // The guest's generated names: asked for one by one (see `scoped`).
            crate::scoped::settle_names(
                &mut self.host,
                cfg,
                self.backend.as_ref(),
                guest,
                &mut observed,
            )
            .map_err(|e| host_err("reading the host", e))?;
        }
        Ok(observed)
    }

    /// Observes the host as `query` says (a caller that needs more than a scope's query:
    /// QEMU's hook reads the qdiscs of the tap it adopts).
    ///
    /// # Errors
    ///
    /// [`EngineError::Host`].
    pub fn observe_query(&mut self, query: &Query) -> Result<ObservedState, EngineError> {
        self.host
            .observe(query)
            .map_err(|e| host_err("reading the host", e))
    }

    /// Observes once and plans `intent` for `scope`.
    ///
    /// # Errors
    ///
    /// [`EngineError::Input`] for a config this host cannot take (nothing was changed), or
    /// [`EngineError::Host`].
    pub fn plan(
        &mut self,
        cfg: &Config,
        scope: &Scope,
        intent: Intent,
    ) -> Result<Planned, EngineError> {
        let observed = self.observe(cfg, scope)?;
        self.plan_from(cfg, scope, intent, observed)
    }

    /// Plans `intent` for `scope` against `observed` (pure: nothing is read or written).
    ///
    /// # Errors
    ///
    /// [`EngineError::Input`]: the config cannot be applied to this host;
    /// [`EngineError::Refused`]: a rate for a NIC whose links do not exist.
    pub fn plan_from(
        &self,
        cfg: &Config,
        scope: &Scope,
        intent: Intent,
        mut observed: ObservedState,
    ) -> Result<Planned, EngineError> {
        let src = &self.source;
        let input = |errs: Vec<String>| {
            EngineError::Input(
                errs.iter()
                    .map(|e| format!("{src}: {e}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        };
        let planning = |e: crate::plan::PlanError| EngineError::Input(e.to_string());
        // Too few VFs is the host's state, not the file's: refused, nothing changed.
        let no_vf = |e: crate::sriov::SriovError| EngineError::Refused(format!("{src}: {e}"));
        let backend = self.backend.as_ref();
        if let Scope::Guest(guest) | Scope::Nic { guest, .. } = scope {
            if let Some(why) = crate::overlay::guest_elsewhere(cfg, guest) {
                return Err(input(vec![why]));
            }
        }
        // The config as this host reads it (overlay MTUs, gateway hosts); going down needs
        // no underlay.
        let here = match crate::overlay::for_host(cfg, &observed) {
            Ok(here) => here,
            Err(_) if intent == Intent::Down => std::borrow::Cow::Borrowed(cfg),
            Err(diags) => {
                let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
                return Err(EngineError::Input(lines.join("\n")));
            }
        };
        let cfg: &Config = &here;
        let mut warnings = Vec::new();
        let (verb, desired, name_hints) = match (scope, intent) {
            (Scope::Config, Intent::Up | Intent::Retune) => {
                check_way_out(cfg, &observed)
                    .map_err(|e| input(e.iter().map(ToString::to_string).collect()))?;
                check_replicated_macs(cfg, &observed)
                    .map_err(|e| input(e.iter().map(ToString::to_string).collect()))?;
                if let Some(ns) = &observed.netns {
                    crate::preflight::check_netns(cfg, ns)
                        .map_err(|e| EngineError::Input(e.to_string()))?;
                }
                let mut desired = resolve(cfg, &observed, backend);
                desired.vfs = crate::sriov::assign(cfg, &observed, None).map_err(no_vf)?;
                let hints = next_name_hints(cfg, &observed, &desired, backend);
                services(cfg, &self.host.state_dir(), &mut desired);
                crate::evpn::add_service(cfg, &observed, &self.host.state_dir(), &mut desired)
                    .map_err(|e| match e {
                        crate::evpn::EvpnError::NotInstalled => {
                            EngineError::Refused(format!("{src}: {e}"))
                        }
                        crate::evpn::EvpnError::NoRouterId => input(vec![e.to_string()]),
                    })?;
                crate::ipv6::sysctls(cfg, &observed, &mut desired);
                warnings.extend(bridge_nf_warning(cfg, &observed));
                // Another firewall's drop-policy chains see the guests' traffic too.
                if desired.firewall.is_some() {
                    warnings.extend(
                        observed
                            .firewall
                            .iter()
                            .flat_map(|f| f.warnings.iter().cloned()),
                    );
                }
                // A nat network without a way out yet still starts (as libvirt's does).
                warnings.extend(
                    way_out_warnings(cfg, &observed)
                        .iter()
                        .map(ToString::to_string),
                );
                ("apply".to_string(), desired, hints)
            }
            (Scope::Config, Intent::Down) => {
                let hints = observed.name_hints.clone();
                ("down".to_string(), down_state(cfg, &observed), hints)
            }
            (Scope::Guest(guest), Intent::Up | Intent::Down)
            | (Scope::Nic { guest, .. }, Intent::Up | Intent::Down) => {
                let nics = match scope {
                    Scope::Nic { nic, .. } => Nics::One(*nic),
                    _ => Nics::All,
                };
                if let (Intent::Up, Some(ns)) = (intent, &observed.netns) {
                    crate::preflight::check_guest_netns(cfg, guest, ns)
                        .map_err(|e| EngineError::Input(e.to_string()))?;
                }
                // One guest's change says nothing about the firewall or sysctls (apply's
                // business): left unobserved, the planner leaves them alone.
                observed.saved_sysctls.clear();
                let mut full = resolve_guest(cfg, &observed, backend, guest);
                // A dynamic bridge with host_ip = "dhcp" brings the host's DHCP client along.
                full.dhcp_clients = dhcp_clients(cfg, &self.host.state_dir(), &full);
                let up = intent == Intent::Up;
                let mut want = if up {
                    lifecycle::up(cfg, &full, guest, nics)
                } else {
                    lifecycle::down(cfg, &full, &observed, guest, nics)
                }
                .map_err(|e| input(vec![e.to_string()]))?;
                want.vfs =
                    crate::sriov::for_guest(cfg, &observed, guest, nics, up).map_err(no_vf)?;
                crate::ipv6::new_bridge_dad(cfg, &observed, &mut want);
                let hints = next_name_hints(cfg, &observed, &want, backend);
                let what = match (scope, up) {
                    (Scope::Nic { nic, .. }, true) => format!("nic up {guest} {nic}"),
                    (Scope::Nic { nic, .. }, false) => format!("nic down {guest} {nic}"),
                    (_, true) => format!("guest up {guest}"),
                    (_, false) => format!("guest down {guest}"),
                };
                (what, want, hints)
            }
            (Scope::Guest(guest), Intent::Retune) | (Scope::Nic { guest, .. }, Intent::Retune) => {
                return self.plan_retune(cfg, scope, guest, observed);
            }
        };
        let plan = plan(&observed, &desired).map_err(planning)?;
        Ok(Planned {
            verb,
            plan,
            desired,
            observed,
            name_hints,
            warnings,
        })
    }

    /// A live rate change: only the shaping of the NIC's existing links.
    fn plan_retune(
        &self,
        cfg: &Config,
        scope: &Scope,
        guest: &str,
        observed: ObservedState,
    ) -> Result<Planned, EngineError> {
        let desired = resolve_guest(cfg, &observed, self.backend.as_ref(), guest);
        let nic = match scope {
            Scope::Nic { nic, .. } => Some(*nic),
            _ => None,
        };
        let links: Vec<_> = desired
            .nic_links
            .iter()
            .filter(|l| l.guest == guest && nic.is_none_or(|n| n == l.nic))
            .collect();
        if links.is_empty()
            || links
                .iter()
                .any(|l| observed.link(l.link.as_str()).is_none())
        {
            return Err(EngineError::Refused(format!(
                "guest {guest} is down; `hvnet guest up {guest}` first"
            )));
        }
        let full = plan(&observed, &desired).map_err(|e| EngineError::Input(e.to_string()))?;
        let ops = full
            .ops
            .into_iter()
            .filter(|op| {
                links.iter().any(|l| {
                    let shaping = matches!(
                        op,
                        Op::SetTbf { .. }
                            | Op::DelTbf { .. }
                            | Op::AddRedirect { .. }
                            | Op::DelRedirect { .. }
                    );
                    match op.link() {
                        Some(name) if l.ifb.as_ref() == Some(name) => true,
                        Some(name) => *name == l.link && shaping,
                        None => false,
                    }
                })
            })
            .collect();
        Ok(Planned {
            verb: format!("rate {guest}"),
            plan: Plan { ops },
            desired,
            name_hints: observed.name_hints.clone(),
            observed,
            warnings: Vec::new(),
        })
    }

    /// Runs `planned` as one journaled transaction (takes the lock exclusively): the
    /// journal records every op before the first runs; a failure rolls back what took
    /// effect; the record is removed once the host is consistent again.
    ///
    /// # Errors
    ///
    /// [`EngineError::Txn`] (rolled back), [`EngineError::Host`] (the journal could not be
    /// written: nothing was changed), [`EngineError::Lock`].
    pub fn apply(&mut self, planned: &Planned) -> Result<Applied, EngineError> {
        let ops = self.transact(&planned.verb, &planned.plan)?;
        // A hint only: not worth failing a finished transaction for.
        let warnings = if ops == 0 {
            Vec::new()
        } else {
            match self.host.save_name_hints(&planned.name_hints) {
                Ok(()) => Vec::new(),
                Err(e) => vec![format!("cannot save the interface name hints: {e}")],
            }
        };
        Ok(Applied { ops, warnings })
    }

    /// Runs `plan` as one journaled transaction under the exclusive lock (what
    /// [`Engine::apply`] does, for a plan made elsewhere: the inverse an `apply --confirm`
    /// watchdog reverts with). Returns the number of ops carried out.
    ///
    /// # Errors
    ///
    /// As [`Engine::apply`].
    pub fn transact(&mut self, verb: &str, plan: &Plan) -> Result<usize, EngineError> {
        self.lock(LockMode::Exclusive)?;
        if plan.is_empty() {
            return Ok(0);
        }
        let record = Record {
            verb: verb.to_string(),
            ops: plan.ops.clone(),
        };
        self.host
            .begin(&record)
            .map_err(|e| host_err("writing the journal", e))?;
        match txn::run(&mut self.host, plan, self.fault_at) {
            Ok(n) => {
                self.host
                    .finish()
                    .map_err(|e| host_err("closing the journal", e))?;
                Ok(n)
            }
            Err(t) => {
                // A complete rollback leaves nothing to recover; an incomplete one keeps the
                // record, so the next command tries again.
                if t.rollback_errors.is_empty() {
                    self.host
                        .finish()
                        .map_err(|e| host_err("closing the journal", e))?;
                }
                Err(EngineError::Txn(t))
            }
        }
    }

    /// Recover, plan and apply in one call, as a mutating verb does.
    ///
    /// # Errors
    ///
    /// As [`Engine::recover`], [`Engine::plan`] and [`Engine::apply`].
    pub fn run(
        &mut self,
        cfg: &Config,
        scope: &Scope,
        intent: Intent,
    ) -> Result<(Planned, Applied), EngineError> {
        self.recover()?;
        let planned = self.plan(cfg, scope, intent)?;
        let applied = self.apply(&planned)?;
        Ok((planned, applied))
    }

    /// What `apply` would change for the whole config, read under the shared lock (an
    /// empty plan: the host is in sync).
    ///
    /// # Errors
    ///
    /// As [`Engine::plan`], and [`EngineError::Lock`].
    pub fn check(&mut self, cfg: &Config) -> Result<Planned, EngineError> {
        self.lock(LockMode::Shared)?;
        self.plan(cfg, &Scope::Config, Intent::Up)
    }

    /// The interrupted transaction waiting in the journal, if any (readers report it).
    ///
    /// # Errors
    ///
    /// [`EngineError::Host`]: the journal cannot be read.
    pub fn pending(&mut self) -> Result<Option<Record>, EngineError> {
        self.host
            .pending()
            .map_err(|e| host_err("reading the journal", e))
    }
}

/// Bridged guests' traffic passes the host's iptables when bridge-nf-call is on: say so for
/// bridged networks (seed 004 recommends turning it off) unless the config decides.
fn bridge_nf_warning(cfg: &Config, observed: &ObservedState) -> Option<String> {
    if cfg.host.bridge_nf_call.is_some() {
        return None;
    }
    let bridged = cfg.networks.iter().any(|n| n.kind == NetworkKind::Bridge);
    let [key, ..] = bridge_nf_keys();
    let on = observed.sysctls.get(&key).is_some_and(|v| v == "1");
    (bridged && on).then(|| {
        format!(
            "{key} = 1: traffic between bridged guests and the LAN passes the host's iptables FORWARD chain; set `[host] bridge_nf_call = false` (seed 004's advice) or `true` to silence this"
        )
    })
}

impl Host for crate::memhost::MemHost {
    fn state_dir(&self) -> PathBuf {
        self.state_dir.clone()
    }

    fn lock(&mut self, _mode: LockMode) -> Result<(), LockFailure> {
        Ok(())
    }

    fn save_name_hints(&mut self, hints: &BTreeMap<String, u32>) -> Result<(), String> {
        if !self.crashed() {
            self.state.name_hints = hints.clone();
        }
        Ok(())
    }
}
