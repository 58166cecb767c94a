//! A libvirt `<network>` definition (`virsh net-dumpxml NAME`, or the file given to
//! `virsh net-define`) → hvnet TOML.
//!
//! The XML is parsed with `roxmltree` into a typed [`LibvirtNetwork`] (everything hvnet can
//! express, validated), which [`to_toml`] serialises with the `toml` crate. Every element
//! and attribute read is either translated or reported as a [`Warning`] with its line,
//! column and "not imported: why"; the output is checked with hvnet's own validator before
//! it is returned ([`import`] fails with the reason otherwise).
//!
//! | libvirt | hvnet |
//! |---|---|
//! | `<name>` | `name` |
//! | `<forward mode='nat'>` (or no `mode`) / `'route'` / `'open'` / no `<forward>` | `kind = "nat"` / `"routed"` / `"open"` / `"isolated"` (`"internal"` without an IPv4 `<ip>`) |
//! | `<forward dev=…>` | `uplink` (nat and routed) |
//! | `<forward mode='bridge'\|'vepa'\|'private'\|'passthrough'>` with `<interface dev=…>` (or `dev=`) | `kind = "direct"`, `mode`, `uplink` (one interface) or `uplinks` (a pool); `<ip>`, `<dhcp>`, `<dns>`, `<domain>`, `<mac>`, `<bandwidth>` warned (hvnet serves nothing on a macvtap network) |
//! | `<nat><port start end/></nat>` | `nat_ports = "START-END"` |
//! | `<bridge name stp delay>` | `bridge`, `stp` (libvirt's default: on), `forward_delay` (at least 2 with STP, warned) |
//! | `<mac address>`, `<mtu size>` | `mac`, `mtu` |
//! | `<bandwidth><inbound average burst/><outbound …/>` | `rate = { ingress = …, egress = … }` (inbound is what enters the network, outbound what its guests send); `peak` and `floor` warned |
//! | `<ip address netmask\|prefix>` (IPv4) | `address = "A/LEN"` |
//! | `<dhcp><range start end><lease expiry unit/></range>` | `[network.dhcp] range = "A-B"` (`"none"` without a `<range>`), `lease_time` (at least `"2m"`, dnsmasq's minimum; longer than dnsmasq can count, 2^32-1 s: `"infinite"`, warned) |
//! | `<dhcp><host mac ip name/>` | `[[network.dhcp.host]]` (a `<host>` without `mac`, and a per-host `<lease>`, are warned) |
//! | `<ip>` without `<dhcp>` (DNS still on) | `[network.dhcp] dns_only = true`: dnsmasq for DNS only, as libvirt runs it |
//! | `<ip family='ipv6' address prefix>` | `address6 = "A/LEN"`; without `<dhcp>` `[network.dhcp6]` (SLAAC, a /64 only), as libvirt's dnsmasq advertises the prefix |
//! | its `<dhcp><range start end>`, `<host id ip name>` | `[network.dhcp6] mode = "stateful"`, `range`; `[[network.dhcp6.host]]` by the MAC of a DUID-LL/LLT `id` (others warned) |
//! | `<dns enable='no'>` | `dns = false` (no `[network.dhcp]` at all without `<dhcp>`) |
//! | `<domain name localOnly>` | `domain` (hvnet's dnsmasq always answers the domain locally; `localOnly='no'` is warned) |
//!
//! | `<forward mode='hostdev'>` with `<pf dev>` or `<address type='pci'>`s | `kind = "hostdev"` with `pf` or `vfs` ([`import_hostdev`]; [`import_any`] picks) |
//!
//! Warned, each with why: `ipv6='yes'`, a second IPv4 or IPv6 `<ip>`, extra DHCP
//! ranges, `<dns>`'s `<forwarder>`/`<host>`/`<txt>`/`<srv>`, `<route>`, `<portgroup>`,
//! `<port>`, `<vlan>`, `<virtualport>`, `macTableManager`, `zone`, `localPtr`,
//! `trustGuestRxFilters`, `<uuid>`/`<title>`/`<description>`/`<metadata>`, and any other
//! element or attribute. Everything wrong is an [`ImportError`] with its line and column and
//! the element or attribute (`network/ip/@netmask`).
//!
//! ```
//! use hvnet_kvm::import::libvirt_network::import;
//! let xml = "<network>\n  <name>default</name>\n  <forward mode='nat'/>\n  \
//!            <bridge name='virbr0' stp='off'/>\n  <ip address='192.168.122.1' prefix='24'/>\n</network>\n";
//! let out = import(xml, "default.xml").unwrap();
//! assert!(out.toml.contains("kind = \"nat\"\nbridge = \"virbr0\"\naddress = \"192.168.122.1/24\""));
//! assert!(out.toml.contains("[network.dhcp]\ndns_only = true\n"));
//!
//! let err = import("<network><name>x</name><bridge name='virbr0'/>\n<ip address='10.0.0.1' netmask='255.0.255.0'/></network>", "x.xml").unwrap_err();
//! assert_eq!(err.errors[0].in_file("x.xml"), "x.xml:2:24: network/ip/@netmask: netmask 255.0.255.0 is not contiguous");
//! ```

use std::fmt;
use std::net::Ipv4Addr;

mod direct;

use hvnet_core::dhcp::is_dns_name;
use hvnet_core::dhcp::MIN_LEASE_SECS;
use hvnet_core::import::{self as shared, check_output, comment, ImportFailure};
use hvnet_core::macvtap::MacvtapMode;
use hvnet_core::types::{IfName, Ipv4Cidr, Ipv4Range, MacAddr, RateSpec};
use roxmltree::{Document, Node};
use serde::Serialize;

mod v6;
pub use v6::Dhcp6;

pub use hvnet_core::import::ImportWarning as Warning;

mod hostdev;
pub use hostdev::{import_hostdev, ImportedPool};

/// Imports either kind of network: a `<forward mode='hostdev'>` pool of SR-IOV VFs with
/// [`import_hostdev`], anything else with [`import`]; the TOML and the warnings.
///
/// # Errors
///
/// As [`import`] or [`import_hostdev`].
pub fn import_any(
    text: &str,
    source: &str,
) -> Result<(String, Vec<Warning>), ImportFailure<ImportError>> {
    if hostdev::is_hostdev(text) {
        import_hostdev(text, source).map(|p| (p.toml, p.warnings))
    } else {
        import(text, source).map(|o| (o.toml, o.warnings))
    }
}

/// hvnet's limit on network names (the config validator's).
const MAX_NAME: usize = 64;

/// The longest lease dnsmasq can count: its lease times are 32-bit seconds.
const MAX_LEASE_SECS: u64 = u32::MAX as u64;

/// Something wrong in the XML: the import fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// The element or attribute, e.g. `network/ip/@netmask` (`xml` for a syntax error).
    pub at: String,
    /// What is wrong.
    pub message: String,
}

impl ImportError {
    /// `FILE:LINE:COL: AT: MESSAGE`.
    pub fn in_file(&self, file: &str) -> String {
        format!(
            "{file}:{}:{}: {}: {}",
            self.line, self.col, self.at, self.message
        )
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.line, self.col, self.at, self.message
        )
    }
}

impl std::error::Error for ImportError {}

/// `<forward mode=…>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardMode {
    /// `nat` (also `<forward>` without `mode`).
    Nat,
    /// `route`.
    Route,
    /// `open`.
    Open,
    /// No `<forward>`: host-only.
    Isolated,
    /// `bridge`, `vepa`, `private`, `passthrough` with `<interface dev>`: macvtaps.
    Direct(MacvtapMode),
}

impl ForwardMode {
    /// The hvnet `kind` (for a network with an IPv4 address).
    pub const fn kind(self) -> &'static str {
        match self {
            Self::Nat => "nat",
            Self::Route => "routed",
            Self::Open => "open",
            Self::Isolated => "isolated",
            Self::Direct(_) => "direct",
        }
    }
}

/// `<forward>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// `mode`.
    pub mode: ForwardMode,
    /// `dev`: the only device traffic may leave by (nat and route).
    pub dev: Option<IfName>,
    /// `<nat><port start end/>`: masquerade source ports (nat).
    pub nat_ports: Option<(u16, u16)>,
    /// `<interface dev>` (direct modes; `dev` alone counts as one).
    pub interfaces: Vec<IfName>,
}

/// `<bridge>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// `name`.
    pub name: IfName,
    /// `stp` (`on` unless `off`, as in libvirt).
    pub stp: bool,
    /// `delay` in seconds (libvirt's default 0).
    pub delay: u32,
}

/// One `<dhcp><host>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpHost {
    /// `mac`.
    pub mac: Option<MacAddr>,
    /// `ip`.
    pub ip: Ipv4Addr,
    /// `name`.
    pub name: Option<String>,
}

/// `<ip><dhcp>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dhcp {
    /// The first `<range>`.
    pub range: Option<Ipv4Range>,
    /// Its `<lease expiry unit>`: `"N{s,m,h}"` or `"infinite"`.
    pub lease_time: Option<String>,
    /// `<host>`s.
    pub hosts: Vec<DhcpHost>,
}

/// `<bandwidth>`: the network's aggregate limits, from the network's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bandwidth {
    /// `<inbound>`: what enters the network (the host and beyond sending to its guests).
    pub inbound: Option<RateSpec>,
    /// `<outbound>`: what the network's guests send.
    pub outbound: Option<RateSpec>,
}

/// What hvnet takes from a libvirt `<network>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibvirtNetwork {
    /// `<name>`.
    pub name: String,
    /// `<forward>` (mode [`ForwardMode::Isolated`] when absent).
    pub forward: Forward,
    /// `<bridge>` (`None` for a direct network, which has none).
    pub bridge: Option<Bridge>,
    /// `<mac address>`.
    pub mac: Option<MacAddr>,
    /// `<mtu size>`.
    pub mtu: Option<u32>,
    /// The (first) IPv4 `<ip>`: the host's address on the bridge.
    pub address: Option<Ipv4Cidr>,
    /// Its `<dhcp>`.
    pub dhcp: Option<Dhcp>,
    /// `<dns enable>`: whether dnsmasq answers DNS (libvirt's default: yes).
    pub dns: bool,
    /// `<domain name>`.
    pub domain: Option<String>,
    /// `<bandwidth>`.
    pub bandwidth: Bandwidth,
    /// The (first) IPv6 `<ip>`: the host's IPv6 address on the bridge.
    pub address6: Option<hvnet_core::types::Ipv6Cidr>,
    /// Its `<dhcp>`.
    pub dhcp6: Option<Dhcp6>,
}

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// What was read.
    pub network: LibvirtNetwork,
    /// The hvnet config (the network only).
    pub toml: String,
    /// Skipped elements and adjustments.
    pub warnings: Vec<Warning>,
}

/// Reads `text` (the contents of `source`, named in the output's header) and emits the TOML,
/// checked with hvnet's validator.
///
/// # Errors
///
/// The XML syntax error, every invalid element and attribute, or an output hvnet's
/// validator refuses (at `output`); with the warnings found.
pub fn import(text: &str, source: &str) -> Result<Imported, ImportFailure<ImportError>> {
    let (network, warnings) = parse(text)?;
    let (toml, warnings) = checked(to_toml(&network, source), warnings)?;
    Ok(Imported {
        network,
        toml,
        warnings,
    })
}

/// The emitted TOML once hvnet's validator accepts it; otherwise an error at `output`.
fn checked(
    toml: Result<String, String>,
    warnings: Vec<Warning>,
) -> Result<(String, Vec<Warning>), ImportFailure<ImportError>> {
    let toml = toml.and_then(|t| check_output(&t, "imported.toml").map(|_| t));
    match toml {
        Ok(t) => Ok((t, warnings)),
        Err(message) => Err(ImportFailure {
            errors: vec![ImportError {
                line: 1,
                col: 1,
                at: "output".into(),
                message,
            }],
            warnings,
        }),
    }
}

/// The XML document, or its syntax error.
fn document(text: &str) -> Result<Document<'_>, ImportFailure<ImportError>> {
    Document::parse(text).map_err(|e| {
        let p = e.pos();
        ImportFailure {
            errors: vec![ImportError {
                line: p.row,
                col: p.col,
                at: "xml".into(),
                message: format!("malformed XML: {e}"),
            }],
            warnings: Vec::new(),
        }
    })
}

/// Parses and validates a libvirt `<network>`.
///
/// # Errors
///
/// The XML syntax error, or every invalid element and attribute; with the warnings found.
pub fn parse(text: &str) -> Result<(LibvirtNetwork, Vec<Warning>), ImportFailure<ImportError>> {
    let doc = document(text)?;
    let mut r = Reader {
        doc: &doc,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let net = r.network(doc.root_element());
    match net {
        Some(n) if r.errors.is_empty() => Ok((n, r.warnings)),
        _ => Err(ImportFailure {
            errors: r.errors,
            warnings: r.warnings,
        }),
    }
}

struct Reader<'a, 'input> {
    doc: &'a Document<'input>,
    errors: Vec<ImportError>,
    warnings: Vec<Warning>,
}

fn path(node: Node<'_, '_>) -> String {
    let mut parts: Vec<&str> = node
        .ancestors()
        .filter(Node::is_element)
        .map(|n| n.tag_name().name())
        .collect();
    parts.reverse();
    parts.join("/")
}

impl Reader<'_, '_> {
    fn pos(&self, at: usize) -> (u32, u32) {
        let p = self.doc.text_pos_at(at);
        (p.row, p.col)
    }

    fn attr_pos(&self, node: Node<'_, '_>, attr: &str) -> (u32, u32) {
        let start = node
            .attributes()
            .find(|a| a.name() == attr)
            .map_or(node.range().start, |a| a.range_qname().start);
        self.pos(start)
    }

    fn err(&mut self, node: Node<'_, '_>, message: impl Into<String>) {
        let (line, col) = self.pos(node.range().start);
        self.errors.push(ImportError {
            line,
            col,
            at: path(node),
            message: message.into(),
        });
    }

    fn err_attr(&mut self, node: Node<'_, '_>, attr: &str, message: impl Into<String>) {
        let (line, col) = self.attr_pos(node, attr);
        self.errors.push(ImportError {
            line,
            col,
            at: format!("{}/@{attr}", path(node)),
            message: message.into(),
        });
    }

    /// Line, column and path of `node`, for a warning.
    fn at(&self, node: Node<'_, '_>) -> (usize, usize, String) {
        let (line, col) = self.pos(node.range().start);
        (line as usize, col as usize, path(node))
    }

    /// `node` is imported, changed as `message` says.
    fn warn(&mut self, node: Node<'_, '_>, message: impl Into<String>) {
        let (line, col, at) = self.at(node);
        self.warnings.push(Warning::changed(line, col, at, message));
    }

    /// `node` is not imported, because of `why`.
    fn skip(&mut self, node: Node<'_, '_>, why: impl fmt::Display) {
        let (line, col, at) = self.at(node);
        self.warnings
            .push(Warning::not_imported(line, col, at, why));
    }

    /// Attribute `attr` of `node` is not imported, because of `why`.
    fn skip_attr(&mut self, node: Node<'_, '_>, attr: &str, why: impl fmt::Display) {
        let (line, col) = self.attr_pos(node, attr);
        self.warnings.push(Warning::not_imported(
            line as usize,
            col as usize,
            format!("{}/@{attr}", path(node)),
            why,
        ));
    }

    /// Warns about every attribute of `node` not in `known` (the ones read), with `why` for
    /// the ones libvirt documents and a generic reason for the rest.
    fn other_attrs(&mut self, node: Node<'_, '_>, known: &[&str], why: &[(&str, &str)]) {
        let names: Vec<String> = node
            .attributes()
            .map(|a| a.name().to_owned())
            .filter(|n| !known.contains(&n.as_str()))
            .collect();
        for name in names {
            let reason = why
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("hvnet has no equivalent", |(_, w)| *w);
            self.skip_attr(node, &name, reason);
        }
    }

    /// The attribute parsed by `f`; `None` when absent or invalid (recorded).
    fn attr<T>(
        &mut self,
        node: Node<'_, '_>,
        name: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let v = node.attribute(name)?;
        match f(v.trim()) {
            Ok(t) => Some(t),
            Err(m) => {
                self.err_attr(node, name, m);
                None
            }
        }
    }

    /// A required attribute.
    fn req<T>(
        &mut self,
        node: Node<'_, '_>,
        name: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        if node.attribute(name).is_none() {
            self.err(node, format!("missing attribute {name}"));
            return None;
        }
        self.attr(node, name, f)
    }

    fn network(&mut self, root: Node<'_, '_>) -> Option<LibvirtNetwork> {
        if root.tag_name().name() != "network" {
            self.err(
                root,
                format!(
                    "expected a libvirt <network>, got <{}>",
                    root.tag_name().name()
                ),
            );
            return None;
        }
        let mut name: Option<String> = None;
        let mut forward = Some(Forward {
            mode: ForwardMode::Isolated,
            dev: None,
            nat_ports: None,
            interfaces: Vec::new(),
        });
        let mut forward_node = None;
        let mut bridge: Option<Option<Bridge>> = None;
        let mut mac = None;
        let mut mtu = None;
        let mut ip: Option<(Node<'_, '_>, Ipv4Cidr, Option<Dhcp>)> = None;
        let mut ip6: Option<(Node<'_, '_>, hvnet_core::types::Ipv6Cidr, Option<Dhcp6>)> = None;
        let mut dns = true;
        let mut dns_node = None;
        let mut domain = None;
        let mut bandwidth = Bandwidth::default();
        self.other_attrs(
            root,
            &[],
            &[
                ("ipv6", "hvnet gives guests no IPv6 (ipv6='yes' lets them talk IPv6 to each other in libvirt)"),
                ("trustGuestRxFilters", "hvnet does not follow guests' MAC or multicast filter changes"),
                ("connections", "libvirt's count of attached guests, a run-time value"),
            ],
        );
        for c in root.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "name" => {
                    if name.is_some() {
                        self.err(c, "a second <name>");
                        continue;
                    }
                    let n = c.text().unwrap_or("").trim().to_string();
                    if let Err(m) = check_name(&n) {
                        self.err(c, m);
                    }
                    name = Some(n);
                }
                "uuid" | "title" | "description" | "metadata" => self.skip(
                    c,
                    "libvirt's own bookkeeping; an hvnet network is known by its name",
                ),
                "dns" => {
                    dns_node = Some(c);
                    dns = self.dns(c);
                }
                "domain" => domain = self.domain(c),
                "bandwidth" => bandwidth = self.bandwidth(c),
                "forward" => {
                    forward_node = Some(c);
                    forward = self.forward(c);
                }
                "bridge" => bridge = Some(self.bridge(c)),
                "mac" => {
                    self.other_attrs(c, &["address"], &[]);
                    mac = self.req(c, "address", |v| {
                        let m: MacAddr = v.parse().map_err(|e| format!("{e}"))?;
                        if !m.is_unicast() || m.is_zero() {
                            return Err(format!("{m} is not a unicast address"));
                        }
                        Ok(m)
                    });
                }
                "mtu" => {
                    self.other_attrs(c, &["size"], &[]);
                    mtu = self.req(c, "size", |v| match v.parse::<u32>() {
                        Ok(s) if (68..=65535).contains(&s) => Ok(s),
                        _ => Err(format!("MTU {v:?} is out of range: must be 68 to 65535")),
                    });
                }
                "ip" => {
                    let v6 = c.attribute("family") == Some("ipv6")
                        || c.attribute("address").is_some_and(|a| a.contains(':'));
                    if let (true, Some((first, _, _))) = (v6, &ip6) {
                        let line = self.pos(first.range().start).0;
                        self.skip(
                            c,
                            format!("hvnet takes one IPv6 address per network: only the <ip> of line {line} is imported"),
                        );
                    } else if v6 {
                        if let Some(got) = self.ip6(c) {
                            ip6 = Some((c, got.0, got.1));
                        }
                    } else if let Some((first, _, _)) = ip {
                        let line = self.pos(first.range().start).0;
                        self.skip(
                            c,
                            format!("hvnet takes one IPv4 address per network: only the <ip> of line {line} is imported"),
                        );
                    } else if let Some(got) = self.ip(c) {
                        ip = Some((c, got.0, got.1));
                    }
                }
                "route" => self.skip(c, "hvnet adds no static routes via a network's guests"),
                "portgroup" => self.skip(
                    c,
                    "hvnet has no port groups: give each [[guest.nic]] its own settings",
                ),
                "port" => self.skip(c, "hvnet has no port isolation"),
                "vlan" => self.skip(c, "hvnet has no VLAN tagging on networks"),
                "virtualport" => self.skip(
                    c,
                    "hvnet manages Linux bridges only (no Open vSwitch or 802.1Qbh ports)",
                ),
                other => self.skip(c, format!("<{other}> has no hvnet equivalent")),
            }
        }
        let Some(name) = name else {
            self.err(root, "missing <name>");
            return None;
        };
        if let Some(Forward {
            mode: ForwardMode::Direct(_),
            ..
        }) = &forward
        {
            return self.direct(root, name, forward?, mtu);
        }
        let bridge = match bridge {
            Some(b) => Some(b?),
            None => {
                self.err(
                    root,
                    "missing <bridge name='…'/>: libvirt picks virbrN when the network is defined; hvnet needs the name (see `virsh net-dumpxml`)",
                );
                return None;
            }
        };
        let forward = forward?;
        let (address, dhcp) = match ip {
            Some((_, a, d)) => (Some(a), d),
            None => (None, None),
        };
        if let Some(f) = forward_node {
            if address.is_none()
                && matches!(
                    forward.mode,
                    ForwardMode::Nat | ForwardMode::Route | ForwardMode::Open
                )
            {
                self.err(
                    f,
                    format!(
                        "forward mode {} needs an IPv4 <ip address=… netmask=…>",
                        forward.mode.kind()
                    ),
                );
            }
        }
        if let (Some(_), false, None) = (&domain, dns, &dhcp) {
            if let Some(d) = root.children().find(|c| c.has_tag_name("domain")) {
                self.skip(
                    d,
                    "<dns enable='no'> and no <dhcp>: no dnsmasq runs to hand the domain out",
                );
            }
        }
        if let (None, Some(d)) = (address, dns_node) {
            self.skip(
                d,
                "without an IPv4 <ip> there is no address for dnsmasq to answer on",
            );
        }
        Some(LibvirtNetwork {
            name,
            forward,
            bridge,
            mac,
            mtu,
            address,
            dhcp,
            dns,
            domain,
            bandwidth,
            address6: ip6.as_ref().map(|(_, a, _)| *a),
            dhcp6: ip6.and_then(|(_, _, d)| d),
        })
    }

    /// `<dns enable>` (the rest warned); whether DNS is on.
    fn dns(&mut self, d: Node<'_, '_>) -> bool {
        self.other_attrs(
            d,
            &["enable"],
            &[(
                "forwardPlainNames",
                "hvnet's dnsmasq never forwards upstream",
            )],
        );
        for c in d.children().filter(Node::is_element) {
            let why = match c.tag_name().name() {
                "forwarder" => "hvnet's dnsmasq never forwards upstream (no-resolv)",
                "host" => "hvnet's dnsmasq names the guest NICs with a fixed ip (and static DHCP hosts) only",
                "txt" | "srv" => "hvnet's dnsmasq serves no TXT or SRV records",
                _ => "hvnet has no equivalent",
            };
            self.skip(c, why);
        }
        self.attr(d, "enable", |v| match v {
            "yes" => Ok(true),
            "no" => Ok(false),
            _ => Err(format!("enable {v:?}: expected yes or no")),
        })
        .unwrap_or(true)
    }

    /// `<domain name localOnly>`.
    fn domain(&mut self, d: Node<'_, '_>) -> Option<String> {
        self.other_attrs(
            d,
            &["name", "localOnly"],
            &[(
                "register",
                "hvnet does not register the domain with systemd-resolved",
            )],
        );
        if d.attribute("localOnly").is_some_and(|v| v.trim() == "no") {
            self.skip_attr(d, "localOnly", "hvnet's dnsmasq answers the domain itself and never forwards it upstream (as localOnly='yes')");
        }
        let name = self.req(d, "name", |v| Ok::<_, String>(v.to_owned()))?;
        if is_dns_name(&name) {
            Some(name)
        } else {
            self.skip_attr(d, "name", format!("{name:?} is not a DNS name (letters, digits, '-' and '.'), which hvnet requires"));
            None
        }
    }

    /// `<bandwidth><inbound|outbound average peak burst floor/>`.
    fn bandwidth(&mut self, b: Node<'_, '_>) -> Bandwidth {
        self.other_attrs(b, &[], &[]);
        let mut out = Bandwidth::default();
        for c in b.children().filter(Node::is_element) {
            let slot = match c.tag_name().name() {
                "inbound" => &mut out.inbound,
                "outbound" => &mut out.outbound,
                other => {
                    self.skip(c, format!("<{other}> has no hvnet equivalent"));
                    continue;
                }
            };
            let kb = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("{v:?} is not a whole number"))
            };
            let average = self.req(c, "average", kb);
            let burst = self.attr(c, "burst", kb);
            if c.attribute("peak").is_some() {
                self.skip_attr(
                    c,
                    "peak",
                    "hvnet shapes with a single token bucket (no peak rate)",
                );
            }
            self.other_attrs(
                c,
                &["average", "burst", "peak"],
                &[("floor", "hvnet guarantees no minimum rate")],
            );
            let Some(average) = average else { continue };
            match RateSpec::from_libvirt(average, None, burst) {
                Ok(r) => *slot = Some(r),
                Err(e) if average == 0 => self.skip(c, e),
                Err(e) => self.err(c, e.to_string()),
            }
        }
        out
    }

    fn forward(&mut self, f: Node<'_, '_>) -> Option<Forward> {
        let mode = match f.attribute("mode").map(str::trim) {
            None | Some("nat") => ForwardMode::Nat,
            Some("route") => ForwardMode::Route,
            Some("open") => ForwardMode::Open,
            Some("hostdev") => {
                self.err_attr(
                    f,
                    "mode",
                    "forward mode \"hostdev\" is a pool of SR-IOV VFs: import it with import_hostdev (or import_any)",
                );
                return None;
            }
            Some(m @ ("bridge" | "private" | "vepa" | "passthrough")) => {
                let mode = m
                    .parse::<MacvtapMode>()
                    .map_err(|e| self.err_attr(f, "mode", e.to_string()))
                    .ok()?;
                return self.direct_forward(f, mode);
            }
            Some(m) => {
                self.err_attr(
                    f,
                    "mode",
                    format!("unknown forward mode {m:?}: expected nat, route, open, bridge, vepa, private or passthrough (or no <forward> for an isolated network)"),
                );
                return None;
            }
        };
        let dev = self.attr(f, "dev", |v| IfName::new(v).map_err(|e| e.to_string()));
        if dev.is_some() && mode == ForwardMode::Open {
            self.skip_attr(
                f,
                "dev",
                "forward mode open routes through any device (libvirt ignores dev too)",
            );
        }
        self.other_attrs(f, &["mode", "dev"], &[]);
        let mut nat_ports = None;
        for c in f.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "nat" if mode == ForwardMode::Nat => {
                    self.other_attrs(c, &[], &[("ipv6", "hvnet networks are IPv4 only")]);
                    for p in c.children().filter(Node::is_element) {
                        match p.tag_name().name() {
                            "port" => {
                                let port = |v: &str| match v.parse::<u16>() {
                                    Ok(n) if n > 0 => Ok(n),
                                    _ => Err(format!("port {v:?} is not 1 to 65535")),
                                };
                                let s = self.req(p, "start", port);
                                let e = self.req(p, "end", port);
                                if let (Some(s), Some(e)) = (s, e) {
                                    if s > e {
                                        self.err(p, format!("port range {s}-{e} is empty (start > end)"));
                                    } else {
                                        nat_ports = Some((s, e));
                                    }
                                }
                            }
                            other => self.skip(
                                p,
                                format!("<{other}>: hvnet masquerades to the uplink's own address (no NAT address range)"),
                            ),
                        }
                    }
                }
                other => self.skip(
                    c,
                    format!(
                        "<{other}> is not used by hvnet with forward mode {}",
                        mode.kind()
                    ),
                ),
            }
        }
        Some(Forward {
            mode,
            dev: if mode == ForwardMode::Open { None } else { dev },
            nat_ports,
            interfaces: Vec::new(),
        })
    }

    fn bridge(&mut self, b: Node<'_, '_>) -> Option<Bridge> {
        self.other_attrs(
            b,
            &["name", "stp", "delay"],
            &[
                (
                    "macTableManager",
                    "hvnet leaves the bridge's MAC learning to the kernel (libvirt's default)",
                ),
                ("zone", "hvnet writes iptables rules, not firewalld zones"),
            ],
        );
        let name = self.req(b, "name", |v| IfName::new(v).map_err(|e| e.to_string()));
        let stp = self
            .attr(b, "stp", |v| match v {
                "on" => Ok(true),
                "off" => Ok(false),
                _ => Err(format!("stp {v:?}: expected on or off")),
            })
            .unwrap_or(true);
        let delay = self
            .attr(b, "delay", |v| match v.parse::<u32>() {
                Ok(d) if d <= 30 => Ok(d),
                _ => Err(format!(
                    "delay {v:?} is out of range: the kernel allows 0 to 30 s"
                )),
            })
            .unwrap_or(0);
        if stp && delay < 2 {
            self.warn(
                b,
                format!("delay {delay} with stp on is below the kernel's 2 s minimum: forward_delay = 2"),
            );
        }
        Some(Bridge {
            name: name?,
            stp,
            delay,
        })
    }

    fn ip(&mut self, ip: Node<'_, '_>) -> Option<(Ipv4Cidr, Option<Dhcp>)> {
        let addr = self.req(ip, "address", |v| {
            v.parse::<Ipv4Addr>()
                .map_err(|_| format!("{v:?} is not an IPv4 address"))
        });
        let prefix = match (ip.attribute("netmask"), ip.attribute("prefix")) {
            (Some(_), Some(_)) => {
                self.err_attr(ip, "prefix", "give netmask or prefix, not both");
                None
            }
            (Some(_), None) => self.attr(ip, "netmask", |v| {
                let m: Ipv4Addr = v
                    .parse()
                    .map_err(|_| format!("netmask {v:?} is not an IPv4 address"))?;
                let bits = u32::from(m);
                if bits.leading_ones() + bits.trailing_zeros() != 32 {
                    return Err(format!("netmask {m} is not contiguous"));
                }
                Ok(u8::try_from(bits.leading_ones()).unwrap_or(32))
            }),
            (None, Some(_)) => self.attr(ip, "prefix", |v| match v.parse::<u8>() {
                Ok(p) if p <= 32 => Ok(p),
                _ => Err(format!("prefix {v:?} is not 0 to 32")),
            }),
            (None, None) => {
                self.err(ip, "missing attribute netmask (or prefix)");
                None
            }
        };
        let (addr, prefix) = (addr?, prefix?);
        let cidr = Ipv4Cidr::new(addr, prefix).ok()?;
        if prefix == 0 {
            self.err_attr(ip, "netmask", "a /0 network has no room for guests");
            return None;
        }
        if addr.is_unspecified() || addr.is_loopback() || addr.is_multicast() || addr.is_broadcast()
        {
            self.err_attr(
                ip,
                "address",
                format!("{addr} is not a usable host address"),
            );
            return None;
        }
        if cidr.is_network_address() {
            self.err_attr(
                ip,
                "address",
                format!(
                    "{addr} is the network address of {}/{prefix}, not a host address",
                    cidr.network()
                ),
            );
            return None;
        }
        if cidr.is_broadcast_address() {
            self.err_attr(
                ip,
                "address",
                format!(
                    "{addr} is the broadcast address of {}/{prefix}, not a host address",
                    cidr.network()
                ),
            );
            return None;
        }
        self.other_attrs(
            ip,
            &["address", "netmask", "prefix", "family"],
            &[("localPtr", "hvnet's dnsmasq never forwards, so every reverse lookup is answered locally already")],
        );
        let mut dhcp = None;
        for c in ip.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "dhcp" if dhcp.is_none() => dhcp = Some(self.dhcp(c, cidr)),
                "dhcp" => self.skip(c, "a second <dhcp>"),
                "tftp" => self.skip(c, "hvnet's dnsmasq serves no TFTP"),
                other => self.skip(c, format!("<{other}> has no hvnet equivalent")),
            }
        }
        Some((cidr, dhcp))
    }

    /// Whether `ip` is a usable guest address of `cidr` (not its network or broadcast).
    fn in_hosts(cidr: Ipv4Cidr, ip: Ipv4Addr) -> bool {
        let r = cidr.host_range();
        r.contains(ip)
    }

    fn dhcp(&mut self, d: Node<'_, '_>, cidr: Ipv4Cidr) -> Dhcp {
        let mut out = Dhcp::default();
        let mut range_line = 0;
        let mut seen: Vec<(Node<'_, '_>, DhcpHost)> = Vec::new();
        let v4 = |v: &str| {
            v.parse::<Ipv4Addr>()
                .map_err(|_| format!("{v:?} is not an IPv4 address"))
        };
        for c in d.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "range" => {
                    if out.range.is_some() || range_line > 0 {
                        self.skip(
                            c,
                            format!("hvnet takes one DHCP range per network: only the range of line {range_line} is imported"),
                        );
                        continue;
                    }
                    range_line = self.pos(c.range().start).0;
                    let s = self.req(c, "start", v4);
                    let e = self.req(c, "end", v4);
                    let (Some(s), Some(e)) = (s, e) else { continue };
                    let Ok(r) = Ipv4Range::new(s, e) else {
                        self.err(c, format!("range {s}-{e} is empty (start > end)"));
                        continue;
                    };
                    if !Self::in_hosts(cidr, s) || !Self::in_hosts(cidr, e) {
                        self.err(
                            c,
                            format!(
                                "range {r} is not inside the subnet {}/{} (usable {})",
                                cidr.network(),
                                cidr.prefix_len(),
                                cidr.host_range()
                            ),
                        );
                        continue;
                    }
                    if r.contains(cidr.addr()) {
                        self.err(
                            c,
                            format!(
                                "range {r} contains the bridge's own address {}",
                                cidr.addr()
                            ),
                        );
                        continue;
                    }
                    out.range = Some(r);
                    self.other_attrs(c, &["start", "end"], &[]);
                    for l in c.children().filter(Node::is_element) {
                        if l.tag_name().name() == "lease" {
                            out.lease_time = self.lease(l);
                        } else {
                            self.skip(
                                l,
                                format!("<{}> has no hvnet equivalent", l.tag_name().name()),
                            );
                        }
                    }
                }
                "host" => {
                    self.other_attrs(
                        c,
                        &["mac", "ip", "name"],
                        &[("id", "an IPv6 DHCP client id; hvnet networks are IPv4 only")],
                    );
                    for l in c.children().filter(Node::is_element) {
                        let why = if l.tag_name().name() == "lease" {
                            "hvnet has one lease time per network ([network.dhcp] lease_time), none per host"
                        } else {
                            "hvnet has no equivalent"
                        };
                        self.skip(l, why);
                    }
                    let ip = self.req(c, "ip", v4);
                    let mac = self.attr(c, "mac", |v| {
                        let m: MacAddr = v.parse().map_err(|e| format!("{e}"))?;
                        if !m.is_unicast() || m.is_zero() {
                            return Err(format!("{m} is not a unicast address"));
                        }
                        Ok(m)
                    });
                    let mut name =
                        self.attr(c, "name", |v| check_hostname(v).map(|()| v.to_string()));
                    let Some(ip) = ip else { continue };
                    if c.attribute("mac").is_none() && c.attribute("name").is_none() {
                        self.err(c, "a <host> needs mac or name");
                        continue;
                    }
                    if c.attribute("mac").is_none() {
                        self.skip(
                            c,
                            format!("a <host> without mac (matched by name) has no hvnet equivalent: hvnet reserves addresses by MAC ({ip})"),
                        );
                        continue;
                    }
                    if let Some(n) = name.as_deref().filter(|n| !is_dns_name(n)) {
                        self.skip_attr(
                            c,
                            "name",
                            format!("host name {n:?} is not a DNS name (letters, digits, '-' and '.'), which hvnet requires"),
                        );
                        name = None;
                    }
                    if !Self::in_hosts(cidr, ip) {
                        self.err_attr(
                            c,
                            "ip",
                            format!(
                                "{ip} is not a usable address of the subnet {}/{}",
                                cidr.network(),
                                cidr.prefix_len()
                            ),
                        );
                        continue;
                    }
                    if ip == cidr.addr() {
                        self.err_attr(c, "ip", format!("{ip} is the bridge's own address"));
                        continue;
                    }
                    let h = DhcpHost { mac, ip, name };
                    let mut dup = None;
                    for (n, o) in &seen {
                        let line = self.pos(n.range().start).0;
                        if h.mac.is_some() && h.mac == o.mac {
                            dup = Some((
                                "mac",
                                format!(
                                    "MAC {} is already used by the <host> of line {line}",
                                    o.mac.map(|m| m.to_string()).unwrap_or_default()
                                ),
                            ));
                        } else if h.ip == o.ip {
                            dup = Some((
                                "ip",
                                format!("{} is already used by the <host> of line {line}", o.ip),
                            ));
                        } else if h.name.is_some() && h.name == o.name {
                            dup = Some((
                                "name",
                                format!(
                                    "name {:?} is already used by the <host> of line {line}",
                                    o.name.as_deref().unwrap_or("")
                                ),
                            ));
                        }
                        if dup.is_some() {
                            break;
                        }
                    }
                    if let Some((attr, m)) = dup {
                        self.err_attr(c, attr, m);
                        continue;
                    }
                    seen.push((c, h.clone()));
                    out.hosts.push(h);
                }
                "bootp" => self.skip(
                    c,
                    "hvnet's dnsmasq offers no network boot (BOOTP file and server)",
                ),
                other => self.skip(c, format!("<{other}> has no hvnet equivalent")),
            }
        }
        out
    }

    fn lease(&mut self, l: Node<'_, '_>) -> Option<String> {
        let expiry = self.req(l, "expiry", |v| {
            v.parse::<u64>()
                .map_err(|_| format!("expiry {v:?} is not a number"))
        })?;
        let unit = self
            .attr(l, "unit", |v| match v {
                "seconds" => Ok("s"),
                "minutes" => Ok("m"),
                "hours" => Ok("h"),
                _ => Err(format!("unit {v:?}: expected seconds, minutes or hours")),
            })
            .unwrap_or("m");
        self.other_attrs(l, &["expiry", "unit"], &[]);
        let secs = match unit {
            "s" => Some(expiry),
            "m" => expiry.checked_mul(60),
            _ => expiry.checked_mul(3600),
        };
        Some(if expiry == 0 {
            "infinite".into()
        } else if secs.is_none_or(|s| s > MAX_LEASE_SECS) {
            self.warn(
                l,
                format!("lease time {expiry}{unit} is longer than dnsmasq can count ({MAX_LEASE_SECS} s): lease_time = \"infinite\""),
            );
            "infinite".into()
        } else if secs.is_some_and(|s| s < MIN_LEASE_SECS) {
            self.warn(
                l,
                format!("lease time {expiry}{unit} is below dnsmasq's minimum of {MIN_LEASE_SECS} s: lease_time = \"2m\""),
            );
            "2m".into()
        } else {
            format!("{expiry}{unit}")
        })
    }
}

fn check_name(n: &str) -> Result<(), String> {
    let ok_chars = n
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let ok_first = n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if n.is_empty() || n.len() > MAX_NAME || !ok_chars || !ok_first {
        return Err(format!(
            "network name {n:?} cannot be an hvnet name: use 1-{MAX_NAME} characters from A-Z a-z 0-9 - _ ., starting with a letter or digit"
        ));
    }
    Ok(())
}

fn check_hostname(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.len() <= 253
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "host name {n:?} is invalid: use A-Z a-z 0-9 - _ . (at most 253)"
        ))
    }
}

#[derive(Serialize)]
struct OutConfig<'a> {
    network: [OutNetwork<'a>; 1],
}

#[derive(Serialize)]
struct OutNetwork<'a> {
    name: &'a str,
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    bridge: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtu: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stp: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forward_delay: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uplink: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uplinks: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nat_ports: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<OutRate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dhcp: Option<OutDhcp<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dhcp6: Option<OutDhcp6<'a>>,
}

#[derive(Serialize)]
struct OutDhcp6<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    range: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    host: Vec<OutHost<'a>>,
}

#[derive(Serialize)]
struct OutRate {
    #[serde(skip_serializing_if = "Option::is_none")]
    egress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ingress: Option<String>,
}

#[derive(Serialize, Default)]
struct OutDhcp<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    dns_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    range: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lease_time: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    host: Vec<OutHost<'a>>,
}

#[derive(Serialize)]
struct OutHost<'a> {
    mac: String,
    ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// Emits the TOML (the virtual-networks config) for `n`: header comments, then the
/// network serialised with the `toml` crate.
///
/// # Errors
///
/// The serialiser's message (cannot happen for the values a [`LibvirtNetwork`] holds).
pub fn to_toml(n: &LibvirtNetwork, source: &str) -> Result<String, String> {
    let mut o = comment(&format!(
        "hvnet config imported from {source} (libvirt network {:?}) by `hvnet import libvirt-network`.",
        n.name
    ));
    o.push_str(&comment(&format!(
        "Attach guests with [[guest]] and [[guest.nic]] network = {:?}.",
        n.name
    )));
    let kind = match (n.forward.mode, n.address) {
        (ForwardMode::Isolated, None) if n.address6.is_none() => "internal",
        (m, _) => m.kind(),
    };
    let dhcp = match (&n.dhcp, n.address) {
        (Some(d), _) => {
            if d.range.is_none() {
                o.push_str(&comment(
                    "<dhcp> without <range>: range = \"none\", static hosts only.",
                ));
            }
            Some(OutDhcp {
                range: Some(d.range.map_or_else(|| "none".to_owned(), |r| r.to_string())),
                lease_time: d.lease_time.as_deref(),
                dns: (!n.dns).then_some(false),
                domain: n.domain.as_deref().filter(|_| n.dns),
                host: d
                    .hosts
                    .iter()
                    .filter_map(|h| {
                        // Hosts without a MAC are dropped (with a warning) when reading.
                        Some(OutHost {
                            mac: h.mac?.to_string(),
                            ip: h.ip.to_string(),
                            name: h.name.as_deref(),
                        })
                    })
                    .collect(),
                ..OutDhcp::default()
            })
        }
        (None, Some(_)) if n.dns => {
            o.push_str(&comment(
                "<ip> without <dhcp>: libvirt still runs dnsmasq for DNS, hence dns_only = true.",
            ));
            Some(OutDhcp {
                dns_only: Some(true),
                domain: n.domain.as_deref(),
                ..OutDhcp::default()
            })
        }
        (None, _) => None,
    };
    let (stp, forward_delay) = match &n.bridge {
        Some(b) if b.stp => (Some(true), Some(b.delay.max(2))),
        Some(b) => (None, (b.delay > 0).then_some(b.delay)),
        None => (None, None),
    };
    let (uplinks, mode) = match n.forward.mode {
        ForwardMode::Direct(m) => (
            (n.forward.interfaces.len() > 1)
                .then(|| n.forward.interfaces.iter().map(IfName::as_str).collect()),
            Some(m.as_str()),
        ),
        _ => (None, None),
    };
    let uplink = match n.forward.mode {
        ForwardMode::Direct(_) => match n.forward.interfaces.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        },
        _ => n.forward.dev.as_ref().map(IfName::as_str),
    };
    let rate = (n.bandwidth.inbound.is_some() || n.bandwidth.outbound.is_some()).then(|| OutRate {
        egress: n.bandwidth.outbound.map(|r| r.to_string()),
        ingress: n.bandwidth.inbound.map(|r| r.to_string()),
    });
    let dhcp6 = match (n.address6, &n.dhcp6) {
        (Some(_), Some(d)) => Some(OutDhcp6 {
            mode: Some("stateful"),
            range: d.range.map(|r| r.to_string()),
            host: d
                .hosts
                .iter()
                .map(|(mac, ip, name)| OutHost {
                    mac: mac.to_string(),
                    ip: ip.to_string(),
                    name: name.as_deref(),
                })
                .collect(),
        }),
        (Some(a), None) if a.prefix_len() == 64 => Some(OutDhcp6 {
            mode: None,
            range: None,
            host: Vec::new(),
        }),
        (Some(_), None) => {
            o.push_str(&comment(
                "The IPv6 <ip> is not a /64: no SLAAC, so no [network.dhcp6].",
            ));
            None
        }
        (None, _) => None,
    };
    let out = OutConfig {
        network: [OutNetwork {
            name: &n.name,
            kind,
            bridge: n.bridge.as_ref().map(|b| b.name.as_str()),
            address: n.address.map(|a| a.to_string()),
            address6: n.address6.map(|a| a.to_string()),
            mtu: n.mtu,
            stp,
            forward_delay,
            mac: n.mac.map(|m| m.to_string()),
            uplink,
            uplinks,
            mode,
            nat_ports: n.forward.nat_ports.map(|(s, e)| format!("{s}-{e}")),
            rate,
            dhcp,
            dhcp6,
        }],
    };
    o.push('\n');
    o.push_str(&shared::to_toml(&out)?);
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAT: &str = include_str!("../../tests/data/libvirt/nat.xml");
    const HOSTONLY: &str = include_str!("../../tests/data/libvirt/hostonly.xml");

    fn ok(xml: &str) -> Imported {
        match import(xml, "t.xml") {
            Ok(i) => i,
            Err(e) => panic!("unexpected errors: {e:?}"),
        }
    }

    fn errs(xml: &str) -> Vec<String> {
        match import(xml, "t.xml") {
            Ok(i) => panic!("expected errors, got {}", i.toml),
            Err(e) => e.errors.iter().map(|e| e.in_file("t.xml")).collect(),
        }
    }

    fn net(body: &str) -> String {
        format!("<network>\n<name>n1</name>\n<bridge name='br1' stp='off'/>\n{body}</network>\n")
    }

    #[test]
    fn seed_nat_golden() {
        let out = ok(NAT);
        assert_eq!(
            out.toml,
            "# hvnet config imported from t.xml (libvirt network \"natntw\") by `hvnet import libvirt-network`.\n\
             # Attach guests with [[guest]] and [[guest.nic]] network = \"natntw\".\n\
             \n\
             [[network]]\n\
             name = \"natntw\"\n\
             kind = \"nat\"\n\
             bridge = \"virbr1\"\n\
             address = \"192.168.100.1/24\"\n\
             stp = true\n\
             forward_delay = 2\n\
             nat_ports = \"1024-65535\"\n\
             \n\
             [network.dhcp]\n\
             range = \"192.168.100.10-192.168.100.254\"\n"
        );
        assert_eq!(out.warnings.len(), 1);
        assert_eq!(
            out.warnings[0].in_file("t.xml"),
            "t.xml:8:3: warning: network/bridge: delay 0 with stp on is below the kernel's 2 s minimum: forward_delay = 2"
        );
        assert_eq!(out.network.forward.nat_ports, Some((1024, 65535)));
    }

    #[test]
    fn seed_hostonly_golden() {
        let out = ok(HOSTONLY);
        assert_eq!(
            out.toml,
            "# hvnet config imported from t.xml (libvirt network \"hostntw\") by `hvnet import libvirt-network`.\n\
             # Attach guests with [[guest]] and [[guest.nic]] network = \"hostntw\".\n\
             \n\
             [[network]]\n\
             name = \"hostntw\"\n\
             kind = \"isolated\"\n\
             bridge = \"virbr2\"\n\
             address = \"192.168.110.1/24\"\n\
             stp = true\n\
             forward_delay = 2\n\
             \n\
             [network.dhcp]\n\
             range = \"192.168.110.10-192.168.110.254\"\n"
        );
        assert_eq!(out.network.forward.mode, ForwardMode::Isolated);
    }

    #[test]
    fn nat_with_dev_ports_hosts_mac_mtu_lease() {
        let out = ok(&net(
            "<forward mode='nat' dev='eth0'><nat><port start='2000' end='3000'/></nat></forward>\n\
             <mac address='52:54:00:35:ac:06'/><mtu size='9000'/>\n\
             <ip address='10.1.0.1' prefix='16'><dhcp>\n\
             <range start='10.1.0.100' end='10.1.0.200'><lease expiry='1' unit='hours'/></range>\n\
             <host mac='52:54:00:aa:bb:cc' ip='10.1.0.5' name='vm1'/>\n\
             <host mac='52:54:00:aa:bb:cd' name='vm2' ip='10.1.0.6'/>\n\
             </dhcp></ip>\n",
        ));
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        assert!(out.toml.ends_with(
            "[[network]]\nname = \"n1\"\nkind = \"nat\"\nbridge = \"br1\"\naddress = \"10.1.0.1/16\"\n\
             mtu = 9000\nmac = \"52:54:00:35:ac:06\"\nuplink = \"eth0\"\nnat_ports = \"2000-3000\"\n\n\
             [network.dhcp]\nrange = \"10.1.0.100-10.1.0.200\"\nlease_time = \"1h\"\n\n\
             [[network.dhcp.host]]\nmac = \"52:54:00:aa:bb:cc\"\nip = \"10.1.0.5\"\nname = \"vm1\"\n\n\
             [[network.dhcp.host]]\nmac = \"52:54:00:aa:bb:cd\"\nip = \"10.1.0.6\"\nname = \"vm2\"\n"
        ), "{}", out.toml);
    }

    #[test]
    fn route_open_isolated_internal() {
        let ip = "<ip address='10.2.0.1' netmask='255.255.255.0'/>\n";
        let r = ok(&net(&format!("<forward mode='route' dev='eth1'/>{ip}")));
        assert!(r.toml.contains("kind = \"routed\"\n"));
        assert!(r.toml.contains("uplink = \"eth1\"\n"));
        assert!(!r.toml.contains("nat_ports"));
        let o = ok(&net(&format!("<forward mode='open'/>{ip}")));
        assert!(o.toml.contains("kind = \"open\"\n"));
        let i = ok(&net(ip));
        assert!(i
            .toml
            .contains("kind = \"isolated\"\nbridge = \"br1\"\naddress = \"10.2.0.1/24\"\n"));
        // <ip> without <dhcp>: libvirt's dnsmasq still answers DNS.
        assert!(
            i.toml.ends_with("\n[network.dhcp]\ndns_only = true\n"),
            "{}",
            i.toml
        );
        let n = ok(&net(""));
        assert!(n.toml.contains("kind = \"internal\"\n"));
        // <forward> without mode is nat.
        let d = ok(&net(&format!("<forward/>{ip}")));
        assert!(d.toml.contains("kind = \"nat\"\n"));
    }

    #[test]
    fn ipv6_is_imported() {
        let out = ok(&net(
            "<ip address='10.3.0.1' prefix='24'/>\n<ip family='ipv6' address='fd00::1' prefix='64'/>\n",
        ));
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        assert!(
            out.toml
                .contains("address = \"10.3.0.1/24\"\naddress6 = \"fd00::1/64\""),
            "{}",
            out.toml
        );
        assert!(out.toml.contains("[network.dhcp6]\n"), "{}", out.toml);
        let out = ok(&net(
            "<ip family='ipv6' address='fd00::1' prefix='64'>\n<dhcp><range start='fd00::100' end='fd00::1ff'/>\n\
             <host id='0:3:0:1:52:54:0:0:0:7' ip='fd00::7' name='web'/>\n<host name='db' ip='fd00::8'/></dhcp></ip>\n\
             <ip family='ipv6' address='fd01::1' prefix='64'/>\n",
        ));
        assert!(
            out.toml.contains("[network.dhcp6]\nmode = \"stateful\"\nrange = \"fd00::100-fd00::1ff\"\n\n[[network.dhcp6.host]]\nmac = \"52:54:00:00:00:07\"\nip = \"fd00::7\"\nname = \"web\"\n"),
            "{}",
            out.toml
        );
        let w: Vec<String> = out.warnings.iter().map(|w| w.in_file("t.xml")).collect();
        assert_eq!(w.len(), 2, "{w:#?}");
        assert!(w[0].starts_with("t.xml:7:1: warning: network/ip/dhcp/host: not imported: hvnet reserves IPv6 addresses by MAC"), "{w:#?}");
        assert!(
            w[1].contains("only the <ip> of line 4 is imported"),
            "{w:#?}"
        );
    }

    #[test]
    fn output_is_valid_toml() {
        for x in [NAT, HOSTONLY] {
            let t = ok(x).toml;
            assert!(t.parse::<toml::Table>().is_ok(), "{t}");
        }
    }

    fn one(xml: &str, want: &str) {
        let e = errs(xml);
        if !e.iter().any(|m| m.contains(want)) {
            eprintln!("MISMATCH wanted {want:?} in {e:?}");
            MISS.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    static MISS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    #[test]
    fn malformed() {
        one(
            "<network>\n<name>x</name>\n<bridge name='b'\n</network>",
            "t.xml:4:1: xml: malformed XML",
        );
        one(
            "<network>\n<bridge name='br1'/>\n</network>",
            "t.xml:1:1: network: missing <name>",
        );
        one(
            &net("<ip address='10.0.0.1' netmask='255.0.255.0'/>\n"),
            "t.xml:4:24: network/ip/@netmask: netmask 255.0.255.0 is not contiguous",
        );
        one(&net("<ip address='10.0.0.1' prefix='24'>\n<dhcp><range start='10.0.0.10' end='10.0.1.5'/></dhcp></ip>\n"),
            "t.xml:5:7: network/ip/dhcp/range: range 10.0.0.10-10.0.1.5 is not inside the subnet 10.0.0.0/24");
        one(&net("<ip address='10.0.0.1' prefix='24'>\n<dhcp><range start='10.0.0.1' end='10.0.0.9'/></dhcp></ip>\n"),
            "t.xml:5:7: network/ip/dhcp/range: range 10.0.0.1-10.0.0.9 contains the bridge's own address 10.0.0.1");
        one(&net("<ip address='10.0.0.1' prefix='24'>\n<dhcp><host mac='52:54:00:00:00:01' ip='10.0.0.1'/></dhcp></ip>\n"),
            "t.xml:5:37: network/ip/dhcp/host/@ip: 10.0.0.1 is the bridge's own address");
        one(&net("<ip address='10.0.0.1' prefix='24'>\n<dhcp>\n<host mac='52:54:00:00:00:01' ip='10.0.0.2'/>\n<host mac='52:54:00:00:00:01' ip='10.0.0.3'/>\n</dhcp></ip>\n"),
            "t.xml:7:7: network/ip/dhcp/host/@mac: MAC 52:54:00:00:00:01 is already used by the <host> of line 6");
        one(
            "<network>\n<name>x</name>\n<bridge name='this-is-too-long0'/>\n</network>",
            "t.xml:3:9: network/bridge/@name:",
        );
        one(
            &net("<forward mode='nope'/>\n"),
            "t.xml:4:10: network/forward/@mode: unknown forward mode \"nope\"",
        );
        one(
            &net("<forward mode='bridge'/>\n"),
            "puts guests on an existing host bridge",
        );
        one(
            &net("<ip address='10.0.0.0' prefix='24'/>\n"),
            "t.xml:4:5: network/ip/@address: 10.0.0.0 is the network address of 10.0.0.0/24",
        );
        one(
            &net("<forward mode='nat'/>\n"),
            "t.xml:4:1: network/forward: forward mode nat needs an IPv4",
        );
        one(
            "<network><name>bad name</name><bridge name='b'/></network>",
            "cannot be an hvnet name",
        );
        one("<network><name>x</name></network>", "missing <bridge name=");
        one(
            &net("<mtu size='10'/>\n"),
            "t.xml:4:6: network/mtu/@size: MTU \"10\" is out of range",
        );
        one(&net("<forward><nat><port start='5' end='1'/></nat></forward><ip address='10.0.0.1' prefix='24'/>\n"),
            "port range 5-1 is empty");
        one(&net("<ip address='10.0.0.1' prefix='24'>\n<dhcp>\n<host mac='52:54:00:00:00:01' ip='10.0.0.2'/>\n<host mac='52:54:00:00:00:02' ip='10.0.0.2'/>\n</dhcp></ip>\n"),
            "network/ip/dhcp/host/@ip: 10.0.0.2 is already used by the <host> of line 6");
        assert!(!MISS.load(std::sync::atomic::Ordering::SeqCst));
    }

    /// The output is a config hvnet accepts.
    fn parses(toml: &str) -> hvnet_core::config::Config {
        hvnet_core::config::Config::parse(toml, "imported.toml")
            .unwrap_or_else(|e| panic!("{e}\n--- in ---\n{toml}"))
    }

    #[test]
    fn seed_imports_are_valid_hvnet_configs() {
        use hvnet_core::config::NetworkKind;
        let nat = parses(&ok(NAT).toml);
        let n = &nat.networks[0];
        assert_eq!(n.kind, NetworkKind::Nat);
        assert_eq!(n.nat_ports, Some((1024, 65535)));
        assert_eq!(
            n.dhcp.as_ref().and_then(|d| d.range).map(|r| r.to_string()),
            Some("192.168.100.10-192.168.100.254".into())
        );
        let host = parses(&ok(HOSTONLY).toml);
        assert_eq!(host.networks[0].kind, NetworkKind::Isolated);
        assert!(host.networks[0].dhcp.is_some());
    }

    #[test]
    fn dhcp_without_range_hosts_without_mac_short_leases() {
        let out = ok(&net("<forward mode='route' dev='eth1'/>\n\
             <ip address='10.1.0.1' prefix='24'><dhcp>\n\
             <host mac='52:54:00:aa:bb:cc' ip='10.1.0.5' name='vm_1'/>\n\
             <host name='vm2' ip='10.1.0.6'/>\n\
             </dhcp></ip>\n"));
        assert!(
            out.toml.ends_with(
                "[network.dhcp]\nrange = \"none\"\n\n\
                 [[network.dhcp.host]]\nmac = \"52:54:00:aa:bb:cc\"\nip = \"10.1.0.5\"\n"
            ),
            "{}",
            out.toml
        );
        let w: Vec<String> = out.warnings.iter().map(|w| w.in_file("t.xml")).collect();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].starts_with(
                "t.xml:6:45: warning: network/ip/dhcp/host/@name: not imported: host name \"vm_1\" is not a DNS name"
            ),
            "{w:?}"
        );
        assert!(
            w[1].starts_with(
                "t.xml:7:1: warning: network/ip/dhcp/host: not imported: a <host> without mac"
            ),
            "{w:?}"
        );
        let c = parses(&out.toml);
        let d = c.networks[0].dhcp.as_ref().unwrap();
        assert_eq!((d.range, d.hosts.len()), (None, 1));

        let out = ok(&net(
            "<ip address='10.1.0.1' prefix='24'><dhcp>\n\
             <range start='10.1.0.100' end='10.1.0.200'><lease expiry='30' unit='seconds'/></range>\n\
             </dhcp></ip>\n",
        ));
        assert!(out.toml.contains("lease_time = \"2m\"\n"), "{}", out.toml);
        assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
        assert!(out.warnings[0]
            .message
            .contains("below dnsmasq's minimum of 120 s"));
        parses(&out.toml);
        let out = ok(&net("<ip address='10.1.0.1' prefix='24'><dhcp>\n\
             <range start='10.1.0.100' end='10.1.0.200'><lease expiry='0'/></range>\n\
             </dhcp></ip>\n"));
        assert!(out.toml.contains("lease_time = \"infinite\"\n"));
        parses(&out.toml);
    }

    #[test]
    fn every_form_parses() {
        let ip = "<ip address='10.2.0.1' netmask='255.255.255.0'/>\n";
        for body in [
            format!("<forward mode='route' dev='eth1'/>{ip}"),
            format!("<forward mode='open' dev='eth1'/>{ip}"),
            format!("<forward dev='eth0'><nat><port start='2000' end='3000'/></nat></forward>{ip}"),
            ip.to_string(),
            String::new(),
        ] {
            parses(&ok(&net(&body)).toml);
        }
        one(
            &net("<forward mode='open'/>\n"),
            "forward mode open needs an IPv4",
        );
    }

    fn warned(out: &Imported) -> Vec<String> {
        out.warnings.iter().map(|w| w.in_file("t.xml")).collect()
    }

    /// Regression (issue 15): `<dns enable='no'>` turned DNS on; `<domain>` was dropped.
    #[test]
    fn dns_off_and_domain() {
        let out = ok(&net(
            "<dns enable='no'/>\n<domain name='example.lan' localOnly='yes'/>\n\
             <ip address='10.1.0.1' prefix='24'><dhcp><range start='10.1.0.100' end='10.1.0.200'/></dhcp></ip>\n",
        ));
        assert!(
            out.toml
                .contains("[network.dhcp]\nrange = \"10.1.0.100-10.1.0.200\"\ndns = false\n"),
            "{}",
            out.toml
        );
        let c = parses(&out.toml);
        let d = c.networks[0].dhcp.as_ref().unwrap();
        assert!(!d.dns && !d.dns_only);
        // DNS on: the domain is handed out.
        let out = ok(&net(
            "<domain name='example.lan'/>\n<ip address='10.1.0.1' prefix='24'><dhcp/></ip>\n",
        ));
        let c = parses(&out.toml);
        assert_eq!(
            c.networks[0].dhcp.as_ref().unwrap().domain.as_deref(),
            Some("example.lan")
        );
        assert!(out.warnings.is_empty(), "{:?}", warned(&out));
        // DNS off and no <dhcp>: no dnsmasq at all, and the domain is warned.
        let out = ok(&net(
            "<dns enable='no'><forwarder addr='8.8.8.8'/></dns>\n<domain name='x.lan' localOnly='no'/>\n\
             <ip address='10.1.0.1' prefix='24'/>\n",
        ));
        assert!(!out.toml.contains("[network.dhcp]"), "{}", out.toml);
        let w = warned(&out).join("\n");
        for want in [
            "t.xml:4:18: warning: network/dns/forwarder: not imported: hvnet's dnsmasq never forwards upstream",
            "t.xml:5:22: warning: network/domain/@localOnly: not imported:",
            "t.xml:5:1: warning: network/domain: not imported: <dns enable='no'> and no <dhcp>",
        ] {
            assert!(w.contains(want), "missing {want:?} in\n{w}");
        }
    }

    /// Regression (issue 15): a network with `<ip>` but no `<dhcp>` still gets libvirt's DNS.
    #[test]
    fn ip_without_dhcp_is_dns_only() {
        let out = ok(&net(
            "<forward mode='nat'/><domain name='lan'/><ip address='10.1.0.1' prefix='24'/>\n",
        ));
        let c = parses(&out.toml);
        let d = c.networks[0].dhcp.as_ref().unwrap();
        assert!(d.dns_only && d.dns);
        assert_eq!(d.domain.as_deref(), Some("lan"));
        assert!(out
            .toml
            .contains("<ip> without <dhcp>: libvirt still runs dnsmasq for DNS"));
    }

    /// Regression (issue 15): `<bandwidth>` was dropped.
    #[test]
    fn bandwidth_is_the_network_rate() {
        let out = ok(&net(
            "<bandwidth>\n<inbound average='1000' peak='2000' burst='64'/>\n<outbound average='500' floor='100'/>\n</bandwidth>\n\
             <ip address='10.1.0.1' prefix='24'/>\n",
        ));
        let c = parses(&out.toml);
        let r = &c.networks[0].rate;
        assert_eq!(
            r.ingress.map(|s| s.to_string()).as_deref(),
            Some("8mbit burst 64kb")
        );
        assert_eq!(r.egress.map(|s| s.to_string()).as_deref(), Some("4mbit"));
        let w = warned(&out).join("\n");
        assert!(w.contains("t.xml:5:25: warning: network/bandwidth/inbound/@peak: not imported: hvnet shapes with a single token bucket"), "{w}");
        assert!(
            w.contains(
                "network/bandwidth/outbound/@floor: not imported: hvnet guarantees no minimum rate"
            ),
            "{w}"
        );
        // average = 0 is libvirt's "no limit": warned, not imported.
        let out = ok(&net("<bandwidth><inbound average='0'/></bandwidth>\n"));
        assert!(!out.toml.contains("rate"), "{}", out.toml);
        assert!(
            warned(&out)[0].contains("not imported"),
            "{:?}",
            warned(&out)
        );
    }

    /// Regression (issue 15): a huge lease expiry gave a TOML hvnet's validate rejects; a
    /// per-host `<lease>` was dropped silently.
    #[test]
    fn huge_and_per_host_leases() {
        let out = ok(&net(
            "<ip address='10.1.0.1' prefix='24'><dhcp>\n\
             <range start='10.1.0.100' end='10.1.0.200'><lease expiry='18446744073709551615' unit='hours'/></range>\n\
             <host mac='52:54:00:aa:bb:cc' ip='10.1.0.5'><lease expiry='5' unit='minutes'/></host>\n\
             </dhcp></ip>\n",
        ));
        let c = parses(&out.toml);
        assert_eq!(c.networks[0].dhcp.as_ref().unwrap().lease_time, None);
        let w = warned(&out).join("\n");
        assert!(w.contains("network/ip/dhcp/range/lease: lease time 18446744073709551615h is longer than dnsmasq can count"), "{w}");
        assert!(w.contains("t.xml:6:45: warning: network/ip/dhcp/host/lease: not imported: hvnet has one lease time per network"), "{w}");
        // Just below dnsmasq's limit is kept as written.
        let out = ok(&net(
            "<ip address='10.1.0.1' prefix='24'><dhcp><range start='10.1.0.100' end='10.1.0.200'>\
             <lease expiry='1193046' unit='hours'/></range></dhcp></ip>\n",
        ));
        assert!(
            out.toml.contains("lease_time = \"1193046h\""),
            "{}",
            out.toml
        );
    }

    /// Regression (issue 15): these attributes were dropped without a word.
    #[test]
    fn documented_attributes_are_warned() {
        let xml = "<network ipv6='yes' trustGuestRxFilters='no'>\n<name>n1</name>\n\
                   <bridge name='br1' stp='off' macTableManager='libvirt' zone='trusted'/>\n\
                   <uuid>0b5ac0a0-4d8c-4a44-a6f0-5b4b0b5b7f50</uuid>\n\
                   <ip address='10.1.0.1' prefix='24' localPtr='yes'/>\n</network>\n";
        let out = ok(xml);
        let w = warned(&out).join("\n");
        for want in [
            "t.xml:1:10: warning: network/@ipv6: not imported: hvnet gives guests no IPv6",
            "t.xml:1:21: warning: network/@trustGuestRxFilters: not imported:",
            "network/bridge/@macTableManager: not imported:",
            "network/bridge/@zone: not imported: hvnet writes iptables rules, not firewalld zones",
            "t.xml:4:1: warning: network/uuid: not imported:",
            "network/ip/@localPtr: not imported:",
        ] {
            assert!(w.contains(want), "missing {want:?} in\n{w}");
        }
    }

    /// Warnings are kept when the import fails, so the CLI can print them.
    #[test]
    fn warnings_survive_a_failing_import() {
        let e = import(&net("<portgroup name='x'/>\n<mtu size='1'/>\n"), "t.xml").unwrap_err();
        assert_eq!(e.errors.len(), 1);
        assert!(
            e.warnings[0].message.contains("port groups"),
            "{:?}",
            e.warnings
        );
    }

    #[test]
    fn bridge_name_error_mentions_length() {
        let e = errs("<network>\n<name>x</name>\n<bridge name='this-is-too-long0'/>\n</network>");
        assert!(e[0].contains("15"), "{e:?}");
    }
}
