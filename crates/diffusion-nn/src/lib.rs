//! Candle ε-networks for diffusion models (DDPM, arXiv:2006.11239; Analytic-DPM,
//! arXiv:2201.06503): networks, data, training with checkpoints, and the glue that lets the
//! scalar core `diffusion` sample, estimate Γ and measure NELBO with a trained network.
//!
//! Main types: [`EpsNetConfig`] / [`Model`] (networks), [`data::Dataset`], [`train::train`],
//! [`checkpoint::load_model`], [`NetPredictor`] (a network as a `diffusion::EpsPredictor`) and
//! the [`pipeline`] functions used by `kexue diffusion {gamma,sample,eval,demo}`, and the
//! SN-/NPR-DPM covariance heads ([`cov`]: [`CovNet`], [`cov::train_cov`], [`NetCovPredictor`]).
//! Not here: schedules, sampler coefficients, Γ formulas and NELBO math (crate `diffusion`).
//!
//! # Example
//!
//! An (untrained) reference MLP drives the core's DDIM sampler over a batch of 2-D rows.
//!
//! ```
//! use diffusion::{PlanConfig, Sampler, Schedule, Trajectory, analytic::Gamma};
//! use diffusion_nn::{Device, EpsNetConfig, MlpConfig, Model, NetPredictor};
//! use rand::SeedableRng;
//!
//! let model = Model::new(&EpsNetConfig::Mlp(MlpConfig::reference(2)), 0, &Device::Cpu)?;
//! let schedule = Schedule::linear(1000)?;
//! let trajectory = Trajectory::even(1000, 10)?;
//! let config = PlanConfig::exact(Sampler::Ddim { eta: 0.0 });
//! let steps = diffusion::plan(&schedule, &trajectory, &config, &Gamma::unknown(1000))?;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let mut x = vec![0.0; 16 * 2];
//! diffusion::standard_normal(&mut rng, &mut x);
//! diffusion::sample(&NetPredictor::new(&model, 256), &steps, &mut x, &mut rng, &mut |_| {})?;
//! assert!(x.iter().all(|v| v.is_finite()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod checkpoint;
pub mod cov;
pub mod data;
pub mod diffusers;
mod error;
pub mod model;
pub mod output;
pub mod pipeline;
pub mod predictor;
pub mod train;

pub use cov::{CovNet, NetCovPredictor};
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
