//! Crate `series`: decide whether Σ_{n≥n0} a_n converges for a symbolic term a_n, and say why.
//!
//! The pipeline is `lexer` → `parser` (Pratt) → [`Expr`] → [`asymptotic`] (expansion at
//! n → ∞ in the scale exp(Σ c_i t_i) over log-monomials t_i = n^a (ln n)^b (ln ln n)^c …, with
//! exact rational exponents, exact constants and an explicit error term) → [`decide`] (tests as
//! values, tried in order: term, p-series, ratio, root, Raabe, Gauss, Bertrand, log scale).
//! The answer is a [`Report`]: a [`Verdict`], the deciding test, the equivalent a_n ~ c·m and a
//! justification. "Unknown" is an answer, with its reason; only malformed input and terms that
//! are undefined are errors.
//!
//! The note this crate answers conjectured that every convergent positive series is eventually
//! below A/n^p for some p > 1; Σ 1/(n ln² n) is the counterexample, decided here by the
//! logarithmic scale (Bertrand). Spec: `shared/specs/series.md`.
//!
//! ```
//! let r = series::analyze("1/(n*ln(n)^2)", 2).unwrap();
//! assert_eq!(r.verdict, series::Verdict::Converges);
//! assert_eq!(r.test, "Bertrand test");
//! assert_eq!(r.equivalent, "a_n ~ n^-1 (ln n)^-2");
//! ```
#![warn(missing_docs)]

pub mod asymptotic;
pub mod bounds;
pub mod constant;
pub mod decide;
pub mod domain;
mod error;
pub mod expr;
pub mod interval;
pub mod lexer;
pub mod oscillating;
pub mod param;
pub mod parser;
pub mod rat;
pub mod scale;
mod signed;
pub mod sum;
pub mod trigpoly;

use std::cmp::Ordering;

pub use decide::Verdict;
pub use error::{Error, Result};
pub use expr::Expr;
pub use parser::parse;
pub use sum::{SumValue, sum};

use crate::asymptotic::expand;
use crate::constant::Const;
use crate::expr::EvalIssue;
use crate::scale::Mono;

/// Number of leading terms a_{n0}, …, a_{n0+63} checked numerically for being defined and
/// non-negative (plus the sample points n0 + 10^2, …, n0 + 10^6 for the sign).
pub const CHECKED_TERMS: u64 = 64;

/// The outcome of [`analyze`].
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Converges, diverges or unknown.
    pub verdict: Verdict,
    /// The deciding test ("none" when unknown).
    pub test: String,
    /// The equivalent, e.g. "a_n ~ n^-1 (ln n)^-2" (empty when not found).
    pub equivalent: String,
    /// Short human-readable justification (steps separated by "; ").
    pub justification: String,
    /// The first index.
    pub n0: u64,
    /// Warnings (positivity not shown for small n, bounded factors removed, …).
    pub warnings: Vec<String>,
    /// The expansion used: "a_n = c·m·(1 + O(r))" (empty when not found).
    pub asymptotics: String,
    /// Leading coefficient and monomial of a_n (or of the reduced term), when found.
    pub leading: Option<(Const, Mono)>,
    /// For a convergent series: absolute (Σ |a_n| converges) or conditional (it diverges);
    /// `None` when the series does not converge or the mode was not decided.
    pub convergence: Option<Convergence>,
}

/// How a convergent series converges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Convergence {
    /// Σ |a_n| converges.
    Absolute,
    /// Σ a_n converges, Σ |a_n| diverges.
    Conditional,
}

impl std::fmt::Display for Convergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Convergence::Absolute => "absolute",
            Convergence::Conditional => "conditional",
        })
    }
}

fn format_equivalent(c: &Const, m: &Mono) -> String {
    let one = Const::one();
    match (c == &one, m.is_one()) {
        (true, true) => "a_n ~ 1".into(),
        (true, false) => format!("a_n ~ {m}"),
        (false, true) => format!("a_n ~ {c}"),
        (false, false) => format!("a_n ~ {c}·{m}"),
    }
}

fn unknown(n0: u64, reason: String, warnings: Vec<String>) -> Report {
    Report {
        verdict: Verdict::Unknown,
        test: "none".into(),
        equivalent: String::new(),
        justification: reason,
        n0,
        warnings,
        asymptotics: String::new(),
        leading: None,
        convergence: None,
    }
}

/// Checks a_{n0}, …, a_{n0+63}: an undefined term is an error, a negative one a warning.
fn check_initial_terms(e: &Expr, n0: u64, warnings: &mut Vec<String>) -> Result<()> {
    let mut non_positive = Vec::new();
    let samples = (2..=6).map(|k| n0.saturating_add(10u64.pow(k)));
    for n in (n0..n0.saturating_add(CHECKED_TERMS)).chain(samples) {
        match e.eval(n as f64) {
            Ok(v) if v < 0.0 => non_positive.push(n),
            Ok(_) | Err(EvalIssue::Overflow) => {}
            Err(EvalIssue::Undefined(_)) if n >= n0.saturating_add(CHECKED_TERMS) => {}
            Err(EvalIssue::Undefined(reason)) => {
                let hint = (n + 1..n0.saturating_add(1000)).find(|&m| {
                    (m..m.saturating_add(CHECKED_TERMS))
                        .all(|k| !matches!(e.eval(k as f64), Err(EvalIssue::Undefined(_))))
                });
                return Err(Error::UndefinedAt { n, reason, hint });
            }
        }
    }
    if let Some(first) = non_positive.first() {
        warnings.push(format!(
            "a_n < 0 at {} of the checked indices (n0..n0+{}, n0+10^2..n0+10^6; first n = {first}); finitely many terms do not change convergence",
            non_positive.len(),
            CHECKED_TERMS - 1
        ));
    }
    Ok(())
}

/// The first start after `n` from which a_n is provably defined (a few tries).
fn domain_hint(expr: &Expr, n: u128) -> Option<u64> {
    let mut start = n + 1;
    for _ in 0..16 {
        match domain::certify(expr, start) {
            domain::Domain::Defined => return u64::try_from(start).ok(),
            domain::Domain::UndefinedAt(m, _) => start = m + 1,
            domain::Domain::Unproved(_) => return None,
        }
    }
    None
}

/// How the oscillating factors removed from a_n are bounded.
enum Bounded {
    /// Nothing was removed.
    None,
    /// Every removed factor lies in [m, M] with m > 0: Σ a_n and Σ b_n converge together.
    /// The string names the factors.
    BothWays(String),
    /// Only |factor| <= M is known: convergence of Σ b_n gives absolute convergence of Σ a_n,
    /// divergence gives nothing by itself.
    Above {
        /// The factors, for messages.
        names: String,
        /// The removed factors h with a_n = (Π h)·b_n (empty when a factor was replaced by an
        /// upper bound instead, so that a_n is not (Π h)·b_n).
        removed: Vec<Expr>,
    },
    /// A factor B^E was replaced by the lower bound Q^E (B ≥ Q > 1, b_n > 0): divergence of
    /// Σ b_n gives divergence of Σ a_n.
    Below(String),
}

/// A bound for messages (the interval evaluation widens by 1e-12; hide that).
fn fmt_bound(x: f64) -> String {
    let r = (x * 1e6).round() / 1e6;
    if r == 0.0 { "0".into() } else { format!("{r}") }
}

/// `x^e` with an oscillating base `x` and an exponent c·n + d (c > 0 rational): the base's
/// certified range.
fn oscillating_power(f: &Expr) -> Option<(Expr, Expr, bounds::Interval)> {
    let Expr::Pow(base, ex) = f else { return None };
    let l = oscillating::lin(ex)?;
    if !(l.pi.is_zero() && l.pin.is_zero() && l.n.sign() == Ordering::Greater) {
        return None;
    }
    let range = bounds::interval(base)?;
    Some(((**base).clone(), (**ex).clone(), range))
}

/// Rational bounds on a 10^-6 grid: the smallest grid point >= x, the largest <= x.
fn rat_above(x: f64) -> rat::Rat {
    rat::Rat::new((x * 1e6).ceil() as i128 + 1, 1_000_000)
}

fn rat_below(x: f64) -> rat::Rat {
    rat::Rat::new((x * 1e6).floor() as i128 - 1, 1_000_000)
}

/// Expands a_n, removing bounded oscillating factors when the plain expansion oscillates.
fn expand_with_bounds(
    e: &Expr,
    warnings: &mut Vec<String>,
) -> Result<(Expr, asymptotic::Series, Bounded)> {
    match expand(e) {
        Err(Error::Oscillation(why)) => {
            let mut kept = Vec::new();
            let mut both_ways = Vec::new();
            let mut above_only = Vec::new();
            let mut removed = Vec::new();
            let mut replaced = false;
            let mut below = Vec::new();
            let mut notes = Vec::new();
            for (f, inv) in bounds::factors(e) {
                if !matches!(expand(&f), Err(Error::Oscillation(_))) {
                    kept.push((f, inv));
                    continue;
                }
                if let (false, Some((base, ex, (lo, hi)))) = (inv, oscillating_power(&f)) {
                    let sup = lo.abs().max(hi.abs());
                    let q = rat_above(sup);
                    if q < rat::Rat::ONE {
                        // Root test with the sup of the base: |B^E| <= q^E.
                        notes.push(format!(
                            "the base {} lies in [{}, {}], so |{}| <= ({q})^({}) (root test with the sup of the base)",
                            base.infix(),
                            fmt_bound(lo),
                            fmt_bound(hi),
                            f.infix(),
                            ex.infix()
                        ));
                        above_only.push(f.infix());
                        replaced = true;
                        kept.push((Expr::Pow(Box::new(Expr::Num(q)), Box::new(ex)), false));
                        continue;
                    }
                    let q = rat_below(lo);
                    if q > rat::Rat::ONE {
                        notes.push(format!(
                            "the base {} lies in [{}, {}], so {} >= ({q})^({})",
                            base.infix(),
                            fmt_bound(lo),
                            fmt_bound(hi),
                            f.infix(),
                            ex.infix()
                        ));
                        below.push(f.infix());
                        kept.push((Expr::Pow(Box::new(Expr::Num(q)), Box::new(ex)), false));
                        continue;
                    }
                }
                match bounds::interval(&f) {
                    Some((lo, hi)) if lo > 0.0 => {
                        both_ways.push(f.infix());
                        // Part of h in a_n = h·b_n (for the tests on oscillating h).
                        removed.push(if inv {
                            Expr::Div(Box::new(Expr::Num(rat::Rat::ONE)), Box::new(f.clone()))
                        } else {
                            f.clone()
                        });
                        notes.push(format!(
                            "the factor {} lies in [{}, {}] for all n; the verdict is that of the remaining factor b_n (comparison both ways)",
                            f.infix(),
                            fmt_bound(lo),
                            fmt_bound(hi)
                        ));
                    }
                    Some((lo, hi)) if !inv => {
                        let m = lo.abs().max(hi.abs());
                        above_only.push(f.infix());
                        notes.push(format!(
                            "the factor {} lies in [{}, {}], so |a_n| <= {}·b_n for the remaining factor b_n",
                            f.infix(),
                            fmt_bound(lo),
                            fmt_bound(hi),
                            fmt_bound(m)
                        ));
                        removed.push(f);
                    }
                    _ => {
                        return Err(Error::Oscillation(format!(
                            "{why}; the factor {} is not bounded",
                            f.infix()
                        )));
                    }
                }
            }
            if !below.is_empty() && !above_only.is_empty() {
                return Err(Error::Oscillation(format!(
                    "{why}; factors bounded above ({}) and below ({}) at once",
                    above_only.join(", "),
                    below.join(", ")
                )));
            }
            warnings.extend(notes);
            let reduced = bounds::product(&kept);
            let s = expand(&reduced)?;
            let how = if !below.is_empty() {
                if !both_ways.is_empty() {
                    return Err(Error::Oscillation(why));
                }
                Bounded::Below(below.join(", "))
            } else if above_only.is_empty() {
                Bounded::BothWays(both_ways.join(", "))
            } else {
                Bounded::Above {
                    names: above_only.join(", "),
                    removed: if replaced { Vec::new() } else { removed },
                }
            };
            Ok((reduced, s, how))
        }
        other => Ok((e.clone(), other?, Bounded::None)),
    }
}

/// Decides convergence of Σ_{n≥n0} a_n for the term written in `src`.
///
/// # Errors
/// [`Error::Syntax`] / [`Error::UnknownName`] for malformed input, [`Error::UndefinedAt`] when
/// a_n is undefined at some n0 ≤ n < n0 + 64, [`Error::Undefined`] when it is undefined for all
/// large n. Everything else (oscillation, unresolved cancellation, …) is a
/// [`Verdict::Unknown`] report with the reason.
pub fn analyze(src: &str, n0: u64) -> Result<Report> {
    let expr = parse(src)?;
    analyze_expr(&expr, n0)
}

/// [`analyze`] on a parsed term.
///
/// # Errors
/// As [`analyze`].
pub fn analyze_expr(expr: &Expr, n0: u64) -> Result<Report> {
    rat::take_overflow();
    let mut warnings = Vec::new();
    let initial = if param::active() {
        // The terms have no numeric value without the parameter: the domain proof below
        // covers the whole parameter region.
        Ok(())
    } else {
        check_initial_terms(expr, n0, &mut warnings)
    };
    if let Err(e) = initial {
        // Prefer the stronger statement when a_n is undefined for every large n.
        if let Err(Error::Undefined(why)) = expand(expr) {
            return Err(Error::Undefined(why));
        }
        return Err(e);
    }
    match domain::certify(expr, u128::from(n0)) {
        domain::Domain::Defined => {}
        domain::Domain::UndefinedAt(n, reason) => {
            if let Ok(n) = u64::try_from(n) {
                let hint = domain_hint(expr, u128::from(n));
                return Err(Error::UndefinedAt { n, reason, hint });
            }
            let why = format!(
                "a_n is undefined at n = {n} ({reason}), so the series is not defined; start the sum beyond it"
            );
            return Ok(unknown(n0, why, warnings));
        }
        domain::Domain::Unproved(why) => {
            let why = format!(
                "domain: {why}; no verdict without a proof that a_n is defined for every n >= {n0}"
            );
            return Ok(unknown(n0, why, warnings));
        }
    }
    let report = analyze_tail(expr, n0, warnings);
    if rat::take_overflow() {
        return Ok(unknown(
            n0,
            "exact rational arithmetic overflowed (i128)".into(),
            Vec::new(),
        ));
    }
    report
}

fn analyze_tail(expr: &Expr, n0: u64, mut warnings: Vec<String>) -> Result<Report> {
    let normalized = oscillating::normalize_signs(expr);
    let (reduced, s, bounded) = match expand_with_bounds(&normalized, &mut warnings) {
        Ok(x) => x,
        Err(Error::Undefined(why)) => return Err(Error::Undefined(why)),
        Err(Error::NeedPrecision) => {
            let why = "zero-equivalence: the leading terms cancel up to the highest expansion order tried (16 terms)";
            return Ok(unknown(n0, why.into(), warnings));
        }
        Err(other) => return Ok(unknown(n0, other.to_string(), warnings)),
    };
    let Some(lead) = s.terms.first() else {
        // Exact zero: a_n = 0 for all large n.
        return Ok(Report {
            verdict: Verdict::Converges,
            test: "trivial".into(),
            equivalent: "a_n = 0".into(),
            justification: "a_n is identically zero for large n".into(),
            n0,
            warnings,
            asymptotics: "a_n = 0".into(),
            leading: None,
            convergence: Some(Convergence::Absolute),
        });
    };
    let (c0, m0) = (lead.c.clone(), lead.m.clone());
    let equivalent = format_equivalent(&c0, &m0);
    let rel = s
        .terms
        .get(1)
        .map(|t| t.m.clone())
        .or_else(|| s.err.clone());
    let asymptotics = match rel {
        Some(r) => {
            format!("{}·(1 + O({}))", &equivalent, r.mul(&m0.inv())).replacen(" ~ ", " = ", 1)
        }
        None => format!("{equivalent} (exact)").replacen(" ~ ", " = ", 1),
    };
    let sign = match c0.sign() {
        Ok(s) => s,
        Err(e) => return Ok(unknown(n0, e.to_string(), warnings)),
    };
    // An eventually negative term: decide -a_n (finitely many terms never matter).
    let negative = sign == Ordering::Less;
    let c0_signed = c0.clone();
    let (reduced, c0) = if negative {
        (Expr::Neg(Box::new(reduced)), c0.neg())
    } else {
        (reduced, c0)
    };
    let positivity = if negative {
        format!(
            "{equivalent} (leading coefficient {} < 0, so a_n < 0 for all large n: the series converges iff sum -a_n does, and -a_n ~ {})",
            c0.neg(),
            format_equivalent(&c0, &m0).trim_start_matches("a_n ~ ")
        )
    } else {
        format!("{equivalent} (leading coefficient {c0} > 0, so a_n > 0 for all large n)")
    };
    let b_equivalent = |eq: &str| format!("b_n{}", &eq[3..]);
    match decide::decide(&reduced, c0.clone(), m0.clone()) {
        Ok(Some(d)) => match bounded {
            Bounded::Above { names, removed } => {
                let abs_steps = {
                    let mut steps = vec![format!(
                        "b_n = a_n without the bounded factor(s) {names}: b_n {}",
                        positivity.trim_start_matches("a_n ")
                    )];
                    steps.extend(d.steps.iter().cloned());
                    steps
                };
                if d.verdict == Verdict::Converges {
                    let mut steps = abs_steps;
                    steps.push(
                        "so sum b_n converges, and |a_n| <= M·b_n: the series converges absolutely"
                            .to_string(),
                    );
                    return Ok(Report {
                        verdict: Verdict::Converges,
                        test: d.test,
                        equivalent: format!("|a_n| <= M·b_n, {}", b_equivalent(&equivalent)),
                        justification: steps.join("; "),
                        n0,
                        warnings,
                        asymptotics: b_equivalent(&asymptotics),
                        leading: Some((c0_signed.clone(), m0.clone())),
                        convergence: Some(Convergence::Absolute),
                    });
                }
                let outcome = if removed.is_empty() {
                    Err("a factor was replaced by an upper bound".to_string())
                } else {
                    signed::oscillation_case(&removed, &reduced, &m0, &d)
                };
                match outcome {
                    Ok(o) => {
                        let mut steps = abs_steps;
                        steps.extend(o.steps);
                        steps.push(format!("so the series {}", o.verdict));
                        Ok(Report {
                            verdict: o.verdict,
                            test: o.test,
                            equivalent: format!(
                                "a_n = ({names})·b_n, {}",
                                b_equivalent(&equivalent)
                            ),
                            justification: steps.join("; "),
                            n0,
                            warnings,
                            asymptotics: b_equivalent(&asymptotics),
                            leading: Some((c0_signed.clone(), m0.clone())),
                            convergence: o.convergence,
                        })
                    }
                    Err(why) => {
                        let mut r = unknown(
                            n0,
                            format!(
                                "oscillation: the factor(s) {names} can vanish or change sign, and sum b_n of the remaining factor diverges by the {}, so neither comparison applies ({why})",
                                d.test
                            ),
                            warnings,
                        );
                        r.equivalent = format!("|a_n| <= M·b_n, {}", b_equivalent(&equivalent));
                        Ok(r)
                    }
                }
            }
            Bounded::Below(names) if d.verdict != Verdict::Diverges => {
                let mut r = unknown(
                    n0,
                    format!(
                        "oscillation: only a lower bound is known for {names}, and the bounding series converges"
                    ),
                    warnings,
                );
                r.equivalent = equivalent;
                Ok(r)
            }
            bounded => {
                let mut steps = vec![positivity];
                let mut equivalent = equivalent;
                let mut asymptotics = asymptotics;
                match &bounded {
                    Bounded::BothWays(names) => {
                        steps[0] = format!(
                            "b_n = a_n without the bounded factor(s) {names}: b_n {}",
                            steps[0].trim_start_matches("a_n ")
                        );
                        equivalent =
                            format!("a_n = (bounded factor)·b_n, {}", b_equivalent(&equivalent));
                        asymptotics = b_equivalent(&asymptotics);
                    }
                    Bounded::Below(names) => {
                        steps[0] = format!(
                            "b_n = a_n with {names} replaced by its lower bound: a_n >= b_n and b_n {}",
                            steps[0].trim_start_matches("a_n ")
                        );
                        equivalent = format!("a_n >= b_n, {}", b_equivalent(&equivalent));
                        asymptotics = b_equivalent(&asymptotics);
                    }
                    _ => {}
                }
                steps.extend(d.steps);
                steps.push(format!("so the series {}", d.verdict));
                let convergence =
                    (d.verdict == Verdict::Converges).then_some(Convergence::Absolute);
                Ok(Report {
                    verdict: d.verdict,
                    test: d.test,
                    equivalent,
                    justification: steps.join("; "),
                    n0,
                    warnings,
                    asymptotics,
                    leading: Some((c0_signed.clone(), m0.clone())),
                    convergence,
                })
            }
        },
        Ok(None) => {
            let mut r = unknown(n0, "no test of the ladder applies".into(), warnings);
            r.equivalent = equivalent;
            Ok(r)
        }
        Err(e) => {
            let mut r = unknown(n0, e.to_string(), warnings);
            r.equivalent = equivalent;
            Ok(r)
        }
    }
}
