//! hvnet-core
