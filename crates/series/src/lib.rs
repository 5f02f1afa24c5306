//! Crate `series` (skeleton; see ARCHITECTURE.md).
#![warn(missing_docs)]
