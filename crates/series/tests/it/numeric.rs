//! Numeric cross-checks of convergent cases: partial sums against closed forms and the block
//! sums Σ_{N≤n<2N} a_n against the integral of the claimed equivalent c·m(x).
//! Numerics never decide anything in the library; here they only test the claims it makes.

use series::{Verdict, analyze, parse};

fn partial_sum(src: &str, from: u64, to: u64) -> f64 {
    let e = parse(src).unwrap();
    // Sum smallest terms first to limit rounding error.
    (from..=to).rev().map(|n| e.eval(n as f64).unwrap()).sum()
}

/// Composite Simpson rule on [a, b] in the variable ln x (the integrands vary on that scale).
fn integral(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    let steps = 2000;
    let (la, lb) = (a.ln(), b.ln());
    let h = (lb - la) / steps as f64;
    let g = |u: f64| {
        let x = u.exp();
        f(x) * x
    };
    let mut s = g(la) + g(lb);
    for i in 1..steps {
        let w = if i % 2 == 1 { 4.0 } else { 2.0 };
        s += w * g(la + i as f64 * h);
    }
    s * h / 3.0
}

#[test]
fn counterexample_sum_matches_the_spec_value() {
    // Spec §2: Σ_{n≥2} 1/(n ln² n) ≈ 2.1097428012 (mpmath). The tail beyond N is
    // ∫_{N+1/2}^∞ dx/(x ln² x) = 1/ln(N + 1/2) up to O(1/(N² ln² N)) (midpoint rule).
    let n = 20_000;
    let s = partial_sum("1/(n*ln(n)^2)", 2, n) + 1.0 / (n as f64 + 0.5).ln();
    assert!((s - 2.109_742_801_2).abs() < 1e-6, "{s}");
}

#[test]
fn basel_and_euler_gamma() {
    let n = 20_000;
    // Tail of Σ1/n² beyond N: 1/(N + 1/2) + O(N^-3).
    let s = partial_sum("1/n^2", 1, n) + 1.0 / (n as f64 + 0.5);
    assert!((s - std::f64::consts::PI.powi(2) / 6.0).abs() < 1e-9, "{s}");
    // Σ (1/n − ln(1 + 1/n)) = γ; tail ≈ ∫_{N+1/2}^∞ dx/(2x²) = 1/(2N + 1).
    let s = partial_sum("1/n - ln(1 + 1/n)", 1, n) + 1.0 / (2.0 * n as f64 + 1.0);
    assert!((s - 0.577_215_664_9).abs() < 1e-8, "{s}");
}

#[test]
fn block_sums_follow_the_claimed_equivalent() {
    // Σ_{N≤n<2N} a_n and ∫_N^{2N} c·m(x) dx differ by a relative O(1/ln N) at worst
    // (log-type corrections), so 2% at N = 20000 is a real test of the leading term.
    let cases = [
        ("1/n^2", 1),
        ("1/(n*ln(n)^2)", 2),
        ("1 - cos(1/n)", 1),
        ("(sqrt(n + 1) - sqrt(n))/n", 1),
        ("ln(n)^2/n^2", 1),
        ("n^(1/n^2) - 1", 1),
        ("((2*n - 1)!!/(2*n)!!)^3", 1),
    ];
    let n = 20_000u64;
    for (src, n0) in cases {
        let r = analyze(src, n0).unwrap();
        assert_eq!(r.verdict, Verdict::Converges, "{src}");
        let (c, m) = r.leading.clone().unwrap();
        let block = if src.contains("!!") {
            // The terms underflow nothing but the factorials overflow f64: use the recurrence
            // a_{n+1}/a_n = ((2n+1)/(2n+2))^3 from a_1 = 1/8.
            let mut a = 0.125f64;
            let mut sum = 0.0;
            for k in 1..2 * n {
                if k >= n {
                    sum += a;
                }
                let f = (2.0 * k as f64 + 1.0) / (2.0 * k as f64 + 2.0);
                a *= f * f * f;
            }
            sum
        } else {
            partial_sum(src, n, 2 * n - 1)
        };
        let c = c.to_f64();
        let approx = integral(|x| c * m.to_f64_at(x), n as f64 - 0.5, 2.0 * n as f64 - 0.5);
        let rel = (block / approx - 1.0).abs();
        assert!(
            rel < 0.02,
            "{src}: block {block} vs {approx} ({}), rel {rel}",
            r.equivalent
        );
    }
}

#[test]
fn claimed_equivalents_match_the_terms_numerically() {
    // Sanity check of every expansion in the public table (never evidence for a verdict):
    // a_n / (c·m(n)) must be close to 1 at a large n. Terms that overflow or lose all digits
    // in f64 at that n are skipped; so are rows decided on a reduced term b_n.
    let text = include_str!("../data/cases.txt");
    let (mut checked, mut failures) = (0, Vec::new());
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let parts: Vec<&str> = line.splitn(4, '|').map(str::trim).collect();
        let (n0, src): (u64, &str) = (parts[2].parse().unwrap(), parts[3]);
        let Ok(r) = analyze(src, n0) else { continue };
        let Some((c, m)) = r.leading.clone() else {
            continue;
        };
        if !r.equivalent.starts_with("a_n ~") {
            continue;
        }
        let e = parse(src).unwrap();
        let n = (n0 as f64).max(1.0) * 1e4;
        let (Ok(v), approx) = (e.eval(n), c.to_f64() * m.to_f64_at(n)) else {
            continue;
        };
        if v == 0.0 || !approx.is_finite() || approx == 0.0 {
            continue;
        }
        checked += 1;
        let rel = (v / approx - 1.0).abs();
        if rel > 0.05 {
            failures.push(format!(
                "{src}: a_n = {v:e}, {} gives {approx:e}",
                r.equivalent
            ));
        }
    }
    assert!(checked >= 80, "only {checked} rows checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
