//! `[network.dhcp] dns_only = true` on a real kernel: hvnet's dnsmasq answers DNS on the
//! bridge (the names of guest NICs with a fixed `ip`, updated live) and serves no DHCP;
//! and `hvnet import` prints its warnings also when the import fails.
//!
//! Topology: a host namespace where hvnet runs (`--netns`) and one guest namespace per
//! guest, whose veth NIC hvnet creates (`type = "veth"`, peer `eth0`); the guests set their
//! fixed address themselves (there is no DHCP). DNS queries are sent with a small UDP client
//! (python3) from the guest namespace to the host's bridge address.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use hvnet_tests::*;

/// `NAME SERVER`: sends one DNS A query over UDP and prints `rcode=N ADDR...`.
const DNS_QUERY: &str = r#"
import socket, struct, sys
name, server = sys.argv[1], sys.argv[2]
q = struct.pack(">HHHHHH", 0x4856, 0x0100, 1, 0, 0, 0)
for label in name.split("."):
    q += bytes([len(label)]) + label.encode()
q += b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(q, (server, 53))
r, _ = s.recvfrom(4096)
rcode = r[3] & 15
answers = struct.unpack(">H", r[6:8])[0]
i = 12
while r[i] != 0:
    i += r[i] + 1
i += 5
addrs = []
for _ in range(answers):
    if r[i] & 0xC0 == 0xC0:
        i += 2
    else:
        while r[i] != 0:
            i += r[i] + 1
        i += 1
    typ, cls, ttl, rdlen = struct.unpack(">HHIH", r[i:i + 10])
    i += 10
    if typ == 1:
        addrs.append(socket.inet_ntoa(r[i:i + 4]))
    i += rdlen
print("rcode=%d %s" % (rcode, " ".join(addrs)))
"#;

const CONFIG: &str = r#"
[[network]]
name = "dnsnet"
kind = "isolated"
bridge = "hvdns0"
address = "172.16.60.1/24"
[network.dhcp]
dns_only = true
domain = "lan"

[[guest]]
name = "web"
[[guest.nic]]
network = "dnsnet"
type = "veth"
netns = "@G0@"
peer = "eth0"
mac = "02:00:00:3c:00:0b"
ip = "172.16.60.11"
"#;

const SECOND_GUEST: &str = r#"
[[guest]]
name = "db"
[[guest.nic]]
network = "dnsnet"
type = "veth"
netns = "@G1@"
peer = "eth0"
mac = "02:00:00:3c:00:0c"
ip = "172.16.60.12"
"#;

fn tools_available() -> bool {
    for tool in ["dnsmasq", "python3", "ss", "busybox"] {
        if !on_path(tool) {
            eprintln!("SKIP: {tool} is not installed (scripts/install-deps.sh installs it)");
            return false;
        }
    }
    true
}

/// `NAME` resolved by the DNS server at `server`, asked from namespace `ns`.
fn query(ns: &str, name: &str, server: &str) -> String {
    let r = nsx(ns, "python3", &["-c", DNS_QUERY, name, server]);
    assert_eq!(r.code, 0, "no DNS answer for {name} from {server}\n{r}");
    r.stdout.trim().to_owned()
}

/// The pid in STATE/net/NET/dnsmasq.pid.
fn dnsmasq_pid(state: &std::path::Path, net: &str) -> Option<u32> {
    let text = std::fs::read_to_string(state.join("net").join(net).join("dnsmasq.pid")).ok()?;
    text.trim().parse().ok()
}

#[test]
fn dns_only_network_answers_names_and_serves_no_dhcp() {
    if !require_root() || !tools_available() {
        return;
    }
    let host = Netns::new("dns-h");
    let guests = [Netns::new("dns-g0"), Netns::new("dns-g1")];
    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    let subst = |t: &str| {
        t.replace("@G0@", guests[0].name())
            .replace("@G1@", guests[1].name())
    };
    let cfg = dir.write("c.toml", &subst(CONFIG));
    hv.apply(&cfg);
    let state = hv.state_dir.clone().unwrap();

    let conf = std::fs::read_to_string(state.join("net/dnsnet/dnsmasq.conf")).unwrap();
    assert!(!conf.contains("dhcp-range"), "{conf}");
    assert!(conf.contains("addn-hosts="), "{conf}");
    // dnsmasq listens on DNS (53) and not on DHCP (67).
    let udp = nsx(host.name(), "ss", &["-uln"]);
    assert!(udp.stdout.contains("172.16.60.1:53"), "{udp}");
    assert!(!udp.stdout.contains(":67 "), "dnsmasq serves DHCP\n{udp}");

    guests[0].ip(&["addr", "add", "172.16.60.11/24", "dev", "eth0"]);
    guests[0].ip(&["link", "set", "eth0", "up"]);
    assert_eq!(
        query(guests[0].name(), "web.lan", "172.16.60.1"),
        "rcode=0 172.16.60.11"
    );
    assert_eq!(
        query(guests[0].name(), "web", "172.16.60.1"),
        "rcode=0 172.16.60.11"
    );
    // A name it does not know in its own domain: NXDOMAIN, never forwarded.
    assert_eq!(
        query(guests[0].name(), "nothere.lan", "172.16.60.1"),
        "rcode=3"
    );
    // No DHCP answer.
    let udhcpc: Vec<&str> = "udhcpc -i eth0 -n -q -t 2 -T 1 -s /bin/true"
        .split(' ')
        .collect();
    let dhcp = nsx(guests[0].name(), "busybox", &udhcpc);
    assert_ne!(dhcp.code, 0, "a DHCP lease from a DNS-only network\n{dhcp}");
    let c = hv.run(&cfg, &["check"]);
    assert_eq!(c.code, 0, "check after apply\n{c}");

    // A second guest is named live: the same dnsmasq re-reads its hosts file.
    let pid = dnsmasq_pid(&state, "dnsnet").expect("dnsmasq pid");
    let cfg2 = dir.write("c2.toml", &subst(&format!("{CONFIG}{SECOND_GUEST}")));
    hv.apply(&cfg2);
    assert_eq!(
        dnsmasq_pid(&state, "dnsnet"),
        Some(pid),
        "dnsmasq was restarted"
    );
    let mut got = String::new();
    let named = wait_until(Duration::from_secs(3), || {
        got = query(guests[0].name(), "db.lan", "172.16.60.1");
        got == "rcode=0 172.16.60.12"
    });
    assert!(named, "db.lan: {got}");
    hv.run(&cfg2, &["down"]).ok();
}

/// A libvirt network with `<ip>` and no `<dhcp>` imports as a DNS-only network that
/// validates (libvirt runs dnsmasq for DNS there).
#[test]
fn libvirt_network_without_dhcp_imports_dns_only() {
    let dir = TempDir::new();
    let xml = dir.write(
        "n.xml",
        "<network>\n<name>n</name>\n<forward mode='nat'/>\n<bridge name='virbr9' stp='off'/>\n\
         <ip address='10.9.0.1' prefix='24'/>\n</network>\n",
    );
    let r = hvnet_run(&["import", "libvirt-network", xml.to_str().unwrap()], &[]);
    r.ok();
    assert!(
        r.stdout.contains("[network.dhcp]\ndns_only = true\n"),
        "{r}"
    );
    let cfg = dir.write("c.toml", &r.stdout);
    let v = hvnet_run(&["-c", cfg.to_str().unwrap(), "validate"], &[]);
    assert_eq!(v.code, 0, "{v}");
}

/// Warnings are printed when the import then fails (issue 15: they were hidden).
#[test]
fn import_prints_warnings_when_it_fails() {
    let r = hvnet_run(&["import", "xl-vif", "mtu=9000,mac=00:16:3e:zz:00:01"], &[]);
    r.expect_code(2);
    assert!(r.stdout.is_empty(), "{r}");
    assert!(
        r.stderr
            .contains("mtu: not imported: a guest port takes the MTU of its network"),
        "{r}"
    );
    assert!(r.stderr.contains("xl vif mac=\"00:16:3e:zz:00:01\""), "{r}");

    let dir = TempDir::new();
    let sh = dir.write("u.sh", "smb_enable=1\nnetif_mode=7\n");
    let p = sh.to_str().unwrap();
    let r = hvnet_run(&["import", "usr-guest-config", p], &[]);
    r.expect_code(2);
    assert!(
        r.stderr
            .contains(&format!("{p}:1: warning: smb_enable: not imported")),
        "{r}"
    );
    assert!(r.stderr.contains(&format!("{p}:2: netif_mode")), "{r}");
}
