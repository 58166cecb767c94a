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

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;

use hvnet_core::types::MacAddr;
use hvnet_linux::netlink::Rtnl;

use super::bridge::find_or_rename;
use super::naming::DeviceNames;
use super::route::{
    add_host_addr, add_routes, find_uplink, link_up, proxy_arp, sysctl_on, teardown,
};
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

/// Rewrites the dnsmasq hostsfile at `path`: drops the lines of `mac` (and of `entry`'s
/// address), then appends `entry` (`MAC,ADDRESS,HOSTNAME`) if given. Written to a temporary
/// file and renamed, so dnsmasq never reads half a file. Callers hold the hotplug lock.
pub fn update_dhcp_hosts(
    path: &Path,
    mac: &MacAddr,
    entry: Option<(Ipv4Addr, &str)>,
) -> Result<(), HotplugError> {
    let err = |e: std::io::Error| HotplugError::runtime(format!("{}: {e}", path.display()));
    let old = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if entry.is_none() {
                return Ok(());
            }
            String::new()
        }
        Err(e) => return Err(err(e)),
    };
    let mac_s = mac.to_string();
    let ip_s = entry.map(|(ip, _)| ip.to_string());
    let mut out = String::new();
    for line in old.lines() {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let ours = fields.iter().any(|f| f.eq_ignore_ascii_case(&mac_s))
            || ip_s.as_deref().is_some_and(|ip| fields.contains(&ip));
        if !ours {
            out.push_str(line);
            out.push('\n');
        }
    }
    if let Some((ip, host)) = entry {
        out.push_str(&format!("{mac_s},{ip},{host}\n"));
    }
    if out == old {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(out.as_bytes()).map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)
}

/// What the NAT mode needs to know about one call.
#[derive(Debug, Clone)]
pub struct NatCall<'a> {
    /// `online`/`add` (`true`) or `offline`/`remove`.
    pub up: bool,
    /// The device's names.
    pub names: &'a DeviceNames,
    /// The addresses.
    pub addrs: &'a NatAddrs,
    /// A QEMU tap (route metric 1 instead of 2, as vif-route, so the vif's and the tap's
    /// routes can coexist).
    pub tap: bool,
    /// The guest's MAC (backend `mac`): the DHCP entry's key; no entry without it.
    pub mac: Option<MacAddr>,
    /// `netdev` (environment), else the backend `gatewaydev` key.
    pub netdev: Option<&'a str>,
    /// The dnsmasq hostsfile.
    pub dhcp_hosts: &'a Path,
    /// The [`rules::MARK_DIR`] of the lock directory.
    pub marks: &'a Path,
}

/// Runs the NAT mode.
pub fn run(rtnl: &mut Rtnl, call: &NatCall<'_>) -> Result<(), HotplugError> {
    if call.up {
        return up(rtnl, call);
    }
    let mut first = None;
    if let Err(e) = teardown(rtnl, call.names) {
        first.get_or_insert(e);
    }
    if let Err(e) = rules::sync(call.marks, &call.names.target, &[], &[]) {
        first.get_or_insert(e);
    }
    if let Some(mac) = &call.mac {
        if let Err(e) = update_dhcp_hosts(call.dhcp_hosts, mac, None) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

fn up(rtnl: &mut Rtnl, call: &NatCall<'_>) -> Result<(), HotplugError> {
    let uplink = find_uplink(rtnl, call.netdev)?;
    let dev = find_or_rename(rtnl, call.names)?;
    let a = call.addrs;
    link_up(rtnl, &dev)?;
    add_host_addr(rtnl, &dev, a.router)?;
    add_routes(
        rtnl,
        &dev,
        &a.guests,
        a.router,
        Some(if call.tap { 1 } else { 2 }),
    )?;
    proxy_arp(&dev.name)?;
    sysctl_on("net/ipv4/ip_forward")?;
    let uplink_name = uplink.as_ref().map(|u| u.name.as_str());
    if uplink_name.is_none() {
        tracing::warn!(
            "{}: no uplink (no default route, no gatewaydev): masquerading out of any other device",
            dev.name
        );
    }
    rules::sync(
        call.marks,
        &dev.name,
        &rules::routed(&dev.name, &a.guests, true),
        &rules::masquerade(&dev.name, &a.guests, uplink_name),
    )?;
    match &call.mac {
        Some(mac) => update_dhcp_hosts(
            call.dhcp_hosts,
            mac,
            Some((a.guests[0].addr(), &a.hostname)),
        )?,
        None => tracing::warn!("{}: no mac key, so no DHCP host entry", dev.name),
    }
    tracing::info!(
        "{}: nat, router {}, guest {}",
        dev.name,
        a.router,
        a.guests[0].addr()
    );
    Ok(())
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

    #[test]
    fn dhcp_hostsfile() {
        let dir = std::env::temp_dir().join(format!("hvnet-xen-dhcp-{}", std::process::id()));
        let path = dir.join("sub/dhcp-hosts");
        let m1: MacAddr = "00:16:3e:00:05:00".parse().unwrap();
        let m2: MacAddr = "00:16:3e:00:06:00".parse().unwrap();
        update_dhcp_hosts(&path, &m1, None).unwrap();
        assert!(!path.exists());
        update_dhcp_hosts(&path, &m1, Some(("10.0.5.1".parse().unwrap(), "dom5"))).unwrap();
        update_dhcp_hosts(&path, &m2, Some(("10.0.6.1".parse().unwrap(), "dom6"))).unwrap();
        update_dhcp_hosts(&path, &m1, Some(("10.0.5.1".parse().unwrap(), "dom5"))).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "00:16:3e:00:06:00,10.0.6.1,dom6\n00:16:3e:00:05:00,10.0.5.1,dom5\n"
        );
        update_dhcp_hosts(&path, &m2, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "00:16:3e:00:05:00,10.0.5.1,dom5\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
