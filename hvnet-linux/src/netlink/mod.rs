//! rtnetlink over a neli `NETLINK_ROUTE` socket: dumps of links, addresses
//! and routes, and pipelined write requests.
//!
//! * [`Rtnl`] — the socket: [`Rtnl::dump_links`], [`Rtnl::get_link`],
//!   [`Rtnl::dump_addrs`], [`Rtnl::dump_routes`] and [`Rtnl::execute`],
//!   which sends many [`Request`]s per `sendmsg` and reports one result each.
//! * [`Link`], [`Addr`], [`Route`] — what the dumps report.
//! * [`Request`], [`LinkChange`], [`BridgeOpts`], [`RouteSpec`] — what can be
//!   changed.
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
mod request;
mod route;
mod socket;

pub use addr::Addr;
pub use error::NlError;
pub use link::{BridgeInfo, Link, TunInfo};
pub use request::{BridgeOpts, LinkChange, Request, RouteSpec};
pub use route::Route;
pub use socket::Rtnl;
