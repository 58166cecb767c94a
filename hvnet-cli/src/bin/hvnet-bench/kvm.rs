//! The QEMU hook benchmark (`--kvm`): `hvnet kvm ifup TAP` on a host that already carries
//! 512 taps (256 guests × 2 NICs on two bridges), against an `ip -batch` of what the hook
//! does to the tap (MAC, MTU and tag; attach; up).
//!
//! Each round, as QEMU would, a fresh tap `qtap` is made with `ip tuntap add` (untimed); then
//! either hvnet adopts it (`kvm ifup qtap`: its NIC names it with `ifname`) and removes it
//! again (`kvm ifdown qtap`, timed separately), or `ip -batch` does the same to it and
//! `ip link del` removes it. Both end with the same link (checked).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::common::{hvnet_bin, median, run, Ns, Res};

/// Guests besides the one whose tap QEMU makes.
const GUESTS: usize = 256;

fn config() -> String {
    let mut t = String::new();
    for n in 0..2 {
        let _ = write!(
            t,
            "[[network]]\nname = \"knet{n}\"\nkind = \"internal\"\nbridge = \"kbr{n}\"\nmtu = 1500\n"
        );
    }
    t.push_str(
        "[[guest]]\nname = \"q\"\n[[guest.nic]]\nnetwork = \"knet0\"\nifname = \"qtap\"\nmac = \"52:54:00:00:00:99\"\n",
    );
    for i in 0..GUESTS {
        let _ = write!(
            t,
            "[[guest]]\nname = \"k{i}\"\n[[guest.nic]]\nnetwork = \"knet0\"\n[[guest.nic]]\nnetwork = \"knet1\"\n"
        );
    }
    t
}

fn tap_state(ns: &str) -> Res<String> {
    let (_, out) = run(Command::new("ip").args(["-d", "-n", ns, "-o", "link", "show", "qtap"]))?;
    // Name, master, MAC, MTU, alias and up flag; not the ifindex.
    let words: Vec<&str> = out.split_whitespace().collect();
    let pick = |k: &str| {
        words
            .iter()
            .position(|w| *w == k)
            .and_then(|i| words.get(i + 1))
            .copied()
            .unwrap_or("-")
    };
    Ok(format!(
        "master={} mac={} mtu={} alias={} up={}",
        pick("master"),
        pick("link/ether"),
        pick("mtu"),
        pick("alias"),
        words.get(2).is_some_and(|f| f.contains(",UP"))
    ))
}

pub fn bench(runs: usize, dir: &Path) -> Res<()> {
    let hvnet = hvnet_bin()?;
    let cfg = dir.join("kvm.toml");
    std::fs::write(&cfg, config()).map_err(|e| e.to_string())?;
    let ns = Ns::new("kvm")?;
    let state = dir.join("state-kvm");
    let hv = |args: &[&str]| {
        let mut c = Command::new(&hvnet);
        c.arg("--netns")
            .arg(&ns.0)
            .arg("-c")
            .arg(&cfg)
            .arg("--state-dir")
            .arg(&state)
            .args(args);
        c
    };
    run(&mut hv(&["apply"]))?;
    run(&mut hv(&["guest", "down", "q"]))?;
    let tuntap = || {
        run(Command::new("ip").args([
            "-n", &ns.0, "tuntap", "add", "dev", "qtap", "mode", "tap", "vnet_hdr",
        ]))
    };
    let batch = dir.join("ifup.batch");
    std::fs::write(
        &batch,
        "link set dev qtap address fe:54:00:00:00:99 mtu 1500 alias hvnet:q\nlink set dev qtap master kbr0\nlink set dev qtap up\n",
    )
    .map_err(|e| e.to_string())?;
    let rounds = runs.max(1) * 10;
    let (mut ifup, mut ifdown, mut ip) = (Vec::new(), Vec::new(), Vec::new());
    let mut want = None;
    for _ in 0..rounds {
        tuntap()?;
        ifup.push(run(&mut hv(&["kvm", "ifup", "qtap"]))?.0);
        let got = tap_state(&ns.0)?;
        ifdown.push(run(&mut hv(&["kvm", "ifdown", "qtap"]))?.0);
        tuntap()?;
        ip.push(run(Command::new("ip").args(["-n", &ns.0, "-batch"]).arg(&batch))?.0);
        let by_ip = tap_state(&ns.0)?;
        run(Command::new("ip").args(["-n", &ns.0, "link", "del", "dev", "qtap"]))?;
        if got != by_ip {
            return Err(format!("hvnet left {got}, ip -batch {by_ip}"));
        }
        want.get_or_insert(got);
    }
    let (u, d, b) = (median(ifup), median(ifdown), median(ip));
    println!(
        "kvm ifup of a tap beside {} others ({rounds} rounds, medians): hvnet {:.2} ms, ip -batch {:.2} ms ({:.2}×); kvm ifdown {:.2} ms",
        GUESTS * 2,
        u * 1e3,
        b * 1e3,
        u / b,
        d * 1e3
    );
    println!("tap after ifup: {}", want.unwrap_or_default());
    Ok(())
}
