//! Forward SDEs on t ∈ [0, 1] (Song et al., score-SDE, arXiv 2011.13456; spec §5.3).
//!
//! Every process here has a linear drift f(x, t) = f_t·x and a Gaussian perturbation kernel
//! x_t = μ_t x_0 + σ_t ε, so one table of scalars describes it:
//!
//! | code | symbol | VP | sub-VP | VE |
//! |---|---|---|---|---|
//! | `mean_coef(t)` | μ_t | √ᾱ(t) | √ᾱ(t) | 1 |
//! | `std(t)` | σ_t | √(1 − ᾱ(t)) | 1 − ᾱ(t) | σ_min (σ_max/σ_min)^t |
//! | `drift_coef(t)` | f_t = d ln μ_t / dt | −β(t)/2 | −β(t)/2 | 0 |
//! | `diffusion2(t)` | g_t² = dσ_t²/dt − 2 f_t σ_t² | β(t) | β(t)(1 − ᾱ(t)²) | σ_t² · 2 ln(σ_max/σ_min) |
//! | `prior_std()` | std of p_1 | 1 | 1 | σ_max |
//!
//! with β(t) = β_min + t(β_max − β_min) and ᾱ(t) = exp(−∫_0^t β) (the score-SDE names;
//! ᾱ is the signal *variance*, as everywhere in this crate). [`Sde::from_schedule`] turns a
//! discrete DDPM schedule into the VP process whose ln ᾱ(t) interpolates ln ᾱ_n linearly
//! between the grid points t = n/N; [`Sde::discretize`] goes the other way (spec §2.1).
//!
//! # The ε-interface for every SDE
//! ε-predictors answer for x = √ᾱ x_0 + √(1−ᾱ) ε. Dividing x_t = μ_t x_0 + σ_t ε by
//! c_t = √(μ_t² + σ_t²) gives exactly that form with ᾱ = μ_t²/c_t² and the *same* ε, so
//! E[ε | x_t] = ε̂(x_t/c_t, ᾱ) and the score is ∇ log p_t(x_t) = −ε̂/σ_t ([`Sde::eps_input`]).
//! For VP c_t = 1; for VE c_t² = 1 + σ_t² and ᾱ = 1/(1 + σ_t²).

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::{Error, NoiseLevel, Result, Schedule};

/// A forward SDE with linear drift on t ∈ [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub enum Sde {
    /// Variance preserving: dx = −½β(t)x dt + √β(t) dw.
    Vp {
        /// β(0).
        beta_min: f64,
        /// β(1).
        beta_max: f64,
    },
    /// Sub-variance preserving: same drift as VP, g² = β(t)(1 − ᾱ(t)²).
    SubVp {
        /// β(0).
        beta_min: f64,
        /// β(1).
        beta_max: f64,
    },
    /// Variance exploding: dx = σ(t)√(2 ln(σ_max/σ_min)) dw, σ(t) = σ_min(σ_max/σ_min)^t.
    Ve {
        /// σ(0).
        sigma_min: f64,
        /// σ(1).
        sigma_max: f64,
    },
    /// The VP process of a discrete schedule: ln ᾱ(t) is piecewise linear through
    /// (n/N, ln ᾱ_n), so β(t) is piecewise constant (built by [`Sde::from_schedule`]).
    DiscreteVp(LogAlphaBarTable),
}

/// ln ᾱ_n for n = 0..=N with N ≥ 1 (valid by construction: only [`Sde::from_schedule`]
/// makes one).
#[derive(Debug, Clone, PartialEq)]
pub struct LogAlphaBarTable {
    log_alpha_bar: Vec<f64>,
}

impl LogAlphaBarTable {
    /// ln ᾱ_0..ln ᾱ_N.
    pub fn values(&self) -> &[f64] {
        &self.log_alpha_bar
    }
}

/// β_min and β_max of score-SDE's VP and sub-VP processes.
pub const VP_BETA: (f64, f64) = (0.1, 20.0);
/// σ_min and σ_max of score-SDE's VE process (CIFAR-10).
pub const VE_SIGMA: (f64, f64) = (0.01, 50.0);

fn invalid(msg: String) -> Error {
    Error::Invalid { what: "sde", msg }
}

impl Sde {
    /// VP with β(t) = β_min + t(β_max − β_min).
    ///
    /// # Errors
    /// [`Error::Invalid`] unless 0 ≤ β_min ≤ β_max, both finite and β_max > 0.
    pub fn vp(beta_min: f64, beta_max: f64) -> Result<Self> {
        check_beta(beta_min, beta_max)?;
        Ok(Sde::Vp { beta_min, beta_max })
    }

    /// Sub-VP with β(t) = β_min + t(β_max − β_min).
    ///
    /// # Errors
    /// As [`Sde::vp`].
    pub fn sub_vp(beta_min: f64, beta_max: f64) -> Result<Self> {
        check_beta(beta_min, beta_max)?;
        Ok(Sde::SubVp { beta_min, beta_max })
    }

    /// VE with σ(t) = σ_min (σ_max/σ_min)^t.
    ///
    /// # Errors
    /// [`Error::Invalid`] unless 0 < σ_min < σ_max, both finite.
    pub fn ve(sigma_min: f64, sigma_max: f64) -> Result<Self> {
        if !(sigma_min.is_finite() && sigma_max.is_finite() && sigma_min > 0.0)
            || sigma_max <= sigma_min
        {
            return Err(invalid(format!(
                "VE needs 0 < σ_min < σ_max, got {sigma_min}, {sigma_max}"
            )));
        }
        Ok(Sde::Ve {
            sigma_min,
            sigma_max,
        })
    }

    /// The score-SDE defaults by name: `vp` (β 0.1..20), `subvp` (same β), `ve` (σ 0.01..50).
    ///
    /// # Errors
    /// [`Error::Invalid`] for any other name.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "vp" => Self::vp(VP_BETA.0, VP_BETA.1),
            "subvp" | "sub-vp" => Self::sub_vp(VP_BETA.0, VP_BETA.1),
            "ve" => Self::ve(VE_SIGMA.0, VE_SIGMA.1),
            _ => Err(invalid(format!(
                "unknown SDE `{name}` (expected vp, subvp, ve)"
            ))),
        }
    }

    /// Short name: `vp`, `subvp`, `ve` or `discrete-vp`.
    pub fn name(&self) -> &'static str {
        match self {
            Sde::Vp { .. } => "vp",
            Sde::SubVp { .. } => "subvp",
            Sde::Ve { .. } => "ve",
            Sde::DiscreteVp(_) => "discrete-vp",
        }
    }

    /// The VP process of a discrete DDPM schedule (ᾱ(n/N) = ᾱ_n exactly).
    pub fn from_schedule(schedule: &Schedule) -> Self {
        let log_alpha_bar = (0..=schedule.n_steps())
            .map(|n| schedule.alpha_bar(n).ln())
            .collect();
        Sde::DiscreteVp(LogAlphaBarTable { log_alpha_bar })
    }

    /// The discrete DDPM schedule with N steps of a VP process: β_n = 1 − ᾱ(n/N)/ᾱ((n−1)/N)
    /// (the exact integral of β(t) over each cell, code-E's `VPSDE.get_schedule`, spec §2.1).
    /// Ho et al.'s linear schedule is the first-order version β_n ≈ β((n − ½)/N)/N.
    ///
    /// # Errors
    /// [`Error::Invalid`] for sub-VP and VE (they are not DDPM processes) and for N = 0.
    pub fn discretize(&self, n_steps: usize) -> Result<Schedule> {
        match self {
            Sde::Vp { beta_min, beta_max } => Schedule::vp_sde(n_steps, *beta_min, *beta_max),
            Sde::DiscreteVp(_) => {
                if n_steps == 0 {
                    return Err(invalid("N must be ≥ 1".into()));
                }
                let n = n_steps as f64;
                let betas: Vec<f64> = (1..=n_steps)
                    .map(|k| {
                        let d = self.log_alpha_bar((k - 1) as f64 / n)
                            - self.log_alpha_bar(k as f64 / n);
                        -(-d).exp_m1()
                    })
                    .collect();
                Schedule::from_step_betas(&betas)
            }
            Sde::SubVp { .. } | Sde::Ve { .. } => Err(invalid(format!(
                "only VP processes have a DDPM schedule, not {}",
                self.name()
            ))),
        }
    }

    /// β(t) of the VP family (VP, sub-VP, discrete VP); 0 for VE.
    pub fn beta(&self, t: f64) -> f64 {
        match self {
            Sde::Vp { beta_min, beta_max } | Sde::SubVp { beta_min, beta_max } => {
                beta_min + t * (beta_max - beta_min)
            }
            Sde::Ve { .. } => 0.0,
            Sde::DiscreteVp(LogAlphaBarTable { log_alpha_bar }) => {
                let n = log_alpha_bar.len() - 1;
                let k = ((t * n as f64).ceil() as usize).clamp(1, n);
                (log_alpha_bar[k - 1] - log_alpha_bar[k]) * n as f64
            }
        }
    }

    /// ln ᾱ(t) = −∫_0^t β of the VP family (0 for VE).
    pub fn log_alpha_bar(&self, t: f64) -> f64 {
        match self {
            Sde::Vp { beta_min, beta_max } | Sde::SubVp { beta_min, beta_max } => {
                -(beta_min * t + 0.5 * t * t * (beta_max - beta_min))
            }
            Sde::Ve { .. } => 0.0,
            Sde::DiscreteVp(LogAlphaBarTable { log_alpha_bar }) => {
                let n = log_alpha_bar.len() - 1;
                let u = (t * n as f64).clamp(0.0, n as f64);
                let k = (u.floor() as usize).min(n - 1);
                let w = u - k as f64;
                (1.0 - w) * log_alpha_bar[k] + w * log_alpha_bar[k + 1]
            }
        }
    }

    /// Mean coefficient μ_t of x_t = μ_t x_0 + σ_t ε.
    pub fn mean_coef(&self, t: f64) -> f64 {
        (0.5 * self.log_alpha_bar(t)).exp()
    }

    /// Marginal std σ_t of x_t given x_0 (cancellation-free near t = 0).
    pub fn std(&self, t: f64) -> f64 {
        match self {
            Sde::Vp { .. } | Sde::DiscreteVp(_) => (-self.log_alpha_bar(t).exp_m1()).sqrt(),
            Sde::SubVp { .. } => -self.log_alpha_bar(t).exp_m1(),
            Sde::Ve {
                sigma_min,
                sigma_max,
            } => sigma_min * (sigma_max / sigma_min).powf(t),
        }
    }

    /// f_t of the drift f(x, t) = f_t x.
    pub fn drift_coef(&self, t: f64) -> f64 {
        -0.5 * self.beta(t)
    }

    /// g_t², the squared diffusion coefficient.
    pub fn diffusion2(&self, t: f64) -> f64 {
        match self {
            Sde::Vp { .. } | Sde::DiscreteVp(_) => self.beta(t),
            Sde::SubVp { .. } => {
                let ab = self.log_alpha_bar(t).exp();
                self.beta(t) * (1.0 - ab * ab)
            }
            Sde::Ve {
                sigma_min,
                sigma_max,
            } => {
                let s = self.std(t);
                s * s * 2.0 * (sigma_max / sigma_min).ln()
            }
        }
    }

    /// λ_t = ln(μ_t/σ_t), half the log signal-to-noise ratio (decreasing in t).
    pub fn lambda(&self, t: f64) -> f64 {
        (self.mean_coef(t) / self.std(t)).ln()
    }

    /// The t ∈ [lo, hi] with λ_t = `lambda` (bisection; λ is strictly decreasing).
    pub fn t_of_lambda(&self, lambda: f64, lo: f64, hi: f64) -> f64 {
        let (mut a, mut b) = (lo, hi);
        for _ in 0..200 {
            let m = 0.5 * (a + b);
            if m <= a || m >= b {
                break;
            }
            if self.lambda(m) > lambda {
                a = m;
            } else {
                b = m;
            }
        }
        0.5 * (a + b)
    }

    /// The scale c_t and ε-predictor noise level of time t: the predictor must be called on
    /// x_t / c_t with this level (module docs), whose time input is t itself (networks
    /// trained on N discrete steps are wrapped in [`crate::solvers::Retimed`]).
    pub fn eps_input(&self, t: f64) -> (f64, NoiseLevel) {
        let level = |alpha_bar| NoiseLevel { t, alpha_bar };
        match self {
            Sde::Vp { .. } | Sde::DiscreteVp(_) => (1.0, level(self.log_alpha_bar(t).exp())),
            Sde::SubVp { .. } | Sde::Ve { .. } => {
                let (mu, sigma) = (self.mean_coef(t), self.std(t));
                let c2 = mu * mu + sigma * sigma;
                (c2.sqrt(), level(mu * mu / c2))
            }
        }
    }

    /// Std of the prior p_1 ≈ N(0, prior_std² I).
    pub fn prior_std(&self) -> f64 {
        match self {
            Sde::Ve { sigma_max, .. } => *sigma_max,
            _ => 1.0,
        }
    }

    /// Fills `x` with draws from the prior N(0, prior_std² I).
    pub fn sample_prior<R: Rng + ?Sized>(&self, rng: &mut R, x: &mut [f64]) {
        let s = self.prior_std();
        for v in x {
            let z: f64 = StandardNormal.sample(rng);
            *v = s * z;
        }
    }

    /// ln N(x; 0, prior_std² I) of one row (any length).
    pub fn prior_log_density(&self, x: &[f64]) -> f64 {
        let s2 = self.prior_std().powi(2);
        let sq: f64 = x.iter().map(|v| v * v).sum();
        -0.5 * (x.len() as f64 * (2.0 * std::f64::consts::PI * s2).ln() + sq / s2)
    }
}

fn check_beta(beta_min: f64, beta_max: f64) -> Result<()> {
    if !(beta_min.is_finite() && beta_max.is_finite() && beta_min >= 0.0)
        || beta_max < beta_min
        || beta_max <= 0.0
    {
        return Err(invalid(format!(
            "VP needs 0 ≤ β_min ≤ β_max, β_max > 0, got {beta_min}, {beta_max}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Sde> {
        vec![
            Sde::from_name("vp").unwrap(),
            Sde::from_name("subvp").unwrap(),
            Sde::from_name("ve").unwrap(),
            Sde::from_schedule(&Schedule::cosine(1000).unwrap()),
        ]
    }

    #[test]
    fn diffusion_matches_kernel_consistency() {
        // g² = dσ²/dt − 2 f σ² for a linear SDE with kernel N(μ_t x_0, σ_t²), at times off
        // the discrete grid (β is piecewise constant there); central difference with h = 1e-6 has error ~h² g''' + 1e-16/h, so 1e-6 relative suffices.
        for sde in all() {
            for t in [0.0503, 0.3007, 0.5004, 0.7706, 0.9502] {
                let h = 1e-6;
                let v = |t: f64| sde.std(t).powi(2);
                let dv = (v(t + h) - v(t - h)) / (2.0 * h);
                let want = dv - 2.0 * sde.drift_coef(t) * v(t);
                let got = sde.diffusion2(t);
                assert!(
                    (got - want).abs() <= 1e-6 * want.abs(),
                    "{}: t={t}: {got} vs {want}",
                    sde.name()
                );
                // f = d ln μ / dt.
                let dlm = (sde.mean_coef(t + h).ln() - sde.mean_coef(t - h).ln()) / (2.0 * h);
                assert!((dlm - sde.drift_coef(t)).abs() <= 1e-6 * (1.0 + dlm.abs()));
            }
        }
    }

    #[test]
    fn vp_marginal_is_score_sde_closed_form() {
        // mean coefficient exp(−¼t²(β_max−β_min) − ½tβ_min) (spec §5.3), to 1e-15 relative.
        let sde = Sde::vp(0.1, 20.0).unwrap();
        for t in [1e-5f64, 0.2, 1.0] {
            let want = (-0.25 * t * t * 19.9 - 0.5 * t * 0.1).exp();
            assert!((sde.mean_coef(t) - want).abs() <= 1e-15 * want);
            let s = sde.std(t);
            assert!((s * s + want * want - 1.0).abs() < 1e-15);
        }
    }

    #[test]
    fn eps_input_recovers_alpha_bar_form() {
        // x_t/c = √ᾱ' x_0 + √(1−ᾱ') ε with the same ε: check μ/c = √ᾱ' and σ/c = √(1−ᾱ').
        for sde in all() {
            for t in [1e-3, 0.4, 1.0] {
                let (c, lv) = sde.eps_input(t);
                assert!((sde.mean_coef(t) / c - lv.alpha_bar.sqrt()).abs() < 1e-12);
                assert!((sde.std(t) / c - (1.0 - lv.alpha_bar).sqrt()).abs() < 1e-12);
                assert_eq!(lv.t, t);
            }
        }
    }

    #[test]
    fn schedule_round_trip_and_ddpm_linear() {
        // VP → schedule → VP reproduces ᾱ on the grid (1e-12 relative, log-space
        // interpolation is exact at the nodes).
        let vp = Sde::vp(0.1, 20.0).unwrap();
        let sched = vp.discretize(1000).unwrap();
        let back = Sde::from_schedule(&sched);
        for n in [0usize, 1, 17, 500, 1000] {
            let t = n as f64 / 1000.0;
            let (a, b) = (vp.log_alpha_bar(t), back.log_alpha_bar(t));
            assert!(
                (a - b).abs() <= 1e-12 * a.abs().max(1e-12),
                "{n}: {a} vs {b}"
            );
        }
        let again = back.discretize(1000).unwrap();
        for n in [1usize, 999, 1000] {
            // ln ᾱ_n is O(10), so a few ulps of it: 1e-12 relative.
            assert!((again.betas()[n] / sched.betas()[n] - 1.0).abs() < 1e-12);
        }
        // Ho et al.'s linear schedule is the first-order version: β_n agree up to the
        // curvature of 1 − e^{−x} (|Δβ_n| ≤ β_n²/2 + 1e-5 ≤ 2.1e-4), while ᾱ_N differ by 7 %
        // (4.0358e-5 vs e^{−10.05} = 4.3171e-5, spec §2.1) because Σ ln(1−β) ≠ −Σ β.
        let lin = Schedule::linear(1000).unwrap();
        for n in 1..=1000 {
            assert!((lin.betas()[n] - sched.betas()[n]).abs() < 2.2e-4, "{n}");
        }
        assert!((lin.alpha_bar(1000) / vp.log_alpha_bar(1.0).exp() - 0.9348).abs() < 1e-3);
        assert!(Sde::sub_vp(0.1, 20.0).unwrap().discretize(10).is_err());
    }

    #[test]
    fn lambda_inverts() {
        for sde in all() {
            for t in [0.01, 0.5, 0.9] {
                let l = sde.lambda(t);
                let back = sde.t_of_lambda(l, 1e-5, 1.0);
                assert!((back - t).abs() < 1e-10, "{}: {t} vs {back}", sde.name());
            }
        }
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(Sde::from_name("vpp").is_err());
        assert!(Sde::vp(-1.0, 2.0).is_err());
        assert!(Sde::vp(3.0, 2.0).is_err());
        assert!(Sde::ve(0.0, 2.0).is_err());
        assert!(Sde::ve(2.0, 2.0).is_err());
        assert!(Sde::ve(f64::NAN, 2.0).is_err());
    }

    #[test]
    fn prior_density_is_normalised_gaussian() {
        let ve = Sde::ve(0.01, 50.0).unwrap();
        let want = -0.5 * (2.0 * std::f64::consts::PI * 2500.0).ln() - 0.5 * 9.0 / 2500.0;
        assert!((ve.prior_log_density(&[3.0]) - want).abs() < 1e-14);
    }
}
