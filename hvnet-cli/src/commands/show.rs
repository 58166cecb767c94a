//! `hvnet show`: bridges with their ports (like `brctl show` + `bridge link`) and addresses,
//! then — when the config can be read — each guest's NICs the way seed 000's
//! `hv_guest_start -view` lists them (`<network> network MAC = …`), with the host link that
//! carries each and its state — and hvnet's services (dnsmasq per network with its leases,
//! the host's DHCP clients, the firewall chains, sysctls it changed).

use hvnet_core::observed::{ObservedKind, ObservedLink, ObservedState, QdiscKind};
use hvnet_core::op::HVNET_QDISC_HANDLE;
use serde_json::{json, Value};

use hvnet_core::config::{Config, NicType};
use hvnet_core::resolve::resolve;
use hvnet_kvm::KvmBackend;

use crate::cli::Global;
use crate::context::load_config;
use crate::error::{CliError, CliResult};

pub fn run(g: &Global, as_json: bool) -> CliResult {
    // Links, dnsmasq, host DHCP clients, saved sysctls and hvnet's firewall chains, read
    // under the shared lock (never half-built).
    let observed = crate::context::reader(g)?
        .observe_query(&hvnet_core::backend::Query::everything())
        .map_err(crate::context::engine_error)?;
    // The kernel view needs no config; the guest view uses it when there is one.
    let cfg = if g.config.exists() || g.config.as_os_str() == "-" {
        match load_config(g) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("hvnet: guests not shown: {e}");
                None
            }
        }
    } else {
        None
    };
    let guests = cfg.as_ref().map(|c| guest_rows(c, &observed));
    if as_json {
        let mut v = to_json(&observed);
        if let Some(rows) = &guests {
            v["guests"] = guests_json(rows);
        }
        v["services"] = services_json(&observed);
        let text = serde_json::to_string_pretty(&v).map_err(CliError::runtime)?;
        println!("{text}");
    } else {
        print!("{}", render(&observed));
        print!("{}", render_services(&observed));
        if let Some(rows) = &guests {
            print!("{}", render_guests(rows));
        }
    }
    Ok(())
}

/// Leases in a network's dnsmasq leasefile (0 when unreadable).
fn lease_count(dir: &std::path::Path) -> usize {
    hvnet_linux::dnsmasq::leases(&dir.join(hvnet_core::dhcp::LEASE_FILE)).map_or(0, |l| l.len())
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
    if let Some(rules) = o.firewall.as_ref().and_then(|f| f.current()) {
        out.push_str(&format!(
            "  firewall: hvnet's chains hold {} rule(s)\n",
            rules.rules().count()
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

fn services_json(o: &ObservedState) -> Value {
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
        "firewall_rules": o.firewall.as_ref().and_then(|f| f.current()).map(|r| r.rules().count()),
        "saved_sysctls": o.saved_sysctls.iter().map(|(k, v)| json!({
            "key": k.to_string(),
            "original": v,
            "now": o.sysctls.get(k),
        })).collect::<Vec<_>>(),
    })
}

/// One guest NIC as `show` lists it.
struct NicRow {
    guest: String,
    index: usize,
    /// The network's name, or `private` for QEMU's user NAT.
    network: String,
    mac: String,
    /// The host link and its state, when it exists.
    link: Option<(String, &'static str)>,
}

fn guest_rows(cfg: &Config, o: &ObservedState) -> Vec<NicRow> {
    let want = resolve(cfg, o, &KvmBackend);
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
fn render_guests(rows: &[NicRow]) -> String {
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

fn guests_json(rows: &[NicRow]) -> Value {
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
        ObservedKind::Other(k) if k.is_empty() => "device".into(),
        ObservedKind::Other(k) => k.clone(),
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
fn limits(o: &ObservedState, l: &ObservedLink) -> (Option<String>, Option<String>) {
    let egress = o
        .redirects
        .iter()
        .find(|r| r.ifindex == l.ifindex)
        .and_then(|r| root_rate(o, r.target));
    (egress, root_rate(o, l.ifindex))
}

fn addrs(o: &ObservedState, l: &ObservedLink) -> Vec<String> {
    o.addrs_of(l.ifindex).map(|c| c.to_string()).collect()
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
                "  {:<16}{:<6}{:<12}{}\n",
                l.name,
                kind(l),
                state(l),
                l.alias.clone().unwrap_or_default()
            ));
        }
    }
    out
}

fn link_json(o: &ObservedState, l: &ObservedLink) -> Value {
    json!({
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
    })
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
