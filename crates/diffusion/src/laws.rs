//! The laboratory's named data laws (exact ε-predictors) with everything an experiment needs
//! from them: Γ, the NELBO decoder, the data range, and drawing samples from a law
//! ([`sample_law_run`]).
//!
//! | name | law | Γ ([`GammaSource`]) | decoder | range |
//! |---|---|---|---|---|
//! | `gauss` | 1-D N(0.5, 0.09) (spec §10.3) | closed form | Gaussian | unbounded |
//! | `gmm` | 2-D ring of 8 modes (radius 2, std 0.1), or a [`GmmSpec`] | d = 1: composite Gauss–Legendre; d ≥ 2: Monte Carlo on the exact posterior variance (≤ 1, with standard errors) | Gaussian | unbounded |
//! | `rademacher` | 1-D ±1 | 200-point Gauss–Hermite, capped at 1 | 2 levels | [−1, 1] |

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::analytic::{DataRange, Gamma, estimate_gamma_posterior};
use crate::covariance::CovPredictor;
use crate::draw::{Draw, DrawSpec, draw, draw_with};
use crate::exact::{DataLaw, Gaussian, GaussianMixture, Rademacher, sample_law};
use crate::metrics::energy_distance;
use crate::quadrature::GaussHermite;
use crate::step::PlanSettings;
use crate::{Decoder, EpsPredictor, Error, Result, Schedule};

/// Rows per predictor call of the Monte-Carlo Γ.
const GAMMA_BATCH: usize = 4096;

/// The names of the laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LawName {
    /// 1-D N(0.5, 0.09).
    Gauss,
    /// A diagonal Gaussian mixture (the 2-D ring by default).
    Gmm,
    /// 1-D ±1 with equal weights.
    Rademacher,
}

impl LawName {
    /// Every law.
    pub const ALL: [LawName; 3] = [LawName::Gauss, LawName::Gmm, LawName::Rademacher];

    /// `gauss`, `gmm` or `rademacher`.
    pub fn name(self) -> &'static str {
        match self {
            LawName::Gauss => "gauss",
            LawName::Gmm => "gmm",
            LawName::Rademacher => "rademacher",
        }
    }
}

crate::named::named!(LawName, "data law");

/// A diagonal Gaussian mixture as JSON `{"weights": […], "means": [[…], …], "stds": [[…], …]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GmmSpec {
    /// Component weights (normalised by the mixture).
    pub weights: Vec<f64>,
    /// Component means, one row per component.
    pub means: Vec<Vec<f64>>,
    /// Per-coordinate standard deviations, one row per component.
    pub stds: Vec<Vec<f64>>,
}

/// Where a law's Γ came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GammaSource {
    /// Closed form.
    Exact,
    /// 200-point Gauss–Hermite quadrature.
    Quadrature,
    /// Composite Gauss–Legendre quadrature of a 1-D mixture ([`GaussianMixture::gamma`]).
    MixtureQuadrature,
    /// Monte Carlo on the exact posterior variance, Γ = 1 − E tr Var[ε|x_t]/d
    /// ([`estimate_gamma_posterior`]; never above 1).
    PosteriorMonteCarlo,
    /// Monte Carlo from the predictor (paper-A Eq. 8).
    MonteCarlo,
}

impl GammaSource {
    /// `exact`, `gauss-hermite-200`, `gauss-legendre`, `monte-carlo-posterior` or
    /// `monte-carlo`.
    pub fn name(self) -> &'static str {
        match self {
            GammaSource::Exact => "exact",
            GammaSource::Quadrature => "gauss-hermite-200",
            GammaSource::MixtureQuadrature => "gauss-legendre",
            GammaSource::PosteriorMonteCarlo => "monte-carlo-posterior",
            GammaSource::MonteCarlo => "monte-carlo",
        }
    }
}

/// A data law whose ε-predictor is known in closed form.
#[derive(Debug, Clone, PartialEq)]
pub enum Law {
    /// 1-D N(0.5, 0.09).
    Gauss(Gaussian),
    /// A diagonal Gaussian mixture.
    Gmm(GaussianMixture),
    /// 1-D ±1.
    Rademacher(Rademacher),
}

impl Law {
    /// The law `name`; `gmm` replaces the default ring and needs `name == Gmm`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a mixture given with another law, or an invalid mixture.
    pub fn new(name: LawName, gmm: Option<GmmSpec>) -> Result<Self> {
        Ok(match (name, gmm) {
            (LawName::Gmm, Some(g)) => Law::Gmm(GaussianMixture::new(g.weights, g.means, g.stds)?),
            (_, Some(_)) => {
                return Err(Error::Invalid {
                    what: "data law",
                    msg: format!("a mixture file needs the gmm law, not {name}"),
                });
            }
            (LawName::Gauss, None) => Law::Gauss(Gaussian::isotropic(1, 0.5, 0.09)?),
            (LawName::Gmm, None) => Law::Gmm(GaussianMixture::ring(8, 2.0, 0.1)?),
            (LawName::Rademacher, None) => Law::Rademacher(Rademacher::new(1)?),
        })
    }

    /// Its name.
    pub fn name(&self) -> LawName {
        match self {
            Law::Gauss(_) => LawName::Gauss,
            Law::Gmm(_) => LawName::Gmm,
            Law::Rademacher(_) => LawName::Rademacher,
        }
    }

    /// The exact ε-predictor.
    pub fn predictor(&self) -> &dyn EpsPredictor {
        match self {
            Law::Gauss(g) => g,
            Law::Gmm(g) => g,
            Law::Rademacher(r) => r,
        }
    }

    /// The law itself (sampling).
    pub fn law(&self) -> &dyn DataLaw {
        match self {
            Law::Gauss(g) => g,
            Law::Gmm(g) => g,
            Law::Rademacher(r) => r,
        }
    }

    /// Row dimension d.
    pub fn dim(&self) -> usize {
        self.predictor().dim()
    }

    /// The exact SN/NPR covariance heads, where the law has them.
    pub fn cov_predictor(&self) -> Option<&dyn CovPredictor> {
        match self {
            Law::Gauss(g) => Some(g),
            Law::Gmm(g) => Some(g),
            Law::Rademacher(_) => None,
        }
    }

    /// ln p_0 of one row, where the law has a density (not the discrete Rademacher law).
    pub fn log_density(&self, x: &[f64]) -> Option<f64> {
        match self {
            Law::Gauss(g) => Some(g.log_density(x)),
            Law::Gmm(g) => Some(g.log_density(x)),
            Law::Rademacher(_) => None,
        }
    }

    /// Discrete levels of the data (2 for Rademacher), `None` for continuous laws.
    pub fn levels(&self) -> Option<usize> {
        matches!(self, Law::Rademacher(_)).then_some(2)
    }

    /// The data range for the Eq. 11/12 clip of the analytic variances.
    pub fn data_range(&self) -> DataRange {
        match self {
            Law::Rademacher(_) => DataRange::Bounded { lo: -1.0, hi: 1.0 },
            _ => DataRange::Unbounded,
        }
    }

    /// The NELBO decoder ([`Decoder::official`] with [`Law::levels`]).
    pub fn decoder(&self, schedule: &Schedule) -> Decoder {
        Decoder::official(schedule, self.levels())
    }

    /// Exact-score plan settings with this law's data range.
    pub fn plan_settings(&self) -> PlanSettings {
        PlanSettings {
            data_range: self.data_range(),
            ..PlanSettings::EXACT
        }
    }

    /// `rows` fresh rows.
    pub fn sample(&self, rng: &mut StdRng, rows: usize) -> Vec<f64> {
        sample_law(self.law(), rng, rows)
    }

    /// Γ at signal variance ᾱ without sampling, where the law allows it: closed form
    /// (`gauss`), quadrature (`rademacher`, 1-D `gmm`; capped at 1). `None` for a mixture
    /// in d ≥ 2 (its Γ is estimated, [`Law::gamma`]).
    ///
    /// # Errors
    /// [`Error::Invalid`] for ᾱ outside (0, 1).
    pub fn gamma_at(&self, alpha_bar: f64) -> Result<Option<f64>> {
        if !(alpha_bar > 0.0 && alpha_bar < 1.0) {
            return Err(Error::Invalid {
                what: "noise level",
                msg: format!("ᾱ = {alpha_bar} is outside (0, 1)"),
            });
        }
        Ok(match self {
            Law::Gauss(g) => Some(g.gamma(alpha_bar)),
            Law::Rademacher(_) => Some(Rademacher::gamma(alpha_bar, 200).min(1.0)),
            Law::Gmm(g) => g.gamma(alpha_bar)?.map(|v| v.min(1.0)),
        })
    }

    /// Γ_n at `times` (at every n for `gauss`): closed form, quadrature (capped at 1: Γ ≤ 1
    /// by Jensen, rounding must not push it over; `rademacher`, 1-D `gmm`), or, for `gmm` in
    /// d ≥ 2, Monte Carlo on the exact posterior variance from `mc_rows` fresh rows drawn
    /// from `rng`, with per-n standard errors (`on_time(i)` after `times[i]`; `rng` is used
    /// only there).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a time outside 1..=N or `mc_rows == 0` for `gmm`.
    pub fn gamma(
        &self,
        schedule: &Schedule,
        times: &[usize],
        mc_rows: usize,
        rng: &mut StdRng,
        on_time: &mut dyn FnMut(usize),
    ) -> Result<(Gamma, GammaSource)> {
        Ok(match self {
            Law::Gauss(g) => (
                Gamma::from_fn(schedule, |ab| g.gamma(ab))?,
                GammaSource::Exact,
            ),
            Law::Rademacher(_) => {
                let rule = GaussHermite::new(200);
                let pairs = times.iter().map(|&t| {
                    let ab = schedule.alpha_bar(t.min(schedule.n_steps()));
                    (t, Rademacher::gamma_with(&rule, ab).min(1.0))
                });
                (
                    Gamma::from_pairs(schedule.n_steps(), pairs)?,
                    GammaSource::Quadrature,
                )
            }
            Law::Gmm(g) if g.dim() == 1 => {
                let mut pairs = Vec::with_capacity(times.len());
                for (i, &t) in times.iter().enumerate() {
                    if t == 0 || t > schedule.n_steps() {
                        return Err(Error::Invalid {
                            what: "gamma",
                            msg: format!("time {t} is outside 1..={}", schedule.n_steps()),
                        });
                    }
                    let v = g.gamma(schedule.alpha_bar(t))?.expect("1-D has a rule");
                    pairs.push((t, v.min(1.0)));
                    on_time(i);
                }
                (
                    Gamma::from_pairs(schedule.n_steps(), pairs)?,
                    GammaSource::MixtureQuadrature,
                )
            }
            Law::Gmm(g) => {
                let rows = sample_law(g, rng, mc_rows);
                let gamma =
                    estimate_gamma_posterior(g, schedule, &rows, times, GAMMA_BATCH, rng, on_time)?;
                (gamma, GammaSource::PosteriorMonteCarlo)
            }
        })
    }
}

/// Samples drawn from a law's exact predictor, with fresh data to compare them with.
#[derive(Debug, Clone, PartialEq)]
pub struct LawDraw {
    /// The samples.
    pub draw: Draw,
    /// Fresh rows of the law (min(max(n, 2), 2000) of them).
    pub fresh: Vec<f64>,
    /// Energy distance between the samples and `fresh`.
    pub energy_distance: f64,
}

/// Draws `spec.n` samples from `law`'s exact predictor on `schedule` with the law's plan
/// settings. One RNG seeded by `spec.seed ^ 0x5eed` draws, in this order, the fresh rows,
/// Γ's `mc_rows` Monte-Carlo rows (when the sampler or the trajectory needs Γ), then the
/// samples; continuous samplers draw from their own RNG seeded by `spec.seed`.
///
/// # Errors
/// As [`draw`]; a covariance sampler on a law without an exact head.
pub fn sample_law_run(
    law: &Law,
    schedule: &Schedule,
    spec: &DrawSpec,
    mc_rows: usize,
    on_step: &mut dyn FnMut(usize),
) -> Result<LawDraw> {
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x5eed);
    let fresh = law.sample(&mut rng, spec.n.clamp(2, 2000));
    let cov = match spec.sampler.cov_kind() {
        Some(_) => Some(law.cov_predictor().ok_or_else(|| Error::Invalid {
            what: "sampler",
            msg: format!(
                "{} has no exact covariance head for the {} law",
                spec.sampler,
                law.name()
            ),
        })?),
        None => None,
    };
    let gamma = if spec.sampler.needs_gamma() || spec.trajectory.needs_gamma() {
        // Γ at the trajectory's nodes is enough for a discrete sampler on a fixed trajectory;
        // the optimal trajectory and the menu's hybrids (Γ interpolated in ᾱ) need every n.
        let times: Vec<usize> = if spec.trajectory.needs_gamma() || spec.sampler.is_continuous() {
            (1..=schedule.n_steps()).collect()
        } else {
            spec.trajectory
                .build(schedule, spec.steps, &Gamma::unknown(schedule.n_steps()))?
                .steps()
                .to_vec()
        };
        law.gamma(schedule, &times, mc_rows.max(2), &mut rng, &mut |_| {})?
            .0
    } else {
        Gamma::unknown(schedule.n_steps())
    };
    let spec = DrawSpec {
        settings: law.plan_settings(),
        ..*spec
    };
    let draw = if spec.sampler.is_continuous() {
        draw(law.predictor(), cov, schedule, &gamma, &spec, on_step)?
    } else {
        draw_with(
            law.predictor(),
            cov,
            schedule,
            &gamma,
            &spec,
            &mut rng,
            on_step,
        )?
    };
    let energy_distance = energy_distance(&draw.x, &fresh, law.dim());
    Ok(LawDraw {
        draw,
        fresh,
        energy_distance,
    })
}
