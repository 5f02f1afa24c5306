//! Closed forms (crate `closed`) against the shared-node quadrature, 1e-12 absolute.

use probmap::{Family, Map, Noise, QuadConfig, Quadrature, closed};

fn max_err(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn pair_formulas_match_quadrature() {
    let cauchy = Family::student(1.0).unwrap();
    for &d in &[-50.0, -3.0, -0.4, 0.0, 0.1, 1.0, 7.5, 60.0] {
        let mu = [d, 0.0];
        let cases: [(Family, [f64; 2]); 3] = [
            (Family::Gauss, closed::gauss_pair(d, 0.0)),
            (Family::Laplace, closed::laplace_pair(d, 0.0)),
            (cauchy, closed::cauchy_pair(d, 0.0)),
        ];
        for (fam, want) in cases {
            let got = Map::new(fam, 1.0).unwrap().probs(&mu).unwrap();
            let err = max_err(&got, &want);
            assert!(err <= 1e-12, "{fam} d={d}: {got:?} vs {want:?}");
        }
    }
}

#[test]
fn gumbel_quadrature_matches_softmax_jacobian_and_jvp() {
    let mu = [0.2, -1.0, 3.0, 2.5];
    let v = [1.0, 0.5, -2.0, 0.0];
    let q = Quadrature::new(QuadConfig::ACCURATE).unwrap();
    let p = closed::softmax(&mu);
    let jac = q.jacobian(&Family::Gumbel, &mu);
    let want = closed::softmax_jacobian(&p);
    for (a, b) in jac.iter().zip(&want) {
        assert!(max_err(a, b) <= 1e-12);
    }
    let jv = q.jvp(&Family::Gumbel, &mu, &v);
    assert!(max_err(&jv, &closed::softmax_jvp(&p, &v)) <= 1e-12);
}

/// A user-defined noise through the public trait: Gumbel-min, F(z) = 1 − exp(−e^z), whose
/// map has the inclusion–exclusion closed form `closed::gumbel_min`.
struct GumbelMin;

impl Noise for GumbelMin {
    fn name(&self) -> String {
        "gumbel-min".into()
    }
    fn ln_pdf(&self, z: f64) -> f64 {
        z - z.exp()
    }
    fn ln_cdf(&self, z: f64) -> f64 {
        let e = z.exp();
        // log(1 − exp(−e)), accurate for tiny and large e
        if e < std::f64::consts::LN_2 {
            (-(-e).exp_m1()).ln()
        } else {
            (-(-e).exp()).ln_1p()
        }
    }
    fn quantile(&self, p: f64) -> f64 {
        (-(-p).ln_1p()).ln()
    }
    fn quantile_upper(&self, q: f64) -> f64 {
        (-q.ln()).ln()
    }
    fn mode(&self) -> f64 {
        0.0
    }
}

#[test]
fn user_noise_gumbel_min_matches_inclusion_exclusion() {
    let q = Quadrature::new(QuadConfig::ACCURATE).unwrap();
    for mu in [
        vec![1.0, 2.0, 3.0],
        vec![0.0, 0.0, 0.5, -1.0, 2.0, 1.5, 0.25, -0.5],
    ] {
        let ev = q.evaluate(&GumbelMin, &mu);
        let want = closed::gumbel_min(&mu);
        let err = max_err(&ev.p, &want);
        assert!(err <= 1e-12, "{mu:?}: {err:e}");
        // the alternating reference itself carries ~1e-15 of cancellation
        assert!(
            ev.error + 1e-14 >= err,
            "{mu:?}: {err:e} vs estimate {:e}",
            ev.error
        );
    }
    // spec §10
    let p = q.probs(&GumbelMin, &[1.0, 2.0, 3.0]);
    assert!(max_err(&p, &[0.05338529917, 0.2447284711, 0.7018862298]) < 1e-10);
}
