//! A picture of the guest networks as Graphviz DOT (`hvnet show --format dot|svg`).
//! Networks (kind, bridge, subnet, DHCP pool, rate), the guests with their NICs (host-side
//! name as the hypervisor sees it — vnetN, a veth, or a vifD.N found on the bridge — MAC,
//! IP, rate), port forwards, and each network's way out (NAT or routing via an uplink or
//! the default route, or the bridged NIC). Without a [`Live`] host the picture comes from
//! the config alone; with one it adds what exists and its state (links up or missing,
//! leased addresses, ports hvnet did not make). Pure: laying DOT out as SVG is
//! `hvnet_linux::graphviz`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::backend::NicBackend;
use crate::config::{Config, Network, NetworkKind, NicRate, NicType};
use crate::observed::ObservedState;
use crate::resolve::resolve;
use crate::types::MacAddr;

/// What the live host adds to the config's picture.
pub struct Live<'a> {
    /// The observed kernel state (links, routes).
    pub observed: &'a ObservedState,
    /// Leased addresses by MAC (dnsmasq's lease files).
    pub leases: BTreeMap<MacAddr, Ipv4Addr>,
}

/// Escapes text for a Graphviz HTML-like label.
///
/// ```
/// assert_eq!(hvnet_core::topology::esc("a<b>"), "a&lt;b&gt;");
/// ```
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A DOT node id (quoted, escaped): `"KIND:NAME"`.
///
/// ```
/// assert_eq!(hvnet_core::topology::id("guest", "web"), "\"guest:web\"");
/// ```
pub fn id(kind: &str, name: &str) -> String {
    format!(
        "\"{kind}:{}\"",
        name.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

/// A rate as text: one value for both directions, else `out X / in Y` (guest's view).
fn rate_text(r: &NicRate) -> Option<String> {
    match (&r.egress, &r.ingress) {
        (None, None) => None,
        (Some(e), Some(i)) if e == i => Some(e.to_string()),
        (e, i) => Some(format!(
            "out {} / in {}",
            e.map_or_else(|| "-".into(), |x| x.to_string()),
            i.map_or_else(|| "-".into(), |x| x.to_string())
        )),
    }
}

/// Fill colours per network kind (pale, so black text stays legible).
fn colour(kind: NetworkKind) -> &'static str {
    match kind {
        NetworkKind::Nat => "#dbeafe",
        NetworkKind::Routed => "#e0e7ff",
        NetworkKind::Bridge => "#dcfce7",
        NetworkKind::Isolated => "#fef9c3",
        NetworkKind::Internal => "#f3f4f6",
        NetworkKind::Open => "#fae8ff",
    }
}

/// The network's label lines after its title.
fn network_lines(n: &Network) -> Vec<String> {
    let mut lines = vec![format!("bridge {}", n.bridge)];
    if let Some(a) = n.address {
        lines.push(format!("host {a}"));
    }
    if let Some(d) = &n.dhcp {
        lines.push(match &d.range {
            Some(r) => format!("DHCP {r}"),
            None => "DHCP static hosts only".into(),
        });
    }
    if let Some(r) = rate_text(&n.rate) {
        lines.push(format!("rate {r}"));
    }
    lines
}

/// The default route's device and gateway on the live host.
fn default_route(o: &ObservedState) -> Option<String> {
    let r = o.routes.iter().find(|r| {
        r.dst.is_ipv4() && r.dst.prefix_len() == 0 && r.table == crate::state::MAIN_TABLE
    })?;
    let dev = r
        .oif
        .and_then(|i| o.links.iter().find(|l| l.ifindex == i))
        .map(|l| l.name.clone());
    Some(match (dev, r.gateway) {
        (Some(d), Some(g)) => format!("{d} via {g}"),
        (Some(d), None) => d,
        (None, Some(g)) => g.to_string(),
        (None, None) => "the default route".into(),
    })
}

/// The config (and, live, the host) as a Graphviz digraph; `backend` names the guest
/// NICs' host-side links as `apply` does.
///
/// ```
/// use hvnet_core::{config::Config, topology::dot};
/// # use hvnet_core::{backend::NicBackend, config::{Guest, Network, Nic}, state::*, types::IfName};
/// # struct Taps;
/// # impl NicBackend for Taps {
/// #   fn name(&self) -> &'static str { "test" }
/// #   fn ifname_prefix(&self, _: &Nic) -> &'static str { "vnet" }
/// #   fn host_link(&self, g: &Guest, n: &Nic, net: &Network, name: IfName) -> LinkSpec {
/// #     LinkSpec { name, kind: LinkKind::Tap(TapOpts::default()), owner: Some(Owner::new(&g.name)),
/// #       master: Some(net.bridge.clone()), mtu: net.mtu, mac: Some(n.mac.with_first_octet(0xfe)), up: true }
/// #   }
/// # }
/// let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='br0'\n\
///     [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='n'\n", "x.toml").unwrap();
/// let d = dot(&cfg, None, &Taps);
/// assert!(d.starts_with("digraph hvnet {") && d.contains(">vnet0</td>"));
/// ```
pub fn dot(cfg: &Config, live: Option<&Live<'_>>, backend: &dyn NicBackend) -> String {
    let empty = ObservedState::default();
    let observed = live.map_or(&empty, |l| l.observed);
    let want = resolve(cfg, observed, backend);
    let mut o = String::new();
    let _ = writeln!(o, "digraph hvnet {{");
    let _ = writeln!(
        o,
        "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=12, nodesep=0.35, ranksep=0.9, label=<<b>hvnet</b> — {}>, labelloc=t];",
        if live.is_some() { "live host" } else { "from the config (offline)" }
    );
    let _ = writeln!(
        o,
        "  node [fontname=\"Helvetica\", fontsize=11, shape=plain];\n  edge [fontname=\"Helvetica\", fontsize=10];"
    );

    // Networks, and their way out.
    let mut outside_needed = false;
    for n in &cfg.networks {
        let mut rows = format!(
            "<tr><td bgcolor=\"{}\"><b>{}</b> ({})</td></tr>",
            colour(n.kind),
            esc(&n.name),
            n.kind.as_str()
        );
        for l in network_lines(n) {
            let _ = write!(rows, "<tr><td align=\"left\">{}</td></tr>", esc(&l));
        }
        if let Some(l) = live {
            let st = match l.observed.link(n.bridge.as_str()) {
                Some(b) if b.up => "bridge up",
                Some(_) => "bridge down",
                None => "bridge missing",
            };
            let _ = write!(rows, "<tr><td align=\"left\"><i>{st}</i></td></tr>");
            // Ports hvnet did not make for a configured NIC: Xen vifs, libvirt's taps, ….
            if let Some(b) = l.observed.link(n.bridge.as_str()) {
                let known: Vec<&str> = want.nic_links.iter().map(|x| x.link.as_str()).collect();
                let uplink = n.uplink.as_ref().map(|u| u.as_str());
                let mut other: Vec<&str> = l
                    .observed
                    .ports_of(b)
                    .map(|p| p.name.as_str())
                    .filter(|p| !known.contains(p) && Some(*p) != uplink)
                    .collect();
                other.sort_unstable();
                if !other.is_empty() {
                    let _ = write!(
                        rows,
                        "<tr><td align=\"left\">other ports: {}</td></tr>",
                        esc(&other.join(", "))
                    );
                }
            }
        }
        let _ = writeln!(
            o,
            "  {} [label=<<table border=\"1\" cellborder=\"0\" cellspacing=\"0\" cellpadding=\"4\">{rows}</table>>];",
            id("net", &n.name)
        );
        let way = match n.kind {
            NetworkKind::Nat | NetworkKind::Routed => {
                let how = if n.kind == NetworkKind::Nat {
                    "NAT (masquerade)"
                } else {
                    "routed"
                };
                let via = match (&n.uplink, live) {
                    (Some(u), _) => format!("via {u}"),
                    (None, Some(l)) => default_route(l.observed)
                        .map_or_else(|| "no default route yet".into(), |r| format!("via {r}")),
                    (None, None) => "via the default route".into(),
                };
                Some(format!("{how}\\n{via}"))
            }
            NetworkKind::Bridge => Some(format!(
                "bridged\\n{}",
                n.uplink.as_ref().map_or("?", |u| u.as_str())
            )),
            _ => None,
        };
        if let Some(label) = way {
            outside_needed = true;
            let _ = writeln!(
                o,
                "  {} -> \"outside\" [label=\"{label}\", style=bold];",
                id("net", &n.name)
            );
        }
    }

    // Guests: one table each, a row per NIC, an edge from each NIC to its network.
    for g in &cfg.guests {
        let mut rows = format!(
            "<tr><td colspan=\"4\" bgcolor=\"#e5e7eb\"><b>{}</b></td></tr>",
            esc(&g.name)
        );
        let mut edges = String::new();
        for (i, nic) in g.nics.iter().enumerate() {
            let link = want
                .nic_links
                .iter()
                .find(|l| l.guest == g.name && l.nic == i)
                .map(|l| l.link.to_string());
            let (side, net) = match &nic.kind {
                NicType::User { .. } => ("QEMU user NAT".to_string(), None),
                NicType::Hostdev(_) => (format!("SR-IOV VF of {}", nic.network), None),
                NicType::Veth { netns, peer } => (
                    format!("{} ↔ {peer}@{netns}", link.as_deref().unwrap_or("veth")),
                    Some(&nic.network),
                ),
                _ => (
                    link.clone().unwrap_or_else(|| "tap".into()),
                    Some(&nic.network),
                ),
            };
            let state = match (live, &link) {
                (Some(l), Some(name)) => match l.observed.link(name) {
                    Some(x) if x.up => "",
                    Some(_) => " (down)",
                    None => " (missing)",
                },
                _ => "",
            };
            let ip = nic
                .ip
                .map(|a| a.to_string())
                .or_else(|| {
                    live.and_then(|l| l.leases.get(&nic.mac))
                        .map(|a| format!("{a} (lease)"))
                })
                .unwrap_or_else(|| "DHCP".into());
            let rate = rate_text(&nic.rate).unwrap_or_default();
            let _ = write!(
                rows,
                "<tr><td port=\"w{i}\" align=\"left\">{}{}</td><td align=\"left\">{}</td><td align=\"left\">{}</td><td port=\"e{i}\" align=\"left\">{}</td></tr>",
                esc(&side),
                state,
                nic.mac,
                esc(&ip),
                esc(&rate)
            );
            if let Some(net) = net {
                let _ = writeln!(
                    edges,
                    "  {}:e{i}:e -> {} [dir=both, arrowsize=0.6];",
                    id("guest", &g.name),
                    id("net", net)
                );
            }
        }
        let _ = writeln!(
            o,
            "  {} [label=<<table border=\"1\" cellborder=\"0\" cellspacing=\"0\" cellpadding=\"4\">{rows}</table>>];",
            id("guest", &g.name)
        );
        o.push_str(&edges);
        for f in &g.forwards {
            outside_needed = true;
            let at = match f.host_addr {
                None => "host".into(),
                Some(std::net::IpAddr::V6(a)) => format!("[{a}]"),
                Some(a) => a.to_string(),
            };
            let _ = writeln!(
                o,
                "  \"outside\" -> {}:w{}:w [label=\"{} {at}:{} → {}\", style=dashed, constraint=false, color=\"#b45309\", fontcolor=\"#b45309\"];",
                id("guest", &g.name),
                f.nic,
                f.proto.name(),
                f.host_port,
                f.guest_port
            );
        }
    }
    if outside_needed {
        let _ = writeln!(
            o,
            "  \"outside\" [shape=ellipse, style=filled, fillcolor=\"#f1f5f9\", label=\"outside\\n(the host's uplinks)\"];"
        );
    }
    o.push_str("}\n");
    o
}
