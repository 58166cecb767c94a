//! A Xen vif's own rules ([`VifGuard`]) in iptables: FORWARD accepts and anti-spoofing
//! (filter chain [`FILTER_CHAIN`], jumped to once from `FORWARD`) and masquerade (nat chain
//! [`NAT_CHAIN`], jumped to once from `POSTROUTING`). Both jumps carry the comment `hvnet`;
//! every rule carries `hvnet-xen:<device>` ([`owner`]), so one vif's rules are replaced or
//! removed without touching any other vif's, and nothing of `hvnet apply`'s chains is touched.
//!
//! [`Iptables::set_vif_guard`] makes a vif's rules exactly the guard's with one
//! `iptables-restore --noflush` batch per table: it lists the table, deletes the vif's old
//! rules (found by their comment, whatever any record says) and appends the new ones,
//! creating the chain and its jump when missing. When the rules are already exactly the
//! wanted ones, nothing is written. When the last vif's rules go, the chain and its jump go
//! too, so a host without Xen guests has nothing of hvnet's in its firewall. Rules are
//! written in the canonical form `iptables -S` prints, so that a repeated `online` finds
//! them identical.
//!
//! The guard last set for a device is also recorded in the state directory
//! ([`recorded`]), so that a teardown of a vif that never had rules runs no iptables at all.

use std::path::{Path, PathBuf};

use hvnet_core::firewall::{split_words, FirewallKind, Table, HOOK_COMMENT};
use hvnet_core::vif_guard::{GuardMode, VifGuard};

use super::iptables::ruleset::Family;
use super::{Iptables, IptablesError};

/// The filter chain of the Xen vifs' rules (hooked from `FORWARD`).
pub const FILTER_CHAIN: &str = "HVNET-XEN";
/// The nat chain of the Xen vifs' masquerade rules (hooked from `POSTROUTING`).
pub const NAT_CHAIN: &str = "HVNET-XNAT";

/// The comment on every rule of device `dev`.
pub fn owner(dev: &str) -> String {
    format!("hvnet-xen:{dev}")
}

/// The IPv4 filter rules of `guard` on `dev`, as `iptables -S` prints them (without
/// `-A CHAIN`).
pub fn filter_rules(dev: &str, guard: &VifGuard) -> Vec<String> {
    let nets = guard.nets4();
    match guard.mode {
        GuardMode::Bridged => bridged(dev, &nets),
        GuardMode::Routed => routed(dev, &nets, false),
        GuardMode::Nat => routed(dev, &nets, true),
    }
}

/// The IPv6 filter rules of `guard` on `dev`, as `ip6tables -S` prints them (without
/// `-A CHAIN`): none when the guard has no IPv6 nets (the vif's IPv6 is not restricted).
/// From the guest, link-local ICMPv6 (neighbour and router discovery), DHCPv6 from a
/// link-local address, DAD's neighbour solicitations from `::` and the guest's nets pass;
/// any other IPv6 from the guest is dropped.
///
/// ```
/// use hvnet_core::vif_guard::{GuardMode, VifGuard};
/// use hvnet_linux::firewall::vif::filter_rules6;
/// let g = VifGuard::new(GuardMode::Routed, vec!["2001:db8::10/128".parse().unwrap()], None);
/// let r = filter_rules6("vif5.0", &g.unwrap());
/// assert_eq!(r.last().unwrap(), "-i vif5.0 -m comment --comment hvnet-xen:vif5.0 -j DROP");
/// ```
pub fn filter_rules6(dev: &str, guard: &VifGuard) -> Vec<String> {
    let nets = guard.nets6();
    if nets.is_empty() {
        return Vec::new();
    }
    let c = format!("-m comment --comment {}", owner(dev));
    let bridged = guard.mode == GuardMode::Bridged;
    // Where the packet comes from: the bridge port, or the routed vif.
    let src_in = if bridged {
        format!("-m physdev --physdev-in {dev} --physdev-is-bridged")
    } else {
        format!("-i {dev}")
    };
    // ip6tables -S prints `-s`, `-i`, `-p`, then the matches in their order.
    let ll = |proto: &str, rest: &str| {
        if bridged {
            format!("-p {proto} {src_in}{rest} {c} -j ACCEPT")
        } else {
            format!("{src_in} -p {proto}{rest} {c} -j ACCEPT")
        }
    };
    let mut v = vec![
        format!("-s fe80::/10 {}", ll("ipv6-icmp", "")),
        format!(
            "-s fe80::/10 {}",
            ll("udp", " -m udp --sport 546 --dport 547")
        ),
        format!(
            "-s ::/128 {}",
            ll("ipv6-icmp", " -m icmp6 --icmpv6-type 135")
        ),
    ];
    v.extend(
        nets.iter()
            .map(|n| format!("-s {n} {src_in} {c} -j ACCEPT")),
    );
    if bridged {
        v.push(format!(
            "-m physdev --physdev-out {dev} --physdev-is-bridged {c} -j ACCEPT"
        ));
    } else {
        let state = if guard.mode == GuardMode::Nat {
            " -m conntrack --ctstate RELATED,ESTABLISHED"
        } else {
            ""
        };
        v.extend(
            nets.iter()
                .map(|n| format!("-d {n} -o {dev}{state} {c} -j ACCEPT")),
        );
    }
    v.push(format!("{src_in} {c} -j DROP"));
    v
}

/// The nat rules of `guard` on `dev` (a masquerade of its IPv4 nets for
/// [`GuardMode::Nat`] only).
pub fn nat_rules(dev: &str, guard: &VifGuard) -> Vec<String> {
    match guard.mode {
        GuardMode::Nat => masquerade(
            dev,
            &guard.nets4(),
            guard.uplink.as_ref().map(|u| u.as_str()),
        ),
        _ => Vec::new(),
    }
}

type Net4 = hvnet_core::types::Ipv4Cidr;

const DHCP: &str = "-p udp -m udp --sport 68 --dport 67";

/// Rules for a routed (`nat == false`) or NAT vif `dev` whose guest owns `nets`: DHCP from
/// `0.0.0.0` and packets from `nets` may come in; packets to `nets` may go out (for NAT only
/// replies, `RELATED,ESTABLISHED`); any other packet from the guest is dropped. Without
/// `nets` (no `ip` key) the vif is unrestricted, as with the stock scripts.
fn routed(dev: &str, nets: &[Net4], nat: bool) -> Vec<String> {
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
fn bridged(dev: &str, nets: &[Net4]) -> Vec<String> {
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
fn masquerade(dev: &str, nets: &[Net4], uplink: Option<&str>) -> Vec<String> {
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
    let has_chain = lines
        .iter()
        .any(|w| w.len() == 2 && w[0] == "-N" && w[1] == chain);
    let hook = ["-m", "comment", "--comment", HOOK_COMMENT, "-j", chain];
    let has_hook = lines
        .iter()
        .any(|w| w.len() > 2 && w[0] == "-A" && w[1] == builtin && w[2..] == hook);
    let in_chain = lines
        .iter()
        .filter(|w| w.len() > 2 && w[0] == "-A" && w[1] == chain)
        .count();
    // The last vif's rules go: the chain and its jump go with them.
    let drop_chain = specs.is_empty() && has_chain && in_chain == old.len();
    let same = old.len() == want.len() && old.iter().zip(&want).all(|(o, w)| *o == w.as_slice());
    if same && !drop_chain {
        return None;
    }
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
    if drop_chain {
        if has_hook {
            s.push_str(&format!("-D {builtin} {}\n", hook.join(" ")));
        }
        s.push_str(&format!("-X {chain}\n"));
    }
    s.push_str("COMMIT\n");
    Some(s)
}

impl Iptables {
    /// Makes `dev`'s rules exactly `guard`'s (`None`: removes them), in one
    /// `iptables-restore --noflush` batch per table that changes. The IPv6 filter table
    /// (`ip6tables`) is listed only when `guard` or `old` (the guard set before) has IPv6
    /// nets, so that an IPv4-only vif costs what it did before IPv6 guards.
    ///
    /// # Errors
    ///
    /// Listing or restoring failed, or `guard` has IPv6 nets and ip6tables is missing.
    pub fn set_vif_guard(
        &self,
        dev: &str,
        guard: Option<&VifGuard>,
        old: Option<&VifGuard>,
    ) -> Result<(), IptablesError> {
        let owner = owner(dev);
        let filter = guard.map(|g| filter_rules(dev, g)).unwrap_or_default();
        let filter6 = guard.map(|g| filter_rules6(dev, g)).unwrap_or_default();
        let nat = guard.map(|g| nat_rules(dev, g)).unwrap_or_default();
        let had6 = old.is_some_and(|o| !o.nets6().is_empty());
        let v6 = !filter6.is_empty() || (had6 && self.has_ip6tables());
        let mut steps = vec![
            (Family::V4, Table::Filter, FILTER_CHAIN, "FORWARD", &filter),
            (Family::V4, Table::Nat, NAT_CHAIN, "POSTROUTING", &nat),
        ];
        if v6 {
            steps.push((Family::V6, Table::Filter, FILTER_CHAIN, "FORWARD", &filter6));
        }
        for (family, table, chain, builtin, specs) in steps {
            let listing = self.list_of(family, table)?;
            if let Some(script) = batch(table, chain, builtin, &owner, &listing, specs) {
                tracing::debug!("{family:?} restore --noflush:\n{script}");
                self.restore_noflush_of(family, &script)?;
            }
        }
        Ok(())
    }
}

/// Where the guards are recorded under a state directory.
pub const RECORD_DIR: &str = "vif-guards";

/// The record file of `dev`, if the name can be a file name.
fn record_path(state_dir: &Path, dev: &str) -> Option<PathBuf> {
    let ok = !dev.is_empty() && dev != "." && dev != ".." && !dev.contains('/');
    ok.then(|| state_dir.join(RECORD_DIR).join(dev))
}

/// A record: the guard and the backend that wrote it (records written before the
/// nftables renderer have no backend: iptables).
#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    #[serde(flatten)]
    guard: VifGuard,
    #[serde(default = "iptables_kind")]
    backend: FirewallKind,
}

fn iptables_kind() -> FirewallKind {
    FirewallKind::Iptables
}

fn read_record(state_dir: &Path, dev: &str) -> Option<Record> {
    let text = std::fs::read_to_string(record_path(state_dir, dev)?).ok()?;
    serde_json::from_str(&text).ok()
}

/// The guard last set for `dev` under `state_dir` (`None`: none, or no readable record).
pub fn recorded(state_dir: &Path, dev: &str) -> Option<VifGuard> {
    read_record(state_dir, dev).map(|r| r.guard)
}

/// The backend that wrote `dev`'s recorded guard (`None`: no record).
pub fn recorded_backend(state_dir: &Path, dev: &str) -> Option<FirewallKind> {
    read_record(state_dir, dev).map(|r| r.backend)
}

/// Records (`Some`) or forgets (`None`) `dev`'s guard, written by `backend`.
pub(crate) fn record(
    state_dir: &Path,
    dev: &str,
    guard: Option<&VifGuard>,
    backend: FirewallKind,
) -> std::io::Result<()> {
    let Some(path) = record_path(state_dir, dev) else {
        return Ok(());
    };
    match guard {
        Some(g) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let rec = Record {
                guard: g.clone(),
                backend,
            };
            let text = serde_json::to_string(&rec).map_err(std::io::Error::other)?;
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, &path)
        }
        None => match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}

/// A guard from literals (tests).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_guard(mode: GuardMode, nets: &[&str], uplink: Option<&str>) -> VifGuard {
    VifGuard {
        mode,
        nets: nets.iter().map(|n| n.parse().unwrap()).collect(),
        uplink: uplink.map(|u| hvnet_core::types::IfName::new(u).unwrap()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn net(s: &str) -> Net4 {
        s.parse().unwrap()
    }

    pub(crate) use super::test_guard as guard;

    #[test]
    fn records_round_trip_and_odd_names_are_not_files() {
        let dir = std::env::temp_dir().join(format!("hvnet-vif-guards-{}", std::process::id()));
        let g = guard(GuardMode::Nat, &["10.0.5.1/32"], Some("eth0"));
        record(&dir, "vif5.0", Some(&g), FirewallKind::Nftables).unwrap();
        assert_eq!(recorded(&dir, "vif5.0"), Some(g));
        assert_eq!(
            recorded_backend(&dir, "vif5.0"),
            Some(FirewallKind::Nftables)
        );
        // A record of an hvnet before the nftables renderer: iptables wrote it.
        let old = r#"{"mode":"Routed","nets":["10.0.5.1/32"],"uplink":null}"#;
        std::fs::write(dir.join(RECORD_DIR).join("vif5.0"), old).unwrap();
        assert_eq!(
            recorded_backend(&dir, "vif5.0"),
            Some(FirewallKind::Iptables)
        );
        assert_eq!(
            recorded(&dir, "vif5.0").unwrap().nets4()[0].to_string(),
            "10.0.5.1/32"
        );
        record(&dir, "vif5.0", None, FirewallKind::Nftables).unwrap();
        record(&dir, "vif5.0", None, FirewallKind::Nftables).unwrap();
        assert_eq!(recorded(&dir, "vif5.0"), None);
        assert!(record_path(&dir, "..").is_none() && record_path(&dir, "a/b").is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn batch_creates_hooks_replaces_and_is_idempotent() {
        let specs = filter_rules(
            "vif5.0",
            &guard(GuardMode::Routed, &["192.0.2.10/32"], None),
        );
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
        // The last vif's removal takes the chain and the hook with it.
        let last: String = listing
            .lines()
            .filter(|l| !l.contains("vif6.0"))
            .map(|l| format!("{l}\n"))
            .collect();
        let s = batch(Table::Filter, FILTER_CHAIN, "FORWARD", &owner, &last, &[]).unwrap();
        assert!(
            s.ends_with(
                "-D FORWARD -m comment --comment hvnet -j HVNET-XEN\n-X HVNET-XEN\nCOMMIT\n"
            ),
            "{s}"
        );
        // An empty chain left behind goes too.
        let empty = "-N HVNET-XEN\n-A FORWARD -m comment --comment hvnet -j HVNET-XEN\n";
        let s = batch(Table::Filter, FILTER_CHAIN, "FORWARD", &owner, empty, &[]).unwrap();
        assert!(s.contains("-X HVNET-XEN\n"), "{s}");
        // Nothing to remove where there is no chain.
        assert_eq!(
            batch(Table::Nat, NAT_CHAIN, "POSTROUTING", &owner, "", &[]),
            None
        );
    }

    #[test]
    fn ipv6_rules_byte_exact() {
        let c = "-m comment --comment hvnet-xen:vif5.0";
        let pin = "-m physdev --physdev-in vif5.0 --physdev-is-bridged";
        let b = guard(GuardMode::Bridged, &["192.0.2.5/32", "2001:db8::/64"], None);
        assert_eq!(
            filter_rules6("vif5.0", &b),
            [
                format!("-s fe80::/10 -p ipv6-icmp {pin} {c} -j ACCEPT"),
                format!("-s fe80::/10 -p udp {pin} -m udp --sport 546 --dport 547 {c} -j ACCEPT"),
                format!("-s ::/128 -p ipv6-icmp {pin} -m icmp6 --icmpv6-type 135 {c} -j ACCEPT"),
                format!("-s 2001:db8::/64 {pin} {c} -j ACCEPT"),
                format!("-m physdev --physdev-out vif5.0 --physdev-is-bridged {c} -j ACCEPT"),
                format!("{pin} {c} -j DROP"),
            ]
        );
        // The IPv4 rules are those of an IPv4-only guard.
        let b4 = guard(GuardMode::Bridged, &["192.0.2.5/32"], None);
        assert_eq!(filter_rules("vif5.0", &b), filter_rules("vif5.0", &b4));
        assert!(filter_rules6("vif5.0", &b4).is_empty());
        let r = guard(GuardMode::Routed, &["2001:db8::10/128"], None);
        assert_eq!(
            filter_rules6("vif5.0", &r),
            [
                format!("-s fe80::/10 -i vif5.0 -p ipv6-icmp {c} -j ACCEPT"),
                format!(
                    "-s fe80::/10 -i vif5.0 -p udp -m udp --sport 546 --dport 547 {c} -j ACCEPT"
                ),
                format!(
                    "-s ::/128 -i vif5.0 -p ipv6-icmp -m icmp6 --icmpv6-type 135 {c} -j ACCEPT"
                ),
                format!("-s 2001:db8::10/128 -i vif5.0 {c} -j ACCEPT"),
                format!("-d 2001:db8::10/128 -o vif5.0 {c} -j ACCEPT"),
                format!("-i vif5.0 {c} -j DROP"),
            ]
        );
        // IPv6 only: IPv4 is left open, as a routed vif without addresses.
        assert_eq!(filter_rules("vif5.0", &r).len(), 2);
    }

    #[test]
    fn rule_shapes() {
        let nets = [net("10.0.5.1/32")];
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
