//! Checks of a valid config against the host that must pass before anything is written,
//! reported like validation errors (FILE:LINE:COL, exit 2). The host facts come in as
//! plain data (hvnet-linux reads them), so the checks stay pure.

use std::collections::BTreeSet;

use crate::config::{Config, ConfigError, NicType};

/// Every veth NIC's `netns` must name an existing network namespace (one of `existing`,
/// the names under `/run/netns`): the veth's peer is moved into it, and a missing one
/// would fail only in the middle of an apply.
///
/// ```
/// use std::collections::BTreeSet;
/// use hvnet_core::{config::Config, preflight::check_netns};
/// let cfg = Config::parse("[[network]]\nname='n'\nkind='internal'\nbridge='br0'\n\
///     [[guest]]\nname='c'\n[[guest.nic]]\nnetwork='n'\ntype='veth'\nnetns='box'\n", "h.toml").unwrap();
/// let err = check_netns(&cfg, &BTreeSet::new()).unwrap_err();
/// assert!(err.to_string().starts_with("h.toml:10:7: guest[0].nic[0].netns: network namespace \"box\" does not exist"));
/// assert!(check_netns(&cfg, &BTreeSet::from(["box".to_string()])).is_ok());
/// ```
///
/// # Errors
///
/// One diagnostic per veth NIC whose namespace is missing.
pub fn check_netns(config: &Config, existing: &BTreeSet<String>) -> Result<(), ConfigError> {
    netns_of(config, |_| true, existing)
}

/// [`check_netns`] for the veth NICs of one guest (`hvnet guest up NAME`).
///
/// # Errors
///
/// One diagnostic per veth NIC of `guest` whose namespace is missing.
pub fn check_guest_netns(
    config: &Config,
    guest: &str,
    existing: &BTreeSet<String>,
) -> Result<(), ConfigError> {
    netns_of(config, |g| g == guest, existing)
}

fn netns_of(
    config: &Config,
    which: impl Fn(&str) -> bool,
    existing: &BTreeSet<String>,
) -> Result<(), ConfigError> {
    let mut diagnostics = Vec::new();
    for (gi, g) in config.guests.iter().enumerate() {
        if !which(&g.name) {
            continue;
        }
        for (ni, nic) in g.nics.iter().enumerate() {
            let NicType::Veth { netns, .. } = &nic.kind else {
                continue;
            };
            if existing.contains(netns) {
                continue;
            }
            diagnostics.push(config.diagnostic(
                &format!("guest[{gi}].nic[{ni}].netns"),
                format!(
                    "network namespace {netns:?} does not exist (no /run/netns/{netns}): create it first (ip netns add {netns}); nothing was changed"
                ),
            ));
        }
    }
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(ConfigError { diagnostics })
    }
}
