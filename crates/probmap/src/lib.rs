//! Probability maps from reparameterisation: add i.i.d. noise to the scores, take the argmax.
//!
//! For scores `mu ∈ R^n`, a noise family with density f and cdf F, and a scale τ > 0,
//!
//! ```text
//! p_i = P( argmax_j (mu_j + τ eps_j) = i ) = ∫ f(x − mu_i) Π_{j≠i} F(x − mu_j) dx   (τ = 1)
//! ```
//!
//! (Su Jianlin, "Building discrete distributions from the reparameterization viewpoint",
//! kexue.fm/archives/9085, 2022). Gumbel noise gives exactly softmax; any other noise gives
//! another map that is ≥ 0, sums to 1, is invariant to `mu + c`, and keeps the order of `mu`
//! (strictly only for noise unbounded on at least one side). The crate evaluates the map
//! exactly for seven families ([`Family`]: Gumbel, Gauss, logistic, Laplace, uniform,
//! exponential, Student-t(ν)), with closed forms where they exist ([`closed`]), shared-node
//! quadrature in O(n·Q) otherwise ([`Quadrature`]), the article's K-point rule ([`KPoint`]),
//! the exact Jacobian and fast Jacobian-vector products, perturb-and-argmax sampling, and
//! (feature `candle`, on by default) a candle op that can replace softmax in a model
//! ([`candle_op`]).
//!
//! It does not fit noise families to data and has no f32 quadrature path (inputs are f64;
//! the candle op converts at the boundary). Accuracy is absolute (≤ 1e-12 per p_i with the
//! default [`QuadConfig::ACCURATE`]), not relative: a p_i of 1e-30 is returned with an absolute
//! error, so its logarithm may be inaccurate.
//!
//! Tests: `cargo test --release -p probmap` (about 40 s on two cores; there is no slow tier).
//! The golden values in `tests/data/reference.tsv` come from `scripts/reference.py` (mpmath,
//! 30 digits). Digits example: `cargo run --release -p probmap --example digits`. Benchmark:
//! `cargo bench -p probmap --bench probmap`.
//!
//! ```
//! use probmap::{Family, Map};
//!
//! let map = Map::new(Family::Gauss, 1.0)?;
//! let p = map.probs(&[1.0, 2.0, 3.0])?;
//! // mpmath, 30 digits: 0.047150679919088443465, 0.22409830478044240956, 0.72875101530046914698
//! assert!((p[2] - 0.728_751_015_300_469_1).abs() < 1e-12);
//! let softmax = Map::new(Family::Gumbel, 1.0)?.probs(&[1.0, 2.0, 3.0])?;
//! assert!((softmax[2] - 0.665_240_955_774_821_9).abs() < 1e-15);
//! # Ok::<(), probmap::Error>(())
//! ```
#![warn(missing_docs)]

#[cfg(feature = "candle")]
pub mod candle_op;
pub mod closed;
mod error;
mod exact;
mod gauss_legendre;
mod kpoint;
pub mod noise;
pub mod special;

use rand::SeedableRng;
use rand::rngs::StdRng;

pub use error::{Error, Result};
pub use exact::{Evaluation, Grading, QuadConfig, Quadrature};
pub use gauss_legendre::GaussLegendre;
pub use kpoint::KPoint;
pub use noise::{Family, Noise};

use noise::open_unit;

use error::check_finite;

/// A probability map: a noise family, a scale τ and the quadrature settings.
///
/// `p(mu; τ) = p(mu/τ; 1)` and `J(mu; τ) = J(mu/τ; 1)/τ`.
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    family: Family,
    scale: f64,
    quad: Quadrature,
}

impl Map {
    /// Largest n for which [`Map::jacobian`] builds the n × n matrix (128 MiB of f64).
    pub const MAX_JACOBIAN: usize = 4096;

    /// The map for `family` with scale (temperature) `scale`, at the default accuracy
    /// ([`QuadConfig::ACCURATE`], ≤ 1e-12 absolute).
    ///
    /// # Errors
    /// [`Error::InvalidScale`] unless `scale` is positive and finite.
    pub fn new(family: Family, scale: f64) -> Result<Self> {
        Self::with_config(family, scale, QuadConfig::ACCURATE)
    }

    /// As [`Map::new`] with explicit quadrature settings.
    ///
    /// # Errors
    /// [`Error::InvalidScale`], [`Error::InvalidConfig`].
    pub fn with_config(family: Family, scale: f64, config: QuadConfig) -> Result<Self> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(Error::InvalidScale { value: scale });
        }
        Ok(Self {
            family,
            scale,
            quad: Quadrature::new(config)?,
        })
    }

    /// The noise family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The scale τ.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The quadrature engine.
    pub fn quadrature_engine(&self) -> &Quadrature {
        &self.quad
    }

    fn scaled(&self, mu: &[f64]) -> Result<Vec<f64>> {
        check_finite("mu", mu)?;
        let s: Vec<f64> = mu.iter().map(|&m| m / self.scale).collect();
        // mu/τ can overflow for tiny τ
        if let Some(index) = s.iter().position(|x| !x.is_finite()) {
            return Err(Error::ScaledOverflow {
                index,
                value: mu[index],
                scale: self.scale,
            });
        }
        Ok(s)
    }

    /// p: closed form where one exists (Gumbel: softmax), shared-node quadrature otherwise.
    ///
    /// # Errors
    /// [`Error::EmptyInput`], [`Error::NonFinite`], [`Error::ScaledOverflow`].
    pub fn probs(&self, mu: &[f64]) -> Result<Vec<f64>> {
        let s = self.scaled(mu)?;
        Ok(match self.family {
            Family::Gumbel => closed::softmax(&s),
            _ => self.quad.probs(&self.family, &s),
        })
    }

    /// p with an error estimate. Closed forms report a rounding-level error.
    ///
    /// # Errors
    /// As [`Map::probs`].
    pub fn evaluate(&self, mu: &[f64]) -> Result<Evaluation> {
        let s = self.scaled(mu)?;
        Ok(match self.family {
            Family::Gumbel => Evaluation {
                p: closed::softmax(&s),
                error: 4.0 * f64::EPSILON * s.len() as f64,
                nodes: 0,
            },
            _ => self.quad.evaluate(&self.family, &s),
        })
    }

    /// As [`Map::evaluate`], but an error instead of a result whose estimated error exceeds
    /// `max_error` (the estimate is a pessimistic bound: see [`Quadrature::evaluate`]).
    ///
    /// # Errors
    /// As [`Map::probs`], plus [`Error::Inaccurate`], and [`Error::InvalidConfig`] unless
    /// `max_error` is positive (∞ accepts everything).
    pub fn evaluate_within(&self, mu: &[f64], max_error: f64) -> Result<Evaluation> {
        if max_error.is_nan() || max_error <= 0.0 {
            return Err(Error::InvalidConfig {
                msg: format!("the accepted error must be positive, got {max_error}"),
            });
        }
        let ev = self.evaluate(mu)?;
        if ev.error <= max_error {
            return Ok(ev);
        }
        let (lo, hi) = mu
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &m| {
                (a.min(m), b.max(m))
            });
        let hint = if !((hi - lo) / self.scale).is_finite() {
            "; the score range max(mu) − min(mu) overflows f64".to_string()
        } else {
            String::new()
        };
        Err(Error::Inaccurate {
            error: ev.error,
            max: max_error,
            hint,
        })
    }

    /// p by quadrature for every family (also Gumbel), with its error estimate: the check that
    /// closed forms and quadrature agree.
    ///
    /// # Errors
    /// As [`Map::probs`].
    pub fn quadrature(&self, mu: &[f64]) -> Result<Evaluation> {
        let s = self.scaled(mu)?;
        Ok(self.quad.evaluate(&self.family, &s))
    }

    /// The Jacobian `J[i][k] = ∂p_i/∂mu_k`, exact (integral of the derivative), O(n²·Q).
    /// Symmetric, zero row sums, positive semidefinite.
    ///
    /// # Errors
    /// As [`Map::probs`], plus [`Error::TooLarge`] for n > [`Map::MAX_JACOBIAN`].
    pub fn jacobian(&self, mu: &[f64]) -> Result<Vec<Vec<f64>>> {
        let s = self.scaled(mu)?;
        if s.len() > Self::MAX_JACOBIAN {
            return Err(Error::TooLarge {
                what: "the full Jacobian",
                n: s.len(),
                max: Self::MAX_JACOBIAN,
            });
        }
        let mut j = match self.family {
            Family::Gumbel => closed::softmax_jacobian(&closed::softmax(&s)),
            _ => self.quad.jacobian(&self.family, &s),
        };
        for row in &mut j {
            for x in row.iter_mut() {
                *x /= self.scale;
            }
        }
        Ok(j)
    }

    /// `J v` in O(n·Q). Because J is symmetric this is also the vector-Jacobian product `vᵀ J`.
    ///
    /// # Errors
    /// As [`Map::probs`], plus [`Error::LengthMismatch`] and [`Error::NonFinite`] for `v`.
    pub fn jvp(&self, mu: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        let s = self.scaled(mu)?;
        if v.len() != mu.len() {
            return Err(Error::LengthMismatch {
                what: "v",
                expected: mu.len(),
                found: v.len(),
            });
        }
        check_finite("v", v)?;
        let mut out = match self.family {
            Family::Gumbel => closed::softmax_jvp(&closed::softmax(&s), v),
            _ => self.quad.jvp(&self.family, &s, v),
        };
        for x in &mut out {
            *x /= self.scale;
        }
        Ok(out)
    }

    /// `vᵀ J` (the gradient step of backpropagation); equals [`Map::jvp`] since J = Jᵀ.
    ///
    /// # Errors
    /// As [`Map::jvp`].
    pub fn vjp(&self, mu: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        self.jvp(mu, v)
    }

    /// `n_draws` perturb-and-argmax draws `argmax_j (mu_j + τ eps_j)` with a seeded RNG
    /// (ties: lowest index). Returns how often each class won.
    ///
    /// # Errors
    /// As [`Map::probs`].
    pub fn sample_counts(&self, mu: &[f64], n_draws: u64, seed: u64) -> Result<Vec<u64>> {
        self.sample_counts_with_progress(mu, n_draws, seed, |_| {})
    }

    /// As [`Map::sample_counts`] (same draws for the same seed), calling `progress(done)` every
    /// 65 536 draws, e.g. to drive a progress bar.
    ///
    /// # Errors
    /// As [`Map::probs`].
    pub fn sample_counts_with_progress(
        &self,
        mu: &[f64],
        n_draws: u64,
        seed: u64,
        mut progress: impl FnMut(u64),
    ) -> Result<Vec<u64>> {
        check_finite("mu", mu)?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut counts = vec![0u64; mu.len()];
        for done in 0..n_draws {
            counts[sample_one(&self.family, self.scale, mu, &mut rng)] += 1;
            if (done + 1) % 65_536 == 0 {
                progress(done + 1);
            }
        }
        progress(n_draws);
        Ok(counts)
    }

    /// One perturb-and-argmax draw with the caller's RNG.
    ///
    /// # Errors
    /// As [`Map::probs`].
    pub fn sample(&self, mu: &[f64], rng: &mut dyn rand::RngCore) -> Result<usize> {
        check_finite("mu", mu)?;
        Ok(sample_one(&self.family, self.scale, mu, rng))
    }

    /// The article's K-point rule for this map (see [`KPoint`]).
    ///
    /// # Errors
    /// As [`Map::probs`], plus [`Error::InvalidConfig`] for k = 0.
    pub fn kpoint(&self, mu: &[f64], k: usize) -> Result<Vec<f64>> {
        let s = self.scaled(mu)?;
        Ok(KPoint::new(self.family, k)?.probs(&s))
    }
}

fn sample_one(family: &Family, scale: f64, mu: &[f64], rng: &mut dyn rand::RngCore) -> usize {
    if let Family::StudentT(t) = family
        && t.nu() < WIDE_NU
    {
        return sample_one_wide(t.nu(), scale, mu, rng);
    }
    let mut best = 0;
    let mut best_val = f64::NEG_INFINITY;
    for (j, &m) in mu.iter().enumerate() {
        let v = m + scale * family.sample(rng);
        if v > best_val {
            best_val = v;
            best = j;
        }
    }
    best
}

/// Below this ν a Student-t draw overflows f64 with visible probability (ν = 0.001: half of
/// all draws exceed 1.8e308 in size), so draws are made and compared in log space.
const WIDE_NU: f64 = 0.5;

/// Perturb-and-argmax for Student-t noise with ν < [`WIDE_NU`]. A draw is T = Z·√(ν/V) with
/// Z standard normal and V ~ χ²_ν = 2·Gamma(ν/2); for shape a < 1, Gamma(a) = Gamma(a + 1)·U^{1/a},
/// so log|T| = log|Z| + ½(log ν − log 2 − log Gamma(a + 1) − (log U)/a) is always finite.
/// Where τ|T| > e^700 the scores no longer matter against the noise and draws are compared by
/// log|T| (a positive one beats every finite value, a negative one loses to every finite value).
fn sample_one_wide(nu: f64, scale: f64, mu: &[f64], rng: &mut dyn rand::RngCore) -> usize {
    use rand::Rng;
    let a = 0.5 * nu;
    let gamma =
        rand_distr::Gamma::new(a + 1.0, 1.0).expect("shape a + 1 > 1 and scale 1 are valid");
    let ln_scale = scale.ln();
    // (tier, value): tier 1 = beyond +e^700 (value = log|T|), 0 = finite (value = mu + τT),
    // −1 = beyond −e^700 (value = −log|T|); compared lexicographically.
    let mut best = 0;
    let mut best_key = (i8::MIN, f64::NEG_INFINITY);
    for (j, &m) in mu.iter().enumerate() {
        let z: f64 = rng.sample(rand_distr::StandardNormal);
        let g: f64 = rng.sample(gamma);
        let ln_u = open_unit(rng).ln();
        let ln_t = z.abs().ln() + 0.5 * (nu.ln() - std::f64::consts::LN_2 - g.ln() - ln_u / a);
        let lt = ln_t + ln_scale;
        let key = if lt < 700.0 {
            (0, m + z.signum() * (lt.exp()))
        } else if z > 0.0 {
            (1, lt)
        } else {
            (-1, -lt)
        };
        if key.0 > best_key.0 || (key.0 == best_key.0 && key.1 > best_key.1) {
            best_key = key;
            best = j;
        }
    }
    best
}
