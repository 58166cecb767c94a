//! IPv6 entries of a routed vif's `ip` key (`vif-route`, `vif-route-ifup`): `2001:db8::10`
//! (a host, `/128`) or `2001:db8:1::/64` (a routed prefix) beside the IPv4 ones.
//!
//! On the way up each gets a route `ENTRY dev VIF metric M` (as the IPv4 ones, without a
//! preferred source: the guest uses the vif's link-local address as its router), the host
//! forwards IPv6 (`net.ipv6.conf.all.forwarding = 1`) and the uplink, if it accepted
//! router advertisements (`accept_ra = 1`, which forwarding would make the kernel ignore),
//! gets `accept_ra = 2` so that the host keeps its RA-learned default route — only that
//! uplink, never the others. A guest address inside one of the uplink's IPv6 prefixes (the
//! guest on the LAN) turns on `proxy_ndp` on the uplink and gets a proxy entry there
//! ([`Op::AddProxyNdp`], `ip -6 neigh replace proxy ADDR dev UPLINK`): the host answers the
//! LAN's neighbour solicitations for the guest, as `proxy_arp` does for IPv4. The way down
//! removes the routes with the IPv4 ones ([`super::plan::Planner::routed_down`]) and the
//! proxy entries ([`down`]); the sysctls stay, as `ip_forward` does (other guests may need
//! them). The entries are also the vif's IPv6 guard (anti-spoofing, [`hvnet_core::vif_guard`]).

use std::net::Ipv6Addr;

use hvnet_core::observed::ObservedState;
use hvnet_core::op::Op;
use hvnet_core::state::{RouteSpec, SysctlKey, MAIN_TABLE};
use hvnet_core::types::{IfName, IpCidr, Ipv6Cidr};

use super::naming::DeviceNames;
use super::HotplugError;

/// `proto boot`, as the IPv4 routes of a routed vif.
const RTPROT_BOOT: u8 = 3;

/// Splits the `ip` key's words into the IPv4 ones (left as text for
/// [`super::rules::parse_ip_list`]) and the IPv6 prefixes; `path` names the key in errors.
///
/// ```
/// use hvnet_xen::hotplug::route6::split;
/// let (v4, v6) = split("be/ip", "10.0.0.5 2001:db8::10 2001:db8:1::/64").unwrap();
/// assert_eq!(v4, "10.0.0.5");
/// let v6: Vec<String> = v6.iter().map(ToString::to_string).collect();
/// assert_eq!(v6, ["2001:db8::10/128", "2001:db8:1::/64"]);
/// assert!(split("be/ip", "2001:db8::1/64").is_err()); // host bits set
/// ```
///
/// # Errors
///
/// An entry with a colon that is not an IPv6 address or prefix (with host bits zero).
pub fn split(path: &str, value: &str) -> Result<(String, Vec<Ipv6Cidr>), HotplugError> {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for w in value.split_whitespace() {
        if !w.contains(':') {
            v4.push(w);
            continue;
        }
        let bad = |why: &str| {
            HotplugError::runtime(format!("bad xenstore key {path}={value:?}: {w:?} {why}"))
        };
        let net: Ipv6Cidr = match w.split_once('/') {
            Some(_) => w.parse().map_err(|_| bad("is not an IPv6 prefix"))?,
            None => {
                let a: Ipv6Addr = w.parse().map_err(|_| bad("is not an IPv6 address"))?;
                Ipv6Cidr::new(a, 128).map_err(|e| bad(&e.to_string()))?
            }
        };
        if net.addr() != net.network() {
            return Err(bad(&format!(
                "has host bits set (did you mean {}/128?)",
                net.addr()
            )));
        }
        if !v6.contains(&net) {
            v6.push(net);
        }
    }
    Ok((v4.join(" "), v6))
}

/// IPv6 forwarding.
fn forwarding() -> SysctlKey {
    SysctlKey::new(["net", "ipv6", "conf", "all", "forwarding"])
}

fn accept_ra(dev: &str) -> SysctlKey {
    SysctlKey::new(["net", "ipv6", "conf", dev, "accept_ra"])
}

fn proxy_ndp(dev: &str) -> SysctlKey {
    SysctlKey::new(["net", "ipv6", "conf", dev, "proxy_ndp"])
}

/// The sysctls [`up`] reads: forwarding, and the uplink's `accept_ra` and `proxy_ndp`.
pub fn sysctl_keys(uplink: Option<&str>) -> Vec<SysctlKey> {
    let mut keys = vec![forwarding()];
    if let Some(u) = uplink {
        keys.extend([accept_ra(u), proxy_ndp(u)]);
    }
    keys
}

/// Sets `key` to `value` unless it is (an unreadable key counts as `0`).
fn set(o: &ObservedState, ops: &mut Vec<Op>, key: SysctlKey, value: &str) {
    let old = o.sysctls.get(&key).map_or("0", |v| v.trim()).to_string();
    if old != value {
        ops.push(Op::SetSysctl {
            key,
            value: value.into(),
            old,
        });
    }
}

/// Plans the IPv6 part of a routed vif's `online`: one route per entry on the device (its
/// target name), forwarding, the uplink's `accept_ra` and `proxy_ndp` (see the module
/// docs). Nothing without IPv6 entries.
pub fn up(
    o: &ObservedState,
    ops: &mut Vec<Op>,
    names: &DeviceNames,
    nets: &[Ipv6Cidr],
    metric: u32,
    uplink: Option<&str>,
) -> Result<(), HotplugError> {
    if nets.is_empty() {
        return Ok(());
    }
    let dev = IfName::new(&names.target).map_err(|e| HotplugError::runtime(e.to_string()))?;
    let ifindex = [&names.target, &names.current]
        .into_iter()
        .find_map(|n| o.link(n))
        .map(|l| l.ifindex);
    for n in nets {
        let dst = IpCidr::V6(*n);
        let have = o
            .routes
            .iter()
            .any(|r| r.oif.is_some() && r.oif == ifindex && r.dst == dst && r.table == MAIN_TABLE);
        if !have {
            ops.push(Op::AddRoute(RouteSpec {
                dst,
                gateway: None,
                dev: Some(dev.clone()),
                src: None,
                metric: Some(metric),
                table: MAIN_TABLE,
                protocol: RTPROT_BOOT,
            }));
        }
    }
    set(o, ops, forwarding(), "1");
    let Some(up) = uplink else {
        return Ok(());
    };
    if o.sysctls
        .get(&accept_ra(up))
        .is_some_and(|v| v.trim() == "1")
    {
        set(o, ops, accept_ra(up), "2");
    }
    let lan: Vec<Ipv6Cidr> = o
        .link(up)
        .map(|l| {
            o.addrs
                .iter()
                .filter(|a| a.ifindex == l.ifindex)
                .filter_map(|a| a.cidr.v6())
                .filter(|c| !c.is_link_local() && c.prefix_len() < 128)
                .collect()
        })
        .unwrap_or_default();
    let on_lan: Vec<&Ipv6Cidr> = nets
        .iter()
        .filter(|n| {
            lan.iter()
                .any(|p| n.prefix_len() >= p.prefix_len() && p.contains(n.addr()))
        })
        .collect();
    if on_lan.is_empty() {
        return Ok(());
    }
    set(o, ops, proxy_ndp(up), "1");
    let Some(uplink) = o.link(up) else {
        return Ok(());
    };
    let link = IfName::new(up).map_err(|e| HotplugError::runtime(e.to_string()))?;
    for n in on_lan {
        if n.prefix_len() != 128 {
            // A prefix on the LAN: the kernel proxies single addresses only.
            tracing::warn!(
                "{dev}: {n} lies on {up}'s LAN, but only single addresses get proxy NDP entries"
            );
            continue;
        }
        if !o.proxy_ndp.contains(&(uplink.ifindex, n.addr())) {
            ops.push(Op::AddProxyNdp {
                link: link.clone(),
                addr: n.addr(),
            });
        }
    }
    Ok(())
}

/// Plans the IPv6 part of a routed vif's `offline`: the proxy entries of `nets` on the
/// uplink (best effort, as the rest of a teardown); the routes go with the IPv4 ones.
pub fn down(o: &ObservedState, ops: &mut Vec<Op>, nets: &[Ipv6Cidr], uplink: Option<&str>) {
    let Some((name, l)) = uplink.and_then(|u| Some((IfName::new(u).ok()?, o.link(u)?))) else {
        return;
    };
    for n in nets {
        if o.proxy_ndp.contains(&(l.ifindex, n.addr())) {
            ops.push(Op::BestEffort(Box::new(Op::DelProxyNdp {
                link: name.clone(),
                addr: n.addr(),
            })));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hvnet_core::memhost::MemHost;
    use hvnet_core::observed::{ObservedAddr, ObservedKind};

    #[test]
    fn routes_forwarding_accept_ra_and_proxy_ndp() {
        let mut h = MemHost::new();
        let vif = h.add_link("vif5.0", ObservedKind::Other("vif".into()), None);
        let up0 = h.add_link("up0", ObservedKind::Other("veth".into()), None);
        let mut o = h.state.clone();
        o.addrs.push(ObservedAddr {
            ifindex: up0,
            cidr: IpCidr::V6("2001:db8::1/64".parse().unwrap()),
        });
        o.sysctls.insert(accept_ra("up0"), "1".into());
        o.sysctls.insert(forwarding(), "0".into());
        let names = DeviceNames {
            current: "vif5.0".into(),
            target: "vif5.0".into(),
        };
        let (_, nets) = split("ip", "2001:db8::10 2001:db8:9::/64").unwrap();
        let up0_name = IfName::new("up0").unwrap();
        let mut ops = Vec::new();
        up(&o, &mut ops, &names, &nets, 2, Some("up0")).unwrap();
        let text: Vec<String> = ops.iter().map(|op| op.command()).collect();
        for want in [
            "ip route add 2001:db8::10/128 dev vif5.0 metric 2 proto 3",
            "sysctl -w net.ipv6.conf.all.forwarding=1",
            "sysctl -w net.ipv6.conf.up0.accept_ra=2",
            "sysctl -w net.ipv6.conf.up0.proxy_ndp=1",
            "ip -6 neigh replace proxy 2001:db8::10 dev up0",
        ] {
            assert!(
                text.iter().any(|t| t.contains(want)),
                "{want} not in {text:#?}"
            );
        }
        // Once done, nothing more.
        o.sysctls.insert(forwarding(), "1".into());
        o.sysctls.insert(accept_ra("up0"), "2".into());
        o.sysctls.insert(proxy_ndp("up0"), "1".into());
        o.proxy_ndp.push((up0, "2001:db8::10".parse().unwrap()));
        for n in &nets {
            o.routes.push(hvnet_core::observed::ObservedRoute {
                dst: IpCidr::V6(*n),
                gateway: None,
                oif: Some(vif),
                src: None,
                metric: Some(2),
                table: MAIN_TABLE,
                protocol: RTPROT_BOOT,
            });
        }
        let mut again = Vec::new();
        up(&o, &mut again, &names, &nets, 2, Some("up0")).unwrap();
        assert!(again.is_empty(), "{again:?}");
        // Offline removes the proxy entry.
        let mut gone = Vec::new();
        down(&o, &mut gone, &nets, Some("up0"));
        assert_eq!(
            gone,
            [Op::BestEffort(Box::new(Op::DelProxyNdp {
                link: up0_name,
                addr: "2001:db8::10".parse().unwrap()
            }))]
        );
    }
}
