//! Data laws with a closed-form optimal ε-predictor ε*(x_t) = E[ε | x_t] (spec §10.3).
//!
//! Each law implements [`EpsPredictor`] (so every sampler and estimator runs on exact scores)
//! and [`DataLaw`] (fresh data rows). With x_t = √ᾱ x_0 + √β̄ ε:
//!
//! | law | ε*(x_t) | Γ_t |
//! |---|---|---|
//! | [`Gaussian`] N(m, diag s²) | √β̄ (x_t − √ᾱ m)/v, v = ᾱ s² + β̄ | mean_i β̄/v_i (exact) |
//! | [`GaussianMixture`] | √β̄ Σ_k r_k(x_t)(x_t − √ᾱ m_k)/v_k, v_k = ᾱ s_k² + β̄ | Monte Carlo |
//! | [`Rademacher`] x_0 ∈ {−1, 1}^d | (x_t − √ᾱ tanh(√ᾱ x_t/β̄))/√β̄ | Gauss–Hermite |
//! | [`Empirical`] uniform on points p_k | Σ_k r_k(x_t)(x_t − √ᾱ p_k)/√β̄ | Monte Carlo |
//!
//! r_k are the posterior responsibilities of the components given x_t.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::{EpsPredictor, Error, NoiseLevel, Result};

/// A data distribution that can be sampled.
pub trait DataLaw {
    /// Dimension d of one row (named apart from [`EpsPredictor::dim`], which every law here
    /// also implements).
    fn data_dim(&self) -> usize;
    /// Fills `out` (a whole number of rows) with independent draws.
    fn sample_rows(&self, rng: &mut dyn rand::RngCore, out: &mut [f64]);
}

/// Returns (√ᾱ, β̄) of a noise level, or an error outside (0, 1).
fn level_parts(level: NoiseLevel) -> Result<(f64, f64)> {
    let ab = level.alpha_bar;
    if !(ab > 0.0 && ab < 1.0) {
        return Err(Error::Invalid {
            what: "noise level",
            msg: format!("ᾱ = {ab} is outside (0, 1)"),
        });
    }
    Ok((ab.sqrt(), 1.0 - ab))
}

fn check_batch(x_t: &[f64], eps: &[f64], d: usize) -> Result<()> {
    crate::sample::check_rows(x_t, d)?;
    if eps.len() != x_t.len() {
        return Err(Error::Invalid {
            what: "rows",
            msg: format!("output has {} values for {} inputs", eps.len(), x_t.len()),
        });
    }
    Ok(())
}

fn finite_all(what: &'static str, v: &[f64]) -> Result<()> {
    if let Some(bad) = v.iter().find(|x| !x.is_finite()) {
        return Err(Error::Invalid {
            what,
            msg: format!("{bad} is not a finite number"),
        });
    }
    Ok(())
}

/// Gaussian data N(mean, diag(var)).
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussian {
    mean: Vec<f64>,
    var: Vec<f64>,
}

impl Gaussian {
    /// N(mean, diag(var)).
    ///
    /// # Errors
    /// [`Error::Invalid`] for empty or mismatched vectors, non-finite values or var ≤ 0.
    pub fn new(mean: Vec<f64>, var: Vec<f64>) -> Result<Self> {
        finite_all("gaussian mean", &mean)?;
        finite_all("gaussian variance", &var)?;
        if mean.is_empty() || mean.len() != var.len() || var.iter().any(|&v| v <= 0.0) {
            return Err(Error::Invalid {
                what: "gaussian",
                msg: format!(
                    "needs equal-length non-empty mean and positive variance, got {} and {:?}",
                    mean.len(),
                    var
                ),
            });
        }
        Ok(Self { mean, var })
    }

    /// N(m·1, s²·I) in d dimensions.
    ///
    /// # Errors
    /// As [`Gaussian::new`].
    pub fn isotropic(dim: usize, mean: f64, var: f64) -> Result<Self> {
        Self::new(vec![mean; dim], vec![var; dim])
    }

    /// Per-coordinate means.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// Per-coordinate variances.
    pub fn var(&self) -> &[f64] {
        &self.var
    }

    /// ln p(x) of one row `x` (length d).
    pub fn log_density(&self, x: &[f64]) -> f64 {
        diag_gauss_log_density(x, &self.mean, &self.var)
    }

    /// Exact Γ = (1/d) Σ_i β̄/(ᾱ s_i² + β̄) at signal variance ᾱ.
    pub fn gamma(&self, alpha_bar: f64) -> f64 {
        let bb = 1.0 - alpha_bar;
        self.var
            .iter()
            .map(|s2| bb / (alpha_bar * s2 + bb))
            .sum::<f64>()
            / self.var.len() as f64
    }
}

impl EpsPredictor for Gaussian {
    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn predict_eps(&self, x_t: &[f64], level: NoiseLevel, eps: &mut [f64]) -> Result<()> {
        let d = self.mean.len();
        check_batch(x_t, eps, d)?;
        let (sa, bb) = level_parts(level)?;
        let sb = bb.sqrt();
        for (xr, er) in x_t.chunks(d).zip(eps.chunks_mut(d)) {
            for i in 0..d {
                let v = sa * sa * self.var[i] + bb;
                er[i] = sb * (xr[i] - sa * self.mean[i]) / v;
            }
        }
        Ok(())
    }

    /// ∂ε*/∂x_t = diag(√β̄ / v_i).
    fn eps_vjp(&self, x_t: &[f64], level: NoiseLevel, v: &[f64], out: &mut [f64]) -> Result<bool> {
        let d = self.mean.len();
        check_batch(x_t, out, d)?;
        check_batch(x_t, v, d)?;
        let (sa, bb) = level_parts(level)?;
        let sb = bb.sqrt();
        for (vr, or) in v.chunks(d).zip(out.chunks_mut(d)) {
            for i in 0..d {
                or[i] = sb * vr[i] / (sa * sa * self.var[i] + bb);
            }
        }
        Ok(true)
    }
}

impl DataLaw for Gaussian {
    fn data_dim(&self) -> usize {
        self.mean.len()
    }

    fn sample_rows(&self, rng: &mut dyn rand::RngCore, out: &mut [f64]) {
        let d = self.mean.len();
        for row in out.chunks_mut(d) {
            for (i, v) in row.iter_mut().enumerate() {
                let z: f64 = StandardNormal.sample(rng);
                *v = self.mean[i] + self.var[i].sqrt() * z;
            }
        }
    }
}

/// Components with diagonal covariances (variances may be 0 for point masses).
#[derive(Debug, Clone, PartialEq)]
struct Components {
    dim: usize,
    log_weights: Vec<f64>,
    /// K × d, row-major.
    means: Vec<f64>,
    /// K × d variances.
    vars: Vec<f64>,
}

impl Components {
    fn n(&self) -> usize {
        self.log_weights.len()
    }

    /// ln Σ_k w_k N(x; m_k, diag(v_k)) of one row, by log-sum-exp.
    fn log_density(&self, x: &[f64]) -> f64 {
        let d = self.dim;
        let logs: Vec<f64> = (0..self.n())
            .map(|k| {
                let rows = k * d..(k + 1) * d;
                self.log_weights[k]
                    + diag_gauss_log_density(x, &self.means[rows.clone()], &self.vars[rows])
            })
            .collect();
        let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        max + logs.iter().map(|l| (l - max).exp()).sum::<f64>().ln()
    }

    /// ε* for one batch (a numerical kernel over K components × d coordinates).
    #[allow(clippy::needless_range_loop)]
    fn predict(&self, x_t: &[f64], level: NoiseLevel, eps: &mut [f64]) -> Result<()> {
        let d = self.dim;
        check_batch(x_t, eps, d)?;
        let (sa, bb) = level_parts(level)?;
        let sb = bb.sqrt();
        let ab = sa * sa;
        let k_n = self.n();
        let mut logr = vec![0.0; k_n];
        for (xr, er) in x_t.chunks(d).zip(eps.chunks_mut(d)) {
            self.responsibilities(xr, sa, bb, &mut logr);
            er.fill(0.0);
            for (k, &w) in logr.iter().enumerate() {
                if w == 0.0 {
                    continue;
                }
                for i in 0..d {
                    let v = ab * self.vars[k * d + i] + bb;
                    er[i] += w * (xr[i] - sa * self.means[k * d + i]) / v;
                }
            }
            for e in er.iter_mut() {
                *e *= sb;
            }
        }
        Ok(())
    }

    /// Writes the posterior responsibilities r_k(x_t) of one row into `r` (length K).
    #[allow(clippy::needless_range_loop)] // K × d kernel over parallel arrays
    fn responsibilities(&self, xr: &[f64], sa: f64, bb: f64, r: &mut [f64]) {
        let d = self.dim;
        let ab = sa * sa;
        for (k, rk) in r.iter_mut().enumerate() {
            let mut acc = self.log_weights[k];
            for i in 0..d {
                let v = ab * self.vars[k * d + i] + bb;
                let diff = xr[i] - sa * self.means[k * d + i];
                acc -= 0.5 * (v.ln() + diff * diff / v);
            }
            *rk = acc;
        }
        let max = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut norm = 0.0;
        for l in r.iter_mut() {
            *l = (*l - max).exp();
            norm += *l;
        }
        for l in r.iter_mut() {
            *l /= norm;
        }
    }

    /// Posterior moments of the noise per coordinate: writes E[ε | x_t] into `m1` and
    /// E[ε⊙ε | x_t] into `m2`. Given component k, ε is Gaussian with mean
    /// √β̄ (x_t − √ᾱ m_k)/v_k and variance ᾱ s_k²/v_k, so the mixture's second moment is
    /// Σ_k r_k (mean_k² + ᾱ s_k²/v_k) (used by the `covariance` heads).
    #[allow(clippy::needless_range_loop)]
    pub(crate) fn eps_moments(
        &self,
        x_t: &[f64],
        level: NoiseLevel,
        m1: &mut [f64],
        m2: &mut [f64],
    ) -> Result<()> {
        let d = self.dim;
        check_batch(x_t, m1, d)?;
        check_batch(x_t, m2, d)?;
        let (sa, bb) = level_parts(level)?;
        let (sb, ab) = (bb.sqrt(), sa * sa);
        let mut r = vec![0.0; self.n()];
        for ((xr, r1), r2) in x_t.chunks(d).zip(m1.chunks_mut(d)).zip(m2.chunks_mut(d)) {
            self.responsibilities(xr, sa, bb, &mut r);
            r1.fill(0.0);
            r2.fill(0.0);
            for (k, &w) in r.iter().enumerate() {
                if w == 0.0 {
                    continue;
                }
                for i in 0..d {
                    let s2 = self.vars[k * d + i];
                    let v = ab * s2 + bb;
                    let mean = sb * (xr[i] - sa * self.means[k * d + i]) / v;
                    r1[i] += w * mean;
                    r2[i] += w * (mean * mean + ab * s2 / v);
                }
            }
        }
        Ok(())
    }

    /// vᵀ ∂ε*/∂x_t. With u_k = (x_t − √ᾱ m_k)/v_k and ū = Σ_k r_k u_k, the Jacobian is the
    /// symmetric matrix √β̄ [Σ_k r_k diag(1/v_k) − Σ_k r_k u_k u_kᵀ + ū ūᵀ] (∂r_k/∂x = −r_k(u_k − ū)).
    #[allow(clippy::needless_range_loop)]
    fn vjp(&self, x_t: &[f64], level: NoiseLevel, v: &[f64], out: &mut [f64]) -> Result<()> {
        let d = self.dim;
        check_batch(x_t, out, d)?;
        check_batch(x_t, v, d)?;
        let (sa, bb) = level_parts(level)?;
        let ab = sa * sa;
        let mut r = vec![0.0; self.n()];
        let mut u = vec![0.0; d];
        let mut u_bar = vec![0.0; d];
        for ((xr, vr), or) in x_t.chunks(d).zip(v.chunks(d)).zip(out.chunks_mut(d)) {
            self.responsibilities(xr, sa, bb, &mut r);
            or.fill(0.0);
            u_bar.fill(0.0);
            for (k, &w) in r.iter().enumerate() {
                if w == 0.0 {
                    continue;
                }
                let mut u_dot_v = 0.0;
                for i in 0..d {
                    let var = ab * self.vars[k * d + i] + bb;
                    u[i] = (xr[i] - sa * self.means[k * d + i]) / var;
                    u_dot_v += u[i] * vr[i];
                    or[i] += w * vr[i] / var;
                    u_bar[i] += w * u[i];
                }
                for i in 0..d {
                    or[i] -= w * u[i] * u_dot_v;
                }
            }
            let ub_dot_v: f64 = u_bar.iter().zip(vr).map(|(a, b)| a * b).sum();
            let sb = bb.sqrt();
            for i in 0..d {
                or[i] = sb * (or[i] + u_bar[i] * ub_dot_v);
            }
        }
        Ok(())
    }

    fn sample_rows(&self, rng: &mut dyn rand::RngCore, out: &mut [f64]) {
        let d = self.dim;
        let weights: Vec<f64> = self.log_weights.iter().map(|l| l.exp()).collect();
        for row in out.chunks_mut(d) {
            let mut u: f64 = rng.random::<f64>() * weights.iter().sum::<f64>();
            let mut k = weights.len() - 1;
            for (j, w) in weights.iter().enumerate() {
                if u < *w {
                    k = j;
                    break;
                }
                u -= w;
            }
            for (i, v) in row.iter_mut().enumerate() {
                let z: f64 = StandardNormal.sample(rng);
                *v = self.means[k * d + i] + self.vars[k * d + i].sqrt() * z;
            }
        }
    }
}

/// A mixture of Gaussians with diagonal covariances.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianMixture {
    comps: Components,
}

impl GaussianMixture {
    /// Mixture with `weights` (normalised here), component `means` and per-coordinate `stds`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for no components, ragged or empty rows, non-finite values,
    /// weights ≤ 0 or stds ≤ 0.
    pub fn new(weights: Vec<f64>, means: Vec<Vec<f64>>, stds: Vec<Vec<f64>>) -> Result<Self> {
        let bad = |msg: String| Error::Invalid { what: "gmm", msg };
        if weights.is_empty() || weights.len() != means.len() || weights.len() != stds.len() {
            return Err(bad(format!(
                "needs the same number (≥ 1) of weights, means and stds, got {}, {}, {}",
                weights.len(),
                means.len(),
                stds.len()
            )));
        }
        let dim = means[0].len();
        if dim == 0 || means.iter().chain(&stds).any(|r| r.len() != dim) {
            return Err(bad(
                "every mean and std row must have the same length ≥ 1".to_string()
            ));
        }
        finite_all("gmm weights", &weights)?;
        for r in means.iter().chain(&stds) {
            finite_all("gmm parameters", r)?;
        }
        if let Some(w) = weights.iter().find(|&&w| w <= 0.0) {
            return Err(bad(format!("weight {w} is not positive")));
        }
        if let Some(s) = stds.iter().flatten().find(|&&s| s <= 0.0) {
            return Err(bad(format!("std {s} is not positive")));
        }
        let total: f64 = weights.iter().sum();
        Ok(Self {
            comps: Components {
                dim,
                log_weights: weights.iter().map(|w| (w / total).ln()).collect(),
                means: means.into_iter().flatten().collect(),
                vars: stds.into_iter().flatten().map(|s| s * s).collect(),
            },
        })
    }

    /// The laboratory's default: `n_modes` equal-weight isotropic components of std `std`,
    /// means evenly spaced on the circle of radius `radius` in 2-D.
    ///
    /// # Errors
    /// As [`GaussianMixture::new`].
    pub fn ring(n_modes: usize, radius: f64, std: f64) -> Result<Self> {
        let means = (0..n_modes)
            .map(|k| {
                let a = 2.0 * std::f64::consts::PI * k as f64 / n_modes as f64;
                vec![radius * a.cos(), radius * a.sin()]
            })
            .collect();
        Self::new(vec![1.0; n_modes], means, vec![vec![std; 2]; n_modes])
    }

    /// Number of components.
    pub fn n_components(&self) -> usize {
        self.comps.n()
    }

    /// ln p(x) of one row `x` (length d).
    pub fn log_density(&self, x: &[f64]) -> f64 {
        self.comps.log_density(x)
    }

    /// Γ = E ε*(x_t)² at signal variance ᾱ ∈ (0, 1) of a 1-D mixture by quadrature:
    /// ∫ p_t(x) ε*(x)² dx by composite 8-point Gauss–Legendre on panels no wider than half
    /// the narrowest component's std at ᾱ, over every component's ±12 std (within 1e-11 of
    /// 30-digit mpmath values, `tests/it/gamma.rs`). `None` for d ≥ 2: product rules
    /// converge only algebraically there (the responsibilities switch sharply between
    /// separated modes; 64² Gauss–Hermite nodes per component miss by 2e-4 on a 2-D product
    /// law), so [`crate::laws::Law::gamma`] estimates Γ by Monte Carlo on the exact
    /// posterior variance instead ([`crate::analytic::estimate_gamma_posterior`]).
    ///
    /// # Errors
    /// [`Error::Invalid`] for ᾱ outside (0, 1), or a mixture needing more than 5·10⁶ panels.
    pub fn gamma(&self, alpha_bar: f64) -> Result<Option<f64>> {
        let (sa, bb) = level_parts(NoiseLevel { t: 0.0, alpha_bar })?;
        if self.comps.dim != 1 {
            return Ok(None);
        }
        Ok(Some(self.gamma_1d(sa, bb)?))
    }

    /// Γ of a 1-D mixture: ∫ p_t ε*² dx by composite Gauss–Legendre
    /// ([`GaussianMixture::gamma`]).
    #[allow(clippy::needless_range_loop)] // K-component kernel over parallel arrays
    fn gamma_1d(&self, sa: f64, bb: f64) -> Result<f64> {
        let c = &self.comps;
        let ab = sa * sa;
        let sb = bb.sqrt();
        let k_n = c.n();
        let centre: Vec<f64> = c.means.iter().map(|m| sa * m).collect();
        let var: Vec<f64> = c.vars.iter().map(|s2| ab * s2 + bb).collect();
        let sd: Vec<f64> = var.iter().map(|v| v.sqrt()).collect();
        let lo = (0..k_n)
            .map(|k| centre[k] - 12.0 * sd[k])
            .fold(f64::INFINITY, f64::min);
        let hi = (0..k_n)
            .map(|k| centre[k] + 12.0 * sd[k])
            .fold(f64::NEG_INFINITY, f64::max);
        let h_max = 0.5 * sd.iter().copied().fold(f64::INFINITY, f64::min);
        let panels = ((hi - lo) / h_max).ceil().max(1.0);
        if panels > 5e6 {
            return Err(Error::Invalid {
                what: "gmm",
                msg: format!(
                    "Γ quadrature needs {panels:.0} panels (components too narrow for their \
                     spread)"
                ),
            });
        }
        let panels = panels as usize;
        let h = (hi - lo) / panels as f64;
        let (gx, gw) = crate::quadrature::gauss_legendre(8);
        let log_c: Vec<f64> = (0..k_n)
            .map(|k| c.log_weights[k] - 0.5 * (2.0 * std::f64::consts::PI * var[k]).ln())
            .collect();
        let mut lr = vec![0.0; k_n];
        let mut total_int = 0.0;
        for p in 0..panels {
            let mid = lo + (p as f64 + 0.5) * h;
            let mut acc = 0.0;
            for (&u, &w) in gx.iter().zip(&gw) {
                let x = mid + 0.5 * h * u;
                let mut max = f64::NEG_INFINITY;
                for k in 0..k_n {
                    let diff = x - centre[k];
                    lr[k] = log_c[k] - 0.5 * diff * diff / var[k];
                    max = max.max(lr[k]);
                }
                // p(x) = e^max Σ e^{lr−max}; ε* = √β̄ Σ r_k (x − c_k)/v_k.
                let (mut z, mut num) = (0.0, 0.0);
                for k in 0..k_n {
                    let r = (lr[k] - max).exp();
                    z += r;
                    num += r * (x - centre[k]) / var[k];
                }
                let eps = sb * num / z;
                acc += w * max.exp() * z * eps * eps;
            }
            total_int += 0.5 * h * acc;
        }
        Ok(total_int)
    }
}

/// The uniform law on a finite point set (the optimum of a network trained on that set).
#[derive(Debug, Clone, PartialEq)]
pub struct Empirical {
    comps: Components,
}

impl Empirical {
    /// Uniform law on the rows of `points` (n × `dim`).
    ///
    /// # Errors
    /// [`Error::Invalid`] for no points, ragged rows or non-finite values.
    pub fn new(points: Vec<f64>, dim: usize) -> Result<Self> {
        crate::sample::check_rows(&points, dim)?;
        finite_all("points", &points)?;
        let n = points.len() / dim;
        Ok(Self {
            comps: Components {
                dim,
                log_weights: vec![-(n as f64).ln(); n],
                vars: vec![0.0; points.len()],
                means: points,
            },
        })
    }
}

/// ln N(x; m, diag(v)) of one row.
fn diag_gauss_log_density(x: &[f64], m: &[f64], v: &[f64]) -> f64 {
    const LN_2PI: f64 = 1.837_877_066_409_345_3;
    x.iter()
        .zip(m)
        .zip(v)
        .map(|((x, m), v)| -0.5 * (LN_2PI + v.ln() + (x - m).powi(2) / v))
        .sum()
}

/// Both laws backed by [`Components`] (a mixture, or a mixture of point masses) predict ε and
/// sample through it.
macro_rules! components_law {
    ($($law:ty),*) => {$(
        impl EpsPredictor for $law {
            fn dim(&self) -> usize {
                self.comps.dim
            }

            fn predict_eps(&self, x_t: &[f64], level: NoiseLevel, eps: &mut [f64]) -> Result<()> {
                self.comps.predict(x_t, level, eps)
            }

            fn eps_vjp(
                &self,
                x_t: &[f64],
                level: NoiseLevel,
                v: &[f64],
                out: &mut [f64],
            ) -> Result<bool> {
                self.comps.vjp(x_t, level, v, out)?;
                Ok(true)
            }
        }

        impl DataLaw for $law {
            fn data_dim(&self) -> usize {
                self.comps.dim
            }

            fn sample_rows(&self, rng: &mut dyn rand::RngCore, out: &mut [f64]) {
                self.comps.sample_rows(rng, out)
            }
        }
    )*};
}

components_law!(GaussianMixture, Empirical);

impl GaussianMixture {
    /// E[ε | x_t] and E[ε⊙ε | x_t] per coordinate (see `Components::eps_moments`).
    pub(crate) fn eps_moments(
        &self,
        x_t: &[f64],
        level: NoiseLevel,
        m1: &mut [f64],
        m2: &mut [f64],
    ) -> Result<()> {
        self.comps.eps_moments(x_t, level, m1, m2)
    }
}

/// Independent Rademacher coordinates: x_0 ∈ {−1, +1}^d uniformly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rademacher {
    dim: usize,
}

impl Rademacher {
    /// d independent ±1 coordinates.
    ///
    /// # Errors
    /// [`Error::Invalid`] for d = 0.
    pub fn new(dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::Invalid {
                what: "rademacher",
                msg: "dimension must be ≥ 1".to_string(),
            });
        }
        Ok(Self { dim })
    }

    /// ε* of one coordinate.
    fn eps1(sa: f64, bb: f64, x: f64) -> f64 {
        (x - sa * (sa * x / bb).tanh()) / bb.sqrt()
    }

    /// Γ at signal variance ᾱ ∈ (0, 1) by `n_nodes`-point Gauss–Hermite quadrature of
    /// E_ε[ε*(√ᾱ + √β̄ ε)²] (by symmetry x_0 = +1 suffices).
    pub fn gamma(alpha_bar: f64, n_nodes: usize) -> f64 {
        Self::gamma_with(&crate::quadrature::GaussHermite::new(n_nodes), alpha_bar)
    }

    /// Γ at ᾱ with a quadrature rule computed once (the same value as [`Rademacher::gamma`]
    /// with that rule's number of nodes).
    pub fn gamma_with(rule: &crate::quadrature::GaussHermite, alpha_bar: f64) -> f64 {
        let (sa, bb) = (alpha_bar.sqrt(), 1.0 - alpha_bar);
        rule.expect(|e| {
            let v = Self::eps1(sa, bb, sa + bb.sqrt() * e);
            v * v
        })
    }
}

impl EpsPredictor for Rademacher {
    fn dim(&self) -> usize {
        self.dim
    }

    fn predict_eps(&self, x_t: &[f64], level: NoiseLevel, eps: &mut [f64]) -> Result<()> {
        check_batch(x_t, eps, self.dim)?;
        let (sa, bb) = level_parts(level)?;
        for (x, e) in x_t.iter().zip(eps.iter_mut()) {
            *e = Self::eps1(sa, bb, *x);
        }
        Ok(())
    }

    /// Diagonal: ∂ε*/∂x = (1 − (ᾱ/β̄) sech²(√ᾱ x/β̄))/√β̄.
    fn eps_vjp(&self, x_t: &[f64], level: NoiseLevel, v: &[f64], out: &mut [f64]) -> Result<bool> {
        check_batch(x_t, out, self.dim)?;
        check_batch(x_t, v, self.dim)?;
        let (sa, bb) = level_parts(level)?;
        for ((x, vi), o) in x_t.iter().zip(v).zip(out.iter_mut()) {
            let th = (sa * x / bb).tanh();
            *o = vi * (1.0 - sa * sa / bb * (1.0 - th * th)) / bb.sqrt();
        }
        Ok(true)
    }
}

impl DataLaw for Rademacher {
    fn data_dim(&self) -> usize {
        self.dim
    }

    fn sample_rows(&self, rng: &mut dyn rand::RngCore, out: &mut [f64]) {
        for v in out {
            *v = if rng.random::<bool>() { 1.0 } else { -1.0 };
        }
    }
}

/// Draws `rows` rows from `law` with a generic rng.
pub fn sample_law<L: DataLaw + ?Sized, R: Rng>(law: &L, rng: &mut R, rows: usize) -> Vec<f64> {
    let mut out = vec![0.0; rows * law.data_dim()];
    law.sample_rows(rng, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(ab: f64) -> NoiseLevel {
        NoiseLevel {
            t: 0.0,
            alpha_bar: ab,
        }
    }

    #[test]
    fn one_component_mixture_equals_gaussian() {
        // Same formula through the responsibility path; 1e-14 relative.
        let g = Gaussian::new(vec![0.5, -1.0], vec![0.09, 2.0]).unwrap();
        let m = GaussianMixture::new(
            vec![3.0],
            vec![vec![0.5, -1.0]],
            vec![vec![0.3, 2f64.sqrt()]],
        )
        .unwrap();
        // Density at the mean: −½ Σ (ln 2π + ln v_i), the same through both laws.
        let at_mean = -0.5 * (2.0 * (2.0 * std::f64::consts::PI).ln() + 0.09f64.ln() + 2f64.ln());
        for x in [[0.5, -1.0], [1.7, 0.3]] {
            let (a, b) = (g.log_density(&x), m.log_density(&x));
            assert!(
                (a - b).abs() <= 1e-14 * a.abs().max(1.0),
                "log density {a} vs {b}"
            );
        }
        let a = g.log_density(&[0.5, -1.0]);
        assert!(
            (a - at_mean).abs() <= 1e-14 * at_mean.abs(),
            "{a} vs {at_mean}"
        );
        let x = [0.1, 0.2, -3.0, 4.0];
        let (mut e1, mut e2) = ([0.0; 4], [0.0; 4]);
        for ab in [0.999, 0.5, 1e-4] {
            g.predict_eps(&x, level(ab), &mut e1).unwrap();
            m.predict_eps(&x, level(ab), &mut e2).unwrap();
            for i in 0..4 {
                assert!(
                    (e1[i] - e2[i]).abs() <= 1e-13 * e1[i].abs().max(1.0),
                    "{ab}: {e1:?} {e2:?}"
                );
            }
        }
    }

    #[test]
    fn two_point_empirical_equals_rademacher() {
        // {−1, +1} uniformly is the 1-D Rademacher law; 1e-12 absolute.
        let e = Empirical::new(vec![-1.0, 1.0], 1).unwrap();
        let r = Rademacher::new(1).unwrap();
        let x = [-2.0, -0.3, 0.0, 0.7, 3.0];
        let (mut a, mut b) = ([0.0; 5], [0.0; 5]);
        for ab in [0.99, 0.6, 0.01] {
            e.predict_eps(&x, level(ab), &mut a).unwrap();
            r.predict_eps(&x, level(ab), &mut b).unwrap();
            for i in 0..5 {
                assert!((a[i] - b[i]).abs() < 1e-12, "{ab}: {a:?} {b:?}");
            }
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Gaussian::new(vec![0.0], vec![0.0]).is_err());
        assert!(Gaussian::new(vec![f64::NAN], vec![1.0]).is_err());
        assert!(GaussianMixture::new(vec![], vec![], vec![]).is_err());
        assert!(GaussianMixture::new(vec![1.0], vec![vec![0.0]], vec![vec![0.0]]).is_err());
        assert!(GaussianMixture::new(vec![-1.0], vec![vec![0.0]], vec![vec![1.0]]).is_err());
        assert!(GaussianMixture::new(vec![1.0], vec![vec![0.0, 1.0]], vec![vec![1.0]]).is_err());
        assert!(Empirical::new(vec![1.0, 2.0, 3.0], 2).is_err());
        assert!(Rademacher::new(0).is_err());
        let g = Gaussian::isotropic(1, 0.0, 1.0).unwrap();
        let mut e = [0.0];
        assert!(g.predict_eps(&[0.0], level(1.0), &mut e).is_err());
        assert!(g.predict_eps(&[0.0, 1.0], level(0.5), &mut e).is_err());
    }
}
