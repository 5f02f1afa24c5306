//! The article's K-point quantile rule, the cheap approximation.
//!
//! Substituting t = F(eps) in p_i = ∫ f(e) Π_{j≠i} F(mu_i − mu_j + e) de gives
//! p_i = ∫_0^1 Π_{j≠i} F(mu_i − mu_j + F⁻¹(t)) dt, which the article approximates by
//!
//! ```text
//! p_i ≈ (1/K) Σ_{k=1..K} Π_{j≠i} F(mu_i − mu_j + e_k),   e_k = F⁻¹(k/(K+1)).
//! ```
//!
//! The quantiles e_k are computed once ([`KPoint::new`]). The rule is first order in 1/K (the
//! integrand is not periodic and the nodes are equispaced in t), costs O(n²K) because the
//! node set depends on i, and its outputs do not sum to 1 exactly; see the accuracy table in
//! BENCHMARKS.md.

use crate::noise::{Family, Noise};
use crate::{Error, Result};

/// Precomputed quantiles for the K-point rule of one family.
#[derive(Debug, Clone, PartialEq)]
pub struct KPoint {
    family: Family,
    quantiles: Vec<f64>,
}

impl KPoint {
    /// Largest K accepted (the quantiles take 8·K bytes).
    pub const MAX_K: usize = 10_000_000;

    /// The rule with `k` points for `family` (scale 1).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when k = 0 or k > [`KPoint::MAX_K`].
    pub fn new(family: Family, k: usize) -> Result<Self> {
        if k == 0 {
            return Err(Error::InvalidConfig {
                msg: "the K-point rule needs K ≥ 1".into(),
            });
        }
        if k > Self::MAX_K {
            return Err(Error::InvalidConfig {
                msg: format!(
                    "the K-point rule takes at most K = {} points, got {k}",
                    Self::MAX_K
                ),
            });
        }
        let quantiles = (1..=k)
            .map(|i| {
                let t = i as f64 / (k as f64 + 1.0);
                if t <= 0.5 {
                    family.quantile(t)
                } else {
                    family.quantile_upper((k + 1 - i) as f64 / (k as f64 + 1.0))
                }
            })
            .collect();
        Ok(Self { family, quantiles })
    }

    /// Number of points K.
    pub fn k(&self) -> usize {
        self.quantiles.len()
    }

    /// The approximate p for scores `mu` at scale 1 (finite, non-empty: checked by the caller).
    pub fn probs(&self, mu: &[f64]) -> Vec<f64> {
        let n = mu.len();
        let k = self.quantiles.len() as f64;
        (0..n)
            .map(|i| {
                let mut total = 0.0;
                for &e in &self.quantiles {
                    let mut ln_prod = 0.0;
                    for (j, &mj) in mu.iter().enumerate() {
                        if j != i {
                            ln_prod += self.family.ln_cdf(mu[i] - mj + e);
                        }
                    }
                    total += ln_prod.exp();
                }
                total / k
            })
            .collect()
    }
}
