//! The picture of the networks (`hvnet_core::topology`): from the config alone, and with a
//! live host's state, leases and default route.

#![allow(clippy::unwrap_used)]

#[allow(unused_imports)]
mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use common::Taps;
use hvnet_core::config::Config;
use hvnet_core::observed::ObservedState;
use hvnet_core::topology::{dot, esc, id, Live};

const EXAMPLE: &str = include_str!("../../docs/example.toml");

fn example() -> Config {
    Config::parse(EXAMPLE, "example.toml").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn offline_picture_has_networks_nics_forwards_and_ways_out() {
    let d = dot(&example(), None, &Taps);
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
        gateway: Some(Ipv4Addr::new(10, 0, 0, 1).into()),
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
        &Taps,
    );
    assert!(d.contains("live host"), "{d}");
    assert!(d.contains("<i>bridge missing</i>"), "{d}");
    assert!(d.contains("vnet2 (missing)"), "{d}");
    assert!(d.contains("192.168.100.150 (lease)"), "{d}");
    assert!(d.contains("NAT (masquerade)\\nvia 10.0.0.1\""), "{d}");
}
