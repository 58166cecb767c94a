//! [`Route`]: an IPv4 or IPv6 route as reported by `RTM_NEWROUTE`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::attrs::{get_ip, get_u32, Attrs, RtMsg};
use super::consts::{
    AF_INET, AF_INET6, RTA_DST, RTA_GATEWAY, RTA_OIF, RTA_PREFSRC, RTA_PRIORITY, RTA_TABLE, RTA_VIA,
};

/// A route, from [`Rtnl::dump_routes`](super::Rtnl::dump_routes).
///
/// Multipath routes (`RTA_MULTIPATH`) are reported without gateway and
/// output interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Routing table (`RTA_TABLE`, e.g. [`RT_TABLE_MAIN`](super::consts::RT_TABLE_MAIN)).
    pub table: u32,
    /// Destination prefix (the unspecified address for a default route).
    pub dst: IpAddr,
    /// Destination prefix length.
    pub dst_len: u8,
    /// Next-hop gateway (`RTA_GATEWAY`, or `RTA_VIA` for an IPv4 route via
    /// an IPv6 gateway).
    pub gateway: Option<IpAddr>,
    /// Output interface.
    pub oif: Option<u32>,
    /// Preferred source address.
    pub prefsrc: Option<IpAddr>,
    /// Who installed the route (`RTPROT_*`, or a number of your own).
    pub protocol: u8,
    /// Scope (`RT_SCOPE_*`).
    pub scope: u8,
    /// Route type (`rtm_type`: `RTN_UNICAST`, `RTN_LOCAL`, ...).
    pub kind: u8,
    /// Metric (`RTA_PRIORITY`).
    pub priority: Option<u32>,
}

/// Parses an `RTM_NEWROUTE` payload; `None` for families other than IPv4
/// and IPv6 (e.g. the multicast routing tables an `AF_UNSPEC` dump includes).
pub(crate) fn parse_route(payload: &[u8]) -> Option<Route> {
    let (hdr, attrs) = RtMsg::parse(payload)?;
    let unspecified = match hdr.family {
        AF_INET => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        AF_INET6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    let mut route = Route {
        table: u32::from(hdr.table),
        dst: unspecified,
        dst_len: hdr.dst_len,
        gateway: None,
        oif: None,
        prefsrc: None,
        protocol: hdr.protocol,
        scope: hdr.scope,
        kind: hdr.kind,
        priority: None,
    };
    for (ty, p) in Attrs::new(attrs) {
        match ty {
            RTA_TABLE => route.table = get_u32(p).unwrap_or(route.table),
            RTA_DST => route.dst = get_ip(p).unwrap_or(unspecified),
            RTA_GATEWAY => route.gateway = get_ip(p),
            // struct rtvia: a 16-bit address family, then the address.
            RTA_VIA => route.gateway = p.get(2..).and_then(get_ip),
            RTA_OIF => route.oif = get_u32(p),
            RTA_PREFSRC => route.prefsrc = get_ip(p),
            RTA_PRIORITY => route.priority = get_u32(p),
            _ => {}
        }
    }
    Some(route)
}

#[cfg(test)]
mod tests {
    use super::super::attrs::{Messages, MsgBuilder};
    use super::super::consts::{RTM_NEWROUTE, RTN_UNICAST, RT_TABLE_MAIN};
    use super::*;

    fn parse(hdr: RtMsg, build: impl FnOnce(&mut MsgBuilder<'_>)) -> Option<Route> {
        let mut buf = Vec::new();
        let mut m = MsgBuilder::new(&mut buf, RTM_NEWROUTE, 0, 1);
        m.bytes(&hdr.to_bytes());
        build(&mut m);
        assert_eq!(m.finish(), Ok(()));
        parse_route(Messages::new(&buf).next().expect("message").payload)
    }

    #[test]
    fn ipv4_gateway_route() {
        let hdr = RtMsg {
            family: AF_INET,
            dst_len: 24,
            table: 254,
            protocol: 104,
            kind: RTN_UNICAST,
            ..RtMsg::default()
        };
        let route = parse(hdr, |m| {
            m.u32(RTA_TABLE, RT_TABLE_MAIN)
                .ip(RTA_DST, Ipv4Addr::new(10, 9, 0, 0).into())
                .ip(RTA_GATEWAY, Ipv4Addr::new(10, 8, 0, 2).into())
                .u32(RTA_OIF, 5)
                .u32(RTA_PRIORITY, 100);
        });
        assert_eq!(
            route,
            Some(Route {
                table: RT_TABLE_MAIN,
                dst: Ipv4Addr::new(10, 9, 0, 0).into(),
                dst_len: 24,
                gateway: Some(Ipv4Addr::new(10, 8, 0, 2).into()),
                oif: Some(5),
                prefsrc: None,
                protocol: 104,
                scope: 0,
                kind: RTN_UNICAST,
                priority: Some(100),
            })
        );
    }

    #[test]
    fn default_route_via_ipv6_and_big_table() {
        let hdr = RtMsg {
            family: AF_INET,
            kind: RTN_UNICAST,
            ..RtMsg::default()
        };
        let gw = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
        let mut via = 10u16.to_ne_bytes().to_vec();
        via.extend(gw.octets());
        let route = parse(hdr, |m| {
            m.u32(RTA_TABLE, 1000).attr(RTA_VIA, &via);
        })
        .expect("route");
        assert_eq!(route.dst, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(route.table, 1000);
        assert_eq!(route.gateway, Some(gw.into()));

        let mcast = RtMsg {
            family: 128,
            ..RtMsg::default()
        };
        assert_eq!(parse(mcast, |_| {}), None);
    }
}
