//! The nftables renderer: the intent as hvnet's own table `inet hvnet`, written with one
//! `nft -f` transaction per apply.
//!
//! The transaction declares the table, deletes it and declares it again with every set,
//! map and chain, so the kernel swaps the old rule set for the new one atomically: no
//! moment without rules, and nothing outside `inet hvnet` is touched. NAT lives in the same
//! table (the `inet` family has had nat chains since Linux 5.2).
//!
//! | chain         | hook (priority)          | what                                              |
//! |---------------|--------------------------|---------------------------------------------------|
//! | `input`       | input (filter)           | DHCP/DNS from the guests                          |
//! | `output`      | output (filter)          | DHCP/DNS to the guests                            |
//! | `forward`     | forward (filter)         | MSS clamp, forwarded flows, bridge-local, rejects |
//! | `prerouting`  | prerouting (dstnat)      | port forwards to local destinations               |
//! | `output_nat`  | output (-100)            | port forwards from the host itself                |
//! | `postrouting` | postrouting (srcnat)     | hairpin and masquerade                            |
//! | `intent`      | none                     | the intent's descriptors, as rule comments        |
//!
//! Port forwards are map elements: `dnat4` (`host address . protocol . port : guest
//! address . port`) and `dnat4any` (any local address), looked up once per packet whatever
//! their number; the set `fwd4` (guest address . protocol . port) accepts the DNATed flows
//! in `forward`, and the interval set `hairpin4` (subnet . guest . protocol . port)
//! masquerades the hairpin case.
//!
//! Every rule is written in the canonical form `nft list table` prints, so that the live
//! table, read back from `nft -j list table inet hvnet` ([`json::parse`], serde_json over
//! libnftables' JSON, printed in that canonical form), compares with the rendering of the
//! intent its descriptors name ([`NftTable::diff`]), naming each missing or unexpected rule,
//! chain, set and element. ([`NftTable::parse`] reads the text form, which the renderer's
//! own declaration round-trips through.) The IPv6 part of the intent is in the same table
//! (`dnat6`, `fwd6`, `hairpin6` and the IPv6 subnets' rules).
//!
//! A host firewall in another table (firewalld's `inet firewalld`, ufw's iptables-nft
//! chains, a drop-policy `inet filter`) is evaluated independently at the same hooks: an
//! accept in hvnet's table does not override its drop. [`foreign_drops`] names such base
//! chains, so that `check` can warn.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;

use hvnet_core::firewall::{BadDescriptor, Drift, DriftKind, FirewallIntent, FwKind, IpNet};
use hvnet_core::observed::ObservedFirewall;

use super::{FirewallBackend, ToolError};

pub mod json;

/// hvnet's table (family `inet`).
pub const TABLE: &str = "hvnet";

/// The longest comment nft keeps; longer descriptors are split into `+`-prefixed pieces.
const COMMENT_MAX: usize = 120;

/// A failure running nft.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// nft could not be run or failed.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// A listing could not be understood.
    #[error("cannot read nft's listing: {0}")]
    Listing(String),
}

/// The nftables backend.
#[derive(Clone, Debug)]
pub struct Nftables {
    nft: PathBuf,
}

impl Nftables {
    /// The `nft` on `PATH`, if installed.
    pub fn detect() -> Option<Nftables> {
        super::iptables::find_on_path("nft").map(|nft| Nftables { nft })
    }

    /// Runs `nft ARGS…` with `input` on stdin, returning stdout.
    fn run(&self, args: &[&str], input: Option<&str>) -> Result<String, NftError> {
        Ok(super::run_tool(self.nft.as_os_str(), args, input)?)
    }

    /// `nft -f -` with `script`: one transaction.
    pub fn transaction(&self, script: &str) -> Result<(), NftError> {
        self.run(&["-f", "-"], Some(script)).map(drop)
    }

    /// `nft -j list table inet hvnet` (JSON), `None` when the table does not exist.
    ///
    /// # Errors
    ///
    /// nft failed otherwise.
    pub fn list(&self) -> Result<Option<String>, NftError> {
        if matches!(
            super::probe::table_exists(super::probe::NFPROTO_INET, TABLE),
            Ok(false)
        ) {
            return Ok(None);
        }
        match self.run(&["-j", "list", "table", "inet", TABLE], None) {
            Ok(s) => Ok(Some(s)),
            Err(NftError::Tool(ToolError::Failed { stderr, .. }))
                if stderr.contains("No such file or directory") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `nft -s list table FAMILY NAME` (text, counters bare), `None` when the table does
    /// not exist.
    ///
    /// # Errors
    ///
    /// nft failed otherwise.
    pub fn list_table(&self, family: &str, name: &str) -> Result<Option<String>, NftError> {
        match self.run(&["-s", "list", "table", family, name], None) {
            Ok(s) => Ok(Some(s)),
            Err(NftError::Tool(ToolError::Failed { stderr, .. }))
                if stderr.contains("No such file or directory") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The base chains of other tables whose input or forward hook drops by policy (see
    /// [`foreign_drops`]).
    ///
    /// # Errors
    ///
    /// nft failed.
    pub fn foreign_drops(&self) -> Result<Vec<String>, NftError> {
        // Asked of nf_tables over netlink: starting `nft -j list chains` cost every full
        // apply and check a few milliseconds.
        let chains = super::probe::all_chains()
            .map_err(|e| NftError::Listing(format!("dumping the nf_tables chains: {e}")))?;
        Ok(chains
            .iter()
            .filter(|c| c.policy == Some(NF_DROP))
            .filter_map(|c| {
                let family = match c.family {
                    1 => "inet",
                    2 => "ip",
                    7 => "bridge",
                    10 => "ip6",
                    _ => return None,
                };
                let hook = match c.hook? {
                    1 => "input",
                    2 => "forward",
                    _ => return None,
                };
                drop_warning(family, &c.table, &c.name, hook)
            })
            .collect())
    }
}

/// The base chains in `nft -j list chains` output, outside hvnet's table, that drop
/// whatever they do not accept at the input or forward hook: the guests' DHCP and DNS (input)
/// and their forwarded traffic (forward) must be accepted there too.
///
/// ```
/// let j = r#"{"nftables":[{"chain":{"family":"inet","table":"filter","name":"input","hook":"input","prio":0,"policy":"drop"}},
///   {"chain":{"family":"inet","table":"hvnet","name":"forward","hook":"forward","prio":0,"policy":"accept"}}]}"#;
/// let w = hvnet_linux::firewall::nftables::foreign_drops(j).unwrap();
/// assert_eq!(w.len(), 1);
/// assert!(w[0].starts_with("chain inet filter input (hook input, policy drop)"));
/// ```
///
/// # Errors
///
/// The text is not nft's JSON.
pub fn foreign_drops(json: &str) -> Result<Vec<String>, NftError> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| NftError::Listing(e.to_string()))?;
    let mut out = Vec::new();
    for item in v["nftables"].as_array().into_iter().flatten() {
        let c = &item["chain"];
        let (Some(family), Some(table), Some(name), Some(hook)) = (
            c["family"].as_str(),
            c["table"].as_str(),
            c["name"].as_str(),
            c["hook"].as_str(),
        ) else {
            continue;
        };
        if c["policy"].as_str() != Some("drop") {
            continue;
        }
        out.extend(drop_warning(family, table, name, hook));
    }
    Ok(out)
}

/// `NF_DROP`, a base chain's policy that drops.
const NF_DROP: u32 = 0;

/// The warning for base chain `name` of table `family table` whose `hook` drops by policy,
/// if it can drop guests' traffic: an input or forward hook of the `inet`, `ip`, `ip6` or
/// `bridge` family, outside hvnet's table.
fn drop_warning(family: &str, table: &str, name: &str, hook: &str) -> Option<String> {
    if (family == "inet" && table == TABLE) || !matches!(family, "inet" | "ip" | "ip6" | "bridge") {
        return None;
    }
    let what = match hook {
        "input" => "the guests' DHCP and DNS to the host",
        "forward" => "the guests' forwarded traffic (NAT, routed, port forwards)",
        _ => return None,
    };
    Some(format!(
        "chain {family} {table} {name} (hook {hook}, policy drop) of another firewall drops \
         {what} unless it accepts them itself; hvnet's accepts in table inet {TABLE} do not \
         override it"
    ))
}

impl FirewallBackend for Nftables {
    type Error = NftError;

    fn apply(&self, intent: &FirewallIntent) -> Result<(), NftError> {
        let mut script = render(intent).script();
        if std::env::var_os("HVNET_FAULT_FIREWALL_TABLE").is_some() {
            // Tests: an element created twice makes the kernel refuse the whole
            // transaction after the table's deletion was queued, proving it atomic.
            script.push_str(&format!(
                "create element inet {TABLE} fwd4 {{ 0.0.0.1 . tcp . 1 }}\n\
                 create element inet {TABLE} fwd4 {{ 0.0.0.1 . tcp . 1 }}\n"
            ));
        }
        self.transaction(&script)
    }

    fn remove(&self) -> Result<(), NftError> {
        self.transaction(&removal_script())
    }

    fn observe(&self) -> Result<ObservedFirewall, NftError> {
        let mut o = match self.list()? {
            None => ObservedFirewall::default(),
            Some(listing) => observe_listing(&listing)?,
        };
        o.warnings = self.foreign_drops().unwrap_or_else(|e| {
            tracing::debug!("cannot list the other tables' chains: {e}");
            Vec::new()
        });
        Ok(o)
    }

    fn commands(&self, intent: Option<&FirewallIntent>) -> String {
        let script = match intent {
            Some(i) => render(i).script(),
            None => removal_script(),
        };
        format!(
            "sh -ec 'printf \"{}\" | {} -f -'",
            super::printf_escape(&script),
            self.nft.display()
        )
    }
}

/// The transaction that deletes hvnet's table if it exists.
fn removal_script() -> String {
    format!("table inet {TABLE} {{}}\ndelete table inet {TABLE}\n")
}

/// hvnet's firewall as `nft -j list table inet hvnet` shows it: the intent its descriptors
/// name and how the table differs from that intent's rendering.
///
/// # Errors
///
/// The listing is not nft's JSON.
pub fn observe_listing(listing: &str) -> Result<ObservedFirewall, NftError> {
    let live = json::parse(listing)?;
    let mut drift = Vec::new();
    let intent = super::decoded(live.intent(), &mut drift);
    drift.extend(live.diff(&render(&intent)));
    Ok(ObservedFirewall {
        intent: Some(intent),
        drift,
        ..ObservedFirewall::default()
    })
}

/// A set or map of hvnet's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NftSet {
    /// `set` or `map`.
    pub keyword: &'static str,
    /// The name.
    pub name: String,
    /// The declaration lines before the elements (`type …`, `flags …`).
    pub header: Vec<String>,
    /// The elements, as nft prints them.
    pub elements: BTreeSet<String>,
}

/// A chain of hvnet's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NftChain {
    /// The name.
    pub name: String,
    /// The base chain's `type … hook … priority …; policy …;` line.
    pub header: Option<String>,
    /// The rules, top to bottom, as nft prints them.
    pub rules: Vec<String>,
}

/// hvnet's table: rendered from an intent or parsed from a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NftTable {
    /// Sets and maps, in declaration order.
    pub sets: Vec<NftSet>,
    /// Chains, in declaration order.
    pub chains: Vec<NftChain>,
}

fn quote(name: &str) -> String {
    format!("\"{name}\"")
}

fn comment(owner: &str) -> String {
    format!("comment \"hvnet:{owner}\"")
}

/// An address match as nft prints it (`ip saddr 10.0.0.0/24 `, `ip6 daddr != fd00::/64 `):
/// nothing for a /0 (unless negated), the bare address for a full-length prefix.
fn addr_match(dir: &str, net: IpNet, negate: bool) -> String {
    if net.prefix_len() == 0 && !negate {
        return String::new();
    }
    let op = if negate { "!= " } else { "" };
    let text = if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    };
    format!("{} {dir} {op}{text} ", family(&net.addr()))
}

/// nft's word for the family of `addr`: `ip` or `ip6`.
fn family(addr: &IpAddr) -> &'static str {
    if addr.is_ipv4() {
        "ip"
    } else {
        "ip6"
    }
}

/// Splits descriptors longer than nft's comment limit into `+`-prefixed continuations.
fn comment_pieces(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    let mut first = true;
    while !rest.is_empty() || first {
        let room = if first { COMMENT_MAX } else { COMMENT_MAX - 1 };
        let cut = rest.len().min(room);
        let (head, tail) = rest.split_at(cut);
        out.push(if first {
            head.to_string()
        } else {
            format!("+{head}")
        });
        rest = tail;
        first = false;
    }
    out
}

/// The sets and maps of one family's port forwards (`4`: IPv4, `6`: IPv6).
#[derive(Default)]
struct ForwardSets {
    dnat: BTreeSet<String>,
    dnat_any: BTreeSet<String>,
    fwd: BTreeSet<String>,
    hairpin: BTreeSet<String>,
}

impl ForwardSets {
    /// The declarations of `dnatF`, `dnatFany`, `fwdF` and `hairpinF`.
    fn declare(self, v: u8, sets: &mut Vec<NftSet>) {
        let addr = if v == 4 { "ipv4_addr" } else { "ipv6_addr" };
        let set = |keyword, name: String, header: Vec<String>, elements| NftSet {
            keyword,
            name,
            header,
            elements,
        };
        sets.push(set(
            "map",
            format!("dnat{v}"),
            vec![format!(
                "type {addr} . inet_proto . inet_service : {addr} . inet_service"
            )],
            self.dnat,
        ));
        sets.push(set(
            "map",
            format!("dnat{v}any"),
            vec![format!(
                "type inet_proto . inet_service : {addr} . inet_service"
            )],
            self.dnat_any,
        ));
        sets.push(set(
            "set",
            format!("fwd{v}"),
            vec![format!("type {addr} . inet_proto . inet_service")],
            self.fwd,
        ));
        sets.push(set(
            "set",
            format!("hairpin{v}"),
            vec![
                format!("type {addr} . {addr} . inet_proto . inet_service"),
                "flags interval".to_string(),
            ],
            self.hairpin,
        ));
    }
}

/// Renders `intent` as hvnet's table. The IPv6 sets, maps and rules are there only when
/// the intent has an IPv6 part ([`FirewallIntent::has_v6`]).
///
/// ```
/// use hvnet_core::firewall::FirewallIntent;
/// let i = FirewallIntent::from_descriptors(&["net lan isolated br0", "sub lan 10.0.0.0/24"]).unwrap();
/// let t = hvnet_linux::firewall::nftables::render(&i);
/// let input = t.chains.iter().find(|c| c.name == "input").unwrap();
/// assert_eq!(input.rules[0], "iifname \"br0\" udp dport 67 accept comment \"hvnet:lan\"");
/// ```
pub fn render(intent: &FirewallIntent) -> NftTable {
    let v6 = intent.has_v6();
    let (mut f4, mut f6) = (ForwardSets::default(), ForwardSets::default());
    for f in intent.forwards() {
        let g = f.guest_ip;
        let sets = match (g, f.host_addr) {
            (IpAddr::V4(_), None | Some(IpAddr::V4(_))) => &mut f4,
            (IpAddr::V6(_), None | Some(IpAddr::V6(_))) => &mut f6,
            // A forward between families cannot be written.
            _ => continue,
        };
        let p = f.proto.name();
        let value = format!("{g} . {}", f.guest_port);
        match f.host_addr {
            None => sets
                .dnat_any
                .insert(format!("{p} . {} : {value}", f.host_port)),
            Some(a) => sets
                .dnat
                .insert(format!("{a} . {p} . {} : {value}", f.host_port)),
        };
        sets.fwd.insert(format!("{g} . {p} . {}", f.guest_port));
        let subnets = intent.network(&f.network).map(|n| n.subnets.clone());
        for s in subnets.into_iter().flatten() {
            if s.addr().is_ipv4() == g.is_ipv4() {
                sets.hairpin
                    .insert(format!("{s} . {g} . {p} . {}", f.guest_port));
            }
        }
    }
    let mut sets = Vec::new();
    f4.declare(4, &mut sets);
    if v6 {
        f6.declare(6, &mut sets);
    }

    let (mut input, mut output, mut fwd) = (Vec::new(), Vec::new(), Vec::new());
    let (mut fwx, mut fwi, mut fwo, mut post) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for n in intent.networks().iter().filter(|n| n.mss_clamp) {
        let br = quote(n.bridge.as_str());
        for dir in ["iifname", "oifname"] {
            fwd.push(format!(
                "{dir} {br} tcp flags syn tcp option maxseg size set rt mtu {}",
                comment(&n.name)
            ));
        }
    }
    let families: &[(&str, u8)] = if v6 {
        &[("ip", 4), ("ip6", 6)]
    } else {
        &[("ip", 4)]
    };
    for (ip, v) in families {
        fwd.push(format!(
            "ct status dnat {ip} daddr . meta l4proto . th dport @fwd{v} accept"
        ));
        fwd.push(format!(
            "ct status dnat {ip} saddr . meta l4proto . th sport @fwd{v} accept"
        ));
        post.push(format!(
            "ct status dnat {ip} saddr . {ip} daddr . meta l4proto . th dport @hairpin{v} masquerade"
        ));
    }
    for n in intent.networks() {
        if n.kind == FwKind::Open {
            continue;
        }
        let (br, c) = (quote(n.bridge.as_str()), comment(&n.name));
        let has6 = !n.v6_subnets().is_empty();
        if n.kind == FwKind::Internal {
            fwx.push(format!("iifname {br} oifname {br} accept {c}"));
            fwi.push(format!("oifname {br} reject {c}"));
            fwo.push(format!("iifname {br} reject {c}"));
            continue;
        }
        input.push(format!("iifname {br} udp dport 67 accept {c}"));
        if has6 {
            input.push(format!("iifname {br} udp dport 547 accept {c}"));
        }
        input.push(format!("iifname {br} udp dport 53 accept {c}"));
        input.push(format!("iifname {br} tcp dport 53 accept {c}"));
        output.push(format!("oifname {br} udp dport 68 accept {c}"));
        if has6 {
            output.push(format!("oifname {br} udp dport 546 accept {c}"));
        }
        output.push(format!("oifname {br} udp dport 53 accept {c}"));
        output.push(format!("oifname {br} tcp dport 53 accept {c}"));
        fwx.push(format!("iifname {br} oifname {br} accept {c}"));
        let up = n.kind.uplink().map(|u| quote(u.as_str()));
        let out_dev = up
            .as_ref()
            .map(|u| format!("oifname {u} "))
            .unwrap_or_default();
        let in_dev = up
            .as_ref()
            .map(|u| format!("iifname {u} "))
            .unwrap_or_default();
        for &net in &n.subnets {
            let (src, dst) = (
                addr_match("saddr", net, false),
                addr_match("daddr", net, false),
            );
            // A nat network's IPv6 is routed unless `nat6` (no NAT66 by default, as libvirt).
            let masquerade = match &n.kind {
                FwKind::Nat { port_range, .. } if net.addr().is_ipv4() || n.nat6() => {
                    Some(*port_range)
                }
                FwKind::Nat { .. } | FwKind::Routed { .. } => None,
                FwKind::Isolated | FwKind::Open | FwKind::Internal => continue,
            };
            fwo.push(format!("{src}iifname {br} {out_dev}accept {c}"));
            let Some(port_range) = masquerade else {
                fwi.push(format!("{dst}{in_dev}oifname {br} accept {c}"));
                continue;
            };
            fwi.push(format!(
                "{dst}{in_dev}oifname {br} ct state established,related accept {c}"
            ));
            let (lo, hi) = port_range.unwrap_or((1024, 65535));
            let ports = if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            };
            let not_net = addr_match("daddr", net, true);
            if net.addr().is_ipv4() {
                post.push(format!("{src}ip daddr 224.0.0.0/24 {out_dev}return {c}"));
                post.push(format!("{src}ip daddr 255.255.255.255 {out_dev}return {c}"));
            } else {
                post.push(format!("{src}ip6 daddr ff02::/16 {out_dev}return {c}"));
            }
            for p in ["tcp", "udp"] {
                post.push(format!(
                    "{src}{not_net}{out_dev}meta l4proto {p} masquerade to :{ports} {c}"
                ));
            }
            post.push(format!("{src}{not_net}{out_dev}masquerade {c}"));
        }
        // An inet `reject` answers in the packet's family (ICMP or ICMPv6 port
        // unreachable): the network is closed for both.
        fwi.push(format!("oifname {br} reject {c}"));
        fwo.push(format!("iifname {br} reject {c}"));
    }
    fwd.extend(fwx);
    fwd.extend(fwi);
    fwd.extend(fwo);
    let chain = |name: &str, header: Option<&str>, rules: Vec<String>| NftChain {
        name: name.to_string(),
        header: header.map(str::to_string),
        rules,
    };
    let intent_rules = intent
        .descriptors()
        .iter()
        .flat_map(|d| comment_pieces(d))
        .map(|d| format!("return comment \"{d}\""))
        .collect();
    let (mut pre, mut out_nat) = (Vec::new(), Vec::new());
    for (ip, v) in families {
        let dnat = format!("dnat {ip} to {ip} daddr . meta l4proto . th dport map @dnat{v}");
        let dnat_any = format!("dnat {ip} to meta l4proto . th dport map @dnat{v}any");
        let not_lo = if *v == 4 {
            "ip daddr != 127.0.0.0/8"
        } else {
            "ip6 daddr != ::1"
        };
        pre.push(format!("fib daddr type local {dnat}"));
        pre.push(format!("fib daddr type local {dnat_any}"));
        out_nat.push(format!("{not_lo} fib daddr type local {dnat}"));
        out_nat.push(format!("{not_lo} fib daddr type local {dnat_any}"));
    }
    let chains = vec![
        chain("intent", None, intent_rules),
        chain(
            "input",
            Some("type filter hook input priority filter; policy accept;"),
            input,
        ),
        chain(
            "output",
            Some("type filter hook output priority filter; policy accept;"),
            output,
        ),
        chain(
            "forward",
            Some("type filter hook forward priority filter; policy accept;"),
            fwd,
        ),
        chain(
            "prerouting",
            Some("type nat hook prerouting priority dstnat; policy accept;"),
            pre,
        ),
        chain(
            "output_nat",
            Some("type nat hook output priority -100; policy accept;"),
            out_nat,
        ),
        chain(
            "postrouting",
            Some("type nat hook postrouting priority srcnat; policy accept;"),
            post,
        ),
    ];
    NftTable { sets, chains }
}

impl NftTable {
    /// The table's declaration, as `nft -f` reads it.
    pub fn declaration(&self) -> String {
        let mut s = format!("table inet {TABLE} {{\n");
        for set in &self.sets {
            s.push_str(&format!("\t{} {} {{\n", set.keyword, set.name));
            for h in &set.header {
                s.push_str(&format!("\t\t{h}\n"));
            }
            if !set.elements.is_empty() {
                let e: Vec<&str> = set.elements.iter().map(String::as_str).collect();
                s.push_str(&format!("\t\telements = {{ {} }}\n", e.join(",\n\t\t\t")));
            }
            s.push_str("\t}\n");
        }
        for c in &self.chains {
            s.push_str(&format!("\tchain {} {{\n", c.name));
            if let Some(h) = &c.header {
                s.push_str(&format!("\t\t{h}\n"));
            }
            for r in &c.rules {
                s.push_str(&format!("\t\t{r}\n"));
            }
            s.push_str("\t}\n");
        }
        s.push_str("}\n");
        s
    }

    /// The one transaction that replaces hvnet's table (whether it exists or not) with this
    /// one.
    pub fn script(&self) -> String {
        format!(
            "table inet {TABLE} {{}}\ndelete table inet {TABLE}\n{}",
            self.declaration()
        )
    }

    /// Parses `nft list table inet hvnet`.
    ///
    /// # Errors
    ///
    /// [`NftError::Listing`] when the text is not a table listing.
    pub fn parse(listing: &str) -> Result<NftTable, NftError> {
        enum At {
            Top,
            Table,
            Set(NftSet),
            Chain(NftChain),
        }
        let mut t = NftTable::default();
        let mut at = At::Top;
        let mut elements: Option<String> = None;
        for raw in listing.lines() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(e) = elements.as_mut() {
                e.push(' ');
                e.push_str(line);
            } else {
                at = match at {
                    At::Top if line.starts_with("table inet ") => At::Table,
                    At::Top => return Err(NftError::Listing(format!("unexpected {line:?}"))),
                    At::Table if line == "}" => At::Top,
                    At::Table => {
                        let words: Vec<&str> = line.split_whitespace().collect();
                        match words.as_slice() {
                            [kw @ ("set" | "map"), name, "{"] => At::Set(NftSet {
                                keyword: if *kw == "set" { "set" } else { "map" },
                                name: (*name).to_string(),
                                header: Vec::new(),
                                elements: BTreeSet::new(),
                            }),
                            ["chain", name, "{"] => At::Chain(NftChain {
                                name: (*name).to_string(),
                                header: None,
                                rules: Vec::new(),
                            }),
                            _ => return Err(NftError::Listing(format!("unexpected {line:?}"))),
                        }
                    }
                    At::Set(s) if line == "}" => {
                        t.sets.push(s);
                        At::Table
                    }
                    At::Set(mut s) => {
                        match line.strip_prefix("elements = {") {
                            Some(rest) => elements = Some(rest.to_string()),
                            None => s.header.push(line.to_string()),
                        }
                        At::Set(s)
                    }
                    At::Chain(c) if line == "}" => {
                        t.chains.push(c);
                        At::Table
                    }
                    At::Chain(mut c) => {
                        if line.starts_with("type ") && c.header.is_none() && c.rules.is_empty() {
                            c.header = Some(line.to_string());
                        } else {
                            c.rules.push(line.to_string());
                        }
                        At::Chain(c)
                    }
                };
            }
            if let (Some(e), At::Set(s)) = (&elements, &mut at) {
                if let Some(body) = e.trim_end().strip_suffix('}') {
                    s.elements.extend(
                        body.split(',')
                            .map(|x| x.split_whitespace().collect::<Vec<_>>().join(" "))
                            .filter(|x| !x.is_empty()),
                    );
                    elements = None;
                }
            }
        }
        Ok(t)
    }

    /// The intent named by the `intent` chain's descriptors (empty when there are none).
    ///
    /// # Errors
    ///
    /// A descriptor cannot be read.
    pub fn intent(&self) -> Result<FirewallIntent, BadDescriptor> {
        let mut lines: Vec<String> = Vec::new();
        let rules = self
            .chains
            .iter()
            .find(|c| c.name == "intent")
            .map(|c| c.rules.as_slice())
            .unwrap_or_default();
        for r in rules {
            let Some(text) = r
                .strip_prefix("return comment \"")
                .and_then(|x| x.strip_suffix('"'))
            else {
                continue;
            };
            match (text.strip_prefix('+'), lines.last_mut()) {
                (Some(more), Some(last)) => last.push_str(more),
                _ => lines.push(text.to_string()),
            }
        }
        FirewallIntent::from_descriptors(&lines)
    }

    /// How this (live) table differs from `want`, one [`Drift`] per object.
    pub fn diff(&self, want: &NftTable) -> Vec<Drift> {
        let mut out = Vec::new();
        let missing = |what: String| Drift {
            kind: DriftKind::Missing,
            what,
        };
        let unexpected = |what: String| Drift {
            kind: DriftKind::Unexpected,
            what,
        };
        for w in &want.sets {
            let Some(l) = self.sets.iter().find(|s| s.name == w.name) else {
                out.push(missing(format!("{} inet {TABLE} {}", w.keyword, w.name)));
                continue;
            };
            if l.header != w.header || l.keyword != w.keyword {
                out.push(unexpected(format!(
                    "declaration of {} inet {TABLE} {}: {}",
                    l.keyword,
                    l.name,
                    l.header.join("; ")
                )));
            }
            for e in w.elements.difference(&l.elements) {
                out.push(missing(format!(
                    "element {{ {e} }} of {} {}",
                    w.keyword, w.name
                )));
            }
            for e in l.elements.difference(&w.elements) {
                out.push(unexpected(format!(
                    "element {{ {e} }} of {} {}",
                    w.keyword, w.name
                )));
            }
        }
        for l in &self.sets {
            if !want.sets.iter().any(|s| s.name == l.name) {
                out.push(unexpected(format!("{} inet {TABLE} {}", l.keyword, l.name)));
            }
        }
        for w in &want.chains {
            let Some(l) = self.chains.iter().find(|c| c.name == w.name) else {
                out.push(missing(format!("chain inet {TABLE} {}", w.name)));
                out.extend(
                    w.rules
                        .iter()
                        .map(|r| missing(format!("rule in chain {}: {r}", w.name))),
                );
                continue;
            };
            if l.header != w.header {
                out.push(unexpected(format!(
                    "hook of chain inet {TABLE} {}: {}",
                    l.name,
                    l.header.as_deref().unwrap_or("none")
                )));
            }
            // A positional walk, as for iptables: names what is missing or extra when
            // rules are deleted, appended or reordered.
            let mut used = vec![false; l.rules.len()];
            let mut next = 0;
            for r in &w.rules {
                match (next..l.rules.len()).find(|&i| !used[i] && l.rules[i] == *r) {
                    Some(i) => {
                        used[i] = true;
                        next = i + 1;
                    }
                    None => out.push(missing(format!("rule in chain {}: {r}", w.name))),
                }
            }
            for (i, r) in l.rules.iter().enumerate() {
                if !used[i] {
                    out.push(unexpected(format!("rule in chain {}: {r}", l.name)));
                }
            }
        }
        for l in &self.chains {
            if !want.chains.iter().any(|c| c.name == l.name) {
                out.push(unexpected(format!("chain inet {TABLE} {}", l.name)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn intent() -> FirewallIntent {
        FirewallIntent::from_descriptors(&[
            "net default nat virbr0 uplink=eth0 mss",
            "sub default 192.168.122.0/24",
            "net r routed br-r",
            "sub r 0.0.0.0/0",
            "fwd default tcp * 8080 192.168.122.11 80",
            "fwd default udp 10.0.0.1 5353 192.168.122.11 53",
        ])
        .unwrap()
    }

    #[test]
    fn declaration_parses_back_to_itself() {
        let t = render(&intent());
        let back = NftTable::parse(&t.declaration()).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.intent().unwrap(), intent());
        assert!(back.diff(&t).is_empty());
    }

    #[test]
    fn diff_names_rules_elements_and_chains() {
        let want = render(&intent());
        let mut live = want.clone();
        live.chains.retain(|c| c.name != "output");
        live.chains[0].rules.push("drop".into());
        live.sets[1].elements.clear();
        let d: Vec<String> = live.diff(&want).iter().map(|d| d.to_string()).collect();
        assert!(
            d.contains(
                &"missing element { tcp . 8080 : 192.168.122.11 . 80 } of map dnat4any".to_string()
            ),
            "{d:#?}"
        );
        assert!(
            d.contains(&"missing chain inet hvnet output".to_string()),
            "{d:#?}"
        );
        assert!(
            d.contains(&"unexpected rule in chain intent: drop".to_string()),
            "{d:#?}"
        );
    }

    #[test]
    fn long_descriptors_are_split_and_joined() {
        let name = "n".repeat(64);
        let i = FirewallIntent::from_descriptors(&[
            format!("net {name} nat bridge-name-15c uplink=uplink-name-15 ports=10000-20000 mss"),
            format!("fwd {name} tcp 2001:db8:1111:2222:3333:4444:5555:6666 8080 2001:db8:1111:2222:3333:4444:5555:7777 80"),
        ])
        .unwrap();
        let t = render(&i);
        let c = &t.chains[0];
        assert!(c.rules.iter().all(|r| r.len() < 140), "{c:?}");
        assert!(c.rules.len() > 2);
        assert_eq!(
            NftTable::parse(&t.declaration()).unwrap().intent().unwrap(),
            i
        );
    }

    fn dual_stack() -> FirewallIntent {
        FirewallIntent::from_descriptors(&[
            "net lan nat br0 uplink=eth0",
            "sub lan 10.0.0.0/24",
            "sub lan fd00::/64",
            "net m nat br1 nat6",
            "sub m 10.1.0.0/24",
            "sub m fd01::/64",
            "net iso isolated br2",
            "sub iso fd02::/64",
            "fwd lan tcp 2001:db8::1 8080 fd00::5 80",
            "fwd lan tcp * 8080 10.0.0.5 80",
        ])
        .unwrap()
    }

    #[test]
    fn ipv6_is_routed_unless_nat6_and_rejects_are_family_neutral() {
        let t = render(&dual_stack());
        let rules = |name: &str| {
            t.chains
                .iter()
                .find(|c| c.name == name)
                .unwrap()
                .rules
                .clone()
        };
        let fwd = rules("forward");
        for want in [
            "ct status dnat ip6 daddr . meta l4proto . th dport @fwd6 accept",
            // lan: IPv4 masqueraded, IPv6 routed both ways through the uplink.
            "ip daddr 10.0.0.0/24 iifname \"eth0\" oifname \"br0\" ct state established,related accept comment \"hvnet:lan\"",
            "ip6 daddr fd00::/64 iifname \"eth0\" oifname \"br0\" accept comment \"hvnet:lan\"",
            "ip6 saddr fd00::/64 iifname \"br0\" oifname \"eth0\" accept comment \"hvnet:lan\"",
            // m: nat6 — IPv6 only established inwards.
            "ip6 daddr fd01::/64 oifname \"br1\" ct state established,related accept comment \"hvnet:m\"",
            "oifname \"br2\" reject comment \"hvnet:iso\"",
            "iifname \"br2\" reject comment \"hvnet:iso\"",
        ] {
            assert!(fwd.contains(&want.to_string()), "{want} not in {fwd:#?}");
        }
        assert!(!fwd.iter().any(|r| r.contains("icmp")), "{fwd:#?}");
        let post = rules("postrouting");
        assert!(
            post.contains(
                &"ip6 saddr fd01::/64 ip6 daddr != fd01::/64 masquerade comment \"hvnet:m\""
                    .to_string()
            ),
            "{post:#?}"
        );
        assert!(
            !post
                .iter()
                .any(|r| r.contains("fd00::/64") && r.contains("masquerade")),
            "{post:#?}"
        );
        assert!(post.contains(
            &"ct status dnat ip6 saddr . ip6 daddr . meta l4proto . th dport @hairpin6 masquerade"
                .to_string()
        ));
        assert!(rules("input")
            .contains(&"iifname \"br2\" udp dport 547 accept comment \"hvnet:iso\"".to_string()));
        assert_eq!(rules("output_nat")[2], "ip6 daddr != ::1 fib daddr type local dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6");
        let set = |n: &str| {
            t.sets
                .iter()
                .find(|s| s.name == n)
                .unwrap()
                .elements
                .clone()
        };
        assert_eq!(
            set("dnat6"),
            BTreeSet::from(["2001:db8::1 . tcp . 8080 : fd00::5 . 80".to_string()])
        );
        assert_eq!(
            set("hairpin6"),
            BTreeSet::from(["fd00::/64 . fd00::5 . tcp . 80".to_string()])
        );
        assert_eq!(
            set("dnat4any"),
            BTreeSet::from(["tcp . 8080 : 10.0.0.5 . 80".to_string()])
        );
        let back = NftTable::parse(&t.declaration()).unwrap();
        assert_eq!(back.intent().unwrap(), dual_stack());
        assert!(back.diff(&t).is_empty());
    }

    #[test]
    fn internal_networks_get_bridge_local_and_rejects_only() {
        let i = FirewallIntent::from_descriptors(&["net g internal br9"]).unwrap();
        let t = render(&i);
        let all: Vec<&String> = t
            .chains
            .iter()
            .filter(|c| c.name != "intent")
            .flat_map(|c| &c.rules)
            .filter(|r| r.contains("hvnet:g"))
            .collect();
        assert_eq!(
            all,
            [
                "iifname \"br9\" oifname \"br9\" accept comment \"hvnet:g\"",
                "oifname \"br9\" reject comment \"hvnet:g\"",
                "iifname \"br9\" reject comment \"hvnet:g\"",
            ]
        );
        assert_eq!(
            NftTable::parse(&t.declaration()).unwrap().intent().unwrap(),
            i
        );
    }

    #[test]
    fn an_ipv4_intent_has_no_ipv6_sets_or_rules() {
        let t = render(&intent());
        assert!(t
            .sets
            .iter()
            .all(|s| !s.name.ends_with('6') && !s.name.contains("6any")));
        assert!(t
            .chains
            .iter()
            .flat_map(|c| &c.rules)
            .all(|r| !r.contains("ip6")));
    }

    #[test]
    fn routed_everywhere_has_no_address_match() {
        let t = render(&intent());
        let fwd = t.chains.iter().find(|c| c.name == "forward").unwrap();
        assert!(
            fwd.rules
                .contains(&"iifname \"br-r\" accept comment \"hvnet:r\"".to_string()),
            "{fwd:#?}"
        );
        assert_eq!(fwd.rules[0], "iifname \"virbr0\" tcp flags syn tcp option maxseg size set rt mtu comment \"hvnet:default\"");
    }
}
