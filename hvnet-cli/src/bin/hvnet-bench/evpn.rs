//! `hvnet-bench --evpn`: how fast a new guest's MAC reaches every host of an overlay, with
//! BGP EVPN (`control = "evpn"`: hvnet's FRR on 4 hosts, peering with a route reflector or
//! in a full mesh; the MAC advertised by the guest's host and installed by zebra on the
//! others) against the flood-and-learn baseline (static peers, `learning` on: the others
//! learn the MAC from the guest's first flooded frame).
//!
//! Per run and mode, in fresh namespaces (the `overlay.rs` lab): 4 hosts (and, with a
//! reflector, `hv5`) apply one config; once every host's flood list holds the 3 others
//! (EVPN: type-3 routes installed), a new guest is plugged into hv1's bridge (a veth the
//! benchmark makes, as a hypervisor would a new VM's port) and sends one ARP request (a
//! ping to hv2's guest). Measured: from that ping's start until the guest's MAC is in the
//! VXLAN forwarding table of all 3 other hosts with hv1 as its remote (polled with
//! `bridge fdb show`, a few ms per poll).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{median, run, Res};
use crate::overlay::{ip, lab};

const HOSTS: usize = 4;
const VNI: u32 = 4244;

/// The control plane measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// EVPN, every host peering with the route reflector `hv5`.
    Reflector,
    /// EVPN, every host peering with every other.
    Mesh,
    /// Static peers, `learning` on.
    Flood,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Reflector, Mode::Mesh, Mode::Flood];

    fn evpn(self) -> bool {
        self != Mode::Flood
    }

    fn label(self) -> &'static str {
        match self {
            Mode::Reflector => "BGP EVPN, route reflector (hvnet's FRR; zebra installs the MAC)",
            Mode::Mesh => "BGP EVPN, full mesh of the 4 hosts",
            Mode::Flood => "flood-and-learn (static peers, `learning` on)",
        }
    }
}

/// The `[overlay]` part every host shares (with a reflector, all the reflector's file holds).
fn config(mode: Mode) -> String {
    let mut t = String::new();
    match mode {
        Mode::Reflector => {
            t.push_str("[overlay.evpn]\nasn = 65000\nroute_reflectors = [\"hv5\"]\n");
        }
        Mode::Mesh => t.push_str("[overlay.evpn]\nasn = 65000\n"),
        Mode::Flood => {}
    }
    let hosts = HOSTS + usize::from(mode == Mode::Reflector);
    for i in 1..=hosts {
        t.push_str(&format!(
            "[[overlay.host]]\nname = \"hv{i}\"\naddress = \"172.16.0.{i}\"\n"
        ));
    }
    t
}

/// Network `ov` and guest `gI` on host `hvI`.
fn network(evpn: bool, guest_ns: &[String]) -> String {
    let control = if evpn { "evpn" } else { "static" };
    let mut t = format!(
        "[[network]]\nname = \"ov\"\nkind = \"internal\"\nbridge = \"br-ov\"\n\
         [network.overlay]\nvni = {VNI}\ncontrol = \"{control}\"\n"
    );
    for (i, ns) in guest_ns.iter().enumerate().take(HOSTS) {
        t.push_str(&format!(
            "[[guest]]\nname = \"g{n}\"\nhost = \"hv{n}\"\n[[guest.nic]]\nnetwork = \"ov\"\n\
             type = \"veth\"\nnetns = \"{ns}\"\n",
            n = i + 1
        ));
    }
    t
}

/// The lines of `bridge fdb show dev vxlanVNI` in `ns`.
fn fdb(ns: &str) -> Res<String> {
    let dev = format!("vxlan{VNI}");
    let (_, out) = run(Command::new("bridge").args(["-n", ns, "fdb", "show", "dev", &dev]))?;
    Ok(out)
}

/// Waits (up to `within`) until `ok` holds for `ns`'s VXLAN forwarding table.
fn wait_fdb(ns: &str, within: Duration, ok: impl Fn(&str) -> bool) -> Res<f64> {
    let start = Instant::now();
    loop {
        if ok(&fdb(ns)?) {
            return Ok(start.elapsed().as_secs_f64());
        }
        if start.elapsed() > within {
            return Err(format!("{ns}: forwarding table not ready after {within:?}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One run: the time from the new guest's first frame until its MAC is on all 3 other
/// hosts, in seconds.
fn measure(tag: &str, mode: Mode, dir: &Path, hvnet: &Path) -> Res<f64> {
    let evpn = mode.evpn();
    let (_underlay, hosts, guests) = lab(tag, HOSTS + 1)?;
    let names: Vec<String> = guests.iter().map(|g| g.name().to_string()).collect();
    let shared = config(mode);
    let cfg = dir.join(format!("{tag}.toml"));
    std::fs::write(&cfg, format!("{shared}{}", network(evpn, &names)))
        .map_err(|e| e.to_string())?;
    let rr = dir.join(format!("{tag}-rr.toml"));
    if mode == Mode::Reflector {
        std::fs::write(&rr, &shared).map_err(|e| e.to_string())?;
    }
    let apply = |i: usize, cfg: &Path| -> Res<()> {
        let state = dir.join(format!("{tag}-state{i}"));
        run(Command::new(hvnet)
            .args(["--netns", hosts[i].name(), "--state-dir"])
            .arg(&state)
            .arg("-c")
            .arg(cfg)
            .arg("apply")
            .env("HVNET_HOST_NAME", format!("hv{}", i + 1)))
        .map(drop)
    };
    if mode == Mode::Reflector {
        apply(HOSTS, &rr)?;
    }
    for (i, g) in guests.iter().take(HOSTS).enumerate() {
        apply(i, &cfg)?;
        let g = g.name();
        ip(&[
            "-n",
            g,
            "addr",
            "add",
            &format!("10.71.0.{}/24", i + 1),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", g, "link", "set", "eth0", "up"])?;
    }
    // Ready: every host floods to the 3 others (EVPN: the type-3 routes are in).
    for h in &hosts[..HOSTS] {
        wait_fdb(h.name(), Duration::from_secs(30), |t| {
            t.lines()
                .filter(|l| l.starts_with("00:00:00:00:00:00 dst"))
                .count()
                == HOSTS - 1
        })?;
    }
    // The new guest: a veth on hv1's bridge into the 5th guest namespace.
    let (hv1, new) = (hosts[0].name(), guests[HOSTS].name());
    // It stays silent until the measured frame: no IPv6 (router solicitations, DAD).
    run(Command::new("ip").args([
        "netns",
        "exec",
        new,
        "sysctl",
        "-qw",
        "net.ipv6.conf.all.disable_ipv6=1",
        "net.ipv6.conf.default.disable_ipv6=1",
    ]))?;
    ip(&[
        "-n", hv1, "link", "add", "newg", "type", "veth", "peer", "name", "eth0", "netns", new,
    ])?;
    ip(&["-n", hv1, "link", "set", "newg", "master", "br-ov", "up"])?;
    ip(&["-n", new, "addr", "add", "10.71.0.50/24", "dev", "eth0"])?;
    ip(&["-n", new, "link", "set", "eth0", "up"])?;
    let (_, link) = run(Command::new("ip").args(["-n", new, "-j", "link", "show", "eth0"]))?;
    let v: serde_json::Value = serde_json::from_str(&link).map_err(|e| e.to_string())?;
    let mac = v[0]["address"]
        .as_str()
        .ok_or("no MAC on the new guest")?
        .to_string();
    // Nothing of it is known yet anywhere.
    for h in &hosts[1..HOSTS] {
        if fdb(h.name())?.contains(&mac) {
            return Err(format!("{}: {mac} known before the guest sent", h.name()));
        }
    }
    let start = Instant::now();
    let mut ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            new,
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            "10.71.0.2",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let want = "dst 172.16.0.1 self".to_string();
    let pollers: Vec<_> = hosts[1..HOSTS]
        .iter()
        .map(|h| {
            let (ns, mac, want) = (h.name().to_string(), mac.clone(), want.clone());
            std::thread::spawn(move || -> Res<f64> {
                wait_fdb(&ns, Duration::from_secs(10), |t| {
                    t.lines().any(|l| l.starts_with(&mac) && l.contains(&want))
                })?;
                Ok(start.elapsed().as_secs_f64())
            })
        })
        .collect();
    let mut all = 0.0f64;
    for p in pollers {
        all = all.max(p.join().map_err(|_| "a poller panicked".to_string())??);
    }
    let _ = ping.wait();
    drop(hosts);
    drop(guests);
    Ok(all)
}

fn ms(v: f64) -> String {
    format!("{:.1} ms", v * 1e3)
}

/// The EVPN benchmark: `runs` runs per mode, interleaved.
pub fn bench(runs: usize, dir: &Path, hvnet: &Path) -> Res<()> {
    println!(
        "new guest's MAC on all hosts: {HOSTS} hypervisor namespaces (+ a route reflector for EVPN), one underlay bridge; {runs} runs per mode, each in fresh namespaces"
    );
    println!("| control plane | first frame → MAC on all 3 other hosts (median) | runs |");
    println!("|---|---|---|");
    let mut figs: Vec<(Mode, f64)> = Vec::new();
    for r in 0..runs {
        for mode in Mode::ALL {
            let tag = format!("e{r}{}", mode as u8);
            figs.push((mode, measure(&tag, mode, dir, hvnet)?));
        }
    }
    for mode in Mode::ALL {
        let mine: Vec<f64> = figs
            .iter()
            .filter(|(m, _)| *m == mode)
            .map(|(_, f)| *f)
            .collect();
        println!(
            "| {} | {} | {} |",
            mode.label(),
            ms(median(mine.clone())),
            mine.iter().map(|v| ms(*v)).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}
