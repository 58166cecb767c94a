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
use std::time::Instant;

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
