//! The ε-predictor interface shared by exact denoisers and neural networks.
//!
//! Every sampler, Γ estimator and likelihood routine takes `&dyn EpsPredictor` (or a generic
//! `P: EpsPredictor`), so the same code runs on the closed-form ε* of the laboratory and on a
//! trained network. States are batches of flat f64 rows: `x_t.len() == batch * dim()`.

use crate::Result;

/// The noise level at which a predictor is queried.
///
/// `t` is the model's time input on the discrete scale (1..=N for DDPM-style models; continuous
/// samplers pass `t_cont * N`); `alpha_bar` is ᾱ at that time (signal variance, so
/// x_t = √ᾱ x_0 + √(1−ᾱ) ε). Networks read `t`; exact predictors read `alpha_bar`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseLevel {
    /// Model time on the discrete scale.
    pub t: f64,
    /// ᾱ at that time, in (0, 1].
    pub alpha_bar: f64,
}

/// Predicts the noise ε of x_t = √ᾱ x_0 + √(1−ᾱ) ε (the optimum is ε*(x_t) = E[ε | x_t]).
pub trait EpsPredictor {
    /// Data dimension d (length of one row).
    fn dim(&self) -> usize;

    /// Writes ε̂(x_t) for a batch of rows into `eps` (same length as `x_t`).
    ///
    /// # Errors
    /// Implementation-defined (a network may fail); exact predictors never fail.
    fn predict_eps(&self, x_t: &[f64], level: NoiseLevel, eps: &mut [f64]) -> Result<()>;

    /// Vector–Jacobian product of ε̂ in x_t: writes vᵀ(∂ε̂/∂x_t) for each row of `x_t` (with
    /// that row's `v`) into `out` and returns `Ok(true)`, or returns `Ok(false)` without
    /// touching `out` when the predictor has no derivative (the default). Exact divergences of
    /// the probability-flow ODE (`likelihood`) use it; callers fall back to finite differences
    /// when it is missing.
    ///
    /// # Errors
    /// As [`EpsPredictor::predict_eps`].
    fn eps_vjp(&self, x_t: &[f64], level: NoiseLevel, v: &[f64], out: &mut [f64]) -> Result<bool> {
        let _ = (x_t, level, v, out);
        Ok(false)
    }
}
