//! hvnet-bench: how fast hvnet applies and removes N guest taps on one bridge, against
//! `ip -batch` of the same operations (hvnet's own `apply --dry-run` commands: bridge, and per
//! tap `tuntap add`, `link set address … alias …`, `master`, `up`) and a shell script of the
//! same commands as single `ip` invocations, all measured in the same run, each in a fresh
//! network namespace (`taps.rs`).
//!
//! `hvnet-bench --rates [--runs R]` measures rate-limit accuracy instead (iperf3; `rates.rs`).
//!
//! `hvnet-bench --firewall [--runs R]` measures the firewall backends instead: one intent of 4
//! nat networks (256 guests) and 1000 port forwards applied as hvnet does it — nftables' one
//! `nft -f` transaction, iptables' per-table listing and `iptables-restore` batch — against
//! one `nft`/`iptables` exec per rule or element, plus the re-apply check and removal, each in
//! a fresh namespace (`firewall.rs`).
//!
//! `hvnet-bench --lease [--runs R]` measures what a user of a virtual network waits for
//! (`lease.rs`): a nat network with DHCP from `hvnet apply` to a veth guest's first lease
//! (`busybox udhcpc`), with STP off and with STP on (`forward_delay = 2`, waiting for the
//! guest's bridge port to forward before the client starts), and a live change adding a
//! static DHCP host (hvnet's wall clock, and until dnsmasq has re-read its hostsfile; the
//! dnsmasq pid and the firewall must stay untouched). Printed beside libvirt's figures.
//!
//! `hvnet-bench --guests [--runs R]` measures the guest lifecycle instead (`guests.rs`): 256
//! guests with two taps each (two static internal networks, bridges made before timing)
//! brought up by 256 sequential `hvnet guest up` processes, against one `ip -batch` per guest
//! of the commands its `guest up --dry-run` prints and against each of those commands as its
//! own `ip` process; then `hvnet guest down` per guest against `ip -batch` of the deletions
//! per guest and one `ip link del` per link. Each method runs in a fresh namespace and must
//! leave the same links (names, masters, MACs, …) as the others, or the benchmark fails.
//!
//! `hvnet-bench --kvm [--runs R]` measures QEMU's hook instead (`kvm.rs`): `hvnet kvm ifup`
//! of a fresh tap beside 512 others, against an `ip -batch` doing the same to it.
//!
//! `hvnet-bench --xen [--runs R]` measures the Xen vif hotplug instead (`xen.rs`): 64
//! sequential `hvnet xen hotplug online` calls against Debian's real `vif-bridge` script,
//! each with its own xenstored (fakexen shim) and namespace.
//!
//! `hvnet-bench --overlay [--runs R]` measures a static VXLAN overlay of 16 hosts instead
//! (`overlay.rs`): `apply` per host, and from `apply` on a 17th host until every other host's
//! guest pings its guest, with the VXLAN device learning and without.
//! `hvnet-bench --evpn [--runs R]` measures how fast a new guest's MAC reaches every host of
//! an overlay (`evpn.rs`): BGP EVPN through hvnet's FRR against flood-and-learn.
//! `hvnet-bench --macvtap [--runs R]` measures direct networks instead (`macvtap.rs`): 256
//! macvtaps applied, re-applied and removed by hvnet against `ip -batch` of the same links.
//!
//! Usage: `hvnet-bench [--runs R] [N ...]` (default 3 runs of 64 256 1023; a Linux bridge
//! holds at most 1023 ports). Each figure is the median of R interleaved runs. Needs root.
//! Prints a Markdown table of times and ratios; `BENCHMARKS.md` records the figures.

mod common;
mod evpn;
mod firewall;
mod guests;
mod kvm;
mod lease;
mod macvtap;
mod overlay;
mod rates;
mod taps;
mod xen;

use std::process::ExitCode;

use common::{hvnet_bin, Res};

/// What to measure.
enum Mode {
    Taps(Vec<usize>),
    Rates,
    Firewall,
    Lease,
    Guests,
    Xen,
    Kvm,
    Overlay,
    Macvtap,
    Evpn,
}

fn main() -> ExitCode {
    common::sweep_leftovers();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut flag = |name: &str| {
        let found = args.iter().any(|a| a == name);
        args.retain(|a| a != name);
        found
    };
    let (rates_mode, firewall_mode, lease_mode, guests_mode) = (
        flag("--rates"),
        flag("--firewall"),
        flag("--lease"),
        flag("--guests"),
    );
    let xen_mode = flag("--xen");
    let kvm_mode = flag("--kvm");
    let overlay_mode = flag("--overlay");
    let evpn_mode = flag("--evpn");
    let macvtap_mode = flag("--macvtap");
    let mut runs = 3;
    if let Some(i) = args.iter().position(|a| a == "--runs") {
        runs = args.get(i + 1).and_then(|r| r.parse().ok()).unwrap_or(3);
        args.drain(i..(i + 2).min(args.len()));
    }
    let mode = if evpn_mode {
        Mode::Evpn
    } else if overlay_mode {
        Mode::Overlay
    } else if macvtap_mode {
        Mode::Macvtap
    } else if xen_mode {
        Mode::Xen
    } else if kvm_mode {
        Mode::Kvm
    } else if firewall_mode {
        Mode::Firewall
    } else if rates_mode {
        Mode::Rates
    } else if lease_mode {
        Mode::Lease
    } else if guests_mode {
        Mode::Guests
    } else {
        let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
        Mode::Taps(if sizes.is_empty() {
            vec![64, 256, 1023]
        } else {
            sizes
        })
    };
    match dispatch(&mode, runs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hvnet-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `mode`; every mode but the firewall one works in a temporary directory, removed
/// afterwards whatever happens.
fn dispatch(mode: &Mode, runs: usize) -> Res<()> {
    if let Mode::Firewall = mode {
        return firewall::bench(runs);
    }
    let dir = std::env::temp_dir().join(format!("hvnet-bench-{}", std::process::id()));
    let result = std::fs::create_dir_all(&dir)
        .map_err(|e| e.to_string())
        .and_then(|()| match mode {
            Mode::Taps(sizes) => taps::bench(sizes, runs, &dir),
            Mode::Rates => rates::bench(runs, &dir, &hvnet_bin()?),
            Mode::Lease => lease::bench(runs, &dir, &hvnet_bin()?),
            Mode::Guests => guests::bench(runs, &dir),
            Mode::Xen => xen::bench(runs, &dir, &hvnet_bin()?),
            Mode::Kvm => kvm::bench(runs, &dir),
            Mode::Overlay => overlay::bench(runs, &dir, &hvnet_bin()?),
            Mode::Macvtap => macvtap::bench(runs, &dir),
            Mode::Evpn => evpn::bench(runs, &dir, &hvnet_bin()?),
            Mode::Firewall => Ok(()),
        });
    let _ = std::fs::remove_dir_all(&dir);
    result
}
