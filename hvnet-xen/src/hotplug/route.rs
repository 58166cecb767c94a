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

use std::path::Path;
use std::process::Command;

use super::naming::DeviceNames;
use super::plan::Planner;
use super::rules::Net4;
use super::HotplugError;

/// Plans `vif-route` online: the host address is the uplink's first (primary) IPv4
/// address; routes get metric 2 (1 for a QEMU tap); `proxy_arp` on the uplink when a guest
/// address lies in one of the uplink's subnets.
pub fn up(
    p: &mut Planner<'_>,
    names: &DeviceNames,
    nets: &[Net4],
    tap: bool,
    netdev: Option<&str>,
) -> Result<(), HotplugError> {
    let uplink = p.find_uplink(netdev)?.ok_or_else(|| {
        HotplugError::runtime(
            "no uplink to take the host address from: set gatewaydev (netdev) or add a default route",
        )
    })?;
    let host = uplink
        .addrs
        .first()
        .ok_or_else(|| HotplugError::runtime(format!("{} has no IPv4 address", uplink.name)))?
        .addr();
    if nets.iter().any(|n| n.contains(host)) {
        return Err(HotplugError::runtime(format!(
            "the guest's ip key covers the host address {host}"
        )));
    }
    let dev = p.routed_up(names, host, nets, if tap { 1 } else { 2 })?;
    let on_lan = nets.iter().any(|n| {
        uplink.addrs.iter().any(|lan| {
            lan.prefix_len() < 32 && n.prefix_len() >= lan.prefix_len() && lan.contains(n.addr())
        })
    });
    if on_lan {
        p.uplink_proxy_arp(&uplink.name);
    }
    tracing::info!(
        "{dev}: routed via {} ({host}), {} route(s){}",
        uplink.name,
        nets.len(),
        if on_lan {
            ", proxy_arp on the uplink"
        } else {
            ""
        }
    );
    Ok(())
}

/// openSUSE's `ifup DEV` / `ifdown DEV`, when the distribution has an `ifcfg-DEV` and `ifup`.
pub fn distro_ifupdown(sysconfig_dir: &Path, dev: &str, up: bool) -> Result<(), HotplugError> {
    let cmd = if up { "ifup" } else { "ifdown" };
    if !sysconfig_dir.join(format!("ifcfg-{dev}")).exists() {
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
