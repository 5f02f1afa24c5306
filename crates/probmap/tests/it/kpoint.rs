//! The article's K-point rule: first-order convergence to the exact map (spec §8 D).

use probmap::{Family, Map};

#[test]
fn kpoint_converges_at_first_order() {
    let mu = [1.0, 2.0, 3.0];
    let map = Map::new(Family::Gauss, 1.0).unwrap();
    let exact = map.probs(&mu).unwrap();
    let err = |k| {
        let p = map.kpoint(&mu, k).unwrap();
        p.iter()
            .zip(&exact)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    };
    // spec (python3 check): 2.1e-2 at K = 10, 3.5e-3 at K = 100, 4.2e-4 at K = 1000
    let (e10, e100, e1000) = (err(10), err(100), err(1000));
    assert!((e10 - 2.1e-2).abs() < 0.1e-2, "{e10}");
    assert!((e100 - 3.5e-3).abs() < 0.1e-3, "{e100}");
    assert!((e1000 - 4.2e-4).abs() < 0.1e-4, "{e1000}");
    assert!(map.kpoint(&mu, 0).is_err());
}
