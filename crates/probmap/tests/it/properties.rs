//! Property tests (proptest): p ≥ 0, Σp = 1, order preserved, shift invariance, permutation
//! equivariance, and bad input is an error (never a panic).

use probmap::{Error, Family, Map};
use proptest::prelude::*;

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![
        Just(Family::Gumbel),
        Just(Family::Gauss),
        Just(Family::Logistic),
        Just(Family::Laplace),
        Just(Family::Uniform),
        Just(Family::Exponential),
        (0.5f64..20.0).prop_map(|nu| Family::student(nu).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn map_is_a_distribution_that_keeps_order(
        fam in family(),
        scale in 0.1f64..5.0,
        mu in prop::collection::vec(-30.0f64..30.0, 1..40),
        shift in -100.0f64..100.0,
    ) {
        let map = Map::new(fam, scale).unwrap();
        let p = map.probs(&mu).unwrap();
        prop_assert!(p.iter().all(|&x| x >= 0.0));
        let sum: f64 = p.iter().sum();
        prop_assert!((sum - 1.0).abs() <= 1e-12, "sum {}", sum);
        for i in 0..mu.len() {
            for k in 0..mu.len() {
                if mu[i] > mu[k] {
                    // ≥ always; strictly > is not guaranteed for bounded noise (both 0)
                    prop_assert!(p[i] >= p[k] - 1e-15, "order {} {}: {:?}", i, k, p);
                }
            }
        }
        let shifted: Vec<f64> = mu.iter().map(|m| m + shift).collect();
        let q = map.probs(&shifted).unwrap();
        // the shift itself perturbs mu_i − mu_j by rounding (≈ 1e-14 relative to |shift|)
        for (a, b) in p.iter().zip(&q) {
            prop_assert!((a - b).abs() <= 1e-10, "shift: {} vs {}", a, b);
        }
        let rev: Vec<f64> = mu.iter().rev().copied().collect();
        let r = map.probs(&rev).unwrap();
        for (a, b) in p.iter().zip(r.iter().rev()) {
            prop_assert!((a - b).abs() <= 1e-14);
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic(
        fam in family(),
        mu in prop::collection::vec(prop_oneof![Just(f64::NAN), Just(f64::INFINITY), -5.0f64..5.0], 0..6),
        scale in prop_oneof![Just(0.0), Just(-1.0), Just(f64::NAN), 0.01f64..10.0],
    ) {
        match Map::new(fam, scale) {
            Err(Error::InvalidScale { .. }) => prop_assert!(scale.is_nan() || scale <= 0.0),
            Err(e) => prop_assert!(false, "unexpected {}", e),
            Ok(map) => {
                let ok = !mu.is_empty() && mu.iter().all(|x| x.is_finite());
                prop_assert_eq!(map.probs(&mu).is_ok(), ok);
                prop_assert_eq!(map.jacobian(&mu).is_ok(), ok);
                prop_assert_eq!(map.sample_counts(&mu, 3, 1).is_ok(), ok);
            }
        }
    }
}

#[test]
fn errors_are_clear() {
    let map = Map::new(Family::Gauss, 1.0).unwrap();
    assert_eq!(map.probs(&[]).unwrap_err(), Error::EmptyInput);
    let e = map.probs(&[1.0, f64::NAN]).unwrap_err();
    assert_eq!(e.to_string(), "mu[1] = NaN is not finite");
    let e = Map::new(Family::Gauss, 0.0).unwrap_err();
    assert_eq!(e.to_string(), "scale must be positive and finite, got 0");
    let e = "student:-2".parse::<Family>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "degrees of freedom ν must be positive and finite, got -2"
    );
    let e = "cauchy".parse::<Family>().unwrap_err();
    assert!(e.to_string().starts_with("unknown noise family \"cauchy\""));
    let e = map.jvp(&[1.0, 2.0], &[1.0]).unwrap_err();
    assert!(matches!(e, Error::LengthMismatch { .. }));
    let big = vec![0.0; Map::MAX_JACOBIAN + 1];
    assert!(matches!(map.jacobian(&big), Err(Error::TooLarge { .. })));
    assert!(map.jvp(&big, &big).is_ok());
    // tiny scale: mu/τ overflows → error, not inf/NaN output
    let tiny = Map::new(Family::Gauss, 1e-310).unwrap();
    assert!(tiny.probs(&[1e10, 0.0]).is_err());
}
