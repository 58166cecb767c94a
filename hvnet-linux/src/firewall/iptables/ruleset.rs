//! The firewall rule model: what hvnet's iptables chains must contain for a set of virtual
//! networks and port forwards. Pure — backends (`hvnet_linux::firewall`) apply it.
//!
//! hvnet owns a fixed set of chains ([`CHAINS`]) and never touches a rule outside them, apart
//! from one jump per chain from a built-in chain ([`RuleSet::hooks`]):
//!
//! | table  | built-in chain | jump                                                          |
//! |--------|----------------|---------------------------------------------------------------|
//! | filter | INPUT          | `HVNET-INP` (DHCP/DNS from guests)                            |
//! | filter | OUTPUT         | `HVNET-OUT` (DHCP/DNS to guests)                              |
//! | filter | FORWARD        | `HVNET-FWP`, `HVNET-FWX`, `HVNET-FWI`, `HVNET-FWO` (in order) |
//! | nat    | PREROUTING     | `HVNET-DNAT` for local destinations                           |
//! | nat    | OUTPUT         | `HVNET-DNAT` for local, non-loopback destinations             |
//! | nat    | POSTROUTING    | `HVNET-PRT` (masquerade, hairpin)                             |
//!
//! The chains' contents are written as one `iptables-restore --noflush` batch per table
//! ([`RuleSet::apply_script`]): a `:CHAIN - [0:0]` line creates the chain or, when it exists,
//! flushes it, so re-applying replaces exactly hvnet's rules and nothing else. A restore file
//! cannot say "insert only if missing", so the backend lists the table first and the batch
//! carries an `-I` line for each missing jump only: chains, rules and jumps change in one
//! commit, with no moment without rules and never a duplicate jump.
//! [`RuleSet::teardown_script`] removes jumps and chains the same way.
//!
//! Every rule is written in the canonical form `iptables -S` prints (`-s`, `-d`, `-i`, `-o`,
//! `-p`, then matches, `-p tcp -m tcp`, explicit `--reject-with`), so that a listing can be
//! compared with [`RuleSet`] token by token ([`diff`]). Each rule carries
//! `-m comment --comment hvnet:<network>` (hooks: `hvnet`).
//!
//! The intent's descriptors ([`hvnet_core::firewall::FirewallIntent::descriptors`]) are kept
//! in the unhooked chain `HVNET-INTENT` as `-m comment --comment "…" -j RETURN` rules, so that
//! the intent the live chains were written for can be read back ([`RuleSet::intent`]).
//!
//! The IPv6 part of the intent is a second rule set of the same chains ([`rules6`], family
//! [`Family::V6`]) for `ip6tables-restore`: ICMPv6 rejects, `::1` instead of 127.0.0.0/8 in
//! the nat `OUTPUT` hook, DHCPv6 instead of DHCP, and a nat network's IPv6 subnets routed
//! (accepted both ways) unless it has `nat6`. Its `HVNET-INTENT` stays empty: the
//! descriptors live in the IPv4 chains.

use std::fmt;
use std::net::IpAddr;

pub use hvnet_core::firewall::{split_words, Table, HOOK_COMMENT};
use hvnet_core::firewall::{FirewallIntent, Forward, FwKind, FwNetwork, IpNet};

/// The unhooked chain holding the intent's descriptors.
pub const INTENT_CHAIN: &str = "HVNET-INTENT";

/// Every chain hvnet owns, per table, in declaration order.
pub const CHAINS: &[(Table, &str)] = &[
    (Table::Filter, "HVNET-INP"),
    (Table::Filter, "HVNET-OUT"),
    (Table::Filter, "HVNET-FWP"),
    (Table::Filter, "HVNET-FWX"),
    (Table::Filter, "HVNET-FWI"),
    (Table::Filter, "HVNET-FWO"),
    (Table::Nat, "HVNET-DNAT"),
    (Table::Nat, "HVNET-PRT"),
    (Table::Filter, INTENT_CHAIN),
];

/// hvnet's chains in `table`.
pub fn chains(table: Table) -> impl Iterator<Item = &'static str> {
    CHAINS
        .iter()
        .filter(move |(t, _)| *t == table)
        .map(|(_, c)| *c)
}

/// A rule inside one of hvnet's chains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The table.
    pub table: Table,
    /// The hvnet chain.
    pub chain: &'static str,
    /// The rule after `-A CHAIN `, as `iptables -S` prints it.
    pub spec: String,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-t {} -A {} {}", self.table, self.chain, self.spec)
    }
}

/// A jump from a built-in chain to one of hvnet's chains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    /// The table.
    pub table: Table,
    /// The built-in chain (`FORWARD`, `POSTROUTING`, …).
    pub builtin: &'static str,
    /// The rule after `-A BUILTIN `, as `iptables -S` prints it (ends in `-j HVNET-…`).
    pub spec: String,
}

impl Hook {
    /// The spec as separate arguments (for `iptables -C/-I/-D BUILTIN ARGS…`).
    pub fn args(&self) -> Vec<String> {
        split_words(&self.spec)
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-t {} -A {} {}", self.table, self.builtin, self.spec)
    }
}

/// Which iptables a rule set is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// `iptables`.
    #[default]
    V4,
    /// `ip6tables`.
    V6,
}

impl Family {
    /// Both, in apply order.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// Whether `net` is of this family.
    pub fn holds(self, net: &IpNet) -> bool {
        net.addr().is_ipv4() == (self == Family::V4)
    }
}

/// Everything hvnet wants in one family's firewall: the rules of its chains, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleSet {
    family: Family,
    rules: Vec<Rule>,
}

/// The rules hvnet's iptables chains must hold for `intent` (its IPv4 part), descriptors
/// included.
pub fn rules(intent: &FirewallIntent) -> RuleSet {
    rules_of(Family::V4, intent)
}

/// The rules hvnet's ip6tables chains must hold for `intent` (its IPv6 part; every
/// network's rejects, so isolated networks are closed for IPv6 too).
///
/// ```
/// use hvnet_core::firewall::FirewallIntent;
/// use hvnet_linux::firewall::iptables::ruleset::{rules6, Table};
/// let i = FirewallIntent::from_descriptors(&["net n routed br0", "sub n fd00::/64"]).unwrap();
/// let r: Vec<String> = rules6(&i).chain(Table::Filter, "HVNET-FWI").iter().map(|r| r.spec.clone()).collect();
/// assert_eq!(r, ["-d fd00::/64 -o br0 -m comment --comment hvnet:n -j ACCEPT",
///                "-o br0 -m comment --comment hvnet:n -j REJECT --reject-with icmp6-port-unreachable"]);
/// ```
pub fn rules6(intent: &FirewallIntent) -> RuleSet {
    rules_of(Family::V6, intent)
}

/// The rules of `family` for `intent`.
pub fn rules_of(family: Family, intent: &FirewallIntent) -> RuleSet {
    let mut b = Builder {
        family,
        rules: Vec::new(),
    };
    for n in intent.networks().iter().filter(|n| n.mss_clamp) {
        b.mss_clamp(n);
    }
    for f in intent.forwards() {
        if let Some(net) = intent.network(&f.network) {
            b.forward(net, f);
        }
    }
    for n in intent.networks() {
        b.network(n);
    }
    if family == Family::V4 {
        for d in intent.descriptors() {
            b.rules.push(Rule {
                table: Table::Filter,
                chain: INTENT_CHAIN,
                spec: format!("-m comment --comment \"{d}\" -j RETURN"),
            });
        }
    }
    RuleSet {
        family,
        rules: b.rules,
    }
}

impl RuleSet {
    /// All rules, grouped by chain in [`CHAINS`] order, each chain's rules top to bottom.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        CHAINS.iter().flat_map(move |(t, c)| {
            self.rules
                .iter()
                .filter(move |r| r.table == *t && r.chain == *c)
        })
    }

    /// The rules of one chain, top to bottom.
    pub fn chain(&self, table: Table, chain: &str) -> Vec<&Rule> {
        self.rules
            .iter()
            .filter(|r| r.table == table && r.chain == chain)
            .collect()
    }

    /// Reads hvnet's chains back from `iptables -t TABLE -S` listings: the rule set they
    /// hold now. `None` when no hvnet chain and no jump into one exists (hvnet has no
    /// firewall state). Rules keep the listing's text, which `iptables-restore` accepts.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use hvnet_linux::firewall::iptables::ruleset::{RuleSet, Table};
    /// let mut l = BTreeMap::new();
    /// l.insert(Table::Filter, "-P INPUT ACCEPT\n-N HVNET-FWX\n-A HVNET-FWX -i virbr0 -o virbr0 -j ACCEPT\n".to_string());
    /// let rs = RuleSet::from_listings(&l).unwrap();
    /// assert_eq!(rs.rules().count(), 1);
    /// assert!(RuleSet::from_listings(&BTreeMap::new()).is_none());
    /// ```
    pub fn from_listings(listings: &std::collections::BTreeMap<Table, String>) -> Option<RuleSet> {
        RuleSet::from_listings_of(Family::V4, listings)
    }

    /// [`from_listings`](Self::from_listings) for `family`'s listings.
    pub fn from_listings_of(
        family: Family,
        listings: &std::collections::BTreeMap<Table, String>,
    ) -> Option<RuleSet> {
        let mut found = false;
        let mut rules = Vec::new();
        let hooks = RuleSet::hooks_of(family);
        for (table, listing) in listings {
            for line in listing.lines() {
                let line = line.trim();
                if let Some(name) = line.strip_prefix("-N ") {
                    found |= chains(*table).any(|c| c == name.trim());
                    continue;
                }
                let Some(rest) = line.strip_prefix("-A ") else {
                    continue;
                };
                let (chain, spec) = rest.split_once(' ').unwrap_or((rest, ""));
                if let Some(c) = chains(*table).find(|c| *c == chain) {
                    rules.push(Rule {
                        table: *table,
                        chain: c,
                        spec: spec.to_string(),
                    });
                } else if hooks.iter().any(|h| {
                    h.table == *table && h.builtin == chain && split_words(spec) == h.args()
                }) {
                    found = true;
                }
            }
        }
        found.then_some(RuleSet { family, rules })
    }

    /// The intent these rules were written for, from the descriptors in [`INTENT_CHAIN`]
    /// (an empty intent when there are none, as with chains of an older hvnet).
    ///
    /// # Errors
    ///
    /// A descriptor cannot be read.
    pub fn intent(&self) -> Result<FirewallIntent, hvnet_core::firewall::BadDescriptor> {
        let lines: Vec<String> = self
            .chain(Table::Filter, INTENT_CHAIN)
            .iter()
            .filter_map(|r| {
                let w = split_words(&r.spec);
                w.windows(2)
                    .find(|p| p[0] == "--comment")
                    .map(|p| p[1].clone())
            })
            .collect();
        FirewallIntent::from_descriptors(&lines)
    }

    /// Whether the set has no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The jumps into hvnet's chains, in their wanted top-to-bottom order per built-in chain.
    /// They are the same for every rule set (empty chains are still hooked).
    pub fn hooks() -> Vec<Hook> {
        RuleSet::hooks_of(Family::V4)
    }

    /// The family this rule set is for.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The jumps into hvnet's chains of `family` (see [`hooks`](Self::hooks)).
    pub fn hooks_of(family: Family) -> Vec<Hook> {
        let not_lo = match family {
            Family::V4 => "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL ",
            Family::V6 => "! -d ::1/128 -m addrtype --dst-type LOCAL ",
        };
        let hook = |table, builtin, pre: &str, chain: &str| Hook {
            table,
            builtin,
            spec: format!("{pre}-m comment --comment {HOOK_COMMENT} -j {chain}"),
        };
        vec![
            hook(Table::Filter, "INPUT", "", "HVNET-INP"),
            hook(Table::Filter, "OUTPUT", "", "HVNET-OUT"),
            hook(Table::Filter, "FORWARD", "", "HVNET-FWP"),
            hook(Table::Filter, "FORWARD", "", "HVNET-FWX"),
            hook(Table::Filter, "FORWARD", "", "HVNET-FWI"),
            hook(Table::Filter, "FORWARD", "", "HVNET-FWO"),
            hook(
                Table::Nat,
                "PREROUTING",
                "-m addrtype --dst-type LOCAL ",
                "HVNET-DNAT",
            ),
            hook(Table::Nat, "OUTPUT", not_lo, "HVNET-DNAT"),
            hook(Table::Nat, "POSTROUTING", "", "HVNET-PRT"),
        ]
    }

    /// An `iptables-restore --noflush` input that creates (or flushes) every hvnet chain of
    /// `table` and fills it. Other chains are left alone; hooks are not included.
    pub fn restore_script(&self, table: Table) -> String {
        let mut s = format!("*{}\n", table.name());
        for c in chains(table) {
            s.push_str(&format!(":{c} - [0:0]\n"));
        }
        for r in self.rules().filter(|r| r.table == table) {
            s.push_str(&format!("-A {} {}\n", r.chain, r.spec));
        }
        s.push_str("COMMIT\n");
        s
    }

    /// The batch that makes `table` hold exactly these rules in hvnet's chains, given the
    /// table's current `iptables -S` `listing`: [`restore_script`](Self::restore_script) plus
    /// an `-I BUILTIN 1` line for every jump the listing lacks (inserted last-first, so a
    /// fresh table ends up in [`hooks`](Self::hooks) order). One `iptables-restore` commit:
    /// no moment without rules, no duplicate jump.
    ///
    /// ```
    /// use hvnet_linux::firewall::iptables::ruleset::{RuleSet, Table};
    /// let s = RuleSet::default().apply_script(Table::Nat, "-P PREROUTING ACCEPT\n");
    /// assert!(s.contains(":HVNET-PRT - [0:0]\n"));
    /// assert!(s.contains("-I POSTROUTING 1 -m comment --comment hvnet -j HVNET-PRT\n"));
    /// ```
    pub fn apply_script(&self, table: Table, listing: &str) -> String {
        let mut s = self.restore_script(table);
        s.truncate(s.len() - "COMMIT\n".len());
        let lines: Vec<Vec<String>> = listing.lines().map(split_words).collect();
        for hook in RuleSet::hooks_of(self.family)
            .iter()
            .rev()
            .filter(|h| h.table == table)
        {
            if hook_count(&lines, hook) == 0 {
                s.push_str(&format!("-I {} 1 {}\n", hook.builtin, hook.spec));
            }
        }
        s.push_str("COMMIT\n");
        s
    }

    /// The batch that deletes every jump into hvnet's chains and the chains themselves from
    /// `table`, given its `iptables -S` `listing`; `None` when there is nothing of hvnet's.
    ///
    /// ```
    /// use hvnet_linux::firewall::iptables::ruleset::{RuleSet, Table};
    /// let l = "-N HVNET-PRT\n-A POSTROUTING -m comment --comment hvnet -j HVNET-PRT\n";
    /// assert_eq!(
    ///     RuleSet::teardown_script(Table::Nat, l).unwrap(),
    ///     "*nat\n:HVNET-PRT - [0:0]\n-D POSTROUTING -m comment --comment hvnet -j HVNET-PRT\n-X HVNET-PRT\nCOMMIT\n"
    /// );
    /// assert_eq!(RuleSet::teardown_script(Table::Nat, "-P OUTPUT ACCEPT\n"), None);
    /// ```
    pub fn teardown_script(table: Table, listing: &str) -> Option<String> {
        RuleSet::teardown_script_of(Family::V4, table, listing)
    }

    /// [`teardown_script`](Self::teardown_script) for `family`'s listing.
    pub fn teardown_script_of(family: Family, table: Table, listing: &str) -> Option<String> {
        let lines: Vec<Vec<String>> = listing.lines().map(split_words).collect();
        let ours: Vec<&str> = chains(table)
            .filter(|c| {
                lines
                    .iter()
                    .any(|w| w.len() == 2 && w[0] == "-N" && w[1] == *c)
            })
            .collect();
        let mut deletes = String::new();
        for hook in RuleSet::hooks_of(family)
            .iter()
            .filter(|h| h.table == table)
        {
            for _ in 0..hook_count(&lines, hook) {
                deletes.push_str(&format!("-D {} {}\n", hook.builtin, hook.spec));
            }
        }
        if ours.is_empty() && deletes.is_empty() {
            return None;
        }
        let mut s = format!("*{}\n", table.name());
        for c in &ours {
            s.push_str(&format!(":{c} - [0:0]\n"));
        }
        s.push_str(&deletes);
        for c in &ours {
            s.push_str(&format!("-X {c}\n"));
        }
        s.push_str("COMMIT\n");
        Some(s)
    }

    /// An `iptables-restore --noflush` input that flushes and deletes every hvnet chain of
    /// `table` that is in `existing` (remove the hooks first).
    pub fn removal_script(table: Table, existing: &[String]) -> String {
        let ours: Vec<&str> = chains(table)
            .filter(|c| existing.iter().any(|e| e == c))
            .collect();
        let mut s = format!("*{}\n", table.name());
        for c in &ours {
            s.push_str(&format!(":{c} - [0:0]\n"));
        }
        for c in &ours {
            s.push_str(&format!("-X {c}\n"));
        }
        s.push_str("COMMIT\n");
        s
    }
}

/// A way the live firewall differs from the wanted [`RuleSet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// One of hvnet's chains does not exist.
    MissingChain {
        /// The table.
        table: Table,
        /// The chain.
        chain: &'static str,
    },
    /// A wanted rule is absent (or out of order).
    MissingRule(Rule),
    /// A rule in an hvnet chain that is not wanted.
    ExtraRule {
        /// The table.
        table: Table,
        /// The chain.
        chain: &'static str,
        /// The rule as listed.
        spec: String,
    },
    /// A jump into an hvnet chain is absent.
    MissingHook(Hook),
    /// A jump into an hvnet chain exists more than once.
    DuplicateHook(Hook),
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::MissingChain { table, chain } => {
                write!(f, "missing chain {chain} in table {table}")
            }
            Difference::MissingRule(r) => write!(f, "missing rule: {r}"),
            Difference::ExtraRule { table, chain, spec } => {
                write!(f, "unexpected rule: -t {table} -A {chain} {spec}")
            }
            Difference::MissingHook(h) => write!(f, "missing jump: {h}"),
            Difference::DuplicateHook(h) => write!(f, "duplicate jump: {h}"),
        }
    }
}

/// Compares a table's `iptables -t TABLE -S` listing with what `wanted` asks for: hvnet's
/// chains (existence, then their rules in order) and the hooks. Rules are compared as words
/// (quotes removed), so quoting differences between iptables variants do not matter.
pub fn diff(table: Table, listing: &str, wanted: &RuleSet) -> Vec<Difference> {
    let mut out = Vec::new();
    let lines: Vec<Vec<String>> = listing.lines().map(split_words).collect();
    for chain in chains(table) {
        let exists = lines
            .iter()
            .any(|w| w.len() == 2 && w[0] == "-N" && w[1] == chain);
        if !exists {
            out.push(Difference::MissingChain { table, chain });
            out.extend(
                wanted
                    .chain(table, chain)
                    .into_iter()
                    .map(|r| Difference::MissingRule(r.clone())),
            );
            continue;
        }
        let live: Vec<&[String]> = lines
            .iter()
            .filter(|w| w.len() > 2 && w[0] == "-A" && w[1] == chain)
            .map(|w| &w[2..])
            .collect();
        let want: Vec<(Vec<String>, &Rule)> = wanted
            .chain(table, chain)
            .into_iter()
            .map(|r| (split_words(&r.spec), r))
            .collect();
        // The longest common subsequence would be exact; a positional walk is enough to
        // name what is missing or extra when rules are deleted or appended.
        let mut used = vec![false; live.len()];
        let mut next = 0;
        for (words, rule) in &want {
            match (next..live.len()).find(|&i| !used[i] && live[i] == words.as_slice()) {
                Some(i) => {
                    used[i] = true;
                    next = i + 1;
                }
                None => out.push(Difference::MissingRule((*rule).clone())),
            }
        }
        for (i, l) in live.iter().enumerate() {
            if !used[i] {
                out.push(Difference::ExtraRule {
                    table,
                    chain,
                    spec: l.join(" "),
                });
            }
        }
    }
    for hook in RuleSet::hooks_of(wanted.family)
        .into_iter()
        .filter(|h| h.table == table)
    {
        match hook_count(&lines, &hook) {
            0 => out.push(Difference::MissingHook(hook)),
            1 => {}
            _ => out.push(Difference::DuplicateHook(hook)),
        }
    }
    out
}

/// How often `hook` appears in a listing split into words.
fn hook_count(lines: &[Vec<String>], hook: &Hook) -> usize {
    let words = hook.args();
    lines
        .iter()
        .filter(|w| w.len() > 2 && w[0] == "-A" && w[1] == hook.builtin && w[2..] == words)
        .count()
}

/// `-s NET ` as `iptables -S` prints it: nothing for `0.0.0.0/0` (`::/0`), which it
/// normalises away.
fn src(net: IpNet) -> String {
    addr_match("-s", net)
}

/// `-d NET ` as `iptables -S` prints it (see [`src`]).
fn dst(net: IpNet) -> String {
    addr_match("-d", net)
}

fn addr_match(flag: &str, net: IpNet) -> String {
    if net.prefix_len() == 0 {
        String::new()
    } else {
        format!("{flag} {net} ")
    }
}

/// A port range as `iptables -S` prints it: one port alone when both ends are equal.
fn ports_text(lo: u16, hi: u16) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

struct Builder {
    family: Family,
    rules: Vec<Rule>,
}

impl Builder {
    fn push(&mut self, table: Table, chain: &'static str, owner: &str, pre: &str, target: &str) {
        // pre: addresses, interfaces, protocol and matches; the comment goes last.
        let sep = if pre.is_empty() { "" } else { " " };
        self.rules.push(Rule {
            table,
            chain,
            spec: format!("{pre}{sep}-m comment --comment hvnet:{owner} -j {target}"),
        });
    }

    fn network(&mut self, n: &FwNetwork) {
        use Table::{Filter, Nat};
        let v4 = self.family == Family::V4;
        let reject = if v4 {
            "REJECT --reject-with icmp-port-unreachable"
        } else {
            "REJECT --reject-with icmp6-port-unreachable"
        };
        let (name, br) = (n.name.as_str(), n.bridge.as_str());
        if n.kind == FwKind::Open {
            return;
        }
        let subnets: Vec<IpNet> = n
            .subnets
            .iter()
            .copied()
            .filter(|s| self.family.holds(s))
            .collect();
        // Host services: DHCP (DHCPv6 where the network has IPv6) and DNS, from and to the
        // guests (none on an internal network: the host has no address there).
        let (server, client) = match v4 {
            true => (Some(67), Some(68)),
            false if subnets.is_empty() => (None, None),
            false => (Some(547), Some(546)),
        };
        let services: &[(&'static str, &str, Option<u16>)] = if n.kind == FwKind::Internal {
            &[]
        } else {
            &[("HVNET-INP", "-i", server), ("HVNET-OUT", "-o", client)]
        };
        for &(chain, dir, port) in services {
            if let Some(port) = port {
                self.push(
                    Filter,
                    chain,
                    name,
                    &format!("{dir} {br} -p udp -m udp --dport {port}"),
                    "ACCEPT",
                );
            }
            for p in ["udp", "tcp"] {
                self.push(
                    Filter,
                    chain,
                    name,
                    &format!("{dir} {br} -p {p} -m {p} --dport 53"),
                    "ACCEPT",
                );
            }
        }
        // Guest <-> guest on the bridge (br_netfilter sends it through FORWARD).
        self.push(
            Filter,
            "HVNET-FWX",
            name,
            &format!("-i {br} -o {br}"),
            "ACCEPT",
        );
        let uplink = n.kind.uplink();
        let o = uplink.map(|u| format!(" -o {u}")).unwrap_or_default();
        let in_dev = uplink.map(|u| format!("-i {u} ")).unwrap_or_default();
        for net in subnets {
            // A nat network's IPv6 is routed unless `nat6` (no NAT66 by default, as libvirt).
            let masquerade = match &n.kind {
                FwKind::Nat { port_range, .. } if v4 || n.nat6() => Some(*port_range),
                FwKind::Nat { .. } | FwKind::Routed { .. } => None,
                FwKind::Isolated | FwKind::Open | FwKind::Internal => continue,
            };
            self.push(
                Filter,
                "HVNET-FWO",
                name,
                &format!("{}-i {br}{o}", src(net)),
                "ACCEPT",
            );
            let inbound = if masquerade.is_some() {
                " -m conntrack --ctstate RELATED,ESTABLISHED"
            } else {
                ""
            };
            self.push(
                Filter,
                "HVNET-FWI",
                name,
                &format!("{}{in_dev}-o {br}{inbound}", dst(net)),
                "ACCEPT",
            );
            let Some(port_range) = masquerade else {
                continue;
            };
            let (lo, hi) = port_range.unwrap_or((1024, 65535));
            let multicast: &[&str] = if v4 {
                &["224.0.0.0/24", "255.255.255.255/32"]
            } else {
                &["ff02::/16"]
            };
            for m in multicast {
                self.push(
                    Nat,
                    "HVNET-PRT",
                    name,
                    &format!("{}-d {m}{o}", src(net)),
                    "RETURN",
                );
            }
            for p in ["tcp", "udp"] {
                self.push(
                    Nat,
                    "HVNET-PRT",
                    name,
                    &format!("{}! -d {net}{o} -p {p}", src(net)),
                    &format!("MASQUERADE --to-ports {}", ports_text(lo, hi)),
                );
            }
            self.push(
                Nat,
                "HVNET-PRT",
                name,
                &format!("{}! -d {net}{o}", src(net)),
                "MASQUERADE",
            );
        }
        self.push(Filter, "HVNET-FWO", name, &format!("-i {br}"), reject);
        self.push(Filter, "HVNET-FWI", name, &format!("-o {br}"), reject);
    }

    /// The MSS clamp of a network's forwarded TCP SYNs, both directions (ahead of every
    /// accept in the first chain FORWARD jumps to).
    fn mss_clamp(&mut self, n: &FwNetwork) {
        let br = n.bridge.as_str();
        for dir in ["-i", "-o"] {
            self.push(
                Table::Filter,
                "HVNET-FWP",
                &n.name,
                &format!("{dir} {br} -p tcp -m tcp --tcp-flags SYN,RST SYN"),
                "TCPMSS --clamp-mss-to-pmtu",
            );
        }
    }

    fn forward(&mut self, n: &FwNetwork, f: &Forward) {
        use Table::{Filter, Nat};
        let name = n.name.as_str();
        let p = f.proto.name();
        let gip = f.guest_ip;
        if gip.is_ipv4() != (self.family == Family::V4)
            || f.host_addr.is_some_and(|a| a.is_ipv4() != gip.is_ipv4())
        {
            return;
        }
        let full = if gip.is_ipv4() { 32 } else { 128 };
        let gport = f.guest_port;
        let dst = f
            .host_addr
            .map_or(String::new(), |a| format!("-d {a}/{full} "));
        // ip6tables prints a DNAT target's IPv6 address in brackets.
        let to = match gip {
            IpAddr::V4(g) => format!("{g}:{gport}"),
            IpAddr::V6(g) => format!("[{g}]:{gport}"),
        };
        self.push(
            Nat,
            "HVNET-DNAT",
            name,
            &format!("{dst}-p {p} -m {p} --dport {}", f.host_port),
            &format!("DNAT --to-destination {to}"),
        );
        // Hairpin: a guest of the same subnet reaching the forward through the host.
        let family = self.family;
        for net in n.subnets.iter().copied().filter(|s| family.holds(s)) {
            self.push(
                Nat,
                "HVNET-PRT",
                name,
                &format!(
                    "{}-d {gip}/{full} -p {p} -m {p} --dport {gport} -m conntrack --ctstate DNAT",
                    src(net)
                ),
                "MASQUERADE",
            );
        }
        self.push(
            Filter,
            "HVNET-FWP",
            name,
            &format!("-d {gip}/{full} -p {p} -m {p} --dport {gport} -m conntrack --ctstate DNAT"),
            "ACCEPT",
        );
        self.push(
            Filter,
            "HVNET-FWP",
            name,
            &format!("-s {gip}/{full} -p {p} -m {p} --sport {gport} -m conntrack --ctstate DNAT"),
            "ACCEPT",
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hvnet_core::firewall::{Proto, UnknownNetwork};
    use hvnet_core::types::IfName;

    /// The rules of an intent made of `networks` and `forwards`.
    fn rules(networks: &[FwNetwork], forwards: &[Forward]) -> Result<RuleSet, UnknownNetwork> {
        Ok(super::rules(&FirewallIntent::new(
            networks.to_vec(),
            forwards.to_vec(),
        )?))
    }

    fn net(name: &str, kind: FwKind, br: &str, subnet: &str) -> FwNetwork {
        FwNetwork {
            name: name.into(),
            kind,
            bridge: IfName::new(br).unwrap(),
            subnets: vec![subnet.parse().unwrap()],
            mss_clamp: false,
        }
    }

    fn nat(uplink: Option<&str>) -> FwKind {
        FwKind::Nat {
            uplink: uplink.map(|u| IfName::new(u).unwrap()),
            port_range: None,
            nat6: false,
        }
    }

    #[test]
    fn nat_network_golden() {
        let rs = rules(
            &[net("default", nat(None), "virbr0", "192.168.122.1/24")],
            &[],
        )
        .unwrap();
        let c = "-m comment --comment hvnet:default";
        assert_eq!(
            rs.restore_script(Table::Filter),
            format!(
                "*filter
:HVNET-INP - [0:0]
:HVNET-OUT - [0:0]
:HVNET-FWP - [0:0]
:HVNET-FWX - [0:0]
:HVNET-FWI - [0:0]
:HVNET-FWO - [0:0]
:HVNET-INTENT - [0:0]
-A HVNET-INP -i virbr0 -p udp -m udp --dport 67 {c} -j ACCEPT
-A HVNET-INP -i virbr0 -p udp -m udp --dport 53 {c} -j ACCEPT
-A HVNET-INP -i virbr0 -p tcp -m tcp --dport 53 {c} -j ACCEPT
-A HVNET-OUT -o virbr0 -p udp -m udp --dport 68 {c} -j ACCEPT
-A HVNET-OUT -o virbr0 -p udp -m udp --dport 53 {c} -j ACCEPT
-A HVNET-OUT -o virbr0 -p tcp -m tcp --dport 53 {c} -j ACCEPT
-A HVNET-FWX -i virbr0 -o virbr0 {c} -j ACCEPT
-A HVNET-FWI -d 192.168.122.0/24 -o virbr0 -m conntrack --ctstate RELATED,ESTABLISHED {c} -j ACCEPT
-A HVNET-FWI -o virbr0 {c} -j REJECT --reject-with icmp-port-unreachable
-A HVNET-FWO -s 192.168.122.0/24 -i virbr0 {c} -j ACCEPT
-A HVNET-FWO -i virbr0 {c} -j REJECT --reject-with icmp-port-unreachable
-A HVNET-INTENT -m comment --comment \"net default nat virbr0\" -j RETURN
-A HVNET-INTENT -m comment --comment \"sub default 192.168.122.0/24\" -j RETURN
COMMIT
"
            )
        );
        assert_eq!(
            rs.restore_script(Table::Nat),
            format!(
                "*nat
:HVNET-DNAT - [0:0]
:HVNET-PRT - [0:0]
-A HVNET-PRT -s 192.168.122.0/24 -d 224.0.0.0/24 {c} -j RETURN
-A HVNET-PRT -s 192.168.122.0/24 -d 255.255.255.255/32 {c} -j RETURN
-A HVNET-PRT -s 192.168.122.0/24 ! -d 192.168.122.0/24 -p tcp {c} -j MASQUERADE --to-ports 1024-65535
-A HVNET-PRT -s 192.168.122.0/24 ! -d 192.168.122.0/24 -p udp {c} -j MASQUERADE --to-ports 1024-65535
-A HVNET-PRT -s 192.168.122.0/24 ! -d 192.168.122.0/24 {c} -j MASQUERADE
COMMIT
"
            )
        );
    }

    #[test]
    fn nat_uplink_and_port_range() {
        let kind = FwKind::Nat {
            uplink: Some(IfName::new("eth0").unwrap()),
            port_range: Some((2000, 3000)),
            nat6: false,
        };
        let rs = rules(&[net("n", kind, "br0", "10.1.0.0/16")], &[]).unwrap();
        let specs: Vec<String> = rs.rules().map(|r| r.to_string()).collect();
        let c = "-m comment --comment hvnet:n";
        for want in [
            format!("-t filter -A HVNET-FWO -s 10.1.0.0/16 -i br0 -o eth0 {c} -j ACCEPT"),
            format!("-t filter -A HVNET-FWI -d 10.1.0.0/16 -i eth0 -o br0 -m conntrack --ctstate RELATED,ESTABLISHED {c} -j ACCEPT"),
            format!("-t nat -A HVNET-PRT -s 10.1.0.0/16 ! -d 10.1.0.0/16 -o eth0 -p udp {c} -j MASQUERADE --to-ports 2000-3000"),
            format!("-t nat -A HVNET-PRT -s 10.1.0.0/16 -d 224.0.0.0/24 -o eth0 {c} -j RETURN"),
        ] {
            assert!(specs.contains(&want), "{want} not in {specs:#?}");
        }
    }

    #[test]
    fn rules_are_written_as_iptables_s_prints_them() {
        // One port alone, not "65535-65535"; no "-s 0.0.0.0/0" (iptables drops it).
        let kind = FwKind::Nat {
            uplink: None,
            port_range: Some((65535, 65535)),
            nat6: false,
        };
        let rs = rules(&[net("n", kind, "br0", "10.1.0.0/16")], &[]).unwrap();
        let specs: Vec<String> = rs.rules().map(|r| r.to_string()).collect();
        let c = "-m comment --comment hvnet:n";
        let want = format!("-t nat -A HVNET-PRT -s 10.1.0.0/16 ! -d 10.1.0.0/16 -p tcp {c} -j MASQUERADE --to-ports 65535");
        assert!(specs.contains(&want), "{want} not in {specs:#?}");
        let rs = rules(
            &[net(
                "r",
                FwKind::Routed { uplink: None },
                "br-r",
                "0.0.0.0/0",
            )],
            &[],
        )
        .unwrap();
        let specs: Vec<String> = rs.rules().map(|r| r.to_string()).collect();
        let c = "-m comment --comment hvnet:r";
        for want in [
            format!("-t filter -A HVNET-FWO -i br-r {c} -j ACCEPT"),
            format!("-t filter -A HVNET-FWI -o br-r {c} -j ACCEPT"),
        ] {
            assert!(specs.contains(&want), "{want} not in {specs:#?}");
        }
        assert!(
            specs
                .iter()
                .all(|s| s.contains(INTENT_CHAIN) || !s.contains("0.0.0.0/0")),
            "{specs:#?}"
        );
    }

    #[test]
    fn routed_isolated_open() {
        let rs = rules(
            &[
                net("r", FwKind::Routed { uplink: None }, "br-r", "10.2.0.0/24"),
                net("i", FwKind::Isolated, "br-i", "10.3.0.0/24"),
                net("o", FwKind::Open, "br-o", "10.4.0.0/24"),
            ],
            &[],
        )
        .unwrap();
        let fw: Vec<String> = rs
            .rules()
            .filter(|r| r.chain.starts_with("HVNET-FW"))
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            fw,
            [
                "-t filter -A HVNET-FWX -i br-r -o br-r -m comment --comment hvnet:r -j ACCEPT",
                "-t filter -A HVNET-FWX -i br-i -o br-i -m comment --comment hvnet:i -j ACCEPT",
                "-t filter -A HVNET-FWI -d 10.2.0.0/24 -o br-r -m comment --comment hvnet:r -j ACCEPT",
                "-t filter -A HVNET-FWI -o br-r -m comment --comment hvnet:r -j REJECT --reject-with icmp-port-unreachable",
                "-t filter -A HVNET-FWI -o br-i -m comment --comment hvnet:i -j REJECT --reject-with icmp-port-unreachable",
                "-t filter -A HVNET-FWO -s 10.2.0.0/24 -i br-r -m comment --comment hvnet:r -j ACCEPT",
                "-t filter -A HVNET-FWO -i br-r -m comment --comment hvnet:r -j REJECT --reject-with icmp-port-unreachable",
                "-t filter -A HVNET-FWO -i br-i -m comment --comment hvnet:i -j REJECT --reject-with icmp-port-unreachable",
            ]
        );
        assert!(rs.rules().all(|r| r.table == Table::Filter));
        assert!(!rs
            .rules()
            .any(|r| r.chain != INTENT_CHAIN && r.spec.contains("br-o")));
        assert_eq!(rs.chain(Table::Filter, "HVNET-INP").len(), 6);
    }

    #[test]
    fn port_forward_golden() {
        let fwd = Forward {
            proto: Proto::Tcp,
            host_addr: None,
            host_port: 8080,
            guest_ip: "192.168.122.11".parse().unwrap(),
            guest_port: 80,
            network: "default".into(),
        };
        let udp = Forward {
            proto: Proto::Udp,
            host_addr: Some("10.0.0.1".parse().unwrap()),
            host_port: 5353,
            guest_port: 53,
            ..fwd.clone()
        };
        let rs = rules(
            &[net("default", nat(None), "virbr0", "192.168.122.1/24")],
            &[fwd, udp],
        )
        .unwrap();
        let c = "-m comment --comment hvnet:default";
        let dnat: Vec<&str> = rs
            .chain(Table::Nat, "HVNET-DNAT")
            .iter()
            .map(|r| r.spec.as_str())
            .collect();
        assert_eq!(
            dnat,
            [
                format!("-p tcp -m tcp --dport 8080 {c} -j DNAT --to-destination 192.168.122.11:80"),
                format!("-d 10.0.0.1/32 -p udp -m udp --dport 5353 {c} -j DNAT --to-destination 192.168.122.11:53"),
            ]
        );
        let prt = rs.chain(Table::Nat, "HVNET-PRT");
        assert_eq!(
            prt[0].spec,
            format!("-s 192.168.122.0/24 -d 192.168.122.11/32 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT {c} -j MASQUERADE")
        );
        assert_eq!(prt.len(), 2 + 5);
        let fwp = rs.chain(Table::Filter, "HVNET-FWP");
        assert_eq!(
            fwp[0].spec,
            format!("-d 192.168.122.11/32 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT {c} -j ACCEPT")
        );
        assert_eq!(
            fwp[1].spec,
            format!("-s 192.168.122.11/32 -p tcp -m tcp --sport 80 -m conntrack --ctstate DNAT {c} -j ACCEPT")
        );
        assert_eq!(fwp.len(), 4);
    }

    #[test]
    fn hooks_and_removal() {
        let hooks: Vec<String> = RuleSet::hooks().iter().map(|h| h.to_string()).collect();
        assert_eq!(
            hooks[6],
            "-t nat -A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment hvnet -j HVNET-DNAT"
        );
        assert_eq!(hooks.len(), 9);
        assert_eq!(
            RuleSet::removal_script(Table::Nat, &["HVNET-PRT".into(), "OTHER".into()]),
            "*nat\n:HVNET-PRT - [0:0]\n-X HVNET-PRT\nCOMMIT\n"
        );
        assert_eq!(
            RuleSet::hooks()[7].args(),
            [
                "!",
                "-d",
                "127.0.0.0/8",
                "-m",
                "addrtype",
                "--dst-type",
                "LOCAL",
                "-m",
                "comment",
                "--comment",
                "hvnet",
                "-j",
                "HVNET-DNAT"
            ]
        );
    }

    #[test]
    fn diff_names_missing_extra_and_hooks() {
        let rs = rules(&[net("n", FwKind::Isolated, "br0", "10.0.0.0/24")], &[]).unwrap();
        // A listing as iptables -S prints it after apply, then damaged.
        let mut listing = String::from("-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n");
        for c in chains(Table::Filter) {
            listing.push_str(&format!("-N {c}\n"));
        }
        for h in RuleSet::hooks().iter().filter(|h| h.table == Table::Filter) {
            listing.push_str(&format!(
                "-A {} {}\n",
                h.builtin,
                h.spec.replace("hvnet ", "\"hvnet\" ")
            ));
        }
        for r in rs.rules() {
            listing.push_str(&format!("-A {} {}\n", r.chain, r.spec));
        }
        assert_eq!(diff(Table::Filter, &listing, &rs), []);
        let damaged = listing
            .lines()
            .filter(|l| !l.starts_with("-A HVNET-FWO") && !l.starts_with("-A INPUT"))
            .chain(["-A HVNET-FWX -j DROP"])
            .collect::<Vec<_>>()
            .join("\n");
        let d: Vec<String> = diff(Table::Filter, &damaged, &rs)
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            d,
            [
                "unexpected rule: -t filter -A HVNET-FWX -j DROP",
                "missing rule: -t filter -A HVNET-FWO -i br0 -m comment --comment hvnet:n -j REJECT --reject-with icmp-port-unreachable",
                "missing jump: -t filter -A INPUT -m comment --comment hvnet -j HVNET-INP",
            ]
        );
        let d = diff(Table::Nat, "-P PREROUTING ACCEPT\n", &rs);
        assert!(d.contains(&Difference::MissingChain {
            table: Table::Nat,
            chain: "HVNET-PRT"
        }));
    }

    #[test]
    fn mss_clamp_comes_first_and_open_networks_get_only_it() {
        let mut lan = net("lan", nat(None), "br0", "10.0.0.0/24");
        lan.mss_clamp = true;
        let mut bridged = net("phys", FwKind::Open, "br1", "10.1.0.0/24");
        bridged.mss_clamp = true;
        let fwd = Forward {
            proto: Proto::Tcp,
            host_addr: None,
            host_port: 80,
            guest_ip: "10.0.0.5".parse().unwrap(),
            guest_port: 80,
            network: "lan".into(),
        };
        let rs = rules(&[lan, bridged], &[fwd]).unwrap();
        let fwp: Vec<&str> = rs
            .chain(Table::Filter, "HVNET-FWP")
            .iter()
            .map(|r| r.spec.as_str())
            .collect();
        assert_eq!(
            fwp[..4],
            [
                "-i br0 -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment hvnet:lan -j TCPMSS --clamp-mss-to-pmtu",
                "-o br0 -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment hvnet:lan -j TCPMSS --clamp-mss-to-pmtu",
                "-i br1 -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment hvnet:phys -j TCPMSS --clamp-mss-to-pmtu",
                "-o br1 -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment hvnet:phys -j TCPMSS --clamp-mss-to-pmtu",
            ]
        );
        let phys = rs
            .rules()
            .filter(|r| r.chain != INTENT_CHAIN && r.spec.contains("hvnet:phys"))
            .count();
        assert_eq!(phys, 2);
    }

    #[test]
    fn internal_networks_get_bridge_local_and_rejects_in_both_families() {
        let i = FirewallIntent::from_descriptors(&["net g internal br9"]).unwrap();
        for (rs, icmp) in [
            (super::rules(&i), "icmp-port-unreachable"),
            (rules6(&i), "icmp6-port-unreachable"),
        ] {
            let r: Vec<String> = rs
                .rules()
                .filter(|r| r.chain != INTENT_CHAIN)
                .map(|r| r.to_string())
                .collect();
            let c = "-m comment --comment hvnet:g";
            assert_eq!(
                r,
                [
                    format!("-t filter -A HVNET-FWX -i br9 -o br9 {c} -j ACCEPT"),
                    format!("-t filter -A HVNET-FWI -o br9 {c} -j REJECT --reject-with {icmp}"),
                    format!("-t filter -A HVNET-FWO -i br9 {c} -j REJECT --reject-with {icmp}"),
                ]
            );
        }
    }

    #[test]
    fn ipv6_rules_golden() {
        let i = FirewallIntent::from_descriptors(&[
            "net lan nat br0 uplink=eth0",
            "sub lan 10.0.0.0/24",
            "sub lan fd00::/64",
            "net m nat br1 ports=2000-3000 nat6",
            "sub m fd01::/64",
            "net iso isolated br2",
            "sub iso 10.2.0.0/24",
            "fwd lan tcp 2001:db8::1 8080 fd00::5 80",
            "fwd lan tcp * 8080 10.0.0.5 80",
        ])
        .unwrap();
        let v6 = rules6(&i);
        assert_eq!(v6.family(), Family::V6);
        let all: Vec<String> = v6.rules().map(|r| r.to_string()).collect();
        let c = |n: &str| format!("-m comment --comment hvnet:{n}");
        for want in [
            format!("-t filter -A HVNET-INP -i br0 -p udp -m udp --dport 547 {} -j ACCEPT", c("lan")),
            format!("-t filter -A HVNET-FWO -s fd00::/64 -i br0 -o eth0 {} -j ACCEPT", c("lan")),
            format!("-t filter -A HVNET-FWI -d fd00::/64 -i eth0 -o br0 {} -j ACCEPT", c("lan")),
            format!("-t filter -A HVNET-FWI -d fd01::/64 -o br1 -m conntrack --ctstate RELATED,ESTABLISHED {} -j ACCEPT", c("m")),
            format!("-t nat -A HVNET-PRT -s fd01::/64 -d ff02::/16 {} -j RETURN", c("m")),
            format!("-t nat -A HVNET-PRT -s fd01::/64 ! -d fd01::/64 -p tcp {} -j MASQUERADE --to-ports 2000-3000", c("m")),
            format!("-t filter -A HVNET-FWO -i br2 {} -j REJECT --reject-with icmp6-port-unreachable", c("iso")),
            format!("-t nat -A HVNET-DNAT -d 2001:db8::1/128 -p tcp -m tcp --dport 8080 {} -j DNAT --to-destination [fd00::5]:80", c("lan")),
            format!("-t nat -A HVNET-PRT -s fd00::/64 -d fd00::5/128 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT {} -j MASQUERADE", c("lan")),
            format!("-t filter -A HVNET-FWP -d fd00::5/128 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT {} -j ACCEPT", c("lan")),
        ] {
            assert!(all.contains(&want), "{want} not in {all:#?}");
        }
        // No IPv4 in the IPv6 rules, no IPv6 in the IPv4 ones; no DHCPv6 where no IPv6.
        assert!(
            all.iter()
                .all(|r| !r.contains("10.") && !r.contains("icmp-port")),
            "{all:#?}"
        );
        assert!(!all.iter().any(|r| r.contains("br2") && r.contains("547")));
        assert!(v6.chain(Table::Filter, INTENT_CHAIN).is_empty());
        let v4: Vec<String> = super::rules(&i)
            .rules()
            .filter(|r| r.chain != INTENT_CHAIN)
            .map(|r| r.to_string())
            .collect();
        assert!(
            v4.iter()
                .all(|r| !r.contains("fd0") && !r.contains("icmp6")),
            "{v4:#?}"
        );
        let hooks = RuleSet::hooks_of(Family::V6);
        assert_eq!(
            hooks[7].spec,
            "! -d ::1/128 -m addrtype --dst-type LOCAL -m comment --comment hvnet -j HVNET-DNAT"
        );
        assert!(v6
            .apply_script(Table::Nat, "")
            .contains("-I OUTPUT 1 ! -d ::1/128"));
    }

    #[test]
    fn split_words_unquotes() {
        assert_eq!(
            split_words(r#"-m comment --comment "a b" -j X"#),
            ["-m", "comment", "--comment", "a b", "-j", "X"]
        );
        assert_eq!(split_words(r#"--comment a\"b"#), ["--comment", "a\"b"]);
    }
}
