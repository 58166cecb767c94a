//! The netlink wire format, in one place: building messages with (nested)
//! attributes, the fixed rtnetlink family headers, and walking received
//! messages, attributes and error acknowledgements.
//!
//! Everything is native-endian, 4-byte aligned, as in `linux/netlink.h`.
//! Parsers never panic on malformed kernel data: they stop or return `None`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::consts::{
    AF_UNSPEC, NLA_HDRLEN, NLA_TYPE_MASK, NLMSGERR_ATTR_MISS_TYPE, NLMSGERR_ATTR_MSG, NLMSG_HDRLEN,
    NLM_F_ACK_TLVS, NLM_F_CAPPED, TCMSG_LEN,
};

/// Rounds `len` up to the netlink alignment (4 bytes).
pub(crate) const fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EncodeError {
    /// A string attribute of this type contains a NUL byte.
    InteriorNul(u16),
    /// An attribute of this type is longer than an attribute can be (64 KiB).
    TooLong(u16),
}

/// Offset of an open nested attribute, closed by [`MsgBuilder::end_nest`].
#[must_use = "a nest must be closed with end_nest"]
#[derive(Debug)]
pub(crate) struct Nest(usize);

/// Appends one netlink message to a buffer (which may already hold others).
///
/// The length fields are patched in [`finish`](Self::finish); if anything was
/// invalid, `finish` removes the partial message again, so the buffer only
/// ever holds complete, well-formed messages.
#[must_use = "a message must be completed with finish()"]
pub(crate) struct MsgBuilder<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
    error: Option<EncodeError>,
}

impl<'a> MsgBuilder<'a> {
    /// Starts a message of type `ty` with the given flags and sequence number.
    pub(crate) fn new(buf: &'a mut Vec<u8>, ty: u16, flags: u16, seq: u32) -> Self {
        debug_assert_eq!(buf.len() % 4, 0, "messages must start aligned");
        let start = buf.len();
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, patched in finish()
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid 0: the kernel
        MsgBuilder {
            buf,
            start,
            error: None,
        }
    }

    fn pad(&mut self) {
        let padded = align4(self.buf.len());
        self.buf.resize(padded, 0);
    }

    /// Appends raw bytes (a family header such as `ifinfomsg`), padded.
    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self.pad();
        self
    }

    /// Appends attribute `ty` with the given payload.
    pub(crate) fn attr(&mut self, ty: u16, payload: &[u8]) -> &mut Self {
        let Ok(len) = u16::try_from(NLA_HDRLEN + payload.len()) else {
            self.error.get_or_insert(EncodeError::TooLong(ty));
            return self;
        };
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
        self
    }

    /// Appends a `u8` attribute.
    pub(crate) fn u8(&mut self, ty: u16, value: u8) -> &mut Self {
        self.attr(ty, &[value])
    }

    /// Appends a native-endian `u32` attribute.
    pub(crate) fn u32(&mut self, ty: u16, value: u32) -> &mut Self {
        self.attr(ty, &value.to_ne_bytes())
    }

    /// Appends a native-endian `u64` attribute (4-byte aligned, as
    /// iproute2 sends them in requests).
    pub(crate) fn u64(&mut self, ty: u16, value: u64) -> &mut Self {
        self.attr(ty, &value.to_ne_bytes())
    }

    /// Appends a native-endian `i32` attribute.
    pub(crate) fn i32(&mut self, ty: u16, value: i32) -> &mut Self {
        self.attr(ty, &value.to_ne_bytes())
    }

    /// Appends a NUL-terminated string attribute (`NLA_STRING`/`NLA_NUL_STRING`).
    pub(crate) fn str(&mut self, ty: u16, value: &str) -> &mut Self {
        if value.as_bytes().contains(&0) {
            self.error.get_or_insert(EncodeError::InteriorNul(ty));
            return self;
        }
        let Ok(len) = u16::try_from(NLA_HDRLEN + value.len() + 1) else {
            self.error.get_or_insert(EncodeError::TooLong(ty));
            return self;
        };
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(0);
        self.pad();
        self
    }

    /// Appends a string attribute without terminating NUL, as the kernel
    /// expects for attributes whose length is the string length
    /// (`IFLA_IFALIAS`: an empty one clears the alias).
    pub(crate) fn str_raw(&mut self, ty: u16, value: &str) -> &mut Self {
        if value.as_bytes().contains(&0) {
            self.error.get_or_insert(EncodeError::InteriorNul(ty));
            return self;
        }
        self.attr(ty, value.as_bytes())
    }

    /// Appends an address attribute: 4 bytes for IPv4, 16 for IPv6.
    pub(crate) fn ip(&mut self, ty: u16, addr: IpAddr) -> &mut Self {
        match addr {
            IpAddr::V4(a) => self.attr(ty, &a.octets()),
            IpAddr::V6(a) => self.attr(ty, &a.octets()),
        }
    }

    /// Opens nested attribute `ty`; everything appended until the matching
    /// [`end_nest`](Self::end_nest) becomes its payload.
    pub(crate) fn begin_nest(&mut self, ty: u16) -> Nest {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        Nest(at)
    }

    /// Closes a nest opened by [`begin_nest`](Self::begin_nest).
    pub(crate) fn end_nest(&mut self, nest: Nest) -> &mut Self {
        let len = self.buf.len() - nest.0;
        match u16::try_from(len) {
            Ok(len) => self.buf[nest.0..nest.0 + 2].copy_from_slice(&len.to_ne_bytes()),
            Err(_) => {
                let ty = u16::from_ne_bytes([self.buf[nest.0 + 2], self.buf[nest.0 + 3]]);
                self.error.get_or_insert(EncodeError::TooLong(ty));
            }
        }
        self
    }

    /// Patches the message length. On error the partial message is removed
    /// from the buffer.
    pub(crate) fn finish(self) -> Result<(), EncodeError> {
        if let Some(err) = self.error {
            self.buf.truncate(self.start);
            return Err(err);
        }
        let Ok(len) = u32::try_from(self.buf.len() - self.start) else {
            self.buf.truncate(self.start);
            return Err(EncodeError::TooLong(0));
        };
        self.buf[self.start..self.start + 4].copy_from_slice(&len.to_ne_bytes());
        Ok(())
    }
}

// ----- fixed family headers -----

/// `struct ifinfomsg` (16 bytes) with family `AF_UNSPEC` and type 0.
pub(crate) fn ifinfomsg(index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = AF_UNSPEC;
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

/// A received `struct ifinfomsg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IfInfoMsg {
    pub(crate) index: i32,
    pub(crate) flags: u32,
}

impl IfInfoMsg {
    /// Splits a message payload into the header and its attributes.
    pub(crate) fn parse(payload: &[u8]) -> Option<(IfInfoMsg, &[u8])> {
        let hdr = payload.get(..16)?;
        let msg = IfInfoMsg {
            index: i32::from_ne_bytes(hdr[4..8].try_into().ok()?),
            flags: u32::from_ne_bytes(hdr[8..12].try_into().ok()?),
        };
        Some((msg, payload.get(16..).unwrap_or_default()))
    }
}

/// `struct ifaddrmsg` (8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IfAddrMsg {
    pub(crate) family: u8,
    pub(crate) prefix_len: u8,
    pub(crate) flags: u8,
    pub(crate) scope: u8,
    pub(crate) index: u32,
}

impl IfAddrMsg {
    pub(crate) fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.family;
        b[1] = self.prefix_len;
        b[2] = self.flags;
        b[3] = self.scope;
        b[4..8].copy_from_slice(&self.index.to_ne_bytes());
        b
    }

    /// Splits a message payload into the header and its attributes.
    pub(crate) fn parse(payload: &[u8]) -> Option<(IfAddrMsg, &[u8])> {
        let h = payload.get(..8)?;
        let msg = IfAddrMsg {
            family: h[0],
            prefix_len: h[1],
            flags: h[2],
            scope: h[3],
            index: u32::from_ne_bytes(h[4..8].try_into().ok()?),
        };
        Some((msg, payload.get(8..).unwrap_or_default()))
    }
}

/// `struct rtmsg` (12 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RtMsg {
    pub(crate) family: u8,
    pub(crate) dst_len: u8,
    pub(crate) src_len: u8,
    pub(crate) tos: u8,
    pub(crate) table: u8,
    pub(crate) protocol: u8,
    pub(crate) scope: u8,
    pub(crate) kind: u8,
    pub(crate) flags: u32,
}

impl RtMsg {
    pub(crate) fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&[
            self.family,
            self.dst_len,
            self.src_len,
            self.tos,
            self.table,
            self.protocol,
            self.scope,
            self.kind,
        ]);
        b[8..12].copy_from_slice(&self.flags.to_ne_bytes());
        b
    }

    /// Splits a message payload into the header and its attributes.
    pub(crate) fn parse(payload: &[u8]) -> Option<(RtMsg, &[u8])> {
        let h = payload.get(..12)?;
        let msg = RtMsg {
            family: h[0],
            dst_len: h[1],
            src_len: h[2],
            tos: h[3],
            table: h[4],
            protocol: h[5],
            scope: h[6],
            kind: h[7],
            flags: u32::from_ne_bytes(h[8..12].try_into().ok()?),
        };
        Some((msg, payload.get(12..).unwrap_or_default()))
    }
}

/// `struct tcmsg` (20 bytes): family `AF_UNSPEC`, then the device, the
/// handle, the parent and `tcm_info` (for filters: priority and protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TcMsg {
    pub(crate) ifindex: i32,
    pub(crate) handle: u32,
    pub(crate) parent: u32,
    pub(crate) info: u32,
}

impl TcMsg {
    pub(crate) fn to_bytes(self) -> [u8; TCMSG_LEN] {
        let mut b = [0u8; TCMSG_LEN];
        b[0] = AF_UNSPEC;
        b[4..8].copy_from_slice(&self.ifindex.to_ne_bytes());
        b[8..12].copy_from_slice(&self.handle.to_ne_bytes());
        b[12..16].copy_from_slice(&self.parent.to_ne_bytes());
        b[16..20].copy_from_slice(&self.info.to_ne_bytes());
        b
    }

    /// Splits a message payload into the header and its attributes.
    pub(crate) fn parse(payload: &[u8]) -> Option<(TcMsg, &[u8])> {
        let h = payload.get(..TCMSG_LEN)?;
        let msg = TcMsg {
            ifindex: get_i32(&h[4..8])?,
            handle: get_u32(&h[8..12])?,
            parent: get_u32(&h[12..16])?,
            info: get_u32(&h[16..20])?,
        };
        Some((msg, payload.get(TCMSG_LEN..).unwrap_or_default()))
    }
}

// ----- received messages -----

/// One received netlink message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawMsg<'a> {
    pub(crate) ty: u16,
    pub(crate) flags: u16,
    pub(crate) seq: u32,
    /// Everything after the 16-byte header, up to `nlmsg_len`.
    pub(crate) payload: &'a [u8],
}

/// Iterates over the messages of one received datagram; stops at the first
/// malformed header.
#[derive(Debug, Clone)]
pub(crate) struct Messages<'a>(&'a [u8]);

impl<'a> Messages<'a> {
    pub(crate) fn new(datagram: &'a [u8]) -> Self {
        Messages(datagram)
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = RawMsg<'a>;

    fn next(&mut self) -> Option<RawMsg<'a>> {
        let data = self.0;
        let hdr = data.get(..NLMSG_HDRLEN)?;
        let len = u32::from_ne_bytes(hdr[0..4].try_into().ok()?) as usize;
        if len < NLMSG_HDRLEN || len > data.len() {
            self.0 = &[];
            return None;
        }
        let msg = RawMsg {
            ty: u16::from_ne_bytes(hdr[4..6].try_into().ok()?),
            flags: u16::from_ne_bytes(hdr[6..8].try_into().ok()?),
            seq: u32::from_ne_bytes(hdr[8..12].try_into().ok()?),
            payload: &data[NLMSG_HDRLEN..len],
        };
        self.0 = data.get(align4(len)..).unwrap_or_default();
        Some(msg)
    }
}

/// Iterates over the attributes in `data` as `(type, payload)`, with the
/// `NLA_F_NESTED`/`NLA_F_NET_BYTEORDER` bits masked off the type; stops at
/// the first malformed attribute.
#[derive(Debug, Clone)]
pub(crate) struct Attrs<'a>(&'a [u8]);

impl<'a> Attrs<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Attrs(data)
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<(u16, &'a [u8])> {
        let data = self.0;
        let hdr = data.get(..NLA_HDRLEN)?;
        let len = usize::from(u16::from_ne_bytes([hdr[0], hdr[1]]));
        let ty = u16::from_ne_bytes([hdr[2], hdr[3]]) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > data.len() {
            self.0 = &[];
            return None;
        }
        self.0 = data.get(align4(len)..).unwrap_or_default();
        Some((ty, &data[NLA_HDRLEN..len]))
    }
}

/// A `u8` attribute payload.
pub(crate) fn get_u8(p: &[u8]) -> Option<u8> {
    p.first().copied()
}

/// A native-endian `u32` attribute payload.
pub(crate) fn get_u32(p: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(p.get(..4)?.try_into().ok()?))
}

/// A native-endian `u64` attribute payload.
pub(crate) fn get_u64(p: &[u8]) -> Option<u64> {
    Some(u64::from_ne_bytes(p.get(..8)?.try_into().ok()?))
}

/// A native-endian `i32` attribute payload.
pub(crate) fn get_i32(p: &[u8]) -> Option<i32> {
    Some(i32::from_ne_bytes(p.get(..4)?.try_into().ok()?))
}

/// A string attribute payload: up to the first NUL, invalid UTF-8 replaced.
pub(crate) fn get_string(p: &[u8]) -> String {
    let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
    String::from_utf8_lossy(&p[..end]).into_owned()
}

/// An address attribute payload, by its length (4: IPv4, 16: IPv6).
pub(crate) fn get_ip(p: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(p) {
        Some(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(p) {
        Some(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        None
    }
}

/// An Ethernet address attribute payload (exactly 6 bytes).
pub(crate) fn get_mac(p: &[u8]) -> Option<[u8; 6]> {
    p.try_into().ok()
}

// ----- acknowledgements -----

/// The outcome carried by an `NLMSG_ERROR` (an ack) or an `NLMSG_DONE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack {
    /// Positive errno; 0 for success.
    pub(crate) errno: i32,
    /// The extended ACK message (`NLMSGERR_ATTR_MSG`), if any; on success
    /// this is a warning.
    pub(crate) ext_ack: Option<String>,
}

/// Converts the kernel's (negative) error code into a positive errno.
fn errno_of(code: i32) -> i32 {
    code.checked_abs().unwrap_or(i32::MAX)
}

/// Parses the payload of an `NLMSG_ERROR` message (`struct nlmsgerr`
/// followed, with `NLM_F_ACK_TLVS`, by extended ACK attributes).
pub(crate) fn parse_error(msg: &RawMsg<'_>) -> Option<Ack> {
    let code = get_i32(msg.payload)?;
    let mut ack = Ack {
        errno: errno_of(code),
        ext_ack: None,
    };
    if msg.flags & NLM_F_ACK_TLVS != 0 {
        // struct nlmsgerr: int error; struct nlmsghdr msg; then the rest of
        // the echoed request unless it was capped.
        let echoed_len = msg
            .payload
            .get(4..8)
            .and_then(get_u32)
            .map_or(NLMSG_HDRLEN, |l| l as usize);
        let echoed = if msg.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            align4(echoed_len.max(NLMSG_HDRLEN))
        };
        if let Some(tlvs) = msg.payload.get(4 + echoed..) {
            ack.ext_ack = ext_ack_text(tlvs);
        }
    }
    Some(ack)
}

/// Parses the payload of an `NLMSG_DONE` message: an optional error code,
/// then (with `NLM_F_ACK_TLVS`) extended ACK attributes.
pub(crate) fn parse_done(msg: &RawMsg<'_>) -> Ack {
    let code = get_i32(msg.payload).unwrap_or(0);
    let ext_ack = if msg.flags & NLM_F_ACK_TLVS != 0 {
        msg.payload.get(4..).and_then(ext_ack_text)
    } else {
        None
    };
    Ack {
        errno: errno_of(code),
        ext_ack,
    }
}

/// The human-readable part of the extended ACK attributes.
fn ext_ack_text(tlvs: &[u8]) -> Option<String> {
    let mut missing = None;
    for (ty, p) in Attrs::new(tlvs) {
        match ty {
            NLMSGERR_ATTR_MSG => {
                let text = get_string(p);
                if !text.is_empty() {
                    return Some(text);
                }
            }
            NLMSGERR_ATTR_MISS_TYPE => missing = get_u32(p),
            _ => {}
        }
    }
    missing.map(|ty| format!("missing attribute type {ty}"))
}

#[cfg(test)]
mod tests {
    use super::super::consts::{NLMSGERR_ATTR_OFFS, NLMSG_DONE, NLMSG_ERROR, NLM_F_MULTI};
    use super::*;

    /// Encodes a header word-by-word for the expected byte strings.
    fn ne16(v: u16) -> [u8; 2] {
        v.to_ne_bytes()
    }
    fn ne32(v: u32) -> [u8; 4] {
        v.to_ne_bytes()
    }

    #[test]
    fn header_and_padding() {
        let mut buf = Vec::new();
        let mut m = MsgBuilder::new(&mut buf, 16, 0x5, 7);
        m.u8(16, 6).str(3, "br0");
        assert_eq!(m.finish(), Ok(()));
        let mut want = Vec::new();
        want.extend(ne32(16 + 8 + 8));
        want.extend(ne16(16));
        want.extend(ne16(5));
        want.extend(ne32(7));
        want.extend(ne32(0));
        want.extend(ne16(5));
        want.extend(ne16(16));
        want.extend([6, 0, 0, 0]);
        want.extend(ne16(8));
        want.extend(ne16(3));
        want.extend(*b"br0\0");
        assert_eq!(buf, want);
    }

    #[test]
    fn nests_are_patched_and_messages_append() {
        let mut buf = Vec::new();
        let mut m = MsgBuilder::new(&mut buf, 1, 0, 1);
        let outer = m.begin_nest(18);
        m.str_raw(1, "veth");
        let inner = m.begin_nest(2);
        m.u32(5, 1);
        m.end_nest(inner);
        m.end_nest(outer);
        assert_eq!(m.finish(), Ok(()));
        let first = buf.len();
        let m = MsgBuilder::new(&mut buf, 2, 0, 2);
        assert_eq!(m.finish(), Ok(()));

        let mut want = Vec::new();
        want.extend(ne32(16 + 4 + 8 + 4 + 8));
        want.extend(ne16(1));
        want.extend(ne16(0));
        want.extend(ne32(1));
        want.extend(ne32(0));
        want.extend(ne16(4 + 8 + 4 + 8));
        want.extend(ne16(18));
        want.extend(ne16(8));
        want.extend(ne16(1));
        want.extend(*b"veth");
        want.extend(ne16(4 + 8));
        want.extend(ne16(2));
        want.extend(ne16(8));
        want.extend(ne16(5));
        want.extend(ne32(1));
        assert_eq!(&buf[..first], &want[..]);
        assert_eq!(buf.len(), first + 16);

        let msgs: Vec<_> = Messages::new(&buf).collect();
        assert_eq!(msgs.len(), 2);
        assert_eq!((msgs[0].ty, msgs[0].seq), (1, 1));
        assert_eq!((msgs[1].ty, msgs[1].seq), (2, 2));
        let (ty, linkinfo) = Attrs::new(msgs[0].payload).next().expect("linkinfo");
        assert_eq!(ty, 18);
        let inner: Vec<_> = Attrs::new(linkinfo).collect();
        assert_eq!(inner[0], (1, &b"veth"[..]));
        assert_eq!(inner[1].0, 2);
        assert_eq!(Attrs::new(inner[1].1).next(), Some((5, &ne32(1)[..])));
    }

    #[test]
    fn invalid_attributes_roll_back_the_message() {
        let mut buf = vec![1, 2, 3, 4];
        let mut m = MsgBuilder::new(&mut buf, 16, 0, 1);
        m.str(3, "a\0b");
        assert_eq!(m.finish(), Err(EncodeError::InteriorNul(3)));
        assert_eq!(buf, [1, 2, 3, 4]);

        let big = vec![0u8; 70_000];
        let mut m = MsgBuilder::new(&mut buf, 16, 0, 1);
        m.attr(20, &big);
        assert_eq!(m.finish(), Err(EncodeError::TooLong(20)));
        assert_eq!(buf, [1, 2, 3, 4]);
    }

    #[test]
    fn malformed_input_stops_iteration() {
        // Attribute claiming more bytes than present.
        let mut data = Vec::new();
        data.extend(ne16(8));
        data.extend(ne16(1));
        data.extend(ne32(9));
        data.extend(ne16(40));
        data.extend(ne16(2));
        assert_eq!(Attrs::new(&data).count(), 1);
        // Attribute length below the header size.
        assert_eq!(Attrs::new(&[2, 0, 1, 0, 0, 0]).count(), 0);
        // Message header with a too-short length.
        let mut msg = Vec::new();
        msg.extend(ne32(8));
        msg.extend([0; 12]);
        assert_eq!(Messages::new(&msg).count(), 0);
        assert_eq!(Messages::new(&msg[..10]).count(), 0);
        // Truncated attribute types.
        assert_eq!(get_u32(&[1, 2]), None);
        assert_eq!(get_ip(&[1, 2, 3]), None);
        assert_eq!(get_mac(&[1, 2, 3, 4, 5]), None);
        assert_eq!(get_string(b"eth0\0\0"), "eth0");
        assert_eq!(get_string(b"eth0"), "eth0");
    }

    /// Builds an `NLMSG_ERROR` as the kernel does for a capped, extended ack.
    fn error_msg(
        code: i32,
        flags: u16,
        echoed_len: u32,
        tlvs: &[u8],
        extra_echo: usize,
    ) -> Vec<u8> {
        let mut payload = Vec::new();
        payload.extend(code.to_ne_bytes());
        payload.extend(ne32(echoed_len));
        payload.extend(ne16(16));
        payload.extend(ne16(0x605));
        payload.extend(ne32(42));
        payload.extend(ne32(0));
        payload.extend(vec![0xee; extra_echo]);
        payload.extend(tlvs);
        let mut buf = Vec::new();
        let mut m = MsgBuilder::new(&mut buf, NLMSG_ERROR, flags, 42);
        m.bytes(&payload);
        assert_eq!(m.finish(), Ok(()));
        buf
    }

    fn tlvs(text: &str) -> Vec<u8> {
        // Reuse the builder to lay out attributes, then strip its header.
        let mut buf = Vec::new();
        let mut m = MsgBuilder::new(&mut buf, 0, 0, 0);
        m.str(NLMSGERR_ATTR_MSG, text).u32(NLMSGERR_ATTR_OFFS, 32);
        assert_eq!(m.finish(), Ok(()));
        buf.split_off(NLMSG_HDRLEN)
    }

    #[test]
    fn ext_ack_capped() {
        let text = "Attribute failed policy validation";
        let buf = error_msg(-22, NLM_F_CAPPED | NLM_F_ACK_TLVS, 52, &tlvs(text), 0);
        let msg = Messages::new(&buf).next().expect("one message");
        assert_eq!(msg.seq, 42);
        assert_eq!(
            parse_error(&msg),
            Some(Ack {
                errno: 22,
                ext_ack: Some(text.to_owned())
            })
        );
    }

    #[test]
    fn ext_ack_uncapped_skips_echoed_request() {
        // Echoed request of 16 + 22 bytes: padded to 40.
        let buf = error_msg(-17, NLM_F_ACK_TLVS, 38, &tlvs("exists"), 24);
        let msg = Messages::new(&buf).next().expect("one message");
        let ack = parse_error(&msg).expect("ack");
        assert_eq!(ack.errno, 17);
        assert_eq!(ack.ext_ack.as_deref(), Some("exists"));
    }

    #[test]
    fn plain_ack_and_missing_attribute() {
        let buf = error_msg(0, NLM_F_CAPPED, 16, &[], 0);
        let msg = Messages::new(&buf).next().expect("one message");
        assert_eq!(
            parse_error(&msg),
            Some(Ack {
                errno: 0,
                ext_ack: None
            })
        );

        let mut miss = Vec::new();
        let mut m = MsgBuilder::new(&mut miss, 0, 0, 0);
        m.u32(NLMSGERR_ATTR_MISS_TYPE, 3);
        assert_eq!(m.finish(), Ok(()));
        let buf = error_msg(-22, NLM_F_CAPPED | NLM_F_ACK_TLVS, 16, &miss[16..], 0);
        let msg = Messages::new(&buf).next().expect("one message");
        let ack = parse_error(&msg).expect("ack");
        assert_eq!(ack.ext_ack.as_deref(), Some("missing attribute type 3"));
    }

    #[test]
    fn done_with_error_and_tlvs() {
        let mut payload = (-95i32).to_ne_bytes().to_vec();
        payload.extend(tlvs("not supported"));
        let mut buf = Vec::new();
        let mut m = MsgBuilder::new(&mut buf, NLMSG_DONE, NLM_F_MULTI | NLM_F_ACK_TLVS, 9);
        m.bytes(&payload);
        assert_eq!(m.finish(), Ok(()));
        let msg = Messages::new(&buf).next().expect("one message");
        let ack = parse_done(&msg);
        assert_eq!(ack.errno, 95);
        assert_eq!(ack.ext_ack.as_deref(), Some("not supported"));
    }

    #[test]
    fn family_headers_round_trip() {
        let a = IfAddrMsg {
            family: 2,
            prefix_len: 24,
            flags: 0x80,
            scope: 253,
            index: 7,
        };
        let b = a.to_bytes();
        assert_eq!(IfAddrMsg::parse(&b), Some((a, &[][..])));
        let r = RtMsg {
            family: 10,
            dst_len: 64,
            table: 254,
            protocol: 104,
            scope: 0,
            kind: 1,
            flags: 0x200,
            ..RtMsg::default()
        };
        assert_eq!(RtMsg::parse(&r.to_bytes()), Some((r, &[][..])));
        let i = ifinfomsg(5, 1, 1);
        assert_eq!(
            IfInfoMsg::parse(&i),
            Some((IfInfoMsg { index: 5, flags: 1 }, &[][..]))
        );
        assert_eq!(IfInfoMsg::parse(&i[..15]), None);
        let t = TcMsg {
            ifindex: 3,
            handle: 0x1_0000,
            parent: u32::MAX,
            info: 0x1_0300,
        };
        assert_eq!(TcMsg::parse(&t.to_bytes()), Some((t, &[][..])));
        assert_eq!(TcMsg::parse(&t.to_bytes()[..19]), None);
        assert_eq!(get_u64(&[1, 0, 0, 0, 0, 0, 0]), None);
    }
}
