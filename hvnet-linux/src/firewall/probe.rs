//! Whether any of hvnet's chains (or its nftables table) exists, asked of nf_tables directly.
//!
//! iptables-nft keeps iptables chains as nf_tables chains of the `ip` family's `filter` and
//! `nat` tables, so one `NFT_MSG_GETCHAIN` dump over a `NETLINK_NETFILTER` socket (well under
//! a millisecond) answers what two `iptables -S` runs (several milliseconds of process start)
//! would: hvnet finds its chains by name on every apply, check and down, whatever its state
//! directory says, and lists them with iptables only when they exist.
//!
//! Hand-written rather than through a crate: it is one request and two attributes, and the
//! netlink crates at hand (neli) do not model nfnetlink.

use std::io;

use super::iptables::ruleset::CHAINS;

const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFPROTO_IPV4: u8 = 2;
/// The `inet` family (hvnet's nftables table).
pub const NFPROTO_INET: u8 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_HOOK_HOOKNUM: u16 = 1;
/// Every family, in a dump request.
const NFPROTO_UNSPEC: u8 = 0;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// The `(table, chain)` names of the `ip` family's nf_tables chains.
///
/// # Errors
///
/// The socket or the dump failed (no nf_tables in this kernel, no permission).
pub fn ipv4_chains() -> io::Result<Vec<(String, String)>> {
    chains(NFPROTO_IPV4)
}

/// Whether table `table` of `family` has a chain (hvnet's tables always have).
///
/// # Errors
///
/// As [`ipv4_chains`].
pub fn table_exists(family: u8, table: &str) -> io::Result<bool> {
    Ok(chains(family)?.iter().any(|(t, _)| t == table))
}

/// The `(table, chain)` names of one family's nf_tables chains.
///
/// # Errors
///
/// As [`ipv4_chains`].
pub fn chains(family: u8) -> io::Result<Vec<(String, String)>> {
    Ok(dump_chains(family)?
        .into_iter()
        .map(|c| (c.table, c.name))
        .collect())
}

/// One nf_tables chain as a `NFT_MSG_GETCHAIN` dump describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainInfo {
    /// `NFPROTO_*` of its table (`inet` 1, `ip` 2, `bridge` 7, `ip6` 10, …).
    pub family: u8,
    /// Its table.
    pub table: String,
    /// Its name.
    pub name: String,
    /// A base chain's hook number (`NF_INET_*`; the bridge family numbers its hooks alike:
    /// 1 input, 2 forward); `None` for a regular chain.
    pub hook: Option<u32>,
    /// A base chain's policy (`NF_DROP` 0, `NF_ACCEPT` 1).
    pub policy: Option<u32>,
}

/// Every family's nf_tables chains, with hooks and policies (what `nft -j list chains`
/// prints, without starting nft).
///
/// # Errors
///
/// As [`ipv4_chains`].
pub fn all_chains() -> io::Result<Vec<ChainInfo>> {
    dump_chains(NFPROTO_UNSPEC)
}

/// The chains of `family` (`NFPROTO_UNSPEC`: all).
fn dump_chains(family: u8) -> io::Result<Vec<ChainInfo>> {
    // SAFETY: plain socket(2) call; the result is checked and owned right below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_NETFILTER,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);

    let mut req = Vec::with_capacity(20);
    req.extend_from_slice(&20u32.to_ne_bytes());
    req.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETCHAIN).to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(&[family, 0, 0, 0]);
    // SAFETY: an all-zero sockaddr_nl is valid; the family is set below.
    let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    to.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: `req` and `to` outlive the call; the lengths are theirs.
    let sent = unsafe {
        libc::sendto(
            raw,
            req.as_ptr().cast(),
            req.len(),
            0,
            std::ptr::from_ref(&to).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: `buf` is valid for `buf.len()` bytes for the duration of the call.
        let n = unsafe { libc::recv(raw, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = usize::try_from(n).unwrap_or(0);
        if n == 0 {
            return Ok(out);
        }
        if parse(&buf[..n], &mut out)? {
            return Ok(out);
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Parses one `recv` worth of messages into `out`; `true` once the dump is done.
fn parse(buf: &[u8], out: &mut Vec<ChainInfo>) -> io::Result<bool> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "truncated nfnetlink message");
    let mut at = 0;
    while at + 16 <= buf.len() {
        let len = u32_at(buf, at).ok_or_else(bad)? as usize;
        let ty = u16_at(buf, at + 4).ok_or_else(bad)?;
        if len < 16 || at + len > buf.len() {
            return Err(bad());
        }
        match ty {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = u32_at(buf, at + 16).ok_or_else(bad)? as i32;
                if errno == 0 {
                    return Ok(true);
                }
                return Err(io::Error::from_raw_os_error(-errno));
            }
            _ => {
                // nlmsghdr (16) + nfgenmsg (4: the family first), then attributes.
                let family = *buf.get(at + 16).ok_or_else(bad)?;
                let (mut table, mut name, mut hook, mut policy) = (None, None, None, None);
                for (aty, v) in attrs(&buf[(at + 20).min(at + len)..at + len]) {
                    match aty {
                        NFTA_CHAIN_TABLE => table = Some(text(v)),
                        NFTA_CHAIN_NAME => name = Some(text(v)),
                        NFTA_CHAIN_POLICY => policy = be_u32(v),
                        NFTA_CHAIN_HOOK => {
                            hook = attrs(v)
                                .find(|(t, _)| *t == NFTA_HOOK_HOOKNUM)
                                .and_then(|(_, v)| be_u32(v));
                        }
                        _ => {}
                    }
                }
                if let (Some(table), Some(name)) = (table, name) {
                    out.push(ChainInfo {
                        family,
                        table,
                        name,
                        hook,
                        policy,
                    });
                }
            }
        }
        at += align4(len);
    }
    Ok(false)
}

/// The attributes in `b` as (type, payload); a malformed one ends the list.
fn attrs(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut a = 0;
    std::iter::from_fn(move || {
        let alen = usize::from(u16_at(b, a)?);
        let aty = u16_at(b, a + 2)? & NLA_TYPE_MASK;
        if alen < 4 || a + alen > b.len() {
            return None;
        }
        let v = &b[a + 4..a + alen];
        a += align4(alen);
        Some((aty, v))
    })
}

/// A NUL-terminated string attribute.
fn text(v: &[u8]) -> String {
    let v = v.split(|&c| c == 0).next().unwrap_or_default();
    String::from_utf8_lossy(v).into_owned()
}

/// A big-endian `u32` attribute (nf_tables' numbers are in network order).
fn be_u32(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
}

/// Whether any of hvnet's chains ([`CHAINS`]) exists in the iptables-nft tables.
///
/// # Errors
///
/// As [`ipv4_chains`].
pub fn hvnet_chains_exist() -> io::Result<bool> {
    Ok(ipv4_chains()?
        .iter()
        .any(|(t, c)| CHAINS.iter().any(|(ct, cc)| ct.name() == t && cc == c)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn attr(ty: u16, s: &str) -> Vec<u8> {
        let mut v = Vec::new();
        let len = 4 + s.len() + 1;
        v.extend_from_slice(&(len as u16).to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    /// A `NFT_MSG_NEWCHAIN` message with `body` (nfgenmsg and attributes).
    fn message(body: &[u8]) -> Vec<u8> {
        let mut msg = Vec::new();
        msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&0x0a03u16.to_ne_bytes());
        msg.extend_from_slice(&2u16.to_ne_bytes());
        msg.extend_from_slice(&[0; 8]);
        msg.extend_from_slice(body);
        msg
    }

    /// A `u32` attribute in network order.
    fn be_attr(ty: u16, v: u32) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&8u16.to_ne_bytes());
        a.extend_from_slice(&ty.to_ne_bytes());
        a.extend_from_slice(&v.to_be_bytes());
        a
    }

    #[test]
    fn parses_a_chain_dump() {
        let mut body = vec![NFPROTO_IPV4, 0, 0, 0];
        body.extend(attr(NFTA_CHAIN_TABLE, "filter"));
        body.extend(attr(NFTA_CHAIN_NAME, "HVNET-FWX"));
        let mut msg = message(&body);
        let mut done = Vec::new();
        done.extend_from_slice(&20u32.to_ne_bytes());
        done.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        done.extend_from_slice(&[0; 14]);
        msg.extend(done);
        let mut out = Vec::new();
        assert!(parse(&msg, &mut out).unwrap());
        assert_eq!(
            out,
            [ChainInfo {
                family: NFPROTO_IPV4,
                table: "filter".into(),
                name: "HVNET-FWX".into(),
                hook: None,
                policy: None,
            }]
        );
    }

    #[test]
    fn parses_a_base_chain_with_hook_and_policy() {
        let hook = be_attr(NFTA_HOOK_HOOKNUM, 2);
        let mut body = vec![NFPROTO_INET, 0, 0, 0];
        body.extend(attr(NFTA_CHAIN_TABLE, "filter"));
        body.extend(attr(NFTA_CHAIN_NAME, "forward"));
        body.extend_from_slice(&((4 + hook.len()) as u16).to_ne_bytes());
        body.extend_from_slice(&(NFTA_CHAIN_HOOK | 0x8000).to_ne_bytes());
        body.extend(hook);
        body.extend(be_attr(NFTA_CHAIN_POLICY, 0));
        let mut out = Vec::new();
        assert!(!parse(&message(&body), &mut out).unwrap());
        assert_eq!(out[0].hook, Some(2));
        assert_eq!(out[0].policy, Some(0));
        assert_eq!(out[0].family, NFPROTO_INET);
    }
}
