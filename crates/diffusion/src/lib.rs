//! Scalar (f64) mathematics of discrete-time diffusion models (DDPM, DDIM, Analytic-DPM).
//!
//! No tensors and no I/O live here: this crate holds schedules, trajectories, reverse-step
//! coefficients, optimal variances, NELBO terms and exact ε-predictors for data laws with a
//! closed-form posterior. Networks (crate `diffusion-nn`) plug in through [`EpsPredictor`].
//!
//! Conventions (spec `diffusion.md` §1): arrays have length N+1 and index 0 is the data;
//! `alpha_bar(n)` is the cumulative signal *variance* ᾱ_n, `beta_bar(n) = 1 − ᾱ_n`.
#![warn(missing_docs)]

mod error;
pub mod predictor;

pub use error::{Error, Result};
pub use predictor::{EpsPredictor, NoiseLevel};
