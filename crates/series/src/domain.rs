//! Where a_n is defined: a proof, for every integer n ≥ n0, that no denominator vanishes and no
//! ln, square root, power, tan or factorial leaves its domain — or the first n where one does.
//!
//! Each operation with a domain gives a constraint on a subexpression g: `g ≠ 0` (denominators,
//! negative powers), `g > 0` (ln, non-integer powers of n-dependent exponents), `g ≥ 0` (sqrt,
//! positive non-integer powers), `cos g ≠ 0` (tan), and g integer-valued with g ≥ 0 (or ≥ −1)
//! for `!` (`!!`). A constraint is proved on n ∈ [n0, ∞) by [`interval::eval`](crate::interval)
//! (outward rounding); when one enclosure is too wide, the range is split — [a, ∞) into
//! [a, 2a + 16] and the rest, finite ranges in halves — down to single integers, where a
//! violation is certain when the enclosure of g is exactly 0 (or entirely on the wrong side).
//! `sin(q·n)` and `cos(q·n)` with rational q ≠ 0 never vanish at integers n ≥ 1 (π is
//! irrational), which no enclosure can show; that fact is used directly.
//! Sampling the first terms in floating point can miss a pole at n = 5000 or 10^20; this cannot.

use crate::expr::{Expr, Func};
use crate::interval::{self, Iv, const_int};
use crate::rat::Rat;

/// The outcome of [`certify`].
#[derive(Clone, Debug, PartialEq)]
pub enum Domain {
    /// a_n is defined for every integer n ≥ n0.
    Defined,
    /// a_n is undefined at this n (the first such n found), for the reason given.
    UndefinedAt(u128, String),
    /// Not decided: the reason.
    Unproved(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    NonZero,
    Positive,
    NonNegative,
    /// Integer-valued and at least the bound.
    IntAtLeast(i64),
    /// cos g ≠ 0.
    CosNonZero,
}

struct Constraint<'a> {
    g: &'a Expr,
    kind: Kind,
    why: &'static str,
}

fn collect<'a>(e: &'a Expr, out: &mut Vec<Constraint<'a>>) {
    match e {
        Expr::Num(_) | Expr::N | Expr::E | Expr::Pi | Expr::Param(_) => {}
        Expr::Neg(a) => collect(a, out),
        Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) => {
            collect(a, out);
            collect(b, out);
        }
        Expr::Div(a, b) => {
            collect(a, out);
            collect(b, out);
            out.push(Constraint {
                g: b,
                kind: Kind::NonZero,
                why: "division by zero",
            });
        }
        Expr::Pow(a, b) => {
            collect(a, out);
            collect(b, out);
            if let Some(k) = const_int(b) {
                if k < 0 {
                    out.push(Constraint {
                        g: a,
                        kind: Kind::NonZero,
                        why: "zero to a negative power",
                    });
                }
            } else if !a.has_n() && is_integer_valued(b) && nonneg_on_naturals(b) {
                // c^k for a constant c and an integer k >= 0 is defined.
            } else if !b.has_n() && positive_const(b) {
                out.push(Constraint {
                    g: a,
                    kind: Kind::NonNegative,
                    why: "negative base to a non-integer power",
                });
            } else {
                out.push(Constraint {
                    g: a,
                    kind: Kind::Positive,
                    why: "non-positive base to a non-integer or variable power",
                });
            }
        }
        Expr::Fact(a) => {
            collect(a, out);
            out.push(Constraint {
                g: a,
                kind: Kind::IntAtLeast(0),
                why: "factorial of a negative or non-integer number",
            });
        }
        Expr::DFact(a) => {
            collect(a, out);
            out.push(Constraint {
                g: a,
                kind: Kind::IntAtLeast(-1),
                why: "double factorial of a negative or non-integer number",
            });
        }
        Expr::Call(f, a) => {
            collect(a, out);
            let (kind, why) = match f {
                Func::Ln => (Kind::Positive, "ln of a non-positive number"),
                Func::Sqrt => (Kind::NonNegative, "sqrt of a negative number"),
                Func::Tan => (Kind::CosNonZero, "tan at a pole"),
                _ => return,
            };
            out.push(Constraint { g: a, kind, why });
        }
    }
}

fn positive_const(e: &Expr) -> bool {
    interval::eval(e, Iv::point(1.0)).is_some_and(|i| i.lo > 0.0)
}

/// Whether `e >= 0` for every integer n >= 0 (enclosure over [0, ∞)).
fn nonneg_on_naturals(e: &Expr) -> bool {
    interval::eval(
        e,
        Iv {
            lo: 0.0,
            hi: f64::INFINITY,
        },
    )
    .is_some_and(|i| i.lo >= 0.0)
}

/// Whether `e` takes integer values at every integer n where it is defined.
pub fn is_integer_valued(e: &Expr) -> bool {
    match e {
        Expr::N => true,
        Expr::Num(r) => r.is_integer(),
        Expr::Neg(a) | Expr::Fact(a) | Expr::DFact(a) => is_integer_valued(a),
        Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) => {
            is_integer_valued(a) && is_integer_valued(b)
        }
        Expr::Pow(a, b) => const_int(b).is_some_and(|k| k >= 0) && is_integer_valued(a),
        _ => false,
    }
}

/// `q·n` with a rational q ≠ 0 (also `n`, `n*q`, `n/q`, `-n`).
fn rational_multiple_of_n(e: &Expr) -> bool {
    let rat = |x: &Expr| matches!(x, Expr::Num(r) if !r.is_zero());
    match e {
        Expr::N => true,
        Expr::Neg(a) => rational_multiple_of_n(a),
        Expr::Mul(a, b) => {
            (rat(a) && rational_multiple_of_n(b)) || (rat(b) && rational_multiple_of_n(a))
        }
        Expr::Div(a, b) => rat(b) && rational_multiple_of_n(a),
        _ => false,
    }
}

/// Proof that `e ≠ 0` at every integer n ≥ n0 (given that `e` is defined): an enclosure over
/// [n0, ∞) without 0, or structurally through products, quotients and powers down to factors
/// with such an enclosure or to sin(q·n), cos(q·n) (rational q ≠ 0; π is irrational).
fn never_zero(e: &Expr, n0: u128) -> bool {
    let range = Iv {
        lo: n0 as f64,
        hi: f64::INFINITY,
    };
    if interval::eval(e, range).is_some_and(|i| !i.contains_zero()) {
        return true;
    }
    match e {
        Expr::Call(Func::Sin, a) => n0 >= 1 && rational_multiple_of_n(a),
        Expr::Call(Func::Cos, a) => rational_multiple_of_n(a),
        Expr::Call(Func::Exp, _) => true,
        Expr::Neg(a) | Expr::Call(Func::Abs, a) => never_zero(a, n0),
        Expr::Mul(a, b) => never_zero(a, n0) && never_zero(b, n0),
        Expr::Div(a, _) => never_zero(a, n0),
        Expr::Pow(a, b) => {
            (const_int(b).is_some() && never_zero(a, n0))
                || interval::eval(a, range).is_some_and(|i| i.lo > 0.0)
        }
        _ => false,
    }
}

enum Check {
    Holds,
    Fails,
    Unsure,
}

type RIv = (Rat, Rat);

fn rmul(x: RIv, y: RIv) -> RIv {
    let c = [x.0 * y.0, x.0 * y.1, x.1 * y.0, x.1 * y.1];
    let lo = c.iter().copied().min().unwrap_or(Rat::ZERO);
    let hi = c.iter().copied().max().unwrap_or(Rat::ZERO);
    (lo, hi)
}

/// Exact rational interval evaluation of a rational expression for n ∈ [a, b] (integers);
/// `None` outside that class or when a divisor's range contains 0.
fn eval_exact(e: &Expr, a: i128, b: i128) -> Option<RIv> {
    let zero = Rat::ZERO;
    Some(match e {
        Expr::Num(r) => (*r, *r),
        Expr::N => (Rat::int(a), Rat::int(b)),
        Expr::Neg(x) => {
            let (lo, hi) = eval_exact(x, a, b)?;
            (-hi, -lo)
        }
        Expr::Add(x, y) => {
            let (p, q) = (eval_exact(x, a, b)?, eval_exact(y, a, b)?);
            (p.0 + q.0, p.1 + q.1)
        }
        Expr::Sub(x, y) => {
            let (p, q) = (eval_exact(x, a, b)?, eval_exact(y, a, b)?);
            (p.0 - q.1, p.1 - q.0)
        }
        Expr::Mul(x, y) => rmul(eval_exact(x, a, b)?, eval_exact(y, a, b)?),
        Expr::Div(x, y) => {
            let d = eval_exact(y, a, b)?;
            if d.0 <= zero && d.1 >= zero {
                return None;
            }
            rmul(eval_exact(x, a, b)?, (Rat::ONE / d.1, Rat::ONE / d.0))
        }
        Expr::Pow(x, y) => {
            let k = const_int(y)?;
            if !(0..=64).contains(&k) {
                return None;
            }
            let (lo, hi) = eval_exact(x, a, b)?;
            let k = k as i128;
            if lo >= zero {
                (lo.powi(k), hi.powi(k))
            } else if hi <= zero {
                if k % 2 == 0 {
                    (hi.powi(k), lo.powi(k))
                } else {
                    (lo.powi(k), hi.powi(k))
                }
            } else if k % 2 == 0 {
                (zero, lo.abs().max(hi).powi(k))
            } else {
                (lo.powi(k), hi.powi(k))
            }
        }
        _ => return None,
    })
}

/// The constraint checked exactly on the integers [a, b] (rational expressions only, with
/// the overflow flag checked and restored): `None` when not applicable.
fn check_exact(c: &Constraint, a: u128, b: u128) -> Option<Check> {
    let (ia, ib) = (i128::try_from(a).ok()?, i128::try_from(b).ok()?);
    let earlier = crate::rat::take_overflow();
    let v = eval_exact(c.g, ia, ib);
    let overflowed = crate::rat::take_overflow();
    if earlier {
        crate::rat::set_overflow();
    }
    let (lo, hi) = if overflowed { None } else { v }?;
    let zero = Rat::ZERO;
    let (holds, fails) = match c.kind {
        Kind::NonZero => (lo > zero || hi < zero, lo == zero && hi == zero),
        Kind::Positive => (lo > zero, hi <= zero),
        Kind::NonNegative => (lo >= zero, hi < zero),
        Kind::IntAtLeast(k) => {
            let k = Rat::int(k as i128);
            (is_integer_valued(c.g) && lo >= k, hi < k)
        }
        Kind::CosNonZero => return None,
    };
    Some(if holds {
        Check::Holds
    } else if fails && a == b {
        Check::Fails
    } else {
        Check::Unsure
    })
}

fn check(c: &Constraint, x: Iv, point: bool) -> Check {
    let g = match c.kind {
        Kind::CosNonZero => interval::eval(c.g, x).and_then(Iv::cos),
        _ => interval::eval(c.g, x),
    };
    let Some(g) = g else {
        // The constraint's own subexpression is undefined there: an inner constraint (checked
        // first) reports that; here it is only unproved.
        return Check::Unsure;
    };
    let holds = match c.kind {
        Kind::NonZero | Kind::CosNonZero => !g.contains_zero(),
        Kind::Positive => g.lo > 0.0,
        Kind::NonNegative => g.lo >= 0.0,
        Kind::IntAtLeast(k) => is_integer_valued(c.g) && g.lo >= k as f64,
    };
    if holds {
        return Check::Holds;
    }
    if !point {
        return Check::Unsure;
    }
    let fails = match c.kind {
        Kind::NonZero | Kind::CosNonZero => g.lo == 0.0 && g.hi == 0.0,
        Kind::Positive => g.hi <= 0.0,
        Kind::NonNegative => g.hi < 0.0,
        Kind::IntAtLeast(k) => {
            (g.hi < k as f64) || (g.lo == g.hi && g.lo.is_finite() && g.lo.fract() != 0.0)
        }
    };
    if fails { Check::Fails } else { Check::Unsure }
}

/// The polynomial (coefficients from degree 0 up) that `e` is, if it is one.
fn as_poly(e: &Expr) -> Option<Vec<Rat>> {
    fn add(a: &[Rat], b: &[Rat], sign: Rat) -> Vec<Rat> {
        let mut out = vec![Rat::ZERO; a.len().max(b.len())];
        for (i, x) in a.iter().enumerate() {
            out[i] = out[i] + *x;
        }
        for (i, x) in b.iter().enumerate() {
            out[i] = out[i] + *x * sign;
        }
        out
    }
    fn mul(a: &[Rat], b: &[Rat]) -> Option<Vec<Rat>> {
        if a.len() + b.len() > 130 {
            return None;
        }
        let mut out = vec![Rat::ZERO; a.len() + b.len() - 1];
        for (i, x) in a.iter().enumerate() {
            for (j, y) in b.iter().enumerate() {
                out[i + j] = out[i + j] + *x * *y;
            }
        }
        Some(out)
    }
    Some(match e {
        Expr::Num(r) => vec![*r],
        Expr::N => vec![Rat::ZERO, Rat::ONE],
        Expr::Neg(a) => as_poly(a)?.iter().map(|x| -*x).collect(),
        Expr::Add(a, b) => add(&as_poly(a)?, &as_poly(b)?, Rat::ONE),
        Expr::Sub(a, b) => add(&as_poly(a)?, &as_poly(b)?, -Rat::ONE),
        Expr::Mul(a, b) => mul(&as_poly(a)?, &as_poly(b)?)?,
        Expr::Pow(a, k) => {
            let k = const_int(k)?;
            if !(0..=64).contains(&k) {
                return None;
            }
            let base = as_poly(a)?;
            let mut acc = vec![Rat::ONE];
            for _ in 0..k {
                acc = mul(&acc, &base)?;
            }
            acc
        }
        _ => return None,
    })
}

/// For a rational function of n: a bound B and the sign it has for every real n ≥ B (Cauchy's
/// bound: every real root of a_d n^d + … + a_0 is below 1 + max |a_i/a_d|).
fn tail_sign(e: &Expr) -> Option<(u128, std::cmp::Ordering)> {
    use std::cmp::Ordering;
    let combine = |a: (u128, Ordering), b: (u128, Ordering)| {
        let s = match (a.1, b.1) {
            (Ordering::Equal, _) | (_, Ordering::Equal) => Ordering::Equal,
            (x, y) if x == y => Ordering::Greater,
            _ => Ordering::Less,
        };
        (a.0.max(b.0), s)
    };
    match e {
        Expr::Mul(a, b) => return Some(combine(tail_sign(a)?, tail_sign(b)?)),
        Expr::Div(a, b) => {
            let d = tail_sign(b)?;
            if d.1 == std::cmp::Ordering::Equal {
                return None;
            }
            return Some(combine(tail_sign(a)?, d));
        }
        Expr::Neg(a) => {
            let (b, s) = tail_sign(a)?;
            return Some((b, s.reverse()));
        }
        _ => {}
    }
    let earlier = crate::rat::take_overflow();
    let poly = as_poly(e);
    let bound = poly.as_ref().and_then(|p| {
        let d = p.iter().rposition(|c| !c.is_zero())?;
        let lead = p[d];
        let mut m = Rat::ZERO;
        for c in &p[..d] {
            m = m.max((*c / lead).abs());
        }
        let b = u128::try_from(m.floor()).ok()? + 2;
        Some((b, lead.sign()))
    });
    let overflowed = crate::rat::take_overflow();
    if earlier {
        crate::rat::set_overflow();
    }
    if overflowed {
        return None;
    }
    match (poly, bound) {
        (Some(p), None) if p.iter().all(|c| c.is_zero()) => Some((0, std::cmp::Ordering::Equal)),
        (_, b) => b,
    }
}

/// Largest integer that `f64` represents exactly with all smaller ones.
const EXACT: u128 = 1 << 53;
/// Enclosures evaluated per constraint before giving up.
const BUDGET: usize = 4000;

fn to_f64_down(k: u128) -> f64 {
    let v = k as f64;
    if v as u128 > k { v.next_down() } else { v }
}

fn to_f64_up(k: u128) -> f64 {
    let v = k as f64;
    if (v as u128) < k { v.next_up() } else { v }
}

/// The first integer n ≥ n0 where `c` fails, `Ok(None)` when it holds for all n ≥ n0,
/// `Err(reason)` when undecided.
fn first_violation(c: &Constraint, n0: u128) -> Result<Option<u128>, String> {
    if matches!(c.kind, Kind::NonZero) && never_zero(c.g, n0) {
        return Ok(None);
    }
    if let Kind::IntAtLeast(_) = c.kind
        && !is_integer_valued(c.g)
    {
        return Err(format!(
            "cannot show that {} is an integer for every n",
            c.g.infix()
        ));
    }
    // A rational function has a known sign beyond Cauchy's root bound.
    let tail = if matches!(c.kind, Kind::NonZero | Kind::Positive | Kind::NonNegative) {
        tail_sign(c.g)
    } else {
        None
    };
    // Ranges still to examine, smallest first: (a, b) with b = None for +∞.
    let mut stack: Vec<(u128, Option<u128>)> = vec![(n0, None)];
    let mut evals = 0;
    while let Some((a, b)) = stack.pop() {
        evals += 1;
        if evals > BUDGET {
            return Err(format!(
                "could not prove that {} is {} for every n >= {n0} (interval splitting budget exhausted near n = {a})",
                c.g.infix(),
                describe(c.kind)
            ));
        }
        let hi = b.map_or(f64::INFINITY, to_f64_up);
        let x = Iv {
            lo: to_f64_down(a),
            hi,
        };
        let point = b == Some(a) && a <= EXACT;
        let exact = b.and_then(|b| check_exact(c, a, b));
        let outcome = match exact {
            Some(Check::Unsure) | None => check(c, x, point),
            Some(other) => other,
        };
        match outcome {
            Check::Holds => continue,
            Check::Fails => return Ok(Some(a)),
            Check::Unsure => {}
        }
        match b {
            None if tail.is_some_and(|(bound, _)| a < bound) => {
                let bound = tail.map_or(a, |t| t.0);
                stack.push((bound, None));
                stack.push((a, Some(bound - 1)));
            }
            None if tail.is_some() => {
                let s = tail.map_or(std::cmp::Ordering::Equal, |t| t.1);
                let holds = match c.kind {
                    Kind::NonZero => s != std::cmp::Ordering::Equal,
                    Kind::Positive => s == std::cmp::Ordering::Greater,
                    Kind::NonNegative => s != std::cmp::Ordering::Less,
                    _ => false,
                };
                if !holds {
                    return Err(format!(
                        "{} is not {} for large n",
                        c.g.infix(),
                        describe(c.kind)
                    ));
                }
            }
            None => {
                if a > 1u128 << 100 {
                    return Err(format!(
                        "could not prove that {} is {} for all large n",
                        c.g.infix(),
                        describe(c.kind)
                    ));
                }
                let m = a.saturating_mul(2).saturating_add(16);
                stack.push((m + 1, None));
                stack.push((a, Some(m)));
            }
            Some(b) if b == a => {
                return Err(format!(
                    "could not decide whether {} is {} at n = {a}",
                    c.g.infix(),
                    describe(c.kind)
                ));
            }
            Some(b) => {
                let m = a + (b - a) / 2;
                stack.push((m + 1, Some(b)));
                stack.push((a, Some(m)));
            }
        }
    }
    Ok(None)
}

fn describe(k: Kind) -> &'static str {
    match k {
        Kind::NonZero => "non-zero",
        Kind::Positive => "positive",
        Kind::NonNegative => "non-negative",
        Kind::IntAtLeast(0) => "a non-negative integer",
        Kind::IntAtLeast(_) => "an integer >= -1",
        Kind::CosNonZero => "away from the poles of tan",
    }
}

/// Proves that `e` is defined at every integer n ≥ n0, or finds the first n where it is not.
pub fn certify(e: &Expr, n0: u128) -> Domain {
    let mut cs = Vec::new();
    collect(e, &mut cs);
    let mut first: Option<(u128, &str)> = None;
    let mut unproved = None;
    for c in &cs {
        // Only the range before an already-found violation matters.
        match first_violation(c, n0) {
            Ok(Some(n)) => {
                if first.is_none_or(|(m, _)| n < m) {
                    first = Some((n, c.why));
                }
            }
            Ok(None) => {}
            Err(why) => {
                unproved.get_or_insert(why);
            }
        }
    }
    match (first, unproved) {
        (Some((n, why)), _) => Domain::UndefinedAt(n, why.to_string()),
        (None, Some(why)) => Domain::Unproved(why),
        (None, None) => Domain::Defined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn dom(src: &str, n0: u128) -> Domain {
        certify(&parse(src).unwrap(), n0)
    }

    #[test]
    fn poles_far_beyond_the_sampled_terms_are_found() {
        assert!(matches!(
            dom("1/(n-5000)^2", 1),
            Domain::UndefinedAt(5000, _)
        ));
        assert!(matches!(
            dom("1/(n^2-4999^2)", 1),
            Domain::UndefinedAt(4999, _)
        ));
        let big = 10u128.pow(20);
        let d = dom("1/(n-10^20)^2", 1);
        assert!(matches!(d, Domain::UndefinedAt(n, _) if n == big), "{d:?}");
        assert_eq!(dom("1/(n-5000)^2", 5001), Domain::Defined);
        assert!(matches!(dom("ln(n - 7)", 1), Domain::UndefinedAt(1, _)));
        assert!(matches!(dom("sqrt(n - 7.5)", 1), Domain::UndefinedAt(1, _)));
    }

    #[test]
    fn ordinary_terms_are_defined() {
        for (src, n0) in [
            ("1/(n*ln(n)^2)", 2),
            ("1/(n^3*sin(n)^2)", 1),
            ("tan(1/n^2)", 1),
            ("(2*n - 1)!!/(2*n)!!", 1),
            ("1/((n!)!)!", 1),
            ("(1 - 1/n)^(n^2)", 2),
            ("1/ln(n)^ln(n)", 2),
            ("(-1)^n/n", 1),
            (
                "1/(n*ln(n)*ln(ln(n))*ln(ln(ln(n)))*ln(ln(ln(ln(n)))))",
                3814280,
            ),
        ] {
            assert_eq!(dom(src, n0), Domain::Defined, "{src}");
        }
    }

    #[test]
    fn unprovable_constraints_are_reported() {
        assert!(matches!(dom("1/sin(n^2)", 1), Domain::Unproved(_)));
        assert!(matches!(dom("(n/2)!", 1), Domain::Unproved(_)));
    }
}
