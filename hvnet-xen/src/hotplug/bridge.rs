//! `vif-bridge` (reference §9): put the vif (or QEMU tap) on a bridge, or take it off.
//!
//! On `online`/`add`: find the bridge (the `bridge` key, else the first bridge on the host;
//! `xenbrN` falls back to a bridge `ethN`), rename the device to its `vifname` if set, give
//! it the host-side MAC `fe:ff:ff:ff:ff:ff`, flush its addresses, set the MTU (the `mtu` key,
//! else the bridge's) and publish it to the frontend's `mtu` node (vif only, at the
//! `frontend-id`/`handle` path), enslave it and bring it up. Every step checks the current
//! state first, so a repeated `online` changes nothing and still succeeds.
//!
//! On `offline`/`remove`: bring it down and release it from its bridge; a device netback
//! already deleted is not an error.

use std::net::IpAddr;

use hvnet_linux::netlink::{LinkChange, NlError, Request, Rtnl};

use super::naming::DeviceNames;
use super::store::Store;
use super::HotplugError;

/// The host-side MAC of every vif (netback's and the scripts'), so a bridge never adopts it.
pub const HOST_MAC: [u8; 6] = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff];

/// What the bridge mode needs to know about one call.
#[derive(Debug, Clone)]
pub struct BridgeCall<'a> {
    /// `online`/`add` (`true`) or `offline`/`remove`.
    pub up: bool,
    /// The device's names.
    pub names: &'a DeviceNames,
    /// The bridge: the backend `bridge` key, else the environment's.
    pub bridge: Option<&'a str>,
    /// The backend `mtu` key.
    pub mtu: Option<u32>,
    /// Where to publish the MTU for the guest (`/local/domain/<domid>/device/vif/<devid>/mtu`);
    /// `None` for the tap.
    pub frontend_mtu: Option<String>,
}

/// Runs the bridge mode.
pub fn run(rtnl: &mut Rtnl, store: &dyn Store, call: &BridgeCall<'_>) -> Result<(), HotplugError> {
    if call.up {
        up(rtnl, store, call)
    } else {
        down(rtnl, call)
    }
}

fn nl(e: NlError) -> HotplugError {
    HotplugError::runtime(e.to_string())
}

pub(crate) fn set(rtnl: &mut Rtnl, ifindex: u32, change: LinkChange) -> Result<(), NlError> {
    let mut r = rtnl.execute(&[Request::SetLink { ifindex, change }]);
    r.pop().unwrap_or(Ok(()))
}

fn is_bridge(l: &hvnet_linux::netlink::Link) -> bool {
    l.kind.as_deref() == Some("bridge")
}

/// The bridge to attach to (reference §9.1–9.2).
fn find_bridge(
    rtnl: &mut Rtnl,
    wanted: Option<&str>,
) -> Result<hvnet_linux::netlink::Link, HotplugError> {
    let Some(name) = wanted else {
        // No bridge named: the first bridge on the host, by name (what `brctl show` lists first).
        let mut bridges: Vec<_> = rtnl
            .dump_links()
            .map_err(nl)?
            .into_iter()
            .filter(is_bridge)
            .collect();
        bridges.sort_by(|a, b| a.name.cmp(&b.name));
        return bridges
            .into_iter()
            .next()
            .ok_or_else(|| HotplugError::runtime("Could not find bridge, and none was specified"));
    };
    if let Some(l) = rtnl.get_link(name).map_err(nl)? {
        if is_bridge(&l) {
            return Ok(l);
        }
        return Err(HotplugError::runtime(format!(
            "{name} is not a bridge (it is a {} device)",
            l.kind.as_deref().unwrap_or("plain")
        )));
    }
    // Compatibility with the old network-bridge layout: xenbrN missing, ethN a bridge.
    if let Some(n) = name.strip_prefix("xenbr") {
        if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            if let Some(l) = rtnl.get_link(&format!("eth{n}")).map_err(nl)? {
                if is_bridge(&l) {
                    return Ok(l);
                }
            }
        }
    }
    Err(HotplugError::runtime(format!(
        "Could not find bridge device {name}"
    )))
}

fn up(rtnl: &mut Rtnl, store: &dyn Store, call: &BridgeCall<'_>) -> Result<(), HotplugError> {
    let bridge = find_bridge(rtnl, call.bridge)?;
    let names = call.names;
    let mut dev = find_or_rename(rtnl, names)?;
    let ifindex = dev.ifindex;

    // setup_virtual_bridge_port: the fixed host-side MAC (down first: netback refuses a
    // MAC change while up), and no addresses.
    if dev.mac != Some(HOST_MAC) {
        if dev.is_up() {
            set(
                rtnl,
                ifindex,
                LinkChange {
                    up: Some(false),
                    ..LinkChange::default()
                },
            )
            .map_err(nl)?;
            dev.flags &= !hvnet_linux::netlink::consts::IFF_UP;
        }
        if let Err(e) = set(
            rtnl,
            ifindex,
            LinkChange {
                mac: Some(HOST_MAC),
                ..LinkChange::default()
            },
        ) {
            // As the stock script: a MAC the driver refuses is not fatal.
            tracing::warn!(
                "{}: cannot set address fe:ff:ff:ff:ff:ff: {e}",
                names.target
            );
        }
    }
    flush_addresses(rtnl, ifindex, &names.target)?;

    // set_mtu: the mtu key, else the bridge's.
    let want_mtu = call.mtu.unwrap_or(bridge.mtu);
    let mut mtu = dev.mtu;
    if want_mtu > 0 && dev.mtu != want_mtu {
        match set(
            rtnl,
            ifindex,
            LinkChange {
                mtu: Some(want_mtu),
                ..LinkChange::default()
            },
        ) {
            Ok(()) => mtu = want_mtu,
            Err(e) => tracing::warn!("{}: cannot set mtu {want_mtu}: {e}", names.target),
        }
    }
    if let Some(path) = &call.frontend_mtu {
        store
            .write(path, &mtu.to_string())
            .map_err(|e| HotplugError::runtime(e.to_string()))?;
    }

    // add_to_bridge: enslave unless already a port of this bridge, then up.
    if dev.master != Some(bridge.ifindex) {
        set(
            rtnl,
            ifindex,
            LinkChange {
                master: Some(bridge.ifindex),
                ..LinkChange::default()
            },
        )
        .map_err(|e| {
            HotplugError::runtime(format!(
                "Could not add {} to bridge {}: {e}",
                names.target, bridge.name
            ))
        })?;
    }
    if !dev.is_up() {
        set(
            rtnl,
            ifindex,
            LinkChange {
                up: Some(true),
                ..LinkChange::default()
            },
        )
        .map_err(|e| HotplugError::runtime(format!("Could not bring up {}: {e}", names.target)))?;
    }
    tracing::info!("{} on bridge {} (mtu {mtu}, up)", names.target, bridge.name);
    Ok(())
}

/// The device under its target name, renaming it from netback's name first if needed.
pub(crate) fn find_or_rename(
    rtnl: &mut Rtnl,
    names: &DeviceNames,
) -> Result<hvnet_linux::netlink::Link, HotplugError> {
    let current = rtnl.get_link(&names.current).map_err(nl)?;
    if names.current == names.target {
        return current.ok_or_else(|| {
            HotplugError::runtime(format!("Could not find device {}", names.current))
        });
    }
    let target = rtnl.get_link(&names.target).map_err(nl)?;
    match (current, target) {
        // Renamed by an earlier run.
        (None, Some(t)) if !is_bridge(&t) => Ok(t),
        (Some(_), Some(_)) | (None, Some(_)) => Err(HotplugError::runtime(format!(
            "Cannot rename interface {}. An interface with name {} already exists.",
            names.current, names.target
        ))),
        (None, None) => Err(HotplugError::runtime(format!(
            "Could not find device {}",
            names.current
        ))),
        (Some(c), None) => {
            // The kernel renames only links that are down.
            if c.is_up() {
                set(
                    rtnl,
                    c.ifindex,
                    LinkChange {
                        up: Some(false),
                        ..LinkChange::default()
                    },
                )
                .map_err(nl)?;
            }
            let mut r = rtnl.execute(&[Request::RenameLink {
                ifindex: c.ifindex,
                name: names.target.clone(),
            }]);
            r.pop().unwrap_or(Ok(())).map_err(|e| {
                HotplugError::runtime(format!(
                    "ip link set {} name {} failed: {e}",
                    names.current, names.target
                ))
            })?;
            rtnl.get_link(&names.target).map_err(nl)?.ok_or_else(|| {
                HotplugError::runtime(format!(
                    "{} vanished while being renamed to {}",
                    names.current, names.target
                ))
            })
        }
    }
}

/// `ip address flush dev DEV`, sparing IPv6 link-local addresses (the kernel's own).
fn flush_addresses(rtnl: &mut Rtnl, ifindex: u32, name: &str) -> Result<(), HotplugError> {
    let reqs: Vec<Request> = rtnl
        .dump_addrs()
        .map_err(nl)?
        .into_iter()
        .filter(|a| a.ifindex == ifindex)
        .filter(|a| !matches!(a.address, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80))
        .map(|a| Request::DelAddr {
            ifindex,
            address: a.address,
            prefix_len: a.prefix_len,
        })
        .collect();
    for r in rtnl.execute(&reqs) {
        if let Err(e) = r {
            if !e.is_not_found() {
                return Err(HotplugError::runtime(format!("{name}: {e}")));
            }
        }
    }
    Ok(())
}

fn down(rtnl: &mut Rtnl, call: &BridgeCall<'_>) -> Result<(), HotplugError> {
    let names = call.names;
    let mut dev = rtnl.get_link(&names.target).map_err(nl)?;
    if dev.is_none() && names.current != names.target {
        dev = rtnl.get_link(&names.current).map_err(nl)?;
    }
    let Some(dev) = dev else {
        tracing::info!("{}: already gone", names.target);
        return Ok(());
    };
    // remove_from_bridge: down, then off its bridge; a device that vanishes meanwhile
    // (netback deleting it) is fine.
    let tolerate = |r: Result<(), NlError>| match r {
        Err(e) if !e.is_not_found() => Err(HotplugError::runtime(format!("{}: {e}", dev.name))),
        _ => Ok(()),
    };
    if dev.is_up() {
        tolerate(set(
            rtnl,
            dev.ifindex,
            LinkChange {
                up: Some(false),
                ..LinkChange::default()
            },
        ))?;
    }
    if dev.master.is_some() {
        tolerate(set(
            rtnl,
            dev.ifindex,
            LinkChange {
                master: Some(0),
                ..LinkChange::default()
            },
        ))?;
    }
    tracing::info!("{}: down, off its bridge", dev.name);
    Ok(())
}
