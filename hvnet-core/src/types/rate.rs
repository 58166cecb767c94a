//! [`Rate`] (a bit rate), [`ByteSize`] (a burst size) and [`RateSpec`] (a
//! rate limit: a rate with an optional burst and peak), in the dialects users
//! bring from tc, xl, libvirt and CNI.

use std::fmt;
use std::str::FromStr;

use super::error::{shown, ByteSizeReason, RateReason, RateSpecReason, TypeError};

/// The most significant decimal places a number may have (after trailing
/// zeros are dropped). Keeps the exact arithmetic within 128 bits.
const MAX_DECIMALS: usize = 24;

/// tc's rate units (iproute2 `get_rate64`, matched case-insensitively), in
/// bits per second.
const TC_RATE_UNITS: [(&str, u64); 18] = [
    ("bit", 1),
    ("kbit", 1_000),
    ("mbit", 1_000_000),
    ("gbit", 1_000_000_000),
    ("tbit", 1_000_000_000_000),
    ("kibit", 1 << 10),
    ("mibit", 1 << 20),
    ("gibit", 1 << 30),
    ("tibit", 1 << 40),
    ("bps", 8),
    ("kbps", 8_000),
    ("mbps", 8_000_000),
    ("gbps", 8_000_000_000),
    ("tbps", 8_000_000_000_000),
    ("kibps", 8 << 10),
    ("mibps", 8 << 20),
    ("gibps", 8 << 30),
    ("tibps", 8 << 40),
];

/// xl's rate units (case-sensitive), in bits per second.
const XL_RATE_UNITS: [(&str, u64); 8] = [
    ("b/s", 1),
    ("Kb/s", 1_000),
    ("Mb/s", 1_000_000),
    ("Gb/s", 1_000_000_000),
    ("B/s", 8),
    ("KB/s", 8_000),
    ("MB/s", 8_000_000),
    ("GB/s", 8_000_000_000),
];

/// The units [`Rate`] is displayed in, largest first.
const RATE_DISPLAY_UNITS: [(&str, u64); 5] = [
    ("tbit", 1_000_000_000_000),
    ("gbit", 1_000_000_000),
    ("mbit", 1_000_000),
    ("kbit", 1_000),
    ("bit", 1),
];

/// Size units (matched case-insensitively), in bytes: tc's `get_size`
/// suffixes plus IEC ones.
const SIZE_UNITS: [(&str, u64); 10] = [
    ("b", 1),
    ("k", 1 << 10),
    ("kb", 1 << 10),
    ("kib", 1 << 10),
    ("m", 1 << 20),
    ("mb", 1 << 20),
    ("mib", 1 << 20),
    ("g", 1 << 30),
    ("gb", 1 << 30),
    ("gib", 1 << 30),
];

/// Bit-based size units, refused (tc reads `kbit` as 128 bytes).
const SIZE_BIT_UNITS: [&str; 8] = [
    "bit", "kbit", "mbit", "gbit", "kibit", "mibit", "gibit", "bits",
];

/// The units [`ByteSize`] is displayed in, largest first (tc's spelling).
const SIZE_DISPLAY_UNITS: [(&str, u64); 4] =
    [("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10), ("b", 1)];

/// What can be wrong with a decimal number once scaled by its unit.
enum DecimalError {
    Bad,
    LeadingZero,
    NotWhole,
    TooManyDecimals,
    Overflow,
}

/// Computes `number × scale` exactly, where `number` is `DIGITS[.DIGITS]`
/// without a leading zero in the whole part (`0.5` is fine, `05` is not).
fn scaled_decimal(number: &str, scale: u64) -> Result<u64, DecimalError> {
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (number, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
        return Err(DecimalError::Bad);
    }
    if whole.len() > 1 && whole.starts_with('0') {
        return Err(DecimalError::LeadingZero);
    }
    let fraction = fraction.map_or("", |f| f.trim_end_matches('0'));
    if fraction.len() > MAX_DECIMALS {
        return Err(DecimalError::TooManyDecimals);
    }
    let scale = u128::from(scale);
    let whole: u128 = whole.parse().map_err(|_| DecimalError::Overflow)?;
    let whole = whole.checked_mul(scale).ok_or(DecimalError::Overflow)?;
    let mut part = 0u128;
    if !fraction.is_empty() {
        // At most 24 digits, so below 10^24; times a scale below 2^44 this
        // stays far below 2^128.
        let digits: u128 = fraction.parse().map_err(|_| DecimalError::Bad)?;
        let denominator = fraction.bytes().fold(1u128, |d, _| d * 10);
        let scaled = digits * scale;
        if scaled % denominator != 0 {
            return Err(DecimalError::NotWhole);
        }
        part = scaled / denominator;
    }
    let total = whole.checked_add(part).ok_or(DecimalError::Overflow)?;
    u64::try_from(total).map_err(|_| DecimalError::Overflow)
}

/// Splits `text` into its leading number (digits and dots) and the rest.
fn split_number(text: &str) -> (&str, &str) {
    text.split_at(
        text.find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len()),
    )
}

/// A bit rate: a whole number of bits per second, always above 0.
///
/// Parsing accepts the dialects users bring:
///
/// * **tc** (iproute2 semantics): a number followed by a unit, matched
///   case-insensitively:
///   * bits per second: `bit`, `kbit`, `mbit`, `gbit`, `tbit` (powers of
///     1000) and `kibit`, `mibit`, `gibit`, `tibit` (powers of 1024);
///   * **bytes** per second: `bps`, `kbps`, `mbps`, `gbps`, `tbps` (powers
///     of 1000) and `kibps`, `mibps`, `gibps`, `tibps` (powers of 1024). As in
///     tc, `bps` means *bytes* per second, so `100mbps` is 800 Mbit/s;
/// * **xl** without an interval: `100Mb/s`, `1Gb/s`, `10MB/s`, `250KB/s`,
///   `1B/s`: `K`, `M`, `G` are powers of 1000 and must be upper case, `b` is
///   bits and `B` bytes. Unlike xl, which truncates a bit rate to whole bytes
///   per second, the rate is kept to the bit (`1Kb/s` is 1000 bit/s); for
///   xl's exact semantics, including the interval, see
///   [`XlRate`](crate::types::XlRate);
/// * a **bare number**: bits per second, as tc and CNI's `ingressRate` /
///   `egressRate` read it (`1000000`).
///
/// In every form the number may have a decimal fraction if the rate comes
/// to a whole number of bits per second (`1.5gbit`, `0.5kibit`, `12.5mbps`;
/// not `1.5bit`). Numbers may not have a leading zero (`010mbit`): xl reads
/// those as octal, tc as decimal, so they are refused rather than guessed.
/// Zero, negative, empty, whitespace-containing, unknown-unit and
/// out-of-range (above `u64::MAX` bits per second) values are refused.
///
/// [`Display`](fmt::Display) writes the canonical tc form: the largest of
/// `bit`, `kbit`, `mbit`, `gbit`, `tbit` that shows the rate exactly
/// (`100mbit`, `12500kbit`, `1500bit`), which parses back to an equal value
/// and can be passed to tc as is.
///
/// When deserialising, a non-negative integer is also accepted as bits per
/// second.
///
/// # Examples
///
/// ```
/// use hvnet_core::types::Rate;
///
/// # fn main() -> Result<(), hvnet_core::types::TypeError> {
/// let r: Rate = "100Mb/s".parse()?;
/// assert_eq!(r.bits_per_sec(), 100_000_000);
/// assert_eq!(r.to_string(), "100mbit");
/// assert_eq!("12.5mbps".parse::<Rate>()?.to_string(), "100mbit");
/// assert_eq!("1.5gbit".parse::<Rate>()?.bits_per_sec(), 1_500_000_000);
/// assert_eq!("1500".parse::<Rate>()?.to_string(), "1500bit");
/// assert!("0mbit".parse::<Rate>().is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rate(
    /// Bits per second, never 0.
    u64,
);

impl Rate {
    /// A rate of `bits` bits per second.
    ///
    /// # Errors
    ///
    /// [`TypeError::Rate`] with [`RateReason::Zero`] if `bits` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Rate;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!(Rate::from_bits_per_sec(12_500_000)?.to_string(), "12500kbit");
    /// assert!(Rate::from_bits_per_sec(0).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_bits_per_sec(bits: u64) -> Result<Self, TypeError> {
        if bits == 0 {
            return Err(TypeError::Rate {
                input: "0".to_owned(),
                reason: RateReason::Zero,
            });
        }
        Ok(Self(bits))
    }

    /// A rate of `bytes` bytes per second.
    ///
    /// # Errors
    ///
    /// [`TypeError::Rate`] with [`RateReason::Zero`] if `bytes` is 0, or
    /// [`RateReason::Overflow`] if `bytes × 8` does not fit in 64 bits.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Rate;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!(Rate::from_bytes_per_sec(125_000)?.to_string(), "1mbit");
    /// assert!(Rate::from_bytes_per_sec(u64::MAX).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_bytes_per_sec(bytes: u64) -> Result<Self, TypeError> {
        let bits = bytes.checked_mul(8).ok_or_else(|| TypeError::Rate {
            input: format!("{bytes}bps"),
            reason: RateReason::Overflow,
        })?;
        if bits == 0 {
            return Err(TypeError::Rate {
                input: "0bps".to_owned(),
                reason: RateReason::Zero,
            });
        }
        Ok(Self(bits))
    }

    /// A rate of `bits` bits per second, or of 1 bit per second if `bits`
    /// is 0 (for rates computed by rounding).
    pub(crate) const fn at_least_one_bit(bits: u64) -> Self {
        Self(if bits == 0 { 1 } else { bits })
    }

    /// Bits per second (always above 0).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Rate;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!("1kibit".parse::<Rate>()?.bits_per_sec(), 1024);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub const fn bits_per_sec(&self) -> u64 {
        self.0
    }

    /// Bytes per second, rounded **up**, so that a rate below 8 bit/s still
    /// gives 1 rather than 0 (which tc and the kernel would read as "no
    /// rate").
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Rate;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!("100mbit".parse::<Rate>()?.bytes_per_sec(), 12_500_000);
    /// assert_eq!("1bit".parse::<Rate>()?.bytes_per_sec(), 1);
    /// assert_eq!("9bit".parse::<Rate>()?.bytes_per_sec(), 2);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub const fn bytes_per_sec(&self) -> u64 {
        self.0.div_ceil(8)
    }
}

/// Parses the forms documented on [`Rate`].
fn parse_rate(s: &str) -> Result<Rate, RateReason> {
    if s.is_empty() {
        return Err(RateReason::Empty);
    }
    if s.starts_with('-') {
        return Err(RateReason::Negative);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(RateReason::Whitespace);
    }
    let (number, unit) = split_number(s);
    if number.is_empty() {
        return Err(RateReason::MissingNumber);
    }
    let scale = if unit.is_empty() {
        1
    } else if unit.ends_with("/s") {
        XL_RATE_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|&(_, scale)| scale)
            .ok_or_else(|| RateReason::XlUnit { unit: shown(unit) })?
    } else {
        TC_RATE_UNITS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            .map(|&(_, scale)| scale)
            .ok_or_else(|| RateReason::UnknownUnit { unit: shown(unit) })?
    };
    let bits = scaled_decimal(number, scale).map_err(|e| match e {
        DecimalError::Bad => RateReason::BadNumber {
            number: shown(number),
        },
        DecimalError::LeadingZero => RateReason::LeadingZero {
            number: shown(number),
        },
        DecimalError::NotWhole => RateReason::NotWhole,
        DecimalError::TooManyDecimals => RateReason::TooManyDecimals { max: MAX_DECIMALS },
        DecimalError::Overflow => RateReason::Overflow,
    })?;
    if bits == 0 {
        return Err(RateReason::Zero);
    }
    Ok(Rate(bits))
}

impl FromStr for Rate {
    type Err = TypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_rate(s).map_err(|reason| TypeError::Rate {
            input: shown(s),
            reason,
        })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, scale) in RATE_DISPLAY_UNITS {
            if self.0 % scale == 0 {
                return write!(f, "{}{name}", self.0 / scale);
            }
        }
        // Unreachable: the last unit has scale 1.
        write!(f, "{}bit", self.0)
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rate({self})")
    }
}

impl serde::Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RateVisitor)
    }
}

/// Deserialises a [`Rate`] from a string or a whole number of bits per
/// second.
struct RateVisitor;

impl serde::de::Visitor<'_> for RateVisitor {
    type Value = Rate;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a rate such as \"100mbit\", \"1.5gbit\" or \"10MB/s\", or a whole number of bits per second",
        )
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Rate, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Rate, E> {
        Rate::from_bits_per_sec(v).map_err(E::custom)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Rate, E> {
        match u64::try_from(v) {
            Ok(bits) => self.visit_u64(bits),
            Err(_) => Err(E::custom(TypeError::Rate {
                input: v.to_string(),
                reason: RateReason::Negative,
            })),
        }
    }
}

/// A size in bytes, above 0, such as a token-bucket burst.
///
/// Accepted forms: a number, optionally with a decimal fraction that must
/// come to a whole number of bytes (`1.5mb`), followed by an optional unit,
/// matched case-insensitively:
///
/// * none or `b`: bytes (`65536`, `1500b`);
/// * `k`, `kb`, `KiB`: 1024 bytes; `m`, `mb`, `MiB`: 1024²; `g`, `gb`,
///   `GiB`: 1024³.
///
/// This is how tc reads sizes (`burst 64kb` is 65536 bytes), so a value
/// copied from a tc command line means the same here. **`KB` is therefore
/// 1024 bytes, not 1000** (tc matches case-insensitively); there is no
/// SI (1000-based) size unit. Bit-based units (`kbit`, `mbit`, …) are refused:
/// tc reads a size of `1kbit` as 128 bytes while most people would expect
/// 125, so neither reading is safe to guess. Numbers may not have a leading
/// zero (`064k`).
///
/// [`Display`](fmt::Display) writes the canonical tc form: the largest of
/// `b`, `kb`, `mb`, `gb` that shows the size exactly (`1500b`, `64kb`,
/// `1536kb`, `2gb`), which parses back to an equal value and can be passed
/// to tc as is.
///
/// When deserialising, a non-negative integer is also accepted as bytes.
///
/// # Examples
///
/// ```
/// use hvnet_core::types::ByteSize;
///
/// # fn main() -> Result<(), hvnet_core::types::TypeError> {
/// assert_eq!("64KiB".parse::<ByteSize>()?.bytes(), 65_536);
/// assert_eq!("64k".parse::<ByteSize>()?.to_string(), "64kb");
/// assert_eq!("1.5mb".parse::<ByteSize>()?.to_string(), "1536kb");
/// assert_eq!("1500".parse::<ByteSize>()?.to_string(), "1500b");
/// assert!("8kbit".parse::<ByteSize>().is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ByteSize(
    /// Bytes, never 0.
    u64,
);

impl ByteSize {
    /// A size of `bytes` bytes.
    ///
    /// # Errors
    ///
    /// [`TypeError::ByteSize`] with [`ByteSizeReason::Zero`] if `bytes` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::ByteSize;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!(ByteSize::from_bytes(16_384)?.to_string(), "16kb");
    /// assert!(ByteSize::from_bytes(0).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_bytes(bytes: u64) -> Result<Self, TypeError> {
        if bytes == 0 {
            return Err(TypeError::ByteSize {
                input: "0".to_owned(),
                reason: ByteSizeReason::Zero,
            });
        }
        Ok(Self(bytes))
    }

    /// A size of `kib` KiB (1024 bytes each).
    ///
    /// # Errors
    ///
    /// [`TypeError::ByteSize`] with [`ByteSizeReason::Zero`] if `kib` is 0,
    /// or [`ByteSizeReason::Overflow`] if the size in bytes does not fit in
    /// 64 bits.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::ByteSize;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!(ByteSize::from_kib(64)?.bytes(), 65_536);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_kib(kib: u64) -> Result<Self, TypeError> {
        let bytes = kib.checked_mul(1024).ok_or_else(|| TypeError::ByteSize {
            input: format!("{kib}kb"),
            reason: ByteSizeReason::Overflow,
        })?;
        if bytes == 0 {
            return Err(TypeError::ByteSize {
                input: "0kb".to_owned(),
                reason: ByteSizeReason::Zero,
            });
        }
        Ok(Self(bytes))
    }

    /// The size in bytes (always above 0).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::ByteSize;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!("2m".parse::<ByteSize>()?.bytes(), 2 * 1024 * 1024);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub const fn bytes(&self) -> u64 {
        self.0
    }
}

/// Parses the forms documented on [`ByteSize`].
fn parse_size(s: &str) -> Result<ByteSize, ByteSizeReason> {
    if s.is_empty() {
        return Err(ByteSizeReason::Empty);
    }
    if s.starts_with('-') {
        return Err(ByteSizeReason::Negative);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(ByteSizeReason::Whitespace);
    }
    let (number, unit) = split_number(s);
    if number.is_empty() {
        return Err(ByteSizeReason::MissingNumber);
    }
    let scale = if unit.is_empty() {
        1
    } else if let Some(&(_, scale)) = SIZE_UNITS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
    {
        scale
    } else if SIZE_BIT_UNITS
        .iter()
        .any(|name| name.eq_ignore_ascii_case(unit))
    {
        return Err(ByteSizeReason::BitUnit { unit: shown(unit) });
    } else {
        return Err(ByteSizeReason::UnknownUnit { unit: shown(unit) });
    };
    let bytes = scaled_decimal(number, scale).map_err(|e| match e {
        DecimalError::Bad => ByteSizeReason::BadNumber {
            number: shown(number),
        },
        DecimalError::LeadingZero => ByteSizeReason::LeadingZero {
            number: shown(number),
        },
        DecimalError::NotWhole => ByteSizeReason::NotWhole,
        DecimalError::TooManyDecimals => ByteSizeReason::TooManyDecimals { max: MAX_DECIMALS },
        DecimalError::Overflow => ByteSizeReason::Overflow,
    })?;
    if bytes == 0 {
        return Err(ByteSizeReason::Zero);
    }
    Ok(ByteSize(bytes))
}

impl FromStr for ByteSize {
    type Err = TypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_size(s).map_err(|reason| TypeError::ByteSize {
            input: shown(s),
            reason,
        })
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, scale) in SIZE_DISPLAY_UNITS {
            if self.0 % scale == 0 {
                return write!(f, "{}{name}", self.0 / scale);
            }
        }
        // Unreachable: the last unit has scale 1.
        write!(f, "{}b", self.0)
    }
}

impl fmt::Debug for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ByteSize({self})")
    }
}

impl serde::Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;

        impl serde::de::Visitor<'_> for SizeVisitor {
            type Value = ByteSize;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"64kb\" or \"64KiB\", or a whole number of bytes")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                ByteSize::from_bytes(v).map_err(E::custom)
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                match u64::try_from(v) {
                    Ok(bytes) => self.visit_u64(bytes),
                    Err(_) => Err(E::custom(TypeError::ByteSize {
                        input: v.to_string(),
                        reason: ByteSizeReason::Negative,
                    })),
                }
            }
        }

        deserializer.deserialize_any(SizeVisitor)
    }
}

/// A rate limit: a [`Rate`], with an optional burst (token-bucket size) and
/// an optional peak rate.
///
/// The peak, when given, is at least the rate (a peak equal to the rate is
/// allowed; a backend using tbf, which needs a peak strictly above the rate,
/// should then leave it out). This is checked by every constructor, so a
/// `RateSpec` can be trusted.
///
/// Text form (what [`FromStr`] accepts and [`Display`](fmt::Display)
/// writes): the rate, then optionally `burst SIZE` and/or `peak RATE` in
/// either order, each at most once, separated by whitespace, as on a tc
/// command line: `100mbit`, `100mbit burst 64kb`,
/// `100mbit burst 64kb peak 200mbit`. `Display` writes the canonical forms of
/// the parts, burst before peak.
///
/// The rate may also be xl's interval form `RATE@INTERVAL` (`100Mb/s@20ms`,
/// parsed exactly as xl parses it, see [`XlRate`](super::XlRate)): it becomes
/// the token bucket netback's credit is ([`RateSpec::from_xl`]), the average
/// rate with a bucket of the bytes per interval (at least 128 KiB), so it
/// cannot be combined with `burst`.
///
/// When deserialising (e.g. from TOML) it is accepted as that string, as a
/// whole number of bits per second, or as a table
/// `{ rate = "100mbit", burst = "64KiB", peak = "200mbit" }` (only `rate` is
/// required). It serialises as the string.
///
/// # Examples
///
/// ```
/// use hvnet_core::types::{ByteSize, Rate, RateSpec};
///
/// # fn main() -> Result<(), hvnet_core::types::TypeError> {
/// let spec: RateSpec = "100mbit peak 200mbit".parse()?;
/// assert_eq!(spec.rate(), "100mbit".parse::<Rate>()?);
/// assert_eq!(spec.burst(), None);
/// assert_eq!(spec.burst_or_default(), "62kb".parse::<ByteSize>()?);
/// assert_eq!(spec.to_string(), "100mbit peak 200mbit");
/// assert!("100mbit peak 50mbit".parse::<RateSpec>().is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateSpec {
    /// The sustained rate.
    rate: Rate,
    /// The bucket size; `None` means [`RateSpec::default_burst`].
    burst: Option<ByteSize>,
    /// The peak rate, at least `rate`.
    peak: Option<Rate>,
}

impl RateSpec {
    /// The smallest default burst: 16 KiB.
    pub const MIN_DEFAULT_BURST_BYTES: u64 = 16 * 1024;

    /// How much traffic the default burst holds above the minimum: 5 ms at
    /// the rate.
    pub const DEFAULT_BURST_MILLIS: u64 = 5;

    /// A rate limit of `rate`, with an optional burst and peak.
    ///
    /// # Errors
    ///
    /// [`TypeError::RateSpec`] with [`RateSpecReason::PeakBelowRate`] if the
    /// peak is below the rate.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::RateSpec;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let spec = RateSpec::new("1gbit".parse()?, Some("512kb".parse()?), None)?;
    /// assert_eq!(spec.to_string(), "1gbit burst 512kb");
    /// let err = RateSpec::new("1gbit".parse()?, None, Some("1mbit".parse()?)).unwrap_err();
    /// assert!(err.to_string().contains("below the rate"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(rate: Rate, burst: Option<ByteSize>, peak: Option<Rate>) -> Result<Self, TypeError> {
        let spec = Self { rate, burst, peak };
        check_peak(rate, peak).map_err(|reason| TypeError::RateSpec {
            input: shown(&spec.to_string()),
            reason,
        })?;
        Ok(spec)
    }

    /// The sustained rate.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::RateSpec;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let spec: RateSpec = "10mbit burst 16kb".parse()?;
    /// assert_eq!(spec.rate().bits_per_sec(), 10_000_000);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub const fn rate(&self) -> Rate {
        self.rate
    }

    /// The burst, if one was given.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::RateSpec;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let spec: RateSpec = "10mbit burst 16kb".parse()?;
    /// assert_eq!(spec.burst().map(|b| b.bytes()), Some(16_384));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub const fn burst(&self) -> Option<ByteSize> {
        self.burst
    }

    /// The peak rate, if one was given (at least [`rate`](Self::rate)).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::RateSpec;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let spec: RateSpec = "10mbit peak 20mbit".parse()?;
    /// assert_eq!(spec.peak().map(|p| p.to_string()), Some("20mbit".to_owned()));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub const fn peak(&self) -> Option<Rate> {
        self.peak
    }

    /// The burst if one was given, else [`default_burst`](Self::default_burst)
    /// for the rate.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::RateSpec;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!("1gbit".parse::<RateSpec>()?.burst_or_default().to_string(), "611kb");
    /// assert_eq!("1gbit burst 1mb".parse::<RateSpec>()?.burst_or_default().to_string(), "1mb");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn burst_or_default(&self) -> ByteSize {
        self.burst.unwrap_or_else(|| Self::default_burst(self.rate))
    }

    /// The default burst for `rate` on tbf or htb: the larger of 16 KiB and
    /// 5 ms of traffic at the rate (`bits_per_sec / 1600` bytes, rounded
    /// up), rounded up to a whole number of KiB.
    ///
    /// This keeps TCP goodput at the expected 0.956 × rate (L2 overhead)
    /// from 10 Mbit/s to 10 Gbit/s. The measured sizes that did so were
    /// 16 KiB at 10 Mbit/s, 64 KiB at 100 Mbit/s and 512 KiB at 1 Gbit/s;
    /// this rule gives:
    ///
    /// | Rate | Default burst |
    /// |------|---------------|
    /// | 10 Mbit/s | 16 KiB (16384 bytes; 5 ms would be 6250) |
    /// | 100 Mbit/s | 62 KiB (63488 bytes) |
    /// | 1 Gbit/s | 611 KiB (625664 bytes) |
    /// | 10 Gbit/s | 6104 KiB (6250496 bytes) |
    ///
    /// The 16 KiB floor keeps more than ten full-size frames in the bucket
    /// at low rates.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::RateSpec;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!(RateSpec::default_burst("10mbit".parse()?).bytes(), 16_384);
    /// assert_eq!(RateSpec::default_burst("100mbit".parse()?).bytes(), 63_488);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn default_burst(rate: Rate) -> ByteSize {
        // Bytes in DEFAULT_BURST_MILLIS ms: bits / 8 × ms / 1000.
        let window = rate
            .bits_per_sec()
            .div_ceil(8 * 1000 / Self::DEFAULT_BURST_MILLIS);
        // At most u64::MAX / 1600 + 16 KiB, so rounding up cannot overflow.
        let bytes = window.max(Self::MIN_DEFAULT_BURST_BYTES).div_ceil(1024) * 1024;
        ByteSize(bytes)
    }

    /// Converts libvirt's `<bandwidth><inbound|outbound average= peak=
    /// burst=/>` attributes.
    ///
    /// libvirt documents `average` and `peak` as kilobytes per second and
    /// `burst` as kilobytes, and hands them to tc unchanged as `<n>kbps` and
    /// `<n>kb`. iproute2 reads `kbps` as **1000** bytes per second and `kb`
    /// (a size) as **1024** bytes, so that is what is enforced and what is
    /// implemented here: `average` and `peak` are × 8000 bit/s
    /// (`average='1000'` is exactly 8 Mbit/s, not 8.192), `burst` is × 1024
    /// bytes.
    ///
    /// As in libvirt, a `peak` or `burst` of 0 means the attribute is not
    /// set.
    ///
    /// # Errors
    ///
    /// [`TypeError::RateSpec`], with `input` showing the attributes, if
    /// `average_kb_per_s` is 0 (libvirt would then not limit at all:
    /// [`RateSpecReason::Unlimited`]), if a value overflows 64 bits once
    /// converted ([`RateSpecReason::Overflow`]) or if the peak is below the
    /// average ([`RateSpecReason::PeakBelowRate`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::RateSpec;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let spec = RateSpec::from_libvirt(12_500, Some(25_000), Some(64))?;
    /// assert_eq!(spec.to_string(), "100mbit burst 64kb peak 200mbit");
    /// assert_eq!(RateSpec::from_libvirt(1000, Some(0), Some(0))?.to_string(), "8mbit");
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_libvirt(
        average_kb_per_s: u64,
        peak_kb_per_s: Option<u64>,
        burst_kib: Option<u64>,
    ) -> Result<Self, TypeError> {
        let peak_kb_per_s = peak_kb_per_s.filter(|&p| p != 0);
        let burst_kib = burst_kib.filter(|&b| b != 0);
        let mut input = format!("average={average_kb_per_s}");
        if let Some(peak) = peak_kb_per_s {
            input.push_str(&format!(" peak={peak}"));
        }
        if let Some(burst) = burst_kib {
            input.push_str(&format!(" burst={burst}"));
        }
        let fail = |reason| TypeError::RateSpec {
            input: input.clone(),
            reason,
        };
        if average_kb_per_s == 0 {
            return Err(fail(RateSpecReason::Unlimited {
                tool: "libvirt",
                field: "average",
            }));
        }
        let kbps = |value: u64, field| {
            value
                .checked_mul(8_000)
                .map(Rate)
                .ok_or_else(|| fail(RateSpecReason::Overflow { field }))
        };
        let rate = kbps(average_kb_per_s, "average")?;
        let peak = peak_kb_per_s.map(|p| kbps(p, "peak")).transpose()?;
        let burst = burst_kib
            .map(|b| {
                b.checked_mul(1024)
                    .map(ByteSize)
                    .ok_or_else(|| fail(RateSpecReason::Overflow { field: "burst" }))
            })
            .transpose()?;
        check_peak(rate, peak).map_err(fail)?;
        Ok(Self { rate, burst, peak })
    }

    /// xl's `RATE@INTERVAL` as a token bucket, the way netback's credit
    /// works: the rate is the average the credit allows
    /// ([`XlRate::rate`](super::XlRate::rate): bytes per interval over the
    /// interval, with xl's truncation), and the bucket is
    /// [`XlRate::bucket_bytes`](super::XlRate::bucket_bytes), the bytes per
    /// interval but at least 128 KiB. This is what the text form
    /// `100Mb/s@20ms` gives.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::{RateSpec, XlRate};
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let spec = RateSpec::from_xl("100Mb/s@20ms".parse::<XlRate>()?);
    /// assert_eq!(spec.to_string(), "100mbit burst 250000b");
    /// assert_eq!("100Mb/s@20ms".parse::<RateSpec>()?, spec);
    /// assert_eq!("10Mb/s@50ms".parse::<RateSpec>()?.to_string(), "10mbit burst 128kb");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn from_xl(xl: super::XlRate) -> Self {
        Self {
            rate: xl.rate(),
            burst: Some(ByteSize(xl.bucket_bytes())),
            peak: None,
        }
    }

    /// Converts a CNI `bandwidth` plugin pair: `ingressRate`/`egressRate` in
    /// bits per second and `ingressBurst`/`egressBurst` in bits.
    ///
    /// As the plugin does, the burst is converted to bytes by dividing by 8
    /// and dropping the remainder, and both must be set.
    ///
    /// # Errors
    ///
    /// [`TypeError::RateSpec`], with `input` showing the two numbers, if
    /// the rate is 0 (CNI then does not limit:
    /// [`RateSpecReason::Unlimited`]), the burst is 0
    /// ([`RateSpecReason::MissingBurst`]), below 8 bits
    /// ([`RateSpecReason::BurstBelowOneByte`]) or 4 GB or more, which CNI
    /// refuses ([`RateSpecReason::BurstTooLarge`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::RateSpec;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let spec = RateSpec::from_cni(100_000_000, 524_288)?;
    /// assert_eq!(spec.to_string(), "100mbit burst 64kb");
    /// assert!(RateSpec::from_cni(100_000_000, 0).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_cni(rate_bits: u64, burst_bits: u64) -> Result<Self, TypeError> {
        let fail = |reason| TypeError::RateSpec {
            input: format!("rate={rate_bits} burst={burst_bits}"),
            reason,
        };
        if rate_bits == 0 {
            return Err(fail(RateSpecReason::Unlimited {
                tool: "CNI",
                field: "the rate",
            }));
        }
        if burst_bits == 0 {
            return Err(fail(RateSpecReason::MissingBurst));
        }
        let burst_bytes = burst_bits / 8;
        if burst_bytes >= u64::from(u32::MAX) {
            return Err(fail(RateSpecReason::BurstTooLarge { bits: burst_bits }));
        }
        if burst_bytes == 0 {
            return Err(fail(RateSpecReason::BurstBelowOneByte { bits: burst_bits }));
        }
        Ok(Self {
            rate: Rate(rate_bits),
            burst: Some(ByteSize(burst_bytes)),
            peak: None,
        })
    }
}

/// Checks that `peak`, if any, is at least `rate`.
fn check_peak(rate: Rate, peak: Option<Rate>) -> Result<(), RateSpecReason> {
    match peak {
        Some(peak) if peak < rate => Err(RateSpecReason::PeakBelowRate { rate, peak }),
        _ => Ok(()),
    }
}

impl From<Rate> for RateSpec {
    fn from(rate: Rate) -> Self {
        Self {
            rate,
            burst: None,
            peak: None,
        }
    }
}

/// Parses the text form documented on [`RateSpec`].
fn parse_spec(s: &str) -> Result<RateSpec, TypeError> {
    let fail = |reason| TypeError::RateSpec {
        input: shown(s),
        reason,
    };
    let keyword = |word: &str| match word {
        "burst" => Some("burst"),
        "peak" => Some("peak"),
        _ => None,
    };
    let mut words = s.split_ascii_whitespace();
    let first = words.next().ok_or_else(|| fail(RateSpecReason::Empty))?;
    if let Some(keyword) = keyword(first) {
        return Err(fail(RateSpecReason::MissingRate { keyword }));
    }
    let (rate, mut burst) = if first.contains('@') {
        let xl = RateSpec::from_xl(first.parse::<super::XlRate>()?);
        (xl.rate, xl.burst)
    } else {
        (first.parse::<Rate>()?, None)
    };
    let interval = burst.is_some();
    let mut peak: Option<Rate> = None;
    while let Some(word) = words.next() {
        let keyword = keyword(word)
            .ok_or_else(|| fail(RateSpecReason::UnexpectedWord { word: shown(word) }))?;
        let value = words
            .next()
            .ok_or_else(|| fail(RateSpecReason::MissingValue { keyword }))?;
        let bad = |e: TypeError| {
            fail(RateSpecReason::BadValue {
                keyword,
                message: e.to_string(),
            })
        };
        if keyword == "burst" && interval {
            return Err(fail(RateSpecReason::IntervalWithBurst));
        }
        let repeated = match keyword {
            "burst" => burst.replace(value.parse().map_err(bad)?).is_some(),
            _ => peak.replace(value.parse().map_err(bad)?).is_some(),
        };
        if repeated {
            return Err(fail(RateSpecReason::Repeated { keyword }));
        }
    }
    check_peak(rate, peak).map_err(fail)?;
    Ok(RateSpec { rate, burst, peak })
}

impl FromStr for RateSpec {
    type Err = TypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_spec(s)
    }
}

impl fmt::Display for RateSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.rate)?;
        if let Some(burst) = self.burst {
            write!(f, " burst {burst}")?;
        }
        if let Some(peak) = self.peak {
            write!(f, " peak {peak}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for RateSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RateSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SpecVisitor)
    }
}

/// Deserialises a [`RateSpec`] from a string, a number of bits per second or
/// a table.
struct SpecVisitor;

impl<'de> serde::de::Visitor<'de> for SpecVisitor {
    type Value = RateSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a rate limit: a string such as \"100mbit\" or \"100mbit burst 64kb peak 200mbit\", a whole number of bits per second, or a table with rate and optional burst and peak",
        )
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RateSpec, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RateSpec, E> {
        RateVisitor.visit_u64(v).map(RateSpec::from)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RateSpec, E> {
        RateVisitor.visit_i64(v).map(RateSpec::from)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RateSpec, A::Error> {
        use serde::de::Error;

        const FIELDS: &[&str] = &["rate", "burst", "peak"];
        let mut rate: Option<Rate> = None;
        let mut burst: Option<ByteSize> = None;
        let mut peak: Option<Rate> = None;
        while let Some(key) = map.next_key::<String>()? {
            let repeated = match key.as_str() {
                "rate" => rate.replace(map.next_value()?).is_some(),
                "burst" => burst.replace(map.next_value()?).is_some(),
                "peak" => peak.replace(map.next_value()?).is_some(),
                other => return Err(A::Error::unknown_field(other, FIELDS)),
            };
            if repeated {
                let field = FIELDS
                    .iter()
                    .find(|f| **f == key)
                    .copied()
                    .unwrap_or("rate");
                return Err(A::Error::duplicate_field(field));
            }
        }
        let rate = rate.ok_or_else(|| A::Error::missing_field("rate"))?;
        RateSpec::new(rate, burst, peak).map_err(A::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(s: &str) -> Rate {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn size(s: &str) -> ByteSize {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn spec(s: &str) -> RateSpec {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn xl_interval_form_is_netbacks_bucket() {
        // Seed 003: 250000 bytes every 20 ms = 100 Mbit/s, bucket 250000 bytes.
        let s = spec("100Mb/s@20ms");
        assert_eq!(s.rate().bits_per_sec(), 100_000_000);
        assert_eq!(s.burst().map(|b| b.bytes()), Some(250_000));
        assert_eq!(spec(&s.to_string()), s);
        // Below 128 KiB per interval the bucket is netback's floor.
        assert_eq!(
            spec("10Mb/s@50ms").burst().map(|b| b.bytes()),
            Some(131_072)
        );
        // xl's default interval (50 ms) when only `@` is missing is the plain form.
        assert_eq!(spec("10MB/s").burst(), None);
        // xl's truncation is kept: 1Kb/s@50ms allows 6 bytes per 50 ms = 960 bit/s.
        assert_eq!(spec("1Kb/s@50ms").rate().bits_per_sec(), 960);
        // Octal, as in xl.
        assert_eq!(spec("010Mb/s@020ms").rate(), spec("8Mb/s@16ms").rate());
        // With peak, not with burst.
        assert_eq!(
            spec("100Mb/s@20ms peak 200mbit").peak(),
            Some(rate("200mbit"))
        );
        let e = "100Mb/s@20ms burst 64kb".parse::<RateSpec>().unwrap_err();
        assert!(e.to_string().contains("interval sets the bucket"), "{e}");
        // What xl refuses, and what would block the guest, is refused.
        for bad in [
            "100Mb/s@",
            "100Mb/s@0ms",
            "100b/s@20ms",
            "100mbit@20ms",
            "@20ms",
        ] {
            let e = bad.parse::<RateSpec>().unwrap_err().to_string();
            assert!(e.starts_with("xl rate"), "{bad}: {e}");
        }
    }

    #[test]
    fn parses_valid_rates() {
        let cases: &[(&str, u64, &str)] = &[
            // tc, SI bits
            ("1bit", 1, "1bit"),
            ("1500bit", 1_500, "1500bit"),
            ("100kbit", 100_000, "100kbit"),
            ("100mbit", 100_000_000, "100mbit"),
            ("100Mbit", 100_000_000, "100mbit"),
            ("100MBIT", 100_000_000, "100mbit"),
            ("1gbit", 1_000_000_000, "1gbit"),
            ("10gbit", 10_000_000_000, "10gbit"),
            ("2tbit", 2_000_000_000_000, "2tbit"),
            ("1000kbit", 1_000_000, "1mbit"),
            ("12500kbit", 12_500_000, "12500kbit"),
            // tc, IEC bits
            ("1kibit", 1_024, "1024bit"),
            ("1Kibit", 1_024, "1024bit"),
            ("1mibit", 1_048_576, "1048576bit"),
            ("1gibit", 1_073_741_824, "1073741824bit"),
            ("1tibit", 1_099_511_627_776, "1099511627776bit"),
            // tc, bytes per second
            ("1bps", 8, "8bit"),
            ("125bps", 1_000, "1kbit"),
            ("1kbps", 8_000, "8kbit"),
            ("12.5mbps", 100_000_000, "100mbit"),
            ("1MBps", 8_000_000, "8mbit"),
            ("1gbps", 8_000_000_000, "8gbit"),
            ("1tbps", 8_000_000_000_000, "8tbit"),
            ("1kibps", 8_192, "8192bit"),
            ("1KiBps", 8_192, "8192bit"),
            ("1mibps", 8_388_608, "8388608bit"),
            ("1gibps", 8_589_934_592, "8589934592bit"),
            ("1tibps", 8_796_093_022_208, "8796093022208bit"),
            // decimal fractions
            ("1.5gbit", 1_500_000_000, "1500mbit"),
            ("0.5mbit", 500_000, "500kbit"),
            ("2.000mbit", 2_000_000, "2mbit"),
            ("0.125kbps", 1_000, "1kbit"),
            ("0.5kibit", 512, "512bit"),
            ("10.0", 10, "10bit"),
            // xl style
            ("100Mb/s", 100_000_000, "100mbit"),
            ("10MB/s", 80_000_000, "80mbit"),
            ("250KB/s", 2_000_000, "2mbit"),
            ("1Gb/s", 1_000_000_000, "1gbit"),
            ("1GB/s", 8_000_000_000, "8gbit"),
            ("1Kb/s", 1_000, "1kbit"),
            ("1B/s", 8, "8bit"),
            ("100b/s", 100, "100bit"),
            ("1.5Mb/s", 1_500_000, "1500kbit"),
            // bare bits per second
            ("1", 1, "1bit"),
            ("1000000", 1_000_000, "1mbit"),
            ("123456789", 123_456_789, "123456789bit"),
            // the top of the range
            ("18446744073709551615", u64::MAX, "18446744073709551615bit"),
            (
                "18446744073709551615bit",
                u64::MAX,
                "18446744073709551615bit",
            ),
            ("18446744tbit", 18_446_744_000_000_000_000, "18446744tbit"),
            (
                "2305843009213693951bps",
                2_305_843_009_213_693_951 * 8,
                "18446744073709551608bit",
            ),
        ];
        for &(input, bits, canonical) in cases {
            let parsed = rate(input);
            assert_eq!(parsed.bits_per_sec(), bits, "{input}");
            assert_eq!(parsed.to_string(), canonical, "{input}");
            assert_eq!(rate(canonical), parsed, "{canonical}");
        }
    }

    #[test]
    fn rejects_invalid_rates() {
        let cases = [
            (
                "",
                "rate \"\" is empty; write e.g. 100mbit, 1.5gbit, 10MB/s",
            ),
            ("0", "rate \"0\" is 0; a rate of 0 would block all traffic"),
            ("0mbit", "a rate of 0 would block all traffic"),
            ("0.0gbit", "a rate of 0 would block all traffic"),
            ("0Mb/s", "a rate of 0 would block all traffic"),
            ("-1mbit", "rate \"-1mbit\" is negative"),
            ("-5", "is negative"),
            (
                "100 mbit",
                "contains whitespace; write the number and its unit together",
            ),
            (" 100mbit", "contains whitespace"),
            ("100mbit\n", "contains whitespace"),
            ("mbit", "does not start with a number"),
            ("+5mbit", "does not start with a number"),
            (".5mbit", "has number \".5\", which is not a decimal number"),
            ("5.mbit", "has number \"5.\", which is not a decimal number"),
            ("1.2.3mbit", "has number \"1.2.3\""),
            (
                "010mbit",
                "has number \"010\" with a leading zero, which xl would read as octal",
            ),
            ("010Mb/s", "with a leading zero"),
            ("00", "with a leading zero"),
            ("100mbits", "has unknown unit \"mbits\"; use a tc unit"),
            ("100mb", "has unknown unit \"mb\""),
            ("100m", "has unknown unit \"m\""),
            ("1e9", "has unknown unit \"e9\""),
            ("0x10mbit", "has unknown unit \"x10mbit\""),
            ("100mbit/s", "has unit \"mbit/s\"; xl-style units are b/s"),
            ("100kb/s", "has unit \"kb/s\"; xl-style units"),
            ("1mb/s", "has unit \"mb/s\""),
            ("1TB/s", "has unit \"TB/s\""),
            ("1Mbit/s", "has unit \"Mbit/s\""),
            ("100Mb", "has unknown unit \"Mb\""),
            ("MB/s", "does not start with a number"),
            ("1.5bit", "is not a whole number of bits per second"),
            ("0.1bps", "is not a whole number of bits per second"),
            ("1.0001kbit", "is not a whole number"),
            (
                "1.0000000000000000000000001gbit",
                "has more than 24 significant decimal places",
            ),
            (
                "18446744073709551616",
                "is too large; the largest rate is 18446744073709551615bit",
            ),
            ("18446744073709551616bit", "is too large"),
            ("18446744074gbit", "is too large"),
            ("2305843009213693952bps", "is too large"),
            ("18446745tbit", "is too large"),
            (
                "99999999999999999999999999999999999999999999999999tbit",
                "is too large",
            ),
        ];
        for (input, fragment) in cases {
            let err = input.parse::<Rate>().expect_err(input);
            assert!(matches!(err, TypeError::Rate { .. }), "{input:?}: {err:?}");
            let msg = err.to_string();
            assert!(msg.contains(fragment), "{input:?}: {msg}");
        }
    }

    #[test]
    fn unknown_unit_message_says_what_is_accepted() {
        let msg = "5furlongs".parse::<Rate>().unwrap_err().to_string();
        for unit in [
            "kbit",
            "tibps",
            "bps means bytes per second",
            "Mb/s",
            "no unit",
        ] {
            assert!(msg.contains(unit), "{unit}: {msg}");
        }
    }

    #[test]
    fn rate_constructors_and_accessors() {
        let r = Rate::from_bits_per_sec(12_500_000).unwrap();
        assert_eq!(r.bits_per_sec(), 12_500_000);
        assert_eq!(r.bytes_per_sec(), 1_562_500);
        assert_eq!(rate("1bit").bytes_per_sec(), 1);
        assert_eq!(rate("7bit").bytes_per_sec(), 1);
        assert_eq!(rate("8bit").bytes_per_sec(), 1);
        assert_eq!(rate("9bit").bytes_per_sec(), 2);
        assert_eq!(
            Rate::from_bits_per_sec(u64::MAX).unwrap().bytes_per_sec(),
            u64::MAX / 8 + 1
        );
        assert_eq!(
            Rate::from_bits_per_sec(0).unwrap_err().to_string(),
            "rate \"0\" is 0; a rate of 0 would block all traffic"
        );
        assert_eq!(Rate::from_bytes_per_sec(125).unwrap(), rate("1kbit"));
        assert_eq!(
            Rate::from_bytes_per_sec(u64::MAX / 8)
                .unwrap()
                .bits_per_sec(),
            u64::MAX / 8 * 8
        );
        let err = Rate::from_bytes_per_sec(u64::MAX / 8 + 1).unwrap_err();
        assert!(matches!(
            err,
            TypeError::Rate {
                reason: RateReason::Overflow,
                ..
            }
        ));
        assert!(err.to_string().contains("is too large"), "{err}");
        assert!(matches!(
            Rate::from_bytes_per_sec(0),
            Err(TypeError::Rate {
                reason: RateReason::Zero,
                ..
            })
        ));
        assert_eq!(format!("{:?}", rate("100mbit")), "Rate(100mbit)");
        assert!(rate("999kbit") < rate("1mbit"));
    }

    #[test]
    fn rate_display_round_trips_many_values() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..2_000u32 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let bits = (x >> (i % 64)).max(1);
            let value = Rate::from_bits_per_sec(bits).unwrap();
            let text = value.to_string();
            assert_eq!(rate(&text), value, "{bits} shown as {text}");
        }
        for bits in [
            1,
            999,
            1_000,
            1_001,
            999_999_999_999,
            10_u64.pow(12),
            u64::MAX,
        ] {
            let value = Rate::from_bits_per_sec(bits).unwrap();
            assert_eq!(rate(&value.to_string()), value);
        }
    }

    #[test]
    fn parses_valid_sizes() {
        let cases: &[(&str, u64, &str)] = &[
            ("1", 1, "1b"),
            ("1500", 1_500, "1500b"),
            ("1500b", 1_500, "1500b"),
            ("1500B", 1_500, "1500b"),
            ("65536", 65_536, "64kb"),
            ("64k", 65_536, "64kb"),
            ("64K", 65_536, "64kb"),
            ("64kb", 65_536, "64kb"),
            ("64KB", 65_536, "64kb"),
            ("64KiB", 65_536, "64kb"),
            ("64kib", 65_536, "64kb"),
            ("16kb", 16_384, "16kb"),
            ("512kb", 524_288, "512kb"),
            ("1024kb", 1_048_576, "1mb"),
            ("1m", 1_048_576, "1mb"),
            ("1mb", 1_048_576, "1mb"),
            ("1MiB", 1_048_576, "1mb"),
            ("1.5mb", 1_572_864, "1536kb"),
            ("1.5k", 1_536, "1536b"),
            ("0.5k", 512, "512b"),
            ("2g", 2_147_483_648, "2gb"),
            ("2gb", 2_147_483_648, "2gb"),
            ("2GiB", 2_147_483_648, "2gb"),
            ("4096gb", 4_398_046_511_104, "4096gb"),
            ("18446744073709551615", u64::MAX, "18446744073709551615b"),
            ("17179869183gb", 17_179_869_183 << 30, "17179869183gb"),
        ];
        for &(input, bytes, canonical) in cases {
            let parsed = size(input);
            assert_eq!(parsed.bytes(), bytes, "{input}");
            assert_eq!(parsed.to_string(), canonical, "{input}");
            assert_eq!(size(canonical), parsed, "{canonical}");
        }
    }

    #[test]
    fn rejects_invalid_sizes() {
        let cases = [
            ("", "size \"\" is empty; write e.g. 64kb"),
            ("0", "size \"0\" is 0; a size must be at least 1 byte"),
            ("0kb", "is 0"),
            ("0.0001k", "is not a whole number of bytes"),
            ("-64k", "size \"-64k\" is negative"),
            ("64 kb", "contains whitespace"),
            ("kb", "does not start with a number"),
            ("+1k", "does not start with a number"),
            (
                "1..5k",
                "has number \"1..5\", which is not a decimal number",
            ),
            (".5k", "has number \".5\""),
            ("064k", "has number \"064\" with a leading zero"),
            ("8kbit", "has unit \"kbit\"; sizes are written in bytes"),
            ("8KBIT", "tc reads a size of 1kbit as 128 bytes"),
            ("8bit", "has unit \"bit\""),
            ("8mbit", "has unit \"mbit\""),
            ("1t", "has unknown unit \"t\"; use b, k, kb, KiB"),
            ("1tb", "has unknown unit \"tb\""),
            ("1kbyte", "has unknown unit \"kbyte\""),
            ("1k/s", "has unknown unit \"k/s\""),
            ("1.5", "is not a whole number of bytes"),
            (
                "1.0000000000000000000000001k",
                "has more than 24 significant decimal places",
            ),
            ("18446744073709551616", "is too large"),
            ("17179869184gb", "is too large"),
            ("18014398509481984k", "is too large"),
        ];
        for (input, fragment) in cases {
            let err = input.parse::<ByteSize>().expect_err(input);
            assert!(
                matches!(err, TypeError::ByteSize { .. }),
                "{input:?}: {err:?}"
            );
            let msg = err.to_string();
            assert!(msg.contains(fragment), "{input:?}: {msg}");
        }
    }

    #[test]
    fn size_constructors() {
        assert_eq!(ByteSize::from_bytes(1).unwrap().to_string(), "1b");
        assert_eq!(
            ByteSize::from_bytes(0).unwrap_err().to_string(),
            "size \"0\" is 0; a size must be at least 1 byte"
        );
        assert_eq!(ByteSize::from_kib(512).unwrap(), size("512kb"));
        assert!(ByteSize::from_kib(0).is_err());
        assert_eq!(
            ByteSize::from_kib(u64::MAX / 1024).unwrap().bytes(),
            u64::MAX / 1024 * 1024
        );
        assert!(ByteSize::from_kib(u64::MAX / 1024 + 1)
            .unwrap_err()
            .to_string()
            .contains("is too large"));
        assert_eq!(format!("{:?}", size("64k")), "ByteSize(64kb)");
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..2_000u32 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let value = ByteSize::from_bytes((x >> (i % 64)).max(1)).unwrap();
            assert_eq!(size(&value.to_string()), value);
        }
    }

    #[test]
    fn default_burst_values() {
        let cases = [
            ("1bit", 16_384, "16kb"),
            ("1mbit", 16_384, "16kb"),
            ("10mbit", 16_384, "16kb"),
            ("26214400bit", 16_384, "16kb"),
            ("26214401bit", 17_408, "17kb"),
            ("100mbit", 63_488, "62kb"),
            ("1gbit", 625_664, "611kb"),
            ("10gbit", 6_250_496, "6104kb"),
            (
                "18446744073709551615",
                11_529_215_046_069_248,
                "11258999068427kb",
            ),
        ];
        for (r, bytes, text) in cases {
            let burst = RateSpec::default_burst(rate(r));
            assert_eq!(burst.bytes(), bytes, "{r}");
            assert_eq!(burst.to_string(), text, "{r}");
            assert_eq!(burst.bytes() % 1024, 0, "{r}");
            assert_eq!(spec(r).burst_or_default(), burst, "{r}");
        }
        assert_eq!(spec("1gbit burst 512kb").burst_or_default(), size("512kb"));
    }

    #[test]
    fn parses_valid_specs() {
        let cases = [
            ("100mbit", "100mbit", None, None),
            ("100Mb/s", "100mbit", None, None),
            (
                "100mbit burst 64kb",
                "100mbit burst 64kb",
                Some(65_536),
                None,
            ),
            (
                "100mbit peak 200mbit",
                "100mbit peak 200mbit",
                None,
                Some(200_000_000),
            ),
            (
                "100mbit burst 64KiB peak 200mbit",
                "100mbit burst 64kb peak 200mbit",
                Some(65_536),
                Some(200_000_000),
            ),
            (
                "  100mbit\tpeak 25MB/s   burst 65536 ",
                "100mbit burst 64kb peak 200mbit",
                Some(65_536),
                Some(200_000_000),
            ),
            (
                "1gbit peak 1gbit",
                "1gbit peak 1gbit",
                None,
                Some(1_000_000_000),
            ),
        ];
        for (input, canonical, burst, peak) in cases {
            let parsed = spec(input);
            assert_eq!(parsed.to_string(), canonical, "{input}");
            assert_eq!(parsed.burst().map(|b| b.bytes()), burst, "{input}");
            assert_eq!(parsed.peak().map(|p| p.bits_per_sec()), peak, "{input}");
            assert_eq!(spec(canonical), parsed, "{canonical}");
        }
    }

    #[test]
    fn rejects_invalid_specs() {
        let cases = [
            ("", "rate limit \"\" is empty; write a rate such as 100mbit"),
            ("   ", "is empty"),
            (
                "burst 64kb",
                "rate limit \"burst 64kb\" starts with \"burst\"; the rate comes first",
            ),
            ("peak 1gbit", "starts with \"peak\""),
            (
                "100 mbit",
                "rate limit \"100 mbit\" has \"mbit\" where \"burst\" or \"peak\" was expected",
            ),
            ("100mbit ceil 200mbit", "has \"ceil\" where"),
            ("100mbit burst", "has \"burst\" without a value after it"),
            ("100mbit burst 64kb peak", "has \"peak\" without a value"),
            ("100mbit burst 1k burst 2k", "gives \"burst\" more than once"),
            ("1mbit peak 2mbit peak 3mbit", "gives \"peak\" more than once"),
            (
                "100mbit peak 50mbit",
                "rate limit \"100mbit peak 50mbit\" has peak 50mbit, which is below the rate 100mbit",
            ),
            ("0mbit", "rate \"0mbit\" is 0"),
            ("100mbit burst 0", "size \"0\" is 0"),
            ("100mbit burst 8kbit", "size \"8kbit\" has unit \"kbit\""),
            ("100mbit peak 0", "rate \"0\" is 0"),
            ("100mbits", "rate \"100mbits\" has unknown unit"),
        ];
        for (input, fragment) in cases {
            let err = input.parse::<RateSpec>().expect_err(input);
            let msg = err.to_string();
            assert!(msg.contains(fragment), "{input:?}: {msg}");
        }
    }

    #[test]
    fn spec_new() {
        let s = RateSpec::new(rate("10mbit"), Some(size("16k")), Some(rate("20mbit"))).unwrap();
        assert_eq!(s.to_string(), "10mbit burst 16kb peak 20mbit");
        assert_eq!(s.rate(), rate("10mbit"));
        let err = RateSpec::new(rate("10mbit"), None, Some(rate("9999999bit"))).unwrap_err();
        assert_eq!(
            err,
            TypeError::RateSpec {
                input: "10mbit peak 9999999bit".to_owned(),
                reason: RateSpecReason::PeakBelowRate {
                    rate: rate("10mbit"),
                    peak: rate("9999999bit"),
                },
            }
        );
        assert_eq!(RateSpec::from(rate("1gbit")), spec("1gbit"));
    }

    #[test]
    fn from_libvirt_converts_units_as_tc_reads_them() {
        let s = RateSpec::from_libvirt(1_000, None, None).unwrap();
        assert_eq!(s.rate().bits_per_sec(), 8_000_000);
        assert_eq!(s.burst(), None);
        assert_eq!(s.peak(), None);
        let s = RateSpec::from_libvirt(12_500, Some(25_000), Some(64)).unwrap();
        assert_eq!(s.rate(), rate("100mbit"));
        assert_eq!(s.rate(), rate("12500kbps"));
        assert_eq!(s.peak(), Some(rate("200mbit")));
        assert_eq!(s.burst(), Some(size("64kb")));
        let s = RateSpec::from_libvirt(1, Some(1), Some(1)).unwrap();
        assert_eq!(s.to_string(), "8kbit burst 1kb peak 8kbit");
        // libvirt treats 0 as "not set" for peak and burst
        assert_eq!(
            RateSpec::from_libvirt(128, Some(0), Some(0)).unwrap(),
            spec("1024kbit")
        );
        let top = u64::MAX / 8_000;
        assert_eq!(
            RateSpec::from_libvirt(top, None, Some(u64::MAX / 1024))
                .unwrap()
                .rate()
                .bits_per_sec(),
            top * 8_000
        );
    }

    #[test]
    fn from_libvirt_rejects() {
        let cases = [
            (
                (0, None, None),
                "rate limit \"average=0\" sets average to 0, which libvirt reads as no limit",
            ),
            (
                (0, Some(10), Some(5)),
                "rate limit \"average=0 peak=10 burst=5\" sets average to 0",
            ),
            (
                (u64::MAX / 8_000 + 1, None, None),
                "is too large: average does not fit in 64 bits",
            ),
            (
                (1, Some(u64::MAX), None),
                "is too large: peak does not fit in 64 bits",
            ),
            (
                (1, None, Some(u64::MAX / 1024 + 1)),
                "is too large: burst does not fit in 64 bits",
            ),
            (
                (2_000, Some(1_000), None),
                "rate limit \"average=2000 peak=1000\" has peak 8mbit, which is below the rate 16mbit",
            ),
        ];
        for ((average, peak, burst), fragment) in cases {
            let err = RateSpec::from_libvirt(average, peak, burst).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains(fragment),
                "{average} {peak:?} {burst:?}: {msg}"
            );
        }
    }

    #[test]
    fn from_cni() {
        let s = RateSpec::from_cni(100_000_000, 524_288).unwrap();
        assert_eq!(s.rate(), rate("100mbit"));
        assert_eq!(s.burst(), Some(size("64kb")));
        assert_eq!(s.peak(), None);
        // The remainder of bits / 8 is dropped, as the plugin does.
        assert_eq!(RateSpec::from_cni(1, 15).unwrap().burst(), Some(size("1")));
        assert_eq!(
            RateSpec::from_cni(u64::MAX, (u64::from(u32::MAX) - 1) * 8 + 7)
                .unwrap()
                .burst()
                .map(|b| b.bytes()),
            Some(u64::from(u32::MAX) - 1)
        );
        let cases = [
            (
                (0, 0),
                "rate limit \"rate=0 burst=0\" sets the rate to 0, which CNI reads as no limit",
            ),
            ((0, 800), "sets the rate to 0"),
            (
                (1_000, 0),
                "rate limit \"rate=1000 burst=0\" sets a rate but no burst; CNI requires both",
            ),
            (
                (1_000, 7),
                "has a burst of 7 bit(s), which is less than one byte",
            ),
            (
                (1_000, u64::from(u32::MAX) * 8),
                "has a burst of 34359738360 bits; CNI refuses bursts of 4 GB",
            ),
            ((1_000, u64::MAX), "CNI refuses bursts of 4 GB"),
        ];
        for ((r, b), fragment) in cases {
            let msg = RateSpec::from_cni(r, b).unwrap_err().to_string();
            assert!(msg.contains(fragment), "{r} {b}: {msg}");
        }
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Limits {
        rate: Rate,
        burst: ByteSize,
        limit: RateSpec,
    }

    #[test]
    fn serde_round_trip() {
        let text = r#"
rate = "100Mb/s"
burst = "64KiB"
limit = "1gbit burst 512kb peak 2gbit"
"#;
        let limits: Limits = toml::from_str(text).unwrap();
        assert_eq!(limits.rate, rate("100mbit"));
        assert_eq!(limits.burst, size("64kb"));
        assert_eq!(limits.limit, spec("1gbit burst 512kb peak 2gbit"));
        let out = toml::to_string(&limits).unwrap();
        assert!(out.contains("rate = \"100mbit\""), "{out}");
        assert!(out.contains("burst = \"64kb\""), "{out}");
        assert!(
            out.contains("limit = \"1gbit burst 512kb peak 2gbit\""),
            "{out}"
        );
        assert_eq!(toml::from_str::<Limits>(&out).unwrap(), limits);
    }

    #[test]
    fn serde_accepts_integers() {
        let limits: Limits =
            toml::from_str("rate = 1000000\nburst = 65536\nlimit = 10000000").unwrap();
        assert_eq!(limits.rate, rate("1mbit"));
        assert_eq!(limits.burst, size("64kb"));
        assert_eq!(limits.limit, spec("10mbit"));
    }

    #[test]
    fn spec_deserialises_from_a_table() {
        #[derive(Debug, serde::Deserialize)]
        struct T {
            limit: RateSpec,
        }
        let t: T =
            toml::from_str("limit = { rate = \"100mbit\", burst = \"64KiB\", peak = \"200mbit\" }")
                .unwrap();
        assert_eq!(t.limit, spec("100mbit burst 64kb peak 200mbit"));
        let t: T = toml::from_str("[limit]\nrate = \"10MB/s\"\n").unwrap();
        assert_eq!(t.limit, spec("80mbit"));
        let t: T = toml::from_str("limit = { rate = 1000, burst = 1500 }").unwrap();
        assert_eq!(t.limit, spec("1kbit burst 1500b"));
    }

    #[test]
    fn serde_errors_carry_our_messages() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)] // Only deserialised, to see the errors.
        struct T {
            limit: RateSpec,
        }
        let cases = [
            (
                "limit = \"0mbit\"",
                "rate \"0mbit\" is 0; a rate of 0 would block all traffic",
            ),
            (
                "limit = \"100mbit peak 1mbit\"",
                "which is below the rate 100mbit",
            ),
            ("limit = 0", "rate \"0\" is 0"),
            ("limit = -5", "rate \"-5\" is negative"),
            (
                "limit = { rate = \"5 mbit\" }",
                "rate \"5 mbit\" contains whitespace",
            ),
            (
                "limit = { rate = \"5mbit\", burst = \"8kbit\" }",
                "size \"8kbit\" has unit \"kbit\"",
            ),
            ("limit = { rate = \"5mbit\", burst = 0 }", "size \"0\" is 0"),
            (
                "limit = { rate = \"5mbit\", burst = -1 }",
                "size \"-1\" is negative",
            ),
            (
                "limit = { rate = \"5mbit\", peak = \"1mbit\" }",
                "rate limit \"5mbit peak 1mbit\" has peak 1mbit, which is below the rate 5mbit",
            ),
            ("limit = { burst = \"64k\" }", "missing field `rate`"),
            (
                "limit = { rate = \"5mbit\", ceil = \"6mbit\" }",
                "unknown field `ceil`",
            ),
            ("limit = true", "a rate limit: a string such as"),
            ("limit = 1.5", "a rate limit"),
            ("limit = { rate = true }", "a rate such as"),
            (
                "limit = { rate = \"1mbit\", burst = 1.5 }",
                "a size such as",
            ),
        ];
        for (text, fragment) in cases {
            let msg = toml::from_str::<T>(text).unwrap_err().to_string();
            assert!(msg.contains(fragment), "{text}: {msg}");
        }
    }
}
