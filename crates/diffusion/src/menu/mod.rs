//! The few-step sampler menu of diffusers and k-diffusion, on any [`EpsPredictor`].
//!
//! | [`MenuSampler`] | family | orders | NFE for K steps | stochastic |
//! |---|---|---|---|---|
//! | `euler` | σ-space ([`karras`]) | 1 | K | with churn |
//! | `euler-ancestral` | σ-space | 1 | K | η > 0 |
//! | `heun` | σ-space | 2 | 2K − 1 (2K when the grid ends at σ_K > 0) | with churn |
//! | `dpm2` | σ-space | 2 | 2K − 1 (2K) | with churn |
//! | `dpm2-ancestral` | σ-space | 2 | 2K − 1 (2K) | η > 0 |
//! | `dpm-solver++-2s` | VP singlestep ([`multistep`]) | 1–2 (2) | K | no |
//! | `dpm-solver++-3m` | VP multistep | 1–3 (3; order 2 is 2M) | K | no |
//! | `dpm-solver++-sde` | VP multistep | 1–2 (2) | K | η > 0 |
//! | `unipc` | VP multistep, predictor–corrector | 1–3 (2), bh1/bh2 | K (K + 1 with the final corrector) | no |
//! | `deis` | VP multistep | 1–3 (2) | K | no |
//! | `pndm` | VP pseudo-RK + PLMS | 4 | K + 9 | no |
//! | `lms` | σ-space multistep | 1–4 (4) | K | no |
//!
//! Every sampler is compiled into a [`Plan`] of coefficient records (module [`plan`]) and run
//! by the one loop [`plan::run`]; warm-up and final-step order reductions are part of the plan
//! and documented with each builder. Grids follow diffusers 0.42's defaults for a discrete
//! [`Schedule`] (spacing, rounding, final σ = 0 — DEIS and PNDM end at train step 0 as
//! diffusers does) and run from t = 1 to `t_end` for an [`crate::Sde`] ([`Process`]; there
//! `spacing` does not apply: the grid is uniform in t, Karras in σ or uniform in λ).
//! The model is always queried as an ε-predictor; models of x₀ or v go through
//! [`prediction::AsEps`]. [`sample_menu_analytic`] runs `euler-ancestral` and
//! `dpm-solver++-sde` with Analytic-DPM's optimal variance ([`hybrid`]);
//! [`sample_menu_hybrid`] runs them with any [`MenuVariance`] (analytic Γ, or an SN/NPR
//! covariance head's per-coordinate variance).
//!
//! # Wiring
//! `AnySampler::Menu(MenuConfig)` ([`crate::AnySampler`]) runs [`sample_menu_hybrid`] with
//! `Process::Discrete(&schedule)` for `kexue diffusion sample --sampler NAME` (flags `--steps`,
//! `--sigmas default|karras|logsnr`, `--spacing leading|trailing|linspace`, `--order`,
//! `--eta`, `--variance handcrafted|analytic|sn|npr`); `kexue diffusion lab --samplers …`
//! runs them next to the discrete samplers ([`crate::experiment::lab`], same flags). Errors
//! of [`MenuConfig::validate`] are the flag errors.
//!
//! # Example
//!
//! ```
//! use diffusion::exact::Gaussian;
//! use diffusion::menu::{MenuConfig, MenuSampler, Process, sample_menu};
//! use diffusion::Schedule;
//! use rand::SeedableRng;
//!
//! let schedule = Schedule::linear(1000)?;
//! let data = Gaussian::isotropic(1, 0.5, 0.09)?;
//! let cfg = MenuConfig::new("unipc".parse::<MenuSampler>()?, 10);
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let mut x = vec![0.0; 2000];
//! diffusion::standard_normal(&mut rng, &mut x);
//! let report = sample_menu(&data, Process::Discrete(&schedule), &cfg, &mut x, &mut rng, &mut |_| {})?;
//! assert_eq!(report.nfe, 10);
//! let mean = x.iter().sum::<f64>() / x.len() as f64;
//! assert!((mean - 0.5).abs() < 0.05);
//! # Ok::<(), diffusion::Error>(())
//! ```

pub mod hybrid;
pub mod karras;
pub mod multistep;
pub mod plan;
pub mod prediction;
pub mod sigmas;

use std::fmt;
use std::str::FromStr;

pub use hybrid::{Variance, gamma_of_table};
pub use karras::Churn;
pub use multistep::{UniPcFinal, UniPcVariant};
pub use plan::{MenuStep, Node, NoiseSource, Plan, RngNoise};
pub use sigmas::{Process, SigmaKind, Spacing};

use crate::{EpsPredictor, Error, Result};

/// The closed set of menu samplers (CLI names in [`MenuSampler::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MenuSampler {
    /// Euler in σ (`euler`).
    Euler,
    /// Euler-ancestral (`euler-ancestral`).
    EulerAncestral,
    /// Heun, EDM's 2nd-order sampler (`heun`).
    Heun,
    /// DPM-2 (`dpm2`).
    Dpm2,
    /// DPM-2 ancestral (`dpm2-ancestral`).
    Dpm2Ancestral,
    /// DPM-Solver++ singlestep 2S (`dpm-solver++-2s`).
    DpmSolverPp2s,
    /// DPM-Solver++ multistep 3M (`dpm-solver++-3m`; order 2 gives 2M).
    DpmSolverPp3m,
    /// SDE-DPM-Solver++ 2M (`dpm-solver++-sde`).
    DpmSolverPpSde,
    /// UniPC (`unipc`).
    UniPc,
    /// DEIS (`deis`).
    Deis,
    /// PNDM (`pndm`).
    Pndm,
    /// Linear multistep (`lms`).
    Lms,
}

impl MenuSampler {
    /// Every sampler, in CLI order.
    pub const ALL: [MenuSampler; 12] = [
        MenuSampler::Euler,
        MenuSampler::EulerAncestral,
        MenuSampler::Heun,
        MenuSampler::Dpm2,
        MenuSampler::Dpm2Ancestral,
        MenuSampler::DpmSolverPp2s,
        MenuSampler::DpmSolverPp3m,
        MenuSampler::DpmSolverPpSde,
        MenuSampler::UniPc,
        MenuSampler::Deis,
        MenuSampler::Pndm,
        MenuSampler::Lms,
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            MenuSampler::Euler => "euler",
            MenuSampler::EulerAncestral => "euler-ancestral",
            MenuSampler::Heun => "heun",
            MenuSampler::Dpm2 => "dpm2",
            MenuSampler::Dpm2Ancestral => "dpm2-ancestral",
            MenuSampler::DpmSolverPp2s => "dpm-solver++-2s",
            MenuSampler::DpmSolverPp3m => "dpm-solver++-3m",
            MenuSampler::DpmSolverPpSde => "dpm-solver++-sde",
            MenuSampler::UniPc => "unipc",
            MenuSampler::Deis => "deis",
            MenuSampler::Pndm => "pndm",
            MenuSampler::Lms => "lms",
        }
    }

    /// Allowed orders and the default.
    pub fn orders(self) -> (std::ops::RangeInclusive<usize>, usize) {
        match self {
            MenuSampler::Euler | MenuSampler::EulerAncestral => (1..=1, 1),
            MenuSampler::Heun | MenuSampler::Dpm2 | MenuSampler::Dpm2Ancestral => (2..=2, 2),
            MenuSampler::DpmSolverPp2s | MenuSampler::DpmSolverPpSde => (1..=2, 2),
            MenuSampler::DpmSolverPp3m => (1..=3, 3),
            MenuSampler::UniPc | MenuSampler::Deis => (1..=3, 2),
            MenuSampler::Pndm => (4..=4, 4),
            MenuSampler::Lms => (1..=4, 4),
        }
    }

    /// Whether η applies (ancestral and SDE samplers; default η = 1).
    pub fn takes_eta(self) -> bool {
        matches!(
            self,
            MenuSampler::EulerAncestral | MenuSampler::Dpm2Ancestral | MenuSampler::DpmSolverPpSde
        )
    }

    /// Whether EDM churn applies.
    pub fn takes_churn(self) -> bool {
        matches!(
            self,
            MenuSampler::Euler | MenuSampler::Heun | MenuSampler::Dpm2
        )
    }
}

impl fmt::Display for MenuSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MenuSampler {
    type Err = Error;

    /// CLI names plus aliases: `euler-a`, `euler_a`, `dpm++2s`, `dpm++3m`, `dpm++sde`,
    /// `dpm-solver++-2m-sde`, `plms`, `uni-pc`.
    fn from_str(s: &str) -> Result<Self> {
        let alias = match s {
            "euler-a" | "euler_a" => Some(MenuSampler::EulerAncestral),
            "dpm2-a" => Some(MenuSampler::Dpm2Ancestral),
            "dpm++2s" => Some(MenuSampler::DpmSolverPp2s),
            "dpm++3m" => Some(MenuSampler::DpmSolverPp3m),
            "dpm++sde" | "dpm-solver++-2m-sde" => Some(MenuSampler::DpmSolverPpSde),
            "plms" => Some(MenuSampler::Pndm),
            "uni-pc" => Some(MenuSampler::UniPc),
            _ => None,
        };
        alias
            .or_else(|| Self::ALL.into_iter().find(|m| m.name() == s))
            .ok_or_else(|| Error::Invalid {
                what: "sampler",
                msg: format!(
                    "unknown sampler `{s}` (expected one of: {})",
                    Self::ALL.map(|m| m.name()).join(", ")
                ),
            })
    }
}

/// The noise variance of the stochastic samplers `euler-ancestral` and `dpm-solver++-sde`
/// (module [`hybrid`]; CLI `--variance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MenuVariance {
    /// The sampler's own noise (the default).
    Handcrafted,
    /// Analytic-DPM's optimal scalar variance from Γ.
    Analytic,
    /// Per-coordinate variance from an SN-DPM head (h ≈ E[ε⊙ε | x_t]).
    Sn,
    /// Per-coordinate variance from an NPR-DPM head (g ≈ E[(ε − ε̂)⊙² | x_t]).
    Npr,
}

impl MenuVariance {
    /// Every kind, in CLI order.
    pub const ALL: [MenuVariance; 4] = [
        MenuVariance::Handcrafted,
        MenuVariance::Analytic,
        MenuVariance::Sn,
        MenuVariance::Npr,
    ];

    /// `handcrafted`, `analytic`, `sn` or `npr`.
    pub fn name(self) -> &'static str {
        match self {
            MenuVariance::Handcrafted => "handcrafted",
            MenuVariance::Analytic => "analytic",
            MenuVariance::Sn => "sn",
            MenuVariance::Npr => "npr",
        }
    }

    /// The covariance head it reads, if any.
    pub fn cov_kind(self) -> Option<crate::covariance::CovKind> {
        match self {
            MenuVariance::Sn => Some(crate::covariance::CovKind::Sn),
            MenuVariance::Npr => Some(crate::covariance::CovKind::Npr),
            _ => None,
        }
    }
}

crate::named::named!(MenuVariance, "variance");

/// Whether the caller accepts random draws during sampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Randomness {
    /// Noise may be drawn (the default).
    Stochastic,
    /// The run must be a deterministic map of the prior draw (e.g. to compare with the
    /// PF-ODE solution); stochastic settings are an error.
    Deterministic,
}

/// Everything that shapes a menu run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MenuConfig {
    /// Which sampler.
    pub sampler: MenuSampler,
    /// Number of steps K (intervals of the grid).
    pub n_steps: usize,
    /// Default, Karras or log-SNR σ.
    pub sigmas: SigmaKind,
    /// Karras ρ (7).
    pub rho: f64,
    /// Timestep spacing of discrete schedules.
    pub spacing: Spacing,
    /// diffusers' `steps_offset` (added by `leading`).
    pub steps_offset: usize,
    /// Solver order; `None` = the sampler's default ([`MenuSampler::orders`]).
    pub order: Option<usize>,
    /// η of ancestral / SDE samplers; `None` = 1.
    pub eta: Option<f64>,
    /// EDM churn of Euler, Heun, DPM-2.
    pub churn: Churn,
    /// UniPC's B(h).
    pub unipc: UniPcVariant,
    /// UniPC's corrector after the last step (with it the grid of a discrete schedule ends at
    /// σ_min, diffusers' `final_sigmas_type = "sigma_min"`, and NFE = K + 1).
    pub unipc_final: UniPcFinal,
    /// Stochastic or deterministic request.
    pub randomness: Randomness,
    /// Noise variance of `euler-ancestral` / `dpm-solver++-sde` ([`MenuVariance`]).
    pub variance: MenuVariance,
}

impl MenuConfig {
    /// diffusers' defaults: default σ, `linspace` spacing (`leading` for PNDM), offset 0,
    /// the sampler's default order, η = 1, no churn, bh2, stochastic.
    pub const fn new(sampler: MenuSampler, n_steps: usize) -> Self {
        Self {
            sampler,
            n_steps,
            sigmas: SigmaKind::Default,
            rho: 7.0,
            spacing: if matches!(sampler, MenuSampler::Pndm) {
                Spacing::Leading
            } else {
                Spacing::Linspace
            },
            steps_offset: 0,
            order: None,
            eta: None,
            churn: Churn::NONE,
            unipc: UniPcVariant::Bh2,
            unipc_final: UniPcFinal::Skip,
            randomness: Randomness::Stochastic,
            variance: MenuVariance::Handcrafted,
        }
    }

    /// The order used (explicit or default).
    pub fn order(&self) -> usize {
        self.order.unwrap_or(self.sampler.orders().1)
    }

    /// η used (explicit or 1).
    pub fn eta(&self) -> f64 {
        self.eta.unwrap_or(1.0)
    }

    /// Checks the configuration against `process`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the offending setting: K = 0 or K larger than the schedule,
    /// an order out of the sampler's range, η < 0 or η for a sampler without one, negative
    /// churn or churn for a sampler without it, ρ ≤ 0, PNDM off its `leading` grid, a
    /// stochastic setting on a [`Randomness::Deterministic`] request.
    pub fn validate(&self, process: &Process<'_>) -> Result<()> {
        let bad = |msg: String| {
            Err(Error::Invalid {
                what: "sampler config",
                msg,
            })
        };
        let name = self.sampler.name();
        if self.n_steps == 0 {
            return bad("the number of steps must be ≥ 1".into());
        }
        let (range, _) = self.sampler.orders();
        if let Some(o) = self.order
            && !range.contains(&o)
        {
            return bad(format!(
                "order {o} is out of range for {name} (allowed {}..={})",
                range.start(),
                range.end()
            ));
        }
        if let Some(eta) = self.eta {
            if !self.sampler.takes_eta() {
                return bad(format!(
                    "η applies to euler-ancestral, dpm2-ancestral and dpm-solver++-sde, not {name}"
                ));
            }
            if !(eta.is_finite() && eta >= 0.0) {
                return bad(format!("η = {eta} must be a finite number ≥ 0"));
            }
        }
        let c = &self.churn;
        if c != &Churn::NONE {
            if !(c.s_churn.is_finite() && c.s_churn >= 0.0) {
                return bad(format!("s_churn = {} must be ≥ 0", c.s_churn));
            }
            if !(c.s_noise.is_finite() && c.s_noise > 0.0) {
                return bad(format!("s_noise = {} must be > 0", c.s_noise));
            }
            if c.s_tmin.is_nan() || c.s_tmax.is_nan() || c.s_tmin > c.s_tmax {
                return bad(format!(
                    "s_tmin = {} must not exceed s_tmax = {}",
                    c.s_tmin, c.s_tmax
                ));
            }
            if c.s_churn > 0.0 && !self.sampler.takes_churn() {
                return bad(format!("churn applies to euler, heun and dpm2, not {name}"));
            }
        }
        if self.unipc_final == UniPcFinal::Correct && self.sampler != MenuSampler::UniPc {
            return bad(format!("the final corrector applies to unipc, not {name}"));
        }
        if !(self.rho.is_finite() && self.rho > 0.0) {
            return bad(format!("ρ = {} must be > 0", self.rho));
        }
        if self.variance != MenuVariance::Handcrafted
            && (!matches!(
                self.sampler,
                MenuSampler::EulerAncestral | MenuSampler::DpmSolverPpSde
            ) || self.eta() <= 0.0)
        {
            return bad(format!(
                "the {} variance applies to euler-ancestral and dpm-solver++-sde with η > 0, \
                 not {name} (η = {})",
                self.variance.name(),
                if self.sampler.takes_eta() {
                    self.eta()
                } else {
                    0.0
                }
            ));
        }
        if self.sampler == MenuSampler::DpmSolverPpSde && self.eta() > 0.0 && self.order() > 2 {
            return bad("dpm-solver++-sde supports orders 1 and 2".into());
        }
        let stochastic = (self.sampler.takes_eta() && self.eta() > 0.0)
            || (self.sampler.takes_churn() && self.churn.s_churn > 0.0);
        if stochastic && self.randomness == Randomness::Deterministic {
            return bad(format!(
                "{name} draws noise (η = {}, s_churn = {}) but a deterministic run was requested \
                 (set η = 0 / s_churn = 0 or pick a deterministic sampler)",
                if self.sampler.takes_eta() {
                    self.eta()
                } else {
                    0.0
                },
                self.churn.s_churn
            ));
        }
        match process {
            Process::Discrete(s) => {
                if self.n_steps > s.n_steps() {
                    return bad(format!(
                        "{} steps exceed the schedule's {} train steps",
                        self.n_steps,
                        s.n_steps()
                    ));
                }
                if self.sampler == MenuSampler::Pndm {
                    if self.spacing != Spacing::Leading || self.sigmas != SigmaKind::Default {
                        return bad(
                            "pndm runs on its own leading grid (no --spacing/--sigmas)".into()
                        );
                    }
                    if self.n_steps < 4 {
                        return bad(
                            "pndm needs at least 4 steps (its Runge–Kutta warm-up uses 3)".into(),
                        );
                    }
                }
            }
            Process::Continuous {
                t_end, time_scale, ..
            } => {
                if self.sampler == MenuSampler::Pndm {
                    return bad("pndm needs a discrete schedule".into());
                }
                if !(*t_end > 0.0 && *t_end < 1.0) {
                    return bad(format!("t_end = {t_end} must lie in (0, 1)"));
                }
                if !(time_scale.is_finite() && *time_scale > 0.0) {
                    return bad(format!("time scale {time_scale} must be positive"));
                }
            }
        }
        Ok(())
    }
}

/// Compiles the configuration into its [`Plan`] (the coefficient records the loop applies);
/// `plan.nfe()` is the cost before running.
///
/// # Errors
/// As [`MenuConfig::validate`].
pub fn plan(process: Process<'_>, cfg: &MenuConfig) -> Result<Plan> {
    plan_with(process, cfg, None)
}

/// [`plan`] honouring `cfg.variance`: `gamma` (Γ as a function of ᾱ) is needed by
/// [`MenuVariance::Analytic`]; the SN/NPR variances leave per-coordinate weights in the plan
/// for [`plan::run_with_head`].
///
/// # Errors
/// As [`MenuConfig::validate`]; [`Error::Invalid`] for the analytic variance without Γ.
pub fn plan_with(
    process: Process<'_>,
    cfg: &MenuConfig,
    gamma: Option<&dyn Fn(f64) -> f64>,
) -> Result<Plan> {
    let variance = match (cfg.variance, gamma) {
        (MenuVariance::Handcrafted, _) => hybrid::Variance::Handcrafted,
        (MenuVariance::Analytic, Some(g)) => hybrid::Variance::Analytic(g),
        (MenuVariance::Analytic, None) => {
            return Err(Error::Invalid {
                what: "sampler config",
                msg: format!("{} with the analytic variance needs Γ", cfg.sampler),
            });
        }
        (MenuVariance::Sn | MenuVariance::Npr, _) => hybrid::Variance::Head,
    };
    build(process, cfg, variance)
}

/// [`plan`] with Analytic-DPM's optimal variance in the stochastic sampler (module
/// [`hybrid`]); `gamma` maps ᾱ to Γ = E‖ε*‖²/d.
///
/// # Errors
/// As [`MenuConfig::validate`]; [`Error::Invalid`] unless the sampler is `euler-ancestral`
/// or `dpm-solver++-sde` with η > 0.
pub fn plan_analytic(
    process: Process<'_>,
    cfg: &MenuConfig,
    gamma: &dyn Fn(f64) -> f64,
) -> Result<Plan> {
    if !matches!(
        cfg.sampler,
        MenuSampler::EulerAncestral | MenuSampler::DpmSolverPpSde
    ) || cfg.eta() <= 0.0
    {
        return Err(Error::Invalid {
            what: "sampler config",
            msg: format!(
                "the analytic variance applies to euler-ancestral and dpm-solver++-sde with η > 0, not {} (η = {})",
                cfg.sampler,
                cfg.eta()
            ),
        });
    }
    build(process, cfg, hybrid::Variance::Analytic(gamma))
}

fn build(process: Process<'_>, cfg: &MenuConfig, variance: hybrid::Variance<'_>) -> Result<Plan> {
    cfg.validate(&process)?;
    let k = cfg.n_steps;
    let kf = |p: &Process<'_>| {
        p.karras_family_grid(k, cfg.sigmas, cfg.rho, cfg.spacing, cfg.steps_offset)
    };
    let ms = |p: &Process<'_>, final_min: bool| {
        p.multistep_grid(
            k,
            cfg.sigmas,
            cfg.rho,
            cfg.spacing,
            cfg.steps_offset,
            final_min,
        )
    };
    let eta = if cfg.sampler.takes_eta() {
        cfg.eta()
    } else {
        0.0
    };
    let p = &process;
    Ok(match cfg.sampler {
        MenuSampler::Euler => karras::euler(p, &kf(p), &cfg.churn),
        MenuSampler::EulerAncestral => {
            karras::euler_ancestral(&kf(p), eta, cfg.churn.s_noise, variance)
        }
        MenuSampler::Heun => karras::heun(p, &kf(p), &cfg.churn),
        MenuSampler::Dpm2 => karras::dpm2(p, &kf(p), &cfg.churn),
        MenuSampler::Dpm2Ancestral => karras::dpm2_ancestral(p, &kf(p), eta, cfg.churn.s_noise),
        MenuSampler::Lms => karras::lms(&kf(p), cfg.order()),
        MenuSampler::DpmSolverPp2s => {
            if cfg.order() == 1 {
                multistep::dpm_solver_pp_multistep(
                    &ms(p, false),
                    1,
                    0.0,
                    hybrid::Variance::Handcrafted,
                )
            } else {
                multistep::dpm_solver_pp_2s(&ms(p, false))
            }
        }
        MenuSampler::DpmSolverPp3m => multistep::dpm_solver_pp_multistep(
            &ms(p, false),
            cfg.order(),
            0.0,
            hybrid::Variance::Handcrafted,
        ),
        MenuSampler::DpmSolverPpSde => {
            multistep::dpm_solver_pp_multistep(&ms(p, false), cfg.order(), eta, variance)
        }
        MenuSampler::UniPc => {
            let correct = cfg.unipc_final == UniPcFinal::Correct;
            multistep::unipc(&ms(p, correct), cfg.order(), cfg.unipc, cfg.unipc_final)
        }
        MenuSampler::Deis => multistep::deis(&ms(p, true), cfg.order()),
        MenuSampler::Pndm => match process {
            Process::Discrete(s) => multistep::pndm(s, k, cfg.steps_offset),
            Process::Continuous { .. } => unreachable!("validate rejects pndm on an SDE"),
        },
    })
}

/// What a menu run cost and where it ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MenuReport {
    /// Model evaluations.
    pub nfe: usize,
    /// The noise level of the returned batch (σ = 0: data).
    pub end: Node,
}

/// Runs `cfg` on the batch `x` (rows of `eps.dim()` values holding prior draws: N(0, I) for a
/// discrete VP schedule, [`crate::Sde::sample_prior`] for an SDE), overwriting it with the
/// samples; `on_step` sees the batch after each model call.
///
/// # Errors
/// As [`MenuConfig::validate`]; a batch that is not whole rows, a non-finite state; the
/// predictor's errors.
pub fn sample_menu(
    eps: &dyn EpsPredictor,
    process: Process<'_>,
    cfg: &MenuConfig,
    x: &mut [f64],
    rng: &mut dyn rand::RngCore,
    on_step: &mut dyn FnMut(&MenuStep<'_>),
) -> Result<MenuReport> {
    sample_menu_with_noise(eps, process, cfg, x, &mut RngNoise(rng), on_step)
}

/// [`sample_menu`] with Analytic-DPM's optimal variance in `euler-ancestral` or
/// `dpm-solver++-sde` ([`plan_analytic`], module [`hybrid`]).
///
/// # Errors
/// As [`plan_analytic`] and [`sample_menu`].
pub fn sample_menu_analytic(
    eps: &dyn EpsPredictor,
    process: Process<'_>,
    cfg: &MenuConfig,
    gamma: &dyn Fn(f64) -> f64,
    x: &mut [f64],
    rng: &mut dyn rand::RngCore,
    on_step: &mut dyn FnMut(&MenuStep<'_>),
) -> Result<MenuReport> {
    let plan = plan_analytic(process, cfg, gamma)?;
    let nfe = plan::run(eps, &plan, x, &mut RngNoise(rng), on_step)?;
    Ok(MenuReport {
        nfe,
        end: plan.end(),
    })
}

/// [`sample_menu`] honouring `cfg.variance` ([`plan_with`]): `gamma` (Γ as a function of ᾱ)
/// for [`MenuVariance::Analytic`], `head` (an SN or NPR covariance predictor, matching the
/// variance) for [`MenuVariance::Sn`] / [`MenuVariance::Npr`]; both ignored otherwise.
///
/// # Errors
/// As [`plan_with`] and [`sample_menu`]; [`Error::Invalid`] when the head is missing.
#[allow(clippy::too_many_arguments)]
pub fn sample_menu_hybrid(
    eps: &dyn EpsPredictor,
    head: Option<&dyn crate::covariance::CovPredictor>,
    gamma: Option<&dyn Fn(f64) -> f64>,
    process: Process<'_>,
    cfg: &MenuConfig,
    x: &mut [f64],
    rng: &mut dyn rand::RngCore,
    on_step: &mut dyn FnMut(&MenuStep<'_>),
) -> Result<MenuReport> {
    let plan = plan_with(process, cfg, gamma)?;
    let head = match cfg.variance.cov_kind() {
        Some(kind) => match head {
            Some(h) => Some((h, kind)),
            None => {
                return Err(Error::Invalid {
                    what: "sampler config",
                    msg: format!(
                        "{} with the {} variance needs a covariance head",
                        cfg.sampler,
                        cfg.variance.name()
                    ),
                });
            }
        },
        None => None,
    };
    let nfe = plan::run_with_head(eps, head, &plan, x, &mut RngNoise(rng), on_step)?;
    Ok(MenuReport {
        nfe,
        end: plan.end(),
    })
}

/// [`sample_menu`] with an explicit [`NoiseSource`] (tests replay recorded noise with it).
///
/// # Errors
/// As [`sample_menu`].
pub fn sample_menu_with_noise(
    eps: &dyn EpsPredictor,
    process: Process<'_>,
    cfg: &MenuConfig,
    x: &mut [f64],
    noise: &mut dyn NoiseSource,
    on_step: &mut dyn FnMut(&MenuStep<'_>),
) -> Result<MenuReport> {
    let plan = plan(process, cfg)?;
    let nfe = plan::run(eps, &plan, x, noise, on_step)?;
    Ok(MenuReport {
        nfe,
        end: plan.end(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in MenuSampler::ALL {
            assert_eq!(s.name().parse::<MenuSampler>().unwrap(), s);
            assert_eq!(s.to_string(), s.name());
        }
        assert_eq!(
            "euler-a".parse::<MenuSampler>().unwrap(),
            MenuSampler::EulerAncestral
        );
        let err = "dpm3".parse::<MenuSampler>().unwrap_err().to_string();
        assert!(
            err.contains("unknown sampler `dpm3`") && err.contains("unipc"),
            "{err}"
        );
    }
}
