//! Γ estimation, sampling and NELBO evaluation of a trained network through the scalar core
//! (`diffusion::analytic::estimate_gamma`, `diffusion::sample`, `diffusion::nelbo`), also with a
//! covariance head for SN-/NPR-DPM (`diffusion::covariance::{sample_cov, nelbo_cov}`: the same
//! plan settings, per-dimension variances).
//!
//! Settings follow spec §6.5/§6.7. For discrete data with L levels (images, digits):
//! x̂_0 clipped to [−1, 1], the analytic variances clipped with Eq. 11/12 for [−1, 1], the last
//! step returns the mean, and sampling clips σ² of the step into x_{τ_1} at one quantisation
//! level (y = 255/(L−1) grey levels of the 8-bit threshold, i.e. y = 1 for 8-bit images);
//! the NELBO uses the discretised Gaussian decoder with L levels and variance β̃_{1|2}.
//! For continuous data (2-D toys) nothing is clipped and the decoder is a Gaussian with
//! variance β̃_{1|2}, so "bits/dim" is a differential entropy bound and can be negative.

use std::path::Path;
use std::time::Instant;

use diffusion::analytic::{DataRange, Gamma};
use diffusion::covariance::{CovConfig, CovSampler, nelbo_cov, sample_cov as core_sample_cov};
use diffusion::{
    Decoder, EpsForm, FinalStep, PlanConfig, Sampler, Schedule, Sigma2Clip, Trajectory, X0Clip,
};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointMeta, write_atomic};
use crate::cov::{CovNet, NetCovPredictor};
use crate::model::Model;
use crate::predictor::NetPredictor;
use crate::{Error, Result};

/// Name of the Γ cache beside a checkpoint.
pub const GAMMA_FILE: &str = "gamma.json";
/// Rows per network call.
pub const MAX_BATCH: usize = 512;

/// The Γ cache file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GammaFile {
    /// Step of the checkpoint Γ was estimated with.
    pub checkpoint_step: u64,
    /// Monte-Carlo sample size M.
    pub m: usize,
    /// Seed of the data choice and the noise.
    pub seed: u64,
    /// N.
    pub n_timesteps: usize,
    /// Seconds the estimate took.
    pub seconds: f64,
    /// Γ_n for n = 1..=N (entry i is Γ_{i+1}).
    pub gamma: Vec<f64>,
}

impl GammaFile {
    /// The values as the core's [`Gamma`].
    ///
    /// # Errors
    /// When a value is negative or not finite.
    pub fn to_gamma(&self) -> Result<Gamma> {
        Ok(Gamma::from_pairs(
            self.n_timesteps,
            self.gamma.iter().enumerate().map(|(i, &g)| (i + 1, g)),
        )?)
    }
}

/// Estimates Γ_n for every n = 1..=N from `m` training rows (chosen by `seed`, without
/// replacement when m ≤ rows) with one fresh ε per row and n (paper-A Eq. 8).
///
/// # Errors
/// [`Error::Config`] for m = 0 or empty data; predictor errors.
pub fn estimate_gamma(
    model: &Model,
    meta: &CheckpointMeta,
    schedule: &Schedule,
    train_rows: &[f32],
    m: usize,
    seed: u64,
    on_time: &mut dyn FnMut(usize),
) -> Result<GammaFile> {
    let d = model.config().dim();
    let n_rows = train_rows.len() / d;
    if m == 0 || n_rows == 0 {
        return Err(Error::config(
            "m",
            format!("need m ≥ 1 and training rows (m = {m}, rows = {n_rows})"),
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..n_rows).collect();
    order.shuffle(&mut rng);
    let rows: Vec<f64> = (0..m)
        .flat_map(|i| {
            train_rows[order[i % n_rows] * d..(order[i % n_rows] + 1) * d]
                .iter()
                .map(|&v| v as f64)
        })
        .collect();
    let times: Vec<usize> = (1..=schedule.n_steps()).collect();
    let started = Instant::now();
    let predictor = NetPredictor::new(model, MAX_BATCH);
    let gamma = diffusion::analytic::estimate_gamma(
        &predictor, schedule, &rows, &times, MAX_BATCH, &mut rng, on_time,
    )?;
    Ok(GammaFile {
        checkpoint_step: meta.step,
        m,
        seed,
        n_timesteps: schedule.n_steps(),
        seconds: started.elapsed().as_secs_f64(),
        gamma: times
            .iter()
            .map(|&n| gamma.require(n))
            .collect::<diffusion::Result<_>>()?,
    })
}

/// Reads the Γ cache of `dir` if it exists and matches the checkpoint step, `m` and `seed`.
///
/// # Errors
/// [`Error::Checkpoint`] when the file exists but is malformed.
pub fn cached_gamma(
    dir: &Path,
    meta: &CheckpointMeta,
    m: usize,
    seed: u64,
) -> Result<Option<GammaFile>> {
    let path = dir.join(GAMMA_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let file: GammaFile = serde_json::from_str(&text)
        .map_err(|e| Error::checkpoint(&path, format!("malformed Γ cache: {e}")))?;
    let fresh = file.checkpoint_step == meta.step
        && file.m == m
        && file.seed == seed
        && file.n_timesteps == meta.schedule.n_timesteps
        && file.gamma.len() == meta.schedule.n_timesteps;
    Ok(fresh.then_some(file))
}

/// Reads any Γ cache of `dir` that belongs to this checkpoint step, whatever its m and seed.
///
/// # Errors
/// [`Error::Checkpoint`] when the file exists but is malformed.
pub fn any_cached_gamma(dir: &Path, meta: &CheckpointMeta) -> Result<Option<GammaFile>> {
    let path = dir.join(GAMMA_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let file: GammaFile = serde_json::from_str(&text)
        .map_err(|e| Error::checkpoint(&path, format!("malformed Γ cache: {e}")))?;
    let fresh = file.checkpoint_step == meta.step
        && file.n_timesteps == meta.schedule.n_timesteps
        && file.gamma.len() == meta.schedule.n_timesteps;
    Ok(fresh.then_some(file))
}

/// Writes the Γ cache atomically.
///
/// # Errors
/// I/O errors.
pub fn save_gamma(dir: &Path, file: &GammaFile) -> Result<()> {
    let path = dir.join(GAMMA_FILE);
    let json = serde_json::to_string(file).expect("Γ file always serialises");
    write_atomic(&path, |tmp| {
        std::fs::write(tmp, json).map_err(|e| Error::io(&path, e))
    })
}

/// The plan settings for sampling or for the NELBO (see the module docs).
pub fn plan_config(meta: &CheckpointMeta, sampler: Sampler, purpose: Purpose) -> PlanConfig {
    match meta.data.levels {
        Some(levels) => PlanConfig {
            sampler,
            x0_clip: X0Clip::Range { lo: -1.0, hi: 1.0 },
            data_range: DataRange::PIXELS,
            final_step: FinalStep::Mean,
            sigma2_clip: match purpose {
                Purpose::Sampling => Sigma2Clip::Pixel {
                    y: 255.0 / (levels.max(2) - 1) as f64,
                },
                Purpose::Likelihood => Sigma2Clip::None,
            },
            // The official code's ε̂ next to a clipped x̂_0 diverges on the shipped digits
            // network for DDIM with K ≳ 25 (NaN from K = 99); the x̂_0-form does not.
            eps_form: EpsForm::FromClippedX0,
        },
        None => PlanConfig::exact(sampler),
    }
}

/// What a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Drawing samples (σ₂ clip on for discrete data).
    Sampling,
    /// Measuring the NELBO (no σ₂ clip, spec §6.7).
    Likelihood,
}

/// The RNG of a sampling run seeded by `seed`, and its first draws: x_N, `n` rows of
/// i.i.d. N(0, 1) of the model's dimension.
fn prior_draws(model: &Model, n: usize, seed: u64) -> (StdRng, Vec<f64>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = vec![0.0; n * model.config().dim()];
    diffusion::standard_normal(&mut rng, &mut x);
    (rng, x)
}

/// Draws `n` samples with `sampler` on `trajectory`.
///
/// `gamma` is needed by the analytic samplers only (pass `Gamma::unknown(N)` otherwise).
///
/// # Errors
/// [`Error::Diffusion`] for K out of 1..=N, η outside [0, 1] or missing Γ; predictor errors.
#[allow(clippy::too_many_arguments)] // one flat call mirrors the CLI flags
pub fn sample(
    model: &Model,
    meta: &CheckpointMeta,
    schedule: &Schedule,
    gamma: &Gamma,
    sampler: Sampler,
    trajectory: &Trajectory,
    n: usize,
    seed: u64,
    on_step: &mut dyn FnMut(usize),
) -> Result<Vec<f64>> {
    let steps = diffusion::plan(
        schedule,
        trajectory,
        &plan_config(meta, sampler, Purpose::Sampling),
        gamma,
    )?;
    let (mut rng, mut x) = prior_draws(model, n, seed);
    diffusion::sample(
        &NetPredictor::new(model, MAX_BATCH),
        &steps,
        &mut x,
        &mut rng,
        on_step,
    )?;
    Ok(x)
}

/// Draws `n` samples with an SN-/NPR-DPM sampler: the means of `sampler.mean_sampler()`'s plan
/// (same settings as [`sample`]) and per-dimension variances from `head`.
///
/// # Errors
/// As [`sample`]; [`Error::Diffusion`] when the head is of another kind or dimension.
#[allow(clippy::too_many_arguments)] // one flat call mirrors the CLI flags
pub fn sample_cov(
    model: &Model,
    head: &CovNet,
    meta: &CheckpointMeta,
    schedule: &Schedule,
    sampler: CovSampler,
    trajectory: &Trajectory,
    n: usize,
    seed: u64,
    on_step: &mut dyn FnMut(usize),
) -> Result<Vec<f64>> {
    let cfg = plan_config(meta, sampler.mean_sampler(), Purpose::Sampling);
    let steps = diffusion::plan(
        schedule,
        trajectory,
        &cfg,
        &Gamma::unknown(schedule.n_steps()),
    )?;
    let (mut rng, mut x) = prior_draws(model, n, seed);
    core_sample_cov(
        &NetPredictor::new(model, MAX_BATCH),
        &NetCovPredictor::new(head, MAX_BATCH),
        &CovConfig::from_plan(schedule, sampler.kind, &cfg),
        &steps,
        &mut x,
        &mut rng,
        on_step,
    )?;
    Ok(x)
}

/// A sampler of the NELBO table.
#[derive(Debug, Clone, Copy)]
pub enum EvalSampler<'a> {
    /// One variance per step (`ddpm-tilde`, `ddpm-beta`, `analytic-ddpm`).
    Scalar(Sampler),
    /// SN-/NPR-DDPM with its head: per-dimension variances.
    Cov(CovSampler, &'a CovNet),
}

impl EvalSampler<'_> {
    /// The sampler's name (`analytic-ddpm`, `sn-ddpm`, …).
    pub fn name(&self) -> String {
        match self {
            EvalSampler::Scalar(s) => s.name(),
            EvalSampler::Cov(c, _) => c.name(),
        }
    }
}

/// One row of the NELBO table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRow {
    /// Sampler name (`ddpm-tilde`, `ddpm-beta`, `analytic-ddpm`, …).
    pub sampler: String,
    /// Trajectory length K.
    pub steps: usize,
    /// NELBO in bits per dimension.
    pub bpd: f64,
    /// Monte-Carlo standard error of `bpd` over the held-out rows.
    pub std_err: f64,
    /// Seconds the row took.
    pub seconds: f64,
}

/// The NELBO in bits/dim of every sampler × trajectory on `test_rows`, with the same seed
/// for every sampler of a trajectory (common random numbers: the same x_t draws for every
/// sampler, so differences between rows are not Monte-Carlo noise of the x_t).
///
/// # Errors
/// [`Error::Diffusion`] for K out of range, a sampler without a finite NELBO, or missing Γ;
/// predictor errors.
#[allow(clippy::too_many_arguments)] // one flat call mirrors the CLI flags
pub fn nelbo_table(
    model: &Model,
    meta: &CheckpointMeta,
    schedule: &Schedule,
    gamma: &Gamma,
    test_rows: &[f32],
    samplers: &[EvalSampler<'_>],
    trajectories: &[Trajectory],
    seed: u64,
    on_row: &mut dyn FnMut(&EvalRow),
) -> Result<Vec<EvalRow>> {
    let data: Vec<f64> = test_rows.iter().map(|&v| v as f64).collect();
    let variance = diffusion::nelbo::official_decoder_variance(schedule);
    let decoder = match meta.data.levels {
        Some(levels) => Decoder::Discretized {
            levels: levels as usize,
            variance,
        },
        None => Decoder::Gaussian { variance },
    };
    let predictor = NetPredictor::new(model, MAX_BATCH);
    let mut rows = Vec::new();
    for trajectory in trajectories {
        let k = trajectory.len();
        for sampler in samplers {
            let started = Instant::now();
            let mut rng = StdRng::seed_from_u64(seed ^ k as u64);
            let nelbo = match *sampler {
                EvalSampler::Scalar(sampler) => {
                    let cfg = plan_config(meta, sampler, Purpose::Likelihood);
                    let steps = diffusion::plan(schedule, trajectory, &cfg, gamma)?;
                    diffusion::nelbo(
                        &predictor,
                        schedule,
                        &steps,
                        &data,
                        decoder,
                        &mut rng,
                        &mut |_| {},
                    )?
                }
                EvalSampler::Cov(c, head) => {
                    let cfg = plan_config(meta, c.mean_sampler(), Purpose::Likelihood);
                    let steps = diffusion::plan(schedule, trajectory, &cfg, gamma)?;
                    nelbo_cov(
                        &predictor,
                        &NetCovPredictor::new(head, MAX_BATCH),
                        &CovConfig::from_plan(schedule, c.kind, &cfg),
                        &steps,
                        &data,
                        decoder,
                        &mut rng,
                        &mut |_| {},
                    )?
                }
            };
            let row = EvalRow {
                sampler: sampler.name(),
                steps: k,
                bpd: nelbo.bits_per_dim(),
                std_err: nelbo.std_err / std::f64::consts::LN_2,
                seconds: started.elapsed().as_secs_f64(),
            };
            on_row(&row);
            rows.push(row);
        }
    }
    Ok(rows)
}
