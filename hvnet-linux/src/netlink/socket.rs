//! [`Rtnl`]: a `NETLINK_ROUTE` socket (neli's [`NlSocket`]) with dumps, a
//! link lookup and pipelined write requests.

use std::fmt;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use neli::consts::socket::{Msg, NlFamily};
use neli::socket::NlSocket;
use neli::utils::Groups;

use super::addr::{parse_addr, Addr};
use super::attrs::{
    ifinfomsg, parse_done, parse_error, Ack, IfAddrMsg, Messages, MsgBuilder, RtMsg, TcMsg,
};
use super::consts::{
    AF_INET, AF_UNSPEC, IFLA_ALT_IFNAME, IFLA_EXT_MASK, IFLA_IFNAME, IFLA_MASTER, IFNAMSIZ,
    NETLINK_CAP_ACK, NETLINK_GET_STRICT_CHK, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_DUMP_INTR, NLM_F_ECHO, NLM_F_REQUEST, RTEXT_FILTER_SKIP_STATS, RTM_GETADDR, RTM_GETLINK,
    RTM_GETQDISC, RTM_GETROUTE, RTM_GETTCLASS, RTM_GETTFILTER, RTM_NEWADDR, RTM_NEWLINK,
    RTM_NEWQDISC, RTM_NEWROUTE, RTM_NEWTCLASS, RTM_NEWTFILTER, TC_H_INGRESS, TC_H_ROOT,
};
use super::link::{parse_link, parse_link_with_stats, Link};
use super::request::Request;
use super::route::{parse_route, Route};
use super::tc::{parent_str, parse_class, parse_filter, parse_qdisc, Qdisc, TcClass, TcFilter};
use super::NlError;

/// Most bytes of requests packed into one `sendmsg`.
const SEND_CHUNK: usize = 32 * 1024;
/// Receive buffer. The kernel caps the datagrams it builds for dumps at
/// 32 KiB (unless one message is larger, which [`Rtnl::recv_peek`]
/// handles); acks are a few hundred bytes (`NETLINK_CAP_ACK`).
const RECV_BUF: usize = 64 * 1024;
/// Socket receive buffer asked for: room for thousands of queued acks.
const SO_RCVBUF_WANTED: libc::c_int = 4 << 20;
/// Generous upper bound of the kernel memory (`skb->truesize`) one queued
/// ack costs, extended ACK included; sizes the request batches.
const ACK_TRUESIZE: usize = 2048;
/// Bounds of the number of requests in flight at once.
const MIN_BATCH: usize = 8;
const MAX_BATCH: usize = 4096;
/// Safety net against a lost reply: the kernel answers `NETLINK_ROUTE`
/// requests synchronously, so a receive never has to wait for long.
const RECV_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a dump interrupted by concurrent changes is restarted.
const DUMP_ATTEMPTS: usize = 5;

/// An rtnetlink (`NETLINK_ROUTE`) socket in the network namespace of the
/// thread that opened it; it stays there whichever thread uses it later.
///
/// Extended ACKs are enabled, so errors carry the kernel's explanation.
/// Requests are numbered by a sequence counter; replies that do not belong
/// to the current operation are ignored. Operations block; a reply that
/// never comes (which the kernel does not do) fails after 30 s.
///
/// ```no_run
/// use hvnet_linux::netlink::{LinkChange, Request, Rtnl};
///
/// let mut rtnl = Rtnl::open()?;
/// let results = rtnl.execute(&[Request::NewBridge {
///     name: "virbr2".into(),
///     mtu: None,
///     mac: None,
///     stp: Some(false),
///     forward_delay_cs: Some(0),
///     group: None,
/// }]);
/// for result in results {
///     result?;
/// }
/// let br = rtnl.get_link("virbr2")?.expect("just created");
/// let up = Request::SetLink {
///     ifindex: br.ifindex,
///     change: LinkChange { up: Some(true), ..LinkChange::default() },
/// };
/// rtnl.execute(&[up]).remove(0)?;
/// # Ok::<(), hvnet_linux::netlink::NlError>(())
/// ```
pub struct Rtnl {
    sock: NlSocket,
    seq: u32,
    writes: u64,
    /// Most requests in flight (and acks queued) at once.
    max_batch: usize,
    tx: Vec<u8>,
    rx: Vec<u8>,
}

impl fmt::Debug for Rtnl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rtnl")
            .field("fd", &self.sock.as_raw_fd())
            .field("seq", &self.seq)
            .field("writes", &self.writes)
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

/// `setsockopt(2)` with a plain-data value.
fn setsockopt<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<T>())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `value` points to a live, initialised `T` of exactly `len`
    // bytes for the duration of the call, and the kernel only reads it.
    let rc = unsafe { libc::setsockopt(fd, level, name, (value as *const T).cast(), len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `getsockopt(2)` of an `int` option.
fn getsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live locals, writable for the sizes
    // passed; the kernel writes at most `len` bytes to `value`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A device index for a dump's `tcm_ifindex`: within `i32`.
fn dump_index(ifindex: u32, context: &str) -> Result<i32, NlError> {
    i32::try_from(ifindex)
        .map_err(|_| NlError::new(libc::EINVAL, context).with_ext_ack("invalid ifindex"))
}

/// The body of an `RTM_GETLINK` of link `name` (names of 16 bytes or more are
/// alternative names) with `IFLA_EXT_MASK` `ext_mask`.
fn get_link_request(m: &mut MsgBuilder<'_>, name: &str, ext_mask: u32) {
    let attr = if name.len() < IFNAMSIZ {
        IFLA_IFNAME
    } else {
        IFLA_ALT_IFNAME
    };
    m.bytes(&ifinfomsg(0, 0, 0))
        .str(attr, name)
        .u32(IFLA_EXT_MASK, ext_mask);
}

/// The error a failed ack or dump reports.
fn ack_error(ack: Ack, context: impl Into<String>) -> NlError {
    NlError {
        errno: ack.errno,
        ext_ack: ack.ext_ack,
        context: context.into(),
    }
}

/// The most links whose addresses [`Rtnl::dump_addrs_of_links`] asks for one by one.
const MAX_FILTERED_DUMPS: usize = 16;

impl Rtnl {
    /// Opens an rtnetlink socket in the calling thread's current network
    /// namespace, with extended ACKs, capped acks and a large receive buffer
    /// (forced beyond `net.core.rmem_max` when the caller has
    /// `CAP_NET_ADMIN`).
    pub fn open() -> Result<Rtnl, NlError> {
        const CONTEXT: &str = "open rtnetlink socket";
        let err = |e: io::Error| NlError::from_io(&e, CONTEXT);
        let sock = NlSocket::connect(NlFamily::Route, None, Groups::empty()).map_err(err)?;
        let fd = sock.as_raw_fd();
        sock.enable_ext_ack(true).map_err(err)?;
        // Error acks carry only the request's header, not its payload, so
        // every ack fits the receive buffer and costs little queue memory.
        setsockopt(fd, libc::SOL_NETLINK, NETLINK_CAP_ACK, &1).map_err(err)?;
        if setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &SO_RCVBUF_WANTED,
        )
        .is_err()
        {
            // Unprivileged: as much as net.core.rmem_max allows.
            setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &SO_RCVBUF_WANTED).map_err(err)?;
        }
        let rcvbuf = getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF).map_err(err)?;
        let timeout = libc::timeval {
            tv_sec: RECV_TIMEOUT.as_secs() as libc::time_t,
            tv_usec: 0,
        };
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout).map_err(err)?;
        let max_batch =
            (usize::try_from(rcvbuf).unwrap_or(0) / ACK_TRUESIZE).clamp(MIN_BATCH, MAX_BATCH);
        Ok(Rtnl {
            sock,
            seq: 1,
            writes: 0,
            max_batch,
            tx: Vec::with_capacity(SEND_CHUNK + 4096),
            rx: vec![0; RECV_BUF],
        })
    }

    /// Number of write requests sent so far by [`execute`](Self::execute)
    /// (dumps and lookups don't count).
    pub fn writes(&self) -> u64 {
        self.writes
    }

    fn next_seq(&mut self) -> u32 {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        seq
    }

    /// Sends `self.tx` as one datagram.
    fn send_tx(&self) -> io::Result<()> {
        let sent = self.sock.send(&self.tx, Msg::empty())?;
        if sent == self.tx.len() {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(libc::EMSGSIZE))
        }
    }

    /// `recv(2)` into `buf`, retried on `EINTR`; returns the datagram's full
    /// length (`MSG_TRUNC` semantics when `flags` has it).
    fn recv_into(sock: &NlSocket, buf: &mut [u8], flags: Msg) -> io::Result<usize> {
        loop {
            match sock.recv(&mut *buf, flags) {
                Ok((len, _)) => return Ok(len),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Receives one datagram of any size into `self.rx` and returns its
    /// length: peeks at its size first (the data lands in `rx` when it
    /// fits), then consumes it.
    fn recv_peek(&mut self) -> io::Result<usize> {
        let len = Self::recv_into(&self.sock, &mut self.rx, Msg::PEEK | Msg::TRUNC)?;
        if len <= self.rx.len() {
            // Already copied: just drop the datagram from the queue.
            Self::recv_into(&self.sock, &mut [], Msg::TRUNC)?;
        } else {
            self.rx.resize(len, 0);
            Self::recv_into(&self.sock, &mut self.rx, Msg::empty())?;
        }
        Ok(len)
    }

    /// Receives one datagram that is known to fit `self.rx` (an ack) and
    /// returns the number of bytes available.
    fn recv_ack(&mut self, flags: Msg) -> io::Result<usize> {
        let len = Self::recv_into(&self.sock, &mut self.rx, flags)?;
        Ok(len.min(self.rx.len()))
    }

    /// Lists all links of the namespace, without their counters
    /// ([`Link::stats`] is `None`; see [`dump_links_with_stats`](Self::dump_links_with_stats)).
    pub fn dump_links(&mut self) -> Result<Vec<Link>, NlError> {
        self.dump(
            RTM_GETLINK,
            &ifinfomsg(0, 0, 0),
            &[(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)],
            "dump links",
            RTM_NEWLINK,
            parse_link,
        )
    }

    /// Lists all links of the namespace with their counters
    /// ([`Link::stats`], from `IFLA_STATS64`).
    ///
    /// This costs no more than [`dump_links`](Self::dump_links): the kernel
    /// sends `IFLA_STATS64` either way (`RTEXT_FILTER_SKIP_STATS`, which
    /// both send, only leaves out the per-link IPv6 statistics, a quarter
    /// of the reply); the counters are just not parsed there, so that two
    /// dumps of unchanged links compare equal.
    pub fn dump_links_with_stats(&mut self) -> Result<Vec<Link>, NlError> {
        self.dump(
            RTM_GETLINK,
            &ifinfomsg(0, 0, 0),
            &[(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)],
            "dump links with statistics",
            RTM_NEWLINK,
            parse_link_with_stats,
        )
    }

    /// Lists the qdiscs of all devices of the namespace, with their
    /// parameters (tbf, htb) and counters (`tc -s qdisc show`). Default
    /// qdiscs the kernel attached by itself are included (handle 0, e.g.
    /// `noqueue`, `pfifo_fast`), except the invisible ones (`mq` children).
    pub fn dump_qdiscs(&mut self) -> Result<Vec<Qdisc>, NlError> {
        let hdr = TcMsg::default().to_bytes();
        self.dump(
            RTM_GETQDISC,
            &hdr,
            &[],
            "dump qdiscs",
            RTM_NEWQDISC,
            parse_qdisc,
        )
    }

    /// Lists the classes of a device, with their parameters (htb) and
    /// counters (`tc -s class show dev X`). A device that does not exist
    /// has none.
    pub fn dump_classes(&mut self, ifindex: u32) -> Result<Vec<TcClass>, NlError> {
        let context = format!("dump classes of ifindex {ifindex}");
        let hdr = TcMsg {
            ifindex: dump_index(ifindex, &context)?,
            ..TcMsg::default()
        };
        self.dump(
            RTM_GETTCLASS,
            &hdr.to_bytes(),
            &[],
            &context,
            RTM_NEWTCLASS,
            parse_class,
        )
    }

    /// Lists the filters attached to `parent` (a qdisc such as `ffff:` for
    /// the ingress qdisc or `1:` for an htb, or a class) of a device, of all
    /// priorities and chains (`tc filter show dev X parent P`). A missing
    /// device or parent has none.
    pub fn dump_filters(&mut self, ifindex: u32, parent: u32) -> Result<Vec<TcFilter>, NlError> {
        let context = format!("dump filters of ifindex {ifindex} ({})", parent_str(parent));
        let hdr = TcMsg {
            ifindex: dump_index(ifindex, &context)?,
            parent,
            ..TcMsg::default()
        };
        self.dump(
            RTM_GETTFILTER,
            &hdr.to_bytes(),
            &[],
            &context,
            RTM_NEWTFILTER,
            parse_filter,
        )
    }

    /// Lists all IPv4 and IPv6 addresses of the namespace.
    pub fn dump_addrs(&mut self) -> Result<Vec<Addr>, NlError> {
        self.dump_addrs_of(AF_UNSPEC, "dump addresses")
    }

    /// Lists the IPv4 and IPv6 addresses of the links `ifindexes` only. Each link is one
    /// dump that the kernel filters (`NETLINK_GET_STRICT_CHK`, Linux 4.20), so what it
    /// costs follows the links asked about, not the host's size: an unfiltered dump walks
    /// every device of both families, thousands on a hypervisor. A link that no longer
    /// exists has none. More than 16 links, or a kernel without strict checking, get one
    /// whole dump, filtered here.
    pub fn dump_addrs_of_links(&mut self, ifindexes: &[u32]) -> Result<Vec<Addr>, NlError> {
        let fd = self.sock.as_raw_fd();
        let wanted = |a: &Addr| ifindexes.contains(&a.ifindex);
        // Past a few links, one dump costs less than a round trip per link.
        if ifindexes.len() > MAX_FILTERED_DUMPS
            || setsockopt(fd, libc::SOL_NETLINK, NETLINK_GET_STRICT_CHK, &1).is_err()
        {
            let all = self.dump_addrs()?;
            return Ok(all.into_iter().filter(wanted).collect());
        }
        let mut found = Vec::new();
        let mut result = Ok(());
        for &ifindex in ifindexes {
            let context = format!("dump addresses of ifindex {ifindex}");
            match self.dump_addrs_with(AF_UNSPEC, ifindex, &context) {
                Ok(addrs) => found.extend(addrs),
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        // The socket's other requests (link dumps filtered by master, tc dumps) keep the
        // lenient checks they were written for.
        let reset = setsockopt(fd, libc::SOL_NETLINK, NETLINK_GET_STRICT_CHK, &0)
            .map_err(|e| NlError::from_io(&e, "reset netlink strict checking"));
        result.and(reset)?;
        // The kernel filtered already; a filter it ignored is applied here. In the order a
        // whole dump lists them: IPv4 first, by link.
        found.retain(wanted);
        found.sort_by_key(|a| (a.address.is_ipv6(), a.ifindex));
        Ok(found)
    }

    fn dump_addrs_of(&mut self, family: u8, context: &str) -> Result<Vec<Addr>, NlError> {
        self.dump_addrs_with(family, 0, context)
    }

    fn dump_addrs_with(
        &mut self,
        family: u8,
        index: u32,
        context: &str,
    ) -> Result<Vec<Addr>, NlError> {
        let hdr = IfAddrMsg {
            family,
            prefix_len: 0,
            flags: 0,
            scope: 0,
            index,
        };
        self.dump(
            RTM_GETADDR,
            &hdr.to_bytes(),
            &[],
            context,
            RTM_NEWADDR,
            parse_addr,
        )
    }

    /// Lists all IPv4 and IPv6 routes of the namespace, of all tables.
    pub fn dump_routes(&mut self) -> Result<Vec<Route>, NlError> {
        let hdr = RtMsg::default().to_bytes();
        self.dump(
            RTM_GETROUTE,
            &hdr,
            &[],
            "dump routes",
            RTM_NEWROUTE,
            parse_route,
        )
    }

    /// Lists the IPv4 addresses of the namespace (a dump of one family: the
    /// kernel does not walk the IPv6 ones, a link-local address per link).
    pub fn dump_ipv4_addrs(&mut self) -> Result<Vec<Addr>, NlError> {
        self.dump_addrs_of(AF_INET, "dump IPv4 addresses")
    }

    /// Lists the IPv4 routes of the namespace, of all tables (the IPv6 ones,
    /// several per link, are not walked).
    pub fn dump_ipv4_routes(&mut self) -> Result<Vec<Route>, NlError> {
        let hdr = RtMsg {
            family: AF_INET,
            ..RtMsg::default()
        };
        self.dump(
            RTM_GETROUTE,
            &hdr.to_bytes(),
            &[],
            "dump IPv4 routes",
            RTM_NEWROUTE,
            parse_route,
        )
    }

    /// Lists the ports of the bridge (or other master) with index `master`,
    /// without counters: a link dump the kernel filters by `IFLA_MASTER`.
    pub fn dump_ports(&mut self, master: u32) -> Result<Vec<Link>, NlError> {
        let context = format!("dump ports of ifindex {master}");
        self.dump(
            RTM_GETLINK,
            &ifinfomsg(0, 0, 0),
            &[
                (IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS),
                (IFLA_MASTER, master),
            ],
            &context,
            RTM_NEWLINK,
            parse_link,
        )
    }

    /// Looks links up by name, all requests in one datagram (as
    /// [`get_link`](Self::get_link) one by one, pipelined): the links that
    /// exist, in no particular order; a missing name is left out.
    pub fn get_links(&mut self, names: &[&str]) -> Result<Vec<Link>, NlError> {
        let mut found = Vec::new();
        // A lookup is ~40 bytes and its reply ~2 KiB: a few dozen per round.
        for chunk in names.chunks(16) {
            found.extend(self.lookups(
                chunk,
                (RTM_GETLINK, 0),
                |m, name| get_link_request(m, name, RTEXT_FILTER_SKIP_STATS),
                |name| format!("get link {name}"),
                RTM_NEWLINK,
                parse_link,
            )?);
        }
        Ok(found)
    }

    /// Looks links up by index, pipelined like [`get_links`](Self::get_links): the links
    /// that exist, in no particular order.
    pub fn get_links_by_index(&mut self, ifindices: &[u32]) -> Result<Vec<Link>, NlError> {
        let mut asks = Vec::with_capacity(ifindices.len());
        for &i in ifindices {
            asks.push(dump_index(i, "get link")?);
        }
        let mut found = Vec::new();
        for chunk in asks.chunks(16) {
            found.extend(self.lookups(
                chunk,
                (RTM_GETLINK, 0),
                |m, &ifindex| {
                    m.bytes(&ifinfomsg(ifindex, 0, 0))
                        .u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
                },
                |ifindex| format!("get link {ifindex}"),
                RTM_NEWLINK,
                parse_link,
            )?);
        }
        Ok(found)
    }

    /// The root and ingress qdiscs of the devices `ifindices` (`RTM_GETQDISC`
    /// of each parent, pipelined): what [`dump_qdiscs`](Self::dump_qdiscs)
    /// lists of them, without walking every device of the namespace. A
    /// device's default qdisc comes with handle 0; a missing one is left out.
    pub fn get_qdiscs(&mut self, ifindices: &[u32]) -> Result<Vec<Qdisc>, NlError> {
        let mut asks = Vec::new();
        for &i in ifindices {
            let ifindex = dump_index(i, "get qdiscs")?;
            asks.push((ifindex, TC_H_ROOT));
            asks.push((ifindex, TC_H_INGRESS));
        }
        let mut found = Vec::new();
        for chunk in asks.chunks(32) {
            // A found qdisc is sent as a notification: only to the requester with
            // NLM_F_ECHO, and not at all for the invisible built-in ones (noqueue), so
            // the ack is what ends each request.
            found.extend(self.lookups(
                chunk,
                (RTM_GETQDISC, NLM_F_ECHO),
                |m, &(ifindex, parent)| {
                    m.bytes(
                        &TcMsg {
                            ifindex,
                            parent,
                            ..TcMsg::default()
                        }
                        .to_bytes(),
                    );
                },
                |(ifindex, parent)| {
                    format!("get qdisc {} of ifindex {ifindex}", parent_str(*parent))
                },
                RTM_NEWQDISC,
                parse_qdisc,
            )?);
        }
        Ok(found)
    }

    /// Sends one request of type `ty.0` (extra flags `ty.1`, acked) per key
    /// (built by `build`) in one datagram and collects the `reply` type's
    /// answers until every request is acked; "no such object" answers
    /// (`ENODEV`, `ENOENT`) are left out, any other error fails (`context`
    /// names the key).
    fn lookups<K, T>(
        &mut self,
        keys: &[K],
        ty: (u16, u16),
        build: impl Fn(&mut MsgBuilder<'_>, &K),
        context: impl Fn(&K) -> String,
        reply_ty: u16,
        parse: fn(&[u8]) -> Option<T>,
    ) -> Result<Vec<T>, NlError> {
        let mut found = Vec::new();
        self.tx.clear();
        let mut pending = Vec::with_capacity(keys.len());
        for key in keys {
            let seq = self.next_seq();
            let flags = NLM_F_REQUEST | NLM_F_ACK | ty.1;
            let mut m = MsgBuilder::new(&mut self.tx, ty.0, flags, seq);
            build(&mut m, key);
            m.finish().map_err(|_| {
                NlError::new(libc::EINVAL, context(key)).with_ext_ack("cannot encode the request")
            })?;
            pending.push((seq, key));
        }
        self.send_tx()
            .map_err(|e| NlError::from_io(&e, "lookups"))?;
        while !pending.is_empty() {
            let len = self
                .recv_peek()
                .map_err(|e| NlError::from_io(&e, "lookups"))?;
            for msg in Messages::new(&self.rx[..len]) {
                let Some(at) = pending.iter().position(|(s, _)| *s == msg.seq) else {
                    continue; // a stale reply
                };
                let key = pending[at].1;
                match msg.ty {
                    NLMSG_ERROR => match parse_error(&msg) {
                        Some(ack) if matches!(ack.errno, 0 | libc::ENODEV | libc::ENOENT) => {
                            pending.swap_remove(at);
                        }
                        Some(ack) => return Err(ack_error(ack, context(key))),
                        None => {}
                    },
                    t if t == reply_ty => found.push(parse(msg.payload).ok_or_else(|| {
                        NlError::new(libc::EPROTO, context(key)).with_ext_ack("malformed reply")
                    })?),
                    _ => {}
                }
            }
        }
        Ok(found)
    }

    /// Runs a dump, restarting it if concurrent changes interrupted it.
    /// `attrs` are sent as `u32` attributes after the header (a link dump's
    /// `IFLA_EXT_MASK`, a filter such as `IFLA_MASTER`).
    pub(super) fn dump<T>(
        &mut self,
        ty: u16,
        header: &[u8],
        attrs: &[(u16, u32)],
        context: &str,
        reply_ty: u16,
        parse: fn(&[u8]) -> Option<T>,
    ) -> Result<Vec<T>, NlError> {
        for _ in 0..DUMP_ATTEMPTS {
            let seq = self.next_seq();
            self.tx.clear();
            let mut m = MsgBuilder::new(&mut self.tx, ty, NLM_F_REQUEST | NLM_F_DUMP, seq);
            m.bytes(header);
            for (ty, value) in attrs {
                m.u32(*ty, *value);
            }
            m.finish()
                .map_err(|_| NlError::new(libc::EINVAL, context))?;
            self.send_tx().map_err(|e| NlError::from_io(&e, context))?;

            let mut items = Vec::new();
            let mut interrupted = false;
            'recv: loop {
                let len = self
                    .recv_peek()
                    .map_err(|e| NlError::from_io(&e, context))?;
                for msg in Messages::new(&self.rx[..len]) {
                    if msg.seq != seq {
                        continue; // a stale reply
                    }
                    interrupted |= msg.flags & NLM_F_DUMP_INTR != 0;
                    match msg.ty {
                        NLMSG_DONE => {
                            let ack = parse_done(&msg);
                            if ack.errno != 0 {
                                return Err(ack_error(ack, context));
                            }
                            break 'recv;
                        }
                        NLMSG_ERROR => match parse_error(&msg) {
                            Some(ack) if ack.errno != 0 => return Err(ack_error(ack, context)),
                            _ => {}
                        },
                        t if t == reply_ty => items.extend(parse(msg.payload)),
                        _ => {}
                    }
                }
            }
            if !interrupted {
                return Ok(items);
            }
            tracing::debug!("{context}: interrupted by concurrent changes, restarting");
        }
        Err(NlError::new(libc::EAGAIN, context)
            .with_ext_ack("dump kept being interrupted by concurrent changes"))
    }

    /// Looks a link up by name (names of 16 bytes or more are looked up as
    /// alternative names). A missing link is `Ok(None)`.
    pub fn get_link(&mut self, name: &str) -> Result<Option<Link>, NlError> {
        self.get_link_as(name, RTEXT_FILTER_SKIP_STATS, parse_link)
    }

    /// [`Rtnl::get_link`] with another `IFLA_EXT_MASK` and parser (the VF list of a PF).
    pub(crate) fn get_link_as<T>(
        &mut self,
        name: &str,
        ext_mask: u32,
        parse: fn(&[u8]) -> Option<T>,
    ) -> Result<Option<T>, NlError> {
        let context = format!("get link {name}");
        let seq = self.next_seq();
        self.tx.clear();
        let mut m = MsgBuilder::new(&mut self.tx, RTM_GETLINK, NLM_F_REQUEST, seq);
        get_link_request(&mut m, name, ext_mask);
        m.finish().map_err(|_| {
            NlError::new(libc::EINVAL, context.as_str()).with_ext_ack("name contains a NUL byte")
        })?;
        self.send_tx()
            .map_err(|e| NlError::from_io(&e, context.as_str()))?;
        loop {
            let len = self
                .recv_peek()
                .map_err(|e| NlError::from_io(&e, context.as_str()))?;
            for msg in Messages::new(&self.rx[..len]) {
                if msg.seq != seq {
                    continue;
                }
                match msg.ty {
                    NLMSG_ERROR => match parse_error(&msg) {
                        Some(ack) if ack.errno == libc::ENODEV => return Ok(None),
                        Some(ack) if ack.errno != 0 => return Err(ack_error(ack, context)),
                        _ => {}
                    },
                    RTM_NEWLINK => {
                        return parse(msg.payload).map(Some).ok_or_else(|| {
                            NlError::new(libc::EPROTO, context.as_str())
                                .with_ext_ack("malformed RTM_NEWLINK reply")
                        });
                    }
                    _ => {}
                }
            }
        }
    }

    /// Executes write requests, pipelined, and returns one result per
    /// request, in request order.
    ///
    /// Requests are packed many per `sendmsg` (up to 32 KiB, and no more
    /// than the socket's receive buffer has room for acks), each with
    /// `NLM_F_ACK` and its own sequence number; the kernel processes every
    /// message of a batch even when earlier ones fail, so each outcome is
    /// reported separately. Requests are not transactional: later requests
    /// may depend on earlier ones (e.g. create a bridge, then enslave to it
    /// by ifindex, which needs the ifindex first) only across calls.
    ///
    /// A request that cannot be encoded (a name with a NUL byte, ifindex 0,
    /// group 0 for [`Request::DelGroup`]) fails with `EINVAL` without being
    /// sent. If a socket error loses acks, the affected requests fail with
    /// that errno; their outcome in the kernel is then unknown.
    pub fn execute(&mut self, reqs: &[Request]) -> Vec<Result<(), NlError>> {
        let mut results: Vec<Option<Result<(), NlError>>> = vec![None; reqs.len()];
        // slots[k]: index of the request whose message has sequence number
        // base + k (a request may take more than one message).
        let mut slots: Vec<usize> = Vec::with_capacity(self.max_batch.min(reqs.len()) + 1);
        let mut next = 0;
        while next < reqs.len() {
            // Pack a batch.
            self.tx.clear();
            slots.clear();
            let mut requests = 0u64;
            let base = self.seq;
            while next < reqs.len() && slots.len() < self.max_batch {
                let mark = self.tx.len();
                let seq = base.wrapping_add(slots.len() as u32);
                match reqs[next].encode(&mut self.tx, seq) {
                    Err(e) => results[next] = Some(Err(e)),
                    Ok(_) if self.tx.len() > SEND_CHUNK && !slots.is_empty() => {
                        self.tx.truncate(mark);
                        break;
                    }
                    Ok(messages) => {
                        slots.extend((0..messages).map(|_| next));
                        requests += 1;
                    }
                }
                next += 1;
            }
            self.seq = base.wrapping_add(slots.len() as u32);
            if slots.is_empty() {
                continue;
            }

            if let Err(e) = self.send_tx() {
                for &i in &slots {
                    results[i] = Some(Err(NlError::from_io(&e, reqs[i].to_string())));
                }
                continue;
            }
            self.writes += requests;
            self.collect_acks(base, &slots, reqs, &mut results);
        }
        results
            .into_iter()
            .zip(reqs)
            .map(|(r, req)| {
                r.unwrap_or_else(|| {
                    Err(NlError::new(libc::EIO, req.to_string()).with_ext_ack("no outcome"))
                })
            })
            .collect()
    }

    /// Receives the acks of a sent batch (`slots[k]` is the index of the
    /// request whose message has sequence number `base + k`). A request's
    /// result is its first error, or success once all its messages succeeded.
    fn collect_acks(
        &mut self,
        base: u32,
        slots: &[usize],
        reqs: &[Request],
        results: &mut [Option<Result<(), NlError>>],
    ) {
        let mut acked = vec![false; slots.len()];
        let mut pending = slots.len();
        // After an overrun the surviving acks are all queued already (the
        // kernel answers synchronously): collect them without blocking.
        let mut lost: Option<io::Error> = None;
        while pending > 0 {
            let flags = if lost.is_some() {
                Msg::DONTWAIT
            } else {
                Msg::empty()
            };
            let len = match self.recv_ack(flags) {
                Ok(len) => len,
                Err(e) if lost.is_none() && e.raw_os_error() == Some(libc::ENOBUFS) => {
                    tracing::warn!("rtnetlink receive buffer overrun: acks lost");
                    lost = Some(e);
                    continue;
                }
                Err(e) => {
                    let (errno, text) = match lost.take() {
                        Some(overrun) => (
                            overrun.raw_os_error().unwrap_or(libc::ENOBUFS),
                            "acknowledgement lost (receive buffer overrun); outcome unknown"
                                .to_owned(),
                        ),
                        None => (
                            e.raw_os_error().unwrap_or(libc::EIO),
                            format!("receiving the acknowledgement failed ({e}); outcome unknown"),
                        ),
                    };
                    for (&i, _) in slots.iter().zip(&acked).filter(|(_, &done)| !done) {
                        if !matches!(results[i], Some(Err(_))) {
                            results[i] = Some(Err(NlError::new(errno, reqs[i].to_string())
                                .with_ext_ack(text.as_str())));
                        }
                    }
                    return;
                }
            };
            for msg in Messages::new(&self.rx[..len]) {
                if msg.ty != NLMSG_ERROR {
                    continue;
                }
                let k = msg.seq.wrapping_sub(base) as usize;
                if acked.get(k) != Some(&false) {
                    continue; // not ours: a stale reply
                }
                acked[k] = true;
                pending -= 1;
                let i = slots[k];
                match parse_error(&msg) {
                    Some(ack) if ack.errno == 0 => {
                        if let Some(warning) = ack.ext_ack {
                            tracing::warn!("{}: {warning}", reqs[i]);
                        }
                        results[i].get_or_insert(Ok(()));
                    }
                    failed => {
                        if !matches!(results[i], Some(Err(_))) {
                            results[i] = Some(Err(match failed {
                                Some(ack) => ack_error(ack, reqs[i].to_string()),
                                None => NlError::new(libc::EPROTO, reqs[i].to_string())
                                    .with_ext_ack("malformed acknowledgement"),
                            }));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use nix::sched::{unshare, CloneFlags};

    use super::*;
    use crate::netlink::LinkChange;

    /// Acks dropped by a receive buffer overrun are reported as `ENOBUFS`
    /// (not waited for), the others as usual, and the socket stays usable.
    #[test]
    fn lost_acks_are_reported_not_waited_for() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping lost_acks_are_reported_not_waited_for: needs root");
            return;
        }
        let worker = std::thread::spawn(|| {
            unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
            let mut rtnl = Rtnl::open().expect("open");
            // A tiny receive buffer and no batch limit: most acks are dropped.
            setsockopt(
                rtnl.sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &1024,
            )
            .expect("shrink SO_RCVBUF");
            rtnl.max_batch = usize::MAX;
            let up = Request::SetLink {
                ifindex: 1, // lo
                change: LinkChange {
                    up: Some(true),
                    ..LinkChange::default()
                },
            };
            let reqs = vec![up; 400];
            let results = rtnl.execute(&reqs);
            assert_eq!(results.len(), reqs.len());
            let ok = results.iter().filter(|r| r.is_ok()).count();
            let lost = results
                .iter()
                .filter(|r| matches!(r, Err(e) if e.errno == libc::ENOBUFS))
                .count();
            assert!(lost > 0, "expected an overrun");
            assert_eq!(ok + lost, reqs.len());

            assert_eq!(rtnl.writes(), reqs.len() as u64);

            setsockopt(
                rtnl.sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &(1 << 20),
            )
            .expect("restore SO_RCVBUF");
            rtnl.max_batch = MIN_BATCH;
            assert!(rtnl.execute(&reqs[..50]).iter().all(Result::is_ok));
            let links = rtnl.dump_links().expect("dump");
            assert_eq!(links.len(), 1);
            assert!(links[0].is_up());
        });
        if let Err(panic) = worker.join() {
            std::panic::resume_unwind(panic);
        }
    }
}
