//! A guest's MAC plan (`hvnet guest macs NAME`): as a table, or as seed 000's
//! `GUEST_NAME_setmac.sh`.
//!
//! ```
//! use hvnet_core::{config::Config, observed::ObservedState, resolve::resolve};
//! use hvnet_kvm::{guest_nics, macs, KvmBackend};
//! let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='br0'\n\
//!     [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='n'\nmac='52:54:00:0a:bc:de'\n",
//!     "x.toml").unwrap();
//! let want = resolve(&cfg, &ObservedState::default(), &KvmBackend);
//! let nics = guest_nics(&cfg, &cfg.guests[0], &want).unwrap();
//! assert_eq!(macs::setmac(&nics), "export ethmacVM1=52:54:00:0A:BC:DE\n");
//! assert_eq!(macs::plain(&nics), "NIC  NETWORK  IFNAME  MAC\n0    n        vnet0   52:54:00:0a:bc:de\n");
//! ```

use crate::GuestNic;

/// Seed 000's `GUEST_NAME_setmac.sh`: `export ethmacVM<i>=MAC` for the guest's NICs in
/// order (i from 1; the seed's guests have four: external bridge, NAT, static virtual
/// network, guest-internal network), MACs in upper-case hex as the seed writes them.
/// The file is meant to be sourced by the seed's scripts.
pub fn setmac(nics: &[GuestNic<'_>]) -> String {
    nics.iter()
        .map(|n| {
            format!(
                "export ethmacVM{}={}\n",
                n.index + 1,
                n.nic.mac.to_string().to_uppercase()
            )
        })
        .collect()
}

/// Like seed 000's `hv_guest_start -view`: `<network> network MAC = <MAC>` per NIC
/// (upper-case; a `type = "user"` NIC is the seed's `private` network).
///
/// ```
/// use hvnet_core::{config::Config, observed::ObservedState, resolve::resolve};
/// use hvnet_kvm::{guest_nics, macs, KvmBackend};
/// let cfg = Config::parse("[[network]]\nname='vnet'\nkind='internal'\nbridge='vmvnetbridge'\n\
///     [[guest]]\nname='g'\n[[guest.nic]]\nnetwork='vnet'\nmac='0a:ca:c3:23:05:01'\n\
///     [[guest.nic]]\ntype='user'\nmac='0a:c1:c3:23:05:01'\nsmb='/srv/share'\n", "x.toml").unwrap();
/// let want = resolve(&cfg, &ObservedState::default(), &KvmBackend);
/// let nics = guest_nics(&cfg, &cfg.guests[0], &want).unwrap();
/// assert_eq!(macs::view(&nics), "vnet network MAC = 0A:CA:C3:23:05:01\nprivate network MAC = 0A:C1:C3:23:05:01\n");
/// ```
pub fn view(nics: &[GuestNic<'_>]) -> String {
    nics.iter()
        .map(|n| {
            format!(
                "{} network MAC = {}\n",
                n.network_name().unwrap_or("private"),
                n.nic.mac.to_string().to_uppercase()
            )
        })
        .collect()
}

/// A table `NIC NETWORK IFNAME MAC`, one row per NIC, columns separated by at least two
/// spaces.
pub fn plain(nics: &[GuestNic<'_>]) -> String {
    let mut rows = vec![[
        "NIC".to_string(),
        "NETWORK".to_string(),
        "IFNAME".to_string(),
        "MAC".to_string(),
    ]];
    for n in nics {
        rows.push([
            n.index.to_string(),
            n.network_name().unwrap_or("(user)").to_string(),
            n.ifname
                .as_ref()
                .map_or_else(|| "-".to_string(), |i| i.to_string()),
            n.nic.mac.to_string(),
        ]);
    }
    let mut widths = [0usize; 4];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
