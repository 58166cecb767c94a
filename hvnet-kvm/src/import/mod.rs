//! Importers: other tools' network settings turned into hvnet TOML.
//!
//! Every importer reads its input as data (nothing is executed) and returns the TOML text
//! together with warnings; the caller does the I/O.

pub mod libvirt_network;
pub mod usr_guest_config;
