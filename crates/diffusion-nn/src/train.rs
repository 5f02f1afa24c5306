//! Training with L_simple (spec §2.2): AdamW, EMA, gradient clipping, seeded batches,
//! atomic checkpoints, bit-identical `--resume`, stop on a non-finite loss.
//!
//! One step k (1-based) draws, from an RNG seeded by (seed, k) alone, a batch of B training rows
//! x_0 (with replacement), times n ~ U{1..N} and noise ε ~ N(0, I), forms
//! x_n = √ᾱ_n x_0 + √β̄_n ε and minimises
//!
//! L = (1/B) Σ_b ‖ε_b − ε_θ(x_{n_b}, n_b)‖²  (squared norm summed over dimensions).
//!
//! Because every random draw of step k depends only on (seed, k), resuming from a checkpoint
//! written after step k repeats exactly the steps k+1, k+2, … of an uninterrupted run.
//!
//! The loop (AdamW, warm-up, clipping, EMA, checkpoint cadence, NaN stop) is one crate-private
//! function, `optimise`, that takes the trainable variables, a loss closure and a save closure;
//! [`train`] and the covariance heads' [`crate::cov::train_cov`] are two callers of it.
//!
//! | code | symbol | meaning |
//! |---|---|---|
//! | `lr` | η | AdamW step size (after `warmup_steps` of linear warm-up) |
//! | `beta1`, `beta2`, `adam_eps` | β₁, β₂, ε̂ | AdamW moments and denominator guard |
//! | `weight_decay` | λ_wd | decoupled weight decay θ ← θ(1 − η λ_wd) |
//! | `ema_decay` | μ | EMA θ̄ ← μ_k θ̄ + (1 − μ_k) θ with μ_k = min(μ, (1+k)/(10+k)) |
//! | `grad_clip` | c | the gradient is rescaled to global L2 norm ≤ c |

use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, StandardNormal};

use crate::checkpoint::{self, CheckpointMeta, DataInfo, TrainState};
pub use crate::config::{ScheduleConfig, ScheduleKind, TrainConfig, TrainOverrides, TrainSetup};
use crate::data::Dataset;
use crate::model::{EpsNetConfig, Model};
use crate::{Error, Result};

/// Start from fresh weights or continue the checkpoint in the output folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// New weights from the seed; the output folder must not hold a checkpoint yet.
    Fresh,
    /// Continue from the checkpoint in the output folder.
    Resume,
}

/// Reported after every step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Step just done (1-based).
    pub step: u64,
    /// Last step of the run.
    pub total: u64,
    /// Loss of this step.
    pub loss: f64,
    /// Exponentially smoothed loss.
    pub smoothed_loss: f64,
    /// Steps per second since the run (or resume) started.
    pub steps_per_sec: f64,
    /// Whether a checkpoint was written after this step.
    pub checkpointed: bool,
}

/// Summary of a finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// First step done by this call.
    pub first_step: u64,
    /// Last step done (= the checkpoint's step).
    pub last_step: u64,
    /// Smoothed loss at the end.
    pub smoothed_loss: f64,
    /// Wall-clock seconds of this call.
    pub seconds: f64,
    /// Number of parameters.
    pub n_params: usize,
}

/// The setup of `--resume` in `out`: the stored network, schedule and training settings with
/// `overrides` applied as [`TrainOverrides::resume`], and the stored data spec.
///
/// # Errors
/// [`Error::Checkpoint`] when `out` holds no checkpoint; [`Error::Config`] for a changed
/// setting or a total of steps not above the stored step.
pub fn resume_setup(out: &Path, overrides: &TrainOverrides) -> Result<(TrainSetup, String)> {
    let meta = checkpoint::read_meta(out)?;
    let train = overrides.resume(&meta.train, meta.step, &out.display().to_string())?;
    let setup = TrainSetup {
        model: meta.model,
        schedule: meta.schedule,
        train,
    };
    Ok((setup, meta.data.spec))
}

/// Memory assumed available when the system does not say (no `/proc/meminfo`).
const FALLBACK_MEMORY: u64 = 8 << 30;

/// The memory available for a run, in bytes: `MemAvailable` of `/proc/meminfo` (Linux), else
/// [`FALLBACK_MEMORY`].
fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib.saturating_mul(1024))
        })
        .unwrap_or(FALLBACK_MEMORY)
}

fn gib(bytes: f64) -> f64 {
    bytes / (1u64 << 30) as f64
}

/// Checks, before anything is allocated, the settings [`TrainConfig::validate`] leaves open:
/// `grad_clip` must be ≥ 0 (0 disables clipping), and the network (weights, EMA, two AdamW
/// moments and the gradient: 5 copies), the schedule tables and one batch's activations
/// ([`EpsNetConfig::activations_per_row`] f32 values per row, an estimate) must fit in the
/// memory available (`MemAvailable`), so that `--batch-size 1000000000` is a clear error instead
/// of an out-of-memory kill.
///
/// # Errors
/// [`Error::Config`] naming the setting, the estimate and the largest value that fits.
pub fn check_run(cfg: &TrainConfig, model: &EpsNetConfig, n_timesteps: usize) -> Result<()> {
    if cfg.grad_clip.is_nan() || cfg.grad_clip < 0.0 {
        return Err(Error::config(
            "grad_clip",
            format!(
                "{} must be ≥ 0 (the largest gradient norm allowed; 0 disables clipping)",
                cfg.grad_clip
            ),
        ));
    }
    let available = available_memory() as f64;
    let per_row = 4.0 * (model.activations_per_row() as f64 + 3.0 * model.dim() as f64);
    let fixed = 4.0 * 5.0 * model.count_params()? as f64 + 40.0 * n_timesteps as f64;
    if fixed > available {
        return Err(Error::config(
            "model",
            format!(
                "the network and schedule need about {:.1} GiB (weights, EMA, optimizer state, \
                 gradient; N = {n_timesteps}), more than the {:.1} GiB of memory available",
                gib(fixed),
                gib(available)
            ),
        ));
    }
    let need = fixed + per_row * cfg.batch_size as f64;
    if need > available {
        let max = ((available - fixed) / per_row).floor().max(0.0);
        return Err(Error::config(
            "batch_size",
            format!(
                "{} rows need about {:.1} GiB per step (an estimated {:.0} KiB of activations per \
                 row), more than the {:.1} GiB of memory available: use at most --batch-size {max}",
                cfg.batch_size,
                gib(need),
                per_row / 1024.0,
                gib(available)
            ),
        ));
    }
    Ok(())
}

pub(crate) fn step_rng(seed: u64, step: u64) -> StdRng {
    // SplitMix-style mixing so (seed, step) pairs give unrelated streams.
    let mut z = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

/// Trains (or continues training) an ε-network and writes checkpoints into `out`.
///
/// `on_step` is called after every step (for a progress bar); the library itself prints nothing.
///
/// # Errors
/// [`Error::Config`] for invalid settings or data that do not fit the network;
/// [`Error::Checkpoint`] when `Start::Fresh` finds an existing checkpoint, or `Start::Resume`
/// finds none or one with a different network, schedule or data;
/// [`Error::NonFiniteLoss`] when a loss or gradient is NaN/±inf (nothing is written for that
/// step, the previous checkpoint stays); I/O and candle errors.
pub fn train(
    setup: &TrainSetup,
    data: &Dataset,
    out: &Path,
    start: Start,
    device: &Device,
    on_step: &mut dyn FnMut(&Progress),
) -> Result<TrainReport> {
    let cfg = &setup.train;
    cfg.validate()?;
    setup.model.validate()?;
    check_run(cfg, &setup.model, setup.schedule.n_timesteps)?;
    if setup.model.dim() != data.dim() {
        return Err(Error::config(
            "model",
            format!(
                "network dimension {} does not match data dimension {}",
                setup.model.dim(),
                data.dim()
            ),
        ));
    }
    if data.n_train() == 0 {
        return Err(Error::config("data", "no training rows"));
    }
    let schedule = setup.schedule.build()?;
    let data_info = DataInfo {
        spec: data.spec.to_string(),
        shape: data.shape,
        levels: data.levels,
    };

    let (model, from) = match start {
        Start::Fresh => {
            if checkpoint::exists(out) {
                return Err(Error::checkpoint(
                    out,
                    "already holds a checkpoint: resume it (--resume) or choose another output folder",
                ));
            }
            let model = Model::new(&setup.model, cfg.seed, device)?;
            let from = LoopStart::fresh(&model.named_vars())?;
            (model, from)
        }
        Start::Resume => {
            let (meta, model, state) = checkpoint::load_train_state(out, device)?;
            if meta.model != setup.model || meta.schedule != setup.schedule {
                return Err(Error::checkpoint(
                    out,
                    "was trained with another network or schedule",
                ));
            }
            if meta.data != data_info {
                return Err(Error::checkpoint(
                    out,
                    format!(
                        "was trained on `{}`, not `{}`",
                        meta.data.spec, data_info.spec
                    ),
                ));
            }
            (model, LoopStart::resumed(state, meta.step, meta.loss))
        }
    };
    let vars = model.named_vars();
    let noiser = Noiser::new(&schedule);
    let mut loss_of = |rng: &mut StdRng| -> Result<Tensor> {
        let batch = noiser.draw(rng, data, cfg.batch_size, device)?;
        let eps_hat = model.forward(&batch.x_t, &batch.times)?;
        Ok((eps_hat - batch.eps)?.sqr()?.sum(1)?.mean(0)?)
    };
    let mut save = |step: u64, smoothed: f64, state: &TrainState| -> Result<()> {
        let meta = CheckpointMeta {
            format: checkpoint::FORMAT,
            step,
            model: setup.model.clone(),
            schedule: setup.schedule,
            data: data_info.clone(),
            train: cfg.clone(),
            loss: Some(smoothed),
        };
        checkpoint::save(out, &meta, &model, state)
    };
    optimise(cfg, &vars, from, &mut loss_of, &mut save, on_step)
}

/// The noised batches of L_simple: from the step's RNG, B rows x_0 (with replacement), times
/// n ~ U{1..N} and ε ~ N(0, I), in that order per row (the order is part of bit-identical
/// resume).
pub(crate) struct Noiser {
    sqrt_ab: Vec<f32>,
    sqrt_bb: Vec<f32>,
}

/// One noised batch: x_n `[B, d]`, the noise ε `[B, d]` and the times n as model inputs.
pub(crate) struct NoisyBatch {
    pub x_t: Tensor,
    pub eps: Tensor,
    pub times: Vec<f64>,
}

impl Noiser {
    pub(crate) fn new(schedule: &diffusion::Schedule) -> Self {
        let n_t = schedule.n_steps();
        Noiser {
            sqrt_ab: (0..=n_t)
                .map(|n| schedule.alpha_bar(n).sqrt() as f32)
                .collect(),
            sqrt_bb: (0..=n_t)
                .map(|n| schedule.beta_bar(n).sqrt() as f32)
                .collect(),
        }
    }

    pub(crate) fn draw(
        &self,
        rng: &mut StdRng,
        data: &Dataset,
        b: usize,
        device: &Device,
    ) -> Result<NoisyBatch> {
        let d = data.dim();
        let n_rows = data.n_train();
        let n_t = self.sqrt_ab.len() - 1;
        let mut x_t = Vec::with_capacity(b * d);
        let mut eps = Vec::with_capacity(b * d);
        let mut times = Vec::with_capacity(b);
        for _ in 0..b {
            let row = rng.random_range(0..n_rows);
            let n = rng.random_range(1..=n_t);
            times.push(n as f64);
            for &x0 in &data.train[row * d..(row + 1) * d] {
                let e: f32 = StandardNormal.sample(rng);
                eps.push(e);
                x_t.push(self.sqrt_ab[n] * x0 + self.sqrt_bb[n] * e);
            }
        }
        Ok(NoisyBatch {
            x_t: Tensor::from_vec(x_t, (b, d), device)?,
            eps: Tensor::from_vec(eps, (b, d), device)?,
            times,
        })
    }
}

/// Where [`optimise`] starts: the training state after step `done` and the smoothed loss then
/// (NaN before the first step).
pub(crate) struct LoopStart {
    pub state: TrainState,
    pub done: u64,
    pub smoothed: f64,
}

impl LoopStart {
    /// Before step 1: EMA = the initial weights of `vars`, zero moments.
    pub(crate) fn fresh(vars: &[(String, candle_core::Var)]) -> Result<Self> {
        Ok(LoopStart {
            state: TrainState::fresh(vars)?,
            done: 0,
            smoothed: f64::NAN,
        })
    }

    /// After step `done` of a saved run whose smoothed loss was `loss`.
    pub(crate) fn resumed(state: TrainState, done: u64, loss: Option<f64>) -> Self {
        LoopStart {
            state,
            done,
            smoothed: loss.unwrap_or(f64::NAN),
        }
    }
}

/// The optimisation loop shared by ε-training ([`train`]) and covariance-head training
/// (`crate::cov::train_cov`): steps `done + 1 ..= cfg.steps` of AdamW with warm-up, gradient
/// clipping and EMA on `vars` (whose moments and EMA are `from.state`, same order).
///
/// `loss_of` builds step k's scalar loss from the RNG seeded by (seed, k) alone (so a resumed
/// run repeats the draws of an uninterrupted one); only `vars` are updated, whatever else the
/// loss depends on stays frozen. `save(step, smoothed, state)` writes a checkpoint every
/// `checkpoint_every` steps and after the last; a non-finite loss or gradient norm stops before
/// anything of that step is written. The report counts the parameters of `vars`.
pub(crate) fn optimise(
    cfg: &TrainConfig,
    vars: &[(String, candle_core::Var)],
    from: LoopStart,
    loss_of: &mut dyn FnMut(&mut StdRng) -> Result<Tensor>,
    save: &mut dyn FnMut(u64, f64, &TrainState) -> Result<()>,
    on_step: &mut dyn FnMut(&Progress),
) -> Result<TrainReport> {
    let LoopStart {
        mut state,
        done,
        mut smoothed,
    } = from;
    let started = Instant::now();
    let mut last_good = done;
    for step in done + 1..=cfg.steps {
        let mut rng = step_rng(cfg.seed, step);
        let loss = loss_of(&mut rng)?;
        let loss_value = loss.to_scalar::<f32>()? as f64;
        if !loss_value.is_finite() {
            return Err(Error::NonFiniteLoss {
                step,
                what: "loss",
                value: loss_value,
                last_good,
            });
        }
        let grads = loss.backward()?;
        let mut grad_list = Vec::with_capacity(vars.len());
        let mut norm2 = 0.0f64;
        for (_, var) in vars {
            let g = match grads.get(var.as_tensor()) {
                Some(g) => g.clone(),
                None => var.as_tensor().zeros_like()?,
            };
            norm2 += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            grad_list.push(g);
        }
        let norm = norm2.sqrt();
        if !norm.is_finite() {
            return Err(Error::NonFiniteLoss {
                step,
                what: "gradient norm",
                value: norm,
                last_good,
            });
        }
        let scale = if cfg.grad_clip > 0.0 && norm > cfg.grad_clip {
            cfg.grad_clip / norm
        } else {
            1.0
        };
        let warm = if cfg.warmup_steps > 0 {
            (step as f64 / cfg.warmup_steps as f64).min(1.0)
        } else {
            1.0
        };
        let lr = cfg.lr * warm;
        let bc1 = 1.0 - cfg.beta1.powi(step.min(i32::MAX as u64) as i32);
        let bc2 = 1.0 - cfg.beta2.powi(step.min(i32::MAX as u64) as i32);
        let mu = cfg
            .ema_decay
            .min((1.0 + step as f64) / (10.0 + step as f64));
        // Optimizer arithmetic runs on detached tensors: otherwise every new weight would keep
        // the autograd graph of all previous steps alive (unbounded memory).
        for (i, (_, var)) in vars.iter().enumerate() {
            let g = (grad_list[i].detach() * scale)?;
            let w = var.as_tensor().detach();
            let m = ((&state.adam_m[i] * cfg.beta1)? + (&g * (1.0 - cfg.beta1))?)?;
            let v = ((&state.adam_v[i] * cfg.beta2)? + (g.sqr()? * (1.0 - cfg.beta2))?)?;
            let denom = ((&v / bc2)?.sqrt()? + cfg.adam_eps)?;
            let update = ((&m / bc1)? / denom)?;
            let theta = ((w * (1.0 - lr * cfg.weight_decay))? - (update * lr)?)?;
            var.set(&theta)?;
            state.ema[i] = ((&state.ema[i] * mu)? + (&theta * (1.0 - mu))?)?;
            state.adam_m[i] = m;
            state.adam_v[i] = v;
        }
        smoothed = if smoothed.is_nan() {
            loss_value
        } else {
            0.98 * smoothed + 0.02 * loss_value
        };
        let checkpointed = step % cfg.checkpoint_every == 0 || step == cfg.steps;
        if checkpointed {
            save(step, smoothed, &state)?;
            last_good = step;
        }
        let elapsed = started.elapsed().as_secs_f64();
        on_step(&Progress {
            step,
            total: cfg.steps,
            loss: loss_value,
            smoothed_loss: smoothed,
            steps_per_sec: (step - done) as f64 / elapsed.max(1e-9),
            checkpointed,
        });
    }
    Ok(TrainReport {
        first_step: done + 1,
        last_step: cfg.steps.max(done),
        smoothed_loss: smoothed,
        seconds: started.elapsed().as_secs_f64(),
        n_params: vars.iter().map(|(_, v)| v.elem_count()).sum(),
    })
}
