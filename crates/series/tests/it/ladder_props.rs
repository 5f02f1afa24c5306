//! Property tests of the logarithmic scale: for random exact exponents, the verdict on
//! Σ 1/(n^p (ln n)^q (ln ln n)^r) is the lexicographic rule (p, q, r) > (1, 1, 1).

use proptest::prelude::*;
use series::{Verdict, analyze};

/// Compares a/b with 1 exactly.
fn cmp_one(a: i64, b: i64) -> std::cmp::Ordering {
    a.cmp(&b)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn p_and_q_follow_the_lexicographic_rule(
        a in 1i64..40, b in 1i64..12, c in -20i64..40, d in 1i64..10, boundary in any::<bool>(),
    ) {
        // Half of the cases sit exactly on p = 1 so that the second level decides.
        let (a, b) = if boundary { (b, b) } else { (a, b) };
        let src = format!("1/(n^({a}/{b})*ln(n)^({c}/{d}))");
        let r = analyze(&src, 2).unwrap();
        let expected = match cmp_one(a, b) {
            std::cmp::Ordering::Greater => (Verdict::Converges, "p-series"),
            std::cmp::Ordering::Less => (Verdict::Diverges, "p-series"),
            // q = 0 is the harmonic series itself, decided on the first level.
            std::cmp::Ordering::Equal if c == 0 => (Verdict::Diverges, "p-series"),
            std::cmp::Ordering::Equal => {
                let v = if c > d { Verdict::Converges } else { Verdict::Diverges };
                (v, "Bertrand test")
            }
        };
        prop_assert_eq!((r.verdict, r.test.as_str()), expected, "{}: {}", src, r.justification);
    }

    #[test]
    fn third_level_decides_on_the_boundary(r_num in -10i64..30, r_den in 1i64..10) {
        let src = format!("1/(n*ln(n)*ln(ln(n))^({r_num}/{r_den}))");
        let r = analyze(&src, 3).unwrap();
        let expected = if r_num > r_den { Verdict::Converges } else { Verdict::Diverges };
        prop_assert_eq!(r.verdict, expected, "{}: {}", src, r.justification);
        // r = 0 is Σ 1/(n ln n), the boundary series of the first log level.
        let test = if r_num == 0 { "Bertrand test" } else { "log scale k=2" };
        prop_assert_eq!(r.test.as_str(), test);
    }
}
