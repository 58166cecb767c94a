//! Encoding of the traffic-control [`Request`](super::Request)s into
//! `RTM_*QDISC`, `RTM_*TCLASS` and `RTM_*TFILTER` messages, checked
//! byte for byte against what iproute2's `tc` sends.
//!
//! What the kernel needs, and what is deliberately left out:
//!
//! * **tbf** (`tbf_change`): `TCA_TBF_PARMS` (`struct tc_tbf_qopt`) is
//!   mandatory; `TCA_TBF_BURST` gives the bucket in bytes (the kernel then
//!   ignores the `buffer` time in `PARMS`), `TCA_TBF_RATE64` carries rates
//!   of 2³² bytes/s and more (the 32-bit field then holds `u32::MAX`), and
//!   `TCA_TBF_PRATE64`/`TCA_TBF_PBURST` the same for the peak rate. A
//!   non-zero `limit` is needed for the kernel to create the inner bfifo
//!   (with 0 every packet is dropped).
//! * **htb** qdisc (`htb_init`): `TCA_HTB_INIT` (`struct tc_htb_glob`,
//!   version 3) is mandatory.
//! * **htb** class (`htb_change_class`): `TCA_HTB_PARMS` with non-zero rate
//!   and ceil is mandatory, plus `TCA_HTB_RATE64`/`TCA_HTB_CEIL64` for big
//!   rates. Unlike tbf there is no byte-sized burst attribute: the buckets
//!   are only the `buffer`/`cbuffer` times in 64 ns ticks, so they are
//!   computed here exactly (tc truncates to whole microseconds first).
//! * **Rate tables** (`TCA_TBF_RTAB`/`PTAB`, `TCA_HTB_RTAB`/`CTAB`, 1 KiB
//!   each) are never sent: with `tc_ratespec.linklayer` set to Ethernet the
//!   kernel computes transmission times itself and only looks a table up
//!   (and then discards it) for rate specs of "unaware" link layer, which
//!   only pre-2013 tc sends.
//! * The `cell_log`/`cell_align` fields of the rate specs only describe
//!   such tables; they are filled in as tc does, so that the bytes compare
//!   equal, and are otherwise unused by the kernel.
//! * **ingress**: only `TCA_KIND`; no options.
//! * **u32 + mirred**: `TCA_U32_SEL` with one all-zero key and, when a class
//!   or action is given, the terminal flag; the action list `TCA_U32_ACT`
//!   holds action 1 `mirred` with `TCA_MIRRED_PARMS` (`struct tc_mirred`).

use super::attrs::{MsgBuilder, TcMsg};
use super::consts::{
    NLA_F_NESTED, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, RTM_DELQDISC,
    RTM_DELTCLASS, RTM_DELTFILTER, RTM_NEWQDISC, RTM_NEWTCLASS, RTM_NEWTFILTER, TCA_ACT_KIND,
    TCA_ACT_OPTIONS, TCA_HTB_CEIL64, TCA_HTB_INIT, TCA_HTB_PARMS, TCA_HTB_RATE64, TCA_KIND,
    TCA_MIRRED_PARMS, TCA_OPTIONS, TCA_TBF_BURST, TCA_TBF_PARMS, TCA_TBF_PBURST, TCA_TBF_PRATE64,
    TCA_TBF_RATE64, TCA_U32_ACT, TCA_U32_CLASSID, TCA_U32_SEL, TC_ACT_PIPE, TC_ACT_STOLEN,
    TC_HTB_PROTOVER, TC_LINKLAYER_ETHERNET, TC_U32_TERMINAL,
};
use super::request::{link_index, Invalid};
use super::tc::{bytes_to_ticks, ClassSpec, FilterSpec, QdiscKind, QdiscSpec};

/// tc's default `r2q`.
const DEFAULT_R2Q: u64 = 10;
/// The bounds the kernel puts on a quantum it derives from the rate.
const MIN_QUANTUM: u64 = 1000;
const MAX_QUANTUM: u64 = 200_000;
/// The packet size tc assumes for its rate tables when none is given:
/// 2047 for tbf, 1600 for htb; both give `cell_log` 3.
const TBF_DEFAULT_MTU: u32 = 2047;
const HTB_DEFAULT_MTU: u32 = 1600;

/// How a qdisc or class request treats an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Create; an existing one is `EEXIST`.
    Create,
    /// Create, or change the existing one.
    Replace,
}

/// `nlmsg_flags` of a qdisc request (tc's `add` and `replace`).
fn qdisc_flags(mode: Mode) -> u16 {
    match mode {
        Mode::Create => NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        Mode::Replace => NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
    }
}

/// `nlmsg_flags` of a class request: classes are changed in place without
/// `NLM_F_EXCL` (tc's `class replace` sends just `NLM_F_CREATE`).
fn class_flags(mode: Mode) -> u16 {
    match mode {
        Mode::Create => NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        Mode::Replace => NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE,
    }
}

/// `nlmsg_flags` of a deletion.
const DELETE: u16 = NLM_F_REQUEST | NLM_F_ACK;
/// `nlmsg_flags` of a new filter (tc's `filter add`).
const NEW_FILTER: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;

/// The smallest `cell_log` whose 256 cells cover packets of `mtu` bytes, as
/// tc's `tc_calc_rtable` computes it.
fn cell_log(mtu: u32) -> u8 {
    let mut log = 0u8;
    while log < 31 && (mtu >> log) > 255 {
        log += 1;
    }
    log
}

/// `struct tc_ratespec` (12 bytes): `cell_log`, `linklayer`, `overhead`,
/// `cell_align`, `mpu`, `rate` (capped to 32 bits; the full rate goes in a
/// separate 64-bit attribute).
fn ratespec(rate: u64, mtu: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0] = cell_log(mtu);
    b[1] = TC_LINKLAYER_ETHERNET;
    // overhead (2 bytes) stays 0; cell_align is -1 as tc sets it.
    b[4..6].copy_from_slice(&(-1i16).to_ne_bytes());
    // mpu (2 bytes) stays 0.
    b[8..12].copy_from_slice(&rate32(rate).to_ne_bytes());
    b
}

/// A rate for a 32-bit field: `u32::MAX` if it needs the 64-bit attribute.
fn rate32(rate: u64) -> u32 {
    u32::try_from(rate).unwrap_or(u32::MAX)
}

/// Whether a rate needs the 64-bit attribute (tc's test: 2^32 and more).
fn needs_rate64(rate: u64) -> bool {
    rate > u64::from(u32::MAX)
}

/// Appends `RTM_NEWQDISC` for `spec`.
pub(crate) fn encode_qdisc(
    buf: &mut Vec<u8>,
    seq: u32,
    mode: Mode,
    spec: &QdiscSpec,
) -> Result<(), Invalid> {
    let hdr = TcMsg {
        ifindex: link_index(spec.ifindex)?,
        handle: spec.handle,
        parent: spec.parent,
        info: 0,
    };
    // Check everything before anything is appended.
    let tbf = match &spec.kind {
        QdiscKind::Tbf {
            rate_bytes_per_sec,
            burst_bytes,
            limit_bytes,
            peak_bytes_per_sec,
            mtu,
        } => Some(tbf_options(
            *rate_bytes_per_sec,
            *burst_bytes,
            *limit_bytes,
            *peak_bytes_per_sec,
            *mtu,
        )?),
        QdiscKind::Htb { .. } | QdiscKind::Ingress => None,
    };
    let mut m = MsgBuilder::new(buf, RTM_NEWQDISC, qdisc_flags(mode), seq);
    m.bytes(&hdr.to_bytes()).str(TCA_KIND, spec.kind.name());
    if let Some(tbf) = tbf {
        let opts = m.begin_nest(TCA_OPTIONS);
        m.attr(TCA_TBF_PARMS, &tbf.parms)
            .u32(TCA_TBF_BURST, tbf.burst);
        if let Some(rate) = tbf.rate64 {
            m.u64(TCA_TBF_RATE64, rate);
        }
        if let Some(peak) = tbf.prate64 {
            m.u64(TCA_TBF_PRATE64, peak);
        }
        if let Some(pburst) = tbf.pburst {
            m.u32(TCA_TBF_PBURST, pburst);
        }
        m.end_nest(opts);
    } else if let QdiscKind::Htb { default_class, r2q } = &spec.kind {
        // struct tc_htb_glob { version, rate2quantum, defcls, debug, direct_pkts }
        let mut glob = [0u8; 20];
        glob[0..4].copy_from_slice(&TC_HTB_PROTOVER.to_ne_bytes());
        let r2q = r2q.unwrap_or(DEFAULT_R2Q as u32);
        glob[4..8].copy_from_slice(&r2q.to_ne_bytes());
        glob[8..12].copy_from_slice(&default_class.to_ne_bytes());
        let opts = m.begin_nest(TCA_OPTIONS);
        m.attr(TCA_HTB_INIT, &glob);
        m.end_nest(opts);
    }
    m.finish()?;
    Ok(())
}

/// The checked and computed options of a tbf.
struct TbfOptions {
    /// `struct tc_tbf_qopt`.
    parms: [u8; 36],
    burst: u32,
    rate64: Option<u64>,
    prate64: Option<u64>,
    pburst: Option<u32>,
}

fn tbf_options(
    rate: u64,
    burst: u32,
    limit: u32,
    peak: Option<u64>,
    mtu: Option<u32>,
) -> Result<TbfOptions, Invalid> {
    if rate == 0 {
        return Err(Invalid::Message("tbf rate must not be 0"));
    }
    if burst == 0 {
        return Err(Invalid::Message("tbf burst must not be 0"));
    }
    if limit == 0 {
        return Err(Invalid::Message(
            "tbf limit must not be 0 (the queue would drop every packet)",
        ));
    }
    let peak_mtu = match (peak, mtu) {
        (None, None) => None,
        (Some(p), Some(m)) if p > rate && m > 0 => Some((p, m)),
        (Some(p), Some(_)) if p <= rate => {
            return Err(Invalid::Message("tbf peak rate must be above the rate"))
        }
        (Some(_), _) => {
            return Err(Invalid::Message(
                "tbf peak rate needs a non-zero mtu (peak bucket size)",
            ))
        }
        (None, Some(_)) => {
            return Err(Invalid::Message(
                "tbf mtu is the peak-rate bucket: it needs a peak rate",
            ))
        }
    };
    let table_mtu = mtu.unwrap_or(TBF_DEFAULT_MTU);
    // The kernel uses TCA_TBF_BURST and ignores this time, which can
    // therefore saturate (tc even sends it computed from the 32-bit rate).
    let buffer = bytes_to_ticks(burst, rate).unwrap_or(u32::MAX);
    let mut parms = [0u8; 36];
    parms[0..12].copy_from_slice(&ratespec(rate, table_mtu));
    if let Some((p, _)) = peak_mtu {
        parms[12..24].copy_from_slice(&ratespec(p, table_mtu));
    }
    parms[24..28].copy_from_slice(&limit.to_ne_bytes());
    parms[28..32].copy_from_slice(&buffer.to_ne_bytes());
    if let Some((p, m)) = peak_mtu {
        let mtu_ticks = bytes_to_ticks(m, p).unwrap_or(u32::MAX);
        parms[32..36].copy_from_slice(&mtu_ticks.to_ne_bytes());
    }
    Ok(TbfOptions {
        parms,
        burst,
        rate64: Some(rate).filter(|&r| needs_rate64(r)),
        prate64: peak_mtu.map(|(p, _)| p).filter(|&p| needs_rate64(p)),
        pburst: peak_mtu.map(|(_, m)| m),
    })
}

/// Appends `RTM_DELQDISC`.
pub(crate) fn encode_del_qdisc(
    buf: &mut Vec<u8>,
    seq: u32,
    ifindex: u32,
    parent: u32,
    handle: u32,
) -> Result<(), Invalid> {
    let hdr = TcMsg {
        ifindex: link_index(ifindex)?,
        handle,
        parent,
        info: 0,
    };
    let mut m = MsgBuilder::new(buf, RTM_DELQDISC, DELETE, seq);
    m.bytes(&hdr.to_bytes());
    m.finish()?;
    Ok(())
}

/// The quantum sent for a class: the given one, or the kernel's own
/// default (rate / r2q within its bounds) made explicit.
fn quantum(spec: &ClassSpec) -> u32 {
    spec.quantum.unwrap_or_else(|| {
        let q = (spec.rate_bytes_per_sec / DEFAULT_R2Q).clamp(MIN_QUANTUM, MAX_QUANTUM);
        // At most MAX_QUANTUM, so it fits.
        u32::try_from(q).unwrap_or(MAX_QUANTUM as u32)
    })
}

/// Appends `RTM_NEWTCLASS` for an htb class.
pub(crate) fn encode_class(
    buf: &mut Vec<u8>,
    seq: u32,
    mode: Mode,
    spec: &ClassSpec,
) -> Result<(), Invalid> {
    let ifindex = link_index(spec.ifindex)?;
    let (rate, ceil) = (spec.rate_bytes_per_sec, spec.ceil_bytes_per_sec);
    if rate == 0 || ceil == 0 {
        return Err(Invalid::Message("htb rate and ceil must not be 0"));
    }
    if spec.burst_bytes == 0 || spec.cburst_bytes == 0 {
        return Err(Invalid::Message("htb burst and cburst must not be 0"));
    }
    let too_long = "htb burst takes more than 274 s (2^32 ticks) at its rate";
    let buffer = bytes_to_ticks(spec.burst_bytes, rate).ok_or(Invalid::Message(too_long))?;
    let cbuffer = bytes_to_ticks(spec.cburst_bytes, ceil).ok_or(Invalid::Message(too_long))?;
    // struct tc_htb_opt { rate, ceil, buffer, cbuffer, quantum, level, prio }
    let mut parms = [0u8; 44];
    parms[0..12].copy_from_slice(&ratespec(rate, HTB_DEFAULT_MTU));
    parms[12..24].copy_from_slice(&ratespec(ceil, HTB_DEFAULT_MTU));
    parms[24..28].copy_from_slice(&buffer.to_ne_bytes());
    parms[28..32].copy_from_slice(&cbuffer.to_ne_bytes());
    parms[32..36].copy_from_slice(&quantum(spec).to_ne_bytes());
    let hdr = TcMsg {
        ifindex,
        handle: spec.classid,
        parent: spec.parent,
        info: 0,
    };
    let mut m = MsgBuilder::new(buf, RTM_NEWTCLASS, class_flags(mode), seq);
    m.bytes(&hdr.to_bytes()).str(TCA_KIND, "htb");
    let opts = m.begin_nest(TCA_OPTIONS);
    if needs_rate64(rate) {
        m.u64(TCA_HTB_RATE64, rate);
    }
    if needs_rate64(ceil) {
        m.u64(TCA_HTB_CEIL64, ceil);
    }
    m.attr(TCA_HTB_PARMS, &parms);
    m.end_nest(opts);
    m.finish()?;
    Ok(())
}

/// Appends `RTM_DELTCLASS`.
pub(crate) fn encode_del_class(
    buf: &mut Vec<u8>,
    seq: u32,
    ifindex: u32,
    classid: u32,
) -> Result<(), Invalid> {
    let hdr = TcMsg {
        ifindex: link_index(ifindex)?,
        handle: classid,
        parent: 0,
        info: 0,
    };
    let mut m = MsgBuilder::new(buf, RTM_DELTCLASS, DELETE, seq);
    m.bytes(&hdr.to_bytes());
    m.finish()?;
    Ok(())
}

/// `tcm_info` of a filter: `TC_H_MAKE(prio << 16, htons(protocol))`.
fn filter_info(prio: u16, protocol: u16) -> u32 {
    (u32::from(prio) << 16) | u32::from(protocol.to_be())
}

/// Appends `RTM_NEWTFILTER` for a u32 match-all filter.
pub(crate) fn encode_filter(buf: &mut Vec<u8>, seq: u32, spec: &FilterSpec) -> Result<(), Invalid> {
    let hdr = TcMsg {
        ifindex: link_index(spec.ifindex)?,
        handle: spec.handle,
        parent: spec.parent,
        info: filter_info(spec.prio, spec.protocol),
    };
    let mirred = match spec.mirred {
        Some(mirred) => {
            let target = link_index(mirred.ifindex)
                .map_err(|_| Invalid::Message("invalid mirred target ifindex"))?;
            // struct tc_mirred { index, capab, action, refcnt, bindcnt, eaction, ifindex }
            let mut parms = [0u8; 28];
            let verdict = if mirred.action.is_redirect() {
                TC_ACT_STOLEN
            } else {
                TC_ACT_PIPE
            };
            parms[8..12].copy_from_slice(&verdict.to_ne_bytes());
            parms[20..24].copy_from_slice(&mirred.action.eaction().to_ne_bytes());
            parms[24..28].copy_from_slice(&target.to_ne_bytes());
            Some(parms)
        }
        None => None,
    };
    // struct tc_u32_sel (16 bytes) + one struct tc_u32_key (16 bytes), all
    // zero but flags and nkeys: match u32 0 0 at 0.
    let mut sel = [0u8; 32];
    if spec.classid.is_some() || mirred.is_some() {
        sel[0] = TC_U32_TERMINAL;
    }
    sel[2] = 1; // nkeys

    let mut m = MsgBuilder::new(buf, RTM_NEWTFILTER, NEW_FILTER, seq);
    m.bytes(&hdr.to_bytes()).str(TCA_KIND, "u32");
    let opts = m.begin_nest(TCA_OPTIONS);
    if let Some(classid) = spec.classid {
        m.u32(TCA_U32_CLASSID, classid);
    }
    if let Some(parms) = mirred {
        let list = m.begin_nest(TCA_U32_ACT);
        let first = m.begin_nest(1); // action order 1
        m.str(TCA_ACT_KIND, "mirred");
        let act_opts = m.begin_nest(TCA_ACT_OPTIONS | NLA_F_NESTED);
        m.attr(TCA_MIRRED_PARMS, &parms);
        m.end_nest(act_opts);
        m.end_nest(first);
        m.end_nest(list);
    }
    m.attr(TCA_U32_SEL, &sel);
    m.end_nest(opts);
    m.finish()?;
    Ok(())
}

/// Appends `RTM_DELTFILTER`.
pub(crate) fn encode_del_filter(
    buf: &mut Vec<u8>,
    seq: u32,
    ifindex: u32,
    parent: u32,
    prio: u16,
    protocol: u16,
    handle: u32,
) -> Result<(), Invalid> {
    let hdr = TcMsg {
        ifindex: link_index(ifindex)?,
        handle,
        parent,
        info: filter_info(prio, protocol),
    };
    let mut m = MsgBuilder::new(buf, RTM_DELTFILTER, DELETE, seq);
    m.bytes(&hdr.to_bytes());
    m.finish()?;
    Ok(())
}

#[cfg(test)]
// The fixtures are little-endian captures: their tests only run there.
#[cfg_attr(target_endian = "big", allow(unused))]
mod tests {
    use super::super::attrs::Attrs;
    use super::super::consts::{
        ETH_P_ALL, NLMSG_HDRLEN, TCA_HTB_CTAB, TCA_HTB_RTAB, TCA_TBF_PTAB, TCA_TBF_RTAB, TCMSG_LEN,
        TC_H_INGRESS_QDISC, TC_H_ROOT,
    };
    use super::super::request::Request;
    use super::super::tc::tests::hex;
    use super::super::tc::{tc_handle, Mirred, MirredAction};
    use super::*;

    // Devices of the namespace the fixtures were captured in.
    const VA: u32 = 3;
    const VB: u32 = 2;
    const IFBX: u32 = 4;

    /// Our message for `req`, sequence number 0 (as in the fixtures).
    fn ours(req: &Request) -> Vec<u8> {
        let mut buf = Vec::new();
        assert_eq!(req.encode(&mut buf, 0).expect("encodes"), 1);
        buf
    }

    /// tc's message from a fixture, with the sequence number zeroed and the
    /// attributes of `omit` removed from `TCA_OPTIONS` (lengths fixed up);
    /// also returns the lengths of what was removed.
    fn tc_without(fixture: &str, omit: &[u16]) -> (Vec<u8>, Vec<usize>) {
        let msg = hex(fixture);
        let start = NLMSG_HDRLEN + TCMSG_LEN;
        let mut out = msg[..start].to_vec();
        out[8..12].fill(0);
        let mut removed = Vec::new();
        for (ty, p) in Attrs::new(&msg[start..]) {
            if ty == TCA_OPTIONS {
                let mut inner = Vec::new();
                for (ity, ip) in Attrs::new(p) {
                    if omit.contains(&ity) {
                        removed.push(ip.len());
                        continue;
                    }
                    push_attr(&mut inner, raw_type(p, ip), ip);
                }
                push_attr(&mut out, ty, &inner);
            } else {
                push_attr(&mut out, raw_type(&msg[start..], p), p);
            }
        }
        let len = u32::try_from(out.len()).expect("small");
        out[..4].copy_from_slice(&len.to_ne_bytes());
        (out, removed)
    }

    /// The unmasked type (with `NLA_F_NESTED`) of the attribute whose
    /// payload `p` lies within `within`.
    fn raw_type(within: &[u8], p: &[u8]) -> u16 {
        let at = p.as_ptr() as usize - within.as_ptr() as usize;
        u16::from_ne_bytes([within[at - 2], within[at - 1]])
    }

    fn push_attr(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
        let len = u16::try_from(4 + payload.len()).expect("small");
        out.extend(len.to_ne_bytes());
        out.extend(ty.to_ne_bytes());
        out.extend(payload);
        out.resize(out.len().next_multiple_of(4), 0);
    }

    /// Offset of `TCA_OPTIONS`' first inner attribute's payload in a
    /// message with a 4-byte `TCA_KIND` ("tbf"/"htb"), for patching.
    const FIRST_OPTION: usize = NLMSG_HDRLEN + TCMSG_LEN + 8 + 4 + 4;

    fn word(b: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
    }

    fn tbf(rate: u64, burst: u32, limit: u32) -> QdiscKind {
        QdiscKind::Tbf {
            rate_bytes_per_sec: rate,
            burst_bytes: burst,
            limit_bytes: limit,
            peak_bytes_per_sec: None,
            mtu: None,
        }
    }

    /// `tc qdisc add dev va root handle 1: tbf rate 10mbit burst 16kb
    /// latency 50ms`: identical but for the rate table we leave out and
    /// `tc_tbf_qopt.buffer`, which tc truncates to whole microseconds
    /// (204 796 ticks) and we compute exactly (204 800); the kernel ignores
    /// it either way because `TCA_TBF_BURST` is present.
    #[cfg(target_endian = "little")]
    #[test]
    fn tbf_like_tc() {
        let req = Request::NewQdisc(QdiscSpec {
            ifindex: VA,
            parent: TC_H_ROOT,
            handle: tc_handle(1, 0),
            kind: QdiscKind::tbf_with_latency(
                1_250_000,
                16 * 1024,
                std::time::Duration::from_millis(50),
            ),
        });
        let ours = ours(&req);
        let (mut tc, removed) = tc_without(include_str!("testdata/tc_tbf.hex"), &[TCA_TBF_RTAB]);
        assert_eq!(removed, [1024]);
        let buffer_at = FIRST_OPTION + 28;
        assert_eq!(word(&tc, buffer_at), 204_796);
        assert_eq!(word(&ours, buffer_at), 204_800);
        tc[buffer_at..buffer_at + 4].copy_from_slice(&204_800u32.to_ne_bytes());
        assert_eq!(ours, tc);
        assert_eq!(req.to_string(), "add qdisc tbf 1: root on ifindex 3");
    }

    /// `tc qdisc add dev vb root handle 2: tbf rate 40gbit burst 1mb limit
    /// 4mb`: 5 GB/s needs `TCA_TBF_RATE64`. tc computes the (ignored)
    /// buffer time from the capped 32-bit rate: 3812 ticks instead of 3277.
    #[cfg(target_endian = "little")]
    #[test]
    fn tbf_rate64_like_tc() {
        let req = Request::NewQdisc(QdiscSpec {
            ifindex: VB,
            parent: TC_H_ROOT,
            handle: tc_handle(2, 0),
            kind: tbf(5_000_000_000, 1 << 20, 4 << 20),
        });
        let ours = ours(&req);
        let (mut tc, removed) =
            tc_without(include_str!("testdata/tc_tbf_rate64.hex"), &[TCA_TBF_RTAB]);
        assert_eq!(removed, [1024]);
        let buffer_at = FIRST_OPTION + 28;
        assert_eq!(word(&tc, buffer_at), 3812);
        assert_eq!(word(&ours, buffer_at), 3277);
        tc[buffer_at..buffer_at + 4].copy_from_slice(&3277u32.to_ne_bytes());
        assert_eq!(ours, tc);
    }

    /// `tc qdisc replace dev vb root handle 2: tbf rate 10mbit burst 12500
    /// limit 100000 peakrate 20mbit mtu 2000`: identical without the two
    /// rate tables (all times are whole microseconds here).
    #[cfg(target_endian = "little")]
    #[test]
    fn tbf_peak_replace_like_tc() {
        let req = Request::ReplaceQdisc(QdiscSpec {
            ifindex: VB,
            parent: TC_H_ROOT,
            handle: tc_handle(2, 0),
            kind: QdiscKind::Tbf {
                rate_bytes_per_sec: 1_250_000,
                burst_bytes: 12500,
                limit_bytes: 100_000,
                peak_bytes_per_sec: Some(2_500_000),
                mtu: Some(2000),
            },
        });
        let (tc, removed) = tc_without(
            include_str!("testdata/tc_tbf_peak.hex"),
            &[TCA_TBF_RTAB, TCA_TBF_PTAB],
        );
        assert_eq!(removed, [1024, 1024]);
        assert_eq!(ours(&req), tc);
        assert_eq!(req.to_string(), "replace qdisc tbf 2: root on ifindex 2");
    }

    /// `tc qdisc add dev va handle ffff: ingress`: identical.
    #[cfg(target_endian = "little")]
    #[test]
    fn ingress_like_tc() {
        let req = Request::NewQdisc(QdiscSpec::ingress(VA));
        let (tc, removed) = tc_without(include_str!("testdata/tc_ingress.hex"), &[]);
        assert!(removed.is_empty());
        assert_eq!(ours(&req), tc);
        assert_eq!(
            req.to_string(),
            "add qdisc ingress ffff: ingress on ifindex 3"
        );
    }

    /// `tc qdisc add dev ifbx root handle 1: htb default 10`: identical.
    #[cfg(target_endian = "little")]
    #[test]
    fn htb_qdisc_like_tc() {
        let req = Request::NewQdisc(QdiscSpec {
            ifindex: IFBX,
            parent: TC_H_ROOT,
            handle: tc_handle(1, 0),
            kind: QdiscKind::Htb {
                default_class: 0x10,
                r2q: None,
            },
        });
        let (tc, _) = tc_without(include_str!("testdata/tc_htb_qdisc.hex"), &[]);
        assert_eq!(ours(&req), tc);
    }

    fn class(classid: u32, rate: u64, ceil: u64, burst: u32, cburst: u32) -> ClassSpec {
        ClassSpec {
            ifindex: IFBX,
            parent: tc_handle(1, 0),
            classid,
            rate_bytes_per_sec: rate,
            ceil_bytes_per_sec: ceil,
            burst_bytes: burst,
            cburst_bytes: cburst,
            quantum: Some(1514),
        }
    }

    /// `tc class add dev ifbx parent 1: classid 1:30 htb rate 100mbit ceil
    /// 200mbit burst 12500 cburst 25000 quantum 1514`: identical without the
    /// two rate tables.
    #[cfg(target_endian = "little")]
    #[test]
    fn htb_class_like_tc() {
        let spec = class(tc_handle(1, 0x30), 12_500_000, 25_000_000, 12500, 25000);
        let req = Request::NewClass(spec.clone());
        let (tc, removed) = tc_without(
            include_str!("testdata/tc_htb_class.hex"),
            &[TCA_HTB_RTAB, TCA_HTB_CTAB],
        );
        assert_eq!(removed, [1024, 1024]);
        assert_eq!(ours(&req), tc);
        assert_eq!(req.to_string(), "add htb class 1:30 parent 1: on ifindex 4");

        // `tc class replace ... classid 1:10 htb rate 50mbit ...`: NLM_F_CREATE only.
        let req = Request::ReplaceClass(ClassSpec {
            classid: tc_handle(1, 0x10),
            rate_bytes_per_sec: 6_250_000,
            burst_bytes: 12500,
            ..spec
        });
        let (tc, _) = tc_without(
            include_str!("testdata/tc_htb_class_replace.hex"),
            &[TCA_HTB_RTAB, TCA_HTB_CTAB],
        );
        // tc: 12500 B at 6.25 MB/s = 2000 µs = 31250 ticks, like us.
        assert_eq!(ours(&req), tc);
    }

    /// `tc class add ... classid 1:10 htb rate 100mbit ceil 200mbit burst
    /// 16kb cburst 32kb` (no quantum): tc's buffers are truncated to whole
    /// microseconds (20468 ticks, i.e. 16374 bytes) where ours hold the
    /// full 16 KiB (20480 ticks); tc sends quantum 0 and the kernel
    /// warns that its 1 250 000 bytes are big (and caps them at 200 000),
    /// we send 200 000 ourselves.
    #[cfg(target_endian = "little")]
    #[test]
    fn htb_class_buffers_exact() {
        let spec = ClassSpec {
            quantum: None,
            ..class(tc_handle(1, 0x10), 12_500_000, 25_000_000, 16384, 32768)
        };
        let ours = ours(&Request::NewClass(spec));
        let (mut tc, _) = tc_without(
            include_str!("testdata/tc_htb_class_16kb.hex"),
            &[TCA_HTB_RTAB, TCA_HTB_CTAB],
        );
        let buffer_at = FIRST_OPTION + 24;
        assert_eq!([word(&tc, buffer_at), word(&tc, buffer_at + 4)], [20468; 2]);
        assert_eq!(
            [word(&ours, buffer_at), word(&ours, buffer_at + 4)],
            [20480; 2]
        );
        assert_eq!(
            (word(&tc, buffer_at + 8), word(&ours, buffer_at + 8)),
            (0, 200_000)
        );
        tc[buffer_at..buffer_at + 12].copy_from_slice(&ours[buffer_at..buffer_at + 12]);
        assert_eq!(ours, tc);
    }

    /// `tc class add dev ifbx parent 1: classid 1:20 htb rate 5gbit ceil
    /// 40gbit`: the ceil needs `TCA_HTB_CEIL64` (sent first, like tc). tc's
    /// default buckets at these rates are 31 ticks and (a tc bug: the
    /// 1605-byte default is under one microsecond at 5 GB/s) 0 ticks; we
    /// send what we are asked for.
    #[cfg(target_endian = "little")]
    #[test]
    fn htb_class_ceil64_like_tc() {
        let spec = ClassSpec {
            quantum: None,
            ..class(tc_handle(1, 0x20), 625_000_000, 5_000_000_000, 1600, 1605)
        };
        let ours = ours(&Request::NewClass(spec));
        let (mut tc, _) = tc_without(
            include_str!("testdata/tc_htb_class_64.hex"),
            &[TCA_HTB_RTAB, TCA_HTB_CTAB],
        );
        let buffer_at = FIRST_OPTION + 12 + 24; // after TCA_HTB_CEIL64
        assert_eq!(
            &tc[FIRST_OPTION..FIRST_OPTION + 8],
            &5_000_000_000u64.to_ne_bytes()
        );
        assert_eq!(
            [
                word(&tc, buffer_at),
                word(&tc, buffer_at + 4),
                word(&tc, buffer_at + 8)
            ],
            [31, 0, 0]
        );
        // 1600 B at 625 MB/s = 2560 ns = 40 ticks; 1605 B at 5 GB/s = 321 ns → 6.
        assert_eq!(
            [
                word(&ours, buffer_at),
                word(&ours, buffer_at + 4),
                word(&ours, buffer_at + 8)
            ],
            [40, 6, 200_000]
        );
        tc[buffer_at..buffer_at + 12].copy_from_slice(&ours[buffer_at..buffer_at + 12]);
        assert_eq!(ours, tc);
    }

    /// `tc filter add dev va parent ffff: protocol all prio 1 u32 match u32
    /// 0 0 action mirred egress redirect dev ifbx`: identical.
    #[cfg(target_endian = "little")]
    #[test]
    fn u32_mirred_like_tc() {
        let req = Request::NewFilter(FilterSpec {
            ifindex: VA,
            parent: TC_H_INGRESS_QDISC,
            prio: 1,
            protocol: ETH_P_ALL,
            handle: 0,
            classid: None,
            mirred: Some(Mirred {
                action: MirredAction::EgressRedirect,
                ifindex: IFBX,
            }),
        });
        let (tc, _) = tc_without(include_str!("testdata/tc_u32_mirred.hex"), &[]);
        assert_eq!(ours(&req), tc);
        assert_eq!(
            req.to_string(),
            "add u32 filter prio 1 parent ffff: on ifindex 3 (mirred egress redirect to ifindex 4)"
        );
    }

    /// `tc filter add dev ifbx parent 1: protocol all prio 2 u32 match u32 0
    /// 0 flowid 1:10`: identical.
    #[cfg(target_endian = "little")]
    #[test]
    fn u32_flowid_like_tc() {
        let req = Request::NewFilter(FilterSpec {
            ifindex: IFBX,
            parent: tc_handle(1, 0),
            prio: 2,
            protocol: ETH_P_ALL,
            handle: 0,
            classid: Some(tc_handle(1, 0x10)),
            mirred: None,
        });
        let (tc, _) = tc_without(include_str!("testdata/tc_u32_flowid.hex"), &[]);
        assert_eq!(ours(&req), tc);
    }

    /// `tc filter del dev va parent ffff: prio 1`, `tc class del dev ifbx
    /// classid 1:30`, `tc qdisc del dev vb root`: identical.
    #[cfg(target_endian = "little")]
    #[test]
    fn deletions_like_tc() {
        let del_filter = Request::DelFilter {
            ifindex: VA,
            parent: TC_H_INGRESS_QDISC,
            prio: 1,
            protocol: 0,
            handle: 0,
        };
        let (tc, _) = tc_without(include_str!("testdata/tc_filter_del.hex"), &[]);
        assert_eq!(ours(&del_filter), tc);
        assert_eq!(
            del_filter.to_string(),
            "delete filter prio 1 parent ffff: on ifindex 3"
        );
        let del_class = Request::DelClass {
            ifindex: IFBX,
            classid: tc_handle(1, 0x30),
        };
        let (tc, _) = tc_without(include_str!("testdata/tc_class_del.hex"), &[]);
        assert_eq!(ours(&del_class), tc);
        assert_eq!(del_class.to_string(), "delete class 1:30 on ifindex 4");
        let del_qdisc = Request::DelQdisc {
            ifindex: VB,
            parent: TC_H_ROOT,
            handle: 0,
        };
        let (tc, _) = tc_without(include_str!("testdata/tc_qdisc_del.hex"), &[]);
        assert_eq!(ours(&del_qdisc), tc);
        assert_eq!(del_qdisc.to_string(), "delete qdisc root on ifindex 2");
    }

    #[test]
    fn cell_log_and_quantum() {
        assert_eq!(cell_log(2047), 3);
        assert_eq!(cell_log(1600), 3);
        assert_eq!(cell_log(2048), 4);
        assert_eq!(cell_log(255), 0);
        assert_eq!(cell_log(u32::MAX), 24);
        let mut spec = class(1, 12_500_000, 12_500_000, 1, 1);
        spec.quantum = None;
        assert_eq!(quantum(&spec), 200_000);
        spec.rate_bytes_per_sec = 125_000;
        assert_eq!(quantum(&spec), 12_500);
        spec.rate_bytes_per_sec = 1000;
        assert_eq!(quantum(&spec), 1000);
        spec.quantum = Some(0);
        assert_eq!(quantum(&spec), 0);
        assert!(!needs_rate64(u64::from(u32::MAX)));
        assert!(needs_rate64(1 << 32));
        assert_eq!(rate32(u64::from(u32::MAX)), u32::MAX);
        assert_eq!(rate32(1 << 32), u32::MAX);
    }

    #[test]
    fn invalid_tc_requests_are_refused() {
        let base = QdiscSpec {
            ifindex: 3,
            parent: TC_H_ROOT,
            handle: 0,
            kind: tbf(1000, 1514, 10_000),
        };
        let peak = |p, m| QdiscKind::Tbf {
            rate_bytes_per_sec: 1000,
            burst_bytes: 1514,
            limit_bytes: 10_000,
            peak_bytes_per_sec: p,
            mtu: m,
        };
        let bad = [
            Request::NewQdisc(QdiscSpec {
                ifindex: 0,
                ..base.clone()
            }),
            Request::NewQdisc(QdiscSpec {
                kind: tbf(0, 1514, 1),
                ..base.clone()
            }),
            Request::NewQdisc(QdiscSpec {
                kind: tbf(1, 0, 1),
                ..base.clone()
            }),
            Request::NewQdisc(QdiscSpec {
                kind: tbf(1, 1, 0),
                ..base.clone()
            }),
            Request::NewQdisc(QdiscSpec {
                kind: peak(Some(1000), Some(1514)),
                ..base.clone()
            }),
            Request::NewQdisc(QdiscSpec {
                kind: peak(Some(2000), None),
                ..base.clone()
            }),
            Request::NewQdisc(QdiscSpec {
                kind: peak(Some(2000), Some(0)),
                ..base.clone()
            }),
            Request::ReplaceQdisc(QdiscSpec {
                kind: peak(None, Some(1514)),
                ..base.clone()
            }),
            Request::NewClass(class(1, 0, 1, 1, 1)),
            Request::NewClass(class(1, 1, 0, 1, 1)),
            Request::NewClass(class(1, 1, 1, 0, 1)),
            Request::ReplaceClass(class(1, 1, 1, u32::MAX, 1)),
            Request::NewFilter(FilterSpec {
                ifindex: 3,
                parent: TC_H_INGRESS_QDISC,
                prio: 1,
                protocol: ETH_P_ALL,
                handle: 0,
                classid: None,
                mirred: Some(Mirred {
                    action: MirredAction::EgressMirror,
                    ifindex: 0,
                }),
            }),
            Request::DelClass {
                ifindex: 0,
                classid: 1,
            },
        ];
        let mut buf = vec![0xaa; 4];
        for req in bad {
            let err = req.encode(&mut buf, 1).expect_err("invalid");
            assert_eq!(err.errno, libc::EINVAL, "{req}");
            assert!(err.ext_ack.is_some());
            assert_eq!(buf, [0xaa; 4]);
        }
        // A valid peak rate and a big one.
        let mut buf = Vec::new();
        let ok = Request::NewQdisc(QdiscSpec {
            kind: QdiscKind::Tbf {
                rate_bytes_per_sec: 5_000_000_000,
                burst_bytes: 1 << 20,
                limit_bytes: 1 << 22,
                peak_bytes_per_sec: Some(6_000_000_000),
                mtu: Some(9000),
            },
            ..base
        });
        assert_eq!(ok.encode(&mut buf, 1), Ok(1));
        let opts = &buf[NLMSG_HDRLEN + TCMSG_LEN + 8 + 4..];
        let types: Vec<u16> = Attrs::new(opts).map(|(ty, _)| ty).collect();
        assert_eq!(
            types,
            [
                TCA_TBF_PARMS,
                TCA_TBF_BURST,
                TCA_TBF_RATE64,
                TCA_TBF_PRATE64,
                TCA_TBF_PBURST
            ]
        );
    }

    #[test]
    fn mirror_uses_pipe() {
        let req = Request::NewFilter(FilterSpec {
            ifindex: 3,
            parent: TC_H_INGRESS_QDISC,
            prio: 0,
            protocol: 0x0800,
            handle: 0,
            classid: None,
            mirred: Some(Mirred {
                action: MirredAction::IngressMirror,
                ifindex: 9,
            }),
        });
        let buf = ours(&req);
        // tcm_info: prio 0, protocol htons(0x0800).
        assert_eq!(word(&buf, NLMSG_HDRLEN + 16), u32::from(0x0800u16.to_be()));
        let parms_end = buf.len() - 36; // SEL attribute follows
        let parms = &buf[parms_end - 28..parms_end];
        assert_eq!(word(parms, 8), TC_ACT_PIPE as u32);
        assert_eq!(word(parms, 20), 4); // TCA_INGRESS_MIRROR
        assert_eq!(word(parms, 24), 9);
        assert_eq!(
            super::super::tc::parse_mirred_actions(
                &buf[NLMSG_HDRLEN + TCMSG_LEN + 8 + 4 + 4..parms_end]
            ),
            Some(Mirred {
                action: MirredAction::IngressMirror,
                ifindex: 9
            })
        );
    }
}
