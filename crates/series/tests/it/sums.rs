//! `series::sum` against reference values computed with mpmath at 30 digits
//! (`tests/data/sums.txt`, made by `bench/series/sum_reference.py`): the returned enclosure must
//! contain the reference, and be narrow enough for the digits asked for.

#[test]
fn enclosures_contain_the_mpmath_references() {
    let text = include_str!("../data/sums.txt");
    let mut n = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let (n0, src, reference, min_digits): (u64, &str, f64, u32) = (
            parts[0].parse().unwrap(),
            parts[1],
            parts[2].parse().unwrap(),
            parts[3].parse().unwrap(),
        );
        let v = series::sum(src, n0, 10).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert!(
            v.lo <= reference && reference <= v.hi,
            "{src} from {n0}: [{:e}, {:e}] misses {reference}",
            v.lo,
            v.hi
        );
        assert!(
            v.digits >= min_digits,
            "{src}: only {} digits ({v:?})",
            v.digits
        );
        // The tail enclosure is part of the total one.
        assert!(v.tail.0 <= v.tail.1, "{src}: {v:?}");
        let printed: f64 = v.value.parse().unwrap();
        let unit = 10f64.powi(reference.abs().log10().floor() as i32 - v.digits as i32 + 1);
        assert!(
            (printed - reference).abs() <= unit,
            "{src}: {} vs {reference}",
            v.value
        );
        n += 1;
    }
    assert!(n >= 33, "{n} reference values");
}

#[test]
fn the_notes_counterexample_has_its_value() {
    // Spec §2: Σ_{n≥2} 1/(n ln² n) ≈ 2.1097428012.
    let v = series::sum("1/(n*ln(n)^2)", 2, 11).unwrap();
    assert_eq!(v.value, "2.1097428012", "{v:?}");
}

#[test]
fn no_value_without_a_proved_tail_bound() {
    // Divergent, or convergent without a rigorous tail bound here (not an exact integral-test
    // family, not a ratio-test product, b_n not provably completely monotone, Dirichlet tail).
    for (src, why) in [
        ("1/n", "not proved convergent"),
        ("(-1)^n", "not proved convergent"),
        ("1/(n^2 + 1)", "no rigorous tail bound"),
        ("(-1)^n*n/(n^2 + 1)", "completely monotone"),
        ("sin(n)*ln(n)/n^(1/4)", "no rigorous tail bound"),
        ("1/(n^2*ln(ln(n)))", "no rigorous tail bound"),
    ] {
        let e = series::sum(src, 2, 10).unwrap_err().to_string();
        assert!(e.contains(why), "{src}: {e}");
    }
}

#[test]
fn each_tail_method_is_used_where_it_applies() {
    for (src, n0, test) in [
        ("1/n^2", 1, "integral test"),
        ("n!/n^n", 1, "ratio test"),
        ("ln(n)/n^2", 1, "integral test (power bounds)"),
        ("(-1)^n/n", 1, "alternating series"),
        (
            "(2 + sin(n))/n^2",
            1,
            "Abel summation (trigonometric factor) + integral test",
        ),
        ("sin(n)/n", 1, "Abel summation (trigonometric factor)"),
        (
            "(2 + cos(n))/2^n",
            1,
            "Abel summation (trigonometric factor) + ratio test",
        ),
        (
            "exp(cos(n))/n^2",
            1,
            "comparison (bounded factor) + integral test",
        ),
        (
            "exp(cos(n))/2^n",
            1,
            "comparison (bounded factor) + ratio test",
        ),
    ] {
        let v = series::sum(src, n0, 10).unwrap();
        assert_eq!(v.test, test, "{src}");
    }
}

#[test]
fn the_alternating_remainder_is_sharp_after_few_terms() {
    // -ln 2 to 15 digits with at most a few hundred explicit terms (the Euler transform of the
    // completely monotone tail), where |R_N| <= b_N alone would need ~10^15 terms.
    let v = series::sum("(-1)^n/n", 1, 15).unwrap();
    let ln2 = std::f64::consts::LN_2;
    assert!(v.lo <= -ln2 && -ln2 <= v.hi, "{v:?}");
    assert!(v.digits >= 14 && v.terms <= 1024, "{v:?}");
}
