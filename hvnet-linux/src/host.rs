//! [`LinuxHost`]: the kernel of the current network namespace, as hvnet's observer
//! ([`hvnet_core::backend::Observe`], in `observe.rs`) and executor
//! ([`hvnet_core::backend::Execute`], in `execute.rs`).

use std::collections::{BTreeMap, HashMap};

use hvnet_core::state::SysctlKey;

use crate::netlink::{NlError, Rtnl};

/// The kernel of the calling thread's network namespace.
///
/// ```no_run
/// use hvnet_core::backend::Observe;
/// let mut host = hvnet_linux::LinuxHost::open()?;
/// let now = host.observe(&[])?;
/// println!("{} links", now.links.len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LinuxHost {
    pub(crate) rtnl: Rtnl,
    /// Interface name → index, filled by `observe` and kept current by `execute`.
    pub(crate) index: HashMap<String, u32>,
    /// Kernel writes that did not go through rtnetlink (tap ioctls, sysctls).
    pub(crate) other_writes: u64,
    /// Made on the first tap this host creates.
    pub(crate) taps: Option<crate::tap::TapMaker>,
    /// hvnet's state directory (dnsmasq files, saved sysctls, firewall marker).
    pub(crate) state_dir: Option<std::path::PathBuf>,
    /// The firewall backend, detected on first use.
    pub(crate) firewall: Option<crate::firewall::Iptables>,
}

impl LinuxHost {
    /// Opens an rtnetlink socket in the calling thread's network namespace.
    pub fn open() -> Result<Self, NlError> {
        Ok(Self {
            rtnl: Rtnl::open()?,
            index: HashMap::new(),
            other_writes: 0,
            taps: None,
            state_dir: None,
            firewall: None,
        })
    }

    /// Every state-changing request made so far: netlink writes, tap ioctls, sysctl writes.
    /// A no-op apply leaves it unchanged.
    pub fn writes(&self) -> u64 {
        self.rtnl.writes() + self.other_writes
    }

    /// Current values of `keys` (keys that do not exist are left out).
    pub fn read_sysctls(&self, keys: &[SysctlKey]) -> BTreeMap<SysctlKey, String> {
        keys.iter()
            .filter_map(|k| crate::sysctl::read(&k.path()).ok().map(|v| (k.clone(), v)))
            .collect()
    }

    /// The underlying rtnetlink socket, for callers that need raw requests.
    pub fn rtnl(&mut self) -> &mut Rtnl {
        &mut self.rtnl
    }
}
