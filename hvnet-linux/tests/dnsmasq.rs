//! Root integration tests of `hvnet_linux::dnsmasq` with the real daemon and
//! busybox `udhcpc` clients, all in throw-away network namespaces
//! (`hvt-dm-<pid>-…`). A guard kills every process left in them and deletes
//! them, even when a test fails. Without root or dnsmasq the tests print a
//! message and pass; without udhcpc the DHCP exchange is skipped.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration as StdDuration, Instant};

use hvnet_core::dhcp::{DhcpConfig, DhcpHost, DhcpPaths, LEASE_FILE, LOG_FILE};
use hvnet_core::types::{Duration, IfName, MacAddr};
use hvnet_linux::dnsmasq::{self, Dnsmasq, DnsmasqError};
use hvnet_linux::netns;

mod common;
use common::{eventually, ip, NetnsGuard};

const MAC1: &str = "02:00:00:00:00:11";
const MAC2: &str = "02:00:00:00:00:12";

fn in_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(cmd).is_file()))
}

/// Why the test cannot run here, if it cannot.
fn skip_reason() -> Option<&'static str> {
    if !nix::unistd::geteuid().is_root() {
        Some("needs root (network namespaces)")
    } else if !in_path("dnsmasq") {
        Some("dnsmasq not installed (apt-get install dnsmasq-base)")
    } else {
        None
    }
}

/// The DHCP client command: `udhcpc`, or busybox's applet.
fn udhcpc() -> Option<Vec<&'static str>> {
    if in_path("udhcpc") {
        Some(vec!["udhcpc"])
    } else if in_path("busybox") {
        Some(vec!["busybox", "udhcpc"])
    } else {
        None
    }
}

/// Namespaces and a state directory, torn down on drop.
struct Topo {
    names: Vec<NetnsGuard>,
    dir: PathBuf,
}

impl Topo {
    fn new(tag: &str, nss: &[&str]) -> Topo {
        let base = format!("hvt-dm-{}-{tag}", std::process::id());
        let dir = PathBuf::from(format!("/tmp/{base}"));
        let _ = fs::remove_dir_all(&dir);
        let mut topo = Topo {
            names: Vec::new(),
            dir,
        };
        for ns in nss {
            let guard = NetnsGuard::create(format!("{base}-{ns}"));
            ip(&["-n", guard.name(), "link", "set", "lo", "up"]);
            topo.names.push(guard);
        }
        topo
    }

    fn ns(&self, i: usize) -> &str {
        self.names[i].name()
    }

    /// Pids of the processes in namespace `i` (`ip netns pids`).
    fn pids(&self, i: usize) -> Vec<i32> {
        common::pids_in(self.ns(i))
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        // The namespaces (and whatever still runs in them) go first.
        self.names.clear();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn config(hosts: Vec<DhcpHost>) -> DhcpConfig {
    DhcpConfig {
        interface: IfName::new("br0").expect("ifname"),
        listen: Ipv4Addr::new(192, 168, 100, 1),
        range: Some("192.168.100.50-192.168.100.150".parse().expect("range")),
        netmask: Ipv4Addr::new(255, 255, 255, 0),
        lease_time: Some(Duration::from_secs(3600)),
        router: Some(Ipv4Addr::new(192, 168, 100, 1)),
        serve_dhcp: true,
        dns: false,
        hosts,
        domain: None,
    }
}

fn host(mac: &str, ip: [u8; 4], name: &str) -> DhcpHost {
    DhcpHost {
        mac: mac.parse().expect("mac"),
        ip: Ipv4Addr::from(ip),
        name: Some(name.to_owned()),
    }
}

/// Runs udhcpc once in namespace `ns`; returns the address it bound and the
/// time it took.
fn dhcp(client: &[&'static str], ns: &str) -> (Ipv4Addr, StdDuration) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/udhcpc.script");
    let mut args: Vec<&'static str> = client[1..].to_vec();
    args.extend([
        "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1", "-s", script,
    ]);
    let cmd = client[0];
    let t0 = Instant::now();
    let out = netns::run_in(ns, move || {
        Command::new(cmd).args(&args).output().expect("run udhcpc")
    })
    .expect("run_in");
    let took = t0.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "udhcpc in {ns} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addr = ip(&["-n", ns, "-4", "-o", "addr", "show", "dev", "eth0"]);
    let got = addr
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address on eth0 in {ns}: {addr}\nudhcpc: {stdout}"));
    (got, took)
}

#[test]
fn dnsmasq_static_and_dynamic_leases_and_live_host_reload() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping dnsmasq test: {why}");
        return;
    }
    let topo = Topo::new("dhcp", &["h", "c1", "c2"]);
    let (h, c1, c2) = (topo.ns(0), topo.ns(1), topo.ns(2));
    ip(&["-n", h, "link", "add", "br0", "type", "bridge"]);
    ip(&["-n", h, "addr", "add", "192.168.100.1/24", "dev", "br0"]);
    ip(&["-n", h, "link", "set", "br0", "up"]);
    for (veth, client, mac) in [("vg1", c1, MAC1), ("vg2", c2, MAC2)] {
        ip(&[
            "-n", h, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", client,
            "address", mac,
        ]);
        ip(&["-n", h, "link", "set", veth, "master", "br0", "up"]);
    }

    let dir = topo.dir.clone();
    let cfg = config(vec![host(MAC1, [192, 168, 100, 21], "guest1")]);
    let paths = DhcpPaths::in_dir(&dir);
    cfg.validate(&paths).expect("valid");
    let (conf, hosts) = (cfg.conf(&paths), cfg.hostsfile());
    assert!(conf.contains("no-ping"), "{conf}");
    let t0 = Instant::now();
    let d = {
        let dir = dir.clone();
        netns::run_in(h, move || Dnsmasq::start(&dir, &conf, &hosts))
            .expect("run_in")
            .expect("start dnsmasq")
    };
    println!("dnsmasq started (pid file written) in {:?}", t0.elapsed());
    let pid = d.pid();
    assert!(dnsmasq::is_alive(pid));
    assert_eq!(
        topo.pids(0),
        vec![pid],
        "dnsmasq runs in the host namespace"
    );
    let mode = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).expect("stat").permissions().mode() & 0o777
    };
    assert_eq!(mode(&dir), 0o755);
    assert_eq!(mode(&paths.hostsfile), 0o644);

    let Some(client) = udhcpc() else {
        eprintln!("udhcpc not installed (apt-get install udhcpc): skipping the DHCP exchange");
        dnsmasq::stop(pid).expect("stop");
        assert!(!dnsmasq::is_alive(pid));
        return;
    };

    let (ip1, t1) = dhcp(&client, c1);
    println!("static client {MAC1}: {ip1} in {t1:?}");
    assert_eq!(ip1, Ipv4Addr::new(192, 168, 100, 21));
    let (ip2, t2) = dhcp(&client, c2);
    println!("dynamic client {MAC2}: {ip2} in {t2:?}");
    let range = cfg.range.expect("range");
    assert!(range.contains(ip2), "{ip2} not in {range}");
    for t in [t1, t2] {
        assert!(
            t < StdDuration::from_secs(2),
            "lease took {t:?} (ping check on?)"
        );
    }

    let leasefile = dir.join(LEASE_FILE);
    let mac = |s: &str| s.parse::<MacAddr>().expect("mac");
    eventually("both leases in the leasefile", || {
        let l = dnsmasq::leases(&leasefile).expect("leases");
        l.iter().any(|l| l.mac == mac(MAC1) && l.ip == ip1)
            && l.iter().any(|l| l.mac == mac(MAC2) && l.ip == ip2)
    });
    println!("leases: {:?}", dnsmasq::leases(&leasefile).expect("leases"));

    // Reserve .32 for the dynamic client: hostsfile + SIGHUP, no restart.
    let cfg2 = config(vec![
        host(MAC1, [192, 168, 100, 21], "guest1"),
        host(MAC2, [192, 168, 100, 32], "guest2"),
    ]);
    let t0 = Instant::now();
    dnsmasq::reload_hosts(&dir, &cfg2.hostsfile(), pid).expect("reload");
    let log = dir.join(LOG_FILE);
    let hosts_path = paths.hostsfile.display().to_string();
    eventually("dnsmasq to re-read the hostsfile", || {
        fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(&format!("read {hosts_path}"))
    });
    println!("hostsfile re-read {:?} after reload_hosts", t0.elapsed());
    let (ip2b, t2b) = dhcp(&client, c2);
    println!("dynamic client after reservation: {ip2b} in {t2b:?}");
    assert_eq!(ip2b, Ipv4Addr::new(192, 168, 100, 32));
    assert!(dnsmasq::is_alive(pid), "dnsmasq survived the reload");
    assert_eq!(dnsmasq::read_pid(&paths.pidfile), Some(pid), "same pid");
    eventually("the new lease", || {
        dnsmasq::leases(&leasefile)
            .expect("leases")
            .iter()
            .any(|l| l.mac == mac(MAC2) && l.ip == ip2b && l.hostname.is_some())
    });

    let t0 = Instant::now();
    dnsmasq::stop(pid).expect("stop");
    println!("stopped in {:?}", t0.elapsed());
    assert!(!dnsmasq::is_alive(pid));
    for i in 0..3 {
        assert_eq!(
            topo.pids(i),
            Vec::<i32>::new(),
            "processes left in {}",
            topo.ns(i)
        );
    }
    // Stopping again is a no-op; reloading a dead daemon says so.
    dnsmasq::stop(pid).expect("stop again");
    assert!(matches!(
        dnsmasq::reload_hosts(&dir, "", pid),
        Err(DnsmasqError::NotRunning { .. })
    ));
}

#[test]
fn dnsmasq_start_failure_quotes_the_log() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping dnsmasq test: {why}");
        return;
    }
    let topo = Topo::new("bad", &["h"]);
    let dir = topo.dir.clone();
    let err = netns::run_in(topo.ns(0), move || {
        Dnsmasq::start(&dir, "no-such-option-for-hvnet\n", "")
    })
    .expect("run_in")
    .expect_err("a bad conf must fail");
    let msg = err.to_string();
    println!("{msg}");
    assert!(matches!(err, DnsmasqError::Exited { .. }), "{msg}");
    assert!(msg.contains("bad option"), "{msg}");
    assert_eq!(topo.pids(0), Vec::<i32>::new());
}
