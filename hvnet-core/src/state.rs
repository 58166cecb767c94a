//! The desired state: what the kernel should hold, as data.
//!
//! [`crate::resolve`] computes it from a [`crate::config::Config`]; [`crate::plan`] diffs it
//! against an [`crate::observed::ObservedState`].

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use crate::firewall::FirewallIntent;

use crate::types::{IfName, IpCidr, Ipv4Cidr, MacAddr};

/// The alias prefix that marks a link as created and owned by hvnet.
pub const OWNER_PREFIX: &str = "hvnet:";

/// The owner-name prefix of what the Xen hotplug creates (config names cannot hold `/`).
pub const HOTPLUG_OWNER_PREFIX: &str = "xen/";

/// Who a link belongs to: a network or guest name, stored in the kernel as the link's
/// alias (IFLA_IFALIAS) `hvnet:<name>`.
///
/// ```
/// use hvnet_core::state::Owner;
/// let o = Owner::new("hostntw");
/// assert_eq!(o.tag(), "hvnet:hostntw");
/// assert_eq!(Owner::from_alias("hvnet:hostntw"), Some(o));
/// assert_eq!(Owner::from_alias("uplink to the lab"), None);
/// ```
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Owner(String);

impl Owner {
    /// The owner named `name` (a network or guest).
    pub fn new(name: &str) -> Self {
        Self(name.to_string())
    }

    /// Parses an interface alias; `None` unless it is an hvnet tag.
    pub fn from_alias(alias: &str) -> Option<Self> {
        alias
            .strip_prefix(OWNER_PREFIX)
            .filter(|n| !n.is_empty())
            .map(Self::new)
    }

    /// The network or guest name.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// The owner of what the Xen hotplug makes for device `dev` (the IFB shaping an `-emu`
    /// tap): `xen/<dev>`. No config speaks for these ([`Scope::All`] does not cover them),
    /// so `hvnet apply` and `down` leave them to the hotplug.
    ///
    /// ```
    /// use hvnet_core::state::{Owner, Scope};
    /// let o = Owner::hotplug("vif5.0-emu");
    /// assert_eq!(o.tag(), "hvnet:xen/vif5.0-emu");
    /// assert!(o.is_hotplug() && !Scope::All.covers(&o));
    /// ```
    pub fn hotplug(dev: &str) -> Self {
        Self(format!("{HOTPLUG_OWNER_PREFIX}{dev}"))
    }

    /// Whether the Xen hotplug owns it (see [`Owner::hotplug`]).
    pub fn is_hotplug(&self) -> bool {
        self.0.starts_with(HOTPLUG_OWNER_PREFIX)
    }

    /// The alias written to the kernel.
    pub fn tag(&self) -> String {
        format!("{OWNER_PREFIX}{}", self.0)
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tag())
    }
}

/// Bridge options hvnet manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BridgeOpts {
    /// Spanning tree protocol on.
    pub stp: bool,
    /// Forward delay in centiseconds (the kernel's USER_HZ unit).
    pub forward_delay_cs: u32,
}

/// TAP device options.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct TapOpts {
    /// IFF_VNET_HDR.
    pub vnet_hdr: bool,
    /// IFF_MULTI_QUEUE.
    pub multi_queue: bool,
    /// Owning uid (TUNSETOWNER), so an unprivileged QEMU may open it.
    pub uid: Option<u32>,
    /// Owning gid (TUNSETGROUP).
    pub gid: Option<u32>,
}

/// The far end of a veth pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct VethPeer {
    /// Its name inside `netns`.
    pub name: IfName,
    /// The named network namespace it is moved into.
    pub netns: String,
    /// Its MAC (the guest's MAC).
    pub mac: Option<MacAddr>,
}

/// What kind of link, with its kind-specific options.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum LinkKind {
    /// A Linux bridge.
    Bridge(BridgeOpts),
    /// A persistent TAP device.
    Tap(TapOpts),
    /// A veth pair; this side stays in the host namespace.
    Veth(VethPeer),
    /// An IFB device that receives a guest NIC's traffic to shape it (the guest's egress).
    Ifb,
    /// A link hvnet does not own (a physical uplink): only its master and up state are managed.
    External,
    /// A VXLAN device joining a network's bridge to the other hosts of its overlay.
    Vxlan(crate::overlay::VxlanOpts),
    /// A macvtap on an uplink (a guest NIC on a `kind = "direct"` network).
    Macvtap(crate::macvtap::MacvtapOpts),
}

impl LinkKind {
    /// A short word for messages: bridge, tap, veth, external.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Bridge(_) => "bridge",
            Self::Tap(_) => "tap",
            Self::Veth(_) => "veth",
            Self::Ifb => "ifb",
            Self::External => "external",
            Self::Vxlan(_) => "vxlan",
            Self::Macvtap(_) => "macvtap",
        }
    }
}

/// One link as it should be.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LinkSpec {
    /// Interface name.
    pub name: IfName,
    /// Kind and kind-specific options.
    pub kind: LinkKind,
    /// The owner tag; `None` for [`LinkKind::External`].
    pub owner: Option<Owner>,
    /// The bridge it is a port of.
    pub master: Option<IfName>,
    /// MTU; `None` leaves the kernel's choice.
    pub mtu: Option<u32>,
    /// MAC; `None` leaves the kernel's choice.
    pub mac: Option<MacAddr>,
    /// Administratively up.
    pub up: bool,
}

/// An IPv4 or IPv6 address on a link (`ip addr add CIDR dev LINK`; IPv6 addresses are
/// added `nodad`, so they are usable at once and an apply does not depend on timing).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct AddrSpec {
    /// The link.
    pub link: IfName,
    /// Address and prefix length.
    pub cidr: IpCidr,
}

/// A route hvnet owns (installed with hvnet's routing protocol number), of either family
/// (`dst`, `gateway` and `src` are of the same one).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct RouteSpec {
    /// Destination prefix.
    pub dst: IpCidr,
    /// Next hop.
    pub gateway: Option<IpAddr>,
    /// Output device.
    pub dev: Option<IfName>,
    /// Preferred source address.
    pub src: Option<IpAddr>,
    /// Metric (priority).
    pub metric: Option<u32>,
    /// Routing table (254 = main).
    pub table: u32,
    /// The routing protocol it is installed with: [`crate::op::RTPROT_HVNET`] for hvnet's
    /// own routes; the Xen hotplug installs its vif routes as `proto boot` (3), as the
    /// stock scripts' `ip route add` does.
    #[serde(default = "hvnet_protocol")]
    pub protocol: u8,
}

fn hvnet_protocol() -> u8 {
    crate::op::RTPROT_HVNET
}

/// The main routing table.
pub const MAIN_TABLE: u32 = 254;

/// A sysctl key, as path components under `/proc/sys` (interface names may contain dots,
/// so components are kept apart).
///
/// ```
/// use hvnet_core::state::SysctlKey;
/// let k = SysctlKey::new(["net", "ipv4", "conf", "vif1.0", "proxy_arp"]);
/// assert_eq!(k.path(), "net/ipv4/conf/vif1.0/proxy_arp");
/// assert_eq!(k.to_string(), "net.ipv4.conf.vif1/0.proxy_arp");
/// ```
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct SysctlKey(Vec<String>);

impl SysctlKey {
    /// A key from its components.
    pub fn new<I, S>(parts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(parts.into_iter().map(Into::into).collect())
    }

    /// The path relative to `/proc/sys`.
    pub fn path(&self) -> String {
        self.0.join("/")
    }
}

impl fmt::Display for SysctlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self.0.iter().map(|c| c.replace('.', "/")).collect();
        f.write_str(&shown.join("."))
    }
}

/// A sysctl value hvnet wants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SysctlSpec {
    /// The key.
    pub key: SysctlKey,
    /// The value, as written to `/proc/sys`.
    pub value: String,
}

/// Parameters of a token-bucket filter (`tbf`) qdisc, in the kernel's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Tbf {
    /// Rate in bytes per second.
    pub rate_bytes_per_sec: u64,
    /// Bucket size in bytes.
    pub burst_bytes: u32,
    /// Queue limit in bytes.
    pub limit_bytes: u32,
}

impl Tbf {
    /// How long a packet may wait in the queue: sets the limit, as `tc … latency 50ms`.
    pub const LATENCY_MS: u64 = 50;

    /// The tbf for a rate spec: its rate, its burst (or the default burst), and a queue
    /// limit of [`Tbf::LATENCY_MS`] at that rate plus the burst.
    ///
    /// ```
    /// use hvnet_core::{state::Tbf, types::RateSpec};
    /// let t = Tbf::from_spec(&"10mbit".parse::<RateSpec>().unwrap());
    /// assert_eq!((t.rate_bytes_per_sec, t.burst_bytes, t.limit_bytes), (1_250_000, 16384, 78884));
    /// ```
    pub fn from_spec(spec: &crate::types::RateSpec) -> Self {
        let rate = spec.rate().bytes_per_sec();
        let burst = u32::try_from(spec.burst_or_default().bytes()).unwrap_or(u32::MAX);
        let queued = u128::from(rate) * u128::from(Self::LATENCY_MS) / 1000;
        let limit = u32::try_from(queued + u128::from(burst)).unwrap_or(u32::MAX);
        Self {
            rate_bytes_per_sec: rate,
            burst_bytes: burst,
            limit_bytes: limit,
        }
    }

    /// Nanoseconds per psched tick, the unit of the bucket the kernel reports
    /// (`PSCHED_SHIFT` 6).
    pub const NS_PER_TICK: u64 = 64;

    /// The bucket as the kernel keeps it: the time to send the burst at the rate, in
    /// nanoseconds, computed as `psched_l2t_ns` does (`len × mult >> shift`, with `mult`
    /// and `shift` from `psched_ratecfg_precompute`).
    pub fn kernel_buffer_ns(&self) -> u64 {
        let rate = self.rate_bytes_per_sec;
        if rate == 0 {
            return 0;
        }
        let (mut factor, mut shift) = (1_000_000_000u64, 0u32);
        let mut mult;
        loop {
            // struct psched_ratecfg keeps mult in 32 bits.
            mult = (factor / rate) & 0xffff_ffff;
            if mult & (1 << 31) != 0 || factor & (1 << 63) != 0 {
                break;
            }
            factor <<= 1;
            shift += 1;
        }
        u64::from(self.burst_bytes).wrapping_mul(mult) >> shift
    }

    /// The burst the kernel reports back for this tbf, in bytes, or `None` if it cannot:
    /// the kernel dumps the bucket as 32-bit 64 ns ticks (at most 2³² × 64 ns ≈ 274.9 s of
    /// traffic at the rate), which hvnet-linux turns back into bytes at the rate, rounding
    /// down. A burst that lasts longer than that at the rate cannot be read back.
    ///
    /// ```
    /// use hvnet_core::state::Tbf;
    /// let t = Tbf { rate_bytes_per_sec: 1_250_000, burst_bytes: 16384, limit_bytes: 78884 };
    /// assert_eq!(t.kernel_burst(), Some(16384));
    /// let slow = Tbf { rate_bytes_per_sec: 1, burst_bytes: 16384, limit_bytes: 16384 };
    /// assert_eq!(slow.kernel_burst(), None); // 16384 s of traffic at 8 bit/s
    /// ```
    pub fn kernel_burst(&self) -> Option<u32> {
        let ticks = u32::try_from(self.kernel_buffer_ns() / Self::NS_PER_TICK).ok()?;
        let bytes =
            u128::from(ticks) * u128::from(Self::NS_PER_TICK) * u128::from(self.rate_bytes_per_sec)
                / 1_000_000_000;
        Some(u32::try_from(bytes).unwrap_or(u32::MAX))
    }

    /// Why the kernel cannot hold (and report back) the token bucket of `spec`, if it
    /// cannot: a burst of 2³² bytes or more (`TCA_TBF_BURST` is 32 bits), or one that lasts
    /// more than 2³² ticks of 64 ns (≈ 274.9 s) at the rate ([`Tbf::kernel_burst`]).
    ///
    /// ```
    /// use hvnet_core::{state::Tbf, types::RateSpec};
    /// assert!(Tbf::refusal(&"10mbit".parse::<RateSpec>().unwrap()).is_none());
    /// let why = Tbf::refusal(&"8bit".parse::<RateSpec>().unwrap()).unwrap();
    /// assert!(why.contains("lasts 16384 s"), "{why}");
    /// ```
    pub fn refusal(spec: &crate::types::RateSpec) -> Option<String> {
        let burst = spec.burst_or_default();
        let given = if spec.burst().is_some() {
            "burst"
        } else {
            "the default burst"
        };
        if u32::try_from(burst.bytes()).is_err() {
            return Some(format!(
                "{given} {burst} is too large: the kernel's token bucket holds at most 4294967295 bytes (4GiB minus one byte)"
            ));
        }
        if Self::from_spec(spec).kernel_burst().is_some() {
            return None;
        }
        let rate = spec.rate().bytes_per_sec().max(1);
        let most =
            u128::from(u32::MAX) * u128::from(Self::NS_PER_TICK) * u128::from(rate) / 1_000_000_000;
        Some(format!(
            "{given} {burst} lasts {} s at {}: the kernel keeps at most 2^32 ticks of 64 ns (about 274 s) of traffic in a token bucket; at this rate give a burst of at most {most} bytes, or a higher rate",
            burst.bytes() / rate,
            spec.rate()
        ))
    }

    /// Whether a tbf read back from the kernel is this one, compared in the kernel's
    /// units: the same rate and limit, and the burst the kernel reports for this one
    /// ([`Tbf::kernel_burst`]).
    pub fn matches(&self, observed: &Tbf) -> bool {
        self.rate_bytes_per_sec == observed.rate_bytes_per_sec
            && self.limit_bytes == observed.limit_bytes
            && self.kernel_burst() == Some(observed.burst_bytes)
    }
}

impl fmt::Display for Tbf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.rate_bytes_per_sec.saturating_mul(8);
        let rate = crate::types::Rate::from_bits_per_sec(bits)
            .map_or_else(|_| format!("{bits}bit"), |r| r.to_string());
        write!(
            f,
            "rate {rate} burst {}b limit {}b",
            self.burst_bytes, self.limit_bytes
        )
    }
}

/// A rate limit on a link, from the host's point of view.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Shaper {
    /// A tbf as the link's root qdisc: shapes what the host sends into the link (the
    /// guest's ingress).
    Egress {
        /// The link.
        link: IfName,
        /// The bucket.
        tbf: Tbf,
    },
    /// What the host receives from the link (the guest's egress) is redirected to an IFB
    /// device with an ingress qdisc and a match-all u32 filter, and shaped by a tbf there.
    Ingress {
        /// The link.
        link: IfName,
        /// The IFB device (a desired link of kind [`LinkKind::Ifb`]).
        ifb: IfName,
        /// The bucket on the IFB.
        tbf: Tbf,
    },
}

impl Shaper {
    /// The link whose traffic it limits.
    pub fn link(&self) -> &IfName {
        match self {
            Self::Egress { link, .. } | Self::Ingress { link, .. } => link,
        }
    }
}

/// Which hvnet-owned objects a desired state speaks for: owned links in scope that are not
/// desired get removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Every hvnet-owned link on the host but the Xen hotplug's.
    #[default]
    All,
    /// Only links of these owners.
    Owners(BTreeSet<String>),
}

impl Scope {
    /// Whether links owned by `owner` are covered.
    pub fn covers(&self, owner: &Owner) -> bool {
        match self {
            Self::All => !owner.is_hotplug(),
            Self::Owners(set) => set.contains(owner.name()),
        }
    }
}

/// Everything hvnet wants the kernel to hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DesiredState {
    /// Links, bridges before their ports.
    pub links: Vec<LinkSpec>,
    /// Addresses on owned links (the complete set for those links).
    pub addrs: Vec<AddrSpec>,
    /// hvnet-owned routes (the complete set).
    pub routes: Vec<RouteSpec>,
    /// Sysctl values.
    pub sysctls: Vec<SysctlSpec>,
    /// Rate limits on owned links (the complete set for those links).
    pub shapers: Vec<Shaper>,
    /// Owned bridge ports that must have hairpin mode on (targets of port forwards); every
    /// other owned port has it off.
    pub hairpin: BTreeSet<IfName>,
    /// The dnsmasq services (the complete set within scope).
    pub dhcp: Vec<DhcpService>,
    /// What hvnet's firewall must serve; `None`: hvnet has no rules (its tables/chains are
    /// removed).
    pub firewall: Option<FirewallIntent>,
    /// The host's own DHCP clients on bridges (`host_ip = "dhcp"`), the complete set within
    /// scope.
    pub dhcp_clients: Vec<DhcpClient>,
    /// Host addresses and routes to move from one link to another (a bridged uplink's onto
    /// its bridge; back on `down`).
    pub host_ip_moves: Vec<HostIpMove>,
    /// Owned links whose addresses beyond the desired ones are kept (a bridge that carries
    /// the addresses moved off its uplink).
    pub keep_addrs: BTreeSet<IfName>,
    /// Which host links carry which guest NIC (filled by [`crate::resolve::resolve`]).
    pub nic_links: Vec<NicLinks>,
    /// Which owned objects this state speaks for.
    pub scope: Scope,
    /// SR-IOV VFs assigned to guest NICs (the complete set for the owners in scope; filled
    /// by the engine with [`crate::sriov::assign`]).
    pub vfs: Vec<crate::sriov::VfAssignment>,
    /// Forwarding entries of owned VXLAN devices (the complete set for those devices): the
    /// overlay's static peers.
    pub fdb: Vec<crate::overlay::FdbSpec>,
    /// hvnet's FRR for the EVPN overlays (`None`: none runs, when in scope, see
    /// [`crate::evpn::in_scope`]).
    pub frr: Option<crate::evpn::FrrService>,
}

/// "The host's IPv4 addresses and routes on `from` belong on `to`."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostIpMove {
    /// Where they are.
    pub from: IfName,
    /// Where they go.
    pub to: IfName,
    /// Addresses of `from` that stay (hvnet's own configured address).
    pub keep: Vec<Ipv4Cidr>,
}

/// A route moved with the host's addresses, with the protocol it was installed with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MovedRoute {
    /// Destination.
    pub dst: Ipv4Cidr,
    /// Next hop.
    pub gateway: Option<Ipv4Addr>,
    /// Preferred source.
    pub src: Option<Ipv4Addr>,
    /// Metric.
    pub metric: Option<u32>,
    /// Table.
    pub table: u32,
    /// Who installed it (`boot`, `static`, `dhcp`, …), kept as it is.
    pub protocol: u8,
}

/// The host links of one guest NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicLinks {
    /// The guest.
    pub guest: String,
    /// The NIC's index in the guest's `nics`.
    pub nic: usize,
    /// Its host-side link (tap or veth).
    pub link: IfName,
    /// The IFB its received traffic is redirected to, when its egress is limited.
    pub ifb: Option<IfName>,
}

/// The host's DHCP client on a bridge (`host_ip = "dhcp"`): `udhcpc` with hvnet's hook.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DhcpClient {
    /// The network.
    pub network: String,
    /// The bridge it runs on.
    pub interface: IfName,
    /// Its state directory (hook, pid file).
    pub dir: PathBuf,
    /// The hook script's text (a change means a restart).
    pub hook: String,
}

/// One network's dnsmasq: its directory and the exact contents of its two files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DhcpService {
    /// The network (the daemon's owner).
    pub network: String,
    /// The bridge it serves.
    pub bridge: IfName,
    /// Its state directory (conf, hostsfile, leases, pid file).
    pub dir: PathBuf,
    /// The configuration file (a change means a restart).
    pub conf: String,
    /// The static-host file (a change means a rewrite and `SIGHUP`).
    pub hosts: String,
}

impl DesiredState {
    /// The desired link with this name.
    pub fn link(&self, name: &str) -> Option<&LinkSpec> {
        self.links.iter().find(|l| l.name.as_str() == name)
    }
}
