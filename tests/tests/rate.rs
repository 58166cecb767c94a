//! Per-NIC rate limits (`rate = "…"` / `rate = { egress, ingress, burst }` on a guest NIC):
//! measured accuracy with iperf3, idempotent re-apply, live retune, removal, config errors
//! and foreign qdiscs.
//!
//! Topology per test: a host namespace with an hvnet `internal` network and two veth guests
//! in their own namespaces; guest g1's NIC is rate limited. Egress/ingress are the guest's
//! point of view: g1's ingress is a tbf (handle `4856:`) as root qdisc of its host-side
//! port, g1's egress is an ingress qdisc + u32 match-all mirred redirect on the port to an
//! IFB (`hvi…`) with a tbf. The kernel is read with `ip -j` and `tc -j`, never through
//! hvnet.
//!
//! Tests that generate bulk traffic hold [`TRAFFIC`] so that their measurements do not
//! compete for the CPU.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hvnet_tests::*;
use serde_json::Value;

/// tbf and the IFB count L2 bytes: TCP goodput is 1448/1514 of the configured rate
/// (test-recipes.md §7).
const GOODPUT: f64 = 0.956;
/// Allowed deviation of the measured goodput from `rate × GOODPUT`.
const TOLERANCE: f64 = 0.10;

const G1_ADDR: &str = "10.99.0.1";
const G2_ADDR: &str = "10.99.0.2";

/// Serialises the tests that run iperf3 (2 cores: concurrent measurements would disturb
/// each other).
static TRAFFIC: Mutex<()> = Mutex::new(());

fn traffic_lock() -> MutexGuard<'static, ()> {
    TRAFFIC.lock().unwrap_or_else(PoisonError::into_inner)
}

const CONFIG: &str = r#"
[[network]]
name = "lan"
kind = "internal"
bridge = "hvbr0"

[[guest]]
name = "g1"
[[guest.nic]]
network = "lan"
type = "veth"
netns = "@G1@"
@RATE@

[[guest]]
name = "g2"
[[guest.nic]]
network = "lan"
type = "veth"
netns = "@G2@"
"#;

// ----- commands -----

/// `tc -n NS ARGS...`, whatever the result.
fn try_tc(ns: &str, args: &[&str]) -> Run {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    run("tc", &all, 30)
}

/// `tc -s -j -n NS qdisc show`: every qdisc with its counters.
fn qdiscs(ns: &str) -> Vec<Value> {
    let r = try_tc(ns, &["-s", "-j", "qdisc", "show"]);
    assert_eq!(r.code, 0, "tc failed\n{r}");
    match serde_json::from_str::<Value>(&r.stdout) {
        Ok(Value::Array(a)) => a,
        other => panic!("tc -j qdisc show: expected a JSON array, got {other:?}"),
    }
}

/// The qdiscs of `dev`.
fn qdiscs_of(ns: &str, dev: &str) -> Vec<Value> {
    qdiscs(ns).into_iter().filter(|q| q["dev"] == dev).collect()
}

/// hvnet's tbf (`4856:`, root) on `dev`, if any.
fn hv_tbf(ns: &str, dev: &str) -> Option<Value> {
    qdiscs_of(ns, dev)
        .into_iter()
        .find(|q| q["kind"] == "tbf" && q["handle"] == "4856:" && q["root"] == true)
}

/// Whether `dev` has an ingress qdisc.
fn has_ingress(ns: &str, dev: &str) -> bool {
    qdiscs_of(ns, dev).iter().any(|q| q["kind"] == "ingress")
}

/// The qdiscs without their counters (for "nothing changed" checks without traffic).
fn qdisc_shapes(ns: &str) -> Vec<Value> {
    qdiscs(ns)
        .into_iter()
        .map(|q| {
            serde_json::json!({
                "dev": q["dev"], "kind": q["kind"], "handle": q["handle"],
                "parent": q["parent"], "root": q["root"], "options": q["options"],
            })
        })
        .collect()
}

/// Names of the IFB devices in `ns`.
fn ifbs(ns: &str) -> Vec<String> {
    links(ns)
        .into_iter()
        .filter(|l| kind(l) == "ifb")
        .map(|l| l["ifname"].as_str().unwrap().to_string())
        .collect()
}

/// Whether the kernel can do what rate limits need (ifb + tbf); prints why not.
fn shaping_supported() -> bool {
    let ns = Netns::new("probe");
    let ifb = try_ip(&[
        "-n",
        ns.name(),
        "link",
        "add",
        "name",
        "probe0",
        "type",
        "ifb",
    ]);
    if ifb.code != 0 {
        println!("skipped: the kernel cannot create an ifb device (CONFIG_IFB?)\n{ifb}");
        return false;
    }
    let tbf = try_tc(
        ns.name(),
        &[
            "qdisc", "add", "dev", "probe0", "root", "tbf", "rate", "1mbit", "burst", "16kb",
            "latency", "50ms",
        ],
    );
    if tbf.code != 0 {
        println!("skipped: the kernel has no tbf qdisc (CONFIG_NET_SCH_TBF?)\n{tbf}");
        return false;
    }
    true
}

/// Whether iperf3 is installed; prints why not.
fn iperf3_available() -> bool {
    let ok = Command::new("iperf3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("skipped: iperf3 is not installed (scripts/install-deps.sh installs it)");
    }
    ok
}

// ----- iperf3 -----

/// A one-off `iperf3 -s -1` in a namespace, killed on drop (the namespace guard would kill it too).
struct Iperf3Server {
    child: Child,
}

impl Iperf3Server {
    fn start(ns: &Netns, addr: &str) -> Iperf3Server {
        // `ip netns exec` execs iperf3 in place, so the child is iperf3 itself.
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), "iperf3", "-s", "-1", "-B", addr])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn iperf3 -s");
        let server = Iperf3Server { child };
        let listening = wait_until(Duration::from_secs(5), || {
            run(
                "ip",
                &["netns", "exec", ns.name(), "ss", "-Htln", "sport = :5201"],
                10,
            )
            .stdout
            .contains("5201")
        });
        assert!(listening, "iperf3 -s in {} is not listening", ns.name());
        server
    }
}

impl Drop for Iperf3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One iperf3 run from `client` to a server started in `server` at `server_addr`: `secs` seconds after one
/// omitted second, `-R` when `reverse`. Returns the receiver's goodput in bit/s.
fn iperf3(client: &Netns, server: &Netns, server_addr: &str, secs: u32, reverse: bool) -> f64 {
    let t = secs.to_string();
    let mut args = vec![
        "netns",
        "exec",
        client.name(),
        "iperf3",
        "-c",
        server_addr,
        "-t",
        &t,
        "-O",
        "1",
        "-J",
    ];
    if reverse {
        args.push("-R");
    }
    // A fresh one-off server per run: iperf3 3.12's server sometimes resets the control
    // connection of a test that follows the previous one immediately.
    let _server = Iperf3Server::start(server, server_addr);
    let r = run("ip", &args, secs + 30);
    let v: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("iperf3 -J output is not JSON ({e})\n{r}"));
    assert!(
        v.get("error").is_none(),
        "iperf3 failed: {}\n{r}",
        v["error"]
    );
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| panic!("no end.sum_received.bits_per_second\n{r}"))
}

/// A measurement: what was configured and what was received.
struct Measured {
    what: String,
    configured_bps: f64,
    measured_bps: f64,
}

impl Measured {
    fn ratio(&self) -> f64 {
        self.measured_bps / self.configured_bps
    }

    /// Within ±[`TOLERANCE`] of `configured × GOODPUT`.
    fn ok(&self) -> bool {
        let want = self.configured_bps * GOODPUT;
        (self.measured_bps - want).abs() <= want * TOLERANCE
    }

    fn line(&self) -> String {
        format!(
            "rate {}: configured {:.1} Mbit/s, measured {:.2} Mbit/s, ratio {:.3} (want {GOODPUT} ± {}%)",
            self.what,
            self.configured_bps / 1e6,
            self.measured_bps / 1e6,
            self.ratio(),
            TOLERANCE * 100.0
        )
    }
}

/// Measures and prints one direction of g1's limit: `egress` = g1 sends (client in g1),
/// otherwise g1 receives (`-R`).
fn measure(t: &Topo, what: &str, configured_bps: f64, egress: bool, secs: u32) -> Measured {
    let measured_bps = iperf3(&t.g1, &t.g2, G2_ADDR, secs, !egress);
    let m = Measured {
        what: format!(
            "{what} guest {}",
            if egress { "egress " } else { "ingress" }
        ),
        configured_bps,
        measured_bps,
    };
    println!("{}", m.line());
    m
}

// ----- topology -----

struct Topo {
    host: Netns,
    g1: Netns,
    g2: Netns,
    dir: TempDir,
    hv: Hv,
}

impl Topo {
    fn new() -> Topo {
        let host = Netns::new("rate-h");
        let g1 = Netns::new("rate-g1");
        let g2 = Netns::new("rate-g2");
        // No IPv6: no router solicitations, DAD or MLD reports that would tick the qdisc
        // counters behind the test's back.
        for ns in [&host, &g1, &g2] {
            ns.exec(
                "sysctl",
                &[
                    "-qw",
                    "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1",
                ],
            );
        }
        let dir = TempDir::new();
        let hv = Hv::new(&host, &dir);
        Topo {
            host,
            g1,
            g2,
            dir,
            hv,
        }
    }

    fn h(&self) -> &str {
        self.host.name()
    }

    /// Writes `NAME.toml` with g1's NIC carrying `rate = RATE` (no rate when `None`).
    fn config(&self, name: &str, rate: Option<&str>) -> PathBuf {
        let line = rate.map_or(String::new(), |r| format!("rate = {r}"));
        let text = CONFIG
            .replace("@G1@", self.g1.name())
            .replace("@G2@", self.g2.name())
            .replace("@RATE@", &line);
        self.dir.write(&format!("{name}.toml"), &text)
    }

    /// g1's host-side port (the veth owned by g1; the IFB has the same owner).
    fn port(&self) -> String {
        let mut l: Vec<Value> = links_with_alias(self.h(), "hvnet:g1")
            .into_iter()
            .filter(|l| kind(l) == "veth")
            .collect();
        assert_eq!(l.len(), 1, "expected one veth owned by g1: {l:?}");
        l.remove(0)["ifname"].as_str().unwrap().to_string()
    }

    /// The IFB of g1's port (owned by g1).
    fn ifb(&self) -> String {
        let mut l: Vec<Value> = links_with_alias(self.h(), "hvnet:g1")
            .into_iter()
            .filter(|l| kind(l) == "ifb")
            .collect();
        assert_eq!(l.len(), 1, "expected one IFB owned by g1: {l:?}");
        l.remove(0)["ifname"].as_str().unwrap().to_string()
    }

    /// After the first apply: addresses on the guest ends, everything up, carrier on the
    /// ports, and g1 reaches g2.
    fn bring_up_guests(&self) {
        for (g, addr) in [(&self.g1, G1_ADDR), (&self.g2, G2_ADDR)] {
            g.ip(&["addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
            g.ip(&["link", "set", "eth0", "up"]);
        }
        // Permanent neighbours: no ARP (and no delayed unicast ARP probes) to tick the
        // qdisc counters after the traffic a test makes.
        let mac = |g: &Netns| {
            must_link(g.name(), "eth0")["address"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let (mac1, mac2) = (mac(&self.g1), mac(&self.g2));
        for (g, peer, lladdr) in [(&self.g1, G2_ADDR, &mac2), (&self.g2, G1_ADDR, &mac1)] {
            g.ip(&[
                "neigh",
                "replace",
                peer,
                "lladdr",
                lladdr,
                "dev",
                "eth0",
                "nud",
                "permanent",
            ]);
        }
        let h = self.h();
        for l in links(h) {
            let guest = l["ifalias"] == "hvnet:g1" || l["ifalias"] == "hvnet:g2";
            if guest && kind(&l) == "veth" {
                wait_carrier(h, l["ifname"].as_str().unwrap());
            }
        }
        wait_carrier(h, "hvbr0");
        let ping = wait_until(Duration::from_secs(10), || {
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    self.g1.name(),
                    "ping",
                    "-c1",
                    "-W1",
                    G2_ADDR,
                ],
                10,
            )
            .code
                == 0
        });
        assert!(ping, "g1 cannot reach g2 over hvbr0");
    }

    /// The ifindex of `dev` in the host namespace.
    fn ifindex(&self, dev: &str) -> u64 {
        must_link(self.h(), dev)["ifindex"].as_u64().unwrap()
    }
}

/// Reads `tc -s -j qdisc show` until two reads 300 ms apart agree (at most 3 s).
fn settled_qdiscs(ns: &str) -> Vec<Value> {
    let start = Instant::now();
    let mut last = qdiscs(ns);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = qdiscs(ns);
        if now == last || start.elapsed() > Duration::from_secs(3) {
            return now;
        }
        last = now;
    }
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

// ----- tests -----

/// 10 Mbit/s, 100 Mbit/s and 1 Gbit/s in both directions: receiver goodput within ±10 % of
/// rate × 0.956. Each rate after the first is a live retune of the same links.
#[test]
fn measured_goodput_matches_the_configured_rate() {
    if !require_root() || !shaping_supported() || !iperf3_available() {
        return;
    }
    let _traffic = traffic_lock();
    let started = Instant::now();
    let t = Topo::new();
    let mut results = Vec::new();
    let mut first = true;
    for (rate, bps) in [("10mbit", 10e6), ("100mbit", 100e6), ("1gbit", 1e9)] {
        let cfg = t.config(rate, Some(&format!("\"{rate}\"")));
        let out = t.hv.apply(&cfg);
        if first {
            t.bring_up_guests();
            first = false;
        } else {
            // A retune: the tbf on the port and the one on the IFB, nothing else.
            assert_eq!(op_count(&out, "applied"), 2, "retune to {rate}:\n{out}");
        }
        let port = t.port();
        let ifb = t.ifb();
        let want = (bps / 8.0) as u64;
        for dev in [&port, &ifb] {
            let tbf = hv_tbf(t.h(), dev).unwrap_or_else(|| panic!("no tbf 4856: on {dev}"));
            assert_eq!(u64_of(&tbf["options"], "rate"), want, "{dev}: {tbf}");
        }
        results.push(measure(&t, rate, bps, true, 5));
        results.push(measure(&t, rate, bps, false, 5));
    }
    println!(
        "accuracy test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let bad: Vec<String> = results
        .iter()
        .filter(|m| !m.ok())
        .map(Measured::line)
        .collect();
    assert!(
        bad.is_empty(),
        "goodput outside ±{}% of rate × {GOODPUT}:\n{}",
        TOLERANCE * 100.0,
        bad.join("\n")
    );
}

/// Re-applying an applied config with rate limits writes nothing: same qdisc handles,
/// same counters (no qdisc was replaced), same links.
#[test]
fn reapply_makes_no_tc_change() {
    if !require_root() || !shaping_supported() {
        return;
    }
    let t = Topo::new();
    let h = t.h();
    let cfg = t.config(
        "r",
        Some(r#"{ egress = "10mbit", ingress = "20mbit", burst = "32KiB" }"#),
    );
    t.hv.apply(&cfg);
    t.bring_up_guests();
    let (port, ifb) = (t.port(), t.ifb());

    // Some traffic through both buckets: requests via the IFB, replies via the port's tbf.
    run(
        "ip",
        &[
            "netns",
            "exec",
            t.g1.name(),
            "ping",
            "-c",
            "20",
            "-i",
            "0.01",
            "-W",
            "1",
            G2_ADDR,
        ],
        20,
    )
    .ok();
    let before = settled_qdiscs(h);
    let pkts = |qs: &[Value], dev: &str| {
        qs.iter()
            .find(|q| q["dev"] == dev && q["handle"] == "4856:")
            .map(|q| u64_of(q, "packets"))
            .unwrap_or_else(|| panic!("no tbf 4856: on {dev}: {qs:?}"))
    };
    assert!(
        pkts(&before, &port) >= 20,
        "port tbf counted no traffic: {before:?}"
    );
    assert!(
        pkts(&before, &ifb) >= 20,
        "IFB tbf counted no traffic: {before:?}"
    );
    assert!(has_ingress(h, &port));
    let links_before = settled_snapshot(h);

    let out = t.hv.apply(&cfg);
    assert_eq!(out.trim(), "no changes (0 kernel writes)", "re-apply");
    let after = qdiscs(h);
    // A replaced qdisc starts counting from 0; a late packet (a guest's IPv6 router
    // solicitation) may still add to the old one. So: same qdiscs, counters never lower.
    let shape = |qs: &[Value]| -> Vec<(Value, Value, Value, Value)> {
        qs.iter()
            .map(|q| {
                (
                    q["dev"].clone(),
                    q["handle"].clone(),
                    q["kind"].clone(),
                    q["options"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(shape(&after), shape(&before), "re-apply changed qdiscs");
    for (a, b) in after.iter().zip(&before) {
        assert!(
            u64_of(a, "packets") >= u64_of(b, "packets"),
            "re-apply reset the counters of {} {} (a replaced qdisc starts from 0)",
            a["dev"],
            a["handle"]
        );
    }
    assert_snapshot(h, &links_before, &"re-apply with rate limits");
    let plan = t.hv.run(&cfg, &["plan"]);
    assert_eq!(plan.ok().stdout.trim(), "no changes");
}

/// Changing the egress rate is one op on the IFB's tbf: no link is recreated, the port
/// keeps its carrier, and the new rate is what gets through.
#[test]
fn retune_is_one_op_and_keeps_links() {
    if !require_root() || !shaping_supported() || !iperf3_available() {
        return;
    }
    let t = Topo::new();
    let h = t.h();
    let v1 = t.config("v1", Some(r#""10mbit""#));
    let v2 = t.config("v2", Some(r#"{ egress = "30mbit", ingress = "10mbit" }"#));
    t.hv.apply(&v1);
    t.bring_up_guests();
    let (port, ifb) = (t.port(), t.ifb());
    let idx = (t.ifindex(&port), t.ifindex(&ifb));
    let carrier = (
        carrier_changes(h, &port),
        carrier_changes(t.g1.name(), "eth0"),
    );
    let port_tbf = hv_tbf(h, &port).unwrap()["options"].clone();

    let plan = t.hv.run(&v2, &["plan"]);
    let ops = plan_ops(&plan.ok().stdout);
    assert_eq!(ops.len(), 1, "plan:\n{}", plan.stdout);
    assert!(
        ops[0].starts_with(&format!("limit {ifb} egress to rate 30mbit ")),
        "plan:\n{}",
        plan.stdout
    );
    let out = t.hv.apply(&v2);
    assert_eq!(op_count(&out, "applied"), 1, "{out}");

    assert_eq!(
        (t.ifindex(&port), t.ifindex(&ifb)),
        idx,
        "a link was recreated"
    );
    assert!(has_flag(&must_link(h, &port), "LOWER_UP"));
    assert_eq!(
        (
            carrier_changes(h, &port),
            carrier_changes(t.g1.name(), "eth0")
        ),
        carrier,
        "carrier flapped on retune"
    );
    let ifb_tbf = hv_tbf(h, &ifb).expect("tbf on the IFB");
    assert_eq!(u64_of(&ifb_tbf["options"], "rate"), 30_000_000 / 8);
    assert_eq!(
        hv_tbf(h, &port).unwrap()["options"],
        port_tbf,
        "the guest's ingress limit was not changed"
    );
    assert!(has_ingress(h, &port));
    assert_no_changes(&t.hv.apply(&v2), "re-apply after retune");

    let _traffic = traffic_lock();
    let m = measure(&t, "30mbit (retuned)", 30e6, true, 3);
    assert!(m.ok(), "{}", m.line());
}

/// Dropping `rate` removes the tbf, the ingress qdisc and the IFB; `down` removes the IFB
/// with its guest.
#[test]
fn removal_leaves_no_qdisc_or_ifb() {
    if !require_root() || !shaping_supported() {
        return;
    }
    let t = Topo::new();
    let h = t.h();
    let limited = t.config("limited", Some(r#""10mbit""#));
    let none = t.config("none", None);
    let ingress_only = t.config("ingress-only", Some(r#"{ ingress = "10mbit" }"#));

    t.hv.apply(&limited);
    let port = t.port();
    let ifb = t.ifb();
    assert!(ifb.starts_with("hvi") && ifb.len() == 15, "IFB name {ifb}");
    assert!(hv_tbf(h, &port).is_some() && hv_tbf(h, &ifb).is_some());
    assert!(has_ingress(h, &port));
    let show = t.hv.run(&limited, &["show"]);
    assert!(
        show.ok()
            .stdout
            .contains("limits: guest egress rate 10mbit burst 16384b limit 78884b, guest ingress rate 10mbit burst 16384b limit 78884b"),
        "{show}"
    );

    // Drop the rate.
    let out = t.hv.apply(&none);
    assert_eq!(op_count(&out, "applied"), 3, "{out}");
    let qs = qdiscs(h);
    assert!(
        !qs.iter().any(|q| q["handle"] == "4856:"),
        "a tbf 4856: is left: {qs:?}"
    );
    assert!(
        !has_ingress(h, &port),
        "ingress qdisc left on {port}: {qs:?}"
    );
    assert_eq!(ifbs(h), Vec::<String>::new(), "IFB left");
    assert_eq!(t.port(), port);
    let show = t.hv.run(&none, &["show"]);
    assert!(!show.ok().stdout.contains("limits:"), "{show}");
    assert_no_changes(&t.hv.apply(&none), "re-apply without rate");

    // Both directions -> ingress only: the IFB and the redirect go, the port's tbf stays.
    t.hv.apply(&limited);
    let out = t.hv.apply(&ingress_only);
    assert_eq!(op_count(&out, "applied"), 2, "{out}");
    assert_eq!(
        ifbs(h),
        Vec::<String>::new(),
        "IFB left for an ingress-only limit"
    );
    assert!(!has_ingress(h, &port));
    assert!(hv_tbf(h, &port).is_some());

    // `down` takes the IFB with its guest.
    t.hv.apply(&limited);
    assert_eq!(ifbs(h).len(), 1);
    let out = t.hv.run(&limited, &["down"]);
    out.ok();
    assert_eq!(ifbs(h), Vec::<String>::new(), "down left an IFB\n{out}");
    assert_eq!(
        link_names(h),
        ["lo".to_string()].into(),
        "down left links\n{out}"
    );
    assert_eq!(link_names(t.g1.name()), ["lo".to_string()].into());
}

/// Bad rates exit 2 naming file:line, the field and the offending text, and change
/// nothing.
#[test]
fn bad_rates_exit_2_and_change_nothing() {
    if !require_root() || !shaping_supported() {
        return;
    }
    let t = Topo::new();
    let h = t.h();
    let good = t.config("good", Some(r#""10mbit""#));
    t.hv.apply(&good);
    let before = settled_snapshot(h);
    let before_q = qdisc_shapes(h);

    // (rate = …, fragments the message must contain besides file:line and the field).
    let cases: &[(&str, &str, &[&str])] = &[
        (r#""0mbit""#, "rate", &[r#""0mbit""#]),
        (r#""100 Mb/s""#, "rate", &[r#""100 Mb/s""#]),
        (r#"{ egress = "fast" }"#, "rate.egress", &[r#""fast""#]),
        (
            r#"{ upload = "1mbit" }"#,
            "rate.upload",
            &[r#""upload""#, "egress, ingress, burst"],
        ),
        // A bare integer is not taken as bits/s for a NIC rate: it must be a string.
        ("12", "rate", &["must be a string"]),
        (r#""10mbit burst 0""#, "rate", &[r#""0""#]),
        (
            r#"{ egress = "10mbit", burst = "0" }"#,
            "rate.burst",
            &[r#""0""#],
        ),
    ];
    let mut burst_0 = String::new();
    for (i, (rate, field, fragments)) in cases.iter().enumerate() {
        let cfg = t.config(&format!("bad{i}"), Some(rate));
        let text = std::fs::read_to_string(&cfg).unwrap();
        let line = text.lines().position(|l| l.starts_with("rate = ")).unwrap() + 1;
        let r = t.hv.run(&cfg, &["apply"]);
        r.expect_code(2);
        let at = format!("{}:{line}:", cfg.display());
        assert!(r.stderr.contains(&at), "rate = {rate}: no {at} in\n{r}");
        let f = format!("guest[0].nic[0].{field}:");
        assert!(r.stderr.contains(&f), "rate = {rate}: no {f} in\n{r}");
        for frag in *fragments {
            assert!(r.stderr.contains(frag), "rate = {rate}: no {frag} in\n{r}");
        }
        if rate.contains("burst 0") {
            burst_0 = r.stderr.clone();
        }
        t.hv.run(&cfg, &["validate"]).expect_code(2);
        assert_snapshot(h, &before, &format!("apply with rate = {rate}"));
        assert_eq!(qdisc_shapes(h), before_q, "rate = {rate} changed qdiscs");
    }
    // The message must say which value is wrong: the burst of that rate text.
    assert!(
        burst_0.contains("burst"),
        "rate = \"10mbit burst 0\": the message should name the burst:\n{burst_0}"
    );
}

/// A qdisc the user put on the port is never replaced: apply exits 2 and it stays.
#[test]
fn foreign_qdisc_is_untouched() {
    if !require_root() || !shaping_supported() {
        return;
    }
    let t = Topo::new();
    let h = t.h();
    let none = t.config("none", None);
    let limited = t.config("limited", Some(r#""10mbit""#));
    t.hv.apply(&none);
    let port = t.port();

    // A root htb.
    try_tc(
        h,
        &["qdisc", "add", "dev", &port, "root", "handle", "1:", "htb"],
    )
    .ok();
    let before = settled_snapshot(h);
    let before_q = qdisc_shapes(h);
    let r = t.hv.run(&limited, &["apply"]);
    r.expect_code(2);
    assert!(
        r.stderr.contains(&format!(
            "{port} has a root qdisc hvnet did not create (htb)"
        )),
        "{r}"
    );
    let q = qdiscs_of(h, &port);
    assert!(
        q.iter()
            .any(|q| q["kind"] == "htb" && q["handle"] == "1:" && q["root"] == true),
        "the user's htb is gone: {q:?}"
    );
    assert_eq!(qdisc_shapes(h), before_q, "qdiscs changed");
    assert_eq!(ifbs(h), Vec::<String>::new(), "an IFB was created");
    assert_snapshot(h, &before, &"apply over a foreign root qdisc");

    // A user's ingress qdisc (the guest's egress limit needs that slot).
    try_tc(h, &["qdisc", "del", "dev", &port, "root"]).ok();
    try_tc(
        h,
        &["qdisc", "add", "dev", &port, "handle", "ffff:", "ingress"],
    )
    .ok();
    let before_q = qdisc_shapes(h);
    let r = t.hv.run(&limited, &["apply"]);
    r.expect_code(2);
    assert!(r.stderr.contains("did not create (ingress)"), "{r}");
    assert!(has_ingress(h, &port), "the user's ingress qdisc is gone");
    assert_eq!(qdisc_shapes(h), before_q, "qdiscs changed");
    assert_eq!(ifbs(h), Vec::<String>::new(), "an IFB was created");
    assert!(hv_tbf(h, &port).is_none());
}

/// `hvnet rate GUEST NIC …` retunes live: only the NIC's tbf changes, no link is recreated,
/// the carrier does not flap, and the config file is left alone (so `check` then reports
/// the difference and `apply` restores the configured limit).
#[test]
fn rate_command_retunes_live() {
    if !require_root() || !shaping_supported() {
        return;
    }
    let t = Topo::new();
    let h = t.h();
    let cfg = t.config("live", Some(r#""10mbit""#));
    t.hv.apply(&cfg);
    t.bring_up_guests();
    let (port, ifb) = (t.port(), t.ifb());
    let idx = (t.ifindex(&port), t.ifindex(&ifb));
    let carrier = carrier_changes(h, &port);
    let text = std::fs::read_to_string(&cfg).unwrap();

    let out = t.hv.run(&cfg, &["rate", "g1", "0", "--ingress", "20mbit"]);
    out.ok();
    assert_eq!(op_count(&out.stdout, "changed"), 1, "{out}");
    let tbf = hv_tbf(h, &port).expect("tbf on the port");
    assert_eq!(u64_of(&tbf["options"], "rate"), 20_000_000 / 8);
    let ifb_tbf = hv_tbf(h, &ifb).expect("tbf on the IFB");
    assert_eq!(
        u64_of(&ifb_tbf["options"], "rate"),
        10_000_000 / 8,
        "egress untouched"
    );
    assert_eq!(
        (t.ifindex(&port), t.ifindex(&ifb)),
        idx,
        "a link was recreated"
    );
    assert_eq!(carrier_changes(h, &port), carrier, "carrier flapped");
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        text,
        "config rewritten"
    );

    t.hv.run(&cfg, &["check"]).expect_code(1);
    t.hv.apply(&cfg);
    let tbf = hv_tbf(h, &port).expect("tbf on the port");
    assert_eq!(u64_of(&tbf["options"], "rate"), 10_000_000 / 8);
    t.hv.run(&cfg, &["rate", "nobody", "0", "1mbit"])
        .expect_code(2);
    t.hv.run(&cfg, &["rate", "g1", "0", "fast"]).expect_code(2);
}
