//! The vifs' anti-spoofing guards on each firewall backend, IPv4 and IPv6, against a real
//! xenstored (fakexen shim) and real links: a host namespace (dom0) with a bridge and an
//! uplink, a LAN namespace on the bridge, an outside namespace on the uplink, and a guest
//! namespace per vif (the guest end of a veth standing in for netback's vif). The hotplug
//! runs with a `PATH` that has only one firewall tool (`--firewall auto` picks it): nft
//! without any iptables binary, or iptables without nft. Needs root; skips otherwise.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Output;

use common::{link_local, ok, Call, Netns, TempDir, Xenstored};

const HOST: &str = "192.168.1.20";
const OUTSIDE: &str = "192.168.1.1";
const HOST6: &str = "fd00:99::20";
const OUTSIDE6: &str = "fd00:99::1";
const LAN: &str = "192.168.50.1";
const LAN6: &str = "fd50::1";

struct World {
    xs: Xenstored,
    host: Netns,
    _outside: Netns,
    _lan: Netns,
    locks: TempDir,
    path: String,
}

fn sysctl(ns: &Netns, kv: &str) {
    ns.exec_ok(&["sysctl", "-q", "-w", kv]);
}

impl World {
    /// The namespaces, the uplink `up0` (IPv4 and IPv6) to the outside, and `xenbr0` with
    /// a LAN host on it.
    fn new(keep: &str) -> World {
        let (host, outside, lan) = (Netns::new(), Netns::new(), Netns::new());
        host.veth("up0", &outside, "out0");
        sysctl(&host, "net.ipv6.conf.up0.accept_dad=0");
        sysctl(&outside, "net.ipv6.conf.out0.accept_dad=0");
        host.ip(&["addr", "add", &format!("{HOST}/24"), "dev", "up0"]);
        host.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{HOST6}/64"),
            "dev",
            "up0",
            "nodad",
        ]);
        host.ip(&["link", "set", "up0", "up"]);
        host.ip(&["route", "add", "default", "via", OUTSIDE]);
        outside.ip(&["addr", "add", &format!("{OUTSIDE}/24"), "dev", "out0"]);
        outside.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{OUTSIDE6}/64"),
            "dev",
            "out0",
            "nodad",
        ]);
        outside.ip(&["link", "set", "out0", "up"]);
        outside.ip(&["route", "add", "10.99.0.0/24", "via", HOST]);
        outside.ip(&["-6", "route", "add", "2001:db8:99::/64", "via", HOST6]);
        host.bridge("xenbr0", 1500);
        host.veth("port0", &lan, "l0");
        host.ip(&["link", "set", "port0", "master", "xenbr0", "up"]);
        sysctl(&lan, "net.ipv6.conf.l0.accept_dad=0");
        lan.ip(&["addr", "add", &format!("{LAN}/24"), "dev", "l0"]);
        lan.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{LAN6}/64"),
            "dev",
            "l0",
            "nodad",
        ]);
        lan.ip(&["link", "set", "l0", "up"]);
        let locks = TempDir::new();
        let path = common::firewall_only_path(&locks.0, keep);
        World {
            xs: Xenstored::start(),
            host,
            _outside: outside,
            _lan: lan,
            locks,
            path,
        }
    }

    /// A guest namespace whose `g0` is the peer of the host's `vif`, with its addresses.
    fn guest(&self, vif: &str, addrs: &[&str]) -> Netns {
        let g = Netns::new();
        self.host.veth(vif, &g, "g0");
        sysctl(&g, "net.ipv6.conf.g0.accept_dad=0");
        g.ip(&["link", "set", "g0", "up"]);
        for a in addrs {
            let mut args = vec!["addr", "add", a, "dev", "g0"];
            if a.contains(':') {
                args.push("nodad");
            }
            g.ip(&args);
        }
        g
    }

    /// The hotplug call of `ids`, on the one-tool `PATH`, backend `auto`.
    fn run(&self, ids: (u32, u32), script: &str, action: &str) -> Output {
        self.run_with(ids, script, action, &[("PATH", self.path.as_str())])
    }

    /// The hotplug call of `ids` with `env` (backend `auto` unless it says otherwise).
    fn run_with(
        &self,
        ids: (u32, u32),
        script: &str,
        action: &str,
        env: &[(&str, &str)],
    ) -> Output {
        let mut env = env.to_vec();
        env.insert(0, ("HVNET_FIREWALL", "auto"));
        env.push(("script", script));
        let call = Call {
            xs: &self.xs,
            ns: &self.host,
            lock_dir: &self.locks.0,
            ids,
            tap: false,
            argv0: None,
            env: &env,
        };
        call.run(action)
    }

    /// What the host's firewall holds of hvnet's vif guards, as the backend's tool lists it.
    fn listing(&self, keep: &str) -> String {
        if keep == "nft" {
            let tables = self.host.exec_ok(&["nft", "list", "tables"]);
            let mut s = String::new();
            for fam in ["bridge", "inet"] {
                if tables.contains(&format!("table {fam} hvnet_xen")) {
                    s.push_str(&self.host.exec_ok(&[
                        "nft",
                        "-s",
                        "list",
                        "table",
                        fam,
                        "hvnet_xen",
                    ]));
                }
            }
            s
        } else {
            let mut s = String::new();
            for tool in ["iptables", "ip6tables"] {
                for t in ["filter", "nat"] {
                    let l = self.host.exec_ok(&[tool, "-w", "-t", t, "-S"]);
                    s.extend(
                        l.lines()
                            .filter(|l| l.contains("HVNET-X"))
                            .map(|l| format!("{tool} {l}\n")),
                    );
                }
            }
            s
        }
    }

    /// For each `(own, spoofed, peer)`: `g` reaches `peer` from its `own` address; from
    /// the `spoofed` one (added to `g0`) it does not, and `dev`'s drop rule counts it.
    fn spoofing(
        &self,
        keep: &str,
        g: &Netns,
        dev: &str,
        bridged: bool,
        cases: &[(&str, &str, &str)],
    ) {
        let fw = |what: &str| format!("{what} ({keep}):\n{}", self.listing(keep));
        for (own, spoofed, peer) in cases {
            assert!(ping(g, own, peer), "{}", fw(&format!("{own} -> {peer}")));
            let fam = if own.contains(':') { 6 } else { 4 };
            let mut add = vec!["-6", "addr", "add", spoofed, "dev", "g0", "nodad"];
            if fam == 4 {
                add = vec!["addr", "add", spoofed, "dev", "g0"];
            }
            g.ip(&add);
            let from = spoofed.split('/').next().unwrap();
            let before = self.drops(keep, dev, bridged, fam);
            assert!(
                !ping(g, from, peer),
                "{}",
                fw(&format!("spoofed {from} got a reply"))
            );
            let after = self.drops(keep, dev, bridged, fam);
            assert!(
                after >= before + 3,
                "{dev} IPv{fam} drops {before} -> {after}"
            );
        }
    }

    /// The packets counted by `dev`'s drop rule of `family` (`4` or `6`).
    fn drops(&self, keep: &str, dev: &str, bridged: bool, family: u8) -> u64 {
        // The listing, and what the drop rule's line contains.
        let (listing, needles) = if keep == "nft" {
            let (fam, what) = match (bridged, family) {
                (true, 4) => ("bridge", "ether type ip counter".to_owned()),
                (true, _) => ("bridge", "ether type ip6 counter".to_owned()),
                (false, f) => ("inet", format!("meta nfproto ipv{f} counter")),
            };
            let chain = format!("v_{dev}");
            let l = self
                .host
                .exec_ok(&["nft", "list", "chain", fam, "hvnet_xen", &chain]);
            (l, vec![what])
        } else {
            let tool = if family == 4 { "iptables" } else { "ip6tables" };
            let l = self.host.exec_ok(&[tool, "-w", "-v", "-S", "HVNET-XEN"]);
            (l, vec![format!("hvnet-xen:{dev}\""), "-j DROP".to_owned()])
        };
        let line = listing
            .lines()
            .find(|l| needles.iter().all(|n| l.contains(n.as_str())))
            .unwrap_or_else(|| panic!("no IPv{family} drop rule of {dev}:\n{listing}"));
        let w: Vec<&str> = line.split_whitespace().collect();
        let at = w
            .iter()
            .position(|x| *x == "packets" || *x == "-c")
            .unwrap_or_else(|| panic!("no counter in {line}"));
        w[at + 1].parse().unwrap()
    }
}

/// `ping` (`-6` for an IPv6 destination) from `ns`, `from` a source address; a few tries
/// (neighbour discovery).
fn ping(ns: &Netns, from: &str, to: &str) -> bool {
    let fam = if to.contains(':') { "-6" } else { "-4" };
    (0..3).any(|_| {
        ns.exec(&["ping", fam, "-n", "-c", "1", "-W", "1", "-I", from, to])
            .status
            .success()
    })
}

/// Whether the iptables backend can see bridged traffic here (br_netfilter in new
/// namespaces, for both families).
fn br_netfilter_active(ns: &Netns) -> bool {
    ["iptables", "ip6tables"].iter().all(|t| {
        let out = ns.exec(&["cat", &format!("/proc/sys/net/bridge/bridge-nf-call-{t}")]);
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "1"
    })
}

const BRIDGE: &str = "/etc/xen/scripts/vif-bridge";
const ROUTE: &str = "/etc/xen/scripts/vif-route";
const NAT: &str = "/etc/xen/scripts/vif-nat";

/// A bridged vif (vif5.0) and a routed one (vif7.0), both with IPv4 and IPv6 `ip=`
/// entries, on the backend `keep`: the guests' own addresses get through, spoofed ones
/// are dropped (the drop rules count them), a repeated online changes nothing, offline
/// removes a vif's rules and the last one leaves nothing of hvnet's.
fn guards_on(keep: &str) {
    let w = World::new(keep);
    let bridged = keep == "nft" || br_netfilter_active(&w.host);
    if !bridged {
        eprintln!("bridged part SKIPPED: br_netfilter is not active in a new namespace");
    }
    let gb = w.guest("vif5.0", &["192.168.50.5/24", "fd50::5/64"]);
    if bridged {
        w.xs.add_vif(5, 0, Some("xenbr0"), &[("ip", "192.168.50.5 fd50::5")]);
        ok(&w.run((5, 0), BRIDGE, "online"));
    }
    let gr = w.guest("vif7.0", &["10.99.0.5/32", "2001:db8:99::5/128"]);
    gr.ip(&["route", "add", HOST, "dev", "g0"]);
    gr.ip(&["route", "add", "default", "via", HOST, "dev", "g0"]);
    w.xs.add_vif(
        7,
        0,
        None,
        &[("script", ROUTE), ("ip", "10.99.0.5 2001:db8:99::5")],
    );
    ok(&w.run((7, 0), ROUTE, "online"));
    let ll = link_local(&w.host, "vif7.0");
    gr.ip(&["-6", "route", "add", "default", "via", &ll, "dev", "g0"]);

    let listing = w.listing(keep);
    if keep == "nft" {
        assert!(!listing.contains("HVNET"), "{listing}");
        assert!(listing.contains("table inet hvnet_xen"), "{listing}");
    } else {
        assert!(listing.contains("ip6tables -A HVNET-XEN"), "{listing}");
    }
    // Each guest, from its own addresses and from spoofed ones.
    let routed = [
        ("10.99.0.5", "10.99.0.66/32", OUTSIDE),
        ("2001:db8:99::5", "2001:db8:99::66/128", OUTSIDE6),
    ];
    w.spoofing(keep, &gr, "vif7.0", false, &routed);
    if bridged {
        let lan = [
            ("192.168.50.5", "192.168.50.66/24", LAN),
            ("fd50::5", "fd50::66/64", LAN6),
        ];
        w.spoofing(keep, &gb, "vif5.0", true, &lan);
    }

    // A repeated online writes nothing.
    let stateless = w.listing(keep);
    if bridged {
        ok(&w.run((5, 0), BRIDGE, "online"));
    }
    ok(&w.run((7, 0), ROUTE, "online"));
    assert_eq!(
        w.listing(keep),
        stateless,
        "a repeated online changed the rules"
    );

    // Offline: the routed vif's rules go, the bridged one's stay; the last takes all.
    ok(&w.run((7, 0), ROUTE, "offline"));
    let left = w.listing(keep);
    assert!(!left.contains("vif7.0"), "{left}");
    if bridged {
        assert!(left.contains("vif5.0"), "{left}");
        assert!(
            ping(&gb, "192.168.50.5", LAN),
            "bridged after the other's offline"
        );
        ok(&w.run((5, 0), BRIDGE, "offline"));
    }
    assert_eq!(w.listing(keep), "", "something of hvnet's is left");
    let tables = w.host.exec_ok(&["nft", "list", "tables"]);
    assert!(!tables.contains("hvnet"), "{tables}");
}

#[test]
fn guards_on_nftables_without_iptables() {
    require_env!();
    guards_on("nft");
}

#[test]
fn guards_on_iptables_without_nft() {
    require_env!();
    guards_on("iptables");
}

/// nftables on a host with both tools.
const NFT: &[(&str, &str)] = &[("HVNET_FIREWALL", "nftables")];

/// A guard iptables wrote (by an hvnet before the nftables renderer, or with `--firewall
/// iptables`) moves to nftables on the next change made with nftables, and a removal with
/// nftables removes iptables' rules too.
#[test]
fn guards_move_from_iptables_to_nftables() {
    require_env!();
    let w = World::new("nft");
    let _g = w.guest("vif7.0", &["10.99.0.5/32"]);
    w.xs.add_vif(7, 0, None, &[("script", ROUTE), ("ip", "10.99.0.5")]);
    ok(&w.run_with((7, 0), ROUTE, "online", &[("HVNET_FIREWALL", "iptables")]));
    assert!(w.listing("iptables").contains("hvnet-xen:vif7.0"));
    assert_eq!(w.listing("nft"), "");
    // A changed ip key, online with nftables: the rules move.
    w.xs.write(&[(
        "/local/domain/0/backend/vif/7/0/ip",
        "10.99.0.5 2001:db8:99::5",
    )]);
    ok(&w.run_with((7, 0), ROUTE, "online", NFT));
    assert_eq!(w.listing("iptables"), "");
    assert!(
        w.listing("nft").contains("2001:db8:99::5"),
        "{}",
        w.listing("nft")
    );
    ok(&w.run_with((7, 0), ROUTE, "offline", NFT));
    assert_eq!(w.listing("nft"), "");

    // Written by iptables, removed with nftables.
    ok(&w.run_with((7, 0), ROUTE, "online", &[("HVNET_FIREWALL", "iptables")]));
    assert!(w.listing("iptables").contains("hvnet-xen:vif7.0"));
    ok(&w.run_with((7, 0), ROUTE, "offline", NFT));
    assert_eq!(w.listing("iptables"), "");
    assert_eq!(w.listing("nft"), "");
}

/// `vif-nat` on a host with nft only: the guest's traffic leaves masqueraded (the outside
/// has no route back to 10.0.0.0/16, so a reply proves it), a spoofed source is dropped,
/// and offline leaves nothing of hvnet's.
#[test]
fn nat_guard_masquerades_on_nftables() {
    require_env!();
    let w = World::new("nft");
    let g = w.guest("vif5.0", &["10.0.5.1/16"]);
    g.ip(&["route", "add", "default", "via", "10.0.5.128", "dev", "g0"]);
    w.xs.add_vif(5, 0, None, &[("script", NAT), ("ip", "10.0.5.1/16")]);
    let hosts = w.locks.0.join("dhcp-hosts");
    let hosts = hosts.to_string_lossy();
    let env = [("PATH", w.path.as_str()), ("HVNET_XEN_DHCP_HOSTS", &*hosts)];
    ok(&w.run_with((5, 0), NAT, "online", &env));
    let listing = w.listing("nft");
    assert!(
        listing.contains("ip saddr 10.0.5.1 oifname \"up0\" masquerade"),
        "{listing}"
    );
    w.spoofing(
        "nft",
        &g,
        "vif5.0",
        false,
        &[("10.0.5.1", "10.0.5.66/32", OUTSIDE)],
    );
    ok(&w.run_with((5, 0), NAT, "offline", &env));
    assert_eq!(w.listing("nft"), "");
}
