//! Crate `diffusion-nn` (skeleton; see ARCHITECTURE.md).
#![warn(missing_docs)]
