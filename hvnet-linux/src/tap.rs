//! tap (placeholder, being written)
