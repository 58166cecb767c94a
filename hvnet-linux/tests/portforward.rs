//! Root-only end-to-end test of a port forward (DNAT) through every firewall backend.
//!
//! Topology, all in namespaces the test creates and deletes on drop:
//!
//! ```text
//! g1 (10.90.0.11, http :80) ─┐
//!                            br0 [host: 10.90.0.1] uplink (10.0.0.1) ── out (10.0.0.2)
//! g2 (10.90.0.12) ───────────┘
//! ```
//!
//! The outside has no route to 10.90.0.0/24, so it only reaches the guest's server through
//! the forward `tcp 8080 → 10.90.0.11:80`. Every iptables/nft command runs inside the host
//! namespace (`netns::run_in` for the backend). Runs once per backend (`iptables-nft`,
//! `iptables-legacy`, nftables), skipping one whose binaries are missing.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hvnet_core::firewall::{FirewallIntent, Forward, FwKind, FwNetwork, Proto};
use hvnet_core::types::IfName;
use hvnet_linux::firewall::{Firewall, FirewallBackend, Iptables, Nftables, Variant};
use hvnet_linux::netns;

macro_rules! require_root {
    () => {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping the test at {}:{}: needs root", file!(), line!());
            return;
        }
    };
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A named namespace (with `lo` up) deleted on drop.
struct TestNs(String);

impl TestNs {
    fn new() -> TestNs {
        let name = unique("hvpf");
        let _ = netns::delete(&name);
        netns::create(&name).unwrap_or_else(|e| panic!("{e}"));
        let ns = TestNs(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    /// `ip netns exec NS CMD ARGS…`, returning (success, stdout, stderr).
    fn exec(&self, cmd: &str, args: &[&str]) -> (bool, String, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0, cmd])
            .args(args)
            .output()
            .expect("cannot run ip netns exec");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Like [`exec`](Self::exec) but panics on failure.
    fn must(&self, cmd: &str, args: &[&str]) -> String {
        let (ok, out, err) = self.exec(cmd, args);
        assert!(ok, "{cmd} {}: {err}", args.join(" "));
        out
    }

    /// Runs `f` with the backend inside the namespace.
    fn with<T: Send + 'static>(
        &self,
        ipt: &Firewall,
        f: impl FnOnce(&Firewall) -> T + Send + 'static,
    ) -> T {
        let ipt = ipt.clone();
        netns::run_in(&self.0, move || f(&ipt)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `curl` from this namespace: the body on success, the error otherwise.
    fn get(&self, url: &str) -> Result<String, String> {
        let (ok, out, err) = self.exec("curl", &["-sS", "--max-time", "2", url]);
        if ok {
            Ok(out)
        } else {
            Err(err.trim().to_owned())
        }
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        if let Err(e) = netns::delete(&self.0) {
            eprintln!("cleanup: {e}");
        }
    }
}

/// A server process killed (and reaped) on drop, with its document directory.
struct Server {
    child: Child,
    dir: PathBuf,
}

impl Server {
    /// `python3 -m http.server 80 --bind ADDR` in `ns`, serving an `index.html` of `body`;
    /// waits until it answers from inside its namespace.
    fn start(ns: &TestNs, addr: &str, body: &str) -> Server {
        let dir = std::env::temp_dir().join(unique("hvpf-www"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), body).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.0, "python3", "-m", "http.server", "80"])
            .args(["--bind", addr, "--directory"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start python3 -m http.server");
        let mut server = Server { child, dir };
        let url = format!("http://{addr}:80/");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if ns.get(&url).as_deref() == Ok(body) {
                return server;
            }
            if let Ok(Some(st)) = server.child.try_wait() {
                panic!("http.server exited early: {st}");
            }
            assert!(
                Instant::now() < deadline,
                "http.server on {addr} not answering"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn bin(v: Variant) -> &'static str {
    match v {
        Variant::Nft => "iptables-nft",
        Variant::Legacy => "iptables-legacy",
    }
}

/// `ip ARGS…`, panicking on failure.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("cannot run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn name(s: &str) -> IfName {
    IfName::new(s).expect("valid interface name")
}

fn forward_rules() -> FirewallIntent {
    FirewallIntent::new(
        vec![FwNetwork {
            name: "pf".into(),
            kind: FwKind::Nat {
                uplink: Some(name("uplink")),
                port_range: None,
                nat6: false,
            },
            bridge: name("br0"),
            subnets: vec!["10.90.0.0/24".parse().expect("valid subnet")],
            mss_clamp: false,
        }],
        vec![Forward {
            proto: Proto::Tcp,
            host_addr: None,
            host_port: 8080,
            guest_ip: "10.90.0.11".parse().expect("valid address"),
            guest_port: 80,
            network: "pf".into(),
        }],
    )
    .expect("known network")
}

fn add_guest(h: &str, g: &TestNs, port: &str, addr: &str) {
    let g = g.0.as_str();
    ip(&[
        "-n", h, "link", "add", port, "type", "veth", "peer", "eth0", "netns", g,
    ]);
    ip(&["-n", h, "link", "set", port, "master", "br0", "up"]);
    ip(&["-n", g, "addr", "add", addr, "dev", "eth0"]);
    ip(&["-n", g, "link", "set", "eth0", "up"]);
    ip(&["-n", g, "route", "add", "default", "via", "10.90.0.1"]);
}

#[test]
fn tcp_forward_outside_hairpin_host_and_remove() {
    require_root!();
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("skipping: curl not found");
        return;
    }
    let mut backends = Vec::new();
    for v in [Variant::Nft, Variant::Legacy] {
        match Iptables::with_variant(v) {
            Some(i) => backends.push((bin(v), Firewall::Iptables(i))),
            None => eprintln!("skipping {}: binaries not found", bin(v)),
        }
    }
    match Nftables::detect() {
        Some(n) => backends.push(("nft", Firewall::Nftables(n))),
        None => eprintln!("skipping nftables: nft not found"),
    }
    for (b, ipt) in backends {
        let (host, out, g1, g2) = (TestNs::new(), TestNs::new(), TestNs::new(), TestNs::new());
        let (h, o) = (host.0.as_str(), out.0.as_str());
        ip(&["-n", h, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", h, "addr", "add", "10.90.0.1/24", "dev", "br0"]);
        ip(&["-n", h, "link", "set", "br0", "up"]);
        add_guest(h, &g1, "vg1", "10.90.0.11/24");
        add_guest(h, &g2, "vg2", "10.90.0.12/24");
        ip(&[
            "-n", h, "link", "add", "uplink", "type", "veth", "peer", "eth0", "netns", o,
        ]);
        ip(&["-n", h, "addr", "add", "10.0.0.1/24", "dev", "uplink"]);
        ip(&["-n", h, "link", "set", "uplink", "up"]);
        ip(&["-n", o, "addr", "add", "10.0.0.2/24", "dev", "eth0"]);
        ip(&["-n", o, "link", "set", "eth0", "up"]);
        host.must("sysctl", &["-qw", "net.ipv4.ip_forward=1"]);

        let body = format!("hvnet port forward test {}\n", g1.0);
        // Declared after the namespaces: killed before they are deleted.
        let _server = Server::start(&g1, "10.90.0.11", &body);
        let url = "http://10.0.0.1:8080/";

        // Nothing listens on the host's 8080 before the rules exist.
        assert!(
            out.get(url).is_err(),
            "{b}: outside reached :8080 without rules"
        );

        let rules = forward_rules();
        ns_apply(&host, &ipt, rules.clone());
        let diffs = host.with(&ipt, move |i| i.check(&rules)).unwrap();
        assert_eq!(diffs, [], "{b}: check after apply");

        let listing = || match b {
            "nft" => host.must("nft", &["list", "table", "inet", "hvnet"]),
            _ => host.must(b, &["-t", "nat", "-S", "-v"]),
        };
        // (1) From outside through the uplink.
        assert_eq!(
            out.get(url).as_deref(),
            Ok(body.as_str()),
            "{b}: outside → {url}\n{}",
            listing()
        );
        // (2) Hairpin: another guest of the subnet, then the forward's own guest.
        assert_eq!(
            g2.get(url).as_deref(),
            Ok(body.as_str()),
            "{b}: guest .12 → {url} (hairpin)\n{}",
            listing()
        );
        // The forward's own guest: DNAT sends the packet back to the bridge port it came
        // in on. With br_netfilter the bridge delivers it as a bridged frame, which a port
        // only accepts with hairpin mode on; that is a bridge-port setting, not a rule.
        match g1.get(url) {
            Ok(got) => assert_eq!(got, body, "{b}: guest .11 → itself via {url}"),
            Err(e) => {
                eprintln!(
                    "{b}: guest .11 → itself via {url} fails without hairpin mode on vg1 ({e}); \
                     retrying with `bridge link set dev vg1 hairpin on`"
                );
                host.must("bridge", &["link", "set", "dev", "vg1", "hairpin", "on"]);
                assert_eq!(
                    g1.get(url).as_deref(),
                    Ok(body.as_str()),
                    "{b}: guest .11 → itself via {url} with hairpin mode\n{}",
                    listing()
                );
                host.must("bridge", &["link", "set", "dev", "vg1", "hairpin", "off"]);
            }
        }
        // (3) From the host itself (nat OUTPUT).
        assert_eq!(
            host.get(url).as_deref(),
            Ok(body.as_str()),
            "{b}: host → {url}\n{}",
            listing()
        );
        eprintln!("{b}: nat counters after the four requests:\n{}", listing());

        // (4) Removed: the outside is refused (or times out) again.
        host.with(&ipt, |i| i.remove()).expect("remove");
        let started = Instant::now();
        let after = out.get(url);
        assert!(
            after.is_err(),
            "{b}: outside still reaches {url} after remove"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{b}: the failing request took {:?}",
            started.elapsed()
        );
        eprintln!("{b}: after remove: {}", after.unwrap_err());
    }
}

fn ns_apply(ns: &TestNs, ipt: &Firewall, rules: FirewallIntent) {
    ns.with(ipt, move |i| i.apply(&rules))
        .unwrap_or_else(|e| panic!("apply: {e}"));
}
