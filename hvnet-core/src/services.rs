//! From config to the services of the desired state: dnsmasq per network, hvnet's firewall
//! chains, and the sysctls virtual networks need.
//!
//! [`crate::resolve::resolve`] decides the links; [`services`] adds, for the networks whose
//! bridge is wanted:
//!
//! * a [`DhcpService`] for every network with `[network.dhcp]`: its conf and hostsfile as
//!   [`crate::dhcp`] renders them, in `RUN_DIR/net/NAME/`. The hostsfile holds the static
//!   hosts and every guest NIC with a fixed `ip` (named after its guest);
//! * the firewall [`FirewallIntent`] of every `nat`, `routed` and addressed `isolated` network and
//!   every guest port forward (`open` networks get no rules);
//! * the host's own DHCP client on the bridge of every `host_ip = "dhcp"` network;
//! * `net.ipv4.ip_forward = 1` when a `nat` or `routed` network exists, and
//!   `net.bridge.bridge-nf-call-{iptables,ip6tables,arptables}` when `[host] bridge_nf_call`
//!   is set.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::config::{Config, HostIp, Network, NetworkKind};
use crate::dhcp::{DhcpConfig, DhcpHost, DhcpPaths};
use crate::firewall::{FirewallIntent, Forward, FwKind, FwNetwork};
use crate::observed::ObservedState;
use crate::state::{DesiredState, DhcpClient, DhcpService, SysctlKey, SysctlSpec};

/// File name of the host DHCP client's hook script in its directory.
pub const CLIENT_HOOK: &str = "udhcpc.hook";
/// File name of the host DHCP client's pid file.
pub const CLIENT_PID: &str = "udhcpc.pid";
/// File name that records the interface the client runs on.
pub const CLIENT_IFACE: &str = "interface";

/// A network's host DHCP client directory under the state directory `run_dir`.
pub fn client_dir(run_dir: &Path, network: &str) -> PathBuf {
    run_dir.join("host-dhcp").join(network)
}

/// The hook busybox `udhcpc` runs on lease events (`host_ip = "dhcp"`): on `bound` and
/// `renew` it makes the leased address the interface's only global IPv4 address and
/// replaces the default route with the offered router; `deconfig`, `leasefail` and
/// `nak` change nothing (a restart must not drop the host's address). It never touches
/// `/etc/resolv.conf`.
///
/// ```
/// let h = hvnet_core::services::client_hook();
/// assert!(h.starts_with("#!/bin/sh\n"));
/// assert!(h.contains("ip route replace default via"));
/// ```
pub fn client_hook() -> String {
    r#"#!/bin/sh
# Written by hvnet for the host's DHCP client (host_ip = "dhcp"); rewritten on apply.
case "$1" in
bound|renew)
    [ -n "$ip" ] || exit 0
    want="$ip/${mask:-32}"
    for a in $(ip -4 -o addr show dev "$interface" scope global | awk '{print $4}'); do
        [ "$a" = "$want" ] || ip addr del "$a" dev "$interface"
    done
    ip addr replace "$want" broadcast + dev "$interface"
    if [ -n "$router" ]; then
        ip route replace default via "${router%% *}" dev "$interface"
    fi
    ;;
esac
exit 0
"#
    .to_string()
}

/// The key of IPv4 forwarding.
pub fn ip_forward_key() -> SysctlKey {
    SysctlKey::new(["net", "ipv4", "ip_forward"])
}

/// The keys `[host] bridge_nf_call` sets.
pub fn bridge_nf_keys() -> [SysctlKey; 3] {
    ["iptables", "ip6tables", "arptables"]
        .map(|t| SysctlKey::new(["net", "bridge", &format!("bridge-nf-call-{t}")]))
}

/// A network's dnsmasq directory under the state directory `run_dir`.
///
/// ```
/// let d = hvnet_core::services::dhcp_dir("/run/hvnet".as_ref(), "default");
/// assert_eq!(d.to_str(), Some("/run/hvnet/net/default"));
/// ```
pub fn dhcp_dir(run_dir: &Path, network: &str) -> PathBuf {
    run_dir.join("net").join(network)
}

/// The dnsmasq settings of `net` in `config` (`None` without `[network.dhcp]` or address).
pub fn dhcp_config(config: &Config, net: &Network) -> Option<DhcpConfig> {
    let dhcp = net.dhcp.as_ref()?;
    let address = net.address?;
    let mut hosts = dhcp.hosts.clone();
    for guest in &config.guests {
        for nic in guest.nics.iter().filter(|n| n.network == net.name) {
            if let Some(ip) = nic.ip {
                hosts.push(DhcpHost {
                    mac: nic.mac,
                    ip,
                    name: Some(guest.name.clone()).filter(|n| crate::dhcp::is_dns_name(n)),
                });
            }
        }
    }
    Some(DhcpConfig {
        interface: net.bridge.clone(),
        listen: address.addr(),
        range: dhcp.range,
        netmask: address.netmask(),
        lease_time: dhcp.lease_time,
        router: (net.kind != NetworkKind::Isolated).then(|| address.addr()),
        dns: dhcp.dns,
        serve_dhcp: !dhcp.dns_only,
        hosts,
        domain: dhcp.domain.clone(),
    })
}

/// The firewall view of a network, `None` for networks that get no rules.
pub fn fw_network(net: &Network) -> Option<FwNetwork> {
    let kind = match net.kind {
        NetworkKind::Nat => FwKind::Nat {
            uplink: net.uplink.clone(),
            port_range: net.nat_ports,
            nat6: net.nat6,
        },
        NetworkKind::Routed => FwKind::Routed {
            uplink: net.uplink.clone(),
        },
        NetworkKind::Isolated => FwKind::Isolated,
        NetworkKind::Bridge if net.mss_clamp => FwKind::Open,
        NetworkKind::Open | NetworkKind::Internal | NetworkKind::Bridge => return None,
    };
    let v6 = net
        .address6
        .and_then(|a| Ipv6Net::new(a.addr(), a.prefix_len()).ok())
        .map(|s| IpNet::V6(s.trunc()));
    let subnets: Vec<IpNet> = net
        .subnet()
        .and_then(|s| Ipv4Net::new(s.addr(), s.prefix_len()).ok())
        .map(IpNet::V4)
        .into_iter()
        .chain(v6)
        .collect();
    if subnets.is_empty() && kind != FwKind::Open {
        return None;
    }
    Some(FwNetwork {
        name: net.name.clone(),
        kind,
        bridge: net.bridge.clone(),
        subnets,
        mss_clamp: net.mss_clamp,
    })
}

/// What hvnet's firewall must serve for `config`, counting only networks whose bridge `want`
/// holds; `None` when no network needs rules.
pub fn firewall_intent(config: &Config, want: &DesiredState) -> Option<FirewallIntent> {
    let networks: Vec<FwNetwork> = config
        .networks
        .iter()
        .filter(|n| want.link(n.bridge.as_str()).is_some())
        .filter_map(fw_network)
        .collect();
    if networks.is_empty() {
        return None;
    }
    let forwards: Vec<Forward> = config
        .guests
        .iter()
        .flat_map(|g| {
            g.forwards.iter().flat_map(move |f| {
                let nic = g.nics.get(f.nic);
                let v4 = nic.and_then(|n| n.ip).map(IpAddr::V4);
                let v6 = nic.and_then(|n| n.ip6).map(IpAddr::V6);
                // From an address: to the NIC's address of its family; from every
                // address: to each address the NIC has (dual-stack).
                let targets = match f.host_addr {
                    Some(IpAddr::V6(_)) => [v6, None],
                    Some(IpAddr::V4(_)) => [v4, None],
                    None => [v4, v6],
                };
                targets.into_iter().flatten().filter_map(move |guest_ip| {
                    Some(Forward {
                        proto: f.proto,
                        host_addr: f.host_addr,
                        host_port: f.host_port,
                        guest_ip,
                        guest_port: f.guest_port,
                        network: nic?.network.clone(),
                    })
                })
            })
        })
        .filter(|f| networks.iter().any(|n| n.name == f.network))
        .collect();
    // The host forwards IPv6: internal bridges are closed too (their link-local addresses
    // would let a guest route through the host).
    let v6 = networks.iter().any(|n| !n.v6_subnets().is_empty())
        || forwards.iter().any(|f| f.guest_ip.is_ipv6());
    let mut networks = networks;
    if v6 {
        networks.extend(
            config
                .networks
                .iter()
                .filter(|n| n.kind == NetworkKind::Internal)
                .filter(|n| want.link(n.bridge.as_str()).is_some())
                .map(|n| FwNetwork {
                    name: n.name.clone(),
                    kind: FwKind::Internal,
                    bridge: n.bridge.clone(),
                    subnets: Vec::new(),
                    mss_clamp: false,
                }),
        );
    }
    // Validation guarantees every forward's network is a nat/routed network.
    FirewallIntent::new(networks, forwards).ok()
}

/// Adds the services of `config` to `want` (computed by [`crate::resolve::resolve`]);
/// `run_dir` is hvnet's state directory.
///
/// ```
/// use hvnet_core::{config::Config, observed::ObservedState, resolve::resolve, services::services};
/// # use hvnet_core::{backend::NicBackend, config::{Guest, Network, Nic}, state::*, types::IfName};
/// # struct Taps;
/// # impl NicBackend for Taps {
/// #   fn name(&self) -> &'static str { "test" }
/// #   fn ifname_prefix(&self, _: &Nic) -> &'static str { "vnet" }
/// #   fn host_link(&self, g: &Guest, n: &Nic, net: &Network, name: IfName) -> LinkSpec {
/// #     LinkSpec { name, kind: LinkKind::Tap(TapOpts::default()), owner: Some(Owner::new(&g.name)),
/// #       master: Some(net.bridge.clone()), mtu: net.mtu, mac: Some(n.mac.with_first_octet(0xfe)), up: true }
/// #   }
/// # }
/// let cfg = Config::parse("[[network]]\nname='default'\nkind='nat'\nbridge='virbr0'\n\
///     address='192.168.122.1/24'\n[network.dhcp]\n", "x.toml").unwrap();
/// let mut want = resolve(&cfg, &ObservedState::default(), &Taps);
/// services(&cfg, "/run/hvnet".as_ref(), &mut want);
/// assert_eq!(want.dhcp[0].dir.to_str(), Some("/run/hvnet/net/default"));
/// assert!(want.dhcp[0].conf.contains("dhcp-range=192.168.122.2,192.168.122.254,255.255.255.0,3600\n"));
/// assert!(want.firewall.is_some());
/// assert_eq!(want.sysctls[0].key.to_string(), "net.ipv4.ip_forward");
/// ```
pub fn services(config: &Config, run_dir: &Path, want: &mut DesiredState) {
    for net in &config.networks {
        if want.link(net.bridge.as_str()).is_none() {
            continue;
        }
        let dir = dhcp_dir(run_dir, &net.name);
        let paths = DhcpPaths::in_dir(&dir);
        let v6 = crate::dhcp6::dhcp6_config(config, net);
        let files = match (dhcp_config(config, net), &v6) {
            (Some(cfg), None) => Some((cfg.conf(&paths), cfg.hostsfile())),
            (Some(cfg), Some(v6)) if !cfg.serve_dhcp => Some((
                crate::dhcp6::with_v6_dns_only(&cfg.conf(&paths), v6, &paths),
                cfg.hostsfile(),
            )),
            (Some(cfg), Some(v6)) => Some((
                crate::dhcp6::with_v6(&cfg.conf(&paths), v6),
                crate::dhcp6::hostsfile(&cfg.hosts, &v6.hosts),
            )),
            (None, Some(v6)) => Some((
                v6.standalone_conf(&paths),
                crate::dhcp6::hostsfile(&[], &v6.hosts),
            )),
            (None, None) => None,
        };
        if let Some((conf, hosts)) = files {
            want.dhcp.push(DhcpService {
                network: net.name.clone(),
                bridge: net.bridge.clone(),
                conf,
                hosts,
                dir,
            });
        }
    }
    want.dhcp_clients = dhcp_clients(config, run_dir, want);
    want.firewall = firewall_intent(config, want);
    let forwarding = config
        .networks
        .iter()
        .any(|n| n.kind.forwards() && want.link(n.bridge.as_str()).is_some());
    if forwarding {
        want.sysctls.push(SysctlSpec {
            key: ip_forward_key(),
            value: "1".into(),
        });
    }
    if let Some(on) = config.host.bridge_nf_call {
        for key in bridge_nf_keys() {
            want.sysctls.push(SysctlSpec {
                key,
                value: if on { "1" } else { "0" }.into(),
            });
        }
    }
}

/// The host DHCP clients of `config`'s `host_ip = "dhcp"` networks whose bridge `want`
/// holds.
pub fn dhcp_clients(config: &Config, run_dir: &Path, want: &DesiredState) -> Vec<DhcpClient> {
    config
        .networks
        .iter()
        .filter(|n| n.kind == NetworkKind::Bridge && n.host_ip == Some(HostIp::Dhcp))
        .filter(|n| want.link(n.bridge.as_str()).is_some())
        .map(|n| DhcpClient {
            network: n.name.clone(),
            interface: n.bridge.clone(),
            dir: client_dir(run_dir, &n.name),
            hook: client_hook(),
        })
        .collect()
}

/// A `nat` or `routed` network that cannot reach beyond the host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoWayOut {
    /// Its `uplink` does not exist.
    #[error("network {network}: uplink {uplink} does not exist on this host")]
    MissingUplink {
        /// The network.
        network: String,
        /// The uplink.
        uplink: String,
    },
    /// Its `uplink` is a guest bridge of the same config.
    #[error("network {network}: uplink {uplink} is the bridge of network {other}, not a way out")]
    UplinkIsBridge {
        /// The network.
        network: String,
        /// The uplink.
        uplink: String,
        /// The network whose bridge it is.
        other: String,
    },
}

/// Checks that every `nat` or `routed` network naming an `uplink` has that way out on this
/// host: the uplink exists and is not a guest bridge of the same config. A `nat` network
/// without an uplink is not checked here: without a default route it is only a warning
/// ([`way_out_warnings`]), as libvirt starts such a network — masquerade works as soon as a
/// route appears (a laptop, an uplink that comes up later by DHCP).
///
/// ```
/// use hvnet_core::{config::Config, observed::ObservedState, services::check_way_out};
/// let cfg = Config::parse("[[network]]\nname='default'\nkind='nat'\nbridge='virbr0'\n\
///     address='192.168.122.1/24'\nuplink='eth9'\n", "x.toml").unwrap();
/// let errs = check_way_out(&cfg, &ObservedState::default()).unwrap_err();
/// assert!(errs[0].to_string().contains("uplink eth9 does not exist"));
/// ```
///
/// # Errors
///
/// Every network whose named uplink is missing or is a guest bridge.
pub fn check_way_out(config: &Config, observed: &ObservedState) -> Result<(), Vec<NoWayOut>> {
    let mut errs = Vec::new();
    for net in config.networks.iter().filter(|n| n.kind.forwards()) {
        let Some(u) = &net.uplink else { continue };
        if let Some(other) = config.networks.iter().find(|o| o.bridge == *u) {
            errs.push(NoWayOut::UplinkIsBridge {
                network: net.name.clone(),
                uplink: u.to_string(),
                other: other.name.clone(),
            });
        } else if observed.link(u.as_str()).is_none() {
            errs.push(NoWayOut::MissingUplink {
                network: net.name.clone(),
                uplink: u.to_string(),
            });
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// A `nat` network without `uplink` on a host without a default route: applied anyway
/// (a warning, not an error); its guests reach the outside once a default route appears.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("network {network} (nat) has no way out yet: it names no uplink and the host has no default route; its guests reach only the host until one appears (or set `uplink`)")]
pub struct NoDefaultRoute {
    /// The network.
    pub network: String,
}

/// The warnings [`check_way_out`] does not make errors: every `nat` network without an
/// `uplink` while the main table has no default route.
///
/// ```
/// use hvnet_core::{config::Config, observed::ObservedState, services::way_out_warnings};
/// let cfg = Config::parse("[[network]]\nname='default'\nkind='nat'\nbridge='virbr0'\n\
///     address='192.168.122.1/24'\n", "x.toml").unwrap();
/// let w = way_out_warnings(&cfg, &ObservedState::default());
/// assert!(w[0].to_string().contains("no default route"));
/// ```
pub fn way_out_warnings(config: &Config, observed: &ObservedState) -> Vec<NoDefaultRoute> {
    let has_default = observed
        .routes
        .iter()
        .any(|r| r.dst.is_ipv4() && r.dst.prefix_len() == 0 && r.table == crate::state::MAIN_TABLE);
    if has_default {
        return Vec::new();
    }
    config
        .networks
        .iter()
        .filter(|n| n.kind == NetworkKind::Nat && n.uplink.is_none())
        .map(|n| NoDefaultRoute {
            network: n.name.clone(),
        })
        .collect()
}

/// A `replicate_mac` network whose guest NIC does not carry its uplink's MAC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("network {network}: replicate_mac hands uplink {uplink}'s MAC {uplink_mac} to its guest, but guest {guest}'s NIC has {nic_mac}; set that NIC's mac to {uplink_mac}")]
pub struct WrongReplica {
    /// The network.
    pub network: String,
    /// The uplink.
    pub uplink: String,
    /// The uplink's MAC now.
    pub uplink_mac: crate::types::MacAddr,
    /// The guest.
    pub guest: String,
    /// Its NIC's MAC.
    pub nic_mac: crate::types::MacAddr,
}

/// Checks MAC replication against the host: the guest NIC's `mac` is the uplink's own MAC
/// (or the uplink already wears hvnet's stand-in, which means it was handed over before).
///
/// # Errors
///
/// Every mismatch.
pub fn check_replicated_macs(
    config: &Config,
    observed: &ObservedState,
) -> Result<(), Vec<WrongReplica>> {
    let mut errs = Vec::new();
    for net in config.networks.iter().filter(|n| n.replicate_mac) {
        let Some(uplink) = net.uplink.as_ref().and_then(|u| observed.link(u.as_str())) else {
            continue;
        };
        let Some(uplink_mac) = uplink.mac else {
            continue;
        };
        if uplink_mac == Network::replica_uplink_mac(&net.name) {
            continue;
        }
        for g in &config.guests {
            for nic in g.nics.iter().filter(|n| n.network == net.name) {
                if nic.mac != uplink_mac {
                    errs.push(WrongReplica {
                        network: net.name.clone(),
                        uplink: uplink.name.clone(),
                        uplink_mac,
                        guest: g.name.clone(),
                        nic_mac: nic.mac,
                    });
                }
            }
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}
