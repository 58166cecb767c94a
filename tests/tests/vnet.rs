//! Virtual networks (`kind = "nat" | "routed" | "isolated"`, `[network.dhcp]`, port
//! forwards) end to end: real DHCP clients (`busybox udhcpc`), real traffic between guest,
//! host and outside namespaces, hvnet's iptables chains, dnsmasq supervision, sysctl
//! restoration and the libvirt network import.
//!
//! Topology per test (see [`Topo`]): a host namespace where hvnet runs (`--netns`), an
//! outside namespace linked to it by the uplink veth `up0` (host `10.200.N.1/24` ↔ outside
//! `10.200.N.2/24`, the host's default route via the outside) and guest namespaces whose
//! veth NIC hvnet creates (`type = "veth"`, peer `eth0`). Each test uses its own `N` and
//! guest subnet `172.16.N.0/24`, so tests may run in parallel. iptables and nft only ever
//! run inside test namespaces.
//!
//! Every firewall test runs on both backends ([`Fw`]): `…::nftables` with a `PATH` that has
//! `nft` and no iptables binary, `…::iptables` with one that has iptables and no `nft` —
//! hvnet's `auto` selection picks the backend in each. Every background process is killed by a guard on drop (and the
//! namespace guards kill whatever is left inside).

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hvnet_tests::*;
use serde_json::Value;

/// A TCP server that answers every connection with the peer's address (what it saw as the
/// source) and closes it. Arguments: port, and `hold` to send nothing and keep each
/// connection open for 10 s instead (so that `ss` can read it).
const WHOAMI_SERVER: &str = r#"
import socket, sys, threading, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(16)
hold = sys.argv[2:] == ["hold"]
while True:
    c, a = s.accept()
    if hold:
        threading.Thread(target=lambda c=c: (time.sleep(10), c.close()), daemon=True).start()
        continue
    try:
        c.sendall((a[0] + "\n").encode())
    finally:
        c.close()
"#;

/// Fetches URL (3 s timeout, no proxy from the environment) and prints the body.
const HTTP_GET: &str = r#"
import sys, urllib.request
o = urllib.request.build_opener(urllib.request.ProxyHandler({}))
print(o.open(sys.argv[1], timeout=3).read().decode().strip())
"#;

/// TCP port of the whoami servers.
const WHOAMI_PORT: &str = "9000";

// ----- commands -----

/// `iptables ARGS...` inside `ns` (never in the root namespace), which must succeed.
fn ipt(ns: &str, args: &[&str]) -> String {
    let r = nsx(ns, "iptables", args);
    assert_eq!(r.code, 0, "iptables failed\n{r}");
    r.stdout
}

/// `sysctl -n KEY` inside `ns`.
fn sysctl_get(ns: &str, key: &str) -> String {
    let r = nsx(ns, "sysctl", &["-n", key]);
    assert_eq!(r.code, 0, "sysctl failed\n{r}");
    r.stdout.trim().to_string()
}

/// `sysctl -w KEY=VALUE` inside `ns`.
fn sysctl_set(ns: &str, key: &str, value: &str) {
    let r = nsx(ns, "sysctl", &["-qw", &format!("{key}={value}")]);
    assert_eq!(r.code, 0, "sysctl failed\n{r}");
}

/// `ping -c COUNT -W 1 ADDR` from `ns`; true when every reply came.
fn ping_ok(ns: &str, addr: &str, count: u32) -> bool {
    let c = count.to_string();
    nsx(
        ns,
        "ping",
        &["-n", "-q", "-c", &c, "-i", "0.2", "-W", "1", addr],
    )
    .code
        == 0
}

/// A TCP connection from `ns` to the whoami server at `addr`: the address the server saw,
/// or the failed run.
fn whoami(ns: &str, addr: &str) -> Result<String, Run> {
    let r = nsx(ns, "python3", &["-c", TCP_CLIENT, addr, WHOAMI_PORT]);
    if r.code == 0 && !r.stdout.trim().is_empty() {
        Ok(r.stdout.trim().to_string())
    } else {
        Err(r)
    }
}

/// An HTTP GET from `ns`; the body, or the failed run.
fn http_get(ns: &str, url: &str) -> Result<String, Run> {
    let r = nsx(ns, "python3", &["-c", HTTP_GET, url]);
    if r.code == 0 {
        Ok(r.stdout.trim().to_string())
    } else {
        Err(r)
    }
}

/// Waits (up to 5 s) until something in `ns` listens on TCP `port`.
fn wait_listen(ns: &str, port: &str) {
    let filter = format!("sport = :{port}");
    let ok = wait_until(Duration::from_secs(5), || {
        nsx(ns, "ss", &["-Htln", &filter]).stdout.contains(port)
    });
    assert!(ok, "nothing listens on TCP {port} in {ns}");
}

/// Whether `pid` is a live (not zombie) dnsmasq.
fn dnsmasq_alive(pid: u32) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // stat: "PID (comm) STATE ..."
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    comm.trim() == "dnsmasq" && state.is_some_and(|s| s != 'Z' && s != 'X')
}

/// The pid in STATE/net/NET/dnsmasq.pid, if the file exists.
fn dnsmasq_pid(state: &Path, net: &str) -> Option<u32> {
    let text = std::fs::read_to_string(state.join("net").join(net).join("dnsmasq.pid")).ok()?;
    text.trim().parse().ok()
}

/// Whether `text` contains `file:LINE:COL` (LINE, COL decimal).
fn has_location(text: &str, file: &str) -> bool {
    text.match_indices(file).any(|(i, _)| {
        let rest = &text[i + file.len()..];
        let mut parts = rest.splitn(4, ':');
        parts.next() == Some("")
            && parts
                .next()
                .is_some_and(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()))
            && parts
                .next()
                .is_some_and(|c| !c.is_empty() && c.chars().all(|c| c.is_ascii_digit()))
    })
}

/// Whether every program the tests drive is installed (scripts/install-deps.sh installs
/// them); prints which is missing (the test then returns early and passes).
fn tools_available() -> bool {
    let missing: Vec<&str> = ["busybox", "dnsmasq", "ping", "python3", "ss", "sysctl"]
        .into_iter()
        .filter(|p| !on_path(p))
        .collect();
    if !missing.is_empty() {
        println!(
            "skipped: not installed: {} (scripts/install-deps.sh)",
            missing.join(" ")
        );
    }
    missing.is_empty()
}

// ----- firewall backends -----

/// Whether a test on `fw` can run (root, the common tools and the backend's tool); prints
/// why not.
fn fw_available(fw: Fw) -> bool {
    if !require_root() || !tools_available() {
        return false;
    }
    if !on_path(fw.tool()) {
        println!(
            "skipped: {} is not installed (scripts/install-deps.sh)",
            fw.tool()
        );
        return false;
    }
    true
}

/// Everything of hvnet's firewall in `ns`, as `fw`'s tool lists it.
fn fw_listing(fw: Fw, ns: &str) -> String {
    match fw {
        Fw::Nftables => nsx(ns, "nft", &["list", "ruleset"]).ok().stdout.clone(),
        Fw::Iptables => ipt(ns, &["-S"]) + &ipt(ns, &["-t", "nat", "-S"]),
    }
}

/// `mod NAME { fn nftables(); fn iptables(); }` calling `NAME(Fw::…)`: a firewall test once
/// per backend.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn nftables() {
                super::$name(super::Fw::Nftables)
            }
            #[test]
            fn iptables() {
                super::$name(super::Fw::Iptables)
            }
        }
    )*};
}

both_backends!(
    dhcp_dynamic_and_static_leases,
    nat_reaches_outside_with_host_address,
    isolated_reaches_host_not_outside,
    routed_guest_reachable_from_outside,
    port_forward_and_hairpin,
    flush_check_apply,
    mss_clamp_over_a_low_mtu_path,
);

// ----- background processes -----

/// A background process started with `ip netns exec` (which execs in place, so the child
/// is the program itself), its stdout and stderr going to a file; killed on drop.
struct Bg {
    child: Option<Child>,
    out: PathBuf,
    what: String,
}

impl Bg {
    fn start(ns: &str, args: &[&str], out: PathBuf) -> Bg {
        let file = std::fs::File::create(&out).expect("create output file");
        let err = file.try_clone().expect("clone output file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {args:?} in {ns}: {e}"));
        Bg {
            child: Some(child),
            out,
            what: format!("{ns}: {}", args.join(" ")),
        }
    }

    /// Waits (at most `timeout`) for it to exit; its exit code (-1 for a signal) and output.
    fn wait(mut self, timeout: Duration) -> (i32, String) {
        let mut child = self.child.take().expect("still running");
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("try_wait") {
                break s;
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{} did not finish within {timeout:?}", self.what);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = std::fs::read_to_string(&self.out).unwrap_or_default();
        (status.code().unwrap_or(-1), out)
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ----- topology -----

/// Host + outside namespaces linked by the uplink veth, a temp dir and hvnet bound to the
/// host namespace.
struct Topo {
    n: u8,
    /// The directory of the `PATH` that selects it.
    _bin: TempDir,
    host: Netns,
    out: Netns,
    guests: Vec<Netns>,
    dir: TempDir,
    hv: Hv,
}

impl Topo {
    /// Host with uplink `up0` 10.200.N.1/24 to the outside (10.200.N.2/24) and a default
    /// route via the outside; `guests` guest namespaces (`g0`, `g1`, ...).
    fn new(n: u8, guests: usize) -> Topo {
        Topo::with_fw(n, guests, Fw::Iptables)
    }

    /// [`Topo::new`] with hvnet run on a `PATH` that makes `auto` pick `fw`.
    fn with_fw(n: u8, guests: usize, fw: Fw) -> Topo {
        let mut t = Topo::bare(n, guests);
        let path = path_for_firewall(&t._bin, fw.tool());
        t.hv.env = vec![("PATH".to_string(), path)];
        t.add_uplink();
        t
    }

    /// Adds [`Topo::new`]'s uplink `up0` and default route to a bare topology.
    fn add_uplink(&self) {
        let t = self;
        let h = t.h();
        // Host end with its own ifindex (same index on both ends can delay things).
        ip(&[
            "-n",
            h,
            "link",
            "add",
            "up0",
            "index",
            "900",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            t.out.name(),
        ]);
        t.host
            .ip(&["addr", "add", &format!("{}/24", t.uplink()), "dev", "up0"]);
        t.host.ip(&["link", "set", "up0", "up"]);
        t.out
            .ip(&["addr", "add", &format!("{}/24", t.outside()), "dev", "eth0"]);
        t.out.ip(&["link", "set", "eth0", "up"]);
        t.host.ip(&["route", "add", "default", "via", &t.outside()]);
    }

    /// Namespaces only: no uplink, no default route in the host.
    fn bare(n: u8, guests: usize) -> Topo {
        let host = Netns::new(&format!("v{n}-h"));
        let out = Netns::new(&format!("v{n}-o"));
        let guests = (0..guests)
            .map(|i| Netns::new(&format!("v{n}-g{i}")))
            .collect();
        let dir = TempDir::new();
        let hv = Hv::new(&host, &dir);
        let script = dir.write("udhcpc.sh", UDHCPC_SCRIPT);
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("chmod udhcpc.sh");
        Topo {
            n,
            _bin: TempDir::new(),
            host,
            out,
            guests,
            dir,
            hv,
        }
    }

    fn h(&self) -> &str {
        self.host.name()
    }

    fn g(&self, i: usize) -> &str {
        self.guests[i].name()
    }

    /// The host's uplink address.
    fn uplink(&self) -> String {
        format!("10.200.{}.1", self.n)
    }

    /// The outside's address.
    fn outside(&self) -> String {
        format!("10.200.{}.2", self.n)
    }

    /// Address `.last` in the guest subnet 172.16.N.0/24.
    fn net(&self, last: u8) -> String {
        format!("172.16.{}.{last}", self.n)
    }

    /// The state directory.
    fn state(&self) -> PathBuf {
        self.hv.state_dir.clone().expect("state dir")
    }

    /// Writes `name` with `@H@`, `@O@`, `@Gi@`, `@N@` substituted; returns its path.
    fn config(&self, name: &str, text: &str) -> PathBuf {
        let mut t = text
            .replace("@N@", &self.n.to_string())
            .replace("@H@", self.h())
            .replace("@O@", self.out.name());
        for (i, g) in self.guests.iter().enumerate() {
            t = t.replace(&format!("@G{i}@"), g.name());
        }
        self.dir.write(name, &t)
    }

    /// `busybox udhcpc` on `eth0` of guest `i` (one-shot); the run (stdout has the hook's
    /// `udhcpc bound ip=… router=…` line).
    fn dhcp(&self, i: usize) -> Run {
        let script = self.dir.path().join("udhcpc.sh");
        let r = udhcpc(self.g(i), &script);
        assert_eq!(r.code, 0, "udhcpc in {} got no lease\n{r}", self.g(i));
        r
    }

    /// Starts the whoami server in `ns` and waits until it listens.
    fn whoami_server(&self, ns: &str, tag: &str) -> Bg {
        let bg = Bg::start(
            ns,
            &["python3", "-u", "-c", WHOAMI_SERVER, WHOAMI_PORT],
            self.dir.path().join(format!("whoami-{tag}.log")),
        );
        wait_listen(ns, WHOAMI_PORT);
        bg
    }

    /// `hvnet check`'s run.
    fn check(&self, cfg: &Path) -> Run {
        self.hv.run(cfg, &["check"])
    }
}

// ----- tests -----

const DHCP_CONFIG: &str = r#"
[[network]]
name = "lan"
kind = "nat"
bridge = "hvbr0"
address = "172.16.@N@.1/24"
uplink = "up0"
[network.dhcp]
range = "172.16.@N@.100-172.16.@N@.199"

[[guest]]
name = "dyn"
[[guest.nic]]
network = "lan"
type = "veth"
netns = "@G0@"
peer = "eth0"
mac = "02:00:00:01:00:10"

[[guest]]
name = "fixed"
[[guest.nic]]
network = "lan"
type = "veth"
netns = "@G1@"
peer = "eth0"
mac = "02:00:00:01:00:11"
ip = "172.16.@N@.11"
"#;

fn dhcp_dynamic_and_static_leases(fw: Fw) {
    if !fw_available(fw) {
        return;
    }
    let t = Topo::with_fw(1, 2, fw);
    let cfg = t.config("c.toml", DHCP_CONFIG);
    t.hv.apply(&cfg);

    t.dhcp(0);
    t.dhcp(1);
    let dyn_addr = ipv4(t.g(0), "eth0");
    assert_eq!(dyn_addr.len(), 1, "dynamic guest: {dyn_addr:?}");
    let dyn_ip = dyn_addr[0]
        .strip_suffix("/24")
        .expect("a /24 lease")
        .to_string();
    let last: u8 = dyn_ip.rsplit('.').next().unwrap().parse().unwrap();
    assert!(
        dyn_ip.starts_with("172.16.1.") && (100..=199).contains(&last),
        "dynamic lease {dyn_ip} is outside the range 172.16.1.100-199"
    );
    assert_eq!(ipv4(t.g(1), "eth0"), vec!["172.16.1.11/24".to_string()]);

    let r = t.hv.run(&cfg, &["leases", "--json"]);
    r.ok();
    let v: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("leases --json is not JSON ({e})\n{r}"));
    let leases = v.as_array().unwrap_or_else(|| panic!("not an array\n{r}"));
    let has = |mac: &str, ip: &str| {
        leases
            .iter()
            .any(|l| l["mac"] == mac && l["ip"] == ip && l["network"] == "lan")
    };
    assert!(
        has("02:00:00:01:00:10", &dyn_ip),
        "dynamic lease missing\n{r}"
    );
    assert!(
        has("02:00:00:01:00:11", "172.16.1.11"),
        "static lease missing\n{r}"
    );
    assert_eq!(leases.len(), 2, "exactly two leases\n{r}");

    let text = t.hv.run(&cfg, &["leases"]);
    text.ok();
    assert!(text.stdout.contains(&dyn_ip), "{text}");
    assert!(text.stdout.contains("172.16.1.11"), "{text}");
    let only = t.hv.run(&cfg, &["leases", "lan", "--json"]);
    only.ok();
    assert_eq!(
        serde_json::from_str::<Value>(&only.stdout).unwrap(),
        v,
        "leases lan --json"
    );
    // show lists the network's dnsmasq with its leases, and the firewall.
    let show = t.hv.run(&cfg, &["show"]);
    assert!(show.ok().stdout.contains("dnsmasq of lan"), "{show}");
    assert!(show.stdout.contains("2 lease(s)"), "{show}");
    assert!(
        show.stdout.contains("firewall: serves 1 network(s)"),
        "{show}"
    );
}

const LIVE_CONFIG: &str = r#"
[[network]]
name = "lan"
kind = "nat"
bridge = "hvbr0"
address = "172.16.@N@.1/24"
uplink = "up0"
[network.dhcp]
@EXTRA@

[[guest]]
name = "a"
[[guest.nic]]
network = "lan"
type = "veth"
netns = "@G0@"
peer = "eth0"
mac = "02:00:00:02:00:11"
ip = "172.16.@N@.11"

[[guest]]
name = "b"
[[guest.nic]]
network = "lan"
type = "veth"
netns = "@G1@"
peer = "eth0"
mac = "02:00:00:02:00:12"
ip = "172.16.@N@.12"
"#;

#[test]
fn live_static_host_keeps_dnsmasq_and_loses_no_ping() {
    if !require_root() || !tools_available() {
        return;
    }
    let t = Topo::new(2, 2);
    let v1 = t.config("v1.toml", &LIVE_CONFIG.replace("@EXTRA@", ""));
    let extra = "[[network.dhcp.host]]\nmac = \"02:00:00:02:00:77\"\nip = \"172.16.@N@.77\"\nname = \"late\"\n";
    let v2 = t.config("v2.toml", &LIVE_CONFIG.replace("@EXTRA@", extra));
    t.hv.apply(&v1);
    t.dhcp(0);
    t.dhcp(1);
    assert!(ping_ok(t.g(0), &t.net(12), 1), "a cannot ping b");

    let state = t.state();
    let pid = dnsmasq_pid(&state, "lan").expect("dnsmasq pid file");
    assert!(dnsmasq_alive(pid), "dnsmasq {pid} is not running");
    let pid_file = state.join("net/lan/dnsmasq.pid");
    let pid_text = std::fs::read_to_string(&pid_file).unwrap();

    let ping = Bg::start(
        t.g(0),
        &[
            "ping",
            "-n",
            "-q",
            "-i",
            "0.01",
            "-c",
            "300",
            "-W",
            "1",
            &t.net(12),
        ],
        t.dir.path().join("ping.log"),
    );
    std::thread::sleep(Duration::from_millis(500));

    let plan = t.hv.run(&v2, &["plan"]);
    plan.ok();
    let ops = plan_ops(&plan.stdout);
    assert_eq!(ops.len(), 1, "only the hosts are reloaded\n{plan}");
    assert!(
        ops[0].contains("DHCP hosts") && ops[0].contains("reload dnsmasq"),
        "the op rewrites the hosts and reloads dnsmasq\n{plan}"
    );
    let applied = t.hv.apply(&v2);
    assert_eq!(op_count(&applied, "applied"), 1, "{applied}");

    let (code, out) = ping.wait(Duration::from_secs(15));
    assert_eq!(code, 0, "ping failed:\n{out}");
    assert!(
        out.contains("300 received") && out.contains(" 0% packet loss"),
        "ping lost packets during the live change:\n{out}"
    );

    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap(),
        pid_text,
        "dnsmasq's pid file changed"
    );
    assert!(dnsmasq_alive(pid), "dnsmasq {pid} died");
    let hosts = std::fs::read_to_string(state.join("net/lan/hosts")).unwrap();
    assert!(
        hosts
            .lines()
            .any(|l| l == "02:00:00:02:00:77,172.16.2.77,late"),
        "new host line missing from hosts:\n{hosts}"
    );
    let check = t.check(&v2);
    assert_eq!(check.code, 0, "{check}");
}

const NAT_CONFIG: &str = r#"
[[network]]
name = "lan"
kind = "nat"
bridge = "hvbr0"
address = "172.16.@N@.1/24"
uplink = "up0"
[network.dhcp]

[[guest]]
name = "g"
[[guest.nic]]
network = "lan"
type = "veth"
netns = "@G0@"
peer = "eth0"
mac = "02:00:00:03:00:11"
ip = "172.16.@N@.11"
"#;

fn nat_reaches_outside_with_host_address(fw: Fw) {
    if !fw_available(fw) {
        return;
    }
    let t = Topo::with_fw(3, 1, fw);
    let cfg = t.config("c.toml", NAT_CONFIG);
    t.hv.apply(&cfg);
    let r = t.dhcp(0);
    assert!(
        r.stdout.contains("router=172.16.3.1"),
        "nat gives a router\n{r}"
    );

    let _outside_srv = t.whoami_server(t.out.name(), "out");
    let seen =
        whoami(t.g(0), &t.outside()).unwrap_or_else(|r| panic!("guest -> outside failed\n{r}"));
    assert_eq!(
        seen,
        t.uplink(),
        "the outside must see the host's uplink address"
    );

    // The outside can route to the guest subnet via the host, but hvnet does not forward
    // new connections into a nat network.
    t.out
        .ip(&["route", "add", "172.16.3.0/24", "via", &t.uplink()]);
    assert!(
        ping_ok(t.out.name(), &t.net(1), 1),
        "the outside cannot even reach the host's bridge address: the test would be meaningless"
    );
    let _guest_srv = t.whoami_server(t.g(0), "guest");
    assert!(
        whoami(t.g(0), "127.0.0.1").is_ok(),
        "the guest's own server does not answer"
    );
    if let Ok(seen) = whoami(t.out.name(), &t.net(11)) {
        panic!("outside reached the nat guest's private address directly (seen {seen})");
    }
    assert!(
        !ping_ok(t.out.name(), &t.net(11), 1),
        "outside pinged the nat guest's private address"
    );
}

const ISOLATED_CONFIG: &str = r#"
[[network]]
name = "hostonly"
kind = "isolated"
bridge = "hvbr0"
address = "172.16.@N@.1/24"
[network.dhcp]

[[guest]]
name = "g"
[[guest.nic]]
network = "hostonly"
type = "veth"
netns = "@G0@"
peer = "eth0"
mac = "02:00:00:04:00:11"
"#;

fn isolated_reaches_host_not_outside(fw: Fw) {
    if !fw_available(fw) {
        return;
    }
    let t = Topo::with_fw(4, 1, fw);
    let cfg = t.config("c.toml", ISOLATED_CONFIG);
    t.hv.apply(&cfg);
    let r = t.dhcp(0);
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("udhcpc bound"))
        .unwrap_or_else(|| panic!("no bound line\n{r}"));
    assert!(line.contains("ip=172.16.4."), "{line}");
    assert!(
        line.ends_with("router="),
        "an isolated network sends no router: {line}"
    );
    let routes = t.guests[0].ip(&["-4", "route", "show", "default"]);
    assert!(
        routes.trim().is_empty(),
        "guest got a default route: {routes}"
    );

    assert!(
        ping_ok(t.g(0), &t.net(1), 2),
        "guest cannot ping the host's bridge"
    );

    // Give the guest every chance: default route via the host, forwarding on, a route back.
    t.guests[0].ip(&["route", "add", "default", "via", &t.net(1)]);
    sysctl_set(t.h(), "net.ipv4.ip_forward", "1");
    t.out
        .ip(&["route", "add", "172.16.4.0/24", "via", &t.uplink()]);
    assert!(
        ping_ok(t.h(), &t.outside(), 1),
        "the host itself cannot reach the outside"
    );
    assert!(
        !ping_ok(t.g(0), &t.outside(), 2),
        "isolated guest pinged the outside"
    );
    let _srv = t.whoami_server(t.out.name(), "out");
    if let Ok(seen) = whoami(t.g(0), &t.outside()) {
        panic!("isolated guest connected to the outside (seen as {seen})");
    }
}

const ROUTED_CONFIG: &str = r#"
[[network]]
name = "rt"
kind = "routed"
bridge = "hvbr0"
address = "172.16.@N@.1/24"
uplink = "up0"
[network.dhcp]

[[guest]]
name = "g"
[[guest.nic]]
network = "rt"
type = "veth"
netns = "@G0@"
peer = "eth0"
mac = "02:00:00:05:00:11"
ip = "172.16.@N@.11"
"#;

fn routed_guest_reachable_from_outside(fw: Fw) {
    if !fw_available(fw) {
        return;
    }
    let t = Topo::with_fw(5, 1, fw);
    let cfg = t.config("c.toml", ROUTED_CONFIG);
    t.hv.apply(&cfg);
    let r = t.dhcp(0);
    assert!(
        r.stdout.contains("router=172.16.5.1"),
        "routed gives a router\n{r}"
    );
    t.out
        .ip(&["route", "add", "172.16.5.0/24", "via", &t.uplink()]);

    assert!(
        ping_ok(t.out.name(), &t.net(11), 2),
        "outside cannot ping the routed guest"
    );
    let _srv = t.whoami_server(t.g(0), "guest");
    let seen =
        whoami(t.out.name(), &t.net(11)).unwrap_or_else(|r| panic!("outside -> guest failed\n{r}"));
    assert_eq!(
        seen,
        t.outside(),
        "the guest must see the outside's real address"
    );
    // And the other way round: no masquerading on a routed network.
    let _osrv = t.whoami_server(t.out.name(), "out");
    let seen =
        whoami(t.g(0), &t.outside()).unwrap_or_else(|r| panic!("guest -> outside failed\n{r}"));
    assert_eq!(
        seen,
        t.net(11),
        "routed: the outside sees the guest's own address"
    );
}

const FORWARD_CONFIG: &str = r#"
[[network]]
name = "lan"
kind = "nat"
bridge = "hvbr0"
address = "172.16.@N@.1/24"
uplink = "up0"
[network.dhcp]

[[guest]]
name = "web"
[[guest.nic]]
network = "lan"
type = "veth"
ifname = "vweb"
netns = "@G0@"
peer = "eth0"
mac = "02:00:00:06:00:11"
ip = "172.16.@N@.11"
[[guest.forward]]
host_port = 8080
guest_port = 80

[[guest]]
name = "other"
[[guest.nic]]
network = "lan"
type = "veth"
ifname = "vother"
netns = "@G1@"
peer = "eth0"
mac = "02:00:00:06:00:12"
ip = "172.16.@N@.12"
"#;

fn port_forward_and_hairpin(fw: Fw) {
    if !fw_available(fw) {
        return;
    }
    let t = Topo::with_fw(6, 2, fw);
    let cfg = t.config("c.toml", FORWARD_CONFIG);
    t.hv.apply(&cfg);
    t.dhcp(0);
    t.dhcp(1);

    let www = t.dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::set_permissions(&www, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(www.join("index.html"), "hvnet-forward-ok\n").unwrap();
    let _http = Bg::start(
        t.g(0),
        &[
            "python3",
            "-m",
            "http.server",
            "80",
            "--bind",
            "0.0.0.0",
            "--directory",
            www.to_str().unwrap(),
        ],
        t.dir.path().join("http.log"),
    );
    wait_listen(t.g(0), "80");
    let url = format!("http://{}:8080/", t.uplink());

    for (who, ns) in [
        ("outside", t.out.name()),
        ("host", t.h()),
        ("the target guest (hairpin)", t.g(0)),
        ("another guest", t.g(1)),
    ] {
        match http_get(ns, &url) {
            Ok(body) => assert_eq!(body, "hvnet-forward-ok", "{who}: wrong body"),
            Err(r) => panic!("{who}: GET {url} failed\n{r}"),
        }
    }

    let port = must_link(t.h(), "vweb");
    assert_eq!(port["master"], "hvbr0", "{port}");
    assert_eq!(
        port["linkinfo"]["info_slave_data"]["hairpin"], true,
        "the forward target's port has hairpin on: {port}"
    );
}

/// Connects to HOST PORT and holds the connection for 10 s.
const HOLD_CLIENT: &str = r#"
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
print("connected", flush=True)
time.sleep(10)
"#;

/// The MSS of the connection the server in `ns` holds on TCP `port` (`ss -ti`'s `mss:`),
/// once one is established.
fn held_mss(ns: &str, port: &str) -> u32 {
    let filter = format!("( sport = :{port} )");
    let mut mss = None;
    let found = wait_until(Duration::from_secs(5), || {
        let out = nsx(ns, "ss", &["-Htin", "state", "established", &filter]).stdout;
        mss = out
            .split_whitespace()
            .find_map(|w| w.strip_prefix("mss:"))
            .and_then(|m| m.parse().ok());
        mss.is_some()
    });
    assert!(found, "no established connection on :{port} in {ns}");
    mss.unwrap_or_default()
}

/// `mss_clamp = true` on a nat network whose uplink has MTU 1280 (the outside's end keeps
/// 1500, so the server advertises 1460): the guest's connection to the outside negotiates an
/// MSS ≤ 1240, as the server's `ss -ti` shows; without the flag it is the unclamped 1460.
fn mss_clamp_over_a_low_mtu_path(fw: Fw) {
    if !fw_available(fw) {
        return;
    }
    let t = Topo::with_fw(20, 1, fw);
    t.host.ip(&["link", "set", "up0", "mtu", "1280"]);
    let plain = t.config("plain.toml", NAT_CONFIG);
    let clamped = t.config(
        "clamped.toml",
        &NAT_CONFIG.replace("uplink = \"up0\"\n", "uplink = \"up0\"\nmss_clamp = true\n"),
    );
    let port = "9100";
    let _srv = Bg::start(
        t.out.name(),
        &["python3", "-u", "-c", WHOAMI_SERVER, port, "hold"],
        t.dir.path().join("hold.log"),
    );
    wait_listen(t.out.name(), port);
    let connect = |tag: &str| {
        Bg::start(
            t.g(0),
            &["python3", "-u", "-c", HOLD_CLIENT, &t.outside(), port],
            t.dir.path().join(format!("client-{tag}.log")),
        )
    };

    t.hv.apply(&clamped);
    t.dhcp(0);
    let listing = fw_listing(fw, t.h());
    assert!(
        listing.contains("maxseg size set rt mtu")
            || listing.contains("TCPMSS --clamp-mss-to-pmtu"),
        "no clamp rule:\n{listing}"
    );
    let c1 = connect("clamped");
    let mss = held_mss(t.out.name(), port);
    println!("{fw:?}: MSS with mss_clamp over the 1280-byte uplink: {mss}");
    assert!(mss <= 1240, "{fw:?}: MSS {mss} with mss_clamp");
    drop(c1);

    t.hv.apply(&plain);
    // Wait for the clamped connection to be gone before reading the next one.
    let filter = format!("( sport = :{port} )");
    wait_until(Duration::from_secs(15), || {
        nsx(
            t.out.name(),
            "ss",
            &["-Htn", "state", "established", &filter],
        )
        .stdout
        .trim()
        .is_empty()
    });
    let _c2 = connect("plain");
    let mss = held_mss(t.out.name(), port);
    println!("{fw:?}: MSS without mss_clamp: {mss}");
    assert!(
        mss > 1240,
        "{fw:?}: MSS {mss} without mss_clamp: the test proves nothing"
    );
}

/// `--firewall iptables`, then `--firewall nftables` (and back): each apply moves hvnet's
/// rules to the selected backend and removes them from the other, `check` is in sync after
/// each, and `down` leaves neither.
#[test]
fn switching_backends_moves_the_rules() {
    if !fw_available(Fw::Nftables) || !fw_available(Fw::Iptables) {
        return;
    }
    let mut t = Topo::new(21, 1);
    t.hv.env.clear();
    let cfg = t.config("c.toml", &forward_one_guest());
    let with = |fw: &str, args: &[&str]| t.hv.run_env(&cfg, args, &[("HVNET_FIREWALL", fw)]);
    with("iptables", &["apply"]).ok();
    assert!(fw_listing(Fw::Iptables, t.h()).contains("HVNET-DNAT"));
    let c = with("nftables", &["check"]);
    c.expect_code(1);
    assert!(
        c.stdout
            .contains("remove hvnet's firewall left in iptables"),
        "check names the rules left in iptables\n{c}"
    );
    with("nftables", &["apply"]).ok();
    with("nftables", &["check"]).ok();
    let (ipt_rules, nft_rules) = (
        fw_listing(Fw::Iptables, t.h()),
        fw_listing(Fw::Nftables, t.h()),
    );
    assert!(
        !ipt_rules.contains("HVNET"),
        "iptables kept hvnet's chains\n{ipt_rules}"
    );
    assert!(nft_rules.contains("table inet hvnet"), "{nft_rules}");
    with("iptables", &["apply"]).ok();
    with("iptables", &["check"]).ok();
    assert!(!fw_listing(Fw::Nftables, t.h()).contains("table inet hvnet"));
    with("iptables", &["down"]).ok();
    let all = firewall_listing(t.h());
    assert!(!has_hvnet_firewall(&all), "down left hvnet's rules\n{all}");
}

/// [`FORWARD_CONFIG`] with only the forward target guest `web` (in `@G0@`).
fn forward_one_guest() -> String {
    let (web, _other) = FORWARD_CONFIG
        .split_once("[[guest]]\nname = \"other\"")
        .expect("FORWARD_CONFIG has guest other");
    web.to_string()
}

fn flush_check_apply(fw: Fw) {
    if !fw_available(fw) {
        return;
    }
    let t = Topo::with_fw(7, 1, fw);
    let cfg = t.config("c.toml", &forward_one_guest());
    t.hv.apply(&cfg);
    t.check(&cfg).ok();

    match fw {
        Fw::Iptables => {
            ipt(t.h(), &["-F", "HVNET-FWO"]);
            ipt(t.h(), &["-t", "nat", "-F"]);
            let c = t.check(&cfg);
            c.expect_code(1);
            assert!(
                c.stdout.contains("missing rule") && c.stdout.contains("HVNET-PRT"),
                "check names the missing rules\n{c}"
            );
            assert!(
                c.stdout.contains("HVNET-FWO"),
                "check names the FWO rules\n{c}"
            );
            assert!(
                c.stdout.contains("missing jump"),
                "check names the missing jumps\n{c}"
            );
        }
        Fw::Nftables => {
            // One rule deleted: named rule by rule.
            let handle = nsx(
                t.h(),
                "nft",
                &["-a", "list", "chain", "inet", "hvnet", "postrouting"],
            )
            .ok()
            .stdout
            .lines()
            .find(|l| l.contains("meta l4proto tcp masquerade"))
            .and_then(|l| l.rsplit("handle ").next())
            .map(|h| h.trim().to_string())
            .expect("the tcp masquerade rule");
            nsx(
                t.h(),
                "nft",
                &[
                    "delete",
                    "rule",
                    "inet",
                    "hvnet",
                    "postrouting",
                    "handle",
                    &handle,
                ],
            )
            .ok();
            let c = t.check(&cfg);
            c.expect_code(1);
            assert!(
                c.stdout.contains("missing rule in chain postrouting: ip saddr 172.16.7.0/24 ip daddr != 172.16.7.0/24 oifname \"up0\" meta l4proto tcp masquerade to :1024-65535"),
                "check names the missing rule\n{c}"
            );
            // The whole ruleset flushed inside the namespace.
            nsx(t.h(), "nft", &["flush", "ruleset"]).ok();
            let c = t.check(&cfg);
            c.expect_code(1);
            assert!(
                c.stdout.contains("hvnet's firewall does not exist"),
                "check names the missing firewall\n{c}"
            );
        }
    }
    let j = t.hv.run(&cfg, &["check", "--json"]);
    j.expect_code(1);
    let v: Value = serde_json::from_str(&j.stdout)
        .unwrap_or_else(|e| panic!("check --json is not JSON ({e})\n{j}"));
    assert_eq!(v["in_sync"], false, "{j}");

    t.hv.apply(&cfg);
    t.check(&cfg).ok();
    let nat = fw_listing(fw, t.h());
    match fw {
        Fw::Iptables => {
            assert!(
                nat.contains("-A POSTROUTING -m comment --comment hvnet -j HVNET-PRT"),
                "{nat}"
            );
            assert!(nat.contains("--to-destination 172.16.7.11:80"), "{nat}");
        }
        Fw::Nftables => {
            assert!(nat.contains("tcp . 8080 : 172.16.7.11 . 80"), "{nat}");
            assert!(!nat.contains("HVNET"), "iptables was used\n{nat}");
        }
    }

    // dnsmasq killed behind hvnet's back.
    let state = t.state();
    let pid = dnsmasq_pid(&state, "lan").expect("dnsmasq pid file");
    assert!(dnsmasq_alive(pid));
    let k = run("kill", &["-9", &pid.to_string()], 5);
    assert_eq!(k.code, 0, "{k}");
    assert!(
        wait_until(Duration::from_secs(3), || !dnsmasq_alive(pid)),
        "dnsmasq {pid} survived SIGKILL"
    );
    let c = t.check(&cfg);
    c.expect_code(1);
    assert!(
        c.stdout.contains("dnsmasq") && c.stdout.contains("not running"),
        "check reports dnsmasq not running\n{c}"
    );
    t.hv.apply(&cfg);
    let new = dnsmasq_pid(&state, "lan").expect("dnsmasq pid file after apply");
    assert_ne!(new, pid, "dnsmasq was not restarted");
    assert!(dnsmasq_alive(new), "restarted dnsmasq {new} is not running");
    t.check(&cfg).ok();
    t.dhcp(0);
    assert_eq!(ipv4(t.g(0), "eth0"), vec!["172.16.7.11/24".to_string()]);
}

/// `iptables -S` and `iptables -t nat -S` in `ns`, without lines mentioning hvnet.
fn foreign_rules(ns: &str) -> Vec<String> {
    let mut out = Vec::new();
    for table in ["filter", "nat"] {
        for l in ipt(ns, &["-t", table, "-S"]).lines() {
            if !l.contains("HVNET") && !l.contains("hvnet") {
                out.push(format!("{table}: {l}"));
            }
        }
    }
    out
}

#[test]
fn foreign_rules_untouched() {
    if !require_root() || !tools_available() {
        return;
    }
    let t = Topo::new(8, 1);
    let cfg = t.config("c.toml", &forward_one_guest());
    let h = t.h();
    ipt(h, &["-N", "FOREIGN"]);
    ipt(
        h,
        &["-A", "FOREIGN", "-s", "198.51.100.0/24", "-j", "RETURN"],
    );
    ipt(h, &["-A", "FOREIGN", "-j", "ACCEPT"]);
    ipt(
        h,
        &["-A", "FORWARD", "-s", "198.51.100.7/32", "-j", "FOREIGN"],
    );
    ipt(h, &["-A", "FORWARD", "-d", "198.51.100.8/32", "-j", "DROP"]);
    ipt(
        h,
        &[
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-s",
            "198.51.100.0/24",
            "-o",
            "up0",
            "-j",
            "MASQUERADE",
        ],
    );
    let before = foreign_rules(h);
    assert!(
        before.iter().any(|l| l.contains("-N FOREIGN")),
        "{before:?}"
    );

    t.hv.apply(&cfg);
    let all = ipt(h, &["-S"]);
    assert!(
        all.contains("HVNET-FWO"),
        "hvnet's chains are there:\n{all}"
    );
    assert_eq!(foreign_rules(h), before, "foreign rules changed by apply");

    t.hv.run(&cfg, &["down"]).ok();
    assert_eq!(foreign_rules(h), before, "foreign rules changed by down");
    for table in ["filter", "nat"] {
        let rules = ipt(h, &["-t", table, "-S"]);
        assert!(
            !rules.contains("HVNET") && !rules.contains("hvnet"),
            "down left hvnet rules in {table}:\n{rules}"
        );
    }
}

#[test]
fn down_restores_ip_forward() {
    if !require_root() || !tools_available() {
        return;
    }
    let t = Topo::new(9, 1);
    let cfg = t.config("c.toml", NAT_CONFIG);
    let h = t.h();
    const KEY: &str = "net.ipv4.ip_forward";
    sysctl_set(h, KEY, "0");

    t.hv.apply(&cfg);
    assert_eq!(sysctl_get(h, KEY), "1", "nat turns forwarding on");
    t.hv.run(&cfg, &["down"]).ok();
    assert_eq!(sysctl_get(h, KEY), "0", "down restores forwarding");
    let sysctl_dir = t.state().join("sysctl");
    let left: Vec<String> = std::fs::read_dir(&sysctl_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "STATE/sysctl is not empty after down: {left:?}"
    );

    // Forwarding already on before apply: down leaves it on.
    sysctl_set(h, KEY, "1");
    t.hv.apply(&cfg);
    assert_eq!(sysctl_get(h, KEY), "1");
    t.hv.run(&cfg, &["down"]).ok();
    assert_eq!(
        sysctl_get(h, KEY),
        "1",
        "down must not turn off what it did not turn on"
    );
}

/// Regression (issue 13): a nat network without uplink on a host without a default route
/// was refused ("no way out"). It applies with a warning, and its guests reach the outside
/// as soon as a default route appears, without another apply.
#[test]
fn nat_without_default_route_applies_with_a_warning() {
    if !require_root() || !tools_available() {
        return;
    }
    let t = Topo::bare(10, 1);
    let cfg = t.config("c.toml", &NAT_CONFIG.replace("uplink = \"up0\"\n", ""));
    let r = t.hv.run(&cfg, &["apply"]);
    r.ok();
    assert!(
        r.stderr.contains("warning:") && r.stderr.contains("no default route"),
        "the missing default route is a warning\n{r}"
    );
    let lease = t.dhcp(0);
    assert!(lease.stdout.contains("router=172.16.10.1"), "{lease}");

    t.add_uplink();
    let _outside_srv = t.whoami_server(t.out.name(), "out");
    let seen = whoami(t.g(0), &t.outside())
        .unwrap_or_else(|r| panic!("guest -> outside failed once the route appeared\n{r}"));
    assert_eq!(seen, t.uplink(), "masqueraded behind the uplink's address");
    let again = t.hv.run(&cfg, &["apply"]);
    again.ok();
    assert!(!again.stderr.contains("no default route"), "{again}");
    t.hv.run(&cfg, &["down"]).ok();
}

/// A named uplink that does not exist stays invalid input: exit 2, nothing touched.
#[test]
fn nat_with_missing_uplink_is_input_error() {
    if !require_root() || !tools_available() {
        return;
    }
    let t = Topo::bare(13, 1);
    let cfg = t.config(
        "c.toml",
        &NAT_CONFIG.replace("uplink = \"up0\"", "uplink = \"nosuch0\""),
    );
    let before_h = link_names(t.h());
    let before_g = link_names(t.g(0));
    let fwd = sysctl_get(t.h(), "net.ipv4.ip_forward");

    let r = t.hv.run(&cfg, &["apply"]);
    r.expect_code(2);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains("uplink nosuch0 does not exist"),
        "message names the problem\n{r}"
    );

    assert_eq!(link_names(t.h()), before_h, "links changed in the host");
    assert_eq!(link_names(t.g(0)), before_g, "links changed in the guest");
    assert_eq!(sysctl_get(t.h(), "net.ipv4.ip_forward"), fwd);
    assert_eq!(
        dnsmasq_pid(&t.state(), "lan"),
        None,
        "a dnsmasq pid file exists"
    );
    let pids = ip(&["netns", "pids", t.h()]);
    assert!(
        pids.trim().is_empty(),
        "processes run in the host namespace: {pids}"
    );

    // Same for `plan`: an input error, nothing to show.
    t.hv.run(&cfg, &["plan"]).expect_code(2);
}

#[test]
fn libvirt_seed_networks_import_and_apply() {
    if !require_root() || !tools_available() {
        return;
    }
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../hvnet-kvm/tests/data/libvirt"
    );
    for (file, net, bridge, addr) in [
        ("nat.xml", "natntw", "virbr1", "192.168.100.1/24"),
        ("hostonly.xml", "hostntw", "virbr2", "192.168.110.1/24"),
    ] {
        let t = Topo::new(11, 0);
        let xml = format!("{data}/{file}");
        let imp = hvnet_run(&["import", "libvirt-network", &xml], &[]);
        imp.ok();
        let cfg = t.dir.write("c.toml", &imp.stdout);
        let v = t.hv.run(&cfg, &["validate"]);
        assert_eq!(
            v.code, 0,
            "imported {file} does not validate\n{v}\n{}",
            imp.stdout
        );

        t.hv.apply(&cfg);
        let br = must_link(t.h(), bridge);
        assert_eq!(kind(&br), "bridge", "{br}");
        assert_eq!(ipv4(t.h(), bridge), vec![addr.to_string()], "{file}");
        let pid = dnsmasq_pid(&t.state(), net).unwrap_or_else(|| panic!("{file}: no dnsmasq pid"));
        assert!(dnsmasq_alive(pid), "{file}: dnsmasq {pid} is not running");
        let c = t.check(&cfg);
        assert_eq!(c.code, 0, "{file}: check after apply\n{c}");

        t.hv.run(&cfg, &["down"]).ok();
        assert!(
            link(t.h(), bridge).is_none(),
            "{file}: bridge left after down"
        );
        assert!(
            wait_until(Duration::from_secs(3), || !dnsmasq_alive(pid)),
            "{file}: dnsmasq {pid} left after down"
        );
    }

    // Malformed files: exit 2 with FILE:LINE:COL.
    let dir = TempDir::new();
    let good = std::fs::read_to_string(format!("{data}/nat.xml")).unwrap();
    let unclosed = dir.write("unclosed.xml", &good.replace("</network>", ""));
    let mask = dir.write(
        "mask.xml",
        &good.replace("netmask='255.255.255.0'", "netmask='255.0.255.0'"),
    );
    assert_ne!(
        std::fs::read_to_string(&mask).unwrap(),
        good,
        "the seed changed: no netmask to break"
    );
    for bad in [unclosed, mask] {
        let p = bad.to_str().unwrap();
        let r = hvnet_run(&["import", "libvirt-network", p], &[]);
        r.expect_code(2);
        assert!(r.stdout.trim().is_empty(), "no TOML on bad input\n{r}");
        assert!(has_location(&r.stderr, p), "stderr names {p}:LINE:COL\n{r}");
    }
}

#[test]
fn nat_through_iptables_legacy() {
    if !require_root() || !tools_available() {
        return;
    }
    if !(Path::new("/usr/sbin/iptables-legacy").exists()
        && Path::new("/usr/sbin/iptables-legacy-restore").exists())
    {
        eprintln!("skipping nat_through_iptables_legacy: iptables-legacy is not installed");
        return;
    }
    let t = Topo::new(12, 1);
    let cfg = t.config("c.toml", NAT_CONFIG);
    let env = [("HVNET_IPTABLES", "legacy")];
    t.hv.run_env(&cfg, &["apply"], &env).ok();
    let legacy = nsx(t.h(), "iptables-legacy", &["-w", "-t", "nat", "-S"]);
    assert!(legacy.stdout.contains("-A HVNET-PRT"), "{legacy}");
    let r = t.dhcp(0);
    assert!(r.stdout.contains("router=172.16.12.1"), "{r}");
    let _srv = t.whoami_server(t.out.name(), "out");
    let seen = whoami(t.g(0), &t.outside()).unwrap_or_else(|r| panic!("guest -> outside\n{r}"));
    assert_eq!(seen, t.uplink(), "masqueraded by the legacy rules");
    t.hv.run_env(&cfg, &["check"], &env).ok();
    t.hv.run_env(&cfg, &["down"], &env).ok();
    let after = nsx(t.h(), "iptables-legacy", &["-w", "-t", "nat", "-S"]);
    assert!(!after.stdout.contains("HVNET"), "{after}");
}
