//! The backend `rate` key (reference §15): validation, and netback's limit reproduced with tc
//! on a QEMU `-emu` tap, which netback does not police.
//!
//! **What netback enforces.** libxl writes `rate = "<bytes>,<usecs>"`; netback lets the guest
//! *transmit* at most `bytes` per `usecs` interval (credit per queue, refills capped at
//! `max(128 KiB, bytes)`), reads the key at connect time and again whenever it changes (a
//! xenstore watch), and limits nothing in the other direction. A value netback cannot parse
//! means "unlimited" (a kernel warning only); `0,<usecs>` (what xl writes for `rate=100b/s`)
//! means the guest can never transmit.
//!
//! **PV vif** (`online`): netback does the work; hvnet only refuses a key that would silently
//! block the guest (0 bytes per interval) or silently be ignored (not `BYTES,USECS`, or a zero
//! or oversized interval), with `hotplug-error` and `hotplug-status=error`.
//!
//! **`-emu` tap** (`add`): QEMU's tap bypasses netback, so hvnet applies the same limit to the
//! same direction, and only that one: what the guest sends arrives on the host as the tap's
//! *ingress*, which is redirected (an `ingress` qdisc with a match-all u32 filter and a mirred
//! egress redirect, as hvnet does for KVM NICs) to an IFB named [`ifb_name`] whose root tbf
//! (handle [`HANDLE`], hvnet's `4856:`) has netback's rate and bucket. What the host sends to
//! the guest stays unlimited, as with netback; a root tbf on the tap would limit it and make
//! the emulated NIC behave differently from the PV one. `remove` deletes the ingress qdisc and
//! the IFB (the tap's own deletion would leave the IFB behind). The IFB is owned by
//! [`hvnet_core::state::Owner::hotplug`], so `hvnet apply` and `down` leave it alone; the ops
//! are planned by [`super::plan::Planner::tap_rate`] and run in the hotplug's transaction.

use std::time::Duration;

use hvnet_core::op::HVNET_QDISC_HANDLE;
use hvnet_core::state::Tbf;
use hvnet_core::types::{IfName, XlRate};

use super::naming::DeviceNames;
use super::store::{BackendKeys, Store};
use super::HotplugError;

/// The handle of hvnet's tbf on the IFB (`4856:`).
pub const HANDLE: u32 = HVNET_QDISC_HANDLE;

/// netback's smallest bucket: refills are capped at `max(128 KiB, bytes per interval)`
/// (`tx_add_credit` in `drivers/net/xen-netback/netback.c`).
pub const NETBACK_MIN_BURST: u64 = XlRate::NETBACK_MIN_BUCKET;

/// How long a packet may wait in the IFB's tbf queue (as hvnet's other tbfs).
pub const LATENCY: Duration = Duration::from_millis(50);

/// Validates the backend `rate` key (`value` as read, `path` for the message): `None` for no
/// key, the limit otherwise.
///
/// Refused, with the key and the reason in the message: anything netback would not parse
/// (`BYTES,USECS` in decimal; netback would silently leave the guest unlimited), a zero or
/// out-of-range interval, and 0 bytes per interval (the guest could never transmit).
pub fn parse_key(value: Option<&str>, path: &str) -> Result<Option<XlRate>, HotplugError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    XlRate::parse_xenstore(v).map(Some).map_err(|e| {
        HotplugError::runtime(format!("bad xenstore key {path}={v:?}: {}", reason(&e)))
    })
}

/// The reason part of a rate error (without the "xl rate ..." prefix).
fn reason(e: &hvnet_core::types::TypeError) -> String {
    match e {
        hvnet_core::types::TypeError::XlRate { reason, .. } => reason.to_string(),
        other => other.to_string(),
    }
}

/// The tbf reproducing netback's credit: the average rate `bytes × 10⁶ / usecs` bytes per
/// second (rounded, at least 1), a bucket of `max(128 KiB, bytes)` and a queue of
/// [`LATENCY`] at that rate plus the bucket.
pub fn tbf(rate: &XlRate) -> Tbf {
    let usecs = u128::from(rate.interval_usecs());
    let per_sec = (u128::from(rate.bytes_per_interval()) * 1_000_000 + usecs / 2) / usecs;
    let per_sec = u64::try_from(per_sec).unwrap_or(u64::MAX).max(1);
    let burst = u32::try_from(rate.bucket_bytes()).unwrap_or(u32::MAX);
    let queued = u128::from(per_sec) * LATENCY.as_nanos() / 1_000_000_000;
    let limit = queued.saturating_add(u128::from(burst));
    Tbf {
        rate_bytes_per_sec: per_sec,
        burst_bytes: burst,
        limit_bytes: u32::try_from(limit).unwrap_or(u32::MAX),
    }
}

/// The IFB shaping what the guest sends through `tap`: hvnet's usual `hvi<hash>` name for a
/// link's IFB.
pub fn ifb_name(tap: &str) -> String {
    match IfName::new(tap) {
        Ok(n) => hvnet_core::resolve::ifb_name(&n).to_string(),
        // Not a valid name (cannot happen for an existing link): still a stable 15-byte name.
        Err(_) => format!(
            "hvi{:012x}",
            hvnet_core::types::stable_hash64(tap.as_bytes()) & 0xffff_ffff_ffff
        ),
    }
}

/// The backend directory of vif `domid`.`devid` in dom0 (absolute, as `xl` and netback see
/// it).
pub fn backend_path(domid: u32, devid: u32) -> String {
    format!("/local/domain/0/backend/vif/{domid}/{devid}")
}

/// What [`retune`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retuned {
    /// The backend `rate` node written or removed.
    pub key: String,
    /// The value written (`None`: the key was removed).
    pub value: Option<String>,
    /// The limit set (`None`: removed).
    pub rate: Option<XlRate>,
    /// The `-emu` tap on this host whose limit was set or removed, if there is one.
    pub tap: Option<String>,
}

impl std::fmt::Display for Retuned {
    /// What `hvnet xen rate` prints after `vif<D>.<N>: `.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.rate, &self.value) {
            (Some(r), Some(v)) => write!(f, "rate {r} ({}={v})", self.key)?,
            _ => write!(f, "no rate ({} removed)", self.key)?,
        }
        match (&self.tap, &self.value) {
            (Some(t), Some(_)) => write!(f, "; tap {t}: same limit on what the guest sends (tc)"),
            (Some(t), None) => write!(f, "; tap {t}: tc limit removed"),
            (None, _) => Ok(()),
        }
    }
}

/// `hvnet xen rate`: sets (or with `None` removes) the backend `rate` key of vif
/// `domid`.`devid` (netback watches it and retunes the PV vif live), and gives the NIC's
/// `-emu` tap, if it exists in this network namespace, the same limit with tc (or removes
/// it). The vif's backend directory must exist.
pub fn retune(
    store: &dyn Store,
    domid: u32,
    devid: u32,
    rate: Option<&XlRate>,
    lock_dir: &std::path::Path,
) -> Result<Retuned, HotplugError> {
    let be = backend_path(domid, devid);
    let exists = store
        .read(&be)
        .map_err(|e| HotplugError::runtime(e.to_string()))?
        .is_some();
    if !exists {
        return Err(HotplugError::runtime(format!(
            "no vif {domid}.{devid}: {be} does not exist in xenstore"
        )));
    }
    let keys = BackendKeys::read(store, &be).map_err(|e| HotplugError::runtime(e.to_string()))?;
    let names = DeviceNames::resolve(
        true,
        None,
        Some((domid, devid)),
        keys.vifname.as_deref(),
        keys.emulated(),
    )
    .map_err(|e| HotplugError::runtime(e.to_string()))?;
    // The hotplug lock first: a concurrent `add`/`remove` of the tap must not interleave.
    let mut session = super::Session::open(lock_dir)?;
    let key = format!("{be}/rate");
    let value = rate.map(XlRate::xenstore_value);
    let written = match &value {
        Some(v) => store.write(&key, v),
        None => store.rm(&key),
    };
    written.map_err(|e| HotplugError::runtime(e.to_string()))?;

    // The tap: under its vifname-emu name once `add` renamed it, else QEMU's default name.
    let taps = [names.target.as_str(), names.current.as_str()];
    let scope: std::collections::BTreeSet<String> = taps
        .iter()
        .flat_map(|t| [t.to_string(), ifb_name(t)])
        .collect();
    let observed = session.observe(&taps, &[], Some(&scope))?;
    let tap = taps
        .iter()
        .find(|n| observed.link(n).is_some())
        .map(|n| n.to_string());
    let mut p = super::plan::Planner::new(&observed);
    match &tap {
        Some(t) => p.tap_rate(t, t, rate)?,
        // No tap (PV-only NIC, or another host): a leftover IFB of a vanished tap still goes.
        None if rate.is_none() => {
            for name in taps {
                p.tap_rate(name, name, None)?;
            }
        }
        None => {}
    }
    session.transact(&format!("xen rate {domid}.{devid}"), p.ops)?;
    Ok(Retuned {
        key,
        value,
        rate: rate.copied(),
        tap,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const P: &str = "backend/vif/5/0/rate";

    #[test]
    fn valid_keys() {
        assert_eq!(parse_key(None, P).unwrap(), None);
        assert_eq!(parse_key(Some(""), P).unwrap(), None);
        let r = parse_key(Some("250000,20000"), P).unwrap().unwrap();
        assert_eq!(r, "100Mb/s@20ms".parse().unwrap());
        let r = parse_key(Some("4294967295000,1"), P).unwrap().unwrap();
        assert_eq!(r.bytes_per_interval(), 4_294_967_295_000);
    }

    #[test]
    fn keys_that_block_or_are_ignored_by_netback_are_refused() {
        for (v, why) in [
            ("0,50000", "would block the guest"),
            ("0,1", "would block the guest"),
            ("250000,0", "interval"),
            ("250000,4294967296", "interval"),
            ("250000", "BYTES,MICROSECONDS"),
            ("100Mb/s", "BYTES,MICROSECONDS"),
            ("-1,50000", "BYTES,MICROSECONDS"),
            ("1,2,3", "BYTES,MICROSECONDS"),
        ] {
            let e = parse_key(Some(v), P).unwrap_err();
            assert!(
                e.message.starts_with(&format!("bad xenstore key {P}=")),
                "{v}: {e}"
            );
            assert!(e.message.contains(why), "{v}: {e}");
        }
    }

    fn params(t: &Tbf) -> (u64, u32, u32) {
        (t.rate_bytes_per_sec, t.burst_bytes, t.limit_bytes)
    }

    #[test]
    fn tbf_mirrors_netback_credit() {
        // 100Mb/s@20ms: 250000 B per 20 ms = 12.5 MB/s; bucket = the credit (> 128 KiB).
        let (rate, burst, limit) = params(&tbf(&"100Mb/s@20ms".parse().unwrap()));
        assert_eq!((rate, burst), (12_500_000, 250_000));
        assert_eq!(limit, 12_500_000 / 20 + 250_000);
        // 10Mb/s@50ms: 62500 B per 50 ms; netback's refill cap is still 128 KiB.
        let (rate, burst, _) = params(&tbf(&"10Mb/s@50ms".parse().unwrap()));
        assert_eq!((rate, burst), (1_250_000, 131_072));
        // 1Kb/s: 6 B per 50 ms = 120 B/s (xl's truncation kept).
        let (rate, _, _) = params(&tbf(&"1Kb/s".parse().unwrap()));
        assert_eq!(rate, 120);
        // 1 byte per 3 s: rounds to 0 B/s, kept at 1.
        let (rate, _, _) = params(&tbf(&XlRate::new(1, 3_000_000).unwrap()));
        assert_eq!(rate, 1);
        // Huge credit: the bucket saturates.
        let (_, burst, _) = params(&tbf(&"4294967295GB/s@1us".parse().unwrap()));
        assert_eq!(burst, u32::MAX);
    }

    #[test]
    fn ifb_names_are_hvnets() {
        let n = ifb_name("vif5.0-emu");
        assert_eq!(n.len(), 15);
        assert!(n.starts_with("hvi"));
        assert_eq!(n, ifb_name("vif5.0-emu"));
        assert_ne!(n, ifb_name("vif5.1-emu"));
        assert_eq!(
            n,
            hvnet_core::resolve::ifb_name(&"vif5.0-emu".parse().unwrap()).to_string()
        );
    }
}
