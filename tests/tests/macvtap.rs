//! `kind = "direct"` networks on the real kernel: hvnet's macvtaps carry guest traffic.
//!
//! The "host" is a test namespace with a veth `up0` as its uplink; the uplink's peer sits in
//! an "outside" namespace. hvnet makes one macvtap per guest NIC on `up0`. A macvtap's
//! frames are read and written through its character device `/dev/tapN`, not through the
//! host's stack, so a guest is played the way QEMU plays it: the test opens `/dev/tapN`
//! (found from the ifindex) and relays every frame between it and a tap device `eth0` in
//! the guest's own namespace, whose stack then has the guest's MAC and address. (Moving
//! the macvtap into the guest namespace would not do: a macvtap hands what it receives to
//! its character device, never to a stack.)
//!
//! Bridge mode: the two guests reach each other and the outside. Private mode: they reach
//! the outside, not each other.
//!
//! `/dev/tapN` names are global while ifindexes are per namespace, so the tests here run one
//! at a time (no other test makes macvtaps).

#![allow(clippy::unwrap_used)]

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use hvnet_tests::*;

static SERIAL: Mutex<()> = Mutex::new(());

const G1_MAC: &str = "52:54:00:4d:00:11";
const G2_MAC: &str = "52:54:00:4d:00:12";

fn config(mode: &str) -> String {
    format!(
        r#"
[[network]]
name = "lan"
kind = "direct"
uplink = "up0"
mode = "{mode}"

[[guest]]
name = "g1"
[[guest.nic]]
network = "lan"
ifname = "mvt1"
mac = "{G1_MAC}"
owner = 65534

[[guest]]
name = "g2"
[[guest.nic]]
network = "lan"
ifname = "mvt2"
mac = "{G2_MAC}"
"#
    )
}

/// `TUNSETIFF` on an open `/dev/tapN`: frames without the virtio-net header (a macvtap
/// opens with `IFF_VNET_HDR` on).
fn no_vnet_hdr(fd: RawFd) {
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    let mut ifr = [0u8; 40];
    let flags = (libc::IFF_TAP | libc::IFF_NO_PI) as u16;
    ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: a valid descriptor and a 40-byte struct ifreq.
    let r = unsafe { libc::ioctl(fd, TUNSETIFF, ifr.as_mut_ptr()) };
    assert_eq!(
        r,
        0,
        "TUNSETIFF on the macvtap: {}",
        std::io::Error::last_os_error()
    );
}

/// Copies frames from `from` to `to` until `stop`.
fn pump(from: RawFd, to: RawFd, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while !stop.load(Ordering::Relaxed) {
            let mut p = libc::pollfd {
                fd: from,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut p, 1, 50) } <= 0 {
                continue;
            }
            // SAFETY: the buffer is valid for its length; the descriptors outlive the thread.
            let n = unsafe { libc::read(from, buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                // SAFETY: as above; `n` bytes were read.
                unsafe { libc::write(to, buf.as_ptr().cast(), n as usize) };
            }
        }
    })
}

/// A guest: a tap `eth0` in its namespace (with its MAC and address) whose frames are
/// relayed to and from a macvtap's `/dev/tapN`.
struct Guest {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    _tap: OwnedFd,
    _dev: File,
}

impl Guest {
    fn attach(ns: &Netns, host: &str, macvtap: &str, mac: &str, addr: &str) -> Guest {
        let _ = try_ip(&["-n", ns.name(), "link", "del", "eth0"]);
        ns.ip(&["tuntap", "add", "dev", "eth0", "mode", "tap"]);
        ns.ip(&["link", "set", "eth0", "address", mac]);
        ns.ip(&["addr", "add", addr, "dev", "eth0"]);
        ns.ip(&["link", "set", "eth0", "up"]);
        let tap = attach_tap(ns.name(), "eth0", false, false);
        let ifindex = must_link(host, macvtap)["ifindex"].as_u64().unwrap();
        let path = format!("/dev/tap{ifindex}");
        let dev = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        no_vnet_hdr(dev.as_raw_fd());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = vec![
            pump(tap.as_raw_fd(), dev.as_raw_fd(), stop.clone()),
            pump(dev.as_raw_fd(), tap.as_raw_fd(), stop.clone()),
        ];
        Guest {
            stop,
            threads,
            _tap: tap,
            _dev: dev,
        }
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn ping(ns: &Netns, to: &str) -> bool {
    nsx(ns.name(), "ping", &["-c", "1", "-W", "1", to]).code == 0
}

/// Up to three tries: the first frames wait for ARP.
fn reaches(ns: &Netns, to: &str) -> bool {
    (0..3).any(|_| ping(ns, to))
}

#[test]
fn macvtap_guests_switch_in_bridge_mode_and_not_in_private_mode() {
    if !require_root() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (host, out) = host_and_lan("mvt", "10.77.0.1/24");
    let g1 = Netns::new("mvt-g1");
    let g2 = Netns::new("mvt-g2");
    let h = host.name();

    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    let cfg = dir.write("hvnet.toml", &config("bridge"));
    hv.apply(&cfg);
    for (name, mac, owner) in [("mvt1", G1_MAC, "hvnet:g1"), ("mvt2", G2_MAC, "hvnet:g2")] {
        let l = must_link(h, name);
        assert_eq!(l["linkinfo"]["info_kind"], "macvtap", "{l}");
        assert_eq!(l["linkinfo"]["info_data"]["mode"], "bridge", "{l}");
        assert_eq!(l["link"], "up0", "{l}");
        assert_eq!(l["address"], mac, "{l}");
        assert_eq!(l["ifalias"], owner, "{l}");
        assert_eq!(
            l["group"], "default",
            "tagged links leave the pending group: {l}"
        );
        // The character device exists, and g1's belongs to its `owner`.
        let path = format!("/dev/tap{}", l["ifindex"]);
        let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        use std::os::unix::fs::MetadataExt;
        assert_eq!(meta.uid(), if name == "mvt1" { 65534 } else { 0 }, "{path}");
    }
    // In sync, and a second apply changes nothing.
    hv.run(&cfg, &["check"]).expect_code(0);
    assert!(
        hv.apply(&cfg).contains("no changes"),
        "second apply changed something"
    );
    // QEMU's arguments open the live /dev/tapN; `show` names the uplink and mode.
    let dev = format!("/dev/tap{}", must_link(h, "mvt1")["ifindex"]);
    let r = hv.run(&cfg, &["guest", "args", "g1"]);
    let args = r.ok().stdout.clone();
    assert!(
        args.contains("fd=3,vhost=off") && args.contains(&format!("3<>{dev}")),
        "{r}"
    );
    let r = hv.run(&cfg, &["guest", "xml", "g1"]);
    assert!(
        r.ok().stdout.contains("<source dev='up0' mode='bridge'/>"),
        "{r}"
    );
    let r = hv.run(&cfg, &["show", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.ok().stdout).unwrap();
    let shown = v["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "mvt1")
        .cloned()
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(
        (&shown["kind"], &shown["lower"], &shown["mode"]),
        (&"macvtap".into(), &"up0".into(), &"bridge".into()),
        "{r}"
    );
    // Without its device node (no devtmpfs or udev to make it), `check` sees it and `apply`
    // makes it from the device number in sysfs, with its owner.
    let meta = std::fs::metadata(&dev).unwrap();
    std::fs::remove_file(&dev).unwrap();
    hv.run(&cfg, &["check"]).expect_code(1);
    hv.apply(&cfg);
    let again = std::fs::metadata(&dev).unwrap_or_else(|e| panic!("{dev} not made again: {e}"));
    use std::os::unix::fs::MetadataExt;
    assert_eq!((again.rdev(), again.uid()), (meta.rdev(), 65534), "{dev}");
    hv.run(&cfg, &["check"]).expect_code(0);
    // `stats` counts the macvtaps like taps.
    let r = hv.run(&cfg, &["stats", "--json"]);
    assert!(
        r.ok().stdout.contains("\"mvt1\"") && r.stdout.contains("\"mvt2\""),
        "{r}"
    );
    // One guest goes and comes back; the other is untouched.
    hv.run(&cfg, &["guest", "down", "g2"]).ok();
    assert!(link(h, "mvt2").is_none() && link(h, "mvt1").is_some());
    hv.run(&cfg, &["guest", "up", "g2"]).ok();
    hv.run(&cfg, &["check"]).expect_code(0);

    {
        let _a = Guest::attach(&g1, h, "mvt1", G1_MAC, "10.77.0.11/24");
        let _b = Guest::attach(&g2, h, "mvt2", G2_MAC, "10.77.0.12/24");
        assert!(
            reaches(&g1, "10.77.0.12"),
            "bridge mode: g1 cannot reach g2"
        );
        assert!(
            reaches(&g2, "10.77.0.11"),
            "bridge mode: g2 cannot reach g1"
        );
        assert!(
            reaches(&g1, "10.77.0.1"),
            "bridge mode: g1 cannot reach the outside"
        );
        assert!(reaches(&out, "10.77.0.12"), "the outside cannot reach g2");
    }

    // Private mode: the macvtaps are made again in the new mode.
    let cfg = dir.write("hvnet.toml", &config("private"));
    hv.apply(&cfg);
    assert_eq!(
        must_link(h, "mvt1")["linkinfo"]["info_data"]["mode"],
        "private"
    );
    hv.run(&cfg, &["check"]).expect_code(0);
    {
        let _a = Guest::attach(&g1, h, "mvt1", G1_MAC, "10.77.0.11/24");
        let _b = Guest::attach(&g2, h, "mvt2", G2_MAC, "10.77.0.12/24");
        assert!(
            reaches(&g1, "10.77.0.1"),
            "private mode: g1 cannot reach the outside"
        );
        assert!(
            reaches(&out, "10.77.0.12"),
            "private mode: the outside cannot reach g2"
        );
        // A fresh neighbour table: no cached answer from bridge mode.
        g1.ip(&["neigh", "flush", "dev", "eth0"]);
        assert!(!reaches(&g1, "10.77.0.12"), "private mode: g1 reached g2");
    }

    // `down` removes the macvtaps (and their device nodes with them).
    hv.run(&cfg, &["down"]).ok();
    assert!(link(h, "mvt1").is_none() && link(h, "mvt2").is_none());
    assert!(link(h, "up0").is_some(), "the uplink stays");
}

/// Received bits per second of a 3 s iperf3 run from `client` to the one-off server at
/// `server_addr` in `server` (`reverse`: the server sends).
fn throughput(client: &Netns, server: &Netns, server_addr: &str, reverse: bool) -> f64 {
    nsx(
        server.name(),
        "iperf3",
        &["-s", "-1", "-D", "-B", server_addr],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut args = vec!["-c", server_addr, "-t", "3", "-O", "1", "-J"];
    if reverse {
        args.push("-R");
    }
    let r = nsx(client.name(), "iperf3", &args);
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{r}"));
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| panic!("no throughput\n{r}"))
}

/// A NIC's limits on a macvtap: what the guest sends is shaped by the macvtap's own root
/// tbf, what it receives by the IFB its received traffic is redirected to — measured with
/// iperf3 between a guest (played through `/dev/tapN`) and the outside, and changed live
/// with `hvnet rate`.
#[test]
fn macvtap_nic_rates_shape_both_directions() {
    if !require_root() || !on_path("iperf3") {
        println!("skipped: needs root and iperf3");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (host, out) = host_and_lan("mvr", "10.78.0.1/24");
    let g1 = Netns::new("mvr-g1");
    let h = host.name();
    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    let cfg = dir.write(
        "hvnet.toml",
        &format!(
            "[[network]]\nname = \"lan\"\nkind = \"direct\"\nuplink = \"up0\"\nmode = \"bridge\"\n\
             [[guest]]\nname = \"g1\"\n[[guest.nic]]\nnetwork = \"lan\"\nifname = \"mvr1\"\nmac = \"{G1_MAC}\"\n\
             rate = {{ egress = \"10mbit\", ingress = \"20mbit\" }}\n"
        ),
    );
    hv.apply(&cfg);
    hv.run(&cfg, &["check"]).expect_code(0);
    let _g = Guest::attach(&g1, h, "mvr1", G1_MAC, "10.78.0.11/24");
    assert!(reaches(&g1, "10.78.0.1"));
    let within = |got: f64, rate: f64, what: &str| {
        println!("{what}: {:.2} Mbit/s of {:.0}", got / 1e6, rate / 1e6);
        assert!(
            (0.85 * rate..=1.02 * rate).contains(&got),
            "{what}: {got} bit/s, configured {rate}"
        );
    };
    within(
        throughput(&g1, &out, "10.78.0.1", false),
        10e6,
        "guest egress",
    );
    within(
        throughput(&g1, &out, "10.78.0.1", true),
        20e6,
        "guest ingress",
    );
    // Live: only the egress changes.
    hv.run(&cfg, &["rate", "g1", "0", "--egress", "30mbit"])
        .ok();
    within(
        throughput(&g1, &out, "10.78.0.1", false),
        30e6,
        "guest egress after `hvnet rate`",
    );
}
