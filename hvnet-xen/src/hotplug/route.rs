//! `vif-route` (reference §10) and openSUSE's `vif-route-ifup` (§12): a routed vif.
//!
//! On `online`/`add`: the device (renamed to its `vifname` if set) gets the host's address
//! as a `/32` (the first primary IPv4 address of the uplink: `netdev`/`gatewaydev`, else the
//! device of the default route), comes up, answers ARP for the host (`proxy_arp`), and gets
//! one route per entry of the backend `ip` key, `ENTRY dev VIF src HOST metric 2` (1 for a
//! QEMU tap). Unlike the stock script, hvnet also turns on `net.ipv4.ip_forward`, accepts the
//! guest's traffic in FORWARD and drops anything else the guest sends (anti-spoofing, see
//! [`super::rules`]), and turns on `proxy_arp` on the uplink when a guest address lies
//! in one of the uplink's subnets (so the LAN finds the guest through the host, as in the
//! openSUSE earth/alice example).
//!
//! On `offline`/`remove`: the vif's routes, IPv4 addresses and rules are removed and the link
//! goes down (the stock script's `ifdown` leaves the address and the link up); a vif netback
//! already deleted is fine. `ip_forward` and the uplink's `proxy_arp` stay on: other guests
//! may need them.
//!
//! `vif-route-ifup` does the same, and in addition runs the distribution's `ifup DEV` /
//! `ifdown DEV` when an `ifcfg-DEV` exists under `/etc/sysconfig/network` and `ifup` is
//! installed, as the openSUSE script relies on (there, ifcfg files carry the addresses and
//! the `routes` file the routes). Its `ip` key is optional: without it the vif is only
//! addressed and brought up, and left unrestricted.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;

use hvnet_linux::netlink::consts::{
    IFA_F_SECONDARY, RTPROT_BOOT, RTPROT_KERNEL, RT_SCOPE_LINK, RT_TABLE_MAIN,
};
use hvnet_linux::netlink::{Link, LinkChange, NlError, Request, RouteSpec, Rtnl};
use hvnet_linux::sysctl;

use super::bridge::{find_or_rename, set};
use super::naming::DeviceNames;
use super::rules::{self, Net4};
use super::HotplugError;

fn nl(e: NlError) -> HotplugError {
    HotplugError::runtime(e.to_string())
}

/// The device that leads out of the host.
#[derive(Debug, Clone)]
pub struct Uplink {
    /// Its name.
    pub name: String,
    /// Its IPv4 addresses with prefix lengths, primary addresses first.
    pub addrs: Vec<(Ipv4Addr, u8)>,
}

/// The uplink: `wanted` (`netdev`, i.e. the backend `gatewaydev`), else the device of the
/// main table's IPv4 default route (lowest metric); `None` without either.
pub fn find_uplink(rtnl: &mut Rtnl, wanted: Option<&str>) -> Result<Option<Uplink>, HotplugError> {
    let link = match wanted {
        Some(name) => Some(rtnl.get_link(name).map_err(nl)?.ok_or_else(|| {
            HotplugError::runtime(format!(
                "Could not find uplink device {name} (netdev/gatewaydev)"
            ))
        })?),
        None => {
            let mut defaults: Vec<_> = rtnl
                .dump_routes()
                .map_err(nl)?
                .into_iter()
                .filter(|r| r.table == RT_TABLE_MAIN && r.dst_len == 0 && r.dst.is_ipv4())
                .filter_map(|r| Some((r.priority.unwrap_or(0), r.oif?)))
                .collect();
            defaults.sort();
            match defaults.first() {
                None => None,
                Some(&(_, oif)) => rtnl
                    .dump_links()
                    .map_err(nl)?
                    .into_iter()
                    .find(|l| l.ifindex == oif),
            }
        }
    };
    let Some(link) = link else {
        return Ok(None);
    };
    let mut addrs: Vec<(bool, Ipv4Addr, u8)> = rtnl
        .dump_addrs()
        .map_err(nl)?
        .into_iter()
        .filter(|a| a.ifindex == link.ifindex)
        .filter_map(|a| match a.address {
            IpAddr::V4(v4) => Some((a.flags & IFA_F_SECONDARY != 0, v4, a.prefix_len)),
            IpAddr::V6(_) => None,
        })
        .collect();
    addrs.sort_by_key(|a| a.0);
    Ok(Some(Uplink {
        name: link.name,
        addrs: addrs.into_iter().map(|(_, a, l)| (a, l)).collect(),
    }))
}

/// Writes a sysctl unless it already has the value.
pub fn sysctl_on(path: &str) -> Result<(), HotplugError> {
    if sysctl::read(path).ok().as_deref() == Some("1") {
        return Ok(());
    }
    sysctl::write(path, "1").map_err(|e| HotplugError::runtime(e.to_string()))
}

/// `proxy_arp=1` on `dev`.
pub fn proxy_arp(dev: &str) -> Result<(), HotplugError> {
    sysctl_on(&format!("net/ipv4/conf/{dev}/proxy_arp"))
}

/// Brings `dev` up.
pub fn link_up(rtnl: &mut Rtnl, dev: &Link) -> Result<(), HotplugError> {
    if dev.is_up() {
        return Ok(());
    }
    set(
        rtnl,
        dev.ifindex,
        LinkChange {
            up: Some(true),
            ..LinkChange::default()
        },
    )
    .map_err(|e| HotplugError::runtime(format!("Could not bring up {}: {e}", dev.name)))
}

/// Adds `addr/32` to `dev` unless present.
pub fn add_host_addr(rtnl: &mut Rtnl, dev: &Link, addr: Ipv4Addr) -> Result<(), HotplugError> {
    let have =
        rtnl.dump_addrs().map_err(nl)?.into_iter().any(|a| {
            a.ifindex == dev.ifindex && a.address == IpAddr::V4(addr) && a.prefix_len == 32
        });
    if have {
        return Ok(());
    }
    let mut r = rtnl.execute(&[Request::NewAddr {
        ifindex: dev.ifindex,
        address: IpAddr::V4(addr),
        prefix_len: 32,
    }]);
    match r.pop().unwrap_or(Ok(())) {
        Err(e) if !e.is_exists() => Err(HotplugError::runtime(format!(
            "ip addr add {addr}/32 dev {} failed: {e}",
            dev.name
        ))),
        _ => Ok(()),
    }
}

/// Adds `NET dev DEV src SRC [metric M]` for each of `nets` (scope link); existing ones are
/// fine.
pub fn add_routes(
    rtnl: &mut Rtnl,
    dev: &Link,
    nets: &[Net4],
    src: Ipv4Addr,
    metric: Option<u32>,
) -> Result<(), HotplugError> {
    let reqs: Vec<Request> = nets
        .iter()
        .map(|n| {
            Request::NewRoute(RouteSpec {
                table: RT_TABLE_MAIN,
                dst: IpAddr::V4(n.addr()),
                dst_len: n.prefix_len(),
                gateway: None,
                oif: Some(dev.ifindex),
                prefsrc: Some(IpAddr::V4(src)),
                protocol: RTPROT_BOOT,
                scope: RT_SCOPE_LINK,
                priority: metric,
            })
        })
        .collect();
    for (r, n) in rtnl.execute(&reqs).into_iter().zip(nets) {
        if let Err(e) = r {
            if !e.is_exists() {
                return Err(HotplugError::runtime(format!(
                    "ip route add {n} dev {} src {src} failed: {e}",
                    dev.name
                )));
            }
        }
    }
    Ok(())
}

/// Tears a routed/NAT device down: its IPv4 routes (other than the kernel's), its IPv4
/// addresses, then the link. A device that is gone, or vanishes meanwhile, is fine.
pub fn teardown(rtnl: &mut Rtnl, names: &DeviceNames) -> Result<(), HotplugError> {
    let mut dev = rtnl.get_link(&names.target).map_err(nl)?;
    if dev.is_none() && names.current != names.target {
        dev = rtnl.get_link(&names.current).map_err(nl)?;
    }
    let Some(dev) = dev else {
        tracing::info!("{}: already gone", names.target);
        return Ok(());
    };
    let mut reqs: Vec<Request> = rtnl
        .dump_routes()
        .map_err(nl)?
        .into_iter()
        .filter(|r| r.oif == Some(dev.ifindex) && r.dst.is_ipv4())
        .filter(|r| r.table == RT_TABLE_MAIN && r.protocol != RTPROT_KERNEL)
        .map(|r| {
            Request::DelRoute(RouteSpec {
                table: r.table,
                dst: r.dst,
                dst_len: r.dst_len,
                gateway: r.gateway,
                oif: r.oif,
                prefsrc: None,
                protocol: 0,
                scope: r.scope,
                priority: r.priority,
            })
        })
        .collect();
    reqs.extend(
        rtnl.dump_addrs()
            .map_err(nl)?
            .into_iter()
            .filter(|a| a.ifindex == dev.ifindex && a.address.is_ipv4())
            .map(|a| Request::DelAddr {
                ifindex: dev.ifindex,
                address: a.address,
                prefix_len: a.prefix_len,
            }),
    );
    if dev.is_up() {
        reqs.push(Request::SetLink {
            ifindex: dev.ifindex,
            change: LinkChange {
                up: Some(false),
                ..LinkChange::default()
            },
        });
    }
    for (r, req) in rtnl.execute(&reqs).into_iter().zip(&reqs) {
        if let Err(e) = r {
            if !e.is_not_found() && e.os_error().raw_os_error() != Some(ENODEV) {
                return Err(HotplugError::runtime(format!("{}: {req}: {e}", dev.name)));
            }
        }
    }
    tracing::info!("{}: routes and addresses removed, down", dev.name);
    Ok(())
}

/// `ENODEV`: what the kernel answers for a device deleted meanwhile.
const ENODEV: i32 = 19;

/// What the routed mode needs to know about one call.
#[derive(Debug, Clone)]
pub struct RouteCall<'a> {
    /// `online`/`add` (`true`) or `offline`/`remove`.
    pub up: bool,
    /// openSUSE's `vif-route-ifup`.
    pub ifup: bool,
    /// A QEMU tap (route metric 1 instead of 2).
    pub tap: bool,
    /// The device's names.
    pub names: &'a DeviceNames,
    /// The backend `ip` key, parsed.
    pub nets: &'a [Net4],
    /// `netdev` (environment), else the backend `gatewaydev` key.
    pub netdev: Option<&'a str>,
    /// Where `ifcfg-DEV` files live (`/etc/sysconfig/network`), for `vif-route-ifup`.
    pub sysconfig_dir: &'a Path,
    /// The [`rules::MARK_DIR`] of the lock directory.
    pub marks: &'a Path,
}

/// Runs the routed mode.
pub fn run(rtnl: &mut Rtnl, call: &RouteCall<'_>) -> Result<(), HotplugError> {
    if call.up {
        up(rtnl, call)
    } else {
        let dev = &call.names.target;
        let mut first = None;
        if call.ifup {
            if let Err(e) = distro_ifupdown(call, false) {
                tracing::warn!("{e}");
            }
        }
        if let Err(e) = teardown(rtnl, call.names) {
            first.get_or_insert(e);
        }
        if let Err(e) = rules::sync(call.marks, dev, &[], &[]) {
            first.get_or_insert(e);
        }
        first.map_or(Ok(()), Err)
    }
}

fn up(rtnl: &mut Rtnl, call: &RouteCall<'_>) -> Result<(), HotplugError> {
    let uplink = find_uplink(rtnl, call.netdev)?.ok_or_else(|| {
        HotplugError::runtime(
            "no uplink to take the host address from: set gatewaydev (netdev) or add a default route",
        )
    })?;
    let &(host, _) = uplink
        .addrs
        .first()
        .ok_or_else(|| HotplugError::runtime(format!("{} has no IPv4 address", uplink.name)))?;
    if call.nets.iter().any(|n| n.contains(host)) {
        return Err(HotplugError::runtime(format!(
            "the guest's ip key covers the host address {host}"
        )));
    }
    let dev = find_or_rename(rtnl, call.names)?;
    if dev.master.is_some() {
        set(
            rtnl,
            dev.ifindex,
            LinkChange {
                master: Some(0),
                ..LinkChange::default()
            },
        )
        .map_err(nl)?;
    }
    add_host_addr(rtnl, &dev, host)?;
    link_up(rtnl, &dev)?;
    proxy_arp(&dev.name)?;
    sysctl_on("net/ipv4/ip_forward")?;
    let metric = if call.tap { 1 } else { 2 };
    add_routes(rtnl, &dev, call.nets, host, Some(metric))?;
    let on_lan = call.nets.iter().any(|n| {
        uplink.addrs.iter().any(|&(a, l)| {
            l < 32 && n.prefix_len() >= l && Net4::new(a, l).is_ok_and(|lan| lan.contains(n.addr()))
        })
    });
    if on_lan {
        proxy_arp(&uplink.name)?;
    }
    rules::sync(
        call.marks,
        &dev.name,
        &rules::routed(&dev.name, call.nets, false),
        &[],
    )?;
    if call.ifup {
        distro_ifupdown(call, true)?;
    }
    tracing::info!(
        "{}: routed via {} ({host}), {} route(s){}",
        dev.name,
        uplink.name,
        call.nets.len(),
        if on_lan {
            ", proxy_arp on the uplink"
        } else {
            ""
        }
    );
    Ok(())
}

/// openSUSE's `ifup DEV` / `ifdown DEV`, when the distribution has an `ifcfg-DEV` and `ifup`.
fn distro_ifupdown(call: &RouteCall<'_>, up: bool) -> Result<(), HotplugError> {
    let dev = &call.names.target;
    let cmd = if up { "ifup" } else { "ifdown" };
    if !call.sysconfig_dir.join(format!("ifcfg-{dev}")).exists() {
        return Ok(());
    }
    let out = match Command::new(cmd).arg(dev).output() {
        Ok(o) => o,
        Err(e) => {
            tracing::info!("{cmd} not run: {e}");
            return Ok(());
        }
    };
    if !out.status.success() {
        return Err(HotplugError::runtime(format!(
            "{cmd} {dev} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}
