//! hvnet-xen: the Xen backend (xl vif import, the libxl vif hotplug entrypoint). The crate is
//! GPL-3.0-only because it links xenstore-rs (GPL-3.0-only).

#![warn(missing_docs)]

pub mod hotplug;
pub mod import;
pub mod vif;
