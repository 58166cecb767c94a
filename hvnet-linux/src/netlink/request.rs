//! [`Request`]: the write operations [`Rtnl::execute`](super::Rtnl::execute)
//! pipelines, and their encoding into rtnetlink messages.

use std::fmt;
use std::net::IpAddr;
use std::os::fd::RawFd;

use super::attrs::{ifinfomsg, EncodeError, IfAddrMsg, MsgBuilder, RtMsg};
use super::consts::{
    AF_INET, AF_INET6, IFA_ADDRESS, IFA_BROADCAST, IFA_LOCAL, IFF_UP, IFLA_ADDRESS,
    IFLA_BRPORT_ISOLATED, IFLA_BRPORT_LEARNING, IFLA_BRPORT_MODE, IFLA_BRPORT_UNICAST_FLOOD,
    IFLA_BR_FORWARD_DELAY, IFLA_BR_STP_STATE, IFLA_GROUP, IFLA_IFALIAS, IFLA_IFNAME,
    IFLA_INFO_DATA, IFLA_INFO_KIND, IFLA_INFO_SLAVE_DATA, IFLA_INFO_SLAVE_KIND, IFLA_LINKINFO,
    IFLA_MASTER, IFLA_MTU, IFLA_NET_NS_FD, IFLA_TXQLEN, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST, RTA_DST, RTA_GATEWAY, RTA_OIF, RTA_PREFSRC, RTA_PRIORITY, RTA_TABLE, RTA_VIA,
    RTM_DELADDR, RTM_DELLINK, RTM_DELROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE, RTN_UNICAST,
    RTN_UNSPEC, RT_SCOPE_HOST, RT_SCOPE_UNIVERSE, VETH_INFO_PEER,
};
use super::tc::{handle_str, parent_str, ClassSpec, FilterSpec, QdiscSpec};
use super::tc_encode::{
    encode_class, encode_del_class, encode_del_filter, encode_del_qdisc, encode_filter,
    encode_qdisc, Mode,
};
use super::NlError;

/// Flags of a request creating an object: never replace an existing one.
const CREATE: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
/// Flags of a request changing or deleting an existing object.
const CHANGE: u16 = NLM_F_REQUEST | NLM_F_ACK;

/// One write operation for [`Rtnl::execute`](super::Rtnl::execute).
///
/// Links are created down, with `NLM_F_CREATE | NLM_F_EXCL` (an existing
/// link of the same name is an `EEXIST` error, never replaced); bring them up
/// with a [`Request::SetLink`]. The `Display` form names the object and is
/// the [`NlError::context`] of a failure:
///
/// ```
/// use hvnet_linux::netlink::{LinkChange, Request};
///
/// let req = Request::SetLink {
///     ifindex: 7,
///     change: LinkChange { master: Some(3), up: Some(true), ..LinkChange::default() },
/// };
/// assert_eq!(req.to_string(), "set link ifindex 7 (master 3, up)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Create a bridge (down).
    NewBridge {
        /// Interface name.
        name: String,
        /// MTU; the kernel default (1500) if `None`.
        mtu: Option<u32>,
        /// Fixed Ethernet address; random if `None` (and then it follows the
        /// lowest port address).
        mac: Option<[u8; 6]>,
        /// Enable (kernel) STP; off if `None`.
        stp: Option<bool>,
        /// Forward delay in centiseconds (`IFLA_BR_FORWARD_DELAY`); with STP
        /// on, the kernel requires 2–30 s.
        forward_delay_cs: Option<u32>,
        /// Interface group.
        group: Option<u32>,
    },
    /// Create a veth pair (both ends down).
    NewVeth {
        /// Name of this end.
        name: String,
        /// MTU of *both* ends.
        mtu: Option<u32>,
        /// Ethernet address of this end.
        mac: Option<[u8; 6]>,
        /// Interface group of this end.
        group: Option<u32>,
        /// Name of the peer end.
        peer_name: String,
        /// Ethernet address of the peer end.
        peer_mac: Option<[u8; 6]>,
        /// Create the peer in the network namespace this file descriptor
        /// refers to (e.g. an open `/run/netns/NAME`); same namespace if
        /// `None`. Only needs to stay open until the request is executed.
        peer_netns_fd: Option<RawFd>,
    },
    /// Change an existing link.
    SetLink {
        /// The link (must not be 0).
        ifindex: u32,
        /// What to change.
        change: LinkChange,
    },
    /// Rename a link (`ip link set dev IFINDEX name NAME`). The kernel
    /// refuses to rename a link that is up (`EBUSY`) and a name in use
    /// (`EEXIST`); names of 16 bytes or more are refused before sending.
    RenameLink {
        /// The link (must not be 0).
        ifindex: u32,
        /// The new name.
        name: String,
    },
    /// Delete a link (for a veth, both ends).
    DelLink {
        /// The link (must not be 0).
        ifindex: u32,
    },
    /// Delete every link of an interface group in one request (one RCU
    /// synchronisation for all). Group 0 (the default group of every
    /// interface) is refused.
    DelGroup {
        /// The group (must not be 0).
        group: u32,
    },
    /// Add an address (`ip addr add ADDR/LEN dev IFINDEX`); for IPv4 also
    /// sets the broadcast address like `brd +` (for prefixes up to /30) and
    /// host scope for 127.0.0.0/8; IPv6 addresses are added `nodad` (usable at once, no
    /// tentative phase: an apply never waits on duplicate address detection). An existing
    /// address is `EEXIST`.
    NewAddr {
        /// The interface.
        ifindex: u32,
        /// The local address.
        address: IpAddr,
        /// Prefix length.
        prefix_len: u8,
    },
    /// Delete an address.
    DelAddr {
        /// The interface.
        ifindex: u32,
        /// The local address.
        address: IpAddr,
        /// Prefix length.
        prefix_len: u8,
    },
    /// Add a unicast route (an existing identical route is `EEXIST`).
    NewRoute(RouteSpec),
    /// Delete the route matching the spec (protocol 0 matches any protocol;
    /// the scope must match the route's, as given when adding it).
    DelRoute(RouteSpec),
    /// Create an ifb device (down): the target of ingress traffic
    /// redirected by a [`Mirred`](super::Mirred) action, to shape it with
    /// an egress qdisc on the ifb.
    NewIfb {
        /// Interface name.
        name: String,
        /// MTU; the kernel default (1500) if `None`.
        mtu: Option<u32>,
        /// Transmit queue length (`qlen`); the ifb default (32) if `None`.
        /// The CNI bandwidth plugin uses 0: the root qdisc is the queue.
        txqlen: Option<u32>,
        /// Interface group.
        group: Option<u32>,
    },
    /// Add a qdisc (`tc qdisc add`): an existing qdisc with the same
    /// handle or at the same place is `EEXIST`. Only the kernel's default
    /// qdisc (handle 0) is replaced.
    NewQdisc(QdiscSpec),
    /// Add a qdisc or change the existing one (`tc qdisc replace`): if the
    /// qdisc at `parent` has the same kind (and the same handle, unless
    /// `handle` is 0), its parameters change in place (its queue and
    /// counters are kept); otherwise the new qdisc takes its place.
    ReplaceQdisc(QdiscSpec),
    /// Delete the qdisc at `parent` (`tc qdisc del`); the device falls back
    /// to its default qdisc. Deleting a qdisc also deletes its classes and
    /// filters.
    DelQdisc {
        /// The device.
        ifindex: u32,
        /// Where the qdisc is: [`TC_H_ROOT`](super::consts::TC_H_ROOT),
        /// [`TC_H_INGRESS`](super::consts::TC_H_INGRESS) or a class.
        parent: u32,
        /// Its handle, checked by the kernel; 0 for whichever is there.
        handle: u32,
    },
    /// Add an htb class (`tc class add`); an existing one is `EEXIST`.
    NewClass(ClassSpec),
    /// Add an htb class or change the existing one (`tc class replace`).
    ReplaceClass(ClassSpec),
    /// Delete a class (`tc class del`). A class with child classes, or
    /// one that filters point to, is `EBUSY`.
    DelClass {
        /// The device.
        ifindex: u32,
        /// The class.
        classid: u32,
    },
    /// Add a u32 match-all filter with an optional class and mirred action
    /// (`tc filter add ... u32 match u32 0 0 ...`).
    NewFilter(FilterSpec),
    /// Delete filters (`tc filter del`): with `handle` 0 all filters of the
    /// priority (and with `prio` 0 too, all filters of the parent).
    DelFilter {
        /// The device.
        ifindex: u32,
        /// The qdisc or class the filters are attached to.
        parent: u32,
        /// Their priority; 0 for all.
        prio: u16,
        /// Their protocol (host order); 0 for any.
        protocol: u16,
        /// One filter's handle (e.g. `800::800`); 0 for all of the priority.
        handle: u32,
    },
    /// Set attributes of an SR-IOV VF through its PF (`ip link set PF vf N mac … vlan …
    /// spoofchk … trust … max_tx_rate …`), encoded exactly as iproute2 does.
    SetVf {
        /// The PF.
        ifindex: u32,
        /// What to set.
        change: super::VfChange,
    },
    /// A VXLAN device or one of its forwarding entries.
    Vxlan(super::VxlanRequest),
    /// Create a macvtap (down) on a lower device (`ip link add link LOWER
    /// name NAME type macvtap mode MODE`).
    NewMacvtap(super::macvtap::MacvtapSpec),
    /// An IPv6 proxy neighbour entry.
    Neigh(super::NeighRequest),
}

/// Changes to an existing link, all in one `RTM_NEWLINK`; `None` fields are
/// left alone.
///
/// ```
/// use hvnet_linux::netlink::{BridgeOpts, LinkChange};
///
/// let enslave_and_up = LinkChange { master: Some(4), up: Some(true), ..Default::default() };
/// let nomaster = LinkChange { master: Some(0), ..Default::default() };
/// let no_stp = LinkChange {
///     bridge: Some(BridgeOpts { stp: Some(false), forward_delay_cs: Some(0) }),
///     ..Default::default()
/// };
/// # let _ = (enslave_and_up, nomaster, no_stp);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkChange {
    /// Enslave to this master; `Some(0)` releases from the current master.
    pub master: Option<u32>,
    /// New MTU.
    pub mtu: Option<u32>,
    /// New Ethernet address.
    pub mac: Option<[u8; 6]>,
    /// Bring up (`true`) or down (`false`).
    pub up: Option<bool>,
    /// New alias; `Some("")` clears it.
    pub alias: Option<String>,
    /// New interface group.
    pub group: Option<u32>,
    /// Bridge settings; the link must be a bridge.
    pub bridge: Option<BridgeOpts>,
    /// Bridge port settings; the link must be a bridge port, or become one
    /// by `master` in the same change (then sent as a second message after
    /// the enslaving one, with one combined result); otherwise the kernel
    /// answers `EOPNOTSUPP`.
    pub port: Option<BridgePortOpts>,
}

/// Bridge settings to change; `None` fields are left alone.
///
/// Turning STP off and setting a short forward delay (below STP's 2 s
/// minimum) in one change works: that change is sent as two messages, STP
/// first, with one combined result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BridgeOpts {
    /// Enable or disable (kernel) STP.
    pub stp: Option<bool>,
    /// Forward delay in centiseconds; with STP on, the kernel requires 2–30 s.
    pub forward_delay_cs: Option<u32>,
}

/// Bridge port settings to change (`bridge link set dev PORT ...`); `None`
/// fields are left alone.
///
/// Sent like `ip link set dev PORT type bridge_slave ...`: the port
/// attributes (`IFLA_BRPORT_*`, u8 flags) in `IFLA_INFO_SLAVE_DATA` of
/// `IFLA_LINKINFO`, which the kernel hands to the master bridge.
///
/// ```
/// use hvnet_linux::netlink::{BridgePortOpts, LinkChange, Request};
///
/// let req = Request::SetLink {
///     ifindex: 9,
///     change: LinkChange {
///         port: Some(BridgePortOpts { hairpin: Some(true), ..Default::default() }),
///         ..Default::default()
///     },
/// };
/// assert_eq!(req.to_string(), "set link ifindex 9 (hairpin on)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BridgePortOpts {
    /// Hairpin mode (`IFLA_BRPORT_MODE`): frames may be forwarded back out
    /// of the port they came in on, e.g. for a guest reaching itself
    /// through its own DNAT port forward. Off by default.
    pub hairpin: Option<bool>,
    /// Port isolation (`IFLA_BRPORT_ISOLATED`): an isolated port forwards
    /// only to non-isolated ports. Off by default.
    pub isolated: Option<bool>,
    /// Learn source addresses into the FDB (`IFLA_BRPORT_LEARNING`). On by
    /// default.
    pub learning: Option<bool>,
    /// Flood unknown-unicast traffic to this port
    /// (`IFLA_BRPORT_UNICAST_FLOOD`). On by default.
    pub flood: Option<bool>,
}

impl BridgePortOpts {
    fn is_empty(&self) -> bool {
        self.hairpin.is_none()
            && self.isolated.is_none()
            && self.learning.is_none()
            && self.flood.is_none()
    }
}

/// A unicast route to add or delete.
///
/// ```
/// use hvnet_linux::netlink::{consts, RouteSpec};
///
/// let spec = RouteSpec {
///     table: consts::RT_TABLE_MAIN,
///     dst: "10.9.0.0".parse().unwrap(),
///     dst_len: 24,
///     gateway: Some("10.8.0.2".parse().unwrap()),
///     oif: None,
///     prefsrc: None,
///     protocol: 104,
///     scope: consts::RT_SCOPE_UNIVERSE,
///     priority: None,
/// };
/// assert_eq!(spec.to_string(), "10.9.0.0/24 via 10.8.0.2 table 254");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Routing table ([`RT_TABLE_MAIN`](super::consts::RT_TABLE_MAIN) is `ip route`'s).
    pub table: u32,
    /// Destination prefix; its family is the route's.
    pub dst: IpAddr,
    /// Destination prefix length (0: default route). Host bits of `dst`
    /// must be zero.
    pub dst_len: u8,
    /// Next-hop gateway (of the other family: sent as `RTA_VIA`).
    pub gateway: Option<IpAddr>,
    /// Output interface.
    pub oif: Option<u32>,
    /// Preferred source address.
    pub prefsrc: Option<IpAddr>,
    /// Protocol tag (`RTPROT_*` or your own, e.g. 104).
    pub protocol: u8,
    /// Scope: [`RT_SCOPE_UNIVERSE`](super::consts::RT_SCOPE_UNIVERSE) for a
    /// gateway route, [`RT_SCOPE_LINK`](super::consts::RT_SCOPE_LINK) for an
    /// on-link one.
    pub scope: u8,
    /// Metric.
    pub priority: Option<u32>,
}

// ----- descriptions (the context of errors) -----

fn mac_str(mac: &[u8; 6]) -> String {
    let [a, b, c, d, e, f] = mac;
    format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
}

impl fmt::Display for LinkChange {
    /// A comma-separated summary of the changes, `ip link set` style.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        match self.master {
            Some(0) => parts.push("nomaster".to_owned()),
            Some(m) => parts.push(format!("master {m}")),
            None => {}
        }
        if let Some(mtu) = self.mtu {
            parts.push(format!("mtu {mtu}"));
        }
        if let Some(mac) = &self.mac {
            parts.push(format!("address {}", mac_str(mac)));
        }
        match self.up {
            Some(true) => parts.push("up".to_owned()),
            Some(false) => parts.push("down".to_owned()),
            None => {}
        }
        match self.alias.as_deref() {
            Some("") => parts.push("noalias".to_owned()),
            Some(a) => parts.push(format!("alias {a:?}")),
            None => {}
        }
        if let Some(g) = self.group {
            parts.push(format!("group {g}"));
        }
        if let Some(br) = &self.bridge {
            if let Some(stp) = br.stp {
                parts.push(format!("stp_state {}", u8::from(stp)));
            }
            if let Some(fd) = br.forward_delay_cs {
                parts.push(format!("forward_delay {fd}"));
            }
        }
        if let Some(port) = &self.port {
            let on_off = |b: bool| if b { "on" } else { "off" };
            for (name, value) in [
                ("hairpin", port.hairpin),
                ("isolated", port.isolated),
                ("learning", port.learning),
                ("flood", port.flood),
            ] {
                if let Some(v) = value {
                    parts.push(format!("{name} {}", on_off(v)));
                }
            }
        }
        f.write_str(&parts.join(", "))
    }
}

impl fmt::Display for RouteSpec {
    /// `DST/LEN [via GW] [dev ifindex N] [src ADDR] [metric M] table T`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.dst, self.dst_len)?;
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        if let Some(oif) = self.oif {
            write!(f, " dev ifindex {oif}")?;
        }
        if let Some(src) = self.prefsrc {
            write!(f, " src {src}")?;
        }
        if let Some(metric) = self.priority {
            write!(f, " metric {metric}")?;
        }
        write!(f, " table {}", self.table)
    }
}

impl fmt::Display for Request {
    /// What the request does, naming the object: the context of its errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::NewBridge { name, .. } => write!(f, "create bridge {name}"),
            Request::NewVeth {
                name, peer_name, ..
            } => write!(f, "create veth {name} (peer {peer_name})"),
            Request::SetLink { ifindex, change } => {
                write!(f, "set link ifindex {ifindex} ({change})")
            }
            Request::RenameLink { ifindex, name } => {
                write!(f, "rename link ifindex {ifindex} to {name}")
            }
            Request::DelLink { ifindex } => write!(f, "delete link ifindex {ifindex}"),
            Request::DelGroup { group } => write!(f, "delete link group {group}"),
            Request::NewAddr {
                ifindex,
                address,
                prefix_len,
            } => write!(f, "add address {address}/{prefix_len} on ifindex {ifindex}"),
            Request::DelAddr {
                ifindex,
                address,
                prefix_len,
            } => write!(
                f,
                "delete address {address}/{prefix_len} on ifindex {ifindex}"
            ),
            Request::NewRoute(spec) => write!(f, "add route {spec}"),
            Request::DelRoute(spec) => write!(f, "delete route {spec}"),
            Request::NewIfb { name, .. } => write!(f, "create ifb {name}"),
            Request::Vxlan(v) => write!(f, "{v}"),
            Request::Neigh(n) => write!(f, "{n}"),
            Request::NewQdisc(spec) => write!(f, "add {spec}"),
            Request::ReplaceQdisc(spec) => write!(f, "replace {spec}"),
            Request::DelQdisc {
                ifindex,
                parent,
                handle,
            } => {
                f.write_str("delete qdisc ")?;
                if *handle != 0 {
                    write!(f, "{} ", handle_str(*handle))?;
                }
                write!(f, "{} on ifindex {ifindex}", parent_str(*parent))
            }
            Request::NewClass(spec) => write!(f, "add {spec}"),
            Request::ReplaceClass(spec) => write!(f, "replace {spec}"),
            Request::DelClass { ifindex, classid } => {
                write!(
                    f,
                    "delete class {} on ifindex {ifindex}",
                    handle_str(*classid)
                )
            }
            Request::NewFilter(spec) => write!(f, "add {spec}"),
            Request::NewMacvtap(spec) => write!(f, "create macvtap {}", spec.name),
            Request::DelFilter {
                ifindex,
                parent,
                prio,
                handle,
                ..
            } => {
                f.write_str("delete filter ")?;
                if *prio != 0 {
                    write!(f, "prio {prio} ")?;
                }
                if *handle != 0 {
                    write!(f, "handle {} ", handle_str(*handle))?;
                }
                write!(f, "{} on ifindex {ifindex}", parent_str(*parent))
            }
            Request::SetVf { ifindex, change } => {
                write!(f, "set VF {} of ifindex {ifindex}", change.vf)
            }
        }
    }
}

impl fmt::Display for QdiscSpec {
    /// `qdisc KIND [HANDLE] PARENT on ifindex N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "qdisc {} ", self.kind.name())?;
        if self.handle != 0 {
            write!(f, "{} ", handle_str(self.handle))?;
        }
        write!(f, "{} on ifindex {}", parent_str(self.parent), self.ifindex)
    }
}

impl fmt::Display for ClassSpec {
    /// `htb class CLASSID PARENT on ifindex N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "htb class {} {} on ifindex {}",
            handle_str(self.classid),
            parent_str(self.parent),
            self.ifindex
        )
    }
}

impl fmt::Display for FilterSpec {
    /// `u32 filter prio P PARENT on ifindex N [(mirred ... to ifindex M)]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "u32 filter prio {} {} on ifindex {}",
            self.prio,
            parent_str(self.parent),
            self.ifindex
        )?;
        if let Some(classid) = self.classid {
            write!(f, " (classid {})", handle_str(classid))?;
        }
        if let Some(m) = &self.mirred {
            write!(f, " (mirred {} to ifindex {})", m.action, m.ifindex)?;
        }
        Ok(())
    }
}

// ----- encoding -----

/// Why a request was rejected before sending.
pub(crate) enum Invalid {
    Encode(EncodeError),
    Message(&'static str),
}

impl From<EncodeError> for Invalid {
    fn from(e: EncodeError) -> Invalid {
        Invalid::Encode(e)
    }
}

/// A link index for `ifi_index`: non-zero (0 would address a whole group or
/// nothing) and within `i32`.
pub(crate) fn link_index(ifindex: u32) -> Result<i32, Invalid> {
    match i32::try_from(ifindex) {
        Ok(i) if i > 0 => Ok(i),
        _ => Err(Invalid::Message("invalid ifindex")),
    }
}

impl Request {
    /// Appends this request to `buf` as netlink messages numbered from
    /// `seq` on, and returns how many (1, or 2 for a [`Request::SetLink`]
    /// that disables STP and sets the forward delay: the kernel applies
    /// the delay first and would check it against STP's 2–30 s range; or
    /// that enslaves the link and sets bridge port options: the kernel
    /// applies those through the old master, before the new one).
    /// On error `buf` is unchanged.
    pub(crate) fn encode(&self, buf: &mut Vec<u8>, seq: u32) -> Result<u32, NlError> {
        let mark = buf.len();
        self.encode_inner(buf, seq).map_err(|invalid| {
            buf.truncate(mark);
            let text = match invalid {
                Invalid::Message(m) => m.to_owned(),
                Invalid::Encode(EncodeError::InteriorNul(_)) => {
                    "a name or alias contains a NUL byte".to_owned()
                }
                Invalid::Encode(EncodeError::TooLong(ty)) => {
                    format!("attribute {ty} is too long")
                }
            };
            NlError::new(libc::EINVAL, self.to_string()).with_ext_ack(text)
        })
    }

    fn encode_inner(&self, buf: &mut Vec<u8>, seq: u32) -> Result<u32, Invalid> {
        match self {
            Request::NewBridge {
                name,
                mtu,
                mac,
                stp,
                forward_delay_cs,
                group,
            } => {
                // A new bridge starts with STP off, so any forward delay is
                // accepted before STP is (possibly) turned on.
                let mut m = MsgBuilder::new(buf, RTM_NEWLINK, CREATE, seq);
                m.bytes(&ifinfomsg(0, 0, 0));
                link_attrs(&mut m, name, *mtu, *mac, *group);
                let info = m.begin_nest(IFLA_LINKINFO);
                m.str(IFLA_INFO_KIND, "bridge");
                bridge_data(&mut m, *stp, *forward_delay_cs);
                m.end_nest(info);
                m.finish()?;
            }
            Request::NewVeth {
                name,
                mtu,
                mac,
                group,
                peer_name,
                peer_mac,
                peer_netns_fd,
            } => {
                let mut m = MsgBuilder::new(buf, RTM_NEWLINK, CREATE, seq);
                m.bytes(&ifinfomsg(0, 0, 0));
                link_attrs(&mut m, name, *mtu, *mac, *group);
                let info = m.begin_nest(IFLA_LINKINFO);
                m.str(IFLA_INFO_KIND, "veth");
                let data = m.begin_nest(IFLA_INFO_DATA);
                // VETH_INFO_PEER: an ifinfomsg followed by the peer's attributes.
                let peer = m.begin_nest(VETH_INFO_PEER);
                m.bytes(&ifinfomsg(0, 0, 0));
                link_attrs(&mut m, peer_name, *mtu, *peer_mac, None);
                if let Some(fd) = peer_netns_fd {
                    m.i32(IFLA_NET_NS_FD, *fd);
                }
                m.end_nest(peer);
                m.end_nest(data);
                m.end_nest(info);
                m.finish()?;
            }
            Request::SetLink { ifindex, change } => {
                let index = link_index(*ifindex)?;
                let (flags, mask) = match change.up {
                    Some(true) => (IFF_UP, IFF_UP),
                    Some(false) => (0, IFF_UP),
                    None => (0, 0),
                };
                let br = change.bridge.unwrap_or_default();
                // Turning STP off and setting the delay: STP off first.
                let delay_later = br.stp == Some(false) && br.forward_delay_cs.is_some();
                let mut m = MsgBuilder::new(buf, RTM_NEWLINK, CHANGE, seq);
                m.bytes(&ifinfomsg(index, flags, mask));
                if let Some(mtu) = change.mtu {
                    m.u32(IFLA_MTU, mtu);
                }
                if let Some(mac) = &change.mac {
                    m.attr(IFLA_ADDRESS, mac);
                }
                if let Some(group) = change.group {
                    m.u32(IFLA_GROUP, group);
                }
                if let Some(alias) = &change.alias {
                    // Unterminated: the attribute length is the alias length,
                    // and an empty attribute clears the alias.
                    m.str_raw(IFLA_IFALIAS, alias);
                }
                if let Some(master) = change.master {
                    m.u32(IFLA_MASTER, master);
                }
                let delay_now = if delay_later {
                    None
                } else {
                    br.forward_delay_cs
                };
                let port = change.port.filter(|p| !p.is_empty());
                // Enslaving and setting port options: the kernel applies
                // the port data (through the current master) before the
                // new master, so the options go in a second message.
                let port_later = port.is_some() && matches!(change.master, Some(m) if m != 0);
                let port_now = if port_later { None } else { port };
                let bridge_now = br.stp.is_some() || delay_now.is_some();
                if bridge_now || port_now.is_some() {
                    let info = m.begin_nest(IFLA_LINKINFO);
                    if bridge_now {
                        m.str(IFLA_INFO_KIND, "bridge");
                        bridge_data(&mut m, br.stp, delay_now);
                    }
                    if let Some(port) = port_now {
                        bridge_port_data(&mut m, &port);
                    }
                    m.end_nest(info);
                }
                m.finish()?;
                if delay_later || port_later {
                    let mut m = MsgBuilder::new(buf, RTM_NEWLINK, CHANGE, seq.wrapping_add(1));
                    m.bytes(&ifinfomsg(index, 0, 0));
                    let info = m.begin_nest(IFLA_LINKINFO);
                    if delay_later {
                        m.str(IFLA_INFO_KIND, "bridge");
                        bridge_data(&mut m, None, br.forward_delay_cs);
                    }
                    if let Some(port) = port.filter(|_| port_later) {
                        bridge_port_data(&mut m, &port);
                    }
                    m.end_nest(info);
                    m.finish()?;
                    return Ok(2);
                }
            }
            Request::RenameLink { ifindex, name } => {
                let index = link_index(*ifindex)?;
                if name.is_empty() || name.len() >= super::consts::IFNAMSIZ {
                    return Err(Invalid::Message("interface name must be 1 to 15 bytes"));
                }
                let mut m = MsgBuilder::new(buf, RTM_NEWLINK, CHANGE, seq);
                m.bytes(&ifinfomsg(index, 0, 0));
                m.str(IFLA_IFNAME, name);
                m.finish()?;
            }
            Request::DelLink { ifindex } => {
                let index = link_index(*ifindex)?;
                let mut m = MsgBuilder::new(buf, RTM_DELLINK, CHANGE, seq);
                m.bytes(&ifinfomsg(index, 0, 0));
                m.finish()?;
            }
            Request::DelGroup { group } => {
                if *group == 0 {
                    return Err(Invalid::Message(
                        "refusing to delete group 0, the default group of every link",
                    ));
                }
                let mut m = MsgBuilder::new(buf, RTM_DELLINK, CHANGE, seq);
                m.bytes(&ifinfomsg(0, 0, 0)).u32(IFLA_GROUP, *group);
                m.finish()?;
            }
            Request::NewAddr {
                ifindex,
                address,
                prefix_len,
            } => encode_addr(buf, seq, true, *ifindex, *address, *prefix_len)?,
            Request::DelAddr {
                ifindex,
                address,
                prefix_len,
            } => encode_addr(buf, seq, false, *ifindex, *address, *prefix_len)?,
            Request::NewRoute(spec) => encode_route(buf, seq, true, spec)?,
            Request::DelRoute(spec) => encode_route(buf, seq, false, spec)?,
            Request::NewIfb {
                name,
                mtu,
                txqlen,
                group,
            } => {
                let mut m = MsgBuilder::new(buf, RTM_NEWLINK, CREATE, seq);
                m.bytes(&ifinfomsg(0, 0, 0));
                link_attrs(&mut m, name, *mtu, None, *group);
                if let Some(qlen) = txqlen {
                    m.u32(IFLA_TXQLEN, *qlen);
                }
                let info = m.begin_nest(IFLA_LINKINFO);
                m.str(IFLA_INFO_KIND, "ifb");
                m.end_nest(info);
                m.finish()?;
            }
            Request::NewQdisc(spec) => encode_qdisc(buf, seq, Mode::Create, spec)?,
            Request::ReplaceQdisc(spec) => encode_qdisc(buf, seq, Mode::Replace, spec)?,
            Request::DelQdisc {
                ifindex,
                parent,
                handle,
            } => encode_del_qdisc(buf, seq, *ifindex, *parent, *handle)?,
            Request::NewClass(spec) => encode_class(buf, seq, Mode::Create, spec)?,
            Request::ReplaceClass(spec) => encode_class(buf, seq, Mode::Replace, spec)?,
            Request::DelClass { ifindex, classid } => {
                encode_del_class(buf, seq, *ifindex, *classid)?;
            }
            Request::NewFilter(spec) => encode_filter(buf, seq, spec)?,
            Request::DelFilter {
                ifindex,
                parent,
                prio,
                protocol,
                handle,
            } => encode_del_filter(buf, seq, *ifindex, *parent, *prio, *protocol, *handle)?,
            Request::SetVf { ifindex, change } => {
                super::vf::encode_set_vf(buf, seq, link_index(*ifindex)?, change)?;
            }
            Request::Vxlan(v) => v.encode(buf, seq)?,
            Request::Neigh(n) => n.encode(buf, seq)?,
            Request::NewMacvtap(spec) => {
                let mut m = MsgBuilder::new(buf, RTM_NEWLINK, CREATE, seq);
                let index =
                    i32::try_from(spec.ifindex).map_err(|_| Invalid::Message("invalid ifindex"))?;
                m.bytes(&ifinfomsg(index, 0, 0));
                link_attrs(&mut m, &spec.name, spec.mtu, spec.mac, spec.group);
                spec.encode(&mut m)?;
                m.finish()?;
            }
        }
        Ok(1)
    }
}

/// The attributes common to a new link and a veth peer.
pub(super) fn link_attrs(
    m: &mut MsgBuilder<'_>,
    name: &str,
    mtu: Option<u32>,
    mac: Option<[u8; 6]>,
    group: Option<u32>,
) {
    m.str(IFLA_IFNAME, name);
    if let Some(mtu) = mtu {
        m.u32(IFLA_MTU, mtu);
    }
    if let Some(mac) = &mac {
        m.attr(IFLA_ADDRESS, mac);
    }
    if let Some(group) = group {
        m.u32(IFLA_GROUP, group);
    }
}

/// `IFLA_INFO_DATA` of a bridge, if there is anything to set.
fn bridge_data(m: &mut MsgBuilder<'_>, stp: Option<bool>, forward_delay_cs: Option<u32>) {
    if stp.is_none() && forward_delay_cs.is_none() {
        return;
    }
    let data = m.begin_nest(IFLA_INFO_DATA);
    if let Some(fd) = forward_delay_cs {
        m.u32(IFLA_BR_FORWARD_DELAY, fd);
    }
    if let Some(stp) = stp {
        m.u32(IFLA_BR_STP_STATE, u32::from(stp));
    }
    m.end_nest(data);
}

/// `IFLA_INFO_SLAVE_KIND` and `IFLA_INFO_SLAVE_DATA` of a bridge port.
///
/// iproute2 (`ip link set ... type bridge_slave`) sends `IFLA_INFO_KIND
/// "bridge_slave"` instead of the slave kind; the kernel ignores both for an
/// existing link (the port data goes to the master's `slave_changelink`),
/// and an `IFLA_INFO_KIND` naming no link type may make the kernel look for
/// a module `rtnl-link-bridge_slave` (not verified; avoided anyway).
/// `IFLA_INFO_SLAVE_KIND` is what dumps report. The flags are in iproute2's
/// order.
fn bridge_port_data(m: &mut MsgBuilder<'_>, port: &BridgePortOpts) {
    m.str(IFLA_INFO_SLAVE_KIND, "bridge");
    let data = m.begin_nest(IFLA_INFO_SLAVE_DATA);
    for (ty, value) in [
        (IFLA_BRPORT_MODE, port.hairpin),
        (IFLA_BRPORT_ISOLATED, port.isolated),
        (IFLA_BRPORT_LEARNING, port.learning),
        (IFLA_BRPORT_UNICAST_FLOOD, port.flood),
    ] {
        if let Some(v) = value {
            m.u8(ty, u8::from(v));
        }
    }
    m.end_nest(data);
}

fn family_of(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

fn encode_addr(
    buf: &mut Vec<u8>,
    seq: u32,
    new: bool,
    ifindex: u32,
    address: IpAddr,
    prefix_len: u8,
) -> Result<(), Invalid> {
    let scope = match address {
        IpAddr::V4(a) if a.is_loopback() => RT_SCOPE_HOST,
        _ => RT_SCOPE_UNIVERSE,
    };
    // IFA_F_NODAD fits the header's 8 flag bits.
    let nodad = if new && address.is_ipv6() {
        super::consts::IFA_F_NODAD as u8
    } else {
        0
    };
    let hdr = IfAddrMsg {
        family: family_of(address),
        prefix_len,
        flags: nodad,
        scope,
        index: ifindex,
    };
    let (ty, flags) = if new {
        (RTM_NEWADDR, CREATE)
    } else {
        (RTM_DELADDR, CHANGE)
    };
    let mut m = MsgBuilder::new(buf, ty, flags, seq);
    m.bytes(&hdr.to_bytes());
    match address {
        IpAddr::V4(a) => {
            m.ip(IFA_LOCAL, address).ip(IFA_ADDRESS, address);
            if new && prefix_len <= 30 {
                let brd = u32::from(a) | (u32::MAX >> prefix_len);
                m.attr(IFA_BROADCAST, &brd.to_be_bytes());
            }
        }
        IpAddr::V6(_) => {
            m.ip(IFA_ADDRESS, address);
        }
    }
    m.finish()?;
    Ok(())
}

fn encode_route(buf: &mut Vec<u8>, seq: u32, new: bool, spec: &RouteSpec) -> Result<(), Invalid> {
    let family = family_of(spec.dst);
    let hdr = RtMsg {
        family,
        dst_len: spec.dst_len,
        // Tables beyond 255 only fit in RTA_TABLE; rtm_table is then 0.
        table: u8::try_from(spec.table).unwrap_or(0),
        protocol: spec.protocol,
        scope: spec.scope,
        // A deletion matches any type.
        kind: if new { RTN_UNICAST } else { RTN_UNSPEC },
        ..RtMsg::default()
    };
    let (ty, flags) = if new {
        (RTM_NEWROUTE, CREATE)
    } else {
        (RTM_DELROUTE, CHANGE)
    };
    let mut m = MsgBuilder::new(buf, ty, flags, seq);
    m.bytes(&hdr.to_bytes()).u32(RTA_TABLE, spec.table);
    if spec.dst_len > 0 {
        m.ip(RTA_DST, spec.dst);
    }
    if let Some(gw) = spec.gateway {
        if family_of(gw) == family {
            m.ip(RTA_GATEWAY, gw);
        } else {
            // struct rtvia: the gateway's address family, then the address.
            let mut via = u16::from(family_of(gw)).to_ne_bytes().to_vec();
            match gw {
                IpAddr::V4(a) => via.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => via.extend_from_slice(&a.octets()),
            }
            m.attr(RTA_VIA, &via);
        }
    }
    if let Some(oif) = spec.oif {
        m.u32(RTA_OIF, oif);
    }
    if let Some(src) = spec.prefsrc {
        m.ip(RTA_PREFSRC, src);
    }
    if let Some(metric) = spec.priority {
        m.u32(RTA_PRIORITY, metric);
    }
    m.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    /// A test-side byte string builder, independent of `MsgBuilder`.
    #[derive(Default)]
    struct Bytes(Vec<u8>);

    impl Bytes {
        fn u8s(mut self, b: &[u8]) -> Self {
            self.0.extend_from_slice(b);
            self
        }
        fn u16(self, v: u16) -> Self {
            self.u8s(&v.to_ne_bytes())
        }
        fn u32(self, v: u32) -> Self {
            self.u8s(&v.to_ne_bytes())
        }
        /// nlmsghdr with the given total length.
        fn hdr(self, len: u32, ty: u16, flags: u16, seq: u32) -> Self {
            self.u32(len).u16(ty).u16(flags).u32(seq).u32(0)
        }
        /// Attribute header.
        fn nla(self, len: u16, ty: u16) -> Self {
            self.u16(len).u16(ty)
        }
    }

    fn encode(req: &Request, seq: u32) -> Vec<u8> {
        let mut buf = Vec::new();
        assert_eq!(req.encode(&mut buf, seq).expect("encodes"), 1);
        assert_eq!(buf.len() % 4, 0);
        buf
    }

    #[test]
    fn new_bridge_bytes() {
        let req = Request::NewBridge {
            name: "virbr2".into(),
            mtu: Some(9000),
            mac: Some([0x52, 0x54, 0, 0xab, 0xcd, 0xef]),
            stp: Some(true),
            forward_delay_cs: Some(200),
            group: Some(7),
        };
        let want = Bytes::default()
            .hdr(108, RTM_NEWLINK, 0x605, 11)
            .u8s(&[0; 16]) // ifinfomsg
            .nla(11, IFLA_IFNAME)
            .u8s(b"virbr2\0\0")
            .nla(8, IFLA_MTU)
            .u32(9000)
            .nla(10, IFLA_ADDRESS)
            .u8s(&[0x52, 0x54, 0, 0xab, 0xcd, 0xef, 0, 0])
            .nla(8, IFLA_GROUP)
            .u32(7)
            .nla(36, IFLA_LINKINFO)
            .nla(11, IFLA_INFO_KIND)
            .u8s(b"bridge\0\0")
            .nla(20, IFLA_INFO_DATA)
            .nla(8, IFLA_BR_FORWARD_DELAY)
            .u32(200)
            .nla(8, IFLA_BR_STP_STATE)
            .u32(1);
        assert_eq!(encode(&req, 11), want.0);
        assert_eq!(req.to_string(), "create bridge virbr2");
    }

    #[test]
    fn minimal_bridge_has_no_info_data() {
        let req = Request::NewBridge {
            name: "br0".into(),
            mtu: None,
            mac: None,
            stp: None,
            forward_delay_cs: None,
            group: None,
        };
        let want = Bytes::default()
            .hdr(56, RTM_NEWLINK, 0x605, 1)
            .u8s(&[0; 16])
            .nla(8, IFLA_IFNAME)
            .u8s(b"br0\0")
            .nla(16, IFLA_LINKINFO)
            .nla(11, IFLA_INFO_KIND)
            .u8s(b"bridge\0\0");
        assert_eq!(encode(&req, 1), want.0);
    }

    #[test]
    fn set_link_bytes() {
        let req = Request::SetLink {
            ifindex: 5,
            change: LinkChange {
                master: Some(3),
                mtu: Some(1400),
                mac: None,
                up: Some(true),
                alias: Some("uplink".into()),
                group: None,
                bridge: None,
                port: None,
            },
        };
        let want = Bytes::default()
            .hdr(60, RTM_NEWLINK, 0x5, 2)
            .u8s(&[0, 0, 0, 0])
            .u32(5)
            .u32(IFF_UP)
            .u32(IFF_UP)
            .nla(8, IFLA_MTU)
            .u32(1400)
            .nla(10, IFLA_IFALIAS)
            .u8s(b"uplink\0\0")
            .nla(8, IFLA_MASTER)
            .u32(3);
        assert_eq!(encode(&req, 2), want.0);
        assert_eq!(
            req.to_string(),
            "set link ifindex 5 (master 3, mtu 1400, up, alias \"uplink\")"
        );
    }

    /// iproute2 6.1 `ip link set dev vg1 type bridge_slave hairpin on
    /// isolated on learning off flood off` (strace): `IFLA_LINKINFO {
    /// IFLA_INFO_KIND "bridge_slave" (unterminated), IFLA_INFO_SLAVE_DATA
    /// 05 00 04 00 01 00 00 00 05 00 21 00 01 00 00 00 05 00 08 00 00 00 00
    /// 00 05 00 09 00 00 00 00 00 }`. The slave data is byte for byte the
    /// same; the kind is `IFLA_INFO_SLAVE_KIND "bridge"` (see
    /// `bridge_port_data`).
    #[test]
    fn bridge_port_bytes_match_iproute2() {
        let iproute2_slave_data: [u8; 32] = [
            0x05, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x21, 0x00, 0x01, 0x00,
            0x00, 0x00, 0x05, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x09, 0x00,
            0x00, 0x00, 0x00, 0x00,
        ];
        let req = Request::SetLink {
            ifindex: 6,
            change: LinkChange {
                port: Some(BridgePortOpts {
                    hairpin: Some(true),
                    isolated: Some(true),
                    learning: Some(false),
                    flood: Some(false),
                }),
                ..LinkChange::default()
            },
        };
        let want = Bytes::default()
            .hdr(84, RTM_NEWLINK, 0x5, 3)
            .u8s(&[0, 0, 0, 0])
            .u32(6)
            .u32(0)
            .u32(0)
            .nla(52, IFLA_LINKINFO)
            .nla(11, IFLA_INFO_SLAVE_KIND)
            .u8s(b"bridge\0\0")
            .nla(36, IFLA_INFO_SLAVE_DATA)
            .u8s(&iproute2_slave_data);
        assert_eq!(encode(&req, 3), want.0);
        assert_eq!(
            req.to_string(),
            "set link ifindex 6 (hairpin on, isolated on, learning off, flood off)"
        );

        // iproute2 `... type bridge_slave hairpin off`: 05 00 04 00 00 00 00 00.
        let req = Request::SetLink {
            ifindex: 6,
            change: LinkChange {
                port: Some(BridgePortOpts {
                    hairpin: Some(false),
                    ..BridgePortOpts::default()
                }),
                ..LinkChange::default()
            },
        };
        let want = Bytes::default()
            .hdr(60, RTM_NEWLINK, 0x5, 4)
            .u8s(&[0, 0, 0, 0])
            .u32(6)
            .u32(0)
            .u32(0)
            .nla(28, IFLA_LINKINFO)
            .nla(11, IFLA_INFO_SLAVE_KIND)
            .u8s(b"bridge\0\0")
            .nla(12, IFLA_INFO_SLAVE_DATA)
            .u8s(&[0x05, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00]);
        assert_eq!(encode(&req, 4), want.0);

        // Empty port options send nothing.
        let req = Request::SetLink {
            ifindex: 6,
            change: LinkChange {
                port: Some(BridgePortOpts::default()),
                ..LinkChange::default()
            },
        };
        assert_eq!(encode(&req, 5).len(), 32);
    }

    /// Enslaving and setting port options: master first, options second.
    #[test]
    fn enslave_then_port_opts_are_two_messages() {
        let req = Request::SetLink {
            ifindex: 6,
            change: LinkChange {
                master: Some(3),
                port: Some(BridgePortOpts {
                    hairpin: Some(true),
                    ..BridgePortOpts::default()
                }),
                ..LinkChange::default()
            },
        };
        let mut buf = Vec::new();
        assert_eq!(req.encode(&mut buf, 7).expect("encodes"), 2);
        let first = Bytes::default()
            .hdr(40, RTM_NEWLINK, 0x5, 7)
            .u8s(&[0, 0, 0, 0])
            .u32(6)
            .u32(0)
            .u32(0)
            .nla(8, IFLA_MASTER)
            .u32(3);
        let second = Bytes::default()
            .hdr(60, RTM_NEWLINK, 0x5, 8)
            .u8s(&[0, 0, 0, 0])
            .u32(6)
            .u32(0)
            .u32(0)
            .nla(28, IFLA_LINKINFO)
            .nla(11, IFLA_INFO_SLAVE_KIND)
            .u8s(b"bridge\0\0")
            .nla(12, IFLA_INFO_SLAVE_DATA)
            .nla(5, IFLA_BRPORT_MODE)
            .u8s(&[1, 0, 0, 0]);
        assert_eq!(buf, [first.0, second.0].concat());
    }

    /// A bridge that is itself a port of another bridge: one `IFLA_LINKINFO`
    /// with both the bridge data and the port data.
    #[test]
    fn bridge_and_port_opts_share_linkinfo() {
        let req = Request::SetLink {
            ifindex: 2,
            change: LinkChange {
                bridge: Some(BridgeOpts {
                    stp: Some(true),
                    forward_delay_cs: None,
                }),
                port: Some(BridgePortOpts {
                    learning: Some(true),
                    ..BridgePortOpts::default()
                }),
                ..LinkChange::default()
            },
        };
        let want = Bytes::default()
            .hdr(84, RTM_NEWLINK, 0x5, 1)
            .u8s(&[0, 0, 0, 0])
            .u32(2)
            .u32(0)
            .u32(0)
            .nla(52, IFLA_LINKINFO)
            .nla(11, IFLA_INFO_KIND)
            .u8s(b"bridge\0\0")
            .nla(12, IFLA_INFO_DATA)
            .nla(8, IFLA_BR_STP_STATE)
            .u32(1)
            .nla(11, IFLA_INFO_SLAVE_KIND)
            .u8s(b"bridge\0\0")
            .nla(12, IFLA_INFO_SLAVE_DATA)
            .nla(5, IFLA_BRPORT_LEARNING)
            .u8s(&[1, 0, 0, 0]);
        assert_eq!(encode(&req, 1), want.0);
    }

    #[test]
    fn stp_off_and_forward_delay_are_two_messages() {
        let req = Request::SetLink {
            ifindex: 9,
            change: LinkChange {
                up: Some(true),
                bridge: Some(BridgeOpts {
                    stp: Some(false),
                    forward_delay_cs: Some(0),
                }),
                ..LinkChange::default()
            },
        };
        let mut buf = Vec::new();
        assert_eq!(req.encode(&mut buf, 20), Ok(2));
        let want = Bytes::default()
            .hdr(60, RTM_NEWLINK, 0x5, 20)
            .u8s(&[0, 0, 0, 0])
            .u32(9)
            .u32(IFF_UP)
            .u32(IFF_UP)
            .nla(28, IFLA_LINKINFO)
            .nla(11, IFLA_INFO_KIND)
            .u8s(b"bridge\0\0")
            .nla(12, IFLA_INFO_DATA)
            .nla(8, IFLA_BR_STP_STATE)
            .u32(0)
            .hdr(60, RTM_NEWLINK, 0x5, 21)
            .u8s(&[0, 0, 0, 0])
            .u32(9)
            .u32(0)
            .u32(0)
            .nla(28, IFLA_LINKINFO)
            .nla(11, IFLA_INFO_KIND)
            .u8s(b"bridge\0\0")
            .nla(12, IFLA_INFO_DATA)
            .nla(8, IFLA_BR_FORWARD_DELAY)
            .u32(0);
        assert_eq!(buf, want.0);
    }

    #[test]
    fn set_link_down_nomaster_clear_alias_bridge_opts() {
        let req = Request::SetLink {
            ifindex: 9,
            change: LinkChange {
                master: Some(0),
                up: Some(false),
                alias: Some(String::new()),
                bridge: Some(BridgeOpts {
                    stp: Some(false),
                    forward_delay_cs: None,
                }),
                ..LinkChange::default()
            },
        };
        let want = Bytes::default()
            .hdr(72, RTM_NEWLINK, 0x5, 3)
            .u8s(&[0, 0, 0, 0])
            .u32(9)
            .u32(0)
            .u32(IFF_UP)
            .nla(4, IFLA_IFALIAS)
            .nla(8, IFLA_MASTER)
            .u32(0)
            .nla(28, IFLA_LINKINFO)
            .nla(11, IFLA_INFO_KIND)
            .u8s(b"bridge\0\0")
            .nla(12, IFLA_INFO_DATA)
            .nla(8, IFLA_BR_STP_STATE)
            .u32(0);
        assert_eq!(encode(&req, 3), want.0);
        assert_eq!(
            req.to_string(),
            "set link ifindex 9 (nomaster, down, noalias, stp_state 0)"
        );
    }

    #[test]
    fn new_addr_v4_sets_local_and_broadcast() {
        let req = Request::NewAddr {
            ifindex: 4,
            address: Ipv4Addr::new(10, 8, 0, 1).into(),
            prefix_len: 24,
        };
        let want = Bytes::default()
            .hdr(48, RTM_NEWADDR, 0x605, 5)
            .u8s(&[AF_INET, 24, 0, 0])
            .u32(4)
            .nla(8, IFA_LOCAL)
            .u8s(&[10, 8, 0, 1])
            .nla(8, IFA_ADDRESS)
            .u8s(&[10, 8, 0, 1])
            .nla(8, IFA_BROADCAST)
            .u8s(&[10, 8, 0, 255]);
        assert_eq!(encode(&req, 5), want.0);

        // No broadcast for /31 and /32, none on deletion; loopback is host scope.
        let req = Request::NewAddr {
            ifindex: 1,
            address: Ipv4Addr::new(127, 0, 0, 2).into(),
            prefix_len: 32,
        };
        let buf = encode(&req, 6);
        assert_eq!(buf.len(), 16 + 8 + 16);
        assert_eq!(buf[16..20], [AF_INET, 32, 0, RT_SCOPE_HOST]);
        let req = Request::DelAddr {
            ifindex: 4,
            address: Ipv4Addr::new(10, 8, 0, 1).into(),
            prefix_len: 24,
        };
        let buf = encode(&req, 7);
        assert_eq!(buf.len(), 16 + 8 + 16);
        assert_eq!(u16::from_ne_bytes([buf[4], buf[5]]), RTM_DELADDR);
        assert_eq!(u16::from_ne_bytes([buf[6], buf[7]]), 0x5);
    }

    #[test]
    fn new_addr_v6() {
        let a = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
        let req = Request::NewAddr {
            ifindex: 4,
            address: a.into(),
            prefix_len: 64,
        };
        let want = Bytes::default()
            .hdr(44, RTM_NEWADDR, 0x605, 8)
            .u8s(&[AF_INET6, 64, 2, 0]) // IFA_F_NODAD
            .u32(4)
            .nla(20, IFA_ADDRESS)
            .u8s(&a.octets());
        assert_eq!(encode(&req, 8), want.0);
    }

    #[test]
    fn veth_with_peer_in_other_netns() {
        let req = Request::NewVeth {
            name: "ve0".into(),
            mtu: Some(1500),
            mac: None,
            group: Some(2),
            peer_name: "eth0".into(),
            peer_mac: Some([2, 0, 0, 0, 0, 1]),
            peer_netns_fd: Some(9),
        };
        let want = Bytes::default()
            .hdr(136, RTM_NEWLINK, 0x605, 4)
            .u8s(&[0; 16])
            .nla(8, IFLA_IFNAME)
            .u8s(b"ve0\0")
            .nla(8, IFLA_MTU)
            .u32(1500)
            .nla(8, IFLA_GROUP)
            .u32(2)
            .nla(80, IFLA_LINKINFO)
            .nla(9, IFLA_INFO_KIND)
            .u8s(b"veth\0\0\0\0")
            .nla(64, IFLA_INFO_DATA)
            .nla(60, VETH_INFO_PEER)
            .u8s(&[0; 16])
            .nla(9, IFLA_IFNAME)
            .u8s(b"eth0\0\0\0\0")
            .nla(8, IFLA_MTU)
            .u32(1500)
            .nla(10, IFLA_ADDRESS)
            .u8s(&[2, 0, 0, 0, 0, 1, 0, 0])
            .nla(8, IFLA_NET_NS_FD)
            .u32(9);
        assert_eq!(encode(&req, 4), want.0);
        assert_eq!(req.to_string(), "create veth ve0 (peer eth0)");
    }

    #[test]
    fn delete_link_and_group() {
        let want = Bytes::default()
            .hdr(32, RTM_DELLINK, 0x5, 1)
            .u8s(&[0; 4])
            .u32(12)
            .u32(0)
            .u32(0);
        assert_eq!(encode(&Request::DelLink { ifindex: 12 }, 1), want.0);
        let rename = Request::RenameLink {
            ifindex: 12,
            name: "web0".into(),
        };
        let want = Bytes::default()
            .hdr(44, RTM_NEWLINK, 0x5, 3)
            .u8s(&[0; 4])
            .u32(12)
            .u32(0)
            .u32(0)
            .nla(9, IFLA_IFNAME)
            .u8s(b"web0\0\0\0\0");
        assert_eq!(encode(&rename, 3), want.0);
        assert_eq!(rename.to_string(), "rename link ifindex 12 to web0");
        let mut buf = Vec::new();
        let long = Request::RenameLink {
            ifindex: 12,
            name: "averyveryverylongname".into(),
        };
        assert_eq!(
            long.encode(&mut buf, 1).map_err(|e| e.errno),
            Err(libc::EINVAL)
        );
        assert!(buf.is_empty());
        let want = Bytes::default()
            .hdr(40, RTM_DELLINK, 0x5, 2)
            .u8s(&[0; 16])
            .nla(8, IFLA_GROUP)
            .u32(77);
        assert_eq!(encode(&Request::DelGroup { group: 77 }, 2), want.0);
    }

    #[test]
    fn routes() {
        let spec = RouteSpec {
            table: 254,
            dst: Ipv4Addr::new(10, 9, 0, 0).into(),
            dst_len: 24,
            gateway: Some(Ipv4Addr::new(10, 8, 0, 2).into()),
            oif: Some(3),
            prefsrc: None,
            protocol: 104,
            scope: 0,
            priority: Some(50),
        };
        let want = Bytes::default()
            .hdr(68, RTM_NEWROUTE, 0x605, 3)
            .u8s(&[AF_INET, 24, 0, 0, 254, 104, 0, RTN_UNICAST])
            .u32(0)
            .nla(8, RTA_TABLE)
            .u32(254)
            .nla(8, RTA_DST)
            .u8s(&[10, 9, 0, 0])
            .nla(8, RTA_GATEWAY)
            .u8s(&[10, 8, 0, 2])
            .nla(8, RTA_OIF)
            .u32(3)
            .nla(8, RTA_PRIORITY)
            .u32(50);
        assert_eq!(encode(&Request::NewRoute(spec.clone()), 3), want.0);
        let del = encode(&Request::DelRoute(spec.clone()), 3);
        assert_eq!(u16::from_ne_bytes([del[4], del[5]]), RTM_DELROUTE);
        assert_eq!(u16::from_ne_bytes([del[6], del[7]]), 0x5);
        assert_eq!(del[23], RTN_UNSPEC);
        assert_eq!(
            Request::NewRoute(spec).to_string(),
            "add route 10.9.0.0/24 via 10.8.0.2 dev ifindex 3 metric 50 table 254"
        );

        // Default route in a big table via an IPv6 gateway.
        let gw = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
        let spec = RouteSpec {
            table: 1000,
            dst: Ipv4Addr::UNSPECIFIED.into(),
            dst_len: 0,
            gateway: Some(gw.into()),
            oif: None,
            prefsrc: None,
            protocol: 4,
            scope: 0,
            priority: None,
        };
        let mut via = Bytes::default().u16(AF_INET6.into()).u8s(&gw.octets());
        via.0.extend([0, 0]);
        let want = Bytes::default()
            .hdr(60, RTM_NEWROUTE, 0x605, 4)
            .u8s(&[AF_INET, 0, 0, 0, 0, 4, 0, RTN_UNICAST])
            .u32(0)
            .nla(8, RTA_TABLE)
            .u32(1000)
            .nla(22, RTA_VIA)
            .u8s(&via.0);
        assert_eq!(encode(&Request::NewRoute(spec), 4), want.0);
    }

    #[test]
    fn new_ifb() {
        let req = Request::NewIfb {
            name: "ifb-g1".into(),
            mtu: Some(9000),
            txqlen: Some(0),
            group: None,
        };
        let want = Bytes::default()
            .hdr(72, RTM_NEWLINK, 0x605, 9)
            .u8s(&[0; 16])
            .nla(11, IFLA_IFNAME)
            .u8s(b"ifb-g1\0\0")
            .nla(8, IFLA_MTU)
            .u32(9000)
            .nla(8, IFLA_TXQLEN)
            .u32(0)
            .nla(12, IFLA_LINKINFO)
            .nla(8, IFLA_INFO_KIND)
            .u8s(b"ifb\0");
        assert_eq!(encode(&req, 9), want.0);
        assert_eq!(req.to_string(), "create ifb ifb-g1");
    }

    #[test]
    fn invalid_requests_are_rejected_without_output() {
        let mut buf = vec![0xaa; 4];
        for req in [
            Request::DelGroup { group: 0 },
            Request::DelLink { ifindex: 0 },
            Request::SetLink {
                ifindex: u32::MAX,
                change: LinkChange::default(),
            },
            Request::NewBridge {
                name: "bad\0name".into(),
                mtu: None,
                mac: None,
                stp: None,
                forward_delay_cs: None,
                group: None,
            },
        ] {
            let err = req.encode(&mut buf, 1).expect_err("invalid");
            assert_eq!(err.errno, libc::EINVAL);
            assert_eq!(err.context, req.to_string());
            assert!(err.ext_ack.is_some());
            assert_eq!(buf, [0xaa; 4]);
        }
    }
}
