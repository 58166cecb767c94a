//! A minimal ICMP echo prober, used by the demo and the tests to check that
//! guests can reach each other.
//!
//! It needs `CAP_NET_RAW` (a raw `IPPROTO_ICMP` socket) and sends from the
//! network namespace of its thread, or of a named namespace via
//! [`netns::run_in`].

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{
    recvfrom, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol,
    SockType, SockaddrIn,
};
use nix::sys::time::{TimeVal, TimeValLike};

use crate::netns::{self, NetnsError};

/// The longest wait between two requests: the next request goes out as
/// soon as the previous one is answered, or after this long if it is not.
const MAX_INTERVAL: Duration = Duration::from_millis(100);

/// The longest single wait for a reply before re-checking the clock.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Bytes of payload after the 8-byte ICMP header (as `ping(8)` sends).
const PAYLOAD_LEN: usize = 56;

const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_HEADER_LEN: usize = 8;

/// Source of echo identifiers, so that concurrent probes in one process
/// (whose raw sockets all see every reply) do not take each other's replies.
static NEXT_ID: AtomicU16 = AtomicU16::new(0);

/// The outcome of a [`ping`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PingReport {
    /// Echo requests sent (including those the kernel refused to route).
    pub sent: u32,
    /// Distinct echo replies received.
    pub received: u32,
    /// Round-trip times of the received replies, in arrival order.
    pub rtts: Vec<Duration>,
}

/// An error running a probe. Unreachable destinations are not errors: they
/// show up as missing replies.
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    /// The namespace could not be entered, or the probe thread panicked.
    #[error("ping {dst}: {source}")]
    Netns {
        /// The destination.
        dst: Ipv4Addr,
        /// The underlying error.
        #[source]
        source: NetnsError,
    },
    /// A socket call failed.
    #[error("ping {dst}: {step}: {source}")]
    Io {
        /// The destination.
        dst: Ipv4Addr,
        /// What we were doing.
        step: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Sends `count` ICMP echo requests to `dst` and collects the replies,
/// giving up `timeout` after the start.
///
/// With `netns`, the probe runs on a thread inside that named namespace;
/// without, in the calling thread's namespace. A request goes out as soon as
/// the previous one is answered, or 100 ms after it if it is not, so a
/// healthy path is probed quickly and a lossy one does not stall the rest.
/// The probe returns once every request is answered or the timeout expires,
/// whichever is first. Requests the kernel cannot route (`ENETUNREACH` and
/// similar) count as sent and unanswered.
///
/// ```no_run
/// use std::net::Ipv4Addr;
/// use std::time::Duration;
/// let report = hvnet_linux::ping::ping(Some("guests"), Ipv4Addr::new(192, 0, 2, 1), 3, Duration::from_secs(2))?;
/// println!("{}/{} replies", report.received, report.sent);
/// # Ok::<(), hvnet_linux::ping::PingError>(())
/// ```
pub fn ping(
    netns: Option<&str>,
    dst: Ipv4Addr,
    count: u32,
    timeout: Duration,
) -> Result<PingReport, PingError> {
    match netns {
        Some(name) => netns::run_in(name, move || probe(dst, count, timeout))
            .map_err(|source| PingError::Netns { dst, source })?,
        None => probe(dst, count, timeout),
    }
}

/// The internet checksum (RFC 1071) of `data`: the ones' complement of the
/// ones' complement sum of its big-endian 16-bit words, an odd last byte
/// padded with zero.
///
/// Stored big-endian in a packet's checksum field, it makes the checksum of
/// the whole packet 0.
///
/// ```
/// use hvnet_linux::ping::checksum;
/// // The example of RFC 1071, section 3.
/// assert_eq!(checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0x220d);
/// ```
pub fn checksum(data: &[u8]) -> u16 {
    let mut chunks = data.chunks_exact(2);
    let mut sum: u32 = 0;
    for word in &mut chunks {
        sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
        // Fold early so that arbitrarily long input cannot overflow.
        sum = (sum & 0xffff) + (sum >> 16);
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop above leaves at most 16 significant bits.
    !(sum as u16)
}

/// The probe itself, in the current thread's namespace.
fn probe(dst: Ipv4Addr, count: u32, timeout: Duration) -> Result<PingReport, PingError> {
    let io_err = |step| {
        move |e: Errno| PingError::Io {
            dst,
            step,
            source: e.into(),
        }
    };
    let mut report = PingReport::default();
    if count == 0 {
        return Ok(report);
    }
    let sock: OwnedFd = socket(
        AddressFamily::Inet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::Icmp,
    )
    .map_err(io_err("socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)"))?;
    let dst_addr = SockaddrIn::from(SocketAddrV4::new(dst, 0));
    let ident = (std::process::id() as u16).wrapping_add(NEXT_ID.fetch_add(1, Ordering::Relaxed));

    let start = Instant::now();
    // Send time of each request (`None`: the kernel refused to route it).
    let mut sent_at: Vec<Option<Instant>> = Vec::new();
    let mut answered: Vec<bool> = Vec::new();
    let mut next_send = start;
    let mut buf = [0_u8; 2048];

    while report.received < count {
        let now = Instant::now();
        let remaining = timeout.saturating_sub(now.saturating_duration_since(start));
        if remaining.is_zero() {
            break;
        }
        if report.sent < count && now >= next_send {
            // Sequence numbers are 16 bits on the wire and wrap around.
            let packet = echo_request(ident, report.sent as u16);
            let sent_time = Instant::now();
            let routed = match sendto(sock.as_raw_fd(), &packet, &dst_addr, MsgFlags::empty()) {
                Ok(_) => true,
                Err(e) if is_unreachable(e) => false,
                Err(e) => return Err(io_err("sendto")(e)),
            };
            report.sent += 1;
            sent_at.push(routed.then_some(sent_time));
            answered.push(false);
            next_send = sent_time + MAX_INTERVAL;
            continue;
        }

        // Wake up at the next send or the deadline; at most every minute so
        // that a huge timeout stays within `timeval`'s range.
        let mut wait = remaining.min(MAX_WAIT);
        if report.sent < count {
            wait = wait.min(next_send.saturating_duration_since(now));
        }
        // A zero SO_RCVTIMEO would mean "wait forever": wait at least 1 µs.
        // The cast is lossless: `wait` is at most a minute.
        let wait_us = wait.as_micros().max(1) as i64;
        setsockopt(
            &sock,
            sockopt::ReceiveTimeout,
            &TimeVal::microseconds(wait_us),
        )
        .map_err(io_err("SO_RCVTIMEO"))?;

        let (len, from) = match recvfrom::<SockaddrIn>(sock.as_raw_fd(), &mut buf) {
            Ok(got) => got,
            Err(Errno::EAGAIN | Errno::EINTR) => continue,
            Err(e) if is_unreachable(e) => continue,
            Err(e) => return Err(io_err("recvfrom")(e)),
        };
        let arrived = Instant::now();
        if from.map(|a| a.ip()) != Some(dst) {
            continue;
        }
        let Some(index) =
            parse_echo_reply(&buf[..len], ident).and_then(|seq| request_index(seq, sent_at.len()))
        else {
            continue;
        };
        let Some(sent) = sent_at[index] else {
            continue;
        };
        if std::mem::replace(&mut answered[index], true) {
            continue; // a duplicate
        }
        report.received += 1;
        report.rtts.push(arrived.saturating_duration_since(sent));
        // Answered: the next request may go out right away.
        next_send = arrived;
    }
    Ok(report)
}

/// The index of the latest of `sent` requests whose 16-bit sequence number
/// is `seq`.
fn request_index(seq: u16, sent: usize) -> Option<usize> {
    const WRAP: usize = 1 << 16;
    let seq = usize::from(seq);
    let last = sent.checked_sub(1)?;
    if seq > last {
        return None;
    }
    Some(seq + (last - seq) / WRAP * WRAP)
}

/// Routing failures, which mean "no reply" rather than a broken prober.
fn is_unreachable(e: Errno) -> bool {
    matches!(
        e,
        Errno::ENETUNREACH
            | Errno::EHOSTUNREACH
            | Errno::ENETDOWN
            | Errno::EHOSTDOWN
            | Errno::ENOBUFS
    )
}

/// Builds an echo request with a checksum.
fn echo_request(ident: u16, seq: u16) -> [u8; ICMP_HEADER_LEN + PAYLOAD_LEN] {
    let mut packet = [0_u8; ICMP_HEADER_LEN + PAYLOAD_LEN];
    packet[0] = ICMP_ECHO_REQUEST;
    packet[1] = 0; // code
    packet[4..6].copy_from_slice(&ident.to_be_bytes());
    packet[6..8].copy_from_slice(&seq.to_be_bytes());
    for (i, byte) in packet[ICMP_HEADER_LEN..].iter_mut().enumerate() {
        *byte = i as u8;
    }
    let sum = checksum(&packet);
    packet[2..4].copy_from_slice(&sum.to_be_bytes());
    packet
}

/// If `packet` (an IPv4 datagram as a raw socket delivers it) is a valid
/// echo reply with identifier `ident`, returns its sequence number.
fn parse_echo_reply(packet: &[u8], ident: u16) -> Option<u16> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let header_len = usize::from(first & 0x0f) * 4;
    let icmp = packet.get(header_len..)?;
    if icmp.len() < ICMP_HEADER_LEN || icmp[0] != ICMP_ECHO_REPLY || icmp[1] != 0 {
        return None;
    }
    if checksum(icmp) != 0 {
        return None;
    }
    if u16::from_be_bytes([icmp[4], icmp[5]]) != ident {
        return None;
    }
    Some(u16::from_be_bytes([icmp[6], icmp[7]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
    }

    #[test]
    fn checksum_edge_cases() {
        assert_eq!(checksum(&[]), 0xffff);
        // Odd length: the last byte is the high half of a zero-padded word.
        assert_eq!(checksum(&[0x12]), !0x1200);
        assert_eq!(checksum(&[0x12, 0x34, 0x56]), !(0x1234_u16 + 0x5600));
        // Carries wrap around: 0xffff + 0x0001 = 0x1_0000 -> 0x0001.
        assert_eq!(checksum(&[0xff, 0xff, 0x00, 0x01]), !0x0001);
        // Long input does not overflow.
        assert_eq!(checksum(&[0xff; 100_001]), !0xff00);
    }

    #[test]
    fn sequence_numbers_map_to_latest_request() {
        assert_eq!(request_index(0, 0), None);
        assert_eq!(request_index(0, 1), Some(0));
        assert_eq!(request_index(2, 3), Some(2));
        assert_eq!(request_index(3, 3), None);
        assert_eq!(request_index(1, 65_538), Some(65_537));
        assert_eq!(request_index(2, 65_538), Some(2));
    }

    #[test]
    fn request_checksums_to_zero() {
        let packet = echo_request(0xbeef, 7);
        assert_eq!(packet[0], ICMP_ECHO_REQUEST);
        assert_eq!(checksum(&packet), 0);
        assert_eq!(&packet[4..8], &[0xbe, 0xef, 0, 7]);
    }

    /// A reply as the kernel builds it: the request with type 0, and the
    /// checksum adjusted, behind a 20-byte IPv4 header.
    fn reply_for(request: &[u8]) -> Vec<u8> {
        let mut ip = vec![
            0x45, 0, 0, 84, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
        ];
        let mut icmp = request.to_vec();
        icmp[0] = ICMP_ECHO_REPLY;
        icmp[2..4].copy_from_slice(&[0, 0]);
        let sum = checksum(&icmp);
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        ip.extend_from_slice(&icmp);
        ip
    }

    #[test]
    fn parses_matching_replies_only() {
        let reply = reply_for(&echo_request(0x1234, 42));
        assert_eq!(parse_echo_reply(&reply, 0x1234), Some(42));
        assert_eq!(parse_echo_reply(&reply, 0x1235), None, "other identifier");

        let request_echoed = {
            let mut p = reply.clone();
            p[20] = ICMP_ECHO_REQUEST;
            p
        };
        assert_eq!(
            parse_echo_reply(&request_echoed, 0x1234),
            None,
            "not a reply"
        );

        let corrupted = {
            let mut p = reply.clone();
            p[30] ^= 0xff;
            p
        };
        assert_eq!(parse_echo_reply(&corrupted, 0x1234), None, "bad checksum");

        assert_eq!(parse_echo_reply(&reply[..24], 0x1234), None, "truncated");
        assert_eq!(parse_echo_reply(&[], 0x1234), None);
        assert_eq!(parse_echo_reply(&[0x65, 0, 0], 0x1234), None, "not IPv4");
    }
}
