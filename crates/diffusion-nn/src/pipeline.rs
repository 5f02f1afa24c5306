//! What `kexue diffusion {gamma,sample,eval,trajectory,likelihood}` do with a [`Checkpoint`]:
//! Γ estimation and its cache file, drawing samples ([`draw`]), the NELBO table
//! ([`nelbo_table`]), the optimal trajectory ([`trajectories`]) and the PF-ODE likelihood
//! ([`likelihood`]), all through the scalar core (`diffusion::draw`, `diffusion::nelbo`, …).
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
use diffusion::covariance::{CovConfig, nelbo_cov};
use diffusion::experiment::{Progress, TrajectoryReport, TrajectorySetup, compare_trajectories};
use diffusion::likelihood::{
    Dequantization, LikelihoodConfig, LikelihoodReport, log_likelihood_with_progress,
};
use diffusion::solvers::Retimed;
use diffusion::{
    AnySampler, Draw, DrawSpec, EpsForm, FinalStep, PlanSettings, Sde, Sigma2Clip, TrajectoryKind,
    X0Clip,
};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomic;
use crate::ckpt::{Checkpoint, GammaCache, GammaPolicy, Reuse};
use crate::cov::{CovNet, NetCovPredictor};
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
    /// Γ at n = 1, 10, 100, N/2 and N, e.g. `Γ_1 = 0.9981, Γ_10 = 0.9977, …`.
    pub fn summary(&self) -> String {
        let n = self.gamma.len();
        let mut picks = vec![1, 10, 100, n / 2, n];
        picks.retain(|&k| k >= 1 && k <= n);
        picks.dedup();
        picks
            .iter()
            .map(|&k| format!("Γ_{k} = {:.4}", self.gamma[k - 1]))
            .collect::<Vec<_>>()
            .join(", ")
    }

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
    ck: &Checkpoint,
    train_rows: &[f32],
    m: usize,
    seed: u64,
    on_time: &mut dyn FnMut(usize),
) -> Result<GammaFile> {
    let d = ck.dim();
    let n_rows = train_rows.len() / d;
    if m == 0 || n_rows == 0 {
        return Err(Error::config(
            "m",
            format!("need m ≥ 1 and training rows (m = {m}, rows = {n_rows})"),
        ));
    }
    let schedule = ck.schedule();
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
    let gamma = diffusion::analytic::estimate_gamma(
        &*ck.predictor(),
        schedule,
        &rows,
        &times,
        MAX_BATCH,
        &mut rng,
        on_time,
    )?;
    Ok(GammaFile {
        checkpoint_step: ck.step(),
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

/// Reads the Γ cache of `dir` if it exists and belongs to checkpoint `step` with N = `n`
/// (and, when `want` is given, was estimated with that (m, seed)).
///
/// # Errors
/// [`Error::Checkpoint`] when the file exists but is malformed.
pub fn cached_gamma(
    dir: &Path,
    step: u64,
    n: usize,
    want: Option<(usize, u64)>,
) -> Result<Option<GammaFile>> {
    let path = dir.join(GAMMA_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let file: GammaFile = serde_json::from_str(&text)
        .map_err(|e| Error::checkpoint(&path, format!("malformed Γ cache: {e}")))?;
    let fresh = file.checkpoint_step == step
        && file.n_timesteps == n
        && file.gamma.len() == n
        && want.is_none_or(|(m, seed)| file.m == m && file.seed == seed);
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

/// What a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Drawing samples (σ₂ clip on for discrete data).
    Sampling,
    /// Measuring the NELBO (no σ₂ clip, spec §6.7).
    Likelihood,
}

/// The plan settings for data with `levels` (module docs).
pub fn plan_settings(levels: Option<u32>, purpose: Purpose) -> PlanSettings {
    match levels {
        Some(levels) => PlanSettings {
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
        None => PlanSettings::EXACT,
    }
}

/// The Γ policy of sampling: M rows, seed 0, cached beside the checkpoint; the optimal
/// trajectory takes a cache only with the same M (the DP needs a Γ̂ that stays ≤ 1 long
/// enough), the analytic variances any cache of this step.
pub fn sampling_gamma_policy(m: usize, trajectory: TrajectoryKind) -> GammaPolicy {
    GammaPolicy {
        m,
        seed: 0,
        reuse: if trajectory.needs_gamma() {
            Reuse::Exact
        } else {
            Reuse::Any
        },
        cache: GammaCache::Beside,
    }
}

/// Draws samples from the checkpoint with `spec` (its `settings` replaced by the checkpoint's
/// sampling settings): Γ under `gamma` when the sampler or trajectory needs it (`on_gamma`
/// follows an estimate), the covariance head when the sampler needs one.
///
/// # Errors
/// Γ, head and [`diffusion::draw()`] errors.
pub fn draw(
    ck: &Checkpoint,
    spec: &DrawSpec,
    gamma: &GammaPolicy,
    on_gamma: &mut dyn FnMut(usize),
    on_step: &mut dyn FnMut(usize),
) -> Result<Draw> {
    let g = if spec.sampler.needs_gamma() || spec.trajectory.needs_gamma() {
        ck.gamma(gamma, on_gamma)?.0.to_gamma()?
    } else {
        Gamma::unknown(ck.schedule().n_steps())
    };
    draw_with_gamma(ck, spec, &g, on_step)
}

/// [`draw`] with a given Γ ([`Gamma::unknown`] when nothing needs it).
///
/// # Errors
/// Head and [`diffusion::draw()`] errors.
pub fn draw_with_gamma(
    ck: &Checkpoint,
    spec: &DrawSpec,
    gamma: &Gamma,
    on_step: &mut dyn FnMut(usize),
) -> Result<Draw> {
    let spec = DrawSpec {
        settings: ck.plan_settings(Purpose::Sampling),
        ..*spec
    };
    let head = spec
        .sampler
        .cov_kind()
        .map(|k| ck.cov_head(k))
        .transpose()?;
    let cov = head.as_ref().map(|h| NetCovPredictor::new(h, MAX_BATCH));
    let cov_dyn = cov.as_ref().map(|c| c as &dyn diffusion::CovPredictor);
    Ok(diffusion::draw(
        &*ck.predictor(),
        cov_dyn,
        ck.schedule(),
        gamma,
        &spec,
        on_step,
    )?)
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

/// The NELBO table of `kexue diffusion eval` (also written as `eval.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The checkpoint folder.
    pub checkpoint: String,
    /// Its step.
    pub checkpoint_step: u64,
    /// Data spec.
    pub data: String,
    /// Discrete levels.
    pub levels: Option<u32>,
    /// Held-out rows used.
    pub n_test: usize,
    /// M of the Γ used.
    pub gamma_m: usize,
    /// `bits/dim` (discrete data) or `bits/dim, continuous density`.
    pub unit: String,
    /// Trajectory name.
    pub trajectory: String,
    /// One row per sampler × K.
    pub rows: Vec<EvalRow>,
}

impl EvalReport {
    /// The report as a Markdown table (samplers × K, bits/dim) under a one-line title.
    pub fn table(&self) -> String {
        let report = self;
        let mut ks: Vec<usize> = Vec::new();
        for r in &report.rows {
            if !ks.contains(&r.steps) {
                ks.push(r.steps);
            }
        }
        let mut samplers: Vec<&str> = Vec::new();
        for r in &report.rows {
            if !samplers.contains(&r.sampler.as_str()) {
                samplers.push(&r.sampler);
            }
        }
        let mut out = format!(
            "NELBO ({}) on the held-out split of {} ({} rows), {} trajectory, checkpoint step {}\n",
            report.unit, report.data, report.n_test, report.trajectory, report.checkpoint_step
        );
        out += &format!("| {:<14} |", "sampler");
        for k in &ks {
            out += &format!(" {:>8} |", format!("K={k}"));
        }
        out += &format!("\n|{}|", "-".repeat(16));
        for _ in &ks {
            out += &format!("{}|", "-".repeat(10));
        }
        out.push('\n');
        for s in samplers {
            out += &format!("| {s:<14} |");
            for &k in &ks {
                match report.rows.iter().find(|r| r.sampler == s && r.steps == k) {
                    Some(r) => out += &format!(" {:>8.3} |", r.bpd),
                    None => out += &format!(" {:>8} |", "-"),
                }
            }
            out.push('\n');
        }
        out
    }
}

/// What [`nelbo_table`] measures.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSpec {
    /// Samplers with a finite NELBO ([`AnySampler::has_nelbo`]).
    pub samplers: Vec<AnySampler>,
    /// Trajectory lengths K.
    pub ks: Vec<usize>,
    /// Trajectory of every sampler.
    pub trajectory: TrajectoryKind,
    /// At most this many held-out rows (all by default).
    pub limit: Option<usize>,
    /// Seed of the Monte-Carlo terms.
    pub seed: u64,
}

impl Default for EvalSpec {
    /// ddpm-tilde, ddpm-beta and analytic-ddpm at K = 10, 25, 50, 100 on the even trajectory,
    /// all held-out rows, seed 0.
    fn default() -> Self {
        Self {
            samplers: vec![
                AnySampler::Discrete(diffusion::Sampler::DdpmTilde),
                AnySampler::Discrete(diffusion::Sampler::DdpmBeta),
                AnySampler::Discrete(diffusion::Sampler::AnalyticDdpm),
            ],
            ks: vec![10, 25, 50, 100],
            trajectory: TrajectoryKind::Even,
            limit: None,
            seed: 0,
        }
    }
}

/// Checks that every sampler of an eval has a finite NELBO.
///
/// # Errors
/// [`Error::Config`] naming the first one without.
pub fn check_eval_samplers(samplers: &[AnySampler]) -> Result<()> {
    if let Some(s) = samplers.iter().find(|s| !s.has_nelbo()) {
        return Err(Error::config(
            "sampler",
            format!(
                "{s} has no finite NELBO (its forward process has λ = 0 or it is continuous); \
                 use ddpm-tilde, ddpm-beta, analytic-ddpm, sn-ddpm or npr-ddpm"
            ),
        ));
    }
    Ok(())
}

/// The NELBO in bits/dim of every sampler × K on the held-out rows, with the same seed
/// (`seed ^ K`) for every sampler of one K (common random numbers: the same x_t draws, so
/// differences between rows are not Monte-Carlo noise). `on_row` follows the rows.
///
/// # Errors
/// [`Error::Config`] for a sampler without a finite NELBO; K out of range, missing Γ or
/// head; predictor errors.
pub fn nelbo_table(
    ck: &Checkpoint,
    gamma: &GammaFile,
    spec: &EvalSpec,
    on_row: &mut dyn FnMut(&EvalRow),
) -> Result<EvalReport> {
    check_eval_samplers(&spec.samplers)?;
    let schedule = ck.schedule();
    for &k in &spec.ks {
        diffusion::draw::check_steps(k, schedule)?;
    }
    let heads: Vec<Option<CovNet>> = spec
        .samplers
        .iter()
        .map(|s| s.cov_kind().map(|k| ck.cov_head(k)).transpose())
        .collect::<Result<_>>()?;
    let data = ck.held_out(spec.limit.unwrap_or(usize::MAX))?;
    let g = gamma.to_gamma()?;
    let decoder = ck.decoder();
    let predictor = ck.predictor();
    let settings = ck.plan_settings(Purpose::Likelihood);
    let mut rows = Vec::new();
    for &k in &spec.ks {
        let trajectory = spec.trajectory.build(schedule, k, &g)?;
        for (sampler, head) in spec.samplers.iter().zip(&heads) {
            let started = Instant::now();
            let mut rng = StdRng::seed_from_u64(spec.seed ^ k as u64);
            let nelbo = match (*sampler, head) {
                (AnySampler::Covariance(c), Some(head)) => {
                    let cfg = settings.with(c.mean_sampler());
                    let steps = diffusion::plan(schedule, &trajectory, &cfg, &g)?;
                    nelbo_cov(
                        &*predictor,
                        &NetCovPredictor::new(head, MAX_BATCH),
                        &CovConfig::from_plan(schedule, c.kind, &cfg),
                        &steps,
                        &data,
                        decoder,
                        &mut rng,
                        &mut |_| {},
                    )?
                }
                (AnySampler::Discrete(s), _) => {
                    let steps = diffusion::plan(schedule, &trajectory, &settings.with(s), &g)?;
                    diffusion::nelbo(
                        &*predictor,
                        schedule,
                        &steps,
                        &data,
                        decoder,
                        &mut rng,
                        &mut |_| {},
                    )?
                }
                _ => unreachable!("check_eval_samplers admits discrete and covariance samplers"),
            };
            let row = EvalRow {
                sampler: sampler.to_string(),
                steps: k,
                bpd: nelbo.bits_per_dim(),
                std_err: nelbo.std_err / std::f64::consts::LN_2,
                seconds: started.elapsed().as_secs_f64(),
            };
            on_row(&row);
            rows.push(row);
        }
    }
    Ok(EvalReport {
        checkpoint: ck.dir().display().to_string(),
        checkpoint_step: ck.step(),
        data: ck.data_spec().to_string(),
        levels: ck.levels(),
        n_test: data.len() / ck.dim(),
        gamma_m: gamma.m,
        unit: if ck.levels().is_some() {
            "bits/dim"
        } else {
            "bits/dim, continuous density"
        }
        .to_string(),
        trajectory: spec.trajectory.to_string(),
        rows,
    })
}

/// `kexue diffusion trajectory --ckpt`: Γ under `gamma` (any cache of this step beside the
/// checkpoint, else estimated and cached), NELBO on the first `samples` held-out rows with the
/// likelihood settings, then [`compare_trajectories`].
///
/// # Errors
/// Γ, data and [`compare_trajectories`] errors.
pub fn trajectories(
    ck: &Checkpoint,
    k: usize,
    gamma: &GammaPolicy,
    samples: usize,
    seed: u64,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<TrajectoryReport> {
    diffusion::draw::check_steps(k, ck.schedule())?;
    let n = ck.schedule().n_steps();
    let (file, cached) = ck.gamma(gamma, &mut |i| {
        on_progress(Progress {
            stage: "Γ estimate",
            done: i + 1,
            total: n,
        })
    })?;
    let predictor = ck.predictor();
    let setup = TrajectorySetup {
        data: format!("{} ({})", ck.data_spec(), ck.dir().display()),
        schedule_name: ck
            .meta()
            .map_or_else(String::new, |m| m.schedule.kind.to_string()),
        schedule: ck.schedule().clone(),
        predictor: &*predictor,
        gamma: file.to_gamma()?,
        gamma_src: format!(
            "{} (M = {}, seed {}, step {})",
            if cached {
                "checkpoint cache"
            } else {
                "estimated now"
            },
            file.m,
            file.seed,
            file.checkpoint_step
        ),
        rows: ck.held_out(samples)?,
        settings: ck.plan_settings(Purpose::Likelihood),
        decoder: ck.decoder(),
        seed,
    };
    Ok(compare_trajectories(setup, k, on_progress)?)
}

/// `kexue diffusion likelihood --ckpt`: the PF-ODE likelihood of the first `samples`
/// held-out rows (dequantised uniformly when the data is discrete; bits/dim then include the
/// bin offset), on the checkpoint's own schedule read as a VP SDE unless `sde` is given; the
/// network is [`Retimed`] either way. One RNG seeded by `seed` dequantises, then draws probes.
///
/// # Errors
/// Data and [`log_likelihood_with_progress`] errors.
pub fn likelihood(
    ck: &Checkpoint,
    sde: Option<Sde>,
    config: &LikelihoodConfig,
    samples: usize,
    seed: u64,
) -> Result<LikelihoodReport> {
    likelihood_with_progress(ck, sde, config, samples, seed, &mut |_| {})
}

/// [`likelihood`] reporting the solve's progress (time reached, NFE).
///
/// # Errors
/// As [`likelihood`].
pub fn likelihood_with_progress(
    ck: &Checkpoint,
    sde: Option<Sde>,
    config: &LikelihoodConfig,
    samples: usize,
    seed: u64,
    on_progress: &mut dyn FnMut(diffusion::likelihood::LikelihoodProgress),
) -> Result<LikelihoodReport> {
    let started = Instant::now();
    let sde = sde.unwrap_or_else(|| Sde::from_schedule(ck.schedule()));
    let mut rng = StdRng::seed_from_u64(seed);
    let rows = ck.held_out(samples)?;
    let (x, offset) = match ck.levels() {
        Some(levels) => {
            let deq = Dequantization::centred(levels, -1.0, 1.0)?;
            let ks: Vec<u32> = rows.iter().map(|&v| deq.level_of(v)).collect();
            (deq.dequantize(&ks, &mut rng)?, deq.offset_bits())
        }
        None => (rows, 0.0),
    };
    let net = ck.predictor_batched(4096);
    let predictor = Retimed::new(&*net, ck.schedule());
    let ll = log_likelihood_with_progress(&predictor, &sde, config, &x, &mut rng, on_progress)?;
    Ok(LikelihoodReport::new(
        format!("ckpt:{} ({})", ck.dir().display(), ck.data_spec()),
        &sde,
        config,
        &ll,
        offset,
        None,
        started.elapsed().as_secs_f64(),
    ))
}
