//! Overlay networks through the engine on the in-memory host: the VXLAN device and its flood
//! entries are planned from the observation, a peer joining or leaving is one op, a crash
//! mid-transaction is rolled back, and what cannot fit is refused.

#![allow(clippy::unwrap_used)]

use hvnet_core::backend::{Execute, Record};
use hvnet_core::config::Config;
use hvnet_core::engine::{Engine, EngineError, Intent, Scope};
use hvnet_core::memhost::MemHost;
use hvnet_core::observed::{ObservedAddr, ObservedKind};
use hvnet_core::op::Op;
use hvnet_kvm::KvmBackend;

/// The shared config of `hosts` hosts (hv1 at 172.16.0.1, …), hv1 the gateway host.
fn text(hosts: usize, extra: &str) -> String {
    let mut t = String::new();
    for i in 1..=hosts {
        t.push_str(&format!(
            "[[overlay.host]]\nname = 'hv{i}'\naddress = '172.16.0.{i}'\n"
        ));
    }
    t.push_str(&format!(
        "[[network]]\nname = 'ov'\nkind = 'nat'\nbridge = 'br-ov'\naddress = '10.9.0.1/24'\n\
         gateway_hosts = ['hv1']\n{extra}[network.overlay]\nvni = 77\n[network.dhcp]\n\
         [[guest]]\nname = 'g2'\nhost = 'hv2'\n[[guest.nic]]\nnetwork = 'ov'\n\
         [[guest]]\nname = 'g1'\nhost = 'hv1'\n[[guest.nic]]\nnetwork = 'ov'\n"
    ));
    t
}

fn cfg(hosts: usize, me: &str) -> Config {
    Config::parse(&text(hosts, ""), "ov.toml")
        .unwrap()
        .for_host(me)
        .unwrap()
}

/// A host whose eth0 (MTU 1500) holds `172.16.0.N/24`.
fn host(n: u8) -> MemHost {
    let mut h = MemHost::new();
    let eth0 = h.state.link("eth0").unwrap().ifindex;
    h.state.addrs.push(ObservedAddr {
        ifindex: eth0,
        cidr: format!("172.16.0.{n}/24").parse().unwrap(),
    });
    h
}

fn flood_peers(h: &MemHost) -> Vec<String> {
    let vx = h.state.link("vxlan77").unwrap().ifindex;
    let mut p: Vec<String> = h
        .state
        .fdb
        .iter()
        .filter(|f| f.ifindex == vx)
        .map(|f| f.dst.to_string())
        .collect();
    p.sort();
    p
}

#[test]
fn a_non_gateway_host_gets_the_device_its_peers_and_no_gateway() {
    let c = cfg(3, "hv2");
    let mut e = Engine::new(host(2), KvmBackend);
    let planned = e.plan(&c, &Scope::Config, Intent::Up).unwrap();
    e.apply(&planned).unwrap();
    let s = &e.host().state;
    let vx = s.link("vxlan77").unwrap();
    match &vx.kind {
        ObservedKind::Vxlan(v) => {
            assert_eq!(
                (v.vni, v.local.unwrap().to_string()),
                (77, "172.16.0.2".into())
            );
            assert!(v.learning);
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(vx.mtu, 1450);
    assert_eq!(s.master_name(vx), Some("br-ov"));
    // Only g2 runs here, with the MTU that fits.
    let ports: Vec<_> = s
        .ports_of(s.link("br-ov").unwrap())
        .map(|l| (l.name.clone(), l.mtu))
        .collect();
    assert_eq!(
        ports,
        [("vxlan77".to_string(), 1450), ("vnet0".to_string(), 1450)]
    );
    // No gateway here: no address, no dnsmasq.
    let br = s.link("br-ov").unwrap().ifindex;
    assert_eq!(s.addrs_of(br).count(), 0);
    assert!(s.dhcp.is_empty());
    assert_eq!(flood_peers(e.host()), ["172.16.0.1", "172.16.0.3"]);
    assert!(e.check(&c).unwrap().plan.is_empty());
}

#[test]
fn a_peer_joining_or_leaving_is_one_fdb_op() {
    let mut e = Engine::new(host(1), KvmBackend);
    e.run(&cfg(2, "hv1"), &Scope::Config, Intent::Up).unwrap();
    assert_eq!(flood_peers(e.host()), ["172.16.0.2"]);
    let more = e.plan(&cfg(4, "hv1"), &Scope::Config, Intent::Up).unwrap();
    assert_eq!(
        more.plan.commands(),
        [
            "bridge fdb append 00:00:00:00:00:00 dev vxlan77 dst 172.16.0.3 self permanent",
            "bridge fdb append 00:00:00:00:00:00 dev vxlan77 dst 172.16.0.4 self permanent",
        ]
    );
    e.apply(&more).unwrap();
    let fewer = e.plan(&cfg(3, "hv1"), &Scope::Config, Intent::Up).unwrap();
    assert_eq!(
        fewer.plan.commands(),
        ["bridge fdb del 00:00:00:00:00:00 dev vxlan77 dst 172.16.0.4 self"]
    );
    // The inverse of each is the other.
    assert_eq!(
        fewer.plan.ops[0].inverse()[0].inverse(),
        vec![fewer.plan.ops[0].clone()]
    );
    e.apply(&fewer).unwrap();
    assert_eq!(flood_peers(e.host()), ["172.16.0.2", "172.16.0.3"]);
}

#[test]
fn a_crash_after_some_fdb_ops_is_rolled_back_from_the_journal() {
    let mut e = Engine::new(host(1), KvmBackend);
    e.run(&cfg(2, "hv1"), &Scope::Config, Intent::Up).unwrap();
    let before = e.host().state.clone();
    let planned = e.plan(&cfg(5, "hv1"), &Scope::Config, Intent::Up).unwrap();
    assert_eq!(planned.plan.len(), 3);
    // Killed after two of the three appends: the journal holds the record.
    let h = e.host();
    h.journal = Some(Record {
        verb: "apply".into(),
        ops: planned.plan.ops.clone(),
    });
    h.execute(&planned.plan.ops[..2]).unwrap();
    assert_eq!(flood_peers(h).len(), 3);
    let rec = e.recover().unwrap().unwrap();
    assert_eq!(rec.undone, 2);
    assert_eq!(e.host().state.fdb, before.fdb);
}

#[test]
fn a_device_with_other_settings_is_recreated_with_its_peers() {
    let mut e = Engine::new(host(1), KvmBackend);
    e.run(&cfg(2, "hv1"), &Scope::Config, Intent::Up).unwrap();
    let t = text(2, "").replace("vni = 77", "vni = 77\nport = 8472");
    let c = Config::parse(&t, "ov.toml")
        .unwrap()
        .for_host("hv1")
        .unwrap();
    let planned = e.plan(&c, &Scope::Config, Intent::Up).unwrap();
    let ops = &planned.plan.ops;
    assert!(
        matches!(&ops[0], Op::DeleteLink { name, restore: Some(r) } if name.as_str() == "vxlan77" && r.fdb.len() == 1)
    );
    assert!(ops
        .iter()
        .any(|o| matches!(o, Op::CreateVxlan { opts, .. } if opts.port == 8472)));
    assert!(ops
        .iter()
        .any(|o| matches!(o, Op::AddFdb(f) if f.dst.to_string() == "172.16.0.2")));
    e.apply(&planned).unwrap();
    assert!(e.check(&c).unwrap().plan.is_empty());
}

#[test]
fn an_mtu_that_cannot_fit_the_underlay_or_an_unknown_address_is_input() {
    let t = text(2, "mtu = 1460\n");
    let c = Config::parse(&t, "ov.toml")
        .unwrap()
        .for_host("hv1")
        .unwrap();
    let mut e = Engine::new(host(1), KvmBackend);
    match e.plan(&c, &Scope::Config, Intent::Up) {
        Err(EngineError::Input(m)) => {
            assert!(
                m.starts_with("ov.toml:13:7: network[0].mtu: MTU 1460 cannot fit"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    // No interface holds this host's address.
    let mut e = Engine::new(MemHost::new(), KvmBackend);
    match e.plan(&cfg(2, "hv1"), &Scope::Config, Intent::Up) {
        Err(EngineError::Input(m)) => assert!(
            m.contains("no interface of this host has the underlay address 172.16.0.1"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    // An MTU that fits is kept.
    let t = text(2, "mtu = 1400\n");
    let c = Config::parse(&t, "ov.toml")
        .unwrap()
        .for_host("hv1")
        .unwrap();
    let mut e = Engine::new(host(1), KvmBackend);
    e.run(&c, &Scope::Config, Intent::Up).unwrap();
    assert_eq!(e.host().state.link("vxlan77").unwrap().mtu, 1400);
}

#[test]
fn host_names_and_table_are_checked() {
    let err = Config::parse(&text(2, ""), "ov.toml")
        .unwrap()
        .for_host("hv9")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("host.name: host \"hv9\" is not in [[overlay.host]]"),
        "{err}"
    );
    let bad = text(2, "").replace("gateway_hosts = ['hv1']", "gateway_hosts = ['hv7']");
    let err = Config::parse(&bad, "ov.toml").unwrap_err().to_string();
    assert!(
        err.contains("network[0].gateway_hosts[0]: host \"hv7\""),
        "{err}"
    );
    let evpn = text(2, "").replace("vni = 77", "vni = 77\ncontrol = 'evpn'");
    let err = Config::parse(&evpn, "ov.toml").unwrap_err().to_string();
    assert!(err.contains("network[0].overlay.control"), "{err}");
}

#[test]
fn the_local_address_comes_from_the_underlay_device_when_not_given() {
    let t = "[[network]]\nname = 'ov'\nkind = 'internal'\nbridge = 'br-ov'\n\
             [network.overlay]\nvni = 9\nunderlay = 'eth0'\npeers = ['172.16.0.7']\nlearning = false\n";
    let c = Config::parse(t, "u.toml").unwrap();
    let mut e = Engine::new(host(3), KvmBackend);
    let planned = e.plan(&c, &Scope::Config, Intent::Up).unwrap();
    let commands = planned.plan.commands();
    assert!(
        commands.iter().any(|l| l.contains(
            "mtu 1450 type vxlan id 9 local 172.16.0.3 dstport 4789 nolearning dev eth0"
        )),
        "{commands:#?}"
    );
    e.apply(&planned).unwrap();
    assert!(e.check(&c).unwrap().plan.is_empty());
    // Without an address on the underlay there is no local address: refused, nothing done.
    let mut bare = Engine::new(MemHost::new(), KvmBackend);
    match bare.plan(&c, &Scope::Config, Intent::Up) {
        Err(EngineError::Input(m)) => assert!(
            m.contains("u.toml:5:1: network[0].overlay: this host's underlay address is unknown: underlay eth0 has no IPv4 address"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_guest_pinned_to_another_host_is_not_brought_up_here() {
    let mut e = Engine::new(host(2), KvmBackend);
    e.run(&cfg(2, "hv2"), &Scope::Config, Intent::Up).unwrap();
    match e.plan(&cfg(2, "hv2"), &Scope::Guest("g1".into()), Intent::Up) {
        Err(EngineError::Input(m)) => assert!(
            m.contains("guest g1 runs on host hv1 ([[guest]] host), not on this host (hv2)"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    // Its own guest goes down and up again; the overlay stays as it is.
    let fdb = e.host().state.fdb.clone();
    e.run(&cfg(2, "hv2"), &Scope::Guest("g2".into()), Intent::Down)
        .unwrap();
    e.run(&cfg(2, "hv2"), &Scope::Guest("g2".into()), Intent::Up)
        .unwrap();
    assert_eq!(e.host().state.fdb, fdb);
    assert!(e.check(&cfg(2, "hv2")).unwrap().plan.is_empty());
}
