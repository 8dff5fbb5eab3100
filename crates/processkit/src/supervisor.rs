//! Supervision (placeholder).
