//! The libxl vif hotplug entrypoint: a drop-in replacement for Xen's `vif-bridge`,
//! `vif-route`, `vif-nat` and openSUSE's `vif-route-ifup` scripts.
//!
//! * [`env`](mod@env) — argv and environment as libxl sets them;
//! * [`store`] — the backend keys and the `hotplug-status`/`hotplug-error` reports;
//! * [`naming`] — `vif<domid>.<devid>`, `-emu`, `vifname` and IFNAMSIZ;
//! * [`mode`] — which stock script is being replaced;
//! * [`bridge`] — the `vif-bridge` behaviour;
//! * [`route`] — `vif-route` and `vif-route-ifup`;
//! * [`nat`] — `vif-nat`;
//! * [`rules`] — the per-vif iptables rules (FORWARD accepts, anti-spoofing, masquerade);
//! * [`rate`] — the backend `rate` key: validated for a vif (netback enforces it), applied
//!   with tc (IFB + tbf, guest-transmit direction) for an `-emu` tap.
//!
//! [`run`] ties them together: read the keys, pick the mode, take the hotplug lock, do the
//! work, then write `hotplug-status=connected` (vif `online` only) or, on failure,
//! `hotplug-error=<message>` and `hotplug-status=error`.

pub mod bridge;
pub mod env;
pub mod mode;
pub mod naming;
pub mod nat;
pub mod rate;
pub mod route;
pub mod rules;
pub mod store;

use std::path::PathBuf;
use std::time::Duration;

use hvnet_linux::lock::{LockError, LockEx};
use hvnet_linux::netlink::Rtnl;

pub use env::{Action, EnvError, Invocation, TypeIf};
pub use mode::Mode;
pub use store::{BackendKeys, MemStore, Store, XsStore};

/// Where the stock scripts keep their locks (`LOCK_BASEDIR` in `locking.sh`).
pub const DEFAULT_LOCK_DIR: &str = "/var/run/xen-hotplug";

/// The lock taken for the whole run: the stock scripts' `iptables` lock, so that hvnet and
/// stock scripts (and concurrent hvnet runs) never interleave their changes.
pub const LOCK_NAME: &str = "iptables";

/// How long to wait for the lock: half of libxl's 40 s `LIBXL_HOTPLUG_TIMEOUT`, leaving time
/// for the work and for the error report before libxl's SIGKILL.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(20);

/// How the mode is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChoice {
    /// This mode (run as `vif-bridge`, ...).
    Fixed(Mode),
    /// From the backend `script` key; bridge if unset or unknown (`hvnet xen hotplug`).
    FromScriptKey,
    /// From the guest's entry in hvnet's config (run as `vif-hvnet`): the domain's name
    /// (`/local/domain/DOMID/name`) is a `[[guest]]`, NIC number DEVID its `[[guest.nic]]`:
    /// a `routed` network gives `vif-route`, any other the bridge of its network; bridge
    /// (with the backend keys) when the guest or NIC is unknown.
    FromConfig,
}

/// Run options.
#[derive(Debug, Clone)]
pub struct Options {
    /// The mode.
    pub mode: ModeChoice,
    /// The lock directory ([`DEFAULT_LOCK_DIR`]).
    pub lock_dir: PathBuf,
    /// How long to wait for the lock.
    pub lock_timeout: Duration,
    /// The dnsmasq hostsfile of the NAT mode's DHCP entries ([`nat::DEFAULT_DHCP_HOSTS`]).
    pub dhcp_hosts: PathBuf,
    /// Where `vif-route-ifup` looks for `ifcfg-DEV` (`/etc/sysconfig/network`).
    pub sysconfig_dir: PathBuf,
    /// hvnet's config, when there is one: a backend `bridge` key may name one of its
    /// networks (its bridge is used), and [`ModeChoice::FromConfig`] reads its guests.
    pub config: Option<std::sync::Arc<hvnet_core::config::Config>>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            mode: ModeChoice::FromScriptKey,
            lock_dir: PathBuf::from(DEFAULT_LOCK_DIR),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            dhcp_hosts: PathBuf::from(nat::DEFAULT_DHCP_HOSTS),
            sysconfig_dir: PathBuf::from("/etc/sysconfig/network"),
            config: None,
        }
    }
}

/// What kind of failure (for the exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The host or the keys are not as needed, or the work failed.
    Runtime,
    /// The hotplug lock stayed busy.
    Lock,
}

/// A failed hotplug. Its message is what was written to `hotplug-error` (when
/// [`reported`](Self::reported)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HotplugError {
    /// The kind.
    pub kind: ErrorKind,
    /// The message.
    pub message: String,
    /// Whether `hotplug-error`/`hotplug-status=error` were written.
    pub reported: bool,
}

impl HotplugError {
    /// A runtime failure.
    pub fn runtime(message: impl Into<String>) -> HotplugError {
        HotplugError {
            kind: ErrorKind::Runtime,
            message: message.into(),
            reported: false,
        }
    }
}

/// Runs one hotplug call and reports its outcome in xenstore.
pub fn run(inv: &Invocation, store: &dyn Store, opts: &Options) -> Result<(), HotplugError> {
    match run_inner(inv, store, opts) {
        Ok(()) => {
            if inv.action == Action::Online && inv.type_if == TypeIf::Vif {
                store::report_connected(store, &inv.xenbus_path)
                    .map_err(|e| HotplugError::runtime(e.to_string()))?;
            }
            Ok(())
        }
        Err(mut e) => {
            match store::report_error(store, &inv.xenbus_path, &e.message) {
                Ok(()) => e.reported = true,
                Err(w) => tracing::warn!("cannot report the error in xenstore: {w}"),
            }
            Err(e)
        }
    }
}

/// The network (and fixed `ip`) of NIC `devid` of the guest whose domain `domid` is named
/// in hvnet's config.
fn configured_network<'c>(
    store: &dyn Store,
    cfg: &'c hvnet_core::config::Config,
    domid: u32,
    devid: u32,
) -> Option<(&'c hvnet_core::config::Network, Option<std::net::Ipv4Addr>)> {
    let name = store
        .read(&format!("/local/domain/{domid}/name"))
        .ok()
        .flatten()?;
    let guest = cfg.guest(name.trim())?;
    let nic = guest.nics.get(usize::try_from(devid).ok()?)?;
    Some((cfg.network(&nic.network)?, nic.ip))
}

fn run_inner(inv: &Invocation, store: &dyn Store, opts: &Options) -> Result<(), HotplugError> {
    let keys = BackendKeys::read(store, &inv.xenbus_path)
        .map_err(|e| HotplugError::runtime(e.to_string()))?;
    let tap = inv.type_if == TypeIf::Tap;
    let ids = keys.ids().or_else(|| inv.path_ids());
    // The guest's network in hvnet's config (vif-hvnet), if it names one.
    let configured = match (opts.mode, &opts.config, ids) {
        (ModeChoice::FromConfig, Some(cfg), Some((domid, devid))) => {
            configured_network(store, cfg, domid, devid)
        }
        _ => None,
    };
    let mode = match opts.mode {
        ModeChoice::Fixed(m) => m,
        ModeChoice::FromScriptKey => Mode::from_script_key(keys.script.as_deref()),
        ModeChoice::FromConfig => match configured {
            Some((n, _)) if n.kind == hvnet_core::config::NetworkKind::Routed => Mode::Route,
            _ => Mode::Bridge,
        },
    };
    // A bridge key may name an hvnet network rather than a device.
    let named_bridge = keys.bridge.as_deref().or(inv.bridge.as_deref());
    let bridge = configured
        .map(|(n, _)| n.bridge.as_str())
        .or_else(|| {
            let cfg = opts.config.as_ref()?;
            Some(cfg.network(named_bridge?)?.bridge.as_str())
        })
        .or(named_bridge);
    let given = if tap {
        inv.interface.as_deref()
    } else {
        inv.vif.as_deref()
    };
    let names =
        naming::DeviceNames::resolve(tap, given, ids, keys.vifname.as_deref(), keys.emulated())
            .map_err(|e| HotplugError::runtime(e.to_string()))?;
    let frontend_mtu = match (tap, ids) {
        (false, Some((domid, devid))) => {
            Some(format!("/local/domain/{domid}/device/vif/{devid}/mtu"))
        }
        _ => None,
    };

    // Key checks that need no device come before touching anything.
    let ip_path = inv.key("ip");
    let nat_addrs = match mode {
        Mode::Nat => {
            let (domid, devid) = ids.ok_or_else(|| {
                HotplugError::runtime(format!(
                    "{} has no frontend-id/handle and is not .../<domid>/<devid>",
                    inv.xenbus_path
                ))
            })?;
            Some(nat::NatAddrs::new(
                domid,
                devid,
                keys.ip.as_deref(),
                &ip_path,
            )?)
        }
        _ => None,
    };
    // vif-nat's addresses are hosts (a /len is the guest's netmask); elsewhere a /len is a
    // routed prefix.
    // Without an ip key, a routed guest's fixed `ip` in hvnet's config stands in for it.
    let config_ip = configured.and_then(|(_, ip)| ip).map(|ip| ip.to_string());
    let nets = match (keys.ip.as_ref().or(config_ip.as_ref()), &nat_addrs) {
        (_, Some(a)) => a.guests.clone(),
        (Some(v), None) => rules::parse_ip_list(&ip_path, v, false)?,
        (None, None) => Vec::new(),
    };
    let netdev = inv.netdev.as_deref().or(keys.gatewaydev.as_deref());
    // The rate is checked on the way up only: a bad key must not stop a teardown.
    let up = inv.action.is_up();
    let limit = if up {
        rate::parse_key(keys.rate.as_deref(), &inv.key("rate"))?
    } else {
        None
    };

    let lock_path = opts.lock_dir.join(LOCK_NAME);
    let marks = opts.lock_dir.join(rules::MARK_DIR);
    let _lock = LockEx::acquire(&lock_path, opts.lock_timeout).map_err(|e| match e {
        LockError::Timeout { .. } => HotplugError {
            kind: ErrorKind::Lock,
            message: e.to_string(),
            reported: false,
        },
        other => HotplugError::runtime(other.to_string()),
    })?;
    let mut rtnl = Rtnl::open().map_err(|e| HotplugError::runtime(e.to_string()))?;
    let done = match (mode, nat_addrs) {
        (Mode::Nat, Some(addrs)) => nat::run(
            &mut rtnl,
            &nat::NatCall {
                up,
                names: &names,
                addrs: &addrs,
                tap,
                mac: keys.mac,
                netdev,
                dhcp_hosts: &opts.dhcp_hosts,
                marks: &marks,
            },
        ),
        (Mode::Route | Mode::RouteIfup, _) => route::run(
            &mut rtnl,
            &route::RouteCall {
                up,
                ifup: mode == Mode::RouteIfup,
                tap,
                names: &names,
                nets: &nets,
                netdev,
                sysconfig_dir: &opts.sysconfig_dir,
                marks: &marks,
            },
        ),
        _ => {
            let call = bridge::BridgeCall {
                up,
                names: &names,
                bridge,
                mtu: keys.mtu,
                frontend_mtu,
            };
            // Anti-spoofing only with an ip key (as the stock handle_iptable); offline removes
            // the rules even when the device is already gone.
            if up {
                bridge::run(&mut rtnl, store, &call)?;
                rules::sync(
                    &marks,
                    &names.target,
                    &rules::bridged(&names.target, &nets),
                    &[],
                )
            } else {
                let r = bridge::run(&mut rtnl, store, &call);
                let f = rules::sync(&marks, &names.target, &[], &[]);
                r.and(f)
            }
        }
    };
    if !tap {
        // Netback polices a vif's rate itself.
        return done;
    }
    if up {
        done?;
        rate::apply(&mut rtnl, &names.target, limit.as_ref())
    } else {
        // The IFB outlives the tap: remove it even if the rest of the teardown failed.
        let r = rate::apply(&mut rtnl, &names.target, None);
        let r = if names.current == names.target {
            r
        } else {
            r.and(rate::apply(&mut rtnl, &names.current, None))
        };
        done.and(r)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn inv(action: Action, type_if: TypeIf) -> Invocation {
        Invocation {
            action,
            type_if,
            xenbus_path: "backend/vif/5/0".into(),
            vif: Some("vif5.0".into()),
            interface: None,
            netdev: None,
            bridge: None,
        }
    }

    #[test]
    fn bad_route_and_nat_keys_are_reported_before_touching_anything() {
        let s = MemStore::with(&[
            ("backend/vif/5/0/script", "/etc/xen/scripts/vif-route"),
            ("backend/vif/5/0/ip", "192.0.2.10/24"),
        ]);
        let e = run(&inv(Action::Online, TypeIf::Vif), &s, &Options::default()).unwrap_err();
        assert!(e.message.contains("backend/vif/5/0/ip"), "{e}");
        assert!(e.message.contains("host bits set"), "{e}");
        assert!(e.reported);
        assert_eq!(
            s.get("backend/vif/5/0/hotplug-status").as_deref(),
            Some("error")
        );
        assert_eq!(s.get("backend/vif/5/0/hotplug-error"), Some(e.message));

        let s = MemStore::with(&[("x/ip", "10.0.0.1")]);
        let opts = Options {
            mode: ModeChoice::Fixed(Mode::Nat),
            ..Options::default()
        };
        let mut i = inv(Action::Offline, TypeIf::Vif);
        i.xenbus_path = "x".into();
        let e = run(&i, &s, &opts).unwrap_err();
        assert!(e.message.contains("no frontend-id/handle"), "{e}");

        let s = MemStore::with(&[("backend/vif/5/0/ip", "10.0.0.1 10.0.0.128")]);
        let e = run(&inv(Action::Online, TypeIf::Vif), &s, &opts).unwrap_err();
        assert!(e.message.contains("router address 10.0.0.128"), "{e}");
    }

    #[test]
    fn a_rate_that_blocks_the_guest_is_reported_before_touching_anything() {
        for tap in [false, true] {
            let s = MemStore::with(&[("backend/vif/5/0/rate", "0,50000")]);
            let (action, type_if) = if tap {
                (Action::Add, TypeIf::Tap)
            } else {
                (Action::Online, TypeIf::Vif)
            };
            let e = run(&inv(action, type_if), &s, &Options::default()).unwrap_err();
            assert!(
                e.message
                    .starts_with("bad xenstore key backend/vif/5/0/rate=\"0,50000\""),
                "{e}"
            );
            assert!(e.message.contains("would block the guest"), "{e}");
            assert_eq!(
                s.get("backend/vif/5/0/hotplug-status").as_deref(),
                Some("error")
            );
            assert_eq!(s.get("backend/vif/5/0/hotplug-error"), Some(e.message));
        }
    }

    #[test]
    fn bad_keys_and_names_are_reported_before_touching_anything() {
        let s = MemStore::with(&[("backend/vif/5/0/mtu", "jumbo")]);
        let e = run(&inv(Action::Online, TypeIf::Vif), &s, &Options::default()).unwrap_err();
        assert!(e.message.contains("backend/vif/5/0/mtu"), "{e}");
        assert_eq!(
            s.get("backend/vif/5/0/hotplug-status").as_deref(),
            Some("error")
        );

        let s = MemStore::with(&[
            ("backend/vif/5/0/vifname", "abcdefghijkl"),
            ("backend/vif/5/0/type", "vif_ioemu"),
        ]);
        let e = run(&inv(Action::Online, TypeIf::Vif), &s, &Options::default()).unwrap_err();
        assert!(e.message.contains("IFNAMSIZ"), "{e}");
        assert_eq!(s.get("backend/vif/5/0/hotplug-error"), Some(e.message));
    }
}
