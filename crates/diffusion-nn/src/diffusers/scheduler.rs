//! `scheduler_config.json` of a diffusers `DDPMScheduler`/`DDIMScheduler` (and the other
//! schedulers sharing their β fields) as kexue's [`Schedule`], [`Trajectory`] and plan
//! options.
//!
//! | diffusers | kexue |
//! |---|---|
//! | timestep τ ∈ 0..N−1 | time t = τ + 1 ∈ 1..=N (index 0 is the data) |
//! | `alphas_cumprod[τ]` (f32) | [`Schedule::alpha_bar`]`(τ + 1)` (f64; rounds to the same f32) |
//! | `set_timesteps(K)`, spacing `leading`/`trailing`/`linspace` | [`SchedulerConfig::trajectory`] |
//! | `prev_timestep < 0` (ᾱ = 1) | s = 0 |
//! | `clip_sample` (range r) | [`X0Clip::Range`] `[−r, r]`; DDIM's direction term keeps the network's ε̂ ([`EpsForm::Predicted`]), as `DDIMScheduler.step` does unless `use_clipped_model_output` |
//!
//! The β's are computed as diffusers computes them, in f32 (torch's `linspace` rounds
//! `start + step·k` once, as a fused multiply-add; `scaled_linear` squares in f32; the cosine
//! schedule is f64 rounded to f32), then α = 1 − β in f32. kexue's schedule takes
//! β_n = 1 − α_n (exact in f64), so its ᾱ_n = ∏ α_i is the product torch's `cumprod`
//! accumulates in f64: rounded to f32 it is diffusers' `alphas_cumprod` bit for bit.
//!
//! Timesteps: `DDPMScheduler` steps from each node to the next node of its list, and so does
//! kexue's trajectory. `DDIMScheduler` steps from τ to τ − ⌊N/K⌋ whatever the list says; for
//! `leading` spacing, and `trailing` spacing with K dividing N, that is the next node, but for
//! `linspace` spacing it is not, and kexue follows the list.

use std::path::Path;

use diffusion::analytic::DataRange;
use diffusion::{
    EpsForm, FinalStep, PlanConfig, Sampler, Schedule, Sigma2Clip, Trajectory, X0Clip,
};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// Scheduler classes whose β, prediction and spacing fields mean what they mean for
/// `DDPMScheduler`.
pub const SCHEDULER_CLASSES: [&str; 12] = [
    "DDPMScheduler",
    "DDIMScheduler",
    "PNDMScheduler",
    "DDPMParallelScheduler",
    "DDIMParallelScheduler",
    "DPMSolverMultistepScheduler",
    "UniPCMultistepScheduler",
    "DEISMultistepScheduler",
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "HeunDiscreteScheduler",
    "LMSDiscreteScheduler",
];

/// How the β's are defined (`beta_schedule`, or `trained_betas` when given).
#[derive(Debug, Clone, PartialEq)]
pub enum BetaSchedule {
    /// `linear`: torch.linspace(beta_start, beta_end, N) in f32.
    Linear,
    /// `scaled_linear`: torch.linspace(√beta_start, √beta_end, N)² in f32.
    ScaledLinear,
    /// `squaredcos_cap_v2`: Nichol–Dhariwal cosine, β ≤ 0.999.
    SquaredCosCapV2,
    /// `trained_betas`: the listed β's.
    Trained(Vec<f64>),
}

impl BetaSchedule {
    /// The diffusers name (`trained_betas` for listed β's).
    pub fn name(&self) -> &'static str {
        match self {
            BetaSchedule::Linear => "linear",
            BetaSchedule::ScaledLinear => "scaled_linear",
            BetaSchedule::SquaredCosCapV2 => "squaredcos_cap_v2",
            BetaSchedule::Trained(_) => "trained_betas",
        }
    }
}

/// What the network predicts (`prediction_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictionType {
    /// `epsilon`: the noise ε.
    Epsilon,
    /// `v_prediction`: v = √ᾱ ε − √(1−ᾱ) x₀.
    VPrediction,
    /// `sample`: x₀.
    Sample,
}

/// How `set_timesteps(K)` spaces its K nodes (`timestep_spacing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestepSpacing {
    /// τ_k = k·⌊N/K⌋ + `steps_offset`.
    Leading,
    /// τ = round(arange(N, 0, −N/K)) − 1.
    Trailing,
    /// τ = round(linspace(0, N − 1, K)).
    Linspace,
}

/// The reverse variance a DDPM scheduler uses (`variance_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarianceType {
    /// `fixed_small` (β̃, kexue's `ddpm-tilde`).
    FixedSmall,
    /// `fixed_large` (β, kexue's `ddpm-beta`).
    FixedLarge,
    /// `learned`: the network's second half is the variance itself.
    Learned,
    /// `learned_range`: the second half v interpolates log β and log β̃ (improved DDPM).
    LearnedRange,
}

/// A checked scheduler configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    /// `_class_name` (`DDPMScheduler` when absent).
    pub class_name: String,
    /// N, `num_train_timesteps`.
    pub num_train_timesteps: usize,
    /// `beta_start`.
    pub beta_start: f64,
    /// `beta_end`.
    pub beta_end: f64,
    /// The β's.
    pub beta_schedule: BetaSchedule,
    /// What the network predicts.
    pub prediction_type: PredictionType,
    /// `clip_sample`: x̂₀ clipped to [−`clip_sample_range`, `clip_sample_range`].
    pub clip_sample: bool,
    /// `clip_sample_range`.
    pub clip_sample_range: f64,
    /// `timestep_spacing`.
    pub timestep_spacing: TimestepSpacing,
    /// `steps_offset` (added to `leading` timesteps).
    pub steps_offset: usize,
    /// `variance_type` (DDPM schedulers; `fixed_small` when absent).
    pub variance_type: VarianceType,
}

impl SchedulerConfig {
    /// diffusers' `DDPMScheduler()` defaults: N = 1000, linear β from 1e-4 to 0.02, ε
    /// prediction, `clip_sample` in [−1, 1], `leading` spacing, `fixed_small` variance (what a
    /// model folder without a scheduler is run with).
    pub fn ddpm_default() -> Self {
        SchedulerConfig {
            class_name: "DDPMScheduler".into(),
            num_train_timesteps: 1000,
            beta_start: 1e-4,
            beta_end: 0.02,
            beta_schedule: BetaSchedule::Linear,
            prediction_type: PredictionType::Epsilon,
            clip_sample: true,
            clip_sample_range: 1.0,
            timestep_spacing: TimestepSpacing::Leading,
            steps_offset: 0,
            variance_type: VarianceType::FixedSmall,
        }
    }

    /// Reads and checks `scheduler_config.json`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::Checkpoint`] naming the field and
    /// value of anything unsupported (another scheduler family, β schedules other than
    /// `linear`/`scaled_linear`/`squaredcos_cap_v2`, thresholding, zero-terminal-SNR rescaling, …).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text, path)
    }

    /// Parses and checks the text of a `scheduler_config.json` (`path` is only used in errors).
    ///
    /// # Errors
    /// As [`SchedulerConfig::from_file`].
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::checkpoint(path, format!("not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(Error::checkpoint(path, "expected a JSON object"));
        };
        let f = Fields { map: &map, path };
        let d = Self::ddpm_default();
        let class_name = f.str_or("_class_name", "DDPMScheduler")?.to_string();
        if !SCHEDULER_CLASSES.contains(&class_name.as_str()) {
            return Err(f.unsupported("_class_name", &SCHEDULER_CLASSES.join(", ")));
        }
        let num_train_timesteps = match f.get("num_train_timesteps") {
            None => d.num_train_timesteps,
            Some(v) => v
                .as_u64()
                .filter(|&n| n >= 1)
                .ok_or_else(|| f.err("num_train_timesteps", "expected an integer ≥ 1"))?
                as usize,
        };
        let beta_start = f.f64_or("beta_start", d.beta_start)?;
        let beta_end = f.f64_or("beta_end", d.beta_end)?;
        let beta_schedule = match f.get("trained_betas") {
            Some(Value::Array(a)) => {
                let betas: Option<Vec<f64>> = a.iter().map(Value::as_f64).collect();
                let betas = betas.ok_or_else(|| f.err("trained_betas", "expected numbers"))?;
                if betas.len() != num_train_timesteps {
                    return Err(f.err(
                        "trained_betas",
                        format!(
                            "{} values for num_train_timesteps = {num_train_timesteps}",
                            betas.len()
                        ),
                    ));
                }
                BetaSchedule::Trained(betas)
            }
            Some(_) => return Err(f.err("trained_betas", "expected a list of numbers")),
            None => match f.str_or("beta_schedule", "linear")? {
                "linear" => BetaSchedule::Linear,
                "scaled_linear" => BetaSchedule::ScaledLinear,
                "squaredcos_cap_v2" => BetaSchedule::SquaredCosCapV2,
                _ => {
                    return Err(f.unsupported(
                        "beta_schedule",
                        "linear, scaled_linear, squaredcos_cap_v2, or trained_betas",
                    ));
                }
            },
        };
        let prediction_type = match f.str_or("prediction_type", "epsilon")? {
            "epsilon" => PredictionType::Epsilon,
            "v_prediction" => PredictionType::VPrediction,
            "sample" => PredictionType::Sample,
            _ => return Err(f.unsupported("prediction_type", "epsilon, v_prediction, sample")),
        };
        let timestep_spacing = match f.str_or("timestep_spacing", "leading")? {
            "leading" => TimestepSpacing::Leading,
            "trailing" => TimestepSpacing::Trailing,
            "linspace" => TimestepSpacing::Linspace,
            _ => return Err(f.unsupported("timestep_spacing", "leading, trailing, linspace")),
        };
        let variance_type = match f.str_or("variance_type", "fixed_small")? {
            // The `_log` variants compute the same standard deviation through its logarithm.
            "fixed_small" | "fixed_small_log" => VarianceType::FixedSmall,
            "fixed_large" | "fixed_large_log" => VarianceType::FixedLarge,
            "learned" => VarianceType::Learned,
            "learned_range" => VarianceType::LearnedRange,
            _ => {
                return Err(f.unsupported(
                    "variance_type",
                    "fixed_small, fixed_large, learned, learned_range",
                ));
            }
        };
        for flag in ["thresholding", "rescale_betas_zero_snr"] {
            if f.bool_or(flag, false)? {
                return Err(f.unsupported(flag, "false"));
            }
        }
        let clip_sample_range = f.f64_or("clip_sample_range", 1.0)?;
        if !(clip_sample_range > 0.0 && clip_sample_range.is_finite()) {
            return Err(f.err("clip_sample_range", "must be positive"));
        }
        let steps_offset = match f.get("steps_offset") {
            None => 0,
            Some(v) => v
                .as_u64()
                .ok_or_else(|| f.err("steps_offset", "expected a non-negative integer"))?
                as usize,
        };
        let config = SchedulerConfig {
            class_name,
            num_train_timesteps,
            beta_start,
            beta_end,
            beta_schedule,
            prediction_type,
            clip_sample: f.bool_or("clip_sample", d.clip_sample)?,
            clip_sample_range,
            timestep_spacing,
            steps_offset,
            variance_type,
        };
        // A schedule kexue cannot hold (β outside (0, 1)) is refused here, with the field.
        if let Err(e) = config.schedule() {
            let field = match config.beta_schedule {
                BetaSchedule::Trained(_) => "trained_betas",
                _ => "beta_end",
            };
            return Err(f.err(field, e));
        }
        Ok(config)
    }

    /// β_1..β_N as diffusers holds them (f32, see the module docs).
    pub fn betas_f32(&self) -> Vec<f32> {
        let n = self.num_train_timesteps;
        match &self.beta_schedule {
            BetaSchedule::Linear => torch_linspace_f32(self.beta_start, self.beta_end, n),
            BetaSchedule::ScaledLinear => {
                torch_linspace_f32(self.beta_start.sqrt(), self.beta_end.sqrt(), n)
                    .into_iter()
                    .map(|b| b * b)
                    .collect()
            }
            BetaSchedule::SquaredCosCapV2 => {
                let f = |t: f64| {
                    ((t + 0.008) / 1.008 * std::f64::consts::PI / 2.0)
                        .cos()
                        .powi(2)
                };
                (0..n)
                    .map(|i| {
                        let (t1, t2) = (i as f64 / n as f64, (i + 1) as f64 / n as f64);
                        (1.0 - f(t2) / f(t1)).min(0.999) as f32
                    })
                    .collect()
            }
            BetaSchedule::Trained(b) => b.iter().map(|&v| v as f32).collect(),
        }
    }

    /// kexue's schedule: β_n = 1 − α_n with α_n = 1 − β_n rounded to f32 as diffusers does.
    ///
    /// # Errors
    /// [`Error::Diffusion`] when some β is outside (0, 1).
    pub fn schedule(&self) -> Result<Schedule> {
        let betas: Vec<f64> = self
            .betas_f32()
            .into_iter()
            .map(|b| 1.0 - (1.0f32 - b) as f64)
            .collect();
        Ok(Schedule::from_step_betas(&betas)?)
    }

    /// diffusers' `alphas_cumprod` (ᾱ at τ = 0..N−1) from kexue's schedule, rounded to f32.
    ///
    /// # Errors
    /// As [`SchedulerConfig::schedule`].
    pub fn alphas_cumprod(&self) -> Result<Vec<f32>> {
        let s = self.schedule()?;
        Ok((1..=s.n_steps()).map(|n| s.alpha_bar(n) as f32).collect())
    }

    /// The timesteps of diffusers' `set_timesteps(k)`, in its (descending) order (with
    /// `leading` spacing and a `steps_offset` the first may be N, as in diffusers; such a list
    /// has no [`SchedulerConfig::trajectory`]).
    ///
    /// # Errors
    /// [`Error::Config`] when k is 0 or larger than N.
    pub fn timesteps(&self, k: usize) -> Result<Vec<usize>> {
        let n = self.num_train_timesteps;
        if k == 0 || k > n {
            return Err(Error::config(
                "steps",
                format!(
                    "{k} sampling steps for a scheduler of {n} training timesteps (need 1..={n})"
                ),
            ));
        }
        let ts: Vec<i64> = match self.timestep_spacing {
            TimestepSpacing::Linspace => numpy_linspace(0.0, (n - 1) as f64, k)
                .into_iter()
                .rev()
                .map(|v| v.round_ties_even() as i64)
                .collect(),
            TimestepSpacing::Leading => {
                let ratio = n / k;
                (0..k)
                    .rev()
                    .map(|i| (i * ratio + self.steps_offset) as i64)
                    .collect()
            }
            TimestepSpacing::Trailing => {
                let (start, step) = (n as f64, -(n as f64 / k as f64));
                // numpy's arange(N, 0, step): ⌈−N/step⌉ values; the first two are N and N + step,
                // the others N + i·δ with δ = (N + step) − N (numpy's fill).
                let len = (-start / step).ceil() as usize;
                let delta = (start + step) - start;
                (0..len)
                    .map(|i| match i {
                        0 => start,
                        1 => start + step,
                        _ => start + i as f64 * delta,
                    })
                    .map(|v| v.round_ties_even() as i64 - 1)
                    .collect()
            }
        };
        Ok(ts.into_iter().map(|t| t.max(0) as usize).collect())
    }

    /// The trajectory of `set_timesteps(k)` in kexue's times (t = τ + 1, increasing).
    ///
    /// # Errors
    /// As [`SchedulerConfig::timesteps`]; [`Error::Diffusion`] when the nodes repeat or one
    /// is past N (`leading` spacing whose `steps_offset` pushes the first node to τ = N).
    pub fn trajectory(&self, k: usize) -> Result<Trajectory> {
        let mut steps: Vec<usize> = self.timesteps(k)?.into_iter().map(|t| t + 1).collect();
        steps.reverse();
        Ok(Trajectory::from_steps(self.num_train_timesteps, steps)?)
    }

    /// The clip of x̂₀ (`clip_sample`).
    pub fn x0_clip(&self) -> X0Clip {
        if self.clip_sample {
            let r = self.clip_sample_range;
            X0Clip::Range { lo: -r, hi: r }
        } else {
            X0Clip::None
        }
    }

    /// Plan options that make kexue's steps the scheduler's: x̂₀ clipped as configured (DDIM's
    /// direction term keeps the predicted ε̂, as diffusers does by default), data in [−1, 1] for
    /// the analytic variances, a mean-only last step (diffusers adds no noise at τ = 0, the last
    /// node of `leading` spacing without offset and of `linspace`), no σ² clip.
    pub fn plan_config(&self, sampler: Sampler) -> PlanConfig {
        PlanConfig {
            sampler,
            x0_clip: self.x0_clip(),
            data_range: DataRange::PIXELS,
            final_step: FinalStep::Mean,
            sigma2_clip: Sigma2Clip::None,
            eps_form: EpsForm::Predicted,
        }
    }
}

/// The reverse variance of improved DDPM's `learned_range` output v ∈ [−1, 1] for the step
/// s < t: exp(f·ln β_{t|s} + (1 − f)·ln β̃_{s|t}) with f = (v + 1)/2, as diffusers'
/// `DDPMScheduler` computes it (β̃ floored at 1e-20).
pub fn learned_range_variance(schedule: &Schedule, s: usize, t: usize, v: f64) -> f64 {
    let min_log = schedule.tilde_beta(s, t).max(1e-20).ln();
    let max_log = schedule.beta(s, t).ln();
    let frac = (v + 1.0) / 2.0;
    (frac * max_log + (1.0 - frac) * min_log).exp()
}

/// torch.linspace(start, end, n) in f32: start and end rounded to f32, step = (end − start)/(n − 1)
/// in f32, the first half start + step·k and the second end − step·(n − 1 − k), each with one
/// rounding (PyTorch's CPU kernel compiles to fused multiply-adds; checked bit for bit against
/// torch 2.15 in the fixtures).
pub fn torch_linspace_f32(start: f64, end: f64, n: usize) -> Vec<f32> {
    let (s, e) = (start as f32, end as f32);
    if n == 1 {
        return vec![s];
    }
    let step = (e - s) / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|k| {
            if k < half {
                step.mul_add(k as f32, s)
            } else {
                (-step).mul_add((n - 1 - k) as f32, e)
            }
        })
        .collect()
}

/// numpy's `linspace(start, end, n)` in f64 (k·step + start, the last value exact).
fn numpy_linspace(start: f64, end: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let step = (end - start) / (n - 1) as f64;
    let mut v: Vec<f64> = (0..n).map(|k| k as f64 * step + start).collect();
    v[n - 1] = end;
    v
}

struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: &'a Path,
}

impl Fields<'_> {
    fn err(&self, field: &str, msg: impl std::fmt::Display) -> Error {
        let value = self
            .map
            .get(field)
            .map_or("missing".into(), |v| v.to_string());
        Error::checkpoint(self.path, format!("field `{field}` = {value}: {msg}"))
    }
    fn unsupported(&self, field: &str, supported: &str) -> Error {
        self.err(field, format!("not supported (supported: {supported})"))
    }
    fn get(&self, field: &str) -> Option<&Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }
    fn f64_or(&self, field: &str, default: f64) -> Result<f64> {
        match self.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| self.err(field, "expected a number")),
        }
    }
    fn bool_or(&self, field: &str, default: bool) -> Result<bool> {
        match self.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.err(field, "expected true or false")),
        }
    }
    fn str_or<'s>(&'s self, field: &str, default: &'s str) -> Result<&'s str> {
        match self.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_str()
                .ok_or_else(|| self.err(field, "expected a string")),
        }
    }
}
