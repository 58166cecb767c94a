//! Traffic control: what [`Request`](super::Request)s create (qdiscs,
//! classes, filters) and what the tc dumps report, with their parsing.
//!
//! hvnet limits rates in both directions the way the CNI `bandwidth` plugin
//! does, with what every kernel built for containers has (no `police`
//! action, no `matchall` classifier needed):
//!
//! * **egress of a device** (towards a guest): a root `tbf` (or `htb` with
//!   classes) on the device;
//! * **ingress of a device** (from a guest): an `ingress` qdisc on the
//!   device, a u32 match-all filter on it whose `mirred` action redirects
//!   every packet to an `ifb` device, and a root `tbf` on the ifb.
//!
//! ```
//! use hvnet_linux::netlink::{consts, FilterSpec, Mirred, MirredAction, QdiscKind, QdiscSpec, Request};
//!
//! let (tap, ifb) = (7, 8);
//! let shape_ingress = [
//!     Request::NewQdisc(QdiscSpec::ingress(tap)),
//!     Request::NewFilter(FilterSpec {
//!         ifindex: tap,
//!         parent: consts::TC_H_INGRESS_QDISC,
//!         prio: 1,
//!         protocol: consts::ETH_P_ALL,
//!         handle: 0,
//!         classid: None,
//!         mirred: Some(Mirred { action: MirredAction::EgressRedirect, ifindex: ifb }),
//!     }),
//!     Request::ReplaceQdisc(QdiscSpec {
//!         ifindex: ifb,
//!         parent: consts::TC_H_ROOT,
//!         handle: hvnet_linux::netlink::tc_handle(1, 0),
//!         kind: QdiscKind::tbf_with_latency(
//!             6_250_000, // 50 Mbit/s
//!             32 * 1024,
//!             std::time::Duration::from_millis(50),
//!         ),
//!     }),
//! ];
//! assert_eq!(
//!     shape_ingress[1].to_string(),
//!     "add u32 filter prio 1 parent ffff: on ifindex 7 (mirred egress redirect to ifindex 8)"
//! );
//! ```
//!
//! tbf and htb keep their buckets as times in packet-scheduler ticks of
//! 64 ns; the conversions from and to bytes at a rate are here.

use std::fmt;
use std::time::Duration;

use super::attrs::{get_i32, get_string, get_u32, get_u64, Attrs, TcMsg};
use super::consts::{
    TCA_ACT_KIND, TCA_ACT_OPTIONS, TCA_CHAIN, TCA_EGRESS_MIRROR, TCA_EGRESS_REDIR, TCA_HTB_CEIL64,
    TCA_HTB_DIRECT_QLEN, TCA_HTB_INIT, TCA_HTB_PARMS, TCA_HTB_RATE64, TCA_INGRESS_MIRROR,
    TCA_INGRESS_REDIR, TCA_KIND, TCA_MIRRED_PARMS, TCA_OPTIONS, TCA_TBF_PARMS, TCA_TBF_PRATE64,
    TCA_TBF_RATE64, TCA_U32_ACT, TCA_U32_CLASSID, TCA_U32_DIVISOR, TCA_U32_SEL, TC_H_INGRESS,
    TC_H_INGRESS_QDISC, TC_H_ROOT, TC_U32_TERMINAL,
};
use super::stats::{parse_tc_stats, TcStats};

/// The tc handle `major:minor`: `tc_handle(1, 0x10)` is tc's `1:10` (tc
/// reads both numbers as hexadecimal), `tc_handle(1, 0)` is `1:`.
///
/// ```
/// use hvnet_linux::netlink::tc_handle;
/// assert_eq!(tc_handle(1, 0x10), 0x0001_0010);
/// assert_eq!(tc_handle(0xffff, 0), hvnet_linux::netlink::consts::TC_H_INGRESS_QDISC);
/// ```
pub const fn tc_handle(major: u16, minor: u16) -> u32 {
    ((major as u32) << 16) | minor as u32
}

/// Nanoseconds per packet-scheduler tick (`PSCHED_TICKS2NS(1)`; the second
/// field of `/proc/net/psched`, fixed since Linux 2.6.31).
pub(crate) const NS_PER_TICK: u64 = 64;
const NS_PER_SEC: u128 = 1_000_000_000;

/// Ticks it takes to send `bytes` at `rate` bytes/s, rounded up (so that a
/// bucket of that many ticks holds at least `bytes`); `None` if the rate is
/// 0 or the time does not fit 32 bits of ticks (about 275 s).
pub(crate) fn bytes_to_ticks(bytes: u32, rate: u64) -> Option<u32> {
    if rate == 0 {
        return None;
    }
    let num = u128::from(bytes) * NS_PER_SEC;
    let den = u128::from(rate) * u128::from(NS_PER_TICK);
    u32::try_from(num.div_ceil(den)).ok()
}

/// Bytes sent at `rate` bytes/s during `ticks`, rounded down and saturated
/// to `u32` (the inverse of [`bytes_to_ticks`], up to one tick's worth).
pub(crate) fn ticks_to_bytes(ticks: u32, rate: u64) -> u32 {
    let bytes = u128::from(ticks) * u128::from(NS_PER_TICK) * u128::from(rate) / NS_PER_SEC;
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// tc's notation of a handle: `1:`, `1:10`, `ffff:`, `:5`.
pub(crate) fn handle_str(h: u32) -> String {
    let (major, minor) = (h >> 16, h & 0xffff);
    match (major, minor) {
        (major, 0) => format!("{major:x}:"),
        (0, minor) => format!(":{minor:x}"),
        (major, minor) => format!("{major:x}:{minor:x}"),
    }
}

/// tc's notation of a parent: `root`, `ingress` or `parent 1:10`.
pub(crate) fn parent_str(parent: u32) -> String {
    match parent {
        TC_H_ROOT => "root".to_owned(),
        TC_H_INGRESS => "ingress".to_owned(),
        p => format!("parent {}", handle_str(p)),
    }
}

// ----- what can be created -----

/// A qdisc to add ([`Request::NewQdisc`](super::Request::NewQdisc)) or to
/// add or change ([`Request::ReplaceQdisc`](super::Request::ReplaceQdisc)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QdiscSpec {
    /// The device.
    pub ifindex: u32,
    /// Where the qdisc goes: [`TC_H_ROOT`](super::consts::TC_H_ROOT) (the
    /// device's egress), [`TC_H_INGRESS`](super::consts::TC_H_INGRESS) (for
    /// [`QdiscKind::Ingress`]) or a class of a classful qdisc.
    pub parent: u32,
    /// The qdisc's handle `major:0` (see [`tc_handle`]); 0 lets the kernel
    /// pick one. An ingress qdisc's handle is always `ffff:`
    /// ([`TC_H_INGRESS_QDISC`](super::consts::TC_H_INGRESS_QDISC)).
    pub handle: u32,
    /// Type and parameters.
    pub kind: QdiscKind,
}

impl QdiscSpec {
    /// The `ingress` qdisc of a device (`tc qdisc add dev X handle ffff:
    /// ingress`), to which ingress filters are attached.
    pub fn ingress(ifindex: u32) -> QdiscSpec {
        QdiscSpec {
            ifindex,
            parent: TC_H_INGRESS,
            handle: TC_H_INGRESS_QDISC,
            kind: QdiscKind::Ingress,
        }
    }
}

/// A qdisc type and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QdiscKind {
    /// Token bucket filter: shapes everything to `rate_bytes_per_sec`,
    /// letting bursts of up to `burst_bytes` through at line rate.
    ///
    /// Rates count link-layer bytes (Ethernet header included, no FCS), so
    /// TCP goodput is about 0.956 × rate. Rates of 4 GiB/s and more work.
    Tbf {
        /// Rate in bytes per second (tc's `rate 10mbit` is 1 250 000).
        rate_bytes_per_sec: u64,
        /// Bucket size in bytes. **Packets larger than this are dropped**,
        /// so it must be at least the device MTU plus the Ethernet header
        /// (with GSO, larger packets are segmented first). At high rates
        /// it must also bridge timer and scheduling delays, or the rate is
        /// not reached: a few milliseconds' worth (e.g. 512 KiB at 1 Gbit/s).
        burst_bytes: u32,
        /// Bytes that may wait in the queue; more are dropped. tc derives
        /// it from a latency: see [`QdiscKind::tbf_with_latency`].
        limit_bytes: u32,
        /// Peak rate in bytes/s (a second, smaller bucket that limits the
        /// speed of bursts); must be above the rate, and needs `mtu`.
        peak_bytes_per_sec: Option<u64>,
        /// Size of the peak-rate bucket in bytes (tc's `mtu`/`minburst`);
        /// only with a peak rate.
        mtu: Option<u32>,
    },
    /// Hierarchical token bucket: classful; traffic is shaped by its
    /// classes ([`ClassSpec`]).
    Htb {
        /// Minor number of the class that unclassified traffic goes to:
        /// tc's `default 10` is `0x10` (class `1:10`). Traffic goes
        /// unshaped to the device if that class does not exist.
        default_class: u32,
        /// Divisor deriving a class's quantum from its rate for classes
        /// created without one (tc's `r2q`, default 10). Classes created
        /// by this crate always carry their own quantum.
        r2q: Option<u32>,
    },
    /// The ingress qdisc: holds the filters that see a device's incoming
    /// packets. See [`QdiscSpec::ingress`].
    Ingress,
}

impl QdiscKind {
    /// A tbf whose queue holds what arrives during `latency` at the rate,
    /// plus the burst (tc's `latency` option and the CNI bandwidth
    /// plugin's computation), saturated to 4 GiB.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hvnet_linux::netlink::QdiscKind;
    /// // tc qdisc add ... tbf rate 10mbit burst 16kb latency 50ms
    /// let tbf = QdiscKind::tbf_with_latency(1_250_000, 16384, Duration::from_millis(50));
    /// assert!(matches!(tbf, QdiscKind::Tbf { limit_bytes: 78884, .. }));
    /// ```
    pub fn tbf_with_latency(
        rate_bytes_per_sec: u64,
        burst_bytes: u32,
        latency: Duration,
    ) -> QdiscKind {
        let queued = u128::from(rate_bytes_per_sec) * latency.as_nanos() / NS_PER_SEC;
        let limit = queued.saturating_add(u128::from(burst_bytes));
        QdiscKind::Tbf {
            rate_bytes_per_sec,
            burst_bytes,
            limit_bytes: u32::try_from(limit).unwrap_or(u32::MAX),
            peak_bytes_per_sec: None,
            mtu: None,
        }
    }

    /// The kernel's name of the qdisc type (`TCA_KIND`).
    pub fn name(&self) -> &'static str {
        match self {
            QdiscKind::Tbf { .. } => "tbf",
            QdiscKind::Htb { .. } => "htb",
            QdiscKind::Ingress => "ingress",
        }
    }
}

/// An htb class to add ([`Request::NewClass`](super::Request::NewClass))
/// or to add or change ([`Request::ReplaceClass`](super::Request::ReplaceClass)).
///
/// Its traffic is guaranteed `rate` and may borrow unused bandwidth of its
/// parent up to `ceil`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassSpec {
    /// The device.
    pub ifindex: u32,
    /// The htb qdisc (`1:`) or a parent class (`1:1`).
    pub parent: u32,
    /// The class id `major:minor`, with the qdisc's major (see [`tc_handle`]).
    pub classid: u32,
    /// Guaranteed rate in bytes per second (must not be 0).
    pub rate_bytes_per_sec: u64,
    /// Maximum rate in bytes per second (must not be 0; normally ≥ rate).
    pub ceil_bytes_per_sec: u64,
    /// Bytes that may be sent at once at line rate when the class has
    /// saved up tokens at `rate` (must not be 0; at least one MTU).
    pub burst_bytes: u32,
    /// The same for `ceil` (must not be 0).
    pub cburst_bytes: u32,
    /// Bytes a leaf class may send per round when it borrows. `None`:
    /// `rate / 10` bounded to 1000–200 000 bytes, which is what the kernel
    /// picks by itself with the default `r2q` but without its "quantum of
    /// class is big" warning. `Some(0)` leaves it to the kernel (using the
    /// qdisc's `r2q`).
    pub quantum: Option<u32>,
}

/// What a mirred action does with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MirredAction {
    /// Send it out of the target device instead (`mirred egress redirect`:
    /// the IFB method of shaping ingress traffic).
    EgressRedirect,
    /// Send a copy out of the target device (`mirred egress mirror`).
    EgressMirror,
    /// Let the target device receive it instead (`mirred ingress redirect`).
    IngressRedirect,
    /// Let the target device receive a copy (`mirred ingress mirror`).
    IngressMirror,
}

impl MirredAction {
    /// `tc_mirred.eaction`.
    pub(crate) fn eaction(self) -> i32 {
        match self {
            MirredAction::EgressRedirect => TCA_EGRESS_REDIR,
            MirredAction::EgressMirror => TCA_EGRESS_MIRROR,
            MirredAction::IngressRedirect => TCA_INGRESS_REDIR,
            MirredAction::IngressMirror => TCA_INGRESS_MIRROR,
        }
    }

    fn from_eaction(eaction: i32) -> Option<MirredAction> {
        match eaction {
            TCA_EGRESS_REDIR => Some(MirredAction::EgressRedirect),
            TCA_EGRESS_MIRROR => Some(MirredAction::EgressMirror),
            TCA_INGRESS_REDIR => Some(MirredAction::IngressRedirect),
            TCA_INGRESS_MIRROR => Some(MirredAction::IngressMirror),
            _ => None,
        }
    }

    /// `true` for the redirecting actions (the packet does not continue).
    pub fn is_redirect(self) -> bool {
        matches!(
            self,
            MirredAction::EgressRedirect | MirredAction::IngressRedirect
        )
    }
}

impl fmt::Display for MirredAction {
    /// tc's words: `egress redirect`, `ingress mirror`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MirredAction::EgressRedirect => "egress redirect",
            MirredAction::EgressMirror => "egress mirror",
            MirredAction::IngressRedirect => "ingress redirect",
            MirredAction::IngressMirror => "ingress mirror",
        })
    }
}

/// A mirred action: redirect or mirror packets to another device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mirred {
    /// Redirect or mirror, to the target's egress or ingress.
    pub action: MirredAction,
    /// The target device (in the same namespace).
    pub ifindex: u32,
}

/// A u32 filter that matches every packet (`u32 match u32 0 0`), with
/// an optional class and an optional mirred action ([`Request::NewFilter`](super::Request::NewFilter)).
///
/// `tc filter add dev X parent ffff: protocol all prio 1 u32 match u32 0 0
/// action mirred egress redirect dev IFB` is
///
/// ```
/// use hvnet_linux::netlink::{consts, FilterSpec, Mirred, MirredAction};
/// # let (x, ifb) = (3, 4);
/// let spec = FilterSpec {
///     ifindex: x,
///     parent: consts::TC_H_INGRESS_QDISC,
///     prio: 1,
///     protocol: consts::ETH_P_ALL,
///     handle: 0,
///     classid: None,
///     mirred: Some(Mirred { action: MirredAction::EgressRedirect, ifindex: ifb }),
/// };
/// # let _ = spec;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterSpec {
    /// The device.
    pub ifindex: u32,
    /// The qdisc (or class) the filter is attached to: `ffff:`
    /// ([`TC_H_INGRESS_QDISC`](super::consts::TC_H_INGRESS_QDISC)) for the
    /// ingress qdisc, `1:` for an htb qdisc.
    pub parent: u32,
    /// Priority (tc's `prio`/`pref`): lower runs first; 0 lets the kernel
    /// pick one.
    pub prio: u16,
    /// The ethertype the filter applies to, in host order:
    /// [`ETH_P_ALL`](super::consts::ETH_P_ALL) for all.
    pub protocol: u16,
    /// The filter handle; 0 lets the kernel pick one (`800::800` for the
    /// first u32 filter of a priority).
    pub handle: u32,
    /// The class matching packets are put into (tc's `classid`/`flowid`).
    pub classid: Option<u32>,
    /// The action applied to matching packets.
    pub mirred: Option<Mirred>,
}

// ----- what the dumps report -----

/// A qdisc, from [`Rtnl::dump_qdiscs`](super::Rtnl::dump_qdiscs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Qdisc {
    /// The device.
    pub ifindex: u32,
    /// Its handle (`1:` is `0x1_0000`); 0 for the default qdiscs the kernel
    /// attaches by itself.
    pub handle: u32,
    /// Its parent: [`TC_H_ROOT`](super::consts::TC_H_ROOT),
    /// [`TC_H_INGRESS`](super::consts::TC_H_INGRESS) or a class.
    pub parent: u32,
    /// The type (`TCA_KIND`): `"tbf"`, `"htb"`, `"ingress"`, `"noqueue"`,
    /// `"pfifo_fast"`, ...
    pub kind: String,
    /// Parameters of a tbf.
    pub tbf: Option<TbfInfo>,
    /// Parameters of an htb.
    pub htb: Option<HtbInfo>,
    /// Counters.
    pub stats: TcStats,
}

/// The parameters of a tbf as the kernel reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TbfInfo {
    /// Rate in bytes per second.
    pub rate_bytes_per_sec: u64,
    /// Bucket size in bytes, computed from the bucket's time (reported in
    /// 64 ns ticks): may be below the configured size by up to
    /// `rate × 64 ns` bytes (and a few bytes of rounding).
    pub burst_bytes: u32,
    /// Queue limit in bytes.
    pub limit_bytes: u32,
    /// Peak rate in bytes per second, if any.
    pub peak_bytes_per_sec: Option<u64>,
    /// Size of the peak-rate bucket in bytes (computed like `burst_bytes`),
    /// with a peak rate.
    pub mtu: Option<u32>,
}

/// The parameters of an htb qdisc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HtbInfo {
    /// Minor number of the default class (`0x10` for `1:10`).
    pub default_class: u32,
    /// Rate-to-quantum divisor.
    pub r2q: u32,
    /// Length of the queue of packets that bypass the classes (unclassified
    /// traffic without a default class).
    pub direct_qlen: Option<u32>,
    /// Packets sent through that queue.
    pub direct_packets: u32,
}

/// A traffic class, from [`Rtnl::dump_classes`](super::Rtnl::dump_classes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TcClass {
    /// The device.
    pub ifindex: u32,
    /// The class id (`1:10` is `0x1_0010`).
    pub classid: u32,
    /// The parent class, or [`TC_H_ROOT`](super::consts::TC_H_ROOT) for a
    /// class directly under its qdisc.
    pub parent: u32,
    /// The qdisc type the class belongs to (`"htb"`, ...).
    pub kind: String,
    /// Parameters of an htb class.
    pub htb: Option<HtbClassInfo>,
    /// Counters.
    pub stats: TcStats,
}

/// The parameters of an htb class as the kernel reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HtbClassInfo {
    /// Guaranteed rate in bytes per second.
    pub rate_bytes_per_sec: u64,
    /// Maximum rate in bytes per second.
    pub ceil_bytes_per_sec: u64,
    /// Burst at `rate` in bytes (computed from the reported ticks, see
    /// [`TbfInfo::burst_bytes`]).
    pub burst_bytes: u32,
    /// Burst at `ceil` in bytes.
    pub cburst_bytes: u32,
    /// Quantum in bytes (leaf classes).
    pub quantum: u32,
    /// Level in the tree: 0 for a leaf.
    pub level: u32,
    /// Priority among siblings when borrowing.
    pub prio: u32,
}

/// A filter, from [`Rtnl::dump_filters`](super::Rtnl::dump_filters).
///
/// A u32 filter added by [`Request::NewFilter`](super::Request::NewFilter)
/// shows up as three entries of the same priority: the classifier itself
/// (handle 0, no options), its hash table `800:` (with
/// [`U32Info::divisor`]) and the rule `800::800` (with the selector,
/// class and action).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TcFilter {
    /// The device.
    pub ifindex: u32,
    /// The qdisc or class it is attached to.
    pub parent: u32,
    /// The classifier (`"u32"`, `"bpf"`, ...).
    pub kind: String,
    /// Priority.
    pub prio: u16,
    /// Ethertype in host order ([`ETH_P_ALL`](super::consts::ETH_P_ALL), ...).
    pub protocol: u16,
    /// The filter handle (`800::800` is `0x8000_0800`).
    pub handle: u32,
    /// The filter chain.
    pub chain: Option<u32>,
    /// The class matching packets go to.
    pub classid: Option<u32>,
    /// The first mirred action, if any.
    pub mirred: Option<Mirred>,
    /// Details of a u32 filter entry.
    pub u32: Option<U32Info>,
}

/// A u32 filter entry: a hash table or a rule with its selector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct U32Info {
    /// For a hash table: its number of buckets.
    pub divisor: Option<u32>,
    /// For a rule: a match ends classification (`TC_U32_TERMINAL`).
    pub terminal: bool,
    /// For a rule: the 32-bit words it compares.
    pub keys: Vec<U32Key>,
}

impl U32Info {
    /// `true` for a rule that matches every packet (like `match u32 0 0`).
    pub fn matches_all(&self) -> bool {
        self.divisor.is_none() && self.keys.iter().all(|k| k.mask == 0)
    }
}

/// One key of a u32 selector: the packet word at `offset` (from the
/// network header), masked, must equal `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct U32Key {
    /// Mask, in host order (`0xffff_0000` selects the first two bytes).
    pub mask: u32,
    /// Value, in host order.
    pub value: u32,
    /// Byte offset of the word.
    pub offset: i32,
}

// ----- parsing -----

/// The ifindex of a tc message: positive.
fn tc_ifindex(hdr: &TcMsg) -> Option<u32> {
    u32::try_from(hdr.ifindex).ok().filter(|&i| i != 0)
}

/// The `TCA_KIND` and `TCA_OPTIONS` of a tc message.
fn kind_and_options(attrs: &[u8]) -> (Option<String>, Option<&[u8]>) {
    let (mut kind, mut options) = (None, None);
    for (ty, p) in Attrs::new(attrs) {
        match ty {
            TCA_KIND => kind = Some(get_string(p)),
            TCA_OPTIONS => options = Some(p),
            _ => {}
        }
    }
    (kind, options)
}

/// The 64-bit rate when the kernel reported one, else the 32-bit one.
fn rate64(rate32: u32, rate64: Option<u64>) -> u64 {
    rate64.unwrap_or(u64::from(rate32))
}

/// Parses an `RTM_NEWQDISC` payload; `None` without a header, a valid
/// ifindex or a kind.
pub(crate) fn parse_qdisc(payload: &[u8]) -> Option<Qdisc> {
    let (hdr, attrs) = TcMsg::parse(payload)?;
    let (kind, options) = kind_and_options(attrs);
    let mut q = Qdisc {
        ifindex: tc_ifindex(&hdr)?,
        handle: hdr.handle,
        parent: hdr.parent,
        kind: kind?,
        stats: parse_tc_stats(attrs),
        ..Qdisc::default()
    };
    if let Some(opts) = options {
        match q.kind.as_str() {
            "tbf" => q.tbf = parse_tbf(opts),
            "htb" => q.htb = parse_htb(opts),
            _ => {}
        }
    }
    Some(q)
}

/// `tc_ratespec.rate` (the last field, at offset 8).
fn ratespec_rate(spec: &[u8]) -> Option<u32> {
    spec.get(8..12).and_then(get_u32)
}

/// tbf options: `TCA_TBF_PARMS` (`struct tc_tbf_qopt`: two ratespecs,
/// limit, buffer and mtu in ticks) and the 64-bit rates.
fn parse_tbf(opts: &[u8]) -> Option<TbfInfo> {
    let (mut parms, mut r64, mut p64) = (None, None, None);
    for (ty, p) in Attrs::new(opts) {
        match ty {
            TCA_TBF_PARMS => parms = Some(p),
            TCA_TBF_RATE64 => r64 = get_u64(p),
            TCA_TBF_PRATE64 => p64 = get_u64(p),
            _ => {}
        }
    }
    let parms = parms?;
    let rate = rate64(ratespec_rate(parms)?, r64);
    let peak = rate64(ratespec_rate(parms.get(12..)?)?, p64);
    let field = |off: usize| parms.get(off..).and_then(get_u32);
    let (limit, buffer, mtu) = (field(24)?, field(28)?, field(32)?);
    let peak = Some(peak).filter(|&p| p != 0);
    Some(TbfInfo {
        rate_bytes_per_sec: rate,
        burst_bytes: ticks_to_bytes(buffer, rate),
        limit_bytes: limit,
        peak_bytes_per_sec: peak,
        mtu: peak.map(|p| ticks_to_bytes(mtu, p)),
    })
}

/// htb qdisc options: `TCA_HTB_INIT` (`struct tc_htb_glob`) and
/// `TCA_HTB_DIRECT_QLEN`.
fn parse_htb(opts: &[u8]) -> Option<HtbInfo> {
    let (mut init, mut direct_qlen) = (None, None);
    for (ty, p) in Attrs::new(opts) {
        match ty {
            TCA_HTB_INIT => init = Some(p),
            TCA_HTB_DIRECT_QLEN => direct_qlen = get_u32(p),
            _ => {}
        }
    }
    // struct tc_htb_glob { version, rate2quantum, defcls, debug, direct_pkts }
    let init = init?;
    let field = |i: usize| init.get(i * 4..).and_then(get_u32);
    Some(HtbInfo {
        r2q: field(1)?,
        default_class: field(2)?,
        direct_packets: field(4).unwrap_or(0),
        direct_qlen,
    })
}

/// Parses an `RTM_NEWTCLASS` payload; `None` without a header, a valid
/// ifindex or a kind.
pub(crate) fn parse_class(payload: &[u8]) -> Option<TcClass> {
    let (hdr, attrs) = TcMsg::parse(payload)?;
    let (kind, options) = kind_and_options(attrs);
    let mut c = TcClass {
        ifindex: tc_ifindex(&hdr)?,
        classid: hdr.handle,
        parent: hdr.parent,
        kind: kind?,
        stats: parse_tc_stats(attrs),
        htb: None,
    };
    if let (Some(opts), "htb") = (options, c.kind.as_str()) {
        c.htb = parse_htb_class(opts);
    }
    Some(c)
}

/// htb class options: `TCA_HTB_PARMS` (`struct tc_htb_opt`: rate and ceil
/// ratespecs, buffer, cbuffer, quantum, level, prio) and the 64-bit rates.
fn parse_htb_class(opts: &[u8]) -> Option<HtbClassInfo> {
    let (mut parms, mut r64, mut c64) = (None, None, None);
    for (ty, p) in Attrs::new(opts) {
        match ty {
            TCA_HTB_PARMS => parms = Some(p),
            TCA_HTB_RATE64 => r64 = get_u64(p),
            TCA_HTB_CEIL64 => c64 = get_u64(p),
            _ => {}
        }
    }
    let parms = parms?;
    let rate = rate64(ratespec_rate(parms)?, r64);
    let ceil = rate64(ratespec_rate(parms.get(12..)?)?, c64);
    let field = |off: usize| parms.get(off..).and_then(get_u32);
    Some(HtbClassInfo {
        rate_bytes_per_sec: rate,
        ceil_bytes_per_sec: ceil,
        burst_bytes: ticks_to_bytes(field(24)?, rate),
        cburst_bytes: ticks_to_bytes(field(28)?, ceil),
        quantum: field(32)?,
        level: field(36)?,
        prio: field(40)?,
    })
}

/// Parses an `RTM_NEWTFILTER` payload; `None` without a header, a valid
/// ifindex or a kind.
pub(crate) fn parse_filter(payload: &[u8]) -> Option<TcFilter> {
    let (hdr, attrs) = TcMsg::parse(payload)?;
    let mut f = TcFilter {
        ifindex: tc_ifindex(&hdr)?,
        parent: hdr.parent,
        // tcm_info: TC_H_MAKE(prio << 16, htons(protocol)).
        prio: (hdr.info >> 16) as u16,
        protocol: u16::from_be((hdr.info & 0xffff) as u16),
        handle: hdr.handle,
        ..TcFilter::default()
    };
    let mut kind = None;
    let mut options = None;
    for (ty, p) in Attrs::new(attrs) {
        match ty {
            TCA_KIND => kind = Some(get_string(p)),
            TCA_CHAIN => f.chain = get_u32(p),
            TCA_OPTIONS => options = Some(p),
            _ => {}
        }
    }
    f.kind = kind?;
    if let (Some(opts), "u32") = (options, f.kind.as_str()) {
        let mut u = U32Info::default();
        for (ty, p) in Attrs::new(opts) {
            match ty {
                TCA_U32_CLASSID => f.classid = get_u32(p),
                TCA_U32_DIVISOR => u.divisor = get_u32(p),
                TCA_U32_SEL => parse_u32_sel(p, &mut u),
                TCA_U32_ACT => f.mirred = parse_mirred_actions(p),
                _ => {}
            }
        }
        f.u32 = Some(u);
    }
    Some(f)
}

/// `struct tc_u32_sel` (16 bytes: flags, offshift, nkeys, ...) followed by
/// `nkeys` × `struct tc_u32_key` (16 bytes: be32 mask, be32 val, int off,
/// int offmask). Keys beyond the payload are ignored.
fn parse_u32_sel(p: &[u8], u: &mut U32Info) {
    let Some(&flags) = p.first() else { return };
    u.terminal = flags & TC_U32_TERMINAL != 0;
    let nkeys = p.get(2).copied().map_or(0, usize::from);
    let keys = p.get(16..).unwrap_or_default();
    u.keys = keys
        .chunks_exact(16)
        .take(nkeys)
        .filter_map(|k| {
            Some(U32Key {
                mask: u32::from_be_bytes(k.get(0..4)?.try_into().ok()?),
                value: u32::from_be_bytes(k.get(4..8)?.try_into().ok()?),
                offset: get_i32(k.get(8..12)?)?,
            })
        })
        .collect();
}

/// The first mirred action of an action list (`TCA_*_ACT`: one nest per
/// action, numbered by order, each with `TCA_ACT_KIND` and `TCA_ACT_OPTIONS`).
pub(crate) fn parse_mirred_actions(list: &[u8]) -> Option<Mirred> {
    Attrs::new(list).find_map(|(_, action)| {
        let (mut kind, mut options) = (None, None);
        for (ty, p) in Attrs::new(action) {
            match ty {
                TCA_ACT_KIND => kind = Some(get_string(p)),
                TCA_ACT_OPTIONS => options = Some(p),
                _ => {}
            }
        }
        if kind.as_deref() != Some("mirred") {
            return None;
        }
        // struct tc_mirred { tc_gen (index, capab, action, refcnt, bindcnt);
        //                    int eaction; __u32 ifindex; }
        let parms = Attrs::new(options?)
            .find(|&(ty, _)| ty == TCA_MIRRED_PARMS)?
            .1;
        Some(Mirred {
            action: MirredAction::from_eaction(get_i32(parms.get(20..)?)?)?,
            ifindex: get_u32(parms.get(24..)?)?,
        })
    })
}

#[cfg(test)]
// The fixtures are little-endian captures: their tests only run there.
#[cfg_attr(target_endian = "big", allow(unused))]
pub(crate) mod tests {
    use super::super::attrs::Messages;
    use super::super::consts::{ETH_P_ALL, RTM_NEWQDISC, RTM_NEWTCLASS, RTM_NEWTFILTER};
    use super::*;

    #[test]
    fn handles_and_ticks() {
        assert_eq!(tc_handle(1, 0x10), 0x1_0010);
        assert_eq!(handle_str(0x1_0000), "1:");
        assert_eq!(handle_str(0x1_0010), "1:10");
        assert_eq!(handle_str(0xffff_0000), "ffff:");
        assert_eq!(handle_str(0x8000_0800), "8000:800");
        assert_eq!(handle_str(5), ":5");
        assert_eq!(parent_str(TC_H_ROOT), "root");
        assert_eq!(parent_str(TC_H_INGRESS), "ingress");
        assert_eq!(parent_str(0x1_0001), "parent 1:1");

        // 16 KiB at 10 Mbit/s: 13.1072 ms = 204 800 ticks of 64 ns.
        assert_eq!(bytes_to_ticks(16384, 1_250_000), Some(204_800));
        assert_eq!(ticks_to_bytes(204_800, 1_250_000), 16384);
        // Rounded up: 1 byte at 1 GB/s is 1 ns, one tick.
        assert_eq!(bytes_to_ticks(1, 1_000_000_000), Some(1));
        assert_eq!(bytes_to_ticks(1, 0), None);
        // 4 GiB at 1 byte/s does not fit.
        assert_eq!(bytes_to_ticks(u32::MAX, 1), None);
        assert_eq!(ticks_to_bytes(u32::MAX, u64::MAX), u32::MAX);
        // Round trips lose less than one tick's worth.
        for (bytes, rate) in [(1514, 125_000), (65536, 5_000_000_000), (12500, 12_500_000)] {
            let ticks = bytes_to_ticks(bytes, rate).expect("fits");
            let back = ticks_to_bytes(ticks, rate);
            assert!(back >= bytes && u64::from(back - bytes) <= rate * 64 / 1_000_000_000);
        }
    }

    #[test]
    fn tbf_with_latency_like_tc() {
        // tc qdisc ... tbf rate 10mbit burst 16kb latency 50ms: limit 78884.
        let QdiscKind::Tbf { limit_bytes, .. } =
            QdiscKind::tbf_with_latency(1_250_000, 16384, Duration::from_millis(50))
        else {
            panic!("tbf")
        };
        assert_eq!(limit_bytes, 78884);
        let QdiscKind::Tbf { limit_bytes, .. } =
            QdiscKind::tbf_with_latency(u64::MAX, u32::MAX, Duration::from_secs(10))
        else {
            panic!("tbf")
        };
        assert_eq!(limit_bytes, u32::MAX);
    }

    /// Decodes a fixture: hexadecimal bytes, whitespace ignored, `#` comments.
    #[cfg(target_endian = "little")]
    pub(crate) fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.bytes().filter(u8::is_ascii_hexdigit))
            .collect();
        digits
            .chunks(2)
            .map(|pair| {
                let s = std::str::from_utf8(pair).expect("ascii");
                u8::from_str_radix(s, 16).expect("hex digit pair")
            })
            .collect()
    }

    /// Real kernel replies (6.18, x86-64) to a qdisc, a class and a filter
    /// dump of a namespace set up with:
    ///
    /// ```text
    /// ip link add va type veth peer name vb; ip link add ifbx type ifb  # 3, 2, 4
    /// tc qdisc add dev vb root handle 2: tbf rate 40gbit burst 1mb limit 4mb
    /// tc qdisc add dev va root handle 1: tbf rate 10mbit burst 16kb latency 50ms
    /// tc qdisc add dev va handle ffff: ingress
    /// tc qdisc add dev ifbx root handle 1: htb default 10
    /// tc class add dev ifbx parent 1: classid 1:10 htb rate 100mbit ceil 200mbit burst 16kb cburst 32kb
    /// tc class add dev ifbx parent 1: classid 1:20 htb rate 5gbit ceil 40gbit
    /// tc filter add dev va parent ffff: protocol all prio 1 u32 match u32 0 0 \
    ///     action mirred egress redirect dev ifbx
    /// ```
    #[cfg(target_endian = "little")]
    const QDISC_DUMP: &str = include_str!("testdata/dump_qdiscs.hex");
    #[cfg(target_endian = "little")]
    const CLASS_DUMP: &str = include_str!("testdata/dump_classes.hex");
    #[cfg(target_endian = "little")]
    const FILTER_DUMP: &str = include_str!("testdata/dump_filters.hex");

    #[cfg(target_endian = "little")]
    fn parse_all<T>(fixture: &str, ty: u16, parse: fn(&[u8]) -> Option<T>) -> Vec<T> {
        let data = hex(fixture);
        Messages::new(&data)
            .filter(|m| m.ty == ty)
            .map(|m| parse(m.payload).expect("parses"))
            .collect()
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn kernel_qdisc_dump() {
        let q = parse_all(QDISC_DUMP, RTM_NEWQDISC, parse_qdisc);
        assert_eq!(q.len(), 4);

        assert_eq!(
            (q[0].ifindex, q[0].handle, q[0].parent),
            (2, 0x2_0000, TC_H_ROOT)
        );
        assert_eq!(q[0].kind, "tbf");
        let tbf = q[0].tbf.expect("tbf options");
        assert_eq!(tbf.rate_bytes_per_sec, 5_000_000_000); // 40gbit: TCA_TBF_RATE64
        assert_eq!(tbf.limit_bytes, 4 << 20);
        // 1 MiB at 5 GB/s = 209 715 ns, reported as 3276 ticks = 209 664 ns.
        assert_eq!(tbf.burst_bytes, 1_048_320);
        assert_eq!((tbf.peak_bytes_per_sec, tbf.mtu), (None, None));
        assert_eq!(q[0].htb, None);

        let tbf = q[1].tbf.expect("tbf options");
        assert_eq!(tbf.rate_bytes_per_sec, 1_250_000);
        assert_eq!((tbf.burst_bytes, tbf.limit_bytes), (16384, 78884));
        assert_eq!((q[1].stats.bytes, q[1].stats.packets), (280, 4));

        assert_eq!(q[2].kind, "ingress");
        assert_eq!(
            (q[2].handle, q[2].parent),
            (TC_H_INGRESS_QDISC, TC_H_INGRESS)
        );
        assert_eq!((q[2].tbf, q[2].htb), (None, None));

        assert_eq!(q[3].kind, "htb");
        assert_eq!(
            q[3].htb,
            Some(HtbInfo {
                default_class: 0x10,
                r2q: 10,
                direct_qlen: Some(32),
                direct_packets: 0,
            })
        );
        assert_eq!(
            q[3].stats,
            TcStats {
                bytes: 490,
                packets: 7,
                ..TcStats::default()
            }
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn kernel_class_dump() {
        let c = parse_all(CLASS_DUMP, RTM_NEWTCLASS, parse_class);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].ifindex, c[0].classid, c[0].parent),
            (4, 0x1_0010, TC_H_ROOT)
        );
        assert_eq!(c[0].kind, "htb");
        assert_eq!(
            c[0].htb,
            Some(HtbClassInfo {
                rate_bytes_per_sec: 12_500_000,
                ceil_bytes_per_sec: 25_000_000,
                // tc truncated 16 KiB / 12.5 MB/s to whole microseconds: 20468 ticks.
                burst_bytes: 16374,
                cburst_bytes: 32748,
                // The kernel's rate/r2q, capped (and the warning tc printed).
                quantum: 200_000,
                level: 0,
                prio: 0,
            })
        );
        assert_eq!((c[0].stats.bytes, c[0].stats.packets), (490, 7));
        let htb = c[1].htb.expect("htb class");
        assert_eq!(htb.rate_bytes_per_sec, 625_000_000);
        assert_eq!(htb.ceil_bytes_per_sec, 5_000_000_000); // TCA_HTB_CEIL64
                                                           // tc's defaults at these rates: 31 ticks and (sic) 0 ticks.
        assert_eq!((htb.burst_bytes, htb.cburst_bytes), (1240, 0));
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn kernel_filter_dump() {
        let f = parse_all(FILTER_DUMP, RTM_NEWTFILTER, parse_filter);
        assert_eq!(f.len(), 3);
        for filter in &f {
            assert_eq!((filter.ifindex, filter.parent), (3, TC_H_INGRESS_QDISC));
            assert_eq!((filter.kind.as_str(), filter.prio), ("u32", 1));
            assert_eq!((filter.protocol, filter.chain), (ETH_P_ALL, Some(0)));
        }
        assert_eq!((f[0].handle, &f[0].u32), (0, &None));
        assert_eq!(f[1].handle, 0x8000_0000);
        assert_eq!(
            f[1].u32,
            Some(U32Info {
                divisor: Some(1),
                ..U32Info::default()
            })
        );
        assert_eq!(f[2].handle, 0x8000_0800);
        assert_eq!(
            f[2].mirred,
            Some(Mirred {
                action: MirredAction::EgressRedirect,
                ifindex: 4
            })
        );
        let u = f[2].u32.as_ref().expect("u32 rule");
        assert!(u.terminal && u.matches_all());
        assert_eq!(u.keys, [U32Key::default()]);
        assert_eq!(f[2].classid, None);
    }

    #[test]
    fn malformed_replies_do_not_panic() {
        assert_eq!(parse_qdisc(&[0; 19]), None);
        // A header without a kind, and one with ifindex 0.
        let mut hdr = TcMsg {
            ifindex: 3,
            ..TcMsg::default()
        }
        .to_bytes()
        .to_vec();
        assert_eq!(parse_qdisc(&hdr), None);
        assert_eq!(parse_class(&hdr), None);
        assert_eq!(parse_filter(&hdr), None);
        hdr.extend([8, 0, TCA_KIND as u8, 0, b't', b'b', b'f', 0]);
        let q = parse_qdisc(&hdr).expect("kind only");
        assert_eq!((q.kind.as_str(), q.tbf), ("tbf", None));
        hdr[4] = 0;
        assert_eq!(parse_qdisc(&hdr), None);
        // Truncated tbf parameters and u32 selectors.
        let mut opts = vec![12, 0, TCA_TBF_PARMS as u8, 0];
        opts.extend([0xff; 8]);
        assert_eq!(parse_tbf(&opts), None);
        let mut u = U32Info::default();
        parse_u32_sel(&[1, 0, 5, 0], &mut u);
        assert!(u.terminal && u.keys.is_empty());
        assert_eq!(parse_mirred_actions(&[4, 0, 1, 0]), None);
    }
}
