//! Gaussian data: exact variance propagation (spec §10.3 table and properties).

use diffusion::analytic::Gamma;
use diffusion::exact::Gaussian;
use diffusion::{
    FinalStep, Moments, PlanConfig, Sampler, Schedule, Trajectory, plan, propagate_gaussian,
};

/// Final (mean, var) of 1-D N(m, s2) data after sampling from x_N ~ q(x_N) with `sampler`.
fn final_moments(m: f64, s2: f64, k: usize, sampler: Sampler, final_step: FinalStep) -> Moments {
    let sched = Schedule::linear(1000).unwrap();
    let traj = Trajectory::even(1000, k).unwrap();
    let law = Gaussian::isotropic(1, m, s2).unwrap();
    let gamma = Gamma::from_fn(&sched, |ab| law.gamma(ab)).unwrap();
    let mut cfg = PlanConfig::exact(sampler);
    cfg.final_step = final_step;
    let steps = plan(&sched, &traj, &cfg, &gamma).unwrap();
    let (ab, bb) = (sched.alpha_bar(1000), sched.beta_bar(1000));
    let start = Moments {
        mean: ab.sqrt() * m,
        var: ab * s2 + bb,
    };
    propagate_gaussian(&law, &steps, &[start]).unwrap()[0]
}

/// Spec §10.3 table (m = 0.5, s² = 0.09, linear N = 1000, ET), printed to 6 decimals, so the
/// tolerance is 5e-7 (half a unit in the last printed place) plus rounding slack.
#[test]
fn reproduces_spec_variance_table() {
    let rows: [(usize, [f64; 5]); 4] = [
        (2, [0.000100, 0.997941, 0.090000, 0.000112, 0.090000]),
        (10, [0.026768, 0.194571, 0.090000, 0.032647, 0.090000]),
        (100, [0.073892, 0.096856, 0.090000, 0.082381, 0.090000]),
        (1000, [0.087766, 0.090654, 0.090000, 0.089123, 0.090000]),
    ];
    for (k, want) in rows {
        for (sampler, w) in Sampler::LAB.into_iter().zip(want) {
            let got = final_moments(0.5, 0.09, k, sampler, FinalStep::Sample);
            assert!(
                (got.var - w).abs() < 6e-7,
                "K={k} {}: {} vs {w}",
                sampler.name(),
                got.var
            );
            // All means are exactly 0.5 (the maps are affine and unbiased); 1e-12 absolute.
            assert!(
                (got.mean - 0.5).abs() < 1e-12,
                "K={k} {}: mean {}",
                sampler.name(),
                got.mean
            );
        }
    }
}

#[test]
fn final_mean_convention_matches_official_code() {
    // Spec §10.3 / issue: β 0.194471, analytic 0.089900 (6 decimals).
    let b = final_moments(0.5, 0.09, 10, Sampler::DdpmBeta, FinalStep::Mean);
    assert!((b.var - 0.194471).abs() < 6e-7, "{}", b.var);
    let a = final_moments(0.5, 0.09, 10, Sampler::AnalyticDdpm, FinalStep::Mean);
    assert!((a.var - 0.089900).abs() < 6e-7, "{}", a.var);
    // Short by exactly Cov[x_0 | x_1] = s² β̄_1 / v_1 (spec §10.3); 1e-12 absolute.
    let sched = Schedule::linear(1000).unwrap();
    let (ab1, bb1) = (sched.alpha_bar(1), sched.beta_bar(1));
    let cov = 0.09 * bb1 / (ab1 * 0.09 + bb1);
    assert!((0.09 - a.var - cov).abs() < 1e-12);
}

#[test]
fn analytic_samplers_are_exact_for_every_k() {
    // Theorem: with ε* and x_N ~ q(x_N) every node has the exact marginal; the only error is
    // f64 rounding through ≤ 1000 affine steps, so 1e-10 absolute.
    for (m, s2) in [(0.5, 0.09), (-1.0, 4.0), (0.0, 1.0), (2.0, 1e-3)] {
        for k in [1, 2, 3, 7, 10, 25, 100, 1000] {
            for sampler in [Sampler::AnalyticDdpm, Sampler::AnalyticDdim { eta: 0.0 }] {
                let got = final_moments(m, s2, k, sampler, FinalStep::Sample);
                assert!(
                    (got.var - s2).abs() < 1e-10 * s2.max(1.0),
                    "{m} {s2} K={k}: {}",
                    got.var
                );
                assert!((got.mean - m).abs() < 1e-10, "{m} {s2} K={k}: {}", got.mean);
            }
        }
    }
}

#[test]
fn handcrafted_variances_miss_as_the_spec_says() {
    // Spec §10.3 properties (K = 10, corrected values): at s² = 1 DDIM(η=0) 0.664 and
    // DDPM-β̃ 0.521 under-disperse while DDPM-β is exact; at s² = 4 DDPM-β gives 3.117.
    // Values printed to 3 decimals, tolerance 6e-4.
    let g = |s2, sampler| final_moments(0.0, s2, 10, sampler, FinalStep::Sample).var;
    assert!((g(1.0, Sampler::Ddim { eta: 0.0 }) - 0.664).abs() < 6e-4);
    assert!((g(1.0, Sampler::DdpmTilde) - 0.521).abs() < 6e-4);
    assert!((g(1.0, Sampler::DdpmBeta) - 1.0).abs() < 1e-10);
    assert!((g(4.0, Sampler::DdpmBeta) - 3.117).abs() < 6e-4);
    // Convergence to s² as K grows, under-dispersion at every K.
    let mut prev = 0.0;
    for k in [10, 100, 1000] {
        let v = final_moments(0.5, 0.09, k, Sampler::Ddim { eta: 0.0 }, FinalStep::Sample).var;
        assert!(v > prev && v < 0.09, "K={k}: {v}");
        prev = v;
    }
}

#[test]
fn dirac_limit_makes_tilde_beta_and_ddim_optimal() {
    // s² → 0: Γ → 1, the analytic DDPM variance → β̃ and the analytic DDIM variance → 0
    // (spec §10.3). With s² = 1e-14 the deviations are O(s²/β̄) ≤ 1e-9 relative.
    let sched = Schedule::linear(1000).unwrap();
    let law = Gaussian::isotropic(1, 0.3, 1e-14).unwrap();
    let gamma = Gamma::from_fn(&sched, |ab| law.gamma(ab)).unwrap();
    let traj = Trajectory::even(1000, 10).unwrap();
    let a = plan(
        &sched,
        &traj,
        &PlanConfig::exact(Sampler::AnalyticDdpm),
        &gamma,
    )
    .unwrap();
    let t = plan(
        &sched,
        &traj,
        &PlanConfig::exact(Sampler::DdpmTilde),
        &gamma,
    )
    .unwrap();
    let d = plan(
        &sched,
        &traj,
        &PlanConfig::exact(Sampler::AnalyticDdim { eta: 0.0 }),
        &gamma,
    )
    .unwrap();
    for i in 0..9 {
        assert!(
            (a[i].variance / t[i].variance - 1.0).abs() < 1e-9,
            "step {i}"
        );
        assert!(d[i].variance < 1e-12, "step {i}: {}", d[i].variance);
    }
    for n in [1usize, 10, 500, 1000] {
        assert!((gamma.get(n).unwrap() - 1.0).abs() < 1e-9);
    }
    let v = final_moments(0.3, 1e-14, 10, Sampler::DdpmTilde, FinalStep::Sample).var;
    assert!(v < 1e-12, "{v}");
}
