//! The public case table `tests/data/cases.txt`: every row's verdict and deciding test.

use series::{Verdict, analyze};

struct Case {
    line: usize,
    verdict: Verdict,
    test: String,
    n0: u64,
    src: String,
}

fn cases() -> Vec<Case> {
    let text = include_str!("../data/cases.txt");
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.splitn(4, '|').map(str::trim).collect();
        assert_eq!(parts.len(), 4, "line {}: {line}", i + 1);
        let verdict = match parts[0] {
            "C" => Verdict::Converges,
            "D" => Verdict::Diverges,
            "U" => Verdict::Unknown,
            other => panic!("line {}: bad verdict {other}", i + 1),
        };
        out.push(Case {
            line: i + 1,
            verdict,
            test: parts[1].to_string(),
            n0: parts[2].parse().expect("n0"),
            src: parts[3].to_string(),
        });
    }
    out
}

#[test]
fn table_has_enough_cases_on_every_test() {
    let cs = cases();
    assert!(cs.len() >= 80, "only {} cases", cs.len());
    for test in [
        "term test",
        "p-series",
        "ratio test",
        "root test",
        "Raabe test",
        "Gauss test",
        "Bertrand test",
        "log scale k=2",
        "log scale k=3",
        "none",
    ] {
        let k = cs.iter().filter(|c| c.test == test).count();
        assert!(k >= 2, "{test}: {k} cases");
    }
}

#[test]
fn every_public_case_gets_its_verdict_and_test() {
    let mut failures = Vec::new();
    for c in cases() {
        match analyze(&c.src, c.n0) {
            Ok(r) => {
                if r.verdict != c.verdict || r.test != c.test {
                    failures.push(format!(
                        "line {} `{}`: expected {} by {}, got {} by {} ({}; {})",
                        c.line,
                        c.src,
                        c.verdict,
                        c.test,
                        r.verdict,
                        r.test,
                        r.equivalent,
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
fn the_notes_counterexample_converges_with_an_explanation() {
    let r = analyze("1/(n*ln(n)^2)", 2).unwrap();
    assert_eq!(r.verdict, Verdict::Converges);
    assert_eq!(r.test, "Bertrand test");
    assert_eq!(r.equivalent, "a_n ~ n^-1 (ln n)^-2");
    assert!(r.justification.contains("L_1 = 2"), "{}", r.justification);
    assert!(
        r.justification.contains("no bound a_n <= A/n^p"),
        "{}",
        r.justification
    );
}

#[test]
fn verdicts_are_invariant_under_harmless_changes() {
    // Spec §7 (metamorphic): a positive constant factor, a factor 2 + sin n (not for
    // conditional convergence), and the shift n -> n + 3 never change a verdict.
    let mut failures = Vec::new();
    for c in cases()
        .into_iter()
        .filter(|c| c.verdict != Verdict::Unknown)
    {
        let shifted = series::parse(&c.src)
            .unwrap()
            .subst_n(&series::parse("n + 3").unwrap());
        // A factor 2 + sin n keeps the verdict only for absolutely convergent or divergent
        // series (it can turn a conditionally convergent one into anything).
        let conditional = analyze(&c.src, c.n0)
            .is_ok_and(|r| r.convergence == Some(series::Convergence::Conditional));
        let mut variants = vec![format!("3/7*({})", c.src), shifted.infix()];
        if !conditional {
            variants.push(format!("(2 + sin(n))*({})", c.src));
        }
        for v in variants {
            match analyze(&v, c.n0) {
                Ok(r) if r.verdict == c.verdict => {}
                Ok(r) => failures.push(format!("`{v}`: {} ({})", r.verdict, r.justification)),
                Err(e) => failures.push(format!("`{v}`: error {e}")),
            }
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
fn long_sums_at_the_depth_limit_do_not_overflow_the_stack() {
    // 150 levels of left-nested sums: within the parser's limit, decided normally.
    let src = "1/n^2".to_string() + &"+1/n^2".repeat(149);
    let r = analyze(&src, 1).unwrap();
    assert_eq!(r.verdict, Verdict::Converges);
    assert_eq!(r.equivalent, "a_n ~ 150·n^-2");
}
