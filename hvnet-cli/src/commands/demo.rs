//! `hvnet demo`: the embedded default. Builds a host-only network in a throwaway namespace,
//! attaches two namespace guests by veth and one tap, proves guest↔guest and guest↔host
//! ping, shows the result, re-applies (expecting no change), tears everything down and
//! checks that nothing is left.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hvnet_core::backend::Observe;
use hvnet_core::config::Config;
use hvnet_core::plan::{plan, Plan};
use hvnet_core::teardown::down_state;
use hvnet_core::txn;
use hvnet_linux::netlink::{LinkChange, Request, Rtnl};
use hvnet_linux::{netns, ping, LinuxHost};

use crate::cli::Global;
use crate::commands::plan::compute_with;
use crate::commands::show::render;
use crate::error::{CliError, CliResult};

const DEMO_TOML: &str = include_str!("../demo.toml");
const HOST_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 110, 1);

/// Deletes the demo's namespaces when dropped, also after an error or a panic.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            if let Err(e) = netns::delete(ns) {
                eprintln!("warning: could not delete namespace {ns}: {e}");
            }
        }
    }
}

fn rt(e: impl std::fmt::Display) -> CliError {
    CliError::runtime(e)
}

/// Runs `f` on a thread inside namespace `ns`, flattening both error layers.
fn in_ns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> CliResult<T> + Send + 'static,
) -> CliResult<T> {
    netns::run_in(ns, f).map_err(rt)?
}

/// Brings `lo` up and, for a guest, configures its NIC like the guest's OS would.
fn configure(ns: &str, nic: Option<(&'static str, Ipv4Addr)>) -> CliResult {
    in_ns(ns, move || {
        let mut rtnl = Rtnl::open().map_err(rt)?;
        let mut reqs = vec![];
        let up = |ifindex| Request::SetLink {
            ifindex,
            change: LinkChange {
                up: Some(true),
                ..LinkChange::default()
            },
        };
        let lo = rtnl
            .get_link("lo")
            .map_err(rt)?
            .ok_or_else(|| rt("no lo"))?;
        reqs.push(up(lo.ifindex));
        if let Some((name, ip)) = nic {
            let l = rtnl
                .get_link(name)
                .map_err(rt)?
                .ok_or_else(|| rt(format!("{name} missing in {ns}", ns = "guest")))?;
            reqs.push(Request::NewAddr {
                ifindex: l.ifindex,
                address: IpAddr::V4(ip),
                prefix_len: 24,
            });
            reqs.push(up(l.ifindex));
        }
        for r in rtnl.execute(&reqs) {
            r.map_err(rt)?;
        }
        Ok(())
    })
}

fn apply_in(ns: &str, cfg: Config) -> CliResult<(Plan, usize)> {
    let run_dir = std::path::Path::new("/run/hvnet/netns").join(ns);
    in_ns(ns, move || {
        let mut host = LinuxHost::open().map_err(rt)?;
        let p = compute_with(&cfg, &mut host, &run_dir, "demo")?.plan;
        let n = txn::run(&mut host, &p, None).map_err(rt)?;
        Ok((p, n))
    })
}

fn check_ping(from: &str, label: &str, to: Ipv4Addr) -> bool {
    match ping::ping(Some(from), to, 3, Duration::from_secs(3)) {
        Ok(r) => {
            let avg = if r.rtts.is_empty() {
                0.0
            } else {
                r.rtts.iter().map(|d| d.as_secs_f64()).sum::<f64>() / r.rtts.len() as f64 * 1e3
            };
            let ok = r.received == r.sent && r.sent > 0;
            println!(
                "  {label:<28} {}/{} replies, avg {avg:.3} ms  {}",
                r.received,
                r.sent,
                if ok { "ok" } else { "FAILED" }
            );
            ok
        }
        Err(e) => {
            println!("  {label:<28} error: {e}  FAILED");
            false
        }
    }
}

pub fn run(_g: &Global, keep: bool) -> CliResult {
    let id = std::process::id();
    let (hostns, g1, g2) = (
        format!("hvnet-demo-{id}"),
        format!("hvnet-demo-{id}-g1"),
        format!("hvnet-demo-{id}-g2"),
    );
    let mut guard = Namespaces(Vec::new());
    for ns in [&hostns, &g1, &g2] {
        netns::create(ns).map_err(|e| {
            CliError::Runtime(format!(
                "cannot create namespace {ns}: {e} (hvnet demo needs root)"
            ))
        })?;
        guard.0.push(ns.clone());
    }
    println!("namespaces: host {hostns}, guests {g1} and {g2}");
    let text = DEMO_TOML.replace("@G1@", &g1).replace("@G2@", &g2);
    let cfg =
        Config::parse(&text, "<embedded demo>").map_err(|e| CliError::Input(e.to_string()))?;
    configure(&hostns, None)?;

    println!("\n== apply");
    let (p, n) = apply_in(&hostns, cfg.clone())?;
    print!("{p}");
    println!("applied {n} op(s)");

    configure(&g1, Some(("eth0", Ipv4Addr::new(192, 168, 110, 11))))?;
    configure(&g2, Some(("eth0", Ipv4Addr::new(192, 168, 110, 12))))?;

    println!("\n== ping");
    let mut ok = true;
    ok &= check_ping(&g1, "node-1 -> node-2", Ipv4Addr::new(192, 168, 110, 12));
    ok &= check_ping(&g2, "node-2 -> node-1", Ipv4Addr::new(192, 168, 110, 11));
    ok &= check_ping(&g1, "node-1 -> host", HOST_IP);
    ok &= check_ping(&g2, "node-2 -> host", HOST_IP);
    ok &= check_ping(&hostns, "host -> node-1", Ipv4Addr::new(192, 168, 110, 11));

    println!("\n== show");
    let shown = in_ns(&hostns, || {
        let mut host = LinuxHost::open().map_err(rt)?;
        Ok(render(&host.observe(&[]).map_err(rt)?))
    })?;
    print!("{shown}");

    println!("\n== re-apply");
    let (again, _) = apply_in(&hostns, cfg.clone())?;
    if again.is_empty() {
        println!("no changes (0 ops)");
    } else {
        ok = false;
        print!("unexpected changes:\n{again}");
    }

    if keep {
        std::mem::take(&mut guard.0);
        println!("\nkept: inspect with `ip -n {hostns} link`; remove with `ip netns del` of {hostns} {g1} {g2}");
        return if ok {
            Ok(())
        } else {
            Err(rt("demo checks failed"))
        };
    }

    println!("\n== down");
    let left = in_ns(&hostns, move || {
        let mut host = LinuxHost::open().map_err(rt)?;
        let observed = host.observe(&[]).map_err(rt)?;
        let p = plan(&observed, &down_state(&cfg, &observed)).map_err(rt)?;
        let n = txn::run(&mut host, &p, None).map_err(rt)?;
        println!("removed {n} op(s)");
        let after = host.observe(&[]).map_err(rt)?;
        Ok(after
            .links
            .iter()
            .filter(|l| l.owner().is_some())
            .map(|l| l.name.clone())
            .collect::<Vec<_>>())
    })?;
    if left.is_empty() {
        println!("no hvnet links left");
    } else {
        ok = false;
        println!("left behind: {}", left.join(", "));
    }
    drop(guard);
    let remaining: Vec<String> = [&hostns, &g1, &g2]
        .iter()
        .filter(|ns| netns::exists(ns))
        .map(|s| s.to_string())
        .collect();
    if remaining.is_empty() {
        println!("namespaces removed");
    } else {
        ok = false;
        println!("namespaces still present: {}", remaining.join(", "));
    }
    if ok {
        println!("\ndemo: all checks passed");
        Ok(())
    } else {
        Err(rt("demo: some checks failed (see above)"))
    }
}
