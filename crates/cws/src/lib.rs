//! Crate `cws` (skeleton; see ARCHITECTURE.md).
#![warn(missing_docs)]
