//! A real QEMU guest (TCG, no KVM needed) on an hvnet tap: Debian's stock kernel and a busybox
//! initramfs, built from Debian packages by `scripts/qemu-guest/prepare.sh` into
//! `target/qemu-guest/` (a cache: built once, reused; `$HVNET_GUEST_DIR` overrides the place).
//! The guest boots in about 5 s, takes a DHCP lease from hvnet's dnsmasq over hvnet's tap,
//! pings the host and serves HTTP, which the host and (through hvnet's port forward) an
//! outside namespace fetch.
//!
//! QEMU gets its network with the arguments `hvnet guest args` prints, so the test proves
//! those arguments work for a real hypervisor.
//!
//! When a Debian package cannot be downloaded (mirror or network unreachable), the test
//! prints why and is skipped, except with `CI` set in the environment: there it must work.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hvnet_tests::*;
use serde_json::Value;

/// The brief's NAT network with a DHCP reservation and a port forward for guest `qemu1`.
const CONFIG: &str = r#"
[[network]]
name = "default"
kind = "nat"
bridge = "virbr0"
address = "192.168.100.1/24"
[network.dhcp]
range = "192.168.100.50-192.168.100.150"

[[guest]]
name = "qemu1"
[[guest.nic]]
network = "default"
ifname = "vnet0"
mac = "52:54:00:12:34:56"
ip = "192.168.100.40"
vnet_hdr = true
[[guest.forward]]
host_port = 8080
guest_port = 80
"#;

/// The guest NIC's MAC and its reserved address.
const MAC: &str = "52:54:00:12:34:56";
const GUEST_IP: &str = "192.168.100.40";
/// What the guest's httpd serves.
const HELLO: &str = "hello-from-qemu-guest";
/// The host namespace's uplink address and the outside namespace's.
const UPLINK: &str = "10.202.0.1";
const OUTSIDE: &str = "10.202.0.2";

/// Seconds the guest stays up after `GUEST: READY` before it powers itself off (kernel
/// command line `guest_life=`). The test kills QEMU when it is done anyway; this bounds how
/// long an orphaned QEMU could live.
const GUEST_LIFE_S: u32 = 45;
/// Longest wait for the guest to reach READY (about 3–5 s when the host is idle; TCG is
/// slower when other tests load the CPUs).
const BOOT_TIMEOUT: Duration = Duration::from_secs(40);
/// Longest a (cold) guest build may take: a 70 MB download plus about 6 s of work.
const PREPARE_TIMEOUT_S: u32 = 600;

/// Fetches URL (3 s timeout, no proxy from the environment) and prints the body.
const HTTP_GET: &str = r#"
import sys, urllib.request
o = urllib.request.build_opener(urllib.request.ProxyHandler({}))
print(o.open(sys.argv[1], timeout=3).read().decode().strip())
"#;

// ----- commands -----

/// An HTTP GET from `ns`, retried for up to 5 s; the body, or the last failed run.
fn http_get(ns: &str, url: &str) -> Result<String, Run> {
    let start = Instant::now();
    loop {
        let r = nsx(ns, "python3", &["-c", HTTP_GET, url]);
        if r.code == 0 {
            return Ok(r.stdout.trim().to_string());
        }
        if start.elapsed() > Duration::from_secs(5) {
            return Err(r);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether every program the test drives is installed (scripts/install-deps.sh installs
/// them); prints which is missing (the test then returns early and passes).
fn tools_available() -> bool {
    let missing: Vec<&str> = [
        "qemu-system-x86_64",
        "cpio",
        "flock",
        "apt-get",
        "dpkg-deb",
        "dnsmasq",
        "iptables",
        "python3",
    ]
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

/// Splits one line of shell-quoted words (as `hvnet guest args` prints them): blanks
/// separate words; single quotes, double quotes and backslashes quote.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    cur.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                if !matches!(n, '"' | '\\' | '$' | '`') {
                                    cur.push('\\');
                                }
                                cur.push(n);
                            }
                        }
                        _ => cur.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            _ => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

// ----- the guest build (cached under target/) -----

/// The workspace root (the parent of this crate).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// Cargo's target directory: the nearest ancestor of this test executable that holds
/// `CACHEDIR.TAG` (cargo writes one there), else `<workspace>/target`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .skip(1)
        .find(|d| d.join("CACHEDIR.TAG").is_file())
        .map_or_else(|| workspace().join("target"), Path::to_path_buf)
}

/// Where the guest is built: `$HVNET_GUEST_DIR`, else `target/qemu-guest`.
fn guest_dir() -> PathBuf {
    match std::env::var_os("HVNET_GUEST_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => target_dir().join("qemu-guest"),
    }
}

/// The built guest.
#[derive(Debug, Clone)]
struct GuestFiles {
    /// The uncompressed PVH `vmlinux-<kver>`.
    kernel: PathBuf,
    /// `initramfs.cpio.gz`.
    initrd: PathBuf,
    /// How long `prepare.sh` took (a few ms when cached).
    took: Duration,
    /// Whether it reused an earlier build.
    cached: bool,
}

/// Builds the guest, or reuses the cached build (`scripts/qemu-guest/prepare.sh` locks its
/// build directory, so concurrent callers build it once). `Err` with the reason when a
/// Debian package could not be downloaded; panics on any other build failure.
fn prepare_guest() -> Result<GuestFiles, String> {
    let dir = guest_dir();
    let script = workspace().join("scripts/qemu-guest/prepare.sh");
    let start = Instant::now();
    let r = run(
        script.to_str().unwrap(),
        &[dir.to_str().expect("utf-8 path")],
        PREPARE_TIMEOUT_S,
    );
    let took = start.elapsed();
    match r.code {
        0 => {}
        3 => return Err(format!("a Debian package could not be downloaded\n{r}")),
        _ => panic!("building the QEMU guest failed\n{r}"),
    }
    let kernel = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinux-") && !n.ends_with(".tmp"))
        })
        .max()
        .unwrap_or_else(|| panic!("no vmlinux-* in {}\n{r}", dir.display()));
    let initrd = dir.join("initramfs.cpio.gz");
    assert!(initrd.is_file(), "no {}\n{r}", initrd.display());
    Ok(GuestFiles {
        kernel,
        initrd,
        took,
        cached: r.stderr.contains("prepare: cached guest"),
    })
}

/// The guest, or `None` (after printing why) when it cannot be downloaded here. With `CI`
/// set a failed download fails the test instead.
fn guest_or_skip() -> Option<GuestFiles> {
    match prepare_guest() {
        Ok(g) => Some(g),
        Err(why) => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(!ci, "CI is set, so the QEMU guest must build: {why}");
            println!("skipped: cannot build the QEMU guest: {why}");
            None
        }
    }
}

// ----- QEMU -----

/// One line QEMU printed (serial console or its own stderr) and when it arrived, counted
/// from QEMU's start.
type Line = (Duration, String);

/// QEMU running the guest inside a namespace, its serial console collected line by line;
/// killed on drop.
struct Qemu {
    child: Child,
    lines: Arc<Mutex<Vec<Line>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Qemu {
    /// Boots `guest` in `ns` (TCG, qboot, PVH kernel) with `net_args` as its network
    /// arguments.
    fn start(ns: &str, guest: &GuestFiles, net_args: &[String]) -> Qemu {
        Self::start_with(ns, guest, net_args, &[])
    }

    /// Like [`Qemu::start`], through `sh` with the redirections `redirects` (`30<>/dev/tap7`:
    /// the descriptors a macvtap NIC's `fd=` names), as `hvnet guest args` prints them.
    fn start_with(ns: &str, guest: &GuestFiles, net_args: &[String], redirects: &[String]) -> Qemu {
        let append = format!("console=ttyS0 quiet panic=-1 guest_life={GUEST_LIFE_S}");
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]);
        if !redirects.is_empty() {
            // `exec` keeps QEMU the child; the shell only opens the descriptors.
            c.args([
                "sh",
                "-c",
                &format!("exec \"$@\" {}", redirects.join(" ")),
                "sh",
            ]);
        }
        c.arg("qemu-system-x86_64")
            .args(["-accel", "tcg", "-m", "256", "-smp", "1"])
            .args(["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"])
            .args(["-serial", "stdio", "-monitor", "none"])
            .args(["-bios", "/usr/share/qemu/qboot.rom"])
            .arg("-kernel")
            .arg(&guest.kernel)
            .arg("-initrd")
            .arg(&guest.initrd)
            .args(["-append", &append])
            .args(net_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        // `ip netns exec` execs in place: the child is QEMU itself.
        let mut child = c.spawn().expect("spawn qemu-system-x86_64");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            Self::reader(child.stdout.take().unwrap(), "", start, &lines),
            Self::reader(child.stderr.take().unwrap(), "qemu: ", start, &lines),
        ];
        Qemu {
            child,
            lines,
            readers,
        }
    }

    fn reader(
        from: impl Read + Send + 'static,
        prefix: &'static str,
        start: Instant,
        lines: &Arc<Mutex<Vec<Line>>>,
    ) -> JoinHandle<()> {
        let lines = Arc::clone(lines);
        std::thread::spawn(move || {
            let mut r = BufReader::new(from);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&buf);
                        let text = text.trim_end_matches(['\r', '\n']);
                        lines
                            .lock()
                            .unwrap()
                            .push((start.elapsed(), format!("{prefix}{text}")));
                    }
                }
            }
        })
    }

    /// The first line containing `pat`, waiting up to `timeout` (less if QEMU exits).
    fn wait_for(&mut self, pat: &str, timeout: Duration) -> Option<Line> {
        let start = Instant::now();
        loop {
            if let Some(l) = self.find(pat) {
                return Some(l);
            }
            let exited = self.child.try_wait().ok().flatten().is_some();
            if exited || start.elapsed() > timeout {
                // Let the readers drain what QEMU wrote last.
                std::thread::sleep(Duration::from_millis(200));
                return self.find(pat);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn find(&self, pat: &str) -> Option<Line> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .find(|(_, l)| l.contains(pat))
            .cloned()
    }

    /// Everything QEMU printed so far, with host-relative timestamps.
    fn console(&self) -> String {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|(t, l)| format!("[{:6.2}] {l}\n", t.as_secs_f64()))
            .collect()
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

/// `uptime=SECONDS` in a guest marker line.
fn guest_uptime(line: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("uptime="))
        .and_then(|v| v.parse().ok())
}

// ----- tests -----

#[test]
fn qemu_guest_gets_lease_from_hvnet_and_pings_host() {
    if !require_root() || !tools_available() {
        return;
    }
    let test_start = Instant::now();
    let Some(guest) = guest_or_skip() else {
        return;
    };
    println!(
        "guest build: {:.2} s ({}): {} + {}",
        guest.took.as_secs_f64(),
        if guest.cached { "cached" } else { "built" },
        guest.kernel.display(),
        guest.initrd.display()
    );

    // Host namespace (hvnet's) with an uplink veth to an outside namespace and a default
    // route through it, which a nat network needs.
    let host = Netns::new("qemu-h");
    let out = Netns::new("qemu-o");
    let h = host.name();
    host.ip(&[
        "link",
        "add",
        "up0",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        out.name(),
    ]);
    host.ip(&["addr", "add", &format!("{UPLINK}/24"), "dev", "up0"]);
    host.ip(&["link", "set", "up0", "up"]);
    out.ip(&["addr", "add", &format!("{OUTSIDE}/24"), "dev", "eth0"]);
    out.ip(&["link", "set", "eth0", "up"]);
    host.ip(&["route", "add", "default", "via", OUTSIDE]);

    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    let cfg = dir.write("hvnet.toml", CONFIG);
    hv.apply(&cfg);
    let tap = must_link(h, "vnet0");
    assert_eq!(tap["master"], "virbr0", "{tap}");
    assert_eq!(kind(&tap), "tun", "{tap}");

    // hvnet's own QEMU arguments for the guest: one NIC, on the tap apply made.
    let r = hv.run(&cfg, &["guest", "args", "qemu1"]);
    let net_args: Vec<String> = r
        .ok()
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .flat_map(shell_words)
        .collect();
    let joined = net_args.join(" ");
    for want in [
        "-netdev",
        "-device",
        "ifname=vnet0",
        "script=no",
        "downscript=no",
        "virtio-net-pci",
        &format!("mac={MAC}"),
    ] {
        assert!(joined.contains(want), "guest args lack {want:?}\n{r}");
    }

    let mut qemu = Qemu::start(h, &guest, &net_args);
    let ready = qemu.wait_for("GUEST: READY", BOOT_TIMEOUT);
    let console = qemu.console();
    println!("--- guest console ---\n{console}---");
    assert!(
        ready.is_some(),
        "the guest did not reach READY within {BOOT_TIMEOUT:?}"
    );

    // DHCP: the reservation, from hvnet's dnsmasq.
    let obtained = qemu
        .find(&format!("lease of {GUEST_IP} obtained from 192.168.100.1"))
        .unwrap_or_else(|| panic!("no DHCP lease of {GUEST_IP} in the console"));
    let (dhcp_t, dhcp_line) = qemu
        .find("GUEST: dhcp done")
        .expect("no `GUEST: dhcp done` marker");
    assert!(
        dhcp_line.contains(&format!("ip={GUEST_IP}/24")),
        "the guest's address after DHCP: {dhcp_line}"
    );
    let init = qemu.find("GUEST: init start");
    assert!(
        qemu.find("driver=virtio_net").is_some(),
        "eth0 is not virtio-net"
    );
    assert!(
        qemu.find("GUEST: PING-HOST-OK").is_some(),
        "the guest could not ping the host (192.168.100.1)"
    );
    assert!(qemu.find("GUEST: httpd started").is_some());

    // While QEMU runs, the tap has carrier.
    wait_carrier(h, "vnet0");

    // hvnet sees the lease.
    let r = hv.run(&cfg, &["leases", "--json"]);
    let v: Value = serde_json::from_str(&r.ok().stdout)
        .unwrap_or_else(|e| panic!("leases --json is not JSON ({e})\n{r}"));
    let lease = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array\n{r}"))
        .iter()
        .find(|l| l["mac"] == MAC)
        .unwrap_or_else(|| panic!("no lease for {MAC}\n{r}"));
    assert_eq!(lease["ip"], GUEST_IP, "{r}");
    assert_eq!(lease["network"], "default", "{r}");

    // HTTP from the host, and from the outside through hvnet's port forward.
    let body = http_get(h, &format!("http://{GUEST_IP}/"))
        .unwrap_or_else(|r| panic!("HTTP from the host to the guest failed\n{r}"));
    assert_eq!(body, HELLO);
    let body = http_get(out.name(), &format!("http://{UPLINK}:8080/"))
        .unwrap_or_else(|r| panic!("HTTP from the outside through the port forward failed\n{r}"));
    assert_eq!(body, HELLO);

    let (ready_t, ready_line) = ready.unwrap();
    println!(
        "boot→lease: {:.2} s from QEMU start (lease obtained at {:.2} s; guest uptime at \
         /init {}, after DHCP {}); READY at {:.2} s (guest uptime {}); test so far {:.1} s",
        dhcp_t.as_secs_f64(),
        obtained.0.as_secs_f64(),
        init.as_ref()
            .and_then(|(_, l)| guest_uptime(l))
            .map_or("?".into(), |u| format!("{u:.2} s")),
        guest_uptime(&dhcp_line).map_or("?".into(), |u| format!("{u:.2} s")),
        ready_t.as_secs_f64(),
        guest_uptime(&ready_line).map_or("?".into(), |u| format!("{u:.2} s")),
        test_start.elapsed().as_secs_f64()
    );
    drop(qemu);
}

/// Concurrent callers of `prepare.sh` (threads here, other test binaries elsewhere) build
/// the guest once: they serialise on the build directory's lock, then all find the cache,
/// which a later call leaves untouched.
#[test]
fn qemu_guest_build_is_cached_and_serialised() {
    if !require_root() || !tools_available() {
        return;
    }
    let handles: Vec<_> = (0..3).map(|_| std::thread::spawn(prepare_guest)).collect();
    let results: Vec<Result<GuestFiles, String>> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    if let Some(Err(why)) = results.iter().find(|r| r.is_err()) {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
        assert!(!ci, "CI is set, so the QEMU guest must build: {why}");
        println!("skipped: cannot build the QEMU guest: {why}");
        return;
    }
    let guests: Vec<GuestFiles> = results.into_iter().map(Result::unwrap).collect();
    // At most one of them built; the others waited for it and reused its result.
    let built = guests.iter().filter(|g| !g.cached).count();
    assert!(built <= 1, "{built} concurrent callers built the guest");
    for g in &guests {
        assert_eq!(g.kernel, guests[0].kernel);
        assert_eq!(g.initrd, guests[0].initrd);
    }
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before = (mtime(&guests[0].kernel), mtime(&guests[0].initrd));
    let again = prepare_guest().unwrap();
    assert!(again.cached, "a second call rebuilt the guest");
    assert!(
        again.took < Duration::from_secs(2),
        "the cached call took {:?}",
        again.took
    );
    assert_eq!(
        (mtime(&again.kernel), mtime(&again.initrd)),
        before,
        "the cache was rewritten"
    );
}

/// A real guest on a macvtap NIC of a `kind = "direct"` network: QEMU opens the macvtap's
/// `/dev/tapN` through the redirection `hvnet guest args` prints, and the guest takes a DHCP
/// lease from a dnsmasq in the outside namespace, across the uplink — the LAN the macvtap
/// puts it on — and pings that server.
#[test]
fn qemu_guest_on_macvtap_leases_from_the_uplinks_lan() {
    if !require_root() || !tools_available() {
        return;
    }
    let Some(guest) = guest_or_skip() else {
        return;
    };
    let (host, out) = host_and_lan("qmv", "10.203.0.1/24");
    let h = host.name();

    let dir = TempDir::new();
    let lan = dir.path().join("lan");
    std::fs::create_dir_all(&lan).unwrap();
    let mut dnsmasq = Command::new("ip")
        .args([
            "netns",
            "exec",
            out.name(),
            "dnsmasq",
            "--keep-in-foreground",
        ])
        .args([
            "--conf-file=/dev/null",
            "--bind-interfaces",
            "--interface=eth0",
        ])
        .args(["--except-interface=lo", "--port=0", "--dhcp-authoritative"])
        .arg("--dhcp-range=10.203.0.50,10.203.0.150,255.255.255.0,1h")
        .arg(format!("--dhcp-leasefile={}", lan.join("leases").display()))
        .arg(format!("--pid-file={}", lan.join("pid").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn dnsmasq");

    let hv = Hv::new(&host, &dir);
    let cfg = dir.write(
        "hvnet.toml",
        &format!(
            "[[network]]\nname = \"lan\"\nkind = \"direct\"\nuplink = \"up0\"\nmode = \"bridge\"\n\n\
             [[guest]]\nname = \"qemu2\"\n[[guest.nic]]\nnetwork = \"lan\"\nmac = \"{MAC}\"\n"
        ),
    );
    hv.apply(&cfg);
    let l = must_link(h, "macvtap0");
    assert_eq!(kind(&l), "macvtap", "{l}");

    let r = hv.run(&cfg, &["guest", "args", "qemu2"]);
    let words: Vec<String> = r.ok().stdout.lines().flat_map(shell_words).collect();
    let (redirects, net_args): (Vec<String>, Vec<String>) = words.into_iter().partition(|w| {
        w.split_once("<>")
            .is_some_and(|(fd, _)| fd.chars().all(|c| c.is_ascii_digit()))
    });
    let dev = format!("/dev/tap{}", l["ifindex"]);
    assert_eq!(redirects, [format!("3<>{dev}")], "{r}");
    assert!(
        net_args.join(" ").contains("tap,id=net0,fd=3,vhost=off"),
        "{r}"
    );

    let mut qemu = Qemu::start_with(h, &guest, &net_args, &redirects);
    let ready = qemu.wait_for("GUEST: READY", BOOT_TIMEOUT);
    let console = qemu.console();
    println!("--- guest console ---\n{console}---");
    assert!(
        ready.is_some(),
        "the guest did not reach READY within {BOOT_TIMEOUT:?}"
    );
    let (_, dhcp_line) = qemu
        .find("GUEST: dhcp done")
        .expect("no `GUEST: dhcp done` marker");
    assert!(
        dhcp_line.contains("ip=10.203.0."),
        "no lease from the LAN's dnsmasq: {dhcp_line}"
    );
    assert!(
        qemu.find("obtained from 10.203.0.1").is_some(),
        "the lease is not the outside dnsmasq's"
    );
    assert!(
        qemu.find("GUEST: PING-HOST-OK").is_some(),
        "the guest could not ping the LAN's router 10.203.0.1"
    );
    // While QEMU holds the macvtap, it has carrier.
    wait_carrier(h, "macvtap0");
    drop(qemu);
    let _ = dnsmasq.kill();
    let _ = dnsmasq.wait();
}
