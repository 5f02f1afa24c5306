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
        let (n0, src, reference): (u64, &str, f64) = (
            parts[0].parse().unwrap(),
            parts[1],
            parts[2].parse().unwrap(),
        );
        let v = series::sum(src, n0, 10).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert!(
            v.lo <= reference && reference <= v.hi,
            "{src} from {n0}: [{:e}, {:e}] misses {reference}",
            v.lo,
            v.hi
        );
        assert!(v.digits >= 10, "{src}: only {} digits ({v:?})", v.digits);
        let printed: f64 = v.value.parse().unwrap();
        let unit = 10f64.powi(reference.abs().log10().floor() as i32 - v.digits as i32 + 1);
        assert!(
            (printed - reference).abs() <= unit,
            "{src}: {} vs {reference}",
            v.value
        );
        n += 1;
    }
    assert!(n >= 8, "{n} reference values");
}

#[test]
fn the_notes_counterexample_has_its_value() {
    // Spec §2: Σ_{n≥2} 1/(n ln² n) ≈ 2.1097428012.
    let v = series::sum("1/(n*ln(n)^2)", 2, 11).unwrap();
    assert_eq!(v.value, "2.1097428012", "{v:?}");
}

#[test]
fn only_proved_positive_convergent_series_have_a_value() {
    for src in ["1/n", "(-1)^n/n", "sin(n)/n^2", "1/(n^2 + 1)"] {
        assert!(series::sum(src, 1, 10).is_err(), "{src}");
    }
}
