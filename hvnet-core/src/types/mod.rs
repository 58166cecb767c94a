//! Validated value types: parsed once at the edge, then trusted everywhere.
//!
//! | Type | Example | Notes |
//! |------|---------|-------|
//! | [`IfName`] | `virbr0` | Linux interface name, 1–15 bytes |
//! | [`MacAddr`] | `52:54:00:d7:8d:61` | any 48-bit MAC; helpers for stable derivation |
//! | [`MacPrefix`] | `52:54:00` | 1–5 leading octets, unicast |
//! | [`Ipv4Cidr`] | `192.168.122.1/24` | an address *and* its prefix length |
//! | [`Ipv4Range`] | `192.168.122.2-192.168.122.254` | inclusive |
//! | [`Ipv6Cidr`] | `fd42:100::1/64` | an IPv6 address *and* its prefix length |
//! | [`Ipv6Range`] | `fd42:100::100-fd42:100::1ff` | inclusive |
//! | [`IpCidr`] | either of the CIDRs | what addresses and routes carry |
//! | [`Duration`] | `1h30m`, `250ms`, `15` | millisecond precision |
//! | [`Rate`] | `100mbit`, `1.5gbit`, `10MB/s` | bits per second; tc, xl and bare-number dialects |
//! | [`ByteSize`] | `64kb`, `64KiB`, `65536` | bytes, tc's 1024-based units |
//! | [`RateSpec`] | `100mbit burst 64kb peak 200mbit` | a rate limit; also from libvirt and CNI numbers |
//! | [`XlRate`] | `10MB/s@20ms` | xl's `rate=`, exactly as libxlutil parses it |
//!
//! Every type implements [`FromStr`](std::str::FromStr) and
//! [`Display`](std::fmt::Display) (the canonical form, which parses back to an
//! equal value), and serde's `Serialize` (as that string) and `Deserialize`
//! (from a string, through `FromStr`, so a bad value in a TOML file is reported
//! with our own message). All parsing errors are a [`TypeError`].
//!
//! # Examples
//!
//! ```
//! use hvnet_core::types::{Duration, IfName, Ipv4Cidr, MacAddr};
//!
//! # fn main() -> Result<(), hvnet_core::types::TypeError> {
//! let bridge: IfName = "virbr0".parse()?;
//! let mac: MacAddr = "52-54-00-D7-8D-61".parse()?;
//! let net: Ipv4Cidr = "192.168.122.1/24".parse()?;
//! let delay: Duration = "90m".parse()?;
//! assert_eq!(bridge.as_str(), "virbr0");
//! assert_eq!(mac.to_string(), "52:54:00:d7:8d:61");
//! assert_eq!(net.network().to_string(), "192.168.122.0");
//! assert_eq!(delay.to_string(), "1h30m");
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

/// Implements `Serialize` (via `Display`) and `Deserialize` (from a string, via
/// `FromStr`, keeping the `TypeError` message) for a type.
macro_rules! serde_via_str {
    ($ty:ty, $expecting:literal) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct StrVisitor;

                impl serde::de::Visitor<'_> for StrVisitor {
                    type Value = $ty;

                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }

                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                }

                deserializer.deserialize_str(StrVisitor)
            }
        }
    };
}

mod cidr;
mod cidr6;
mod duration;
mod error;
mod ifname;
mod mac;
mod rate;
mod xl_rate;

pub use cidr::{Ipv4Cidr, Ipv4Range};
pub use cidr6::{IpCidr, Ipv6Cidr, Ipv6Range};
pub use duration::Duration;
pub use error::{
    ByteSizeReason, DurationReason, IfNameReason, Ipv4Reason, Ipv6Reason, MacReason, RateReason,
    RateSpecReason, TypeError, XlRateReason,
};
pub use ifname::IfName;
pub use mac::{stable_hash64, MacAddr, MacPrefix};
pub use rate::{ByteSize, Rate, RateSpec};
pub use xl_rate::XlRate;

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Net {
        bridge: IfName,
        mac: MacAddr,
        prefix: MacPrefix,
        address: Ipv4Cidr,
        dhcp: Ipv4Range,
        forward_delay: Duration,
    }

    const GOOD: &str = r#"
bridge = "virbr0"
mac = "52:54:00:d7:8d:61"
prefix = "52:54:00"
address = "192.168.122.1/24"
dhcp = "192.168.122.2-192.168.122.254"
forward_delay = "15s"
"#;

    fn with(field: &str, value: &str) -> String {
        GOOD.lines()
            .map(|l| {
                if l.starts_with(&format!("{field} =")) {
                    format!("{field} = {value}")
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn toml_round_trip() {
        let net: Net = toml::from_str(GOOD).unwrap();
        assert_eq!(net.bridge, "virbr0");
        assert_eq!(net.forward_delay, Duration::from_secs(15));
        let text = toml::to_string(&net).unwrap();
        assert!(text.contains("mac = \"52:54:00:d7:8d:61\""), "{text}");
        assert!(text.contains("forward_delay = \"15s\""), "{text}");
        let again: Net = toml::from_str(&text).unwrap();
        assert_eq!(again, net);
    }

    #[test]
    fn toml_errors_carry_our_messages() {
        let cases = [
            (
                "bridge",
                r#""virbr-very-long-name""#,
                "interface name \"virbr-very-long-name\" is 20 bytes; Linux allows at most 15",
            ),
            (
                "mac",
                r#""52:54:00:d7:8d""#,
                "MAC address \"52:54:00:d7:8d\" has 5 group(s)",
            ),
            ("prefix", r#""01:00:5e""#, "has the multicast bit set"),
            ("address", r#""192.168.122.1""#, "has no prefix length"),
            (
                "dhcp",
                r#""192.168.122.9-192.168.122.2""#,
                "starts at 192.168.122.9",
            ),
            ("forward_delay", r#""15 s""#, "contains whitespace"),
            ("forward_delay", "-3", "is negative"),
        ];
        for (field, value, fragment) in cases {
            let err = toml::from_str::<Net>(&with(field, value)).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(fragment), "{field} = {value}: {msg}");
        }
    }

    #[test]
    fn toml_wrong_type_says_what_was_expected() {
        let err = toml::from_str::<Net>(&with("bridge", "5")).unwrap_err();
        assert!(err.to_string().contains("interface name"), "{err}");
        let err = toml::from_str::<Net>(&with("address", "true")).unwrap_err();
        assert!(err.to_string().contains("CIDR"), "{err}");
    }

    #[test]
    fn toml_duration_accepts_bare_integer_seconds() {
        let net: Net = toml::from_str(&with("forward_delay", "2")).unwrap();
        assert_eq!(net.forward_delay, Duration::from_secs(2));
    }
}
