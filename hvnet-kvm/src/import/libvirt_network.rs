//! A libvirt `<network>` definition (`virsh net-dumpxml NAME`, or the file given to
//! `virsh net-define`) → hvnet TOML.
//!
//! The XML is parsed with `roxmltree` into a typed [`LibvirtNetwork`] (everything hvnet can
//! express, validated), which [`to_toml`] then writes out. The output uses the config of
//! the virtual-networks release (`kind = "nat" | "routed" | "open"`, `uplink` and
//! `nat_ports` on nat/routed networks, a `[network.dhcp]` table with `range`, `lease_time`
//! and `[[network.dhcp.host]] mac, ip, name`), and says so in its header: an older hvnet
//! rejects it. When the config lands, only [`to_toml`] has to follow it.
//!
//! | libvirt | hvnet |
//! |---|---|
//! | `<name>` | `name` |
//! | `<forward mode='nat'>` (or no `mode`) / `'route'` / `'open'` / no `<forward>` | `kind = "nat"` / `"routed"` / `"open"` / `"isolated"` (`"internal"` without an IPv4 `<ip>`) |
//! | `<forward dev=…>` | `uplink` (nat and routed) |
//! | `<nat><port start end/></nat>` | `nat_ports = "START-END"` |
//! | `<bridge name stp delay>` | `bridge`, `stp` (libvirt's default: on), `forward_delay` |
//! | `<mac address>`, `<mtu size>` | `mac`, `mtu` |
//! | `<ip address netmask\|prefix>` (IPv4) | `address = "A/LEN"` |
//! | `<dhcp><range start end><lease expiry unit/></range>` | `[network.dhcp] range = "A-B"` (`"none"` without a `<range>`), `lease_time` (at least `"2m"`, dnsmasq's minimum) |
//! | `<dhcp><host mac ip name/>` | `[[network.dhcp.host]]` (a `<host>` without `mac` is skipped with a warning: hvnet reserves by MAC) |
//!
//! IPv6 `<ip>`s, a second IPv4 `<ip>`, extra DHCP ranges and the elements hvnet has no
//! equivalent for (`<dns>`, `<domain>`, `<route>`, `<portgroup>`, …) are skipped with a
//! [`Warning`]; `<uuid>`, `<title>`, `<description>` and `<metadata>` silently.
//! Everything wrong is an [`ImportError`] with its line and column and the element or
//! attribute (`network/ip/@netmask`).
//!
//! ```
//! use hvnet_kvm::import::libvirt_network::import;
//! let xml = "<network>\n  <name>default</name>\n  <forward mode='nat'/>\n  \
//!            <bridge name='virbr0'/>\n  <ip address='192.168.122.1' prefix='24'/>\n</network>\n";
//! let out = import(xml, "default.xml").unwrap();
//! assert!(out.toml.contains("kind = \"nat\"\nbridge = \"virbr0\"\naddress = \"192.168.122.1/24\""));
//!
//! let err = import("<network><name>x</name><bridge name='virbr0'/>\n<ip address='10.0.0.1' netmask='255.0.255.0'/></network>", "x.xml").unwrap_err();
//! assert_eq!(err[0].in_file("x.xml"), "x.xml:2:24: network/ip/@netmask: netmask 255.0.255.0 is not contiguous");
//! ```

use std::fmt;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use hvnet_core::dhcp::is_dns_name;
use hvnet_core::dhcp::MIN_LEASE_SECS;
use hvnet_core::types::{IfName, Ipv4Cidr, Ipv4Range, MacAddr};
use roxmltree::{Document, Node};

/// hvnet's limit on network names (the config validator's).
const MAX_NAME: usize = 64;

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

/// Something skipped or adjusted; the import goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// The element or attribute.
    pub at: String,
    /// What was skipped or adjusted.
    pub message: String,
}

impl Warning {
    /// `FILE:LINE:COL: warning: AT: MESSAGE`.
    pub fn in_file(&self, file: &str) -> String {
        format!(
            "{file}:{}:{}: warning: {}: {}",
            self.line, self.col, self.at, self.message
        )
    }
}

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
}

impl ForwardMode {
    /// The hvnet `kind` (for a network with an IPv4 address).
    pub const fn kind(self) -> &'static str {
        match self {
            Self::Nat => "nat",
            Self::Route => "routed",
            Self::Open => "open",
            Self::Isolated => "isolated",
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

/// What hvnet takes from a libvirt `<network>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibvirtNetwork {
    /// `<name>`.
    pub name: String,
    /// `<forward>` (mode [`ForwardMode::Isolated`] when absent).
    pub forward: Forward,
    /// `<bridge>`.
    pub bridge: Bridge,
    /// `<mac address>`.
    pub mac: Option<MacAddr>,
    /// `<mtu size>`.
    pub mtu: Option<u32>,
    /// The (first) IPv4 `<ip>`: the host's address on the bridge.
    pub address: Option<Ipv4Cidr>,
    /// Its `<dhcp>`.
    pub dhcp: Option<Dhcp>,
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

/// Reads `text` (the contents of `source`, named in the output's header) and emits the TOML.
///
/// # Errors
///
/// The XML syntax error, or every invalid element and attribute.
pub fn import(text: &str, source: &str) -> Result<Imported, Vec<ImportError>> {
    let (network, warnings) = parse(text)?;
    let toml = to_toml(&network, source);
    Ok(Imported {
        network,
        toml,
        warnings,
    })
}

/// Parses and validates a libvirt `<network>`.
///
/// # Errors
///
/// The XML syntax error, or every invalid element and attribute.
pub fn parse(text: &str) -> Result<(LibvirtNetwork, Vec<Warning>), Vec<ImportError>> {
    let doc = Document::parse(text).map_err(|e| {
        let p = e.pos();
        vec![ImportError {
            line: p.row,
            col: p.col,
            at: "xml".into(),
            message: format!("malformed XML: {e}"),
        }]
    })?;
    let mut r = Reader {
        doc: &doc,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let net = r.network(doc.root_element());
    match net {
        Some(n) if r.errors.is_empty() => Ok((n, r.warnings)),
        _ => Err(r.errors),
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

    fn warn(&mut self, node: Node<'_, '_>, message: impl Into<String>) {
        let (line, col) = self.pos(node.range().start);
        self.warnings.push(Warning {
            line,
            col,
            at: path(node),
            message: message.into(),
        });
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
        });
        let mut forward_node = None;
        let mut bridge: Option<Option<Bridge>> = None;
        let mut mac = None;
        let mut mtu = None;
        let mut ip: Option<(Node<'_, '_>, Ipv4Cidr, Option<Dhcp>)> = None;
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
                "uuid" | "title" | "description" | "metadata" => {}
                "forward" => {
                    forward_node = Some(c);
                    forward = self.forward(c);
                }
                "bridge" => bridge = Some(self.bridge(c)),
                "mac" => {
                    mac = self.req(c, "address", |v| {
                        let m: MacAddr = v.parse().map_err(|e| format!("{e}"))?;
                        if !m.is_unicast() || m.is_zero() {
                            return Err(format!("{m} is not a unicast address"));
                        }
                        Ok(m)
                    });
                }
                "mtu" => {
                    mtu = self.req(c, "size", |v| match v.parse::<u32>() {
                        Ok(s) if (68..=65535).contains(&s) => Ok(s),
                        _ => Err(format!("MTU {v:?} is out of range: must be 68 to 65535")),
                    });
                }
                "ip" => {
                    let v6 = c.attribute("family") == Some("ipv6")
                        || c.attribute("address").is_some_and(|a| a.contains(':'));
                    if v6 {
                        self.warn(
                            c,
                            "IPv6 is not supported by hvnet yet: this <ip> is skipped",
                        );
                    } else if let Some((first, _, _)) = ip {
                        let line = self.pos(first.range().start).0;
                        self.warn(
                            c,
                            format!("hvnet takes one IPv4 address per network: only the <ip> of line {line} is imported"),
                        );
                    } else if let Some(got) = self.ip(c) {
                        ip = Some((c, got.0, got.1));
                    }
                }
                other => self.warn(c, format!("<{other}> has no hvnet equivalent: skipped")),
            }
        }
        let Some(name) = name else {
            self.err(root, "missing <name>");
            return None;
        };
        let bridge = match bridge {
            Some(b) => b?,
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
        Some(LibvirtNetwork {
            name,
            forward,
            bridge,
            mac,
            mtu,
            address,
            dhcp,
        })
    }

    fn forward(&mut self, f: Node<'_, '_>) -> Option<Forward> {
        let mode = match f.attribute("mode").map(str::trim) {
            None | Some("nat") => ForwardMode::Nat,
            Some("route") => ForwardMode::Route,
            Some("open") => ForwardMode::Open,
            Some(m @ ("bridge" | "private" | "vepa" | "passthrough" | "hostdev")) => {
                self.err_attr(
                    f,
                    "mode",
                    format!("forward mode {m:?} is not supported by hvnet (nat, route, open, or no <forward> for isolated)"),
                );
                return None;
            }
            Some(m) => {
                self.err_attr(
                    f,
                    "mode",
                    format!("unknown forward mode {m:?}: expected nat, route or open (or no <forward> for an isolated network)"),
                );
                return None;
            }
        };
        let dev = self.attr(f, "dev", |v| IfName::new(v).map_err(|e| e.to_string()));
        if dev.is_some() && mode == ForwardMode::Open {
            self.warn(f, "dev is ignored with forward mode open");
        }
        let mut nat_ports = None;
        for c in f.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "nat" if mode == ForwardMode::Nat => {
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
                            other => self.warn(
                                p,
                                format!("<{other}> (NAT address range or IPv6 NAT) is not supported by hvnet: skipped"),
                            ),
                        }
                    }
                }
                other => self.warn(c, format!("<{other}> is not used by hvnet here: skipped")),
            }
        }
        Some(Forward {
            mode,
            dev: if mode == ForwardMode::Open { None } else { dev },
            nat_ports,
        })
    }

    fn bridge(&mut self, b: Node<'_, '_>) -> Option<Bridge> {
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
        let mut dhcp = None;
        for c in ip.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "dhcp" if dhcp.is_none() => dhcp = Some(self.dhcp(c, cidr)),
                other => self.warn(c, format!("<{other}> has no hvnet equivalent: skipped")),
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
                        self.warn(
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
                    for l in c.children().filter(Node::is_element) {
                        if l.tag_name().name() == "lease" {
                            out.lease_time = self.lease(l);
                        }
                    }
                }
                "host" => {
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
                        self.warn(
                            c,
                            format!("a <host> without mac (matched by name) has no hvnet equivalent: hvnet reserves addresses by MAC; {ip} skipped"),
                        );
                        continue;
                    }
                    if let Some(n) = name.as_deref().filter(|n| !is_dns_name(n)) {
                        self.warn(
                            c,
                            format!("host name {n:?} is not a DNS name (letters, digits, '-' and '.'), which hvnet requires: name skipped"),
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
                other => self.warn(c, format!("<{other}> has no hvnet equivalent: skipped")),
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
        let secs = match unit {
            "s" => expiry,
            "m" => expiry.saturating_mul(60),
            _ => expiry.saturating_mul(3600),
        };
        Some(if expiry == 0 {
            "infinite".into()
        } else if secs < MIN_LEASE_SECS {
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

/// A TOML basic string.
fn q(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(o, "\\u{:04X}", u32::from(c));
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Emits the TOML (the virtual-networks config) for `n`.
pub fn to_toml(n: &LibvirtNetwork, source: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# hvnet config imported from {} (libvirt network {:?}) by `hvnet import libvirt-network`.",
        source.replace(['\n', '\r'], " "),
        n.name
    );
    o.push_str(
        "# Needs hvnet with virtual networks (kind = \"nat\" | \"routed\" | \"open\", [network.dhcp]):\n\
         # older versions reject this file.\n",
    );
    let _ = writeln!(
        o,
        "# Attach guests with [[guest]] and [[guest.nic]] network = {}.",
        q(&n.name)
    );
    o.push_str("\n[[network]]\n");
    let _ = writeln!(o, "name = {}", q(&n.name));
    let kind = match (n.forward.mode, n.address) {
        (ForwardMode::Isolated, None) => "internal",
        (m, _) => m.kind(),
    };
    let _ = writeln!(o, "kind = {}", q(kind));
    let _ = writeln!(o, "bridge = {}", q(&n.bridge.name));
    if let Some(a) = n.address {
        let _ = writeln!(o, "address = {}", q(&a.to_string()));
    }
    if let Some(m) = n.mtu {
        let _ = writeln!(o, "mtu = {m}");
    }
    if n.bridge.stp {
        o.push_str("stp = true\n");
        if n.bridge.delay < 2 {
            let _ = writeln!(
                o,
                "forward_delay = 2  # libvirt delay='{}': with STP the kernel allows 2 to 30 s",
                n.bridge.delay
            );
        } else {
            let _ = writeln!(o, "forward_delay = {}", n.bridge.delay);
        }
    } else if n.bridge.delay > 0 {
        let _ = writeln!(o, "forward_delay = {}", n.bridge.delay);
    }
    if let Some(m) = n.mac {
        let _ = writeln!(o, "mac = {}", q(&m.to_string()));
    }
    if let Some(d) = &n.forward.dev {
        let _ = writeln!(o, "uplink = {}", q(d));
    }
    if let Some((s, e)) = n.forward.nat_ports {
        let _ = writeln!(o, "nat_ports = {}", q(&format!("{s}-{e}")));
    }
    if let Some(d) = &n.dhcp {
        o.push_str("\n[network.dhcp]\n");
        if let Some(r) = d.range {
            let _ = writeln!(o, "range = {}", q(&r.to_string()));
        } else {
            o.push_str("range = \"none\"  # no <range>: static hosts only\n");
        }
        if let Some(l) = &d.lease_time {
            let _ = writeln!(o, "lease_time = {}", q(l));
        }
        for h in &d.hosts {
            // Hosts without a MAC are dropped (with a warning) when reading.
            let Some(m) = h.mac else { continue };
            o.push_str("\n[[network.dhcp.host]]\n");
            let _ = writeln!(o, "mac = {}", q(&m.to_string()));
            let _ = writeln!(o, "ip = {}", q(&h.ip.to_string()));
            if let Some(name) = &h.name {
                let _ = writeln!(o, "name = {}", q(name));
            }
        }
    }
    o
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
            Err(e) => e.iter().map(|e| e.in_file("t.xml")).collect(),
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
             # Needs hvnet with virtual networks (kind = \"nat\" | \"routed\" | \"open\", [network.dhcp]):\n\
             # older versions reject this file.\n\
             # Attach guests with [[guest]] and [[guest.nic]] network = \"natntw\".\n\
             \n\
             [[network]]\n\
             name = \"natntw\"\n\
             kind = \"nat\"\n\
             bridge = \"virbr1\"\n\
             address = \"192.168.100.1/24\"\n\
             stp = true\n\
             forward_delay = 2  # libvirt delay='0': with STP the kernel allows 2 to 30 s\n\
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
             # Needs hvnet with virtual networks (kind = \"nat\" | \"routed\" | \"open\", [network.dhcp]):\n\
             # older versions reject this file.\n\
             # Attach guests with [[guest]] and [[guest.nic]] network = \"hostntw\".\n\
             \n\
             [[network]]\n\
             name = \"hostntw\"\n\
             kind = \"isolated\"\n\
             bridge = \"virbr2\"\n\
             address = \"192.168.110.1/24\"\n\
             stp = true\n\
             forward_delay = 2  # libvirt delay='0': with STP the kernel allows 2 to 30 s\n\
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
        assert!(!i.toml.contains("\n[network.dhcp]\n"));
        let n = ok(&net(""));
        assert!(n.toml.contains("kind = \"internal\"\n"));
        // <forward> without mode is nat.
        let d = ok(&net(&format!("<forward/>{ip}")));
        assert!(d.toml.contains("kind = \"nat\"\n"));
    }

    #[test]
    fn ipv6_skipped_with_warning() {
        let out = ok(&net(
            "<ip address='10.3.0.1' prefix='24'/>\n<ip family='ipv6' address='fd00::1' prefix='64'/>\n",
        ));
        assert_eq!(out.warnings.len(), 1);
        assert_eq!(
            out.warnings[0].in_file("t.xml"),
            "t.xml:5:1: warning: network/ip: IPv6 is not supported by hvnet yet: this <ip> is skipped"
        );
        assert!(out.toml.contains("address = \"10.3.0.1/24\""));
        assert!(!out.toml.contains("fd00"));
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
            "is not supported by hvnet",
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
                "[network.dhcp]\nrange = \"none\"  # no <range>: static hosts only\n\n\
                 [[network.dhcp.host]]\nmac = \"52:54:00:aa:bb:cc\"\nip = \"10.1.0.5\"\n"
            ),
            "{}",
            out.toml
        );
        let w: Vec<String> = out.warnings.iter().map(|w| w.in_file("t.xml")).collect();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].starts_with(
                "t.xml:6:1: warning: network/ip/dhcp/host: host name \"vm_1\" is not a DNS name"
            ),
            "{w:?}"
        );
        assert!(
            w[1].starts_with("t.xml:7:1: warning: network/ip/dhcp/host: a <host> without mac"),
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

    #[test]
    fn bridge_name_error_mentions_length() {
        let e = errs("<network>\n<name>x</name>\n<bridge name='this-is-too-long0'/>\n</network>");
        assert!(e[0].contains("15"), "{e:?}");
    }
}
