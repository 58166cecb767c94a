//! The TOML file as written, with the span of every value, before validation.
//!
//! Everything that needs a typed parse (names, MACs, CIDRs) stays a spanned string here so
//! that `validate` can report *every* problem with its line, not only the first.

use serde::Deserialize;
use toml::Spanned;

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub host: Option<S<RawHost>>,
    #[serde(default)]
    pub network: Vec<S<RawNetwork>>,
    #[serde(default)]
    pub guest: Vec<S<RawGuest>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHost {
    pub mac_prefix: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetwork {
    pub name: S<String>,
    pub kind: S<String>,
    pub bridge: S<String>,
    pub address: Option<S<String>>,
    pub mtu: Option<S<i64>>,
    pub stp: Option<S<bool>>,
    pub forward_delay: Option<S<i64>>,
    pub lifetime: Option<S<String>>,
    pub uplink: Option<S<String>>,
    pub mac: Option<S<String>>,
    /// Aggregate limit between the network and the host (and beyond).
    pub rate: Option<S<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGuest {
    pub name: S<String>,
    #[serde(default)]
    pub nic: Vec<S<RawNic>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNic {
    pub network: S<String>,
    #[serde(rename = "type")]
    pub kind: Option<S<String>>,
    pub ifname: Option<S<String>>,
    pub mac: Option<S<String>>,
    pub netns: Option<S<String>>,
    pub peer: Option<S<String>>,
    pub vnet_hdr: Option<S<bool>>,
    /// Tap owner: a uid or a user name.
    pub owner: Option<S<toml::Value>>,
    /// Tap group: a gid or a group name.
    pub group: Option<S<toml::Value>>,
    pub queues: Option<S<i64>>,
    /// A rate string (both directions) or a table `{ egress, ingress, burst }`.
    pub rate: Option<S<toml::Value>>,
}
