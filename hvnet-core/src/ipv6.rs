//! The host's IPv6 forwarding for networks with `address6`: `net.ipv6.conf.all.forwarding`
//! is turned on (saved and restored like `net.ipv4.ip_forward`) when a `nat` or `routed`
//! network has an IPv6 prefix — routed, not masqueraded (no NAT66, as libvirt does). With
//! forwarding on, the kernel ignores router advertisements on links whose `accept_ra` is
//! 1; the named uplink of such a network that accepts them gets `accept_ra = 2` (saved and
//! restored too), so the host keeps its RA-learned default route.
//!
//! The bridge of every network with `address6` gets `accept_dad = 0` (its addresses are
//! added `nodad` too): its link-local address is usable the moment the bridge gets
//! carrier, so dnsmasq answers a guest's first router solicitation instead of its second
//! one 4 s later (BENCHMARKS.md: start → first SLAAC address).

use crate::config::{Config, Network};
use crate::observed::ObservedState;
use crate::state::{DesiredState, SysctlKey, SysctlSpec};

/// The key of IPv6 forwarding.
///
/// ```
/// assert_eq!(hvnet_core::ipv6::forwarding_key().to_string(), "net.ipv6.conf.all.forwarding");
/// ```
pub fn forwarding_key() -> SysctlKey {
    SysctlKey::new(["net", "ipv6", "conf", "all", "forwarding"])
}

/// The `accept_ra` key of a link.
pub fn accept_ra_key(link: &str) -> SysctlKey {
    SysctlKey::new(["net", "ipv6", "conf", link, "accept_ra"])
}

/// The `accept_dad` key of a link.
pub fn accept_dad_key(link: &str) -> SysctlKey {
    SysctlKey::new(["net", "ipv6", "conf", link, "accept_dad"])
}

/// The link of an `accept_dad` key ([`accept_dad_key`]).
///
/// ```
/// use hvnet_core::ipv6::{accept_dad_key, dad_link};
/// assert_eq!(dad_link(&accept_dad_key("br6")), Some("br6".to_string()));
/// assert_eq!(dad_link(&hvnet_core::ipv6::forwarding_key()), None);
/// ```
pub fn dad_link(key: &SysctlKey) -> Option<String> {
    let path = key.path();
    let link = path
        .strip_prefix("net/ipv6/conf/")?
        .strip_suffix("/accept_dad")?;
    (!link.contains('/')).then(|| link.to_string())
}

/// Whether the host forwards `net`'s IPv6 traffic: a `nat` or `routed` network with
/// `address6`.
pub fn forwards6(net: &Network) -> bool {
    net.kind.forwards() && net.address6.is_some()
}

/// The sysctls IPv6 forwarding may touch for `config` (read by every whole-config
/// observation): `all.forwarding` and the uplinks' `accept_ra`.
pub fn sysctl_keys(config: &Config) -> Vec<SysctlKey> {
    let mut keys = vec![forwarding_key()];
    keys.extend(
        config
            .networks
            .iter()
            .filter(|n| n.address6.is_some())
            .map(|n| accept_dad_key(n.bridge.as_str())),
    );
    keys.extend(
        config
            .networks
            .iter()
            .filter(|n| forwards6(n))
            .filter_map(|n| n.uplink.as_ref())
            .map(|u| accept_ra_key(u.as_str())),
    );
    keys.sort();
    keys.dedup();
    keys
}

/// Adds `accept_dad = 0` for the bridges of networks with `address6` that `want` creates
/// (absent from `observed`): a guest's `guest up` brings a dynamic bridge (`vmbridge`, …) up
/// as `apply` brings a static one, its link-local address usable at once (its `address6` is
/// added `nodad` like every IPv6 address hvnet adds). A bridge that exists already is
/// `apply`'s business.
///
/// ```
/// use hvnet_core::{config::Config, ipv6, observed::ObservedState, state::*, types::IfName};
/// let cfg = Config::parse("[[network]]\nname='n'\nkind='isolated'\nbridge='vmbr6'\n\
///     lifetime='dynamic'\naddress6='fd42::1/64'\n", "x.toml").unwrap();
/// let mut want = DesiredState::default();
/// want.links.push(LinkSpec { name: IfName::new("vmbr6").unwrap(), kind: LinkKind::Bridge(BridgeOpts { stp: false, forward_delay_cs: 0 }),
///     owner: None, master: None, mtu: None, mac: None, up: true });
/// ipv6::new_bridge_dad(&cfg, &ObservedState::default(), &mut want);
/// assert_eq!(want.sysctls[0].key.to_string(), "net.ipv6.conf.vmbr6.accept_dad");
/// ```
pub fn new_bridge_dad(config: &Config, observed: &ObservedState, want: &mut DesiredState) {
    let dad: Vec<SysctlSpec> = config
        .networks
        .iter()
        .filter(|n| n.address6.is_some() && want.link(n.bridge.as_str()).is_some())
        .filter(|n| observed.link(n.bridge.as_str()).is_none())
        .map(|n| SysctlSpec {
            key: accept_dad_key(n.bridge.as_str()),
            value: "0".into(),
        })
        .collect();
    want.sysctls.extend(dad);
}

/// Adds the IPv6 sysctls to `want`: `accept_dad = 0` on the bridges of networks with
/// `address6`; `all.forwarding = 1` when a forwarding
/// network with `address6` has its bridge wanted, and `accept_ra = 2` on each such
/// network's uplink that accepts advertisements now (`1`) or whose value hvnet saved.
///
/// ```
/// use hvnet_core::{config::Config, ipv6, observed::ObservedState, state::*, types::IfName};
/// let cfg = Config::parse("[[network]]\nname='n'\nkind='routed'\nbridge='br6'\n\
///     address='10.6.0.1/24'\naddress6='fd42::1/64'\nuplink='eth0'\n", "x.toml").unwrap();
/// let mut want = DesiredState::default();
/// want.links.push(LinkSpec { name: IfName::new("br6").unwrap(), kind: LinkKind::Bridge(BridgeOpts { stp: false, forward_delay_cs: 0 }),
///     owner: None, master: None, mtu: None, mac: None, up: true });
/// let mut seen = ObservedState::default();
/// seen.sysctls.insert(ipv6::accept_ra_key("eth0"), "1".into());
/// ipv6::sysctls(&cfg, &seen, &mut want);
/// let set: Vec<String> = want.sysctls.iter().map(|s| format!("{} = {}", s.key, s.value)).collect();
/// assert_eq!(set, ["net.ipv6.conf.br6.accept_dad = 0", "net.ipv6.conf.all.forwarding = 1",
///     "net.ipv6.conf.eth0.accept_ra = 2"]);
/// ```
pub fn sysctls(config: &Config, observed: &ObservedState, want: &mut DesiredState) {
    let dad: Vec<SysctlSpec> = config
        .networks
        .iter()
        .filter(|n| n.address6.is_some() && want.link(n.bridge.as_str()).is_some())
        .map(|n| SysctlSpec {
            key: accept_dad_key(n.bridge.as_str()),
            value: "0".into(),
        })
        .collect();
    want.sysctls.extend(dad);
    let nets: Vec<&Network> = config
        .networks
        .iter()
        .filter(|n| forwards6(n) && want.link(n.bridge.as_str()).is_some())
        .collect();
    if nets.is_empty() {
        return;
    }
    want.sysctls.push(SysctlSpec {
        key: forwarding_key(),
        value: "1".into(),
    });
    let mut keys: Vec<SysctlKey> = nets
        .iter()
        .filter_map(|n| n.uplink.as_ref())
        .map(|u| accept_ra_key(u.as_str()))
        .collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let accepts = observed.sysctls.get(&key).is_some_and(|v| v.trim() == "1");
        if accepts || observed.saved_sysctls.contains_key(&key) {
            want.sysctls.push(SysctlSpec {
                key,
                value: "2".into(),
            });
        }
    }
}
