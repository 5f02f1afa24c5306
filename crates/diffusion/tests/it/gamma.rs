//! Γ_t: Monte Carlo from any predictor vs closed forms and quadrature (spec §10.3).

use diffusion::analytic::estimate_gamma;
use diffusion::exact::{DataLaw, Gaussian, GaussianMixture, Rademacher, sample_law};
use diffusion::{EpsPredictor, Schedule};
use rand::SeedableRng;
use rand::rngs::StdRng;

#[test]
fn rademacher_gamma_matches_quadrature_reference() {
    // Spec §10.3: 200-point Gauss–Hermite values (4 digits printed), linear N = 1000.
    let sched = Schedule::linear(1000).unwrap();
    for (t, want) in [
        (1, 1.000),
        (10, 1.000),
        (50, 1.000),
        (100, 0.9577),
        (200, 0.5339),
        (300, 0.6213),
        (500, 0.9214),
        (1000, 0.99996),
    ] {
        let got = Rademacher::gamma(sched.alpha_bar(t), 200);
        assert!((got - want).abs() < 6e-5, "t={t}: {got} vs {want}");
        // The rule has converged far below the printed digits: 200 and 400 nodes agree to 5e-6
        // (tanh has complex poles, so Gauss–Hermite converges only geometrically here).
        let fine = Rademacher::gamma(sched.alpha_bar(t), 400);
        assert!((got - fine).abs() < 5e-6, "t={t}: {got} vs {fine}");
    }
}

#[test]
fn monte_carlo_gamma_agrees_with_quadrature_and_closed_form() {
    // M = 200 000 rows: Γ is a mean of ε*² ≤ O(1) with std ≲ 1.5, so the standard error is
    // ≲ 3.4e-3; tolerance 0.012 (3.5 σ).
    let sched = Schedule::linear(1000).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let rad = Rademacher::new(1).unwrap();
    let data = sample_law(&rad, &mut rng, 200_000);
    let times = [100, 200, 300, 500];
    let g = estimate_gamma(&rad, &sched, &data, &times, 4096, &mut rng, &mut |_| {}).unwrap();
    for t in times {
        let q = Rademacher::gamma(sched.alpha_bar(t), 200);
        assert!((g.get(t).unwrap() - q).abs() < 0.012, "t={t}");
    }
    let gauss = Gaussian::new(vec![0.5, -1.0], vec![0.09, 2.0]).unwrap();
    let data = sample_law(&gauss, &mut rng, 100_000);
    let g = estimate_gamma(&gauss, &sched, &data, &times, 1000, &mut rng, &mut |_| {}).unwrap();
    for t in times {
        let exact = gauss.gamma(sched.alpha_bar(t));
        assert!((g.get(t).unwrap() - exact).abs() < 0.012, "t={t}");
    }
}

#[test]
fn exact_gamma_lies_in_unit_interval_and_tends_to_one() {
    // Spec §10.4: 0 ≤ Γ ≤ 1 (Jensen), Γ_N ≈ 1 when ᾱ_N ≈ 0. MC with 20 000 rows, slack 0.02.
    let sched = Schedule::linear(1000).unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let gmm = GaussianMixture::ring(8, 2.0, 0.1).unwrap();
    let data = sample_law(&gmm, &mut rng, 20_000);
    let times: Vec<usize> = (1..=1000).step_by(37).chain([1000]).collect();
    let g = estimate_gamma(&gmm, &sched, &data, &times, 5000, &mut rng, &mut |_| {}).unwrap();
    for &t in &times {
        let v = g.get(t).unwrap();
        assert!((-0.02..=1.02).contains(&v), "t={t}: {v}");
    }
    assert!((g.get(1000).unwrap() - 1.0).abs() < 0.02);
    assert_eq!(gmm.dim(), gmm.data_dim());
}
