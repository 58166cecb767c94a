//! Validation of SR-IOV VF pools (`kind = "hostdev"` networks) and their guest NICs.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use super::super::raw::{RawConfig, RawNetwork, RawNic, S};
use super::super::{HostSettings, Network, Nic, NicRate, NicType};
use super::Validator;
use crate::sriov::{PciAddr, VfPool, VfSettings, VfSource, MAX_VLAN};
use crate::types::IfName;

/// Whether a raw network is an SR-IOV pool.
pub(super) fn is_pool(n: &RawNetwork) -> bool {
    n.kind.get_ref() == "hostdev"
}

/// A pool's or NIC's `vlan`, `spoofchk`, `trust` and `max_tx_rate`, as written.
type VfFields<'a> = (
    &'a Option<S<i64>>,
    &'a Option<S<bool>>,
    &'a Option<S<bool>>,
    &'a Option<S<i64>>,
);

/// The largest VF rate the kernel takes (`IFLA_VF_RATE` is a `u32` of Mbit/s).
const MAX_TX_RATE: i64 = u32::MAX as i64;

/// Fields as `(name, where)`; `None`: not in the file.
type Present<'a> = &'a [(&'a str, Option<Range<usize>>)];

impl Validator<'_> {
    /// Reports each field that is present, with `why(name)`.
    fn refuse(&mut self, at: &str, fields: Present<'_>, why: impl Fn(&str) -> String) {
        for (opt, span) in fields {
            if let Some(span) = span {
                self.err(span.clone(), &format!("{at}.{opt}"), why(opt));
            }
        }
    }

    /// A `kind = "hostdev"` network: `pf` or `vfs` (one of them), `managed`, VF settings;
    /// none of a bridge's fields.
    pub(super) fn pool(&mut self, n: &RawNetwork, at: &str) -> Option<VfPool> {
        let name = self.name(&n.name, &format!("{at}.name"), "network");
        self.direct_only_fields(n, at);
        let why = "a kind = \"hostdev\" network is a pool of SR-IOV VFs passed through to guests: it has no bridge";
        self.refuse(
            at,
            &[
                ("bridge", n.bridge.as_ref().map(|s| s.span())),
                ("address", n.address.as_ref().map(|s| s.span())),
                ("mtu", n.mtu.as_ref().map(|s| s.span())),
                ("stp", n.stp.as_ref().map(|s| s.span())),
                ("forward_delay", n.forward_delay.as_ref().map(|s| s.span())),
                ("lifetime", n.lifetime.as_ref().map(|s| s.span())),
                ("uplink", n.uplink.as_ref().map(|s| s.span())),
                ("host_ip", n.host_ip.as_ref().map(|s| s.span())),
                ("gateway", n.gateway.as_ref().map(|s| s.span())),
                ("replicate_mac", n.replicate_mac.as_ref().map(|s| s.span())),
                ("mac", n.mac.as_ref().map(|s| s.span())),
                ("rate", n.rate.as_ref().map(|s| s.span())),
                ("nat_ports", n.nat_ports.as_ref().map(|s| s.span())),
                ("dhcp", n.dhcp.as_ref().map(|s| s.span())),
                ("address6", n.address6.as_ref().map(|s| s.span())),
                ("dhcp6", n.dhcp6.as_ref().map(|s| s.span())),
            ],
            |opt| {
                let extra = if opt == "rate" {
                    " (a VF's limit is `max_tx_rate`, in Mbit/s)"
                } else {
                    ""
                };
                format!("`{opt}` does not apply: {why}{extra}")
            },
        );
        let source = match (&n.pf, &n.vfs) {
            (Some(pf), None) => self
                .typed::<IfName>(pf, &format!("{at}.pf"))
                .map(VfSource::Pf),
            (None, Some(list)) => self.vf_list(list, &format!("{at}.vfs")).map(VfSource::Vfs),
            (Some(_), Some(list)) => {
                self.err(
                    list.span(),
                    &format!("{at}.vfs"),
                    "give either `pf` (all VFs of that physical function) or `vfs` (a list of VF PCI addresses), not both",
                );
                None
            }
            (None, None) => {
                self.err(
                    n.kind.span(),
                    &format!("{at}.pf"),
                    "a kind = \"hostdev\" network needs `pf` (the physical function's netdev, e.g. \"eth3\") or `vfs` (VF PCI addresses, e.g. [\"0000:03:10.0\"])",
                );
                None
            }
        };
        let settings = self.vf_settings((&n.vlan, &n.spoofchk, &n.trust, &n.max_tx_rate), at);
        Some(VfPool {
            name: name?,
            source: source?,
            managed: n.managed.as_ref().is_some_and(|m| *m.get_ref()),
            settings: settings?,
        })
    }

    /// `vfs = [...]`: PCI addresses, at least one, no repeats.
    fn vf_list(&mut self, list: &S<Vec<S<String>>>, field: &str) -> Option<Vec<PciAddr>> {
        if list.get_ref().is_empty() {
            self.err(
                list.span(),
                field,
                "`vfs` lists no VF; give at least one PCI address",
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        let mut seen: HashMap<PciAddr, usize> = HashMap::new();
        for (k, s) in list.get_ref().iter().enumerate() {
            let f = format!("{field}[{k}]");
            match s.get_ref().parse::<PciAddr>() {
                Ok(p) => {
                    if let Some(first) = seen.insert(p, k) {
                        self.err(
                            s.span(),
                            &f,
                            format!("VF {p} is listed twice (also {field}[{first}])"),
                        );
                        ok = false;
                    }
                    out.push(p);
                }
                Err(e) => {
                    self.err(s.span(), &f, e.to_string());
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// `vlan`, `spoofchk`, `trust`, `max_tx_rate`.
    fn vf_settings(
        &mut self,
        (vlan, spoofchk, trust, rate): VfFields<'_>,
        at: &str,
    ) -> Option<VfSettings> {
        let mut ok = true;
        let vlan = match vlan {
            Some(v) => match u16::try_from(*v.get_ref()) {
                Ok(id) if id <= MAX_VLAN => Some(id),
                _ => {
                    self.err(
                        v.span(),
                        &format!("{at}.vlan"),
                        format!(
                            "vlan = {} is out of range: a VF's VLAN id is 0 to {MAX_VLAN} (0: none)",
                            v.get_ref()
                        ),
                    );
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let max_tx_rate = match rate {
            Some(r) if !(0..=MAX_TX_RATE).contains(r.get_ref()) => {
                self.err(
                    r.span(),
                    &format!("{at}.max_tx_rate"),
                    format!(
                        "max_tx_rate = {} is out of range: Mbit/s from 0 (no limit) to {MAX_TX_RATE}",
                        r.get_ref()
                    ),
                );
                ok = false;
                None
            }
            Some(r) => u32::try_from(*r.get_ref()).ok(),
            None => None,
        };
        ok.then_some(VfSettings {
            vlan,
            spoofchk: spoofchk.as_ref().map(|s| *s.get_ref()),
            trust: trust.as_ref().map(|s| *s.get_ref()),
            max_tx_rate,
        })
    }

    /// A NIC on pool `pool`: only `network`, `type = "hostdev"`, `mac` and VF settings.
    pub(super) fn hostdev_nic(
        &mut self,
        n: &RawNic,
        at: &str,
        guest: Option<&str>,
        index: usize,
        host: &HostSettings,
        pool: &RawNetwork,
    ) -> Option<Nic> {
        let network = pool.name.get_ref().clone();
        if let Some(k) = n.kind.as_ref().filter(|k| k.get_ref() != "hostdev") {
            self.err(
                k.span(),
                &format!("{at}.type"),
                format!(
                    "network {network:?} is a kind = \"hostdev\" pool: its NICs are SR-IOV VFs (type = \"hostdev\", or leave `type` out), not {:?}",
                    k.get_ref()
                ),
            );
        }
        self.refuse(
            at,
            &[
                ("ifname", n.ifname.as_ref().map(|s| s.span())),
                ("netns", n.netns.as_ref().map(|s| s.span())),
                ("peer", n.peer.as_ref().map(|s| s.span())),
                ("vnet_hdr", n.vnet_hdr.as_ref().map(|s| s.span())),
                ("queues", n.queues.as_ref().map(|s| s.span())),
                ("owner", n.owner.as_ref().map(|s| s.span())),
                ("group", n.group.as_ref().map(|s| s.span())),
                ("rate", n.rate.as_ref().map(|s| s.span())),
                ("ip", n.ip.as_ref().map(|s| s.span())),
                ("ip6", n.ip6.as_ref().map(|s| s.span())),
                ("smb", n.smb.as_ref().map(|s| s.span())),
                ("net", n.net.as_ref().map(|s| s.span())),
            ],
            |opt| {
                let extra = if opt == "rate" {
                    " (use `max_tx_rate`, in Mbit/s)"
                } else {
                    ""
                };
                format!("`{opt}` does not apply to a NIC on the hostdev network {network:?}: an SR-IOV VF has no host link{extra}")
            },
        );
        let settings = self.vf_settings((&n.vlan, &n.spoofchk, &n.trust, &n.max_tx_rate), at);
        let (mac, mac_given) = self.nic_mac(n, at, guest, index, host)?;
        Some(Nic {
            ip: None,
            ip6: None,
            network,
            kind: NicType::Hostdev(settings?),
            ifname: None,
            mac,
            mac_given,
            rate: NicRate::default(),
        })
    }

    /// A network that is not a pool takes none of a pool's fields.
    pub(super) fn no_vf_fields(&mut self, n: &RawNetwork, at: &str) {
        self.refuse(
            at,
            &[
                ("pf", n.pf.as_ref().map(|s| s.span())),
                ("vfs", n.vfs.as_ref().map(|s| s.span())),
                ("managed", n.managed.as_ref().map(|s| s.span())),
                ("vlan", n.vlan.as_ref().map(|s| s.span())),
                ("spoofchk", n.spoofchk.as_ref().map(|s| s.span())),
                ("trust", n.trust.as_ref().map(|s| s.span())),
                ("max_tx_rate", n.max_tx_rate.as_ref().map(|s| s.span())),
            ],
            |opt| format!("`{opt}` is only for kind = \"hostdev\" (a pool of SR-IOV VFs)"),
        );
    }

    /// A NIC not on a pool takes no VF settings.
    pub(super) fn no_nic_vf_fields(&mut self, n: &RawNic, at: &str, why: &str) {
        self.refuse(
            at,
            &[
                ("vlan", n.vlan.as_ref().map(|s| s.span())),
                ("spoofchk", n.spoofchk.as_ref().map(|s| s.span())),
                ("trust", n.trust.as_ref().map(|s| s.span())),
                ("max_tx_rate", n.max_tx_rate.as_ref().map(|s| s.span())),
            ],
            |opt| format!("`{opt}` (an SR-IOV VF setting) is {why}"),
        );
    }

    /// Pool names are unique among networks; a VF or PF is in one pool only.
    pub(super) fn check_pools(
        &mut self,
        raw: &RawConfig,
        nets: &[(usize, Network)],
        pools: &[(usize, VfPool)],
    ) {
        let mut names: BTreeMap<&str, usize> =
            nets.iter().map(|(i, n)| (n.name.as_str(), *i)).collect();
        let mut sources: BTreeMap<String, usize> = BTreeMap::new();
        for (i, p) in pools {
            let r = raw.network[*i].get_ref();
            if let Some(first) = names.insert(&p.name, *i) {
                self.err(
                    r.name.span(),
                    &format!("network[{i}].name"),
                    format!(
                        "duplicate network name {:?} (also network[{first}])",
                        p.name
                    ),
                );
            }
            let keys: Vec<String> = match &p.source {
                VfSource::Pf(pf) => vec![format!("PF {pf}")],
                VfSource::Vfs(list) => list.iter().map(|v| format!("VF {v}")).collect(),
            };
            for key in keys {
                if let Some(first) = sources.get(&key) {
                    let span =
                        r.pf.as_ref()
                            .map(|s| s.span())
                            .or(r.vfs.as_ref().map(|s| s.span()))
                            .unwrap_or(r.name.span());
                    let field = if r.pf.is_some() { "pf" } else { "vfs" };
                    self.err(
                        span,
                        &format!("network[{i}].{field}"),
                        format!("{key} is already in the pool of network[{first}]"),
                    );
                } else {
                    sources.insert(key, *i);
                }
            }
        }
    }
}
