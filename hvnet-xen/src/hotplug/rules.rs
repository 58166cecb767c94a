//! The backend `ip` key: the guest's addresses, parsed once. The rules they give are a
//! [`hvnet_core::vif_guard::VifGuard`], rendered by hvnet-linux's firewall
//! ([`hvnet_linux::firewall::vif`]).

use std::net::Ipv4Addr;

use hvnet_core::types::Ipv4Cidr;

use super::HotplugError;

/// An IPv4 prefix from the `ip` key (a host is `/32`; host bits zero).
pub type Net4 = Ipv4Cidr;

/// Parses `A.B.C.D` or `A.B.C.D/LEN`. With `host_only`, a prefix length is accepted and
/// dropped (vif-nat's `ip` carries the guest's netmask); otherwise host bits must be zero.
pub fn parse_net(s: &str, host_only: bool) -> Result<Net4, String> {
    let (a, l) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: Ipv4Addr = a
        .parse()
        .map_err(|_| format!("{s:?} is not an IPv4 address (IPv6 is not supported)"))?;
    let len = match l {
        None => 32,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= 32 => n,
            _ => return Err(format!("{s:?}: bad prefix length")),
        },
    };
    if host_only {
        return Ok(Ipv4Cidr::host(addr));
    }
    let net = Ipv4Cidr::new(addr, len).map_err(|e| e.to_string())?;
    if net.trunc() != net {
        return Err(format!("{s:?}: host bits set (did you mean {addr}/32?)"));
    }
    Ok(net)
}

/// Parses the backend `ip` key (space-separated); `path` names it in errors.
pub fn parse_ip_list(path: &str, value: &str, host_only: bool) -> Result<Vec<Net4>, HotplugError> {
    let mut out: Vec<Net4> = Vec::new();
    for w in value.split_whitespace() {
        let n = parse_net(w, host_only).map_err(|reason| {
            HotplugError::runtime(format!("bad xenstore key {path}={value:?}: {reason}"))
        })?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parse_nets() {
        assert_eq!(
            parse_net("192.0.2.10", false).unwrap().to_string(),
            "192.0.2.10/32"
        );
        assert_eq!(
            parse_net("192.0.2.0/28", false).unwrap().to_string(),
            "192.0.2.0/28"
        );
        assert!(parse_net("192.0.2.10/24", false).is_err());
        assert_eq!(
            parse_net("10.0.5.1/16", true).unwrap().to_string(),
            "10.0.5.1/32"
        );
        assert!(parse_net("2001:db8::1", false).is_err());
        assert!(parse_net("10.0.0.1/33", false).is_err());
        let l = parse_ip_list("be/ip", " 192.0.2.10  192.0.2.0/28 192.0.2.10", false).unwrap();
        assert_eq!(l.len(), 2);
        let e = parse_ip_list("be/ip", "x", false).unwrap_err();
        assert!(e.message.contains("be/ip"), "{e}");
        let lan: Net4 = "192.168.1.20/24".parse().unwrap();
        assert!(lan.contains("192.168.1.21".parse().unwrap()));
        assert!(!lan.contains("192.168.2.1".parse().unwrap()));
        let all: Net4 = "1.2.3.4/0".parse().unwrap();
        assert!(all.contains("9.9.9.9".parse().unwrap()));
    }
}
