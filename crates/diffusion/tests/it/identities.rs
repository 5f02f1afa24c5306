//! Further closed-form identities: ε* = −√β̄ ∇log q_t for the mixtures, the DDIM contraction
//! of spec §10.3, and the Theorem 2 bounds as a property.

use diffusion::analytic::{DataRange, bounds, optimal_variance};
use diffusion::exact::{Empirical, Gaussian, GaussianMixture};
use diffusion::{EpsPredictor, NoiseLevel, Sampler, Schedule, Step};
use proptest::prelude::*;

/// log q_t(x) of a diagonal mixture with x_t = √ᾱ x_0 + √β̄ ε, for the finite-difference check.
fn log_density(w: &[f64], m: &[Vec<f64>], s2: &[Vec<f64>], ab: f64, x: &[f64]) -> f64 {
    let terms: Vec<f64> = (0..w.len())
        .map(|k| {
            w[k].ln()
                + x.iter()
                    .enumerate()
                    .map(|(i, &xi)| {
                        let v = ab * s2[k][i] + (1.0 - ab);
                        let d = xi - ab.sqrt() * m[k][i];
                        -0.5 * ((2.0 * std::f64::consts::PI * v).ln() + d * d / v)
                    })
                    .sum::<f64>()
        })
        .collect();
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln()
}

#[test]
fn mixture_eps_is_the_scaled_score() {
    // ε*(x) = −√β̄ ∇ log q_t(x) (Tweedie). Central differences with h = 1e-5 have O(h²) ≈ 1e-10
    // truncation error and O(ε/h) ≈ 1e-11 rounding, so the tolerance is 1e-7 absolute.
    let w = [0.2, 0.5, 0.3];
    let m = vec![vec![-1.0, 0.5], vec![2.0, 0.0], vec![0.0, -3.0]];
    let sd = vec![vec![0.3, 0.5], vec![1.0, 0.2], vec![0.1, 0.1]];
    let s2: Vec<Vec<f64>> = sd
        .iter()
        .map(|r| r.iter().map(|s| s * s).collect())
        .collect();
    let gmm = GaussianMixture::new(w.to_vec(), m.clone(), sd.clone()).unwrap();
    let points = [(0.1, 0.2), (-1.5, 3.0), (2.5, -0.7)];
    for ab in [0.99, 0.7, 0.2, 0.01] {
        for &(a, b) in &points {
            let x = [a, b];
            let mut eps = [0.0; 2];
            gmm.predict_eps(
                &x,
                NoiseLevel {
                    t: 0.0,
                    alpha_bar: ab,
                },
                &mut eps,
            )
            .unwrap();
            let h = 1e-5;
            for i in 0..2 {
                let (mut xp, mut xm) = (x, x);
                xp[i] += h;
                xm[i] -= h;
                let grad = (log_density(&w, &m, &s2, ab, &xp) - log_density(&w, &m, &s2, ab, &xm))
                    / (2.0 * h);
                let want = -(1.0 - ab).sqrt() * grad;
                assert!(
                    (eps[i] - want).abs() < 1e-7,
                    "ᾱ={ab} x={x:?} i={i}: {} vs {want}",
                    eps[i]
                );
            }
        }
    }
}

#[test]
fn empirical_eps_points_to_the_nearest_point_at_low_noise() {
    // At ᾱ close to 1 the posterior concentrates on the nearest point p, so
    // x̂_0 = (x − √β̄ ε*)/√ᾱ ≈ p; 1e-6 absolute since the other points are ≥ 20 β̄ away in
    // log-weight.
    let pts = Empirical::new(vec![0.0, 0.0, 1.0, 1.0, -2.0, 0.5], 2).unwrap();
    let ab: f64 = 1.0 - 1e-3;
    let x = [0.95 * ab.sqrt(), 1.02 * ab.sqrt()];
    let mut eps = [0.0; 2];
    pts.predict_eps(
        &x,
        NoiseLevel {
            t: 0.0,
            alpha_bar: ab,
        },
        &mut eps,
    )
    .unwrap();
    for (i, want) in [1.0, 1.0].into_iter().enumerate() {
        let x0 = (x[i] - (1.0 - ab).sqrt() * eps[i]) / ab.sqrt();
        assert!((x0 - want).abs() < 1e-6, "{x0}");
    }
}

#[test]
fn one_ddim_step_contracts_the_variance() {
    // Spec §10.3: one DDIM (η = 0) step with exact ε* maps the marginal variance v_t to
    // c² v_t ≤ v_s, equality only for point-mass data (here s² = 1e-300 stands in for 0).
    let sched = Schedule::linear(1000).unwrap();
    for s2 in [1e-300, 0.09, 1.0, 4.0] {
        let law = Gaussian::isotropic(1, 0.0, s2).unwrap();
        for (s, t) in [(1, 112), (300, 600), (889, 1000)] {
            let step = Step::of(
                &sched,
                Sampler::Ddim { eta: 0.0 },
                s,
                t,
                f64::NAN,
                DataRange::Unbounded,
            );
            let v_t = sched.alpha_bar(t) * s2 + sched.beta_bar(t);
            let v_s = sched.alpha_bar(s) * s2 + sched.beta_bar(s);
            let mut e = [0.0; 2];
            law.predict_eps(&[0.0, 1.0], step.level(), &mut e).unwrap();
            let c = step.mean(1.0, e[1]) - step.mean(0.0, e[0]);
            let out = c * c * v_t;
            if s2 < 1e-100 {
                assert!(
                    (out / v_s - 1.0).abs() < 1e-12,
                    "Dirac ({s},{t}): {out} vs {v_s}"
                );
            } else {
                assert!(
                    out < v_s * (1.0 - 1e-6),
                    "s²={s2} ({s},{t}): {out} vs {v_s}"
                );
            }
        }
    }
}

proptest! {
    #[test]
    fn analytic_variance_lies_within_bounds(
        s in 1usize..999, gap in 1usize..500, gamma_t in -0.5f64..1.5, eta in 0.0f64..=1.0,
        bounded in proptest::bool::ANY,
    ) {
        // Theorem 2 after clipping (spec §10.2); 1e-15 relative slack for the γ² product.
        let sched = Schedule::cosine(1000).unwrap();
        let t = (s + gap).min(1000);
        prop_assume!(s < t);
        let lambda2 = eta * eta * sched.tilde_beta(s, t);
        let range = if bounded { DataRange::PIXELS } else { DataRange::Unbounded };
        let v = optimal_variance(&sched, s, t, lambda2, gamma_t, range);
        let b = bounds(&sched, s, t, lambda2, range);
        prop_assert!(v >= b.lower && v <= b.upper * (1.0 + 1e-15));
        prop_assert!(b.lower <= b.upper);
    }
}
