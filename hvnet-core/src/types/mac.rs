//! [`MacAddr`] and [`MacPrefix`], plus the stable hash used to derive guest
//! MACs from names.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use super::error::{shown, MacReason, TypeError};

/// The I/G bit of the first octet: set for multicast (group) addresses.
const MULTICAST_BIT: u8 = 0x01;
/// The U/L bit of the first octet: set for locally administered addresses.
const LOCAL_BIT: u8 = 0x02;

/// A stable 64-bit hash of `data`: FNV-1a 64 followed by the 64-bit
/// finaliser of `MurmurHash3` (`fmix64`).
///
/// Unlike std's `DefaultHasher`, the result is fixed forever, on every
/// platform and Rust version. It is what [`MacAddr::derive`] uses, and may be
/// used to derive other persistent identifiers. It is **not** a cryptographic
/// hash. Precisely:
///
/// ```text
/// h = 0xcbf29ce484222325                      // FNV-1a 64 offset basis
/// for each byte b: h = (h ^ b) * 0x100000001b3 (mod 2^64)
/// h ^= h >> 33; h *= 0xff51afd7ed558ccd       // fmix64
/// h ^= h >> 33; h *= 0xc4ceb9f53fe1a85b
/// h ^= h >> 33
/// ```
///
/// The finaliser spreads every input bit over the whole output, so that the
/// high bytes used for MACs differ even for names differing in their last
/// character (plain FNV-1a mixes poorly into its high bits).
///
/// # Examples
///
/// ```
/// use hvnet_core::types::stable_hash64;
///
/// assert_eq!(stable_hash64(b"web1/nic0"), stable_hash64(b"web1/nic0"));
/// assert_ne!(stable_hash64(b"web1/nic0"), stable_hash64(b"web1/nic1"));
/// ```
#[must_use]
pub fn stable_hash64(data: &[u8]) -> u64 {
    fmix64(fnv1a64(data))
}

/// FNV-1a, 64-bit variant.
fn fnv1a64(data: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    data.iter()
        .fold(OFFSET_BASIS, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// The 64-bit finaliser of `MurmurHash3`: a bijective avalanche mix.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9f5_3fe1_a85b);
    h ^= h >> 33;
    h
}

/// Splits `text` into MAC octets. Groups are separated by all `:` or all `-`;
/// each must be exactly two hex digits (either case). Returns the octets and
/// how many there were. A group count outside `allowed` is reported (as
/// [`ParseFailure::Count`]) before the groups themselves are looked at.
fn parse_octets(
    text: &str,
    allowed: RangeInclusive<usize>,
) -> Result<([u8; 6], usize), ParseFailure> {
    if text.is_empty() {
        return Err(ParseFailure::Reason(MacReason::Empty));
    }
    let sep = match (text.contains(':'), text.contains('-')) {
        (true, true) => return Err(ParseFailure::Reason(MacReason::MixedSeparators)),
        (false, true) => '-',
        _ => ':',
    };
    let count = text.split(sep).count();
    if !allowed.contains(&count) || count > 6 {
        return Err(ParseFailure::Count(count));
    }
    let mut octets = [0u8; 6];
    for (index, (slot, group)) in octets.iter_mut().zip(text.split(sep)).enumerate() {
        *slot = parse_group(group).ok_or_else(|| {
            ParseFailure::Reason(MacReason::BadGroup {
                position: index + 1,
                group: shown(group),
            })
        })?;
    }
    Ok((octets, count))
}

/// Why [`parse_octets`] failed.
enum ParseFailure {
    /// Too many groups (the count is reported in a type-specific way).
    Count(usize),
    /// Any other problem.
    Reason(MacReason),
}

/// Parses exactly two ASCII hex digits.
fn parse_group(group: &str) -> Option<u8> {
    match group.as_bytes() {
        [hi, lo] => Some((hex_digit(*hi)? << 4) | hex_digit(*lo)?),
        _ => None,
    }
}

/// The value of one ASCII hex digit.
fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Writes `octets` as lowercase hex joined by `:`.
fn write_octets(f: &mut fmt::Formatter<'_>, octets: &[u8]) -> fmt::Result {
    for (i, o) in octets.iter().enumerate() {
        if i > 0 {
            f.write_str(":")?;
        }
        write!(f, "{o:02x}")?;
    }
    Ok(())
}

/// A 48-bit Ethernet MAC address.
///
/// Any six octets are a valid `MacAddr`; whether an address is suitable for
/// a guest (unicast, non-zero) is for the caller to check with
/// [`is_unicast`](Self::is_unicast) and friends.
///
/// Parsed from six groups of two hex digits separated by `:` or `-` (not
/// mixed), in either case; displayed in lowercase with `:`.
///
/// # Examples
///
/// ```
/// use hvnet_core::types::{MacAddr, MacPrefix};
///
/// # fn main() -> Result<(), hvnet_core::types::TypeError> {
/// let mac: MacAddr = "52-54-00-D7-8D-61".parse()?;
/// assert_eq!(mac.to_string(), "52:54:00:d7:8d:61");
/// assert!(mac.is_unicast() && mac.is_locally_administered());
/// assert!(MacPrefix::KVM.contains(&mac));
///
/// // The host side of a guest's tap, as libvirt does it:
/// assert_eq!(mac.with_first_octet(0xfe).to_string(), "fe:54:00:d7:8d:61");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The all-zero address `00:00:00:00:00:00`.
    pub const ZERO: MacAddr = MacAddr([0; 6]);
    /// The broadcast address `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// Wraps six octets.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::MacAddr;
    ///
    /// let mac = MacAddr::new([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    /// assert_eq!(mac.to_string(), "52:54:00:12:34:56");
    /// ```
    #[must_use]
    pub const fn new(octets: [u8; 6]) -> Self {
        Self(octets)
    }

    /// The six octets, most significant first.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::MacAddr;
    ///
    /// let mac = MacAddr::new([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    /// assert_eq!(mac.octets()[0], 0x52);
    /// ```
    #[must_use]
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// Whether this is an individual (unicast) address: the I/G bit (least
    /// significant bit of the first octet) is clear.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::MacAddr;
    ///
    /// assert!(MacAddr::new([0x52, 0x54, 0, 0, 0, 1]).is_unicast());
    /// assert!(!MacAddr::new([0x01, 0x00, 0x5e, 0, 0, 1]).is_unicast());
    /// ```
    #[must_use]
    pub const fn is_unicast(&self) -> bool {
        self.0[0] & MULTICAST_BIT == 0
    }

    /// Whether this is a group (multicast) address, including broadcast.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::MacAddr;
    ///
    /// assert!(MacAddr::new([0x01, 0x00, 0x5e, 0, 0, 1]).is_multicast());
    /// assert!(MacAddr::BROADCAST.is_multicast());
    /// ```
    #[must_use]
    pub const fn is_multicast(&self) -> bool {
        !self.is_unicast()
    }

    /// Whether the U/L bit (second least significant bit of the first octet)
    /// is set, meaning the address was not assigned by a manufacturer.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::MacAddr;
    ///
    /// assert!(MacAddr::new([0xfe, 0x54, 0, 0, 0, 1]).is_locally_administered());
    /// assert!(!MacAddr::new([0x00, 0x16, 0x3e, 0, 0, 1]).is_locally_administered());
    /// ```
    #[must_use]
    pub const fn is_locally_administered(&self) -> bool {
        self.0[0] & LOCAL_BIT != 0
    }

    /// Whether this is `00:00:00:00:00:00`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::MacAddr;
    ///
    /// assert!(MacAddr::ZERO.is_zero());
    /// assert!(!MacAddr::BROADCAST.is_zero());
    /// ```
    #[must_use]
    pub const fn is_zero(&self) -> bool {
        u64::from_be_bytes([
            0, 0, self.0[0], self.0[1], self.0[2], self.0[3], self.0[4], self.0[5],
        ]) == 0
    }

    /// Whether this is `ff:ff:ff:ff:ff:ff`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::MacAddr;
    ///
    /// assert!(MacAddr::BROADCAST.is_broadcast());
    /// assert!(!MacAddr::ZERO.is_broadcast());
    /// ```
    #[must_use]
    pub const fn is_broadcast(&self) -> bool {
        u64::from_be_bytes([
            0, 0, self.0[0], self.0[1], self.0[2], self.0[3], self.0[4], self.0[5],
        ]) == 0xffff_ffff_ffff
    }

    /// This address with its first octet replaced by `first`.
    ///
    /// hvnet gives the host side of a guest's tap `fe:` followed by the
    /// guest MAC's last five octets, as libvirt does; `fe` is unicast and
    /// locally administered, and is numerically high so that a bridge which
    /// takes the lowest port MAC as its own does not pick a guest-facing one.
    /// The caller chooses `first`; an odd value makes a multicast address.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::MacAddr;
    ///
    /// let guest = MacAddr::new([0x52, 0x54, 0x00, 0xd7, 0x8d, 0x61]);
    /// let host = guest.with_first_octet(0xfe);
    /// assert_eq!(host.to_string(), "fe:54:00:d7:8d:61");
    /// assert!(host.is_unicast() && host.is_locally_administered());
    /// ```
    #[must_use]
    pub const fn with_first_octet(self, first: u8) -> Self {
        let mut octets = self.0;
        octets[0] = first;
        Self(octets)
    }

    /// Builds an address from `prefix` followed by the first bytes of `tail`.
    ///
    /// Exactly `6 - prefix.octets().len()` bytes of `tail` are used; extra
    /// bytes are ignored and missing ones are zero. To generate a random MAC,
    /// pass that many random bytes (hvnet-core has no randomness of its own).
    ///
    /// With [`MacPrefix::XEN`], the most significant bit of the fourth octet
    /// is then cleared, as libxl does (Xen randomises only 23 bits).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::{MacAddr, MacPrefix};
    ///
    /// let mac = MacAddr::from_prefix_and_bytes(&MacPrefix::KVM, &[0xd7, 0x8d, 0x61]);
    /// assert_eq!(mac.to_string(), "52:54:00:d7:8d:61");
    ///
    /// let xen = MacAddr::from_prefix_and_bytes(&MacPrefix::XEN, &[0xff, 0xff, 0xff]);
    /// assert_eq!(xen.to_string(), "00:16:3e:7f:ff:ff");
    /// ```
    #[must_use]
    pub fn from_prefix_and_bytes(prefix: &MacPrefix, tail: &[u8]) -> Self {
        let mut octets = [0u8; 6];
        for (slot, byte) in octets
            .iter_mut()
            .zip(prefix.octets().iter().chain(tail.iter()))
        {
            *slot = *byte;
        }
        if prefix.is_xen() {
            octets[3] &= 0x7f;
        }
        Self(octets)
    }

    /// Derives a stable address from `prefix` and a `seed` such as
    /// `"web1/nic0"`, so a guest keeps its MAC across runs.
    ///
    /// The bytes after the prefix are the leading (big-endian) bytes of
    /// [`stable_hash64`]`(seed)`, placed as by
    /// [`from_prefix_and_bytes`](Self::from_prefix_and_bytes) (so
    /// [`MacPrefix::XEN`] also gets the top bit of the fourth octet cleared).
    /// The result never changes for a given prefix and seed; it is unicast
    /// because every [`MacPrefix`] is. Different seeds can still collide (with
    /// a three-octet prefix, 24 bits are free), so callers should check for
    /// duplicates.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::{MacAddr, MacPrefix};
    ///
    /// let a = MacAddr::derive(&MacPrefix::KVM, "web1/nic0");
    /// assert_eq!(a, MacAddr::derive(&MacPrefix::KVM, "web1/nic0"));
    /// assert!(MacPrefix::KVM.contains(&a));
    /// assert_ne!(a, MacAddr::derive(&MacPrefix::KVM, "web1/nic1"));
    /// ```
    #[must_use]
    pub fn derive(prefix: &MacPrefix, seed: &str) -> Self {
        Self::from_prefix_and_bytes(prefix, &stable_hash64(seed.as_bytes()).to_be_bytes())
    }
}

impl FromStr for MacAddr {
    type Err = TypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason| TypeError::MacAddr {
            input: shown(s),
            reason,
        };
        match parse_octets(s, 6..=6) {
            Ok((octets, _)) => Ok(Self(octets)),
            Err(ParseFailure::Count(found)) => Err(fail(MacReason::WrongGroupCount { found })),
            Err(ParseFailure::Reason(reason)) => Err(fail(reason)),
        }
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(octets: [u8; 6]) -> Self {
        Self(octets)
    }
}

impl From<MacAddr> for [u8; 6] {
    fn from(mac: MacAddr) -> Self {
        mac.0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_octets(f, &self.0)
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

/// Text (`"52:54:00:d7:8d:61"`) in human-readable formats (TOML, JSON: the config, the
/// journal, `show --json`); the six octets in binary ones (the config cache, where parsing
/// every guest's MACs back from text was most of what decoding a large config cost).
///
/// ```
/// use hvnet_core::types::MacAddr;
/// let mac: MacAddr = "52:54:00:d7:8d:61".parse().unwrap();
/// assert_eq!(serde_json::to_string(&mac).unwrap(), "\"52:54:00:d7:8d:61\"");
/// assert_eq!(postcard::to_stdvec(&mac).unwrap(), [0x52, 0x54, 0, 0xd7, 0x8d, 0x61]);
/// assert_eq!(postcard::from_bytes::<MacAddr>(&[0x52, 0x54, 0, 0xd7, 0x8d, 0x61]).unwrap(), mac);
/// ```
impl serde::Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> serde::Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;

        impl serde::de::Visitor<'_> for StrVisitor {
            type Value = MacAddr;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a MAC address such as \"52:54:00:d7:8d:61\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MacAddr, E> {
                v.parse().map_err(E::custom)
            }
        }

        if deserializer.is_human_readable() {
            deserializer.deserialize_str(StrVisitor)
        } else {
            <[u8; 6]>::deserialize(deserializer).map(MacAddr)
        }
    }
}

/// The first one to five octets shared by a family of MAC addresses, such as
/// an OUI.
///
/// A prefix's first octet never has the multicast bit set, so every address
/// built from it is unicast. Parsed like a [`MacAddr`] but with 1 to 5 groups
/// (`52:54:00`, `0a-c0`); displayed lowercase with `:`.
///
/// # Examples
///
/// ```
/// use hvnet_core::types::MacPrefix;
///
/// # fn main() -> Result<(), hvnet_core::types::TypeError> {
/// let p: MacPrefix = "0A-C0".parse()?;
/// assert_eq!(p.to_string(), "0a:c0");
/// assert!(p.is_locally_administered());
/// assert_eq!("52:54:00".parse::<MacPrefix>()?, MacPrefix::KVM);
/// assert!("01:00:5e".parse::<MacPrefix>().is_err()); // multicast
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacPrefix {
    /// The prefix octets; those at and after `len` are always zero.
    octets: [u8; 5],
    /// How many octets are in use, from 1 to 5.
    len: u8,
}

impl MacPrefix {
    /// `52:54:00`, the prefix QEMU and libvirt use for KVM guests.
    pub const KVM: MacPrefix = MacPrefix {
        octets: [0x52, 0x54, 0x00, 0, 0],
        len: 3,
    };

    /// `00:16:3e`, the Xen OUI.
    ///
    /// Addresses built from exactly this prefix get the most significant bit
    /// of their fourth octet cleared, as libxl does (it randomises 23 bits,
    /// leaving `00:16:3e:80:00:00` and above alone). A longer prefix such as
    /// `00:16:3e:12` is used as given.
    pub const XEN: MacPrefix = MacPrefix {
        octets: [0x00, 0x16, 0x3e, 0, 0],
        len: 3,
    };

    /// `02:68:76`: a locally administered unicast prefix (`02`) followed by
    /// `"hv"` in ASCII, for guests that need no vendor-specific prefix.
    pub const LOCAL: MacPrefix = MacPrefix {
        octets: [0x02, 0x68, 0x76, 0, 0],
        len: 3,
    };

    /// Builds a prefix from one to five octets.
    ///
    /// # Errors
    ///
    /// [`TypeError::MacPrefix`] if there are no octets or more than five, or
    /// if the first octet has the multicast bit set.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::MacPrefix;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!(MacPrefix::new(&[0x52, 0x54, 0x00])?, MacPrefix::KVM);
    /// assert!(MacPrefix::new(&[]).is_err());
    /// assert!(MacPrefix::new(&[0x33, 0x33]).is_err()); // multicast
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(octets: &[u8]) -> Result<Self, TypeError> {
        Self::checked(octets).map_err(|reason| {
            let mut input: String = octets
                .iter()
                .take(8)
                .map(|o| format!("{o:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            if octets.len() > 8 {
                input.push('…');
            }
            TypeError::MacPrefix { input, reason }
        })
    }

    /// Validates and stores one to five unicast octets.
    fn checked(octets: &[u8]) -> Result<Self, MacReason> {
        let first = *octets.first().ok_or(MacReason::Empty)?;
        let Ok(len @ 1..=5) = u8::try_from(octets.len()) else {
            return Err(MacReason::WrongPrefixLength {
                found: octets.len(),
            });
        };
        if first & MULTICAST_BIT != 0 {
            return Err(MacReason::Multicast { first });
        }
        let mut stored = [0u8; 5];
        for (slot, byte) in stored.iter_mut().zip(octets) {
            *slot = *byte;
        }
        Ok(Self {
            octets: stored,
            len,
        })
    }

    /// The prefix's octets (one to five of them).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::MacPrefix;
    ///
    /// assert_eq!(MacPrefix::XEN.octets(), &[0x00, 0x16, 0x3e]);
    /// ```
    #[must_use]
    pub fn octets(&self) -> &[u8] {
        self.octets.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// Whether the prefix's first octet has the U/L bit set, so every
    /// address built from it is locally administered.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::MacPrefix;
    ///
    /// assert!(MacPrefix::KVM.is_locally_administered());
    /// assert!(MacPrefix::LOCAL.is_locally_administered());
    /// assert!(!MacPrefix::XEN.is_locally_administered());
    /// ```
    #[must_use]
    pub const fn is_locally_administered(&self) -> bool {
        self.octets[0] & LOCAL_BIT != 0
    }

    /// Whether `mac` starts with this prefix.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::{MacAddr, MacPrefix};
    ///
    /// let mac = MacAddr::new([0x00, 0x16, 0x3e, 0x01, 0x02, 0x03]);
    /// assert!(MacPrefix::XEN.contains(&mac));
    /// assert!(!MacPrefix::KVM.contains(&mac));
    /// ```
    #[must_use]
    pub fn contains(&self, mac: &MacAddr) -> bool {
        mac.0.starts_with(self.octets())
    }

    /// Whether this is exactly [`MacPrefix::XEN`], whose derived addresses
    /// follow libxl's 23-bit convention.
    fn is_xen(self) -> bool {
        self == Self::XEN
    }
}

impl FromStr for MacPrefix {
    type Err = TypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let reason = match parse_octets(s, 1..=5) {
            Ok((octets, count)) => match Self::checked(octets.get(..count).unwrap_or_default()) {
                Ok(prefix) => return Ok(prefix),
                Err(reason) => reason,
            },
            Err(ParseFailure::Count(found)) => MacReason::WrongPrefixLength { found },
            Err(ParseFailure::Reason(reason)) => reason,
        };
        Err(TypeError::MacPrefix {
            input: shown(s),
            reason,
        })
    }
}

impl fmt::Display for MacPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_octets(f, self.octets())
    }
}

impl fmt::Debug for MacPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacPrefix({self})")
    }
}

serde_via_str!(
    MacPrefix,
    "a MAC prefix of 1 to 5 octets such as \"52:54:00\""
);

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(s: &str) -> MacAddr {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn fnv1a64_matches_reference_vectors() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn fmix64_reference_values() {
        assert_eq!(fmix64(0), 0);
        assert_eq!(fmix64(1), 0x2afe_3590_ef39_4c4a);
    }

    #[test]
    fn stable_hash64_is_pinned() {
        // Computed independently from the documented algorithm. Changing
        // these values changes every derived MAC: never do it.
        assert_eq!(stable_hash64(b""), 0x59a8_bd27_5271_1fb5);
        assert_eq!(stable_hash64(b"web1/nic0"), 0xfef9_cf81_401d_fa77);
    }

    #[test]
    fn derived_macs_are_pinned() {
        // Changing any of these changes guests' MACs across an upgrade.
        let cases = [
            (MacPrefix::KVM, "web1/nic0", "52:54:00:fe:f9:cf"),
            (MacPrefix::KVM, "web1/nic1", "52:54:00:3c:ce:41"),
            (MacPrefix::KVM, "db/nic0", "52:54:00:14:18:cf"),
            (MacPrefix::KVM, "", "52:54:00:59:a8:bd"),
            // Same hash as the first line, with the top bit of octet 4 cleared.
            (MacPrefix::XEN, "web1/nic0", "00:16:3e:7e:f9:cf"),
            (MacPrefix::LOCAL, "web1/nic0", "02:68:76:fe:f9:cf"),
        ];
        for (prefix, seed, expected) in cases {
            assert_eq!(
                MacAddr::derive(&prefix, seed).to_string(),
                expected,
                "{prefix} {seed:?}"
            );
        }
        let one = "0a".parse::<MacPrefix>().unwrap();
        assert_eq!(
            MacAddr::derive(&one, "web1/nic0").to_string(),
            "0a:fe:f9:cf:81:40"
        );
    }

    #[test]
    fn derived_macs_keep_prefix_and_are_unicast() {
        let prefixes = [
            MacPrefix::KVM,
            MacPrefix::XEN,
            MacPrefix::LOCAL,
            "0a".parse().unwrap(),
            "02:00:00:00:01".parse().unwrap(),
        ];
        for prefix in prefixes {
            for i in 0..200 {
                let m = MacAddr::derive(&prefix, &format!("guest{i}/nic0"));
                assert!(prefix.contains(&m), "{prefix} {m}");
                assert!(m.is_unicast(), "{m}");
            }
        }
    }

    #[test]
    fn derived_macs_spread_out() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000 {
            seen.insert(MacAddr::derive(&MacPrefix::LOCAL, &format!("g{i}/nic0")));
        }
        // 1000 seeds into 2^24 values: a handful of collisions at most.
        assert!(seen.len() >= 995, "{}", seen.len());
    }

    #[test]
    fn xen_clears_top_bit_of_fourth_octet() {
        for i in 0..500 {
            let m = MacAddr::derive(&MacPrefix::XEN, &format!("dom{i}"));
            assert_eq!(m.octets()[3] & 0x80, 0, "{m}");
        }
        let all_ones = [0xff; 3];
        assert_eq!(
            MacAddr::from_prefix_and_bytes(&MacPrefix::XEN, &all_ones).to_string(),
            "00:16:3e:7f:ff:ff"
        );
        // Other prefixes keep every bit.
        assert_eq!(
            MacAddr::from_prefix_and_bytes(&MacPrefix::KVM, &all_ones).to_string(),
            "52:54:00:ff:ff:ff"
        );
        // A longer Xen-based prefix is used as given.
        let longer: MacPrefix = "00:16:3e:ff".parse().unwrap();
        assert_eq!(
            MacAddr::from_prefix_and_bytes(&longer, &all_ones).to_string(),
            "00:16:3e:ff:ff:ff"
        );
        // Parsing the Xen OUI gives the same prefix, with the same rule.
        let parsed: MacPrefix = "00:16:3E".parse().unwrap();
        assert_eq!(parsed, MacPrefix::XEN);
        assert_eq!(
            MacAddr::from_prefix_and_bytes(&parsed, &all_ones).octets()[3],
            0x7f
        );
    }

    #[test]
    fn from_prefix_and_bytes_tail_lengths() {
        let p = MacPrefix::KVM;
        assert_eq!(
            MacAddr::from_prefix_and_bytes(&p, &[]).to_string(),
            "52:54:00:00:00:00"
        );
        assert_eq!(
            MacAddr::from_prefix_and_bytes(&p, &[1]).to_string(),
            "52:54:00:01:00:00"
        );
        assert_eq!(
            MacAddr::from_prefix_and_bytes(&p, &[1, 2, 3, 4, 5, 6, 7]).to_string(),
            "52:54:00:01:02:03"
        );
        let five: MacPrefix = "02:00:00:00:01".parse().unwrap();
        assert_eq!(
            MacAddr::from_prefix_and_bytes(&five, &[0xab, 0xcd]).to_string(),
            "02:00:00:00:01:ab"
        );
    }

    #[test]
    fn parses_valid_macs() {
        let cases = [
            ("52:54:00:d7:8d:61", "52:54:00:d7:8d:61"),
            ("52-54-00-d7-8d-61", "52:54:00:d7:8d:61"),
            ("52:54:00:D7:8D:61", "52:54:00:d7:8d:61"),
            ("52-54-00-D7-8d-61", "52:54:00:d7:8d:61"),
            ("00:00:00:00:00:00", "00:00:00:00:00:00"),
            ("FF:FF:FF:FF:FF:FF", "ff:ff:ff:ff:ff:ff"),
            ("01:00:5e:00:00:fb", "01:00:5e:00:00:fb"),
        ];
        for (input, canonical) in cases {
            let m = mac(input);
            assert_eq!(m.to_string(), canonical);
            assert_eq!(mac(canonical), m);
        }
    }

    #[test]
    fn rejects_invalid_macs() {
        let cases = [
            ("", "MAC address \"\" is empty"),
            ("52:54:00:d7:8d", "has 5 group(s)"),
            ("52:54:00:d7:8d:61:00", "has 7 group(s)"),
            ("525400d78d61", "has 1 group(s)"),
            ("5254.00d7.8d61", "has 1 group(s)"),
            ("52:54-00:d7:8d:61", "mixes ':' and '-' separators"),
            (
                "52:54:00:d7:8d:6",
                "has group 6 \"6\", which is not two hex digits",
            ),
            ("52:54:00:d7:8d:611", "has group 6 \"611\""),
            ("52:54:00:g7:8d:61", "has group 4 \"g7\""),
            ("52::00:d7:8d:61", "has group 2 \"\""),
            ("52:54:00:d7:8d:61:", "has 7 group(s)"),
            (" 52:54:00:d7:8d:61", "has group 1 \" 52\""),
            ("52:54:00:d7:8d:+1", "has group 6 \"+1\""),
            ("52:54:00:d7:8d:é1", "has group 6 \"é1\""),
        ];
        for (input, fragment) in cases {
            let err = input.parse::<MacAddr>().expect_err(input);
            assert!(matches!(err, TypeError::MacAddr { .. }));
            let msg = err.to_string();
            assert!(msg.contains(fragment), "{input:?}: {msg}");
            assert!(msg.starts_with("MAC address \""), "{msg}");
        }
    }

    #[test]
    fn address_classes() {
        let kvm = mac("52:54:00:d7:8d:61");
        assert!(kvm.is_unicast() && !kvm.is_multicast());
        assert!(kvm.is_locally_administered());
        assert!(!kvm.is_zero() && !kvm.is_broadcast());

        let xen = mac("00:16:3e:01:02:03");
        assert!(xen.is_unicast() && !xen.is_locally_administered());

        let mcast = mac("01:00:5e:00:00:01");
        assert!(mcast.is_multicast() && !mcast.is_unicast());
        assert!(!mcast.is_broadcast());

        assert!(MacAddr::BROADCAST.is_broadcast() && MacAddr::BROADCAST.is_multicast());
        assert!(MacAddr::ZERO.is_zero() && MacAddr::ZERO.is_unicast());
        assert!(!mac("00:00:00:00:00:01").is_zero());
        assert!(!mac("ff:ff:ff:ff:ff:fe").is_broadcast());

        let host = kvm.with_first_octet(0xfe);
        assert_eq!(host, mac("fe:54:00:d7:8d:61"));
        assert!(host.is_unicast() && host.is_locally_administered());
    }

    #[test]
    fn conversions_and_debug() {
        let m = MacAddr::from([0x52, 0x54, 0, 1, 2, 3]);
        let raw: [u8; 6] = m.into();
        assert_eq!(raw, [0x52, 0x54, 0, 1, 2, 3]);
        assert_eq!(format!("{m:?}"), "MacAddr(52:54:00:01:02:03)");
        assert_eq!(format!("{:?}", MacPrefix::XEN), "MacPrefix(00:16:3e)");
    }

    #[test]
    fn parses_valid_prefixes() {
        let cases = [
            ("52:54:00", &[0x52, 0x54, 0x00][..]),
            ("00:16:3e", &[0x00, 0x16, 0x3e][..]),
            ("0a:c0", &[0x0a, 0xc0][..]),
            ("0A-C0", &[0x0a, 0xc0][..]),
            ("02", &[0x02][..]),
            ("00", &[0x00][..]),
            ("fe:ff:ff:ff:ff", &[0xfe, 0xff, 0xff, 0xff, 0xff][..]),
        ];
        for (input, octets) in cases {
            let p: MacPrefix = input.parse().unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(p.octets(), octets);
            assert_eq!(p.to_string().parse::<MacPrefix>().unwrap(), p);
            assert_eq!(MacPrefix::new(octets).unwrap(), p);
        }
        assert_eq!(MacPrefix::KVM.to_string(), "52:54:00");
        assert_eq!(MacPrefix::XEN.to_string(), "00:16:3e");
        assert_eq!(MacPrefix::LOCAL.to_string(), "02:68:76");
    }

    #[test]
    fn rejects_invalid_prefixes() {
        let cases = [
            ("", "MAC prefix \"\" is empty"),
            (
                "52:54:00:d7:8d:61",
                "has 6 octet(s); a MAC prefix has 1 to 5",
            ),
            ("52:54:00:d7:8d:61:00", "has 7 octet(s)"),
            (
                "01:00:5e",
                "starts with 01, which has the multicast bit set",
            ),
            ("33:33", "starts with 33, which has the multicast bit set"),
            ("ff", "starts with ff"),
            ("52:54:0", "has group 3 \"0\", which is not two hex digits"),
            ("525400", "has group 1 \"525400\""),
            ("52-54:00", "mixes ':' and '-'"),
            ("52:54:", "has group 3 \"\""),
            ("zz", "has group 1 \"zz\""),
            ("52 54", "has group 1 \"52 54\""),
        ];
        for (input, fragment) in cases {
            let err = input.parse::<MacPrefix>().expect_err(input);
            assert!(matches!(err, TypeError::MacPrefix { .. }));
            let msg = err.to_string();
            assert!(msg.contains(fragment), "{input:?}: {msg}");
            assert!(msg.starts_with(&format!("MAC prefix {input:?}")), "{msg}");
        }
        let err = MacPrefix::new(&[1, 2, 3, 4, 5, 6]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MAC prefix \"01:02:03:04:05:06\" has 6 octet(s); a MAC prefix has 1 to 5, e.g. 52:54:00"
        );
    }

    #[test]
    fn prefix_flags_and_contains() {
        assert!(MacPrefix::KVM.is_locally_administered());
        assert!(MacPrefix::LOCAL.is_locally_administered());
        assert!(!MacPrefix::XEN.is_locally_administered());
        assert!(MacPrefix::KVM.contains(&mac("52:54:00:00:00:01")));
        assert!(!MacPrefix::KVM.contains(&mac("52:54:01:00:00:01")));
        let one: MacPrefix = "52".parse().unwrap();
        assert!(one.contains(&mac("52:00:00:00:00:00")));
    }

    #[test]
    fn serde_round_trip_json_like() {
        let m = mac("52:54:00:d7:8d:61");
        let text = toml::to_string(&Wrap { v: m }).unwrap();
        assert_eq!(text.trim(), "v = \"52:54:00:d7:8d:61\"");
        let back: Wrap<MacAddr> = toml::from_str(&text).unwrap();
        assert_eq!(back.v, m);
        let p: Wrap<MacPrefix> = toml::from_str("v = \"0a:c0\"").unwrap();
        assert_eq!(p.v.to_string(), "0a:c0");
    }

    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct Wrap<T> {
        v: T,
    }
}
