//! The signed/oscillating case table `tests/data/signed.txt` (issue 19): verdict, deciding test
//! and absolute/conditional convergence of every row, checked by hand.

use series::{Convergence, Verdict, analyze};

struct Case {
    line: usize,
    verdict: Verdict,
    test: String,
    convergence: Option<Convergence>,
    n0: u64,
    src: String,
}

fn cases() -> Vec<Case> {
    let text = include_str!("../data/signed.txt");
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.splitn(5, '|').map(str::trim).collect();
        assert_eq!(parts.len(), 5, "line {}: {line}", i + 1);
        let verdict = match parts[0] {
            "C" => Verdict::Converges,
            "D" => Verdict::Diverges,
            "U" => Verdict::Unknown,
            other => panic!("line {}: bad verdict {other}", i + 1),
        };
        let convergence = match parts[2] {
            "A" => Some(Convergence::Absolute),
            "C" => Some(Convergence::Conditional),
            "-" => None,
            other => panic!("line {}: bad convergence {other}", i + 1),
        };
        out.push(Case {
            line: i + 1,
            verdict,
            test: parts[1].to_string(),
            convergence,
            n0: parts[3].parse().expect("n0"),
            src: parts[4].to_string(),
        });
    }
    out
}

#[test]
fn every_family_has_cases() {
    let cs = cases();
    for test in [
        "Leibniz test",
        "Dirichlet test",
        "pairing comparison",
        "root test",
        "none",
    ] {
        let k = cs.iter().filter(|c| c.test == test).count();
        assert!(k >= 3, "{test}: {k} cases");
    }
    let conditional = cs
        .iter()
        .filter(|c| c.convergence == Some(Convergence::Conditional))
        .count();
    assert!(conditional >= 8, "{conditional} conditional cases");
}

#[test]
fn every_signed_case_gets_its_verdict_test_and_mode() {
    let mut failures = Vec::new();
    for c in cases() {
        match analyze(&c.src, c.n0) {
            Ok(r) => {
                if r.verdict != c.verdict || r.test != c.test || r.convergence != c.convergence {
                    failures.push(format!(
                        "line {} `{}`: expected {} by {} ({:?}), got {} by {} ({:?}; {})",
                        c.line,
                        c.src,
                        c.verdict,
                        c.test,
                        c.convergence,
                        r.verdict,
                        r.test,
                        r.convergence,
                        r.justification
                    ));
                }
            }
            Err(e) => failures.push(format!("line {} `{}`: error {e}", c.line, c.src)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn justifications_name_the_argument() {
    let r = analyze("sin(n)/n", 1).unwrap();
    assert!(r.justification.contains("Dirichlet"), "{}", r.justification);
    assert!(
        r.justification.contains("conditional"),
        "{}",
        r.justification
    );
    let r = analyze("sin(n)^2/n", 1).unwrap();
    assert!(
        r.justification
            .contains("consecutive integers cannot all sit near a zero"),
        "{}",
        r.justification
    );
    let r = analyze("cos(1/n) - 1", 1).unwrap();
    assert!(
        r.justification.contains("a_n < 0 for all large n"),
        "{}",
        r.justification
    );
}

#[test]
fn poles_beyond_the_sampled_terms_are_errors_or_unknown() {
    // Issue 20 item 2: never a verdict on a series whose term is undefined somewhere.
    for (src, n) in [("1/(n-5000)^2", 5000u64), ("1/(n^2-4999^2)", 4999)] {
        match analyze(src, 1) {
            Err(series::Error::UndefinedAt { n: m, hint, .. }) => {
                assert_eq!(m, n, "{src}");
                assert_eq!(hint, Some(n + 1), "{src}");
            }
            other => panic!("{src}: {other:?}"),
        }
        // Starting after the pole, the series is decided.
        let r = analyze(src, n + 1).unwrap();
        assert_eq!(r.verdict, Verdict::Converges, "{src}");
    }
    // The pole at 10^20 is beyond u64: no verdict, with the reason.
    let r = analyze("1/(n-10^20)^2", 1).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(
        r.justification
            .contains("undefined at n = 100000000000000000000"),
        "{}",
        r.justification
    );
    // A denominator that cannot be proved non-zero: unknown with the reason, not a verdict.
    let r = analyze("1/(n^2*sin(n^2))", 1).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(
        r.justification.starts_with("domain:"),
        "{}",
        r.justification
    );
}

#[test]
fn huge_factorials_are_not_domain_errors() {
    // Issue 20 item 14: 1/((n!)!)! was "factorial of a negative or non-integer number".
    let r = analyze("1/((n!)!)!", 1).unwrap();
    assert_ne!(r.verdict, Verdict::Diverges, "{}", r.justification);
}
