//! sysctl (placeholder, being written)
