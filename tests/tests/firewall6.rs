//! hvnet's IPv6 firewall end to end, once per backend (`…::nftables`: a `PATH` with `nft`
//! and no iptables binary; `…::iptables`: iptables and ip6tables, no `nft`): a nat
//! network's IPv6 is routed both ways (no NAT66: the outside sees the guest's own address
//! and reaches the guest), a `nat6 = true` network's guest is masqueraded behind the
//! uplink's IPv6 address, an isolated network's guest reaches the host but nothing beyond,
//! and a port forward from an IPv6 `host_addr` reaches the guest's `ip6` from outside and,
//! masqueraded (hairpin), from a guest of the same network. `check` is clean after `apply`,
//! names a firewall damaged behind hvnet's back, and `apply` repairs it.
//!
//! Topology: a host namespace where hvnet runs (`--netns`), an outside namespace joined by
//! the uplink veth `up0` (host `fd00:71::1/64`, outside `fd00:71::2/64`; the outside routes
//! the routed and the isolated prefixes back through the host, not the nat6 one) and one namespace per guest
//! (veth NIC made by hvnet, peer `eth0`, a static address the test sets). TCP services are
//! small Python servers that answer with the address they saw the connection come from.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hvnet_tests::*;

/// Answers every TCP connection on `[::]:PORT` with the peer's address, then closes it.
const WHOAMI6: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1])))
s.listen(16)
print("listening", flush=True)
while True:
    c, a = s.accept()
    try:
        c.sendall((a[0] + "\n").encode())
    finally:
        c.close()
"#;

const CONFIG: &str = r#"
[[network]]
name = "r6"
kind = "nat"
bridge = "hvr6"
address = "172.16.71.1/24"
address6 = "fd42:71::1/64"
uplink = "up0"
[network.dhcp6]
mode = "stateful"

[[network]]
name = "m6"
kind = "nat"
bridge = "hvm6"
address = "172.16.72.1/24"
address6 = "fd42:72::1/64"
uplink = "up0"
nat6 = true

[[network]]
name = "i6"
kind = "isolated"
bridge = "hvi6"
address6 = "fd42:73::1/64"

[[network]]
name = "int"
kind = "internal"
bridge = "hvint"

[[guest]]
name = "web"
[[guest.nic]]
network = "r6"
type = "veth"
netns = "@G0@"
peer = "eth0"
ip6 = "fd42:71::10"
[[guest.forward]]
host_addr = "fd00:71::1"
host_port = 8080
guest_port = 80
[[guest.forward]]
host_port = 8081
guest_port = 80

[[guest]]
name = "peer"
[[guest.nic]]
network = "r6"
type = "veth"
netns = "@G1@"
peer = "eth0"

[[guest]]
name = "masq"
[[guest.nic]]
network = "m6"
type = "veth"
netns = "@G2@"
peer = "eth0"

[[guest]]
name = "iso"
[[guest.nic]]
network = "i6"
type = "veth"
netns = "@G3@"
peer = "eth0"

[[guest]]
name = "inner"
[[guest.nic]]
network = "int"
type = "veth"
netns = "@G4@"
peer = "eth0"
"#;

/// The guests' addresses and their routers (the host's address on their bridge; the
/// internal network's guest routes via the bridge's link-local address, set later).
const GUESTS: [(&str, Option<&str>); 5] = [
    ("fd42:71::10", Some("fd42:71::1")),
    ("fd42:71::11", Some("fd42:71::1")),
    ("fd42:72::10", Some("fd42:72::1")),
    ("fd42:73::10", Some("fd42:73::1")),
    ("fd42:75::10", None),
];

/// Whether the test can run here; prints why not.
fn available(fw: Option<Fw>) -> bool {
    if !require_root() {
        return false;
    }
    let mut tools = vec!["dnsmasq", "python3", "ping"];
    match fw {
        Some(Fw::Nftables) => tools.push("nft"),
        Some(Fw::Iptables) => tools.extend(["iptables", "ip6tables", "ip6tables-restore"]),
        None => tools.push("iptables"),
    }
    let missing: Vec<&str> = tools.into_iter().filter(|t| !on_path(t)).collect();
    if !missing.is_empty() {
        println!(
            "skipped: not installed: {} (scripts/install-deps.sh)",
            missing.join(" ")
        );
        return false;
    }
    if !std::path::Path::new("/proc/sys/net/ipv6").exists() {
        println!("skipped: this kernel has no IPv6");
        return false;
    }
    true
}

/// A background process in a namespace, killed on drop.
struct Bg(Child);

impl Bg {
    /// Starts `python3 -c SCRIPT ARGS…` in `ns` and waits for its first output line.
    fn python(ns: &str, script: &str, args: &[&str], out: PathBuf) -> Bg {
        let file = std::fs::File::create(&out).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-u", "-c", script])
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let bg = Bg(child);
        assert!(
            wait_until(Duration::from_secs(5), || std::fs::read_to_string(&out)
                .unwrap_or_default()
                .contains("listening")),
            "server in {ns} did not start: {}",
            std::fs::read_to_string(&out).unwrap_or_default()
        );
        bg
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Connects from `ns` to `[addr]:port`; what the server saw as the source, or the failed
/// run.
fn whoami(ns: &str, addr: &str, port: &str) -> Result<String, Run> {
    let r = nsx(ns, "python3", &["-c", TCP_CLIENT, addr, port]);
    if r.code == 0 {
        Ok(r.stdout.trim().to_string())
    } else {
        Err(r)
    }
}

/// [`whoami`], retried for a few seconds (neighbour discovery, daemons settling).
fn whoami_soon(ns: &str, addr: &str, port: &str) -> Result<String, Run> {
    let mut last = whoami(ns, addr, port);
    for _ in 0..10 {
        if last.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        last = whoami(ns, addr, port);
    }
    last
}

fn sysctl_w(ns: &str, kv: &str) {
    nsx(ns, "sysctl", &["-q", "-w", kv]).ok();
}

struct Topo {
    _bin: TempDir,
    host: Netns,
    out: Netns,
    guests: Vec<Netns>,
    dir: TempDir,
    hv: Hv,
    cfg: PathBuf,
}

impl Topo {
    /// The namespaces, the uplink, the config, hvnet on a `PATH` that selects `fw`.
    fn new(fw: Fw) -> Topo {
        // The outside's address goes through DAD (the clients retry meanwhile).
        let (host, out) = host_and_lan("fw6", "fd00:71::2/64");
        let guests: Vec<Netns> = (0..GUESTS.len())
            .map(|k| Netns::new(&format!("fw6-g{k}")))
            .collect();
        let dir = TempDir::new();
        let bin = TempDir::new();
        let mut hv = Hv::new(&host, &dir);
        hv.env = vec![("PATH".into(), path_for_firewall(&bin, fw.tool()))];
        host.ip(&["addr", "add", "fd00:71::1/64", "dev", "up0", "nodad"]);
        // The routed prefix and the isolated one (so that only the firewall keeps the
        // isolated guest in), not the nat6 one.
        for p in ["fd42:71::/64", "fd42:73::/64", "fd42:75::/64"] {
            out.ip(&["-6", "route", "add", p, "via", "fd00:71::1"]);
        }
        let mut text = CONFIG.to_string();
        for (k, g) in guests.iter().enumerate() {
            text = text.replace(&format!("@G{k}@"), g.name());
        }
        let cfg = dir.write("c.toml", &text);
        Topo {
            _bin: bin,
            host,
            out,
            guests,
            dir,
            hv,
            cfg,
        }
    }

    /// `apply`, then each guest's static address and default route.
    fn apply_and_configure_guests(&self) {
        self.hv.apply(&self.cfg);
        for (g, (addr, router)) in self.guests.iter().zip(GUESTS) {
            sysctl_w(g.name(), "net.ipv6.conf.eth0.accept_dad=0");
            sysctl_w(g.name(), "net.ipv6.conf.eth0.accept_ra=0");
            g.ip(&["link", "set", "eth0", "up"]);
            g.ip(&[
                "-6",
                "addr",
                "add",
                &format!("{addr}/64"),
                "dev",
                "eth0",
                "nodad",
            ]);
            if let Some(r) = router {
                g.ip(&["-6", "route", "add", "default", "via", r]);
            }
        }
    }

    fn g(&self, k: usize) -> &str {
        self.guests[k].name()
    }

    fn check(&self) -> Run {
        self.hv.run(&self.cfg, &["check"])
    }
}

/// Every path of the test, once per backend.
fn routed_nat6_isolated_and_forwards(fw: Fw) {
    if !available(Some(fw)) {
        return;
    }
    let t = Topo::new(fw);
    // The dry run prints the IPv6 rules' commands.
    let dry = t.hv.run(&t.cfg, &["apply", "--dry-run"]);
    dry.ok();
    let want = match fw {
        Fw::Nftables => "map dnat6",
        Fw::Iptables => "ip6tables",
    };
    assert!(dry.stdout.contains(want), "{fw:?}: no {want:?} in\n{dry}");
    assert!(dry.stdout.contains("fd42:71::10"), "{fw:?}: {dry}");
    // `plan --commands` prints the same commands.
    let plan = t.hv.run(&t.cfg, &["plan", "--commands"]);
    plan.ok();
    assert_eq!(plan.stdout, dry.stdout, "{fw:?}: plan --commands");
    t.apply_and_configure_guests();
    t.check().ok();
    let _outside = Bg::python(t.out.name(), WHOAMI6, &["9000"], t.dir.path().join("o.log"));
    let _web = Bg::python(t.g(0), WHOAMI6, &["80"], t.dir.path().join("w.log"));
    let _iso_host = Bg::python(
        t.host.name(),
        WHOAMI6,
        &["9001"],
        t.dir.path().join("h.log"),
    );

    // Routed IPv6 of a nat network: the outside sees the guest's own address, and reaches
    // the guest.
    let seen = whoami_soon(t.g(0), "fd00:71::2", "9000")
        .unwrap_or_else(|r| panic!("{fw:?}: routed guest → outside\n{r}"));
    assert_eq!(
        seen, "fd42:71::10",
        "{fw:?}: the routed guest was translated"
    );
    let seen = whoami_soon(t.out.name(), "fd42:71::10", "80")
        .unwrap_or_else(|r| panic!("{fw:?}: outside → routed guest\n{r}"));
    assert_eq!(seen, "fd00:71::2", "{fw:?}");

    // nat6: masqueraded behind the uplink's address (the outside has no route back to
    // fd42:72::/64, so only the masquerade makes this work).
    let seen = whoami_soon(t.g(2), "fd00:71::2", "9000")
        .unwrap_or_else(|r| panic!("{fw:?}: nat6 guest → outside\n{r}"));
    assert_eq!(seen, "fd00:71::1", "{fw:?}: nat6 guest not masqueraded");

    // Isolated: the host, not beyond it.
    let seen = whoami_soon(t.g(3), "fd42:73::1", "9001")
        .unwrap_or_else(|r| panic!("{fw:?}: isolated guest → host\n{r}"));
    assert_eq!(seen, "fd42:73::10", "{fw:?}");
    let r = whoami(t.g(3), "fd00:71::2", "9000");
    assert!(
        r.is_err(),
        "{fw:?}: the isolated guest reached the outside: {r:?}"
    );
    let ping = nsx(t.g(3), "ping", &["-6", "-c", "1", "-W", "1", "fd00:71::2"]);
    assert_ne!(
        ping.code, 0,
        "{fw:?}: the isolated guest pings the outside\n{ping}"
    );
    // Internal: the host forwards IPv6, and a guest that routes via the bridge's
    // link-local address (the host routing its prefix back, as a stray route would) is
    // still kept in — by the firewall alone.
    t.host
        .ip(&["-6", "route", "add", "fd42:75::/64", "dev", "hvint"]);
    let ll = t
        .host
        .ip(&["-6", "-o", "addr", "show", "dev", "hvint", "scope", "link"]);
    let ll = ll
        .split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("hvint has no link-local address: {ll}"))
        .to_string();
    t.guests[4].ip(&["-6", "route", "add", "default", "via", &ll, "dev", "eth0"]);
    let r = whoami(t.g(4), "fd00:71::2", "9000");
    assert!(
        r.is_err(),
        "{fw:?}: the internal guest reached the outside: {r:?}"
    );

    // The port forward from the host's IPv6 address: from outside (source kept) and from a
    // guest of the same network (hairpin: masqueraded to the host's bridge address).
    let seen = whoami_soon(t.out.name(), "fd00:71::1", "8080")
        .unwrap_or_else(|r| panic!("{fw:?}: outside → forward\n{r}"));
    assert_eq!(seen, "fd00:71::2", "{fw:?}");
    let seen = whoami_soon(t.g(1), "fd00:71::1", "8080")
        .unwrap_or_else(|r| panic!("{fw:?}: hairpin\n{r}"));
    assert_eq!(seen, "fd42:71::1", "{fw:?}: hairpin not masqueraded");
    // Without host_addr: every local address of the families the NIC has (here ip6 only).
    let seen = whoami_soon(t.out.name(), "fd00:71::1", "8081")
        .unwrap_or_else(|r| panic!("{fw:?}: outside → any-address forward\n{r}"));
    assert_eq!(seen, "fd00:71::2", "{fw:?}");

    // Damaged behind hvnet's back: named by check, repaired by apply.
    match fw {
        Fw::Nftables => {
            // Read back from `nft -j`: an element and a rule, each named.
            nsx(
                t.host.name(),
                "nft",
                &["delete element inet hvnet fwd6 { fd42:71::10 . tcp . 80 }"],
            )
            .ok();
            nsx(
                t.host.name(),
                "nft",
                &["add rule inet hvnet forward ip6 saddr fd42:73::/64 accept"],
            )
            .ok();
            let c = t.check();
            c.expect_code(1);
            for want in [
                "missing element { fd42:71::10 . tcp . 80 } of set fwd6",
                "unexpected rule in chain forward: ip6 saddr fd42:73::/64 accept",
            ] {
                assert!(c.stdout.contains(want), "check does not name {want:?}\n{c}");
            }
            nsx(t.host.name(), "nft", &["flush", "ruleset"]).ok();
            let c = t.check();
            c.expect_code(1);
            assert!(c.stdout.contains("hvnet's firewall does not exist"), "{c}");
        }
        Fw::Iptables => {
            nsx(t.host.name(), "ip6tables", &["-w", "-F", "HVNET-FWI"]).ok();
            let c = t.check();
            c.expect_code(1);
            assert!(
                c.stdout.contains(
                    "missing ip6tables rule: -t filter -A HVNET-FWI -d fd42:71::/64 -i up0 -o hvr6"
                ),
                "check names the missing IPv6 rule\n{c}"
            );
        }
    }
    t.hv.apply(&t.cfg);
    t.check().ok();
    let seen = whoami_soon(t.out.name(), "fd42:71::10", "80")
        .unwrap_or_else(|r| panic!("{fw:?}: outside → routed guest after repair\n{r}"));
    assert_eq!(seen, "fd00:71::2");

    t.hv.run(&t.cfg, &["down"]).ok();
    let left = firewall_listing(t.host.name())
        + &nsx(t.host.name(), "ip6tables", &["-w", "-S"]).stdout
        + &nsx(t.host.name(), "ip6tables", &["-w", "-t", "nat", "-S"]).stdout;
    assert!(
        !has_hvnet_firewall(&left),
        "{fw:?}: left after down:\n{left}"
    );
}

mod routed_nat6_isolated_and_forwards {
    #[test]
    fn nftables() {
        super::routed_nat6_isolated_and_forwards(super::Fw::Nftables)
    }
    #[test]
    fn iptables() {
        super::routed_nat6_isolated_and_forwards(super::Fw::Iptables)
    }
}

/// A host with iptables but no ip6tables (and no nft): an IPv4 config works as before; a
/// config with IPv6 is refused naming ip6tables, and nothing is left of it.
#[test]
fn iptables_without_ip6tables() {
    if !available(None) {
        return;
    }
    let host = Netns::new("fw6n-h");
    let dir = TempDir::new();
    let bin = TempDir::new();
    let mut drop = vec!["nft".to_string()];
    for d in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("ip6tables") {
                drop.push(name);
            }
        }
    }
    let drop: Vec<&str> = drop.iter().map(String::as_str).collect();
    let mut hv = Hv::new(&host, &dir);
    hv.env = vec![("PATH".into(), path_without(&bin, &drop))];
    let v4 = "[[network]]\nname = \"n\"\nkind = \"nat\"\nbridge = \"hvn4\"\naddress = \"172.16.74.1/24\"\n";
    let cfg = dir.write("v4.toml", v4);
    hv.apply(&cfg);
    hv.run(&cfg, &["check"]).ok();
    let v6 = dir.write("v6.toml", &format!("{v4}address6 = \"fd42:74::1/64\"\n"));
    let r = hv.run(&v6, &["apply"]);
    assert_ne!(r.code, 0, "applied IPv6 rules without ip6tables\n{r}");
    assert!(
        r.stderr.contains("ip6tables"),
        "the error does not name ip6tables\n{r}"
    );
    // The failed apply was rolled back: the IPv4 config is still in place, exactly.
    hv.run(&cfg, &["check"]).ok();
    let addrs = host.ip(&["-6", "addr", "show", "dev", "hvn4"]);
    assert!(!addrs.contains("fd42:74::1"), "{addrs}");
    hv.run(&cfg, &["down"]).ok();
}
