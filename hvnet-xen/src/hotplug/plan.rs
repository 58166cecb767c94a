//! A hotplug call as a plan: pure functions of the call and one observation of the host,
//! returning the ops the engine runs as one journaled transaction (so a failure half-way is
//! rolled back, and a crash is rolled back by the next hotplug or hvnet command).
//!
//! Each function checks the current state first, so a repeated `online` plans nothing and
//! still succeeds, and a teardown of what is already gone plans nothing.
//!
//! ```
//! use hvnet_core::memhost::MemHost;
//! use hvnet_core::observed::{ObservedKind, ObservedState};
//! use hvnet_core::state::BridgeOpts;
//! use hvnet_xen::hotplug::naming::DeviceNames;
//! use hvnet_xen::hotplug::plan::Planner;
//! let mut host = MemHost::new();
//! host.add_link("xenbr0", ObservedKind::Bridge(BridgeOpts { stp: false, forward_delay_cs: 0 }), None);
//! host.add_link("vif5.0", ObservedKind::Other("vif".into()), None);
//! let names = DeviceNames { current: "vif5.0".into(), target: "vif5.0".into() };
//! let mut p = Planner::new(&host.state);
//! p.bridge_up(&names, Some("xenbr0"), None).unwrap();
//! let text: Vec<String> = p.ops.iter().map(ToString::to_string).collect();
//! assert!(text.iter().any(|t| t.contains("vif5.0") && t.contains("xenbr0")), "{text:?}");
//! ```

use hvnet_core::observed::{ObservedKind, ObservedLink, ObservedState, QdiscKind};
use hvnet_core::op::{Op, Restore, HVNET_QDISC_HANDLE};
use hvnet_core::state::{AddrSpec, LinkKind, LinkSpec, Owner, RouteSpec, SysctlKey, MAIN_TABLE};
use hvnet_core::types::{IfName, Ipv4Cidr, MacAddr, XlRate};
use hvnet_core::vif_guard::VifGuard;

use super::naming::DeviceNames;
use super::rules::Net4;
use super::HotplugError;

/// The host-side MAC of every vif (netback's and the scripts'), so a bridge never adopts it.
pub const HOST_MAC: [u8; 6] = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff];

/// `proto boot`: what the stock scripts' `ip route add` installs routes with.
const RTPROT_BOOT: u8 = 3;
/// `proto kernel`: the kernel's own prefix routes, never removed.
const RTPROT_KERNEL: u8 = 2;

/// The sysctl keys a call may read: `proxy_arp` of `devs`, and `ip_forward`.
pub fn sysctl_keys<'a>(devs: impl IntoIterator<Item = &'a str>) -> Vec<SysctlKey> {
    let mut keys = vec![ip_forward()];
    keys.extend(devs.into_iter().map(proxy_arp));
    keys
}

fn ip_forward() -> SysctlKey {
    SysctlKey::new(["net", "ipv4", "ip_forward"])
}

fn proxy_arp(dev: &str) -> SysctlKey {
    SysctlKey::new(["net", "ipv4", "conf", dev, "proxy_arp"])
}

fn name(s: &str) -> Result<IfName, HotplugError> {
    IfName::new(s).map_err(|e| HotplugError::runtime(e.to_string()))
}

/// The device that leads out of the host.
#[derive(Debug, Clone)]
pub struct Uplink {
    /// Its name.
    pub name: String,
    /// Its IPv4 addresses, primary addresses first (the kernel's order).
    pub addrs: Vec<Ipv4Cidr>,
}

/// The device being plugged, as planned so far.
#[derive(Debug, Clone)]
struct Dev {
    /// Its name once renamed.
    name: IfName,
    /// As observed (under its old name).
    seen: ObservedLink,
    /// Up, as planned so far.
    up: bool,
}

/// Builds one call's plan from one observation.
pub struct Planner<'a> {
    o: &'a ObservedState,
    /// The ops so far.
    pub ops: Vec<Op>,
}

impl<'a> Planner<'a> {
    /// A planner over `observed`.
    pub fn new(observed: &'a ObservedState) -> Self {
        Self {
            o: observed,
            ops: Vec::new(),
        }
    }

    fn link(&self, name: &str) -> Option<&'a ObservedLink> {
        self.o.link(name)
    }

    fn is_bridge(l: &ObservedLink) -> bool {
        matches!(l.kind, ObservedKind::Bridge(_))
    }

    /// The bridge to attach to (reference §9.1–9.2): the named one (`xenbrN` falls back to
    /// a bridge `ethN`), else the first bridge on the host by name.
    pub fn find_bridge(&self, wanted: Option<&str>) -> Result<&'a ObservedLink, HotplugError> {
        let Some(want) = wanted else {
            return self
                .o
                .links
                .iter()
                .filter(|l| Self::is_bridge(l))
                .min_by(|a, b| a.name.cmp(&b.name))
                .ok_or_else(|| {
                    HotplugError::runtime("Could not find bridge, and none was specified")
                });
        };
        if let Some(l) = self.link(want) {
            if Self::is_bridge(l) {
                return Ok(l);
            }
            let kind = match &l.kind {
                ObservedKind::Other(k) if !k.is_empty() => k.clone(),
                ObservedKind::Other(_) => "plain".into(),
                other => format!("{other:?}").to_lowercase(),
            };
            return Err(HotplugError::runtime(format!(
                "{want} is not a bridge (it is a {kind} device)"
            )));
        }
        // Compatibility with the old network-bridge layout: xenbrN missing, ethN a bridge.
        if let Some(n) = want.strip_prefix("xenbr") {
            if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
                if let Some(l) = self.link(&format!("eth{n}")).filter(|l| Self::is_bridge(l)) {
                    return Ok(l);
                }
            }
        }
        Err(HotplugError::runtime(format!(
            "Could not find bridge device {want}"
        )))
    }

    /// The uplink: `wanted` (`netdev`/`gatewaydev`), else the device of the main table's
    /// IPv4 default route with the lowest metric; `None` without either.
    pub fn find_uplink(&self, wanted: Option<&str>) -> Result<Option<Uplink>, HotplugError> {
        let link = match wanted {
            Some(n) => Some(self.link(n).ok_or_else(|| {
                HotplugError::runtime(format!(
                    "Could not find uplink device {n} (netdev/gatewaydev)"
                ))
            })?),
            None => self
                .o
                .routes
                .iter()
                .filter(|r| r.table == MAIN_TABLE && r.dst == Ipv4Cidr::DEFAULT.into())
                .filter_map(|r| Some((r.metric.unwrap_or(0), r.oif?)))
                .min()
                .and_then(|(_, oif)| self.o.by_index(oif)),
        };
        Ok(link.map(|l| Uplink {
            name: l.name.clone(),
            addrs: self.o.addrs_of(l.ifindex).copied().collect(),
        }))
    }

    /// The device under its target name, planning the rename from netback's name if needed
    /// (down first: the kernel renames only links that are down).
    fn device(&mut self, names: &DeviceNames) -> Result<Dev, HotplugError> {
        let target = name(&names.target)?;
        let current = self.link(&names.current);
        if names.current == names.target {
            let seen = current.ok_or_else(|| {
                HotplugError::runtime(format!("Could not find device {}", names.current))
            })?;
            return Ok(Dev {
                name: target,
                up: seen.up,
                seen: seen.clone(),
            });
        }
        match (current, self.link(&names.target)) {
            // Renamed by an earlier run.
            (None, Some(t)) if !Self::is_bridge(t) => Ok(Dev {
                name: target,
                up: t.up,
                seen: t.clone(),
            }),
            (Some(_), Some(_)) | (None, Some(_)) => Err(HotplugError::runtime(format!(
                "Cannot rename interface {}. An interface with name {} already exists.",
                names.current, names.target
            ))),
            (None, None) => Err(HotplugError::runtime(format!(
                "Could not find device {}",
                names.current
            ))),
            (Some(c), None) => {
                let from = name(&c.name)?;
                if c.up {
                    self.ops.push(Op::SetUp {
                        link: from.clone(),
                        up: false,
                    });
                }
                self.ops.push(Op::RenameLink {
                    from,
                    to: target.clone(),
                });
                Ok(Dev {
                    name: target,
                    up: false,
                    seen: c.clone(),
                })
            }
        }
    }

    /// The device of a teardown: under its target name, else its old one; `None` if gone.
    fn existing(&self, names: &DeviceNames) -> Option<(IfName, &'a ObservedLink)> {
        [&names.target, &names.current]
            .into_iter()
            .find_map(|n| Some((IfName::new(n).ok()?, self.link(n)?)))
    }

    fn set_up(&mut self, dev: &mut Dev, up: bool) {
        if dev.up != up {
            self.ops.push(Op::SetUp {
                link: dev.name.clone(),
                up,
            });
            dev.up = up;
        }
    }

    fn sysctl_on(&mut self, key: SysctlKey, seen_as: &SysctlKey) {
        let old = self.o.sysctls.get(seen_as).cloned().unwrap_or_default();
        if old.trim() != "1" {
            self.ops.push(Op::SetSysctl {
                key,
                value: "1".into(),
                old: if old.is_empty() { "0".into() } else { old },
            });
        }
    }

    /// The guard op, when `want` differs from what was recorded (`old`).
    pub fn guard(&mut self, dev: &str, want: Option<VifGuard>, old: Option<VifGuard>) {
        if want != old {
            if let Ok(dev) = IfName::new(dev) {
                self.ops.push(Op::SetVifGuard {
                    dev,
                    guard: want,
                    old,
                });
            }
        }
    }

    /// `vif-bridge` online (reference §9): rename, the fixed host-side MAC (down first:
    /// netback refuses a MAC change while up; a refusal is only a warning), no IPv4
    /// addresses, the MTU (the `mtu` key, else the bridge's; best effort), enslaved, up.
    /// Returns the device's name.
    pub fn bridge_up(
        &mut self,
        names: &DeviceNames,
        bridge: Option<&str>,
        mtu: Option<u32>,
    ) -> Result<IfName, HotplugError> {
        let br = self.find_bridge(bridge)?;
        let br_name = name(&br.name)?;
        let mut dev = self.device(names)?;
        let host_mac = MacAddr::from(HOST_MAC);
        if dev.seen.mac != Some(host_mac) {
            self.set_up(&mut dev, false);
            self.ops.push(Op::BestEffort(Box::new(Op::SetMac {
                link: dev.name.clone(),
                mac: host_mac,
                old: dev.seen.mac,
            })));
        }
        for cidr in self.o.addrs_of(dev.seen.ifindex) {
            self.ops.push(Op::DelAddr(AddrSpec {
                link: dev.name.clone(),
                cidr: (*cidr).into(),
            }));
        }
        let want_mtu = mtu.unwrap_or(br.mtu);
        if want_mtu > 0 && dev.seen.mtu != want_mtu {
            self.ops.push(Op::BestEffort(Box::new(Op::SetMtu {
                link: dev.name.clone(),
                mtu: want_mtu,
                old: dev.seen.mtu,
            })));
        }
        if dev.seen.master != Some(br.ifindex) {
            let old = dev
                .seen
                .master
                .and_then(|m| self.o.by_index(m))
                .and_then(|m| IfName::new(&m.name).ok());
            self.ops.push(Op::SetMaster {
                link: dev.name.clone(),
                master: Some(br_name),
                old,
            });
        }
        self.set_up(&mut dev, true);
        Ok(dev.name)
    }

    /// `vif-bridge` offline: down and off its bridge (both best effort: netback may delete
    /// the device meanwhile).
    pub fn bridge_down(&mut self, names: &DeviceNames) {
        let Some((dev, seen)) = self.existing(names) else {
            return;
        };
        if seen.up {
            self.ops.push(Op::BestEffort(Box::new(Op::SetUp {
                link: dev.clone(),
                up: false,
            })));
        }
        if let Some(m) = seen.master.and_then(|m| self.o.by_index(m)) {
            self.ops.push(Op::BestEffort(Box::new(Op::SetMaster {
                link: dev,
                master: None,
                old: IfName::new(&m.name).ok(),
            })));
        }
    }

    /// A routed device (`vif-route`, `vif-nat`): renamed, off any bridge, `host/32` on it,
    /// up, `proxy_arp`, `ip_forward`, one route per guest net (`dev VIF src HOST metric M`).
    pub fn routed_up(
        &mut self,
        names: &DeviceNames,
        host: std::net::Ipv4Addr,
        nets: &[Net4],
        metric: u32,
    ) -> Result<IfName, HotplugError> {
        let mut dev = self.device(names)?;
        if let Some(m) = dev.seen.master.and_then(|m| self.o.by_index(m)) {
            self.ops.push(Op::SetMaster {
                link: dev.name.clone(),
                master: None,
                old: IfName::new(&m.name).ok(),
            });
        }
        let cidr = Ipv4Cidr::host(host);
        if !self.o.addrs_of(dev.seen.ifindex).any(|c| *c == cidr) {
            self.ops.push(Op::AddAddr(AddrSpec {
                link: dev.name.clone(),
                cidr: cidr.into(),
            }));
        }
        self.set_up(&mut dev, true);
        self.sysctl_on(proxy_arp(dev.name.as_str()), &proxy_arp(&dev.seen.name));
        self.sysctl_on(ip_forward(), &ip_forward());
        for n in nets {
            let have = self.o.routes.iter().any(|r| {
                r.oif == Some(dev.seen.ifindex)
                    && r.dst == (*n).into()
                    && r.table == MAIN_TABLE
                    && r.metric == Some(metric)
            });
            if !have {
                self.ops.push(Op::AddRoute(RouteSpec {
                    dst: (*n).into(),
                    gateway: None,
                    dev: Some(dev.name.clone()),
                    src: Some(host.into()),
                    metric: Some(metric),
                    table: MAIN_TABLE,
                    protocol: RTPROT_BOOT,
                }));
            }
        }
        Ok(dev.name)
    }

    /// `proxy_arp` on the uplink (a routed guest on the uplink's LAN).
    pub fn uplink_proxy_arp(&mut self, uplink: &str) {
        self.sysctl_on(proxy_arp(uplink), &proxy_arp(uplink));
    }

    /// A routed device's teardown: its IPv4 routes (other than the kernel's), IPv6 routes of
    /// `proto boot` ([`super::route6`]) and IPv4 addresses,
    /// its `proxy_arp`, then down — all best effort (netback deletes the device on its own
    /// schedule).
    pub fn routed_down(&mut self, names: &DeviceNames) {
        let Some((dev, seen)) = self.existing(names) else {
            return;
        };
        let mut ops = Vec::new();
        for r in self.o.route_specs() {
            let ours = r.dev.as_ref() == Some(&dev) || r.dev.as_deref() == Some(seen.name.as_str());
            // IPv6: only the vif script's own (`proto boot`), not the kernel's fe80::/64.
            let script = r.dst.is_ipv4() || r.protocol == RTPROT_BOOT;
            if ours && script && r.table == MAIN_TABLE && r.protocol != RTPROT_KERNEL {
                ops.push(Op::DelRoute(RouteSpec {
                    dev: Some(dev.clone()),
                    ..r
                }));
            }
        }
        for cidr in self.o.addrs_of(seen.ifindex) {
            ops.push(Op::DelAddr(AddrSpec {
                link: dev.clone(),
                cidr: (*cidr).into(),
            }));
        }
        // proxy_arp back off (it goes with the device anyway once netback deletes it).
        let key = proxy_arp(&seen.name);
        if self.o.sysctls.get(&key).is_some_and(|v| v.trim() == "1") {
            ops.push(Op::SetSysctl {
                key: proxy_arp(dev.as_str()),
                value: "0".into(),
                old: "1".into(),
            });
        }
        if seen.up {
            ops.push(Op::SetUp {
                link: dev,
                up: false,
            });
        }
        self.ops
            .extend(ops.into_iter().map(|o| Op::BestEffort(Box::new(o))));
    }

    /// The `-emu` tap's shaping (see [`super::rate`]): with `rate`, an IFB `hvi<hash>`
    /// (owned by [`Owner::hotplug`]) with netback's tbf, and the tap's ingress redirected to
    /// it; without, neither. `tap` is the tap's name once this plan ran; `seen_as` the name
    /// it was observed under (before a rename earlier in the plan).
    pub fn tap_rate(
        &mut self,
        tap: &str,
        seen_as: &str,
        rate: Option<&XlRate>,
    ) -> Result<(), HotplugError> {
        let ifb = name(&super::rate::ifb_name(tap))?;
        let seen_ifb = self.link(ifb.as_str());
        let ours = seen_ifb.is_some_and(|l| {
            l.kind == ObservedKind::Ifb
                && (l.owner().is_some_and(|o| o.is_hotplug())
                    || l.alias.as_deref() == Some(&format!("hvnet-xen rate {tap}")))
        });
        if seen_ifb.is_some() && !ours {
            return Err(HotplugError::runtime(format!(
                "{ifb} (the IFB limiting {tap}) exists and is not hvnet's"
            )));
        }
        let tap_link = self.link(tap).or_else(|| self.link(seen_as));
        let redirected = tap_link.is_some_and(|t| {
            self.o
                .redirects
                .iter()
                .any(|r| r.ifindex == t.ifindex && Some(r.target) == seen_ifb.map(|i| i.ifindex))
        });
        let Some(rate) = rate else {
            if let (Some(_), true) = (tap_link, redirected) {
                self.ops.push(Op::DelRedirect {
                    link: name(tap)?,
                    ifb: ifb.clone(),
                });
            }
            if let Some(i) = seen_ifb.filter(|_| ours) {
                let tbf = match self.o.qdisc(i.ifindex, true) {
                    Some(q) if q.handle == HVNET_QDISC_HANDLE => match &q.kind {
                        QdiscKind::Tbf(t) => Some(*t),
                        _ => None,
                    },
                    _ => None,
                };
                self.ops.push(Op::DeleteLink {
                    name: ifb.clone(),
                    restore: Some(Box::new(Restore {
                        spec: LinkSpec {
                            name: ifb,
                            kind: LinkKind::Ifb,
                            owner: Some(Owner::hotplug(tap)),
                            master: None,
                            mtu: Some(i.mtu),
                            mac: None,
                            up: i.up,
                        },
                        addrs: Vec::new(),
                        tbf,
                        redirect: None,
                        hairpin: false,
                        fdb: Vec::new(),
                    })),
                });
            }
            return Ok(());
        };
        let t = tap_link
            .ok_or_else(|| HotplugError::runtime(format!("Cannot find device {tap} to limit")))?;
        let tap_name = name(tap)?;
        let want = super::rate::tbf(rate);
        let old = match seen_ifb {
            None => {
                self.ops.push(Op::CreateIfb {
                    name: ifb.clone(),
                    owner: Owner::hotplug(tap),
                    mtu: Some(t.mtu),
                });
                None
            }
            Some(i) => match self.o.qdisc(i.ifindex, true) {
                Some(q) if q.handle == HVNET_QDISC_HANDLE => match &q.kind {
                    QdiscKind::Tbf(old) => Some(*old),
                    _ => None,
                },
                _ => None,
            },
        };
        if !seen_ifb.is_some_and(|i| i.up) {
            self.ops.push(Op::SetUp {
                link: ifb.clone(),
                up: true,
            });
        }
        if !old.is_some_and(|o| want.matches(&o)) {
            self.ops.push(Op::SetTbf {
                link: ifb.clone(),
                tbf: want,
                old,
            });
        }
        if !redirected {
            // Someone else's ingress (or a stale redirect) goes first.
            if self.o.qdisc(t.ifindex, false).is_some() {
                self.ops.push(Op::DelRedirect {
                    link: tap_name.clone(),
                    ifb: ifb.clone(),
                });
            }
            self.ops.push(Op::AddRedirect {
                link: tap_name,
                ifb,
            });
        }
        Ok(())
    }

    /// The DHCP host entry `line` of a NAT guest in `lines` (the hostsfile as read): drops
    /// every line naming `mac` or `ip`, appends `line` (`None`: only drops).
    pub fn hosts_entry(
        &mut self,
        file: &std::path::Path,
        lines: &[String],
        mac: &MacAddr,
        ip: Option<std::net::Ipv4Addr>,
        line: Option<String>,
    ) {
        let mac_s = mac.to_string();
        let ip_s = ip.map(|i| i.to_string());
        let drop: Vec<String> = lines
            .iter()
            .filter(|l| {
                let fields: Vec<&str> = l.split(',').map(str::trim).collect();
                fields.iter().any(|f| f.eq_ignore_ascii_case(&mac_s))
                    || ip_s.as_deref().is_some_and(|ip| fields.contains(&ip))
            })
            .cloned()
            .collect();
        let add: Vec<String> = line.into_iter().collect();
        if drop != add {
            self.ops.push(Op::EditLines {
                file: file.to_path_buf(),
                drop,
                add,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hvnet_core::backend::{Execute, Record};
    use hvnet_core::memhost::MemHost;
    use hvnet_core::observed::ObservedRoute;
    use hvnet_core::state::BridgeOpts;

    fn names(current: &str, target: &str) -> DeviceNames {
        DeviceNames {
            current: current.into(),
            target: target.into(),
        }
    }

    /// A host with bridge `xenbr0`, uplink `eth0` (192.168.1.20/24, default route) and a
    /// vif `vif5.0` (up, as netback leaves it).
    fn host() -> MemHost {
        let mut h = MemHost::new();
        let br = BridgeOpts {
            stp: false,
            forward_delay_cs: 0,
        };
        h.add_link("xenbr0", ObservedKind::Bridge(br), None);
        h.add_link("vif5.0", ObservedKind::Other("vif".into()), None);
        let eth0 = h.state.link("eth0").unwrap().ifindex;
        h.state.addrs.push(hvnet_core::observed::ObservedAddr {
            ifindex: eth0,
            cidr: "192.168.1.20/24".parse().unwrap(),
        });
        h.state.routes.push(ObservedRoute {
            dst: Ipv4Cidr::DEFAULT.into(),
            gateway: Some("192.168.1.1".parse().unwrap()),
            oif: Some(eth0),
            src: None,
            metric: None,
            table: MAIN_TABLE,
            protocol: RTPROT_BOOT,
        });
        h
    }

    fn run(h: &mut MemHost, ops: &[Op]) {
        h.execute(ops).map_err(|f| f.error).unwrap();
    }

    #[test]
    fn bridge_online_renames_attaches_and_a_second_online_plans_nothing() {
        let mut h = host();
        let n = names("vif5.0", "web0");
        let mut p = Planner::new(&h.state);
        p.bridge_up(&n, Some("xenbr0"), Some(1400)).unwrap();
        let ops = p.ops;
        assert!(matches!(ops[0], Op::SetUp { up: false, .. }), "{ops:?}");
        assert!(matches!(ops[1], Op::RenameLink { .. }), "{ops:?}");
        run(&mut h, &ops);
        let l = h.state.link("web0").unwrap();
        assert_eq!(h.state.master_name(l), Some("xenbr0"));
        assert!(l.up && l.mtu == 1400 && l.mac == Some(MacAddr::from(HOST_MAC)));
        let mut again = Planner::new(&h.state);
        again.bridge_up(&n, Some("xenbr0"), Some(1400)).unwrap();
        assert!(again.ops.is_empty(), "{:?}", again.ops);
        // Offline: down and detached; then nothing left to do.
        let mut down = Planner::new(&h.state);
        down.bridge_down(&n);
        let ops = down.ops;
        run(&mut h, &ops);
        let l = h.state.link("web0").unwrap();
        assert!(!l.up && l.master.is_none());
    }

    #[test]
    fn bridge_errors_name_what_is_missing() {
        let h = host();
        let p = Planner::new(&h.state);
        let e = p.find_bridge(Some("xenbr7")).unwrap_err();
        assert!(
            e.message.contains("Could not find bridge device xenbr7"),
            "{e}"
        );
        let e = p.find_bridge(Some("eth0")).unwrap_err();
        assert!(e.message.contains("eth0 is not a bridge"), "{e}");
        assert_eq!(p.find_bridge(None).unwrap().name, "xenbr0");
        let mut p = Planner::new(&h.state);
        let e = p
            .bridge_up(&names("vif9.0", "vif9.0"), None, None)
            .unwrap_err();
        assert!(e.message.contains("Could not find device vif9.0"), "{e}");
    }

    #[test]
    fn routed_online_and_offline_round_trip() {
        let mut h = host();
        let n = names("vif5.0", "vif5.0");
        let nets: Vec<Net4> = vec![
            "10.99.0.5/32".parse().unwrap(),
            "10.99.2.0/28".parse().unwrap(),
        ];
        let mut p = Planner::new(&h.state);
        let up = p.find_uplink(None).unwrap().unwrap();
        assert_eq!(up.name, "eth0");
        p.routed_up(&n, up.addrs[0].addr(), &nets, 2).unwrap();
        let ops = p.ops;
        run(&mut h, &ops);
        let vif = h.state.link("vif5.0").unwrap().ifindex;
        let routes: Vec<_> = h
            .state
            .routes
            .iter()
            .filter(|r| r.oif == Some(vif))
            .collect();
        assert_eq!(routes.len(), 2);
        assert!(routes
            .iter()
            .all(|r| r.protocol == RTPROT_BOOT && r.metric == Some(2)));
        assert_eq!(
            h.state
                .sysctls
                .get(&proxy_arp("vif5.0"))
                .map(String::as_str),
            Some("1")
        );
        let mut again = Planner::new(&h.state);
        again.routed_up(&n, up.addrs[0].addr(), &nets, 2).unwrap();
        assert!(again.ops.is_empty(), "{:?}", again.ops);
        let mut down = Planner::new(&h.state);
        down.routed_down(&n);
        let ops = down.ops;
        run(&mut h, &ops);
        assert!(!h.state.routes.iter().any(|r| r.oif == Some(vif)));
        assert_eq!(h.state.addrs_of(vif).count(), 0);
    }

    #[test]
    fn tap_rate_sets_and_removes_the_ifb_and_a_crash_is_rolled_back() {
        let mut h = host();
        h.add_link("vif5.0-emu", ObservedKind::Tap(Default::default()), None);
        let rate: XlRate = "100Mb/s@20ms".parse().unwrap();
        let mut p = Planner::new(&h.state);
        p.tap_rate("vif5.0-emu", "vif5.0-emu", Some(&rate)).unwrap();
        let ops = p.ops;
        assert!(matches!(&ops[0], Op::CreateIfb { owner, .. } if owner.is_hotplug()));
        // Killed before the last op: the next call's recovery undoes what is visible.
        h.crash_at_count = Some(h.executed + ops.len() - 1);
        let _ = h.execute(&ops);
        h.revive();
        let record = Record {
            verb: "xen add vif5.0-emu".into(),
            ops: ops.clone(),
        };
        let undo = hvnet_core::recovery::plan(&record, &h.state);
        run(&mut h, &undo.ops);
        let ifb = super::super::rate::ifb_name("vif5.0-emu");
        assert!(h.state.link(&ifb).is_none(), "{:?}", undo.ops);
        // The whole add, then nothing to do, then the removal.
        run(&mut h, &ops);
        let mut again = Planner::new(&h.state);
        again
            .tap_rate("vif5.0-emu", "vif5.0-emu", Some(&rate))
            .unwrap();
        assert!(again.ops.is_empty(), "{:?}", again.ops);
        let mut off = Planner::new(&h.state);
        off.tap_rate("vif5.0-emu", "vif5.0-emu", None).unwrap();
        let ops = off.ops;
        run(&mut h, &ops);
        assert!(h.state.link(&ifb).is_none());
        assert!(h.state.redirects.is_empty());
    }

    #[test]
    fn hosts_entries_replace_the_macs_and_addresses_lines() {
        let h = host();
        let mac: MacAddr = "00:16:3e:00:05:00".parse().unwrap();
        let file = std::path::Path::new("/run/hvnet/xen/dhcp-hosts");
        let lines = vec![
            "00:16:3e:00:06:00,10.0.6.1,dom6".to_string(),
            "00:16:3E:00:05:00,10.0.5.9,old".to_string(),
        ];
        let entry = "00:16:3e:00:05:00,10.0.5.1,dom5".to_string();
        let mut p = Planner::new(&h.state);
        p.hosts_entry(
            file,
            &lines,
            &mac,
            Some("10.0.5.1".parse().unwrap()),
            Some(entry.clone()),
        );
        assert_eq!(
            p.ops,
            vec![Op::EditLines {
                file: file.into(),
                drop: vec![lines[1].clone()],
                add: vec![entry.clone()],
            }]
        );
        // Already there: nothing to do.
        let mut p = Planner::new(&h.state);
        let now = vec![lines[0].clone(), entry.clone()];
        p.hosts_entry(
            file,
            &now,
            &mac,
            Some("10.0.5.1".parse().unwrap()),
            Some(entry),
        );
        assert!(p.ops.is_empty());
    }
}
