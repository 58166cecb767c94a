//! `hvnet demo`: the embedded default. Builds a host-only network with DHCP (hvnet's
//! dnsmasq, its firewall chains) in a throwaway namespace, attaches two namespace guests by
//! veth and one tap; the guests take their addresses by DHCP (busybox `udhcpc`, or
//! `busybox udhcpc` without the udhcpc package; one has a reservation) — or, with neither,
//! are configured by hand. It proves guest↔guest and
//! guest↔host ping, lists the leases, shows the result, re-applies (expecting no change),
//! tears everything down (dnsmasq included) and checks that nothing is left.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hvnet_core::backend::{Observe, Query};
use hvnet_core::config::Config;
use hvnet_core::engine::{Engine, Intent, Scope};
use hvnet_core::plan::Plan;
use hvnet_kvm::KvmBackend;
use hvnet_linux::dhcp_client::Udhcpc;
use hvnet_linux::netlink::{LinkChange, Request, Rtnl};
use hvnet_linux::{netns, ping, LinuxHost};

use crate::cli::Global;
use crate::context::engine_error;
use crate::error::{CliError, CliResult};
use hvnet_linux::show::{render, render_services};

const DEMO_TOML: &str = include_str!("../demo.toml");
const HOST_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 110, 1);

/// Deletes the demo's namespaces (killing what still runs in them) and its state directory
/// when dropped, also after an error or a panic.
struct Namespaces(Vec<String>, Option<PathBuf>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            if let Err(e) = netns::delete(ns) {
                eprintln!("warning: could not delete namespace {ns}: {e}");
            }
        }
        if let Some(dir) = &self.1 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The hook the demo's DHCP clients run: sets the leased address, never touches
/// `/etc/resolv.conf`.
const UDHCPC_HOOK: &str = "#!/bin/sh\ncase \"$1\" in bound|renew) ip addr replace \"$ip/${mask:-24}\" dev \"$interface\";; esac\nexit 0\n";

/// Runs the DHCP client once in namespace `ns` on `eth0` (`-n -q`: lease, then exit);
/// whether it got a lease.
fn dhcp_in(client: &Udhcpc, ns: &str, hook: &Path) -> bool {
    let up = std::process::Command::new("ip")
        .args(["-n", ns, "link", "set", "eth0", "up"])
        .status();
    if !up.is_ok_and(|s| s.success()) {
        return false;
    }
    std::process::Command::new("ip")
        .args(["netns", "exec", ns])
        .args(client.argv())
        .args(["-i", "eth0", "-n", "-q", "-t", "5", "-T", "1", "-s"])
        .arg(hook)
        .output()
        .is_ok_and(|o| o.status.success())
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

/// The demo's state directory (dnsmasq's files, the firewall marker).
fn run_dir(ns: &str) -> PathBuf {
    Path::new("/run/hvnet/netns").join(ns)
}

fn apply_in(ns: &str, cfg: Config) -> CliResult<(Plan, usize)> {
    let run_dir = run_dir(ns);
    in_ns(ns, move || {
        let mut host = LinuxHost::open().map_err(rt)?;
        host.set_state_dir(run_dir);
        let mut engine = Engine::new(host, KvmBackend).with_source("demo");
        let (planned, applied) = engine
            .run(&cfg, &Scope::Config, Intent::Up)
            .map_err(engine_error)?;
        Ok((planned.plan, applied.ops))
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
    let mut guard = Namespaces(Vec::new(), Some(run_dir(&hostns)));
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

    println!("\n== dhcp");
    let hook = run_dir(&hostns).join("demo-udhcpc.hook");
    std::fs::write(&hook, UDHCPC_HOOK).map_err(rt)?;
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(rt)?;
    let mut ok = true;
    // Found before anything runs: `ip netns exec NS udhcpc` without udhcpc starts fine and
    // only its inner exec fails, which would look like "no lease".
    let client = Udhcpc::find();
    match &client {
        Some(c) => println!("  DHCP client: {c}"),
        None => println!(
            "  no DHCP client (neither udhcpc nor busybox's applet): addresses set by hand"
        ),
    }
    let by_dhcp = client.is_some();
    for (ns, name, fixed) in [
        (&g1, "node-1", Ipv4Addr::new(192, 168, 110, 11)),
        (&g2, "node-2", Ipv4Addr::new(192, 168, 110, 12)),
    ] {
        match &client {
            Some(c) if dhcp_in(c, ns, &hook) => {
                println!("  {name:<8} leased an address from hvnet's dnsmasq")
            }
            Some(_) => {
                println!("  {name:<8} got no lease  FAILED");
                ok = false;
            }
            None => {
                println!("  {name:<8} address set by hand ({fixed})");
                configure(ns, Some(("eth0", fixed)))?;
            }
        }
    }
    configure(&g1, None)?;
    configure(&g2, None)?;
    let leases = hvnet_linux::dnsmasq::leases(
        &run_dir(&hostns)
            .join("net/demo")
            .join(hvnet_core::dhcp::LEASE_FILE),
    )
    .map_err(rt)?;
    for l in &leases {
        println!(
            "  lease {:<16} {}  {}",
            l.ip.to_string(),
            l.mac,
            l.hostname.as_deref().unwrap_or("-")
        );
    }
    let node1 = leases
        .iter()
        .find(|l| l.mac.to_string() == "52:54:00:d7:8d:61")
        .map_or(Ipv4Addr::new(192, 168, 110, 11), |l| l.ip);
    if by_dhcp
        && !leases
            .iter()
            .any(|l| l.ip == Ipv4Addr::new(192, 168, 110, 12))
    {
        println!("  node-2 did not get its reservation 192.168.110.12  FAILED");
        ok = false;
    }

    println!("\n== ping");
    ok &= check_ping(&g1, "node-1 -> node-2", Ipv4Addr::new(192, 168, 110, 12));
    ok &= check_ping(&g2, "node-2 -> node-1", node1);
    ok &= check_ping(&g1, "node-1 -> host", HOST_IP);
    ok &= check_ping(&g2, "node-2 -> host", HOST_IP);
    ok &= check_ping(&hostns, "host -> node-1", node1);

    println!("\n== show");
    let state = run_dir(&hostns);
    let shown = in_ns(&hostns, move || {
        let mut host = LinuxHost::open().map_err(rt)?;
        host.set_state_dir(state);
        let o = host.observe(&Query::everything()).map_err(rt)?;
        Ok(format!("{}{}", render(&o), render_services(&o)))
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
        guard.1 = None;
        println!("\nkept: inspect with `ip -n {hostns} link`; remove with `ip netns del` of {hostns} {g1} {g2}");
        return if ok {
            Ok(())
        } else {
            Err(rt("demo checks failed"))
        };
    }

    println!("\n== down");
    let state = run_dir(&hostns);
    let left = in_ns(&hostns, move || {
        let mut host = LinuxHost::open().map_err(rt)?;
        host.set_state_dir(state);
        // As `hvnet down`: dnsmasq and hvnet's firewall chains go too.
        let mut engine = Engine::new(host, KvmBackend).with_source("demo");
        let (_, applied) = engine
            .run(&cfg, &Scope::Config, Intent::Down)
            .map_err(engine_error)?;
        println!("removed {} op(s)", applied.ops);
        let after = engine
            .observe_query(&Query::everything())
            .map_err(engine_error)?;
        let mut left: Vec<String> = after
            .links
            .iter()
            .filter(|l| l.owner().is_some())
            .map(|l| l.name.clone())
            .collect();
        left.extend(
            after
                .dhcp
                .iter()
                .filter(|d| d.pid.is_some())
                .map(|d| format!("dnsmasq of {}", d.network)),
        );
        if after.firewall.as_ref().and_then(|f| f.current()).is_some() {
            left.push("hvnet's firewall chains".into());
        }
        Ok(left)
    })?;
    if left.is_empty() {
        println!("no hvnet links, dnsmasq or firewall chains left");
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
