//! macvtap links: the [`Request::NewMacvtap`](super::Request::NewMacvtap) encoding and
//! the mode a dump reports.

use super::attrs::{get_u32, Attrs, EncodeError, MsgBuilder};
use super::consts::{IFLA_INFO_DATA, IFLA_INFO_KIND, IFLA_LINK, IFLA_LINKINFO};

/// `IFLA_MACVLAN_MODE` inside `IFLA_INFO_DATA` of a macvlan or macvtap.
pub(crate) const IFLA_MACVLAN_MODE: u16 = 1;

/// A macvtap to create.
///
/// ```
/// use hvnet_linux::netlink::{MacvtapSpec, Request};
/// let spec = MacvtapSpec { name: "macvtap0".into(), ifindex: 0, lower: 2, mode: 4, mtu: None, mac: None, group: None };
/// assert_eq!(Request::NewMacvtap(spec).to_string(), "create macvtap macvtap0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacvtapSpec {
    /// Interface name.
    pub name: String,
    /// The ifindex it is to have (`ip link add … index N`; its device becomes `/dev/tapN`);
    /// 0 lets the kernel choose. One in use is `EBUSY`.
    pub ifindex: u32,
    /// The lower device's ifindex (`IFLA_LINK`).
    pub lower: u32,
    /// `IFLA_MACVLAN_MODE`: 1 private, 2 vepa, 4 bridge, 8 passthru.
    pub mode: u32,
    /// MTU; the lower device's if `None`.
    pub mtu: Option<u32>,
    /// Ethernet address; random if `None`.
    pub mac: Option<[u8; 6]>,
    /// Interface group.
    pub group: Option<u32>,
}

impl MacvtapSpec {
    /// Appends `IFLA_LINK` and the link info (kind `macvtap`, its mode) to a new-link
    /// message whose name, MTU, address and group are already written.
    pub(crate) fn encode(&self, m: &mut MsgBuilder<'_>) -> Result<(), EncodeError> {
        m.u32(IFLA_LINK, self.lower);
        let info = m.begin_nest(IFLA_LINKINFO);
        m.str(IFLA_INFO_KIND, "macvtap");
        let data = m.begin_nest(IFLA_INFO_DATA);
        m.u32(IFLA_MACVLAN_MODE, self.mode);
        m.end_nest(data);
        m.end_nest(info);
        Ok(())
    }
}

/// The mode in `IFLA_INFO_DATA` of a macvlan or macvtap.
pub(crate) fn parse_mode(data: &[u8]) -> Option<u32> {
    Attrs::new(data)
        .find(|(ty, _)| *ty == IFLA_MACVLAN_MODE)
        .and_then(|(_, p)| get_u32(p))
}

#[cfg(test)]
mod tests {
    use super::super::Request;
    use super::*;

    /// The message `ip link add link ifindex 2 name macvtap0 type macvtap mode bridge`
    /// sends, attribute by attribute.
    #[test]
    fn encodes_kind_lower_and_mode() {
        let spec = MacvtapSpec {
            name: "macvtap0".into(),
            ifindex: 40,
            lower: 2,
            mode: 4,
            mtu: Some(1400),
            mac: None,
            group: Some(0x6876),
        };
        let mut buf = Vec::new();
        assert_eq!(Request::NewMacvtap(spec).encode(&mut buf, 1).ok(), Some(1));
        // nlmsghdr (16) + ifinfomsg (16: family, pad, type, then the index), then the
        // attributes.
        assert_eq!(&buf[20..24], &40i32.to_ne_bytes());
        let attrs: Vec<(u16, Vec<u8>)> = Attrs::new(&buf[32..])
            .map(|(t, p)| (t, p.to_vec()))
            .collect();
        let find = |t: u16| {
            attrs
                .iter()
                .find(|(ty, _)| *ty == t)
                .map(|(_, p)| p.clone())
        };
        assert_eq!(find(3).as_deref(), Some(&b"macvtap0\0"[..])); // IFLA_IFNAME
        assert_eq!(find(4).and_then(|p| get_u32(&p)), Some(1400)); // IFLA_MTU
        assert_eq!(find(IFLA_LINK).and_then(|p| get_u32(&p)), Some(2));
        assert_eq!(find(27).and_then(|p| get_u32(&p)), Some(0x6876)); // IFLA_GROUP
        let info = find(IFLA_LINKINFO).unwrap_or_default();
        let kind = Attrs::new(&info).find(|(t, _)| *t == IFLA_INFO_KIND);
        assert_eq!(
            kind.map(|(_, p)| p.to_vec()).as_deref(),
            Some(&b"macvtap\0"[..])
        );
        let data = Attrs::new(&info).find(|(t, _)| *t == IFLA_INFO_DATA);
        assert_eq!(data.and_then(|(_, p)| parse_mode(p)), Some(4));
    }
}
