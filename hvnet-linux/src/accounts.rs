//! The host's users and groups, for a tap's `owner` and `group` given by name.

#[cfg(target_env = "gnu")]
use std::ffi::CStr;
use std::process::{Command, Stdio};

use hvnet_core::config::Accounts;
use nix::unistd::{Group, User};

/// Resolves names through the system's passwd and group databases (NSS), and, for a name
/// they do not hold, through `getent`, a separate process with the host's whole NSS
/// configuration (which a static hvnet limits itself to `files`: see [`nss_files_only`]).
///
/// ```
/// use hvnet_core::config::Accounts;
/// assert_eq!(hvnet_linux::accounts::SystemAccounts.uid("root"), Some(0));
/// assert_eq!(hvnet_linux::accounts::SystemAccounts.gid("root"), Some(0));
/// assert_eq!(hvnet_linux::accounts::SystemAccounts.uid("no such user"), None);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemAccounts;

impl Accounts for SystemAccounts {
    fn uid(&self, name: &str) -> Option<u32> {
        User::from_name(name)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
            .or_else(|| getent("passwd", name))
    }

    fn gid(&self, name: &str) -> Option<u32> {
        Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
            .or_else(|| getent("group", name))
    }
}

/// The id (third field) of `name`'s entry in `getent DATABASE NAME`, both passwd and group
/// lines being `name:password:id:…`. `None` when getent is missing or knows no such name.
fn getent(database: &str, name: &str) -> Option<u32> {
    let out = Command::new("getent")
        .args([database, "--", name])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let line = std::str::from_utf8(&out.stdout).ok()?.lines().next()?;
    let mut fields = line.split(':');
    (fields.next()? == name).then_some(())?;
    fields.nth(1)?.parse().ok()
}

/// Limits this process's NSS lookups of users, groups and host names to the sources built
/// into glibc (`files`, and `dns` for hosts), whatever `/etc/nsswitch.conf` lists.
///
/// For a statically linked program: glibc would load the other sources' modules
/// (`libnss_systemd.so.2`, sss, ldap) into it with `dlopen`, and a static binary that does
/// so crashes. [`SystemAccounts`] still finds those users and groups, through `getent`. A
/// dynamically linked program has no reason to call this. Without glibc it does nothing.
///
/// # Safety
/// No other thread may be running: glibc changes its NSS configuration without a lock.
///
/// ```
/// // In a static binary, first thing in `main`:
/// if cfg!(target_feature = "crt-static") {
///     // SAFETY: no other thread exists yet.
///     unsafe { hvnet_linux::accounts::nss_files_only() };
/// }
/// ```
pub unsafe fn nss_files_only() {
    #[cfg(target_env = "gnu")]
    {
        const DATABASES: [(&CStr, &CStr); 3] = [
            (c"passwd", c"files"),
            (c"group", c"files"),
            (c"hosts", c"files dns"),
        ];
        unsafe extern "C" {
            /// glibc's `<nss.h>`: replaces the service line of one database.
            fn __nss_configure_lookup(
                dbname: *const libc::c_char,
                service_line: *const libc::c_char,
            ) -> libc::c_int;
        }
        for (db, line) in DATABASES {
            // SAFETY: both are NUL-terminated strings that outlive the call (glibc copies
            // what it keeps), and the caller guarantees no other thread runs.
            unsafe {
                __nss_configure_lookup(db.as_ptr(), line.as_ptr());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getent_reads_the_id_of_the_named_entry() {
        assert_eq!(getent("passwd", "root"), Some(0));
        assert_eq!(getent("group", "root"), Some(0));
        assert_eq!(getent("passwd", "no-such-user-hvnet"), None);
        // An option-like name is a name, not an option of getent.
        assert_eq!(getent("passwd", "--help"), None);
    }
}
