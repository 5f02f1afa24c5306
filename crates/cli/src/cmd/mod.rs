//! One module per domain; each exposes `Args` and `run`.

pub mod cws;
pub mod diffusion;
pub mod probmap;
pub mod series;
