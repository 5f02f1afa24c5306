//! Property tests of the signed/oscillating families: for a_n = h(n)·g(n) with h drawn from a
//! list of oscillating factors of known behaviour and g = c/n^p (p random rational in (0, 3]),
//! the decider is never wrong (unknown is allowed only where listed), never panics and answers
//! each case within a stated bound (2 s in release, far above the measured ~1 ms). Random
//! expression soup must also never panic (see `parser_props`).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use series::{Convergence, Verdict, analyze};

/// (factor, Σ h/n^p for p <= 1 is: 'c' conditionally convergent, 'd' divergent, 'u' unknown
/// allowed).
const FACTORS: &[(&str, char)] = &[
    ("(-1)^n", 'c'),
    ("(-1)^(n+1)", 'c'),
    ("cos(pi*n)", 'c'),
    ("sin(n)", 'c'),
    ("cos(2*n + 1)", 'c'),
    ("sin(n/3)", 'c'),
    ("sin(n)^2", 'd'),
    ("abs(cos(n))", 'd'),
    ("1 + cos(n)", 'd'),
    ("2 + sin(n)", 'd'),
    ("exp(cos(n))", 'd'),
    // Products of oscillating factors (trigonometric expansion, pairing, bounds).
    ("(-1)^n*(2 + sin(n))", 'c'),
    ("sin(n)*cos(n)", 'c'),
    ("sin(n)*sin(2*n)", 'c'),
    ("sin(n)^3", 'c'),
    ("sin(n)*sin(n + 1)", 'd'),
    ("sin(n)^2*cos(n)^2", 'd'),
    ("(2 + sin(n))*(2 + cos(n))", 'd'),
    ("abs(sin(n))*abs(cos(n))", 'd'),
    ("(1 + cos(n))*(1 + sin(n))", 'd'),
    // No proof either way: must stay unknown.
    ("sin(n^2)", 'u'),
];

/// Bound on the time of one decision (stated in the crate docs and the addendum).
const TIME_BOUND: Duration = Duration::from_secs(2);

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn oscillating_families_are_never_wrong(
        k in 0..FACTORS.len(), a in 1i64..31, b in 1i64..11, c in 1i64..9,
    ) {
        let (h, kind) = FACTORS[k];
        let src = format!("{c}*({h})/n^({a}/{b})");
        let start = Instant::now();
        let r = analyze(&src, 1).unwrap();
        prop_assert!(start.elapsed() < TIME_BOUND, "{}: {:?}", src, start.elapsed());
        // p = a/b; p > 1: absolute convergence (|h| bounded).
        let expected = if a > b {
            (Verdict::Converges, Some(Convergence::Absolute))
        } else {
            match kind {
                'c' => (Verdict::Converges, Some(Convergence::Conditional)),
                'd' => (Verdict::Diverges, None),
                _ => (Verdict::Unknown, None),
            }
        };
        if r.verdict == Verdict::Unknown {
            prop_assert!(kind == 'u', "{} unknown: {}", src, r.justification);
        } else {
            prop_assert_eq!((r.verdict, r.convergence), expected, "{}: {}", src, r.justification);
        }
    }

    #[test]
    fn negated_terms_get_the_same_verdict(k in 0..FACTORS.len(), a in 1i64..31, b in 1i64..11) {
        let (h, _) = FACTORS[k];
        let src = format!("({h})/n^({a}/{b})");
        let r = analyze(&src, 1).unwrap();
        let m = analyze(&format!("-({src})"), 1).unwrap();
        prop_assert_eq!((r.verdict, r.convergence), (m.verdict, m.convergence), "{}", src);
    }
}

#[test]
fn alternating_partial_sums_settle_where_leibniz_says_so() {
    // A conclusive numeric check of a Leibniz verdict: for b_n decreasing to 0 the limit lies
    // between consecutive partial sums, so |S_N - S_(N+1)| = b_(N+1) bounds the distance of
    // S_N to the sum; the partial sums at N and 2N must then agree within b_N.
    for (src, b) in [("(-1)^n/sqrt(n)", 0.5f64), ("(-1)^n/ln(n + 1)", 0.0)] {
        let r = analyze(src, 1).unwrap();
        assert_eq!(r.test, "Leibniz test", "{src}");
        let e = series::parse(src).unwrap();
        let s = |n: u64| (1..=n).map(|k| e.eval(k as f64).unwrap()).sum::<f64>();
        let n = 20_000u64;
        let bn = if b > 0.0 {
            (n as f64).powf(-b)
        } else {
            1.0 / (n as f64).ln()
        };
        assert!((s(n) - s(2 * n)).abs() <= bn, "{src}");
    }
}
