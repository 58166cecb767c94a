//! `hvnet demo`: a throwaway demo network, proven to work. Builds a host-only network with
//! DHCP (hvnet's dnsmasq, its firewall chains) in a fresh namespace, attaches two namespace
//! guests by veth and one tap; the guests take their addresses by DHCP (busybox `udhcpc`,
//! or `busybox udhcpc` without the udhcpc package; one has a reservation) — or, with
//! neither, are configured by hand. It proves guest↔guest and guest↔host ping, lists the
//! leases, shows the result ([`crate::show`]), re-applies (expecting no change), tears
//! everything down (dnsmasq included) and checks that nothing is left. The namespaces and
//! the demo's state directory are removed whatever happens (also on a panic).
//!
//! ```no_run
//! # use hvnet_core::{backend::NicBackend, config::{Guest, Network, Nic}, state::*, types::IfName};
//! # #[derive(Clone)]
//! # struct Taps;
//! # impl NicBackend for Taps {
//! #   fn name(&self) -> &'static str { "test" }
//! #   fn ifname_prefix(&self, _: &Nic) -> &'static str { "vnet" }
//! #   fn host_link(&self, g: &Guest, n: &Nic, net: &Network, name: IfName) -> LinkSpec {
//! #     LinkSpec { name, kind: LinkKind::Tap(TapOpts::default()), owner: Some(Owner::new(&g.name)),
//! #       master: Some(net.bridge.clone()), mtu: net.mtu, mac: Some(n.mac.with_first_octet(0xfe)), up: true }
//! #   }
//! # }
//! let config = std::fs::read_to_string("demo.toml")?;
//! hvnet_linux::demo::run(&config, Taps, false, &mut std::io::stdout())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hvnet_core::backend::{NicBackend, Observe, Query};
use hvnet_core::config::Config;
use hvnet_core::engine::{Engine, EngineError, Intent, Scope};
use hvnet_core::plan::Plan;

use crate::dhcp_client::Udhcpc;
use crate::netlink::{LinkChange, Request, Rtnl};
use crate::show::{render, render_services};
use crate::{netns, ping, LinuxHost};

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The demo's config does not parse.
    #[error("{0}")]
    Config(String),
    /// The engine failed (applying or tearing down).
    #[error("{0}")]
    Engine(EngineError),
    /// A step failed, or some checks did not hold.
    #[error("{0}")]
    Failed(String),
}

/// One line to the demo's output (a failed write is not the demo's failure).
macro_rules! say {
    ($out:expr) => {{
        let _ = writeln!($out);
    }};
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Text without a newline of its own to the demo's output.
macro_rules! tell {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

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

fn rt(e: impl std::fmt::Display) -> DemoError {
    DemoError::Failed(e.to_string())
}

/// Runs `f` on a thread inside namespace `ns`, flattening both error layers.
fn in_ns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Result<T, DemoError> + Send + 'static,
) -> Result<T, DemoError> {
    netns::run_in(ns, f).map_err(rt)?
}

/// Brings `lo` up and, for a guest, configures its NIC like the guest's OS would.
fn configure(ns: &str, nic: Option<(&'static str, Ipv4Addr)>) -> Result<(), DemoError> {
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

fn apply_in<B: NicBackend + Send + 'static>(
    ns: &str,
    cfg: Config,
    backend: B,
) -> Result<(Plan, usize), DemoError> {
    let run_dir = run_dir(ns);
    in_ns(ns, move || {
        let mut host = LinuxHost::open().map_err(rt)?;
        host.set_state_dir(run_dir);
        let mut engine = Engine::new(host, backend).with_source("demo");
        let (planned, applied) = engine
            .run(&cfg, &Scope::Config, Intent::Up)
            .map_err(DemoError::Engine)?;
        Ok((planned.plan, applied.ops))
    })
}

fn check_ping(out: &mut dyn Write, from: &str, label: &str, to: Ipv4Addr) -> bool {
    match ping::ping(Some(from), to, 3, Duration::from_secs(3)) {
        Ok(r) => {
            let avg = if r.rtts.is_empty() {
                0.0
            } else {
                r.rtts.iter().map(|d| d.as_secs_f64()).sum::<f64>() / r.rtts.len() as f64 * 1e3
            };
            let ok = r.received == r.sent && r.sent > 0;
            say!(
                out,
                "  {label:<28} {}/{} replies, avg {avg:.3} ms  {}",
                r.received,
                r.sent,
                if ok { "ok" } else { "FAILED" }
            );
            ok
        }
        Err(e) => {
            say!(out, "  {label:<28} error: {e}  FAILED");
            false
        }
    }
}

/// Runs the demo (see the module docs) with `config` (the demo network's TOML, `@G1@` and
/// `@G2@` standing for the two guests' namespaces) and `backend`, telling `out` what it
/// does; with `keep`, the namespaces stay for inspection and nothing is torn down.
///
/// # Errors
///
/// [`DemoError::Config`] for a config that does not parse, [`DemoError::Engine`] when the
/// engine fails, [`DemoError::Failed`] when a step fails or a check does not hold (the
/// failing checks are told to `out`).
pub fn run<B: NicBackend + Clone + Send + 'static>(
    config: &str,
    backend: B,
    keep: bool,
    out: &mut dyn Write,
) -> Result<(), DemoError> {
    // A config that cannot work is refused before anything is made.
    let probe = config.replace("@G1@", "g1").replace("@G2@", "g2");
    Config::parse(&probe, "<embedded demo>").map_err(|e| DemoError::Config(e.to_string()))?;
    let id = std::process::id();
    let (hostns, g1, g2) = (
        format!("hvnet-demo-{id}"),
        format!("hvnet-demo-{id}-g1"),
        format!("hvnet-demo-{id}-g2"),
    );
    let mut guard = Namespaces(Vec::new(), Some(run_dir(&hostns)));
    for ns in [&hostns, &g1, &g2] {
        netns::create(ns).map_err(|e| {
            DemoError::Failed(format!(
                "cannot create namespace {ns}: {e} (hvnet demo needs root)"
            ))
        })?;
        guard.0.push(ns.clone());
    }
    say!(out, "namespaces: host {hostns}, guests {g1} and {g2}");
    let text = config.replace("@G1@", &g1).replace("@G2@", &g2);
    let cfg =
        Config::parse(&text, "<embedded demo>").map_err(|e| DemoError::Config(e.to_string()))?;
    configure(&hostns, None)?;

    say!(out, "\n== apply");
    let (p, n) = apply_in(&hostns, cfg.clone(), backend.clone())?;
    tell!(out, "{p}");
    say!(out, "applied {n} op(s)");

    say!(out, "\n== dhcp");
    let hook = run_dir(&hostns).join("demo-udhcpc.hook");
    std::fs::write(&hook, UDHCPC_HOOK).map_err(rt)?;
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(rt)?;
    let mut ok = true;
    // Found before anything runs: `ip netns exec NS udhcpc` without udhcpc starts fine and
    // only its inner exec fails, which would look like "no lease".
    let client = Udhcpc::find();
    match &client {
        Some(c) => say!(out, "  DHCP client: {c}"),
        None => say!(
            out,
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
                say!(out, "  {name:<8} leased an address from hvnet's dnsmasq")
            }
            Some(_) => {
                say!(out, "  {name:<8} got no lease  FAILED");
                ok = false;
            }
            None => {
                say!(out, "  {name:<8} address set by hand ({fixed})");
                configure(ns, Some(("eth0", fixed)))?;
            }
        }
    }
    configure(&g1, None)?;
    configure(&g2, None)?;
    let leases = crate::dnsmasq::leases(
        &run_dir(&hostns)
            .join("net/demo")
            .join(hvnet_core::dhcp::LEASE_FILE),
    )
    .map_err(rt)?;
    for l in &leases {
        say!(
            out,
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
        say!(
            out,
            "  node-2 did not get its reservation 192.168.110.12  FAILED"
        );
        ok = false;
    }

    say!(out, "\n== ping");
    ok &= check_ping(
        out,
        &g1,
        "node-1 -> node-2",
        Ipv4Addr::new(192, 168, 110, 12),
    );
    ok &= check_ping(out, &g2, "node-2 -> node-1", node1);
    ok &= check_ping(out, &g1, "node-1 -> host", HOST_IP);
    ok &= check_ping(out, &g2, "node-2 -> host", HOST_IP);
    ok &= check_ping(out, &hostns, "host -> node-1", node1);

    say!(out, "\n== show");
    let state = run_dir(&hostns);
    let shown = in_ns(&hostns, move || {
        let mut host = LinuxHost::open().map_err(rt)?;
        host.set_state_dir(state);
        let o = host.observe(&Query::everything()).map_err(rt)?;
        Ok(format!("{}{}", render(&o), render_services(&o)))
    })?;
    tell!(out, "{shown}");

    say!(out, "\n== re-apply");
    let (again, _) = apply_in(&hostns, cfg.clone(), backend.clone())?;
    if again.is_empty() {
        say!(out, "no changes (0 ops)");
    } else {
        ok = false;
        tell!(out, "unexpected changes:\n{again}");
    }

    if keep {
        std::mem::take(&mut guard.0);
        guard.1 = None;
        say!(out, "\nkept: inspect with `ip -n {hostns} link`; remove with `ip netns del` of {hostns} {g1} {g2}");
        return if ok {
            Ok(())
        } else {
            Err(rt("demo checks failed"))
        };
    }

    say!(out, "\n== down");
    let state = run_dir(&hostns);
    let (removed, left) = in_ns(&hostns, move || {
        let mut host = LinuxHost::open().map_err(rt)?;
        host.set_state_dir(state);
        // As `hvnet down`: dnsmasq and hvnet's firewall chains go too.
        let mut engine = Engine::new(host, backend).with_source("demo");
        let (_, applied) = engine
            .run(&cfg, &Scope::Config, Intent::Down)
            .map_err(DemoError::Engine)?;
        let after = engine
            .observe_query(&Query::everything())
            .map_err(DemoError::Engine)?;
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
        Ok((applied.ops, left))
    })?;
    say!(out, "removed {removed} op(s)");
    if left.is_empty() {
        say!(out, "no hvnet links, dnsmasq or firewall chains left");
    } else {
        ok = false;
        say!(out, "left behind: {}", left.join(", "));
    }
    drop(guard);
    let remaining: Vec<String> = [&hostns, &g1, &g2]
        .iter()
        .filter(|ns| netns::exists(ns))
        .map(|s| s.to_string())
        .collect();
    if remaining.is_empty() {
        say!(out, "namespaces removed");
    } else {
        ok = false;
        say!(out, "namespaces still present: {}", remaining.join(", "));
    }
    if ok {
        say!(out, "\ndemo: all checks passed");
        Ok(())
    } else {
        Err(rt("demo: some checks failed (see above)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::show::tests::Taps;

    #[test]
    fn a_bad_config_is_refused_before_anything_is_made() {
        let before = netns::list();
        let mut out = Vec::new();
        let err = run("[[network]]\nname = 3\n", Taps, false, &mut out).unwrap_err();
        assert!(
            matches!(&err, DemoError::Config(m) if m.contains("<embedded demo>")),
            "{err}"
        );
        assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
        assert_eq!(netns::list(), before);
    }

    #[test]
    fn output_macros_write_lines_and_text() {
        let mut out = Vec::new();
        say!(&mut out, "a {}", 1);
        tell!(&mut out, "b");
        say!(&mut out);
        assert_eq!(String::from_utf8_lossy(&out), "a 1\nb\n");
    }
}
