//! Jacobian ∂p/∂mu against central finite differences and closed forms; JVP/VJP against the
//! full matrix; structure (symmetric, zero row sums, PSD); temperature identity.

use probmap::{Family, Map};

fn families() -> Vec<Family> {
    vec![
        Family::Gumbel,
        Family::Gauss,
        Family::Logistic,
        Family::Laplace,
        Family::Uniform,
        Family::Exponential,
        Family::student(1.0).unwrap(),
        Family::student(4.0).unwrap(),
    ]
}

/// Central differences with step 1e-4: truncation error ~ h² |p'''| ≲ 1e-8 and rounding
/// ~ 1e-16/h = 1e-12, so agreement to 1e-7 (for the C¹ uniform map: away from its kinks).
#[test]
fn jacobian_matches_finite_differences() {
    let mu = [0.3, -0.4, 0.9, 0.1];
    let h = 1e-4;
    for fam in families() {
        for scale in [1.0, 0.7] {
            let map = Map::new(fam, scale).unwrap();
            let jac = map.jacobian(&mu).unwrap();
            for k in 0..mu.len() {
                let mut up = mu;
                let mut dn = mu;
                up[k] += h;
                dn[k] -= h;
                let pu = map.probs(&up).unwrap();
                let pd = map.probs(&dn).unwrap();
                for i in 0..mu.len() {
                    let fd = (pu[i] - pd[i]) / (2.0 * h);
                    assert!(
                        (fd - jac[i][k]).abs() < 1e-7,
                        "{fam} τ={scale} J[{i}][{k}] = {} vs fd {fd}",
                        jac[i][k]
                    );
                }
            }
        }
    }
}

/// Spec §10: softmax and normal Jacobians at mu = (1, 2, 3) (10 digits), and
/// ∂p_1/∂mu_1 = 1/(2√π) for two standard normals at a tie.
#[test]
fn jacobian_reference_values() {
    let softmax = [
        [0.0819250691, -0.0220330445, -0.0598920245],
        [-0.0220330445, 0.1848364465, -0.1628034020],
        [-0.0598920245, -0.1628034020, 0.2226954265],
    ];
    let normal = [
        [0.0761287057, -0.0242402686, -0.0518884372],
        [-0.0242402686, 0.2196956447, -0.1954553762],
        [-0.0518884372, -0.1954553762, 0.2473438133],
    ];
    for (fam, want) in [(Family::Gumbel, softmax), (Family::Gauss, normal)] {
        let jac = Map::new(fam, 1.0)
            .unwrap()
            .jacobian(&[1.0, 2.0, 3.0])
            .unwrap();
        for i in 0..3 {
            for k in 0..3 {
                assert!((jac[i][k] - want[i][k]).abs() < 1e-10, "{fam} [{i}][{k}]");
            }
        }
    }
    let jac = Map::new(Family::Gauss, 1.0)
        .unwrap()
        .jacobian(&[0.0, 0.0])
        .unwrap();
    let want = 0.5 / std::f64::consts::PI.sqrt();
    assert!((jac[0][0] - want).abs() < 1e-13, "{} vs {want}", jac[0][0]);
}

#[test]
fn jacobian_structure_and_fast_products() {
    let mu = [1.5, -0.2, 0.0, 0.0, 3.0, 2.2];
    let v = [0.3, -1.0, 2.0, 0.5, -0.7, 1.1];
    for fam in families() {
        let map = Map::new(fam, 1.3).unwrap();
        let jac = map.jacobian(&mu).unwrap();
        let n = mu.len();
        for i in 0..n {
            let row: f64 = jac[i].iter().sum();
            assert!(row.abs() < 1e-14, "{fam} row {i} sums to {row}");
            for k in 0..n {
                assert!((jac[i][k] - jac[k][i]).abs() < 1e-14, "{fam} symmetry");
                if i != k {
                    assert!(jac[i][k] <= 1e-15, "{fam} off-diagonal must be ≤ 0");
                }
            }
        }
        // vᵀ J v ≥ 0 (J = ∇² of the convex expected max)
        let jv: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|k| jac[i][k] * v[k]).sum())
            .collect();
        let quad: f64 = jv.iter().zip(&v).map(|(a, b)| a * b).sum();
        assert!(quad >= -1e-14, "{fam}: vᵀJv = {quad}");
        let fast = map.jvp(&mu, &v).unwrap();
        let fast_t = map.vjp(&mu, &v).unwrap();
        for i in 0..n {
            assert!(
                (fast[i] - jv[i]).abs() < 1e-13,
                "{fam} jvp[{i}] {} vs {}",
                fast[i],
                jv[i]
            );
            assert_eq!(fast[i], fast_t[i]);
        }
    }
}

/// p(mu; τ) = p(mu/τ; 1) and J(mu; τ) = J(mu/τ; 1)/τ.
#[test]
fn temperature_identity() {
    let mu = [0.4, 1.0, -2.0];
    for fam in families() {
        for tau in [0.25, 3.0] {
            let scaled: Vec<f64> = mu.iter().map(|m| m / tau).collect();
            let a = Map::new(fam, tau).unwrap();
            let b = Map::new(fam, 1.0).unwrap();
            let (pa, pb) = (a.probs(&mu).unwrap(), b.probs(&scaled).unwrap());
            let (ja, jb) = (a.jacobian(&mu).unwrap(), b.jacobian(&scaled).unwrap());
            for i in 0..3 {
                assert_eq!(pa[i], pb[i], "{fam}");
                for k in 0..3 {
                    assert!((ja[i][k] - jb[i][k] / tau).abs() < 1e-15, "{fam}");
                }
            }
        }
    }
}
