//! netns (placeholder, being written)
