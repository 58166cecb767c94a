//! Kernel UAPI constants for rtnetlink (values from `linux/netlink.h`,
//! `linux/rtnetlink.h`, `linux/if_link.h`, `linux/if_addr.h`, `linux/veth.h`,
//! `linux/if.h`, `linux/if_tun.h`, `linux/if_ether.h`, `linux/pkt_sched.h`,
//! `linux/pkt_cls.h`, `linux/gen_stats.h` and `linux/tc_act/tc_mirred.h`).
//!
//! The constants a caller needs to fill in or interpret the public types
//! (interface flags, route scopes, tables, protocols and types, operational
//! states) are public; the wire-format details stay crate-private.

// ----- public: values that appear in `Link`, `Addr`, `Route`, `RouteSpec` -----

/// `IFF_UP`: the interface is administratively up ([`Link::flags`](super::Link::flags)).
pub const IFF_UP: u32 = 0x1;
/// `IFF_BROADCAST`: the interface supports broadcast.
pub const IFF_BROADCAST: u32 = 0x2;
/// `IFF_LOOPBACK`: the interface is a loopback device.
pub const IFF_LOOPBACK: u32 = 0x8;
/// `IFF_RUNNING`: the interface is operationally up (RFC 2863 "up" or "unknown").
pub const IFF_RUNNING: u32 = 0x40;
/// `IFF_NOARP`: the interface does not use ARP.
pub const IFF_NOARP: u32 = 0x80;
/// `IFF_PROMISC`: the interface receives all packets.
pub const IFF_PROMISC: u32 = 0x100;
/// `IFF_MULTICAST`: the interface supports multicast.
pub const IFF_MULTICAST: u32 = 0x1000;
/// `IFF_LOWER_UP`: the driver signals L1 up (carrier).
pub const IFF_LOWER_UP: u32 = 0x1_0000;

/// `IF_OPER_UNKNOWN` ([`Link::operstate`](super::Link::operstate)).
pub const IF_OPER_UNKNOWN: u8 = 0;
/// `IF_OPER_NOTPRESENT`.
pub const IF_OPER_NOTPRESENT: u8 = 1;
/// `IF_OPER_DOWN`.
pub const IF_OPER_DOWN: u8 = 2;
/// `IF_OPER_LOWERLAYERDOWN`: e.g. a veth whose peer is down.
pub const IF_OPER_LOWERLAYERDOWN: u8 = 3;
/// `IF_OPER_TESTING`.
pub const IF_OPER_TESTING: u8 = 4;
/// `IF_OPER_DORMANT`.
pub const IF_OPER_DORMANT: u8 = 5;
/// `IF_OPER_UP`.
pub const IF_OPER_UP: u8 = 6;

/// `RT_SCOPE_UNIVERSE`: a route or address valid everywhere (gateway routes).
pub const RT_SCOPE_UNIVERSE: u8 = 0;
/// `RT_SCOPE_SITE`.
pub const RT_SCOPE_SITE: u8 = 200;
/// `RT_SCOPE_LINK`: a destination on a directly attached link (on-link routes).
pub const RT_SCOPE_LINK: u8 = 253;
/// `RT_SCOPE_HOST`: an address of this host (local routes, loopback addresses).
pub const RT_SCOPE_HOST: u8 = 254;
/// `RT_SCOPE_NOWHERE`: no destination.
pub const RT_SCOPE_NOWHERE: u8 = 255;

/// `RT_TABLE_UNSPEC`.
pub const RT_TABLE_UNSPEC: u32 = 0;
/// `RT_TABLE_DEFAULT`.
pub const RT_TABLE_DEFAULT: u32 = 253;
/// `RT_TABLE_MAIN`: the table `ip route` shows by default.
pub const RT_TABLE_MAIN: u32 = 254;
/// `RT_TABLE_LOCAL`: local and broadcast routes maintained by the kernel.
pub const RT_TABLE_LOCAL: u32 = 255;

/// `RTPROT_UNSPEC`: as a [`RouteSpec`](super::RouteSpec) protocol for a
/// deletion, matches any protocol.
pub const RTPROT_UNSPEC: u8 = 0;
/// `RTPROT_REDIRECT`.
pub const RTPROT_REDIRECT: u8 = 1;
/// `RTPROT_KERNEL`: installed by the kernel (prefix routes of addresses).
pub const RTPROT_KERNEL: u8 = 2;
/// `RTPROT_BOOT`: the default of `ip route add`.
pub const RTPROT_BOOT: u8 = 3;
/// `RTPROT_STATIC`: installed by the administrator.
pub const RTPROT_STATIC: u8 = 4;

/// `RTN_UNSPEC`.
pub const RTN_UNSPEC: u8 = 0;
/// `RTN_UNICAST`: a gateway or direct route ([`Route::kind`](super::Route::kind)).
pub const RTN_UNICAST: u8 = 1;
/// `RTN_LOCAL`: accept locally.
pub const RTN_LOCAL: u8 = 2;
/// `RTN_BROADCAST`: accept locally as broadcast, send as broadcast.
pub const RTN_BROADCAST: u8 = 3;
/// `RTN_ANYCAST`.
pub const RTN_ANYCAST: u8 = 4;
/// `RTN_MULTICAST`.
pub const RTN_MULTICAST: u8 = 5;
/// `RTN_BLACKHOLE`: drop silently.
pub const RTN_BLACKHOLE: u8 = 6;
/// `RTN_UNREACHABLE`: destination is unreachable.
pub const RTN_UNREACHABLE: u8 = 7;
/// `RTN_PROHIBIT`: administratively prohibited.
pub const RTN_PROHIBIT: u8 = 8;

/// `IFA_F_SECONDARY` ([`Addr::flags`](super::Addr::flags)).
pub const IFA_F_SECONDARY: u32 = 0x01;
/// `IFA_F_NODAD`.
pub const IFA_F_NODAD: u32 = 0x02;
/// `IFA_F_DADFAILED`.
pub const IFA_F_DADFAILED: u32 = 0x08;
/// `IFA_F_TENTATIVE`: IPv6 duplicate address detection still running.
pub const IFA_F_TENTATIVE: u32 = 0x40;
/// `IFA_F_PERMANENT`: configured, not autoconfigured.
pub const IFA_F_PERMANENT: u32 = 0x80;

/// `TC_H_UNSPEC`: no handle (let the kernel choose one, or match any).
pub const TC_H_UNSPEC: u32 = 0;
/// `TC_H_ROOT`: the parent of a device's root (egress) qdisc.
pub const TC_H_ROOT: u32 = 0xFFFF_FFFF;
/// `TC_H_INGRESS`: the parent of a device's `ingress` qdisc.
pub const TC_H_INGRESS: u32 = 0xFFFF_FFF1;
/// The handle of an `ingress` qdisc (`ffff:`), and the parent of its filters.
pub const TC_H_INGRESS_QDISC: u32 = 0xFFFF_0000;

/// `ETH_P_ALL`: every protocol (`tc filter ... protocol all`).
pub const ETH_P_ALL: u16 = 0x0003;
/// `ETH_P_IP`: IPv4 (`protocol ip`).
pub const ETH_P_IP: u16 = 0x0800;
/// `ETH_P_ARP`: ARP (`protocol arp`).
pub const ETH_P_ARP: u16 = 0x0806;
/// `ETH_P_IPV6`: IPv6 (`protocol ipv6`).
pub const ETH_P_IPV6: u16 = 0x86DD;

// ----- netlink framing (linux/netlink.h) -----

pub(crate) const NLMSG_HDRLEN: usize = 16;
pub(crate) const NLA_HDRLEN: usize = 4;

pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;

pub(crate) const NLM_F_REQUEST: u16 = 0x01;
#[cfg(test)]
pub(crate) const NLM_F_MULTI: u16 = 0x02;
pub(crate) const NLM_F_ACK: u16 = 0x04;
/// `NLM_F_ECHO`: send the resulting notification back to the requester too.
pub(crate) const NLM_F_ECHO: u16 = 0x08;
pub(crate) const NLM_F_DUMP_INTR: u16 = 0x10;
/// Dump request: `NLM_F_ROOT | NLM_F_MATCH`.
pub(crate) const NLM_F_DUMP: u16 = 0x300;
pub(crate) const NLM_F_REPLACE: u16 = 0x100;
pub(crate) const NLM_F_EXCL: u16 = 0x200;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
/// In an `NLMSG_ERROR`: the echoed request was cut to its header.
pub(crate) const NLM_F_CAPPED: u16 = 0x100;
/// In an `NLMSG_ERROR` or `NLMSG_DONE`: extended ACK TLVs follow.
pub(crate) const NLM_F_ACK_TLVS: u16 = 0x200;

pub(crate) const NLMSGERR_ATTR_MSG: u16 = 1;
#[cfg(test)]
pub(crate) const NLMSGERR_ATTR_OFFS: u16 = 2;
pub(crate) const NLMSGERR_ATTR_MISS_TYPE: u16 = 5;

pub(crate) const NLA_F_NESTED: u16 = 1 << 15;
pub(crate) const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
pub(crate) const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// `SOL_NETLINK` socket option: don't echo the request payload in error acks.
pub(crate) const NETLINK_CAP_ACK: i32 = 10;
/// `NETLINK_GET_STRICT_CHK` (Linux 4.20): dump requests are checked strictly and their
/// header's filters (an address dump's interface index) applied by the kernel.
pub(crate) const NETLINK_GET_STRICT_CHK: i32 = 12;

// ----- rtnetlink message types (linux/rtnetlink.h) -----

pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_DELLINK: u16 = 17;
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_NEWADDR: u16 = 20;
pub(crate) const RTM_DELADDR: u16 = 21;
pub(crate) const RTM_GETADDR: u16 = 22;
pub(crate) const RTM_NEWROUTE: u16 = 24;
pub(crate) const RTM_DELROUTE: u16 = 25;
pub(crate) const RTM_GETROUTE: u16 = 26;
pub(crate) const RTM_NEWQDISC: u16 = 36;
pub(crate) const RTM_DELQDISC: u16 = 37;
pub(crate) const RTM_GETQDISC: u16 = 38;
pub(crate) const RTM_NEWTCLASS: u16 = 40;
pub(crate) const RTM_DELTCLASS: u16 = 41;
pub(crate) const RTM_GETTCLASS: u16 = 42;
pub(crate) const RTM_NEWTFILTER: u16 = 44;
pub(crate) const RTM_DELTFILTER: u16 = 45;
pub(crate) const RTM_GETTFILTER: u16 = 46;

pub(crate) const AF_UNSPEC: u8 = 0;
pub(crate) const AF_INET: u8 = 2;
pub(crate) const AF_INET6: u8 = 10;

// ----- links (linux/if_link.h) -----

pub(crate) const IFLA_ADDRESS: u16 = 1;
pub(crate) const IFLA_IFNAME: u16 = 3;
pub(crate) const IFLA_MTU: u16 = 4;
pub(crate) const IFLA_LINK: u16 = 5;
/// `struct rtnl_link_stats` (32-bit counters).
pub(crate) const IFLA_STATS: u16 = 7;
pub(crate) const IFLA_MASTER: u16 = 10;
pub(crate) const IFLA_TXQLEN: u16 = 13;
pub(crate) const IFLA_OPERSTATE: u16 = 16;
pub(crate) const IFLA_LINKINFO: u16 = 18;
pub(crate) const IFLA_IFALIAS: u16 = 20;
pub(crate) const IFLA_GROUP: u16 = 27;
pub(crate) const IFLA_NET_NS_FD: u16 = 28;
pub(crate) const IFLA_EXT_MASK: u16 = 29;
pub(crate) const IFLA_CARRIER: u16 = 33;
/// `struct rtnl_link_stats64`.
pub(crate) const IFLA_STATS64: u16 = 23;
pub(crate) const IFLA_LINK_NETNSID: u16 = 37;
pub(crate) const IFLA_ALT_IFNAME: u16 = 53;

/// `RTEXT_FILTER_SKIP_STATS`: leave the (large) statistics out of link dumps.
pub(crate) const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

pub(crate) const IFLA_INFO_KIND: u16 = 1;
pub(crate) const IFLA_INFO_DATA: u16 = 2;
pub(crate) const IFLA_INFO_SLAVE_KIND: u16 = 4;
pub(crate) const IFLA_INFO_SLAVE_DATA: u16 = 5;

/// Bridge port attributes (`IFLA_INFO_SLAVE_DATA` of a bridge port), all u8
/// flags here. `IFLA_BRPORT_MODE` is hairpin mode.
pub(crate) const IFLA_BRPORT_MODE: u16 = 4;
pub(crate) const IFLA_BRPORT_LEARNING: u16 = 8;
pub(crate) const IFLA_BRPORT_UNICAST_FLOOD: u16 = 9;
pub(crate) const IFLA_BRPORT_ISOLATED: u16 = 33;

pub(crate) const IFLA_BR_FORWARD_DELAY: u16 = 1;
pub(crate) const IFLA_BR_STP_STATE: u16 = 5;

pub(crate) const VETH_INFO_PEER: u16 = 1;

pub(crate) const IFLA_TUN_OWNER: u16 = 1;
pub(crate) const IFLA_TUN_GROUP: u16 = 2;
pub(crate) const IFLA_TUN_TYPE: u16 = 3;
pub(crate) const IFLA_TUN_PI: u16 = 4;
pub(crate) const IFLA_TUN_VNET_HDR: u16 = 5;
pub(crate) const IFLA_TUN_PERSIST: u16 = 6;
pub(crate) const IFLA_TUN_MULTI_QUEUE: u16 = 7;
pub(crate) const IFLA_TUN_NUM_QUEUES: u16 = 8;
/// `IFF_TAP` as reported in `IFLA_TUN_TYPE` (linux/if_tun.h).
pub(crate) const TUN_TYPE_TAP: u8 = 0x2;

/// Longest interface name plus its NUL (`IFNAMSIZ`).
pub(crate) const IFNAMSIZ: usize = 16;

// ----- addresses (linux/if_addr.h) -----

pub(crate) const IFA_ADDRESS: u16 = 1;
pub(crate) const IFA_LOCAL: u16 = 2;
pub(crate) const IFA_LABEL: u16 = 3;
pub(crate) const IFA_BROADCAST: u16 = 4;
pub(crate) const IFA_FLAGS: u16 = 8;

// ----- routes (linux/rtnetlink.h) -----

pub(crate) const RTA_DST: u16 = 1;
pub(crate) const RTA_OIF: u16 = 4;
pub(crate) const RTA_GATEWAY: u16 = 5;
pub(crate) const RTA_PRIORITY: u16 = 6;
pub(crate) const RTA_PREFSRC: u16 = 7;
pub(crate) const RTA_TABLE: u16 = 15;
pub(crate) const RTA_VIA: u16 = 18;

// ----- traffic control (linux/rtnetlink.h, linux/pkt_sched.h, linux/pkt_cls.h) -----

/// `struct tcmsg` size.
pub(crate) const TCMSG_LEN: usize = 20;

pub(crate) const TCA_KIND: u16 = 1;
pub(crate) const TCA_OPTIONS: u16 = 2;
/// `struct tc_stats` (legacy statistics).
pub(crate) const TCA_STATS: u16 = 3;
pub(crate) const TCA_STATS2: u16 = 7;
pub(crate) const TCA_CHAIN: u16 = 11;

/// In `TCA_STATS2`: `struct gnet_stats_basic` (`u64` bytes, `u32` packets).
pub(crate) const TCA_STATS_BASIC: u16 = 1;
/// In `TCA_STATS2`: `struct gnet_stats_queue`.
pub(crate) const TCA_STATS_QUEUE: u16 = 3;
/// In `TCA_STATS2`: the packet count as `u64` when it exceeds 32 bits.
pub(crate) const TCA_STATS_PKT64: u16 = 8;

/// `TC_LINKLAYER_ETHERNET` in `tc_ratespec.linklayer`: the kernel computes
/// transmission times itself instead of looking them up in a rate table.
pub(crate) const TC_LINKLAYER_ETHERNET: u8 = 1;

pub(crate) const TCA_TBF_PARMS: u16 = 1;
#[cfg(test)]
pub(crate) const TCA_TBF_RTAB: u16 = 2;
#[cfg(test)]
pub(crate) const TCA_TBF_PTAB: u16 = 3;
pub(crate) const TCA_TBF_RATE64: u16 = 4;
pub(crate) const TCA_TBF_PRATE64: u16 = 5;
pub(crate) const TCA_TBF_BURST: u16 = 6;
pub(crate) const TCA_TBF_PBURST: u16 = 7;

pub(crate) const TCA_HTB_PARMS: u16 = 1;
pub(crate) const TCA_HTB_INIT: u16 = 2;
#[cfg(test)]
pub(crate) const TCA_HTB_CTAB: u16 = 3;
#[cfg(test)]
pub(crate) const TCA_HTB_RTAB: u16 = 4;
pub(crate) const TCA_HTB_DIRECT_QLEN: u16 = 5;
pub(crate) const TCA_HTB_RATE64: u16 = 6;
pub(crate) const TCA_HTB_CEIL64: u16 = 7;
/// `TC_HTB_PROTOVER`: the version `TCA_HTB_INIT` must carry.
pub(crate) const TC_HTB_PROTOVER: u32 = 3;

pub(crate) const TCA_U32_CLASSID: u16 = 1;
pub(crate) const TCA_U32_DIVISOR: u16 = 4;
pub(crate) const TCA_U32_SEL: u16 = 5;
pub(crate) const TCA_U32_ACT: u16 = 7;
/// `TC_U32_TERMINAL` in `tc_u32_sel.flags`: a match ends classification.
pub(crate) const TC_U32_TERMINAL: u8 = 1;

pub(crate) const TCA_ACT_KIND: u16 = 1;
pub(crate) const TCA_ACT_OPTIONS: u16 = 2;

pub(crate) const TCA_MIRRED_PARMS: u16 = 2;
pub(crate) const TCA_EGRESS_REDIR: i32 = 1;
pub(crate) const TCA_EGRESS_MIRROR: i32 = 2;
pub(crate) const TCA_INGRESS_REDIR: i32 = 3;
pub(crate) const TCA_INGRESS_MIRROR: i32 = 4;
/// `TC_ACT_PIPE`: continue with the next action (mirror).
pub(crate) const TC_ACT_PIPE: i32 = 3;
/// `TC_ACT_STOLEN`: the packet was consumed (redirect).
pub(crate) const TC_ACT_STOLEN: i32 = 4;
