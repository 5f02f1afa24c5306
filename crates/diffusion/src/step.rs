//! One reverse step as coefficient data, and the closed set of samplers that produce it.
//!
//! A step (s, t) maps x_t to x_s = `coef_xt`·x_t + `coef_x0`·x̂_0 + `coef_eps`·ε̂ + √`variance`·z,
//! where ε̂ = ε̂(x_t, t), x̂_0 = clip((x_t − √β̄_t ε̂)/√ᾱ_t) and z ~ N(0, I).
//! Keeping both an x_t and an x̂_0 coefficient lets the DDPM x_0-form (official code) and the
//! DDIM form (clipped x̂_0, unclipped ε̂) be written exactly (spec §9 pitfall 5).
//!
//! | sampler | mean | variance | λ² (forward posterior) |
//! |---|---|---|---|
//! | `DdpmBeta` | μ̃_{s\|t}(x_t, x̂_0) | β_{t\|s} | β̃_{s\|t} |
//! | `DdpmTilde` | μ̃_{s\|t}(x_t, x̂_0) | β̃_{s\|t} | β̃_{s\|t} |
//! | `AnalyticDdpm` | μ̃_{s\|t}(x_t, x̂_0) | β̃ + γ² σ̄²_t | β̃_{s\|t} |
//! | `Ddim { eta }` | √ᾱ_s x̂_0 + √(β̄_s − λ²) ε̂ | λ² = η² β̃_{s\|t} | η² β̃_{s\|t} |
//! | `AnalyticDdim { eta }` | as `Ddim` | λ² + γ² σ̄²_t | η² β̃_{s\|t} |
//!
//! with μ̃_{s|t}(x_t, x_0) = (√ᾱ_s β_{t|s}/β̄_t) x_0 + (√α_{t|s} β̄_s/β̄_t) x_t (spec §3.1, §4.2).

use crate::analytic::{self, DataRange, Gamma};
use crate::{Error, NoiseLevel, Result, Schedule, Trajectory};

/// Optional clipping of x̂_0 before it enters the mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum X0Clip {
    /// Use x̂_0 as predicted (exact-score work, unbounded data).
    None,
    /// Clamp every coordinate of x̂_0 to [lo, hi] (the official code uses [−1, 1]).
    Range {
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
}

impl X0Clip {
    /// Applies the clip to one coordinate.
    pub fn apply(self, x0: f64) -> f64 {
        match self {
            X0Clip::None => x0,
            X0Clip::Range { lo, hi } => x0.clamp(lo, hi),
        }
    }
}

/// Which ε̂ the direction term of a DDIM-family step uses when x̂_0 is clipped.
///
/// Without a clip the two are the same number; with one they differ (spec §9 pitfall 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsForm {
    /// The network's ε̂ itself, as the official Analytic-DPM code does. On a network whose ε̂
    /// grows faster than x_t far from the data this is not contractive, and long DDIM runs
    /// can diverge.
    Predicted,
    /// ε̂ re-derived from the clipped x̂_0, ε̂' = (x_t − √ᾱ_t x̂_0)/√β̄_t (the x̂_0-form, as
    /// diffusers does when it clips): the step becomes x_s = √ᾱ_s x̂_0 + √((β̄_s−λ²)/β̄_t)
    /// (x_t − √ᾱ_t x̂_0), a contraction in x_t.
    FromClippedX0,
}

/// What the last step (0, τ_1) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalStep {
    /// Adds its own variance like every other step (σ² = β̄_{τ_1} for DDPM-β, σ̄²_{τ_1} for
    /// the analytic samplers, 0 for β̃ and DDIM). Makes the analytic samplers exact.
    Sample,
    /// Returns the mean only (the official code: "display the mean of p(x_0|x_1)").
    Mean,
}

/// Extra clip of σ² at the step producing x_{τ_1} (the second-to-last step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sigma2Clip {
    /// No clip.
    None,
    /// σ² ≤ [`analytic::pixel_sigma2_threshold`]`(y)` (paper-A App. F.2; y = 1 or 2).
    Pixel {
        /// Grey levels.
        y: f64,
    },
}

/// The closed set of discrete reverse samplers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    /// DDPM with σ² = β_{t|s} ("fixedlarge").
    DdpmBeta,
    /// DDPM with σ² = β̃_{s|t} ("fixedsmall").
    DdpmTilde,
    /// DDIM with λ² = η² β̃_{s|t}; η = 0 is deterministic, η = 1 is the DDPM posterior.
    Ddim {
        /// η ∈ [0, 1].
        eta: f64,
    },
    /// Analytic-DDPM: the optimal variance of the DDPM family (needs Γ).
    AnalyticDdpm,
    /// Analytic-DDIM: the optimal variance of the DDIM family with η (η = 0 in paper-A).
    AnalyticDdim {
        /// η ∈ [0, 1].
        eta: f64,
    },
}

impl Sampler {
    /// The five samplers of the laboratory, in table order.
    pub const LAB: [Sampler; 5] = [
        Sampler::DdpmTilde,
        Sampler::DdpmBeta,
        Sampler::AnalyticDdpm,
        Sampler::Ddim { eta: 0.0 },
        Sampler::AnalyticDdim { eta: 0.0 },
    ];

    /// Stable name: `ddpm-beta`, `ddpm-tilde`, `ddim`, `analytic-ddpm`, `analytic-ddim`
    /// (η ≠ 0 is appended, e.g. `ddim-eta0.5`).
    pub fn name(self) -> String {
        match self {
            Sampler::DdpmBeta => "ddpm-beta".into(),
            Sampler::DdpmTilde => "ddpm-tilde".into(),
            Sampler::AnalyticDdpm => "analytic-ddpm".into(),
            Sampler::Ddim { eta: 0.0 } => "ddim".into(),
            Sampler::Ddim { eta } => format!("ddim-eta{eta}"),
            Sampler::AnalyticDdim { eta: 0.0 } => "analytic-ddim".into(),
            Sampler::AnalyticDdim { eta } => format!("analytic-ddim-eta{eta}"),
        }
    }

    /// Parses a name produced by [`Sampler::name`] (η = 0 for the plain DDIM names).
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unknown name.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "ddpm-beta" => Sampler::DdpmBeta,
            "ddpm-tilde" => Sampler::DdpmTilde,
            "analytic-ddpm" => Sampler::AnalyticDdpm,
            "ddim" => Sampler::Ddim { eta: 0.0 },
            "analytic-ddim" => Sampler::AnalyticDdim { eta: 0.0 },
            _ => {
                return Err(Error::Invalid {
                    what: "sampler",
                    msg: format!(
                        "unknown sampler `{name}` (expected ddpm-beta, ddpm-tilde, \
                         analytic-ddpm, ddim, analytic-ddim)"
                    ),
                });
            }
        })
    }

    /// Whether the sampler needs Γ.
    pub fn is_analytic(self) -> bool {
        matches!(self, Sampler::AnalyticDdpm | Sampler::AnalyticDdim { .. })
    }

    /// Whether its forward family has λ² > 0 on every step with s > 0, so the NELBO is
    /// finite (DDIM with η = 0 is not: spec §9 pitfall 12).
    pub fn has_likelihood(self) -> bool {
        match self {
            Sampler::Ddim { eta } | Sampler::AnalyticDdim { eta } => eta > 0.0,
            _ => true,
        }
    }
}

/// Everything besides the sampler that shapes the steps of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanConfig {
    /// Which sampler.
    pub sampler: Sampler,
    /// Clip of x̂_0.
    pub x0_clip: X0Clip,
    /// Range of the data, for the Eq. 11/12 clip of the analytic variances.
    pub data_range: DataRange,
    /// What the last step does.
    pub final_step: FinalStep,
    /// σ₂ clip of the step producing x_{τ_1}.
    pub sigma2_clip: Sigma2Clip,
    /// Which ε̂ a DDIM-family step uses next to a clipped x̂_0.
    pub eps_form: EpsForm,
}

/// A [`PlanConfig`] without its sampler: the settings one run applies to every sampler.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanSettings {
    /// Clip of x̂_0.
    pub x0_clip: X0Clip,
    /// Range of the data, for the Eq. 11/12 clip of the analytic variances.
    pub data_range: DataRange,
    /// What the last step does.
    pub final_step: FinalStep,
    /// σ₂ clip of the step producing x_{τ_1}.
    pub sigma2_clip: Sigma2Clip,
    /// Which ε̂ a DDIM-family step uses next to a clipped x̂_0.
    pub eps_form: EpsForm,
}

impl PlanSettings {
    /// Exact-score settings: no x̂_0 clip, unbounded data, every step samples, no σ₂ clip.
    pub const EXACT: PlanSettings = PlanSettings {
        x0_clip: X0Clip::None,
        data_range: DataRange::Unbounded,
        final_step: FinalStep::Sample,
        sigma2_clip: Sigma2Clip::None,
        eps_form: EpsForm::Predicted,
    };

    /// These settings for `sampler`.
    pub fn with(self, sampler: Sampler) -> PlanConfig {
        PlanConfig {
            sampler,
            x0_clip: self.x0_clip,
            data_range: self.data_range,
            final_step: self.final_step,
            sigma2_clip: self.sigma2_clip,
            eps_form: self.eps_form,
        }
    }
}

impl PlanConfig {
    /// Exact-score settings: no x̂_0 clip, unbounded data, every step samples, no σ₂ clip.
    pub fn exact(sampler: Sampler) -> Self {
        PlanSettings::EXACT.with(sampler)
    }

    /// The official code's image settings (spec §6.5): x̂_0 clipped to [−1, 1], Eq. 11/12
    /// clip for [−1, 1], mean-only final step, σ₂ clip with `y` grey levels.
    pub fn images(sampler: Sampler, y: f64) -> Self {
        Self {
            sampler,
            x0_clip: X0Clip::Range { lo: -1.0, hi: 1.0 },
            data_range: DataRange::PIXELS,
            final_step: FinalStep::Mean,
            sigma2_clip: Sigma2Clip::Pixel { y },
            eps_form: EpsForm::Predicted,
        }
    }
}

/// One reverse step x_t → x_s as coefficients: the affine update
/// x_s = `coef_xt`·x_t + `coef_x0`·x̂_0 + `coef_eps`·ε̂ + √`variance`·z, with ε̂ = ε̂(x_t, t)
/// and x̂_0 = (x_t − √β̄_t ε̂)/√ᾱ_t (clipped by `x0_clip`).
///
/// The one record of every one-step sampler: `Step<usize>` (the default, [`Step`]) on a
/// discrete schedule's times (DDPM/DDIM families, [`crate::plan`]), `Step<f64>`
/// ([`crate::solvers::LinearStep`]) on an SDE's continuous times (Euler–Maruyama, the
/// PF-ODE's Euler step, the reverse-diffusion predictor, DDIM as the frozen-ε̂ solution;
/// these have `coef_x0` = 0, ᾱ_t = μ_t², β̄_t = σ_t² of the SDE's kernel and λ² = the step's
/// own variance).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step<T = usize> {
    /// Target time s (0 = data).
    pub s: T,
    /// Source time t, the model's time input.
    pub t: T,
    /// ᾱ_t.
    pub alpha_bar_t: f64,
    /// β̄_t (cancellation-free).
    pub beta_bar_t: f64,
    /// Coefficient of x_t.
    pub coef_xt: f64,
    /// Coefficient of x̂_0.
    pub coef_x0: f64,
    /// Coefficient of ε̂.
    pub coef_eps: f64,
    /// σ² of the reverse step (0 = deterministic).
    pub variance: f64,
    /// λ², variance of the forward family's posterior q_λ(x_s | x_t, x_0) (for the NELBO).
    pub lambda2: f64,
    /// Clip of x̂_0.
    pub x0_clip: X0Clip,
}

impl Step {
    /// DDPM-family step (posterior mean μ̃_{s|t}) with reverse variance `variance`.
    ///
    /// # Panics
    /// Unless s < t ≤ N.
    pub fn ddpm(schedule: &Schedule, s: usize, t: usize, variance: f64) -> Self {
        let bb_t = schedule.beta_bar(t);
        Self {
            s,
            t,
            alpha_bar_t: schedule.alpha_bar(t),
            beta_bar_t: bb_t,
            coef_xt: schedule.alpha(s, t).sqrt() * schedule.beta_bar(s) / bb_t,
            coef_x0: schedule.alpha_bar(s).sqrt() * schedule.beta(s, t) / bb_t,
            coef_eps: 0.0,
            variance,
            lambda2: schedule.tilde_beta(s, t),
            x0_clip: X0Clip::None,
        }
    }

    /// DDIM-family step with λ² = η² β̃_{s|t} and reverse variance `variance`.
    ///
    /// # Panics
    /// Unless s < t ≤ N.
    pub fn ddim(schedule: &Schedule, s: usize, t: usize, eta: f64, variance: f64) -> Self {
        let lambda2 = eta * eta * schedule.tilde_beta(s, t);
        Self {
            s,
            t,
            alpha_bar_t: schedule.alpha_bar(t),
            beta_bar_t: schedule.beta_bar(t),
            coef_xt: 0.0,
            coef_x0: schedule.alpha_bar(s).sqrt(),
            coef_eps: (schedule.beta_bar(s) - lambda2).max(0.0).sqrt(),
            variance,
            lambda2,
            x0_clip: X0Clip::None,
        }
    }

    /// The step of `sampler` between s < t, with `gamma_t` = Γ_t (ignored unless analytic).
    ///
    /// # Panics
    /// Unless s < t ≤ N.
    pub fn of(
        schedule: &Schedule,
        sampler: Sampler,
        s: usize,
        t: usize,
        gamma_t: f64,
        range: DataRange,
    ) -> Self {
        match sampler {
            Sampler::DdpmBeta => Self::ddpm(schedule, s, t, schedule.beta(s, t)),
            Sampler::DdpmTilde => Self::ddpm(schedule, s, t, schedule.tilde_beta(s, t)),
            Sampler::AnalyticDdpm => Self::ddpm(
                schedule,
                s,
                t,
                analytic::optimal_variance_ddpm(schedule, s, t, gamma_t, range),
            ),
            Sampler::Ddim { eta } => {
                Self::ddim(schedule, s, t, eta, eta * eta * schedule.tilde_beta(s, t))
            }
            Sampler::AnalyticDdim { eta } => {
                let lambda2 = eta * eta * schedule.tilde_beta(s, t);
                let v = analytic::optimal_variance(schedule, s, t, lambda2, gamma_t, range);
                Self::ddim(schedule, s, t, eta, v)
            }
        }
    }

    /// The noise level the predictor is queried at.
    pub fn level(&self) -> NoiseLevel {
        NoiseLevel {
            t: self.t as f64,
            alpha_bar: self.alpha_bar_t,
        }
    }

    /// x̂_0 = clip((x_t − √β̄_t ε̂)/√ᾱ_t) for one coordinate.
    pub fn x0_hat(&self, x_t: f64, eps: f64) -> f64 {
        self.x0_clip
            .apply((x_t - self.beta_bar_t.sqrt() * eps) / self.alpha_bar_t.sqrt())
    }

    /// Rewrites the step so its direction term uses ε̂ re-derived from the clipped x̂_0
    /// ([`EpsForm::FromClippedX0`]): ε̂' = (x_t − √ᾱ_t x̂_0)/√β̄_t is linear in (x_t, x̂_0), so
    /// only the coefficients change. A no-op for steps without an ε̂ term.
    pub fn with_eps_from_x0(mut self) -> Self {
        if self.coef_eps != 0.0 {
            let c = self.coef_eps / self.beta_bar_t.sqrt();
            self.coef_xt += c;
            self.coef_x0 -= c * self.alpha_bar_t.sqrt();
            self.coef_eps = 0.0;
        }
        self
    }

    /// The mean of p(x_s | x_t) for one coordinate.
    pub fn mean(&self, x_t: f64, eps: f64) -> f64 {
        self.coef_xt * x_t + self.coef_x0 * self.x0_hat(x_t, eps) + self.coef_eps * eps
    }
}

/// The steps of one run in sampling order ((τ_{K−1}, τ_K) first, (0, τ_1) last).
///
/// # Errors
/// [`Error::Invalid`] when the trajectory was built for another N, `eta` is outside [0, 1],
/// or an analytic sampler lacks Γ at some node.
pub fn plan(
    schedule: &Schedule,
    trajectory: &Trajectory,
    config: &PlanConfig,
    gamma: &Gamma,
) -> Result<Vec<Step>> {
    if trajectory.n_steps() != schedule.n_steps() {
        return Err(Error::Invalid {
            what: "trajectory",
            msg: format!(
                "built for N = {} but the schedule has N = {}",
                trajectory.n_steps(),
                schedule.n_steps()
            ),
        });
    }
    if let Sampler::Ddim { eta } | Sampler::AnalyticDdim { eta } = config.sampler
        && !(0.0..=1.0).contains(&eta)
    {
        return Err(Error::Invalid {
            what: "sampler",
            msg: format!("η = {eta} is outside [0, 1]"),
        });
    }
    let tau1 = trajectory.steps()[0];
    let mut steps = Vec::with_capacity(trajectory.len());
    for (s, t) in trajectory.pairs() {
        let gamma_t = if config.sampler.is_analytic() {
            gamma.require(t)?
        } else {
            f64::NAN
        };
        let mut step = Step::of(schedule, config.sampler, s, t, gamma_t, config.data_range);
        step.x0_clip = config.x0_clip;
        if config.eps_form == EpsForm::FromClippedX0 {
            step = step.with_eps_from_x0();
        }
        if s == 0 && config.final_step == FinalStep::Mean {
            step.variance = 0.0;
        }
        if let Sigma2Clip::Pixel { y } = config.sigma2_clip
            && s == tau1
            && s > 0
        {
            step.variance = step.variance.min(analytic::pixel_sigma2_threshold(y));
        }
        steps.push(step);
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eps_from_x0_is_the_same_step_without_clip_and_contracts_with_it() {
        // Without a clip, ε̂' = ε̂ exactly, so the two forms agree up to rounding (1e-12 on O(1)
        // coefficients). With a clip and a runaway ε̂ = 3·x_t, the predicted form grows by about
        // 3√β̄_s per step while the x̂_0 form stays within √ᾱ_s + √(β̄_s/β̄_t)·|x_t|.
        let sched = Schedule::linear(1000).unwrap();
        for sampler in [Sampler::Ddim { eta: 0.0 }, Sampler::Ddim { eta: 0.5 }] {
            for (s, t) in [(0, 10), (445, 556), (889, 1000), (990, 1000)] {
                let raw = Step::of(&sched, sampler, s, t, 0.0, DataRange::Unbounded);
                let x0f = raw.with_eps_from_x0();
                assert_eq!(x0f.coef_eps, 0.0);
                for (x, e) in [(0.3, -1.2), (-2.0, 0.7), (5.0, 5.0)] {
                    let (a, b) = (raw.mean(x, e), x0f.mean(x, e));
                    assert!(
                        (a - b).abs() <= 1e-12 * (1.0 + a.abs()),
                        "{s},{t}: {a} vs {b}"
                    );
                }
                let clip = X0Clip::Range { lo: -1.0, hi: 1.0 };
                let (raw, x0f) = (
                    Step {
                        x0_clip: clip,
                        ..raw
                    },
                    Step {
                        x0_clip: clip,
                        ..x0f
                    },
                );
                let x = 10.0;
                let bound = sched.alpha_bar(s).sqrt()
                    + (sched.beta_bar(s) / sched.beta_bar(t)).sqrt()
                        * (x + sched.alpha_bar(t).sqrt());
                assert!(x0f.mean(x, 3.0 * x).abs() <= bound + 1e-12);
                if s > 0 {
                    assert!(raw.mean(x, 3.0 * x).abs() > x0f.mean(x, 3.0 * x).abs());
                }
            }
        }
        // DDPM steps have no ε̂ term: the rewrite leaves them alone.
        let p = Step::of(&sched, Sampler::DdpmBeta, 10, 20, 0.0, DataRange::Unbounded);
        assert_eq!(p.with_eps_from_x0(), p);
    }

    #[test]
    fn ddim_eta_one_is_the_ddpm_posterior() {
        // Spec §10.4: with consistent (x̂_0, ε̂) the two means agree; tolerance 1e-12 (the
        // coefficients are O(1) and combine a handful of roundings).
        let sched = Schedule::linear(1000).unwrap();
        for (s, t) in [(1, 112), (445, 556), (0, 1), (889, 1000), (1, 2)] {
            let p = Step::of(&sched, Sampler::DdpmTilde, s, t, 0.0, DataRange::Unbounded);
            let q = Step::of(
                &sched,
                Sampler::Ddim { eta: 1.0 },
                s,
                t,
                0.0,
                DataRange::Unbounded,
            );
            assert!((p.variance - q.variance).abs() <= 1e-15 * p.variance.max(1e-300));
            assert_eq!(p.lambda2, q.lambda2);
            for (x0, e) in [(0.3, -1.2), (-2.0, 0.7), (1.0, 0.0)] {
                let x_t = sched.alpha_bar(t).sqrt() * x0 + sched.beta_bar(t).sqrt() * e;
                let (mp, mq) = (p.mean(x_t, e), q.mean(x_t, e));
                assert!((mp - mq).abs() < 1e-12, "({s},{t}): {mp} vs {mq}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in Sampler::LAB {
            assert_eq!(Sampler::from_name(&s.name()).unwrap(), s);
        }
        assert!(Sampler::from_name("ddpm").is_err());
    }

    #[test]
    fn plan_applies_final_step_and_pixel_clip() {
        let sched = Schedule::linear(1000).unwrap();
        let traj = Trajectory::even(1000, 10).unwrap();
        let g = Gamma::unknown(1000);
        let cfg = PlanConfig::images(Sampler::DdpmBeta, 1.0);
        let steps = plan(&sched, &traj, &cfg, &g).unwrap();
        assert_eq!(steps.len(), 10);
        assert_eq!((steps[0].s, steps[0].t), (889, 1000));
        assert_eq!(steps[9].variance, 0.0);
        assert_eq!(steps[8].variance, analytic::pixel_sigma2_threshold(1.0));
        let exact = plan(&sched, &traj, &PlanConfig::exact(Sampler::DdpmBeta), &g).unwrap();
        assert_eq!(exact[9].variance, sched.beta_bar(1));
        // Analytic samplers need Γ.
        let err = plan(&sched, &traj, &PlanConfig::exact(Sampler::AnalyticDdpm), &g);
        assert!(err.is_err());
        let bad = PlanConfig::exact(Sampler::Ddim { eta: 1.5 });
        assert!(plan(&sched, &traj, &bad, &g).is_err());
    }
}
