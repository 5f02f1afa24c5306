//! The sampling loop on exact predictors: agreement with exact propagation, clipping, errors.

use diffusion::analytic::Gamma;
use diffusion::exact::{Gaussian, Rademacher};
use diffusion::{
    EpsPredictor, Error, Moments, NoiseLevel, PlanConfig, Sampler, Schedule, Trajectory, X0Clip,
    plan, propagate_gaussian, sample,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

#[test]
fn sampled_variance_matches_exact_propagation() {
    // 200 000 rows: the sample variance has relative standard error √(2/n) ≈ 3.2e-3, so the
    // tolerance is 1.5 % relative (≈ 4.7 σ); the mean has SE √(v/n) ≤ 1e-3, tolerance 5e-3.
    let sched = Schedule::linear(1000).unwrap();
    let traj = Trajectory::even(1000, 10).unwrap();
    let law = Gaussian::isotropic(1, 0.5, 0.09).unwrap();
    let gamma = Gamma::from_fn(&sched, |ab| law.gamma(ab)).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    for sampler in Sampler::LAB {
        let steps = plan(&sched, &traj, &PlanConfig::exact(sampler), &gamma).unwrap();
        let (ab, bb) = (sched.alpha_bar(1000), sched.beta_bar(1000));
        let start = Moments {
            mean: ab.sqrt() * 0.5,
            var: ab * 0.09 + bb,
        };
        let want = propagate_gaussian(&law, &steps, &[start]).unwrap()[0];
        let n = 200_000;
        let mut x: Vec<f64> = (0..n)
            .map(|_| {
                start.mean
                    + start.var.sqrt()
                        * rand_distr::Distribution::<f64>::sample(
                            &rand_distr::StandardNormal,
                            &mut rng,
                        )
            })
            .collect();
        let mut calls = 0;
        sample(&law, &steps, &mut x, &mut rng, &mut |_| calls += 1).unwrap();
        assert_eq!(calls, 10);
        let mean = x.iter().sum::<f64>() / n as f64;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        assert!(
            (mean - want.mean).abs() < 5e-3,
            "{}: mean {mean}",
            sampler.name()
        );
        assert!(
            (var / want.var - 1.0).abs() < 0.015,
            "{}: var {var} vs {}",
            sampler.name(),
            want.var
        );
    }
}

#[test]
fn clipped_ddim_ends_inside_the_range() {
    // DDIM(η=0) ends with x_0 = clip(x̂_0), so every output lies in [−1, 1] exactly.
    let sched = Schedule::cosine(100).unwrap();
    let traj = Trajectory::even(100, 5).unwrap();
    let mut cfg = PlanConfig::exact(Sampler::Ddim { eta: 0.0 });
    cfg.x0_clip = X0Clip::Range { lo: -1.0, hi: 1.0 };
    let steps = plan(&sched, &traj, &cfg, &Gamma::unknown(100)).unwrap();
    let law = Gaussian::isotropic(3, 0.0, 9.0).unwrap();
    let mut rng = StdRng::seed_from_u64(2);
    let mut x = vec![0.0; 3 * 500];
    diffusion::standard_normal(&mut rng, &mut x);
    sample(&law, &steps, &mut x, &mut rng, &mut |_| {}).unwrap();
    assert!(x.iter().all(|v| (-1.0..=1.0).contains(v)));
    assert!(x.iter().any(|v| v.abs() == 1.0), "clipping never triggered");
    // Clipping breaks affinity: exact propagation must refuse.
    let start = vec![
        Moments {
            mean: 0.0,
            var: 1.0
        };
        3
    ];
    assert!(propagate_gaussian(&law, &steps, &start).is_err());
}

#[test]
fn rademacher_samples_concentrate_on_plus_minus_one() {
    // Analytic-DDPM with exact ε* on {−1, 1}: with K = 100 the samples sit within 0.1 of ±1
    // and split about evenly (binomial SE 0.011 at 2 000 rows; tolerance 0.06).
    let sched = Schedule::linear(1000).unwrap();
    let traj = Trajectory::even(1000, 100).unwrap();
    let gamma = Gamma::from_fn(&sched, |ab| Rademacher::gamma(ab, 100)).unwrap();
    let steps = plan(
        &sched,
        &traj,
        &PlanConfig::exact(Sampler::AnalyticDdpm),
        &gamma,
    )
    .unwrap();
    let law = Rademacher::new(1).unwrap();
    let mut rng = StdRng::seed_from_u64(4);
    let mut x = vec![0.0; 2000];
    diffusion::standard_normal(&mut rng, &mut x);
    sample(&law, &steps, &mut x, &mut rng, &mut |_| {}).unwrap();
    let near = x.iter().filter(|v| (v.abs() - 1.0).abs() < 0.1).count();
    assert!(near as f64 > 0.97 * 2000.0, "{near}");
    let pos = x.iter().filter(|v| **v > 0.0).count() as f64 / 2000.0;
    assert!((pos - 0.5).abs() < 0.06, "{pos}");
}

struct Failing;

impl EpsPredictor for Failing {
    fn dim(&self) -> usize {
        2
    }
    fn predict_eps(&self, _x: &[f64], _l: NoiseLevel, _e: &mut [f64]) -> diffusion::Result<()> {
        Err(Error::Predictor("device lost".into()))
    }
}

#[test]
fn predictor_errors_and_bad_batches_propagate() {
    let sched = Schedule::linear(1000).unwrap();
    let traj = Trajectory::even(1000, 3).unwrap();
    let steps = plan(
        &sched,
        &traj,
        &PlanConfig::exact(Sampler::DdpmBeta),
        &Gamma::unknown(1000),
    )
    .unwrap();
    let mut rng = StdRng::seed_from_u64(0);
    let mut x = vec![0.0; 4];
    let err = sample(&Failing, &steps, &mut x, &mut rng, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("device lost"));
    let mut odd = vec![0.0; 3];
    assert!(sample(&Failing, &steps, &mut odd, &mut rng, &mut |_| {}).is_err());
}
