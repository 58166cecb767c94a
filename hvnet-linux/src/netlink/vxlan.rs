//! VXLAN devices and their forwarding database over rtnetlink: creating a
//! device ([`VxlanRequest::NewVxlan`], `ip link add … type vxlan`), its
//! settings in a link dump ([`VxlanInfo`]), and its remote entries
//! ([`VxlanRequest::AppendFdb`] / [`VxlanRequest::DelFdb`], `RTM_NEWNEIGH` /
//! `RTM_DELNEIGH` with `AF_BRIDGE`, `NDA_DST` and `NTF_SELF` as `bridge fdb
//! append|del … self` sends them; [`Rtnl::dump_fdb`]).
//!
//! ```
//! use hvnet_linux::netlink::{Request, VxlanRequest};
//! let req = Request::Vxlan(VxlanRequest::AppendFdb {
//!     ifindex: 5, mac: [0; 6], dst: "172.16.0.2".parse().unwrap(),
//! });
//! assert_eq!(req.to_string(), "append fdb 00:00:00:00:00:00 dst 172.16.0.2 on ifindex 5");
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use super::attrs::{get_ip, get_mac, get_u32, get_u8, Attrs, MsgBuilder};
use super::consts::{
    IFLA_INFO_DATA, IFLA_INFO_KIND, IFLA_LINKINFO, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST, RTM_NEWLINK,
};
use super::request::{link_attrs, link_index, Invalid};
use super::socket::Rtnl;
use super::NlError;
use crate::netlink::attrs::ifinfomsg;

/// `IFLA_VXLAN_ID`: the VNI (u32).
const IFLA_VXLAN_ID: u16 = 1;
/// `IFLA_VXLAN_LINK`: the underlay device (u32 ifindex).
const IFLA_VXLAN_LINK: u16 = 3;
/// `IFLA_VXLAN_LOCAL`: the local IPv4 address.
const IFLA_VXLAN_LOCAL: u16 = 4;
/// `IFLA_VXLAN_LEARNING`: u8.
const IFLA_VXLAN_LEARNING: u16 = 7;
/// `IFLA_VXLAN_PORT`: the destination UDP port, network byte order.
const IFLA_VXLAN_PORT: u16 = 15;

/// `RTM_NEWNEIGH`.
const RTM_NEWNEIGH: u16 = 28;
/// `RTM_DELNEIGH`.
const RTM_DELNEIGH: u16 = 29;
/// `RTM_GETNEIGH`.
const RTM_GETNEIGH: u16 = 30;
/// `AF_BRIDGE`: the bridge forwarding database.
const AF_BRIDGE: u8 = 7;
/// `NDA_DST`: the remote endpoint.
const NDA_DST: u16 = 1;
/// `NDA_LLADDR`: the MAC.
const NDA_LLADDR: u16 = 2;
/// `NTF_SELF`: the entry is the device's own (the VXLAN FDB), not its master bridge's.
const NTF_SELF: u8 = 0x02;
/// `NUD_NOARP`.
const NUD_NOARP: u16 = 0x40;
/// `NUD_PERMANENT`: a static entry.
const NUD_PERMANENT: u16 = 0x80;
/// `NLM_F_APPEND`: one more remote for the same MAC (the flood list).
const NLM_F_APPEND: u16 = 0x800;

/// A VXLAN device's settings (`IFLA_INFO_DATA` of kind `vxlan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VxlanInfo {
    /// The VNI.
    pub vni: u32,
    /// The local address, if set (IPv4).
    pub local: Option<Ipv4Addr>,
    /// The underlay device, if bound to one.
    pub link: Option<u32>,
    /// Destination UDP port.
    pub port: u16,
    /// Learning on.
    pub learning: bool,
}

/// Parses `IFLA_INFO_DATA` of a VXLAN device.
pub(crate) fn parse_vxlan(data: &[u8]) -> VxlanInfo {
    let mut v = VxlanInfo::default();
    for (ty, p) in Attrs::new(data) {
        match ty {
            IFLA_VXLAN_ID => v.vni = get_u32(p).unwrap_or(0),
            IFLA_VXLAN_LINK => v.link = get_u32(p).filter(|&l| l != 0),
            IFLA_VXLAN_LOCAL => {
                v.local = match get_ip(p) {
                    Some(IpAddr::V4(a)) => Some(a),
                    _ => None,
                }
            }
            IFLA_VXLAN_LEARNING => v.learning = get_u8(p).is_some_and(|l| l != 0),
            IFLA_VXLAN_PORT => {
                if let [a, b] = p {
                    v.port = u16::from_be_bytes([*a, *b]);
                }
            }
            _ => {}
        }
    }
    v
}

/// One entry of a bridge-family neighbour dump (`bridge fdb show`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdbEntry {
    /// The device it belongs to.
    pub ifindex: u32,
    /// The MAC.
    pub mac: [u8; 6],
    /// The remote endpoint (VXLAN devices' entries).
    pub dst: Option<IpAddr>,
    /// `ndm_state` (`NUD_PERMANENT` 0x80 for a static entry).
    pub state: u16,
    /// `ndm_flags` (`NTF_SELF` 0x02 for the device's own entries).
    pub flags: u8,
}

impl FdbEntry {
    /// A static entry (`permanent`), not a learned one.
    pub fn permanent(&self) -> bool {
        self.state & NUD_PERMANENT != 0
    }
}

/// `struct ndmsg` (12 bytes).
fn ndmsg(family: u8, ifindex: i32, state: u16, flags: u8) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0] = family;
    b[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    b[8..10].copy_from_slice(&state.to_ne_bytes());
    b[10] = flags;
    b
}

/// Parses an `RTM_NEWNEIGH` of the bridge family; `None` for other families or entries
/// without a MAC.
fn parse_fdb(payload: &[u8]) -> Option<FdbEntry> {
    let hdr = payload.get(..12)?;
    if hdr[0] != AF_BRIDGE {
        return None;
    }
    let ifindex = u32::try_from(i32::from_ne_bytes([hdr[4], hdr[5], hdr[6], hdr[7]])).ok()?;
    let state = u16::from_ne_bytes([hdr[8], hdr[9]]);
    let flags = hdr[10];
    let mut mac = None;
    let mut dst = None;
    for (ty, p) in Attrs::new(payload.get(12..)?) {
        match ty {
            NDA_LLADDR => mac = get_mac(p),
            NDA_DST => dst = get_ip(p),
            _ => {}
        }
    }
    Some(FdbEntry {
        ifindex,
        mac: mac?,
        dst,
        state,
        flags,
    })
}

/// Requests about VXLAN devices ([`Request::Vxlan`](super::Request::Vxlan)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VxlanRequest {
    /// Create a VXLAN device (down).
    NewVxlan {
        /// Interface name.
        name: String,
        /// MTU.
        mtu: Option<u32>,
        /// Ethernet address.
        mac: Option<[u8; 6]>,
        /// Interface group.
        group: Option<u32>,
        /// The VNI.
        vni: u32,
        /// Local tunnel address.
        local: Ipv4Addr,
        /// Destination UDP port.
        port: u16,
        /// Learn remote MACs.
        learning: bool,
        /// The underlay device.
        link: Option<u32>,
    },
    /// Add a static remote for `mac` (`bridge fdb append MAC dev IFINDEX dst DST self
    /// permanent`): the all-zero MAC adds a peer to the flood list.
    AppendFdb {
        /// The VXLAN device.
        ifindex: u32,
        /// The MAC.
        mac: [u8; 6],
        /// The remote endpoint.
        dst: Ipv4Addr,
    },
    /// Remove that remote (`bridge fdb del MAC dev IFINDEX dst DST self`).
    DelFdb {
        /// The VXLAN device.
        ifindex: u32,
        /// The MAC.
        mac: [u8; 6],
        /// The remote endpoint.
        dst: Ipv4Addr,
    },
}

impl fmt::Display for VxlanRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mac_str = |m: &[u8; 6]| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        match self {
            Self::NewVxlan { name, vni, .. } => write!(f, "create vxlan {name} (vni {vni})"),
            Self::AppendFdb { ifindex, mac, dst } => write!(
                f,
                "append fdb {} dst {dst} on ifindex {ifindex}",
                mac_str(mac)
            ),
            Self::DelFdb { ifindex, mac, dst } => write!(
                f,
                "delete fdb {} dst {dst} on ifindex {ifindex}",
                mac_str(mac)
            ),
        }
    }
}

impl VxlanRequest {
    /// Appends the request's one message to `buf`.
    pub(super) fn encode(&self, buf: &mut Vec<u8>, seq: u32) -> Result<(), Invalid> {
        match self {
            Self::NewVxlan {
                name,
                mtu,
                mac,
                group,
                vni,
                local,
                port,
                learning,
                link,
            } => {
                let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
                let mut m = MsgBuilder::new(buf, RTM_NEWLINK, flags, seq);
                m.bytes(&ifinfomsg(0, 0, 0));
                link_attrs(&mut m, name, *mtu, *mac, *group);
                let info = m.begin_nest(IFLA_LINKINFO);
                m.str(IFLA_INFO_KIND, "vxlan");
                let data = m.begin_nest(IFLA_INFO_DATA);
                m.u32(IFLA_VXLAN_ID, *vni);
                m.ip(IFLA_VXLAN_LOCAL, IpAddr::V4(*local));
                if let Some(l) = link {
                    m.u32(IFLA_VXLAN_LINK, *l);
                }
                m.attr(IFLA_VXLAN_PORT, &port.to_be_bytes());
                m.u8(IFLA_VXLAN_LEARNING, u8::from(*learning));
                m.end_nest(data);
                m.end_nest(info);
                m.finish()?;
            }
            Self::AppendFdb { ifindex, mac, dst } | Self::DelFdb { ifindex, mac, dst } => {
                let index = link_index(*ifindex)?;
                let (ty, flags) = match self {
                    Self::AppendFdb { .. } => (
                        RTM_NEWNEIGH,
                        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND,
                    ),
                    _ => (RTM_DELNEIGH, NLM_F_REQUEST | NLM_F_ACK),
                };
                let mut m = MsgBuilder::new(buf, ty, flags, seq);
                m.bytes(&ndmsg(
                    AF_BRIDGE,
                    index,
                    NUD_PERMANENT | NUD_NOARP,
                    NTF_SELF,
                ));
                m.attr(NDA_LLADDR, mac);
                m.ip(NDA_DST, IpAddr::V4(*dst));
                m.finish()?;
            }
        }
        Ok(())
    }
}

impl Rtnl {
    /// Lists the bridge-family forwarding entries of every device of the namespace (`bridge
    /// fdb show`): bridges' and VXLAN devices' alike; those of VXLAN devices carry a
    /// remote ([`FdbEntry::dst`]).
    pub fn dump_fdb(&mut self) -> Result<Vec<FdbEntry>, NlError> {
        self.dump(
            RTM_GETNEIGH,
            &ndmsg(AF_BRIDGE, 0, 0, 0),
            &[],
            "dump fdb",
            RTM_NEWNEIGH,
            parse_fdb,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(req: &VxlanRequest) -> Vec<u8> {
        let mut buf = Vec::new();
        assert!(req.encode(&mut buf, 1).is_ok());
        buf
    }

    /// The same bytes `bridge fdb append 00:00:00:00:00:00 dev IF dst 172.16.0.2 self
    /// permanent` sends (header, ndmsg, NDA_LLADDR, NDA_DST).
    #[test]
    fn append_fdb_bytes() {
        let buf = encode(&VxlanRequest::AppendFdb {
            ifindex: 5,
            mac: [0; 6],
            dst: Ipv4Addr::new(172, 16, 0, 2),
        });
        assert_eq!(buf.len(), 16 + 12 + 12 + 8);
        assert_eq!(u16::from_ne_bytes([buf[4], buf[5]]), RTM_NEWNEIGH);
        let flags = u16::from_ne_bytes([buf[6], buf[7]]);
        assert_eq!(
            flags,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND
        );
        assert_eq!(buf[16], AF_BRIDGE);
        assert_eq!(i32::from_ne_bytes([buf[20], buf[21], buf[22], buf[23]]), 5);
        assert_eq!(u16::from_ne_bytes([buf[24], buf[25]]), 0xc0);
        assert_eq!(buf[26], NTF_SELF);
        // NDA_LLADDR: len 10, type 2, six zero bytes, padding.
        assert_eq!(&buf[28..32], &[10, 0, 2, 0]);
        // NDA_DST: len 8, type 1, the address.
        assert_eq!(&buf[40..48], &[8, 0, 1, 0, 172, 16, 0, 2]);
        // And it parses back as a dump entry.
        let e = parse_fdb(&buf[16..]).expect("entry");
        assert_eq!(e.dst, Some(IpAddr::V4(Ipv4Addr::new(172, 16, 0, 2))));
        assert!(e.permanent());
    }

    #[test]
    fn new_vxlan_round_trips_through_the_parser() {
        let buf = encode(&VxlanRequest::NewVxlan {
            name: "vxlan100".into(),
            mtu: Some(1450),
            mac: None,
            group: Some(26742),
            vni: 100,
            local: Ipv4Addr::new(172, 16, 0, 1),
            port: 4789,
            learning: false,
            link: Some(3),
        });
        // A dump reports the created link with its index.
        let mut reply = buf[16..].to_vec();
        reply[4..8].copy_from_slice(&7i32.to_ne_bytes());
        let link = crate::netlink::link::parse_link(&reply).expect("link");
        assert_eq!(link.kind.as_deref(), Some("vxlan"));
        assert_eq!(
            link.vxlan,
            Some(VxlanInfo {
                vni: 100,
                local: Some(Ipv4Addr::new(172, 16, 0, 1)),
                link: Some(3),
                port: 4789,
                learning: false,
            })
        );
    }
}
