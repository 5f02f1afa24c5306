//! Scalar (f64) mathematics of discrete-time diffusion models (DDPM, DDIM, Analytic-DPM).
//!
//! No tensors and no I/O live here: this crate holds noise schedules ([`Schedule`]),
//! sampling trajectories ([`Trajectory`]), reverse steps as coefficient data ([`Step`],
//! produced for each [`Sampler`] by [`plan`]), the one sampling loop ([`sample()`]), Γ
//! estimation and optimal variances of Analytic-DPM ([`analytic`]), the NELBO ([`nelbo()`])
//! and exact ε-predictors of data laws with closed-form posteriors ([`exact`]). The
//! experiment layer sits on top: every sampler by name ([`AnySampler`]) drawn through one
//! entry point ([`draw()`]), the laboratory's named laws ([`laws`]) and the lab and
//! optimal-trajectory experiments as serde reports ([`experiment`]). Networks
//! (crate `diffusion-nn`) plug in through [`EpsPredictor`]: every routine takes batches of
//! flat f64 rows and any predictor.
//!
//! Papers: Ho et al., DDPM (arXiv 2006.11239); Song et al., DDIM (arXiv 2010.02502);
//! Bao et al., Analytic-DPM (arXiv 2201.06503). Spec: `diffusion.md`.
//!
//! Conventions (spec §1): arrays have length N+1 and index 0 is the data;
//! `alpha_bar(n)` is the cumulative signal *variance* ᾱ_n, `beta_bar(n) = 1 − ᾱ_n`.
//!
//! # Example
//!
//! Analytic-DDPM on 1-D Gaussian data with the exact ε-predictor: 10 steps of the linear
//! schedule reproduce the data variance 0.09 exactly (spec §10.3).
//!
//! ```
//! use diffusion::exact::Gaussian;
//! use diffusion::{analytic::Gamma, plan, sample, Moments, PlanConfig, Sampler, Schedule, Trajectory};
//! use rand::SeedableRng;
//!
//! let schedule = Schedule::linear(1000)?;
//! let trajectory = Trajectory::even(1000, 10)?;
//! let data = Gaussian::isotropic(1, 0.5, 0.09)?;
//! let gamma = Gamma::from_fn(&schedule, |ab| data.gamma(ab))?;
//! let steps = plan(&schedule, &trajectory, &PlanConfig::exact(Sampler::AnalyticDdpm), &gamma)?;
//!
//! // Exact propagation of mean and variance from x_N ~ q(x_N).
//! let (ab, bb) = (schedule.alpha_bar(1000), schedule.beta_bar(1000));
//! let start = Moments { mean: ab.sqrt() * 0.5, var: ab * 0.09 + bb };
//! let end = diffusion::propagate_gaussian(&data, &steps, &[start])?;
//! assert!((end[0].var - 0.09).abs() < 1e-9 && (end[0].mean - 0.5).abs() < 1e-9);
//!
//! // Or draw samples with the same steps.
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let mut x = vec![0.0; 1000];
//! diffusion::standard_normal(&mut rng, &mut x);
//! sample(&data, &steps, &mut x, &mut rng, &mut |_| {})?;
//! let mean = x.iter().sum::<f64>() / x.len() as f64;
//! assert!((mean - 0.5).abs() < 0.05);
//! # Ok::<(), diffusion::Error>(())
//! ```
#![warn(missing_docs)]

pub mod analytic;
pub mod covariance;
pub mod draw;
mod error;
pub mod exact;
pub mod experiment;
pub mod laws;
pub mod likelihood;
pub mod menu;
pub mod metrics;
mod named;
pub mod nelbo;
pub mod optimal;
pub mod predictor;
pub mod quadrature;
pub mod sample;
pub mod schedule;
pub mod sde;
pub mod solvers;
pub mod step;
pub mod trajectory;

pub use covariance::{CovConfig, CovKind, CovPredictor, CovSampler, sample_cov};
pub use draw::{AnySampler, Draw, DrawSpec, draw};
pub use error::{Error, Result};
pub use nelbo::{Decoder, Nelbo, nelbo};
pub use optimal::{OptimalTrajectory, optimal_trajectory};
pub use predictor::{EpsPredictor, NoiseLevel};
pub use sample::{Moments, propagate_gaussian, sample, sample_with_variance, standard_normal};
pub use schedule::{Schedule, ScheduleKind};
pub use sde::Sde;
pub use solvers::{ContinuousSampler, SampleReport, SolverConfig, sample_continuous};
pub use step::{
    EpsForm, FinalStep, PlanConfig, PlanSettings, Sampler, Sigma2Clip, Step, X0Clip, plan,
};
pub use trajectory::{Trajectory, TrajectoryKind};
