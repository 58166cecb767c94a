//! Planning the services of virtual networks against the in-memory kernel: dnsmasq starts,
//! live host changes that only reload, firewall drift, saved sysctls, hairpin, `down`, and
//! rollback at every step.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{FakeKernel, Taps};
use hvnet_core::backend::Observe;
use hvnet_core::config::Config;
use hvnet_core::observed::{ObservedKind, ObservedRoute};
use hvnet_core::op::Op;
use hvnet_core::plan::{plan, Plan};
use hvnet_core::resolve::resolve;
use hvnet_core::services::{check_way_out, ip_forward_key, services, way_out_warnings};
use hvnet_core::state::DesiredState;
use hvnet_core::teardown::down_state;
use hvnet_core::txn;

const NAT: &str = r#"
[host]
bridge_nf_call = false

[[network]]
name = "default"
kind = "nat"
bridge = "virbr0"
address = "192.168.122.1/24"
uplink = "eth0"
[network.dhcp]
range = "192.168.122.100-192.168.122.199"
[[network.dhcp.host]]
mac = "02:00:00:00:00:21"
ip = "192.168.122.21"
name = "fixed"

[[network]]
name = "hostonly"
kind = "isolated"
bridge = "virbr1"
address = "192.168.150.1/24"
[network.dhcp]

[[guest]]
name = "web"
[[guest.nic]]
network = "default"
mac = "52:54:00:00:00:11"
ip = "192.168.122.11"
[[guest.forward]]
host_port = 8080
guest_port = 80

[[guest]]
name = "db"
[[guest.nic]]
network = "hostonly"
mac = "52:54:00:00:00:12"
"#;

const RUN: &str = "/run/hvnet-test";

fn cfg(text: &str) -> Config {
    Config::parse(text, "test.toml").unwrap()
}

fn kernel() -> FakeKernel {
    let mut k = FakeKernel::new();
    k.state.sysctls.insert(ip_forward_key(), "0".into());
    for key in hvnet_core::services::bridge_nf_keys() {
        k.state.sysctls.insert(key, "1".into());
    }
    k
}

fn desired(k: &mut FakeKernel, c: &Config) -> DesiredState {
    let obs = k.observe(&common::all()).unwrap();
    let mut want = resolve(c, &obs, &Taps);
    services(c, Path::new(RUN), &mut want);
    want
}

fn plan_for(k: &mut FakeKernel, c: &Config) -> Plan {
    let want = desired(k, c);
    plan(&k.observe(&common::all()).unwrap(), &want).unwrap()
}

fn apply(k: &mut FakeKernel, c: &Config) -> Plan {
    let p = plan_for(k, c);
    txn::run(k, &p, None).unwrap();
    p
}

fn names(p: &Plan) -> Vec<String> {
    p.ops.iter().map(|o| o.to_string()).collect()
}

#[test]
fn nat_network_plans_firewall_then_dnsmasq_and_saves_sysctls() {
    let mut k = kernel();
    let p = plan_for(&mut k, &cfg(NAT));
    let text = names(&p);
    let pos = |needle: &str| {
        text.iter()
            .position(|t| t.contains(needle))
            .unwrap_or_else(|| panic!("no op with {needle:?} in\n{}", text.join("\n")))
    };
    // ip_forward is remembered before it is changed; bridge-nf-call likewise.
    assert!(
        pos("remember sysctl net.ipv4.ip_forward = 0") < pos("set sysctl net.ipv4.ip_forward = 1")
    );
    assert!(
        pos("remember sysctl net.bridge.bridge-nf-call-iptables = 1")
            < pos("set sysctl net.bridge.bridge-nf-call-iptables = 0")
    );
    // Addresses exist before dnsmasq binds them; rules exist before any guest is served.
    assert!(
        pos("add address 192.168.122.1/24 to virbr0") < pos("start dnsmasq for network default")
    );
    assert!(pos("write hvnet's firewall") < pos("start dnsmasq for network default"));
    assert!(pos("start dnsmasq for network hostonly") > pos("write hvnet's firewall"));
    // The forward's target port gets hairpin mode, after it is attached.
    assert!(pos("attach vnet0 to virbr0") < pos("set hairpin on on port vnet0"));
    // The uplink of a nat network is routed to, never enslaved.
    assert!(!text.iter().any(|t| t.contains("attach eth0")), "{text:?}");
    assert_eq!(
        p.ops
            .iter()
            .filter(|o| matches!(o, Op::StartDhcp(_)))
            .count(),
        2
    );
}

#[test]
fn hostsfile_holds_static_hosts_and_guest_ips_isolated_has_no_router() {
    let mut k = kernel();
    let want = desired(&mut k, &cfg(NAT));
    let def = want.dhcp.iter().find(|d| d.network == "default").unwrap();
    assert_eq!(
        def.hosts,
        "52:54:00:00:00:11,192.168.122.11,web\n02:00:00:00:00:21,192.168.122.21,fixed\n"
    );
    assert!(def.conf.contains("dhcp-option=3,192.168.122.1\n"));
    assert!(def.conf.contains("no-ping\n"));
    assert_eq!(def.dir, Path::new(RUN).join("net/default"));
    let iso = want.dhcp.iter().find(|d| d.network == "hostonly").unwrap();
    assert!(iso.conf.contains("dhcp-option=3\n"), "{}", iso.conf);
    assert!(iso
        .conf
        .contains("dhcp-range=192.168.150.2,192.168.150.254,"));
    // Both networks have rules; the isolated one only keeps traffic in.
    let fw = want.firewall.as_ref().unwrap();
    assert_eq!(
        fw.descriptors()[..4],
        [
            "net default nat virbr0 uplink=eth0",
            "sub default 192.168.122.0/24",
            "net hostonly isolated virbr1",
            "sub hostonly 192.168.150.0/24"
        ]
    );
}

#[test]
fn reapply_is_empty_and_a_static_host_only_reloads() {
    let mut k = kernel();
    apply(&mut k, &cfg(NAT));
    assert!(plan_for(&mut k, &cfg(NAT)).is_empty());
    let starts = k.dhcp_starts;
    let more = NAT.replace(
        "name = \"fixed\"\n",
        "name = \"fixed\"\n[[network.dhcp.host]]\nmac = \"02:00:00:00:00:22\"\nip = \"192.168.122.22\"\n",
    );
    let p = apply(&mut k, &cfg(&more));
    assert_eq!(
        names(&p),
        ["rewrite the DHCP hosts of network default (3 entries) and reload dnsmasq"]
    );
    assert_eq!(k.dhcp_starts, starts, "no restart");
    assert_eq!(k.dhcp_reloads, 1);
    // A changed range is a conf change: the daemon restarts.
    let wider = more.replace("192.168.122.199", "192.168.122.249");
    let p = apply(&mut k, &cfg(&wider));
    assert_eq!(
        names(&p),
        [
            "stop dnsmasq of network default (pid 1)",
            "start dnsmasq for network default"
        ]
    );
}

#[test]
fn a_dead_daemon_is_restarted_and_flushed_rules_rewritten() {
    let mut k = kernel();
    apply(&mut k, &cfg(NAT));
    for d in &mut k.state.dhcp {
        if d.network == "hostonly" {
            d.pid = None;
        }
    }
    // As the renderer reports a flushed nat chain.
    let fw = k.state.firewall.as_mut().unwrap();
    fw.drift.push(hvnet_core::firewall::Drift {
        kind: hvnet_core::firewall::DriftKind::Missing,
        what: "rule: -t nat -A HVNET-PRT -s 192.168.122.0/24 -j MASQUERADE".into(),
    });
    let p = plan_for(&mut k, &cfg(NAT));
    assert_eq!(
        names(&p),
        [
            "write hvnet's firewall (2 network(s), 1 port forward(s))",
            "start dnsmasq for network hostonly"
        ]
    );
    // What is missing is named as the renderer named it.
    let want = desired(&mut k, &cfg(NAT));
    let diffs = k
        .state
        .firewall
        .as_ref()
        .unwrap()
        .diff(want.firewall.as_ref().unwrap());
    let diffs: Vec<String> = diffs.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        diffs,
        ["missing rule: -t nat -A HVNET-PRT -s 192.168.122.0/24 -j MASQUERADE"]
    );
    txn::run(&mut k, &p, None).unwrap();
    assert!(plan_for(&mut k, &cfg(NAT)).is_empty());
}

#[test]
fn down_stops_daemons_removes_rules_and_restores_sysctls() {
    let mut k = kernel();
    apply(&mut k, &cfg(NAT));
    assert_eq!(k.state.sysctls[&ip_forward_key()], "1");
    let obs = k.observe(&common::all()).unwrap();
    let p = plan(&obs, &down_state(&cfg(NAT), &obs)).unwrap();
    txn::run(&mut k, &p, None).unwrap();
    assert_eq!(k.state.sysctls[&ip_forward_key()], "0");
    assert!(k.state.saved_sysctls.is_empty());
    assert!(k.state.dhcp.iter().all(|d| d.pid.is_none()));
    assert!(k.state.firewall.as_ref().unwrap().current().is_none());
    assert!(!k.state.links.iter().any(|l| l.owner().is_some()));
    // A value the admin had set before is not hvnet's to restore.
    let mut k = kernel();
    k.state.sysctls.insert(ip_forward_key(), "1".into());
    let p = apply(&mut k, &cfg(NAT));
    assert!(!names(&p).iter().any(|t| t.contains("ip_forward")));
    let obs = k.observe(&common::all()).unwrap();
    let p = plan(&obs, &down_state(&cfg(NAT), &obs)).unwrap();
    assert!(!names(&p).iter().any(|t| t.contains("ip_forward")));
}

#[test]
fn removing_the_last_nat_network_restores_ip_forward_and_rules() {
    let mut k = kernel();
    apply(&mut k, &cfg(NAT));
    let bare = "[[network]]\nname = \"plain\"\nkind = \"internal\"\nbridge = \"br-plain\"\n";
    let p = apply(&mut k, &cfg(bare));
    let text = names(&p);
    assert!(
        text.contains(&"set sysctl net.ipv4.ip_forward = 0 (was 1)".to_string()),
        "{text:?}"
    );
    assert!(text.contains(&"remove hvnet's firewall".to_string()));
    assert!(text
        .iter()
        .any(|t| t.starts_with("stop dnsmasq of network default")));
    assert!(plan_for(&mut k, &cfg(bare)).is_empty());
}

#[test]
fn rollback_at_every_step_restores_services_too() {
    let c = cfg(NAT);
    let n = plan_for(&mut kernel(), &c).len();
    assert!(n >= 15, "plan has {n} ops");
    for fault in 1..=n {
        let mut k = kernel();
        let before = k.state.clone();
        let p = plan_for(&mut k, &c);
        let err = txn::run(&mut k, &p, Some(fault)).unwrap_err();
        assert!(err.rollback_errors.is_empty(), "fault at {fault}: {err}");
        let after = &k.state;
        assert_eq!(after.sysctls, before.sysctls, "fault at {fault}");
        assert_eq!(
            after.saved_sysctls, before.saved_sysctls,
            "fault at {fault}"
        );
        assert!(
            after.dhcp.iter().all(|d| d.pid.is_none()),
            "fault at {fault}"
        );
        assert!(
            after
                .firewall
                .as_ref()
                .is_none_or(|f| f.current().is_none()),
            "fault at {fault}: firewall left behind"
        );
        assert!(
            !after.links.iter().any(|l| l.owner().is_some()),
            "fault at {fault}: links left behind"
        );
    }
}

/// Regression (issue 13): a nat network without uplink on a host without a default route
/// was refused; it is a warning now (libvirt starts such a network), gone once a default
/// route exists. A named uplink that does not exist stays an error.
#[test]
fn nat_without_default_route_is_a_warning_a_missing_uplink_an_error() {
    let mut k = kernel();
    let c = cfg(&NAT.replace("uplink = \"eth0\"\n", ""));
    let obs = k.observe(&common::all()).unwrap();
    assert_eq!(check_way_out(&c, &obs), Ok(()));
    let w = way_out_warnings(&c, &obs);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(
        w[0].to_string(),
        "network default (nat) has no way out yet: it names no uplink and the host has no default route; its guests reach only the host until one appears (or set `uplink`)"
    );
    k.state.routes.push(ObservedRoute {
        dst: "0.0.0.0/0".parse().unwrap(),
        gateway: Some("10.0.0.2".parse().unwrap()),
        oif: Some(2),
        src: None,
        metric: None,
        table: 254,
        protocol: 3,
    });
    assert!(check_way_out(&c, &k.observe(&common::all()).unwrap()).is_ok());
    assert_eq!(
        way_out_warnings(&c, &k.observe(&common::all()).unwrap()),
        vec![]
    );
    let c = cfg(&NAT.replace("uplink = \"eth0\"", "uplink = \"wlan9\""));
    let errs = check_way_out(&c, &k.observe(&common::all()).unwrap()).unwrap_err();
    assert_eq!(
        errs[0].to_string(),
        "network default: uplink wlan9 does not exist on this host"
    );
    let c = cfg(&NAT.replace("uplink = \"eth0\"", "uplink = \"virbr1\""));
    let errs = check_way_out(&c, &k.observe(&common::all()).unwrap()).unwrap_err();
    assert!(errs[0]
        .to_string()
        .contains("is the bridge of network hostonly"));
    let _ = ObservedKind::Veth;
}

#[test]
fn down_of_one_config_keeps_the_rules_of_the_others() {
    let mut k = kernel();
    apply(&mut k, &cfg(NAT));
    // A config naming only the host-only network: its rules go, `default`'s stay.
    let only = "[[network]]\nname = \"hostonly\"\nkind = \"isolated\"\nbridge = \"virbr1\"\n\
                address = \"192.168.150.1/24\"\n[network.dhcp]\n";
    let obs = k.observe(&common::all()).unwrap();
    let p = plan(&obs, &down_state(&cfg(only), &obs)).unwrap();
    txn::run(&mut k, &p, None).unwrap();
    let left = k.state.firewall.as_ref().unwrap().current().unwrap();
    assert!(left.network("default").is_some());
    assert!(left.network("hostonly").is_none());
    let running: Vec<&str> = k
        .state
        .dhcp
        .iter()
        .filter(|d| d.pid.is_some())
        .map(|d| d.network.as_str())
        .collect();
    assert_eq!(running, ["default"]);
}

const BRIDGED: &str = r#"
[[network]]
name = "lan"
kind = "bridge"
bridge = "br-lan"
uplink = "eth0"
host_ip = "static"
"#;

fn with_uplink_address(k: &mut FakeKernel) -> u32 {
    let eth0 = k.state.link("eth0").unwrap().ifindex;
    k.state
        .links
        .iter_mut()
        .find(|l| l.name == "eth0")
        .unwrap()
        .mac = Some("52:54:00:aa:bb:cc".parse().unwrap());
    k.state.addrs.push(hvnet_core::observed::ObservedAddr {
        ifindex: eth0,
        cidr: "10.0.0.5/24".parse().unwrap(),
    });
    k.state.routes.push(ObservedRoute {
        dst: "0.0.0.0/0".parse().unwrap(),
        gateway: Some("10.0.0.1".parse().unwrap()),
        oif: Some(eth0),
        src: None,
        metric: Some(100),
        table: 254,
        protocol: 4,
    });
    eth0
}

#[test]
fn host_ip_static_moves_addresses_and_routes_and_down_moves_them_back() {
    let mut k = kernel();
    let eth0 = with_uplink_address(&mut k);
    let before = k.state.clone();
    let p = apply(&mut k, &cfg(BRIDGED));
    let text = names(&p);
    assert_eq!(
        text.last().unwrap(),
        "move the host's addresses [10.0.0.5/24] and 1 route(s) from eth0 to br-lan",
        "{text:?}"
    );
    let br = k.state.link("br-lan").unwrap();
    assert_eq!(
        br.mac,
        Some("52:54:00:aa:bb:cc".parse().unwrap()),
        "bridge keeps the uplink's MAC"
    );
    let br = br.ifindex;
    assert!(k.state.addrs.iter().any(|a| a.ifindex == br));
    assert!(k.state.routes.iter().all(|r| r.oif == Some(br)));
    // Re-apply: the moved addresses are kept on the bridge, nothing to do.
    assert!(plan_for(&mut k, &cfg(BRIDGED)).is_empty());
    // down: back onto the uplink.
    let obs = k.observe(&common::all()).unwrap();
    let p = plan(&obs, &down_state(&cfg(BRIDGED), &obs)).unwrap();
    txn::run(&mut k, &p, None).unwrap();
    assert!(k.state.addrs.iter().all(|a| a.ifindex == eth0));
    assert_eq!(k.state.routes, before.routes);
}

#[test]
fn a_fault_anywhere_in_the_migration_leaves_the_uplink_as_it_was() {
    let c = cfg(BRIDGED);
    let mut k0 = kernel();
    with_uplink_address(&mut k0);
    let n = plan_for(&mut k0, &c).len();
    for fault in 1..=n {
        let mut k = kernel();
        with_uplink_address(&mut k);
        let before = k.state.clone();
        let p = plan_for(&mut k, &c);
        txn::run(&mut k, &p, Some(fault)).unwrap_err();
        assert_eq!(k.state.addrs, before.addrs, "fault at {fault}");
        assert_eq!(k.state.routes, before.routes, "fault at {fault}");
        assert!(k.state.link("br-lan").is_none(), "fault at {fault}");
    }
}

#[test]
fn a_wireless_uplink_is_refused() {
    let mut k = kernel();
    k.state
        .links
        .iter_mut()
        .find(|l| l.name == "eth0")
        .unwrap()
        .wireless = true;
    let obs = k.observe(&common::all()).unwrap();
    let want = resolve(&cfg(BRIDGED), &obs, &Taps);
    let err = plan(&obs, &want).unwrap_err().to_string();
    assert!(
        err.starts_with("uplink eth0 is a wireless NIC and cannot be bridged"),
        "{err}"
    );
}

#[test]
fn a_dynamic_external_bridge_takes_the_host_address_with_its_first_guest_and_returns_it() {
    use hvnet_core::lifecycle::{self, Nics};
    let text = "[[network]]\nname = \"external\"\nkind = \"bridge\"\nbridge = \"vmbridge\"\n\
                uplink = \"eth0\"\nhost_ip = \"static\"\nlifetime = \"dynamic\"\n\
                [[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"external\"\n";
    let c = cfg(text);
    let mut k = kernel();
    let eth0 = with_uplink_address(&mut k);
    let before = k.state.clone();
    // guest up: vmbridge appears, enslaves eth0 and takes its address and route.
    let obs = k.observe(&common::all()).unwrap();
    let want = lifecycle::up(&c, &resolve(&c, &obs, &Taps), "g", Nics::All).unwrap();
    let p = plan(&obs, &want).unwrap();
    assert!(
        names(&p)
            .iter()
            .any(|t| t.starts_with("move the host's addresses [10.0.0.5/24]")),
        "{:?}",
        names(&p)
    );
    txn::run(&mut k, &p, None).unwrap();
    let br = k.state.link("vmbridge").unwrap().ifindex;
    assert!(k.state.addrs.iter().any(|a| a.ifindex == br));
    // guest down: the address goes back before the bridge goes.
    let obs = k.observe(&common::all()).unwrap();
    let want = lifecycle::down(&c, &resolve(&c, &obs, &Taps), &obs, "g", Nics::All).unwrap();
    let p = plan(&obs, &want).unwrap();
    let t = names(&p);
    let mv = t
        .iter()
        .position(|x| x.starts_with("move the host's addresses"))
        .unwrap();
    let del = t.iter().position(|x| x == "delete vmbridge").unwrap();
    assert!(mv < del, "{t:?}");
    txn::run(&mut k, &p, None).unwrap();
    assert!(k.state.addrs.iter().all(|a| a.ifindex == eth0));
    assert_eq!(k.state.routes, before.routes);
}

#[test]
fn guest_up_and_down_leave_firewall_sysctls_and_routes_alone() {
    use hvnet_core::lifecycle::{self, Nics};
    let text = format!(
        "{NAT}\n[[network]]\nname = \"lan\"\nkind = \"bridge\"\nbridge = \"br-lan\"\nuplink = \"eth1\"\n\
         host_ip = \"static\"\naddress = \"10.5.0.2/24\"\ngateway = \"10.5.0.1\"\n\
         [[guest]]\nname = \"late\"\n[[guest.nic]]\nnetwork = \"default\"\n"
    );
    let c = cfg(&text);
    let mut k = kernel();
    k.add_link("eth1", ObservedKind::Other(String::new()), None);
    apply(&mut k, &c);
    assert!(k
        .state
        .routes
        .iter()
        .any(|r| r.protocol == hvnet_core::op::RTPROT_HVNET));
    // apply made every guest; take one down and bring it back.
    for up in [false, true] {
        // As the CLI does: services observed, but not the firewall or saved sysctls.
        let mut obs = k.observe(&common::all()).unwrap();
        obs.firewall = None;
        obs.saved_sysctls.clear();
        let full = resolve(&c, &obs, &Taps);
        let want = if up {
            lifecycle::up(&c, &full, "late", Nics::All).unwrap()
        } else {
            lifecycle::down(&c, &full, &obs, "late", Nics::All).unwrap()
        };
        let p = plan(&obs, &want).unwrap();
        let t = names(&p);
        assert!(
            t.iter().all(|x| !x.contains("firewall")
                && !x.contains("sysctl")
                && !x.contains("route")
                && !x.contains("dnsmasq")),
            "up={up}: {t:?}"
        );
        assert!(!t.is_empty(), "up={up}: nothing planned");
        txn::run(&mut k, &p, None).unwrap();
    }
}

#[test]
fn mac_replication_swaps_the_uplink_mac_and_down_gives_it_back() {
    let text = "[[network]]\nname = \"phys-eth0\"\nkind = \"bridge\"\nbridge = \"br-eth0\"\n\
                uplink = \"eth0\"\nreplicate_mac = true\n\
                [[guest]]\nname = \"rt\"\n[[guest.nic]]\nnetwork = \"phys-eth0\"\nmac = \"52:54:00:aa:bb:cc\"\n";
    let c = cfg(text);
    let mut k = kernel();
    with_uplink_address(&mut k); // eth0 has MAC 52:54:00:aa:bb:cc
    assert!(
        hvnet_core::services::check_replicated_macs(&c, &k.observe(&common::all()).unwrap())
            .is_ok()
    );
    apply(&mut k, &c);
    let stand_in = hvnet_core::config::Network::replica_uplink_mac("phys-eth0");
    assert_eq!(k.state.link("eth0").unwrap().mac, Some(stand_in));
    assert!(plan_for(&mut k, &c).is_empty());
    assert!(
        hvnet_core::services::check_replicated_macs(&c, &k.observe(&common::all()).unwrap())
            .is_ok()
    );
    let obs = k.observe(&common::all()).unwrap();
    let p = plan(&obs, &down_state(&c, &obs)).unwrap();
    txn::run(&mut k, &p, None).unwrap();
    assert_eq!(
        k.state.link("eth0").unwrap().mac,
        Some("52:54:00:aa:bb:cc".parse().unwrap())
    );
    // A NIC that does not carry the uplink's MAC is refused before anything changes.
    let wrong = cfg(&text.replace("52:54:00:aa:bb:cc", "52:54:00:aa:bb:cd"));
    let errs =
        hvnet_core::services::check_replicated_macs(&wrong, &k.observe(&common::all()).unwrap())
            .unwrap_err();
    assert!(errs[0]
        .to_string()
        .contains("set that NIC's mac to 52:54:00:aa:bb:cc"));
}

/// hvnet's rules left in the backend that is not selected (a backend switch) are removed by
/// the next apply — first, and put back by a rollback — and a re-apply is empty.
#[test]
fn rules_left_in_the_other_backend_are_removed_and_restored_on_rollback() {
    use hvnet_core::firewall::{FirewallIntent, FirewallKind};
    let c = cfg(NAT);
    let mut k = kernel();
    apply(&mut k, &c);
    let left = FirewallIntent::from_descriptors(&["net default nat virbr0"]).unwrap();
    let fw = k.state.firewall.as_mut().unwrap();
    fw.others.insert(FirewallKind::Iptables, left.clone());
    let p = plan_for(&mut k, &c);
    assert_eq!(names(&p), ["remove hvnet's firewall left in iptables"]);
    // A failure after it puts the other backend's rules back.
    let before = k.state.clone();
    let mut failing = p.clone();
    failing.ops.push(hvnet_core::op::Op::SetHairpin {
        link: "nonexistent0".parse().unwrap(),
        on: true,
    });
    assert!(txn::run(&mut k, &failing, None).is_err());
    assert_eq!(k.state.firewall, before.firewall);
    txn::run(&mut k, &p, None).unwrap();
    assert!(k.state.firewall.as_ref().unwrap().others.is_empty());
    assert!(plan_for(&mut k, &c).is_empty());
}

/// With IPv6 forwarded (a nat network with `address6`), an internal network joins the
/// firewall intent (kind internal: nothing in or out of its bridge); without IPv6 it does
/// not (an IPv4-only host's rules are as before). A nat network's IPv6 prefix is in its
/// subnets, `nat6` in its kind; an IPv6 `host_addr` forwards to the NIC's `ip6`.
#[test]
fn ipv6_intent_has_the_prefix_nat6_internal_networks_and_v6_forwards() {
    let base = "[[network]]\nname = \"lan\"\nkind = \"nat\"\nbridge = \"virbr0\"\naddress = \"192.168.122.1/24\"\n";
    let internal = "[[network]]\nname = \"guests\"\nkind = \"internal\"\nbridge = \"br-guest\"\n";
    let guest = "[[guest]]\nname = \"web\"\n[[guest.nic]]\nnetwork = \"lan\"\nip = \"192.168.122.10\"\nip6 = \"fd42::10\"\n[[guest.forward]]\nhost_port = 8080\nhost_addr = \"2001:db8::1\"\nguest_port = 80\n[[guest.nic]]\nnetwork = \"guests\"\n";
    let mut k = kernel();
    let v4 = cfg(&format!("{base}{internal}"));
    let fw = desired(&mut k, &v4).firewall.unwrap();
    assert_eq!(
        fw.descriptors(),
        ["net lan nat virbr0", "sub lan 192.168.122.0/24"]
    );
    let v6 = cfg(&format!(
        "{base}address6 = \"fd42::1/64\"\nnat6 = true\n[network.dhcp6]\nmode = \"stateful\"\n{internal}{guest}"
    ));
    let fw = desired(&mut k, &v6).firewall.unwrap();
    assert_eq!(
        fw.descriptors(),
        [
            "net lan nat virbr0 nat6",
            "sub lan 192.168.122.0/24",
            "sub lan fd42::/64",
            "net guests internal br-guest",
            "fwd lan tcp 2001:db8::1 8080 fd42::10 80",
        ]
    );
}

/// A forward without `host_addr` is dual-stack: every local address of each family the
/// NIC has an address of, to that address (IPv4 only for a NIC with `ip` only, IPv6 only
/// for one with `ip6` only).
#[test]
fn a_forward_without_host_addr_serves_each_family_of_the_nic() {
    let dual = NAT
        .replace(
            "address = \"192.168.122.1/24\"\n",
            "address = \"192.168.122.1/24\"\naddress6 = \"fd42:122::1/64\"\n",
        )
        .replace(
            "ip = \"192.168.122.11\"\n",
            "ip = \"192.168.122.11\"\nip6 = \"fd42:122::11\"\n",
        )
        .replace(
            "name = \"fixed\"\n",
            "name = \"fixed\"\n[network.dhcp6]\nmode = \"stateful\"\n",
        );
    let forwards = |text: &str| -> Vec<String> {
        let c = cfg(text);
        let want = desired(&mut kernel(), &c);
        let fw = want.firewall.expect("a firewall intent");
        fw.forwards().iter().map(ToString::to_string).collect()
    };
    assert_eq!(
        forwards(&dual),
        [
            "tcp port 8080 → 192.168.122.11:80 (network default)",
            "tcp port 8080 → [fd42:122::11]:80 (network default)",
        ]
    );
    assert_eq!(
        forwards(NAT),
        ["tcp port 8080 → 192.168.122.11:80 (network default)"]
    );
    let v6_only = dual.replace("ip = \"192.168.122.11\"\n", "");
    assert_eq!(
        forwards(&v6_only),
        ["tcp port 8080 → [fd42:122::11]:80 (network default)"]
    );
}
