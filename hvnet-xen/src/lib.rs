//! hvnet-xen
