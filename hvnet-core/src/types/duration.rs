//! [`Duration`]: a non-negative span of time written like `1h30m` or `250ms`.

use std::fmt;
use std::str::FromStr;

use super::error::{shown, DurationReason, TypeError};

/// The units accepted, largest first, with their length in milliseconds.
const UNITS: [(&str, u128); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// A non-negative duration with millisecond precision, as written in
/// configuration files.
///
/// Accepted forms:
///
/// * one or more `NUMBER UNIT` parts written together, units `d`, `h`, `m`,
///   `s`, `ms`, each at most once and largest first: `60s`, `250ms`, `5m`,
///   `1h`, `2d`, `1h30m`, `1m500ms`;
/// * a bare whole number, meaning seconds: `0`, `15`.
///
/// Negative, fractional (`1.5s`), empty, whitespace-containing, unknown-unit
/// and out-of-range values are refused. [`Display`](fmt::Display) writes the
/// canonical form, largest units first and zero parts left out (`90m` is
/// shown as `1h30m`, zero as `0s`), which parses back to an equal value.
///
/// When deserialising, a non-negative integer (as in TOML
/// `forward_delay = 15`) is also accepted as a number of seconds.
///
/// # Examples
///
/// ```
/// use hvnet_core::types::Duration;
///
/// # fn main() -> Result<(), hvnet_core::types::TypeError> {
/// let d: Duration = "90m".parse()?;
/// assert_eq!(d.to_string(), "1h30m");
/// assert_eq!(d.as_std(), std::time::Duration::from_secs(5400));
/// assert_eq!("15".parse::<Duration>()?, Duration::from_secs(15));
/// assert_eq!("250ms".parse::<Duration>()?.as_centisecs(), 25);
/// assert!("1.5s".parse::<Duration>().is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Duration(
    /// Always a whole number of milliseconds.
    std::time::Duration,
);

impl Duration {
    /// The zero duration, shown as `0s`.
    pub const ZERO: Duration = Duration(std::time::Duration::ZERO);

    /// A duration of `secs` seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Duration;
    ///
    /// assert_eq!(Duration::from_secs(3600).to_string(), "1h");
    /// ```
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }

    /// A duration of `millis` milliseconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Duration;
    ///
    /// assert_eq!(Duration::from_millis(61_500).to_string(), "1m1s500ms");
    /// ```
    #[must_use]
    pub const fn from_millis(millis: u64) -> Self {
        Self(std::time::Duration::from_millis(millis))
    }

    /// The same span as a [`std::time::Duration`].
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Duration;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let d: Duration = "2m".parse()?;
    /// assert_eq!(d.as_std(), std::time::Duration::from_secs(120));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub const fn as_std(&self) -> std::time::Duration {
        self.0
    }

    /// Whole seconds, rounded down.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Duration;
    ///
    /// assert_eq!(Duration::from_millis(2_999).as_secs(), 2);
    /// ```
    #[must_use]
    pub const fn as_secs(&self) -> u64 {
        self.0.as_secs()
    }

    /// Total milliseconds (exact).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Duration;
    ///
    /// assert_eq!(Duration::from_secs(2).as_millis(), 2_000);
    /// ```
    #[must_use]
    pub const fn as_millis(&self) -> u128 {
        self.0.as_millis()
    }

    /// Hundredths of a second, the unit of Linux bridge timers
    /// (`forward_delay`, `hello_time`, `max_age`, `ageing_time`).
    ///
    /// Rounded **up**, so that a non-zero duration never becomes 0 (which
    /// means something different to the kernel, e.g. an ageing time of 0
    /// turns a bridge into a hub); saturates at `u64::MAX`. Callers writing a
    /// 32-bit kernel field should still range-check the result.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Duration;
    ///
    /// assert_eq!(Duration::from_secs(15).as_centisecs(), 1_500);
    /// assert_eq!(Duration::from_millis(250).as_centisecs(), 25);
    /// assert_eq!(Duration::from_millis(1).as_centisecs(), 1);
    /// ```
    #[must_use]
    pub fn as_centisecs(&self) -> u64 {
        let centis =
            u128::from(self.0.as_secs()) * 100 + u128::from(self.0.subsec_millis().div_ceil(10));
        u64::try_from(centis).unwrap_or(u64::MAX)
    }

    /// Whether this is the zero duration.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Duration;
    ///
    /// assert!(Duration::ZERO.is_zero());
    /// assert!(!Duration::from_millis(1).is_zero());
    /// ```
    #[must_use]
    pub const fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// Builds a duration from a total number of milliseconds.
    fn from_total_millis(total: u128) -> Result<Self, DurationReason> {
        let secs = u64::try_from(total / 1_000).map_err(|_| DurationReason::Overflow)?;
        let millis = u32::try_from(total % 1_000).map_err(|_| DurationReason::Overflow)?;
        Ok(Self(std::time::Duration::new(secs, millis * 1_000_000)))
    }
}

/// Parses the forms documented on [`Duration`].
fn parse(s: &str) -> Result<Duration, DurationReason> {
    if s.is_empty() {
        return Err(DurationReason::Empty);
    }
    if s.starts_with('-') {
        return Err(DurationReason::Negative);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(DurationReason::Whitespace);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let secs = parse_number(s)?;
        return Duration::from_total_millis(
            secs.checked_mul(1_000).ok_or(DurationReason::Overflow)?,
        );
    }

    let mut total: u128 = 0;
    let mut previous: Option<usize> = None;
    let mut rest = s;
    while !rest.is_empty() {
        let (number, after) = rest.split_at(
            rest.find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len()),
        );
        let (unit, tail) = after.split_at(
            after
                .find(|c: char| !c.is_alphabetic())
                .unwrap_or(after.len()),
        );
        if unit.is_empty() {
            // The number (if any) is followed by the end or a stray character.
            return Err(match tail.chars().next() {
                None => DurationReason::MissingUnit {
                    number: shown(number),
                },
                Some('.' | ',') if !number.is_empty() => DurationReason::Fraction,
                Some(ch) => DurationReason::UnexpectedChar { ch },
            });
        }
        if number.is_empty() {
            return Err(DurationReason::MissingNumber { unit: shown(unit) });
        }
        let index = UNITS
            .iter()
            .position(|(name, _)| *name == unit)
            .ok_or_else(|| DurationReason::UnknownUnit { unit: shown(unit) })?;
        if let Some(prev) = previous.filter(|&p| p >= index) {
            return Err(DurationReason::UnitOrder {
                unit: UNITS[index].0,
                previous: UNITS[prev].0,
            });
        }
        previous = Some(index);
        let part = parse_number(number)?
            .checked_mul(UNITS[index].1)
            .ok_or(DurationReason::Overflow)?;
        total = total.checked_add(part).ok_or(DurationReason::Overflow)?;
        rest = tail;
    }
    Duration::from_total_millis(total)
}

/// Parses a non-empty run of ASCII digits.
fn parse_number(digits: &str) -> Result<u128, DurationReason> {
    digits.parse().map_err(|_| DurationReason::Overflow)
}

impl FromStr for Duration {
    type Err = TypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s).map_err(|reason| TypeError::Duration {
            input: shown(s),
            reason,
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let parts = [
            (secs / 86_400, "d"),
            (secs % 86_400 / 3_600, "h"),
            (secs % 3_600 / 60, "m"),
            (secs % 60, "s"),
            (u64::from(self.0.subsec_millis()), "ms"),
        ];
        let mut wrote = false;
        for (value, unit) in parts {
            if value != 0 {
                write!(f, "{value}{unit}")?;
                wrote = true;
            }
        }
        if !wrote {
            f.write_str("0s")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Duration({self})")
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl serde::de::Visitor<'_> for DurationVisitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"250ms\" or \"1h30m\", or a whole number of seconds")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                Ok(Duration::from_secs(v))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                match u64::try_from(v) {
                    Ok(secs) => Ok(Duration::from_secs(secs)),
                    Err(_) => Err(E::custom(TypeError::Duration {
                        input: v.to_string(),
                        reason: DurationReason::Negative,
                    })),
                }
            }
        }

        deserializer.deserialize_any(DurationVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Duration {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn parses_valid_durations() {
        let cases: [(&str, u64, &str); 20] = [
            ("0", 0, "0s"),
            ("15", 15_000, "15s"),
            ("007", 7_000, "7s"),
            ("60s", 60_000, "1m"),
            ("250ms", 250, "250ms"),
            ("5m", 300_000, "5m"),
            ("1h", 3_600_000, "1h"),
            ("2d", 172_800_000, "2d"),
            ("1h30m", 5_400_000, "1h30m"),
            ("90m", 5_400_000, "1h30m"),
            ("1d2h3m4s5ms", 93_784_005, "1d2h3m4s5ms"),
            ("1m500ms", 60_500, "1m500ms"),
            ("1500ms", 1_500, "1s500ms"),
            ("0s", 0, "0s"),
            ("0ms", 0, "0s"),
            ("0h0m", 0, "0s"),
            ("36h", 129_600_000, "1d12h"),
            ("1d1ms", 86_400_001, "1d1ms"),
            ("100000d", 8_640_000_000_000, "100000d"),
            ("3s", 3_000, "3s"),
        ];
        for (input, millis, canonical) in cases {
            let parsed = d(input);
            assert_eq!(parsed, Duration::from_millis(millis), "{input}");
            assert_eq!(parsed.to_string(), canonical, "{input}");
            assert_eq!(d(canonical), parsed, "{canonical}");
        }
    }

    #[test]
    fn rejects_invalid_durations() {
        let cases = [
            ("", "duration \"\" is empty"),
            ("-5s", "duration \"-5s\" is negative"),
            ("-1", "is negative"),
            ("1.5s", "has a fractional part; use a smaller unit instead"),
            ("1,5s", "has a fractional part"),
            ("5 s", "contains whitespace"),
            (" 5s", "contains whitespace"),
            ("1h 30m", "contains whitespace"),
            ("5sec", "has unknown unit \"sec\"; use ms, s, m, h or d"),
            ("5S", "has unknown unit \"S\""),
            ("5us", "has unknown unit \"us\""),
            ("5w", "has unknown unit \"w\""),
            ("s", "has unit \"s\" without a number before it"),
            ("1hm", "has unknown unit \"hm\""),
            ("1h30", "has \"30\" without a unit"),
            (
                "30m1h",
                "has unit \"h\" after \"m\"; write each unit at most once, largest first",
            ),
            ("1m1m", "has unit \"m\" after \"m\""),
            ("1s1m", "has unit \"m\" after \"s\""),
            ("1ms1s", "has unit \"s\" after \"ms\""),
            ("+5s", "contains '+', which is neither a digit nor a unit"),
            ("5s!", "contains '!'"),
            ("5_000ms", "contains '_'"),
            ("1h-5m", "contains '-'"),
            (".5s", "contains '.'"),
            ("99999999999999999999999999999999999999999", "is too large"),
            ("18446744073709551616", "is too large"),
            ("999999999999999999999d", "is too large"),
            ("213503982334601d8h", "is too large"),
        ];
        for (input, fragment) in cases {
            let err = input.parse::<Duration>().expect_err(input);
            assert!(matches!(err, TypeError::Duration { .. }));
            let msg = err.to_string();
            assert!(msg.contains(fragment), "{input:?}: {msg}");
        }
    }

    #[test]
    fn display_round_trips_many_values() {
        // A fixed LCG so the values are spread over many magnitudes.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..2_000u32 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let millis = x >> (i % 64);
            let value = Duration::from_millis(millis);
            let text = value.to_string();
            assert_eq!(d(&text), value, "{millis} ms shown as {text}");
        }
    }

    #[test]
    fn extremes_round_trip() {
        let max = Duration::from_secs(u64::MAX);
        assert_eq!(max.to_string(), "213503982334601d7h15s");
        assert_eq!(d(&max.to_string()), max);
        let max_ms = d("18446744073709551615");
        assert_eq!(max_ms, max);
        let almost = Duration(std::time::Duration::new(u64::MAX, 999_000_000));
        assert_eq!(d(&almost.to_string()), almost);
        assert_eq!(
            "18446744073709551615s1000ms"
                .parse::<Duration>()
                .unwrap_err()
                .to_string(),
            "duration \"18446744073709551615s1000ms\" is too large"
        );
    }

    #[test]
    fn conversions() {
        let x = d("1m30s250ms");
        assert_eq!(x.as_std(), std::time::Duration::from_millis(90_250));
        assert_eq!(std::time::Duration::from(x), x.as_std());
        assert_eq!(x.as_secs(), 90);
        assert_eq!(x.as_millis(), 90_250);
        assert_eq!(x.as_centisecs(), 9_025);
        assert_eq!(Duration::from_millis(5).as_centisecs(), 1);
        assert_eq!(Duration::from_millis(10).as_centisecs(), 1);
        assert_eq!(Duration::from_millis(11).as_centisecs(), 2);
        assert_eq!(Duration::ZERO.as_centisecs(), 0);
        assert_eq!(Duration::from_secs(u64::MAX).as_centisecs(), u64::MAX);
        assert_eq!(Duration::default(), Duration::ZERO);
        assert!(Duration::ZERO.is_zero());
        assert_eq!(format!("{x:?}"), "Duration(1m30s250ms)");
        assert!(d("1s") < d("1001ms"));
    }

    #[test]
    fn serde_accepts_strings_and_integers() {
        #[derive(Debug, serde::Deserialize, serde::Serialize)]
        struct T {
            t: Duration,
        }
        let t: T = toml::from_str("t = \"1h30m\"").unwrap();
        assert_eq!(t.t, Duration::from_secs(5400));
        let t: T = toml::from_str("t = 15").unwrap();
        assert_eq!(t.t, Duration::from_secs(15));
        assert_eq!(toml::to_string(&t).unwrap().trim(), "t = \"15s\"");
        let err = toml::from_str::<T>("t = -4").unwrap_err().to_string();
        assert!(err.contains("duration \"-4\" is negative"), "{err}");
        let err = toml::from_str::<T>("t = \"4 s\"").unwrap_err().to_string();
        assert!(
            err.contains("duration \"4 s\" contains whitespace"),
            "{err}"
        );
        let err = toml::from_str::<T>("t = 1.5").unwrap_err().to_string();
        assert!(err.contains("a duration such as"), "{err}");
    }
}
