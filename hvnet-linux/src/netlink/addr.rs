//! [`Addr`]: an IPv4 or IPv6 interface address as reported by `RTM_NEWADDR`.

use std::net::IpAddr;

use super::attrs::{get_ip, get_string, get_u32, Attrs, IfAddrMsg};
use super::consts::{AF_INET, AF_INET6, IFA_ADDRESS, IFA_FLAGS, IFA_LABEL, IFA_LOCAL};

/// An interface address, from [`Rtnl::dump_addrs`](super::Rtnl::dump_addrs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    /// Index of the interface carrying the address.
    pub ifindex: u32,
    /// The local address (`IFA_LOCAL`, or `IFA_ADDRESS` when there is no
    /// separate local address, as for IPv6 without a peer).
    pub address: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// Scope (`RT_SCOPE_*` in [`consts`](super::consts)).
    pub scope: u8,
    /// `IFA_F_*` flags (all 32 bits, from `IFA_FLAGS` when present).
    pub flags: u32,
    /// IPv4 label (`IFA_LABEL`, e.g. `"eth0:1"`), if any.
    pub label: Option<String>,
}

/// Parses an `RTM_NEWADDR` payload; `None` for families other than IPv4 and
/// IPv6 or a message without an address.
pub(crate) fn parse_addr(payload: &[u8]) -> Option<Addr> {
    let (hdr, attrs) = IfAddrMsg::parse(payload)?;
    if hdr.family != AF_INET && hdr.family != AF_INET6 {
        return None;
    }
    let (mut address, mut local, mut label) = (None, None, None);
    let mut flags = u32::from(hdr.flags);
    for (ty, p) in Attrs::new(attrs) {
        match ty {
            IFA_ADDRESS => address = get_ip(p),
            IFA_LOCAL => local = get_ip(p),
            IFA_LABEL => label = Some(get_string(p)),
            IFA_FLAGS => flags = get_u32(p).unwrap_or(flags),
            _ => {}
        }
    }
    Some(Addr {
        ifindex: hdr.index,
        address: local.or(address)?,
        prefix_len: hdr.prefix_len,
        scope: hdr.scope,
        flags,
        label: label.filter(|l| !l.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::super::attrs::{Messages, MsgBuilder};
    use super::super::consts::{IFA_F_PERMANENT, RTM_NEWADDR, RT_SCOPE_LINK};
    use super::*;

    fn parse(hdr: IfAddrMsg, build: impl FnOnce(&mut MsgBuilder<'_>)) -> Option<Addr> {
        let mut buf = Vec::new();
        let mut m = MsgBuilder::new(&mut buf, RTM_NEWADDR, 0, 1);
        m.bytes(&hdr.to_bytes());
        build(&mut m);
        assert_eq!(m.finish(), Ok(()));
        parse_addr(Messages::new(&buf).next().expect("message").payload)
    }

    #[test]
    fn ipv4_prefers_local() {
        let hdr = IfAddrMsg {
            family: AF_INET,
            prefix_len: 24,
            flags: IFA_F_PERMANENT as u8,
            scope: 0,
            index: 4,
        };
        let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let local = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let addr = parse(hdr, |m| {
            m.ip(IFA_ADDRESS, peer)
                .ip(IFA_LOCAL, local)
                .str(IFA_LABEL, "br0")
                .u32(IFA_FLAGS, 0x280);
        });
        assert_eq!(
            addr,
            Some(Addr {
                ifindex: 4,
                address: local,
                prefix_len: 24,
                scope: 0,
                flags: 0x280,
                label: Some("br0".into()),
            })
        );
    }

    #[test]
    fn ipv6_and_others() {
        let hdr = IfAddrMsg {
            family: AF_INET6,
            prefix_len: 64,
            flags: IFA_F_PERMANENT as u8,
            scope: RT_SCOPE_LINK,
            index: 2,
        };
        let a = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
        let addr = parse(hdr, |m| {
            m.ip(IFA_ADDRESS, a);
        })
        .expect("address");
        assert_eq!(
            (addr.address, addr.flags, addr.label),
            (a, IFA_F_PERMANENT, None)
        );

        assert_eq!(parse(hdr, |_| {}), None);
        let other = IfAddrMsg { family: 17, ..hdr };
        assert_eq!(
            parse(other, |m| {
                m.ip(IFA_ADDRESS, a);
            }),
            None
        );
    }
}
