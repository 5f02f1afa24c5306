//! Crate `probmap` (skeleton; see ARCHITECTURE.md).
#![warn(missing_docs)]
