//! ping (placeholder, being written)
