//! Property tests of `series::sum`: on random members of each tail-method family the call never
//! panics, answers within a stated bound (3 s in release; measured well under 1 s), and its
//! enclosure never contradicts a conclusive numeric check on partial sums:
//! - positive terms: the sum is at least every partial sum S_M (checked at M = 2000);
//! - (−1)^n b_n with b decreasing: the sum lies between S_M and S_{M+1}.

use std::time::{Duration, Instant};

use proptest::prelude::*;

const TIME_BOUND: Duration = Duration::from_secs(3);

/// S_M = Σ_{n0≤n<M} a_n in f64, stopping at the first term f64 cannot represent (for the
/// positive families here such terms are negligible, and a shorter partial sum is still a
/// lower bound).
fn partial(src: &str, n0: u64, m: u64) -> f64 {
    let e = series::parse(src).unwrap();
    (n0..m).map_while(|n| e.eval(n as f64).ok()).sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn positive_sums_are_above_every_partial_sum(
        kind in 0usize..4, a in 1i64..9, b in 1i64..5, c in 1i64..7, n0 in 1u64..6,
    ) {
        // p = 1 + a/b > 1; every term positive from n0 on.
        let src = match kind {
            0 => format!("{c}/n^(1 + {a}/{b})"),
            1 => format!("{c}*n^{a}/({b} + 1)^n"),
            2 => format!("{c}^n/n!"),
            _ => format!("(2 + sin({a}*n))/n^(2 + {a}/{b})"),
        };
        let start = Instant::now();
        let v = series::sum(&src, n0, 8).unwrap_or_else(|e| panic!("{src}: {e}"));
        prop_assert!(start.elapsed() < TIME_BOUND, "{}: {:?}", src, start.elapsed());
        prop_assert!(v.lo <= v.hi, "{}: {:?}", src, v);
        let s = partial(&src, n0, 2000);
        prop_assert!(v.hi >= s * (1.0 - 1e-12), "{}: {:?} below S_2000 = {}", src, v, s);
    }

    #[test]
    fn alternating_sums_lie_between_consecutive_partial_sums(
        a in 1i64..9, b in 1i64..5, n0 in 1u64..6,
    ) {
        let src = format!("(-1)^n/n^({a}/{b})");
        let start = Instant::now();
        let v = series::sum(&src, n0, 8).unwrap_or_else(|e| panic!("{src}: {e}"));
        prop_assert!(start.elapsed() < TIME_BOUND, "{}: {:?}", src, start.elapsed());
        let (s1, s2) = (partial(&src, n0, 2001), partial(&src, n0, 2002));
        let (lo, hi) = (s1.min(s2) - 1e-12, s1.max(s2) + 1e-12);
        prop_assert!(v.lo <= hi && v.hi >= lo, "{}: {:?} outside [{}, {}]", src, v, lo, hi);
    }
}
