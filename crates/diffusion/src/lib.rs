//! Crate `diffusion` (skeleton; see ARCHITECTURE.md).
#![warn(missing_docs)]
