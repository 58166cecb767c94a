//! `hvnet-bench --overlay`: a static VXLAN overlay of 16 "hypervisor" namespaces on one
//! underlay bridge, each applying the same config (`HVNET_HOST_NAME`), with one veth guest
//! per host (address set by the benchmark, as a guest's own static config would).
//!
//! Measured per run: `hvnet apply` on each of the 16 hosts from nothing; then a 17th host
//! joins: `apply` on the 16 (each adds one flood entry), and the time from `apply` on the
//! new host until every other host's guest has pinged its guest (16 concurrent ping loops,
//! 50 ms timeout per try). Done with the VXLAN device learning remote MACs (`learning`, the
//! default) and with `learning = false` (every frame to an unknown MAC replicated to all
//! peers).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::common::{median, run, Ns, Res};

const HOSTS: usize = 16;

fn config(hosts: usize, learning: bool, guest_ns: &[String]) -> String {
    let mut t = String::new();
    for i in 1..=hosts {
        t.push_str(&format!(
            "[[overlay.host]]\nname = \"hv{i}\"\naddress = \"172.16.0.{i}\"\n"
        ));
    }
    t.push_str(&format!(
        "[[network]]\nname = \"ov\"\nkind = \"internal\"\nbridge = \"br-ov\"\n\
         [network.overlay]\nvni = 4242\nlearning = {learning}\n"
    ));
    for i in 1..=hosts {
        t.push_str(&format!(
            "[[guest]]\nname = \"g{i}\"\nhost = \"hv{i}\"\n[[guest.nic]]\nnetwork = \"ov\"\n\
             type = \"veth\"\nnetns = \"{}\"\n",
            guest_ns[i - 1]
        ));
    }
    t
}

/// `ip ARGS`.
pub fn ip(args: &[&str]) -> Res<()> {
    run(Command::new("ip").args(args)).map(|_| ())
}

/// One run's figures, in seconds.
struct Figures {
    /// `apply` on each of the 16 hosts, from nothing.
    apply: Vec<f64>,
    /// `apply` on each of the 16 when the 17th joins (one flood entry each).
    join_apply: Vec<f64>,
    /// `apply` on the new host.
    new_apply: f64,
    /// From `apply` on the new host until all 16 other guests have pinged its guest.
    reach: f64,
}

/// An underlay bridge (in the first namespace returned) with `n` hypervisor namespaces on it
/// (`under`, 172.16.0.I/24) and `n` guest namespaces (`lo` up).
pub fn lab(tag: &str, n: usize) -> Res<(Ns, Vec<Ns>, Vec<Ns>)> {
    let underlay = Ns::new(&format!("{tag}u"))?;
    ip(&["-n", underlay.name(), "link", "add", "ub", "type", "bridge"])?;
    ip(&["-n", underlay.name(), "link", "set", "ub", "up"])?;
    let mut hosts = Vec::new();
    let mut guests = Vec::new();
    for i in 1..=n {
        // Torn down with the underlay's wait on drop.
        let h = Ns::new_linkless(&format!("{tag}h{i}"))?;
        let g = Ns::new_linkless(&format!("{tag}g{i}"))?;
        let port = format!("u{i}");
        ip(&[
            "-n",
            underlay.name(),
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "under",
            "netns",
            h.name(),
        ])?;
        ip(&[
            "-n",
            underlay.name(),
            "link",
            "set",
            &port,
            "master",
            "ub",
            "up",
        ])?;
        ip(&[
            "-n",
            h.name(),
            "addr",
            "add",
            &format!("172.16.0.{i}/24"),
            "dev",
            "under",
        ])?;
        ip(&["-n", h.name(), "link", "set", "under", "up"])?;
        ip(&["-n", g.name(), "link", "set", "lo", "up"])?;
        hosts.push(h);
        guests.push(g);
    }
    Ok((underlay, hosts, guests))
}

fn measure(tag: &str, learning: bool, dir: &Path, hvnet: &Path) -> Res<Figures> {
    let (_underlay, hosts, guests) = lab(tag, HOSTS + 1)?;
    let names: Vec<String> = guests.iter().map(|g| g.name().to_string()).collect();
    let cfg16 = dir.join(format!("{tag}-16.toml"));
    let cfg17 = dir.join(format!("{tag}-17.toml"));
    std::fs::write(&cfg16, config(HOSTS, learning, &names)).map_err(|e| e.to_string())?;
    std::fs::write(&cfg17, config(HOSTS + 1, learning, &names)).map_err(|e| e.to_string())?;
    let apply = |i: usize, cfg: &Path| -> Res<f64> {
        let state = dir.join(format!("{tag}-state{i}"));
        let (secs, _) = run(Command::new(hvnet)
            .args(["--netns", hosts[i].name(), "--state-dir"])
            .arg(&state)
            .arg("-c")
            .arg(cfg)
            .arg("apply")
            .env("HVNET_HOST_NAME", format!("hv{}", i + 1)))?;
        Ok(secs)
    };
    let guest_up = |i: usize| -> Res<()> {
        let g = guests[i].name();
        ip(&[
            "-n",
            g,
            "addr",
            "add",
            &format!("10.70.0.{}/24", i + 1),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", g, "link", "set", "eth0", "up"])
    };
    let mut figs = Figures {
        apply: Vec::new(),
        join_apply: Vec::new(),
        new_apply: 0.0,
        reach: 0.0,
    };
    for i in 0..HOSTS {
        figs.apply.push(apply(i, &cfg16)?);
        guest_up(i)?;
    }
    for i in 0..HOSTS {
        figs.join_apply.push(apply(i, &cfg17)?);
    }
    let start = Instant::now();
    figs.new_apply = apply(HOSTS, &cfg17)?;
    guest_up(HOSTS)?;
    let target = format!("10.70.0.{}", HOSTS + 1);
    let pingers: Vec<_> = names[..HOSTS]
        .iter()
        .map(|g| {
            let (g, target) = (g.clone(), target.clone());
            std::thread::spawn(move || -> Res<f64> {
                for _ in 0..200 {
                    let ok = Command::new("ip")
                        .args([
                            "netns", "exec", &g, "ping", "-c", "1", "-W", "0.05", &target,
                        ])
                        .output()
                        .map_err(|e| e.to_string())?
                        .status
                        .success();
                    if ok {
                        return Ok(start.elapsed().as_secs_f64());
                    }
                }
                Err(format!("{g} never reached {target}"))
            })
        })
        .collect();
    for p in pingers {
        let t = p
            .join()
            .map_err(|_| "a ping thread panicked".to_string())??;
        figs.reach = figs.reach.max(t);
    }
    drop(hosts);
    drop(guests);
    Ok(figs)
}

fn ms(v: f64) -> String {
    format!("{:.1} ms", v * 1e3)
}

/// The overlay benchmark: `runs` runs with learning on, interleaved with `runs` with it off.
pub fn bench(runs: usize, dir: &Path, hvnet: &Path) -> Res<()> {
    println!(
        "static VXLAN overlay: {HOSTS} hypervisor namespaces + 1 joining, one underlay bridge, one shared config, one veth guest per host; {runs} runs per mode, each in fresh namespaces"
    );
    println!("| learning | apply per host, from nothing (median / max) | apply per existing host when a 17th joins (median / max) | apply on the new host | new host's apply → all 16 other guests ping its guest |");
    println!("|---|---|---|---|---|");
    let mut all = Vec::new();
    for r in 0..runs {
        for learning in [true, false] {
            let tag = format!("o{r}{}", if learning { "l" } else { "n" });
            all.push((learning, measure(&tag, learning, dir, hvnet)?));
        }
    }
    for learning in [true, false] {
        let mine: Vec<&Figures> = all
            .iter()
            .filter(|(l, _)| *l == learning)
            .map(|(_, f)| f)
            .collect();
        let flat = |f: fn(&Figures) -> &Vec<f64>| -> Vec<f64> {
            mine.iter().flat_map(|m| f(m).iter().copied()).collect()
        };
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        let (a, j) = (flat(|f| &f.apply), flat(|f| &f.join_apply));
        let new: Vec<f64> = mine.iter().map(|f| f.new_apply).collect();
        let reach: Vec<f64> = mine.iter().map(|f| f.reach).collect();
        println!(
            "| {} | {} / {} | {} / {} | {} | {} (runs: {}) |",
            if learning { "on (default)" } else { "off" },
            ms(median(a.clone())),
            ms(max(&a)),
            ms(median(j.clone())),
            ms(max(&j)),
            ms(median(new)),
            ms(median(reach.clone())),
            reach.iter().map(|v| ms(*v)).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}
