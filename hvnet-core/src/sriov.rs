//! SR-IOV VF pools (`kind = "hostdev"` networks): the model, the allocation decision and the
//! ops that assign a virtual function (VF) to a guest NIC and give it back.
//!
//! A pool names a physical function's netdev (`pf = "eth3"`: all its VFs) or a list of VF
//! PCI addresses (`vfs = ["0000:03:10.0", …]`). Each guest NIC on the pool gets one free VF:
//!
//! * [`assign`] — the decision, a pure function of the config, the observed VFs and hvnet's
//!   allocation records ([`ObservedSriov`]): a NIC that holds a VF keeps it; a new one gets
//!   the VF it held last if that is free, else a VF nobody held, else any free one.
//! * [`ops`] — the plan: record the allocation ([`Op::RecordVf`]), set the VF's MAC, VLAN,
//!   spoof check, trust and rate through its PF ([`Op::SetVf`]: a VF has a new random MAC
//!   every boot, so the guest gets its configured MAC each time) and, for a `managed` pool,
//!   bind it to `vfio-pci` ([`Op::BindVf`]); a released VF gets its driver and settings back
//!   and its record is marked free (kept, so its last holder gets it again).
//!
//! Every step is an op with an inverse, journaled like the rest of a transaction, so a
//! failure or a crash half-way is rolled back ([`visible`] tells recovery what took effect).
//!
//! ```
//! use hvnet_core::sriov::PciAddr;
//! let a: PciAddr = "0000:03:10.1".parse().unwrap();
//! assert_eq!((a.bus, a.slot, a.function), (3, 0x10, 1));
//! assert_eq!("03:10.1".parse::<PciAddr>().unwrap(), a);
//! assert!("0000:03:20.0".parse::<PciAddr>().is_err()); // slot > 0x1f
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::config::{Config, NicType};
use crate::lifecycle::Nics;
use crate::observed::ObservedState;
use crate::op::Op;
use crate::state::{DesiredState, Owner};
use crate::types::{IfName, MacAddr};

/// The driver a `managed` pool binds its VFs to while a guest has them.
pub const VFIO_PCI: &str = "vfio-pci";

/// The highest VLAN id a VF takes (`ip link set PF vf N vlan 0-4095`; 0 is none).
pub const MAX_VLAN: u16 = 4095;

/// A PCI address, `DOMAIN:BUS:SLOT.FUNCTION` in hex (`0000:03:10.1`; the domain may be left
/// out when parsing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddr {
    /// PCI domain (segment).
    pub domain: u32,
    /// Bus, 0-255.
    pub bus: u8,
    /// Slot (device), 0-31.
    pub slot: u8,
    /// Function, 0-7.
    pub function: u8,
}

/// Why a PCI address could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a PCI address: expected DOMAIN:BUS:SLOT.FUNCTION in hex, e.g. \"0000:03:10.1\" (bus 00-ff, slot 00-1f, function 0-7)")]
pub struct PciAddrError(pub String);

impl FromStr for PciAddr {
    type Err = PciAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PciAddrError(s.to_string());
        let hex = |t: &str, max: u32, width: usize| -> Option<u32> {
            if t.is_empty() || t.len() > width || !t.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            u32::from_str_radix(t, 16).ok().filter(|v| *v <= max)
        };
        let (head, function) = s.rsplit_once('.').ok_or_else(bad)?;
        let parts: Vec<&str> = head.split(':').collect();
        let (domain, bus, slot) = match parts.as_slice() {
            [d, b, sl] => (hex(d, u32::MAX, 8).ok_or_else(bad)?, *b, *sl),
            [b, sl] => (0, *b, *sl),
            _ => return Err(bad()),
        };
        let to_u8 = |v: Option<u32>| v.and_then(|v| u8::try_from(v).ok()).ok_or_else(bad);
        Ok(PciAddr {
            domain,
            bus: to_u8(hex(bus, 0xff, 2))?,
            slot: to_u8(hex(slot, 0x1f, 2))?,
            function: to_u8(hex(function, 7, 1))?,
        })
    }
}

impl fmt::Display for PciAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.slot, self.function
        )
    }
}

impl serde::Serialize for PciAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PciAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a pool's VFs come from.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq, Hash)]
pub enum VfSource {
    /// Every VF of this physical function (`pf = "eth3"`), in VF index order.
    Pf(IfName),
    /// These VFs (`vfs = [...]`), in this order.
    Vfs(Vec<PciAddr>),
}

impl fmt::Display for VfSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pf(pf) => write!(f, "PF {pf}"),
            Self::Vfs(list) => {
                let l: Vec<String> = list.iter().map(ToString::to_string).collect();
                write!(f, "VFs [{}]", l.join(", "))
            }
        }
    }
}

/// Optional VF settings: a pool's defaults, overridden per NIC. `None` leaves the VF's
/// setting alone, except `vlan`, which is 0 (none) unless given.
#[derive(
    serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, Default,
)]
pub struct VfSettings {
    /// 802.1Q VLAN id the VF tags and strips (1-4095; 0 none).
    pub vlan: Option<u16>,
    /// MAC spoof checking.
    pub spoofchk: Option<bool>,
    /// Trusted VF (may change its MAC, enter promiscuous mode).
    pub trust: Option<bool>,
    /// Transmit limit in Mbit/s (0: none).
    pub max_tx_rate: Option<u32>,
}

impl VfSettings {
    /// These settings with `base`'s where these have none.
    pub fn or(&self, base: &VfSettings) -> VfSettings {
        VfSettings {
            vlan: self.vlan.or(base.vlan),
            spoofchk: self.spoofchk.or(base.spoofchk),
            trust: self.trust.or(base.trust),
            max_tx_rate: self.max_tx_rate.or(base.max_tx_rate),
        }
    }
}

/// One `kind = "hostdev"` network: a pool of VFs handed to guest NICs.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct VfPool {
    /// The network's name (guest NICs name it in `network`).
    pub name: String,
    /// Where the VFs are.
    pub source: VfSource,
    /// Bind a VF to `vfio-pci` while a guest has it, and give it back to its driver after.
    pub managed: bool,
    /// Settings of every VF of the pool (a NIC may override them).
    pub settings: VfSettings,
}

/// VF attributes to set (or, as `old`, what they were): `None` fields are left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct VfParams {
    /// `IFLA_VF_MAC`.
    pub mac: Option<MacAddr>,
    /// `IFLA_VF_VLAN` (qos 0).
    pub vlan: Option<u16>,
    /// `IFLA_VF_SPOOFCHK`.
    pub spoofchk: Option<bool>,
    /// `IFLA_VF_TRUST`.
    pub trust: Option<bool>,
    /// `IFLA_VF_RATE` max, Mbit/s (min 0).
    pub max_tx_rate: Option<u32>,
}

impl VfParams {
    /// Nothing to set.
    pub fn is_empty(&self) -> bool {
        *self == VfParams::default()
    }

    /// The fields of `self` whose value in `now` differs, and their values in `now`.
    pub fn diff(&self, now: Option<&VfState>) -> (VfParams, VfParams) {
        fn field<T: PartialEq + Copy>(want: Option<T>, now: Option<T>) -> (Option<T>, Option<T>) {
            match want {
                Some(w) if now != Some(w) => (Some(w), now),
                _ => (None, None),
            }
        }
        let (mac, old_mac) = field(self.mac, now.map(|s| s.mac));
        let (vlan, old_vlan) = field(self.vlan, now.map(|s| s.vlan));
        let (spoofchk, old_spoofchk) = field(self.spoofchk, now.and_then(|s| s.spoofchk));
        let (trust, old_trust) = field(self.trust, now.and_then(|s| s.trust));
        let (rate, old_rate) = field(self.max_tx_rate, now.map(|s| s.max_tx_rate));
        (
            VfParams {
                mac,
                vlan,
                spoofchk,
                trust,
                max_tx_rate: rate,
            },
            VfParams {
                mac: old_mac,
                vlan: old_vlan,
                spoofchk: old_spoofchk,
                trust: old_trust,
                max_tx_rate: old_rate,
            },
        )
    }

    /// Whether `now` holds every value these params set.
    pub fn holds_in(&self, now: &VfState) -> bool {
        self.diff(Some(now)).0.is_empty()
    }

    /// `now` with these params applied.
    pub fn applied_to(&self, now: &VfState) -> VfState {
        VfState {
            mac: self.mac.unwrap_or(now.mac),
            vlan: self.vlan.unwrap_or(now.vlan),
            spoofchk: self.spoofchk.or(now.spoofchk),
            trust: self.trust.or(now.trust),
            max_tx_rate: self.max_tx_rate.unwrap_or(now.max_tx_rate),
        }
    }
}

impl fmt::Display for VfParams {
    /// In `ip link set PF vf N …` words and order: `mac M vlan V spoofchk on trust off
    /// max_tx_rate R`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let onoff = |b: bool| if b { "on" } else { "off" };
        let mut words = Vec::new();
        if let Some(m) = self.mac {
            words.push(format!("mac {m}"));
        }
        if let Some(v) = self.vlan {
            words.push(format!("vlan {v}"));
        }
        if let Some(v) = self.spoofchk {
            words.push(format!("spoofchk {}", onoff(v)));
        }
        if let Some(v) = self.trust {
            words.push(format!("trust {}", onoff(v)));
        }
        if let Some(v) = self.max_tx_rate {
            words.push(format!("min_tx_rate 0 max_tx_rate {v}"));
        }
        f.write_str(&words.join(" "))
    }
}

/// A VF's settings as its PF reports them (`IFLA_VFINFO_LIST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VfState {
    /// Its MAC (random after every boot unless set).
    pub mac: MacAddr,
    /// VLAN id (0: none).
    pub vlan: u16,
    /// Spoof checking (`None`: the driver does not say).
    pub spoofchk: Option<bool>,
    /// Trusted (`None`: the driver does not say).
    pub trust: Option<bool>,
    /// Transmit limit, Mbit/s (0: none).
    pub max_tx_rate: u32,
}

impl VfState {
    /// All of it, as params that put it back.
    pub fn as_params(&self) -> VfParams {
        VfParams {
            mac: Some(self.mac),
            vlan: Some(self.vlan),
            spoofchk: self.spoofchk,
            trust: self.trust,
            max_tx_rate: Some(self.max_tx_rate),
        }
    }
}

/// One VF as found in sysfs (and its PF's VF list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedVf {
    /// Its PCI address.
    pub pci: PciAddr,
    /// Its PF's netdev.
    pub pf: IfName,
    /// Its index among the PF's VFs (`virtfnN`).
    pub index: u32,
    /// The driver it is bound to (`None`: none).
    pub driver: Option<String>,
    /// Its settings as the PF reports them (`None`: not reported).
    pub state: Option<VfState>,
}

/// hvnet's record of a VF it allocated (`STATE/sriov/PCI`): who has it, and what to give
/// back when it is released. A released record stays, marked free, so its last holder gets
/// the same VF again while nobody else took it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VfRecord {
    /// The VF.
    pub pci: PciAddr,
    /// Its PF.
    pub pf: IfName,
    /// Its index on the PF.
    pub vf: u32,
    /// The pool (network) it was allocated from.
    pub pool: String,
    /// The guest.
    pub guest: String,
    /// The guest's NIC (index in its `nics`).
    pub nic: usize,
    /// Held now (false: released; kept as a preference).
    pub active: bool,
    /// Bound to `vfio-pci` by hvnet.
    pub managed: bool,
    /// The driver it had before.
    pub driver: Option<String>,
    /// Its settings before.
    pub saved: Option<VfState>,
}

/// What hvnet saw of SR-IOV: the VFs of the pools asked for (and of VFs it has records of)
/// and its allocation records.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedSriov {
    /// The VFs found.
    pub vfs: Vec<ObservedVf>,
    /// hvnet's allocation records.
    pub records: Vec<VfRecord>,
    /// Sources that could not be read, with why (a PF without VFs, a missing device).
    pub unreadable: Vec<(VfSource, String)>,
}

impl ObservedSriov {
    /// The VF at `pci`.
    pub fn vf(&self, pci: PciAddr) -> Option<&ObservedVf> {
        self.vfs.iter().find(|v| v.pci == pci)
    }

    /// The record of the VF at `pci`.
    pub fn record(&self, pci: PciAddr) -> Option<&VfRecord> {
        self.records.iter().find(|r| r.pci == pci)
    }

    /// The VFs of `source`, in pool order.
    pub fn pool_vfs(&self, source: &VfSource) -> Vec<&ObservedVf> {
        match source {
            VfSource::Pf(pf) => {
                let mut v: Vec<&ObservedVf> = self.vfs.iter().filter(|v| v.pf == *pf).collect();
                v.sort_by_key(|v| v.index);
                v
            }
            VfSource::Vfs(list) => list.iter().filter_map(|p| self.vf(*p)).collect(),
        }
    }
}

/// One guest NIC's VF, as [`assign`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VfAssignment {
    /// The guest.
    pub guest: String,
    /// The NIC's index in the guest's `nics`.
    pub nic: usize,
    /// The pool.
    pub pool: String,
    /// The VF.
    pub pci: PciAddr,
    /// Its PF.
    pub pf: IfName,
    /// Its index on the PF.
    pub vf: u32,
    /// The guest's MAC, set on the VF.
    pub mac: MacAddr,
    /// The NIC's settings over the pool's.
    pub settings: VfSettings,
    /// Bound to `vfio-pci`.
    pub managed: bool,
}

impl VfAssignment {
    /// What the VF must hold: the guest's MAC, the VLAN (0 unless configured) and the
    /// configured spoof check, trust and rate.
    pub fn params(&self) -> VfParams {
        VfParams {
            mac: Some(self.mac),
            vlan: Some(self.settings.vlan.unwrap_or(0)),
            spoofchk: self.settings.spoofchk,
            trust: self.settings.trust,
            max_tx_rate: self.settings.max_tx_rate,
        }
    }
}

/// Why no VF could be assigned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SriovError {
    /// The pool's source has no usable VF at all.
    #[error("network {pool:?} ({from}): no VFs found{}; enable them first (e.g. `echo 4 > /sys/class/net/PF/device/sriov_numvfs`)", why.as_ref().map(|w| format!(" ({w})")).unwrap_or_default())]
    NoVfs {
        /// The pool.
        pool: String,
        /// Where its VFs come from.
        from: VfSource,
        /// What the observer said.
        why: Option<String>,
    },
    /// More NICs than free VFs.
    #[error("network {pool:?} ({from}) has no free VF for guest {guest} nic {nic}: all {total} VF(s) are taken ({taken}); stop a guest (`hvnet guest down NAME`) or enable more VFs")]
    Exhausted {
        /// The pool.
        pool: String,
        /// Where its VFs come from.
        from: VfSource,
        /// The guest.
        guest: String,
        /// The NIC.
        nic: usize,
        /// VFs in the pool.
        total: usize,
        /// Who has them.
        taken: String,
    },
}

/// The guests' VF assignments (pure: decided from `cfg` and `observed.sriov` alone).
///
/// Every hostdev NIC that holds a VF of its pool (an active record) keeps it. The NICs
/// `only` selects (`None`: every guest's; `Some((guest, None))`: one guest's; `Some((guest,
/// Some(nic)))`: one NIC) that hold none get a free one: the VF the NIC held last if it is
/// free, else one never recorded, else the first free one. A VF is free when no active
/// record holds it and, in a `managed` pool, it is not bound to `vfio-pci` by someone else.
///
/// # Errors
///
/// A pool without VFs, or fewer free VFs than NICs.
pub fn assign(
    cfg: &Config,
    observed: &ObservedState,
    only: Option<(&str, Option<usize>)>,
) -> Result<Vec<VfAssignment>, SriovError> {
    let sr = &observed.sriov;
    let mut taken: BTreeSet<PciAddr> = sr
        .records
        .iter()
        .filter(|r| r.active)
        .map(|r| r.pci)
        .collect();
    let mut out = Vec::new();
    let mut wanting = Vec::new();
    for g in &cfg.guests {
        for (i, nic) in g.nics.iter().enumerate() {
            let NicType::Hostdev(own) = &nic.kind else {
                continue;
            };
            let Some(pool) = cfg.pool(&nic.network) else {
                continue;
            };
            let vfs = sr.pool_vfs(&pool.source);
            let held = sr.records.iter().find(|r| {
                r.active
                    && r.guest == g.name
                    && r.nic == i
                    && r.pool == pool.name
                    && vfs.iter().any(|v| v.pci == r.pci)
            });
            let make = move |v: &ObservedVf| VfAssignment {
                guest: g.name.clone(),
                nic: i,
                pool: pool.name.clone(),
                pci: v.pci,
                pf: v.pf.clone(),
                vf: v.index,
                mac: nic.mac,
                settings: own.or(&pool.settings),
                managed: pool.managed,
            };
            if let Some(r) = held {
                if let Some(v) = vfs.iter().find(|v| v.pci == r.pci) {
                    out.push(make(v));
                }
                continue;
            }
            let selected = match only {
                None => true,
                Some((guest, nic)) => guest == g.name && nic.is_none_or(|n| n == i),
            };
            if selected {
                wanting.push((g, i, pool, vfs, make));
            }
        }
    }
    for (g, i, pool, vfs, make) in wanting {
        if vfs.is_empty() {
            let why = sr
                .unreadable
                .iter()
                .find(|(s, _)| *s == pool.source)
                .map(|(_, w)| w.clone());
            return Err(SriovError::NoVfs {
                pool: pool.name.clone(),
                from: pool.source.clone(),
                why,
            });
        }
        let free: Vec<&&ObservedVf> = vfs
            .iter()
            .filter(|v| !taken.contains(&v.pci))
            .filter(|v| !pool.managed || v.driver.as_deref() != Some(VFIO_PCI))
            .collect();
        let last_mine = free.iter().find(|v| {
            sr.record(v.pci)
                .is_some_and(|r| r.guest == g.name && r.nic == i)
        });
        let never = free.iter().find(|v| sr.record(v.pci).is_none());
        let Some(v) = last_mine.or(never).or(free.first()) else {
            let holders: Vec<String> = vfs
                .iter()
                .map(|v| match sr.record(v.pci).filter(|r| r.active) {
                    Some(r) => format!("{} guest {} nic {}", v.pci, r.guest, r.nic),
                    None => match out.iter().find(|a: &&VfAssignment| a.pci == v.pci) {
                        Some(a) => format!("{} guest {} nic {}", v.pci, a.guest, a.nic),
                        None => format!("{} bound to {VFIO_PCI} by someone else", v.pci),
                    },
                })
                .collect();
            return Err(SriovError::Exhausted {
                pool: pool.name.clone(),
                from: pool.source.clone(),
                guest: g.name.clone(),
                nic: i,
                total: vfs.len(),
                taken: holders.join(", "),
            });
        };
        taken.insert(v.pci);
        out.push(make(v));
    }
    Ok(out)
}

/// The VF assignments of one guest's NICs for `guest up` (`up`: held ones kept, the others
/// allocated) or `guest down` (only the NICs that stay keep theirs; with [`Nics::All`] none).
///
/// # Errors
///
/// As [`assign`] (only when `up`).
pub fn for_guest(
    cfg: &Config,
    observed: &ObservedState,
    guest: &str,
    nics: Nics,
    up: bool,
) -> Result<Vec<VfAssignment>, SriovError> {
    let one = match nics {
        Nics::One(n) => Some(n),
        Nics::All => None,
    };
    let all = if up {
        assign(cfg, observed, Some((guest, one)))?
    } else {
        // Selecting no NIC (guest names are never empty) only keeps what is held.
        assign(cfg, observed, Some(("", None)))?
    };
    Ok(all
        .into_iter()
        .filter(|a| a.guest == guest)
        .filter(|a| match (up, one) {
            (true, one) => one.is_none_or(|n| n == a.nic),
            (false, Some(n)) => a.nic != n,
            (false, None) => false,
        })
        .collect())
}

/// The pools one guest's NICs draw from (its observation reads them).
pub fn guest_sources(cfg: &Config, guest: &str) -> Vec<VfSource> {
    let mut out: Vec<VfSource> = Vec::new();
    for nic in cfg
        .guest(guest)
        .map(|g| g.nics.as_slice())
        .unwrap_or_default()
    {
        if let (NicType::Hostdev(_), Some(p)) = (&nic.kind, cfg.pool(&nic.network)) {
            if !out.contains(&p.source) {
                out.push(p.source.clone());
            }
        }
    }
    out
}

/// The ops that make the VFs match `desired.vfs`: VFs recorded for owners `desired.scope`
/// covers that are no longer wanted are released first (driver, then settings back, then
/// the record marked free), then the wanted ones are recorded, set and bound.
pub fn ops(observed: &ObservedState, desired: &DesiredState) -> Vec<Op> {
    let sr = &observed.sriov;
    let mut out = Vec::new();
    for rec in sr
        .records
        .iter()
        .filter(|r| r.active && desired.scope.covers(&Owner::new(&r.guest)))
    {
        let wanted = desired
            .vfs
            .iter()
            .any(|a| a.guest == rec.guest && a.nic == rec.nic && a.pci == rec.pci);
        if wanted {
            continue;
        }
        if let Some(vf) = sr.vf(rec.pci) {
            let ours = vf.driver.as_deref() == Some(VFIO_PCI);
            if rec.managed && ours && rec.driver.as_deref() != Some(VFIO_PCI) {
                out.push(Op::BindVf {
                    pci: rec.pci,
                    driver: rec.driver.clone(),
                    old: vf.driver.clone(),
                });
            }
            if let Some(saved) = &rec.saved {
                let (set, old) = saved.as_params().diff(vf.state.as_ref());
                if !set.is_empty() {
                    out.push(Op::SetVf {
                        pf: vf.pf.clone(),
                        vf: vf.index,
                        set,
                        old,
                    });
                }
            }
        }
        out.push(Op::RecordVf {
            pci: rec.pci,
            record: Some(Box::new(VfRecord {
                active: false,
                ..rec.clone()
            })),
            old: Some(Box::new(rec.clone())),
        });
    }
    for a in &desired.vfs {
        let Some(vf) = sr.vf(a.pci) else {
            continue;
        };
        let rec = sr.record(a.pci);
        let mine = rec.is_some_and(|r| r.active && r.guest == a.guest && r.nic == a.nic);
        if !mine {
            out.push(Op::RecordVf {
                pci: a.pci,
                record: Some(Box::new(VfRecord {
                    pci: a.pci,
                    pf: vf.pf.clone(),
                    vf: vf.index,
                    pool: a.pool.clone(),
                    guest: a.guest.clone(),
                    nic: a.nic,
                    active: true,
                    managed: a.managed,
                    driver: vf.driver.clone(),
                    saved: vf.state,
                })),
                old: rec.cloned().map(Box::new),
            });
        }
        let (set, old) = a.params().diff(vf.state.as_ref());
        if !set.is_empty() {
            out.push(Op::SetVf {
                pf: vf.pf.clone(),
                vf: vf.index,
                set,
                old,
            });
        }
        if a.managed && vf.driver.as_deref() != Some(VFIO_PCI) {
            out.push(Op::BindVf {
                pci: a.pci,
                driver: Some(VFIO_PCI.to_string()),
                old: vf.driver.clone(),
            });
        }
    }
    out
}

/// Whether the effect of a VF op is visible in `s` (recovery undoes it then); `None` for
/// other ops.
pub fn visible(op: &Op, s: &ObservedState) -> Option<bool> {
    let sr = &s.sriov;
    Some(match op {
        Op::SetVf { pf, vf, set, .. } => sr
            .vfs
            .iter()
            .find(|v| v.pf == *pf && v.index == *vf)
            .and_then(|v| v.state.as_ref())
            .is_some_and(|now| set.holds_in(now)),
        Op::BindVf { pci, driver, .. } => sr.vf(*pci).is_some_and(|v| v.driver == *driver),
        Op::RecordVf { pci, record, .. } => sr.record(*pci) == record.as_deref(),
        _ => return None,
    })
}

/// The sources an observation must read for `ops`' VFs to be seen (recovery's query).
pub fn sources_of(ops: &[Op]) -> Vec<VfSource> {
    let mut out: Vec<VfSource> = Vec::new();
    for op in ops {
        let s = match op {
            Op::SetVf { pf, .. } => VfSource::Pf(pf.clone()),
            Op::BindVf { pci, .. } | Op::RecordVf { pci, .. } => VfSource::Vfs(vec![*pci]),
            _ => continue,
        };
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Carries out a VF op on an observation (the in-memory host and recovery's simulation).
///
/// # Errors
///
/// The VF does not exist.
pub fn apply(op: &Op, s: &mut ObservedState) -> Result<(), String> {
    let sr = &mut s.sriov;
    match op {
        Op::SetVf { pf, vf, set, .. } => {
            let v = sr
                .vfs
                .iter_mut()
                .find(|v| v.pf == *pf && v.index == *vf)
                .ok_or_else(|| format!("{pf} has no VF {vf}"))?;
            let now = v.state.unwrap_or(VfState {
                mac: MacAddr::new([0; 6]),
                vlan: 0,
                spoofchk: None,
                trust: None,
                max_tx_rate: 0,
            });
            v.state = Some(set.applied_to(&now));
        }
        Op::BindVf { pci, driver, .. } => {
            let v = sr
                .vfs
                .iter_mut()
                .find(|v| v.pci == *pci)
                .ok_or_else(|| format!("no PCI device {pci}"))?;
            v.driver = driver.clone();
        }
        Op::RecordVf { pci, record, .. } => {
            sr.records.retain(|r| r.pci != *pci);
            if let Some(r) = record {
                sr.records.push((**r).clone());
                sr.records.sort_by_key(|r| r.pci);
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pci(s: &str) -> PciAddr {
        s.parse().unwrap()
    }

    #[test]
    fn pci_addresses_parse_print_and_refuse() {
        let a = pci("0000:03:10.1");
        assert_eq!(a.to_string(), "0000:03:10.1");
        assert_eq!(pci("03:10.1"), a);
        assert_eq!(pci("10000:ff:1f.7").to_string(), "10000:ff:1f.7");
        for bad in [
            "",
            "0000:03:10",
            "0000:03:10.8",
            "0000:03:20.0",
            "0000:103:10.0",
            "0000:03:10.-1",
            "0000:0g:10.0",
            "1:2:3:4.0",
            "0000:03:10.1 ",
        ] {
            let e = bad.parse::<PciAddr>().unwrap_err();
            assert!(e.to_string().contains("is not a PCI address"), "{bad}: {e}");
        }
    }

    fn record() -> VfRecord {
        VfRecord {
            pci: pci("0000:03:10.2"),
            pf: IfName::new("eth3").unwrap(),
            vf: 1,
            pool: "passthrough".into(),
            guest: "web".into(),
            nic: 0,
            active: true,
            managed: true,
            driver: Some("ixgbevf".into()),
            saved: Some(VfState {
                mac: MacAddr::new([0x8a, 0, 0, 0, 0, 1]),
                vlan: 0,
                spoofchk: Some(true),
                trust: None,
                max_tx_rate: 0,
            }),
        }
    }

    fn vf_ops() -> Vec<Op> {
        vec![
            Op::RecordVf {
                pci: pci("0000:03:10.2"),
                record: Some(Box::new(record())),
                old: None,
            },
            Op::SetVf {
                pf: IfName::new("eth3").unwrap(),
                vf: 1,
                set: VfParams {
                    mac: Some(MacAddr::new([0x52, 0x54, 0, 0, 0, 1])),
                    vlan: Some(42),
                    max_tx_rate: Some(100),
                    ..VfParams::default()
                },
                old: VfParams {
                    mac: Some(MacAddr::new([0x8a, 0, 0, 0, 0, 1])),
                    vlan: Some(0),
                    max_tx_rate: Some(0),
                    ..VfParams::default()
                },
            },
            Op::BindVf {
                pci: pci("0000:03:10.2"),
                driver: Some(VFIO_PCI.into()),
                old: Some("ixgbevf".into()),
            },
        ]
    }

    /// The journal holds VF ops as JSON; each op's inverse's inverse is the op.
    #[test]
    fn vf_ops_survive_the_journal_and_invert() {
        for op in vf_ops() {
            let json = serde_json::to_string(&op).unwrap();
            let back: Op = serde_json::from_str(&json).unwrap();
            assert_eq!(back, op, "{json}");
            let inv = op.inverse();
            assert_eq!(inv.len(), 1);
            assert_eq!(inv[0].inverse(), vec![op.clone()]);
        }
    }

    #[test]
    fn vf_ops_read_as_commands() {
        let cmds: Vec<String> = vf_ops().iter().map(Op::command).collect();
        assert_eq!(
            cmds,
            [
                "# record the allocation of VF 0000:03:10.2",
                "ip link set dev eth3 vf 1 mac 52:54:00:00:00:01 vlan 42 min_tx_rate 0 max_tx_rate 100",
                "echo 'vfio-pci' > /sys/bus/pci/devices/0000:03:10.2/driver_override && echo 0000:03:10.2 > /sys/bus/pci/drivers/ixgbevf/unbind && echo 0000:03:10.2 > /sys/bus/pci/drivers/vfio-pci/bind",
            ]
        );
        // Back to the host driver: the override cleared, bound by name.
        assert_eq!(
            vf_ops()[2].inverse()[0].command(),
            "echo '' > /sys/bus/pci/devices/0000:03:10.2/driver_override && echo 0000:03:10.2 > /sys/bus/pci/drivers/vfio-pci/unbind && echo 0000:03:10.2 > /sys/bus/pci/drivers/ixgbevf/bind"
        );
        assert_eq!(
            vf_ops()[0].to_string(),
            "allocate VF 0000:03:10.2 (eth3 vf 1) of network passthrough to guest web nic 0"
        );
    }

    #[test]
    fn params_set_only_what_differs() {
        let now = record().saved.unwrap();
        let want = VfParams {
            mac: Some(now.mac),
            vlan: Some(7),
            spoofchk: Some(true),
            trust: Some(false),
            max_tx_rate: None,
        };
        let (set, old) = want.diff(Some(&now));
        assert_eq!(
            set,
            VfParams {
                vlan: Some(7),
                trust: Some(false),
                ..VfParams::default()
            }
        );
        assert_eq!(
            old,
            VfParams {
                vlan: Some(0),
                ..VfParams::default()
            }
        );
        assert!(set.applied_to(&now) != now && want.holds_in(&set.applied_to(&now)));
        // Nothing known: everything wanted is set, nothing to put back.
        let (set, old) = want.diff(None);
        assert_eq!(set, want);
        assert!(old.is_empty());
    }
}
