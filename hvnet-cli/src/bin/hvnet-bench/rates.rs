//! The rate-limit accuracy benchmark (`--rates`).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{median, run, Ns, Res};

/// The rate-limit accuracy benchmark (`--rates`): for 10 Mbit/s, 100 Mbit/s and 1 Gbit/s
/// in both directions, `runs` iperf3 runs of 5 s (after 1 s omitted) between two veth
/// guests, the first of them limited by hvnet.
pub fn bench(runs: usize, dir: &Path, hvnet: &Path) -> Res<()> {
    let (h, g1, g2) = (Ns::new("rh")?, Ns::new("rg1")?, Ns::new("rg2")?);
    let cfg = dir.join("rate.toml");
    let state = dir.join("state-rate");
    let write = |rate: &str| {
        std::fs::write(
            &cfg,
            format!(
                "[[network]]\nname = \"rb\"\nkind = \"internal\"\nbridge = \"rbbr0\"\n\
                 [[guest]]\nname = \"g1\"\n[[guest.nic]]\nnetwork = \"rb\"\ntype = \"veth\"\nnetns = \"{}\"\nrate = \"{rate}\"\n\
                 [[guest]]\nname = \"g2\"\n[[guest.nic]]\nnetwork = \"rb\"\ntype = \"veth\"\nnetns = \"{}\"\n",
                g1.0, g2.0
            ),
        )
        .map_err(|e| e.to_string())
    };
    let apply = || {
        run(Command::new(hvnet)
            .arg("--netns")
            .arg(&h.0)
            .arg("-c")
            .arg(&cfg)
            .arg("--state-dir")
            .arg(&state)
            .arg("apply"))
    };
    write("10mbit")?;
    apply()?;
    for (ns, addr) in [(&g1.0, "10.78.0.11/24"), (&g2.0, "10.78.0.12/24")] {
        run(Command::new("ip").args(["-n", ns, "link", "set", "lo", "up"]))?;
        run(Command::new("ip").args(["-n", ns, "addr", "add", addr, "dev", "eth0"]))?;
        run(Command::new("ip").args(["-n", ns, "link", "set", "eth0", "up"]))?;
    }
    println!("rate limits: iperf3 TCP goodput between two veth guests, guest 1 limited; {runs} runs of 5 s each (1 s omitted)");
    println!(
        "expected = configured × 0.956 (TCP payload over Ethernet frames; tbf counts L2 bytes)"
    );
    println!("| configured | direction | expected | runs (Mbit/s) | median | error vs expected |");
    println!("|---|---|---|---|---|---|");
    for (rate, mbit) in [("10mbit", 10.0), ("100mbit", 100.0), ("1gbit", 1000.0)] {
        write(rate)?;
        apply()?;
        for (dir_name, reverse) in [("guest egress", false), ("guest ingress", true)] {
            let mut got = Vec::new();
            for _ in 0..runs {
                let mut server = Command::new("ip")
                    .args([
                        "netns",
                        "exec",
                        &g2.0,
                        "iperf3",
                        "-s",
                        "-1",
                        "-B",
                        "10.78.0.12",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|e| format!("iperf3 server: {e}"))?;
                std::thread::sleep(std::time::Duration::from_millis(300));
                let mut c = Command::new("ip");
                c.args([
                    "netns",
                    "exec",
                    &g1.0,
                    "iperf3",
                    "-c",
                    "10.78.0.12",
                    "-t",
                    "5",
                    "-O",
                    "1",
                    "-J",
                ]);
                if reverse {
                    c.arg("-R");
                }
                let out = run(&mut c);
                let _ = server.kill();
                let _ = server.wait();
                let (_, json) = out?;
                let v: serde_json::Value =
                    serde_json::from_str(&json).map_err(|e| format!("iperf3 output: {e}"))?;
                let bps = v["end"]["sum_received"]["bits_per_second"]
                    .as_f64()
                    .ok_or("iperf3 output without end.sum_received")?;
                got.push(bps / 1e6);
            }
            let expected = mbit * 0.956;
            let med = median(got.clone());
            let list: Vec<String> = got.iter().map(|g| format!("{g:.1}")).collect();
            println!(
                "| {rate} | {dir_name} | {expected:.1} | {} | {med:.1} | {:+.2} % |",
                list.join(", "),
                (med / expected - 1.0) * 100.0
            );
        }
    }
    Ok(())
}
