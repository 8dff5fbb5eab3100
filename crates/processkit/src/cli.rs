//! Typed CLI wrappers (placeholder).
