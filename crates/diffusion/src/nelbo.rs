//! The negative ELBO of a strided reverse process, per dimension (spec §6.7).
//!
//! For data x_0 and steps (τ_{K−1}, τ_K), …, (τ_1, τ_2), (0, τ_1):
//!
//! NELBO = KL(q(x_{τ_K}|x_0) ‖ N(0, I)) + Σ_{k≥2} E KL(q_λ(x_{τ_{k−1}}|x_{τ_k}, x_0) ‖ p(x_{τ_{k−1}}|x_{τ_k}))
//! − E log p(x_0 | x_{τ_1}),
//!
//! each KL term estimated with one fresh x_t = √ᾱ_t x_0 + √β̄_t ε per data row and term.
//! q_λ(x_s|x_t, x_0) = N(√ᾱ_s x_0 + √(β̄_s − λ²) ε, λ²) is the forward family of the steps
//! (λ² = β̃_{s|t} for DDPM). Values are nats per dimension; bits/dim divide by ln 2.
//!
//! | code | paper | meaning |
//! |---|---|---|
//! | `prior` | L_K | prior KL, nats/dim |
//! | `terms[i]` | L_{k−1} | KL of `steps[i]`, nats/dim |
//! | `decoder` | L_0 | −log p(x_0 \| x_{τ_1}), nats/dim |

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::sample::VarianceHook;
use crate::{EpsPredictor, Error, Result, Schedule, Step};

/// The likelihood of x_0 given the last state x_{τ_1}.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decoder {
    /// Continuous data: N(x_0; μ, `variance`).
    Gaussian {
        /// Decoder variance (paper-A fixes it to β̃_{1|2}, see [`official_decoder_variance`]).
        variance: f64,
    },
    /// Data on the grid of `levels` values spanning [−1, 1] (256 for 8-bit images): the
    /// discretised Gaussian of Ho et al. with edge bins absorbing the tails.
    Discretized {
        /// Number of levels L ≥ 2 (grid spacing 2/(L − 1)).
        levels: usize,
        /// Decoder variance.
        variance: f64,
    },
}

impl Decoder {
    /// Paper-A's decoder for data with `levels` grid values on [−1, 1] (`None`: continuous
    /// data) and variance [`decoder_variance`].
    pub fn official(schedule: &Schedule, levels: Option<usize>) -> Self {
        let variance = decoder_variance(schedule);
        match levels {
            Some(levels) => Decoder::Discretized { levels, variance },
            None => Decoder::Gaussian { variance },
        }
    }
}

/// The decoder variance of the NELBO: β̃_{1|2} (spec §6.7), or β̄_1 when N = 1 (which has no
/// β̃_{1|2}).
pub fn decoder_variance(schedule: &Schedule) -> f64 {
    if schedule.n_steps() >= 2 {
        official_decoder_variance(schedule)
    } else {
        schedule.beta_bar(1)
    }
}

/// β̃_{1|2}, the decoder variance paper-A uses for every method (β̃_{0|1} = 0 is unusable).
///
/// # Panics
/// If N < 2.
pub fn official_decoder_variance(schedule: &Schedule) -> f64 {
    schedule.tilde_beta(1, 2)
}

/// A NELBO estimate, all in nats per dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Nelbo {
    /// Prior term.
    pub prior: f64,
    /// KL term of `steps[i]` for i < K − 1 (sampling order).
    pub terms: Vec<f64>,
    /// Decoder term.
    pub decoder: f64,
    /// prior + Σ terms + decoder.
    pub total: f64,
    /// Standard error of `total` over the data rows (Monte Carlo).
    pub std_err: f64,
    /// Number of data rows M.
    pub rows: usize,
}

impl Nelbo {
    /// `total` in bits per dimension.
    pub fn bits_per_dim(&self) -> f64 {
        self.total / std::f64::consts::LN_2
    }
}

/// KL(N(m0, v0) ‖ N(m1, v1)) for scalars, in nats.
pub fn gaussian_kl(m0: f64, v0: f64, m1: f64, v1: f64) -> f64 {
    0.5 * (v0 / v1 + (m0 - m1) * (m0 - m1) / v1 + (v1 / v0).ln() - 1.0)
}

/// Ho et al.'s approximation of the standard normal CDF, Φ(u) ≈ ½(1 + tanh(√(2/π)(u + 0.044715u³))).
pub fn approx_std_normal_cdf(u: f64) -> f64 {
    0.5 * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (u + 0.044715 * u * u * u)).tanh())
}

/// log P(x) of the discretised Gaussian with mean `mean` and variance `variance` on the grid of
/// `levels` values spanning [−1, 1]; each probability is clamped at 1e-12 before the log.
///
/// # Errors
/// [`Error::Invalid`] when `levels < 2`, `variance` is not positive, or x is not a grid point
/// (within 1e-6 of a level).
pub fn discretized_gaussian_log_prob(
    x: f64,
    mean: f64,
    variance: f64,
    levels: usize,
) -> Result<f64> {
    if levels < 2 || !(variance > 0.0 && variance.is_finite()) {
        return Err(invalid(format!(
            "discretised decoder needs ≥ 2 levels and a positive variance, got {levels}, {variance}"
        )));
    }
    let top = (levels - 1) as f64;
    let pos = (x + 1.0) * top / 2.0;
    let j = pos.round();
    if !(0.0..=top).contains(&j) || (pos - j).abs() > 1e-6 * top.max(1.0) {
        return Err(invalid(format!(
            "{x} is not on the grid of {levels} levels in [−1, 1]"
        )));
    }
    let half = 1.0 / top;
    let sd = variance.sqrt();
    let cdf_plus = approx_std_normal_cdf((x - mean + half) / sd);
    let cdf_minus = approx_std_normal_cdf((x - mean - half) / sd);
    let p = if j == 0.0 {
        cdf_plus
    } else if j == top {
        1.0 - cdf_minus
    } else {
        cdf_plus - cdf_minus
    };
    Ok(p.max(1e-12).ln())
}

/// Estimates the NELBO of the reverse process `steps` (from [`crate::plan`]) on `data`
/// (M rows of `predictor.dim()` values). `on_step(i)` is called after `steps[i]`.
///
/// # Errors
/// [`Error::Invalid`] when the steps do not end with a step to 0, a non-final step has
/// λ² = 0 or σ² = 0 (the KL is infinite, e.g. DDIM with η = 0), the decoder is invalid, or the
/// data are ragged or off the decoder's grid; the predictor's own errors.
pub fn nelbo<P, R>(
    predictor: &P,
    schedule: &Schedule,
    steps: &[Step],
    data: &[f64],
    decoder: Decoder,
    rng: &mut R,
    on_step: &mut dyn FnMut(usize),
) -> Result<Nelbo>
where
    P: EpsPredictor + ?Sized,
    R: Rng + ?Sized,
{
    nelbo_terms(
        predictor, schedule, steps, data, decoder, rng, on_step, None,
    )
}

/// [`nelbo`] with per-coordinate (diagonal) reverse variances: for every non-final step i the
/// hook `variance(i, step, x_t, ε̂, σ²)` fills σ² (one value per coordinate of the batch
/// `x_t`) in place of the scalar `step.variance`, and each KL term is
/// ½(λ²/σ²_j + (μ_q − μ_p)²/σ²_j + ln σ²_j − ln λ² − 1) per coordinate j. The means, the
/// forward family (λ²), the prior and the decoder are the steps' own, as in [`nelbo`]; the
/// random draws are the same, so a hook that returns `step.variance` everywhere reproduces
/// [`nelbo`] exactly. This is the likelihood of SN-/NPR-DPM (spec §7.2, §6.7).
///
/// # Errors
/// As [`nelbo`], and [`Error::Invalid`] when the hook gives a variance that is not positive and
/// finite; the hook's own errors.
#[allow(clippy::too_many_arguments)] // nelbo's arguments plus the hook
pub fn nelbo_with_variance<P, R>(
    predictor: &P,
    schedule: &Schedule,
    steps: &[Step],
    data: &[f64],
    decoder: Decoder,
    rng: &mut R,
    on_step: &mut dyn FnMut(usize),
    variance: &mut VarianceHook<'_>,
) -> Result<Nelbo>
where
    P: EpsPredictor + ?Sized,
    R: Rng + ?Sized,
{
    nelbo_terms(
        predictor,
        schedule,
        steps,
        data,
        decoder,
        rng,
        on_step,
        Some(variance),
    )
}

/// The one NELBO computation behind [`nelbo`] (scalar σ²) and [`nelbo_with_variance`].
#[allow(clippy::needless_range_loop)] // rows × coordinates kernel over parallel arrays
#[allow(clippy::too_many_arguments)]
fn nelbo_terms<P, R>(
    predictor: &P,
    schedule: &Schedule,
    steps: &[Step],
    data: &[f64],
    decoder: Decoder,
    rng: &mut R,
    on_step: &mut dyn FnMut(usize),
    mut hook: Option<&mut VarianceHook<'_>>,
) -> Result<Nelbo>
where
    P: EpsPredictor + ?Sized,
    R: Rng + ?Sized,
{
    let d = predictor.dim();
    crate::sample::check_rows(data, d)?;
    let Some((last, inner)) = steps.split_last() else {
        return Err(invalid("no steps".to_string()));
    };
    if last.s != 0 {
        return Err(invalid(format!(
            "the last step must go to 0, got ({}, {})",
            last.s, last.t
        )));
    }
    let per_coordinate = hook.is_some();
    if let Some(bad) = inner
        .iter()
        .find(|st| st.s == 0 || !(st.lambda2 > 0.0 && (per_coordinate || st.variance > 0.0)))
    {
        return Err(invalid(format!(
            "the NELBO is undefined: step ({}, {}) has λ² = {} and σ² = {}",
            bad.s, bad.t, bad.lambda2, bad.variance
        )));
    }
    let dec_var = match decoder {
        Decoder::Gaussian { variance } | Decoder::Discretized { variance, .. } => variance,
    };
    if !(dec_var > 0.0 && dec_var.is_finite()) {
        return Err(invalid(format!(
            "decoder variance {dec_var} is not positive"
        )));
    }
    let rows = data.len() / d;
    let mut per_row = vec![0.0; rows];
    let mut x_t = vec![0.0; data.len()];
    let mut noise = vec![0.0; data.len()];
    let mut eps = vec![0.0; data.len()];
    let mut var = vec![0.0; if per_coordinate { data.len() } else { 0 }];

    // Prior term at the first step's t.
    let t_top = steps[0].t;
    let (ab, bb) = (schedule.alpha_bar(t_top), schedule.beta_bar(t_top));
    let mut prior = 0.0;
    for (r, row) in data.chunks(d).enumerate() {
        let kl: f64 = row
            .iter()
            .map(|&x0| gaussian_kl(ab.sqrt() * x0, bb, 0.0, 1.0))
            .sum();
        per_row[r] += kl / d as f64;
        prior += kl;
    }
    prior /= data.len() as f64;

    let draw = |rng: &mut R, t: usize, x_t: &mut [f64], noise: &mut [f64]| {
        let (sa, sb) = (schedule.alpha_bar(t).sqrt(), schedule.beta_bar(t).sqrt());
        for ((xt, n), &x0) in x_t.iter_mut().zip(noise.iter_mut()).zip(data) {
            *n = StandardNormal.sample(rng);
            *xt = sa * x0 + sb * *n;
        }
    };

    let mut terms = Vec::with_capacity(inner.len());
    for (i, st) in inner.iter().enumerate() {
        draw(rng, st.t, &mut x_t, &mut noise);
        predictor.predict_eps(&x_t, st.level(), &mut eps)?;
        if let Some(h) = hook.as_deref_mut() {
            h(i, st, &x_t, &eps, &mut var)?;
            if let Some(bad) = var.iter().find(|v| !(**v > 0.0 && v.is_finite())) {
                return Err(invalid(format!(
                    "the NELBO is undefined: step ({}, {}) has a coordinate with σ² = {bad}",
                    st.s, st.t
                )));
            }
        }
        let sa_s = schedule.alpha_bar(st.s).sqrt();
        let c = (schedule.beta_bar(st.s) - st.lambda2).max(0.0).sqrt();
        let mut sum = 0.0;
        for r in 0..rows {
            let mut kl = 0.0;
            for j in r * d..(r + 1) * d {
                let mq = sa_s * data[j] + c * noise[j];
                let mp = st.mean(x_t[j], eps[j]);
                let v = if per_coordinate { var[j] } else { st.variance };
                kl += gaussian_kl(mq, st.lambda2, mp, v);
            }
            per_row[r] += kl / d as f64;
            sum += kl;
        }
        terms.push(sum / data.len() as f64);
        on_step(i);
    }

    draw(rng, last.t, &mut x_t, &mut noise);
    predictor.predict_eps(&x_t, last.level(), &mut eps)?;
    let mut dec_sum = 0.0;
    for r in 0..rows {
        let mut nll = 0.0;
        for j in r * d..(r + 1) * d {
            let mp = last.mean(x_t[j], eps[j]);
            nll -= match decoder {
                Decoder::Gaussian { variance } => {
                    -0.5 * (2.0 * std::f64::consts::PI * variance).ln()
                        - (data[j] - mp) * (data[j] - mp) / (2.0 * variance)
                }
                Decoder::Discretized { levels, variance } => {
                    discretized_gaussian_log_prob(data[j], mp, variance, levels)?
                }
            };
        }
        per_row[r] += nll / d as f64;
        dec_sum += nll;
    }
    on_step(steps.len() - 1);
    let decoder_term = dec_sum / data.len() as f64;

    let total = prior + terms.iter().sum::<f64>() + decoder_term;
    let mean_row = per_row.iter().sum::<f64>() / rows as f64;
    let var_row = if rows > 1 {
        per_row.iter().map(|v| (v - mean_row).powi(2)).sum::<f64>() / (rows - 1) as f64
    } else {
        0.0
    };
    Ok(Nelbo {
        prior,
        terms,
        decoder: decoder_term,
        total,
        std_err: (var_row / rows as f64).sqrt(),
        rows,
    })
}

fn invalid(msg: String) -> Error {
    Error::Invalid { what: "nelbo", msg }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discretized_bins_sum_to_one() {
        // Spec §10.4: the bins telescope, so Σ P = 1 up to rounding and the 1e-12 floor of
        // far-away bins (at most L · 1e-12).
        for levels in [2usize, 5, 256] {
            for (mean, var) in [(0.0, 0.01), (0.3, 1e-4), (-0.9, 0.5), (1.2, 0.02)] {
                let total: f64 = (0..levels)
                    .map(|j| -1.0 + 2.0 * j as f64 / (levels - 1) as f64)
                    .map(|x| {
                        discretized_gaussian_log_prob(x, mean, var, levels)
                            .unwrap()
                            .exp()
                    })
                    .sum();
                assert!(
                    (total - 1.0).abs() < levels as f64 * 1.1e-12 + 1e-14,
                    "{levels} {mean} {var}: {total}"
                );
            }
        }
        assert!(discretized_gaussian_log_prob(0.5, 0.0, 1.0, 2).is_err());
        assert!(discretized_gaussian_log_prob(1.0, 0.0, 0.0, 2).is_err());
    }

    #[test]
    fn gaussian_kl_identities() {
        assert_eq!(gaussian_kl(0.3, 2.0, 0.3, 2.0), 0.0);
        // KL(N(0,1) ‖ N(1,2)) = ½(1/2 + 1/2 + ln 2 − 1) = ½ ln 2.
        assert!((gaussian_kl(0.0, 1.0, 1.0, 2.0) - 0.5 * 2f64.ln()).abs() < 1e-15);
    }

    #[test]
    fn diagonal_variances_all_equal_reproduce_the_scalar_nelbo() {
        // One code path: a hook that gives every coordinate the step's own σ² must give the
        // scalar NELBO bit for bit (same draws, same arithmetic), and a hook that doubles σ²
        // must change it (so the hook is really used).
        use crate::analytic::Gamma;
        use crate::exact::{Gaussian, sample_law};
        use crate::{PlanConfig, Sampler, Trajectory, plan};
        use rand::SeedableRng;
        use rand::rngs::StdRng;
        let sched = Schedule::linear(1000).unwrap();
        let law = Gaussian::new(vec![0.2, -0.4], vec![0.05, 0.3]).unwrap();
        let gamma = Gamma::from_fn(&sched, |ab| law.gamma(ab)).unwrap();
        let data = sample_law(&law, &mut StdRng::seed_from_u64(1), 64);
        let steps = plan(
            &sched,
            &Trajectory::even(1000, 10).unwrap(),
            &PlanConfig::exact(Sampler::AnalyticDdpm),
            &gamma,
        )
        .unwrap();
        let dec = Decoder::Gaussian {
            variance: official_decoder_variance(&sched),
        };
        let run = |factor: Option<f64>| {
            let mut rng = StdRng::seed_from_u64(5);
            match factor {
                None => nelbo(&law, &sched, &steps, &data, dec, &mut rng, &mut |_| {}),
                Some(f) => {
                    let mut hook = |_: usize, st: &Step, _: &[f64], _: &[f64], v: &mut [f64]| {
                        v.fill(f * st.variance);
                        Ok(())
                    };
                    nelbo_with_variance(
                        &law,
                        &sched,
                        &steps,
                        &data,
                        dec,
                        &mut rng,
                        &mut |_| {},
                        &mut hook,
                    )
                }
            }
            .unwrap()
        };
        let scalar = run(None);
        assert_eq!(run(Some(1.0)), scalar);
        assert!(run(Some(2.0)).total > scalar.total + 1e-3);
        // A zero variance is an error, not an infinite NELBO.
        let mut zero = |_: usize, _: &Step, _: &[f64], _: &[f64], v: &mut [f64]| {
            v.fill(0.0);
            Ok(())
        };
        let err = nelbo_with_variance(
            &law,
            &sched,
            &steps,
            &data,
            dec,
            &mut StdRng::seed_from_u64(5),
            &mut |_| {},
            &mut zero,
        )
        .unwrap_err();
        assert!(err.to_string().contains("σ² = 0"), "{err}");
    }
}
