//! Counters: [`LinkStats`] (`IFLA_STATS64`) and [`TcStats`] (the
//! `TCA_STATS2` of qdiscs and classes).

use super::attrs::{get_u32, get_u64, Attrs};
use super::consts::{TCA_STATS, TCA_STATS2, TCA_STATS_BASIC, TCA_STATS_PKT64, TCA_STATS_QUEUE};

/// Interface counters, from `IFLA_STATS64` (or the 32-bit `IFLA_STATS` on
/// kernels without it).
///
/// Only reported by [`Rtnl::dump_links_with_stats`](super::Rtnl::dump_links_with_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Received packets dropped (no buffer space, unknown protocol, ...).
    pub rx_dropped: u64,
    /// Packets dropped on transmission.
    pub tx_dropped: u64,
    /// Bad packets received.
    pub rx_errors: u64,
    /// Packet transmission errors.
    pub tx_errors: u64,
}

/// Parses `struct rtnl_link_stats64`: eight leading `u64`s, in the order
/// rx/tx packets, rx/tx bytes, rx/tx errors, rx/tx dropped.
pub(crate) fn parse_link_stats64(p: &[u8]) -> Option<LinkStats> {
    from_fields(|i| get_u64(p.get(i * 8..)?))
}

/// Parses `struct rtnl_link_stats`: the same fields as `u32`s.
pub(crate) fn parse_link_stats32(p: &[u8]) -> Option<LinkStats> {
    from_fields(|i| get_u32(p.get(i * 4..)?).map(u64::from))
}

/// The eight leading counters, in the kernel's order, read by `field(index)`.
fn from_fields(field: impl Fn(usize) -> Option<u64>) -> Option<LinkStats> {
    Some(LinkStats {
        rx_packets: field(0)?,
        tx_packets: field(1)?,
        rx_bytes: field(2)?,
        tx_bytes: field(3)?,
        rx_errors: field(4)?,
        tx_errors: field(5)?,
        rx_dropped: field(6)?,
        tx_dropped: field(7)?,
    })
}

/// Counters of a qdisc or class (what `tc -s` prints as `Sent ... bytes
/// ... pkt (dropped ..., overlimits ... requeues ...)`).
///
/// The kernel counts a packet when it leaves the qdisc (for tbf and htb,
/// once it is sent); drops include packets refused because the queue was
/// full or larger than the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcStats {
    /// Bytes sent.
    pub bytes: u64,
    /// Packets sent.
    pub packets: u64,
    /// Packets dropped.
    pub drops: u32,
    /// Times the qdisc or class was over its limit (had to delay a packet).
    pub overlimits: u32,
    /// Packets put back into the queue.
    pub requeues: u32,
    /// Packets queued now.
    pub qlen: u32,
    /// Bytes queued now.
    pub backlog: u32,
}

/// The counters among the top-level attributes of a qdisc or class
/// message: `TCA_STATS2` if present, else the legacy `TCA_STATS`; all zero
/// if neither is.
pub(crate) fn parse_tc_stats(attrs: &[u8]) -> TcStats {
    let mut legacy = None;
    for (ty, p) in Attrs::new(attrs) {
        match ty {
            TCA_STATS2 => return parse_stats2(p),
            TCA_STATS => legacy = parse_tc_stats_legacy(p),
            _ => {}
        }
    }
    legacy.unwrap_or_default()
}

/// `TCA_STATS2`: nested `gnet_stats_*` structures.
fn parse_stats2(data: &[u8]) -> TcStats {
    let mut s = TcStats::default();
    let mut pkt64 = None;
    for (ty, p) in Attrs::new(data) {
        match ty {
            // struct gnet_stats_basic { __u64 bytes; __u32 packets; }
            TCA_STATS_BASIC => {
                s.bytes = get_u64(p).unwrap_or(0);
                s.packets = p.get(8..).and_then(get_u32).map_or(0, u64::from);
            }
            // struct gnet_stats_queue { qlen, backlog, drops, requeues, overlimits }
            TCA_STATS_QUEUE => {
                let field = |i: usize| p.get(i * 4..).and_then(get_u32).unwrap_or(0);
                s.qlen = field(0);
                s.backlog = field(1);
                s.drops = field(2);
                s.requeues = field(3);
                s.overlimits = field(4);
            }
            TCA_STATS_PKT64 => pkt64 = get_u64(p),
            _ => {}
        }
    }
    if let Some(packets) = pkt64 {
        s.packets = packets;
    }
    s
}

/// `struct tc_stats { __u64 bytes; __u32 packets, drops, overlimits, bps,
/// pps, qlen, backlog; }`.
fn parse_tc_stats_legacy(p: &[u8]) -> Option<TcStats> {
    let field = |off: usize| p.get(off..).and_then(get_u32);
    Some(TcStats {
        bytes: get_u64(p)?,
        packets: u64::from(field(8)?),
        drops: field(12)?,
        overlimits: field(16)?,
        requeues: 0,
        qlen: field(28).unwrap_or(0),
        backlog: field(32).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::super::attrs::MsgBuilder;
    use super::super::consts::NLMSG_HDRLEN;
    use super::*;

    fn attrs(build: impl FnOnce(&mut MsgBuilder<'_>)) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut m = MsgBuilder::new(&mut buf, 0, 0, 0);
        build(&mut m);
        assert_eq!(m.finish(), Ok(()));
        buf.split_off(NLMSG_HDRLEN)
    }

    #[test]
    fn link_stats_64_and_32() {
        let words: Vec<u64> = (1..=24).collect();
        let p64: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let want = LinkStats {
            rx_packets: 1,
            tx_packets: 2,
            rx_bytes: 3,
            tx_bytes: 4,
            rx_errors: 5,
            tx_errors: 6,
            rx_dropped: 7,
            tx_dropped: 8,
        };
        assert_eq!(parse_link_stats64(&p64), Some(want));
        assert_eq!(parse_link_stats64(&p64[..63]), None);
        let p32: Vec<u8> = (1..=24u32).flat_map(|w| w.to_ne_bytes()).collect();
        assert_eq!(parse_link_stats32(&p32), Some(want));
        assert_eq!(parse_link_stats32(&p32[..31]), None);
    }

    #[test]
    fn stats2_preferred_and_pkt64() {
        let mut basic = 1_000_000u64.to_ne_bytes().to_vec();
        basic.extend(7u32.to_ne_bytes());
        basic.extend([0; 4]);
        let queue: Vec<u8> = [1u32, 2, 3, 4, 5]
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect();
        let data = attrs(|m| {
            let legacy = [9u8; 40];
            m.attr(TCA_STATS, &legacy);
            let n = m.begin_nest(TCA_STATS2);
            m.attr(TCA_STATS_BASIC, &basic)
                .attr(TCA_STATS_QUEUE, &queue);
            m.u64(TCA_STATS_PKT64, 5_000_000_000);
            m.end_nest(n);
        });
        assert_eq!(
            parse_tc_stats(&data),
            TcStats {
                bytes: 1_000_000,
                packets: 5_000_000_000,
                drops: 3,
                overlimits: 5,
                requeues: 4,
                qlen: 1,
                backlog: 2,
            }
        );
    }

    #[test]
    fn legacy_stats_and_garbage() {
        let mut legacy = 42u64.to_ne_bytes().to_vec();
        for w in [3u32, 1, 2, 0, 0, 6, 7] {
            legacy.extend(w.to_ne_bytes());
        }
        let data = attrs(|m| {
            m.attr(TCA_STATS, &legacy);
        });
        let s = parse_tc_stats(&data);
        assert_eq!((s.bytes, s.packets, s.drops, s.overlimits), (42, 3, 1, 2));
        assert_eq!((s.qlen, s.backlog), (6, 7));
        // Truncated structures are zeros, not panics.
        let data = attrs(|m| {
            let n = m.begin_nest(TCA_STATS2);
            m.attr(TCA_STATS_BASIC, &[1, 2, 3])
                .attr(TCA_STATS_QUEUE, &[1]);
            m.end_nest(n);
        });
        assert_eq!(parse_tc_stats(&data), TcStats::default());
        assert_eq!(parse_tc_stats(&[1, 2, 3]), TcStats::default());
    }
}
