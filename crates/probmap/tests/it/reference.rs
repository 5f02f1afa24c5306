//! Golden values: `tests/data/reference.tsv`, written by `scripts/reference.py` (mpmath 1.3,
//! 30 digits, tanh-sinh quadrature with break points at every mu_j and kink; printed with 20
//! significant digits). Tolerance: 1e-12 absolute on every p_i, the crate's accuracy target.

use probmap::{Family, Map};

pub struct Case {
    pub family: Family,
    pub mu: Vec<f64>,
    pub p: Vec<f64>,
}

pub fn cases() -> Vec<Case> {
    include_str!("../data/reference.tsv")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let family = if cols[0] == "student" {
                Family::student(cols[1].parse().unwrap()).unwrap()
            } else {
                cols[0].parse().unwrap()
            };
            let parse = |s: &str| s.split(',').map(|x| x.parse::<f64>().unwrap()).collect();
            Case {
                family,
                mu: parse(cols[2]),
                p: parse(cols[3]),
            }
        })
        .collect()
}

fn max_err(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn every_family_matches_mpmath_to_1e_12() {
    let cases = cases();
    assert!(cases.len() >= 50, "reference table truncated");
    let mut worst = 0.0f64;
    let mut report = String::new();
    for c in &cases {
        let map = Map::new(c.family, 1.0).unwrap();
        let ev = map.evaluate(&c.mu).unwrap();
        let err = max_err(&ev.p, &c.p);
        let sum: f64 = ev.p.iter().sum();
        report.push_str(&format!(
            "{} {:?}: err {err:.2e} est {:.2e} sum-1 {:.2e} Q={}\n",
            c.family,
            c.mu,
            ev.error,
            sum - 1.0,
            ev.nodes
        ));
        worst = worst.max(err);
        assert!(err <= 1e-12, "{report}");
        assert!((sum - 1.0).abs() <= 1e-12, "{report}");
        // the error estimate must not be optimistic
        assert!(ev.error >= err, "{report}");
    }
    eprintln!("{report}worst {worst:.2e}");
}

/// The cheap setting used for training: its error is dominated by the 1e-10 cut-off tails.
#[test]
fn fast_config_is_accurate_to_1e_9() {
    for c in cases()
        .iter()
        .filter(|c| !matches!(c.family, Family::StudentT(_)))
    {
        let map = Map::with_config(c.family, 1.0, probmap::QuadConfig::FAST).unwrap();
        let ev = map.quadrature(&c.mu).unwrap();
        let err = max_err(&ev.p, &c.p);
        eprintln!(
            "FAST {} {:?}: err {err:.1e} est {:.1e} Q={}",
            c.family, c.mu, ev.error, ev.nodes
        );
        assert!(err <= 1e-9, "{} {:?}: {err:e}", c.family, c.mu);
        assert!(
            ev.error >= err,
            "{} {:?}: estimate {} < {err}",
            c.family,
            c.mu,
            ev.error
        );
    }
}
