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
        return Err("a sign (-1)^n times another oscillating factor".into());
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
    Err("no test for this oscillating factor".into())
}
