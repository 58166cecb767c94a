//! `hvnet show --format dot|svg`: a picture of the guest networks. Networks (kind, bridge,
//! subnet, DHCP pool, rate), the guests with their NICs (host-side name as the hypervisor
//! sees it — vnetN, a veth, or a vifD.N found on the bridge — MAC, IP, rate), port forwards,
//! and each network's way out (NAT or routing via an uplink or the default route, or the
//! bridged NIC). Drawn as Graphviz DOT here; SVG is DOT laid out by Graphviz's `dot` when it
//! is installed. `--offline` draws from the config alone; otherwise the live host adds
//! what exists and its state (links up or missing, leased addresses, ports hvnet did not
//! make).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use hvnet_core::config::{Config, Network, NetworkKind, NicRate, NicType};
use hvnet_core::observed::ObservedState;
use hvnet_core::resolve::resolve;
use hvnet_core::types::MacAddr;
use hvnet_kvm::KvmBackend;

use crate::cli::{Global, ShowFormat};
use crate::context::load_config;
use crate::error::{CliError, CliResult};

/// What the live host adds to the config's picture.
pub struct Live<'a> {
    /// The observed kernel state (links, routes).
    pub observed: &'a ObservedState,
    /// Leased addresses by MAC (dnsmasq's lease files).
    pub leases: BTreeMap<MacAddr, Ipv4Addr>,
}

/// `hvnet show --format dot|svg [--offline]`.
pub fn run(g: &Global, format: ShowFormat, offline: bool) -> CliResult {
    let cfg = load_config(g)?;
    let text = if offline {
        dot(&cfg, None)
    } else {
        // As `hvnet show`: read under the shared lock (never half-built).
        let observed = crate::context::reader(g)?
            .observe_query(&hvnet_core::backend::Query::everything())
            .map_err(crate::context::engine_error)?;
        let leases = observed
            .dhcp
            .iter()
            .filter_map(|d| {
                hvnet_linux::dnsmasq::leases(&d.dir.join(hvnet_core::dhcp::LEASE_FILE)).ok()
            })
            .flatten()
            .map(|l| (l.mac, l.ip))
            .collect();
        dot(
            &cfg,
            Some(&Live {
                observed: &observed,
                leases,
            }),
        )
    };
    let out = match format {
        ShowFormat::Svg => match svg(&text) {
            Ok(svg) => svg,
            Err(why) => {
                eprintln!("hvnet: SVG needs Graphviz's `dot` ({why}; Debian: apt-get install graphviz); printing DOT instead");
                text.into_bytes()
            }
        },
        _ => text.into_bytes(),
    };
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| CliError::Runtime(format!("writing the picture: {e}")))
}

/// Lays DOT out as SVG with Graphviz's `dot`; why not, when it cannot.
pub fn svg(dot_text: &str) -> Result<Vec<u8>, String> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run dot: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot_text.as_bytes())
            .map_err(|e| format!("writing to dot: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("dot failed: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "dot exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// Escapes text for a Graphviz HTML-like label.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A DOT node id (quoted, escaped).
fn id(kind: &str, name: &str) -> String {
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
    let r = o
        .routes
        .iter()
        .find(|r| r.dst.prefix_len() == 0 && r.table == hvnet_core::state::MAIN_TABLE)?;
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

/// The config (and, live, the host) as a Graphviz digraph.
pub fn dot(cfg: &Config, live: Option<&Live<'_>>) -> String {
    let empty = ObservedState::default();
    let observed = live.map_or(&empty, |l| l.observed);
    let want = resolve(cfg, observed, &KvmBackend);
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
            let at = f.host_addr.map_or_else(|| "host".into(), |a| a.to_string());
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

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../docs/example.toml");

    fn example() -> Config {
        Config::parse(EXAMPLE, "example.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn offline_picture_has_networks_nics_forwards_and_ways_out() {
        let d = dot(&example(), None);
        assert!(
            d.starts_with("digraph hvnet {") && d.ends_with("}\n"),
            "{d}"
        );
        // Networks with kind, bridge, subnet, DHCP pool, rate.
        assert!(d.contains("<b>default</b> (nat)"), "{d}");
        assert!(
            d.contains("bridge virbr1") && d.contains("host 192.168.100.1/24"),
            "{d}"
        );
        assert!(d.contains("DHCP 192.168.100.100-192.168.100.199"), "{d}");
        assert!(d.contains("rate 1gbit"), "{d}");
        // NICs: generated host-side names, MAC, fixed IP or DHCP, rate; edges to networks.
        assert!(d.contains(">vnet0</td>"), "{d}");
        assert!(
            d.contains("192.168.100.10") && d.contains(">100mbit</td>"),
            "{d}"
        );
        assert!(d.contains("out 80mbit / in 50mbit"), "{d}");
        assert!(d.contains("\"guest:web\":e0:e -> \"net:default\""), "{d}");
        assert!(d.contains("\"guest:web\":e1:e -> \"net:lan\""), "{d}");
        // The ways out and the port forward.
        assert!(
            d.contains("NAT (masquerade)\\nvia the default route"),
            "{d}"
        );
        assert!(d.contains("bridged\\neth1"), "{d}");
        assert!(
            d.contains("\"outside\" -> \"guest:web\":w0:w [label=\"tcp host:8080 → 80\""),
            "{d}"
        );
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(esc("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
        assert_eq!(id("guest", "we\"b"), "\"guest:we\\\"b\"");
    }

    #[test]
    fn live_host_adds_state_leases_and_the_default_route() {
        use hvnet_core::observed::ObservedRoute;
        let cfg = example();
        let mut observed = ObservedState::default();
        observed.routes.push(ObservedRoute {
            dst: "0.0.0.0/0".parse().unwrap_or_else(|e| panic!("{e}")),
            gateway: Some(Ipv4Addr::new(10, 0, 0, 1)),
            oif: None,
            src: None,
            metric: None,
            table: hvnet_core::state::MAIN_TABLE,
            protocol: 3,
        });
        let db_mac = cfg.guests[1].nics[0].mac;
        let leases = BTreeMap::from([(db_mac, Ipv4Addr::new(192, 168, 100, 150))]);
        let d = dot(
            &cfg,
            Some(&Live {
                observed: &observed,
                leases,
            }),
        );
        assert!(d.contains("live host"), "{d}");
        assert!(d.contains("<i>bridge missing</i>"), "{d}");
        assert!(d.contains("vnet2 (missing)"), "{d}");
        assert!(d.contains("192.168.100.150 (lease)"), "{d}");
        assert!(d.contains("NAT (masquerade)\\nvia 10.0.0.1\""), "{d}");
    }
}
