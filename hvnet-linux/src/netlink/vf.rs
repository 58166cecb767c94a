//! SR-IOV VF attributes of a PF: `RTM_NEWLINK` with `IFLA_VFINFO_LIST` (what `ip link set
//! PF vf N mac … vlan … spoofchk … trust … max_tx_rate …` sends) and the VF list in a
//! `RTM_GETLINK` reply (`IFLA_EXT_MASK` with `RTEXT_FILTER_VF`).
//!
//! The request is byte for byte iproute2's (checked against requests recorded from `ip`,
//! `hvnet-linux/tests/fixtures/vf/`): one `IFLA_VF_INFO` nest holding, in this order,
//! `IFLA_VF_MAC`, `IFLA_VF_VLAN` (qos 0), `IFLA_VF_SPOOFCHK`, `IFLA_VF_TRUST` and
//! `IFLA_VF_RATE` (min 0).

use super::attrs::{get_u32, ifinfomsg, Attrs, EncodeError, IfInfoMsg, MsgBuilder};
use super::consts::{NLM_F_ACK, NLM_F_REQUEST, RTM_NEWLINK};
use super::{NlError, Rtnl};

/// `IFLA_VFINFO_LIST`: the nest of a PF's VFs.
const IFLA_VFINFO_LIST: u16 = 22;
/// `IFLA_VF_INFO`: one VF.
const IFLA_VF_INFO: u16 = 1;
/// `IFLA_VF_MAC`: `struct ifla_vf_mac { u32 vf; u8 mac[32]; }`.
const IFLA_VF_MAC: u16 = 1;
/// `IFLA_VF_VLAN`: `struct ifla_vf_vlan { u32 vf, vlan, qos; }`.
const IFLA_VF_VLAN: u16 = 2;
/// `IFLA_VF_SPOOFCHK`: `struct ifla_vf_spoofchk { u32 vf, setting; }`.
const IFLA_VF_SPOOFCHK: u16 = 4;
/// `IFLA_VF_RATE`: `struct ifla_vf_rate { u32 vf, min_tx_rate, max_tx_rate; }` (Mbit/s).
const IFLA_VF_RATE: u16 = 6;
/// `IFLA_VF_TRUST`: `struct ifla_vf_trust { u32 vf, setting; }`.
const IFLA_VF_TRUST: u16 = 9;
/// `RTEXT_FILTER_VF`: include the VF list in a link reply.
const RTEXT_FILTER_VF: u32 = 1 << 0;
/// `RTEXT_FILTER_SKIP_STATS`: but not the counters (of the link or its VFs).
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

/// What to set on one VF; `None` fields are left alone.
///
/// ```
/// use hvnet_linux::netlink::VfChange;
/// let c = VfChange { vf: 3, mac: Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]), vlan: Some(100), ..VfChange::default() };
/// assert_eq!(c.vf, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VfChange {
    /// The VF's index on its PF.
    pub vf: u32,
    /// Its MAC.
    pub mac: Option<[u8; 6]>,
    /// Its VLAN id (0: none), qos 0.
    pub vlan: Option<u16>,
    /// MAC spoof checking.
    pub spoofchk: Option<bool>,
    /// Trusted.
    pub trust: Option<bool>,
    /// Transmit limit, Mbit/s (sent with min_tx_rate 0).
    pub max_tx_rate: Option<u32>,
}

/// One VF as its PF reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VfInfo {
    /// Its index.
    pub vf: u32,
    /// Its MAC.
    pub mac: [u8; 6],
    /// VLAN id (0: none).
    pub vlan: u16,
    /// Spoof checking (`None`: the driver does not say).
    pub spoofchk: Option<bool>,
    /// Trusted (`None`: the driver does not say).
    pub trust: Option<bool>,
    /// Transmit limit, Mbit/s (0: none).
    pub max_tx_rate: u32,
}

fn words(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

/// Appends the `RTM_NEWLINK` that sets `change` on PF `index`.
pub(crate) fn encode_set_vf(
    buf: &mut Vec<u8>,
    seq: u32,
    index: i32,
    change: &VfChange,
) -> Result<(), EncodeError> {
    let vf = change.vf;
    let mut m = MsgBuilder::new(buf, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
    m.bytes(&ifinfomsg(index, 0, 0));
    let list = m.begin_nest(IFLA_VFINFO_LIST);
    let info = m.begin_nest(IFLA_VF_INFO);
    if let Some(mac) = change.mac {
        let mut p = vf.to_ne_bytes().to_vec();
        let mut wide = [0u8; 32];
        wide[..6].copy_from_slice(&mac);
        p.extend_from_slice(&wide);
        m.attr(IFLA_VF_MAC, &p);
    }
    if let Some(vlan) = change.vlan {
        m.attr(IFLA_VF_VLAN, &words(&[vf, u32::from(vlan), 0]));
    }
    if let Some(on) = change.spoofchk {
        m.attr(IFLA_VF_SPOOFCHK, &words(&[vf, u32::from(on)]));
    }
    if let Some(on) = change.trust {
        m.attr(IFLA_VF_TRUST, &words(&[vf, u32::from(on)]));
    }
    if let Some(rate) = change.max_tx_rate {
        m.attr(IFLA_VF_RATE, &words(&[vf, 0, rate]));
    }
    m.end_nest(info);
    m.end_nest(list);
    m.finish()
}

/// The `setting` of a spoof check or trust attribute (`-1`: not supported).
fn setting(p: &[u8]) -> Option<bool> {
    match get_u32(p.get(4..)?)? {
        u32::MAX => None,
        v => Some(v != 0),
    }
}

/// One `IFLA_VF_INFO` nest.
fn parse_vf(p: &[u8]) -> Option<VfInfo> {
    let mut info = VfInfo::default();
    let mut index = None;
    for (ty, a) in Attrs::new(p) {
        match ty {
            IFLA_VF_MAC => {
                index = get_u32(a);
                let mac = a.get(4..10)?;
                info.mac.copy_from_slice(mac);
            }
            IFLA_VF_VLAN => info.vlan = u16::try_from(get_u32(a.get(4..)?)?).ok()?,
            IFLA_VF_SPOOFCHK => info.spoofchk = setting(a),
            IFLA_VF_TRUST => info.trust = setting(a),
            IFLA_VF_RATE => info.max_tx_rate = get_u32(a.get(8..)?)?,
            _ => {}
        }
    }
    info.vf = index?;
    Some(info)
}

/// The VFs in an `IFLA_VFINFO_LIST` payload.
pub(crate) fn parse_vf_list(p: &[u8]) -> Vec<VfInfo> {
    Attrs::new(p)
        .filter(|(ty, _)| *ty == IFLA_VF_INFO)
        .filter_map(|(_, a)| parse_vf(a))
        .collect()
}

/// The VF list of an `RTM_NEWLINK` payload (empty when it has none).
fn parse_link_vfs(payload: &[u8]) -> Option<Vec<VfInfo>> {
    let (_, attrs) = IfInfoMsg::parse(payload)?;
    Some(
        Attrs::new(attrs)
            .find(|(ty, _)| *ty == IFLA_VFINFO_LIST)
            .map(|(_, p)| parse_vf_list(p))
            .unwrap_or_default(),
    )
}

impl Rtnl {
    /// The VFs of PF `name` with their MAC, VLAN, spoof check, trust and rate (`Ok(None)`:
    /// no such link).
    pub fn get_vfs(&mut self, name: &str) -> Result<Option<Vec<VfInfo>>, NlError> {
        self.get_link_as(
            name,
            RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS,
            parse_link_vfs,
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A fixture recorded from iproute2 (`tests/fixtures/vf/record.sh`): its command line,
    /// the PF's ifindex and the request's bytes.
    fn fixture(name: &str) -> (String, i32, Vec<u8>) {
        let path = format!(
            "{}/tests/fixtures/vf/{name}.hex",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let mut cmd = String::new();
        let mut ifindex = 0;
        let mut bytes = Vec::new();
        for line in text.lines() {
            if let Some(c) = line.strip_prefix("# command: ") {
                cmd = c.to_string();
            } else if let Some(i) = line.strip_prefix("# pf0 ifindex: ") {
                ifindex = i.trim().parse().unwrap();
            } else if !line.starts_with('#') {
                bytes.extend(
                    line.split_whitespace()
                        .map(|b| u8::from_str_radix(b, 16).unwrap()),
                );
            }
        }
        assert!(!bytes.is_empty(), "{path} holds no bytes");
        (cmd, ifindex, bytes)
    }

    /// hvnet's request for `change` compared with iproute2's, except the sequence number
    /// and port id (bytes 8-15), which differ per run.
    fn same_as_iproute2(name: &str, change: VfChange) {
        let (cmd, ifindex, want) = fixture(name);
        let mut got = Vec::new();
        encode_set_vf(&mut got, 0, ifindex, &change).unwrap();
        let mask = |b: &[u8]| {
            let mut b = b.to_vec();
            b[8..16].fill(0);
            b
        };
        assert_eq!(mask(&got), mask(&want), "`{cmd}`");
    }

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    #[test]
    fn every_attribute_as_iproute2_sends_it() {
        same_as_iproute2(
            "full",
            VfChange {
                vf: 3,
                mac: Some(MAC),
                vlan: Some(100),
                spoofchk: Some(true),
                trust: Some(true),
                max_tx_rate: Some(1000),
            },
        );
    }

    #[test]
    fn single_attributes_as_iproute2_sends_them() {
        same_as_iproute2(
            "mac",
            VfChange {
                vf: 3,
                mac: Some(MAC),
                ..VfChange::default()
            },
        );
        same_as_iproute2(
            "flags_off",
            VfChange {
                vf: 7,
                spoofchk: Some(false),
                trust: Some(false),
                ..VfChange::default()
            },
        );
        same_as_iproute2(
            "vlan_clear",
            VfChange {
                vf: 0,
                vlan: Some(0),
                ..VfChange::default()
            },
        );
        same_as_iproute2(
            "rate",
            VfChange {
                vf: 1,
                max_tx_rate: Some(250),
                ..VfChange::default()
            },
        );
    }

    /// The kernel reports VFs with the same `IFLA_VF_INFO` layout a request carries: the
    /// recorded request's list parses back to what it set.
    #[test]
    fn vf_list_parses_the_recorded_layout() {
        let (_, _, bytes) = fixture("full");
        // nlmsghdr (16) + ifinfomsg (16), then IFLA_VFINFO_LIST.
        let (ty, list) = Attrs::new(&bytes[32..]).next().unwrap();
        assert_eq!(ty, IFLA_VFINFO_LIST);
        assert_eq!(
            parse_vf_list(list),
            vec![VfInfo {
                vf: 3,
                mac: MAC,
                vlan: 100,
                spoofchk: Some(true),
                trust: Some(true),
                max_tx_rate: 1000,
            }]
        );
        // A driver that cannot report spoof checking or trust says -1.
        let mut p = Vec::new();
        for (ty, payload) in [
            (
                IFLA_VF_MAC,
                [vec![5, 0, 0, 0], MAC.to_vec(), vec![0; 26]].concat(),
            ),
            (IFLA_VF_SPOOFCHK, words(&[5, u32::MAX])),
            (IFLA_VF_TRUST, words(&[5, u32::MAX])),
        ] {
            let len = u16::try_from(4 + payload.len()).unwrap();
            p.extend_from_slice(&len.to_ne_bytes());
            p.extend_from_slice(&ty.to_ne_bytes());
            p.extend_from_slice(&payload);
        }
        let vf = parse_vf(&p).unwrap();
        assert_eq!((vf.vf, vf.spoofchk, vf.trust), (5, None, None));
    }
}
