//! Root-only integration tests of the firewall backends.
//!
//! Every iptables/nft command (listings included: a legacy table is created on first access)
//! runs inside a namespace the test creates and deletes on drop — `ip netns exec NS` for the
//! test's own commands, `netns::run_in` for the backend. The iptables tests run once per
//! flavour (`iptables-nft`, `iptables-legacy`), the traffic test once per backend (both
//! iptables flavours and nftables), skipping one whose binaries are missing.

use std::process::Command;

use hvnet_core::firewall::{FirewallIntent, Forward, FwKind, FwNetwork, Proto};
use hvnet_core::types::IfName;
use hvnet_linux::firewall::iptables::ruleset::{self, RuleSet, Table};
use hvnet_linux::firewall::{Firewall, FirewallBackend, Iptables, Nftables, Variant};
use hvnet_linux::netns;

mod common;
use common::{ip, require_root, status_of, NetnsGuard};

/// A named namespace deleted on drop.
struct TestNs(NetnsGuard);

impl TestNs {
    fn new() -> TestNs {
        TestNs(NetnsGuard::unique("hvfw"))
    }

    fn name(&self) -> &str {
        self.0.name()
    }

    /// `ip netns exec NS CMD ARGS…`, returning (success, stdout, stderr).
    fn exec(&self, cmd: &str, args: &[&str]) -> (bool, String, String) {
        status_of(
            Command::new("ip")
                .args(["netns", "exec", self.name(), cmd])
                .args(args),
            "cannot run ip netns exec",
        )
    }

    /// Like [`exec`](Self::exec) but panics on failure.
    fn must(&self, cmd: &str, args: &[&str]) -> String {
        let (ok, out, err) = self.exec(cmd, args);
        assert!(ok, "{cmd} {}: {err}", args.join(" "));
        out
    }

    /// Runs `f` with the backend inside the namespace.
    fn with<B: Clone + Send + 'static, T: Send + 'static>(
        &self,
        ipt: &B,
        f: impl FnOnce(&B) -> T + Send + 'static,
    ) -> T {
        let ipt = ipt.clone();
        netns::run_in(self.name(), move || f(&ipt)).unwrap_or_else(|e| panic!("{e}"))
    }
}

fn bin(v: Variant) -> &'static str {
    match v {
        Variant::Nft => "iptables-nft",
        Variant::Legacy => "iptables-legacy",
    }
}

/// Runs `test` for each available flavour.
fn each_variant(test: impl Fn(Variant, &Iptables)) {
    for v in [Variant::Nft, Variant::Legacy] {
        match Iptables::with_variant(v) {
            Some(ipt) => test(v, &ipt),
            None => eprintln!("skipping {}: binaries not found", bin(v)),
        }
    }
}

/// `iptables-save` of the namespace without comment lines and counters.
fn save(ns: &TestNs, v: Variant) -> String {
    let out = ns.must(&format!("{}-save", bin(v)), &[]);
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match l.find(" [") {
            Some(i) if l.starts_with(':') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `save` with every hvnet line (chains, rules, jumps) dropped.
fn foreign_only(saved: &str) -> String {
    saved
        .lines()
        .filter(|l| !l.contains("HVNET-") && !l.contains("hvnet"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn name(s: &str) -> IfName {
    IfName::new(s).expect("valid interface name")
}

fn sample() -> FirewallIntent {
    let networks = [
        FwNetwork {
            name: "default".into(),
            kind: FwKind::Nat {
                uplink: Some(name("uplink")),
                port_range: None,
                nat6: false,
            },
            bridge: name("virbr0"),
            subnets: vec!["192.168.122.0/24".parse().expect("valid address")],
            mss_clamp: true,
        },
        FwNetwork {
            name: "routed".into(),
            kind: FwKind::Routed { uplink: None },
            bridge: name("br-r"),
            subnets: vec!["10.20.0.0/24".parse().expect("valid address")],
            mss_clamp: false,
        },
        FwNetwork {
            name: "hostonly".into(),
            kind: FwKind::Isolated,
            bridge: name("br-i"),
            subnets: vec!["10.30.0.0/24".parse().expect("valid address")],
            mss_clamp: false,
        },
    ];
    let forwards = [
        Forward {
            proto: Proto::Tcp,
            host_addr: None,
            host_port: 8080,
            guest_ip: "192.168.122.11".parse().expect("valid address"),
            guest_port: 80,
            network: "default".into(),
        },
        Forward {
            proto: Proto::Udp,
            host_addr: Some("10.0.0.1".parse().expect("valid address")),
            host_port: 5353,
            guest_ip: "10.20.0.5".parse().expect("valid address"),
            guest_port: 53,
            network: "routed".into(),
        },
    ];
    FirewallIntent::new(networks.to_vec(), forwards.to_vec()).expect("known networks")
}

#[test]
fn apply_check_remove_leave_foreign_rules_alone() {
    require_root!();
    each_variant(|v, ipt| {
        let ns = TestNs::new();
        let b = bin(v);
        // Foreign state first.
        ns.must(b, &["-N", "FOREIGN"]);
        ns.must(b, &["-A", "FOREIGN", "-s", "1.2.3.4/32", "-j", "DROP"]);
        ns.must(b, &["-A", "FORWARD", "-j", "FOREIGN"]);
        ns.must(
            b,
            &["-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"],
        );
        ns.must(
            b,
            &[
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-s",
                "10.9.0.0/16",
                "-j",
                "MASQUERADE",
            ],
        );
        let before = save(&ns, v);
        assert!(before.contains("FOREIGN"), "{before}");

        let rules = sample();
        let r = rules.clone();
        ns.with(ipt, move |i| i.apply(&r))
            .unwrap_or_else(|e| panic!("{b}: {e}"));
        let r = rules.clone();
        let diffs = ns.with(ipt, move |i| i.check(&r)).unwrap();
        assert_eq!(diffs, [], "{b}: check right after apply:\n{}", save(&ns, v));
        let first = save(&ns, v);
        assert_eq!(
            foreign_only(&first),
            before,
            "{b}: foreign rules changed by apply"
        );
        assert!(first.contains("-A HVNET-PRT"), "{first}");

        // Idempotent.
        let r = rules.clone();
        ns.with(ipt, move |i| i.apply(&r)).unwrap();
        assert_eq!(save(&ns, v), first, "{b}: second apply changed the tables");

        // Drift: flush one chain, drop one jump.
        ns.must(b, &["-F", "HVNET-FWO"]);
        let hook = RuleSet::hooks()
            .into_iter()
            .find(|h| h.spec.ends_with("HVNET-FWI"))
            .unwrap();
        let mut del = vec!["-D".to_owned(), hook.builtin.to_owned()];
        del.extend(hook.args());
        ns.must(b, &del.iter().map(String::as_str).collect::<Vec<_>>());
        let r = rules.clone();
        let diffs = check_text(&ns, ipt, r);
        let want_missing: Vec<String> = ruleset::rules(&rules)
            .chain(Table::Filter, "HVNET-FWO")
            .into_iter()
            .map(|r| format!("missing rule: {r}"))
            .chain([format!("missing jump: {hook}")])
            .collect();
        assert_eq!(diffs, want_missing, "{b}");
        for d in &diffs {
            eprintln!("{b}: drift: {d}");
        }
        let r = rules.clone();
        ns.with(ipt, move |i| i.apply(&r)).unwrap();
        let r = rules.clone();
        assert_eq!(ns.with(ipt, move |i| i.check(&r)).unwrap(), [], "{b}");
        let restored = save(&ns, v);
        assert_eq!(foreign_only(&restored), before, "{b}");

        // An extra rule in an hvnet chain is reported, and dropped by apply.
        ns.must(b, &["-A", "HVNET-FWX", "-j", "DROP"]);
        let r = rules.clone();
        let diffs = check_text(&ns, ipt, r);
        assert_eq!(
            diffs,
            ["unexpected rule: -t filter -A HVNET-FWX -j DROP"],
            "{b}"
        );
        let r = rules.clone();
        ns.with(ipt, move |i| i.apply(&r)).unwrap();

        // Remove restores exactly the foreign state, twice.
        ns.with(ipt, |i| i.remove()).unwrap();
        assert_eq!(save(&ns, v), before, "{b}: remove left something");
        ns.with(ipt, |i| i.remove()).unwrap();
        assert_eq!(save(&ns, v), before, "{b}");
    });
}

/// guest (192.168.122.11) — virbr0 [host, 192.168.122.1] uplink (10.0.0.1) — out (10.0.0.2).
/// The outside has no route back to 192.168.122.0/24, so the guest's ping only succeeds
/// with hvnet's masquerade; removing the rules breaks it again.
#[test]
fn nat_masquerades_guest_traffic() {
    require_root!();
    for (label, fw) in backends() {
        let (host, out, guest) = (TestNs::new(), TestNs::new(), TestNs::new());
        let (h, o, g) = (host.name(), out.name(), guest.name());
        ip(&["-n", h, "link", "add", "virbr0", "type", "bridge"]);
        ip(&["-n", h, "addr", "add", "192.168.122.1/24", "dev", "virbr0"]);
        ip(&[
            "-n", h, "link", "add", "vg", "type", "veth", "peer", "eth0", "netns", g,
        ]);
        ip(&["-n", h, "link", "set", "vg", "master", "virbr0", "up"]);
        ip(&["-n", h, "link", "set", "virbr0", "up"]);
        ip(&[
            "-n", h, "link", "add", "uplink", "type", "veth", "peer", "eth0", "netns", o,
        ]);
        ip(&["-n", h, "addr", "add", "10.0.0.1/24", "dev", "uplink"]);
        ip(&["-n", h, "link", "set", "uplink", "up"]);
        ip(&["-n", o, "addr", "add", "10.0.0.2/24", "dev", "eth0"]);
        ip(&["-n", o, "link", "set", "eth0", "up"]);
        ip(&["-n", g, "addr", "add", "192.168.122.11/24", "dev", "eth0"]);
        ip(&["-n", g, "link", "set", "eth0", "up"]);
        ip(&["-n", g, "route", "add", "default", "via", "192.168.122.1"]);
        host.must("sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
        let ping = || guest.exec("ping", &["-c", "1", "-W", "1", "10.0.0.2"]).0;
        let reach = || (0..3).any(|_| ping());

        assert!(!ping(), "{label}: reply without NAT");
        let intent = FirewallIntent::new(
            vec![FwNetwork {
                name: "default".into(),
                kind: FwKind::Nat {
                    uplink: Some(name("uplink")),
                    port_range: None,
                    nat6: false,
                },
                bridge: name("virbr0"),
                subnets: vec!["192.168.122.0/24".parse().expect("valid subnet")],
                mss_clamp: false,
            }],
            vec![],
        )
        .expect("no forwards");
        ns_apply(&host, &fw, intent);
        assert!(reach(), "{label}: no reply with masquerade");
        // The outside saw the host's address, not the guest's (conntrack's reply tuple).
        let ct = host.exec("conntrack", &["-L", "-p", "icmp"]);
        if ct.0 {
            assert!(
                ct.1.contains("src=10.0.0.2 dst=10.0.0.1"),
                "{label}: not masqueraded:\n{}",
                ct.1
            );
        }
        host.with(&fw, |i| i.remove()).expect("remove");
        assert!(!ping(), "{label}: reply after remove");
    }
}

/// Every backend available here: both iptables flavours and nftables.
fn backends() -> Vec<(&'static str, Firewall)> {
    let mut out = Vec::new();
    for v in [Variant::Nft, Variant::Legacy] {
        match Iptables::with_variant(v) {
            Some(i) => out.push((bin(v), Firewall::Iptables(i))),
            None => eprintln!("skipping {}: binaries not found", bin(v)),
        }
    }
    match Nftables::detect() {
        Some(n) => out.push(("nftables", Firewall::Nftables(n))),
        None => eprintln!("skipping nftables: nft not found"),
    }
    out
}

/// nftables: apply, check, drift and remove touch only `table inet hvnet`; a foreign table
/// (a drop-policy `inet filter`) is left exactly as it was, and named by the warnings.
#[test]
fn nftables_apply_check_remove_leave_other_tables_alone() {
    require_root!();
    let Some(nft) = Nftables::detect() else {
        eprintln!("skipping: nft not found");
        return;
    };
    let ns = TestNs::new();
    ns.must(
        "nft",
        &["add table inet filter; add chain inet filter input { type filter hook input priority 0; policy drop; }; add rule inet filter input tcp dport 22 accept"],
    );
    // An IPv6-only forward chain dropping by policy, and one that accepts (no warning).
    ns.must(
        "nft",
        &["add table ip6 sixf; add chain ip6 sixf pass6 { type filter hook forward priority 0; policy drop; }; add chain ip6 sixf outp { type filter hook output priority 0; policy drop; }; add table ip okt; add chain ip okt passok { type filter hook forward priority 0; policy accept; }"],
    );
    let before = ns.must("nft", &["list", "ruleset"]);
    let intent = sample();
    let i = intent.clone();
    ns.with(&nft, move |n| n.apply(&i)).unwrap();
    let i = intent.clone();
    assert_eq!(ns.with(&nft, move |n| n.check(&i)).unwrap(), []);
    let o = ns.with(&nft, |n| n.observe()).unwrap();
    assert_eq!(o.intent.as_ref(), Some(&intent));
    assert!(
        o.warnings
            .iter()
            .any(|w| w.starts_with("chain inet filter input (hook input, policy drop)")),
        "{:?}",
        o.warnings
    );
    // Read from nf_tables over netlink: exactly the two drop policies at input/forward.
    assert_eq!(o.warnings.len(), 2, "{:?}", o.warnings);
    assert!(
        o.warnings
            .iter()
            .any(|w| w.starts_with("chain ip6 sixf pass6 (hook forward, policy drop)")),
        "{:?}",
        o.warnings
    );
    let after = ns.must("nft", &["list", "table", "inet", "filter"]);
    assert!(
        before.contains(after.trim()),
        "the foreign table changed:\n{after}"
    );
    // Idempotent: the same listing after a second apply.
    let first = ns.must("nft", &["list", "table", "inet", "hvnet"]);
    let i = intent.clone();
    ns.with(&nft, move |n| n.apply(&i)).unwrap();
    assert_eq!(ns.must("nft", &["list", "table", "inet", "hvnet"]), first);

    // Drift: a rule deleted, an element added, a chain flushed — each named.
    let handle = ns
        .must("nft", &["-a", "list", "chain", "inet", "hvnet", "input"])
        .lines()
        .find(|l| l.contains("udp dport 67"))
        .and_then(|l| l.rsplit("handle ").next())
        .map(|h| h.trim().to_string())
        .expect("the DHCP rule and its handle");
    ns.must(
        "nft",
        &[
            "delete", "rule", "inet", "hvnet", "input", "handle", &handle,
        ],
    );
    ns.must(
        "nft",
        &["add element inet hvnet dnat4any { tcp . 9999 : 10.9.9.9 . 99 }"],
    );
    ns.must("nft", &["flush", "chain", "inet", "hvnet", "output_nat"]);
    let diffs = check_text(&ns, &nft, intent.clone());
    for want in [
        "missing rule in chain input: iifname \"virbr0\" udp dport 67 accept comment \"hvnet:default\"",
        "unexpected element { tcp . 9999 : 10.9.9.9 . 99 } of map dnat4any",
        "missing rule in chain output_nat: ip daddr != 127.0.0.0/8 fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @dnat4",
    ] {
        assert!(diffs.contains(&want.to_string()), "{want} not in {diffs:#?}");
    }
    let i = intent.clone();
    ns.with(&nft, move |n| n.apply(&i)).unwrap();
    assert_eq!(ns.must("nft", &["list", "table", "inet", "hvnet"]), first);

    // Remove: exactly the foreign state is left, twice.
    ns.with(&nft, |n| n.remove()).unwrap();
    assert_eq!(ns.must("nft", &["list", "ruleset"]), before);
    ns.with(&nft, |n| n.remove()).unwrap();
    assert_eq!(ns.must("nft", &["list", "ruleset"]), before);
    assert_eq!(ns.with(&nft, |n| n.observe()).unwrap().intent, None);
}

/// `check` inside the namespace, each difference as text.
fn check_text<B: FirewallBackend + Clone + Send + 'static>(
    ns: &TestNs,
    b: &B,
    intent: FirewallIntent,
) -> Vec<String> {
    ns.with(b, move |i| i.check(&intent))
        .unwrap_or_else(|e| panic!("check: {e}"))
        .iter()
        .map(|d| d.to_string())
        .collect()
}

fn ns_apply(ns: &TestNs, fw: &Firewall, intent: FirewallIntent) {
    ns.with(fw, move |i| i.apply(&intent))
        .unwrap_or_else(|e| panic!("apply: {e}"));
}

/// A dual-stack intent: IPv4 NAT with routed IPv6, a `nat6` network, an isolated network
/// with IPv6 only, IPv4 and IPv6 port forwards.
fn dual_stack() -> FirewallIntent {
    FirewallIntent::from_descriptors(&[
        "net lan nat br0 uplink=eth0 mss",
        "sub lan 10.0.0.0/24",
        "sub lan fd00::/64",
        "net m nat br1 ports=2000-3000 nat6",
        "sub m 10.1.0.0/24",
        "sub m fd01::/64",
        "net iso isolated br2",
        "sub iso fd02::/64",
        "fwd lan tcp 2001:db8::1 8080 fd00::5 80",
        "fwd lan udp * 5353 10.0.0.5 53",
    ])
    .expect("valid descriptors")
}

/// Every backend writes the IPv6 part as its tool prints it back: a dual-stack apply checks
/// clean; an IPv4-only apply afterwards removes the IPv6 rules (no hvnet chain left in
/// ip6tables); a drift in the IPv6 rules is named; remove leaves nothing.
#[test]
fn dual_stack_applies_checks_clean_and_shrinks_on_every_backend() {
    require_root!();
    for (label, fw) in backends() {
        if matches!(&fw, Firewall::Iptables(i) if !i.has_ip6tables()) {
            eprintln!("skipping {label}: ip6tables not found");
            continue;
        }
        let ns = TestNs::new();
        ns_apply(&ns, &fw, dual_stack());
        assert_eq!(
            check_text(&ns, &fw, dual_stack()),
            Vec::<String>::new(),
            "{label}"
        );
        let v6_listing = |ns: &TestNs| match &fw {
            Firewall::Iptables(_) => {
                let tool = if label.contains("legacy") {
                    "ip6tables-legacy"
                } else {
                    "ip6tables-nft"
                };
                let mut s = ns.must(tool, &["-S"]);
                s.push_str(&ns.must(tool, &["-t", "nat", "-S"]));
                s
            }
            Firewall::Nftables(_) => ns.must("nft", &["list", "table", "inet", "hvnet"]),
        };
        assert!(v6_listing(&ns).contains("fd00::/64"), "{label}");
        // Drift in the IPv6 part is named.
        match &fw {
            Firewall::Iptables(_) => {
                let tool = if label.contains("legacy") {
                    "ip6tables-legacy"
                } else {
                    "ip6tables-nft"
                };
                ns.must(tool, &["-F", "HVNET-FWO"]);
            }
            Firewall::Nftables(_) => {
                ns.must("nft", &["flush", "set", "inet", "hvnet", "fwd6"]);
            }
        }
        let d = check_text(&ns, &fw, dual_stack());
        assert!(!d.is_empty(), "{label}: no drift named");
        assert!(
            d.iter()
                .all(|l| l.contains("ip6tables") || l.contains("fwd6")),
            "{label}: {d:#?}"
        );
        ns_apply(&ns, &fw, dual_stack());
        assert_eq!(
            check_text(&ns, &fw, dual_stack()),
            Vec::<String>::new(),
            "{label}"
        );
        // IPv4 only: the IPv6 rules go.
        let v4 = FirewallIntent::from_descriptors(&["net lan nat br0", "sub lan 10.0.0.0/24"])
            .expect("valid descriptors");
        ns_apply(&ns, &fw, v4.clone());
        assert_eq!(check_text(&ns, &fw, v4), Vec::<String>::new(), "{label}");
        let left = v6_listing(&ns);
        assert!(
            !left.contains("fd00") && !left.contains("ip6 "),
            "{label}: {left}"
        );
        if let Firewall::Iptables(_) = &fw {
            assert!(!left.contains("HVNET"), "{label}: {left}");
        }
        ns_apply(&ns, &fw, dual_stack());
        ns.with(&fw, |i| i.remove()).expect("remove");
        assert_eq!(ns.with(&fw, |i| i.observe()).expect("observe").intent, None);
        if let Firewall::Iptables(_) = &fw {
            assert!(!v6_listing(&ns).contains("HVNET"), "{label}");
        }
    }
}
