//! `vif-bridge` (reference §9): put the vif (or QEMU tap) on a bridge, or take it off.
//!
//! On `online`/`add`: find the bridge (the `bridge` key, else the first bridge on the host;
//! `xenbrN` falls back to a bridge `ethN`), rename the device to its `vifname` if set, give
//! it the host-side MAC `fe:ff:ff:ff:ff:ff`, flush its addresses, set the MTU (the `mtu` key,
//! else the bridge's) and publish it to the frontend's `mtu` node (vif only, at the
//! `frontend-id`/`handle` path), enslave it and bring it up. Every step checks the current
//! state first, so a repeated `online` changes nothing and still succeeds. The work is
//! planned by [`super::plan::Planner::bridge_up`] and [`super::plan::Planner::bridge_down`].
//!
//! On `offline`/`remove`: bring it down and release it from its bridge; a device netback
//! already deleted is not an error.

pub use super::plan::HOST_MAC;
