//! [`XlRate`]: xl's `rate=` vif option, parsed exactly as libxlutil parses
//! it, and the backend `rate` key it becomes in xenstore.

use std::fmt;
use std::str::FromStr;

use super::error::{shown, TypeError, XlRateReason};
use super::rate::Rate;

/// Microseconds in a second.
const USECS_PER_SEC: u64 = 1_000_000;

/// xl's rate multipliers (after the number, before `b`/`B`).
const MULTIPLIERS: [(char, u64); 3] = [('G', 1_000_000_000), ('M', 1_000_000), ('K', 1_000)];

/// The rate forms [`XlRate`]'s `Display` chooses from, in order of
/// preference when equally short: suffix, multiplier, whether it counts bits.
const DISPLAY_FORMS: [(&str, u64, bool); 8] = [
    ("GB/s", 1_000_000_000, false),
    ("Gb/s", 1_000_000_000, true),
    ("MB/s", 1_000_000, false),
    ("Mb/s", 1_000_000, true),
    ("KB/s", 1_000, false),
    ("Kb/s", 1_000, true),
    ("B/s", 1, false),
    ("b/s", 1, true),
];

/// A Xen vif rate limit as xl's `rate=RATE[@INTERVAL]` option sets it: up to
/// `bytes_per_interval` bytes may leave the guest every `interval_usecs`
/// microseconds. It is written to the backend's `rate` xenstore key as
/// `"<bytes_per_interval>,<interval_usecs>"` (see
/// [`xenstore_value`](Self::xenstore_value)), and netback enforces it on
/// **guest transmit only**.
///
/// [`FromStr`] parses exactly like libxlutil's `xlu_vif_parse_rate` (as
/// verified against Debian's `libxlutil` 4.17), quirks included:
///
/// * `RATE[@INTERVAL]`, split at the first `@`; an empty RATE is
///   "no rate specified";
/// * RATE is `DIGITS[K|M|G](b|B)/s`, case-sensitive: `K`, `M`, `G` are
///   decimal (10³, 10⁶, 10⁹); `B` is bytes and `b` bits, converted to whole
///   bytes per second by dividing by 8 **and dropping the remainder**; the
///   number must be from 1 to 4294967295 before the multiplier
///   ("rate overflow" otherwise, even for 0);
/// * INTERVAL is `DIGITS[m|u][s]`, case-sensitive: `s` **or no unit means
///   seconds** (xl's manual says microseconds; the code says seconds), `m`
///   or `ms` milliseconds, `u` or `us` microseconds; it must be from 1 µs to
///   4294967295 µs ("replenishment interval overflow"). The default is
///   50 ms;
/// * numbers are read like C's `strtoull(…, 0)`: a **leading `0` means
///   octal** (`010Mb/s` is 8 Mb/s, `@020ms` is 16 ms), and `0x…` is invalid;
/// * bytes per interval = bytes per second × interval in µs / 10⁶, the
///   remainder dropped; "rate overflow" if the product does not fit in 64
///   bits.
///
/// hvnet differs from xl in two deliberate ways, both refusing input that
/// xl accepts but that cannot be what was meant:
///
/// * a rate whose bytes per interval truncate to 0 (`100b/s`, `8b/s`,
///   `3b/s@1s`, `1KB/s@1us`) is refused ([`XlRateReason::BlocksGuest`]):
///   xl would write `0,<interval>` and the guest could never transmit;
/// * a number with a leading `0` that contains `8` or `9` (`08Mb/s`,
///   `@019ms`) is refused ([`XlRateReason::BadOctalRate`],
///   [`XlRateReason::BadOctalInterval`]): xl's `strtoull` silently stops at
///   the first non-octal digit, so `018Mb/s` would become 1 byte per second.
///
/// The text is also accepted in the xenstore form `250000,20000` (see
/// [`parse_xenstore`](Self::parse_xenstore)); xl itself rejects any comma, so
/// this changes the meaning of no xl input.
///
/// [`Display`](fmt::Display) writes the shortest xl text that parses back to
/// the same value, with the interval always explicit (`100Mb/s@20ms`,
/// `10MB/s@50ms`, `1Kb/s@50ms`). A few values read from xenstore have no xl
/// spelling (`1,3000000`: no whole number of bytes per second gives exactly
/// 1 byte per 3 s); those are written in the xenstore form. Either way the
/// text parses back to an equal value.
///
/// # Examples
///
/// ```
/// use hvnet_core::types::XlRate;
///
/// # fn main() -> Result<(), hvnet_core::types::TypeError> {
/// let r: XlRate = "100Mb/s@20ms".parse()?;
/// assert_eq!(r.xenstore_value(), "250000,20000");
/// assert_eq!(r.to_string(), "100Mb/s@20ms");
/// assert_eq!(r.rate().to_string(), "100mbit");
///
/// let r: XlRate = "10MB/s".parse()?;
/// assert_eq!((r.bytes_per_interval(), r.interval_usecs()), (500_000, 50_000));
///
/// // Octal, as in xl:
/// assert_eq!("010Mb/s".parse::<XlRate>()?.xenstore_value(), "50000,50000");
/// // Refused, unlike xl, which would block the guest:
/// let err = "100b/s".parse::<XlRate>().unwrap_err();
/// assert!(err.to_string().contains("would block the guest"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct XlRate {
    /// Bytes per interval, never 0.
    bytes_per_interval: u64,
    /// Replenishment interval in µs, never 0.
    interval_usecs: u32,
}

impl XlRate {
    /// xl's default replenishment interval: 50 ms.
    pub const DEFAULT_INTERVAL_USECS: u32 = 50_000;

    /// netback's smallest bucket: its credit refills are capped at
    /// `max(128 KiB, bytes per interval)` (`tx_add_credit` in
    /// `drivers/net/xen-netback/netback.c`).
    pub const NETBACK_MIN_BUCKET: u64 = 128 * 1024;

    /// A limit of `bytes_per_interval` bytes every `interval_usecs` µs.
    ///
    /// # Errors
    ///
    /// [`TypeError::XlRate`] with [`XlRateReason::ZeroCredit`] if
    /// `bytes_per_interval` is 0, or [`XlRateReason::IntervalOverflow`] if
    /// `interval_usecs` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::XlRate;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!(XlRate::new(250_000, 20_000)?.to_string(), "100Mb/s@20ms");
    /// assert!(XlRate::new(0, 20_000).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(bytes_per_interval: u64, interval_usecs: u32) -> Result<Self, TypeError> {
        Self::checked(bytes_per_interval, interval_usecs).map_err(|reason| TypeError::XlRate {
            input: format!("{bytes_per_interval},{interval_usecs}"),
            reason,
        })
    }

    /// [`new`](Self::new) without the error wrapping.
    fn checked(bytes_per_interval: u64, interval_usecs: u32) -> Result<Self, XlRateReason> {
        if interval_usecs == 0 {
            return Err(XlRateReason::IntervalOverflow {
                part: "0".to_owned(),
            });
        }
        if bytes_per_interval == 0 {
            return Err(XlRateReason::ZeroCredit);
        }
        Ok(Self {
            bytes_per_interval,
            interval_usecs,
        })
    }

    /// The limit closest to `rate` (rounded down to whole bytes per
    /// interval) with a replenishment interval of `interval_usecs` µs, for
    /// writing a rate given in another dialect to xenstore.
    ///
    /// The bytes per interval are `bits_per_sec × interval_usecs / 8 000 000`,
    /// the remainder dropped. (xl, parsing `…b/s` text, first drops the
    /// remainder of bits / 8 and then that of the product, which can give
    /// slightly less.)
    ///
    /// # Errors
    ///
    /// [`TypeError::XlRate`] with [`XlRateReason::IntervalOverflow`] if
    /// `interval_usecs` is 0, [`XlRateReason::BlocksGuest`] if the bytes per
    /// interval come to 0, or [`XlRateReason::RateOverflow`] if they do not
    /// fit in 64 bits.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::XlRate;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let r = XlRate::from_rate("100mbit".parse()?, XlRate::DEFAULT_INTERVAL_USECS)?;
    /// assert_eq!(r.xenstore_value(), "625000,50000");
    /// assert!(XlRate::from_rate("100bit".parse()?, 50_000).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_rate(rate: Rate, interval_usecs: u32) -> Result<Self, TypeError> {
        let input = format!("{rate}@{interval_usecs}us");
        let fail = |reason| TypeError::XlRate {
            input: input.clone(),
            reason,
        };
        if interval_usecs == 0 {
            return Err(fail(XlRateReason::IntervalOverflow {
                part: "0us".to_owned(),
            }));
        }
        let bytes = u128::from(rate.bits_per_sec()) * u128::from(interval_usecs)
            / u128::from(8 * USECS_PER_SEC);
        let bytes_per_interval = u64::try_from(bytes).map_err(|_| {
            fail(XlRateReason::RateOverflow {
                part: input.clone(),
            })
        })?;
        if bytes_per_interval == 0 {
            return Err(fail(XlRateReason::BlocksGuest {
                bytes_per_sec: rate.bits_per_sec() / 8,
                interval_usecs,
            }));
        }
        Ok(Self {
            bytes_per_interval,
            interval_usecs,
        })
    }

    /// Reads the backend's `rate` xenstore key, `"<bytes>,<usecs>"`, as
    /// netback does (two decimal numbers; a leading zero is decimal here).
    ///
    /// # Errors
    ///
    /// [`TypeError::XlRate`] with [`XlRateReason::BadXenstore`] if the
    /// value is not two decimal numbers separated by a comma,
    /// [`XlRateReason::RateOverflow`] or [`XlRateReason::IntervalOverflow`]
    /// if a number is out of range (the interval must be 1 to 4294967295),
    /// or [`XlRateReason::ZeroCredit`] for 0 bytes per interval (which xl
    /// writes for e.g. `rate=100b/s`, and which blocks the guest).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::XlRate;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let r = XlRate::parse_xenstore("250000,20000")?;
    /// assert_eq!(r, "100Mb/s@20ms".parse()?);
    /// assert!(XlRate::parse_xenstore("0,50000").is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn parse_xenstore(value: &str) -> Result<Self, TypeError> {
        parse_xenstore(value).map_err(|reason| TypeError::XlRate {
            input: shown(value),
            reason,
        })
    }

    /// Bytes the guest may send per interval (always above 0).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::XlRate;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!("1Kb/s".parse::<XlRate>()?.bytes_per_interval(), 6);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub const fn bytes_per_interval(&self) -> u64 {
        self.bytes_per_interval
    }

    /// The replenishment interval in microseconds (always above 0).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::XlRate;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!("1Mb/s@20".parse::<XlRate>()?.interval_usecs(), 20_000_000);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub const fn interval_usecs(&self) -> u32 {
        self.interval_usecs
    }

    /// The value of the backend's `rate` xenstore key:
    /// `"<bytes_per_interval>,<interval_usecs>"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::XlRate;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!("1MB/s@20ms".parse::<XlRate>()?.xenstore_value(), "20000,20000");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn xenstore_value(&self) -> String {
        format!("{},{}", self.bytes_per_interval, self.interval_usecs)
    }

    /// The token bucket netback gives this limit: `max(128 KiB, bytes per
    /// interval)` bytes ([`NETBACK_MIN_BUCKET`](Self::NETBACK_MIN_BUCKET)).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::XlRate;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!("100Mb/s@20ms".parse::<XlRate>()?.bucket_bytes(), 250_000);
    /// assert_eq!("10Mb/s@50ms".parse::<XlRate>()?.bucket_bytes(), 131_072);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn bucket_bytes(&self) -> u64 {
        self.bytes_per_interval.max(Self::NETBACK_MIN_BUCKET)
    }

    /// The average rate this limit allows: `bytes_per_interval × 8 × 10⁶ /
    /// interval_usecs` bits per second, rounded to the nearest bit, but at
    /// least 1 and at most `u64::MAX`.
    ///
    /// Because xl truncates, this can be a little below the rate written:
    /// `1Kb/s` allows 6 bytes per 50 ms, i.e. 960 bit/s.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::XlRate;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!("10MB/s".parse::<XlRate>()?.rate().to_string(), "80mbit");
    /// assert_eq!("1Kb/s".parse::<XlRate>()?.rate().bits_per_sec(), 960);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn rate(&self) -> Rate {
        let usecs = u128::from(self.interval_usecs);
        let bits = u128::from(self.bytes_per_interval) * 8 * u128::from(USECS_PER_SEC);
        let rounded = (bits + usecs / 2) / usecs;
        Rate::at_least_one_bit(u64::try_from(rounded).unwrap_or(u64::MAX))
    }

    /// The shortest xl text that parses back to `self`, if there is one.
    fn xl_text(&self) -> Option<String> {
        let usecs = u128::from(self.interval_usecs);
        let per_sec = u128::from(USECS_PER_SEC);
        let bytes = u128::from(self.bytes_per_interval);
        // xl gives `bytes` for exactly the bytes-per-second values in
        // [low, high).
        let low = (bytes * per_sec).div_ceil(usecs);
        let high = ((bytes + 1) * per_sec).div_ceil(usecs);
        let interval = interval_text(self.interval_usecs);
        let mut best: Option<String> = None;
        for (suffix, multiplier, bits) in DISPLAY_FORMS {
            let multiplier = u128::from(multiplier);
            // The smallest number whose bytes per second reach `low`.
            let number = if bits {
                (low * 8).div_ceil(multiplier)
            } else {
                low.div_ceil(multiplier)
            }
            .max(1);
            let per_sec = if bits {
                number * multiplier / 8
            } else {
                number * multiplier
            };
            if number > u128::from(u32::MAX) || per_sec >= high {
                continue;
            }
            let text = format!("{number}{suffix}@{interval}");
            let shorter = best.as_ref().is_none_or(|b| text.len() < b.len());
            if shorter && parse_xl(&text).ok() == Some(*self) {
                best = Some(text);
            }
        }
        best
    }
}

/// The interval in xl syntax, in the largest unit that shows it exactly.
fn interval_text(usecs: u32) -> String {
    if usecs % 1_000_000 == 0 {
        format!("{}s", usecs / 1_000_000)
    } else if usecs % 1_000 == 0 {
        format!("{}ms", usecs / 1_000)
    } else {
        format!("{usecs}us")
    }
}

/// Reads a run of ASCII digits as C's `strtoull(…, 0)` would: octal after a
/// leading `0`, else decimal; saturating at `u64::MAX` as `strtoull` does
/// (with `ERANGE`). `None` for a leading-zero number containing `8` or `9`,
/// where `strtoull` would silently stop early.
fn strtoull_base0(digits: &str) -> Option<u64> {
    let (digits, radix) = match digits.strip_prefix('0') {
        Some(rest) if !rest.is_empty() => (rest, 8),
        _ => (digits, 10),
    };
    if radix == 8 && digits.bytes().any(|b| b == b'8' || b == b'9') {
        return None;
    }
    Some(u64::from_str_radix(digits, radix).unwrap_or(u64::MAX))
}

/// Whether `s` is non-empty and all ASCII digits.
fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// xl's `vif_parse_rate_bytes_per_sec`: `DIGITS[K|M|G](b|B)/s` to whole
/// bytes per second.
fn parse_bytes_per_sec(part: &str) -> Result<u64, XlRateReason> {
    let invalid = || XlRateReason::InvalidRate { part: shown(part) };
    let body = part.strip_suffix("/s").ok_or_else(invalid)?;
    let (body, bits) = match (body.strip_suffix('b'), body.strip_suffix('B')) {
        (Some(body), _) => (body, true),
        (None, Some(body)) => (body, false),
        (None, None) => return Err(invalid()),
    };
    let (digits, multiplier) = MULTIPLIERS
        .iter()
        .find_map(|&(letter, multiplier)| body.strip_suffix(letter).map(|d| (d, multiplier)))
        .unwrap_or((body, 1));
    if !is_digits(digits) {
        return Err(invalid());
    }
    let number =
        strtoull_base0(digits).ok_or_else(|| XlRateReason::BadOctalRate { part: shown(part) })?;
    if number == 0 || number > u64::from(u32::MAX) {
        return Err(XlRateReason::RateOverflow { part: shown(part) });
    }
    // number ≤ 2^32 - 1 and multiplier ≤ 10^9 < 2^30: no overflow.
    let bytes = number * multiplier;
    Ok(if bits { bytes / 8 } else { bytes })
}

/// xl's `vif_parse_rate_interval_usecs`: `DIGITS[m|u][s]` to microseconds.
fn parse_interval(part: &str) -> Result<u32, XlRateReason> {
    let invalid = || XlRateReason::InvalidInterval { part: shown(part) };
    let (digits, unit) = part.split_at(
        part.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(part.len()),
    );
    if digits.is_empty() {
        return Err(invalid());
    }
    let scale: u64 = match unit {
        "" | "s" => USECS_PER_SEC,
        "m" | "ms" => 1_000,
        "u" | "us" => 1,
        _ => return Err(invalid()),
    };
    let overflow = || XlRateReason::IntervalOverflow { part: shown(part) };
    let number = strtoull_base0(digits)
        .ok_or_else(|| XlRateReason::BadOctalInterval { part: shown(part) })?;
    if number == 0 {
        return Err(overflow());
    }
    let number = u32::try_from(number).map_err(|_| overflow())?;
    // number < 2^32 and scale ≤ 10^6 < 2^20: no overflow in 64 bits.
    u32::try_from(u64::from(number) * scale).map_err(|_| overflow())
}

/// xl's `xlu_vif_parse_rate`, plus hvnet's refusal of a 0 result.
fn parse_xl(s: &str) -> Result<XlRate, XlRateReason> {
    let (rate_part, interval_part) = match s.split_once('@') {
        Some((rate, interval)) => (rate, Some(interval)),
        None => (s, None),
    };
    if rate_part.is_empty() {
        return Err(XlRateReason::NoRate);
    }
    let bytes_per_sec = parse_bytes_per_sec(rate_part)?;
    let interval_usecs = match interval_part {
        Some(part) => parse_interval(part)?,
        None => XlRate::DEFAULT_INTERVAL_USECS,
    };
    let bytes = bytes_per_sec
        .checked_mul(u64::from(interval_usecs))
        .ok_or_else(|| XlRateReason::RateOverflow { part: shown(s) })?;
    let bytes_per_interval = bytes / USECS_PER_SEC;
    if bytes_per_interval == 0 {
        return Err(XlRateReason::BlocksGuest {
            bytes_per_sec,
            interval_usecs,
        });
    }
    Ok(XlRate {
        bytes_per_interval,
        interval_usecs,
    })
}

/// Reads the xenstore form documented on [`XlRate::parse_xenstore`].
fn parse_xenstore(value: &str) -> Result<XlRate, XlRateReason> {
    let (bytes, usecs) = value
        .split_once(',')
        .filter(|(b, u)| is_digits(b) && is_digits(u))
        .ok_or(XlRateReason::BadXenstore)?;
    let bytes_per_interval: u64 = bytes
        .parse()
        .map_err(|_| XlRateReason::RateOverflow { part: shown(bytes) })?;
    let interval_usecs: u32 = usecs
        .parse()
        .map_err(|_| XlRateReason::IntervalOverflow { part: shown(usecs) })?;
    if interval_usecs == 0 {
        return Err(XlRateReason::IntervalOverflow { part: shown(usecs) });
    }
    XlRate::checked(bytes_per_interval, interval_usecs)
}

/// Whether `s` is in the xenstore form (digits, a comma, digits) rather than
/// xl syntax.
fn is_xenstore_form(s: &str) -> bool {
    s.split_once(',')
        .is_some_and(|(b, u)| is_digits(b) && is_digits(u))
}

impl FromStr for XlRate {
    type Err = TypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parsed = if is_xenstore_form(s) {
            parse_xenstore(s)
        } else {
            parse_xl(s)
        };
        parsed.map_err(|reason| TypeError::XlRate {
            input: shown(s),
            reason,
        })
    }
}

impl fmt::Display for XlRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.xl_text() {
            Some(text) => f.write_str(&text),
            None => f.write_str(&self.xenstore_value()),
        }
    }
}

serde_via_str!(XlRate, "an xl rate such as \"100Mb/s@20ms\" or \"10MB/s\"");

#[cfg(test)]
mod tests {
    use super::*;

    fn xl(s: &str) -> XlRate {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn err(input: &str, reason: XlRateReason) -> TypeError {
        TypeError::XlRate {
            input: input.to_owned(),
            reason,
        }
    }

    /// Every accepted row of xen-hotplug.md §15, with the key xl writes.
    const XL_ACCEPTED: [(&str, &str); 23] = [
        ("100Mb/s@20ms", "250000,20000"),
        ("100Mb/s", "625000,50000"),
        ("10MB/s", "500000,50000"),
        ("1MB/s@20ms", "20000,20000"),
        ("250KB/s", "12500,50000"),
        ("1Gb/s@50ms", "6250000,50000"),
        ("1Gb/s", "6250000,50000"),
        ("1GB/s", "50000000,50000"),
        ("1KB/s", "50,50000"),
        ("1Kb/s", "6,50000"),
        ("1B/s@1s", "1,1000000"),
        ("1Mb/s@20us", "2,20"),
        ("1MB/s@20u", "20,20"),
        ("1MB/s@20m", "20000,20000"),
        ("1MB/s@20s", "20000000,20000000"),
        ("1Mb/s@20", "2500000,20000000"),
        ("1MB/s@4294s", "4294000000,4294000000"),
        ("1MB/s@4294967ms", "4294967000,4294967000"),
        ("1MB/s@4294967295us", "4294967295,4294967295"),
        ("4294967295B/s", "214748364,50000"),
        ("4294967295GB/s@1us", "4294967295000,1"),
        ("010Mb/s", "50000,50000"),
        ("1MB/s@020ms", "16000,16000"),
    ];

    #[test]
    fn accepts_every_xl_row_with_xls_key() {
        for (input, key) in XL_ACCEPTED {
            let parsed = xl(input);
            assert_eq!(parsed.xenstore_value(), key, "{input}");
            assert_eq!(XlRate::parse_xenstore(key), Ok(parsed), "{input}");
        }
    }

    #[test]
    fn refuses_what_xl_truncates_to_zero() {
        // xl accepts these and writes the key shown, which blocks the guest.
        let cases = [
            ("100b/s", 12, 50_000),    // xl: "0,50000"
            ("8b/s", 1, 50_000),       // xl: "0,50000"
            ("3b/s@1s", 0, 1_000_000), // xl: "0,1000000"
            ("1KB/s@1us", 1_000, 1),   // xl: "0,1"
        ];
        for (input, bytes_per_sec, interval_usecs) in cases {
            let e = input.parse::<XlRate>().unwrap_err();
            assert_eq!(
                e,
                err(
                    input,
                    XlRateReason::BlocksGuest {
                        bytes_per_sec,
                        interval_usecs
                    }
                ),
                "{input}"
            );
            let msg = e.to_string();
            assert!(msg.contains("would block the guest"), "{msg}");
            assert!(msg.contains("truncates to 0 bytes per interval"), "{msg}");
        }
        assert_eq!(
            "100b/s".parse::<XlRate>().unwrap_err().to_string(),
            "xl rate \"100b/s\" would block the guest: 12 bytes per second × 50000 µs truncates \
             to 0 bytes per interval, and netback lets nothing through with 0 credit; use a \
             higher rate or a longer interval"
        );
    }

    #[test]
    fn rejects_every_xl_row_with_xls_error() {
        use XlRateReason::*;
        let p = |s: &str| s.to_owned();
        let cases = [
            ("0Mb/s", RateOverflow { part: p("0Mb/s") }),
            (
                "4294967296B/s",
                RateOverflow {
                    part: p("4294967296B/s"),
                },
            ),
            (
                "18446744073709551615B/s",
                RateOverflow {
                    part: p("18446744073709551615B/s"),
                },
            ),
            (
                "4294967295GB/s",
                RateOverflow {
                    part: p("4294967295GB/s"),
                },
            ),
            (
                "17GB/s@4294s",
                RateOverflow {
                    part: p("17GB/s@4294s"),
                },
            ),
            ("1MB/s@0", IntervalOverflow { part: p("0") }),
            ("1MB/s@0ms", IntervalOverflow { part: p("0ms") }),
            ("1MB/s@4295s", IntervalOverflow { part: p("4295s") }),
            (
                "1MB/s@4294968ms",
                IntervalOverflow {
                    part: p("4294968ms"),
                },
            ),
            (
                "1MB/s@4294967296us",
                IntervalOverflow {
                    part: p("4294967296us"),
                },
            ),
            ("", NoRate),
            ("@20ms", NoRate),
            (
                "0x10Mb/s",
                InvalidRate {
                    part: p("0x10Mb/s"),
                },
            ),
            ("100kb/s", InvalidRate { part: p("100kb/s") }),
            ("1mb/s", InvalidRate { part: p("1mb/s") }),
            ("1TB/s", InvalidRate { part: p("1TB/s") }),
            ("1Mbit/s", InvalidRate { part: p("1Mbit/s") }),
            (
                "100 Mb/s",
                InvalidRate {
                    part: p("100 Mb/s"),
                },
            ),
            (" 1MB/s", InvalidRate { part: p(" 1MB/s") }),
            ("1MB/s ", InvalidRate { part: p("1MB/s ") }),
            ("100Mb", InvalidRate { part: p("100Mb") }),
            ("MB/s", InvalidRate { part: p("MB/s") }),
            ("1MB/s@", InvalidInterval { part: p("") }),
            ("1MB/s@20ms@", InvalidInterval { part: p("20ms@") }),
            ("1MB/s@@20ms", InvalidInterval { part: p("@20ms") }),
            ("1MB/s@20 ms", InvalidInterval { part: p("20 ms") }),
            ("1MB/s@20MS", InvalidInterval { part: p("20MS") }),
            ("1MB/s@20ns", InvalidInterval { part: p("20ns") }),
            ("1MB/s@0x14ms", InvalidInterval { part: p("0x14ms") }),
        ];
        for (input, reason) in cases {
            let e = input.parse::<XlRate>().unwrap_err();
            assert_eq!(e, err(input, reason), "{input:?}");
        }
    }

    #[test]
    fn messages_carry_xls_wording() {
        let cases = [
            ("", "xl rate \"\" has no rate specified"),
            ("@20ms", "has no rate specified"),
            ("1mb/s", "xl rate \"1mb/s\" has invalid rate \"1mb/s\""),
            ("0Mb/s", "has rate overflow in \"0Mb/s\""),
            ("17GB/s@4294s", "has rate overflow in \"17GB/s@4294s\""),
            ("1MB/s@20MS", "has invalid replenishment interval \"20MS\""),
            ("1MB/s@0", "has replenishment interval overflow in \"0\""),
            ("1MB/s@4295s", "replenishment interval overflow"),
        ];
        for (input, fragment) in cases {
            let msg = input.parse::<XlRate>().unwrap_err().to_string();
            assert!(msg.contains(fragment), "{input:?}: {msg}");
        }
    }

    #[test]
    fn octal_numbers() {
        // Valid octal, as xl reads it.
        assert_eq!(xl("010Mb/s"), xl("8Mb/s"));
        assert_eq!(xl("07MB/s"), xl("7MB/s"));
        assert_eq!(xl("1MB/s@020ms"), xl("1MB/s@16ms"));
        assert_eq!(xl("0100B/s@1s").xenstore_value(), "64,1000000");
        assert_eq!(xl("1MB/s@010"), xl("1MB/s@8s"));
        // "0" and "00…" are zero: overflow, as in xl.
        assert_eq!(
            "00Mb/s".parse::<XlRate>().unwrap_err(),
            err(
                "00Mb/s",
                XlRateReason::RateOverflow {
                    part: "00Mb/s".to_owned()
                }
            )
        );
        assert_eq!(
            "1MB/s@00ms".parse::<XlRate>().unwrap_err(),
            err(
                "1MB/s@00ms",
                XlRateReason::IntervalOverflow {
                    part: "00ms".to_owned()
                }
            )
        );
        // 8 and 9 after a leading 0: xl stops early (018Mb/s = 1 byte/s,
        // @018ms = 1 µs); hvnet refuses.
        for (input, reason) in [
            (
                "018Mb/s",
                XlRateReason::BadOctalRate {
                    part: "018Mb/s".to_owned(),
                },
            ),
            (
                "09MB/s",
                XlRateReason::BadOctalRate {
                    part: "09MB/s".to_owned(),
                },
            ),
            (
                "1MB/s@018ms",
                XlRateReason::BadOctalInterval {
                    part: "018ms".to_owned(),
                },
            ),
            (
                "1MB/s@09",
                XlRateReason::BadOctalInterval {
                    part: "09".to_owned(),
                },
            ),
        ] {
            let e = input.parse::<XlRate>().unwrap_err();
            assert!(e.to_string().contains("octal"), "{e}");
            assert_eq!(e, err(input, reason), "{input}");
        }
        // Large octal numbers still overflow like decimal ones.
        assert!(matches!(
            "040000000000B/s".parse::<XlRate>(),
            Err(TypeError::XlRate {
                reason: XlRateReason::RateOverflow { .. },
                ..
            })
        ));
        assert_eq!(xl("037777777777B/s"), xl("4294967295B/s"));
    }

    #[test]
    fn interval_units() {
        let cases = [
            ("1MB/s@5", 5_000_000),
            ("1MB/s@5s", 5_000_000),
            ("1MB/s@5m", 5_000),
            ("1MB/s@5ms", 5_000),
            ("1MB/s@5u", 5),
            ("1MB/s@5us", 5),
            ("1MB/s", 50_000),
        ];
        for (input, usecs) in cases {
            assert_eq!(xl(input).interval_usecs(), usecs, "{input}");
        }
    }

    #[test]
    fn display_is_short_xl_text_that_round_trips() {
        let cases = [
            ("100Mb/s@20ms", "100Mb/s@20ms"),
            ("100Mb/s", "100Mb/s@50ms"),
            ("10MB/s", "10MB/s@50ms"),
            ("80Mb/s", "10MB/s@50ms"),
            ("250KB/s", "2Mb/s@50ms"),
            ("1Gb/s", "1Gb/s@50ms"),
            ("1GB/s", "1GB/s@50ms"),
            ("1KB/s", "1KB/s@50ms"),
            ("1Kb/s", "1Kb/s@50ms"),
            ("1B/s@1s", "1B/s@1s"),
            ("1Mb/s@20us", "1Mb/s@20us"),
            ("1Mb/s@20", "1Mb/s@20s"),
            ("1MB/s@4294967295us", "1MB/s@4294967295us"),
            ("4294967295GB/s@1us", "4294967295GB/s@1us"),
            ("010Mb/s", "1MB/s@50ms"),
            ("1MB/s@020ms", "1MB/s@16ms"),
        ];
        for (input, canonical) in cases {
            let parsed = xl(input);
            assert_eq!(parsed.to_string(), canonical, "{input}");
            assert_eq!(xl(canonical), parsed, "{canonical}");
        }
        for (input, _) in XL_ACCEPTED {
            let parsed = xl(input);
            assert_eq!(xl(&parsed.to_string()), parsed, "{input}");
        }
    }

    #[test]
    fn display_round_trips_any_value() {
        let mut x: u64 = 0x853c_49e6_748f_ea9b;
        for i in 0..3_000u32 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let bytes = (x >> (i % 64)).max(1);
            let usecs = u32::try_from((x >> 7) % u64::from(u32::MAX))
                .unwrap_or(1)
                .max(1)
                >> (i % 32);
            let Ok(value) = XlRate::new(bytes, usecs.max(1)) else {
                panic!("{bytes},{usecs}");
            };
            let text = value.to_string();
            assert_eq!(
                xl(&text),
                value,
                "{} shown as {text}",
                value.xenstore_value()
            );
        }
        // A value read from xenstore that xl text cannot express.
        let odd = XlRate::new(1, 3_000_000).unwrap();
        assert_eq!(odd.to_string(), "1,3000000");
        assert_eq!(xl("1,3000000"), odd);
        let top = XlRate::new(u64::MAX, 1).unwrap();
        assert_eq!(top.to_string(), "18446744073709551615,1");
        assert_eq!(xl(&top.to_string()), top);
    }

    #[test]
    fn rate_in_bits_per_second() {
        let cases = [
            ("100Mb/s@20ms", 100_000_000),
            ("100Mb/s", 100_000_000),
            ("10MB/s", 80_000_000),
            ("1Kb/s", 960),
            ("1B/s@1s", 8),
            ("1Mb/s@20us", 800_000),
            ("1MB/s@4294967295us", 8_000_000),
        ];
        for (input, bits) in cases {
            assert_eq!(xl(input).rate().bits_per_sec(), bits, "{input}");
        }
        // Rounded to nearest, at least 1, saturating.
        assert_eq!(XlRate::new(1, 3_000_000).unwrap().rate().bits_per_sec(), 3);
        assert_eq!(XlRate::new(1, u32::MAX).unwrap().rate().bits_per_sec(), 1);
        assert_eq!(xl("4294967295GB/s@1us").rate().bits_per_sec(), u64::MAX);
    }

    #[test]
    fn from_rate() {
        let rate = |s: &str| s.parse::<Rate>().unwrap_or_else(|e| panic!("{s}: {e}"));
        let r = XlRate::from_rate(rate("100mbit"), 20_000).unwrap();
        assert_eq!(r, xl("100Mb/s@20ms"));
        assert_eq!(
            XlRate::from_rate(rate("1kbit"), XlRate::DEFAULT_INTERVAL_USECS).unwrap(),
            xl("1Kb/s")
        );
        // One floor instead of xl's two: 1007 bit/s over 8 s is 1007 bytes.
        assert_eq!(
            XlRate::from_rate(rate("1007bit"), 8_000_000)
                .unwrap()
                .bytes_per_interval(),
            1_007
        );
        assert_eq!(
            XlRate::from_rate(rate("100bit"), 50_000).unwrap_err(),
            err(
                "100bit@50000us",
                XlRateReason::BlocksGuest {
                    bytes_per_sec: 12,
                    interval_usecs: 50_000
                }
            )
        );
        assert_eq!(
            XlRate::from_rate(rate("100mbit"), 0).unwrap_err(),
            err(
                "100mbit@0us",
                XlRateReason::IntervalOverflow {
                    part: "0us".to_owned()
                }
            )
        );
        let top = Rate::from_bits_per_sec(u64::MAX).unwrap();
        assert!(matches!(
            XlRate::from_rate(top, u32::MAX),
            Err(TypeError::XlRate {
                reason: XlRateReason::RateOverflow { .. },
                ..
            })
        ));
        assert_eq!(
            XlRate::from_rate(top, 1).unwrap().bytes_per_interval(),
            u64::MAX / 8_000_000
        );
    }

    #[test]
    fn parse_xenstore_reads_the_backend_key() {
        assert_eq!(
            XlRate::parse_xenstore("250000,20000").unwrap(),
            xl("100Mb/s@20ms")
        );
        assert_eq!(
            XlRate::parse_xenstore("18446744073709551615,4294967295")
                .unwrap()
                .bytes_per_interval(),
            u64::MAX
        );
        // netback reads %lu: decimal, even with a leading zero.
        assert_eq!(
            XlRate::parse_xenstore("010,020").unwrap(),
            XlRate::new(10, 20).unwrap()
        );
        use XlRateReason::*;
        let cases = [
            ("0,50000", ZeroCredit),
            (
                "1,0",
                IntervalOverflow {
                    part: "0".to_owned(),
                },
            ),
            (
                "1,4294967296",
                IntervalOverflow {
                    part: "4294967296".to_owned(),
                },
            ),
            (
                "18446744073709551616,1",
                RateOverflow {
                    part: "18446744073709551616".to_owned(),
                },
            ),
            ("", BadXenstore),
            ("250000", BadXenstore),
            ("250000,", BadXenstore),
            (",20000", BadXenstore),
            ("250000, 20000", BadXenstore),
            ("250000,20000,1", BadXenstore),
            ("-1,20000", BadXenstore),
            ("+1,20000", BadXenstore),
            ("100Mb/s@20ms", BadXenstore),
        ];
        for (input, reason) in cases {
            assert_eq!(
                XlRate::parse_xenstore(input).unwrap_err(),
                err(input, reason),
                "{input:?}"
            );
        }
        assert_eq!(
            XlRate::parse_xenstore("0,50000").unwrap_err().to_string(),
            "xl rate \"0,50000\" would block the guest: 0 bytes per interval means netback never \
             lets it transmit"
        );
        assert!(XlRate::parse_xenstore("x")
            .unwrap_err()
            .to_string()
            .contains("is not BYTES,MICROSECONDS"));
    }

    #[test]
    fn new_checks_both_numbers() {
        assert_eq!(
            XlRate::new(0, 1).unwrap_err(),
            err("0,1", XlRateReason::ZeroCredit)
        );
        assert_eq!(
            XlRate::new(1, 0).unwrap_err(),
            err(
                "1,0",
                XlRateReason::IntervalOverflow {
                    part: "0".to_owned()
                }
            )
        );
    }

    #[test]
    fn from_str_accepts_the_xenstore_form_but_not_loose_commas() {
        assert_eq!(xl("250000,20000"), xl("100Mb/s@20ms"));
        assert!(matches!(
            "1,5MB/s".parse::<XlRate>(),
            Err(TypeError::XlRate {
                reason: XlRateReason::InvalidRate { .. },
                ..
            })
        ));
        assert!(matches!(
            "0,50000".parse::<XlRate>(),
            Err(TypeError::XlRate {
                reason: XlRateReason::ZeroCredit,
                ..
            })
        ));
    }

    #[test]
    fn serde_as_string() {
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct T {
            rate: XlRate,
        }
        let t: T = toml::from_str("rate = \"100Mb/s@20ms\"").unwrap();
        assert_eq!(t.rate.xenstore_value(), "250000,20000");
        let out = toml::to_string(&t).unwrap();
        assert_eq!(out.trim(), "rate = \"100Mb/s@20ms\"");
        assert_eq!(toml::from_str::<T>(&out).unwrap(), t);
        let msg = toml::from_str::<T>("rate = \"100b/s\"")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("xl rate \"100b/s\" would block the guest"),
            "{msg}"
        );
        let msg = toml::from_str::<T>("rate = 5").unwrap_err().to_string();
        assert!(msg.contains("an xl rate such as"), "{msg}");
    }
}
