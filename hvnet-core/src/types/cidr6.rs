//! [`Ipv6Cidr`], [`Ipv6Range`] and [`IpCidr`] (a CIDR of either family, what addresses and
//! routes carry).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use super::cidr::{parse_prefix_len, Ipv4Cidr};
use super::error::{shown, Ipv6Reason, TypeError};

/// The netmask of a `/prefix_len` IPv6 network as a number (`prefix_len` ≤ 128).
fn mask6(prefix_len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix_len))
        .unwrap_or(0)
}

/// An IPv6 address together with a prefix length, as in `fd42:100::1/64`.
///
/// Like [`Ipv4Cidr`] the address keeps its host bits; [`network`](Self::network) and
/// [`trunc`](Self::trunc) give the prefix itself. Displayed in the RFC 5952 form
/// (`fd42:100::1/64`).
///
/// ```
/// use hvnet_core::types::Ipv6Cidr;
/// # fn main() -> Result<(), hvnet_core::types::TypeError> {
/// let c: Ipv6Cidr = "FD42:0100:0:0::1/64".parse()?;
/// assert_eq!(c.to_string(), "fd42:100::1/64");
/// assert_eq!(c.trunc().to_string(), "fd42:100::/64");
/// assert!(c.contains("fd42:100::1ff".parse().unwrap()));
/// assert!(!c.contains("fd42:101::1".parse().unwrap()));
/// assert!("fd42::1".parse::<Ipv6Cidr>().is_err()); // no prefix length
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6Cidr {
    addr: Ipv6Addr,
    prefix_len: u8,
}

impl Ipv6Cidr {
    /// Builds `addr/prefix_len`.
    ///
    /// # Errors
    ///
    /// [`TypeError::Ipv6Cidr`] when `prefix_len` is above 128.
    pub fn new(addr: Ipv6Addr, prefix_len: u8) -> Result<Self, TypeError> {
        if prefix_len > 128 {
            return Err(TypeError::Ipv6Cidr {
                input: format!("{addr}/{prefix_len}"),
                reason: Ipv6Reason::BadPrefix {
                    prefix: prefix_len.to_string(),
                },
            });
        }
        Ok(Self { addr, prefix_len })
    }

    /// The address.
    #[must_use]
    pub const fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// The prefix length (0–128).
    #[must_use]
    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The first address of the prefix (host bits cleared).
    #[must_use]
    pub fn network(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) & mask6(self.prefix_len))
    }

    /// The prefix itself: the network address with the same length.
    #[must_use]
    pub fn trunc(&self) -> Self {
        Self {
            addr: self.network(),
            prefix_len: self.prefix_len,
        }
    }

    /// Whether `ip` is inside the prefix.
    #[must_use]
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        let m = mask6(self.prefix_len);
        u128::from(ip) & m == u128::from(self.addr) & m
    }

    /// Whether the address is link-local (`fe80::/10`): the kernel's own, never hvnet's.
    ///
    /// ```
    /// use hvnet_core::types::Ipv6Cidr;
    /// assert!("fe80::1/64".parse::<Ipv6Cidr>().unwrap().is_link_local());
    /// assert!(!"fd42::1/64".parse::<Ipv6Cidr>().unwrap().is_link_local());
    /// ```
    #[must_use]
    pub fn is_link_local(&self) -> bool {
        self.addr.segments()[0] & 0xffc0 == 0xfe80
    }

    /// Whether two prefixes share an address.
    #[must_use]
    pub fn overlaps(&self, other: &Ipv6Cidr) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
}

/// Parses `a:b::c/len`.
fn parse_cidr6(s: &str) -> Result<Ipv6Cidr, Ipv6Reason> {
    if s.is_empty() {
        return Err(Ipv6Reason::Empty);
    }
    let (addr, prefix) = s.split_once('/').ok_or(Ipv6Reason::MissingPrefix)?;
    let addr = parse_ipv6(addr)?;
    let bad_prefix = || Ipv6Reason::BadPrefix {
        prefix: shown(prefix),
    };
    let prefix_len = parse_prefix_len(prefix, 128).ok_or_else(bad_prefix)?;
    Ok(Ipv6Cidr { addr, prefix_len })
}

/// Parses one IPv6 address (the standard library's grammar, without a zone).
fn parse_ipv6(text: &str) -> Result<Ipv6Addr, Ipv6Reason> {
    text.parse().map_err(|_| Ipv6Reason::BadAddress {
        address: shown(text),
    })
}

impl FromStr for Ipv6Cidr {
    type Err = TypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_cidr6(s).map_err(|reason| TypeError::Ipv6Cidr {
            input: shown(s),
            reason,
        })
    }
}

impl fmt::Display for Ipv6Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl fmt::Debug for Ipv6Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ipv6Cidr({self})")
    }
}

serde_via_str!(
    Ipv6Cidr,
    "an IPv6 CIDR (address/prefix length) such as \"fd42:100::1/64\""
);

/// An inclusive range of IPv6 addresses, as in `fd42:100::100-fd42:100::1ff`; never empty.
///
/// ```
/// use hvnet_core::types::{Ipv6Cidr, Ipv6Range};
/// # fn main() -> Result<(), hvnet_core::types::TypeError> {
/// let r: Ipv6Range = "fd42:100::100-fd42:100::1ff".parse()?;
/// assert!(r.within(&"fd42:100::1/64".parse::<Ipv6Cidr>()?));
/// assert!(r.contains("fd42:100::1a0".parse().unwrap()));
/// assert!("fd42::9-fd42::2".parse::<Ipv6Range>().is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6Range {
    start: Ipv6Addr,
    end: Ipv6Addr,
}

impl Ipv6Range {
    /// The range from `start` to `end`, both included.
    ///
    /// # Errors
    ///
    /// [`TypeError::Ipv6Range`] if `start` is after `end`.
    pub fn new(start: Ipv6Addr, end: Ipv6Addr) -> Result<Self, TypeError> {
        if start > end {
            return Err(TypeError::Ipv6Range {
                input: format!("{start}-{end}"),
                reason: Ipv6Reason::Reversed { start, end },
            });
        }
        Ok(Self { start, end })
    }

    /// The first address.
    #[must_use]
    pub const fn start(&self) -> Ipv6Addr {
        self.start
    }

    /// The last address (included).
    #[must_use]
    pub const fn end(&self) -> Ipv6Addr {
        self.end
    }

    /// Whether `ip` is in the range.
    #[must_use]
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        self.start <= ip && ip <= self.end
    }

    /// Whether the whole range lies inside `cidr`.
    #[must_use]
    pub fn within(&self, cidr: &Ipv6Cidr) -> bool {
        cidr.contains(self.start) && cidr.contains(self.end)
    }
}

impl FromStr for Ipv6Range {
    type Err = TypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| TypeError::Ipv6Range {
            input: shown(s),
            reason,
        };
        if s.is_empty() {
            return Err(err(Ipv6Reason::Empty));
        }
        let (a, b) = s.split_once('-').ok_or(err(Ipv6Reason::MissingDash))?;
        let start = parse_ipv6(a).map_err(err)?;
        let end = parse_ipv6(b).map_err(err)?;
        Self::new(start, end)
    }
}

impl fmt::Display for Ipv6Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

impl fmt::Debug for Ipv6Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ipv6Range({self})")
    }
}

serde_via_str!(
    Ipv6Range,
    "an IPv6 range such as \"fd42:100::100-fd42:100::1ff\""
);

/// An address with its prefix length, of either family: what addresses and routes carry.
/// Displays and parses as the family's own CIDR (`192.168.122.1/24`, `fd42:100::1/64`), so
/// records written before IPv6 existed read back unchanged.
///
/// ```
/// use hvnet_core::types::{IpCidr, Ipv4Cidr};
/// # fn main() -> Result<(), hvnet_core::types::TypeError> {
/// let v4: IpCidr = "192.168.122.1/24".parse()?;
/// let v6: IpCidr = "fd42:100::1/64".parse()?;
/// assert_eq!(v4, IpCidr::from("192.168.122.1/24".parse::<Ipv4Cidr>()?));
/// assert!(v4.is_ipv4() && !v6.is_ipv4());
/// assert_eq!(v6.trunc().to_string(), "fd42:100::/64");
/// assert!(v6.contains("fd42:100::9".parse().unwrap()));
/// assert!(!v6.contains("192.168.122.9".parse().unwrap()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpCidr {
    /// IPv4.
    V4(Ipv4Cidr),
    /// IPv6.
    V6(Ipv6Cidr),
}

impl IpCidr {
    /// Builds a CIDR from an address of either family.
    ///
    /// # Errors
    ///
    /// The family's error when the prefix length is too long for it.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self, TypeError> {
        Ok(match addr {
            IpAddr::V4(a) => Self::V4(Ipv4Cidr::new(a, prefix_len)?),
            IpAddr::V6(a) => Self::V6(Ipv6Cidr::new(a, prefix_len)?),
        })
    }

    /// The address.
    #[must_use]
    pub fn addr(&self) -> IpAddr {
        match self {
            Self::V4(c) => IpAddr::V4(c.addr()),
            Self::V6(c) => IpAddr::V6(c.addr()),
        }
    }

    /// The prefix length.
    #[must_use]
    pub fn prefix_len(&self) -> u8 {
        match self {
            Self::V4(c) => c.prefix_len(),
            Self::V6(c) => c.prefix_len(),
        }
    }

    /// The prefix itself (host bits cleared).
    #[must_use]
    pub fn trunc(&self) -> Self {
        match self {
            Self::V4(c) => Self::V4(c.trunc()),
            Self::V6(c) => Self::V6(c.trunc()),
        }
    }

    /// Whether `ip` (of the same family) is inside.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Self::V4(c), IpAddr::V4(a)) => c.contains(a),
            (Self::V6(c), IpAddr::V6(a)) => c.contains(a),
            _ => false,
        }
    }

    /// Whether it is an IPv4 CIDR.
    #[must_use]
    pub fn is_ipv4(&self) -> bool {
        matches!(self, Self::V4(_))
    }

    /// The IPv4 CIDR, if it is one.
    #[must_use]
    pub fn v4(&self) -> Option<Ipv4Cidr> {
        match self {
            Self::V4(c) => Some(*c),
            Self::V6(_) => None,
        }
    }

    /// The IPv6 CIDR, if it is one.
    #[must_use]
    pub fn v6(&self) -> Option<Ipv6Cidr> {
        match self {
            Self::V6(c) => Some(*c),
            Self::V4(_) => None,
        }
    }
}

impl From<Ipv4Cidr> for IpCidr {
    fn from(c: Ipv4Cidr) -> Self {
        Self::V4(c)
    }
}

impl From<Ipv6Cidr> for IpCidr {
    fn from(c: Ipv6Cidr) -> Self {
        Self::V6(c)
    }
}

impl FromStr for IpCidr {
    type Err = TypeError;

    /// An address with a `:` is IPv6, anything else IPv4 (with that family's error).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(':') {
            s.parse().map(Self::V6)
        } else {
            s.parse().map(Self::V4)
        }
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4(c) => c.fmt(f),
            Self::V6(c) => c.fmt(f),
        }
    }
}

impl fmt::Debug for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4(c) => fmt::Debug::fmt(c, f),
            Self::V6(c) => fmt::Debug::fmt(c, f),
        }
    }
}

serde_via_str!(
    IpCidr,
    "an IPv4 or IPv6 CIDR such as \"192.168.122.1/24\" or \"fd42:100::1/64\""
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v6_parses_strictly_and_round_trips() {
        for bad in [
            "",
            "fd42::1",
            "fd42::1/129",
            "fd42::1/064",
            "fd42::g/64",
            "1.2.3.4/24",
        ] {
            assert!(bad.parse::<Ipv6Cidr>().is_err(), "{bad}");
        }
        let c: Ipv6Cidr = "fd42:100::1/64".parse().unwrap();
        assert_eq!(c.to_string().parse::<Ipv6Cidr>().unwrap(), c);
        assert_eq!(
            "::/0".parse::<Ipv6Cidr>().unwrap().trunc().to_string(),
            "::/0"
        );
        assert!("::/0".parse::<Ipv6Cidr>().unwrap().contains(c.addr()));
    }

    #[test]
    fn ip_cidr_keeps_the_v4_text() {
        let v4: IpCidr = "10.0.0.1/8".parse().unwrap();
        assert_eq!(v4.to_string(), "10.0.0.1/8");
        assert_eq!(format!("{v4:?}"), "Ipv4Cidr(10.0.0.1/8)");
        let json = serde_json::to_string(&v4).unwrap();
        assert_eq!(json, "\"10.0.0.1/8\"");
        let back: Ipv4Cidr = serde_json::from_str(&json).unwrap();
        assert_eq!(IpCidr::from(back), v4);
    }

    #[test]
    fn range_errors_name_the_problem() {
        let e = "fd42::9-fd42::2"
            .parse::<Ipv6Range>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("after its end"), "{e}");
        let e = "fd42::9".parse::<Ipv6Range>().unwrap_err().to_string();
        assert!(e.contains("START-END"), "{e}");
    }
}
