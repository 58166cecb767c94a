//! Routed (`vif-route`, `vif-route-ifup`) and NAT (`vif-nat`) vifs, and anti-spoofing, against
//! a real xenstored 4.17 (fakexen shim) and real links: per test a "host" namespace (dom0),
//! a "guest" namespace holding the guest end of a veth that stands in for netback's vif, and
//! an "outside" namespace on the host's uplink (another veth). Runs the `hvnet` binary the way
//! libxl runs a vif script (build it first: `cargo build --bins`). Needs root; skips otherwise.

#![allow(clippy::unwrap_used)]

mod common;

use common::{link_local, ok, Call, Netns, TempDir, Xenstored};

const HOST: &str = "192.168.1.20";
const OUTSIDE: &str = "192.168.1.1";

/// A host namespace with uplink `up0` (192.168.1.20/24, default via .1) to an outside
/// namespace (`out0`, 192.168.1.1/24).
struct World {
    xs: Xenstored,
    host: Netns,
    outside: Netns,
    locks: TempDir,
}

impl World {
    fn new() -> World {
        let host = Netns::new();
        let outside = Netns::new();
        host.veth("up0", &outside, "out0");
        host.ip(&["addr", "add", &format!("{HOST}/24"), "dev", "up0"]);
        host.ip(&["link", "set", "up0", "up"]);
        host.ip(&["route", "add", "default", "via", OUTSIDE]);
        outside.ip(&["addr", "add", &format!("{OUTSIDE}/24"), "dev", "out0"]);
        outside.ip(&["link", "set", "out0", "up"]);
        World {
            xs: Xenstored::start(),
            host,
            outside,
            locks: TempDir::new(),
        }
    }

    fn call(&self, ids: (u32, u32)) -> Call<'_> {
        Call {
            xs: &self.xs,
            ns: &self.host,
            lock_dir: &self.locks.0,
            ids,
            tap: false,
            argv0: None,
            env: &[],
        }
    }

    fn be(&self, ids: (u32, u32), key: &str) -> Option<String> {
        self.xs.read(&format!(
            "/local/domain/0/backend/vif/{}/{}/{key}",
            ids.0, ids.1
        ))
    }

    /// A guest namespace whose `g0` is the peer of the host's `vif`, with `addr` (`/len`),
    /// a host route to `gw` and a default route via it.
    fn guest(&self, vif: &str, addr: &str, gw: &str) -> Netns {
        let g = Netns::new();
        self.host.veth(vif, &g, "g0");
        g.ip(&["link", "set", "g0", "up"]);
        g.ip(&["addr", "add", addr, "dev", "g0"]);
        if !addr.ends_with("/16") {
            g.ip(&["route", "add", gw, "dev", "g0"]);
        }
        g.ip(&["route", "add", "default", "via", gw, "dev", "g0"]);
        g
    }

    /// `iptables -t TABLE -S` in the host.
    fn rules(&self, table: &str) -> String {
        self.host.exec_ok(&["iptables", "-w", "-t", table, "-S"])
    }

    /// How many rules of `dev` (comment `hvnet-xen:DEV`) the host has, in both tables.
    fn owned(&self, dev: &str) -> usize {
        let tag = format!("--comment \"hvnet-xen:{dev}\"");
        ["filter", "nat"]
            .iter()
            .map(|t| self.rules(t).lines().filter(|l| l.contains(&tag)).count())
            .sum()
    }

    /// The packet counter of `dev`'s DROP rule.
    fn drops(&self, dev: &str) -> u64 {
        let tag = format!("--comment \"hvnet-xen:{dev}\"");
        let listing = self
            .host
            .exec_ok(&["iptables", "-w", "-v", "-S", "HVNET-XEN"]);
        let line = listing
            .lines()
            .find(|l| l.contains(&tag) && l.ends_with("-j DROP"))
            .unwrap_or_else(|| panic!("no DROP rule for {dev}:\n{listing}"));
        let w: Vec<&str> = line.split_whitespace().collect();
        let c = w.iter().position(|x| *x == "-c").unwrap();
        w[c + 1].parse().unwrap()
    }

    fn sysctl(&self, key: &str) -> String {
        self.host
            .exec_ok(&["cat", &format!("/proc/sys/{key}")])
            .trim()
            .to_owned()
    }
}

fn ping(ns: &Netns, args: &[&str]) -> bool {
    let mut a = vec!["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1"];
    a.extend_from_slice(args);
    ns.exec(&a).status.success()
}

const ROUTE: (&str, &str) = ("script", "/etc/xen/scripts/vif-route");
const NAT: (&str, &str) = ("script", "/etc/xen/scripts/vif-nat");

#[test]
fn routed_online_offline_earth_alice() {
    require_env!();
    let w = World::new();
    // alice: 192.168.1.21, in the uplink's subnet.
    let g = w.guest("vif5.0", "192.168.1.21/32", HOST);
    w.xs.add_vif(5, 0, None, &[ROUTE, ("ip", "192.168.1.21")]);
    ok(&w.call((5, 0)).run("online"));
    assert_eq!(w.be((5, 0), "hotplug-status").as_deref(), Some("connected"));

    let addrs = w
        .host
        .exec_ok(&["ip", "-4", "-o", "addr", "show", "dev", "vif5.0"]);
    assert!(addrs.contains(&format!("inet {HOST}/32")), "{addrs}");
    let routes = w
        .host
        .exec_ok(&["ip", "-4", "route", "show", "dev", "vif5.0"]);
    assert!(
        routes.contains(&format!("192.168.1.21 scope link src {HOST} metric 2")),
        "{routes}"
    );
    assert_eq!(w.sysctl("net/ipv4/conf/vif5.0/proxy_arp"), "1");
    assert_eq!(
        w.sysctl("net/ipv4/conf/up0/proxy_arp"),
        "1",
        "guest on the LAN"
    );
    assert_eq!(w.sysctl("net/ipv4/ip_forward"), "1");
    assert!(w.host.link("vif5.0").unwrap().up);
    assert_eq!(w.owned("vif5.0"), 4, "{}", w.rules("filter"));
    let filter = w.rules("filter");
    assert!(
        filter.contains("-A FORWARD -m comment --comment hvnet -j HVNET-XEN"),
        "{filter}"
    );

    // The LAN reaches alice through the host's proxy ARP, and alice the LAN.
    assert!(ping(&w.outside, &["192.168.1.21"]), "outside -> guest");
    assert!(ping(&g, &[OUTSIDE]), "guest -> outside");

    ok(&w.call((5, 0)).run("offline"));
    assert_eq!(w.owned("vif5.0"), 0, "{}", w.rules("filter"));
    let routes = w
        .host
        .exec_ok(&["ip", "-4", "route", "show", "dev", "vif5.0"]);
    assert_eq!(routes.trim(), "");
    let addrs = w
        .host
        .exec_ok(&["ip", "-4", "-o", "addr", "show", "dev", "vif5.0"]);
    assert_eq!(addrs.trim(), "");
    assert!(!w.host.link("vif5.0").unwrap().up);
    assert!(!ping(&w.outside, &["192.168.1.21"]));
}

#[test]
fn routed_guest_reachable_via_host_route_and_spoofing_dropped() {
    require_env!();
    let w = World::new();
    let g = w.guest("vif7.0", "10.99.0.5/32", HOST);
    w.outside.ip(&["route", "add", "10.99.0.0/24", "via", HOST]);
    w.xs.add_vif(7, 0, None, &[ROUTE, ("ip", "10.99.0.5")]);
    let call = Call {
        argv0: Some("vif-route"),
        env: &[("netdev", "up0")],
        ..w.call((7, 0))
    };
    ok(&call.run("online"));
    assert_eq!(w.be((7, 0), "hotplug-status").as_deref(), Some("connected"));
    assert_eq!(
        w.sysctl("net/ipv4/conf/up0/proxy_arp"),
        "0",
        "guest not on the LAN"
    );
    assert!(ping(&w.outside, &["10.99.0.5"]), "outside -> guest");

    // A second address on the guest: its packets must not leave the vif.
    g.ip(&["addr", "add", "10.99.0.66/32", "dev", "g0"]);
    let before = w.drops("vif7.0");
    assert!(
        !ping(&g, &["-I", "10.99.0.66", OUTSIDE]),
        "spoofed source got a reply"
    );
    let after = w.drops("vif7.0");
    assert!(after >= before + 3, "DROP counter {before} -> {after}");
    assert!(
        ping(&g, &["-I", "10.99.0.5", OUTSIDE]),
        "the real address still works"
    );
    assert_eq!(w.drops("vif7.0"), after);
}

#[test]
fn repeated_online_is_idempotent_and_offline_of_a_vanished_vif_cleans_up() {
    require_env!();
    let w = World::new();
    w.host.fake_vif("vif5.0");
    w.xs.add_vif(5, 0, None, &[ROUTE, ("ip", "10.99.0.5 10.99.2.0/28")]);
    ok(&w.call((5, 0)).run("online"));
    let filter = w.rules("filter");
    let routes = w
        .host
        .exec_ok(&["ip", "-4", "route", "show", "dev", "vif5.0"]);
    assert_eq!(w.owned("vif5.0"), 6, "{filter}");
    let mark = w.locks.0.join("hvnet-xen/vif-guards/vif5.0");
    assert!(mark.exists(), "a device with rules has a mark");
    w.xs.write(&[("/local/domain/0/backend/vif/5/0/hotplug-status", "")]);
    ok(&w.call((5, 0)).run("online"));
    assert_eq!(w.be((5, 0), "hotplug-status").as_deref(), Some("connected"));
    assert_eq!(w.rules("filter"), filter, "no rule added or moved");
    assert_eq!(
        w.host
            .exec_ok(&["ip", "-4", "route", "show", "dev", "vif5.0"]),
        routes
    );
    assert!(routes.contains("10.99.2.0/28"), "{routes}");
    let hooks = filter
        .lines()
        .filter(|l| l.ends_with("-j HVNET-XEN"))
        .count();
    assert_eq!(hooks, 1);

    // netback deleted the vif before offline.
    w.host.ip(&["link", "del", "vif5.0"]);
    ok(&w.call((5, 0)).run("offline"));
    assert_eq!(w.owned("vif5.0"), 0, "{}", w.rules("filter"));
    assert!(!mark.exists(), "the mark goes with the rules");
}

#[test]
fn route_ifup_without_ip_key_addresses_and_leaves_the_vif_open() {
    require_env!();
    let w = World::new();
    w.host.fake_vif("vif5.0");
    w.xs.add_vif(
        5,
        0,
        None,
        &[
            ("script", "/etc/xen/scripts/vif-route-ifup"),
            ("vifname", "vifalice.0"),
        ],
    );
    let sysconfig = w.locks.0.join("sysconfig");
    std::fs::create_dir_all(&sysconfig).unwrap();
    let call = Call {
        argv0: Some("vif-route-ifup"),
        env: &[("HVNET_XEN_SYSCONFIG_DIR", &*sysconfig.to_string_lossy())],
        ..w.call((5, 0))
    };
    ok(&call.run("online"));
    assert_eq!(w.be((5, 0), "hotplug-status").as_deref(), Some("connected"));
    let addrs = w
        .host
        .exec_ok(&["ip", "-4", "-o", "addr", "show", "dev", "vifalice.0"]);
    assert!(addrs.contains(&format!("inet {HOST}/32")), "{addrs}");
    assert_eq!(w.sysctl("net/ipv4/conf/vifalice.0/proxy_arp"), "1");
    // No ip key: nothing to restrict to (as the stock scripts), so in and out accepted.
    assert_eq!(w.owned("vifalice.0"), 2);
    ok(&call.run("offline"));
    assert_eq!(w.owned("vifalice.0"), 0);
}

#[test]
fn nat_online_masquerades_and_writes_the_dhcp_entry() {
    require_env!();
    let w = World::new();
    // Domain 5, device 0: guest 10.0.5.1/16, router 10.0.5.128 (as the stock vif-nat).
    let g = w.guest("vif5.0", "10.0.5.1/16", "10.0.5.128");
    // The default address spelled out, with the guest's netmask, as vif-nat accepts it.
    w.xs.add_vif(5, 0, None, &[NAT, ("ip", "10.0.5.1/16")]);
    let hosts = w.locks.0.join("dhcp/dhcp-hosts");
    let call = Call {
        env: &[("HVNET_XEN_DHCP_HOSTS", &*hosts.to_string_lossy())],
        ..w.call((5, 0))
    };
    ok(&call.run("online"));
    assert_eq!(w.be((5, 0), "hotplug-status").as_deref(), Some("connected"));
    let addrs = w
        .host
        .exec_ok(&["ip", "-4", "-o", "addr", "show", "dev", "vif5.0"]);
    assert!(addrs.contains("inet 10.0.5.128/32"), "{addrs}");
    let routes = w
        .host
        .exec_ok(&["ip", "-4", "route", "show", "dev", "vif5.0"]);
    assert!(
        routes.contains("10.0.5.1 scope link src 10.0.5.128"),
        "{routes}"
    );
    let nat = w.rules("nat");
    assert!(
        nat.contains(
            "-A HVNET-XNAT -s 10.0.5.1/32 -o up0 -m comment --comment \"hvnet-xen:vif5.0\" -j MASQUERADE"
        ),
        "{nat}"
    );
    assert!(
        nat.contains("-A POSTROUTING -m comment --comment hvnet -j HVNET-XNAT"),
        "{nat}"
    );
    assert_eq!(
        std::fs::read_to_string(&hosts).unwrap(),
        "00:16:3e:00:05:00,10.0.5.1,dom5\n"
    );

    // The outside has no route to 10.0.0.0/16: a reply proves it saw the host's address.
    assert!(
        ping(&g, &[OUTSIDE]),
        "guest -> outside through the masquerade"
    );
    let seen = w.outside.exec_ok(&["ip", "neigh", "show", "dev", "out0"]);
    assert!(seen.contains(HOST) && !seen.contains("10.0.5."), "{seen}");
    let counted = w
        .host
        .exec_ok(&["iptables", "-w", "-t", "nat", "-v", "-S", "HVNET-XNAT"]);
    assert!(!counted.contains("-c 0 0 -j MASQUERADE"), "{counted}");

    // Idempotent, and offline removes everything.
    let n = w.owned("vif5.0");
    assert_eq!(n, 5, "4 filter + 1 nat");
    ok(&call.run("online"));
    assert_eq!(w.owned("vif5.0"), n);
    ok(&call.run("offline"));
    assert_eq!(w.owned("vif5.0"), 0);
    assert_eq!(std::fs::read_to_string(&hosts).unwrap(), "");
    let addrs = w
        .host
        .exec_ok(&["ip", "-4", "-o", "addr", "show", "dev", "vif5.0"]);
    assert_eq!(addrs.trim(), "");
}

#[test]
fn sixteen_concurrent_routed_onlines_all_connect() {
    require_env!();
    const N: u32 = 16;
    let w = World::new();
    for i in 0..N {
        w.host.fake_vif(&format!("vif{}.0", 20 + i));
        let ip = format!("10.99.1.{}", i + 1);
        w.xs.add_vif(20 + i, 0, None, &[ROUTE, ("ip", &ip)]);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let call = w.call((20 + i, 0));
                s.spawn(move || call.run("online"))
            })
            .collect();
        for h in handles {
            ok(&h.join().unwrap());
        }
    });
    let filter = w.rules("filter");
    for i in 0..N {
        assert_eq!(
            w.be((20 + i, 0), "hotplug-status").as_deref(),
            Some("connected")
        );
        let tag = format!("--comment \"hvnet-xen:vif{}.0\"", 20 + i);
        assert_eq!(
            filter.lines().filter(|l| l.contains(&tag)).count(),
            4,
            "{filter}"
        );
    }
    assert_eq!(
        filter
            .lines()
            .filter(|l| l.ends_with("-j HVNET-XEN"))
            .count(),
        1,
        "{filter}"
    );
    let routes = w
        .host
        .exec_ok(&["ip", "-4", "route", "show", "proto", "boot"]);
    assert_eq!(
        routes.lines().filter(|l| l.starts_with("10.99.1.")).count(),
        N as usize,
        "{routes}"
    );
}

#[test]
fn bridged_anti_spoof_with_ip_key() {
    require_env!();
    let w = World::new();
    let brnf = w
        .host
        .exec(&["cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"]);
    if !brnf.status.success() || String::from_utf8_lossy(&brnf.stdout).trim() != "1" {
        eprintln!(
            "SKIPPED: br_netfilter is not active in a new namespace \
             (/proc/sys/net/bridge/bridge-nf-call-iptables missing or 0; modprobe br_netfilter)"
        );
        return;
    }
    w.host.bridge("xenbr0", 1500);
    // A LAN host on the bridge.
    let lan = Netns::new();
    w.host.veth("port0", &lan, "l0");
    w.host
        .ip(&["link", "set", "port0", "master", "xenbr0", "up"]);
    lan.ip(&["addr", "add", "192.168.50.1/24", "dev", "l0"]);
    lan.ip(&["link", "set", "l0", "up"]);
    let g = w.guest("vif5.0", "192.168.50.5/24", "192.168.50.1");
    w.xs.add_vif(5, 0, Some("xenbr0"), &[("ip", "192.168.50.5")]);
    ok(&w.call((5, 0)).run("online"));
    assert_eq!(
        w.host.link("vif5.0").unwrap().master.as_deref(),
        Some("xenbr0")
    );
    assert_eq!(w.owned("vif5.0"), 4, "{}", w.rules("filter"));
    let filter = w.rules("filter");
    ok(&w.call((5, 0)).run("online"));
    assert_eq!(w.rules("filter"), filter, "repeated online changes nothing");
    assert!(ping(&g, &["192.168.50.1"]), "guest -> lan");

    g.ip(&["addr", "add", "192.168.50.66/24", "dev", "g0"]);
    let before = w.drops("vif5.0");
    assert!(
        !ping(&g, &["-I", "192.168.50.66", "192.168.50.1"]),
        "spoofed source got a reply"
    );
    assert!(w.drops("vif5.0") >= before + 3);

    ok(&w.call((5, 0)).run("offline"));
    assert_eq!(w.owned("vif5.0"), 0);
}

#[test]
fn rules_recorded_by_an_older_hvnet_are_still_removed() {
    require_env!();
    let w = World::new();
    w.host.fake_vif("vif5.0");
    w.xs.add_vif(5, 0, None, &[ROUTE, ("ip", "10.99.0.5")]);
    ok(&w.call((5, 0)).run("online"));
    assert_eq!(w.owned("vif5.0"), 4);
    // As an hvnet before the engine left it: an empty mark, no record.
    std::fs::remove_file(w.locks.0.join("hvnet-xen/vif-guards/vif5.0")).unwrap();
    let legacy = w.locks.0.join("hvnet-xen-rules");
    std::fs::create_dir_all(&legacy).unwrap();
    std::fs::write(legacy.join("vif5.0"), b"").unwrap();
    ok(&w.call((5, 0)).run("offline"));
    assert_eq!(w.owned("vif5.0"), 0, "{}", w.rules("filter"));
    assert!(!legacy.join("vif5.0").exists());
}

/// `vif-route` with IPv6 `ip=` entries beside an IPv4 one: a host route per entry on the
/// vif, IPv6 forwarding on, the uplink's `accept_ra` 1 → 2 (only that uplink); the guest,
/// routing via the vif's link-local address, and an outside that routes the guest's prefix
/// via the host reach each other; a second `online` changes nothing; `offline` removes the
/// IPv6 routes with the IPv4 ones. A bad IPv6 entry is refused before anything is touched.
#[test]
fn routed_ipv6_entries_get_host_routes_and_forwarding() {
    require_env!();
    let w = World::new();
    let sysctl_w = |ns: &Netns, kv: &str| {
        ns.exec_ok(&["sysctl", "-q", "-w", kv]);
    };
    sysctl_w(&w.host, "net.ipv6.conf.up0.accept_dad=0");
    sysctl_w(&w.outside, "net.ipv6.conf.out0.accept_dad=0");
    sysctl_w(&w.host, "net.ipv6.conf.up0.accept_ra=1");
    w.host
        .ip(&["-6", "addr", "add", "fd00:99::20/64", "dev", "up0", "nodad"]);
    w.outside
        .ip(&["-6", "addr", "add", "fd00:99::1/64", "dev", "out0", "nodad"]);
    w.outside.ip(&[
        "-6",
        "route",
        "add",
        "2001:db8:99::/64",
        "via",
        "fd00:99::20",
    ]);
    let g = w.guest("vif8.0", "10.99.0.8/32", HOST);
    sysctl_w(&g, "net.ipv6.conf.g0.accept_dad=0");
    g.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:99::8/128",
        "dev",
        "g0",
        "nodad",
    ]);
    w.xs.add_vif(
        8,
        0,
        None,
        &[ROUTE, ("ip", "10.99.0.8 2001:db8:99::8 2001:db8:99:1::/64")],
    );
    let forwarding_before = w.sysctl("net/ipv6/conf/all/forwarding");
    assert_eq!(forwarding_before, "0");
    ok(&w.call((8, 0)).run("online"));
    assert_eq!(w.be((8, 0), "hotplug-status").as_deref(), Some("connected"));
    let routes = w
        .host
        .exec_ok(&["ip", "-6", "route", "show", "dev", "vif8.0"]);
    for want in ["2001:db8:99::8 metric 2", "2001:db8:99:1::/64 metric 2"] {
        assert!(routes.contains(want), "{want:?} not in\n{routes}");
    }
    assert_eq!(w.sysctl("net/ipv6/conf/all/forwarding"), "1");
    assert_eq!(w.sysctl("net/ipv6/conf/up0/accept_ra"), "2");
    assert_eq!(
        w.sysctl("net/ipv6/conf/up0/proxy_ndp"),
        "0",
        "guest not on the LAN"
    );
    // The guest routes via the vif's link-local address.
    let ll = link_local(&w.host, "vif8.0");
    g.ip(&["-6", "route", "add", "default", "via", &ll, "dev", "g0"]);
    assert!(ping6(&g, "fd00:99::1"), "guest -> outside over IPv6");
    assert!(
        ping6(&w.outside, "2001:db8:99::8"),
        "outside -> guest over IPv6"
    );

    let before = routes;
    ok(&w.call((8, 0)).run("online"));
    let after = w
        .host
        .exec_ok(&["ip", "-6", "route", "show", "dev", "vif8.0"]);
    assert_eq!(after, before, "a second online changed the routes");

    ok(&w.call((8, 0)).run("offline"));
    let left = w
        .host
        .exec_ok(&["ip", "-6", "route", "show", "dev", "vif8.0"]);
    assert!(!left.contains("2001:db8"), "{left}");

    // A bad entry: refused, nothing changed.
    w.xs.add_vif(9, 0, None, &[ROUTE, ("ip", "2001:db8:99::8/64")]);
    w.host.fake_vif("vif9.0");
    let out = w.call((9, 0)).run("online");
    assert!(
        !out.status.success(),
        "a prefix with host bits was accepted"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("host bits"), "{err}");
    let routes9 = w
        .host
        .exec_ok(&["ip", "-6", "route", "show", "dev", "vif9.0"]);
    assert!(!routes9.contains("2001:db8"), "{routes9}");
}

/// A routed guest whose IPv6 address lies in the uplink's prefix (the IPv6 earth/alice):
/// `proxy_ndp` on the uplink and a proxy entry for the guest there, so the LAN reaches the
/// guest on-link through the host; `offline` removes the entry.
#[test]
fn routed_ipv6_guest_on_the_lan_is_proxied() {
    require_env!();
    let w = World::new();
    for (ns, kv) in [
        (&w.host, "net.ipv6.conf.up0.accept_dad=0"),
        (&w.outside, "net.ipv6.conf.out0.accept_dad=0"),
    ] {
        ns.exec_ok(&["sysctl", "-q", "-w", kv]);
    }
    w.host
        .ip(&["-6", "addr", "add", "fd00:99::20/64", "dev", "up0", "nodad"]);
    w.outside
        .ip(&["-6", "addr", "add", "fd00:99::1/64", "dev", "out0", "nodad"]);
    let g = w.guest("vif6.0", "10.99.0.6/32", HOST);
    g.exec_ok(&["sysctl", "-q", "-w", "net.ipv6.conf.g0.accept_dad=0"]);
    g.ip(&["-6", "addr", "add", "fd00:99::30/128", "dev", "g0", "nodad"]);
    w.xs.add_vif(6, 0, None, &[ROUTE, ("ip", "10.99.0.6 fd00:99::30")]);
    ok(&w.call((6, 0)).run("online"));
    assert_eq!(w.sysctl("net/ipv6/conf/up0/proxy_ndp"), "1");
    let proxies = w.host.exec_ok(&["ip", "-6", "neigh", "show", "proxy"]);
    assert!(
        proxies.contains("fd00:99::30 dev up0 proxy"),
        "no proxy entry:\n{proxies}"
    );
    let ll = link_local(&w.host, "vif6.0");
    g.ip(&["-6", "route", "add", "default", "via", &ll, "dev", "g0"]);
    // The outside has no route: the guest is on-link for it, answered for by the host.
    assert!(
        ping6(&w.outside, "fd00:99::30"),
        "LAN -> guest over proxy NDP"
    );
    assert!(ping6(&g, "fd00:99::1"), "guest -> LAN");
    ok(&w.call((6, 0)).run("online"));
    let again = w.host.exec_ok(&["ip", "-6", "neigh", "show", "proxy"]);
    assert_eq!(again, proxies, "a second online changed the proxy entries");

    ok(&w.call((6, 0)).run("offline"));
    let left = w.host.exec_ok(&["ip", "-6", "neigh", "show", "proxy"]);
    assert!(!left.contains("fd00:99::30"), "{left}");
}

/// `ping -6` from `ns` to `to`, up to 10 tries (neighbour discovery, DAD of the far end).
fn ping6(ns: &Netns, to: &str) -> bool {
    (0..10).any(|_| {
        ns.exec(&["ping", "-6", "-n", "-c", "1", "-W", "1", to])
            .status
            .success()
    })
}
