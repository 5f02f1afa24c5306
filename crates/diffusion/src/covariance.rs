//! State-dependent diagonal reverse covariance: SN-DPM and NPR-DPM (spec §7.1–7.2).
//!
//! Analytic-DPM uses one scalar σ̄²_t = E tr Cov[x_0 | x_t]/d per step. SN-/NPR-DPM keep the
//! Gaussian reverse step but give each coordinate its own x_0-posterior variance
//! σ̄²_t(x_t), so the reverse variance becomes, per coordinate,
//!
//! σ²_{s|t}(x_t) = λ²_{s|t} + γ²_{s|t} · clip(σ̄²_t(x_t)),  clip to [0, Eq. 11/12 cap]
//!
//! with λ² and γ of the step's forward family (§6.2) and the cap of [`DataRange`]. The
//! estimate comes from a second-moment head ([`CovPredictor`]):
//!
//! | kind | head | σ̄²_t(x_t) |
//! |---|---|---|
//! | [`CovKind::Sn`] | h ≈ E[ε⊙ε \| x_t] | (β̄_t/ᾱ_t)(h − ε̂⊙ε̂) (perfect-mean assumption) |
//! | [`CovKind::Npr`] | g ≈ E[(ε − ε̂)⊙² \| x_t] | (β̄_t/ᾱ_t) g (variance around the given mean) |
//!
//! The exact laws [`Gaussian`] and [`GaussianMixture`] implement [`CovPredictor`] with the
//! true posterior moments; their NPR head is taken around their own exact ε*, so both kinds
//! give Cov[x_0 | x_t] exactly (spec §10.3: ᾱ s²/v per coordinate for N(m, s²)).
//!
//! Note: the Eq. 11 cap β̄_t/ᾱ_t bounds the *average* posterior variance (Γ ∈ [0, 1]); a
//! single coordinate of Cov[x_0 | x_t] may exceed it (x_t between two far mixture modes), and
//! the clip then lowers it, as the spec prescribes.

use rand::Rng;

use crate::analytic::DataRange;
use crate::exact::{Gaussian, GaussianMixture};
use crate::sample::{check_rows, sample_with_variance};
use crate::step::{PlanConfig, Sigma2Clip};
use crate::{
    EpsPredictor, Error, FinalStep, NoiseLevel, Result, Sampler, Schedule, Step, analytic,
};

/// Which second moment a covariance head predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CovKind {
    /// SN-DPM: h ≈ E[ε⊙ε | x_t] ("squared noise").
    Sn,
    /// NPR-DPM: g ≈ E[(ε − ε̂)⊙² | x_t] ("noise prediction residual") around a frozen ε̂.
    Npr,
}

impl CovKind {
    /// Stable name: `sn` or `npr`.
    pub fn name(self) -> &'static str {
        match self {
            CovKind::Sn => "sn",
            CovKind::Npr => "npr",
        }
    }

    /// Raw (unclipped) σ̄²_t of one coordinate from the head output `head` and the
    /// ε-prediction `eps` at a level with ᾱ = `alpha_bar`.
    pub fn cov_x0(self, alpha_bar: f64, head: f64, eps: f64) -> f64 {
        let ratio = (1.0 - alpha_bar) / alpha_bar;
        match self {
            CovKind::Sn => ratio * (head - eps * eps),
            CovKind::Npr => ratio * head,
        }
    }
}

/// The four state-dependent covariance samplers: a head kind and the family whose step
/// coefficients give the mean (λ², γ too).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CovSampler {
    /// SN or NPR head.
    pub kind: CovKind,
    /// `None`: DDPM family (posterior mean μ̃, λ² = β̃); `Some(η)`: DDIM family with η.
    pub ddim_eta: Option<f64>,
}

impl CovSampler {
    /// `sn-ddpm`, `sn-ddim`, `npr-ddpm`, `npr-ddim` (DDIM with η = 0).
    pub const ALL: [CovSampler; 4] = [
        CovSampler {
            kind: CovKind::Sn,
            ddim_eta: None,
        },
        CovSampler {
            kind: CovKind::Sn,
            ddim_eta: Some(0.0),
        },
        CovSampler {
            kind: CovKind::Npr,
            ddim_eta: None,
        },
        CovSampler {
            kind: CovKind::Npr,
            ddim_eta: Some(0.0),
        },
    ];

    /// Stable name, e.g. `sn-ddpm`, `npr-ddim` (η ≠ 0 appended: `sn-ddim-eta0.5`).
    pub fn name(self) -> String {
        match self.ddim_eta {
            None => format!("{}-ddpm", self.kind.name()),
            Some(0.0) => format!("{}-ddim", self.kind.name()),
            Some(eta) => format!("{}-ddim-eta{eta}", self.kind.name()),
        }
    }

    /// Parses `sn-ddpm`, `sn-ddim`, `npr-ddpm` or `npr-ddim`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for any other name.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| Error::Invalid {
                what: "sampler",
                msg: format!(
                    "unknown covariance sampler `{name}` (expected sn-ddpm, sn-ddim, npr-ddpm, \
                     npr-ddim)"
                ),
            })
    }

    /// The [`Sampler`] whose planned steps supply the means, λ² and γ: `DdpmTilde` for the
    /// DDPM family, `Ddim { eta }` for the DDIM family (their own variances are replaced).
    pub fn mean_sampler(self) -> Sampler {
        match self.ddim_eta {
            None => Sampler::DdpmTilde,
            Some(eta) => Sampler::Ddim { eta },
        }
    }
}

/// A per-coordinate second-moment head (a network, or the exact posterior of a data law).
pub trait CovPredictor {
    /// Data dimension d (length of one row).
    fn cov_dim(&self) -> usize;

    /// Writes the head of `kind` (h for [`CovKind::Sn`], g for [`CovKind::Npr`]) for a batch
    /// of rows into `out` (same length as `x_t`).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a malformed batch or level; a network's own errors.
    fn predict_cov(
        &self,
        kind: CovKind,
        x_t: &[f64],
        level: NoiseLevel,
        out: &mut [f64],
    ) -> Result<()>;
}

/// Checks a batch against dimension `d` and an output of the same length.
fn check_out(x_t: &[f64], out: &[f64], d: usize) -> Result<()> {
    check_rows(x_t, d)?;
    if out.len() != x_t.len() {
        return Err(Error::Invalid {
            what: "rows",
            msg: format!("output has {} values for {} inputs", out.len(), x_t.len()),
        });
    }
    Ok(())
}

/// Returns ᾱ of a level, or an error outside (0, 1).
fn alpha_bar_of(level: NoiseLevel) -> Result<f64> {
    let ab = level.alpha_bar;
    if !(ab > 0.0 && ab < 1.0) {
        return Err(Error::Invalid {
            what: "noise level",
            msg: format!("ᾱ = {ab} is outside (0, 1)"),
        });
    }
    Ok(ab)
}

/// Closed form: given x_t, ε ~ N(√β̄ (x_t − √ᾱ m)/v, ᾱ s²/v) per coordinate, v = ᾱ s² + β̄.
impl CovPredictor for Gaussian {
    fn cov_dim(&self) -> usize {
        self.mean().len()
    }

    fn predict_cov(
        &self,
        kind: CovKind,
        x_t: &[f64],
        level: NoiseLevel,
        out: &mut [f64],
    ) -> Result<()> {
        let d = self.cov_dim();
        check_out(x_t, out, d)?;
        let ab = alpha_bar_of(level)?;
        let (sa, bb) = (ab.sqrt(), 1.0 - ab);
        for (xr, or) in x_t.chunks(d).zip(out.chunks_mut(d)) {
            for (i, (&x, o)) in xr.iter().zip(or.iter_mut()).enumerate() {
                let (m, s2) = (self.mean()[i], self.var()[i]);
                let v = ab * s2 + bb;
                let post_var = ab * s2 / v;
                *o = match kind {
                    CovKind::Sn => {
                        let mean = bb.sqrt() * (x - sa * m) / v;
                        mean * mean + post_var
                    }
                    CovKind::Npr => post_var,
                };
            }
        }
        Ok(())
    }
}

/// Exact mixture posterior: responsibilities, per-component posterior mean and variance of ε.
impl CovPredictor for GaussianMixture {
    fn cov_dim(&self) -> usize {
        self.dim()
    }

    fn predict_cov(
        &self,
        kind: CovKind,
        x_t: &[f64],
        level: NoiseLevel,
        out: &mut [f64],
    ) -> Result<()> {
        check_out(x_t, out, self.dim())?;
        let mut m1 = vec![0.0; x_t.len()];
        self.eps_moments(x_t, level, &mut m1, out)?;
        if kind == CovKind::Npr {
            // Around the exact ε* = E[ε | x_t]: g = E[ε²|x_t] − E[ε|x_t]², never below 0.
            for (o, e) in out.iter_mut().zip(&m1) {
                *o = (*o - e * e).max(0.0);
            }
        }
        Ok(())
    }
}

/// γ of a step, read off its coefficients: with ε̂ = (x_t − √ᾱ_t x_0)/√β̄_t the mean's weight
/// on x_0 is coef_x0 − coef_eps √(ᾱ_t/β̄_t) (equals `analytic::gamma_coef_ddpm` for the DDPM
/// family and `analytic::gamma_coef` for the DDIM family).
pub fn step_gamma(step: &Step) -> f64 {
    step.coef_x0 - step.coef_eps * (step.alpha_bar_t / step.beta_bar_t).sqrt()
}

/// σ²_{s|t} = λ² + γ² · clamp(`cov_x0`, 0, `cap`) for one coordinate of `step`.
pub fn pixel_variance(step: &Step, cov_x0: f64, cap: f64) -> f64 {
    let g = step_gamma(step);
    // `max` first so that a NaN estimate falls back to 0 rather than poisoning σ².
    step.lambda2 + g * g * cov_x0.max(0.0).min(cap)
}

/// How a state-dependent covariance run is set up.
#[derive(Debug, Clone, Copy)]
pub struct CovConfig<'a> {
    /// The schedule the steps were planned on (for the Eq. 11 cap β̄_t/ᾱ_t).
    pub schedule: &'a Schedule,
    /// SN or NPR head.
    pub kind: CovKind,
    /// Data range: [`DataRange::Unbounded`] clips with Eq. 11 only, bounded data also with
    /// Eq. 12 (`[0, 1]` for [−1, 1] images).
    pub data_range: DataRange,
    /// [`FinalStep::Mean`] outputs the mean at the last step (no variance there).
    pub final_step: FinalStep,
    /// σ₂ pixel clip of the step producing x_{τ_1}, as in [`crate::plan`].
    pub sigma2_clip: Sigma2Clip,
}

impl<'a> CovConfig<'a> {
    /// The clip settings of a [`PlanConfig`] (its sampler only shapes the steps).
    pub fn from_plan(schedule: &'a Schedule, kind: CovKind, plan: &PlanConfig) -> Self {
        Self {
            schedule,
            kind,
            data_range: plan.data_range,
            final_step: plan.final_step,
            sigma2_clip: plan.sigma2_clip,
        }
    }
}

/// Checks a head against the ε-predictor and the steps against the schedule.
fn check_cov_run(
    eps_dim: usize,
    cov_dim: usize,
    config: &CovConfig<'_>,
    steps: &[Step],
) -> Result<()> {
    if cov_dim != eps_dim {
        return Err(Error::Invalid {
            what: "covariance head",
            msg: format!("dimension {cov_dim} differs from the ε-predictor's {eps_dim}"),
        });
    }
    let n = config.schedule.n_steps();
    if let Some(bad) = steps.iter().find(|st| st.t > n || st.s >= st.t) {
        return Err(Error::Invalid {
            what: "steps",
            msg: format!(
                "step ({}, {}) does not fit a schedule with N = {n}",
                bad.s, bad.t
            ),
        });
    }
    Ok(())
}

/// The per-coordinate variance of one step from the head: the one formula behind
/// [`sample_cov`] and [`nelbo_cov`].
struct CovVariance<'c, C: ?Sized> {
    cov: &'c C,
    config: CovConfig<'c>,
    tau1: usize,
    head: Vec<f64>,
}

impl<'c, C: CovPredictor + ?Sized> CovVariance<'c, C> {
    /// Checks the head against the ε-predictor (of dimension `eps_dim`) and the steps against
    /// the schedule, then sets up the head buffer for batches of `len` values.
    fn checked(
        eps_dim: usize,
        cov: &'c C,
        config: &CovConfig<'c>,
        steps: &[Step],
        len: usize,
    ) -> Result<Self> {
        check_cov_run(eps_dim, cov.cov_dim(), config, steps)?;
        Ok(CovVariance {
            cov,
            config: *config,
            tau1: steps.last().map_or(0, |st| st.t),
            head: vec![0.0; len],
        })
    }

    /// [`Self::fill`] as a [`crate::sample::VarianceHook`].
    fn hook(&mut self) -> impl FnMut(usize, &Step, &[f64], &[f64], &mut [f64]) -> Result<()> + '_ {
        move |_, step, x_t, e, var| self.fill(step, x_t, e, var)
    }

    /// σ² = λ² + γ²·clip(σ̄²_t(x_t)) per coordinate, 0 at a mean-only final step, capped by the
    /// σ₂ pixel clip at the step into x_{τ_1}.
    fn fill(&mut self, step: &Step, x_t: &[f64], e: &[f64], var: &mut [f64]) -> Result<()> {
        let config = &self.config;
        if step.s == 0 && config.final_step == FinalStep::Mean {
            var.fill(0.0);
            return Ok(());
        }
        self.head.resize(x_t.len(), 0.0);
        self.cov
            .predict_cov(config.kind, x_t, step.level(), &mut self.head)?;
        let cap = config.data_range.cov_x0_cap(config.schedule, step.t);
        let pixel_cap = match config.sigma2_clip {
            Sigma2Clip::Pixel { y } if step.s == self.tau1 && step.s > 0 => {
                analytic::pixel_sigma2_threshold(y)
            }
            _ => f64::INFINITY,
        };
        for ((v, &h), &ei) in var.iter_mut().zip(&self.head).zip(e) {
            let c = config.kind.cov_x0(step.alpha_bar_t, h, ei);
            *v = pixel_variance(step, c, cap).min(pixel_cap);
        }
        Ok(())
    }
}

/// The NELBO (nats/dim, spec §6.7) of the SN-/NPR-DPM reverse process: the means, λ² and the
/// decoder of `steps` (plan them with `DdpmTilde`, the DDPM forward process; DDIM has no finite
/// NELBO) and per-coordinate variances σ²(x_t) = λ² + γ²·clip(σ̄²_t(x_t)) from the head `cov`,
/// through [`crate::nelbo::nelbo_with_variance`]. Use a `config` without σ₂ clip, as the
/// paper's likelihoods do.
///
/// # Errors
/// As [`sample_cov`] and [`crate::nelbo::nelbo_with_variance`].
#[allow(clippy::too_many_arguments)] // nelbo's arguments plus the head and its settings
pub fn nelbo_cov<P, C, R>(
    eps: &P,
    cov: &C,
    config: &CovConfig<'_>,
    steps: &[Step],
    data: &[f64],
    decoder: crate::Decoder,
    rng: &mut R,
    on_step: &mut dyn FnMut(usize),
) -> Result<crate::Nelbo>
where
    P: EpsPredictor + ?Sized,
    C: CovPredictor + ?Sized,
    R: Rng + ?Sized,
{
    let mut fill = CovVariance::checked(eps.dim(), cov, config, steps, data.len())?;
    crate::nelbo::nelbo_with_variance(
        eps,
        config.schedule,
        steps,
        data,
        decoder,
        rng,
        on_step,
        &mut fill.hook(),
    )
}

/// Runs `steps` with per-coordinate variances σ²(x_t) = λ² + γ²·clip(σ̄²_t(x_t)) from the
/// head `cov` (one extra head query per step); the means are the steps' own (plan them with a
/// DDPM-family sampler such as `DdpmTilde` for SN-DDPM, `Ddim { eta }` for SN-DDIM).
///
/// Written as a variance hook of [`crate::sample::sample_with_variance`], so the update
/// itself is the crate's one sampling loop.
///
/// # Errors
/// [`Error::Invalid`] for a batch that does not fit either predictor, or a step whose
/// t exceeds the schedule; the predictors' own errors.
pub fn sample_cov<P, C, R>(
    eps: &P,
    cov: &C,
    config: &CovConfig<'_>,
    steps: &[Step],
    x: &mut [f64],
    rng: &mut R,
    on_step: &mut dyn FnMut(usize),
) -> Result<()>
where
    P: EpsPredictor + ?Sized,
    C: CovPredictor + ?Sized,
    R: Rng + ?Sized,
{
    let mut fill = CovVariance::checked(eps.dim(), cov, config, steps, x.len())?;
    sample_with_variance(eps, steps, x, rng, on_step, &mut fill.hook())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytic::Gamma;
    use crate::exact::{DataLaw, sample_law};
    use crate::{Moments, Trajectory, plan, propagate_gaussian, standard_normal};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn level(ab: f64) -> NoiseLevel {
        NoiseLevel {
            t: 0.0,
            alpha_bar: ab,
        }
    }

    /// The exact-settings plan of `sampler` on `traj` (Γ is read by the analytic samplers only).
    fn exact_plan(
        sched: &Schedule,
        traj: &Trajectory,
        sampler: Sampler,
        gamma: &Gamma,
    ) -> Vec<Step> {
        plan(sched, traj, &PlanConfig::exact(sampler), gamma).unwrap()
    }

    #[test]
    fn gaussian_sn_and_npr_targets_are_the_closed_form() {
        // Spec §10.3: E[ε²|x_t] − E[ε|x_t]² = ᾱ s²/v, and (β̄/ᾱ)·that = s² β̄/v = Cov[x_0|x_t].
        // Tolerance 1e-12 relative (a handful of roundings of O(1) quantities).
        let g = Gaussian::new(vec![0.5, -1.0, 2.0], vec![0.09, 1.0, 4.0]).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let mut x = vec![0.0; 3 * 50];
        standard_normal(&mut rng, &mut x);
        let (mut h, mut gg, mut e) = (vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; x.len()]);
        for ab in [0.999, 0.7, 0.3, 1e-3] {
            g.predict_cov(CovKind::Sn, &x, level(ab), &mut h).unwrap();
            g.predict_cov(CovKind::Npr, &x, level(ab), &mut gg).unwrap();
            g.predict_eps(&x, level(ab), &mut e).unwrap();
            for j in 0..x.len() {
                let s2 = g.var()[j % 3];
                let v = ab * s2 + 1.0 - ab;
                let want_var = ab * s2 / v;
                let sn = h[j] - e[j] * e[j];
                assert!(
                    (sn - want_var).abs() <= 1e-12 * want_var.max(1.0),
                    "{sn} {want_var}"
                );
                assert!((gg[j] - want_var).abs() <= 1e-12 * want_var);
                let want_cov = s2 * (1.0 - ab) / v;
                for kind in [CovKind::Sn, CovKind::Npr] {
                    let head = if kind == CovKind::Sn { h[j] } else { gg[j] };
                    let c = kind.cov_x0(ab, head, e[j]);
                    let tol = 1e-12 * want_cov.max(1.0) * (1.0 - ab) / ab;
                    assert!((c - want_cov).abs() <= tol, "{kind:?} {c} {want_cov}");
                }
            }
        }
    }

    #[test]
    fn cov_sampler_names_round_trip() {
        let names: Vec<String> = CovSampler::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["sn-ddpm", "sn-ddim", "npr-ddpm", "npr-ddim"]);
        for s in CovSampler::ALL {
            assert_eq!(CovSampler::from_name(&s.name()).unwrap(), s);
        }
        assert!(CovSampler::from_name("sn").is_err());
        assert!(CovSampler::from_name("analytic-ddpm").is_err());
        assert_eq!(
            CovSampler::ALL[3].mean_sampler(),
            Sampler::Ddim { eta: 0.0 }
        );
        assert_eq!(CovSampler::ALL[0].mean_sampler(), Sampler::DdpmTilde);
    }

    #[test]
    fn step_gamma_matches_the_analytic_coefficients() {
        let sched = Schedule::linear(1000).unwrap();
        for (s, t) in [(0, 1), (1, 112), (445, 556), (889, 1000)] {
            let p = Step::of(&sched, Sampler::DdpmTilde, s, t, 0.0, DataRange::Unbounded);
            let want = analytic::gamma_coef_ddpm(&sched, s, t);
            assert!((step_gamma(&p) - want).abs() <= 1e-14 * want.abs().max(1e-300));
            for eta in [0.0, 0.5, 1.0] {
                let q = Step::of(
                    &sched,
                    Sampler::Ddim { eta },
                    s,
                    t,
                    0.0,
                    DataRange::Unbounded,
                );
                let want = analytic::gamma_coef(&sched, s, t, q.lambda2);
                assert!((step_gamma(&q) - want).abs() <= 1e-9 * want.abs().max(1e-6));
            }
        }
    }

    /// SN variances of the exact Gaussian heads, checked constant in x_t, written into steps.
    fn sn_steps(data: &Gaussian, sched: &Schedule, steps: &[Step], kind: CovKind) -> Vec<Step> {
        let xs = [-3.0, 0.1, 2.5];
        let mut out = steps.to_vec();
        for st in &mut out {
            let (mut h, mut e) = ([0.0; 3], [0.0; 3]);
            data.predict_cov(kind, &xs, st.level(), &mut h).unwrap();
            data.predict_eps(&xs, st.level(), &mut e).unwrap();
            let cap = DataRange::Unbounded.cov_x0_cap(sched, st.t);
            let v: Vec<f64> = (0..3)
                .map(|j| pixel_variance(st, kind.cov_x0(st.alpha_bar_t, h[j], e[j]), cap))
                .collect();
            assert!((v[0] - v[2]).abs() <= 1e-12 * v[0] && (v[1] - v[2]).abs() <= 1e-12 * v[0]);
            st.variance = v[1];
        }
        out
    }

    #[test]
    fn sn_ddpm_with_exact_heads_is_exact_on_gaussian_data() {
        // 1-D N(0.5, 0.09), linear N = 1000, K = 10, x_N ~ q(x_N): exact propagation gives
        // var 0.09 and mean 0.5 to 1e-9 (as Analytic-DDPM), and the SN variances equal the
        // Analytic-DDPM ones to 1e-12 relative; DDPM-β̃ (same means) gives 0.026768 instead.
        let sched = Schedule::linear(1000).unwrap();
        let traj = Trajectory::even(1000, 10).unwrap();
        let data = Gaussian::isotropic(1, 0.5, 0.09).unwrap();
        let tilde = exact_plan(&sched, &traj, Sampler::DdpmTilde, &Gamma::unknown(1000));
        let gamma = Gamma::from_fn(&sched, |ab| data.gamma(ab)).unwrap();
        let ana = exact_plan(&sched, &traj, Sampler::AnalyticDdpm, &gamma);
        let (ab, bb) = (sched.alpha_bar(1000), sched.beta_bar(1000));
        let start = [Moments {
            mean: ab.sqrt() * 0.5,
            var: ab * 0.09 + bb,
        }];
        for kind in [CovKind::Sn, CovKind::Npr] {
            let sn = sn_steps(&data, &sched, &tilde, kind);
            for (a, b) in sn.iter().zip(&ana) {
                assert!((a.variance - b.variance).abs() <= 1e-12 * b.variance);
            }
            let end = propagate_gaussian(&data, &sn, &start).unwrap();
            assert!((end[0].var - 0.09).abs() < 1e-9, "{kind:?}: {}", end[0].var);
            assert!((end[0].mean - 0.5).abs() < 1e-9);
        }
        let base = propagate_gaussian(&data, &tilde, &start).unwrap();
        assert!((base[0].var - 0.026768).abs() < 1e-6, "{}", base[0].var);
    }

    #[test]
    fn sample_cov_reproduces_the_data_variance_by_monte_carlo() {
        // 40 000 draws: the sample variance has standard error 0.09·√(2/n) ≈ 6.4e-4 and the
        // mean 0.3/√n = 1.5e-3; tolerances 4e-3 and 8e-3 (> 5 s.e.). DDPM-β̃ with the same
        // means ends at 0.0268, far outside.
        let sched = Schedule::linear(1000).unwrap();
        let traj = Trajectory::even(1000, 10).unwrap();
        let data = Gaussian::isotropic(1, 0.5, 0.09).unwrap();
        let cfg = PlanConfig::exact(Sampler::DdpmTilde);
        let steps = plan(&sched, &traj, &cfg, &Gamma::unknown(1000)).unwrap();
        let n = 40_000;
        for kind in [CovKind::Sn, CovKind::Npr] {
            let mut rng = StdRng::seed_from_u64(7);
            let (ab, bb) = (sched.alpha_bar(1000), sched.beta_bar(1000));
            let mut x = vec![0.0; n];
            standard_normal(&mut rng, &mut x);
            for v in &mut x {
                *v = ab.sqrt() * 0.5 + (ab * 0.09 + bb).sqrt() * *v;
            }
            let mut calls = 0;
            let config = CovConfig::from_plan(&sched, kind, &cfg);
            sample_cov(&data, &data, &config, &steps, &mut x, &mut rng, &mut |_| {
                calls += 1
            })
            .unwrap();
            assert_eq!(calls, 10);
            let mean = x.iter().sum::<f64>() / n as f64;
            let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            assert!((var - 0.09).abs() < 4e-3, "{kind:?} var {var}");
            assert!((mean - 0.5).abs() < 8e-3, "{kind:?} mean {mean}");
        }
    }

    #[test]
    fn mixture_heads_are_consistent() {
        // Ring of 8 modes (radius 2, std 0.1) and a wide 2-component mixture at several ᾱ,
        // x_t ~ q(x_t), 20 000 rows:
        // (a) E[ε²|x_t] ≥ E[ε|x_t]² per coordinate (raw SN covariance ≥ 0, tolerance 1e-12);
        // (b) E_x[E[ε²|x_t]] = 1 per coordinate (tower rule; standard error ≤ 0.01 here,
        //     tolerance 0.05); (c) the clipped covariance lies in [0, Eq. 11 cap];
        // (d) NPR around the exact ε* equals SN to 1e-12 (absolute, scaled by β̄/ᾱ).
        let sched = Schedule::linear(1000).unwrap();
        let ring = GaussianMixture::ring(8, 2.0, 0.1).unwrap();
        let wide = GaussianMixture::new(
            vec![0.3, 0.7],
            vec![vec![-1.0, 0.5], vec![1.5, -0.5]],
            vec![vec![0.5, 1.5], vec![1.0, 0.2]],
        )
        .unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let rows = 20_000;
        for (law, t) in [10, 200, 500, 900]
            .into_iter()
            .flat_map(|t| [(&ring, t), (&wide, t)])
        {
            let (ab, bb) = (sched.alpha_bar(t), sched.beta_bar(t));
            let x0 = sample_law(law, &mut rng, rows);
            let mut noise = vec![0.0; x0.len()];
            standard_normal(&mut rng, &mut noise);
            let x: Vec<f64> = x0
                .iter()
                .zip(&noise)
                .map(|(a, z)| ab.sqrt() * a + bb.sqrt() * z)
                .collect();
            let lv = level(ab);
            let (mut h, mut g, mut e) =
                (vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; x.len()]);
            law.predict_cov(CovKind::Sn, &x, lv, &mut h).unwrap();
            law.predict_cov(CovKind::Npr, &x, lv, &mut g).unwrap();
            law.predict_eps(&x, lv, &mut e).unwrap();
            let cap = DataRange::Unbounded.cov_x0_cap(&sched, t);
            let mut sum = [0.0; 2];
            for j in 0..x.len() {
                assert!(h[j] - e[j] * e[j] >= -1e-12 * h[j].max(1.0), "t={t}");
                sum[j % 2] += h[j];
                let (cs, cn) = (
                    CovKind::Sn.cov_x0(ab, h[j], e[j]),
                    CovKind::Npr.cov_x0(ab, g[j], e[j]),
                );
                assert!(
                    (cs - cn).abs() <= 1e-12 * h[j].max(1.0) * bb / ab,
                    "t={t}: {cs} {cn}"
                );
                let clipped = cs.max(0.0).min(cap);
                assert!((0.0..=cap).contains(&clipped));
            }
            for s in sum {
                let m = s / rows as f64;
                assert!((m - 1.0).abs() < 0.05, "t={t}: E[h] = {m}");
            }
        }
        assert_eq!((ring.data_dim(), wide.data_dim()), (2, 2));
    }

    #[test]
    fn one_component_mixture_heads_equal_the_gaussian_ones() {
        // Same posterior through the responsibility path; 1e-12 relative.
        let g = Gaussian::new(vec![0.5, -1.0], vec![0.09, 2.0]).unwrap();
        let m = GaussianMixture::new(
            vec![1.0],
            vec![vec![0.5, -1.0]],
            vec![vec![0.3, 2f64.sqrt()]],
        )
        .unwrap();
        let x = [0.3, -2.0, 1.7, 0.0];
        for kind in [CovKind::Sn, CovKind::Npr] {
            for ab in [0.99, 0.5, 0.01] {
                let (mut a, mut b) = ([0.0; 4], [0.0; 4]);
                g.predict_cov(kind, &x, level(ab), &mut a).unwrap();
                m.predict_cov(kind, &x, level(ab), &mut b).unwrap();
                for (p, q) in a.iter().zip(&b) {
                    assert!(
                        (p - q).abs() <= 1e-12 * p.abs().max(1e-3),
                        "{kind:?} {p} {q}"
                    );
                }
            }
        }
    }

    #[test]
    fn sample_cov_rejects_mismatches() {
        let sched = Schedule::linear(100).unwrap();
        let traj = Trajectory::even(100, 5).unwrap();
        let cfg = PlanConfig::exact(Sampler::DdpmTilde);
        let steps = plan(&sched, &traj, &cfg, &Gamma::unknown(100)).unwrap();
        let g1 = Gaussian::isotropic(1, 0.0, 1.0).unwrap();
        let g2 = Gaussian::isotropic(2, 0.0, 1.0).unwrap();
        let config = CovConfig::from_plan(&sched, CovKind::Sn, &cfg);
        let mut rng = StdRng::seed_from_u64(0);
        let mut x = vec![0.0; 4];
        assert!(sample_cov(&g1, &g2, &config, &steps, &mut x, &mut rng, &mut |_| {}).is_err());
        let short = Schedule::linear(50).unwrap();
        let bad = CovConfig::from_plan(&short, CovKind::Sn, &cfg);
        assert!(sample_cov(&g1, &g1, &bad, &steps, &mut x, &mut rng, &mut |_| {}).is_err());
        let mut out = vec![0.0; 3];
        assert!(
            g2.predict_cov(CovKind::Sn, &x, level(0.5), &mut out)
                .is_err()
        );
        assert!(
            g1.predict_cov(CovKind::Npr, &x, level(1.0), &mut [0.0; 4])
                .is_err()
        );
    }

    #[test]
    fn nelbo_cov_with_exact_heads_equals_analytic_ddpm_on_gaussian_data() {
        // On N(m, s² I) data the exact SN/NPR posterior variance is the same for every
        // coordinate and equals Analytic-DDPM's scalar (β̄/ᾱ)(1 − Γ) with the exact Γ, so the
        // diagonal NELBO must equal the scalar one term by term. Same seed ⇒ same x_t draws;
        // tolerance 1e-10 relative (the variances agree to ~1e-15, the KLs are O(1)).
        let sched = Schedule::linear(1000).unwrap();
        let data_law = Gaussian::new(vec![0.5, -0.3, 1.0], vec![0.09, 0.09, 0.09]).unwrap();
        let gamma = Gamma::from_fn(&sched, |ab| data_law.gamma(ab)).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let data = sample_law(&data_law, &mut rng, 200);
        let decoder = crate::Decoder::Gaussian {
            variance: crate::nelbo::official_decoder_variance(&sched),
        };
        // The scalar NELBO of a plan, with the seed shared by every run below.
        let scalar = |steps: &[Step]| {
            crate::nelbo(
                &data_law,
                &sched,
                steps,
                &data,
                decoder,
                &mut StdRng::seed_from_u64(3),
                &mut |_| {},
            )
            .unwrap()
        };
        for k in [2usize, 10, 25] {
            let traj = Trajectory::even(1000, k).unwrap();
            let want = scalar(&exact_plan(&sched, &traj, Sampler::AnalyticDdpm, &gamma));
            let plan_cfg = PlanConfig::exact(Sampler::DdpmTilde);
            let tilde = exact_plan(&sched, &traj, Sampler::DdpmTilde, &Gamma::unknown(1000));
            let base = scalar(&tilde);
            for kind in [CovKind::Sn, CovKind::Npr] {
                let cfg = CovConfig::from_plan(&sched, kind, &plan_cfg);
                let got = nelbo_cov(
                    &data_law,
                    &data_law,
                    &cfg,
                    &tilde,
                    &data,
                    decoder,
                    &mut StdRng::seed_from_u64(3),
                    &mut |_| {},
                )
                .unwrap();
                assert_eq!(got.terms.len(), want.terms.len());
                for (a, b) in got.terms.iter().zip(&want.terms) {
                    assert!(
                        (a - b).abs() <= 1e-10 * b.abs().max(1e-3),
                        "K={k} {kind:?}: {a} {b}"
                    );
                }
                assert!((got.total - want.total).abs() <= 1e-10 * want.total.abs());
                assert_eq!(got.decoder, want.decoder);
                assert_eq!(got.prior, want.prior);
            }
            // And the comparison can fail: β̃ alone is a worse (larger) bound at small K.
            if k <= 10 {
                assert!(
                    base.total > want.total + 1e-3,
                    "K={k}: {} {}",
                    base.total,
                    want.total
                );
            }
        }
    }

    #[test]
    fn nelbo_cov_rejects_mismatched_heads() {
        let sched = Schedule::linear(100).unwrap();
        let g1 = Gaussian::isotropic(1, 0.0, 1.0).unwrap();
        let g2 = Gaussian::isotropic(2, 0.0, 1.0).unwrap();
        let plan_cfg = PlanConfig::exact(Sampler::DdpmTilde);
        let steps = plan(
            &sched,
            &Trajectory::even(100, 5).unwrap(),
            &plan_cfg,
            &Gamma::unknown(100),
        )
        .unwrap();
        let cfg = CovConfig::from_plan(&sched, CovKind::Sn, &plan_cfg);
        let err = nelbo_cov(
            &g1,
            &g2,
            &cfg,
            &steps,
            &[0.0, 0.1],
            crate::Decoder::Gaussian { variance: 1e-4 },
            &mut StdRng::seed_from_u64(0),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("dimension 2 differs"), "{err}");
    }
}
