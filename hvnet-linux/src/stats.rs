//! Traffic counters of the links of the current network namespace, for
//! `hvnet stats`: what `ip -s link` and `tc -s qdisc` report, read in three
//! kinds of rtnetlink dumps and put together per link.
//!
//! A link's drops are its own (`rx_dropped`, `tx_dropped`) plus those of
//! hvnet's rate-limiting `tbf` qdiscs for its traffic (see
//! [`LinkCounters`]): packets a rate limit threw away never reach the
//! device's counters.
//!
//! ```no_run
//! use hvnet_linux::netlink::Rtnl;
//!
//! let mut rtnl = Rtnl::open()?;
//! let before = hvnet_linux::stats::sample(&mut rtnl)?;
//! std::thread::sleep(std::time::Duration::from_secs(1));
//! let after = hvnet_linux::stats::sample(&mut rtnl)?;
//! let secs = after.taken.duration_since(before.taken).as_secs_f64();
//! for l in &after.links {
//!     if let Some(b) = before.links.iter().find(|b| b.ifindex == l.ifindex) {
//!         let rx = l.stats.rx_bytes.saturating_sub(b.stats.rx_bytes);
//!         println!("{}: {:.0} bit/s received", l.name, rx as f64 * 8.0 / secs);
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeSet, HashMap};

use hvnet_core::state::Owner;
use std::time::{Duration, Instant};

use hvnet_core::op::HVNET_QDISC_HANDLE;

use crate::netlink::consts::{TC_H_INGRESS, TC_H_INGRESS_QDISC, TC_H_ROOT};
use crate::netlink::{Link, LinkStats, MirredAction, NlError, Qdisc, Rtnl};

/// The counters of one link at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkCounters {
    /// Interface index (a link deleted and made again gets a new one, with
    /// counters starting from zero).
    pub ifindex: u32,
    /// Interface name.
    pub name: String,
    /// Interface alias (`hvnet:<owner>` on the links hvnet made), if set.
    pub alias: Option<String>,
    /// Ifindex of the bridge the link is a port of, if any.
    pub master: Option<u32>,
    /// Driver kind (`"bridge"`, `"veth"`, `"tun"`, ...; `None` for plain
    /// devices).
    pub kind: Option<String>,
    /// The device's counters (all zero if the kernel reported none).
    pub stats: LinkStats,
    /// Packets dropped by hvnet's `tbf` at the root of the device (handle
    /// [`HVNET_QDISC_HANDLE`], which limits what the device sends): traffic
    /// the host sends towards the guest.
    pub egress_qdisc_drops: u64,
    /// Packets dropped by hvnet's `tbf` at the root of the `ifb` device
    /// that this device's ingress qdisc redirects to (`mirred egress
    /// redirect`, hvnet's way of limiting what the device receives):
    /// traffic the guest sends towards the host.
    pub ingress_qdisc_drops: u64,
}

impl LinkCounters {
    /// Drops of both shaping qdiscs.
    pub fn qdisc_drops(&self) -> u64 {
        self.egress_qdisc_drops
            .saturating_add(self.ingress_qdisc_drops)
    }
}

/// The counters of every link of the namespace, and when they were read.
#[derive(Debug, Clone)]
pub struct Sample {
    /// When the link counters were read (just after the link dump); the
    /// time between two samples' `taken` is what rates divide by.
    pub taken: Instant,
    /// One entry per link, in ifindex order.
    pub links: Vec<LinkCounters>,
}

impl Sample {
    /// The link named `name`, if it exists.
    pub fn link(&self, name: &str) -> Option<&LinkCounters> {
        self.links.iter().find(|l| l.name == name)
    }
}

/// Reads the counters of every link of the network namespace `rtnl` was
/// opened in, with the drops of hvnet's `tbf` qdiscs for their traffic.
///
/// Costs one link dump, one qdisc dump and one filter dump per device with
/// an `ingress` qdisc. Links that appear or vanish between the dumps are
/// reported as the link dump saw them (without qdisc drops if their qdiscs
/// were gone).
pub fn sample(rtnl: &mut Rtnl) -> Result<Sample, NlError> {
    let links = rtnl.dump_links_with_stats()?;
    let taken = Instant::now();
    let qdiscs = rtnl.dump_qdiscs()?;
    let mut redirects = Vec::new();
    for q in qdiscs.iter().filter(|q| is_ingress(q)) {
        for f in rtnl.dump_filters(q.ifindex, TC_H_INGRESS_QDISC)? {
            if let Some(m) = f.mirred {
                if m.action == MirredAction::EgressRedirect {
                    redirects.push((q.ifindex, m.ifindex));
                }
            }
        }
    }
    Ok(Sample {
        taken,
        links: assemble(links, &qdiscs, &redirects),
    })
}

/// The `ingress` qdisc of a device (which holds the filters that see what
/// it receives).
fn is_ingress(q: &Qdisc) -> bool {
    q.parent == TC_H_INGRESS && q.kind == "ingress"
}

/// hvnet's tbf at the root of a device: handle [`HVNET_QDISC_HANDLE`]
/// (`4856:`). A root qdisc with another handle is someone else's and its
/// drops are not counted.
fn is_root_shaper(q: &Qdisc) -> bool {
    q.parent == TC_H_ROOT && q.handle == HVNET_QDISC_HANDLE && q.kind == "tbf"
}

/// Puts the link counters and the qdisc drops together. `redirects` are the
/// (device, target) pairs of the `mirred egress redirect` filters on
/// ingress qdiscs; several filters to one target count its drops once.
fn assemble(links: Vec<Link>, qdiscs: &[Qdisc], redirects: &[(u32, u32)]) -> Vec<LinkCounters> {
    let mut root_drops: HashMap<u32, u64> = HashMap::new();
    for q in qdiscs.iter().filter(|q| is_root_shaper(q)) {
        *root_drops.entry(q.ifindex).or_default() += u64::from(q.stats.drops);
    }
    let targets: BTreeSet<(u32, u32)> = redirects.iter().copied().collect();
    let mut out: Vec<LinkCounters> = links
        .into_iter()
        .map(|l| {
            let ingress_qdisc_drops = targets
                .iter()
                .filter(|(from, _)| *from == l.ifindex)
                .map(|(_, to)| root_drops.get(to).copied().unwrap_or(0))
                .sum();
            LinkCounters {
                ifindex: l.ifindex,
                egress_qdisc_drops: root_drops.get(&l.ifindex).copied().unwrap_or(0),
                ingress_qdisc_drops,
                name: l.name,
                alias: l.alias,
                master: l.master,
                kind: l.kind,
                stats: l.stats.unwrap_or_default(),
            }
        })
        .collect();
    out.sort_by_key(|l| l.ifindex);
    out
}

// ----- rows: what two samples say -----

/// One line of the table, one object of the JSON `links` array (fields in this order).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Row {
    /// Interface name.
    pub name: String,
    /// The hvnet owner (network or guest), if the link carries an hvnet tag.
    pub owner: Option<String>,
    /// Bytes the host side received (the guest sent).
    pub rx_bytes: u64,
    /// Bytes the host side sent (towards the guest).
    pub tx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// The device's receive drops.
    pub rx_dropped: u64,
    /// The device's transmit drops.
    pub tx_dropped: u64,
    /// Drops of hvnet's tbf qdiscs for this link (both directions).
    pub qdisc_drops: u64,
    /// Receive rate in bits/s over the interval; `None` for a link new in it.
    pub rx_bps: Option<u64>,
    /// Transmit rate in bits/s over the interval; `None` for a link new in it.
    pub tx_bps: Option<u64>,
}

impl Row {
    /// All drops: the device's both ways and the qdiscs'.
    pub fn drops(&self) -> u64 {
        self.rx_dropped
            .saturating_add(self.tx_dropped)
            .saturating_add(self.qdisc_drops)
    }
}

/// The names in `ifnames` that `sample` lacks, each once.
pub fn missing<'a>(sample: &Sample, ifnames: &'a [String]) -> Vec<&'a str> {
    let mut seen = BTreeSet::new();
    ifnames
        .iter()
        .filter(|n| sample.link(n).is_none() && seen.insert(n.as_str()))
        .map(String::as_str)
        .collect()
}

/// The hvnet owner named by a link's tag.
pub fn owner(l: &LinkCounters) -> Option<String> {
    l.alias
        .as_deref()
        .and_then(Owner::from_alias)
        .map(|o| o.name().to_string())
}

/// The links to show: those named (in that order, each once, the missing left out), else
/// the hvnet-owned links and the bridges they are ports of, each bridge followed by its
/// shown ports, then the links on no shown bridge; by name within each.
pub fn select<'a>(sample: &'a Sample, ifnames: &[String]) -> Vec<&'a LinkCounters> {
    if !ifnames.is_empty() {
        let mut seen = BTreeSet::new();
        return ifnames
            .iter()
            .filter(|n| seen.insert(n.as_str()))
            .filter_map(|n| sample.link(n))
            .collect();
    }
    let owned: Vec<&LinkCounters> = sample.links.iter().filter(|l| owner(l).is_some()).collect();
    let masters: BTreeSet<u32> = owned.iter().filter_map(|l| l.master).collect();
    let is_bridge = |l: &LinkCounters| masters.contains(&l.ifindex);
    let names: HashMap<u32, &str> = sample
        .links
        .iter()
        .map(|l| (l.ifindex, l.name.as_str()))
        .collect();
    let mut shown: Vec<&LinkCounters> = sample
        .links
        .iter()
        .filter(|l| owner(l).is_some() || is_bridge(l))
        .collect();
    // (0, bridge, 0 for the bridge / 1 for a port, name) or (1, "", 0, name) for the rest.
    let key = |l: &LinkCounters| -> (u8, String, u8, String) {
        if is_bridge(l) {
            return (0, l.name.clone(), 0, l.name.clone());
        }
        match l
            .master
            .filter(|m| masters.contains(m))
            .and_then(|m| names.get(&m))
        {
            Some(b) => (0, b.to_string(), 1, l.name.clone()),
            None => (1, String::new(), 0, l.name.clone()),
        }
    };
    shown.sort_by_cached_key(|l| key(l));
    shown
}

/// Bits per second from two byte counters `elapsed` apart, rounded; `None` if no time
/// passed or the counter went back (a 32-bit counter that wrapped).
pub fn rate_bps(before: u64, after: u64, elapsed: Duration) -> Option<u64> {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 || after < before {
        return None;
    }
    let bps = (after - before) as f64 * 8.0 / secs;
    Some(bps.round() as u64)
}

/// The rows of `cur`, with rates against `prev` (links are matched by ifindex: one made
/// again under the same name is new).
pub fn rows(prev: &Sample, cur: &Sample, ifnames: &[String]) -> Vec<Row> {
    let elapsed = cur.taken.saturating_duration_since(prev.taken);
    select(cur, ifnames)
        .into_iter()
        .map(|l| {
            let before = prev.links.iter().find(|p| p.ifindex == l.ifindex);
            let s = &l.stats;
            Row {
                name: l.name.clone(),
                owner: owner(l),
                rx_bytes: s.rx_bytes,
                tx_bytes: s.tx_bytes,
                rx_packets: s.rx_packets,
                tx_packets: s.tx_packets,
                rx_dropped: s.rx_dropped,
                tx_dropped: s.tx_dropped,
                qdisc_drops: l.qdisc_drops(),
                rx_bps: before.and_then(|b| rate_bps(b.stats.rx_bytes, s.rx_bytes, elapsed)),
                tx_bps: before.and_then(|b| rate_bps(b.stats.tx_bytes, s.tx_bytes, elapsed)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::{tc_handle, TcStats};

    fn link(ifindex: u32, name: &str, rx_bytes: u64) -> Link {
        Link {
            ifindex,
            name: name.to_string(),
            stats: Some(LinkStats {
                rx_bytes,
                ..LinkStats::default()
            }),
            ..Link::default()
        }
    }

    fn qdisc(ifindex: u32, parent: u32, kind: &str, drops: u32) -> Qdisc {
        Qdisc {
            ifindex,
            handle: HVNET_QDISC_HANDLE,
            parent,
            kind: kind.to_string(),
            stats: TcStats {
                drops,
                ..TcStats::default()
            },
            ..Qdisc::default()
        }
    }

    #[test]
    fn drops_of_root_shapers_and_redirect_targets() {
        let links = vec![
            link(9, "ifb-web", 0),
            link(7, "tap-web", 100),
            link(8, "tap-db", 200),
            Link {
                stats: None,
                ..link(3, "lo", 0)
            },
        ];
        let qdiscs = [
            qdisc(7, TC_H_ROOT, "tbf", 5),
            qdisc(7, TC_H_INGRESS, "ingress", 0),
            qdisc(9, TC_H_ROOT, "tbf", 40),
            // Not a tbf, not at the root, or not hvnet's: not counted.
            qdisc(8, TC_H_ROOT, "htb", 1000),
            qdisc(8, tc_handle(1, 0x10), "tbf", 1000),
            Qdisc {
                handle: tc_handle(1, 0),
                ..qdisc(8, TC_H_ROOT, "tbf", 1000)
            },
        ];
        // Two filters redirecting to the same ifb count its drops once.
        let out = assemble(links, &qdiscs, &[(7, 9), (7, 9)]);
        let names: Vec<&str> = out.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["lo", "tap-web", "tap-db", "ifb-web"]);
        let web = &out[1];
        assert_eq!(web.stats.rx_bytes, 100);
        assert_eq!((web.egress_qdisc_drops, web.ingress_qdisc_drops), (5, 40));
        assert_eq!(web.qdisc_drops(), 45);
        assert_eq!(out[2].qdisc_drops(), 0);
        assert_eq!(out[3].egress_qdisc_drops, 40);
        assert_eq!(out[0].stats, LinkStats::default());
    }
}

#[cfg(test)]
mod row_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    fn link(ifindex: u32, name: &str, alias: Option<&str>, master: Option<u32>) -> LinkCounters {
        LinkCounters {
            ifindex,
            name: name.into(),
            alias: alias.map(String::from),
            master,
            ..LinkCounters::default()
        }
    }

    fn with_bytes(mut l: LinkCounters, rx: u64, tx: u64) -> LinkCounters {
        l.stats = LinkStats {
            rx_bytes: rx,
            tx_bytes: tx,
            rx_packets: rx / 100,
            tx_packets: tx / 100,
            rx_dropped: 1,
            tx_dropped: 2,
            ..LinkStats::default()
        };
        l
    }

    fn sample(taken: Instant, links: Vec<LinkCounters>) -> Sample {
        Sample { taken, links }
    }

    #[test]
    fn rates() {
        let s = Duration::from_secs(1);
        assert_eq!(rate_bps(0, 0, s), Some(0));
        assert_eq!(rate_bps(1000, 2250, s), Some(10_000));
        // Divided by the time that passed, rounded.
        assert_eq!(rate_bps(0, 1000, Duration::from_millis(500)), Some(16_000));
        assert_eq!(rate_bps(0, 1, Duration::from_millis(3)), Some(2667));
        assert_eq!(rate_bps(0, u64::MAX, s), Some(u64::MAX));
        // No time, or a counter that went back: unknown.
        assert_eq!(rate_bps(0, 10, Duration::ZERO), None);
        assert_eq!(rate_bps(10, 9, s), None);
    }

    #[test]
    fn rows_match_links_by_ifindex() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(500);
        let prev = sample(
            t0,
            vec![
                with_bytes(link(5, "br0", Some("hvnet:lan"), None), 1000, 0),
                with_bytes(link(6, "tap-web", Some("hvnet:web"), Some(5)), 0, 0),
                // Deleted during the interval and made again under the same name.
                with_bytes(link(7, "tap-db", Some("hvnet:db"), Some(5)), 5000, 5000),
            ],
        );
        let cur = sample(
            t1,
            vec![
                with_bytes(link(5, "br0", Some("hvnet:lan"), None), 1000, 0),
                with_bytes(link(6, "tap-web", Some("hvnet:web"), Some(5)), 12_500, 625),
                with_bytes(link(9, "tap-db", Some("hvnet:db"), Some(5)), 100, 100),
            ],
        );
        let rows = rows(&prev, &cur, &[]);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["br0", "tap-db", "tap-web"]);
        assert_eq!((rows[0].rx_bps, rows[0].tx_bps), (Some(0), Some(0)));
        assert_eq!((rows[1].rx_bps, rows[1].tx_bps), (None, None));
        assert_eq!(
            (rows[2].rx_bps, rows[2].tx_bps),
            (Some(200_000), Some(10_000))
        );
        assert_eq!(rows[2].owner.as_deref(), Some("web"));
        assert_eq!((rows[2].rx_bytes, rows[2].rx_packets), (12_500, 125));
        assert_eq!(rows[2].drops(), 3);
    }

    #[test]
    fn default_selection_is_owned_links_and_their_bridges() {
        let t = Instant::now();
        let s = sample(
            t,
            vec![
                link(1, "lo", None, None),
                link(2, "eth0", None, None),
                // A bridge hvnet does not own, with a guest port: shown.
                link(3, "userbr", Some("lab uplink"), None),
                link(4, "vif5.0", Some("hvnet:web"), Some(3)),
                link(5, "usertap", None, Some(3)),
                link(6, "hvbr0", Some("hvnet:lan"), None),
                link(8, "tap-b", Some("hvnet:b"), Some(6)),
                link(7, "tap-a", Some("hvnet:a"), Some(6)),
                link(9, "loose", Some("hvnet:x"), None),
                // A port of a master that is gone.
                link(10, "aaa-port", Some("hvnet:y"), Some(99)),
                link(11, "foreign", Some("hvnet:"), None),
            ],
        );
        let names: Vec<&str> = select(&s, &[]).iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["hvbr0", "tap-a", "tap-b", "userbr", "vif5.0", "aaa-port", "loose"]
        );
        // Named links: in the order given, once, whoever owns them; missing ones reported.
        let ask: Vec<String> = ["usertap", "lo", "usertap", "nope", "nope"]
            .map(String::from)
            .to_vec();
        let names: Vec<&str> = select(&s, &ask).iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["usertap", "lo"]);
        assert_eq!(missing(&s, &ask), ["nope"]);
        assert!(missing(&s, &[]).is_empty());
    }
}
