//! Samplers of the continuous-time reverse process (spec §5.4, §5.5) on any [`EpsPredictor`].
//!
//! | [`ContinuousSampler`] | what it integrates | NFE |
//! |---|---|---|
//! | `em` | reverse SDE dx = [f_t x − g_t² ∇log p_t] dt + g_t dw̄, Euler–Maruyama | K |
//! | `pc` | predictor (reverse diffusion or EM) + `n_corrector` Langevin steps with `snr` | K(1 + n_corrector) |
//! | `ode-euler` | probability-flow ODE dx/dt = f_t x − ½ g_t² ∇log p_t, Euler | K |
//! | `ode-heun` | the same ODE, Heun (explicit trapezoid) | 2K |
//! | `ode-rk45` | the same ODE, adaptive Dormand–Prince 5(4) with rtol/atol ([`dopri5`]) | 2 + 6·(steps tried) |
//! | `dpm-solver++` | the same ODE in λ = ln(μ/σ), data prediction, 2M multistep (Lu et al. 2022, arXiv 2211.01095) | K |
//!
//! Time runs from t = 1 (prior) down to `t_end` (1e-3 by default, as in score-SDE). The
//! score comes from the ε-predictor through [`Sde::eps_input`]: ∇log p_t(x) = −ε̂/σ_t.
//! One-step samplers are coefficient data ([`LinearStep`]: x_s = a·x_t + b·ε̂ + σ·z) applied by
//! one loop; Heun, RK45 and DPM-Solver++ compose the same drift.
//! Stochastic samplers return the mean of their last step (score-SDE's `denoise`).
//!
//! # Example
//!
//! DPM-Solver++ with 20 NFE on the laboratory's ring, exact scores, VP SDE:
//!
//! ```
//! use diffusion::exact::GaussianMixture;
//! use diffusion::sde::Sde;
//! use diffusion::solvers::{ContinuousSampler, SolverConfig, sample_continuous};
//! use rand::SeedableRng;
//!
//! let gmm = GaussianMixture::ring(8, 2.0, 0.1)?;
//! let sde = Sde::from_name("vp")?;
//! let sampler: ContinuousSampler = "dpm-solver++".parse()?;
//! let config = SolverConfig::new(sampler, 20);
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let mut x = vec![0.0; 2 * 500];
//! sde.sample_prior(&mut rng, &mut x);
//! let report = sample_continuous(&gmm, &sde, &config, &mut x, &mut rng)?;
//! assert_eq!(report.nfe, 20);
//! // Every sample lands near the circle of radius 2.
//! assert!(x.chunks(2).all(|r| (r[0].hypot(r[1]) - 2.0).abs() < 0.6));
//! # Ok::<(), diffusion::Error>(())
//! ```
//!
//! For a network trained on a discrete schedule with N steps, either sample its own process,
//! `Sde::from_schedule(&schedule)` with `config.time_scale = N as f64` (the network is queried
//! at ᾱ(n/N) = ᾱ_n with time input n), or wrap it in [`Retimed`], which gives it the time
//! input matching each requested ᾱ under any SDE (VP, sub-VP, VE). The exact predictors read
//! only ᾱ and work with every SDE as they are.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};

use crate::sample::check_rows;
use crate::sde::Sde;
use crate::{EpsPredictor, Error, NoiseLevel, Result};

/// The closed set of continuous-time samplers (CLI names in [`ContinuousSampler::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContinuousSampler {
    /// Reverse-SDE Euler–Maruyama (`em`).
    EulerMaruyama,
    /// Predictor–corrector with a Langevin corrector (`pc`).
    PredictorCorrector,
    /// Probability-flow ODE, Euler (`ode-euler`).
    OdeEuler,
    /// Probability-flow ODE, Heun (`ode-heun`).
    OdeHeun,
    /// Probability-flow ODE, adaptive Dormand–Prince RK45 (`ode-rk45`).
    OdeRk45,
    /// DPM-Solver++ 2M (`dpm-solver++`).
    DpmSolverPp,
}

impl ContinuousSampler {
    /// Every sampler, in CLI order.
    pub const ALL: [ContinuousSampler; 6] = [
        ContinuousSampler::EulerMaruyama,
        ContinuousSampler::PredictorCorrector,
        ContinuousSampler::OdeEuler,
        ContinuousSampler::OdeHeun,
        ContinuousSampler::OdeRk45,
        ContinuousSampler::DpmSolverPp,
    ];

    /// `em`, `pc`, `ode-euler`, `ode-heun`, `ode-rk45` or `dpm-solver++`.
    pub fn name(self) -> &'static str {
        match self {
            ContinuousSampler::EulerMaruyama => "em",
            ContinuousSampler::PredictorCorrector => "pc",
            ContinuousSampler::OdeEuler => "ode-euler",
            ContinuousSampler::OdeHeun => "ode-heun",
            ContinuousSampler::OdeRk45 => "ode-rk45",
            ContinuousSampler::DpmSolverPp => "dpm-solver++",
        }
    }

    /// Whether the sampler draws noise (EM and PC).
    pub fn is_stochastic(self) -> bool {
        matches!(
            self,
            ContinuousSampler::EulerMaruyama | ContinuousSampler::PredictorCorrector
        )
    }
}

impl fmt::Display for ContinuousSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ContinuousSampler {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| Error::Invalid {
                what: "sampler",
                msg: format!(
                    "unknown continuous sampler `{s}` (expected em, pc, ode-euler, ode-heun, \
                     ode-rk45, dpm-solver++)"
                ),
            })
    }
}

/// Spacing of the K + 1 time nodes from 1 down to `t_end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeGrid {
    /// Uniform in t (score-SDE).
    Uniform,
    /// Uniform in λ_t = ln(μ_t/σ_t) (DPM-Solver's "logSNR" spacing).
    LogSnr,
}

/// The predictor of the PC sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcPredictor {
    /// Reverse diffusion (score-SDE's default): the discretised reverse kernel.
    ReverseDiffusion,
    /// Euler–Maruyama on the reverse SDE.
    EulerMaruyama,
}

/// Relative and absolute tolerances of the adaptive solver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    rtol: f64,
    atol: f64,
}

impl Tolerances {
    /// Validated tolerances.
    ///
    /// # Errors
    /// [`Error::Invalid`] unless both are finite and > 0.
    pub fn new(rtol: f64, atol: f64) -> Result<Self> {
        for (name, v) in [("rtol", rtol), ("atol", atol)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::Invalid {
                    what: "tolerance",
                    msg: format!("{name} = {v} must be a positive number"),
                });
            }
        }
        Ok(Self { rtol, atol })
    }

    /// Relative tolerance.
    pub fn rtol(&self) -> f64 {
        self.rtol
    }

    /// Absolute tolerance.
    pub fn atol(&self) -> f64 {
        self.atol
    }
}

/// Everything that shapes a continuous-time sampling run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolverConfig {
    /// Which sampler.
    pub sampler: ContinuousSampler,
    /// Number of steps K of the fixed-step samplers (ignored by RK45).
    pub n_steps: usize,
    /// Last time node (> 0; 1e-3 by default).
    pub t_end: f64,
    /// Spacing of the time nodes of the fixed-step samplers.
    pub grid: TimeGrid,
    /// RK45 tolerances (1e-5 / 1e-5 by default, as score-SDE's black-box sampler).
    pub tol: Tolerances,
    /// Most predictor calls allowed; exceeding it is an error naming the time reached.
    pub max_nfe: usize,
    /// Langevin corrector signal-to-noise ratio (0.16 by default).
    pub snr: f64,
    /// Langevin steps per PC step (1 by default).
    pub n_corrector: usize,
    /// Predictor of the PC sampler.
    pub pc_predictor: PcPredictor,
    /// Model time input per unit t (`NoiseLevel::t = t · time_scale`; 1000 by default).
    pub time_scale: f64,
}

impl SolverConfig {
    /// Defaults: t_end = 1e-3, uniform grid (log-SNR grid for DPM-Solver++), rtol = atol =
    /// 1e-5, max_nfe = 100 000, snr = 0.16, one reverse-diffusion + Langevin step, time
    /// scale 1000.
    pub fn new(sampler: ContinuousSampler, n_steps: usize) -> Self {
        Self {
            sampler,
            n_steps,
            t_end: 1e-3,
            grid: if sampler == ContinuousSampler::DpmSolverPp {
                TimeGrid::LogSnr
            } else {
                TimeGrid::Uniform
            },
            tol: Tolerances {
                rtol: 1e-5,
                atol: 1e-5,
            },
            max_nfe: 100_000,
            snr: 0.16,
            n_corrector: 1,
            pc_predictor: PcPredictor::ReverseDiffusion,
            time_scale: 1000.0,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| {
            Err(Error::Invalid {
                what: "sampler config",
                msg,
            })
        };
        if !(self.t_end > 0.0 && self.t_end < 1.0) {
            return bad(format!("t_end = {} must lie in (0, 1)", self.t_end));
        }
        if self.sampler != ContinuousSampler::OdeRk45 && self.n_steps == 0 {
            return bad("the number of steps must be ≥ 1".into());
        }
        if !(self.snr.is_finite() && self.snr > 0.0) {
            return bad(format!("snr = {} must be positive", self.snr));
        }
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return bad(format!("time scale {} must be positive", self.time_scale));
        }
        if self.max_nfe == 0 {
            return bad("the NFE budget must be ≥ 1".into());
        }
        Ok(())
    }
}

/// What a sampling run cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SampleReport {
    /// Number of function (predictor) evaluations on the batch.
    pub nfe: usize,
    /// Steps taken (accepted steps for RK45).
    pub n_steps: usize,
    /// Rejected steps (RK45 only).
    pub n_rejected: usize,
}

/// The ε-predictor seen as a function of continuous time, with an NFE counter and budget.
pub struct ScoreModel<'a> {
    predictor: &'a dyn EpsPredictor,
    sde: &'a Sde,
    time_scale: f64,
    nfe: usize,
    max_nfe: usize,
    /// Step index reported in errors.
    step: usize,
    scaled: Vec<f64>,
}

impl<'a> ScoreModel<'a> {
    /// Wraps `predictor` for `sde`, allowing at most `max_nfe` evaluations.
    pub fn new(
        predictor: &'a dyn EpsPredictor,
        sde: &'a Sde,
        time_scale: f64,
        max_nfe: usize,
    ) -> Self {
        Self {
            predictor,
            sde,
            time_scale,
            nfe: 0,
            max_nfe,
            step: 0,
            scaled: Vec::new(),
        }
    }

    /// Evaluations so far.
    pub fn nfe(&self) -> usize {
        self.nfe
    }

    /// The SDE.
    pub fn sde(&self) -> &'a Sde {
        self.sde
    }

    /// The predictor.
    pub fn predictor(&self) -> &'a dyn EpsPredictor {
        self.predictor
    }

    /// Model time input per unit t.
    pub fn time_scale(&self) -> f64 {
        self.time_scale
    }

    /// Sets the step index that errors report.
    pub fn set_step(&mut self, step: usize) {
        self.step = step;
    }

    /// Counts one evaluation at time t, failing past the budget.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming t and the step when the budget is spent.
    pub fn count(&mut self, t: f64) -> Result<()> {
        if self.nfe >= self.max_nfe {
            return Err(Error::Invalid {
                what: "sampler run",
                msg: format!(
                    "NFE budget of {} exceeded at t = {t:.6} (step {})",
                    self.max_nfe, self.step
                ),
            });
        }
        self.nfe += 1;
        Ok(())
    }

    /// ε̂(x_t) = E[ε | x_t] for x_t = μ_t x_0 + σ_t ε (one evaluation).
    ///
    /// # Errors
    /// The budget error of [`ScoreModel::count`]; the predictor's errors.
    pub fn eps(&mut self, x: &[f64], t: f64, eps: &mut [f64]) -> Result<()> {
        self.count(t)?;
        let (c, level) = self.sde.eps_input(t, self.time_scale);
        if c == 1.0 {
            return self.predictor.predict_eps(x, level, eps);
        }
        self.scaled.clear();
        self.scaled.extend(x.iter().map(|v| v / c));
        self.predictor.predict_eps(&self.scaled, level, eps)
    }

    /// Probability-flow drift dx/dt = f_t x + ½ g_t² ε̂/σ_t (one evaluation).
    ///
    /// # Errors
    /// As [`ScoreModel::eps`].
    pub fn pf_drift(&mut self, x: &[f64], t: f64, out: &mut [f64]) -> Result<()> {
        self.eps(x, t, out)?;
        let (f, k) = self.pf_coefs(t);
        for (o, xi) in out.iter_mut().zip(x) {
            *o = f * xi + k * *o;
        }
        Ok(())
    }

    /// vᵀ ∂ε̂(x_t)/∂x_t per row (not counted as an evaluation): the predictor's exact
    /// product when it has one ([`EpsPredictor::eps_vjp`]), otherwise a central difference
    /// (ε̂(x + h v) − ε̂(x − h v))/(2h) with step `fd_step` (two predictor calls).
    ///
    /// # Errors
    /// The predictor's errors.
    pub fn eps_vjp(
        &mut self,
        x: &[f64],
        t: f64,
        v: &[f64],
        out: &mut [f64],
        fd_step: f64,
    ) -> Result<Derivative> {
        let (c, level) = self.sde.eps_input(t, self.time_scale);
        self.scaled.clear();
        self.scaled.extend(x.iter().map(|a| a / c));
        if self.predictor.eps_vjp(&self.scaled, level, v, out)? {
            // ε̂ is evaluated at x/c, so its x-derivative carries 1/c.
            for o in out.iter_mut() {
                *o /= c;
            }
            return Ok(Derivative::Exact);
        }
        let mut minus = vec![0.0; x.len()];
        for ((p, m), (&xi, &vi)) in self
            .scaled
            .iter_mut()
            .zip(minus.iter_mut())
            .zip(x.iter().zip(v))
        {
            *p = (xi + fd_step * vi) / c;
            *m = (xi - fd_step * vi) / c;
        }
        let mut e_minus = vec![0.0; x.len()];
        self.predictor.predict_eps(&self.scaled, level, out)?;
        self.predictor.predict_eps(&minus, level, &mut e_minus)?;
        for (o, em) in out.iter_mut().zip(&e_minus) {
            *o = (*o - em) / (2.0 * fd_step);
        }
        Ok(Derivative::FiniteDifference)
    }

    /// (f_t, ½ g_t²/σ_t): the drift is f_t x + (½ g_t²/σ_t) ε̂.
    pub fn pf_coefs(&self, t: f64) -> (f64, f64) {
        (
            self.sde.drift_coef(t),
            0.5 * self.sde.diffusion2(t) / self.sde.std(t),
        )
    }
}

/// A network trained on a discrete schedule, re-timed for any SDE: it is queried at the
/// fractional step n whose ᾱ_n (ln ᾱ interpolated linearly between integer steps) equals the
/// requested ᾱ, so `NoiseLevel::t` always matches the noise level the network was trained on.
/// Levels noisier than ᾱ_N use n = N; `alpha_bar` is passed through unchanged.
pub struct Retimed<'a> {
    inner: &'a dyn EpsPredictor,
    /// ln ᾱ_n, n = 0..=N (decreasing).
    log_alpha_bar: Vec<f64>,
}

impl<'a> Retimed<'a> {
    /// Wraps `inner`, trained with `schedule`.
    pub fn new(inner: &'a dyn EpsPredictor, schedule: &crate::Schedule) -> Self {
        Self {
            inner,
            log_alpha_bar: (0..=schedule.n_steps())
                .map(|n| schedule.alpha_bar(n).ln())
                .collect(),
        }
    }

    /// The fractional model step n ∈ [0, N] with ln ᾱ_n = ln `alpha_bar`.
    pub fn model_time(&self, alpha_bar: f64) -> f64 {
        let target = alpha_bar.ln();
        let table = &self.log_alpha_bar;
        let n = table.len() - 1;
        if target.is_nan() || target >= table[0] {
            return 0.0;
        }
        if target <= table[n] {
            return n as f64;
        }
        // First index whose value is ≤ target (the table decreases strictly).
        let hi = table.partition_point(|&v| v > target);
        let lo = hi - 1;
        let w = (table[lo] - target) / (table[lo] - table[hi]);
        lo as f64 + w
    }

    fn level(&self, level: NoiseLevel) -> NoiseLevel {
        NoiseLevel {
            t: self.model_time(level.alpha_bar),
            alpha_bar: level.alpha_bar,
        }
    }
}

impl EpsPredictor for Retimed<'_> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn predict_eps(&self, x_t: &[f64], level: NoiseLevel, eps: &mut [f64]) -> Result<()> {
        self.inner.predict_eps(x_t, self.level(level), eps)
    }

    fn eps_vjp(&self, x_t: &[f64], level: NoiseLevel, v: &[f64], out: &mut [f64]) -> Result<bool> {
        self.inner.eps_vjp(x_t, self.level(level), v, out)
    }
}

/// How a derivative of ε̂ was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derivative {
    /// The predictor's own (analytic) vector–Jacobian product.
    Exact,
    /// Central finite differences of ε̂ (predictors without a derivative, e.g. networks).
    FiniteDifference,
}

/// One step x_t → x_s = `coef_x`·x_t + `coef_eps`·ε̂(x_t, t) + `noise_std`·z as data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearStep {
    /// Source time.
    pub t: f64,
    /// Target time (s < t).
    pub s: f64,
    /// Coefficient of x_t.
    pub coef_x: f64,
    /// Coefficient of ε̂.
    pub coef_eps: f64,
    /// Std of the added noise (0 = deterministic).
    pub noise_std: f64,
}

impl LinearStep {
    /// Euler–Maruyama on the reverse SDE with Δ = t − s:
    /// x_s = (1 − Δ f_t) x_t − (Δ g_t²/σ_t) ε̂ + g_t √Δ z.
    pub fn euler_maruyama(sde: &Sde, t: f64, s: f64) -> Self {
        let dt = t - s;
        let g2 = sde.diffusion2(t);
        Self {
            t,
            s,
            coef_x: 1.0 - dt * sde.drift_coef(t),
            coef_eps: -dt * g2 / sde.std(t),
            noise_std: (g2 * dt).sqrt(),
        }
    }

    /// Euler on the probability-flow ODE: x_s = (1 − Δ f_t) x_t − (Δ g_t²/(2σ_t)) ε̂.
    pub fn probability_flow_euler(sde: &Sde, t: f64, s: f64) -> Self {
        let dt = t - s;
        Self {
            t,
            s,
            coef_x: 1.0 - dt * sde.drift_coef(t),
            coef_eps: -0.5 * dt * sde.diffusion2(t) / sde.std(t),
            noise_std: 0.0,
        }
    }

    /// score-SDE's reverse-diffusion predictor for the kernel x_t = a x_s + G z with
    /// a = μ_t/μ_s, G² = σ_t² − a² σ_s²: x_s = (2 − a) x_t − (G²/σ_t) ε̂ + G z
    /// (for VP, a = √(1 − β_i) and G² = β_i; for VE, a = 1 and G² = σ_t² − σ_s²).
    pub fn reverse_diffusion(sde: &Sde, t: f64, s: f64) -> Self {
        let a = sde.mean_coef(t) / sde.mean_coef(s);
        let (st, ss) = (sde.std(t), sde.std(s));
        let g2 = (st * st - a * a * ss * ss).max(0.0);
        Self {
            t,
            s,
            coef_x: 2.0 - a,
            coef_eps: -g2 / st,
            noise_std: g2.sqrt(),
        }
    }

    /// The exact solution of the PF-ODE with ε̂ frozen at t, i.e. DDIM (η = 0) and
    /// first-order DPM-Solver: x_s = (μ_s/μ_t) x_t + (σ_s − μ_s σ_t/μ_t) ε̂.
    pub fn ddim(sde: &Sde, t: f64, s: f64) -> Self {
        let r = sde.mean_coef(s) / sde.mean_coef(t);
        Self {
            t,
            s,
            coef_x: r,
            coef_eps: sde.std(s) - r * sde.std(t),
            noise_std: 0.0,
        }
    }
}

/// Whether a step adds its noise or returns its mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Noise {
    Sample,
    Mean,
}

fn check_finite(x: &[f64], t: f64, step: usize) -> Result<()> {
    if x.iter().any(|v| !v.is_finite()) {
        return Err(Error::Invalid {
            what: "sampler state",
            msg: format!("non-finite value at t = {t:.6} (step {step})"),
        });
    }
    Ok(())
}

/// Applies one [`LinearStep`] to the batch (one evaluation).
fn apply(
    model: &mut ScoreModel<'_>,
    step: &LinearStep,
    x: &mut [f64],
    eps: &mut [f64],
    noise: Noise,
    rng: &mut dyn RngCore,
) -> Result<()> {
    model.eps(x, step.t, eps)?;
    let sigma = if noise == Noise::Sample {
        step.noise_std
    } else {
        0.0
    };
    for (xi, &ei) in x.iter_mut().zip(eps.iter()) {
        let mut v = step.coef_x * *xi + step.coef_eps * ei;
        if sigma > 0.0 {
            let z: f64 = StandardNormal.sample(rng);
            v += sigma * z;
        }
        *xi = v;
    }
    Ok(())
}

/// The K + 1 nodes 1 = t_0 > … > t_K = `t_end`.
pub fn time_grid(sde: &Sde, grid: TimeGrid, n_steps: usize, t_end: f64) -> Vec<f64> {
    let k = n_steps as f64;
    match grid {
        TimeGrid::Uniform => (0..=n_steps)
            .map(|i| 1.0 + (t_end - 1.0) * i as f64 / k)
            .collect(),
        TimeGrid::LogSnr => {
            let (l0, l1) = (sde.lambda(1.0), sde.lambda(t_end));
            (0..=n_steps)
                .map(|i| match i {
                    0 => 1.0,
                    i if i == n_steps => t_end,
                    i => sde.t_of_lambda(l0 + (l1 - l0) * i as f64 / k, t_end, 1.0),
                })
                .collect()
        }
    }
}

/// Runs `config.sampler` on the batch `x` (rows of `predictor.dim()` values), which must hold
/// draws from the prior at t = 1 (see [`Sde::sample_prior`]); `x` is overwritten with the
/// samples at `t_end`.
///
/// # Errors
/// [`Error::Invalid`] for a bad configuration or batch, an exceeded NFE budget (naming the
/// time and step reached), a non-finite state, or an RK45 step-size underflow; the
/// predictor's errors.
pub fn sample_continuous(
    predictor: &dyn EpsPredictor,
    sde: &Sde,
    config: &SolverConfig,
    x: &mut [f64],
    rng: &mut dyn RngCore,
) -> Result<SampleReport> {
    config.validate()?;
    check_rows(x, predictor.dim())?;
    check_finite(x, 1.0, 0)?;
    let mut model = ScoreModel::new(predictor, sde, config.time_scale, config.max_nfe);
    let mut eps = vec![0.0; x.len()];
    let grid = time_grid(sde, config.grid, config.n_steps, config.t_end);
    let k = config.n_steps;
    let mut report = SampleReport::default();
    match config.sampler {
        ContinuousSampler::EulerMaruyama | ContinuousSampler::OdeEuler => {
            for i in 0..k {
                model.set_step(i);
                let (t, s) = (grid[i], grid[i + 1]);
                let (step, noise) = if config.sampler == ContinuousSampler::OdeEuler {
                    (LinearStep::probability_flow_euler(sde, t, s), Noise::Mean)
                } else {
                    (LinearStep::euler_maruyama(sde, t, s), last_mean(i, k))
                };
                apply(&mut model, &step, x, &mut eps, noise, rng)?;
                check_finite(x, s, i)?;
            }
            report.n_steps = k;
        }
        ContinuousSampler::PredictorCorrector => {
            for i in 0..k {
                model.set_step(i);
                let (t, s) = (grid[i], grid[i + 1]);
                for _ in 0..config.n_corrector {
                    langevin(&mut model, x, &mut eps, t, s, config.snr, rng)?;
                }
                let step = match config.pc_predictor {
                    PcPredictor::ReverseDiffusion => LinearStep::reverse_diffusion(sde, t, s),
                    PcPredictor::EulerMaruyama => LinearStep::euler_maruyama(sde, t, s),
                };
                apply(&mut model, &step, x, &mut eps, last_mean(i, k), rng)?;
                check_finite(x, s, i)?;
            }
            report.n_steps = k;
        }
        ContinuousSampler::OdeHeun => {
            let mut x1 = vec![0.0; x.len()];
            let mut d1 = vec![0.0; x.len()];
            for i in 0..k {
                model.set_step(i);
                let (t, s) = (grid[i], grid[i + 1]);
                let h = s - t;
                model.pf_drift(x, t, &mut eps)?;
                for ((a, &xi), &d) in x1.iter_mut().zip(x.iter()).zip(&eps) {
                    *a = xi + h * d;
                }
                model.pf_drift(&x1, s, &mut d1)?;
                for ((xi, &d0), &d) in x.iter_mut().zip(&eps).zip(&d1) {
                    *xi += 0.5 * h * (d0 + d);
                }
                check_finite(x, s, i)?;
            }
            report.n_steps = k;
        }
        ContinuousSampler::OdeRk45 => {
            let stats = dopri5(
                &mut |t, y, dy| model.pf_drift(y, t, dy),
                1.0,
                config.t_end,
                x,
                config.tol,
                config.max_nfe,
            )?;
            report.n_steps = stats.n_accepted;
            report.n_rejected = stats.n_rejected;
        }
        ContinuousSampler::DpmSolverPp => {
            dpm_solver_pp_2m(&mut model, &grid, x)?;
            report.n_steps = k;
        }
    }
    report.nfe = model.nfe();
    Ok(report)
}

fn last_mean(i: usize, k: usize) -> Noise {
    if i + 1 == k {
        Noise::Mean
    } else {
        Noise::Sample
    }
}

/// Langevin corrector at time t (score-SDE `LangevinCorrector`): step size
/// 2·a²·(snr·‖z‖/‖∇log p‖)² with per-row norms averaged over the batch and a = μ_t/μ_s.
fn langevin(
    model: &mut ScoreModel<'_>,
    x: &mut [f64],
    eps: &mut [f64],
    t: f64,
    s: f64,
    snr: f64,
    rng: &mut dyn RngCore,
) -> Result<()> {
    let sde = model.sde();
    let d = model.predictor().dim();
    model.eps(x, t, eps)?;
    let sigma = sde.std(t);
    let z: Vec<f64> = (0..x.len())
        .map(|_| StandardNormal.sample(&mut *rng))
        .collect();
    let rows = (x.len() / d) as f64;
    let mean_norm = |v: &[f64], scale: f64| {
        v.chunks(d)
            .map(|r| r.iter().map(|a| a * a).sum::<f64>().sqrt() * scale)
            .sum::<f64>()
            / rows
    };
    let grad_norm = mean_norm(eps, 1.0 / sigma);
    let noise_norm = mean_norm(&z, 1.0);
    let a = sde.mean_coef(t) / sde.mean_coef(s);
    let step = if grad_norm > 0.0 {
        2.0 * a * a * (snr * noise_norm / grad_norm).powi(2)
    } else {
        0.0
    };
    let noise = (2.0 * step).sqrt();
    for ((xi, &ei), &zi) in x.iter_mut().zip(eps.iter()).zip(&z) {
        *xi += step * (-ei / sigma) + noise * zi;
    }
    Ok(())
}

/// DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) on the nodes `grid`, with the
/// first-order (DDIM) update on the first step and, for fewer than 15 steps, on the last
/// (the paper's `lower_order_final`). With h_i = λ_{t_i} − λ_{t_{i−1}}, r = h_{i−1}/h_i and
/// D = (1 + 1/(2r)) x̂_0^{(i−1)} − (1/(2r)) x̂_0^{(i−2)}:
/// x_{t_i} = (σ_{t_i}/σ_{t_{i−1}}) x_{t_{i−1}} − μ_{t_i}(e^{−h_i} − 1) D.
fn dpm_solver_pp_2m(model: &mut ScoreModel<'_>, grid: &[f64], x: &mut [f64]) -> Result<()> {
    let sde = model.sde();
    let k = grid.len() - 1;
    let mut eps = vec![0.0; x.len()];
    let mut x0_prev: Vec<f64> = Vec::new();
    let mut x0 = vec![0.0; x.len()];
    for i in 0..k {
        model.set_step(i);
        let (t, s) = (grid[i], grid[i + 1]);
        model.eps(x, t, &mut eps)?;
        let (mu_t, sigma_t) = (sde.mean_coef(t), sde.std(t));
        for ((o, &xi), &ei) in x0.iter_mut().zip(x.iter()).zip(&eps) {
            *o = (xi - sigma_t * ei) / mu_t;
        }
        let (mu_s, sigma_s) = (sde.mean_coef(s), sde.std(s));
        let h = sde.lambda(s) - sde.lambda(t);
        let c_x = sigma_s / sigma_t;
        let c_d = -mu_s * (-h).exp_m1();
        let first_order = i == 0 || (k < 15 && i + 1 == k);
        if first_order {
            for (xi, &d) in x.iter_mut().zip(&x0) {
                *xi = c_x * *xi + c_d * d;
            }
        } else {
            let h_prev = sde.lambda(t) - sde.lambda(grid[i - 1]);
            let r = h_prev / h;
            let (w1, w0) = (1.0 + 0.5 / r, -0.5 / r);
            for ((xi, &d1), &d0) in x.iter_mut().zip(&x0).zip(&x0_prev) {
                *xi = c_x * *xi + c_d * (w1 * d1 + w0 * d0);
            }
        }
        check_finite(x, s, i)?;
        std::mem::swap(&mut x0_prev, &mut x0);
        if x0.len() != x.len() {
            x0 = vec![0.0; x.len()];
        }
    }
    Ok(())
}

/// Cost of an adaptive solve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OdeStats {
    /// Right-hand-side evaluations.
    pub nfe: usize,
    /// Accepted steps.
    pub n_accepted: usize,
    /// Rejected steps.
    pub n_rejected: usize,
}

// Dormand–Prince 5(4) tableau (Dormand & Prince 1980; the `RK45` of scipy and MATLAB's ode45).
const C: [f64; 6] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0];
const A: [[f64; 5]; 6] = [
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
    ],
];
/// 5th-order weights (also the 7th stage's row: first same as last).
const B: [f64; 7] = [
    35.0 / 384.0,
    0.0,
    500.0 / 1113.0,
    125.0 / 192.0,
    -2187.0 / 6784.0,
    11.0 / 84.0,
    0.0,
];
/// Embedded 4th-order weights.
const B4: [f64; 7] = [
    5179.0 / 57600.0,
    0.0,
    7571.0 / 16695.0,
    393.0 / 640.0,
    -92097.0 / 339200.0,
    187.0 / 2100.0,
    1.0 / 40.0,
];

/// Right-hand side of an ODE: writes dy/dt at (t, y) into the last argument.
pub type Rhs<'a> = dyn FnMut(f64, &[f64], &mut [f64]) -> Result<()> + 'a;

fn rms_scaled(v: &[f64], y0: &[f64], y1: &[f64], tol: Tolerances) -> f64 {
    let n = v.len().max(1) as f64;
    (v.iter()
        .zip(y0)
        .zip(y1)
        .map(|((e, a), b)| {
            let sc = tol.atol + tol.rtol * a.abs().max(b.abs());
            (e / sc).powi(2)
        })
        .sum::<f64>()
        / n)
        .sqrt()
}

/// Integrates dy/dt = f(t, y) from `t0` to `t1` (either direction) with adaptive
/// Dormand–Prince 5(4), local extrapolation and FSAL, overwriting `y` with y(t1).
///
/// Error control as scipy's `RK45`: the step is accepted when the RMS of
/// err_i / (atol + rtol·max(|y_i|, |y_i'|)) is ≤ 1, and the next step is scaled by
/// 0.9·err^{−1/5} clamped to [0.2, 10]; the first step follows Hairer–Nørsett–Wanner's
/// heuristic (one extra evaluation).
///
/// # Errors
/// [`Error::Invalid`] when more than `max_nfe` evaluations are needed or the step size
/// underflows (both naming the time reached), or the state becomes non-finite; `f`'s errors.
pub fn dopri5(
    f: &mut Rhs<'_>,
    t0: f64,
    t1: f64,
    y: &mut [f64],
    tol: Tolerances,
    max_nfe: usize,
) -> Result<OdeStats> {
    let n = y.len();
    let mut stats = OdeStats::default();
    if t0 == t1 {
        return Ok(stats);
    }
    let dir = (t1 - t0).signum();
    let span = (t1 - t0).abs();
    let budget = |stats: &OdeStats, t: f64, extra: usize| -> Result<()> {
        if stats.nfe + extra > max_nfe {
            return Err(Error::Invalid {
                what: "ODE solve",
                msg: format!(
                    "NFE budget of {max_nfe} exceeded at t = {t:.6} after {} accepted steps",
                    stats.n_accepted
                ),
            });
        }
        Ok(())
    };
    let mut k: Vec<Vec<f64>> = vec![vec![0.0; n]; 7];
    let mut tmp = vec![0.0; n];
    let mut y_new = vec![0.0; n];
    let mut err = vec![0.0; n];
    let mut t = t0;
    budget(&stats, t, 2)?;
    f(t, y, &mut k[0])?;
    stats.nfe += 1;
    check_finite(&k[0], t, 0)?;
    // Initial step (Hairer, Nørsett & Wanner, Solving ODEs I, II.4).
    let mut h = {
        let scale: Vec<f64> = y.iter().map(|v| tol.atol + tol.rtol * v.abs()).collect();
        let norm = |v: &[f64]| {
            (v.iter()
                .zip(&scale)
                .map(|(a, s)| (a / s).powi(2))
                .sum::<f64>()
                / n.max(1) as f64)
                .sqrt()
        };
        let (d0, d1) = (norm(y), norm(&k[0]));
        let h0 = if d0 < 1e-5 || d1 < 1e-5 {
            1e-6
        } else {
            0.01 * d0 / d1
        }
        .min(span);
        for ((a, &yi), &ki) in tmp.iter_mut().zip(y.iter()).zip(&k[0]) {
            *a = yi + dir * h0 * ki;
        }
        f(t + dir * h0, &tmp, &mut k[1])?;
        stats.nfe += 1;
        let diff: Vec<f64> = k[1].iter().zip(&k[0]).map(|(a, b)| a - b).collect();
        let d2 = norm(&diff) / h0;
        let h1 = if d1.max(d2) <= 1e-15 {
            (h0 * 1e-3).max(1e-6)
        } else {
            (0.01 / d1.max(d2)).powf(0.2)
        };
        (100.0 * h0).min(h1).min(span)
    };
    while (t1 - t) * dir > 0.0 {
        let remaining = (t1 - t).abs();
        let last = h >= remaining;
        if last {
            h = remaining;
        }
        if h < 16.0 * f64::EPSILON * t.abs().max(span) {
            return Err(Error::Invalid {
                what: "ODE solve",
                msg: format!(
                    "step size underflow at t = {t:.6} after {} accepted steps",
                    stats.n_accepted
                ),
            });
        }
        budget(&stats, t, 6)?;
        let hs = dir * h;
        for s in 1..6 {
            for (i, v) in tmp.iter_mut().enumerate() {
                let mut acc = y[i];
                for (j, kj) in k.iter().enumerate().take(s) {
                    acc += hs * A[s][j] * kj[i];
                }
                *v = acc;
            }
            f(t + C[s] * hs, &tmp, &mut k[s])?;
        }
        for (i, v) in y_new.iter_mut().enumerate() {
            let mut acc = y[i];
            for (j, kj) in k.iter().enumerate().take(6) {
                acc += hs * B[j] * kj[i];
            }
            *v = acc;
        }
        let t_new = if last { t1 } else { t + hs };
        f(t_new, &y_new, &mut k[6])?;
        stats.nfe += 6;
        for (i, e) in err.iter_mut().enumerate() {
            let mut acc = 0.0;
            for (j, kj) in k.iter().enumerate() {
                acc += (B[j] - B4[j]) * kj[i];
            }
            *e = hs * acc;
        }
        let en = rms_scaled(&err, y, &y_new, tol);
        let finite = en.is_finite() && y_new.iter().all(|v| v.is_finite());
        if finite && en <= 1.0 {
            t = t_new;
            y.copy_from_slice(&y_new);
            let (first, rest) = k.split_at_mut(1);
            first[0].copy_from_slice(&rest[5]);
            stats.n_accepted += 1;
            let factor = if en == 0.0 {
                10.0
            } else {
                (0.9 * en.powf(-0.2)).min(10.0)
            };
            h *= factor;
        } else {
            stats.n_rejected += 1;
            let factor = if finite {
                (0.9 * en.powf(-0.2)).max(0.2)
            } else {
                0.2
            };
            h *= factor;
        }
    }
    check_finite(y, t, stats.n_accepted)?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    proptest! {
        /// With the true noise (ε̂ = ε), the DDIM step maps x_t = μ_t x_0 + σ_t ε exactly to
        /// x_s = μ_s x_0 + σ_s ε for every SDE (the step is the exact PF-ODE solution when ε̂
        /// is constant along it); 1e-9 relative to the magnitudes involved.
        #[test]
        fn ddim_step_is_exact_for_the_true_noise(
            kind in 0usize..3,
            p1 in 0.01f64..1.0,
            p2 in 1.0f64..30.0,
            u in 0.001f64..0.999,
            frac in 0.0f64..1.0,
            x0 in -3.0f64..3.0,
            e in -3.0f64..3.0,
        ) {
            let sde = match kind {
                0 => Sde::vp(p1, p2).unwrap(),
                1 => Sde::sub_vp(p1, p2).unwrap(),
                _ => Sde::ve(p1, p1 + p2).unwrap(),
            };
            let t = u;
            let s = 1e-4 + frac * (t - 1e-4);
            prop_assume!(s < t);
            let x_t = sde.mean_coef(t) * x0 + sde.std(t) * e;
            let step = LinearStep::ddim(&sde, t, s);
            let got = step.coef_x * x_t + step.coef_eps * e;
            let want = sde.mean_coef(s) * x0 + sde.std(s) * e;
            let scale = 1.0 + x_t.abs() + want.abs() + sde.std(t) * e.abs() / sde.mean_coef(t);
            prop_assert!((got - want).abs() <= 1e-9 * scale, "{got} vs {want}");
        }

        /// The reverse-diffusion step's noise variance is the forward kernel's
        /// G² = σ_t² − (μ_t/μ_s)² σ_s² ≥ 0 (β_i for VP, σ_t² − σ_s² for VE).
        #[test]
        fn reverse_diffusion_noise_is_the_kernel_variance(
            u in 0.01f64..1.0,
            frac in 0.0f64..1.0,
        ) {
            let t = u;
            let s = frac * t * 0.999;
            let vp = Sde::vp(0.1, 20.0).unwrap();
            let step = LinearStep::reverse_diffusion(&vp, t, s);
            let beta = 1.0 - (vp.log_alpha_bar(t) - vp.log_alpha_bar(s)).exp();
            prop_assert!((step.noise_std.powi(2) - beta).abs() <= 1e-12);
            let ve = Sde::ve(0.01, 50.0).unwrap();
            let step = LinearStep::reverse_diffusion(&ve, t, s);
            let want = ve.std(t).powi(2) - ve.std(s).powi(2);
            prop_assert!((step.noise_std.powi(2) - want).abs() <= 1e-9 * want.max(1e-12));
            prop_assert_eq!(step.coef_x, 1.0);
        }
    }

    #[test]
    fn retimed_queries_the_training_step() {
        // At ᾱ = ᾱ_n the model time is n (1e-9), between steps it interpolates ln ᾱ, and it
        // clamps outside [ᾱ_N, 1].
        struct Probe(std::cell::Cell<f64>);
        impl EpsPredictor for Probe {
            fn dim(&self) -> usize {
                1
            }
            fn predict_eps(&self, _: &[f64], l: NoiseLevel, e: &mut [f64]) -> Result<()> {
                self.0.set(l.t);
                e.fill(l.alpha_bar);
                Ok(())
            }
        }
        let sched = crate::Schedule::cosine(100).unwrap();
        let probe = Probe(std::cell::Cell::new(-1.0));
        let r = Retimed::new(&probe, &sched);
        let mut e = [0.0];
        for n in [1usize, 2, 37, 99, 100] {
            let ab = sched.alpha_bar(n);
            r.predict_eps(
                &[0.0],
                NoiseLevel {
                    t: -5.0,
                    alpha_bar: ab,
                },
                &mut e,
            )
            .unwrap();
            assert!(
                (probe.0.get() - n as f64).abs() < 1e-9,
                "{n}: {}",
                probe.0.get()
            );
            assert_eq!(e[0], ab);
        }
        let mid = (0.5 * (sched.alpha_bar(10).ln() + sched.alpha_bar(11).ln())).exp();
        assert!((r.model_time(mid) - 10.5).abs() < 1e-9);
        assert_eq!(r.model_time(1.0), 0.0);
        assert_eq!(r.model_time(1e-30), 100.0);
        // A VE SDE on a VP-trained network: times stay inside the training range.
        let ve = Sde::ve(0.01, 50.0).unwrap();
        for t in [1e-3, 0.5, 1.0] {
            let m = r.model_time(ve.eps_input(t, 1.0).1.alpha_bar);
            assert!((0.0..=100.0).contains(&m));
        }
    }

    #[test]
    fn names_round_trip() {
        for s in ContinuousSampler::ALL {
            assert_eq!(s.name().parse::<ContinuousSampler>().unwrap(), s);
        }
        assert!("ode-rk4".parse::<ContinuousSampler>().is_err());
    }

    #[test]
    fn dopri5_solves_exponential_and_oscillator() {
        // y' = −2y from 0 to 1 and the harmonic oscillator over one period, both directions;
        // with rtol = atol = 1e-10 the global error is below 1e-8.
        let tol = Tolerances::new(1e-10, 1e-10).unwrap();
        let mut y = [1.0];
        let st = dopri5(
            &mut |_, y, d| {
                d[0] = -2.0 * y[0];
                Ok(())
            },
            0.0,
            1.0,
            &mut y,
            tol,
            100_000,
        )
        .unwrap();
        assert!((y[0] - (-2f64).exp()).abs() < 1e-8, "{y:?} {st:?}");
        assert_eq!(st.nfe, 2 + 6 * (st.n_accepted + st.n_rejected));
        let mut z = [1.0, 0.0];
        let two_pi = 2.0 * std::f64::consts::PI;
        dopri5(
            &mut |_, y, d| {
                d[0] = y[1];
                d[1] = -y[0];
                Ok(())
            },
            two_pi,
            0.0,
            &mut z,
            tol,
            100_000,
        )
        .unwrap();
        assert!((z[0] - 1.0).abs() < 1e-8 && z[1].abs() < 1e-8, "{z:?}");
    }

    #[test]
    fn dopri5_budget_error_names_the_time() {
        let tol = Tolerances::new(1e-12, 1e-12).unwrap();
        let mut y = [1.0];
        let err = dopri5(
            &mut |t, _, d| {
                d[0] = (50.0 * t).sin();
                Ok(())
            },
            0.0,
            10.0,
            &mut y,
            tol,
            50,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("NFE budget of 50") && err.contains("t = "),
            "{err}"
        );
        assert!(Tolerances::new(0.0, 1e-5).is_err());
        assert!(Tolerances::new(1e-5, -1.0).is_err());
        assert!(Tolerances::new(f64::NAN, 1e-5).is_err());
    }
}
