//! The ε-predictor as a function of continuous time ([`ScoreModel`]) and the re-timing of a
//! network trained on a discrete schedule ([`Retimed`]).

use crate::sde::Sde;
use crate::{EpsPredictor, Error, NoiseLevel, Result};

/// The ε-predictor seen as a function of continuous time, with an NFE counter and budget.
pub struct ScoreModel<'a> {
    predictor: &'a dyn EpsPredictor,
    sde: &'a Sde,
    nfe: usize,
    max_nfe: usize,
    /// Step index reported in errors.
    step: usize,
    scaled: Vec<f64>,
}

impl<'a> ScoreModel<'a> {
    /// Wraps `predictor` for `sde`, allowing at most `max_nfe` evaluations.
    pub fn new(predictor: &'a dyn EpsPredictor, sde: &'a Sde, max_nfe: usize) -> Self {
        Self {
            predictor,
            sde,
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
        let (c, level) = self.sde.eps_input(t);
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
        let (c, level) = self.sde.eps_input(t);
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

/// An ε-predictor whose implied x̂_0 = (x − √(1−ᾱ) ε̂)/√ᾱ is clipped to [lo, hi]: it returns
/// ε̂' = (x − √ᾱ clip(x̂_0))/√(1−ᾱ), the ε of the clipped data prediction. For bounded data
/// this is the continuous samplers' counterpart of the discrete samplers' x̂_0 clip (and of
/// the static thresholding of diffusers' DPM-Solver++), so ODE/SDE samples stay near the
/// data range. Exact derivatives are not available through the clip.
pub struct ClippedX0<'a> {
    inner: &'a dyn EpsPredictor,
    lo: f64,
    hi: f64,
}

impl<'a> ClippedX0<'a> {
    /// Wraps `inner` with the clip [lo, hi].
    pub fn new(inner: &'a dyn EpsPredictor, lo: f64, hi: f64) -> Self {
        Self { inner, lo, hi }
    }
}

impl EpsPredictor for ClippedX0<'_> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn predict_eps(&self, x_t: &[f64], level: NoiseLevel, eps: &mut [f64]) -> Result<()> {
        self.inner.predict_eps(x_t, level, eps)?;
        let ab = level.alpha_bar;
        let (sa, sb) = (ab.sqrt(), (1.0 - ab).sqrt());
        if !(sa > 0.0 && sb > 0.0) {
            return Ok(());
        }
        for (e, &x) in eps.iter_mut().zip(x_t) {
            let x0 = ((x - sb * *e) / sa).clamp(self.lo, self.hi);
            *e = (x - sa * x0) / sb;
        }
        Ok(())
    }
}
