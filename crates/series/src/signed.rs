//! The verdict when a_n = h_n·b_n with sign-changing or vanishing bounded factors h and
//! Σ b_n divergent (b_n > 0): Leibniz, Dirichlet or pairing (see [`crate::oscillating`]).

use std::cmp::Ordering;

use crate::Convergence;
use crate::decide::{Decision, Verdict};
use crate::expr::{Expr, Func};
use crate::oscillating::{
    dirichlet_bound, is_alternating_sign, monotonicity, nonneg, pairing_bound, trig_linear,
};
use crate::scale::Mono;
use crate::trigpoly::TrigPoly;

/// A decision on an oscillating series.
pub struct Outcome {
    /// Converges or diverges.
    pub verdict: Verdict,
    /// The deciding test.
    pub test: String,
    /// Steps after those deciding Σ b_n.
    pub steps: Vec<String>,
    /// Absolute or conditional, when it converges and the mode is known.
    pub convergence: Option<Convergence>,
}

fn product(fs: &[&Expr]) -> Expr {
    let mut it = fs.iter();
    let first = it
        .next()
        .map_or(Expr::Num(crate::rat::Rat::ONE), |e| (*e).clone());
    it.fold(first, |acc, f| {
        Expr::Mul(Box::new(acc), Box::new((*f).clone()))
    })
}

fn fmt(x: f64) -> String {
    // A lower bound printed rounded down, so that the printed number is still a lower bound.
    let r = (x * 1e4).floor() / 1e4;
    format!("{r}")
}

/// Decides Σ h_n·b_n when Σ b_n diverges by the decision `db` (b_n > 0 for large n,
/// b_n ~ c·m0). `Err` carries the reason no test applied.
pub fn oscillation_case(h: &[Expr], b: &Expr, m0: &Mono, db: &Decision) -> Result<Outcome, String> {
    let alternating = h.iter().filter(|f| is_alternating_sign(f)).count() % 2 == 1;
    let others: Vec<&Expr> = h.iter().filter(|f| !is_alternating_sign(f)).collect();
    let to_zero = m0.tendency().ok() == Some(Ordering::Less);
    let abs_diverges = format!(
        "sum |a_n| diverges: sum b_n diverges by the {} and |a_n| = b_n",
        db.test
    );
    if alternating && others.is_empty() {
        if !to_zero {
            return Ok(Outcome {
                verdict: Verdict::Diverges,
                test: "term test".into(),
                steps: vec!["|a_n| = b_n does not tend to 0, so neither does a_n".into()],
                convergence: None,
            });
        }
        if monotonicity(b) != Some(Ordering::Greater) {
            return Err("Leibniz: cannot show that b_n is eventually decreasing".into());
        }
        return Ok(Outcome {
            verdict: Verdict::Converges,
            test: "Leibniz test".into(),
            steps: vec![
                "a_n = (-1)^n·b_n with b_n -> 0".into(),
                "b_n - b_(n+1) has a positive leading term in its expansion, so b_n is eventually decreasing".into(),
                "Leibniz: an alternating series with terms decreasing to 0 converges".into(),
                abs_diverges,
                "so the convergence is conditional".into(),
            ],
            convergence: Some(Convergence::Conditional),
        });
    }
    if alternating {
        return trig_case(h, b, m0, db)
            .unwrap_or_else(|| Err("a sign (-1)^n times another oscillating factor".into()));
    }
    if let [single] = others.as_slice()
        && let Some((f, l)) = trig_linear(single)
    {
        let abs_h = Expr::Call(Func::Abs, Box::new((*single).clone()));
        if !to_zero {
            if let (Some((k, c)), Some(_)) = (pairing_bound(&abs_h), monotonicity(b)) {
                return Ok(Outcome {
                    verdict: Verdict::Diverges,
                    test: "term test".into(),
                    steps: vec![format!(
                        "|h(x)| + ... + |h(x+{})| >= {} > 0 for every real x, h = {} (interval arithmetic over one period), and b_n does not tend to 0 and is eventually monotone, so a_n does not tend to 0",
                        k - 1,
                        fmt(c),
                        single.infix()
                    )],
                    convergence: None,
                });
            }
            return Err("the terms may not tend to 0".into());
        }
        let Some(s) = dirichlet_bound(&l) else {
            return Err(
                "Dirichlet: cannot bound the partial sums of the oscillating factor".into(),
            );
        };
        if monotonicity(b) != Some(Ordering::Greater) {
            return Err("Dirichlet: cannot show that b_n is eventually decreasing".into());
        }
        let name = if f == Func::Sin { "sin" } else { "cos" };
        let mut steps = vec![
            format!(
                "the partial sums of {}(alpha n + beta) = {} are bounded by 1/|sin(alpha/2)| <= {} (|sin(alpha/2)| >= {}, interval arithmetic)",
                name,
                single.infix(),
                fmt(1.0 / s * 1.0001 + 1e-4).trim_end_matches('0'),
                fmt(s)
            ),
            "b_n -> 0 and b_n - b_(n+1) has a positive leading term, so b_n decreases to 0 eventually".into(),
            "Dirichlet: bounded partial sums times a sequence decreasing to 0 give a convergent series".into(),
        ];
        let convergence = match pairing_bound(&abs_h) {
            Some((k, c)) => {
                steps.push(format!(
                    "|h(x)| + ... + |h(x+{})| >= {} > 0 for every real x (interval arithmetic over one period), and b_n is eventually decreasing, so sum |a_n| >= const·sum b_n diverges: the convergence is conditional",
                    k - 1,
                    fmt(c)
                ));
                Some(Convergence::Conditional)
            }
            None => {
                steps.push("whether sum |a_n| converges was not decided".into());
                None
            }
        };
        return Ok(Outcome {
            verdict: Verdict::Converges,
            test: "Dirichlet test".into(),
            steps,
            convergence,
        });
    }
    if !others.is_empty() && others.iter().all(|f| nonneg(f)) {
        let hh = product(&others);
        let Some(dir) = monotonicity(b) else {
            return Err("pairing: cannot show that b_n is eventually monotone".into());
        };
        let Some((k, c)) = pairing_bound(&hh) else {
            return Err(format!(
                "pairing: cannot bound h(n) + h(n+1) away from 0 for h = {}",
                hh.infix()
            ));
        };
        let mono = match dir {
            Ordering::Greater => "eventually decreasing",
            Ordering::Less => "eventually increasing",
            Ordering::Equal => "constant",
        };
        return Ok(Outcome {
            verdict: Verdict::Diverges,
            test: "pairing comparison".into(),
            steps: vec![
                format!("h = {} >= 0", hh.infix()),
                format!(
                    "h(x) + ... + h(x+{}) >= {} > 0 for every real x (interval arithmetic over one period), so consecutive integers cannot all sit near a zero of h",
                    k - 1,
                    fmt(c)
                ),
                format!(
                    "b_n is {mono}, so a_n + ... + a_(n+{}) >= {}·min(b_n, ..., b_(n+{})) and the blocks of {k} terms dominate a constant times a divergent series",
                    k - 1,
                    fmt(c),
                    k - 1
                ),
            ],
            convergence: None,
        });
    }
    trig_case(h, b, m0, db).unwrap_or_else(|| Err("no test for this oscillating factor".into()))
}

/// The factors h as one trigonometric polynomial P (see [`crate::trigpoly`]): diverges when
/// its constant term c0 ≠ 0, converges (conditionally when P² has a positive constant term)
/// when c0 = 0; `None` when h is not such a polynomial.
fn trig_case(h: &[Expr], b: &Expr, m0: &Mono, db: &Decision) -> Option<Result<Outcome, String>> {
    let hh = product(&h.iter().collect::<Vec<_>>());
    let p = TrigPoly::of(&hh)?;
    if !p.oscillates() {
        // h is constant on the integers: a_n = c0·b_n.
        let c0 = p.constant_term()?;
        return (c0.sign()? != 0).then(|| {
            Ok(Outcome {
                verdict: Verdict::Diverges,
                test: "trigonometric expansion".into(),
                steps: vec![format!(
                    "h = {} equals the constant {c0} != 0 on the integers (product-to-sum, frequencies reduced mod 2*pi), so a_n = c0·b_n and sum b_n diverges ({})",
                    hh.infix(),
                    db.test
                )],
                convergence: None,
            })
        });
    }
    Some(trig_outcome(&hh, &p, b, m0, db))
}

fn trig_outcome(
    hh: &Expr,
    p: &TrigPoly,
    b: &Expr,
    m0: &Mono,
    db: &Decision,
) -> Result<Outcome, String> {
    if m0.tendency().ok() != Some(Ordering::Less) {
        return Err("trigonometric expansion: b_n does not tend to 0".into());
    }
    if monotonicity(b) != Some(Ordering::Greater) {
        return Err(
            "trigonometric expansion: cannot show that b_n is eventually decreasing".into(),
        );
    }
    let Some((s, m)) = p.dirichlet() else {
        return Err("trigonometric expansion: a frequency may lie in 2*pi*Z".into());
    };
    let c0 = p
        .constant_term()
        .ok_or("trigonometric expansion: the constant term cannot be enclosed")?;
    let Some(sign) = c0.sign() else {
        return Err(format!(
            "trigonometric expansion: the sign of the constant term {c0} is not certified"
        ));
    };
    let mut steps = vec![
        format!(
            "h = {} is the trigonometric polynomial P(n) = c0 + sum_j c_j cos(w_j n + phi_j) with {} terms (product-to-sum, exact rational coefficients, frequencies reduced mod 2*pi on the integers); constant term c0 = {c0}",
            hh.infix(),
            p.len()
        ),
        format!(
            "every other frequency w_j is off 2*pi*Z: |sin(w_j/2)| >= {} (interval arithmetic), so the partial sums of P - c0 are bounded",
            fmt(s)
        ),
        "b_n -> 0 and b_n - b_(n+1) has a positive leading term, so b_n decreases to 0 eventually; by Dirichlet sum (P(n) - c0)·b_n converges".into(),
    ];
    if sign != 0 {
        steps.push(format!(
            "sum a_n = c0·sum b_n + sum (P(n) - c0)·b_n with c0 != 0 and sum b_n divergent ({}), so the series diverges",
            db.test
        ));
        return Ok(Outcome {
            verdict: Verdict::Diverges,
            test: "trigonometric expansion + Dirichlet test".into(),
            steps,
            convergence: None,
        });
    }
    steps.push("c0 = 0, so sum a_n = sum (P(n) - c0)·b_n converges".into());
    let sq = p.square().and_then(|q| {
        let (_, _) = q.dirichlet()?;
        let c = q.constant_term()?;
        (c.sign() == Some(1)).then_some(c)
    });
    let convergence = match sq {
        Some(c) => {
            steps.push(format!(
                "|a_n| >= P(n)^2·b_n/M with M = {} >= sup|P|, and P^2 has constant term {c} > 0, so sum P^2 b_n diverges by the same argument and sum |a_n| diverges: the convergence is conditional",
                fmt(m * 1.0001 + 1e-4)
            ));
            Some(Convergence::Conditional)
        }
        None => {
            steps.push("whether sum |a_n| converges was not decided".into());
            None
        }
    };
    Ok(Outcome {
        verdict: Verdict::Converges,
        test: "trigonometric expansion + Dirichlet test".into(),
        steps,
        convergence,
    })
}
