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
    /// An IPv6 address with prefix length ([`Ipv6Cidr`](crate::types::Ipv6Cidr)), or an
    /// address of either family with one ([`IpCidr`](crate::types::IpCidr)).
    #[error("IPv6 CIDR {input:?} {reason}")]
    Ipv6Cidr {
        /// The rejected text (cut short if very long).
        input: String,
        /// What is wrong with it.
        reason: Ipv6Reason,
    },
    /// An inclusive IPv6 address range ([`Ipv6Range`](crate::types::Ipv6Range)).
    #[error("IPv6 range {input:?} {reason}")]
    Ipv6Range {
        /// The rejected text (cut short if very long).
        input: String,
        /// What is wrong with it.
        reason: Ipv6Reason,
    },
    /// A duration such as `1h30m` ([`Duration`](crate::types::Duration)).
    #[error("duration {input:?} {reason}")]
    Duration {
        /// The rejected text (cut short if very long).
        input: String,
        /// What is wrong with it.
        reason: DurationReason,
    },
    /// A bit rate such as `100mbit` or `10MB/s` ([`Rate`](crate::types::Rate)).
    #[error("rate {input:?} {reason}")]
    Rate {
        /// The rejected text (cut short if very long).
        input: String,
        /// What is wrong with it.
        reason: RateReason,
    },
    /// A size in bytes such as `64kb` ([`ByteSize`](crate::types::ByteSize)).
    #[error("size {input:?} {reason}")]
    ByteSize {
        /// The rejected text (cut short if very long).
        input: String,
        /// What is wrong with it.
        reason: ByteSizeReason,
    },
    /// A rate limit: a rate with an optional burst and peak
    /// ([`RateSpec`](crate::types::RateSpec)), also when converted from
    /// libvirt or CNI numbers (then `input` shows those numbers).
    #[error("rate limit {input:?} {reason}")]
    RateSpec {
        /// The rejected text (cut short if very long).
        input: String,
        /// What is wrong with it.
        reason: RateSpecReason,
    },
    /// An xl `rate=` value such as `10MB/s@20ms`, or the backend `rate` key
    /// read from xenstore ([`XlRate`](crate::types::XlRate)).
    #[error("xl rate {input:?} {reason}")]
    XlRate {
        /// The rejected text (cut short if very long).
        input: String,
        /// What is wrong with it.
        reason: XlRateReason,
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
    /// The name is `all` or `default`: the kernel refuses them (EINVAL), as they name the
    /// protocol settings of every interface under `/proc/sys/net/ipv4/conf/`.
    #[error("is reserved by the kernel: \"all\" and \"default\" name the settings in /proc/sys/net/ipv4/conf/ and cannot be interface names")]
    KernelReserved,
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

/// Why a text is not a valid IPv6 CIDR or IPv6 range.
///
/// ```
/// use hvnet_core::types::Ipv6Reason;
/// assert_eq!(Ipv6Reason::MissingPrefix.to_string(),
///     "has no prefix length; write it as address/length, e.g. fd42:100::1/64");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Ipv6Reason {
    /// The text is empty.
    #[error("is empty")]
    Empty,
    /// A CIDR has no `/length` part.
    #[error("has no prefix length; write it as address/length, e.g. fd42:100::1/64")]
    MissingPrefix,
    /// The prefix length is not a number from 0 to 128 (without leading zeros).
    #[error("has prefix length {prefix:?}; expected a number from 0 to 128 without leading zeros")]
    BadPrefix {
        /// The text after the `/` (cut short if very long).
        prefix: String,
    },
    /// Not an IPv6 address.
    #[error("contains {address:?}, which is not an IPv6 address")]
    BadAddress {
        /// The offending address (cut short if very long).
        address: String,
    },
    /// A range is not two addresses joined by `-`.
    #[error("is not of the form START-END, e.g. fd42:100::100-fd42:100::1ff")]
    MissingDash,
    /// A range starts after it ends.
    #[error("starts at {start}, which is after its end {end}")]
    Reversed {
        /// The first address given.
        start: std::net::Ipv6Addr,
        /// The last address given.
        end: std::net::Ipv6Addr,
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

/// Why a text is not a valid bit rate.
///
/// # Examples
///
/// ```
/// use hvnet_core::types::RateReason;
///
/// assert_eq!(RateReason::Zero.to_string(), "is 0; a rate of 0 would block all traffic");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RateReason {
    /// The text is empty.
    #[error("is empty; write e.g. 100mbit, 1.5gbit, 10MB/s or a whole number of bits per second")]
    Empty,
    /// The text starts with a minus sign.
    #[error("is negative; a rate must be above 0")]
    Negative,
    /// The rate is zero.
    #[error("is 0; a rate of 0 would block all traffic")]
    Zero,
    /// The text contains whitespace.
    #[error("contains whitespace; write the number and its unit together, e.g. 100mbit")]
    Whitespace,
    /// The text does not start with a digit.
    #[error("does not start with a number; write e.g. 100mbit or 10MB/s")]
    MissingNumber,
    /// The number part is not digits with at most one decimal point between
    /// digits.
    #[error("has number {number:?}, which is not a decimal number such as 100 or 1.5")]
    BadNumber {
        /// The number text (cut short if very long).
        number: String,
    },
    /// The number has a leading zero, which xl reads as octal.
    #[error(
        "has number {number:?} with a leading zero, which xl would read as octal; write it without"
    )]
    LeadingZero {
        /// The number text (cut short if very long).
        number: String,
    },
    /// A tc-style unit that is not one of the known ones.
    #[error(
        "has unknown unit {unit:?}; use a tc unit (bit, kbit, mbit, gbit, tbit, kibit, mibit, gibit, tibit; bps, kbps, mbps, gbps, tbps, kibps, mibps, gibps, tibps, where bps means bytes per second), an xl unit (b/s, Kb/s, Mb/s, Gb/s, B/s, KB/s, MB/s, GB/s) or no unit for bits per second"
    )]
    UnknownUnit {
        /// The unit text (cut short if very long).
        unit: String,
    },
    /// A unit ending in `/s` that is not one of xl's.
    #[error(
        "has unit {unit:?}; xl-style units are b/s, Kb/s, Mb/s, Gb/s (bits) and B/s, KB/s, MB/s, GB/s (bytes), with K, M and G in upper case"
    )]
    XlUnit {
        /// The unit text (cut short if very long).
        unit: String,
    },
    /// The value has a fractional number of bits per second.
    #[error("is not a whole number of bits per second")]
    NotWhole,
    /// The number has more significant decimal places than are considered.
    #[error("has more than {max} significant decimal places")]
    TooManyDecimals {
        /// The most significant decimal places accepted.
        max: usize,
    },
    /// The value does not fit in 64 bits.
    #[error("is too large; the largest rate is 18446744073709551615bit (about 18 Ebit/s)")]
    Overflow,
}

/// Why a text is not a valid size in bytes.
///
/// # Examples
///
/// ```
/// use hvnet_core::types::ByteSizeReason;
///
/// assert_eq!(ByteSizeReason::Zero.to_string(), "is 0; a size must be at least 1 byte");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ByteSizeReason {
    /// The text is empty.
    #[error("is empty; write e.g. 64kb, 1.5mb, 64KiB or a whole number of bytes")]
    Empty,
    /// The text starts with a minus sign.
    #[error("is negative; a size must be at least 1 byte")]
    Negative,
    /// The size is zero.
    #[error("is 0; a size must be at least 1 byte")]
    Zero,
    /// The text contains whitespace.
    #[error("contains whitespace; write the number and its unit together, e.g. 64kb")]
    Whitespace,
    /// The text does not start with a digit.
    #[error("does not start with a number; write e.g. 64kb")]
    MissingNumber,
    /// The number part is not digits with at most one decimal point between
    /// digits.
    #[error("has number {number:?}, which is not a decimal number such as 64 or 1.5")]
    BadNumber {
        /// The number text (cut short if very long).
        number: String,
    },
    /// The number has a leading zero.
    #[error("has number {number:?} with a leading zero; write it without")]
    LeadingZero {
        /// The number text (cut short if very long).
        number: String,
    },
    /// A bit-based unit such as `kbit`, which tc reads in a surprising way.
    #[error(
        "has unit {unit:?}; sizes are written in bytes (tc reads a size of 1kbit as 128 bytes, not 125), e.g. 64kb or 65536"
    )]
    BitUnit {
        /// The unit text (cut short if very long).
        unit: String,
    },
    /// A unit that is not one of the known ones.
    #[error(
        "has unknown unit {unit:?}; use b, k, kb, KiB, m, mb, MiB, g, gb or GiB (all powers of 1024, as tc reads them) or no unit for bytes"
    )]
    UnknownUnit {
        /// The unit text (cut short if very long).
        unit: String,
    },
    /// The value has a fractional number of bytes.
    #[error("is not a whole number of bytes")]
    NotWhole,
    /// The number has more significant decimal places than are considered.
    #[error("has more than {max} significant decimal places")]
    TooManyDecimals {
        /// The most significant decimal places accepted.
        max: usize,
    },
    /// The value does not fit in 64 bits.
    #[error("is too large; the largest size is 18446744073709551615 bytes")]
    Overflow,
}

/// Why a rate limit (a rate with optional burst and peak) is not valid.
///
/// # Examples
///
/// ```
/// use hvnet_core::types::RateSpecReason;
///
/// assert_eq!(
///     RateSpecReason::Repeated { keyword: "burst" }.to_string(),
///     "gives \"burst\" more than once"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RateSpecReason {
    /// The text is empty or only whitespace.
    #[error("is empty; write a rate such as 100mbit, optionally followed by \"burst 64kb\" and/or \"peak 200mbit\"")]
    Empty,
    /// The text starts with a keyword instead of the rate.
    #[error("starts with {keyword:?}; the rate comes first, e.g. 100mbit burst 64kb")]
    MissingRate {
        /// The keyword found first.
        keyword: &'static str,
    },
    /// A word after the rate is neither `burst` nor `peak`.
    #[error(
        "has {word:?} where \"burst\" or \"peak\" was expected (write numbers and units together, e.g. 100mbit burst 64kb peak 200mbit)"
    )]
    UnexpectedWord {
        /// The offending word (cut short if very long).
        word: String,
    },
    /// A keyword is the last word, with no value after it.
    #[error("has {keyword:?} without a value after it")]
    MissingValue {
        /// The keyword.
        keyword: &'static str,
    },
    /// The value after `burst` or `peak` is invalid.
    #[error("has an invalid {keyword}: {message}")]
    BadValue {
        /// The keyword.
        keyword: &'static str,
        /// What is wrong with the value.
        message: String,
    },
    /// A keyword is given twice.
    #[error("gives {keyword:?} more than once")]
    Repeated {
        /// The keyword.
        keyword: &'static str,
    },
    /// xl's interval form (`100Mb/s@20ms`) together with `burst`: the
    /// interval already sets the bucket.
    #[error("gives both an xl interval (@...) and \"burst\"; the interval sets the bucket as netback's credit does (the bytes per interval, at least 128 KiB), so give one or the other")]
    IntervalWithBurst,
    /// The peak rate is below the rate.
    #[error("has peak {peak}, which is below the rate {rate}; the peak must be at least the rate")]
    PeakBelowRate {
        /// The rate.
        rate: crate::types::Rate,
        /// The (lower) peak.
        peak: crate::types::Rate,
    },
    /// A libvirt or CNI field is 0, which that tool reads as "no limit".
    #[error(
        "sets {field} to 0, which {tool} reads as no limit; a rate limit needs a rate above 0 (leave the limit out for none)"
    )]
    Unlimited {
        /// The tool whose convention this is (`libvirt`, `CNI`).
        tool: &'static str,
        /// The field that is 0.
        field: &'static str,
    },
    /// A CNI rate is given without a burst.
    #[error("sets a rate but no burst; CNI requires both (the burst in bits)")]
    MissingBurst,
    /// A CNI burst is less than one byte.
    #[error("has a burst of {bits} bit(s), which is less than one byte")]
    BurstBelowOneByte {
        /// The burst in bits.
        bits: u64,
    },
    /// A CNI burst of 4 GB or more, which CNI refuses.
    #[error("has a burst of {bits} bits; CNI refuses bursts of 4 GB (2^32 - 1 bytes) or more")]
    BurstTooLarge {
        /// The burst in bits.
        bits: u64,
    },
    /// A libvirt value does not fit in 64 bits once converted to bits per
    /// second or bytes.
    #[error("is too large: {field} does not fit in 64 bits once converted")]
    Overflow {
        /// The field that overflows.
        field: &'static str,
    },
}

/// Why a text is not a valid xl `rate=` value (or xenstore backend `rate`
/// key).
///
/// The messages of the variants that correspond to an xl error contain xl's
/// own wording (`no rate specified`, `invalid rate`, `rate overflow`,
/// `invalid replenishment interval`, `replenishment interval overflow`).
///
/// # Examples
///
/// ```
/// use hvnet_core::types::XlRateReason;
///
/// assert!(XlRateReason::NoRate.to_string().starts_with("has no rate specified"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum XlRateReason {
    /// The part before `@` is empty (xl: EINVAL "no rate specified").
    #[error("has no rate specified; write RATE[@INTERVAL], e.g. 100Mb/s@20ms")]
    NoRate,
    /// The rate part is not `DIGITS[K|M|G](b|B)/s` (xl: EINVAL
    /// "invalid rate").
    #[error(
        "has invalid rate {part:?}; xl expects digits, then optionally K, M or G, then b/s (bits) or B/s (bytes), e.g. 100Mb/s or 10MB/s"
    )]
    InvalidRate {
        /// The rate part (cut short if very long).
        part: String,
    },
    /// The rate number starts with `0` (octal for xl) but contains `8` or
    /// `9`. xl would silently read only the digits before them; hvnet
    /// refuses.
    #[error(
        "has invalid rate {part:?}: xl reads a number with a leading 0 as octal, where 8 and 9 are not digits; write it without the leading 0"
    )]
    BadOctalRate {
        /// The rate part (cut short if very long).
        part: String,
    },
    /// The rate number is 0 or above 4294967295, or bytes per second times
    /// the interval in µs does not fit in 64 bits (xl: EOVERFLOW
    /// "rate overflow").
    #[error(
        "has rate overflow in {part:?}: the number must be from 1 to 4294967295, and bytes per second × interval in µs must fit in 64 bits"
    )]
    RateOverflow {
        /// The offending part (cut short if very long).
        part: String,
    },
    /// The interval part is not `DIGITS[m|u][s]` (xl: EINVAL
    /// "invalid replenishment interval").
    #[error(
        "has invalid replenishment interval {part:?}; write digits then s, ms or us (m and u also work; a bare number means seconds), e.g. 20ms"
    )]
    InvalidInterval {
        /// The interval part (cut short if very long).
        part: String,
    },
    /// The interval number starts with `0` (octal for xl) but contains `8`
    /// or `9`; hvnet refuses it (see [`BadOctalRate`](Self::BadOctalRate)).
    #[error(
        "has invalid replenishment interval {part:?}: xl reads a number with a leading 0 as octal, where 8 and 9 are not digits; write it without the leading 0"
    )]
    BadOctalInterval {
        /// The interval part (cut short if very long).
        part: String,
    },
    /// The interval is 0 or above 4294967295 µs (xl: EOVERFLOW
    /// "replenishment interval overflow").
    #[error(
        "has replenishment interval overflow in {part:?}: the interval must be from 1 µs to 4294967295 µs (about 71 minutes)"
    )]
    IntervalOverflow {
        /// The interval part (cut short if very long).
        part: String,
    },
    /// The bytes per interval truncate to 0. xl accepts this and writes
    /// `0,<interval>`, which stops the guest from transmitting at all; hvnet
    /// refuses.
    #[error(
        "would block the guest: {bytes_per_sec} bytes per second × {interval_usecs} µs truncates to 0 bytes per interval, and netback lets nothing through with 0 credit; use a higher rate or a longer interval"
    )]
    BlocksGuest {
        /// The rate in bytes per second, as xl computes it.
        bytes_per_sec: u64,
        /// The replenishment interval in µs.
        interval_usecs: u32,
    },
    /// A xenstore value (or [`XlRate::new`](crate::types::XlRate::new))
    /// with 0 bytes per interval.
    #[error("would block the guest: 0 bytes per interval means netback never lets it transmit")]
    ZeroCredit,
    /// A xenstore `rate` value that is not `BYTES,MICROSECONDS`.
    #[error("is not BYTES,MICROSECONDS as netback reads the backend rate key, e.g. 250000,20000")]
    BadXenstore,
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
