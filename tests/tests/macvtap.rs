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
    let host = Netns::new("mvt-h");
    let out = Netns::new("mvt-o");
    let g1 = Netns::new("mvt-g1");
    let g2 = Netns::new("mvt-g2");
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
    host.ip(&["link", "set", "up0", "up"]);
    out.ip(&["addr", "add", "10.77.0.1/24", "dev", "eth0"]);
    out.ip(&["link", "set", "eth0", "up"]);

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
