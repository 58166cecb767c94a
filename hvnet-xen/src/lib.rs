//! hvnet-xen: the Xen backend (vifs, libxl hotplug). Implemented by the Xen issue; the crate is
//! GPL-3.0-only because it links xenstore-rs (GPL-3.0-only).

pub mod import;
