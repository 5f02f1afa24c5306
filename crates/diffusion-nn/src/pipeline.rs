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

use std::cell::RefCell;
use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use diffusion::analytic::{DataRange, Gamma};
use diffusion::covariance::{CovConfig, nelbo_cov};
use diffusion::experiment::{Progress, TrajectoryReport, TrajectorySetup, compare_trajectories};
use diffusion::likelihood::{
    Dequantization, LikelihoodConfig, LikelihoodReport, log_likelihood_with_progress,
};
use diffusion::solvers::Retimed;
use diffusion::{
    AnySampler, Draw, DrawSpec, EpsForm, EpsPredictor, FinalStep, NoiseLevel, PlanSettings,
    Sampler, Schedule, Sde, Sigma2Clip, Step, TrajectoryKind, X0Clip,
};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomic;
use crate::ckpt::{Checkpoint, GammaCache, GammaPolicy, Reuse};
use crate::cov::{CovNet, NetCovPredictor};
use crate::diffusers::{EpsView, learned_range_variance};
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
    /// The data Γ was estimated from when they are not the checkpoint's own (imported
    /// diffusers folders, or `--data` given): remembered for later commands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
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
    crate::output::check_memory("m", m, d, 2)?;
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
        data: ck.gamma_data_tag(),
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
    crate::output::check_memory("samples", spec.n, ck.dim(), 4)?;
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

/// A sampler of `sample` and `eval` on a checkpoint: one of the core's [`AnySampler`]s, or
/// `learned-ddpm`, the network's own learned reverse variance (improved DDPM's
/// `learned_range`), which only a model with `out_channels` = 2·`in_channels` has.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NetSampler {
    /// A sampler of the core.
    Core(AnySampler),
    /// DDPM posterior means with the per-pixel variance the network predicts:
    /// σ² = exp(f·ln β_{t|s} + (1 − f)·ln β̃_{s|t}), f = (v + 1)/2.
    LearnedDdpm,
}

impl NetSampler {
    /// The name of [`NetSampler::LearnedDdpm`].
    pub const LEARNED_DDPM: &'static str = "learned-ddpm";
    /// Its `--help` line.
    pub const LEARNED_HELP: &'static str = "DDPM means with the network's learned per-pixel \
        variance (improved DDPM's learned_range; models with out_channels = 2·in_channels)";

    /// Whether the NELBO is finite (learned-ddpm: yes, a per-pixel variance).
    pub fn has_nelbo(self) -> bool {
        match self {
            NetSampler::Core(s) => s.has_nelbo(),
            NetSampler::LearnedDdpm => true,
        }
    }
}

impl From<AnySampler> for NetSampler {
    fn from(s: AnySampler) -> Self {
        NetSampler::Core(s)
    }
}

impl std::fmt::Display for NetSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetSampler::Core(s) => write!(f, "{s}"),
            NetSampler::LearnedDdpm => f.write_str(Self::LEARNED_DDPM),
        }
    }
}

impl FromStr for NetSampler {
    type Err = diffusion::Error;
    fn from_str(s: &str) -> diffusion::Result<Self> {
        if s == Self::LEARNED_DDPM {
            Ok(NetSampler::LearnedDdpm)
        } else {
            s.parse().map(NetSampler::Core)
        }
    }
}

/// A learned-variance network as an ε-predictor that keeps the variance half of its last
/// output, read by the variance hook of the same step (one network call per step).
struct Learned<'a> {
    view: EpsView<'a>,
    last: RefCell<Vec<f64>>,
}

impl EpsPredictor for Learned<'_> {
    fn dim(&self) -> usize {
        self.view.dim()
    }

    fn predict_eps(
        &self,
        x_t: &[f64],
        level: NoiseLevel,
        eps: &mut [f64],
    ) -> diffusion::Result<()> {
        let mut last = self.last.borrow_mut();
        last.resize(x_t.len(), 0.0);
        self.view
            .predict_eps_and_variance(x_t, level, eps, &mut last)
    }
}

impl Learned<'_> {
    /// The per-pixel σ² of each step from the stored output; 0 at a last step that returns
    /// the mean (`final_mean`).
    fn fill(
        &self,
        schedule: &Schedule,
        final_mean: bool,
        step: &Step,
        out: &mut [f64],
    ) -> diffusion::Result<()> {
        if final_mean && step.s == 0 {
            out.fill(0.0);
            return Ok(());
        }
        for (o, &v) in out.iter_mut().zip(self.last.borrow().iter()) {
            *o = learned_range_variance(schedule, step.s, step.t, v);
        }
        Ok(())
    }
}

/// The learned-variance view of `ck`, or an error naming what the model lacks.
fn learned_view(ck: &Checkpoint) -> Result<Learned<'_>> {
    let view = ck.learned_variance(MAX_BATCH).ok_or_else(|| {
        Error::config(
            "sampler",
            format!(
                "learned-ddpm needs a diffusers model with a learned variance (out_channels = \
                 2·in_channels); {} has none: use analytic-ddpm, whose variance comes from Γ",
                ck.dir().display()
            ),
        )
    })?;
    Ok(Learned {
        view,
        last: RefCell::new(Vec::new()),
    })
}

/// Draws with `learned-ddpm` (`spec.sampler` is not read; steps, trajectory, n and seed are):
/// the DDPM posterior means of `ddpm-tilde` on the checkpoint's sampling settings, with the
/// network's learned variance per pixel, x_N and the noise from one RNG seeded by `spec.seed`.
///
/// # Errors
/// [`Error::Config`] for a model without a learned variance; K out of range; predictor errors.
pub fn draw_learned(
    ck: &Checkpoint,
    spec: &DrawSpec,
    gamma: &Gamma,
    on_step: &mut dyn FnMut(usize),
) -> Result<Draw> {
    let learned = learned_view(ck)?;
    let schedule = ck.schedule();
    diffusion::draw::check_steps(spec.steps, schedule)?;
    if spec.n == 0 {
        return Err(Error::config("samples", "need at least 1 sample"));
    }
    crate::output::check_memory("samples", spec.n, ck.dim(), 4)?;
    let settings = ck.plan_settings(Purpose::Sampling);
    let trajectory = spec.trajectory.build(schedule, spec.steps, gamma)?;
    let steps = diffusion::plan(
        schedule,
        &trajectory,
        &settings.with(Sampler::DdpmTilde),
        gamma,
    )?;
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut x = vec![0.0; spec.n * ck.dim()];
    diffusion::standard_normal(&mut rng, &mut x);
    let final_mean = settings.final_step == FinalStep::Mean;
    diffusion::sample_with_variance(
        &learned,
        &steps,
        &mut x,
        &mut rng,
        on_step,
        &mut |_, step, _, _, out| learned.fill(schedule, final_mean, step, out),
    )?;
    if x.iter().any(|v| !v.is_finite()) {
        return Err(Error::config(
            "sampler",
            "learned-ddpm produced non-finite values (NaN or infinite weights?)",
        ));
    }
    Ok(Draw {
        x,
        nfe: steps.len(),
        n_steps: steps.len(),
        trajectory: Some(trajectory),
    })
}

/// [`draw_with_gamma`] or [`draw_learned`], by `sampler` (which replaces `spec.sampler`).
///
/// # Errors
/// As those.
pub fn draw_net(
    ck: &Checkpoint,
    sampler: NetSampler,
    spec: &DrawSpec,
    gamma: &Gamma,
    on_step: &mut dyn FnMut(usize),
) -> Result<Draw> {
    match sampler {
        NetSampler::Core(s) => draw_with_gamma(
            ck,
            &DrawSpec {
                sampler: s,
                ..*spec
            },
            gamma,
            on_step,
        ),
        NetSampler::LearnedDdpm => draw_learned(ck, spec, gamma, on_step),
    }
}

/// What [`sample_checkpoint`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRun {
    /// The samples.
    pub draw: Draw,
    /// The energy distance to (up to 1000 rows of) the held-out split, when asked for.
    pub energy_distance: Option<f64>,
}

/// `kexue diffusion sample --ckpt`: checks K and the sizes against memory, gets Γ when the
/// sampler or trajectory needs it ([`sampling_gamma_policy`] with `m` rows; `on_gamma` follows
/// an estimate), draws with `sampler` ([`draw_net`]) and, when `energy` is set, measures the
/// energy distance to the held-out rows.
///
/// # Errors
/// K out of range, sizes that do not fit in memory, Γ, head, draw and data errors;
/// [`Error::Config`] for `energy` with fewer than 2 held-out rows.
pub fn sample_checkpoint(
    ck: &Checkpoint,
    sampler: NetSampler,
    spec: &DrawSpec,
    m: usize,
    energy: bool,
    on_gamma: &mut dyn FnMut(usize),
    on_step: &mut dyn FnMut(usize),
) -> Result<SampleRun> {
    let schedule = ck.schedule();
    diffusion::draw::check_steps(spec.steps, schedule)?;
    crate::output::check_memory("samples", spec.n, ck.dim(), 4)?;
    crate::output::check_memory("m", m, ck.dim(), 2)?;
    let needs_gamma = matches!(sampler, NetSampler::Core(s) if s.needs_gamma());
    let gamma = if needs_gamma || spec.trajectory.needs_gamma() {
        let policy = sampling_gamma_policy(m, spec.trajectory);
        ck.gamma(&policy, on_gamma)?.0.to_gamma()?
    } else {
        Gamma::unknown(schedule.n_steps())
    };
    let draw = draw_net(ck, sampler, spec, &gamma, on_step)?;
    let energy_distance = if energy {
        let rows = ck.held_out(1000)?;
        if rows.len() < 2 * ck.dim() {
            return Err(Error::config(
                "energy",
                format!("{} has fewer than 2 held-out rows", ck.data_spec()),
            ));
        }
        Some(diffusion::metrics::energy_distance(
            &draw.x,
            &rows,
            ck.dim(),
        ))
    } else {
        None
    };
    Ok(SampleRun {
        draw,
        energy_distance,
    })
}

/// What [`demo`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoReport {
    /// Γ used, and whether it came from the cache in the output folder.
    pub gamma: (GammaFile, bool),
    /// The PNG grids written (64 samples per sampler and K).
    pub grids: Vec<std::path::PathBuf>,
    /// The NELBO table.
    pub eval: EvalReport,
    /// Every file in the output folder: grids, `eval.json`, `nelbo.md`, `gamma.json`.
    pub files: Vec<std::path::PathBuf>,
}

/// `kexue diffusion demo`: Γ from `m` rows with `seed` (cached in `out`, the checkpoint is not
/// written), a PNG grid of 64 samples for each lab sampler at K = 10 and 100, and the default
/// NELBO table, written to `out` as `eval.json` and `nelbo.md`. `on_progress` follows each stage.
///
/// # Errors
/// Γ, draw, NELBO and I/O errors.
pub fn demo(
    ck: &Checkpoint,
    out: &Path,
    m: usize,
    seed: u64,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<DemoReport> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let policy = GammaPolicy {
        m,
        seed,
        reuse: Reuse::Exact,
        cache: GammaCache::In(out.to_path_buf()),
    };
    let n = ck.schedule().n_steps();
    let gamma = ck.gamma(&policy, &mut |i| {
        on_progress(Progress {
            stage: "Γ",
            done: i + 1,
            total: n,
        })
    })?;
    let g = gamma.0.to_gamma()?;
    let mut grids = Vec::new();
    for k in [10usize, 100] {
        for sampler in Sampler::LAB.map(AnySampler::Discrete) {
            let spec = DrawSpec {
                sampler,
                steps: k,
                trajectory: TrajectoryKind::Even,
                n: 64,
                seed,
                settings: PlanSettings::EXACT,
            };
            let name = sampler.to_string();
            let draw = draw_with_gamma(ck, &spec, &g, &mut |i| {
                on_progress(Progress {
                    stage: &name,
                    done: i + 1,
                    total: k,
                })
            })?;
            let path = out.join(format!("{sampler}-k{k}.png"));
            crate::output::write_png(&draw.x, ck.shape(), &path)?;
            grids.push(path);
        }
    }
    let spec = EvalSpec {
        seed,
        ..EvalSpec::default()
    };
    let total = spec.samplers.len() * spec.ks.len();
    let mut done = 0;
    let eval = nelbo_table(ck, &gamma.0, &spec, &mut |_| {
        done += 1;
        on_progress(Progress {
            stage: "NELBO",
            done,
            total,
        })
    })?;
    let json_path = out.join("eval.json");
    let json = serde_json::to_string_pretty(&eval).expect("reports always serialise") + "\n";
    std::fs::write(&json_path, json).map_err(|e| Error::io(&json_path, e))?;
    let md_path = out.join("nelbo.md");
    std::fs::write(&md_path, eval.table()).map_err(|e| Error::io(&md_path, e))?;
    let mut files = grids.clone();
    files.extend([json_path, md_path, out.join(GAMMA_FILE)]);
    Ok(DemoReport {
        gamma,
        grids,
        eval,
        files,
    })
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
    /// Also a `learned-ddpm` row per K (models with a learned variance), after the samplers.
    pub learned_ddpm: bool,
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
            learned_ddpm: false,
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
    let learned = if spec.learned_ddpm {
        Some(learned_view(ck)?)
    } else {
        None
    };
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
        if let Some(learned) = &learned {
            let started = Instant::now();
            let mut rng = StdRng::seed_from_u64(spec.seed ^ k as u64);
            let steps = diffusion::plan(
                schedule,
                &trajectory,
                &settings.with(Sampler::DdpmTilde),
                &g,
            )?;
            let nelbo = diffusion::nelbo::nelbo_with_variance(
                learned,
                schedule,
                &steps,
                &data,
                decoder,
                &mut rng,
                &mut |_| {},
                &mut |_, step, _, _, out| learned.fill(schedule, false, step, out),
            )?;
            let row = EvalRow {
                sampler: NetSampler::LEARNED_DDPM.to_string(),
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

/// `kexue diffusion eval`: checks every K, takes Γ from any cache of this checkpoint (else
/// estimates it from `m` rows with seed 0 and caches it beside the checkpoint), measures
/// [`nelbo_table`] and writes it as pretty JSON to `out` (default: `eval.json` in
/// [`Checkpoint::cache_dir`]). Returns the report and the file written.
///
/// # Errors
/// K out of range, Γ, [`nelbo_table`] and I/O errors.
pub fn eval(
    ck: &Checkpoint,
    spec: &EvalSpec,
    m: usize,
    out: Option<&Path>,
    on_gamma: &mut dyn FnMut(usize),
    on_row: &mut dyn FnMut(&EvalRow),
) -> Result<(EvalReport, std::path::PathBuf)> {
    check_eval_samplers(&spec.samplers)?;
    let out = match out {
        Some(out) => out.to_path_buf(),
        None => {
            let dir = ck.cache_dir();
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            dir.join("eval.json")
        }
    };
    for &k in &spec.ks {
        diffusion::draw::check_steps(k, ck.schedule())?;
    }
    let policy = GammaPolicy {
        m,
        seed: 0,
        reuse: Reuse::Any,
        cache: GammaCache::Beside,
    };
    let (gamma, _) = ck.gamma(&policy, on_gamma)?;
    let report = nelbo_table(ck, &gamma, spec, on_row)?;
    let json = serde_json::to_string_pretty(&report).expect("reports always serialise");
    std::fs::write(&out, format!("{json}\n")).map_err(|e| Error::io(&out, e))?;
    Ok((report, out))
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
    crate::output::check_memory("samples", samples, ck.dim(), 4)?;
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
        schedule_name: ck.schedule_name(),
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

/// Copies of the batch the likelihood's RK45 solve holds at once (state, seven stages, error
/// estimate, probes): what `--samples` is checked against before anything runs.
pub const LIKELIHOOD_COPIES: usize = 12;

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
    crate::output::check_memory("samples", samples, ck.dim(), LIKELIHOOD_COPIES)?;
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
