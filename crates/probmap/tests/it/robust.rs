//! Large n, extreme gaps and ties: exact references where they exist (softmax for Gumbel noise,
//! the exact exponential and uniform rules, symmetry for ties), otherwise agreement between two
//! independent panel sets. Tolerance 1e-12 absolute.

use probmap::{Family, Map, Noise, QuadConfig, closed};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn max_err(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn scores(n: usize, spread: f64, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| spread * rng.random::<f64>()).collect()
}

/// The generic quadrature, run on Gumbel noise, against softmax (exact) for n up to 10^5.
#[test]
fn gumbel_quadrature_is_softmax_for_large_n() {
    for (n, spread) in [(10, 5.0), (1000, 20.0), (100_000, 8.0)] {
        let mu = scores(n, spread, n as u64);
        let map = Map::new(Family::Gumbel, 1.0).unwrap();
        let t = std::time::Instant::now();
        let ev = map.quadrature(&mu).unwrap();
        let err = max_err(&ev.p, &closed::softmax(&mu));
        let sum: f64 = ev.p.iter().sum();
        eprintln!(
            "gumbel n={n}: err {err:.2e} est {:.2e} sum-1 {:.2e} Q={} {:?}",
            ev.error,
            sum - 1.0,
            ev.nodes,
            t.elapsed()
        );
        assert!(err <= 1e-12, "n={n}: {err:e}");
        assert!((sum - 1.0).abs() <= 1e-12, "n={n}: sum {sum}");
    }
}

/// Exponential noise against its exact O(n²) rule; uniform against the exact piecewise rule.
#[test]
fn bounded_families_match_exact_rules() {
    for (n, spread) in [(2, 1.0), (7, 3.0), (300, 6.0), (2000, 10.0)] {
        let mu = scores(n, spread, 7 + n as u64);
        let p = Map::new(Family::Exponential, 1.0)
            .unwrap()
            .probs(&mu)
            .unwrap();
        let err = max_err(&p, &closed::exponential(&mu));
        eprintln!("exponential n={n}: {err:.2e}");
        assert!(err <= 1e-12, "exponential n={n}: {err:e}");
    }
    for (n, spread) in [(2, 0.7), (5, 1.5), (12, 1.2), (40, 0.9)] {
        let mu = scores(n, spread, 11 + n as u64);
        let p = Map::new(Family::Uniform, 1.0).unwrap().probs(&mu).unwrap();
        let err = max_err(&p, &closed::uniform(&mu));
        eprintln!("uniform n={n}: {err:.2e}");
        assert!(err <= 1e-12, "uniform n={n}: {err:e}");
    }
}

/// Ties: equal scores get equal probabilities, and all-equal scores give 1/n.
#[test]
fn ties_are_exact() {
    let fams = [
        Family::Gauss,
        Family::Logistic,
        Family::Laplace,
        Family::Uniform,
        Family::Exponential,
        Family::student(1.5).unwrap(),
    ];
    for fam in fams {
        let big = if fam == Family::Gauss {
            100_000
        } else {
            10_000
        };
        for n in [3, 100, big] {
            let mu = vec![0.25; n];
            let p = Map::new(fam, 1.0).unwrap().probs(&mu).unwrap();
            let err = p
                .iter()
                .map(|x| (x - 1.0 / n as f64).abs())
                .fold(0.0, f64::max);
            assert!(err <= 1e-12, "{fam} n={n}: {err:e}");
        }
        let p = Map::new(fam, 1.0)
            .unwrap()
            .probs(&[2.0, -1.0, 2.0, 0.5, -1.0])
            .unwrap();
        assert_eq!(p[0], p[2], "{fam}");
        assert_eq!(p[1], p[4], "{fam}");
    }
}

/// Large n and gaps ≥ 50 for the families without a closed form: Σp = 1 and agreement with a
/// twice-as-fine panel set with 24-point rules.
#[test]
fn large_n_and_gaps_agree_with_finer_quadrature() {
    let fine = QuadConfig {
        nodes_per_panel: 24,
        refine: 2,
        ..QuadConfig::ACCURATE
    };
    let fams = [
        Family::Gauss,
        Family::Logistic,
        Family::Laplace,
        Family::student(3.0).unwrap(),
    ];
    let mut gap = vec![0.0, 60.0, -55.0, 1.0, 120.0, 119.5];
    gap.extend(scores(20, 3.0, 5));
    for fam in fams {
        let n = if fam.heavy_tailed() { 2_000 } else { 20_000 };
        for mu in [scores(n, 6.0, 3), gap.clone()] {
            let t = std::time::Instant::now();
            let p = Map::new(fam, 1.0).unwrap().probs(&mu).unwrap();
            let dt = t.elapsed();
            let q = Map::with_config(fam, 1.0, fine)
                .unwrap()
                .probs(&mu)
                .unwrap();
            let err = max_err(&p, &q);
            let sum: f64 = p.iter().sum();
            eprintln!(
                "{fam} n={}: vs fine {err:.2e} sum-1 {:.2e} {dt:?}",
                mu.len(),
                sum - 1.0
            );
            assert!(err <= 1e-12, "{fam} n={}: {err:e}", mu.len());
            assert!((sum - 1.0).abs() <= 1e-12, "{fam} n={}: {sum}", mu.len());
        }
    }
}
