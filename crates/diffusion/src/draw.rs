//! Every sampler kexue knows ([`AnySampler`]) and the one entry point that draws samples with
//! any of them ([`draw`]).
//!
//! | family | samplers | what `draw` runs |
//! |---|---|---|
//! | discrete | `ddpm-beta`, `ddpm-tilde`, `analytic-ddpm`, `ddim`, `analytic-ddim` | [`crate::plan`] on the [`TrajectoryKind`] of K nodes, then [`crate::sample()`] |
//! | covariance | `sn-ddpm`, `sn-ddim`, `npr-ddpm`, `npr-ddim` | the mean sampler's plan, then [`crate::sample_cov`] with the head |
//! | continuous | `em`, `pc`, `ode-euler`, `ode-heun`, `ode-rk45`, `dpm-solver++` | [`crate::sample_continuous`] on the schedule read as a VP SDE, the predictor [`Retimed`] to it and, with an x̂_0 clip in the settings (bounded data), [`ClippedX0`] |
//! | menu | `euler`, `euler-ancestral`, `heun`, `dpm2`, `dpm2-ancestral`, `dpm-solver++-2s`, `dpm-solver++-3m`, `dpm-solver++-sde`, `unipc`, `deis`, `pndm`, `lms` | [`crate::menu::sample_menu_hybrid`] on the discrete schedule (diffusers' grids; [`MenuOptions`] set σ kind, spacing, order and the hybrids' variance: Γ interpolated in ᾱ from the table, or the covariance head), with [`ClippedX0`] on bounded data |
//!
//! Every run starts from x_N ~ N(0, I) drawn first from the run's RNG. Adding a sampler: a
//! variant (or a family) in [`AnySampler`] with its name in [`AnySampler::ALL`], and its arm in
//! [`draw_with`].

use std::fmt;
use std::str::FromStr;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::analytic::Gamma;
use crate::covariance::{CovConfig, CovKind, CovPredictor, CovSampler, sample_cov};
use crate::menu::{
    MenuConfig, MenuSampler, MenuVariance, Process, SigmaKind, Spacing, gamma_of_table,
    sample_menu_hybrid,
};
use crate::sde::Sde;
use crate::solvers::{ClippedX0, ContinuousSampler, Retimed, SolverConfig, sample_continuous};
use crate::step::{PlanSettings, Sampler, X0Clip};
use crate::trajectory::TrajectoryKind;
use crate::{EpsPredictor, Error, Result, Schedule, Trajectory, plan, sample, standard_normal};

/// A sampler of any family, with its η where it has one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnySampler {
    /// One variance per step on a discrete trajectory.
    Discrete(Sampler),
    /// SN-/NPR-DPM: per-dimension variances from a covariance head.
    Covariance(CovSampler),
    /// A continuous-time SDE/ODE sampler.
    Continuous(ContinuousSampler),
    /// A sampler of the few-step menu ([`crate::menu`]); its `n_steps` is set by [`draw`].
    Menu(MenuConfig),
}

const fn menu(sampler: MenuSampler) -> AnySampler {
    AnySampler::Menu(MenuConfig::new(sampler, 0))
}

/// The menu settings a command line may give (`--sigmas`, `--spacing`, `--order`,
/// `--variance`); `None` keeps the sampler's default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MenuOptions {
    /// σ kind (default, karras, logsnr).
    pub sigmas: Option<SigmaKind>,
    /// Timestep spacing of the discrete schedule.
    pub spacing: Option<Spacing>,
    /// Solver order.
    pub order: Option<usize>,
    /// Noise variance of euler-ancestral / dpm-solver++-sde (analytic, sn, npr hybrids).
    pub variance: Option<MenuVariance>,
}

impl MenuOptions {
    /// Whether any option is set.
    pub fn is_set(&self) -> bool {
        self.sigmas.is_some()
            || self.spacing.is_some()
            || self.order.is_some()
            || self.variance.is_some()
    }
}

const fn cov(kind: CovKind, ddim_eta: Option<f64>) -> AnySampler {
    AnySampler::Covariance(CovSampler { kind, ddim_eta })
}

impl AnySampler {
    /// Every sampler (η = 0), in the order of `--help`.
    pub const ALL: [AnySampler; 27] = [
        AnySampler::Discrete(Sampler::DdpmBeta),
        AnySampler::Discrete(Sampler::DdpmTilde),
        AnySampler::Discrete(Sampler::AnalyticDdpm),
        AnySampler::Discrete(Sampler::Ddim { eta: 0.0 }),
        AnySampler::Discrete(Sampler::AnalyticDdim { eta: 0.0 }),
        cov(CovKind::Sn, None),
        cov(CovKind::Sn, Some(0.0)),
        cov(CovKind::Npr, None),
        cov(CovKind::Npr, Some(0.0)),
        AnySampler::Continuous(ContinuousSampler::EulerMaruyama),
        AnySampler::Continuous(ContinuousSampler::PredictorCorrector),
        AnySampler::Continuous(ContinuousSampler::OdeEuler),
        AnySampler::Continuous(ContinuousSampler::OdeHeun),
        AnySampler::Continuous(ContinuousSampler::OdeRk45),
        AnySampler::Continuous(ContinuousSampler::DpmSolverPp),
        menu(MenuSampler::Euler),
        menu(MenuSampler::EulerAncestral),
        menu(MenuSampler::Heun),
        menu(MenuSampler::Dpm2),
        menu(MenuSampler::Dpm2Ancestral),
        menu(MenuSampler::DpmSolverPp2s),
        menu(MenuSampler::DpmSolverPp3m),
        menu(MenuSampler::DpmSolverPpSde),
        menu(MenuSampler::UniPc),
        menu(MenuSampler::Deis),
        menu(MenuSampler::Pndm),
        menu(MenuSampler::Lms),
    ];

    /// The name kexue accepts (η not included): `ddim`, `sn-ddpm`, `dpm-solver++`, …
    pub fn name(self) -> &'static str {
        match self {
            AnySampler::Discrete(s) => match s {
                Sampler::DdpmBeta => "ddpm-beta",
                Sampler::DdpmTilde => "ddpm-tilde",
                Sampler::AnalyticDdpm => "analytic-ddpm",
                Sampler::Ddim { .. } => "ddim",
                Sampler::AnalyticDdim { .. } => "analytic-ddim",
            },
            AnySampler::Covariance(c) => match (c.kind, c.ddim_eta) {
                (CovKind::Sn, None) => "sn-ddpm",
                (CovKind::Sn, Some(_)) => "sn-ddim",
                (CovKind::Npr, None) => "npr-ddpm",
                (CovKind::Npr, Some(_)) => "npr-ddim",
            },
            AnySampler::Continuous(c) => c.name(),
            AnySampler::Menu(m) => m.sampler.name(),
        }
    }

    /// One line for `--help`.
    pub fn help(self) -> &'static str {
        match self {
            AnySampler::Discrete(s) => match s {
                Sampler::DdpmBeta => "DDPM with σ² = β",
                Sampler::DdpmTilde => "DDPM with σ² = β̃",
                Sampler::AnalyticDdpm => "Analytic-DDPM: optimal variance from Γ",
                Sampler::Ddim { .. } => "DDIM with η (deterministic at η = 0)",
                Sampler::AnalyticDdim { .. } => "Analytic-DDIM: optimal variance from Γ, with η",
            },
            AnySampler::Covariance(c) => match c.ddim_eta {
                None => "DDPM-β̃ means, per-dimension variances from the covariance head",
                Some(_) => "DDIM (η = 0) means, per-dimension variances from the covariance head",
            },
            AnySampler::Continuous(c) => match c {
                ContinuousSampler::EulerMaruyama => "reverse SDE, Euler–Maruyama",
                ContinuousSampler::PredictorCorrector => "reverse diffusion + Langevin corrector",
                ContinuousSampler::OdeEuler => "probability-flow ODE, Euler",
                ContinuousSampler::OdeHeun => "probability-flow ODE, Heun (2 NFE per step)",
                ContinuousSampler::OdeRk45 => "probability-flow ODE, adaptive RK45 (K ignored)",
                ContinuousSampler::DpmSolverPp => "DPM-Solver++ 2M on a log-SNR grid",
            },
            AnySampler::Menu(m) => match m.sampler {
                MenuSampler::Euler => "Euler in σ (Karras et al.), diffusers' grid",
                MenuSampler::EulerAncestral => "Euler-ancestral in σ, η = 1 by default",
                MenuSampler::Heun => "Heun in σ (EDM's 2nd-order sampler)",
                MenuSampler::Dpm2 => "DPM-2 in σ (2nd order, midpoint in log σ)",
                MenuSampler::Dpm2Ancestral => "DPM-2 ancestral, η = 1 by default",
                MenuSampler::DpmSolverPp2s => {
                    "DPM-Solver++ 2S (singlestep, 2 NFE per pair of steps)"
                }
                MenuSampler::DpmSolverPp3m => "DPM-Solver++ 3M (multistep, order 3)",
                MenuSampler::DpmSolverPpSde => "SDE-DPM-Solver++ 2M, η = 1 by default",
                MenuSampler::UniPc => "UniPC (bh2, order 2 by default)",
                MenuSampler::Deis => "DEIS (order 2 by default)",
                MenuSampler::Pndm => "PNDM / PLMS (pseudo Runge–Kutta warm-up)",
                MenuSampler::Lms => "linear multistep in σ, order 4",
            },
        }
    }

    /// The sampler with η: DDIM-family samplers take it, the others only η = 0.
    ///
    /// # Errors
    /// [`Error::Invalid`] for η outside [0, 1] (or NaN), or η ≠ 0 for a sampler without η.
    pub fn with_eta(self, eta: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&eta) {
            return Err(Error::Invalid {
                what: "eta",
                msg: format!("η must be in [0, 1], got {eta}"),
            });
        }
        Ok(match self {
            AnySampler::Discrete(Sampler::Ddim { .. }) => {
                AnySampler::Discrete(Sampler::Ddim { eta })
            }
            AnySampler::Discrete(Sampler::AnalyticDdim { .. }) => {
                AnySampler::Discrete(Sampler::AnalyticDdim { eta })
            }
            AnySampler::Covariance(c) if c.ddim_eta.is_some() => {
                AnySampler::Covariance(CovSampler {
                    kind: c.kind,
                    ddim_eta: Some(eta),
                })
            }
            AnySampler::Menu(m) if m.sampler.takes_eta() => AnySampler::Menu(MenuConfig {
                eta: Some(eta),
                ..m
            }),
            other if eta == 0.0 => other,
            other => {
                return Err(Error::Invalid {
                    what: "eta",
                    msg: format!(
                        "{} has no η (it applies to ddim, analytic-ddim, sn-ddim, npr-ddim, \
                         euler-ancestral, dpm2-ancestral and dpm-solver++-sde)",
                        other.name()
                    ),
                });
            }
        })
    }

    /// The sampler with the menu options applied (validated by [`draw`]).
    ///
    /// # Errors
    /// [`Error::Invalid`] when an option is set for a sampler outside the menu.
    pub fn with_menu_options(self, options: MenuOptions) -> Result<Self> {
        match self {
            AnySampler::Menu(m) => Ok(AnySampler::Menu(MenuConfig {
                sigmas: options.sigmas.unwrap_or(m.sigmas),
                spacing: options.spacing.unwrap_or(m.spacing),
                order: options.order.or(m.order),
                variance: options.variance.unwrap_or(m.variance),
                ..m
            })),
            other if !options.is_set() => Ok(other),
            other => Err(Error::Invalid {
                what: "sampler",
                msg: format!(
                    "--sigmas, --spacing, --order and --variance apply to the menu samplers \
                     (euler, heun, unipc, …), not {}",
                    other.name()
                ),
            }),
        }
    }

    /// Whether it needs Γ (the analytic samplers, and the menu's analytic-variance hybrids).
    pub fn needs_gamma(self) -> bool {
        match self {
            AnySampler::Discrete(s) => s.is_analytic(),
            AnySampler::Menu(m) => m.variance == MenuVariance::Analytic,
            _ => false,
        }
    }

    /// Whether it needs a covariance head (SN-/NPR-DPM).
    pub fn needs_cov_head(self) -> bool {
        self.cov_kind().is_some()
    }

    /// The covariance head it needs, if any (SN-/NPR-DPM, and the menu's SN/NPR hybrids).
    pub fn cov_kind(self) -> Option<CovKind> {
        match self {
            AnySampler::Covariance(c) => Some(c.kind),
            AnySampler::Menu(m) => m.variance.cov_kind(),
            _ => None,
        }
    }

    /// Whether its forward process gives a finite NELBO (DDPM family, or DDIM with η > 0;
    /// the covariance samplers of the DDPM family).
    pub fn has_nelbo(self) -> bool {
        match self {
            AnySampler::Discrete(s) => s.has_likelihood(),
            AnySampler::Covariance(c) => c.ddim_eta.is_none(),
            AnySampler::Continuous(_) | AnySampler::Menu(_) => false,
        }
    }

    /// Whether it runs without a trajectory of K nodes and reports its NFE (the continuous
    /// samplers and the menu).
    pub fn is_continuous(self) -> bool {
        matches!(self, AnySampler::Continuous(_) | AnySampler::Menu(_))
    }
}

impl fmt::Display for AnySampler {
    /// The name, with η appended where it is not 0 (`ddim-eta0.5`) and a menu hybrid's
    /// variance after a `+` (`euler-ancestral+analytic`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnySampler::Discrete(s) => f.write_str(&s.name()),
            AnySampler::Covariance(c) => f.write_str(&c.name()),
            AnySampler::Continuous(c) => f.write_str(c.name()),
            AnySampler::Menu(m) => {
                match m.eta {
                    Some(eta) => write!(f, "{}-eta{eta}", m.sampler.name())?,
                    None => f.write_str(m.sampler.name())?,
                }
                if m.variance != MenuVariance::Handcrafted {
                    write!(f, "+{}", m.variance.name())?;
                }
                Ok(())
            }
        }
    }
}

impl FromStr for AnySampler {
    type Err = Error;

    /// One of the names of [`AnySampler::ALL`] (η = 0).
    fn from_str(s: &str) -> Result<Self> {
        crate::named::parse(&Self::ALL, Self::name, "sampler", s)
    }
}

/// What to draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrawSpec {
    /// Which sampler.
    pub sampler: AnySampler,
    /// K: trajectory nodes of a discrete sampler, steps of a fixed-step continuous one
    /// (1 ≤ K ≤ N; RK45 ignores it).
    pub steps: usize,
    /// Trajectory of the discrete and covariance samplers.
    pub trajectory: TrajectoryKind,
    /// Number of samples.
    pub n: usize,
    /// Seed of x_N and of every noise draw.
    pub seed: u64,
    /// Clipping and final-step settings of the discrete and covariance samplers.
    pub settings: PlanSettings,
}

/// Samples and what they cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Draw {
    /// `n` rows of the predictor's dimension.
    pub x: Vec<f64>,
    /// Predictor evaluations on the batch.
    pub nfe: usize,
    /// Steps taken (accepted steps of RK45).
    pub n_steps: usize,
    /// The trajectory of a discrete or covariance sampler.
    pub trajectory: Option<Trajectory>,
}

/// Per-dimension moments and costs of a [`Draw`], for reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DrawSummary {
    /// Sampler name (with η).
    pub sampler: String,
    /// K as asked for.
    pub steps: usize,
    /// Steps taken.
    pub n_steps: usize,
    /// Predictor evaluations.
    pub nfe: usize,
    /// The trajectory of a discrete or covariance sampler.
    pub trajectory: Option<Vec<usize>>,
    /// Number of samples.
    pub samples: usize,
    /// Per-dimension mean.
    pub mean: Vec<f64>,
    /// Per-dimension (population) variance.
    pub var: Vec<f64>,
}

impl Draw {
    /// The summary of these samples (rows of `dim` values) drawn with `spec`.
    pub fn summary(&self, spec: &DrawSpec, dim: usize) -> DrawSummary {
        let rows = self.x.len() / dim.max(1);
        let column = |j: usize| self.x.iter().skip(j).step_by(dim);
        let mean: Vec<f64> = (0..dim)
            .map(|j| column(j).sum::<f64>() / rows as f64)
            .collect();
        let var = (0..dim)
            .map(|j| column(j).map(|v| (v - mean[j]).powi(2)).sum::<f64>() / rows as f64)
            .collect();
        DrawSummary {
            sampler: spec.sampler.to_string(),
            steps: spec.steps,
            n_steps: self.n_steps,
            nfe: self.nfe,
            trajectory: self.trajectory.as_ref().map(|t| t.steps().to_vec()),
            samples: rows,
            mean,
            var,
        }
    }
}

impl DrawSummary {
    /// "N samples with S on the T trajectory of K steps (1.23s): mean […], variance […]"
    /// (continuous samplers: "(K steps, NFE n)"), the first 4 dimensions shown.
    pub fn sentence(&self, trajectory: TrajectoryKind, seconds: f64) -> String {
        let what = match &self.trajectory {
            Some(_) => format!(
                "{} on the {trajectory} trajectory of {} steps",
                self.sampler, self.steps
            ),
            None => format!(
                "{} ({} steps, NFE {})",
                self.sampler, self.n_steps, self.nfe
            ),
        };
        let fmt = |v: &[f64]| {
            let shown: Vec<String> = v.iter().take(4).map(|a| format!("{a:.4}")).collect();
            let more = if v.len() > 4 { ", …" } else { "" };
            format!("[{}{more}]", shown.join(", "))
        };
        format!(
            "{} samples with {what} ({seconds:.2}s): mean {}, variance {}",
            self.samples,
            fmt(&self.mean),
            fmt(&self.var)
        )
    }
}

/// Checks 1 ≤ K ≤ N.
///
/// # Errors
/// [`Error::Invalid`] naming K and N.
pub fn check_steps(k: usize, schedule: &Schedule) -> Result<()> {
    let n = schedule.n_steps();
    if k == 0 || k > n {
        return Err(Error::Invalid {
            what: "steps",
            msg: format!(
                "K = {k} is out of range: the schedule has N = {n} steps (need 1 ≤ K ≤ {n})"
            ),
        });
    }
    Ok(())
}

/// Draws `spec.n` samples with `spec.sampler` from an RNG seeded by `spec.seed`: x_N first,
/// then the sampler's noise. `gamma` is read by the analytic samplers and the optimal
/// trajectory only (pass [`Gamma::unknown`] otherwise); `cov` by the covariance samplers.
/// `on_step(i)` follows the steps of the discrete samplers (continuous ones call it once
/// at the end).
///
/// # Errors
/// [`Error::Invalid`] for K out of range, n = 0, a missing Γ or covariance head; the
/// samplers' and predictors' errors.
pub fn draw(
    eps: &dyn EpsPredictor,
    cov: Option<&dyn CovPredictor>,
    schedule: &Schedule,
    gamma: &Gamma,
    spec: &DrawSpec,
    on_step: &mut dyn FnMut(usize),
) -> Result<Draw> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    draw_with(eps, cov, schedule, gamma, spec, &mut rng, on_step)
}

/// [`draw`] from a given RNG (`spec.seed` unused).
///
/// # Errors
/// As [`draw`].
pub fn draw_with(
    eps: &dyn EpsPredictor,
    cov: Option<&dyn CovPredictor>,
    schedule: &Schedule,
    gamma: &Gamma,
    spec: &DrawSpec,
    rng: &mut StdRng,
    on_step: &mut dyn FnMut(usize),
) -> Result<Draw> {
    check_steps(spec.steps, schedule)?;
    if spec.n == 0 {
        return Err(Error::Invalid {
            what: "samples",
            msg: "need at least 1 sample".into(),
        });
    }
    let mut x = vec![0.0; spec.n * eps.dim()];
    standard_normal(rng, &mut x);
    let k = spec.steps;
    match spec.sampler {
        AnySampler::Discrete(s) => {
            let trajectory = spec.trajectory.build(schedule, k, gamma)?;
            let steps = plan(schedule, &trajectory, &spec.settings.with(s), gamma)?;
            sample(eps, &steps, &mut x, rng, on_step)?;
            check_finite(&x, spec.sampler)?;
            Ok(Draw {
                x,
                nfe: k,
                n_steps: k,
                trajectory: Some(trajectory),
            })
        }
        AnySampler::Covariance(c) => {
            let Some(head) = cov else {
                return Err(Error::Invalid {
                    what: "sampler",
                    msg: format!("{} needs a covariance head", c.name()),
                });
            };
            let trajectory = spec.trajectory.build(schedule, k, gamma)?;
            let config = spec.settings.with(c.mean_sampler());
            let steps = plan(schedule, &trajectory, &config, gamma)?;
            let cov_config = CovConfig::from_plan(schedule, c.kind, &config);
            sample_cov(eps, head, &cov_config, &steps, &mut x, rng, on_step)?;
            check_finite(&x, spec.sampler)?;
            Ok(Draw {
                x,
                nfe: k,
                n_steps: k,
                trajectory: Some(trajectory),
            })
        }
        AnySampler::Continuous(c) => {
            let retimed = Retimed::new(eps, schedule);
            // Bounded data: the discrete samplers' x̂_0 clip, applied to the data prediction.
            let clipped;
            let predictor: &dyn EpsPredictor = match spec.settings.x0_clip {
                X0Clip::Range { lo, hi } => {
                    clipped = ClippedX0::new(&retimed, lo, hi);
                    &clipped
                }
                X0Clip::None => &retimed,
            };
            let sde = Sde::from_schedule(schedule);
            let config = SolverConfig::new(c, k);
            let report = sample_continuous(predictor, &sde, &config, &mut x, rng)?;
            on_step(report.n_steps.saturating_sub(1));
            Ok(Draw {
                x,
                nfe: report.nfe,
                n_steps: report.n_steps,
                trajectory: None,
            })
        }
        AnySampler::Menu(m) => {
            let config = MenuConfig { n_steps: k, ..m };
            let clipped;
            let predictor: &dyn EpsPredictor = match spec.settings.x0_clip {
                X0Clip::Range { lo, hi } => {
                    clipped = ClippedX0::new(eps, lo, hi);
                    &clipped
                }
                X0Clip::None => eps,
            };
            if m.variance == MenuVariance::Analytic
                && let Some(n) = (1..=schedule.n_steps()).find(|&n| gamma.get(n).is_none())
            {
                return Err(Error::Invalid {
                    what: "gamma",
                    msg: format!(
                        "{} needs Γ at every time of the schedule (Γ_{n} is unknown)",
                        spec.sampler
                    ),
                });
            }
            let mut done = 0;
            let gamma_fn = gamma_of_table(schedule, gamma);
            let report = sample_menu_hybrid(
                predictor,
                cov,
                Some(&gamma_fn),
                Process::Discrete(schedule),
                &config,
                &mut x,
                rng,
                &mut |_| {
                    on_step(done);
                    done += 1;
                },
            )?;
            check_finite(&x, spec.sampler)?;
            Ok(Draw {
                x,
                nfe: report.nfe,
                n_steps: k,
                trajectory: None,
            })
        }
    }
}

/// A sample with NaN or ±∞ (e.g. from a network with NaN weights) is an error, whatever
/// the sampler (clipping x̂_0 does not remove a NaN).
fn check_finite(x: &[f64], sampler: AnySampler) -> Result<()> {
    match x.iter().find(|v| !v.is_finite()) {
        Some(v) => Err(Error::Invalid {
            what: "samples",
            msg: format!("{sampler} produced a non-finite sample ({v}); are the weights finite?"),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::{EpsForm, FinalStep};
    use crate::{NoiseLevel, Sigma2Clip};

    /// ε̂ = NaN everywhere, as a network with NaN weights gives.
    struct NanNet;

    impl EpsPredictor for NanNet {
        fn dim(&self) -> usize {
            2
        }
        fn predict_eps(&self, _: &[f64], _: NoiseLevel, eps: &mut [f64]) -> Result<()> {
            eps.fill(f64::NAN);
            Ok(())
        }
    }

    #[test]
    fn nan_predictions_are_an_error_for_every_discrete_sampler() {
        // Issue 20 item 6: ddim on image settings (x̂_0 clipped) used to return NaN samples.
        let schedule = Schedule::linear(100).unwrap();
        let settings = PlanSettings {
            x0_clip: X0Clip::Range { lo: -1.0, hi: 1.0 },
            data_range: crate::analytic::DataRange::PIXELS,
            final_step: FinalStep::Mean,
            sigma2_clip: Sigma2Clip::None,
            eps_form: EpsForm::FromClippedX0,
        };
        let gamma = Gamma::from_fn(&schedule, |_| 0.5).unwrap();
        for name in [
            "ddim",
            "ddpm-beta",
            "ddpm-tilde",
            "analytic-ddpm",
            "analytic-ddim",
        ] {
            let spec = DrawSpec {
                sampler: name.parse().unwrap(),
                steps: 5,
                trajectory: TrajectoryKind::Even,
                n: 3,
                seed: 0,
                settings,
            };
            let err = draw(&NanNet, None, &schedule, &gamma, &spec, &mut |_| {}).unwrap_err();
            assert!(err.to_string().contains("non-finite"), "{name}: {err}");
        }
    }

    #[test]
    fn names_round_trip_and_properties_follow_the_family() {
        for s in AnySampler::ALL {
            assert_eq!(s.name().parse::<AnySampler>().unwrap(), s);
            assert_eq!(s.to_string(), s.name());
            assert_eq!(
                s.needs_cov_head(),
                s.name().starts_with("sn-") || s.name().starts_with("npr-")
            );
            assert_eq!(s.needs_gamma(), s.name().starts_with("analytic-"));
            if s.is_continuous() {
                assert!(!s.has_nelbo());
            }
        }
        let err = "ddpm".parse::<AnySampler>().unwrap_err().to_string();
        assert!(
            err.contains("dpm-solver++") && err.contains("sn-ddim"),
            "{err}"
        );
        let ddim = "ddim".parse::<AnySampler>().unwrap().with_eta(0.5).unwrap();
        assert_eq!(ddim.to_string(), "ddim-eta0.5");
        assert!(ddim.has_nelbo());
        for bad in [1.5, -0.1, 1.0001, f64::NAN] {
            let err = "ddim"
                .parse::<AnySampler>()
                .unwrap()
                .with_eta(bad)
                .unwrap_err();
            assert!(err.to_string().contains("must be in [0, 1]"), "{err}");
        }
        let err = "ddpm-beta"
            .parse::<AnySampler>()
            .unwrap()
            .with_eta(0.5)
            .unwrap_err();
        assert!(err.to_string().contains("has no η"), "{err}");
        assert!(
            "ddpm-beta"
                .parse::<AnySampler>()
                .unwrap()
                .with_eta(0.0)
                .is_ok()
        );
        let sn = "sn-ddim"
            .parse::<AnySampler>()
            .unwrap()
            .with_eta(0.3)
            .unwrap();
        assert_eq!(sn.to_string(), "sn-ddim-eta0.3");
    }
}
