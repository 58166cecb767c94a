//! One guest at a time: `hvnet guest up|down NAME` and QEMU's hooks `hvnet kvm ifup|ifdown
//! TAP`, in a namespace of their own: the guest's links appear with the names, MACs, MTU,
//! master and limits `apply` would give them; a dynamic bridge lives exactly as long as it
//! has guest ports; other guests are never touched; a tap QEMU made keeps its flags.

#![allow(clippy::unwrap_used)]

use hvnet_tests::*;

const CONFIG: &str = r#"
[[network]]
name = "vm"
kind = "internal"
bridge = "vmbridge"
lifetime = "dynamic"
mtu = 1400

[[network]]
name = "static"
kind = "isolated"
bridge = "br-static"

[[guest]]
name = "a"
[[guest.nic]]
network = "vm"
mac = "52:54:00:00:0a:01"
rate = "100mbit"
[[guest.nic]]
network = "static"
mac = "52:54:00:00:0a:02"

[[guest]]
name = "b"
[[guest.nic]]
network = "vm"
mac = "52:54:00:00:0b:01"

[[guest]]
name = "q"
[[guest.nic]]
network = "vm"
ifname = "qtap0"
mac = "52:54:00:00:0c:01"
[[guest.nic]]
network = "vm"
mac = "52:54:00:00:0c:02"
"#;

fn owners(ns: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = links(ns)
        .iter()
        .filter_map(|l| {
            let alias = l["ifalias"].as_str()?;
            alias
                .strip_prefix("hvnet:")
                .map(|o| (l["ifname"].as_str().unwrap().to_string(), o.to_string()))
        })
        .collect();
    v.sort();
    v
}

fn master(ns: &str, dev: &str) -> Option<String> {
    must_link(ns, dev)["master"].as_str().map(str::to_string)
}

#[test]
fn guest_up_and_down_with_a_dynamic_bridge() {
    if !require_root() {
        return;
    }
    let ns = Netns::new("life");
    let dir = TempDir::new();
    let hv = Hv::new(&ns, &dir);
    let cfg = dir.write("c.toml", CONFIG);
    let h = ns.name();

    let out = hv.run(&cfg, &["guest", "up", "a"]).ok().stdout.clone();
    assert!(op_count(&out, "guest up") > 0, "{out}");
    // a's two NICs, its rate limit's IFB, and the bridges of both networks.
    let o = owners(h);
    let names: Vec<&str> = o.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"vmbridge") && names.contains(&"br-static"),
        "{o:?}"
    );
    assert_eq!(o.iter().filter(|(_, w)| w == "a").count(), 3, "{o:?}");
    assert!(!o.iter().any(|(_, w)| w == "b" || w == "q"), "{o:?}");
    let vnet0 = must_link(h, "vnet0");
    assert_eq!(vnet0["address"], "fe:54:00:00:0a:01");
    assert_eq!(vnet0["mtu"], 1400);
    assert_eq!(master(h, "vnet0").as_deref(), Some("vmbridge"));
    assert_eq!(master(h, "vnet1").as_deref(), Some("br-static"));

    // Idempotent; b joins without touching a.
    let again = hv.run(&cfg, &["guest", "up", "a"]).ok().stdout.clone();
    assert!(again.starts_with("no changes"), "{again}");
    let before_a = snapshot(h);
    hv.run(&cfg, &["guest", "up", "b"]).ok();
    assert_eq!(master(h, "vnet2").as_deref(), Some("vmbridge"));
    let after = snapshot(h);
    for dev in ["vnet0", "vnet1"] {
        assert_eq!(before_a.0[dev]["ifindex"], after.0[dev]["ifindex"], "{dev}");
    }

    // a leaves: the dynamic bridge still has b, the static one stays anyway.
    hv.run(&cfg, &["guest", "down", "a"]).ok();
    let names = link_names(h);
    assert!(
        !names.contains("vnet0") && !names.contains("vnet1"),
        "{names:?}"
    );
    assert!(
        names.contains("vmbridge") && names.contains("vnet2"),
        "{names:?}"
    );
    // a comes back: its links get new names, not the just-freed vnet0/vnet1.
    hv.run(&cfg, &["guest", "up", "a"]).ok();
    let names = link_names(h);
    assert!(
        names.contains("vnet3") && names.contains("vnet4"),
        "{names:?}"
    );
    assert!(
        !names.contains("vnet0"),
        "a just-freed name was reused: {names:?}"
    );
    hv.run(&cfg, &["guest", "down", "a"]).ok();
    // b leaves last: the dynamic bridge goes with it.
    hv.run(&cfg, &["guest", "down", "b"]).ok();
    let names = link_names(h);
    assert!(!names.contains("vmbridge"), "{names:?}");
    assert!(names.contains("br-static"), "{names:?}");

    // Bad input: exit 2, nothing changed.
    let before = snapshot(h);
    let r = hv.run(&cfg, &["guest", "up", "nosuch"]);
    r.expect_code(2);
    assert!(r.stderr.contains("no guest \"nosuch\""), "{r}");
    assert_snapshot(h, &before, &"guest up of an unknown guest");
}

#[test]
fn kvm_ifup_ifdown_adopt_the_taps_qemu_made() {
    if !require_root() {
        return;
    }
    let ns = Netns::new("ifup");
    let dir = TempDir::new();
    let hv = Hv::new(&ns, &dir);
    let cfg = dir.write("c.toml", CONFIG);
    let h = ns.name();
    // What QEMU does before running script=: a tap by the configured name, and one by the
    // guest MAC's host-side form (libvirt's way), with flags of QEMU's choice.
    ns.ip(&[
        "tuntap",
        "add",
        "dev",
        "qtap0",
        "mode",
        "tap",
        "vnet_hdr",
        "multi_queue",
    ]);
    ns.ip(&["tuntap", "add", "dev", "tap7", "mode", "tap"]);
    ns.ip(&["link", "set", "tap7", "address", "fe:54:00:00:0c:02"]);

    hv.run(&cfg, &["kvm", "ifup", "qtap0"]).ok();
    let q = must_link(h, "qtap0");
    assert_eq!(q["ifalias"], "hvnet:q");
    assert_eq!(q["address"], "fe:54:00:00:0c:01");
    assert_eq!(q["mtu"], 1400);
    assert_eq!(master(h, "qtap0").as_deref(), Some("vmbridge"));
    let flags = flags(&q);
    assert!(flags.contains("UP"), "{flags:?}");
    // QEMU's flags were kept (a recreated tap would have lost them and QEMU's queues).
    let d = ns.ip(&["-d", "link", "show", "qtap0"]);
    assert!(d.contains("multi_queue") && d.contains("vnet_hdr"), "{d}");

    hv.run(&cfg, &["kvm", "ifup", "tap7"]).ok();
    assert_eq!(must_link(h, "tap7")["ifalias"], "hvnet:q");
    assert_eq!(master(h, "tap7").as_deref(), Some("vmbridge"));

    // Re-running the hook changes nothing.
    let again = hv.run(&cfg, &["kvm", "ifup", "qtap0"]).ok().stdout.clone();
    assert!(again.starts_with("no changes"), "{again}");

    hv.run(&cfg, &["kvm", "ifdown", "qtap0"]).ok();
    let names = link_names(h);
    assert!(!names.contains("qtap0"), "{names:?}");
    assert!(
        names.contains("tap7") && names.contains("vmbridge"),
        "{names:?}"
    );
    hv.run(&cfg, &["kvm", "ifdown", "tap7"]).ok();
    let names = link_names(h);
    assert!(
        !names.contains("vmbridge"),
        "dynamic bridge outlived its last tap: {names:?}"
    );

    // A tap nobody configured: exit 2, untouched.
    ns.ip(&["tuntap", "add", "dev", "stray0", "mode", "tap"]);
    let before = snapshot(h);
    let r = hv.run(&cfg, &["kvm", "ifup", "stray0"]);
    r.expect_code(2);
    assert!(r.stderr.contains("matches no guest NIC"), "{r}");
    assert_snapshot(h, &before, &"ifup of an unknown tap");
}

#[test]
fn guest_up_down_leave_the_networks_services_alone() {
    if !require_root() {
        return;
    }
    let ns = Netns::new("lifesvc");
    let dir = TempDir::new();
    let hv = Hv::new(&ns, &dir);
    let h = ns.name();
    // A way out for the nat network: a veth whose far end stays in the namespace.
    ns.ip(&[
        "link", "add", "up0", "type", "veth", "peer", "name", "up0-far",
    ]);
    ns.ip(&["addr", "add", "10.213.0.1/24", "dev", "up0"]);
    ns.ip(&["link", "set", "up0", "up"]);
    ns.ip(&["link", "set", "up0-far", "up"]);
    ns.ip(&["route", "add", "default", "via", "10.213.0.2"]);
    let cfg = dir.write(
        "c.toml",
        "[[network]]\nname = \"default\"\nkind = \"nat\"\nbridge = \"virbr0\"\n\
         address = \"192.168.124.1/24\"\n[network.dhcp]\n\
         [[guest]]\nname = \"a\"\n[[guest.nic]]\nnetwork = \"default\"\n",
    );
    hv.apply(&cfg);
    let fw = |_: &str| firewall_listing(ns.name());
    let before = (
        fw("filter"),
        fw("nat"),
        ns.exec("sysctl", &["net.ipv4.ip_forward"]),
    );
    assert!(
        has_hvnet_firewall(&before.1) && before.2.contains("= 1"),
        "{before:?}"
    );
    hv.run(&cfg, &["guest", "down", "a"]).ok();
    assert!(!link_names(h).contains("vnet0"));
    hv.run(&cfg, &["guest", "up", "a"]).ok();
    let after = (
        fw("filter"),
        fw("nat"),
        ns.exec("sysctl", &["net.ipv4.ip_forward"]),
    );
    assert_eq!(
        after, before,
        "guest down/up touched the firewall or ip_forward"
    );
    let again = hv.apply(&cfg);
    assert!(
        !again.contains("firewall") && !again.contains("dnsmasq"),
        "{again}"
    );
}

#[test]
fn ports_take_the_bridges_mtu_when_the_config_sets_none() {
    if !require_root() {
        return;
    }
    let ns = Netns::new("lifemtu");
    let dir = TempDir::new();
    let hv = Hv::new(&ns, &dir);
    let h = ns.name();
    // A jumbo-frame "physical" NIC: the bridge made on it has its MTU, and so must the
    // guests' taps, or enslaving the first tap would drop the bridge to 1500.
    ns.ip(&[
        "link",
        "add",
        "jumbo0",
        "mtu",
        "9000",
        "type",
        "veth",
        "peer",
        "name",
        "jumbo0-far",
        "mtu",
        "9000",
    ]);
    let cfg = dir.write(
        "c.toml",
        "[[network]]\nname = \"lan\"\nkind = \"bridge\"\nbridge = \"br-jumbo\"\nuplink = \"jumbo0\"\n\
         [[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"lan\"\n",
    );
    hv.apply(&cfg);
    assert_eq!(must_link(h, "vnet0")["mtu"], 9000);
    assert_eq!(must_link(h, "br-jumbo")["mtu"], 9000);
    let again = hv.apply(&cfg);
    assert!(again.starts_with("no changes"), "{again}");
}
