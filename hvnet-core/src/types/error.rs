//! [`TypeError`], the single error type returned when parsing or building any
//! of the validated value types in [`crate::types`].
//!
//! Every message names the offending text (quoted, with control characters
//! escaped) and says what is wrong with it, so it can be shown to a user as is.

use std::net::Ipv4Addr;

use thiserror::Error;

/// How many characters of a bad input are repeated in an error message before
/// it is cut short with `…`.
const MAX_SHOWN_CHARS: usize = 64;

/// Returns `input`, cut to [`MAX_SHOWN_CHARS`] characters, for use in a message.
pub(crate) fn shown(input: &str) -> String {
    match input.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &input[..cut]),
        None => input.to_owned(),
    }
}

/// Why a text could not be turned into one of the [`crate::types`] values.
///
/// There is one variant per type; each carries the offending `input` and a
/// `reason` enum that callers may match on. The [`Display`](std::fmt::Display)
/// form is a complete, human-readable sentence fragment such as
/// `interface name "virbr-very-long-name" is 20 bytes; Linux allows at most 15`.
///
/// # Examples
///
/// ```
/// use hvnet_core::types::{IfName, IfNameReason, TypeError};
///
/// let err = IfName::new("virbr-very-long-name").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "interface name \"virbr-very-long-name\" is 20 bytes; Linux allows at most 15"
/// );
/// assert!(matches!(
///     err,
///     TypeError::IfName { reason: IfNameReason::TooLong { len: 20 }, .. }
/// ));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TypeError {
    /// A Linux network interface name ([`IfName`](crate::types::IfName)).
    #[error("interface name {input:?} {reason}")]
    IfName {
        /// The rejected text (cut short if very long).
        input: String,
        /// What is wrong with it.
        reason: IfNameReason,
    },
    /// A MAC address ([`MacAddr`](crate::types::MacAddr)).
    #[error("MAC address {input:?} {reason}")]
    MacAddr {
        /// The rejected text (cut short if very long).
        input: String,
        /// What is wrong with it.
        reason: MacReason,
    },
    /// A MAC address prefix ([`MacPrefix`](crate::types::MacPrefix)).
    #[error("MAC prefix {input:?} {reason}")]
    MacPrefix {
        /// The rejected text (cut short if very long).
        input: String,
        /// What is wrong with it.
        reason: MacReason,
    },
    /// An IPv4 address with prefix length ([`Ipv4Cidr`](crate::types::Ipv4Cidr)).
    #[error("IPv4 CIDR {input:?} {reason}")]
    Ipv4Cidr {
        /// The rejected text (cut short if very long).
        input: String,
        /// What is wrong with it.
        reason: Ipv4Reason,
    },
    /// An inclusive IPv4 address range ([`Ipv4Range`](crate::types::Ipv4Range)).
    #[error("IPv4 range {input:?} {reason}")]
    Ipv4Range {
        /// The rejected text (cut short if very long).
        input: String,
        /// What is wrong with it.
        reason: Ipv4Reason,
    },
    /// A duration such as `1h30m` ([`Duration`](crate::types::Duration)).
    #[error("duration {input:?} {reason}")]
    Duration {
        /// The rejected text (cut short if very long).
        input: String,
        /// What is wrong with it.
        reason: DurationReason,
    },
}

/// Why a text is not a valid Linux interface name.
///
/// # Examples
///
/// ```
/// use hvnet_core::types::IfNameReason;
///
/// assert_eq!(IfNameReason::TooLong { len: 16 }.to_string(), "is 16 bytes; Linux allows at most 15");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IfNameReason {
    /// The name is the empty string.
    #[error("is empty")]
    Empty,
    /// The name is longer than `IFNAMSIZ - 1` (15) bytes.
    #[error("is {len} bytes; Linux allows at most 15")]
    TooLong {
        /// The length of the name in bytes (UTF-8).
        len: usize,
    },
    /// The name is `.` or `..`, which the kernel refuses.
    #[error("is reserved; \".\" and \"..\" cannot be interface names")]
    Reserved,
    /// The name contains a character the kernel refuses (`/`, `:`,
    /// whitespace), one it would treat as a template (`%`), or a control
    /// character.
    #[error(
        "contains {ch:?}; interface names may not contain '/', ':', '%', whitespace or control characters"
    )]
    ForbiddenChar {
        /// The first offending character.
        ch: char,
    },
}

/// Why a text is not a valid MAC address or MAC prefix.
///
/// # Examples
///
/// ```
/// use hvnet_core::types::MacReason;
///
/// assert_eq!(MacReason::MixedSeparators.to_string(), "mixes ':' and '-' separators");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MacReason {
    /// The text is empty.
    #[error("is empty")]
    Empty,
    /// Both `:` and `-` were used as separators.
    #[error("mixes ':' and '-' separators")]
    MixedSeparators,
    /// A MAC address did not have exactly six groups.
    #[error(
        "has {found} group(s); a MAC address is exactly 6 groups of two hex digits separated by ':' or '-', e.g. 52:54:00:d7:8d:61"
    )]
    WrongGroupCount {
        /// How many separator-delimited groups were found.
        found: usize,
    },
    /// A MAC prefix did not have between one and five octets.
    #[error("has {found} octet(s); a MAC prefix has 1 to 5, e.g. 52:54:00")]
    WrongPrefixLength {
        /// How many octets were found.
        found: usize,
    },
    /// A group was not exactly two hexadecimal digits.
    #[error("has group {position} {group:?}, which is not two hex digits")]
    BadGroup {
        /// The 1-based position of the group.
        position: usize,
        /// The offending group (cut short if very long).
        group: String,
    },
    /// A prefix's first octet has the multicast (I/G) bit set, so every
    /// address built from it would be a multicast address.
    #[error("starts with {first:02x}, which has the multicast bit set; a prefix for guest MACs must be unicast")]
    Multicast {
        /// The first octet of the prefix.
        first: u8,
    },
}

/// Why a text is not a valid IPv4 CIDR or IPv4 range.
///
/// # Examples
///
/// ```
/// use hvnet_core::types::Ipv4Reason;
///
/// let reason = Ipv4Reason::OctetOutOfRange { octet: "256".into() };
/// assert_eq!(reason.to_string(), "has octet \"256\", which is greater than 255");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Ipv4Reason {
    /// The text is empty.
    #[error("is empty")]
    Empty,
    /// A CIDR has no `/length` part.
    #[error("has no prefix length; write it as address/length, e.g. 192.168.122.1/24")]
    MissingPrefix,
    /// The prefix length is not a number from 0 to 32 (without leading zeros).
    #[error("has prefix length {prefix:?}; expected a number from 0 to 32 without leading zeros")]
    BadPrefix {
        /// The text after the `/` (cut short if very long).
        prefix: String,
    },
    /// An address does not have exactly four dot-separated parts.
    #[error(
        "contains {address:?}, which has {found} dot-separated part(s); an IPv4 address has 4"
    )]
    OctetCount {
        /// The offending address (cut short if very long).
        address: String,
        /// How many parts were found.
        found: usize,
    },
    /// An octet is empty or contains something other than decimal digits.
    #[error("has octet {octet:?}, which is not a decimal number")]
    BadOctet {
        /// The offending octet (cut short if very long).
        octet: String,
    },
    /// An octet is a number above 255.
    #[error("has octet {octet:?}, which is greater than 255")]
    OctetOutOfRange {
        /// The offending octet (cut short if very long).
        octet: String,
    },
    /// An octet has a leading zero, which some tools read as octal.
    #[error(
        "has octet {octet:?} with a leading zero, which some tools read as octal; write it without"
    )]
    LeadingZero {
        /// The offending octet (cut short if very long).
        octet: String,
    },
    /// A range is not two addresses joined by `-`.
    #[error("is not of the form START-END, e.g. 192.168.122.2-192.168.122.254")]
    MissingDash,
    /// A range starts after it ends.
    #[error("starts at {start}, which is after its end {end}")]
    Reversed {
        /// The first address given.
        start: Ipv4Addr,
        /// The last address given.
        end: Ipv4Addr,
    },
}

/// Why a text is not a valid duration.
///
/// # Examples
///
/// ```
/// use hvnet_core::types::DurationReason;
///
/// let reason = DurationReason::UnknownUnit { unit: "sec".into() };
/// assert_eq!(reason.to_string(), "has unknown unit \"sec\"; use ms, s, m, h or d");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DurationReason {
    /// The text is empty.
    #[error("is empty; write e.g. 30s, 250ms, 1h30m or a whole number of seconds")]
    Empty,
    /// The text starts with a minus sign.
    #[error("is negative; durations must be zero or more")]
    Negative,
    /// The text contains whitespace.
    #[error("contains whitespace; write the parts together, e.g. 1h30m")]
    Whitespace,
    /// A number has a decimal point or comma.
    #[error("has a fractional part; use a smaller unit instead, e.g. 1500ms rather than 1.5s")]
    Fraction,
    /// A unit is not preceded by a number.
    #[error("has unit {unit:?} without a number before it")]
    MissingNumber {
        /// The unit text (cut short if very long).
        unit: String,
    },
    /// A number in a multi-part duration has no unit.
    #[error(
        "has {number:?} without a unit; a bare number means seconds only when it stands alone (use ms, s, m, h or d)"
    )]
    MissingUnit {
        /// The number text (cut short if very long).
        number: String,
    },
    /// A unit is not one of `ms`, `s`, `m`, `h`, `d`.
    #[error("has unknown unit {unit:?}; use ms, s, m, h or d")]
    UnknownUnit {
        /// The unit text (cut short if very long).
        unit: String,
    },
    /// Units are repeated or not from largest to smallest.
    #[error("has unit {unit:?} after {previous:?}; write each unit at most once, largest first, e.g. 1h30m")]
    UnitOrder {
        /// The out-of-order unit.
        unit: &'static str,
        /// The unit before it.
        previous: &'static str,
    },
    /// A character that is neither a digit nor a unit letter.
    #[error("contains {ch:?}, which is neither a digit nor a unit")]
    UnexpectedChar {
        /// The offending character.
        ch: char,
    },
    /// The total does not fit in the supported range.
    #[error("is too large")]
    Overflow,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_keeps_short_input() {
        assert_eq!(shown(""), "");
        assert_eq!(shown("br0"), "br0");
        let exact: String = "x".repeat(MAX_SHOWN_CHARS);
        assert_eq!(shown(&exact), exact);
    }

    #[test]
    fn shown_cuts_long_input_on_a_char_boundary() {
        let long: String = "é".repeat(MAX_SHOWN_CHARS + 10);
        let cut = shown(&long);
        assert!(cut.ends_with('…'));
        assert_eq!(cut.chars().count(), MAX_SHOWN_CHARS + 1);
    }

    #[test]
    fn messages_quote_and_escape_input() {
        let err = TypeError::IfName {
            input: "a\nb".into(),
            reason: IfNameReason::ForbiddenChar { ch: '\n' },
        };
        let msg = err.to_string();
        assert!(
            msg.starts_with("interface name \"a\\nb\" contains '\\n'"),
            "{msg}"
        );
    }

    #[test]
    fn error_is_send_sync_static() {
        fn check<T: Send + Sync + 'static + std::error::Error>() {}
        check::<TypeError>();
    }
}
