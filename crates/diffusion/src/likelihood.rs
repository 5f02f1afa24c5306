//! Exact log-likelihood through the probability-flow ODE (spec §5.6; score-SDE
//! `likelihood.py`, arXiv 2011.13456 App. D.2).
//!
//! Along the PF-ODE dx/dt = f̃(x, t) = f_t x + (½ g_t²/σ_t) ε̂(x, t), the log-density obeys
//! d ln p_t(x(t))/dt = −∇·f̃, so
//!
//! ln p_{t_0}(x) = ln p_1(x(1)) + ∫_{t_0}^{1} ∇·f̃(x(t), t) dt,
//!
//! integrated from t_0 (1e-5 by default) to 1 as one augmented system (x, Δ) with adaptive
//! Dormand–Prince ([`dopri5`], rtol = atol = 1e-5 by default), p_1 ≈ the SDE's prior.
//! ∇·f̃ = d·f_t + (½ g_t²/σ_t) tr(∂ε̂/∂x), and the trace is
//!
//! | [`Divergence`] | trace |
//! |---|---|
//! | `Exact` | Σ_i e_iᵀ J e_i with d vector–Jacobian products (low dimension) |
//! | `Hutchinson` | mean over `n_probes` fixed probes v (Rademacher or Gaussian, drawn once per data point for the whole solve) of vᵀ J v |
//!
//! J comes from [`EpsPredictor::eps_vjp`] when the predictor has it (the exact laws do) and
//! from central differences otherwise (networks); the result says which ([`Derivative`]).
//!
//! Bits per dimension: bpd = −ln p/(d ln 2) + offset, where for data quantised to L levels and
//! dequantised uniformly within bins of width w the offset is log₂(1/w) (score-SDE's bins
//! w = 2/256 on [−1, 1] give 7, on [0, 1] 8; spec §10.4), see [`Dequantization`].

use rand::{Rng, RngCore};
use rand_distr::{Distribution, StandardNormal};

use crate::sample::check_rows;
use crate::sde::Sde;
use crate::solvers::{Derivative, ScoreModel, Tolerances, dopri5};
use crate::{EpsPredictor, Error, Result};

/// Probe distribution of Hutchinson's estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// ±1 coordinates (the lower-variance default).
    Rademacher,
    /// N(0, 1) coordinates.
    Gaussian,
}

/// How the divergence of the drift is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Divergence {
    /// The full trace from d vector–Jacobian products.
    Exact,
    /// Hutchinson–Skilling: the mean of vᵀJv over `n_probes` fixed probes per data point.
    Hutchinson {
        /// Probes per data point (≥ 1).
        n_probes: usize,
        /// Their distribution.
        probe: Probe,
    },
}

/// Settings of a likelihood solve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LikelihoodConfig {
    /// Start time t_0 of the ODE (the likelihood is that of p_{t_0}); 1e-5 by default.
    pub t_start: f64,
    /// Tolerances of the adaptive solver (1e-5 / 1e-5 by default).
    pub tol: Tolerances,
    /// Most drift evaluations allowed.
    pub max_nfe: usize,
    /// Exact trace or Hutchinson.
    pub divergence: Divergence,
    /// Step of the finite-difference fallback for predictors without a derivative (1e-3).
    pub fd_step: f64,
}

impl LikelihoodConfig {
    /// score-SDE's defaults with the given divergence.
    pub fn new(divergence: Divergence) -> Self {
        Self {
            t_start: 1e-5,
            tol: Tolerances::new(1e-5, 1e-5).expect("positive constants"),
            max_nfe: 20_000,
            divergence,
            fd_step: 1e-3,
        }
    }
}

/// Result of a likelihood solve for a batch of data rows.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLikelihood {
    /// ln p_{t_0}(x) per row, in nats.
    pub log_p: Vec<f64>,
    /// ln p_1(x(1)) per row (the prior term).
    pub prior_log_p: Vec<f64>,
    /// The ODE's end point x(1) (rows of d values): the latent code of each data row.
    pub x_1: Vec<f64>,
    /// Drift evaluations (each one ε̂ call on the batch plus the trace's products).
    pub nfe: usize,
    /// Accepted solver steps.
    pub n_steps: usize,
    /// How ∂ε̂/∂x was obtained.
    pub derivative: Derivative,
    /// Data dimension d.
    pub dim: usize,
}

impl LogLikelihood {
    /// Mean negative log-likelihood per dimension, in nats.
    pub fn nll_nats_per_dim(&self) -> f64 {
        -self.log_p.iter().sum::<f64>() / (self.log_p.len() * self.dim) as f64
    }

    /// Bits per dimension with a dequantisation offset in bits (0 for continuous data).
    pub fn bits_per_dim(&self, offset_bits: f64) -> f64 {
        self.nll_nats_per_dim() / std::f64::consts::LN_2 + offset_bits
    }
}

/// Uniform dequantisation of data with L levels: level k owns the bin
/// [edge + k·w, edge + (k + 1)·w), and the bits/dim offset is log₂(1/w).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dequantization {
    levels: u32,
    edge: f64,
    width: f64,
}

impl Dequantization {
    /// score-SDE's convention: the L bins tile [lo, hi], w = (hi − lo)/L (offset 7 for
    /// 256 levels on [−1, 1], 8 on [0, 1]).
    ///
    /// # Errors
    /// [`Error::Invalid`] for fewer than 2 levels or lo ≥ hi (or non-finite ends).
    pub fn new(levels: u32, lo: f64, hi: f64) -> Result<Self> {
        check_levels(levels, lo, hi)?;
        Ok(Self {
            levels,
            edge: lo,
            width: (hi - lo) / levels as f64,
        })
    }

    /// Levels *at* lo + k(hi − lo)/(L − 1) (the end points are levels, as in
    /// x = 2v/(L − 1) − 1), each the centre of a bin of width w = (hi − lo)/(L − 1).
    ///
    /// # Errors
    /// As [`Dequantization::new`].
    pub fn centred(levels: u32, lo: f64, hi: f64) -> Result<Self> {
        check_levels(levels, lo, hi)?;
        let width = (hi - lo) / (levels - 1) as f64;
        Ok(Self {
            levels,
            edge: lo - 0.5 * width,
            width,
        })
    }

    /// Bin width w.
    pub fn bin_width(&self) -> f64 {
        self.width
    }

    /// The bits/dim offset log₂(1/w): −log₂ P(k) ≤ −log₂ p(x) − d·log₂ w for the dequantised x.
    pub fn offset_bits(&self) -> f64 {
        -self.width.log2()
    }

    /// The level whose bin holds x (clamped to 0..L).
    pub fn level_of(&self, x: f64) -> u32 {
        let k = ((x - self.edge) / self.width).floor();
        k.clamp(0.0, (self.levels - 1) as f64) as u32
    }

    /// Dequantised values edge + (k + u)·w with u ~ U[0, 1) for integer levels k.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a level ≥ L.
    pub fn dequantize<R: Rng + ?Sized>(&self, levels: &[u32], rng: &mut R) -> Result<Vec<f64>> {
        levels
            .iter()
            .map(|&k| {
                if k >= self.levels {
                    return Err(Error::Invalid {
                        what: "dequantization",
                        msg: format!("level {k} is not below {}", self.levels),
                    });
                }
                let u: f64 = rng.random();
                Ok(self.edge + (k as f64 + u) * self.width)
            })
            .collect()
    }
}

fn check_levels(levels: u32, lo: f64, hi: f64) -> Result<()> {
    if levels < 2 || !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(Error::Invalid {
            what: "dequantization",
            msg: format!("needs ≥ 2 levels on lo < hi, got {levels} on [{lo}, {hi}]"),
        });
    }
    Ok(())
}

/// Where a likelihood solve is: the whole batch is one ODE solve from t_0 to 1, so progress
/// is the time reached (and the drift evaluations spent), not rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LikelihoodProgress {
    /// Furthest time the solver has evaluated the drift at, in [t_0, 1].
    pub t: f64,
    /// t_0.
    pub t_start: f64,
    /// Drift evaluations so far.
    pub nfe: usize,
    /// The NFE budget.
    pub max_nfe: usize,
    /// Rows in the batch.
    pub rows: usize,
}

impl LikelihoodProgress {
    /// Fraction of the solve done, ln(t/t_0)/ln(1/t_0) ∈ [0, 1]: the adaptive solver's steps
    /// grow about geometrically from t_0, so the cost is closer to uniform in ln t than in t.
    pub fn fraction(&self) -> f64 {
        ((self.t / self.t_start).ln() / (1.0 / self.t_start).ln()).clamp(0.0, 1.0)
    }
}

/// ln p_{t_0}(x) of each row of `x` under the model (predictor + SDE) by the PF-ODE.
///
/// `rng` draws the Hutchinson probes (unused for the exact trace).
///
/// # Errors
/// [`Error::Invalid`] for a bad batch or configuration (t_0 ∉ (0, 1), no probes, fd step ≤ 0),
/// non-finite data, an exceeded NFE budget (naming the time reached) or a non-finite state;
/// the predictor's errors.
pub fn log_likelihood(
    predictor: &dyn EpsPredictor,
    sde: &Sde,
    config: &LikelihoodConfig,
    x: &[f64],
    rng: &mut dyn RngCore,
) -> Result<LogLikelihood> {
    log_likelihood_with_progress(predictor, sde, config, x, rng, &mut |_| {})
}

/// [`log_likelihood`] reporting its [`LikelihoodProgress`] after every drift evaluation.
///
/// # Errors
/// As [`log_likelihood`].
pub fn log_likelihood_with_progress(
    predictor: &dyn EpsPredictor,
    sde: &Sde,
    config: &LikelihoodConfig,
    x: &[f64],
    rng: &mut dyn RngCore,
    on_progress: &mut dyn FnMut(LikelihoodProgress),
) -> Result<LogLikelihood> {
    let d = predictor.dim();
    check_rows(x, d)?;
    let bad = |msg: String| {
        Err(Error::Invalid {
            what: "likelihood config",
            msg,
        })
    };
    if !(config.t_start > 0.0 && config.t_start < 1.0) {
        return bad(format!("t_0 = {} must lie in (0, 1)", config.t_start));
    }
    if !(config.fd_step.is_finite() && config.fd_step > 0.0) {
        return bad(format!(
            "finite-difference step {} must be positive",
            config.fd_step
        ));
    }
    if let Divergence::Hutchinson { n_probes: 0, .. } = config.divergence {
        return bad("Hutchinson needs at least one probe".into());
    }
    if let Some(v) = x.iter().find(|v| !v.is_finite()) {
        return Err(Error::Invalid {
            what: "data",
            msg: format!("{v} is not a finite number"),
        });
    }
    let rows = x.len() / d;
    let n_x = x.len();
    let (probes, weight) = make_probes(config.divergence, n_x, d, rng);
    let mut model = ScoreModel::new(predictor, sde, usize::MAX);
    let mut derivative = Derivative::Exact;
    let mut vjp = vec![0.0; n_x];
    let (mut t_max, mut evals) = (config.t_start, 0);
    let mut rhs = |t: f64, y: &[f64], dy: &mut [f64]| -> Result<()> {
        t_max = t_max.max(t);
        evals += 1;
        on_progress(LikelihoodProgress {
            t: t_max,
            t_start: config.t_start,
            nfe: evals,
            max_nfe: config.max_nfe,
            rows,
        });
        let (xs, _) = y.split_at(n_x);
        let (dx, ddelta) = dy.split_at_mut(n_x);
        model.pf_drift(xs, t, dx)?;
        let how = add_divergence(
            &mut model,
            xs,
            t,
            &probes,
            weight,
            config.fd_step,
            &mut vjp,
            ddelta,
        )?;
        if how == Derivative::FiniteDifference {
            derivative = Derivative::FiniteDifference;
        }
        Ok(())
    };
    let mut y = Vec::with_capacity(n_x + rows);
    y.extend_from_slice(x);
    y.resize(n_x + rows, 0.0);
    let stats = dopri5(
        &mut rhs,
        config.t_start,
        1.0,
        &mut y,
        config.tol,
        config.max_nfe,
    )?;
    let (x_1, delta) = y.split_at(n_x);
    let prior_log_p: Vec<f64> = x_1.chunks(d).map(|r| sde.prior_log_density(r)).collect();
    let log_p = prior_log_p
        .iter()
        .zip(delta)
        .map(|(p, dl)| p + dl)
        .collect();
    Ok(LogLikelihood {
        log_p,
        prior_log_p,
        x_1: x_1.to_vec(),
        nfe: stats.nfe,
        n_steps: stats.n_accepted,
        derivative,
        dim: d,
    })
}

/// The divergence ∇·f̃(x, t) of the PF-ODE drift per row at one time, computed as
/// `config.divergence` says (the integrand of [`log_likelihood`]; exposed to check
/// Hutchinson against the exact trace).
///
/// # Errors
/// [`Error::Invalid`] for a bad batch; the predictor's errors.
pub fn drift_divergence(
    predictor: &dyn EpsPredictor,
    sde: &Sde,
    config: &LikelihoodConfig,
    x: &[f64],
    t: f64,
    rng: &mut dyn RngCore,
) -> Result<Vec<f64>> {
    let d = predictor.dim();
    check_rows(x, d)?;
    let mut model = ScoreModel::new(predictor, sde, usize::MAX);
    let (probes, weight) = make_probes(config.divergence, x.len(), d, rng);
    let mut out = vec![0.0; x.len() / d];
    let mut vjp = vec![0.0; x.len()];
    add_divergence(
        &mut model,
        x,
        t,
        &probes,
        weight,
        config.fd_step,
        &mut vjp,
        &mut out,
    )?;
    Ok(out)
}

/// The probe vectors (each a full batch) and the weight of each in the trace: the d unit
/// vectors with weight 1 for the exact trace, `n_probes` random probes with weight
/// 1/`n_probes` for Hutchinson.
fn make_probes(
    divergence: Divergence,
    n_x: usize,
    d: usize,
    rng: &mut dyn RngCore,
) -> (Vec<Vec<f64>>, f64) {
    match divergence {
        Divergence::Exact => (
            (0..d)
                .map(|i| (0..n_x).map(|j| f64::from(j % d == i)).collect())
                .collect(),
            1.0,
        ),
        Divergence::Hutchinson { n_probes, probe } => (
            (0..n_probes)
                .map(|_| {
                    (0..n_x)
                        .map(|_| match probe {
                            Probe::Rademacher => {
                                if rng.random::<bool>() {
                                    1.0
                                } else {
                                    -1.0
                                }
                            }
                            Probe::Gaussian => StandardNormal.sample(&mut *rng),
                        })
                        .collect()
                })
                .collect(),
            1.0 / n_probes.max(1) as f64,
        ),
    }
}

/// Writes ∇·f̃ = d·f_t + (½ g_t²/σ_t) Σ_v weight·vᵀJv per row into `out`.
#[allow(clippy::too_many_arguments)]
fn add_divergence(
    model: &mut ScoreModel<'_>,
    x: &[f64],
    t: f64,
    probes: &[Vec<f64>],
    weight: f64,
    fd_step: f64,
    vjp: &mut [f64],
    out: &mut [f64],
) -> Result<Derivative> {
    let d = model.predictor().dim();
    let (f, k) = model.pf_coefs(t);
    out.fill(d as f64 * f);
    let mut how = Derivative::Exact;
    for v in probes {
        if model.eps_vjp(x, t, v, vjp, fd_step)? == Derivative::FiniteDifference {
            how = Derivative::FiniteDifference;
        }
        for (r, o) in out.iter_mut().enumerate() {
            let q: f64 = (r * d..(r + 1) * d).map(|j| vjp[j] * v[j]).sum();
            *o += k * weight * q;
        }
    }
    Ok(how)
}

/// The report of `kexue diffusion likelihood`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LikelihoodReport {
    /// Data name.
    pub data: String,
    /// SDE name.
    pub sde: String,
    /// Data points.
    pub samples: usize,
    /// d.
    pub dim: usize,
    /// Mean NLL, nats/dim.
    pub nll_nats_per_dim: f64,
    /// Bits/dim including `bpd_offset`.
    pub bits_per_dim: f64,
    /// Dequantisation offset in bits (0 for continuous data).
    pub bpd_offset: f64,
    /// Drift evaluations.
    pub nfe: usize,
    /// Accepted solver steps.
    pub steps: usize,
    /// Exact divergence (full trace with analytic Jacobian products).
    pub exact: bool,
    /// `exact-trace` or `hutchinson`.
    pub divergence: &'static str,
    /// Hutchinson probes per point.
    pub probes: Option<usize>,
    /// `analytic` or `finite-difference`.
    pub derivative: &'static str,
    /// The law's own NLL, nats/dim, where it has a density.
    pub closed_form_nll_nats_per_dim: Option<f64>,
    /// |ODE − closed form|.
    pub abs_error_nats_per_dim: Option<f64>,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// t_0.
    pub t_start: f64,
    /// Wall time.
    pub seconds: f64,
}

impl LikelihoodReport {
    /// The report of a solve `ll` with `config`; `offset` in bits, `closed` the closed-form
    /// NLL in nats/dim.
    pub fn new(
        data: String,
        sde: &Sde,
        config: &LikelihoodConfig,
        ll: &LogLikelihood,
        offset: f64,
        closed: Option<f64>,
        seconds: f64,
    ) -> Self {
        let nll = ll.nll_nats_per_dim();
        let (divergence, probes) = match config.divergence {
            Divergence::Exact => ("exact-trace", None),
            Divergence::Hutchinson { n_probes, .. } => ("hutchinson", Some(n_probes)),
        };
        Self {
            data,
            sde: sde.name().to_string(),
            samples: ll.log_p.len(),
            dim: ll.dim,
            nll_nats_per_dim: nll,
            bits_per_dim: ll.bits_per_dim(offset),
            bpd_offset: offset,
            nfe: ll.nfe,
            steps: ll.n_steps,
            exact: probes.is_none() && ll.derivative == Derivative::Exact,
            divergence,
            probes,
            derivative: match ll.derivative {
                Derivative::Exact => "analytic",
                Derivative::FiniteDifference => "finite-difference",
            },
            closed_form_nll_nats_per_dim: closed,
            abs_error_nats_per_dim: closed.map(|c| (c - nll).abs()),
            rtol: config.tol.rtol(),
            atol: config.tol.atol(),
            t_start: config.t_start,
            seconds,
        }
    }
}

impl std::fmt::Display for LikelihoodReport {
    /// Data and SDE, NLL in nats and bits per dimension, the closed form, solver costs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self;
        writeln!(
            f,
            "data {} ({} points, d = {}), SDE {}",
            r.data, r.samples, r.dim, r.sde
        )?;
        writeln!(
            f,
            "NLL {:.6} nats/dim = {:.6} bits/dim (offset {:.4})",
            r.nll_nats_per_dim, r.bits_per_dim, r.bpd_offset
        )?;
        if let (Some(c), Some(e)) = (r.closed_form_nll_nats_per_dim, r.abs_error_nats_per_dim) {
            writeln!(
                f,
                "closed form {c:.6} nats/dim, |ODE − closed form| = {e:.2e}"
            )?;
        }
        let div = match r.probes {
            Some(n) => format!("Hutchinson, {n} probes"),
            None => "exact trace".to_string(),
        };
        writeln!(
            f,
            "NFE {} ({} steps, rtol {:e}, atol {:e}), divergence: {div}, Jacobian: {}, {:.2} s",
            r.nfe, r.steps, r.rtol, r.atol, r.derivative, r.seconds
        )?;
        Ok(())
    }
}

/// The PF-ODE likelihood of `samples` fresh points of `law` (a law with a density), next to
/// its closed form; one RNG seeded by `seed` draws the points, then the probes.
///
/// # Errors
/// [`Error::Invalid`] for a law without a density or `samples == 0`; [`log_likelihood`]'s
/// errors.
pub fn law_likelihood(
    law: &crate::laws::Law,
    sde: &Sde,
    config: &LikelihoodConfig,
    samples: usize,
    seed: u64,
) -> Result<LikelihoodReport> {
    law_likelihood_with_progress(law, sde, config, samples, seed, &mut |_| {})
}

/// [`law_likelihood`] reporting the solve's [`LikelihoodProgress`].
///
/// # Errors
/// As [`law_likelihood`].
pub fn law_likelihood_with_progress(
    law: &crate::laws::Law,
    sde: &Sde,
    config: &LikelihoodConfig,
    samples: usize,
    seed: u64,
    on_progress: &mut dyn FnMut(LikelihoodProgress),
) -> Result<LikelihoodReport> {
    use rand::SeedableRng;
    let started = std::time::Instant::now();
    if samples == 0 {
        return Err(Error::Invalid {
            what: "samples",
            msg: "need at least 1 point".into(),
        });
    }
    if law.log_density(&vec![0.0; law.dim()]).is_none() {
        return Err(Error::Invalid {
            what: "data law",
            msg: format!(
                "the {} law has no density (expected gauss or gmm)",
                law.name()
            ),
        });
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let x = law.sample(&mut rng, samples);
    let ll = log_likelihood_with_progress(law.predictor(), sde, config, &x, &mut rng, on_progress)?;
    let d = law.dim();
    let closed = -x
        .chunks(d)
        .map(|r| law.log_density(r).unwrap_or(f64::NAN))
        .sum::<f64>()
        / x.len() as f64;
    Ok(LikelihoodReport::new(
        law.name().to_string(),
        sde,
        config,
        &ll,
        0.0,
        Some(closed),
        started.elapsed().as_secs_f64(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    use rand::SeedableRng;

    #[test]
    fn dequantization_offsets_match_spec() {
        // spec §10.4: +7 bits/dim for 256 levels on [−1, 1], +8 on [0, 1].
        let a = Dequantization::new(256, -1.0, 1.0).unwrap();
        assert!((a.offset_bits() - 7.0).abs() < 1e-12);
        let b = Dequantization::new(256, 0.0, 1.0).unwrap();
        assert!((b.offset_bits() - 8.0).abs() < 1e-12);
        assert!(Dequantization::new(1, 0.0, 1.0).is_err());
        assert!(Dequantization::new(4, 1.0, 1.0).is_err());
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let x = b.dequantize(&[0, 255, 7], &mut rng).unwrap();
        assert!((0.0..1.0 / 256.0).contains(&x[0]));
        assert!((255.0 / 256.0..1.0).contains(&x[1]));
        assert!((7.0 / 256.0..8.0 / 256.0).contains(&x[2]));
        assert!(b.dequantize(&[256], &mut rng).is_err());
        // Centred levels x = 2v/(L−1) − 1 (diffusion-nn): w = 2/(L−1), level_of inverts.
        let c = Dequantization::centred(17, -1.0, 1.0).unwrap();
        assert!((c.offset_bits() - 3.0).abs() < 1e-12);
        for v in 0..17u32 {
            let x = 2.0 * v as f64 / 16.0 - 1.0;
            assert_eq!(c.level_of(x), v);
            let d = c.dequantize(&[v], &mut rng).unwrap()[0];
            assert!((d - x).abs() <= 1.0 / 16.0 && c.level_of(d) == v);
        }
    }
}
