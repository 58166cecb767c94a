//! IPv6 proxy neighbour entries over rtnetlink (`ip -6 neigh add|del proxy ADDR dev DEV`):
//! with `proxy_ndp` on, the kernel answers neighbour solicitations on DEV for the entries'
//! addresses (a routed Xen guest on the uplink's LAN). `RTM_NEWNEIGH` / `RTM_DELNEIGH`
//! with `AF_INET6`, `NTF_PROXY` and `NDA_DST`; [`Rtnl::dump_proxy6`] lists them.
//!
//! ```
//! use hvnet_linux::netlink::{NeighRequest, Request};
//! let req = Request::Neigh(NeighRequest::AddProxy6 { ifindex: 2, addr: "2001:db8::5".parse().unwrap() });
//! assert_eq!(req.to_string(), "add proxy neighbour 2001:db8::5 on ifindex 2");
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use super::attrs::{get_ip, Attrs, MsgBuilder};
use super::consts::{NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST};
use super::request::{link_index, Invalid};
use super::socket::Rtnl;
use super::NlError;

/// `RTM_NEWNEIGH`.
const RTM_NEWNEIGH: u16 = 28;
/// `RTM_DELNEIGH`.
const RTM_DELNEIGH: u16 = 29;
/// `RTM_GETNEIGH`.
const RTM_GETNEIGH: u16 = 30;
/// `AF_INET6`.
const AF_INET6: u8 = 10;
/// `NDA_DST`: the proxied address.
const NDA_DST: u16 = 1;
/// `NTF_PROXY`: a proxy entry.
const NTF_PROXY: u8 = 0x08;
/// `NUD_PERMANENT`, what `ip neigh add` gives an entry.
const NUD_PERMANENT: u16 = 0x80;
/// `NLM_F_REPLACE`: an existing entry is fine.
const NLM_F_REPLACE: u16 = 0x100;

/// `struct ndmsg` (12 bytes).
fn ndmsg(ifindex: i32, state: u16, flags: u8) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0] = AF_INET6;
    b[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    b[8..10].copy_from_slice(&state.to_ne_bytes());
    b[10] = flags;
    b
}

/// Proxy neighbour requests ([`super::Request::Neigh`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeighRequest {
    /// `ip -6 neigh replace proxy ADDR dev IFINDEX`.
    AddProxy6 {
        /// The device that answers for `addr`.
        ifindex: u32,
        /// The address.
        addr: Ipv6Addr,
    },
    /// `ip -6 neigh del proxy ADDR dev IFINDEX`.
    DelProxy6 {
        /// The device.
        ifindex: u32,
        /// The address.
        addr: Ipv6Addr,
    },
}

impl fmt::Display for NeighRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AddProxy6 { ifindex, addr } => {
                write!(f, "add proxy neighbour {addr} on ifindex {ifindex}")
            }
            Self::DelProxy6 { ifindex, addr } => {
                write!(f, "delete proxy neighbour {addr} on ifindex {ifindex}")
            }
        }
    }
}

impl NeighRequest {
    /// Appends the request's one message to `buf`.
    pub(super) fn encode(&self, buf: &mut Vec<u8>, seq: u32) -> Result<(), Invalid> {
        let (ty, flags, ifindex, addr) = match self {
            Self::AddProxy6 { ifindex, addr } => (
                RTM_NEWNEIGH,
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
                ifindex,
                addr,
            ),
            Self::DelProxy6 { ifindex, addr } => {
                (RTM_DELNEIGH, NLM_F_REQUEST | NLM_F_ACK, ifindex, addr)
            }
        };
        let mut m = MsgBuilder::new(buf, ty, flags, seq);
        m.bytes(&ndmsg(link_index(*ifindex)?, NUD_PERMANENT, NTF_PROXY));
        m.ip(NDA_DST, IpAddr::V6(*addr));
        m.finish()?;
        Ok(())
    }
}

/// Parses one entry of a proxy dump: `(ifindex, address)`.
fn parse_proxy6(payload: &[u8]) -> Option<(u32, Ipv6Addr)> {
    let hdr = payload.get(..12)?;
    if hdr[0] != AF_INET6 || hdr[10] & NTF_PROXY == 0 {
        return None;
    }
    let ifindex = u32::try_from(i32::from_ne_bytes([hdr[4], hdr[5], hdr[6], hdr[7]])).ok()?;
    Attrs::new(payload.get(12..)?).find_map(|(ty, p)| match (ty, get_ip(p)) {
        (NDA_DST, Some(IpAddr::V6(a))) => Some((ifindex, a)),
        _ => None,
    })
}

impl Rtnl {
    /// The IPv6 proxy neighbour entries of the namespace (`ip -6 neigh show proxy`), as
    /// `(ifindex, address)`.
    pub fn dump_proxy6(&mut self) -> Result<Vec<(u32, Ipv6Addr)>, NlError> {
        self.dump(
            RTM_GETNEIGH,
            &ndmsg(0, 0, NTF_PROXY),
            &[],
            "dump proxy neighbours",
            RTM_NEWNEIGH,
            parse_proxy6,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes `ip -6 neigh replace proxy 2001:db8::5 dev IF` sends after the header:
    /// ndmsg (AF_INET6, ifindex, NUD_PERMANENT, NTF_PROXY) and NDA_DST.
    #[test]
    fn add_proxy_bytes_and_parse_back() {
        let mut buf = Vec::new();
        let addr: Ipv6Addr = "2001:db8::5".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        assert!(NeighRequest::AddProxy6 { ifindex: 7, addr }
            .encode(&mut buf, 1)
            .is_ok());
        let payload = &buf[16..];
        assert_eq!(payload[0], AF_INET6);
        assert_eq!(
            i32::from_ne_bytes([payload[4], payload[5], payload[6], payload[7]]),
            7
        );
        assert_eq!(payload[10], NTF_PROXY);
        assert_eq!(parse_proxy6(payload), Some((7, addr)));
        let flags = u16::from_ne_bytes([buf[6], buf[7]]);
        assert_eq!(flags & NLM_F_REPLACE, NLM_F_REPLACE);
    }
}
