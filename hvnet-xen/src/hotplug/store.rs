//! Xenstore access for the hotplug: the backend keys libxl wrote (reference §4) and the
//! `hotplug-status`/`hotplug-error` reporting (§5–§6).
//!
//! Everything goes through the small [`Store`] trait: [`XsStore`] is the real xenstored
//! (xenstore-rs), [`MemStore`] an in-memory map for unit tests.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use hvnet_core::types::MacAddr;
use xenstore_rs::unix::XsUnix;
use xenstore_rs::Xs;

/// A failed xenstore operation.
#[derive(Debug, thiserror::Error)]
#[error("xenstore {op} {path}: {source}")]
pub struct StoreError {
    /// `read`, `write`, `rm`, `directory` or `connect`.
    pub op: &'static str,
    /// The node.
    pub path: String,
    /// The error.
    #[source]
    pub source: io::Error,
}

/// The xenstore operations the hotplug needs.
pub trait Store {
    /// Reads a node; `Ok(None)` if it does not exist.
    fn read(&self, path: &str) -> Result<Option<String>, StoreError>;
    /// Writes a node (creating its parents).
    fn write(&self, path: &str, value: &str) -> Result<(), StoreError>;
    /// Removes a node and its children; a missing node is not an error.
    fn rm(&self, path: &str) -> Result<(), StoreError>;
    /// The names of a node's children (empty for a missing node), so that a reader of many
    /// optional keys asks only for those that exist: each read is a round trip to xenstored.
    /// `Ok(None)`: this store cannot list (every key is read).
    fn children(&self, path: &str) -> Result<Option<Vec<String>>, StoreError> {
        let _ = path;
        Ok(None)
    }
}

/// The real xenstored, over its unix socket (or `/dev/xen/xenbus`).
pub struct XsStore(XsUnix);

impl std::fmt::Debug for XsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XsStore")
    }
}

/// Where xenstore-rs looks for xenstored's socket unless `XENSTORED_PATH` says otherwise.
const DEFAULT_SOCKET: &str = "/run/xenstored/socket";
/// The kernel's xenstore device, xenstore-rs's fallback.
const XENBUS_DEVICE: &str = "/dev/xen/xenbus";

impl XsStore {
    /// Connects like libxenstore: `$XENSTORED_PATH`, else `/run/xenstored/socket`, else
    /// `/dev/xen/xenbus`. Unlike a bare `XsUnix::new()`, a missing socket is reported by its
    /// own path rather than as a missing `/dev/xen/xenbus`.
    pub fn open() -> Result<XsStore, StoreError> {
        let socket = std::env::var("XENSTORED_PATH").unwrap_or_else(|_| DEFAULT_SOCKET.into());
        let err = |source| StoreError {
            op: "connect",
            path: socket.clone(),
            source,
        };
        if !Path::new(&socket).exists() && !Path::new(XENBUS_DEVICE).exists() {
            return Err(err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no xenstored socket (XENSTORED_PATH) and no {XENBUS_DEVICE}"),
            )));
        }
        XsUnix::new().map(XsStore).map_err(err)
    }
}

impl Store for XsStore {
    fn read(&self, path: &str) -> Result<Option<String>, StoreError> {
        match self.0.read(path) {
            Ok(v) => Ok(Some(v.into())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError {
                op: "read",
                path: path.to_owned(),
                source,
            }),
        }
    }

    fn write(&self, path: &str, value: &str) -> Result<(), StoreError> {
        self.0.write(path, value).map_err(|source| StoreError {
            op: "write",
            path: path.to_owned(),
            source,
        })
    }

    fn rm(&self, path: &str) -> Result<(), StoreError> {
        match self.0.rm(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError {
                op: "rm",
                path: path.to_owned(),
                source,
            }),
        }
    }

    fn children(&self, path: &str) -> Result<Option<Vec<String>>, StoreError> {
        match self.0.directory(path) {
            Ok(names) => Ok(Some(names.into_iter().map(String::from).collect())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Some(Vec::new())),
            Err(source) => Err(StoreError {
                op: "directory",
                path: path.to_owned(),
                source,
            }),
        }
    }
}

/// An in-memory store (paths taken literally, no relative-path resolution).
#[derive(Debug, Default)]
pub struct MemStore(RefCell<BTreeMap<String, String>>);

impl MemStore {
    /// A store holding `pairs`.
    pub fn with(pairs: &[(&str, &str)]) -> MemStore {
        let s = MemStore::default();
        for (k, v) in pairs {
            s.0.borrow_mut().insert((*k).to_owned(), (*v).to_owned());
        }
        s
    }

    /// The value at `path`.
    pub fn get(&self, path: &str) -> Option<String> {
        self.0.borrow().get(path).cloned()
    }
}

impl Store for MemStore {
    fn read(&self, path: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get(path))
    }

    fn write(&self, path: &str, value: &str) -> Result<(), StoreError> {
        self.0
            .borrow_mut()
            .insert(path.to_owned(), value.to_owned());
        Ok(())
    }

    fn rm(&self, path: &str) -> Result<(), StoreError> {
        let prefix = format!("{}/", path.trim_end_matches('/'));
        self.0
            .borrow_mut()
            .retain(|k, _| k != path && !k.starts_with(&prefix));
        Ok(())
    }

    fn children(&self, path: &str) -> Result<Option<Vec<String>>, StoreError> {
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let mut names: Vec<String> = self
            .0
            .borrow()
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned())
            .collect();
        names.dedup();
        Ok(Some(names))
    }
}

/// A backend key with a value hvnet cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad xenstore key {path}={value:?}: {reason}")]
pub struct BadKey {
    /// The node.
    pub path: String,
    /// Its value.
    pub value: String,
    /// What is wrong.
    pub reason: String,
}

/// Reading the backend keys failed.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// xenstore failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key is malformed.
    #[error(transparent)]
    Bad(#[from] BadKey),
}

/// The backend keys the vif scripts read (`XENBUS_PATH/...`). Empty values count as unset,
/// like the scripts' `xenstore_read_default`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendKeys {
    /// `bridge`.
    pub bridge: Option<String>,
    /// `ip`: space-separated addresses (kept verbatim; used by route/nat modes).
    pub ip: Option<String>,
    /// `mac`: the guest's address.
    pub mac: Option<MacAddr>,
    /// `vifname`: rename target.
    pub vifname: Option<String>,
    /// `mtu` (positive).
    pub mtu: Option<u32>,
    /// `rate` (`<bytes>,<usecs>`, enforced by netback; kept verbatim).
    pub rate: Option<String>,
    /// `frontend-id`: the guest's domid.
    pub frontend_id: Option<u32>,
    /// `handle`: the devid.
    pub handle: Option<u32>,
    /// `type`: `vif` or `vif_ioemu`.
    pub nic_type: Option<String>,
    /// `gatewaydev`.
    pub gatewaydev: Option<String>,
    /// `script`: the hotplug script's absolute path.
    pub script: Option<String>,
}

impl BackendKeys {
    /// Reads the keys under the backend directory `be`.
    pub fn read(store: &dyn Store, be: &str) -> Result<BackendKeys, KeysError> {
        let be = be.trim_end_matches('/');
        // Most of these keys are optional and absent: list them first, read what exists.
        let present = store.children(be)?;
        let get = |key: &str| -> Result<Option<(String, String)>, StoreError> {
            if present
                .as_ref()
                .is_some_and(|p| !p.iter().any(|n| n == key))
            {
                return Ok(None);
            }
            let path = format!("{be}/{key}");
            Ok(store
                .read(&path)?
                .filter(|v| !v.is_empty())
                .map(|v| (path, v)))
        };
        let num = |key: &str, positive: bool| -> Result<Option<u32>, KeysError> {
            match get(key)? {
                None => Ok(None),
                Some((path, v)) => match v.trim().parse::<u32>() {
                    Ok(n) if n > 0 || !positive => Ok(Some(n)),
                    _ => Err(BadKey {
                        path,
                        value: v,
                        reason: if positive {
                            "not a positive integer".into()
                        } else {
                            "not a non-negative integer".into()
                        },
                    }
                    .into()),
                },
            }
        };
        let text = |key: &str| -> Result<Option<String>, KeysError> {
            Ok(get(key)?
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty()))
        };
        let mac = match get("mac")? {
            None => None,
            Some((path, v)) => Some(v.parse::<MacAddr>().map_err(|e| BadKey {
                path,
                value: v.clone(),
                reason: e.to_string(),
            })?),
        };
        Ok(BackendKeys {
            bridge: text("bridge")?,
            ip: text("ip")?,
            mac,
            vifname: text("vifname")?,
            mtu: num("mtu", true)?,
            rate: text("rate")?,
            frontend_id: num("frontend-id", false)?,
            handle: num("handle", false)?,
            nic_type: text("type")?,
            gatewaydev: text("gatewaydev")?,
            script: text("script")?,
        })
    }

    /// `(frontend-id, handle)` if both are set.
    pub fn ids(&self) -> Option<(u32, u32)> {
        Some((self.frontend_id?, self.handle?))
    }

    /// `true` for an emulated NIC (`type=vif_ioemu`), which also gets a QEMU tap.
    pub fn emulated(&self) -> bool {
        self.nic_type.as_deref() == Some("vif_ioemu")
    }
}

/// `hotplug-status=connected` (success of a vif `online`).
pub fn report_connected(store: &dyn Store, be: &str) -> Result<(), StoreError> {
    store.write(
        &format!("{}/hotplug-status", be.trim_end_matches('/')),
        "connected",
    )
}

/// `hotplug-error=<message>` then `hotplug-status=error`, like the scripts' `fatal`. Write
/// failures are returned, but the caller fails the hotplug either way.
pub fn report_error(store: &dyn Store, be: &str, message: &str) -> Result<(), StoreError> {
    let be = be.trim_end_matches('/');
    // xenstore rejects payloads of 4096 bytes or more; keep the message well below.
    let mut msg = message.replace(['\n', '\r'], " ");
    if msg.len() > 2048 {
        let mut cut = 2048;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
    }
    store.write(&format!("{be}/hotplug-error"), &msg)?;
    store.write(&format!("{be}/hotplug-status"), "error")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const BE: &str = "backend/vif/5/0";

    /// A store that counts its reads, listing children or not.
    struct Counting(MemStore, bool, std::cell::Cell<usize>);

    impl Store for Counting {
        fn read(&self, path: &str) -> Result<Option<String>, StoreError> {
            self.2.set(self.2.get() + 1);
            self.0.read(path)
        }
        fn write(&self, path: &str, value: &str) -> Result<(), StoreError> {
            self.0.write(path, value)
        }
        fn rm(&self, path: &str) -> Result<(), StoreError> {
            self.0.rm(path)
        }
        fn children(&self, path: &str) -> Result<Option<Vec<String>>, StoreError> {
            if self.1 {
                self.0.children(path)
            } else {
                Ok(None)
            }
        }
    }

    #[test]
    fn only_present_keys_are_read_when_the_store_lists() {
        let pairs = [
            ("backend/vif/5/0/bridge", "xenbr0"),
            ("backend/vif/5/0/mac", "00:16:3e:01:02:03"),
            ("backend/vif/5/0/frontend-id", "5"),
            ("backend/vif/5/0/handle", "0"),
            ("backend/vif/5/0/frontend-id-not", "x"),
            ("backend/vif/5/0/statistics/rx", "1"),
        ];
        let listing = Counting(MemStore::with(&pairs), true, Default::default());
        let all = Counting(MemStore::with(&pairs), false, Default::default());
        let a = BackendKeys::read(&listing, BE).unwrap();
        let b = BackendKeys::read(&all, BE).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.ids(), Some((5, 0)));
        assert_eq!(listing.2.get(), 4, "bridge, mac, frontend-id, handle");
        assert_eq!(all.2.get(), 11);
        assert_eq!(
            listing.0.children(BE).unwrap().unwrap(),
            [
                "bridge",
                "frontend-id",
                "frontend-id-not",
                "handle",
                "mac",
                "statistics"
            ]
        );
    }

    #[test]
    fn reads_libxl_keys() {
        let s = MemStore::with(&[
            ("backend/vif/5/0/bridge", "xenbr0"),
            ("backend/vif/5/0/mac", "00:16:3e:01:02:03"),
            ("backend/vif/5/0/frontend-id", "5"),
            ("backend/vif/5/0/handle", "0"),
            ("backend/vif/5/0/type", "vif_ioemu"),
            ("backend/vif/5/0/mtu", "9000"),
            ("backend/vif/5/0/ip", "192.0.2.10 192.0.2.11"),
            ("backend/vif/5/0/vifname", ""),
            ("backend/vif/5/0/script", "/etc/xen/scripts/vif-bridge"),
        ]);
        let k = BackendKeys::read(&s, BE).unwrap();
        assert_eq!(k.bridge.as_deref(), Some("xenbr0"));
        assert_eq!(k.mac.unwrap().to_string(), "00:16:3e:01:02:03");
        assert_eq!(k.ids(), Some((5, 0)));
        assert!(k.emulated());
        assert_eq!(k.mtu, Some(9000));
        assert_eq!(k.vifname, None);
        assert_eq!(k.rate, None);
        assert_eq!(k.script.as_deref(), Some("/etc/xen/scripts/vif-bridge"));
    }

    #[test]
    fn bad_keys() {
        for (key, value) in [
            ("mtu", "0"),
            ("mtu", "big"),
            ("frontend-id", "-1"),
            ("handle", "x"),
            ("mac", "00:16:3e"),
        ] {
            let s = MemStore::with(&[(&format!("{BE}/{key}"), value)]);
            match BackendKeys::read(&s, BE) {
                Err(KeysError::Bad(b)) => assert_eq!(b.path, format!("{BE}/{key}")),
                other => panic!("{key}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn error_and_status_reports() {
        let s = MemStore::default();
        report_error(
            &s,
            "backend/vif/5/0/",
            "Could not find bridge device nosuchbr",
        )
        .unwrap();
        assert_eq!(
            s.get("backend/vif/5/0/hotplug-error").as_deref(),
            Some("Could not find bridge device nosuchbr")
        );
        assert_eq!(
            s.get("backend/vif/5/0/hotplug-status").as_deref(),
            Some("error")
        );
        report_connected(&s, BE).unwrap();
        assert_eq!(
            s.get("backend/vif/5/0/hotplug-status").as_deref(),
            Some("connected")
        );
        report_error(&s, BE, &"x\n".repeat(5000)).unwrap();
        let e = s.get("backend/vif/5/0/hotplug-error").unwrap();
        assert_eq!(e.len(), 2048);
        assert!(!e.contains('\n'));
    }
}
