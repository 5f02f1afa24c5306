//! Candle ε-networks for diffusion models (DDPM, arXiv:2006.11239; Analytic-DPM,
//! arXiv:2201.06503): networks, data, training with checkpoints, and the glue that lets the
//! scalar core `diffusion` sample, estimate Γ and measure NELBO with a trained network.
#![warn(missing_docs)]

pub mod checkpoint;
pub mod data;
mod error;
pub mod model;
pub mod output;
pub mod pipeline;
pub mod predictor;
pub mod train;

pub use error::{Error, Result};
pub use model::{EpsNet, EpsNetConfig, MlpConfig, Model, UnetConfig};
pub use predictor::NetPredictor;
