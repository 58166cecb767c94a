//! `vif-nat` (reference §11): a routed vif on a private address, masqueraded.
//!
//! Addressing as the stock script: domain `D`, device `N` (the `frontend-id` and `handle`
//! keys, else `XENBUS_PATH`) default to the guest address `10.<D/256>.<D%256>.<N+1>` (netmask
//! /16); the backend `ip` key overrides it and may list several addresses (any `/len` is the
//! guest's netmask and is dropped). The host side of the vif (the "router") is the first
//! guest address with 127 added to its last octet, as the stock script does, but for last
//! octets above 128 (where the stock script produces `x.y.z.329`) 128 is subtracted instead.
//!
//! On `online`: the vif comes up with the router address `/32`, one route per guest address
//! (`dev VIF src ROUTER metric 2`, 1 for a QEMU tap as in vif-route), `proxy_arp`, `ip_forward`, FORWARD rules (the guest's addresses
//! out, replies in, anything else from the guest dropped), a MASQUERADE of the guest's
//! addresses out of the uplink (`netdev`/`gatewaydev`, else the default route's device) —
//! which the stock script leaves out — and a DHCP host entry `MAC,ADDRESS,HOSTNAME` in a
//! dnsmasq `--dhcp-hostsfile` ([`DEFAULT_DHCP_HOSTS`]). A repeated `online` changes nothing
//! and still reports `connected` (the stock script exits early without it).
//!
//! On `offline`: routes, addresses, rules and the DHCP entry go, the link goes down.

use std::net::Ipv4Addr;

use hvnet_core::types::IfName;

use super::naming::DeviceNames;
use super::plan::Planner;
use super::rules::{self, Net4};
use super::HotplugError;

/// Where the DHCP host entries go unless overridden (`HVNET_XEN_DHCP_HOSTS`): a dnsmasq
/// `--dhcp-hostsfile`, re-read by dnsmasq on SIGHUP.
pub const DEFAULT_DHCP_HOSTS: &str = "/run/hvnet/xen/dhcp-hosts";

/// A NAT vif's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatAddrs {
    /// The guest's addresses (hosts).
    pub guests: Vec<Net4>,
    /// The host side's address.
    pub router: Ipv4Addr,
    /// The DHCP host name: `dom<D>`, or `dom<D>-<N+1>` for devices other than the first.
    pub hostname: String,
}

/// The router address for guest address `ip`: last octet + 127 up to .128 (the stock
/// script's), last octet − 128 above.
pub fn router_for(ip: Ipv4Addr) -> Ipv4Addr {
    let [a, b, c, d] = ip.octets();
    let d = if d <= 128 { d + 127 } else { d - 128 };
    Ipv4Addr::new(a, b, c, d)
}

impl NatAddrs {
    /// The addresses of device `handle` of domain `domid`, with the backend `ip` key (at
    /// `path`) if set.
    pub fn new(
        domid: u32,
        handle: u32,
        ip: Option<&str>,
        path: &str,
    ) -> Result<NatAddrs, HotplugError> {
        let vifid = handle.saturating_add(1);
        let guests = match ip {
            Some(v) => rules::parse_ip_list(path, v, true)?,
            None => {
                let octet = u8::try_from(vifid).ok().filter(|&o| o < 255).ok_or_else(|| {
                    HotplugError::runtime(format!(
                        "device {handle} is too high for vif-nat's default 10.x addressing; set ip for it"
                    ))
                })?;
                if domid > 0xffff {
                    return Err(HotplugError::runtime(format!(
                        "domain {domid} is too high for vif-nat's default 10.x addressing; set ip"
                    )));
                }
                vec![Net4::host(Ipv4Addr::new(
                    10,
                    (domid / 256) as u8,
                    (domid % 256) as u8,
                    octet,
                ))]
            }
        };
        let first = guests
            .first()
            .ok_or_else(|| HotplugError::runtime(format!("{path} is empty")))?;
        let router = router_for(first.addr());
        if guests.iter().any(|g| g.addr() == router) {
            return Err(HotplugError::runtime(format!(
                "the router address {router} derived from {} is also a guest address; change ip",
                first.addr()
            )));
        }
        let hostname = if vifid == 1 {
            format!("dom{domid}")
        } else {
            format!("dom{domid}-{vifid}")
        };
        Ok(NatAddrs {
            guests,
            router,
            hostname,
        })
    }
}

/// Plans `vif-nat` online (routes and addresses as `vif-route`, with the router address);
/// returns the uplink masqueraded out of (`None`: any device but the vif).
pub fn up(
    p: &mut Planner<'_>,
    names: &DeviceNames,
    addrs: &NatAddrs,
    tap: bool,
    netdev: Option<&str>,
) -> Result<Option<IfName>, HotplugError> {
    let uplink = p.find_uplink(netdev)?;
    let dev = p.routed_up(names, addrs.router, &addrs.guests, if tap { 1 } else { 2 })?;
    let uplink = match uplink {
        Some(u) => Some(IfName::new(&u.name).map_err(|e| HotplugError::runtime(e.to_string()))?),
        None => {
            tracing::warn!(
                "{dev}: no uplink (no default route, no gatewaydev): masquerading out of any other device"
            );
            None
        }
    };
    tracing::info!(
        "{dev}: nat, router {}, guest {}",
        addrs.router,
        addrs.guests[0].addr()
    );
    Ok(uplink)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn addressing_fixes_the_stock_quirks() {
        let a = NatAddrs::new(5, 0, None, "be/ip").unwrap();
        assert_eq!(a.guests, vec![Net4::host("10.0.5.1".parse().unwrap())]);
        assert_eq!(a.router, "10.0.5.128".parse::<Ipv4Addr>().unwrap());
        assert_eq!(a.hostname, "dom5");
        let a = NatAddrs::new(300, 2, None, "be/ip").unwrap();
        assert_eq!(a.guests[0].addr(), "10.1.44.3".parse::<Ipv4Addr>().unwrap());
        assert_eq!(a.hostname, "dom300-3");
        // The stock script gives 192.0.2.327 here.
        let a = NatAddrs::new(5, 0, Some("192.0.2.200/24"), "be/ip").unwrap();
        assert_eq!(a.router, "192.0.2.72".parse::<Ipv4Addr>().unwrap());
        assert_eq!(
            router_for("10.0.0.128".parse().unwrap()),
            "10.0.0.255".parse::<Ipv4Addr>().unwrap()
        );
        // Several addresses.
        let a = NatAddrs::new(5, 0, Some("10.0.5.1/16 10.0.5.2"), "be/ip").unwrap();
        assert_eq!(a.guests.len(), 2);
        // Clash and overflow are errors, not garbage.
        assert!(NatAddrs::new(5, 0, Some("10.0.0.1 10.0.0.128"), "be/ip").is_err());
        assert!(NatAddrs::new(5, 254, None, "be/ip").is_err());
        assert!(NatAddrs::new(5, 253, None, "be/ip").is_ok());
    }
}
