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

pub use candle_core::Device;

/// Which device to run the networks on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The CPU (always available).
    Cpu,
    /// The first CUDA GPU (needs the `cuda` feature and a GPU).
    Cuda,
}

/// Opens the chosen device.
///
/// # Errors
/// [`Error::Config`] when CUDA was asked for but this build has no `cuda` feature or no GPU.
pub fn device(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda => Device::new_cuda(0).map_err(|e| {
            Error::config(
                "device",
                format!("cuda is not available ({e}); build with `--features cuda`"),
            )
        }),
    }
}
