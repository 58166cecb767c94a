//! rtnetlink (placeholder, being written)
