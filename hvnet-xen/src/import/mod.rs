//! Importers: Xen toolstack settings turned into hvnet TOML.
//!
//! Every importer is pure: it reads its input as data and returns the TOML text together with
//! warnings; the caller does the I/O.

pub mod xl_vif;
pub mod xl_vif6;
