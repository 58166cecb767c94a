//! The IPv6 side of `hvnet import xl-vif`: `ip=` entries with a colon are IPv6 (`2001:db8::10`
//! is a /128), the first becomes the NIC's `ip6`, and the stand-in network of the validity
//! check gets an `address6` (with `[network.dhcp6] mode = "stateful"`, which a NIC's `ip6`
//! needs) whose prefix holds every NIC's `ip6`.

use std::net::Ipv6Addr;

use hvnet_core::types::Ipv6Cidr;

/// One IPv6 `ip=` entry: `x::y` (a /128) or `x::y/len`.
///
/// ```
/// use hvnet_xen::import::xl_vif6::parse_ip6;
/// assert_eq!(parse_ip6("2001:db8::10").unwrap().to_string(), "2001:db8::10/128");
/// assert!(parse_ip6("2001:db8::g").is_err());
/// ```
///
/// # Errors
///
/// The entry is not an IPv6 address or CIDR.
pub fn parse_ip6(addr: &str) -> Result<Ipv6Cidr, String> {
    if addr.contains('/') {
        return addr.parse::<Ipv6Cidr>().map_err(|e| e.to_string());
    }
    let ip: Ipv6Addr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IPv6 address"))?;
    Ipv6Cidr::new(ip, 128).map_err(|e| e.to_string())
}

/// The stand-in `address6` for NICs with `ips`: the longest prefix (at most /64) holding
/// them all with a host address that is none of them and not the prefix's anycast address;
/// `None` without addresses.
///
/// ```
/// use hvnet_xen::import::xl_vif6::stand_in_address6;
/// let a = stand_in_address6(&["2001:db8::10".parse().unwrap()]).unwrap();
/// assert_eq!(a.to_string(), "2001:db8::1/64");
/// ```
pub fn stand_in_address6(ips: &[Ipv6Addr]) -> Option<Ipv6Cidr> {
    let first = *ips.first()?;
    (1..=64u8).rev().find_map(|len| {
        let net = Ipv6Cidr::new(first, len).ok()?.trunc();
        if !ips.iter().all(|ip| net.contains(*ip)) {
            return None;
        }
        let base = u128::from(net.network());
        let host = (1..=16u128)
            .map(|k| Ipv6Addr::from(base + k))
            .find(|h| !ips.contains(h))?;
        Ipv6Cidr::new(host, len).ok()
    })
}
