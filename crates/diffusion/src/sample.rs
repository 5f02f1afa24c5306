//! The one sampling loop: applies a list of [`Step`]s to a batch of f64 rows with any
//! [`EpsPredictor`], plus exact variance propagation for affine (Gaussian) predictors.
//!
//! States are batches of flat rows: `x.len() == batch * predictor.dim()`.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::{EpsPredictor, Error, Result, Step};

/// Fills `x` with i.i.d. N(0, 1) draws (the usual x_N).
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R, x: &mut [f64]) {
    for v in x {
        *v = StandardNormal.sample(rng);
    }
}

/// Runs `steps` in order on the batch `x` (overwritten with the result).
///
/// Each step queries the predictor once on the whole batch at `step.level()`, then sets
/// x ← coef_xt·x + coef_x0·x̂_0 + coef_eps·ε̂ + √variance·z. No noise is drawn for a step
/// with variance 0. `on_step(i)` is called after `steps[i]`.
///
/// # Errors
/// [`Error::Invalid`] when `x` is empty or not a multiple of the predictor's dimension;
/// the predictor's own errors.
pub fn sample<P, R>(
    predictor: &P,
    steps: &[Step],
    x: &mut [f64],
    rng: &mut R,
    on_step: &mut dyn FnMut(usize),
) -> Result<()>
where
    P: EpsPredictor + ?Sized,
    R: Rng + ?Sized,
{
    run_steps(predictor, steps, x, rng, on_step, None)
}

/// Per-coordinate reverse variances: called as `hook(i, &steps[i], x_t, ε̂, var)` before the
/// update of step i, it writes one σ² per value of the batch into `var` (same length as
/// `x_t`). Used by the state-dependent covariance samplers (`covariance`).
pub type VarianceHook<'a> = dyn FnMut(usize, &Step, &[f64], &[f64], &mut [f64]) -> Result<()> + 'a;

/// [`sample`] with the scalar `step.variance` replaced by per-coordinate variances from
/// `variance` (the mean still comes from the step's coefficients). No noise is drawn for a
/// coordinate with variance 0.
///
/// # Errors
/// As [`sample`], and the hook's own errors.
pub fn sample_with_variance<P, R>(
    predictor: &P,
    steps: &[Step],
    x: &mut [f64],
    rng: &mut R,
    on_step: &mut dyn FnMut(usize),
    variance: &mut VarianceHook<'_>,
) -> Result<()>
where
    P: EpsPredictor + ?Sized,
    R: Rng + ?Sized,
{
    run_steps(predictor, steps, x, rng, on_step, Some(variance))
}

/// The loop behind [`sample`] and [`sample_with_variance`].
fn run_steps<P, R>(
    predictor: &P,
    steps: &[Step],
    x: &mut [f64],
    rng: &mut R,
    on_step: &mut dyn FnMut(usize),
    mut hook: Option<&mut VarianceHook<'_>>,
) -> Result<()>
where
    P: EpsPredictor + ?Sized,
    R: Rng + ?Sized,
{
    check_rows(x, predictor.dim())?;
    let mut eps = vec![0.0; x.len()];
    let mut var = if hook.is_some() {
        vec![0.0; x.len()]
    } else {
        Vec::new()
    };
    for (i, step) in steps.iter().enumerate() {
        predictor.predict_eps(x, step.level(), &mut eps)?;
        let step_sigma = step.variance.max(0.0).sqrt();
        if let Some(h) = hook.as_deref_mut() {
            h(i, step, x, &eps, &mut var)?;
        }
        for (j, (xi, &ei)) in x.iter_mut().zip(&eps).enumerate() {
            let mean = step.mean(*xi, ei);
            let sigma = if hook.is_some() {
                var[j].max(0.0).sqrt()
            } else {
                step_sigma
            };
            *xi = if sigma > 0.0 {
                let z: f64 = StandardNormal.sample(rng);
                mean + sigma * z
            } else {
                mean
            };
        }
        on_step(i);
    }
    Ok(())
}

/// Mean and variance of one coordinate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// Mean.
    pub mean: f64,
    /// Variance.
    pub var: f64,
}

/// Propagates independent per-coordinate Gaussian moments exactly through `steps`.
///
/// Valid when the predictor is affine in each coordinate separately (the exact ε* of a
/// Gaussian with diagonal covariance) and x̂_0 is not clipped: each step is then
/// x_s = A x_t + B + σ z, so mean ← A·mean + B and var ← A²·var + σ². A and B are read off the
/// step map at x = 0 and x = 1, and x = 2 checks that the map is affine.
///
/// # Errors
/// [`Error::Invalid`] when `start.len() != predictor.dim()` or the step map is not affine
/// (relative mismatch above 1e-9); the predictor's own errors.
pub fn propagate_gaussian<P>(
    predictor: &P,
    steps: &[Step],
    start: &[Moments],
) -> Result<Vec<Moments>>
where
    P: EpsPredictor + ?Sized,
{
    let d = predictor.dim();
    if start.len() != d {
        return Err(Error::Invalid {
            what: "moments",
            msg: format!("got {} coordinates for dimension {d}", start.len()),
        });
    }
    let mut out = start.to_vec();
    let mut x = vec![0.0; 3 * d];
    let mut eps = vec![0.0; 3 * d];
    for step in steps {
        for (row, v) in [0.0, 1.0, 2.0].into_iter().enumerate() {
            x[row * d..(row + 1) * d].fill(v);
        }
        predictor.predict_eps(&x, step.level(), &mut eps)?;
        for (j, m) in out.iter_mut().enumerate() {
            let f = |row: usize| step.mean(x[row * d + j], eps[row * d + j]);
            let (f0, f1, f2) = (f(0), f(1), f(2));
            let (a, b) = (f1 - f0, f0);
            if (f2 - (2.0 * a + b)).abs() > 1e-9 * (f2.abs() + a.abs() + b.abs()).max(1e-300) {
                return Err(Error::Invalid {
                    what: "moments",
                    msg: format!("the step ({}, {}) is not affine in x_t", step.s, step.t),
                });
            }
            m.mean = a * m.mean + b;
            m.var = a * a * m.var + step.variance.max(0.0);
        }
    }
    Ok(out)
}

/// Checks that `x` holds at least one row of `dim` values.
pub(crate) fn check_rows(x: &[f64], dim: usize) -> Result<()> {
    if dim == 0 || x.is_empty() || !x.len().is_multiple_of(dim) {
        return Err(Error::Invalid {
            what: "rows",
            msg: format!(
                "{} values are not a non-empty batch of rows of dimension {dim}",
                x.len()
            ),
        });
    }
    Ok(())
}
