//! Per-vif iptables rules: FORWARD accepts and anti-spoofing (filter chain [`FILTER_CHAIN`],
//! jumped to once from `FORWARD`) and masquerade (nat chain [`NAT_CHAIN`], jumped to once from
//! `POSTROUTING`). Both jumps carry the comment `hvnet`; every rule carries
//! `hvnet-xen:<device>` ([`owner`]), so one vif's rules are replaced or removed without
//! touching any other vif's, and nothing of `hvnet apply`'s chains is touched.
//!
//! [`sync`] makes a vif's rules exactly the given ones with one `iptables-restore --noflush`
//! batch per table: it lists the table, deletes the vif's old rules (found by their comment)
//! and appends the new ones, creating the chain and its jump when missing. When the vif's
//! rules are already exactly the wanted ones, nothing is written. Callers hold the stock
//! scripts' `iptables` lock, so listing and restoring cannot interleave with another hotplug.
//!
//! Rules are written in the canonical form `iptables -S` prints, so that a repeated `online`
//! finds them identical.

use std::net::Ipv4Addr;
use std::path::Path;

use hvnet_core::firewall::{split_words, Table, HOOK_COMMENT};
use hvnet_core::types::Ipv4Cidr;
use hvnet_linux::firewall::Iptables;

use super::HotplugError;

/// The filter chain of hvnet-xen's vif rules (hooked from `FORWARD`).
pub const FILTER_CHAIN: &str = "HVNET-XEN";
/// The nat chain of hvnet-xen's masquerade rules (hooked from `POSTROUTING`).
pub const NAT_CHAIN: &str = "HVNET-XNAT";

/// The comment on every rule of device `dev`.
pub fn owner(dev: &str) -> String {
    format!("hvnet-xen:{dev}")
}

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

const DHCP: &str = "-p udp -m udp --sport 68 --dport 67";

/// Rules for a routed (`nat == false`) or NAT vif `dev` whose guest owns `nets`: DHCP from
/// `0.0.0.0` and packets from `nets` may come in; packets to `nets` may go out (for NAT only
/// replies, `RELATED,ESTABLISHED`); any other packet from the guest is dropped. Without
/// `nets` (no `ip` key) the vif is unrestricted, as with the stock scripts.
pub fn routed(dev: &str, nets: &[Net4], nat: bool) -> Vec<String> {
    let c = format!("-m comment --comment {}", owner(dev));
    if nets.is_empty() {
        return vec![
            format!("-i {dev} {c} -j ACCEPT"),
            format!("-o {dev} {c} -j ACCEPT"),
        ];
    }
    let mut v = vec![format!("-s 0.0.0.0/32 -i {dev} {DHCP} {c} -j ACCEPT")];
    v.extend(
        nets.iter()
            .map(|n| format!("-s {n} -i {dev} {c} -j ACCEPT")),
    );
    let state = if nat {
        " -m conntrack --ctstate RELATED,ESTABLISHED"
    } else {
        ""
    };
    v.extend(
        nets.iter()
            .map(|n| format!("-d {n} -o {dev}{state} {c} -j ACCEPT")),
    );
    v.push(format!("-i {dev} {c} -j DROP"));
    v
}

/// Rules for a bridged vif `dev` with an `ip` key (br_netfilter sends bridged IPv4 through
/// FORWARD): as the stock `handle_iptable` (accept from `nets` and DHCP in, anything out to
/// the guest), plus the DROP of every other source the stock scripts leave to the policy.
/// Nothing without `nets`.
pub fn bridged(dev: &str, nets: &[Net4]) -> Vec<String> {
    if nets.is_empty() {
        return Vec::new();
    }
    let c = format!("-m comment --comment {}", owner(dev));
    let pin = format!("-m physdev --physdev-in {dev} --physdev-is-bridged");
    let mut v = vec![format!(
        "-s 0.0.0.0/32 -p udp {pin} -m udp --sport 68 --dport 67 {c} -j ACCEPT"
    )];
    v.extend(nets.iter().map(|n| format!("-s {n} {pin} {c} -j ACCEPT")));
    v.push(format!(
        "-m physdev --physdev-out {dev} --physdev-is-bridged {c} -j ACCEPT"
    ));
    v.push(format!("{pin} {c} -j DROP"));
    v
}

/// Masquerade of the guest's `nets` out of `uplink` (or, without one, out of anything but
/// the vif).
pub fn masquerade(dev: &str, nets: &[Net4], uplink: Option<&str>) -> Vec<String> {
    let c = format!("-m comment --comment {}", owner(dev));
    nets.iter()
        .map(|n| match uplink {
            Some(u) => format!("-s {n} -o {u} {c} -j MASQUERADE"),
            None => format!("-s {n} ! -o {dev} {c} -j MASQUERADE"),
        })
        .collect()
}

/// The words of a rule `-A chain ...` with `owner`'s comment, in `listing` order.
fn owned<'a>(lines: &'a [Vec<String>], chain: &str, owner: &str) -> Vec<&'a [String]> {
    lines
        .iter()
        .filter(|w| w.len() > 2 && w[0] == "-A" && w[1] == chain)
        .filter(|w| w.windows(2).any(|p| p[0] == "--comment" && p[1] == owner))
        .map(|w| &w[2..])
        .collect()
}

/// Counts the rules of `owner` in an `iptables -S` listing (any chain).
pub fn count_owned(listing: &str, owner: &str) -> usize {
    let lines: Vec<Vec<String>> = listing.lines().map(split_words).collect();
    lines
        .iter()
        .filter(|w| w.first().map(String::as_str) == Some("-A"))
        .filter(|w| w.windows(2).any(|p| p[0] == "--comment" && p[1] == owner))
        .count()
}

fn quote(w: &str) -> String {
    if !w.is_empty()
        && !w
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        return w.to_owned();
    }
    format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The `iptables-restore --noflush` batch that makes `owner`'s rules in `chain` (jumped to
/// from `builtin`) exactly `specs`, given the table's `iptables -S` `listing`; `None` when
/// nothing needs to change.
pub fn batch(
    table: Table,
    chain: &str,
    builtin: &str,
    owner: &str,
    listing: &str,
    specs: &[String],
) -> Option<String> {
    let lines: Vec<Vec<String>> = listing.lines().map(split_words).collect();
    let old = owned(&lines, chain, owner);
    let want: Vec<Vec<String>> = specs.iter().map(|s| split_words(s)).collect();
    if old.len() == want.len() && old.iter().zip(&want).all(|(o, w)| *o == w.as_slice()) {
        return None;
    }
    let has_chain = lines
        .iter()
        .any(|w| w.len() == 2 && w[0] == "-N" && w[1] == chain);
    let hook = ["-m", "comment", "--comment", HOOK_COMMENT, "-j", chain];
    let has_hook = lines
        .iter()
        .any(|w| w.len() > 2 && w[0] == "-A" && w[1] == builtin && w[2..] == hook);
    let mut s = format!("*{}\n", table.name());
    if specs.is_empty() && !has_chain {
        // Nothing to delete and nothing to add.
        return None;
    }
    if !has_chain {
        s.push_str(&format!(":{chain} - [0:0]\n"));
    }
    if !has_hook && !specs.is_empty() {
        s.push_str(&format!("-I {builtin} 1 {}\n", hook.join(" ")));
    }
    for o in &old {
        let words: Vec<String> = o.iter().map(|w| quote(w)).collect();
        s.push_str(&format!("-D {chain} {}\n", words.join(" ")));
    }
    for w in specs {
        s.push_str(&format!("-A {chain} {w}\n"));
    }
    s.push_str("COMMIT\n");
    Some(s)
}

fn fw_err(e: impl std::fmt::Display) -> HotplugError {
    HotplugError::runtime(format!("iptables setup for the vif failed: {e}"))
}

/// The directory, under the hotplug lock directory, holding one empty file per device that
/// hvnet gave rules ([`sync`]). Like the lock directory (`/var/run`) and the rules themselves,
/// it does not survive a reboot.
pub const MARK_DIR: &str = "hvnet-xen-rules";

/// Whether `dev` can name a mark file.
fn markable(dev: &str) -> bool {
    !dev.is_empty() && dev != "." && dev != ".." && !dev.contains('/')
}

/// Makes device `dev`'s rules exactly `filter` (in [`FILTER_CHAIN`]) and `nat` (in
/// [`NAT_CHAIN`]). Removing rules (both empty) succeeds without iptables when there is no
/// iptables to have held any.
///
/// `marks` is the [`MARK_DIR`] of the lock directory: a device gets a mark (an empty file)
/// before its rules are written and loses it once they are removed, so that the common case
/// of a vif without rules (bridge mode without an `ip` key, as Debian's stock scripts, which
/// do no iptables work at all) runs no iptables command: without a mark there is nothing of
/// hvnet's to remove.
pub fn sync(
    marks: &Path,
    dev: &str,
    filter: &[String],
    nat: &[String],
) -> Result<(), HotplugError> {
    let removing = filter.is_empty() && nat.is_empty();
    if !markable(dev) {
        return sync_tables(dev, filter, nat);
    }
    let mark = marks.join(dev);
    if removing {
        if !mark.exists() {
            return Ok(());
        }
        sync_tables(dev, filter, nat)?;
        return match std::fs::remove_file(&mark) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(HotplugError::runtime(
                format!("removing {}: {e}", mark.display()),
            )),
            _ => Ok(()),
        };
    }
    std::fs::create_dir_all(marks)
        .and_then(|()| std::fs::write(&mark, b""))
        .map_err(|e| HotplugError::runtime(format!("writing {}: {e}", mark.display())))?;
    sync_tables(dev, filter, nat)
}

fn sync_tables(dev: &str, filter: &[String], nat: &[String]) -> Result<(), HotplugError> {
    let removing = filter.is_empty() && nat.is_empty();
    let ipt = match Iptables::detect() {
        Ok(i) => i,
        Err(e) if removing => {
            tracing::debug!("no iptables, so no rules of {dev} to remove: {e}");
            return Ok(());
        }
        Err(e) => return Err(fw_err(e)),
    };
    let owner = owner(dev);
    for (table, chain, builtin, specs) in [
        (Table::Filter, FILTER_CHAIN, "FORWARD", filter),
        (Table::Nat, NAT_CHAIN, "POSTROUTING", nat),
    ] {
        let listing = ipt.list(table).map_err(fw_err)?;
        if let Some(script) = batch(table, chain, builtin, &owner, &listing, specs) {
            tracing::debug!("iptables-restore --noflush:\n{script}");
            ipt.restore_noflush(&script).map_err(fw_err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn removing_without_a_mark_runs_no_iptables() {
        let marks = std::env::temp_dir().join(format!("hvnet-marks-{}", std::process::id()));
        // No mark: nothing of hvnet's to remove, so not even iptables is needed.
        sync(&marks, "vif5.0", &[], &[]).unwrap();
        assert!(!marks.exists());
        assert!(markable("vif5.0") && markable("web0-emu"));
        assert!(!markable("") && !markable("..") && !markable("a/b"));
    }

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

    #[test]
    fn batch_creates_hooks_replaces_and_is_idempotent() {
        let nets = [parse_net("192.0.2.10", false).unwrap()];
        let specs = routed("vif5.0", &nets, false);
        let owner = owner("vif5.0");
        let s = batch(
            Table::Filter,
            FILTER_CHAIN,
            "FORWARD",
            &owner,
            "-P FORWARD ACCEPT\n",
            &specs,
        )
        .unwrap();
        assert!(s.starts_with("*filter\n:HVNET-XEN - [0:0]\n-I FORWARD 1 -m comment --comment hvnet -j HVNET-XEN\n"), "{s}");
        assert!(
            s.ends_with(
                "-A HVNET-XEN -i vif5.0 -m comment --comment hvnet-xen:vif5.0 -j DROP\nCOMMIT\n"
            ),
            "{s}"
        );
        // The listing iptables would print afterwards (quoted comments).
        let mut listing = String::from(
            "-P FORWARD ACCEPT\n-N HVNET-XEN\n-A FORWARD -m comment --comment hvnet -j HVNET-XEN\n",
        );
        listing.push_str("-A HVNET-XEN -s 198.51.100.1/32 -i vif6.0 -m comment --comment \"hvnet-xen:vif6.0\" -j ACCEPT\n");
        for sp in &specs {
            listing.push_str(&format!(
                "-A HVNET-XEN {}\n",
                sp.replace("hvnet-xen:vif5.0", "\"hvnet-xen:vif5.0\"")
            ));
        }
        assert_eq!(
            batch(
                Table::Filter,
                FILTER_CHAIN,
                "FORWARD",
                &owner,
                &listing,
                &specs
            ),
            None
        );
        assert_eq!(count_owned(&listing, &owner), specs.len());
        // Removal deletes only vif5.0's rules, leaving the chain, the hook and vif6.0.
        let s = batch(
            Table::Filter,
            FILTER_CHAIN,
            "FORWARD",
            &owner,
            &listing,
            &[],
        )
        .unwrap();
        assert_eq!(s.matches("\n-D HVNET-XEN ").count(), specs.len(), "{s}");
        assert!(!s.contains("vif6.0") && !s.contains(":HVNET-XEN") && !s.contains("FORWARD"));
        assert!(s.contains("-D HVNET-XEN -s 0.0.0.0/32 -i vif5.0 -p udp -m udp --sport 68 --dport 67 -m comment --comment hvnet-xen:vif5.0 -j ACCEPT\n"), "{s}");
        // Nothing to remove where there is no chain.
        assert_eq!(
            batch(Table::Nat, NAT_CHAIN, "POSTROUTING", &owner, "", &[]),
            None
        );
    }

    #[test]
    fn rule_shapes() {
        let nets = [parse_net("10.0.5.1", false).unwrap()];
        let r = routed("vif5.0", &nets, true);
        assert!(r.contains(&"-d 10.0.5.1/32 -o vif5.0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment hvnet-xen:vif5.0 -j ACCEPT".to_owned()));
        assert_eq!(routed("vif5.0", &[], false).len(), 2);
        let b = bridged("vif5.0", &nets);
        assert_eq!(b.last().unwrap(), "-m physdev --physdev-in vif5.0 --physdev-is-bridged -m comment --comment hvnet-xen:vif5.0 -j DROP");
        assert!(bridged("vif5.0", &[]).is_empty());
        assert_eq!(
            masquerade("vif5.0", &nets, Some("eth0")),
            vec!["-s 10.0.5.1/32 -o eth0 -m comment --comment hvnet-xen:vif5.0 -j MASQUERADE"]
        );
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote("hvnet-xen:x"), "hvnet-xen:x");
    }
}
