//! The host's users and groups, for a tap's `owner` and `group` given by name.

use hvnet_core::config::Accounts;
use nix::unistd::{Group, User};

/// Resolves names through the system's passwd and group databases (NSS).
///
/// ```
/// use hvnet_core::config::Accounts;
/// assert_eq!(hvnet_linux::accounts::SystemAccounts.uid("root"), Some(0));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemAccounts;

impl Accounts for SystemAccounts {
    fn uid(&self, name: &str) -> Option<u32> {
        User::from_name(name).ok().flatten().map(|u| u.uid.as_raw())
    }

    fn gid(&self, name: &str) -> Option<u32> {
        Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    }
}
