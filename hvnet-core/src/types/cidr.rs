//! [`Ipv4Cidr`] (an address with its prefix length) and [`Ipv4Range`] (an
//! inclusive span of addresses).
//!
//! Both are IPv4-only by name so that an `IpCidr` enum over IPv4 and IPv6 can
//! be added later without renaming anything.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use super::error::{shown, Ipv4Reason, TypeError};

/// Parses a dotted-quad address strictly: four decimal octets, each 0–255,
/// with no leading zeros, signs or whitespace.
fn parse_ipv4(text: &str) -> Result<Ipv4Addr, Ipv4Reason> {
    let found = text.split('.').count();
    if found != 4 {
        return Err(Ipv4Reason::OctetCount {
            address: shown(text),
            found,
        });
    }
    let mut octets = [0u8; 4];
    for (slot, part) in octets.iter_mut().zip(text.split('.')) {
        *slot = parse_octet(part)?;
    }
    Ok(Ipv4Addr::from(octets))
}

/// Parses one decimal octet of a dotted quad.
fn parse_octet(part: &str) -> Result<u8, Ipv4Reason> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Ipv4Reason::BadOctet { octet: shown(part) });
    }
    if part.len() > 1 && part.starts_with('0') {
        return Err(Ipv4Reason::LeadingZero { octet: shown(part) });
    }
    part.parse()
        .map_err(|_| Ipv4Reason::OctetOutOfRange { octet: shown(part) })
}

/// The netmask of a `/prefix_len` network as a number (`prefix_len` ≤ 32).
fn mask(prefix_len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0)
}

/// An IPv4 address together with a prefix length, as in `192.168.122.1/24`.
///
/// The address keeps its host bits: `192.168.122.1/24` is the host's address
/// on the `192.168.122.0/24` network, and is not equal to
/// `192.168.122.0/24`. Use [`network`](Self::network) or
/// [`trunc`](Self::trunc) for the network itself.
///
/// Parsing is strict: the prefix length is required (0–32), and octets with
/// leading zeros (`010`) are refused because some tools read them as octal.
///
/// Ordering is by address, then prefix length.
///
/// # Examples
///
/// ```
/// use std::net::Ipv4Addr;
/// use hvnet_core::types::Ipv4Cidr;
///
/// # fn main() -> Result<(), hvnet_core::types::TypeError> {
/// let cidr: Ipv4Cidr = "192.168.122.1/24".parse()?;
/// assert_eq!(cidr.addr(), Ipv4Addr::new(192, 168, 122, 1));
/// assert_eq!(cidr.prefix_len(), 24);
/// assert_eq!(cidr.network(), Ipv4Addr::new(192, 168, 122, 0));
/// assert_eq!(cidr.broadcast(), Ipv4Addr::new(192, 168, 122, 255));
/// assert_eq!(cidr.netmask(), Ipv4Addr::new(255, 255, 255, 0));
/// assert!(cidr.contains(Ipv4Addr::new(192, 168, 122, 200)));
/// assert_eq!(cidr.hosts(), 254);
/// assert_eq!(cidr.to_string(), "192.168.122.1/24");
///
/// assert!("192.168.122.1".parse::<Ipv4Cidr>().is_err()); // no prefix length
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Cidr {
    /// The address, host bits included.
    addr: Ipv4Addr,
    /// The prefix length, 0 to 32.
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// `0.0.0.0/0`, the destination of a default route.
    ///
    /// ```
    /// assert_eq!(hvnet_core::types::Ipv4Cidr::DEFAULT.to_string(), "0.0.0.0/0");
    /// ```
    pub const DEFAULT: Ipv4Cidr = Ipv4Cidr {
        addr: Ipv4Addr::UNSPECIFIED,
        prefix_len: 0,
    };

    /// A single host, `addr/32`.
    ///
    /// ```
    /// let h = hvnet_core::types::Ipv4Cidr::host("10.0.5.1".parse().unwrap());
    /// assert_eq!(h.to_string(), "10.0.5.1/32");
    /// ```
    pub const fn host(addr: Ipv4Addr) -> Self {
        Ipv4Cidr {
            addr,
            prefix_len: 32,
        }
    }

    /// Combines an address and a prefix length.
    ///
    /// # Errors
    ///
    /// [`TypeError::Ipv4Cidr`] if `prefix_len` is greater than 32.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use hvnet_core::types::Ipv4Cidr;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let cidr = Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 1), 8)?;
    /// assert_eq!(cidr.to_string(), "10.0.0.1/8");
    /// assert!(Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 1), 33).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Result<Self, TypeError> {
        if prefix_len > 32 {
            return Err(TypeError::Ipv4Cidr {
                input: format!("{addr}/{prefix_len}"),
                reason: Ipv4Reason::BadPrefix {
                    prefix: prefix_len.to_string(),
                },
            });
        }
        Ok(Self { addr, prefix_len })
    }

    /// The address as given, host bits included.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use hvnet_core::types::Ipv4Cidr;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let cidr: Ipv4Cidr = "10.1.2.3/8".parse()?;
    /// assert_eq!(cidr.addr(), Ipv4Addr::new(10, 1, 2, 3));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub const fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length, from 0 to 32.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Ipv4Cidr;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!("10.1.2.3/8".parse::<Ipv4Cidr>()?.prefix_len(), 8);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The netmask, e.g. `255.255.255.0` for `/24` and `0.0.0.0` for `/0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use hvnet_core::types::Ipv4Cidr;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!("10.1.2.3/20".parse::<Ipv4Cidr>()?.netmask(), Ipv4Addr::new(255, 255, 240, 0));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(mask(self.prefix_len))
    }

    /// The network address: [`addr`](Self::addr) with the host bits cleared.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use hvnet_core::types::Ipv4Cidr;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!("10.1.2.3/8".parse::<Ipv4Cidr>()?.network(), Ipv4Addr::new(10, 0, 0, 0));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & mask(self.prefix_len))
    }

    /// The highest address of the block: [`addr`](Self::addr) with the host
    /// bits set. For `/31` and `/32` this is an ordinary host address, not a
    /// broadcast address (see [`is_broadcast_address`](Self::is_broadcast_address)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use hvnet_core::types::Ipv4Cidr;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!("10.1.2.3/8".parse::<Ipv4Cidr>()?.broadcast(), Ipv4Addr::new(10, 255, 255, 255));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask(self.prefix_len))
    }

    /// This block with the host bits of the address cleared, e.g.
    /// `192.168.122.0/24` for `192.168.122.1/24` (the form routes use).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Ipv4Cidr;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let host: Ipv4Cidr = "192.168.122.1/24".parse()?;
    /// assert_eq!(host.trunc().to_string(), "192.168.122.0/24");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn trunc(&self) -> Self {
        Self {
            addr: self.network(),
            prefix_len: self.prefix_len,
        }
    }

    /// Whether `ip` lies within this block.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use hvnet_core::types::Ipv4Cidr;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let cidr: Ipv4Cidr = "192.168.122.1/24".parse()?;
    /// assert!(cidr.contains(Ipv4Addr::new(192, 168, 122, 255)));
    /// assert!(!cidr.contains(Ipv4Addr::new(192, 168, 123, 0)));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let m = mask(self.prefix_len);
        u32::from(ip) & m == u32::from(self.addr) & m
    }

    /// Whether [`addr`](Self::addr) is the network address of a block that
    /// has one. Always `false` for `/31` and `/32`, whose every address is a
    /// usable host address (RFC 3021).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Ipv4Cidr;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert!("192.168.122.0/24".parse::<Ipv4Cidr>()?.is_network_address());
    /// assert!(!"192.168.122.1/24".parse::<Ipv4Cidr>()?.is_network_address());
    /// assert!(!"10.0.0.0/31".parse::<Ipv4Cidr>()?.is_network_address());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn is_network_address(&self) -> bool {
        self.prefix_len <= 30 && self.addr == self.network()
    }

    /// Whether [`addr`](Self::addr) is the broadcast address of a block that
    /// has one. Always `false` for `/31` and `/32`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Ipv4Cidr;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert!("192.168.122.255/24".parse::<Ipv4Cidr>()?.is_broadcast_address());
    /// assert!(!"192.168.122.254/24".parse::<Ipv4Cidr>()?.is_broadcast_address());
    /// assert!(!"10.0.0.1/31".parse::<Ipv4Cidr>()?.is_broadcast_address());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn is_broadcast_address(&self) -> bool {
        self.prefix_len <= 30 && self.addr == self.broadcast()
    }

    /// How many usable host addresses the block has: 2<sup>32−len</sup> − 2
    /// for `/0` to `/30`, 2 for `/31` (RFC 3021) and 1 for `/32`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Ipv4Cidr;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!("10.0.0.1/24".parse::<Ipv4Cidr>()?.hosts(), 254);
    /// assert_eq!("10.0.0.1/31".parse::<Ipv4Cidr>()?.hosts(), 2);
    /// assert_eq!("10.0.0.1/32".parse::<Ipv4Cidr>()?.hosts(), 1);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn hosts(&self) -> u64 {
        self.host_range().len()
    }

    /// The usable host addresses as a range: network + 1 to broadcast − 1
    /// for `/0` to `/30`, both addresses for `/31`, and the one address for
    /// `/32`. Handy as a default DHCP pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Ipv4Cidr;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let cidr: Ipv4Cidr = "192.168.122.1/24".parse()?;
    /// assert_eq!(cidr.host_range().to_string(), "192.168.122.1-192.168.122.254");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn host_range(&self) -> Ipv4Range {
        let network = u32::from(self.network());
        let broadcast = u32::from(self.broadcast());
        let (start, end) = if self.prefix_len <= 30 {
            // At least four addresses, so neither step can wrap.
            (network.saturating_add(1), broadcast.saturating_sub(1))
        } else {
            (network, broadcast)
        };
        Ipv4Range {
            start: Ipv4Addr::from(start),
            end: Ipv4Addr::from(end),
        }
    }

    /// Whether this block and `other` share any address.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Ipv4Cidr;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let a: Ipv4Cidr = "10.0.0.1/16".parse()?;
    /// assert!(a.overlaps(&"10.0.5.1/24".parse()?));
    /// assert!(!a.overlaps(&"10.1.0.1/24".parse()?));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        let m = mask(self.prefix_len.min(other.prefix_len));
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }
}

impl FromStr for Ipv4Cidr {
    type Err = TypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_cidr(s).map_err(|reason| TypeError::Ipv4Cidr {
            input: shown(s),
            reason,
        })
    }
}

/// Parses `a.b.c.d/len`.
fn parse_cidr(s: &str) -> Result<Ipv4Cidr, Ipv4Reason> {
    if s.is_empty() {
        return Err(Ipv4Reason::Empty);
    }
    let (addr, prefix) = s.split_once('/').ok_or(Ipv4Reason::MissingPrefix)?;
    let addr = parse_ipv4(addr)?;
    let bad_prefix = || Ipv4Reason::BadPrefix {
        prefix: shown(prefix),
    };
    let prefix_len = parse_prefix_len(prefix, 32).ok_or_else(bad_prefix)?;
    Ok(Ipv4Cidr { addr, prefix_len })
}

/// A prefix length from 0 to `max`, in decimal without leading zeros.
pub(super) fn parse_prefix_len(prefix: &str, max: u8) -> Option<u8> {
    let digits_ok = !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && (prefix == "0" || !prefix.starts_with('0'));
    if !digits_ok {
        return None;
    }
    prefix.parse::<u8>().ok().filter(|p| *p <= max)
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl fmt::Debug for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ipv4Cidr({self})")
    }
}

serde_via_str!(
    Ipv4Cidr,
    "an IPv4 CIDR (address/prefix length) such as \"192.168.122.1/24\""
);

/// An inclusive range of IPv4 addresses, as in
/// `192.168.122.2-192.168.122.254`; never empty (start ≤ end).
///
/// # Examples
///
/// ```
/// use std::net::Ipv4Addr;
/// use hvnet_core::types::{Ipv4Cidr, Ipv4Range};
///
/// # fn main() -> Result<(), hvnet_core::types::TypeError> {
/// let pool: Ipv4Range = "192.168.122.2-192.168.122.254".parse()?;
/// assert_eq!(pool.len(), 253);
/// assert!(pool.contains(Ipv4Addr::new(192, 168, 122, 100)));
/// assert!(pool.within(&"192.168.122.1/24".parse::<Ipv4Cidr>()?));
/// assert!("192.168.122.9-192.168.122.2".parse::<Ipv4Range>().is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Range {
    /// The first address.
    start: Ipv4Addr,
    /// The last address, not before `start`.
    end: Ipv4Addr,
}

impl Ipv4Range {
    /// Builds the range from `start` to `end`, both included.
    ///
    /// # Errors
    ///
    /// [`TypeError::Ipv4Range`] if `start` is after `end`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use hvnet_core::types::Ipv4Range;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let one = Ipv4Range::new(Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 5))?;
    /// assert_eq!(one.len(), 1);
    /// assert!(Ipv4Range::new(Ipv4Addr::new(10, 0, 0, 6), Ipv4Addr::new(10, 0, 0, 5)).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(start: Ipv4Addr, end: Ipv4Addr) -> Result<Self, TypeError> {
        if start > end {
            return Err(TypeError::Ipv4Range {
                input: format!("{start}-{end}"),
                reason: Ipv4Reason::Reversed { start, end },
            });
        }
        Ok(Self { start, end })
    }

    /// The first address of the range.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use hvnet_core::types::Ipv4Range;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let r: Ipv4Range = "10.0.0.2-10.0.0.9".parse()?;
    /// assert_eq!(r.start(), Ipv4Addr::new(10, 0, 0, 2));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub const fn start(&self) -> Ipv4Addr {
        self.start
    }

    /// The last address of the range (included).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use hvnet_core::types::Ipv4Range;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let r: Ipv4Range = "10.0.0.2-10.0.0.9".parse()?;
    /// assert_eq!(r.end(), Ipv4Addr::new(10, 0, 0, 9));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub const fn end(&self) -> Ipv4Addr {
        self.end
    }

    /// Whether `ip` lies in the range.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use hvnet_core::types::Ipv4Range;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let r: Ipv4Range = "10.0.0.2-10.0.0.9".parse()?;
    /// assert!(r.contains(Ipv4Addr::new(10, 0, 0, 9)));
    /// assert!(!r.contains(Ipv4Addr::new(10, 0, 0, 10)));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.start <= ip && ip <= self.end
    }

    /// How many addresses the range holds (1 to 2<sup>32</sup>).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Ipv4Range;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!("10.0.0.2-10.0.0.9".parse::<Ipv4Range>()?.len(), 8);
    /// assert_eq!("0.0.0.0-255.255.255.255".parse::<Ipv4Range>()?.len(), 1 << 32);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn len(&self) -> u64 {
        u64::from(u32::from(self.end)) - u64::from(u32::from(self.start)) + 1
    }

    /// Always `false`: a range holds at least one address. Provided for
    /// symmetry with [`len`](Self::len).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Ipv4Range;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert!(!"10.0.0.2-10.0.0.2".parse::<Ipv4Range>()?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// Whether the whole range lies within `cidr`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::{Ipv4Cidr, Ipv4Range};
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let net: Ipv4Cidr = "192.168.122.1/24".parse()?;
    /// assert!("192.168.122.2-192.168.122.254".parse::<Ipv4Range>()?.within(&net));
    /// assert!(!"192.168.122.2-192.168.123.1".parse::<Ipv4Range>()?.within(&net));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn within(&self, cidr: &Ipv4Cidr) -> bool {
        cidr.contains(self.start) && cidr.contains(self.end)
    }

    /// Whether this range and `other` share any address.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::Ipv4Range;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let a: Ipv4Range = "10.0.0.2-10.0.0.9".parse()?;
    /// assert!(a.overlaps(&"10.0.0.9-10.0.0.20".parse()?));
    /// assert!(!a.overlaps(&"10.0.0.10-10.0.0.20".parse()?));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn overlaps(&self, other: &Ipv4Range) -> bool {
        self.start <= other.end && other.start <= self.end
    }
}

impl FromStr for Ipv4Range {
    type Err = TypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_range(s).map_err(|reason| TypeError::Ipv4Range {
            input: shown(s),
            reason,
        })
    }
}

/// Parses `a.b.c.d-e.f.g.h`.
fn parse_range(s: &str) -> Result<Ipv4Range, Ipv4Reason> {
    if s.is_empty() {
        return Err(Ipv4Reason::Empty);
    }
    let (start, end) = s.split_once('-').ok_or(Ipv4Reason::MissingDash)?;
    let start = parse_ipv4(start)?;
    let end = parse_ipv4(end)?;
    if start > end {
        return Err(Ipv4Reason::Reversed { start, end });
    }
    Ok(Ipv4Range { start, end })
}

impl fmt::Display for Ipv4Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

impl fmt::Debug for Ipv4Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ipv4Range({self})")
    }
}

serde_via_str!(
    Ipv4Range,
    "an IPv4 address range such as \"192.168.122.2-192.168.122.254\""
);

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn range(s: &str) -> Ipv4Range {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn parses_and_round_trips_cidrs() {
        for text in [
            "192.168.110.1/24",
            "0.0.0.0/0",
            "255.255.255.255/32",
            "10.0.0.0/8",
            "10.0.0.1/31",
            "100.64.0.1/10",
            "172.16.5.4/12",
            "1.2.3.4/0",
        ] {
            let c = cidr(text);
            assert_eq!(c.to_string(), text);
            assert_eq!(cidr(&c.to_string()), c);
        }
        let c = cidr("192.168.110.1/24");
        assert_eq!(c.addr(), ip("192.168.110.1"));
        assert_eq!(c.prefix_len(), 24);
        assert_eq!(Ipv4Cidr::new(ip("192.168.110.1"), 24).unwrap(), c);
        assert_ne!(c, cidr("192.168.110.0/24"));
        assert_eq!(format!("{c:?}"), "Ipv4Cidr(192.168.110.1/24)");
    }

    #[test]
    fn rejects_bad_cidrs() {
        let cases = [
            ("", "IPv4 CIDR \"\" is empty"),
            (
                "192.168.110.1",
                "IPv4 CIDR \"192.168.110.1\" has no prefix length; write it as address/length",
            ),
            ("192.168.110.1/", "has prefix length \"\""),
            (
                "192.168.110.1/33",
                "has prefix length \"33\"; expected a number from 0 to 32",
            ),
            ("192.168.110.1/024", "has prefix length \"024\""),
            ("192.168.110.1/-1", "has prefix length \"-1\""),
            ("192.168.110.1/+8", "has prefix length \"+8\""),
            ("192.168.110.1/24/8", "has prefix length \"24/8\""),
            (
                "192.168.110.1/255.255.255.0",
                "has prefix length \"255.255.255.0\"",
            ),
            (
                "192.168.110.1/999999999999",
                "has prefix length \"999999999999\"",
            ),
            ("192.168.010.1/24", "has octet \"010\" with a leading zero"),
            ("192.168.00.1/24", "has octet \"00\" with a leading zero"),
            (
                "192.168.110.256/24",
                "has octet \"256\", which is greater than 255",
            ),
            (
                "192.168.110.1000/24",
                "has octet \"1000\", which is greater than 255",
            ),
            (
                "192.168.110/24",
                "contains \"192.168.110\", which has 3 dot-separated part(s)",
            ),
            ("192.168.110.1.5/24", "which has 5 dot-separated part(s)"),
            (
                "192.168..1/24",
                "has octet \"\", which is not a decimal number",
            ),
            ("192.168.x.1/24", "has octet \"x\""),
            (" 192.168.110.1/24", "has octet \" 192\""),
            ("192.168.110.1 /24", "has octet \"1 \""),
            ("192.168.110.+1/24", "has octet \"+1\""),
            ("::1/128", "which has 1 dot-separated part(s)"),
        ];
        for (input, fragment) in cases {
            let err = input.parse::<Ipv4Cidr>().expect_err(input);
            assert!(matches!(err, TypeError::Ipv4Cidr { .. }));
            let msg = err.to_string();
            assert!(msg.contains(fragment), "{input:?}: {msg}");
        }
        let err = Ipv4Cidr::new(ip("10.0.0.1"), 40).unwrap_err();
        assert_eq!(
            err.to_string(),
            "IPv4 CIDR \"10.0.0.1/40\" has prefix length \"40\"; expected a number from 0 to 32 without leading zeros"
        );
    }

    #[test]
    fn maths_at_slash_24() {
        let c = cidr("192.168.110.77/24");
        assert_eq!(c.netmask(), ip("255.255.255.0"));
        assert_eq!(c.network(), ip("192.168.110.0"));
        assert_eq!(c.broadcast(), ip("192.168.110.255"));
        assert_eq!(c.trunc(), cidr("192.168.110.0/24"));
        assert_eq!(c.hosts(), 254);
        assert_eq!(c.host_range(), range("192.168.110.1-192.168.110.254"));
        assert!(c.contains(ip("192.168.110.0")));
        assert!(c.contains(ip("192.168.110.255")));
        assert!(!c.contains(ip("192.168.111.0")));
        assert!(!c.contains(ip("192.168.109.255")));
        assert!(!c.is_network_address() && !c.is_broadcast_address());
        assert!(cidr("192.168.110.0/24").is_network_address());
        assert!(cidr("192.168.110.255/24").is_broadcast_address());
    }

    #[test]
    fn maths_at_slash_0() {
        let c = cidr("1.2.3.4/0");
        assert_eq!(c.netmask(), ip("0.0.0.0"));
        assert_eq!(c.network(), ip("0.0.0.0"));
        assert_eq!(c.broadcast(), ip("255.255.255.255"));
        assert_eq!(c.hosts(), (1u64 << 32) - 2);
        assert!(c.contains(ip("0.0.0.0")) && c.contains(ip("255.255.255.255")));
        assert!(c.overlaps(&cidr("10.0.0.1/32")));
        assert!(cidr("10.0.0.1/32").overlaps(&c));
        assert!(cidr("0.0.0.0/0").is_network_address());
        assert!(cidr("255.255.255.255/0").is_broadcast_address());
        assert_eq!(c.host_range(), range("0.0.0.1-255.255.255.254"));
    }

    #[test]
    fn maths_at_slash_30() {
        let c = cidr("10.0.0.1/30");
        assert_eq!(c.hosts(), 2);
        assert_eq!(c.host_range(), range("10.0.0.1-10.0.0.2"));
        assert!(cidr("10.0.0.0/30").is_network_address());
        assert!(cidr("10.0.0.3/30").is_broadcast_address());
    }

    #[test]
    fn maths_at_slash_31() {
        let c = cidr("10.0.0.1/31");
        assert_eq!(c.netmask(), ip("255.255.255.254"));
        assert_eq!(c.network(), ip("10.0.0.0"));
        assert_eq!(c.broadcast(), ip("10.0.0.1"));
        assert_eq!(c.hosts(), 2);
        assert_eq!(c.host_range(), range("10.0.0.0-10.0.0.1"));
        assert!(c.contains(ip("10.0.0.0")) && c.contains(ip("10.0.0.1")));
        assert!(!c.contains(ip("10.0.0.2")));
        // RFC 3021: both addresses are hosts.
        assert!(!cidr("10.0.0.0/31").is_network_address());
        assert!(!cidr("10.0.0.1/31").is_broadcast_address());
    }

    #[test]
    fn maths_at_slash_32() {
        let c = cidr("10.0.0.7/32");
        assert_eq!(c.netmask(), ip("255.255.255.255"));
        assert_eq!(c.network(), ip("10.0.0.7"));
        assert_eq!(c.broadcast(), ip("10.0.0.7"));
        assert_eq!(c.hosts(), 1);
        assert_eq!(c.host_range(), range("10.0.0.7-10.0.0.7"));
        assert!(c.contains(ip("10.0.0.7")));
        assert!(!c.contains(ip("10.0.0.6")) && !c.contains(ip("10.0.0.8")));
        assert!(!c.is_network_address() && !c.is_broadcast_address());
        assert!(c.overlaps(&cidr("10.0.0.7/32")));
        assert!(!c.overlaps(&cidr("10.0.0.8/32")));
        let top = cidr("255.255.255.255/32");
        assert_eq!(top.host_range().len(), 1);
    }

    #[test]
    fn maths_hold_for_every_prefix_length() {
        let addr = ip("172.20.147.99");
        for len in 0..=32u8 {
            let c = Ipv4Cidr::new(addr, len).unwrap();
            assert_eq!(cidr(&c.to_string()), c);
            let size = 1u64 << (32 - u32::from(len));
            let span = u64::from(u32::from(c.broadcast())) - u64::from(u32::from(c.network()));
            assert_eq!(span + 1, size, "/{len}");
            assert_eq!(u32::from(c.netmask()).count_ones(), u32::from(len));
            assert!(c.contains(addr) && c.contains(c.network()) && c.contains(c.broadcast()));
            assert_eq!(c.hosts(), c.host_range().len(), "/{len}");
            assert!(c.host_range().within(&c), "/{len}");
            assert_eq!(c.trunc().network(), c.network());
            assert!(c.overlaps(&c.trunc()));
        }
    }

    #[test]
    fn overlaps_is_symmetric() {
        let pairs = [
            ("10.0.0.1/8", "10.200.0.1/16", true),
            ("10.0.0.1/24", "10.0.1.1/24", false),
            ("192.168.0.1/23", "192.168.1.1/24", true),
            ("192.168.2.1/23", "192.168.1.1/24", false),
            ("172.16.0.1/12", "172.31.255.1/24", true),
            ("172.16.0.1/12", "172.32.0.1/24", false),
        ];
        for (a, b, expected) in pairs {
            assert_eq!(cidr(a).overlaps(&cidr(b)), expected, "{a} {b}");
            assert_eq!(cidr(b).overlaps(&cidr(a)), expected, "{b} {a}");
        }
    }

    #[test]
    fn parses_and_round_trips_ranges() {
        let r = range("192.168.122.2-192.168.122.254");
        assert_eq!(r.start(), ip("192.168.122.2"));
        assert_eq!(r.end(), ip("192.168.122.254"));
        assert_eq!(r.len(), 253);
        assert!(!r.is_empty());
        assert_eq!(r.to_string(), "192.168.122.2-192.168.122.254");
        assert_eq!(range(&r.to_string()), r);
        assert_eq!(format!("{r:?}"), "Ipv4Range(192.168.122.2-192.168.122.254)");
        assert_eq!(range("10.0.0.1-10.0.0.1").len(), 1);
        assert_eq!(range("0.0.0.0-255.255.255.255").len(), 1 << 32);
        assert_eq!(
            Ipv4Range::new(ip("10.0.0.1"), ip("10.0.0.3")).unwrap(),
            range("10.0.0.1-10.0.0.3")
        );
    }

    #[test]
    fn rejects_bad_ranges() {
        let cases = [
            ("", "IPv4 range \"\" is empty"),
            ("192.168.122.2", "is not of the form START-END"),
            (
                "192.168.122.2..192.168.122.9",
                "is not of the form START-END",
            ),
            (
                "192.168.122.9-192.168.122.2",
                "starts at 192.168.122.9, which is after its end 192.168.122.2",
            ),
            (
                "192.168.122.2-",
                "contains \"\", which has 1 dot-separated part(s)",
            ),
            (
                "-192.168.122.2",
                "contains \"\", which has 1 dot-separated part(s)",
            ),
            (
                "192.168.122.2-192.168.122.2-192.168.122.3",
                "which has 7 dot-separated part(s)",
            ),
            (
                "192.168.122.2-192.168.122.256",
                "has octet \"256\", which is greater than 255",
            ),
            (
                "192.168.122.02-192.168.122.9",
                "has octet \"02\" with a leading zero",
            ),
            ("192.168.122.2 - 192.168.122.9", "has octet \"2 \""),
            (
                "192.168.122.2-192.168.122",
                "which has 3 dot-separated part(s)",
            ),
            ("192.168.122.0/24", "is not of the form START-END"),
        ];
        for (input, fragment) in cases {
            let err = input.parse::<Ipv4Range>().expect_err(input);
            assert!(matches!(err, TypeError::Ipv4Range { .. }));
            let msg = err.to_string();
            assert!(msg.contains(fragment), "{input:?}: {msg}");
        }
        let err = Ipv4Range::new(ip("10.0.0.9"), ip("10.0.0.1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "IPv4 range \"10.0.0.9-10.0.0.1\" starts at 10.0.0.9, which is after its end 10.0.0.1"
        );
    }

    #[test]
    fn range_membership() {
        let net = cidr("192.168.122.1/24");
        let r = range("192.168.122.2-192.168.122.254");
        assert!(r.contains(ip("192.168.122.2")) && r.contains(ip("192.168.122.254")));
        assert!(!r.contains(ip("192.168.122.1")) && !r.contains(ip("192.168.122.255")));
        assert!(r.within(&net));
        assert!(net.host_range().within(&net));
        assert!(!range("192.168.121.250-192.168.122.5").within(&net));
        assert!(!range("192.168.122.250-192.168.123.5").within(&net));
        assert!(range("10.0.0.0-10.255.255.255").within(&cidr("10.1.2.3/8")));
        assert!(r.overlaps(&range("192.168.122.254-192.168.123.0")));
        assert!(!r.overlaps(&range("192.168.122.255-192.168.123.0")));
    }

    #[test]
    fn ordering() {
        let mut v = [cidr("10.0.0.1/24"), cidr("9.0.0.1/8"), cidr("10.0.0.1/16")];
        v.sort();
        let shown: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["9.0.0.1/8", "10.0.0.1/16", "10.0.0.1/24"]);
    }
}
