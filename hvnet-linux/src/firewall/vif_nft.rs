//! A Xen vif's own rules ([`VifGuard`]) in nftables, in hvnet's tables `bridge hvnet_xen`
//! (bridged vifs: the bridge family's forward hook sees bridged frames with their
//! `iifname`, no br_netfilter needed) and `inet hvnet_xen` (routed and NAT vifs, and their
//! masquerade). Nothing of any other table is touched, `inet hvnet` (`hvnet apply`'s)
//! included.
//!
//! Each table has a base chain `forward` (`iifname vmap @vifs`) and, in `inet`, a nat
//! chain `postrouting` (`iifname vmap @nat`); a vif's rules are a chain of its own
//! ([`chain_name`]: `v_` for the filter rules, `n_` for the masquerade) and an element of
//! the map keyed by its name. [`Nftables::set_vif_guard`] lists the table(s) concerned and
//! writes one `nft -f` transaction that makes exactly that vif's chains and elements the
//! guard's, leaving every other vif's alone; when the live rules already are the wanted
//! ones, nothing is written. The last vif's removal deletes the table, so a host without
//! Xen guests has nothing of hvnet's.
//!
//! Only packets from the guest are filtered: an accept in hvnet's table cannot override
//! another table's drop (each table is evaluated on its own), so the iptables renderer's
//! accepts of traffic to the guest and of unrestricted vifs would do nothing here and are
//! not written.

use std::collections::BTreeMap;

use hvnet_core::types::IpCidr;
use hvnet_core::vif_guard::{GuardMode, VifGuard};

use super::{NftError, Nftables};

/// hvnet's table of the Xen vifs, in both families.
pub const TABLE: &str = "hvnet_xen";

/// The `bridge` family (linux/netfilter.h `NFPROTO_BRIDGE`).
const NFPROTO_BRIDGE: u8 = 7;

/// The two tables a vif's rules may be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NftFamily {
    /// `bridge hvnet_xen`: bridged vifs.
    Bridge,
    /// `inet hvnet_xen`: routed and NAT vifs.
    Inet,
}

impl NftFamily {
    /// The family's name in nft's syntax.
    pub fn name(self) -> &'static str {
        match self {
            NftFamily::Bridge => "bridge",
            NftFamily::Inet => "inet",
        }
    }

    fn nfproto(self) -> u8 {
        match self {
            NftFamily::Bridge => NFPROTO_BRIDGE,
            NftFamily::Inet => super::probe::NFPROTO_INET,
        }
    }

    /// The table of a guard's mode.
    pub fn of(mode: GuardMode) -> NftFamily {
        match mode {
            GuardMode::Bridged => NftFamily::Bridge,
            GuardMode::Routed | GuardMode::Nat => NftFamily::Inet,
        }
    }

    const ALL: [NftFamily; 2] = [NftFamily::Bridge, NftFamily::Inet];
}

/// The chain of `dev`'s rules: `prefix` then the name with every byte other than an ASCII
/// letter, digit, `.` or `-` written `_XX` (hex), so that any interface name gives a
/// distinct chain name nft accepts unquoted.
///
/// ```
/// use hvnet_linux::firewall::vif_nft::chain_name;
/// assert_eq!(chain_name("v_", "vif5.0"), "v_vif5.0");
/// assert_eq!(chain_name("v_", "vif5.0-emu"), "v_vif5.0-emu");
/// assert_eq!(chain_name("n_", "my_vif"), "n_my_5fvif");
/// ```
pub fn chain_name(prefix: &str, dev: &str) -> String {
    let mut s = String::from(prefix);
    for b in dev.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("_{b:02x}"));
        }
    }
    s
}

/// An address or prefix as nft prints it (a host without its `/32` or `/128`).
fn net(n: &IpCidr) -> String {
    let host = match n {
        IpCidr::V4(_) => 32,
        IpCidr::V6(_) => 128,
    };
    if n.prefix_len() == host {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

/// The filter rules of `guard` on `dev`, as `nft list` prints them (counters bare, as
/// `nft -s` lists them): per family with nets, the guest's own sources (IPv4: and DHCP
/// from `0.0.0.0`; IPv6: link-local ICMPv6 and DHCPv6, DAD's solicitations from `::`) are
/// accepted and any other packet of that family from the vif is dropped. A family without
/// nets is not filtered. `dev` must not contain `"` or `\` (see [`quoted`]).
///
/// ```
/// use hvnet_core::vif_guard::{GuardMode, VifGuard};
/// use hvnet_linux::firewall::vif_nft::filter_rules;
/// let g = VifGuard::new(GuardMode::Bridged, vec!["192.0.2.10/32".parse().unwrap()], None);
/// assert_eq!(
///     filter_rules("vif5.0", &g.unwrap()),
///     [
///         r#"iifname "vif5.0" ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept"#,
///         r#"iifname "vif5.0" ip saddr 192.0.2.10 accept"#,
///         r#"iifname "vif5.0" ether type ip counter drop"#,
///     ]
/// );
/// ```
pub fn filter_rules(dev: &str, guard: &VifGuard) -> Vec<String> {
    let i = format!("iifname \"{dev}\"");
    let bridged = guard.mode == GuardMode::Bridged;
    let mut v = Vec::new();
    let (v4, v6): (Vec<&IpCidr>, Vec<&IpCidr>) = guard.nets.iter().partition(|n| n.is_ipv4());
    if !v4.is_empty() {
        v.push(format!(
            "{i} ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept"
        ));
        v.extend(v4.iter().map(|n| format!("{i} ip saddr {} accept", net(n))));
        v.push(if bridged {
            format!("{i} ether type ip counter drop")
        } else {
            format!("{i} meta nfproto ipv4 counter drop")
        });
    }
    if !v6.is_empty() {
        v.push(format!(
            "{i} ip6 saddr fe80::/10 meta l4proto ipv6-icmp accept"
        ));
        v.push(format!(
            "{i} ip6 saddr fe80::/10 udp sport 546 udp dport 547 accept"
        ));
        v.push(format!(
            "{i} ip6 saddr :: icmpv6 type nd-neighbor-solicit accept"
        ));
        v.extend(
            v6.iter()
                .map(|n| format!("{i} ip6 saddr {} accept", net(n))),
        );
        v.push(if bridged {
            format!("{i} ether type ip6 counter drop")
        } else {
            format!("{i} meta nfproto ipv6 counter drop")
        });
    }
    v
}

/// The masquerade rules of `guard` on `dev` ([`GuardMode::Nat`] only): its IPv4 nets out
/// of the uplink, or out of anything but the vif.
///
/// ```
/// use hvnet_core::types::IfName;
/// use hvnet_core::vif_guard::{GuardMode, VifGuard};
/// use hvnet_linux::firewall::vif_nft::nat_rules;
/// let up = IfName::new("eth0").ok();
/// let g = VifGuard::new(GuardMode::Nat, vec!["10.0.5.1/32".parse().unwrap()], up);
/// assert_eq!(nat_rules("vif5.0", &g.unwrap()), [r#"ip saddr 10.0.5.1 oifname "eth0" masquerade"#]);
/// ```
pub fn nat_rules(dev: &str, guard: &VifGuard) -> Vec<String> {
    if guard.mode != GuardMode::Nat {
        return Vec::new();
    }
    let out = match &guard.uplink {
        Some(u) => format!("oifname \"{u}\""),
        None => format!("oifname != \"{dev}\""),
    };
    guard
        .nets
        .iter()
        .filter(|n| n.is_ipv4())
        .map(|n| format!("ip saddr {} {out} masquerade", net(n)))
        .collect()
}

/// `dev` as an nft string, refused when it holds a `"` or `\` (which nft's strings cannot
/// carry); Linux names with them are legal but never Xen's.
///
/// # Errors
///
/// The name cannot be quoted.
pub fn quoted(dev: &str) -> Result<String, NftError> {
    if dev.contains(['"', '\\']) {
        return Err(NftError::Listing(format!(
            "interface name {dev:?} cannot be written in an nft rule"
        )));
    }
    Ok(format!("\"{dev}\""))
}

/// hvnet's table of one family as `nft -s list table` printed it: each chain's rules
/// (base chains without their `type` line) and each map's elements (interface name to
/// jumped chain).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Live {
    /// Chain name to its rules, in order.
    pub chains: BTreeMap<String, Vec<String>>,
    /// Map name to its elements.
    pub maps: BTreeMap<String, BTreeMap<String, String>>,
}

impl Live {
    /// Reads `nft -s list table FAMILY hvnet_xen`'s text.
    ///
    /// ```
    /// let t = "table inet hvnet_xen {\n\tmap vifs {\n\t\ttype ifname : verdict\n\t\telements = { \"vif5.0\" : jump v_vif5.0,\n\t\t\t     \"vif6.0\" : jump v_vif6.0 }\n\t}\n\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\t\tiifname vmap @vifs\n\t}\n}\n";
    /// let l = hvnet_linux::firewall::vif_nft::Live::parse(t);
    /// assert_eq!(l.maps["vifs"]["vif6.0"], "v_vif6.0");
    /// assert_eq!(l.chains["forward"], ["iifname vmap @vifs"]);
    /// ```
    pub fn parse(text: &str) -> Live {
        let mut live = Live::default();
        let mut chain: Option<String> = None;
        let mut map: Option<(String, String)> = None;
        for line in text.lines().map(str::trim) {
            if let Some((name, body)) = &mut map {
                if line == "}" {
                    let elems = parse_elements(body);
                    live.maps.insert(std::mem::take(name), elems);
                    map = None;
                } else {
                    body.push_str(line);
                    body.push(' ');
                }
                continue;
            }
            if let Some(name) = &chain {
                if line == "}" {
                    chain = None;
                } else if !line.is_empty() && !line.starts_with("type ") {
                    live.chains
                        .entry(name.clone())
                        .or_default()
                        .push(line.to_owned());
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("chain ") {
                let name = rest.trim_end_matches('{').trim().to_owned();
                live.chains.entry(name.clone()).or_default();
                chain = Some(name);
            } else if let Some(rest) = line.strip_prefix("map ") {
                map = Some((rest.trim_end_matches('{').trim().to_owned(), String::new()));
            }
        }
        live
    }

    /// The interface names with an element in any map.
    fn vifs(&self) -> std::collections::BTreeSet<&str> {
        self.maps
            .values()
            .flat_map(|m| m.keys().map(String::as_str))
            .collect()
    }
}

/// The `"name" : jump chain` pairs of a map's body.
fn parse_elements(body: &str) -> BTreeMap<String, String> {
    let Some((_, elems)) = body.split_once("elements = {") else {
        return BTreeMap::new();
    };
    elems
        .split(',')
        .filter_map(|e| {
            let (_, rest) = e.split_once('"')?;
            let (name, rest) = rest.split_once('"')?;
            let target = rest.split_once("jump ")?.1;
            let target = target.trim().trim_end_matches('}').trim();
            Some((name.to_owned(), target.to_owned()))
        })
        .collect()
}

/// What one table must hold for one vif: `(map, chain, rules)` per non-empty rule list.
fn wanted(
    dev: &str,
    guard: Option<&VifGuard>,
    family: NftFamily,
) -> Vec<(&'static str, String, Vec<String>)> {
    let Some(g) = guard.filter(|g| NftFamily::of(g.mode) == family) else {
        return Vec::new();
    };
    let mut w = Vec::new();
    let f = filter_rules(dev, g);
    if !f.is_empty() {
        w.push(("vifs", chain_name("v_", dev), f));
    }
    let n = nat_rules(dev, g);
    if !n.is_empty() {
        w.push(("nat", chain_name("n_", dev), n));
    }
    w
}

/// The verdict maps of a family's table.
fn maps(family: NftFamily) -> &'static [&'static str] {
    match family {
        NftFamily::Bridge => &["vifs"],
        NftFamily::Inet => &["vifs", "nat"],
    }
}

/// The base chains of a family's table, with their one rule each.
fn base_chains(family: NftFamily) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut v = vec![(
        "forward",
        "type filter hook forward priority filter; policy accept;",
        "iifname vmap @vifs",
    )];
    if family == NftFamily::Inet {
        v.push((
            "postrouting",
            "type nat hook postrouting priority srcnat; policy accept;",
            "iifname vmap @nat",
        ));
    }
    v
}

/// The `nft -f` script that makes `dev`'s part of `family`'s table exactly `guard`'s
/// (`None`, or a guard of the other family: nothing), given the live table (`None`: it
/// does not exist); `None` when nothing needs to change. The last vif's removal deletes
/// the table.
///
/// ```
/// use hvnet_core::vif_guard::{GuardMode, VifGuard};
/// use hvnet_linux::firewall::vif_nft::{script, Live, NftFamily};
/// let g = VifGuard::new(GuardMode::Routed, vec!["192.0.2.10/32".parse().unwrap()], None).unwrap();
/// let s = script("vif5.0", Some(&g), NftFamily::Inet, None).unwrap();
/// assert!(s.contains("add element inet hvnet_xen vifs { \"vif5.0\" : jump v_vif5.0 }\n"));
/// // Nothing in the bridge table, which does not exist.
/// assert_eq!(script("vif5.0", Some(&g), NftFamily::Bridge, None), None);
/// ```
pub fn script(
    dev: &str,
    guard: Option<&VifGuard>,
    family: NftFamily,
    live: Option<&Live>,
) -> Option<String> {
    let want = wanted(dev, guard, family);
    let (fam, t) = (family.name(), TABLE);
    let q = format!("\"{dev}\"");
    let empty = Live::default();
    let l = live.unwrap_or(&empty);
    // dev's pieces that are there now.
    let mine: Vec<(&String, &String)> = l
        .maps
        .iter()
        .filter_map(|(m, e)| e.get(dev).map(|c| (m, c)))
        .collect();
    let own_chains: Vec<String> = [chain_name("v_", dev), chain_name("n_", dev)]
        .into_iter()
        .filter(|c| l.chains.contains_key(c))
        .collect();
    if want.is_empty() {
        live?;
        let others = l.vifs().into_iter().filter(|v| *v != dev).count();
        if others == 0 {
            return Some(format!("delete table {fam} {t}\n"));
        }
        if mine.is_empty() && own_chains.is_empty() {
            return None;
        }
        let mut s = String::new();
        for (m, _) in &mine {
            s.push_str(&format!("delete element {fam} {t} {m} {{ {q} }}\n"));
        }
        for c in &own_chains {
            s.push_str(&format!(
                "flush chain {fam} {t} {c}\ndelete chain {fam} {t} {c}\n"
            ));
        }
        return Some(s);
    }
    let bases = base_chains(family);
    let bases_ok = bases.iter().all(|(c, _, r)| {
        l.chains
            .get(*c)
            .is_some_and(|rules| rules == &[r.to_string()])
    });
    let maps_ok = maps(family).iter().all(|m| l.maps.contains_key(*m));
    let same = live.is_some()
        && bases_ok
        && maps_ok
        && mine.len() == want.len()
        && own_chains.len() == want.len()
        && want.iter().all(|(m, c, rules)| {
            l.maps.get(*m).and_then(|e| e.get(dev)) == Some(c) && l.chains.get(c) == Some(rules)
        });
    if same {
        return None;
    }
    let mut s = format!("table {fam} {t} {{\n");
    for m in maps(family) {
        s.push_str(&format!("\tmap {m} {{ type ifname : verdict; }}\n"));
    }
    for (c, hook, _) in &bases {
        s.push_str(&format!("\tchain {c} {{ {hook} }}\n"));
    }
    s.push_str("}\n");
    for (c, _, rule) in &bases {
        if l.chains
            .get(*c)
            .is_none_or(|rules| rules != &[rule.to_string()])
        {
            s.push_str(&format!(
                "flush chain {fam} {t} {c}\nadd rule {fam} {t} {c} {rule}\n"
            ));
        }
    }
    // dev's elements and chains go, then the wanted ones are written anew.
    for (m, _) in &mine {
        s.push_str(&format!("delete element {fam} {t} {m} {{ {q} }}\n"));
    }
    for c in &own_chains {
        s.push_str(&format!("flush chain {fam} {t} {c}\n"));
        if !want.iter().any(|(_, w, _)| w == c) {
            s.push_str(&format!("delete chain {fam} {t} {c}\n"));
        }
    }
    for (m, c, rules) in &want {
        s.push_str(&format!("add chain {fam} {t} {c}\n"));
        for r in rules {
            s.push_str(&format!("add rule {fam} {t} {c} {r}\n"));
        }
        s.push_str(&format!("add element {fam} {t} {m} {{ {q} : jump {c} }}\n"));
    }
    Some(s)
}

impl Nftables {
    /// Makes `dev`'s rules exactly `guard`'s (`None`: removes them) in hvnet's
    /// `hvnet_xen` tables, with one `nft -f` transaction (none when nothing changes).
    ///
    /// # Errors
    ///
    /// `dev` cannot be quoted, or listing or the transaction failed.
    pub fn set_vif_guard(&self, dev: &str, guard: Option<&VifGuard>) -> Result<(), NftError> {
        quoted(dev)?;
        let mut all = String::new();
        for family in NftFamily::ALL {
            // A table that does not exist is not listed (and the removal of a vif that
            // never had rules runs no nft at all).
            let exists = super::probe::table_exists(family.nfproto(), TABLE).unwrap_or(true);
            let wants = guard.is_some_and(|g| NftFamily::of(g.mode) == family);
            if !exists && !wants {
                continue;
            }
            let live = if exists {
                self.list_table(family.name(), TABLE)?
                    .map(|text| Live::parse(&text))
            } else {
                None
            };
            if let Some(s) = script(dev, guard, family, live.as_ref()) {
                all.push_str(&s);
            }
        }
        if all.is_empty() {
            return Ok(());
        }
        tracing::debug!("nft -f:\n{all}");
        self.transaction(&all)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use crate::firewall::vif::test_guard as guard;

    #[test]
    fn routed_dual_stack_rules_byte_exact() {
        let g = guard(
            GuardMode::Routed,
            &[
                "10.99.0.5/32",
                "10.99.2.0/28",
                "2001:db8:99::8/128",
                "2001:db8:99:1::/64",
            ],
            None,
        );
        assert_eq!(
            filter_rules("vif5.0", &g),
            [
                r#"iifname "vif5.0" ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept"#,
                r#"iifname "vif5.0" ip saddr 10.99.0.5 accept"#,
                r#"iifname "vif5.0" ip saddr 10.99.2.0/28 accept"#,
                r#"iifname "vif5.0" meta nfproto ipv4 counter drop"#,
                r#"iifname "vif5.0" ip6 saddr fe80::/10 meta l4proto ipv6-icmp accept"#,
                r#"iifname "vif5.0" ip6 saddr fe80::/10 udp sport 546 udp dport 547 accept"#,
                r#"iifname "vif5.0" ip6 saddr :: icmpv6 type nd-neighbor-solicit accept"#,
                r#"iifname "vif5.0" ip6 saddr 2001:db8:99::8 accept"#,
                r#"iifname "vif5.0" ip6 saddr 2001:db8:99:1::/64 accept"#,
                r#"iifname "vif5.0" meta nfproto ipv6 counter drop"#,
            ]
        );
        // Bridged IPv6 only: IPv4 is not filtered.
        let b = guard(GuardMode::Bridged, &["2001:db8::5/128"], None);
        let r = filter_rules("vif6.0", &b);
        assert_eq!(r.len(), 5);
        assert_eq!(r[4], r#"iifname "vif6.0" ether type ip6 counter drop"#);
        assert!(nat_rules("vif6.0", &b).is_empty());
        let n = guard(GuardMode::Nat, &["10.0.5.1/32"], None);
        assert_eq!(
            nat_rules("vif5.0", &n),
            [r#"ip saddr 10.0.5.1 oifname != "vif5.0" masquerade"#]
        );
        assert!(quoted("a\"b").is_err());
        assert_eq!(quoted("vif5.0").unwrap(), "\"vif5.0\"");
    }

    /// The table as nft lists it after `script`'s transaction, for `vifs` guards.
    fn listing(family: NftFamily, vifs: &[(&str, &VifGuard)]) -> String {
        let mut maps: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut chains = String::new();
        for (c, _, r) in base_chains(family) {
            chains.push_str(&format!("\tchain {c} {{\n\t\ttype x;\n\t\t{r}\n\t}}\n"));
        }
        for (dev, g) in vifs {
            for (m, c, rules) in wanted(dev, Some(g), family) {
                maps.entry(m)
                    .or_default()
                    .push(format!("\"{dev}\" : jump {c}"));
                chains.push_str(&format!("\tchain {c} {{\n"));
                for r in rules {
                    chains.push_str(&format!("\t\t{r}\n"));
                }
                chains.push_str("\t}\n");
            }
        }
        let mut s = format!("table {} {TABLE} {{\n", family.name());
        for m in super::maps(family) {
            s.push_str(&format!("\tmap {m} {{\n\t\ttype ifname : verdict\n"));
            if let Some(e) = maps.get(m) {
                s.push_str(&format!(
                    "\t\telements = {{ {} }}\n",
                    e.join(",\n\t\t\t     ")
                ));
            }
            s.push_str("\t}\n");
        }
        s.push_str(&chains);
        s.push_str("}\n");
        s
    }

    #[test]
    fn script_writes_once_replaces_one_vif_and_drops_the_table_last() {
        let a = guard(GuardMode::Nat, &["10.0.5.1/32"], Some("eth0"));
        let b = guard(GuardMode::Routed, &["10.99.0.6/32"], None);
        let s = script("vif5.0", Some(&a), NftFamily::Inet, None).unwrap();
        assert!(s.starts_with("table inet hvnet_xen {\n\tmap vifs { type ifname : verdict; }\n\tmap nat { type ifname : verdict; }\n\tchain forward { type filter hook forward priority filter; policy accept; }\n"), "{s}");
        assert!(
            s.contains(
                "add rule inet hvnet_xen n_vif5.0 ip saddr 10.0.5.1 oifname \"eth0\" masquerade\n"
            ),
            "{s}"
        );
        assert!(
            s.ends_with("add element inet hvnet_xen nat { \"vif5.0\" : jump n_vif5.0 }\n"),
            "{s}"
        );
        // Written: nothing more to do, the other vif's changes leave vif5.0 alone.
        let both = Live::parse(&listing(NftFamily::Inet, &[("vif5.0", &a), ("vif6.0", &b)]));
        assert_eq!(both.maps["vifs"].len(), 2);
        assert_eq!(
            script("vif5.0", Some(&a), NftFamily::Inet, Some(&both)),
            None
        );
        assert_eq!(script("vif5.0", Some(&a), NftFamily::Bridge, None), None);
        let s = script("vif6.0", None, NftFamily::Inet, Some(&both)).unwrap();
        assert_eq!(
            s,
            "delete element inet hvnet_xen vifs { \"vif6.0\" }\n\
             flush chain inet hvnet_xen v_vif6.0\ndelete chain inet hvnet_xen v_vif6.0\n"
        );
        // Another guard for vif5.0 (routed now): its nat chain and element go.
        let s = script("vif5.0", Some(&b), NftFamily::Inet, Some(&both)).unwrap();
        assert!(
            s.contains("delete element inet hvnet_xen nat { \"vif5.0\" }\n"),
            "{s}"
        );
        assert!(
            s.contains(
                "flush chain inet hvnet_xen n_vif5.0\ndelete chain inet hvnet_xen n_vif5.0\n"
            ),
            "{s}"
        );
        assert!(
            !s.contains("vif6.0") && !s.contains("flush chain inet hvnet_xen forward"),
            "{s}"
        );
        // A hand-removed rule is drift: rewritten.
        let mut drift = both.clone();
        drift.chains.get_mut("v_vif5.0").unwrap().pop();
        assert!(script("vif5.0", Some(&a), NftFamily::Inet, Some(&drift)).is_some());
        // The last vif's removal deletes the table.
        let one = Live::parse(&listing(NftFamily::Inet, &[("vif5.0", &a)]));
        assert_eq!(
            script("vif5.0", None, NftFamily::Inet, Some(&one)).unwrap(),
            "delete table inet hvnet_xen\n"
        );
        assert_eq!(script("vif5.0", None, NftFamily::Inet, None), None);
        // Moving to a bridge: the inet table (its last vif) goes.
        let br = guard(GuardMode::Bridged, &["192.0.2.5/32"], None);
        assert_eq!(
            script("vif5.0", Some(&br), NftFamily::Inet, Some(&one)).unwrap(),
            "delete table inet hvnet_xen\n"
        );
        let s = script("vif5.0", Some(&br), NftFamily::Bridge, None).unwrap();
        assert!(s.contains("add rule bridge hvnet_xen v_vif5.0 iifname \"vif5.0\" ether type ip counter drop\n"), "{s}");
        let bl = Live::parse(&listing(NftFamily::Bridge, &[("vif5.0", &br)]));
        assert_eq!(
            script("vif5.0", Some(&br), NftFamily::Bridge, Some(&bl)),
            None
        );
    }
}
