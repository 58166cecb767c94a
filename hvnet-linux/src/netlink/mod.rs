//! rtnetlink over a neli `NETLINK_ROUTE` socket: dumps of links, addresses
//! and routes, and pipelined write requests.
//!
//! * [`Rtnl`] — the socket: [`Rtnl::dump_links`], [`Rtnl::get_link`],
//!   [`Rtnl::dump_addrs`], [`Rtnl::dump_routes`] and [`Rtnl::execute`],
//!   which sends many [`Request`]s per `sendmsg` and reports one result each.
//! * [`Link`] (with [`LinkStats`] from [`Rtnl::dump_links_with_stats`]),
//!   [`Addr`], [`Route`] — what the dumps report.
//! * [`Request`], [`LinkChange`], [`BridgeOpts`], [`BridgePortOpts`],
//!   [`RouteSpec`] — what can be changed.
//! * Traffic control (rate limiting in both directions): [`QdiscSpec`],
//!   [`ClassSpec`], [`FilterSpec`] in requests; [`Qdisc`], [`TcClass`],
//!   [`TcFilter`] from [`Rtnl::dump_qdiscs`], [`Rtnl::dump_classes`] and
//!   [`Rtnl::dump_filters`].
//! * [`NlError`] — errno, the kernel's extended ACK message and a context
//!   naming the object.
//! * [`consts`] — the kernel constants that appear in those types.
//!
//! Messages are encoded and parsed by hand (module `attrs`) rather than with
//! neli's typed builders: it keeps a batch of requests a single contiguous
//! buffer and makes the wire format explicit and unit-tested. neli provides
//! the socket.
//!
//! The API uses only std types; a socket belongs to the network namespace
//! of the thread that opened it.

mod addr;
mod attrs;
pub mod consts;
mod error;
mod link;
mod macvtap;
mod neigh;
mod request;
mod route;
mod socket;
mod stats;
mod tc;
mod tc_encode;
mod vf;
mod vxlan;

pub use addr::Addr;
pub use error::NlError;
pub use link::{BridgeInfo, BridgePortInfo, Link, TunInfo};
pub use macvtap::MacvtapSpec;
pub use neigh::NeighRequest;
pub use request::{BridgeOpts, BridgePortOpts, LinkChange, Request, RouteSpec};
pub use route::Route;
pub use socket::Rtnl;
pub use stats::{LinkStats, TcStats};
pub use tc::{
    tc_handle, ClassSpec, FilterSpec, HtbClassInfo, HtbInfo, Mirred, MirredAction, Qdisc,
    QdiscKind, QdiscSpec, TbfInfo, TcClass, TcFilter, U32Info, U32Key,
};
pub use vf::{VfChange, VfInfo};
pub use vxlan::{FdbEntry, VxlanInfo, VxlanRequest};
