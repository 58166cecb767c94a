//! lock (placeholder, being written)
