//! What `hvnet show` prints: bridges with their ports (like `brctl show` + `bridge link`),
//! addresses and rate limits, hvnet's links on no bridge; hvnet's services (dnsmasq per
//! network with its leases, the host's DHCP clients, the firewall chains, sysctls it
//! changed); and each guest's NICs the way seed 000's `hv_guest_start -view` lists them
//! (`<network> network MAC = …`), with the host link that carries each and its state. As
//! text and as JSON, from one observation ([`hvnet_core::observed::ObservedState`]; the
//! lease counts are read from dnsmasq's lease files).
//!
//! ```
//! use hvnet_core::observed::ObservedState;
//! let o = ObservedState::default();
//! assert!(hvnet_linux::show::render(&o).starts_with("bridge "));
//! assert_eq!(hvnet_linux::show::render_services(&o), "");
//! ```

use hvnet_core::backend::NicBackend;
use hvnet_core::config::{Config, NicType};
use hvnet_core::observed::{ObservedKind, ObservedLink, ObservedState, QdiscKind};
use hvnet_core::op::HVNET_QDISC_HANDLE;
use hvnet_core::resolve::resolve;
use serde_json::{json, Value};

/// Leases in a network's dnsmasq leasefile (0 when unreadable).
fn lease_count(dir: &std::path::Path) -> usize {
    crate::dnsmasq::leases(&dir.join(hvnet_core::dhcp::LEASE_FILE)).map_or(0, |l| l.len())
}

/// hvnet's services as found: dnsmasq per network, host DHCP clients, the firewall chains,
/// sysctls it changed. Empty when there are none.
pub fn render_services(o: &ObservedState) -> String {
    let mut out = String::new();
    for d in &o.dhcp {
        let state = d
            .pid
            .map_or_else(|| "not running".into(), |p| format!("pid {p}"));
        let hosts = d.hosts.as_deref().map_or(0, |h| h.lines().count());
        out.push_str(&format!(
            "  dnsmasq of {:<12} {state:<14} {} lease(s), {hosts} static host(s)\n",
            d.network,
            lease_count(&d.dir)
        ));
    }
    for c in &o.dhcp_clients {
        let state = c
            .pid
            .map_or_else(|| "not running".into(), |p| format!("pid {p}"));
        out.push_str(&format!(
            "  host DHCP client of {} on {}: {state}\n",
            c.network,
            c.interface.as_deref().unwrap_or("?")
        ));
    }
    if let Some(intent) = o.firewall.as_ref().and_then(|f| f.current()) {
        out.push_str(&format!(
            "  firewall: serves {} network(s) and {} port forward(s)\n",
            intent.networks().len(),
            intent.forwards().len()
        ));
    }
    for (k, v) in &o.saved_sysctls {
        let now = o.sysctls.get(k).map_or("?", String::as_str);
        out.push_str(&format!("  sysctl {k} = {now} (was {v} before hvnet)\n"));
    }
    if out.is_empty() {
        out
    } else {
        format!("services\n{out}")
    }
}

/// hvnet's services as JSON: `{"dnsmasq": […], "dhcp_clients": […], "firewall_rules": n, "saved_sysctls": […]}`.
pub fn services_json(o: &ObservedState) -> Value {
    json!({
        "dnsmasq": o.dhcp.iter().map(|d| json!({
            "network": d.network,
            "pid": d.pid,
            "leases": lease_count(&d.dir),
            "static_hosts": d.hosts.as_deref().map_or(0, |h| h.lines().count()),
        })).collect::<Vec<_>>(),
        "dhcp_clients": o.dhcp_clients.iter().map(|c| json!({
            "network": c.network,
            "interface": c.interface,
            "pid": c.pid,
        })).collect::<Vec<_>>(),
        "firewall_rules": o.firewall.as_ref().and_then(|f| f.current()).map(|r| r.networks().len() + r.forwards().len()),
        "saved_sysctls": o.saved_sysctls.iter().map(|(k, v)| json!({
            "key": k.to_string(),
            "original": v,
            "now": o.sysctls.get(k),
        })).collect::<Vec<_>>(),
    })
}

/// One guest NIC as `show` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicRow {
    /// The guest.
    pub guest: String,
    /// The NIC's index in the guest.
    pub index: usize,
    /// The network's name, or `private` for QEMU's user NAT.
    pub network: String,
    /// The guest's MAC.
    pub mac: String,
    /// The host link and its state (`up`, `down`, `no-carrier`), when it exists.
    pub link: Option<(String, &'static str)>,
}

/// Every guest NIC of `cfg`, with the host link that carries it in `o` (named as `apply`
/// names it with `backend`).
pub fn guest_rows(cfg: &Config, o: &ObservedState, backend: &dyn NicBackend) -> Vec<NicRow> {
    let want = resolve(cfg, o, backend);
    let mut rows = Vec::new();
    for g in &cfg.guests {
        for (index, nic) in g.nics.iter().enumerate() {
            let link = want
                .nic_links
                .iter()
                .find(|l| l.guest == g.name && l.nic == index)
                .and_then(|l| o.link(l.link.as_str()))
                .map(|l| (l.name.clone(), state(l)));
            rows.push(NicRow {
                guest: g.name.clone(),
                index,
                network: if matches!(nic.kind, NicType::User { .. }) {
                    "private".into()
                } else {
                    nic.network.clone()
                },
                mac: nic.mac.to_string(),
                link,
            });
        }
    }
    rows
}

/// `hv_guest_start -view`-style lines per guest.
pub fn render_guests(rows: &[NicRow]) -> String {
    let mut out = String::new();
    let mut last = None;
    for r in rows {
        if last != Some(&r.guest) {
            out.push_str(&format!("guest {}\n", r.guest));
            last = Some(&r.guest);
        }
        let at = match &r.link {
            Some((name, st)) => format!("{name} ({st})"),
            None if r.network == "private" => "QEMU user NAT".into(),
            None => "not created".into(),
        };
        out.push_str(&format!(
            "  {} network MAC = {:<17}  {at}\n",
            r.network,
            r.mac.to_uppercase()
        ));
    }
    out
}

/// The rows as JSON: one object per NIC (`guest`, `nic`, `network`, `mac`, `link`, `state`).
pub fn guests_json(rows: &[NicRow]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "guest": r.guest,
                    "nic": r.index,
                    "network": r.network,
                    "mac": r.mac,
                    "link": r.link.as_ref().map(|(n, _)| n),
                    "state": r.link.as_ref().map(|(_, s)| s),
                })
            })
            .collect(),
    )
}

fn kind(l: &ObservedLink) -> String {
    match &l.kind {
        ObservedKind::Bridge(_) => "bridge".into(),
        ObservedKind::Tap(_) => "tap".into(),
        ObservedKind::Tun => "tun".into(),
        ObservedKind::Veth => "veth".into(),
        ObservedKind::Ifb => "ifb".into(),
        ObservedKind::Macvtap(_) => "macvtap".into(),
        ObservedKind::Other(k) if k.is_empty() => "device".into(),
        ObservedKind::Other(k) => k.clone(),
        ObservedKind::Vxlan(_) => "vxlan".into(),
    }
}

fn state(l: &ObservedLink) -> &'static str {
    match (l.up, l.lower_up) {
        (false, _) => "down",
        (true, true) => "up",
        (true, false) => "no-carrier",
    }
}

fn bridges(o: &ObservedState) -> Vec<&ObservedLink> {
    let mut b: Vec<&ObservedLink> = o
        .links
        .iter()
        .filter(|l| matches!(l.kind, ObservedKind::Bridge(_)))
        .collect();
    b.sort_by(|x, y| x.name.cmp(&y.name));
    b
}

/// Owned links that are not bridges and not on a bridge.
fn loose(o: &ObservedState) -> Vec<&ObservedLink> {
    o.links
        .iter()
        .filter(|l| {
            l.owner().is_some()
                && !matches!(l.kind, ObservedKind::Bridge(_) | ObservedKind::Ifb)
                && l.master.is_none()
        })
        .collect()
}

/// hvnet's tbf on a link's root, as text.
fn root_rate(o: &ObservedState, ifindex: u32) -> Option<String> {
    match o.qdisc(ifindex, true) {
        Some(q) if q.handle == HVNET_QDISC_HANDLE => match q.kind {
            QdiscKind::Tbf(t) => Some(t.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// A port's rate limits from the guest's point of view: (egress, ingress). The guest's
/// ingress is the tbf on the port; its egress the tbf on the IFB its traffic is sent to.
/// On a macvtap it is the other way round: its root tbf shapes what the guest sends.
fn limits(o: &ObservedState, l: &ObservedLink) -> (Option<String>, Option<String>) {
    let redirected = o
        .redirects
        .iter()
        .find(|r| r.ifindex == l.ifindex)
        .and_then(|r| root_rate(o, r.target));
    match l.kind {
        ObservedKind::Macvtap(_) => (root_rate(o, l.ifindex), redirected),
        _ => (redirected, root_rate(o, l.ifindex)),
    }
}

fn addrs(o: &ObservedState, l: &ObservedLink) -> Vec<String> {
    o.managed_addrs_of(l.ifindex)
        .map(|c| c.to_string())
        .collect()
}

/// The text form.
pub fn render(o: &ObservedState) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{:<16}{:<20}{:<6}{:<8}{:<12}{:<20}{}\n",
        "bridge", "bridge id", "stp", "mtu", "state", "owner", "addresses"
    ));
    for b in bridges(o) {
        let id = b.mac.map_or_else(
            || "-".into(),
            |m| format!("8000.{}", m.to_string().replace(':', "")),
        );
        let stp = match b.kind {
            ObservedKind::Bridge(opts) if opts.stp => "yes",
            _ => "no",
        };
        let owner = b.alias.clone().unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{:<16}{:<20}{:<6}{:<8}{:<12}{:<20}{}\n",
            b.name,
            id,
            stp,
            b.mtu,
            state(b),
            owner,
            addrs(o, b).join(" ")
        ));
        let mut ports: Vec<&ObservedLink> = o.ports_of(b).collect();
        ports.sort_by(|x, y| x.name.cmp(&y.name));
        for p in ports {
            let mac = p.mac.map_or_else(|| "-".into(), |m| m.to_string());
            let owner = p.alias.clone().unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "  └ {:<14}{:<20}{:<6}{:<8}{:<12}{:<20}{}\n",
                p.name,
                mac,
                kind(p),
                p.mtu,
                state(p),
                owner,
                addrs(o, p).join(" ")
            ));
            let (egress, ingress) = limits(o, p);
            if egress.is_some() || ingress.is_some() {
                out.push_str(&format!(
                    "      limits: guest egress {}, guest ingress {}\n",
                    egress.unwrap_or_else(|| "none".into()),
                    ingress.unwrap_or_else(|| "none".into())
                ));
            }
        }
    }
    let loose = loose(o);
    if !loose.is_empty() {
        out.push_str("hvnet links not on a bridge:\n");
        for l in loose {
            out.push_str(&format!(
                "  {:<16}{:<6}{:<12}{}{}\n",
                l.name,
                kind(l),
                state(l),
                l.alias.clone().unwrap_or_default(),
                macvtap_text(o, l)
            ));
        }
    }
    out
}

/// A macvtap's uplink, mode and guest limits, for the text form (empty for other links).
fn macvtap_text(o: &ObservedState, l: &ObservedLink) -> String {
    let ObservedKind::Macvtap(m) = &l.kind else {
        return String::new();
    };
    let (egress, ingress) = limits(o, l);
    format!(
        "  on {} mode {}; limits: guest egress {}, guest ingress {}",
        m.lower.as_deref().unwrap_or("?"),
        m.mode.map_or("?", |m| m.as_str()),
        egress.unwrap_or_else(|| "none".into()),
        ingress.unwrap_or_else(|| "none".into())
    )
}

fn link_json(o: &ObservedState, l: &ObservedLink) -> Value {
    let mut v = json!({
        "name": l.name,
        "ifindex": l.ifindex,
        "kind": kind(l),
        "mac": l.mac.map(|m| m.to_string()),
        "mtu": l.mtu,
        "up": l.up,
        "carrier": l.lower_up,
        "owner": l.owner().map(|x| x.name().to_string()),
        "addresses": addrs(o, l),
        "limits": {
            "guest_egress": limits(o, l).0,
            "guest_ingress": limits(o, l).1,
        },
    });
    if let ObservedKind::Macvtap(m) = &l.kind {
        v["lower"] = json!(m.lower);
        v["mode"] = json!(m.mode.map(|m| m.as_str()));
    }
    v
}

/// The JSON form: `{"bridges": [{…, "stp": bool, "forward_delay_cs": n, "ports": […]}], "links": […]}`.
pub fn to_json(o: &ObservedState) -> Value {
    let bridges: Vec<Value> = bridges(o)
        .into_iter()
        .map(|b| {
            let mut v = link_json(o, b);
            if let ObservedKind::Bridge(opts) = b.kind {
                v["stp"] = json!(opts.stp);
                v["forward_delay_cs"] = json!(opts.forward_delay_cs);
            }
            let mut ports: Vec<&ObservedLink> = o.ports_of(b).collect();
            ports.sort_by(|x, y| x.name.cmp(&y.name));
            v["ports"] = Value::Array(ports.into_iter().map(|p| link_json(o, p)).collect());
            v
        })
        .collect();
    let links: Vec<Value> = loose(o).into_iter().map(|l| link_json(o, l)).collect();
    json!({ "bridges": bridges, "links": links })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hvnet_core::observed::{ObservedAddr, ObservedDhcp, ObservedQdisc, ObservedRedirect};
    use hvnet_core::state::{BridgeOpts, LinkSpec, Owner, TapOpts, Tbf};
    use hvnet_core::types::{IfName, MacAddr};

    fn link(ifindex: u32, name: &str, kind: ObservedKind, master: Option<u32>) -> ObservedLink {
        ObservedLink {
            ifindex,
            name: name.into(),
            kind,
            master,
            mtu: 1500,
            mac: Some(MacAddr::new([0xfe, 0x54, 0, 0, 0, ifindex as u8])),
            up: true,
            lower_up: ifindex != 3,
            alias: Some(format!(
                "hvnet:{}",
                if ifindex == 1 { "lan" } else { "web" }
            )),
            wireless: false,
            group: 0,
        }
    }

    /// A bridge `br-lan` (10.0.0.1/24) with port vnet0 (rate limited both ways through
    /// IFB 9), and a tap vnet1 of hvnet's on no bridge, without carrier.
    fn host() -> ObservedState {
        let tbf = |rate| {
            QdiscKind::Tbf(Tbf {
                rate_bytes_per_sec: rate,
                burst_bytes: 10_000,
                limit_bytes: 20_000,
            })
        };
        ObservedState {
            links: vec![
                link(
                    1,
                    "br-lan",
                    ObservedKind::Bridge(BridgeOpts {
                        stp: false,
                        forward_delay_cs: 0,
                    }),
                    None,
                ),
                link(2, "vnet0", ObservedKind::Tap(TapOpts::default()), Some(1)),
                link(3, "vnet1", ObservedKind::Tap(TapOpts::default()), None),
                link(9, "hvi0", ObservedKind::Ifb, None),
            ],
            addrs: vec![ObservedAddr {
                ifindex: 1,
                cidr: "10.0.0.1/24".parse().unwrap_or_else(|e| panic!("{e}")),
            }],
            qdiscs: vec![
                ObservedQdisc {
                    ifindex: 2,
                    handle: HVNET_QDISC_HANDLE,
                    root: true,
                    kind: tbf(125_000),
                },
                ObservedQdisc {
                    ifindex: 9,
                    handle: HVNET_QDISC_HANDLE,
                    root: true,
                    kind: tbf(250_000),
                },
            ],
            redirects: vec![ObservedRedirect {
                ifindex: 2,
                target: 9,
            }],
            ..ObservedState::default()
        }
    }

    #[test]
    fn bridges_ports_limits_and_loose_links() {
        let text = render(&host());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("bridge") && lines[0].ends_with("addresses"));
        assert!(
            lines[1].starts_with("br-lan          8000.fe5400000001")
                && lines[1].contains("hvnet:lan")
                && lines[1].ends_with("10.0.0.1/24"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("  └ vnet0         fe:54:00:00:00:02   tap   1500    up"),
            "{text}"
        );
        assert_eq!(
            lines[3],
            "      limits: guest egress rate 2mbit burst 10000b limit 20000b, guest ingress rate 1mbit burst 10000b limit 20000b"
        );
        assert_eq!(lines[4], "hvnet links not on a bridge:");
        assert!(
            lines[5].contains("vnet1") && lines[5].contains("no-carrier"),
            "{text}"
        );
        assert_eq!(lines.len(), 6, "{text}");
    }

    #[test]
    fn json_has_bridges_with_ports_and_loose_links() {
        let v = to_json(&host());
        assert_eq!(v["bridges"][0]["name"], "br-lan");
        assert_eq!(v["bridges"][0]["stp"], false);
        assert_eq!(v["bridges"][0]["addresses"][0], "10.0.0.1/24");
        assert_eq!(v["bridges"][0]["ports"][0]["name"], "vnet0");
        assert_eq!(v["bridges"][0]["ports"][0]["owner"], "web");
        assert_eq!(
            v["bridges"][0]["ports"][0]["limits"]["guest_ingress"],
            "rate 1mbit burst 10000b limit 20000b"
        );
        assert_eq!(v["links"][0]["name"], "vnet1");
        assert_eq!(v["links"][0]["carrier"], false);
    }

    #[test]
    fn services_are_listed_only_when_there_are_some() {
        let mut o = host();
        assert_eq!(render_services(&o), "");
        o.dhcp.push(ObservedDhcp {
            network: "lan".into(),
            dir: std::path::PathBuf::from("/nonexistent/hvnet/net/lan"),
            conf: None,
            hosts: Some("a\nb\n".into()),
            pid: None,
        });
        let text = render_services(&o);
        assert!(text.starts_with("services\n"), "{text}");
        assert!(
            text.contains("dnsmasq of lan          not running    0 lease(s), 2 static host(s)"),
            "{text}"
        );
        assert_eq!(services_json(&o)["dnsmasq"][0]["static_hosts"], 2);
    }

    /// A NIC backend for tests: taps named `vnetN` with `fe:` host-side MACs.
    #[derive(Clone)]
    pub(crate) struct Taps;
    impl NicBackend for Taps {
        fn name(&self) -> &'static str {
            "test"
        }
        fn ifname_prefix(&self, _: &hvnet_core::config::Nic) -> &'static str {
            "vnet"
        }
        fn host_link(
            &self,
            g: &hvnet_core::config::Guest,
            n: &hvnet_core::config::Nic,
            net: &hvnet_core::config::Network,
            name: IfName,
        ) -> LinkSpec {
            LinkSpec {
                name,
                kind: hvnet_core::state::LinkKind::Tap(TapOpts::default()),
                owner: Some(Owner::new(&g.name)),
                master: Some(net.bridge.clone()),
                mtu: net.mtu,
                mac: Some(n.mac.with_first_octet(0xfe)),
                up: true,
            }
        }
    }

    #[test]
    fn guests_are_listed_with_their_links() {
        let cfg = Config::parse(
            "[[network]]\nname='lan'\nkind='internal'\nbridge='br-lan'\n\
             [[guest]]\nname='web'\n[[guest.nic]]\nnetwork='lan'\nmac='52:54:00:00:00:02'\n\
             [[guest.nic]]\nnetwork='lan'\nmac='52:54:00:00:00:07'\n",
            "x.toml",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let rows = guest_rows(&cfg, &host(), &Taps);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].link, Some(("vnet0".to_string(), "up")));
        assert_eq!(rows[1].link, None);
        let text = render_guests(&rows);
        assert_eq!(
            text,
            "guest web\n  lan network MAC = 52:54:00:00:00:02  vnet0 (up)\n  lan network MAC = 52:54:00:00:00:07  not created\n"
        );
        assert_eq!(guests_json(&rows)[1]["state"], serde_json::Value::Null);
    }
}
