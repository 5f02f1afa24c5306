//! Candle ε-networks for diffusion models (DDPM, arXiv:2006.11239; Analytic-DPM,
//! arXiv:2201.06503): networks, data, training with checkpoints, and the glue that lets the
//! scalar core `diffusion` sample, estimate Γ and measure NELBO with a trained network.
//!
//! Main types: [`EpsNetConfig`] / [`Model`] (networks), [`data::Dataset`], [`train::train`],
//! [`Checkpoint`] (an opened checkpoint folder: predictor, Γ, heads, decoder, plan settings),
//! [`NetPredictor`] (a network as a `diffusion::EpsPredictor`) and
//! the [`pipeline`] functions used by `kexue diffusion {gamma,sample,eval,trajectory,likelihood,demo}`, and the
//! SN-/NPR-DPM covariance heads ([`cov`]: [`CovNet`], [`cov::train_cov`], [`NetCovPredictor`]).
//! Not here: schedules, sampler coefficients, Γ formulas and NELBO math (crate `diffusion`).
//!
//! # Example
//!
//! The shipped digits checkpoint: 16 samples with Analytic-DDPM at K = 10, then the NELBO of
//! 50 held-out digits on the same trajectory, with Γ estimated from 20 rows and not cached (the
//! shipped folder is left as it is).
//!
//! ```
//! use diffusion::{AnySampler, DrawSpec, PlanSettings, TrajectoryKind};
//! use diffusion_nn::pipeline::{self, EvalSpec};
//! use diffusion_nn::{Checkpoint, GammaPolicy};
//!
//! let ck = Checkpoint::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/digits"))?;
//! let gamma = ck.gamma(&GammaPolicy::uncached(20, 0), &mut |_| {})?.0;
//! let sampler: AnySampler = "analytic-ddpm".parse()?;
//! let spec = DrawSpec { sampler, steps: 10, trajectory: TrajectoryKind::Even, n: 16, seed: 0,
//!                       settings: PlanSettings::EXACT /* replaced by the checkpoint's */ };
//! let draw = pipeline::draw_with_gamma(&ck, &spec, &gamma.to_gamma()?, &mut |_| {})?;
//! assert_eq!(draw.x.len(), 16 * 64);
//! let eval = EvalSpec { samplers: vec![sampler], ks: vec![10], limit: Some(50), ..EvalSpec::default() };
//! let report = pipeline::nelbo_table(&ck, &gamma, &eval, &mut |_| {})?;
//! assert!(report.rows[0].bpd > 0.0 && report.rows[0].bpd < 8.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod checkpoint;
pub mod ckpt;
pub mod config;
pub mod cov;
pub mod data;
pub mod diffusers;
mod error;
pub mod model;
pub mod output;
pub mod pipeline;
pub mod predictor;
pub mod shipped;
pub mod train;

pub use ckpt::{Checkpoint, GammaCache, GammaPolicy, OpenOptions, Reuse};
pub use cov::{CovNet, NetCovPredictor};
pub use error::{Error, Result};
pub use model::{EpsNet, EpsNetConfig, MlpConfig, Model, NetKind, UnetConfig};
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
