//! IPv6 on a real kernel: hvnet's dnsmasq advertises the prefix of a network's `address6`
//! (SLAAC) and serves DHCPv6 from a stateful range and a NIC's `ip6`; guests ping the host
//! and, over a `nat` network's routed IPv6 (no NAT66), an outside namespace; an isolated
//! network's guest learns its prefix but no default route (router lifetime 0); the host's
//! IPv6 forwarding and its uplink's `accept_ra = 2` are restored by `down`.
//!
//! Topology: a host namespace where hvnet runs (`--netns`), an outside namespace joined to
//! it by a veth pair (`up6` in the host, the nat networks' uplink), and one guest namespace
//! per guest whose veth NIC hvnet creates (peer `eth0`). The DHCPv6 client is ISC
//! `dhclient -6` (Debian's isc-dhcp-client) with a script of the test's own that only adds
//! the leased address (it never touches the host's resolv.conf).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use hvnet_tests::*;

const CONFIG: &str = r#"
[[network]]
name = "slaac6"
kind = "nat"
bridge = "hv6a"
address = "172.16.61.1/24"
address6 = "fd42:100::1/64"
uplink = "up6"
[network.dhcp6]

[[network]]
name = "dhcp6"
kind = "nat"
bridge = "hv6b"
address = "172.16.62.1/24"
address6 = "fd42:200::1/64"
uplink = "up6"
[network.dhcp6]
mode = "stateful"
range = "fd42:200::100-fd42:200::1ff"

[[network]]
name = "iso6"
kind = "isolated"
bridge = "hv6c"
address6 = "fd42:300::1/64"
[network.dhcp6]

[[guest]]
name = "g-slaac"
[[guest.nic]]
network = "slaac6"
type = "veth"
netns = "@G0@"
peer = "eth0"

[[guest]]
name = "g-range"
[[guest.nic]]
network = "dhcp6"
type = "veth"
netns = "@G1@"
peer = "eth0"

[[guest]]
name = "g-fixed"
[[guest.nic]]
network = "dhcp6"
type = "veth"
netns = "@G2@"
peer = "eth0"
mac = "02:00:00:3d:00:02"
ip6 = "fd42:200::42"

[[guest]]
name = "g-iso"
[[guest.nic]]
network = "iso6"
type = "veth"
netns = "@G3@"
peer = "eth0"
"#;

/// dhclient's script: adds the leased address, nothing else.
const DHCLIENT_SCRIPT: &str = "#!/bin/sh\ncase \"$reason\" in\nBOUND6|RENEW6|REBIND6|REBOOT6)\n    [ -n \"$new_ip6_address\" ] && ip -6 addr replace \"$new_ip6_address/${new_ip6_prefixlen:-128}\" dev \"$interface\" nodad\n    ;;\nesac\nexit 0\n";

fn tools_available() -> bool {
    for tool in ["dnsmasq", "dhclient", "ping"] {
        if !on_path(tool) {
            eprintln!("SKIP: {tool} is not installed (scripts/install-deps.sh installs it)");
            return false;
        }
    }
    if !std::path::Path::new("/proc/sys/net/ipv6").exists() {
        eprintln!("SKIP: this kernel has no IPv6");
        return false;
    }
    true
}

/// The global IPv6 addresses of `dev` in `ns` (without prefix length).
fn global6(ns: &str, dev: &str) -> Vec<String> {
    let out = ip(&[
        "-n", ns, "-6", "-o", "addr", "show", "dev", dev, "scope", "global",
    ]);
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            f.find(|w| *w == "inet6")?;
            f.next()?.split('/').next().map(str::to_string)
        })
        .collect()
}

/// Whether `dev`'s link-local address is usable (not tentative).
fn link_local_ready(ns: &str, dev: &str) -> bool {
    let out = ip(&["-n", ns, "-6", "addr", "show", "dev", dev, "scope", "link"]);
    out.contains("inet6 fe80") && !out.contains("tentative")
}

/// `ping -6 -c 1` from `ns` to `to`, retried for a few seconds (neighbour discovery).
fn ping6(ns: &str, to: &str) -> bool {
    wait_until(Duration::from_secs(5), || {
        nsx(ns, "ping", &["-6", "-c", "1", "-W", "1", to]).code == 0
    })
}

fn sysctl(ns: &str, key: &str) -> String {
    nsx(ns, "sysctl", &["-n", key]).stdout.trim().to_string()
}

#[test]
fn slaac_dhcpv6_routed_and_isolated() {
    if !require_root() || !tools_available() {
        return;
    }
    let host = Netns::new("v6-h");
    let outside = Netns::new("v6-o");
    let guests = [
        Netns::new("v6-g0"),
        Netns::new("v6-g1"),
        Netns::new("v6-g2"),
        Netns::new("v6-g3"),
    ];
    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    // The way out: up6 (host) <-> eth0 (outside), fd00:99::/64, the guests' prefixes
    // routed back through the host.
    host.ip(&[
        "link",
        "add",
        "up6",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        outside.name(),
    ]);
    nsx(
        host.name(),
        "sysctl",
        &["-q", "-w", "net.ipv6.conf.up6.accept_dad=0"],
    )
    .ok();
    nsx(
        outside.name(),
        "sysctl",
        &["-q", "-w", "net.ipv6.conf.eth0.accept_dad=0"],
    )
    .ok();
    host.ip(&["addr", "add", "fd00:99::1/64", "dev", "up6"]);
    host.ip(&["link", "set", "up6", "up"]);
    outside.ip(&["addr", "add", "fd00:99::2/64", "dev", "eth0"]);
    outside.ip(&["link", "set", "eth0", "up"]);
    for p in ["fd42:100::/64", "fd42:200::/64"] {
        outside.ip(&["-6", "route", "add", p, "via", "fd00:99::1"]);
    }
    let forwarding_before = sysctl(host.name(), "net.ipv6.conf.all.forwarding");
    assert_eq!(sysctl(host.name(), "net.ipv6.conf.up6.accept_ra"), "1");

    let subst = |t: &str| {
        let mut t = t.to_string();
        for (k, g) in guests.iter().enumerate() {
            t = t.replace(&format!("@G{k}@"), g.name());
        }
        t
    };
    let cfg = dir.write("c.toml", &subst(CONFIG));
    let dry = hv.run(&cfg, &["apply", "--dry-run"]);
    dry.ok();
    for want in [
        "ip addr add fd42:100::1/64 dev hv6a nodad",
        "sysctl -w net.ipv6.conf.all.forwarding=1",
        "sysctl -w net.ipv6.conf.up6.accept_ra=2",
        "sysctl -w net.ipv6.conf.hv6a.accept_dad=0",
    ] {
        assert!(
            dry.stdout.contains(want),
            "apply --dry-run lacks {want:?}\n{dry}"
        );
    }

    // Guests bring eth0 up as soon as hvnet has made it (DAD off in the guest: the test
    // measures hvnet's advertisement, not the guest kernel's DAD of its own link-local
    // address; hvnet turns it off on its bridges).
    let start = Instant::now();
    hv.apply(&cfg);
    for g in &guests {
        nsx(
            g.name(),
            "sysctl",
            &["-q", "-w", "net.ipv6.conf.eth0.accept_dad=0"],
        )
        .ok();
        g.ip(&["link", "set", "eth0", "up"]);
    }
    let mut slaac = Vec::new();
    let got = wait_until(Duration::from_secs(20), || {
        slaac = global6(guests[0].name(), "eth0");
        !slaac.is_empty()
    });
    let elapsed = start.elapsed();
    assert!(got, "no SLAAC address in the guest");
    println!(
        "start -> first IPv6 address (SLAAC): {} ms",
        elapsed.as_millis()
    );
    assert!(slaac[0].starts_with("fd42:100::"), "{slaac:?}");

    // Host's side: the bridges' addresses, forwarding on, the uplink keeps its RAs.
    assert_eq!(global6(host.name(), "hv6a"), ["fd42:100::1"]);
    assert_eq!(sysctl(host.name(), "net.ipv6.conf.all.forwarding"), "1");
    assert_eq!(sysctl(host.name(), "net.ipv6.conf.up6.accept_ra"), "2");
    let state = hv.state_dir.clone().unwrap();
    let conf = std::fs::read_to_string(state.join("net/iso6/dnsmasq.conf")).unwrap();
    assert!(conf.contains("ra-param=hv6c,0,0\n"), "{conf}");

    // SLAAC guest: the host, and the outside over routed IPv6 (its source is the guest's
    // own address: no NAT66).
    assert!(
        ping6(guests[0].name(), "fd42:100::1"),
        "SLAAC guest cannot ping the host"
    );
    assert!(
        ping6(guests[0].name(), "fd00:99::2"),
        "SLAAC guest cannot reach the outside"
    );

    // DHCPv6: one guest from the range, one with its fixed ip6.
    let script = dir.write("dhclient-script", DHCLIENT_SCRIPT);
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let conf_file = dir.write("dhclient.conf", "");
    for (k, g) in guests[1..3].iter().enumerate() {
        assert!(
            wait_until(Duration::from_secs(10), || link_local_ready(
                g.name(),
                "eth0"
            )),
            "eth0 of guest {k} has no link-local address"
        );
        let lf = dir.path().join(format!("dhclient{k}.leases"));
        let pf = dir.path().join(format!("dhclient{k}.pid"));
        let r = nsx(
            g.name(),
            "dhclient",
            &[
                "-6",
                "-1",
                "-v",
                "-cf",
                conf_file.to_str().unwrap(),
                "-sf",
                script.to_str().unwrap(),
                "-lf",
                lf.to_str().unwrap(),
                "-pf",
                pf.to_str().unwrap(),
                "eth0",
            ],
        );
        assert_eq!(r.code, 0, "dhclient -6 in guest {k}\n{r}");
    }
    let ranged = global6(guests[1].name(), "eth0");
    assert_eq!(ranged.len(), 1, "{ranged:?}");
    let a: std::net::Ipv6Addr = ranged[0].parse().unwrap();
    let lo: std::net::Ipv6Addr = "fd42:200::100".parse().unwrap();
    let hi: std::net::Ipv6Addr = "fd42:200::1ff".parse().unwrap();
    assert!(lo <= a && a <= hi, "{a} is not from the range");
    assert_eq!(global6(guests[2].name(), "eth0"), ["fd42:200::42"]);
    assert!(
        ping6(guests[1].name(), "fd42:200::1"),
        "DHCPv6 guest cannot ping the host"
    );
    assert!(
        ping6(guests[2].name(), "fd00:99::2"),
        "DHCPv6 guest cannot reach the outside"
    );
    let leases = hv.run(&cfg, &["leases", "dhcp6"]);
    leases.ok();
    assert!(leases.stdout.contains("ipv6"), "{leases}");
    assert!(leases.stdout.contains("fd42:200::42/64"), "{leases}");
    assert!(leases.stdout.contains(&format!("{a}/64")), "{leases}");

    // Isolated: a SLAAC address and the host, but no default route.
    assert!(
        wait_until(Duration::from_secs(20), || !global6(
            guests[3].name(),
            "eth0"
        )
        .is_empty()),
        "no SLAAC address on the isolated network"
    );
    assert!(
        ping6(guests[3].name(), "fd42:300::1"),
        "isolated guest cannot ping the host"
    );
    let routes = guests[3].ip(&["-6", "route", "show", "default"]);
    assert!(
        routes.trim().is_empty(),
        "isolated guest has a default route: {routes}"
    );
    let routes = guests[0].ip(&["-6", "route", "show", "default"]);
    assert!(
        routes.contains("via fe80"),
        "nat guest has no default route: {routes}"
    );

    let c = hv.run(&cfg, &["check"]);
    assert_eq!(c.code, 0, "check after apply\n{c}");
    let show = hv.run(&cfg, &["show"]);
    show.ok();
    assert!(show.stdout.contains("fd42:100::1/64"), "{show}");
    let again = hv.run(&cfg, &["plan"]);
    again.ok();
    assert_eq!(again.stdout.trim(), "no changes", "{again}");
    // Drift: the bridge's IPv6 address gone is reported, and apply puts it back.
    host.ip(&["-6", "addr", "del", "fd42:200::1/64", "dev", "hv6b"]);
    let drift = hv.run(&cfg, &["check"]);
    assert_ne!(
        drift.code, 0,
        "check missed the missing IPv6 address\n{drift}"
    );
    assert!(
        drift.stdout.contains("fd42:200::1/64") || drift.stderr.contains("fd42:200::1/64"),
        "{drift}"
    );
    hv.apply(&cfg);
    assert_eq!(global6(host.name(), "hv6b"), ["fd42:200::1"]);

    hv.run(&cfg, &["down"]).ok();
    assert_eq!(
        sysctl(host.name(), "net.ipv6.conf.all.forwarding"),
        forwarding_before
    );
    assert_eq!(sysctl(host.name(), "net.ipv6.conf.up6.accept_ra"), "1");
}

/// A libvirt dual-stack network (IPv4 without `<dhcp>`, so DNS only, and an IPv6 /64
/// without `<dhcp>`, so router advertisements only) imports and works: a guest gets a
/// SLAAC address and pings the host over IPv6; dnsmasq still answers DNS on IPv4.
#[test]
fn libvirt_dual_stack_network_imports_and_works() {
    if !require_root() || !tools_available() {
        return;
    }
    let host = Netns::new("v6l-h");
    let guest = Netns::new("v6l-g");
    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    let xml = dir.write(
        "n.xml",
        "<network>\n<name>dual</name>\n<forward mode='nat'/>\n<bridge name='hv6d' stp='off'/>\n\
         <ip address='172.16.63.1' prefix='24'/>\n\
         <ip family='ipv6' address='fd42:400::1' prefix='64'/>\n</network>\n",
    );
    let r = hvnet_run(&["import", "libvirt-network", xml.to_str().unwrap()], &[]);
    r.ok();
    assert!(r.stdout.contains("address6 = \"fd42:400::1/64\""), "{r}");
    let text = format!(
        "{}\n[[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"dual\"\ntype = \"veth\"\nnetns = \"{}\"\npeer = \"eth0\"\n",
        r.stdout,
        guest.name()
    );
    let cfg = dir.write("c.toml", &text);
    hv.apply(&cfg);
    nsx(
        guest.name(),
        "sysctl",
        &["-q", "-w", "net.ipv6.conf.eth0.accept_dad=0"],
    )
    .ok();
    guest.ip(&["link", "set", "eth0", "up"]);
    let mut got = Vec::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            got = global6(guest.name(), "eth0");
            !got.is_empty()
        }),
        "no SLAAC address from the imported network"
    );
    assert!(got[0].starts_with("fd42:400::"), "{got:?}");
    assert!(
        ping6(guest.name(), "fd42:400::1"),
        "guest cannot ping the host over IPv6"
    );
    let state = hv.state_dir.clone().unwrap();
    let conf = std::fs::read_to_string(state.join("net/dual/dnsmasq.conf")).unwrap();
    assert!(conf.contains("addn-hosts="), "{conf}");
    assert!(
        conf.contains("dhcp-range=fd42:400::,ra-only,64\n"),
        "{conf}"
    );
    let c = hv.run(&cfg, &["check"]);
    assert_eq!(c.code, 0, "check after apply\n{c}");
    hv.run(&cfg, &["down"]).ok();
}

/// A dynamic bridge made by `guest up` (not only by `apply`) gets what a static one gets: its
/// `address6` added `nodad` and `accept_dad = 0`, so its addresses are usable at once.
#[test]
fn dynamic_bridge_gets_nodad_and_accept_dad_0() {
    if !require_root() || !tools_available() {
        return;
    }
    let host = Netns::new("v6d-h");
    let guest = Netns::new("v6d-g");
    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    let cfg = dir.write(
        "c.toml",
        &format!(
            "[[network]]\nname = \"dyn6\"\nkind = \"isolated\"\nbridge = \"hvdyn6\"\nlifetime = \"dynamic\"\n\
             address6 = \"fd42:500::1/64\"\n\n[[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"dyn6\"\n\
             type = \"veth\"\nnetns = \"{}\"\npeer = \"eth0\"\n",
            guest.name()
        ),
    );
    // apply brings the guest up too; with the guest down, the bridge is gone.
    hv.apply(&cfg);
    hv.run(&cfg, &["guest", "down", "g"]).ok();
    assert!(
        link(host.name(), "hvdyn6").is_none(),
        "the dynamic bridge outlived its guest"
    );
    let dry = hv.run(&cfg, &["guest", "up", "g", "--dry-run"]);
    dry.ok();
    assert!(
        dry.stdout
            .contains("sysctl -w net.ipv6.conf.hvdyn6.accept_dad=0"),
        "{dry}"
    );
    hv.run(&cfg, &["guest", "up", "g"]).ok();
    assert_eq!(sysctl(host.name(), "net.ipv6.conf.hvdyn6.accept_dad"), "0");
    let a = host.ip(&["-6", "addr", "show", "dev", "hvdyn6"]);
    assert!(a.contains("fd42:500::1/64") && a.contains("nodad"), "{a}");
    hv.run(&cfg, &["guest", "down", "g"]).ok();
    assert!(
        link(host.name(), "hvdyn6").is_none(),
        "the dynamic bridge outlived its guest"
    );
}
