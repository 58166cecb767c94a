//! hvnet-bench: how fast hvnet applies and removes N guest taps on one bridge, against
//! `ip -batch` of the same operations (hvnet's own `apply --dry-run` commands: bridge, and per
//! tap `tuntap add`, `link set address … alias …`, `master`, `up`) and a shell script of the
//! same commands as single `ip` invocations, all measured in the same run, each in a fresh
//! network namespace.
//!
//! `hvnet-bench --rates [--runs R]` measures rate-limit accuracy instead (iperf3).
//!
//! `hvnet-bench --firewall [--runs R]` measures the iptables backend instead: a rule set of 4
//! nat networks (256 guests) and 1000 port forwards applied as hvnet does it (one
//! `iptables-restore` batch per table, then the hooks) against one `iptables` exec per rule,
//! plus the drift check and removal, per iptables flavour, each in a fresh namespace.
//!
//! Usage: `hvnet-bench [--runs R] [N ...]` (default 3 runs of 64 256 1023; a Linux bridge
//! holds at most 1023 ports). Each figure is the median of R interleaved runs. Needs root. Prints a Markdown table
//! of times and ratios; `BENCHMARKS.md` records the figures.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use hvnet_core::firewall::{self, Forward, FwKind, FwNetwork, Proto, RuleSet, Table};
use hvnet_core::types::{IfName, Ipv4Cidr};
use hvnet_linux::firewall::{FirewallBackend, Iptables, Variant};
use hvnet_linux::netns;

type Res<T> = Result<T, String>;

/// A namespace removed on drop; the flag says whether to wait for link teardown.
struct Ns(String, bool);

/// The namespace name `Ns::new(tag)` uses.
fn ns_name(tag: &str) -> String {
    format!("hvbench-{}-{tag}", std::process::id())
}

impl Ns {
    fn new(tag: &str) -> Res<Self> {
        let name = ns_name(tag);
        netns::create(&name).map_err(|e| format!("create namespace {name}: {e}"))?;
        Ok(Self(name, true))
    }

    /// A namespace that will hold no links (no teardown wait on drop).
    fn new_linkless(tag: &str) -> Res<Self> {
        let mut ns = Self::new(tag)?;
        ns.1 = false;
        Ok(ns)
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = netns::delete(&self.0);
        if !self.1 {
            return;
        }
        // The kernel tears a namespace's links down asynchronously, holding the RTNL lock;
        // let that finish so it does not slow down the next measurement.
        std::thread::sleep(std::time::Duration::from_millis(1500));
    }
}

fn run(cmd: &mut Command) -> Res<(f64, String)> {
    let start = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((secs, String::from_utf8_lossy(&out.stdout).into_owned()))
}

struct Figures {
    n: usize,
    hvnet_apply: f64,
    ip_batch: f64,
    shell_loop: f64,
    noop: f64,
    noop_writes: String,
    hvnet_down: f64,
    ip_batch_del: f64,
}

fn hvnet_bin() -> Res<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = exe.with_file_name("hvnet");
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "{} not found: build it with `cargo build --release --bin hvnet`",
            bin.display()
        ))
    }
}

fn config(n: usize) -> String {
    let mut t =
        String::from("[[network]]\nname = \"bench\"\nkind = \"internal\"\nbridge = \"bbr0\"\n");
    for i in 0..n {
        let _ = write!(
            t,
            "[[guest]]\nname = \"g{i}\"\n[[guest.nic]]\nnetwork = \"bench\"\nifname = \"tb{i}\"\n"
        );
    }
    t
}

fn measure(n: usize, dir: &Path, hvnet: &Path) -> Res<Figures> {
    let cfg = dir.join(format!("bench-{n}.toml"));
    std::fs::write(&cfg, config(n)).map_err(|e| e.to_string())?;
    let state = dir.join(format!("state-{n}"));
    let hv = |ns: &str, verb: &str| {
        let mut c = Command::new(hvnet);
        c.arg("--netns")
            .arg(ns)
            .arg("-c")
            .arg(&cfg)
            .arg("--state-dir")
            .arg(&state)
            .arg(verb);
        c
    };

    // hvnet: apply, no-op re-apply, down (bulk delete).
    let ns = Ns::new("hv")?;
    let (hvnet_apply, _) = run(&mut hv(&ns.0, "apply"))?;
    let (noop, out) = run(&mut hv(&ns.0, "apply"))?;
    let noop_writes = out
        .split("kernel writes")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .map_or_else(|| format!("? ({})", out.trim()), |s| s.trim().to_string());
    let (hvnet_down, _) = run(&mut hv(&ns.0, "down"))?;
    drop(ns);

    // The same ops as iproute2 commands: hvnet's own `apply --dry-run` of this config on an
    // empty namespace (bridge, then per tap: tuntap add + address/alias, master, up).
    let ns = Ns::new("dry")?;
    let (_, dry) = run(hv(&ns.0, "apply").arg("--dry-run"))?;
    drop(ns);
    let prefix = format!("ip netns exec {} ip ", ns_name("dry"));
    let cmds: Vec<String> = dry
        .lines()
        .flat_map(|l| l.split(" && "))
        .filter_map(|c| c.strip_prefix(&prefix).map(str::to_string))
        .collect();
    if cmds.len() < 2 * n {
        return Err(format!("unexpected dry-run output:\n{dry}"));
    }

    // ip -batch of those commands, then one-by-one deletes.
    let ns = Ns::new("ipb")?;
    let mut del = String::new();
    for i in 0..n {
        let _ = writeln!(del, "link del dev tb{i}");
    }
    let (addf, delf) = (dir.join("add.batch"), dir.join("del.batch"));
    std::fs::write(&addf, cmds.join("\n") + "\n").map_err(|e| e.to_string())?;
    std::fs::write(&delf, del).map_err(|e| e.to_string())?;
    let (ip_batch, _) = run(Command::new("ip")
        .arg("-n")
        .arg(&ns.0)
        .arg("-batch")
        .arg(&addf))?;
    let (ip_batch_del, _) = run(Command::new("ip")
        .arg("-n")
        .arg(&ns.0)
        .arg("-batch")
        .arg(&delf))?;
    drop(ns);

    // The same commands as single ip invocations from a shell script.
    let ns = Ns::new("sh")?;
    let script: String = cmds
        .iter()
        .map(|c| format!("ip -n {} {c} || exit 1\n", ns.0))
        .collect();
    let scriptf = dir.join("loop.sh");
    std::fs::write(&scriptf, script).map_err(|e| e.to_string())?;
    let (shell_loop, _) = run(Command::new("sh").arg(&scriptf))?;
    drop(ns);

    Ok(Figures {
        n,
        hvnet_apply,
        ip_batch,
        shell_loop,
        noop,
        noop_writes,
        hvnet_down,
        ip_batch_del,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The median of each figure over several runs.
fn medians(runs: Vec<Figures>) -> Res<Figures> {
    let pick = |f: fn(&Figures) -> f64| median(runs.iter().map(f).collect());
    let first = runs.first().ok_or("no runs")?;
    let mut writes: Vec<&str> = runs.iter().map(|r| r.noop_writes.as_str()).collect();
    writes.dedup();
    Ok(Figures {
        n: first.n,
        hvnet_apply: pick(|f| f.hvnet_apply),
        ip_batch: pick(|f| f.ip_batch),
        shell_loop: pick(|f| f.shell_loop),
        noop: pick(|f| f.noop),
        noop_writes: writes.join("/"),
        hvnet_down: pick(|f| f.hvnet_down),
        ip_batch_del: pick(|f| f.ip_batch_del),
    })
}

/// The rate-limit accuracy benchmark (`--rates`): for 10 Mbit/s, 100 Mbit/s and 1 Gbit/s
/// in both directions, `runs` iperf3 runs of 5 s (after 1 s omitted) between two veth
/// guests, the first of them limited by hvnet.
fn rates(runs: usize, dir: &Path, hvnet: &Path) -> Res<()> {
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

/// Networks, guests per network and port forwards of the firewall benchmark.
const FW_NETS: usize = 4;
const FW_GUESTS_PER_NET: usize = 64;
const FW_FORWARDS: usize = 1000;

/// The firewall benchmark's rule set: `FW_NETS` nat networks `fwn<i>` (bridge `fwbr<i>`,
/// 10.80.<i>.0/24) with `FW_GUESTS_PER_NET` guests each at .10 upwards, and `FW_FORWARDS`
/// forwards, alternately TCP and UDP, host port 20000 + k to guest k mod 256, port 1000 + k.
fn fw_ruleset() -> Res<RuleSet> {
    let mut nets = Vec::new();
    for i in 0..FW_NETS {
        nets.push(FwNetwork {
            name: format!("fwn{i}"),
            kind: FwKind::Nat {
                uplink: None,
                port_range: None,
            },
            bridge: IfName::new(&format!("fwbr{i}")).map_err(|e| e.to_string())?,
            subnet: format!("10.80.{i}.1/24")
                .parse::<Ipv4Cidr>()
                .map_err(|e| e.to_string())?,
        });
    }
    let guests = FW_NETS * FW_GUESTS_PER_NET;
    let forwards: Vec<Forward> = (0..FW_FORWARDS)
        .map(|k| {
            let g = k % guests;
            let (net, host) = (g / FW_GUESTS_PER_NET, g % FW_GUESTS_PER_NET);
            Forward {
                proto: if k % 2 == 0 { Proto::Tcp } else { Proto::Udp },
                host_addr: None,
                host_port: 20000 + k as u16,
                guest_ip: std::net::Ipv4Addr::new(10, 80, net as u8, 10 + host as u8),
                guest_port: 1000 + k as u16,
                network: format!("fwn{net}"),
            }
        })
        .collect();
    firewall::rules(&nets, &forwards).map_err(|e| e.to_string())
}

/// The same rule set as single `iptables` argument vectors: `-N` for every chain, `-A` for
/// every rule, then the hooks inserted at the top last first (as `apply` does on a fresh
/// namespace, without its `-C` probes).
fn fw_commands(rs: &RuleSet) -> Vec<Vec<String>> {
    let pre = |t: Table| vec!["-w".to_string(), "-t".into(), t.name().into()];
    let mut cmds = Vec::new();
    for (t, c) in firewall::CHAINS {
        let mut a = pre(*t);
        a.extend(["-N".to_string(), (*c).to_string()]);
        cmds.push(a);
    }
    for r in rs.rules() {
        let mut a = pre(r.table);
        a.extend(["-A".to_string(), r.chain.to_string()]);
        a.extend(firewall::split_words(&r.spec));
        cmds.push(a);
    }
    for h in RuleSet::hooks().iter().rev() {
        let mut a = pre(h.table);
        a.extend(["-I".to_string(), h.builtin.to_string(), "1".into()]);
        a.extend(h.args());
        cmds.push(a);
    }
    cmds
}

/// Times `f` run inside namespace `ns`.
fn timed_in<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Res<T> + Send + 'static,
) -> Res<(f64, T)> {
    let start = Instant::now();
    let r = netns::run_in(ns, f).map_err(|e| e.to_string())??;
    Ok((start.elapsed().as_secs_f64(), r))
}

struct FwFigures {
    batch: f64,
    per_rule: f64,
    check: f64,
    remove: f64,
}

/// One run of the firewall benchmark for one flavour (`bin` is its `iptables` binary).
fn fw_measure(ipt: &Iptables, bin: &str, rs: &RuleSet, cmds: &[Vec<String>]) -> Res<FwFigures> {
    // hvnet: apply (restore batches + hooks), check (must find no drift), remove.
    let ns = Ns::new_linkless("fwb")?;
    let (b, r) = (ipt.clone(), rs.clone());
    let (batch, ()) = timed_in(&ns.0, move || b.apply(&r).map_err(|e| e.to_string()))?;
    let (b, r) = (ipt.clone(), rs.clone());
    let (check, drift) = timed_in(&ns.0, move || b.check(&r).map_err(|e| e.to_string()))?;
    if !drift.is_empty() {
        return Err(format!("check after apply found drift: {}", drift[0]));
    }
    let b = ipt.clone();
    let (remove, ()) = timed_in(&ns.0, move || b.remove().map_err(|e| e.to_string()))?;
    drop(ns);

    // One iptables exec per chain, rule and hook.
    let ns = Ns::new_linkless("fwe")?;
    let (bin, all) = (bin.to_string(), cmds.to_vec());
    let (per_rule, ()) = timed_in(&ns.0, move || {
        for a in &all {
            run(Command::new(&bin).args(a))?;
        }
        Ok(())
    })?;
    let (b, r) = (ipt.clone(), rs.clone());
    let (_, drift) = timed_in(&ns.0, move || b.check(&r).map_err(|e| e.to_string()))?;
    if !drift.is_empty() {
        return Err(format!(
            "check after per-rule execs found drift: {}",
            drift[0]
        ));
    }
    drop(ns);
    Ok(FwFigures {
        batch,
        per_rule,
        check,
        remove,
    })
}

/// The firewall benchmark (`--firewall`).
fn firewall_bench(runs: usize) -> Res<()> {
    let rs = fw_ruleset()?;
    let cmds = fw_commands(&rs);
    let count = |t: Table| rs.rules().filter(|r| r.table == t).count();
    let (filter, nat) = (count(Table::Filter), count(Table::Nat));
    let hooks = RuleSet::hooks().len();
    let mut flavours = Vec::new();
    let default = Iptables::detect().map_err(|e| e.to_string())?;
    let default_name = match default.variant() {
        Variant::Nft => "iptables (default, nf_tables)",
        Variant::Legacy => "iptables (default, legacy)",
    };
    let default_variant = default.variant();
    flavours.push((default_name, default, "iptables"));
    if default_variant != Variant::Legacy {
        if let Some(l) = Iptables::with_variant(Variant::Legacy) {
            flavours.push(("iptables-legacy", l, "iptables-legacy"));
        }
    }
    println!(
        "firewall: {FW_NETS} nat networks × {FW_GUESTS_PER_NET} guests, {FW_FORWARDS} port forwards → {} rules ({filter} filter + {nat} nat) in {} chains + {hooks} hooks; per-rule = {} iptables execs",
        filter + nat,
        firewall::CHAINS.len(),
        cmds.len()
    );
    println!(
        "medians of {runs} runs; each apply in a fresh namespace; wall clock incl. process starts"
    );
    println!(
        "| flavour | rules | batch apply | per-rule execs | per-rule ÷ batch | check | remove |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, ipt, bin) in flavours {
        let figs = (0..runs)
            .map(|_| fw_measure(&ipt, bin, &rs, &cmds))
            .collect::<Res<Vec<_>>>()?;
        let pick = |f: fn(&FwFigures) -> f64| median(figs.iter().map(f).collect());
        let (batch, per_rule) = (pick(|f| f.batch), pick(|f| f.per_rule));
        println!(
            "| {name} | {} | {:.3} s | {:.2} s | {:.0}× | {:.1} ms | {:.1} ms |",
            filter + nat,
            batch,
            per_rule,
            per_rule / batch,
            pick(|f| f.check) * 1e3,
            pick(|f| f.remove) * 1e3
        );
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let rates_mode = args.iter().any(|a| a == "--rates");
    args.retain(|a| a != "--rates");
    let firewall_mode = args.iter().any(|a| a == "--firewall");
    args.retain(|a| a != "--firewall");
    let mut runs = 3;
    if let Some(i) = args.iter().position(|a| a == "--runs") {
        runs = args.get(i + 1).and_then(|r| r.parse().ok()).unwrap_or(3);
        args.drain(i..(i + 2).min(args.len()));
    }
    let ns: Vec<usize> = {
        let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
        if sizes.is_empty() {
            vec![64, 256, 1023]
        } else {
            sizes
        }
    };
    if firewall_mode {
        return match firewall_bench(runs) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hvnet-bench: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let dir = std::env::temp_dir().join(format!("hvnet-bench-{}", std::process::id()));
    if rates_mode {
        let r = std::fs::create_dir_all(&dir)
            .map_err(|e| e.to_string())
            .and_then(|()| rates(runs, &dir, &hvnet_bin()?));
        let _ = std::fs::remove_dir_all(&dir);
        return match r {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hvnet-bench: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let result = (|| -> Res<Vec<Figures>> {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let hvnet = hvnet_bin()?;
        ns.iter()
            .map(|&n| {
                medians(
                    (0..runs)
                        .map(|_| measure(n, &dir, &hvnet))
                        .collect::<Res<Vec<_>>>()?,
                )
            })
            .collect()
    })();
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(figs) => {
            println!("medians of {runs} runs; times are wall clock of whole commands (process start included)");
            println!("| N | hvnet apply | ip -batch | shell loop | apply ÷ ip -batch | shell loop ÷ apply | no-op re-apply | writes in no-op | hvnet down | ip -batch del | del ÷ down |");
            println!("|---|---|---|---|---|---|---|---|---|---|---|");
            for f in figs {
                println!(
                    "| {} | {:.3} s | {:.3} s | {:.3} s | {:.2}× | {:.1}× | {:.1} ms | {} | {:.3} s | {:.3} s | {:.1}× |",
                    f.n,
                    f.hvnet_apply,
                    f.ip_batch,
                    f.shell_loop,
                    f.hvnet_apply / f.ip_batch,
                    f.shell_loop / f.hvnet_apply,
                    f.noop * 1e3,
                    f.noop_writes,
                    f.hvnet_down,
                    f.ip_batch_del,
                    f.ip_batch_del / f.hvnet_down
                );
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hvnet-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
