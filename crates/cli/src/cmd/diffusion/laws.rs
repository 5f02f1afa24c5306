//! The laboratory's data laws (exact ε-predictors), shared by `lab`, `trajectory`,
//! `likelihood` and `sample --data`.

use std::path::Path;

use anyhow::{Context, bail};
use diffusion::analytic::Gamma;
use diffusion::covariance::CovPredictor;
use diffusion::exact::{DataLaw, Gaussian, GaussianMixture, Rademacher};
use diffusion::nelbo::official_decoder_variance;
use diffusion::{EpsPredictor, Schedule};

/// The names `--data` accepts.
pub const NAMES: &str = "gauss, gmm or rademacher";

/// A data law whose ε-predictor is known in closed form.
pub enum Law {
    /// 1-D N(0.5, 0.09) (spec §10.3).
    Gauss(Gaussian),
    /// A diagonal Gaussian mixture: the 2-D ring of 8 modes (radius 2, std 0.1) by default.
    Gmm(GaussianMixture),
    /// 1-D ±1 with equal weights.
    Rademacher(Rademacher),
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GmmFile {
    weights: Vec<f64>,
    means: Vec<Vec<f64>>,
    stds: Vec<Vec<f64>>,
}

impl Law {
    /// The law called `name`; `gmm_file` (JSON `{"weights", "means", "stds"}`) replaces the
    /// default ring and needs `name == "gmm"`.
    pub fn from_name(name: &str, gmm_file: Option<&Path>) -> anyhow::Result<Self> {
        if gmm_file.is_some() && name != "gmm" {
            bail!("--gmm-file needs --data gmm");
        }
        Ok(match name {
            "gauss" => Law::Gauss(Gaussian::isotropic(1, 0.5, 0.09)?),
            "rademacher" => Law::Rademacher(Rademacher::new(1)?),
            "gmm" => Law::Gmm(match gmm_file {
                None => GaussianMixture::ring(8, 2.0, 0.1)?,
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading --gmm-file {}", path.display()))?;
                    let f: GmmFile = serde_json::from_str(&text)
                        .with_context(|| format!("parsing --gmm-file {}", path.display()))?;
                    GaussianMixture::new(f.weights, f.means, f.stds)
                        .with_context(|| format!("--gmm-file {}", path.display()))?
                }
            }),
            other => bail!("unknown --data `{other}` (expected {NAMES})"),
        })
    }

    /// The exact ε-predictor.
    pub fn predictor(&self) -> &dyn EpsPredictor {
        match self {
            Law::Gauss(g) => g,
            Law::Gmm(g) => g,
            Law::Rademacher(r) => r,
        }
    }

    /// ln p_0 of one row, where the law has a density (not for the discrete Rademacher law).
    pub fn log_density(&self, x: &[f64]) -> Option<f64> {
        match self {
            Law::Gauss(g) => Some(g.log_density(x)),
            Law::Gmm(g) => Some(g.log_density(x)),
            Law::Rademacher(_) => None,
        }
    }

    /// The exact SN/NPR covariance heads, where the law has them.
    pub fn cov_predictor(&self) -> Option<&dyn CovPredictor> {
        match self {
            Law::Gauss(g) => Some(g),
            Law::Gmm(g) => Some(g),
            Law::Rademacher(_) => None,
        }
    }

    /// The law itself (sampling, density).
    pub fn law(&self) -> &dyn DataLaw {
        match self {
            Law::Gauss(g) => g,
            Law::Gmm(g) => g,
            Law::Rademacher(r) => r,
        }
    }
}

/// The schedule called `name` (`linear` or `cosine`) with `total` steps.
pub fn schedule(name: &str, total: usize) -> anyhow::Result<Schedule> {
    Ok(match name {
        "linear" => Schedule::linear(total),
        "cosine" => Schedule::cosine(total),
        other => bail!("unknown --schedule `{other}` (expected linear or cosine)"),
    }?)
}

/// The decoder variance of the NELBO: β̃_{1|2} (spec §6.7), or β̄_1 when N = 1.
pub fn decoder_variance(schedule: &Schedule) -> f64 {
    if schedule.n_steps() >= 2 {
        official_decoder_variance(schedule)
    } else {
        // N = 1 has no β̃_{1|2}; fall back to the only step's variance.
        schedule.beta_bar(1)
    }
}

/// Γ_n of the Rademacher law for n = 1..=N by the 200-point Gauss–Hermite rule of
/// `Rademacher::gamma`, with the nodes computed once instead of once per n: E_ε ε*(√ᾱ + √β̄ ε)²
/// (x_0 = +1 suffices by symmetry), ε* from the law's own predictor. Γ ≤ 1 exactly (Jensen);
/// rounding can exceed 1 where Γ → 1, which the DP would read as a badly estimated Γ, so it
/// is capped at 1.
pub fn rademacher_gamma(law: &Rademacher, schedule: &Schedule) -> anyhow::Result<Gamma> {
    let (nodes, weights) = diffusion::quadrature::gauss_hermite(200);
    let n = schedule.n_steps();
    let mut x = vec![0.0; nodes.len()];
    let mut eps = vec![0.0; nodes.len()];
    let mut pairs = Vec::with_capacity(n);
    for t in 1..=n {
        let ab = schedule.alpha_bar(t);
        let (sa, sb) = (ab.sqrt(), (1.0 - ab).sqrt());
        for (xi, &z) in x.iter_mut().zip(&nodes) {
            *xi = sa + sb * std::f64::consts::SQRT_2 * z;
        }
        let level = diffusion::NoiseLevel {
            t: t as f64,
            alpha_bar: ab,
        };
        law.predict_eps(&x, level, &mut eps)?;
        let sum: f64 = weights.iter().zip(&eps).map(|(w, e)| w * e * e).sum();
        pairs.push((t, (sum / std::f64::consts::PI.sqrt()).min(1.0)));
    }
    Ok(Gamma::from_pairs(n, pairs)?)
}
