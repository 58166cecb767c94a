//! [`Link`]: a network interface as reported by `RTM_NEWLINK`, with the
//! bridge and tun/tap details hvnet cares about.

use super::attrs::{get_i32, get_mac, get_string, get_u32, get_u8, Attrs, IfInfoMsg};
use super::consts::{
    IFF_UP, IFLA_ADDRESS, IFLA_BRPORT_ISOLATED, IFLA_BRPORT_LEARNING, IFLA_BRPORT_MODE,
    IFLA_BRPORT_UNICAST_FLOOD, IFLA_BR_FORWARD_DELAY, IFLA_BR_STP_STATE, IFLA_CARRIER, IFLA_GROUP,
    IFLA_IFALIAS, IFLA_IFNAME, IFLA_INFO_DATA, IFLA_INFO_KIND, IFLA_INFO_SLAVE_DATA,
    IFLA_INFO_SLAVE_KIND, IFLA_LINK, IFLA_LINKINFO, IFLA_LINK_NETNSID, IFLA_MASTER, IFLA_MTU,
    IFLA_OPERSTATE, IFLA_STATS, IFLA_STATS64, IFLA_TUN_GROUP, IFLA_TUN_MULTI_QUEUE,
    IFLA_TUN_NUM_QUEUES, IFLA_TUN_OWNER, IFLA_TUN_PERSIST, IFLA_TUN_PI, IFLA_TUN_TYPE,
    IFLA_TUN_VNET_HDR, TUN_TYPE_TAP,
};
use super::stats::{parse_link_stats32, parse_link_stats64, LinkStats};

/// A network interface, from a link dump or [`Rtnl::get_link`](super::Rtnl::get_link).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Link {
    /// Interface index.
    pub ifindex: u32,
    /// Interface name (`IFLA_IFNAME`).
    pub name: String,
    /// Driver kind (`IFLA_INFO_KIND`): `"bridge"`, `"veth"`, `"tun"` (for
    /// tun and tap alike), ...; `None` for devices without `rtnl_link_ops`
    /// such as `lo` or physical NICs.
    pub kind: Option<String>,
    /// Ifindex of the master (bridge) this link is enslaved to.
    pub master: Option<u32>,
    /// MTU.
    pub mtu: u32,
    /// Ethernet address; `None` for devices without one (e.g. tun, not tap).
    pub mac: Option<[u8; 6]>,
    /// `ifi_flags`: [`IFF_UP`](super::consts::IFF_UP),
    /// [`IFF_LOWER_UP`](super::consts::IFF_LOWER_UP), ...
    pub flags: u32,
    /// RFC 2863 operational state (`IF_OPER_*` in [`consts`](super::consts)).
    pub operstate: u8,
    /// Carrier (`IFLA_CARRIER`), if reported.
    pub carrier: Option<bool>,
    /// Interface alias (`ip link set ... alias`), if set.
    pub alias: Option<String>,
    /// Interface group (0 is the default group).
    pub group: u32,
    /// For a link whose other end lives in another namespace (a veth whose
    /// peer was moved), that namespace's id as seen from this one.
    pub link_netnsid: Option<i32>,
    /// `IFLA_LINK`: for a veth, the peer's ifindex (in the namespace of
    /// [`link_netnsid`](Self::link_netnsid) if that is set).
    pub link: Option<u32>,
    /// Bridge settings, for `kind == Some("bridge")`.
    pub bridge: Option<BridgeInfo>,
    /// Tun/tap settings, for `kind == Some("tun")`.
    pub tun: Option<TunInfo>,
    /// VXLAN settings, for `kind == Some("vxlan")`.
    pub vxlan: Option<super::VxlanInfo>,
    /// `IFLA_MACVLAN_MODE`, for `kind == Some("macvtap")` or `Some("macvlan")` (its lower
    /// device is [`link`](Self::link)).
    pub macvlan_mode: Option<u32>,
    /// Bridge port settings, for a port of a bridge (`IFLA_INFO_SLAVE_KIND`
    /// `"bridge"`).
    pub port: Option<BridgePortInfo>,
    /// Counters: only from [`Rtnl::dump_links_with_stats`](super::Rtnl::dump_links_with_stats);
    /// `None` from the other queries, so that reports of an unchanged link
    /// compare equal.
    pub stats: Option<LinkStats>,
}

impl Link {
    /// `true` if the link is administratively up (`IFF_UP`).
    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }
}

/// Bridge settings (`IFLA_INFO_DATA` of a bridge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BridgeInfo {
    /// `IFLA_BR_STP_STATE`: 0 off, 1 kernel STP, 2 user-space STP.
    pub stp_state: u32,
    /// `IFLA_BR_FORWARD_DELAY` in centiseconds (USER_HZ): `ip link ...
    /// forward_delay 1500` is 15 s.
    pub forward_delay_cs: u32,
}

/// Bridge port settings (`IFLA_INFO_SLAVE_DATA` of a bridge port,
/// `IFLA_BRPORT_*`), as `bridge -d link show` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BridgePortInfo {
    /// Hairpin mode (`IFLA_BRPORT_MODE`).
    pub hairpin: bool,
    /// Port isolation (`IFLA_BRPORT_ISOLATED`).
    pub isolated: bool,
    /// Address learning (`IFLA_BRPORT_LEARNING`).
    pub learning: bool,
    /// Unknown-unicast flooding (`IFLA_BRPORT_UNICAST_FLOOD`).
    pub flood: bool,
}

/// Tun/tap settings (`IFLA_INFO_DATA` of a tun device, `IFLA_TUN_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TunInfo {
    /// `true` for a tap (Ethernet frames), `false` for a tun (IP packets).
    pub tap: bool,
    /// Owning uid, if one is set.
    pub owner: Option<u32>,
    /// Owning gid, if one is set.
    pub group: Option<u32>,
    /// Packet information header in front of each frame (no `IFF_NO_PI`).
    pub pi: bool,
    /// `IFF_VNET_HDR`: virtio-net header in front of each frame.
    pub vnet_hdr: bool,
    /// The device outlives the file descriptor that created it.
    pub persist: bool,
    /// `IFF_MULTI_QUEUE`.
    pub multi_queue: bool,
    /// Number of attached queues (reported for multi-queue devices only).
    pub num_queues: Option<u32>,
}

/// Parses an `RTM_NEWLINK` payload without its counters (so that two
/// reports of an unchanged link compare equal); `None` if it lacks a
/// header, a valid ifindex or a name.
pub(crate) fn parse_link(payload: &[u8]) -> Option<Link> {
    parse_link_opts(payload, false)
}

/// Parses an `RTM_NEWLINK` payload with its counters ([`Link::stats`]).
pub(crate) fn parse_link_with_stats(payload: &[u8]) -> Option<Link> {
    parse_link_opts(payload, true)
}

fn parse_link_opts(payload: &[u8], with_stats: bool) -> Option<Link> {
    let (hdr, attrs) = IfInfoMsg::parse(payload)?;
    let mut link = Link {
        ifindex: u32::try_from(hdr.index).ok().filter(|&i| i != 0)?,
        flags: hdr.flags,
        ..Link::default()
    };
    let mut name = None;
    let mut info_data = None;
    let mut slave_kind = None;
    let mut slave_data = None;
    let mut stats32 = None;
    for (ty, p) in Attrs::new(attrs) {
        match ty {
            IFLA_IFNAME => name = Some(get_string(p)),
            IFLA_MTU => link.mtu = get_u32(p).unwrap_or(0),
            IFLA_ADDRESS => link.mac = get_mac(p),
            IFLA_MASTER => link.master = get_u32(p).filter(|&m| m != 0),
            IFLA_OPERSTATE => link.operstate = get_u8(p).unwrap_or(0),
            IFLA_CARRIER => link.carrier = get_u8(p).map(|c| c != 0),
            IFLA_IFALIAS => link.alias = Some(get_string(p)).filter(|a| !a.is_empty()),
            IFLA_GROUP => link.group = get_u32(p).unwrap_or(0),
            IFLA_LINK_NETNSID => link.link_netnsid = get_i32(p),
            IFLA_LINK => link.link = get_u32(p).filter(|&l| l != 0),
            IFLA_STATS64 if with_stats => link.stats = parse_link_stats64(p),
            IFLA_STATS if with_stats => stats32 = parse_link_stats32(p),
            IFLA_LINKINFO => {
                for (ity, ip) in Attrs::new(p) {
                    match ity {
                        IFLA_INFO_KIND => link.kind = Some(get_string(ip)),
                        IFLA_INFO_DATA => info_data = Some(ip),
                        IFLA_INFO_SLAVE_KIND => slave_kind = Some(get_string(ip)),
                        IFLA_INFO_SLAVE_DATA => slave_data = Some(ip),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    link.name = name?;
    if link.stats.is_none() {
        link.stats = stats32;
    }
    if let Some(data) = info_data {
        match link.kind.as_deref() {
            Some("bridge") => link.bridge = Some(parse_bridge(data)),
            Some("tun") => link.tun = Some(parse_tun(data)),
            Some("vxlan") => link.vxlan = Some(super::vxlan::parse_vxlan(data)),
            Some("macvtap" | "macvlan") => link.macvlan_mode = super::macvtap::parse_mode(data),
            _ => {}
        }
    }
    if let (Some("bridge"), Some(data)) = (slave_kind.as_deref(), slave_data) {
        link.port = Some(parse_bridge_port(data));
    }
    Some(link)
}

fn parse_bridge_port(data: &[u8]) -> BridgePortInfo {
    let mut port = BridgePortInfo::default();
    let flag = |p: &[u8]| get_u8(p).is_some_and(|v| v != 0);
    for (ty, p) in Attrs::new(data) {
        match ty {
            IFLA_BRPORT_MODE => port.hairpin = flag(p),
            IFLA_BRPORT_ISOLATED => port.isolated = flag(p),
            IFLA_BRPORT_LEARNING => port.learning = flag(p),
            IFLA_BRPORT_UNICAST_FLOOD => port.flood = flag(p),
            _ => {}
        }
    }
    port
}

fn parse_bridge(data: &[u8]) -> BridgeInfo {
    let mut br = BridgeInfo::default();
    for (ty, p) in Attrs::new(data) {
        match ty {
            IFLA_BR_STP_STATE => br.stp_state = get_u32(p).unwrap_or(0),
            IFLA_BR_FORWARD_DELAY => br.forward_delay_cs = get_u32(p).unwrap_or(0),
            _ => {}
        }
    }
    br
}

fn parse_tun(data: &[u8]) -> TunInfo {
    let mut tun = TunInfo::default();
    let flag = |p: &[u8]| get_u8(p).is_some_and(|v| v != 0);
    for (ty, p) in Attrs::new(data) {
        match ty {
            IFLA_TUN_TYPE => tun.tap = get_u8(p) == Some(TUN_TYPE_TAP),
            IFLA_TUN_OWNER => tun.owner = get_u32(p),
            IFLA_TUN_GROUP => tun.group = get_u32(p),
            IFLA_TUN_PI => tun.pi = flag(p),
            IFLA_TUN_VNET_HDR => tun.vnet_hdr = flag(p),
            IFLA_TUN_PERSIST => tun.persist = flag(p),
            IFLA_TUN_MULTI_QUEUE => tun.multi_queue = flag(p),
            IFLA_TUN_NUM_QUEUES => tun.num_queues = get_u32(p),
            _ => {}
        }
    }
    tun
}

#[cfg(test)]
mod tests {
    use super::super::attrs::{ifinfomsg, Messages, MsgBuilder};
    use super::super::consts::{IFF_LOWER_UP, RTM_NEWLINK};
    use super::*;

    fn message(build: impl FnOnce(&mut MsgBuilder<'_>)) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut m = MsgBuilder::new(&mut buf, RTM_NEWLINK, 0, 1);
        build(&mut m);
        assert_eq!(m.finish(), Ok(()));
        buf
    }

    fn parse(buf: &[u8]) -> Option<Link> {
        parse_link_with_stats(Messages::new(buf).next().expect("message").payload)
    }

    #[test]
    fn bridge_link() {
        let buf = message(|m| {
            m.bytes(&ifinfomsg(7, IFF_UP | IFF_LOWER_UP, 0))
                .str(IFLA_IFNAME, "virbr2")
                .u32(IFLA_MTU, 9000)
                .attr(IFLA_ADDRESS, &[0x52, 0x54, 0, 1, 2, 3])
                .u8(IFLA_OPERSTATE, 6)
                .u8(IFLA_CARRIER, 1)
                .u32(IFLA_GROUP, 42)
                .str(IFLA_IFALIAS, "lan");
            let li = m.begin_nest(IFLA_LINKINFO);
            m.str(IFLA_INFO_KIND, "bridge");
            let data = m.begin_nest(IFLA_INFO_DATA);
            m.u32(IFLA_BR_FORWARD_DELAY, 200).u32(IFLA_BR_STP_STATE, 1);
            m.end_nest(data);
            m.end_nest(li);
        });
        let link = parse(&buf).expect("link");
        assert_eq!(
            link,
            Link {
                ifindex: 7,
                name: "virbr2".into(),
                kind: Some("bridge".into()),
                master: None,
                mtu: 9000,
                mac: Some([0x52, 0x54, 0, 1, 2, 3]),
                flags: IFF_UP | IFF_LOWER_UP,
                operstate: 6,
                carrier: Some(true),
                alias: Some("lan".into()),
                group: 42,
                link_netnsid: None,
                link: None,
                bridge: Some(BridgeInfo {
                    stp_state: 1,
                    forward_delay_cs: 200
                }),
                tun: None,
                vxlan: None,
                macvlan_mode: None,
                port: None,
                stats: None,
            }
        );
        assert!(link.is_up());
    }

    #[test]
    fn tap_and_veth_links() {
        let buf = message(|m| {
            m.bytes(&ifinfomsg(9, 0, 0))
                .str(IFLA_IFNAME, "vnet0")
                .u32(IFLA_MASTER, 7);
            let li = m.begin_nest(IFLA_LINKINFO);
            m.str(IFLA_INFO_KIND, "tun");
            let data = m.begin_nest(IFLA_INFO_DATA);
            m.u8(IFLA_TUN_TYPE, 2)
                .u32(IFLA_TUN_OWNER, 107)
                .u8(IFLA_TUN_PI, 0)
                .u8(IFLA_TUN_VNET_HDR, 1)
                .u8(IFLA_TUN_PERSIST, 1)
                .u8(IFLA_TUN_MULTI_QUEUE, 1)
                .u32(IFLA_TUN_NUM_QUEUES, 0);
            m.end_nest(data);
            m.end_nest(li);
        });
        let link = parse(&buf).expect("link");
        assert_eq!(link.master, Some(7));
        assert_eq!(
            link.tun,
            Some(TunInfo {
                tap: true,
                owner: Some(107),
                group: None,
                pi: false,
                vnet_hdr: true,
                persist: true,
                multi_queue: true,
                num_queues: Some(0),
            })
        );
        assert_eq!(link.bridge, None);

        let buf = message(|m| {
            m.bytes(&ifinfomsg(10, 0, 0))
                .str(IFLA_IFNAME, "veth0")
                .u32(IFLA_LINK, 11)
                .i32(IFLA_LINK_NETNSID, 0);
            let li = m.begin_nest(IFLA_LINKINFO);
            m.str(IFLA_INFO_KIND, "veth");
            m.end_nest(li);
        });
        let link = parse(&buf).expect("link");
        assert_eq!(link.kind.as_deref(), Some("veth"));
        assert_eq!((link.link, link.link_netnsid), (Some(11), Some(0)));
        assert_eq!((link.bridge, link.tun), (None, None));
    }

    #[test]
    fn bridge_port() {
        let buf = message(|m| {
            m.bytes(&ifinfomsg(12, 0, 0))
                .str(IFLA_IFNAME, "vg1")
                .u32(IFLA_MASTER, 7);
            let li = m.begin_nest(IFLA_LINKINFO);
            m.str(IFLA_INFO_KIND, "veth");
            m.str(IFLA_INFO_SLAVE_KIND, "bridge");
            let data = m.begin_nest(IFLA_INFO_SLAVE_DATA);
            m.u8(1, 3) // IFLA_BRPORT_STATE: forwarding
                .u8(IFLA_BRPORT_MODE, 1)
                .u8(IFLA_BRPORT_LEARNING, 1)
                .u8(IFLA_BRPORT_UNICAST_FLOOD, 0)
                .u8(IFLA_BRPORT_ISOLATED, 1);
            m.end_nest(data);
            m.end_nest(li);
        });
        let link = parse(&buf).expect("link");
        assert_eq!(link.kind.as_deref(), Some("veth"));
        assert_eq!(
            link.port,
            Some(BridgePortInfo {
                hairpin: true,
                isolated: true,
                learning: true,
                flood: false,
            })
        );

        // A port of another kind of master (e.g. a bond) is not a bridge port.
        let buf = message(|m| {
            m.bytes(&ifinfomsg(12, 0, 0)).str(IFLA_IFNAME, "eth0");
            let li = m.begin_nest(IFLA_LINKINFO);
            m.str(IFLA_INFO_SLAVE_KIND, "bond");
            let data = m.begin_nest(IFLA_INFO_SLAVE_DATA);
            m.u8(IFLA_BRPORT_MODE, 1);
            m.end_nest(data);
            m.end_nest(li);
        });
        assert_eq!(parse(&buf).expect("link").port, None);
    }

    #[test]
    fn stats64_preferred_over_stats32() {
        let s64: Vec<u8> = (1..=24u64).flat_map(|w| (w * 1000).to_ne_bytes()).collect();
        let s32: Vec<u8> = (1..=24u32).flat_map(|w| w.to_ne_bytes()).collect();
        let buf = message(|m| {
            m.bytes(&ifinfomsg(3, 0, 0))
                .str(IFLA_IFNAME, "veth0")
                .attr(IFLA_STATS, &s32)
                .attr(IFLA_STATS64, &s64);
        });
        let stats = parse(&buf).expect("link").stats.expect("stats");
        assert_eq!(
            (stats.rx_packets, stats.tx_bytes, stats.tx_dropped),
            (1000, 4000, 8000)
        );
        let plain = parse_link(Messages::new(&buf).next().expect("message").payload);
        assert_eq!(plain.expect("link").stats, None);
        let buf = message(|m| {
            m.bytes(&ifinfomsg(3, 0, 0))
                .str(IFLA_IFNAME, "veth0")
                .attr(IFLA_STATS, &s32);
        });
        let stats = parse(&buf).expect("link").stats.expect("stats");
        assert_eq!(
            (stats.rx_packets, stats.tx_bytes, stats.tx_dropped),
            (1, 4, 8)
        );
        // Truncated: no stats rather than garbage.
        let buf = message(|m| {
            m.bytes(&ifinfomsg(3, 0, 0))
                .str(IFLA_IFNAME, "veth0")
                .attr(IFLA_STATS64, &s64[..40]);
        });
        assert_eq!(parse(&buf).expect("link").stats, None);
    }

    #[test]
    fn rejects_nameless_or_indexless() {
        let buf = message(|m| {
            m.bytes(&ifinfomsg(3, 0, 0));
        });
        assert_eq!(parse(&buf), None);
        let buf = message(|m| {
            m.bytes(&ifinfomsg(-1, 0, 0)).str(IFLA_IFNAME, "x");
        });
        assert_eq!(parse(&buf), None);
        assert_eq!(parse_link(&[0; 8]), None);
    }
}
