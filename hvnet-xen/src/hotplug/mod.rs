//! The libxl vif hotplug entrypoint: a drop-in replacement for Xen's `vif-bridge` script
//! (later also `vif-route`, `vif-nat`, `vif-route-ifup`).
//!
//! * [`env`] — argv and environment as libxl sets them;
//! * [`store`] — the backend keys and the `hotplug-status`/`hotplug-error` reports;
//! * [`naming`] — `vif<domid>.<devid>`, `-emu`, `vifname` and IFNAMSIZ;
//! * [`mode`] — which stock script is being replaced;
//! * [`bridge`] — the `vif-bridge` behaviour.
//!
//! [`run`] ties them together: read the keys, pick the mode, take the hotplug lock, do the
//! work, then write `hotplug-status=connected` (vif `online` only) or, on failure,
//! `hotplug-error=<message>` and `hotplug-status=error`.

pub mod bridge;
pub mod env;
pub mod mode;
pub mod naming;
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
    /// From the backend `script` key; bridge if unset or unknown (run as `vif-hvnet`).
    FromScriptKey,
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
}

impl Default for Options {
    fn default() -> Options {
        Options {
            mode: ModeChoice::FromScriptKey,
            lock_dir: PathBuf::from(DEFAULT_LOCK_DIR),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
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

fn run_inner(inv: &Invocation, store: &dyn Store, opts: &Options) -> Result<(), HotplugError> {
    let keys = BackendKeys::read(store, &inv.xenbus_path)
        .map_err(|e| HotplugError::runtime(e.to_string()))?;
    let mode = match opts.mode {
        ModeChoice::Fixed(m) => m,
        ModeChoice::FromScriptKey => Mode::from_script_key(keys.script.as_deref()),
    };
    if mode != Mode::Bridge {
        return Err(HotplugError::runtime(format!(
            "{mode} is not implemented yet by hvnet (only vif-bridge is); \
             use the stock {mode} script for this vif"
        )));
    }
    let tap = inv.type_if == TypeIf::Tap;
    let ids = keys.ids().or_else(|| inv.path_ids());
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

    let lock_path = opts.lock_dir.join(LOCK_NAME);
    let _lock = LockEx::acquire(&lock_path, opts.lock_timeout).map_err(|e| match e {
        LockError::Timeout { .. } => HotplugError {
            kind: ErrorKind::Lock,
            message: e.to_string(),
            reported: false,
        },
        other => HotplugError::runtime(other.to_string()),
    })?;
    let mut rtnl = Rtnl::open().map_err(|e| HotplugError::runtime(e.to_string()))?;
    let call = bridge::BridgeCall {
        up: inv.action.is_up(),
        names: &names,
        bridge: keys.bridge.as_deref().or(inv.bridge.as_deref()),
        mtu: keys.mtu,
        frontend_mtu,
    };
    bridge::run(&mut rtnl, store, &call)
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
    fn other_modes_fail_clearly_and_report() {
        let s = MemStore::with(&[("backend/vif/5/0/script", "/etc/xen/scripts/vif-route")]);
        let e = run(&inv(Action::Online, TypeIf::Vif), &s, &Options::default()).unwrap_err();
        assert!(
            e.message.contains("vif-route is not implemented yet"),
            "{e}"
        );
        assert!(e.reported);
        assert_eq!(
            s.get("backend/vif/5/0/hotplug-status").as_deref(),
            Some("error")
        );
        assert_eq!(s.get("backend/vif/5/0/hotplug-error"), Some(e.message));

        let s = MemStore::default();
        let opts = Options {
            mode: ModeChoice::Fixed(Mode::Nat),
            ..Options::default()
        };
        let e = run(&inv(Action::Offline, TypeIf::Vif), &s, &opts).unwrap_err();
        assert!(
            e.message.starts_with("vif-nat is not implemented yet"),
            "{e}"
        );
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
