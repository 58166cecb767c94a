//! Bridging the host's uplink (`kind = "bridge"`, `host_ip = "static"`): a veth stands in for
//! the physical NIC, its peer in an "outside" namespace is the LAN. The host's address and
//! routes move onto the bridge in one transaction and back on `down`; the host reaches the
//! LAN before, during and after, and a bridged guest reaches it directly. `apply --confirm`
//! reverts addresses and routes exactly unless `hvnet confirm` comes in time.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use hvnet_tests::*;

const CONFIG: &str = r#"
[[network]]
name = "lan"
kind = "bridge"
bridge = "br-lan"
uplink = "up0"
host_ip = "static"

[host]
bridge_nf_call = false

[[guest]]
name = "g"
[[guest.nic]]
network = "lan"
type = "veth"
netns = "@G@"
peer = "eth0"
mac = "02:00:00:21:00:11"
"#;

struct Lan {
    host: Netns,
    out: Netns,
    guest: Netns,
    dir: TempDir,
    hv: Hv,
}

impl Lan {
    fn new(tag: &str) -> Lan {
        let host = Netns::new(&format!("{tag}-h"));
        let out = Netns::new(&format!("{tag}-o"));
        let guest = Netns::new(&format!("{tag}-g"));
        host.ip(&[
            "link",
            "add",
            "up0",
            "type",
            "veth",
            "peer",
            "name",
            "lan0",
            "netns",
            out.name(),
        ]);
        // As every network manager does it: with the broadcast address (hvnet moves addresses
        // with the subnet broadcast).
        host.ip(&["addr", "add", "10.211.0.1/24", "brd", "+", "dev", "up0"]);
        host.ip(&["link", "set", "up0", "up"]);
        host.ip(&["route", "add", "default", "via", "10.211.0.2"]);
        host.ip(&[
            "route",
            "add",
            "172.31.0.0/16",
            "via",
            "10.211.0.2",
            "metric",
            "50",
        ]);
        out.ip(&["addr", "add", "10.211.0.2/24", "dev", "lan0"]);
        out.ip(&["addr", "add", "172.31.0.1/16", "dev", "lo"]);
        out.ip(&["link", "set", "lan0", "up"]);
        let dir = TempDir::new();
        let hv = Hv::new(&host, &dir);
        Lan {
            host,
            out,
            guest,
            dir,
            hv,
        }
    }

    fn config(&self) -> std::path::PathBuf {
        self.dir
            .write("c.toml", &CONFIG.replace("@G@", self.guest.name()))
    }

    fn state(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }

    /// The host's IPv4 addresses and routes, as `ip -j` prints them (ifindex and all). IPv6
    /// is left out: hvnet does not manage it, and the kernel's duplicate address detection
    /// flips the link-local address's `tentative` flag on its own schedule.
    fn ip_state(&self) -> (String, String) {
        (
            self.host.ip(&["-4", "-j", "addr", "show", "dev", "up0"]),
            self.host.ip(&["-j", "route", "show", "table", "main"]),
        )
    }
}

fn ping(ns: &Netns, to: &str) -> bool {
    std::process::Command::new("ip")
        .args(["netns", "exec", ns.name(), "ping", "-c", "1", "-W", "1", to])
        .output()
        .unwrap()
        .status
        .success()
}

fn wait_gone(p: &Path, timeout: Duration) -> bool {
    wait_until(timeout, || !p.exists())
}

#[test]
fn static_host_ip_moves_onto_the_bridge_and_back() {
    if !require_root() {
        return;
    }
    let l = Lan::new("upl");
    let cfg = l.config();
    let h = l.host.name();
    assert!(
        ping(&l.host, "10.211.0.2") && ping(&l.host, "172.31.0.1"),
        "no LAN before"
    );
    let before = l.ip_state();
    let up0_mac = must_link(h, "up0")["address"].clone();

    let out = l.hv.apply(&cfg);
    assert!(out.contains("applied:"), "{out}");
    assert_eq!(ipv4(h, "br-lan"), ["10.211.0.1/24"]);
    assert!(ipv4(h, "up0").is_empty(), "the uplink kept its address");
    assert_eq!(must_link(h, "up0")["master"], "br-lan");
    assert_eq!(
        must_link(h, "br-lan")["address"],
        up0_mac,
        "bridge takes the uplink's MAC"
    );
    let routes = l.host.ip(&["route", "show"]);
    assert!(
        routes.contains("default via 10.211.0.2 dev br-lan"),
        "{routes}"
    );
    assert!(
        routes.contains("172.31.0.0/16 via 10.211.0.2 dev br-lan metric 50"),
        "{routes}"
    );
    wait_carrier(h, "br-lan");
    assert!(
        ping(&l.host, "10.211.0.2") && ping(&l.host, "172.31.0.1"),
        "no LAN after"
    );
    // A bridged guest is on the LAN itself.
    l.guest
        .ip(&["addr", "add", "10.211.0.50/24", "dev", "eth0"]);
    l.guest.ip(&["link", "set", "eth0", "up"]);
    assert!(
        wait_until(Duration::from_secs(3), || ping(&l.guest, "10.211.0.2")),
        "bridged guest cannot reach the LAN"
    );
    // Re-apply keeps the moved addresses.
    let again = l.hv.apply(&cfg);
    assert!(again.starts_with("no changes"), "{again}");

    l.hv.run(&cfg, &["down"]).ok();
    assert_eq!(l.ip_state().0, before.0, "up0's addresses after down");
    let routes = l.host.ip(&["route", "show"]);
    assert!(
        routes.contains("default via 10.211.0.2 dev up0"),
        "{routes}"
    );
    assert!(
        routes.contains("172.31.0.0/16 via 10.211.0.2 dev up0 metric 50"),
        "{routes}"
    );
    assert!(ping(&l.host, "10.211.0.2"), "no LAN after down");
    let _ = &l.out;
}

#[test]
fn unconfirmed_apply_reverts_exactly_and_confirm_keeps_it() {
    if !require_root() {
        return;
    }
    let l = Lan::new("cnf");
    let cfg = l.config();
    let h = l.host.name();
    let before = l.ip_state();
    let links_before = link_names(h);

    let r = l.hv.run(&cfg, &["apply", "--confirm", "1s"]);
    assert!(
        r.ok()
            .stdout
            .contains("pending: run `hvnet confirm` within 1s"),
        "{r}"
    );
    assert_eq!(ipv4(h, "br-lan"), ["10.211.0.1/24"]);
    // Nobody confirms: the watchdog reverts.
    assert!(
        wait_gone(&l.state().join("pending"), Duration::from_secs(6)),
        "the watchdog did not finish"
    );
    let log = std::fs::read_to_string(l.state().join("confirm.log")).unwrap();
    assert!(log.contains("reverted:"), "{log}");
    assert_eq!(
        l.ip_state(),
        before,
        "addresses and routes after the revert"
    );
    assert_eq!(link_names(h), links_before);
    assert!(ping(&l.host, "10.211.0.2"));
    // Nothing pending: confirm is bad input.
    l.hv.run(&cfg, &["confirm"]).expect_code(2);

    // Confirmed in time: it stays, and the lock is free again for the next apply.
    let r = l.hv.run(&cfg, &["apply", "--confirm", "30s"]);
    assert!(r.ok().stdout.contains("pending:"), "{r}");
    let c = l.hv.run(&cfg, &["confirm"]);
    assert!(c.ok().stdout.contains("confirmed"), "{c}");
    assert!(!l.state().join("pending").exists());
    assert_eq!(ipv4(h, "br-lan"), ["10.211.0.1/24"]);
    let again = l.hv.apply(&cfg);
    assert!(again.starts_with("no changes"), "{again}");
    l.hv.run(&cfg, &["down"]).ok();
    assert_eq!(l.ip_state().0, before.0);
}

#[test]
fn dhcp_host_ip_keeps_the_lease_on_the_bridge() {
    if !require_root() {
        return;
    }
    let l = Lan::new("udh");
    let h = l.host.name();
    let mac = must_link(h, "up0")["address"].as_str().unwrap().to_string();
    // The LAN's DHCP server: dnsmasq in the outside namespace, reserving .1 for the host.
    let srv = l.dir.path().join("lan-dhcp");
    std::fs::create_dir_all(&srv).unwrap();
    std::fs::set_permissions(&srv, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let p = |f: &str| srv.join(f).to_str().unwrap().to_string();
    let status = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            l.out.name(),
            "dnsmasq",
            "--conf-file=/dev/null",
        ])
        .args([
            "--bind-interfaces",
            "--interface=lan0",
            "--except-interface=lo",
        ])
        .args(["--listen-address=10.211.0.2", "--port=0", "--no-ping"])
        .arg("--dhcp-range=10.211.0.100,10.211.0.200,255.255.255.0,1h")
        .arg(format!("--dhcp-host={mac},10.211.0.1"))
        .arg("--dhcp-option=3,10.211.0.2")
        .arg(format!("--dhcp-leasefile={}", p("leases")))
        .arg(format!("--pid-file={}", p("pid")))
        .arg(format!("--log-facility={}", p("log")))
        .status()
        .unwrap();
    assert!(status.success(), "the LAN's dnsmasq did not start");

    let cfg = l.dir.write(
        "d.toml",
        &CONFIG
            .replace("@G@", l.guest.name())
            .replace("\"static\"", "\"dhcp\""),
    );
    let before = l.ip_state();
    l.hv.apply(&cfg);
    assert_eq!(ipv4(h, "br-lan"), ["10.211.0.1/24"]);
    let client = l.state().join("host-dhcp/lan");
    let pid: i32 = std::fs::read_to_string(client.join("udhcpc.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "udhcpc is not running"
    );
    // The client gets the host's lease on the bridge (same MAC, same address).
    let log = client.join("udhcpc.log");
    assert!(
        wait_until(Duration::from_secs(8), || std::fs::read_to_string(&log)
            .is_ok_and(|t| t.contains("lease of 10.211.0.1 obtained"))),
        "no lease: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(ipv4(h, "br-lan"), ["10.211.0.1/24"]);
    assert!(l
        .host
        .ip(&["route", "show"])
        .contains("default via 10.211.0.2 dev br-lan"));
    wait_carrier(h, "br-lan");
    assert!(ping(&l.host, "10.211.0.2"));
    // Re-apply: the client keeps running, nothing to do.
    let again = l.hv.apply(&cfg);
    assert!(again.starts_with("no changes"), "{again}");
    // down: the client stops (keeping the lease), the address goes home.
    l.hv.run(&cfg, &["down"]).ok();
    assert!(
        wait_until(Duration::from_secs(3), || !Path::new(&format!(
            "/proc/{pid}/cmdline"
        ))
        .exists()
            || std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.is_empty())),
        "udhcpc survived down"
    );
    assert_eq!(l.ip_state().0, before.0);
    assert!(ping(&l.host, "10.211.0.2"));
}

#[test]
fn mac_replication_hands_the_uplink_mac_to_the_guest() {
    if !require_root() {
        return;
    }
    let l = Lan::new("rep");
    let h = l.host.name();
    // A burned-in-looking MAC: a veth's random one may start with fe:, which no guest MAC
    // may (hvnet gives that prefix to the host side of a NIC).
    l.host
        .ip(&["link", "set", "up0", "address", "00:1b:21:0a:0b:0c"]);
    let mac = must_link(h, "up0")["address"].as_str().unwrap().to_string();
    let cfg = l.dir.write(
        "r.toml",
        &format!(
            "[[network]]\nname = \"phys-up0\"\nkind = \"bridge\"\nbridge = \"br-up0\"\n\
             uplink = \"up0\"\nreplicate_mac = true\n\
             [[guest]]\nname = \"rt\"\n[[guest.nic]]\nnetwork = \"phys-up0\"\ntype = \"veth\"\n\
             netns = \"{}\"\npeer = \"eth0\"\nmac = \"{mac}\"\n",
            l.guest.name()
        ),
    );
    l.hv.apply(&cfg);
    // The guest has the uplink's MAC; the uplink wears hvnet's stand-in.
    assert_eq!(must_link(l.guest.name(), "eth0")["address"], mac.as_str());
    assert_ne!(must_link(h, "up0")["address"], mac.as_str());
    assert_eq!(must_link(h, "up0")["master"], "br-up0");
    // The LAN reaches the guest under that MAC (the bridge forwards it to the guest's port
    // instead of keeping it for itself).
    l.guest
        .ip(&["addr", "add", "10.211.0.60/24", "dev", "eth0"]);
    l.guest.ip(&["link", "set", "eth0", "up"]);
    wait_carrier(h, "br-up0");
    assert!(
        wait_until(Duration::from_secs(3), || ping(&l.out, "10.211.0.60")),
        "the LAN cannot reach the guest"
    );
    let neigh = l.out.ip(&["neigh", "show", "10.211.0.60"]);
    assert!(neigh.contains(&mac), "{neigh}");
    // down: the uplink gets its MAC back.
    l.hv.run(&cfg, &["down"]).ok();
    assert_eq!(must_link(h, "up0")["address"], mac.as_str());
    // A NIC without the uplink's MAC is refused, nothing changed.
    let wrong = l.dir.write(
        "w.toml",
        &std::fs::read_to_string(&cfg)
            .unwrap()
            .replace(&mac, "02:00:00:00:99:99"),
    );
    let before = snapshot(h);
    let r = l.hv.run(&wrong, &["apply"]);
    r.expect_code(2);
    assert!(
        r.stderr.contains("replicate_mac hands uplink up0's MAC"),
        "{r}"
    );
    assert_snapshot(h, &before, &"refused replication");
}
