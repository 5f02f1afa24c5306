//! Signs and oscillating factors: a_n = h_n · g_n with g_n an exp-log-Γ term the ladder decides
//! and h_n built from (−1)^n, sin and cos of linear arguments.
//!
//! | shape | test | statement used |
//! |---|---|---|
//! | (−1)^n·g_n | Leibniz | g_n → 0 and g_n − g_{n+1} > 0 eventually ⇒ Σ converges |
//! | sin(αn+β)·g_n, cos(αn+β)·g_n | Dirichlet | \|Σ_{k≤N} sin(αk+β)\| ≤ 1/\|sin(α/2)\| (α ∉ 2πℤ) and g_n ↓ 0 ⇒ Σ converges |
//! | h_n·g_n, h ≥ 0, Σ g = ∞ | pairing | h(x) + h(x+1) ≥ c > 0 for all real x and g eventually monotone ⇒ a_n + a_{n+1} ≥ c·min(g_n, g_{n+1}) ⇒ Σ diverges |
//!
//! Before anything else, [`normalize_signs`] rewrites the sign patterns with an exact period:
//! (−1)^(an+b) with integers a, b, c^n for a negative constant c, and cos(pπn + rπ), sin(pπn + rπ)
//! with an integer p (= (−1)^(pn)·cos(rπ), resp. (−1)^(pn)·sin(rπ)).
//!
//! Every floating-point bound here is an enclosure from [`crate::interval`] (outward rounding):
//! the minimum of h(x) + h(x+1) over one period is bounded below by splitting the period into
//! boxes until every box's enclosure is positive.

use std::cmp::Ordering;

use crate::asymptotic::expand_until;
use crate::expr::{Expr, Func};
use crate::interval::{self, Iv};
use crate::rat::Rat;

/// c + n·a + π·b + π·n·d with rational coefficients.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Lin {
    /// Constant.
    pub c: Rat,
    /// Coefficient of n.
    pub n: Rat,
    /// Coefficient of π.
    pub pi: Rat,
    /// Coefficient of π·n.
    pub pin: Rat,
}

impl Lin {
    fn add(self, o: Lin) -> Lin {
        Lin {
            c: self.c + o.c,
            n: self.n + o.n,
            pi: self.pi + o.pi,
            pin: self.pin + o.pin,
        }
    }

    fn scale(self, r: Rat) -> Lin {
        Lin {
            c: self.c * r,
            n: self.n * r,
            pi: self.pi * r,
            pin: self.pin * r,
        }
    }

    fn as_const(self) -> Option<Rat> {
        (self.n.is_zero() && self.pi.is_zero() && self.pin.is_zero()).then_some(self.c)
    }

    fn mul(self, o: Lin) -> Option<Lin> {
        if let Some(r) = self.as_const() {
            return Some(o.scale(r));
        }
        if let Some(r) = o.as_const() {
            return Some(self.scale(r));
        }
        // (a n + b π)·(c n + d π) stays linear only as n·π.
        let pure_n = |l: Lin| l.c.is_zero() && l.pi.is_zero() && l.pin.is_zero();
        let pure_pi = |l: Lin| l.c.is_zero() && l.n.is_zero() && l.pin.is_zero();
        if pure_n(self) && pure_pi(o) {
            return Some(Lin {
                pin: self.n * o.pi,
                ..Lin::default()
            });
        }
        if pure_pi(self) && pure_n(o) {
            return Some(Lin {
                pin: self.pi * o.n,
                ..Lin::default()
            });
        }
        None
    }
}

/// The linear form of `e` in n and π, if it is one.
pub fn lin(e: &Expr) -> Option<Lin> {
    Some(match e {
        Expr::Num(r) => Lin {
            c: *r,
            ..Lin::default()
        },
        Expr::N => Lin {
            n: Rat::ONE,
            ..Lin::default()
        },
        Expr::Pi => Lin {
            pi: Rat::ONE,
            ..Lin::default()
        },
        Expr::Neg(a) => lin(a)?.scale(-Rat::ONE),
        Expr::Add(a, b) => lin(a)?.add(lin(b)?),
        Expr::Sub(a, b) => lin(a)?.add(lin(b)?.scale(-Rat::ONE)),
        Expr::Mul(a, b) => lin(a)?.mul(lin(b)?)?,
        Expr::Div(a, b) => {
            let d = lin(b)?.as_const()?;
            if d.is_zero() {
                return None;
            }
            lin(a)?.scale(Rat::ONE / d)
        }
        _ => return None,
    })
}

fn minus_one_pow_n() -> Expr {
    Expr::Pow(Box::new(Expr::Num(Rat::int(-1))), Box::new(Expr::N))
}

/// Whether `e` is (−1)^n as produced by [`normalize_signs`].
pub fn is_alternating_sign(e: &Expr) -> bool {
    matches!(e, Expr::Pow(b, x) if interval::is_minus_one(b) && **x == Expr::N)
}

fn signed(e: Expr, negative: bool) -> Expr {
    if negative { Expr::Neg(Box::new(e)) } else { e }
}

fn is_odd(r: Rat) -> bool {
    r.is_integer() && r.num() % 2 != 0
}

/// Rewrites exactly periodic sign patterns into (−1)^n times constants (module docs).
pub fn normalize_signs(e: &Expr) -> Expr {
    let b = |x: &Expr| Box::new(normalize_signs(x));
    let e = match e {
        Expr::Num(_) | Expr::N | Expr::E | Expr::Pi | Expr::Param(_) => return e.clone(),
        Expr::Neg(a) => Expr::Neg(b(a)),
        Expr::Add(x, y) => Expr::Add(b(x), b(y)),
        Expr::Sub(x, y) => Expr::Sub(b(x), b(y)),
        Expr::Mul(x, y) => Expr::Mul(b(x), b(y)),
        Expr::Div(x, y) => Expr::Div(b(x), b(y)),
        Expr::Pow(x, y) => Expr::Pow(b(x), b(y)),
        Expr::Fact(a) => Expr::Fact(b(a)),
        Expr::DFact(a) => Expr::DFact(b(a)),
        Expr::Call(f, a) => Expr::Call(*f, b(a)),
    };
    match &e {
        Expr::Pow(base, x) if x.has_n() => {
            let Some(l) = lin(x) else { return e };
            let integral = l.pi.is_zero()
                && l.pin.is_zero()
                && l.n.is_integer()
                && l.c.is_integer()
                && l.n.sign() == Ordering::Greater;
            if !integral {
                return e;
            }
            if interval::is_minus_one(base) {
                if l.n == Rat::ONE && l.c.is_zero() {
                    return e;
                }
                let s = is_odd(l.c);
                return if is_odd(l.n) {
                    signed(minus_one_pow_n(), s)
                } else {
                    Expr::Num(Rat::int(if s { -1 } else { 1 }))
                };
            }
            // A negative constant base: c^x = (−1)^x · (−c)^x.
            if !base.has_n() && negative_constant(base) {
                let minus = Expr::Pow(Box::new(Expr::Num(Rat::int(-1))), x.clone());
                let pos = Expr::Pow(Box::new(Expr::Neg(base.clone())), x.clone());
                return Expr::Mul(Box::new(normalize_signs(&minus)), Box::new(pos));
            }
            e
        }
        Expr::Call(f @ (Func::Sin | Func::Cos), arg) if arg.has_n() => {
            let Some(l) = lin(arg) else { return e };
            if !(l.n.is_zero() && l.c.is_zero() && l.pin.is_integer()) {
                return e;
            }
            // cos(pπn + rπ) = (−1)^(pn) cos(rπ); sin(pπn + rπ) = (−1)^(pn) sin(rπ).
            let phase = Expr::Mul(Box::new(Expr::Num(l.pi)), Box::new(Expr::Pi));
            let k = Expr::Call(*f, Box::new(phase));
            let k = if l.pi.is_zero() {
                Expr::Num(if *f == Func::Cos { Rat::ONE } else { Rat::ZERO })
            } else {
                k
            };
            match (&k, is_odd(l.pin)) {
                (Expr::Num(r), _) if r.is_zero() => k,
                (Expr::Num(r), true) if *r == Rat::ONE => minus_one_pow_n(),
                (_, true) => Expr::Mul(Box::new(k), Box::new(minus_one_pow_n())),
                (_, false) => k,
            }
        }
        _ => e,
    }
}

/// Whether the constant `e` is negative: by an enclosure, or by the certified sign of its
/// exact value (which, with a parameter, follows the parameter region).
fn negative_constant(e: &Expr) -> bool {
    if let Some(i) = interval::eval(e, Iv::point(1.0))
        && i.hi < 0.0
    {
        return true;
    }
    if !crate::param::active() {
        return false;
    }
    crate::asymptotic::expand(e)
        .ok()
        .and_then(|s| s.exact_const())
        .is_some_and(|c| c.sign().ok() == Some(Ordering::Less))
}

/// The trigonometric factor sin(αn + β) or cos(αn + β), with α = q or α = pπ (rational q, p):
/// returns (α as an expression, the linear form).
pub fn trig_linear(e: &Expr) -> Option<(Func, Lin)> {
    let Expr::Call(f @ (Func::Sin | Func::Cos), arg) = e else {
        return None;
    };
    let l = lin(arg)?;
    let one_frequency = l.n.is_zero() != l.pin.is_zero();
    one_frequency.then_some((*f, l))
}

/// Angular frequency α of a linear form as an expression (q or p·π).
fn frequency(l: &Lin) -> Expr {
    if l.pin.is_zero() {
        Expr::Num(l.n)
    } else {
        Expr::Mul(Box::new(Expr::Num(l.pin)), Box::new(Expr::Pi))
    }
}

/// A certified lower bound of |sin(α/2)| (so that the partial sums of sin(αk + β) are bounded
/// by its inverse), when positive.
pub fn dirichlet_bound(l: &Lin) -> Option<f64> {
    let half = Expr::Div(Box::new(frequency(l)), Box::new(Expr::Num(Rat::int(2))));
    let s = interval::eval(&half, Iv::point(1.0))?.sin()?.abs();
    (s.lo > 0.0).then_some(s.lo)
}

/// Structural proof that `e ≥ 0` for every real n where it is defined.
pub fn nonneg(e: &Expr) -> bool {
    let bounded_unit = |x: &Expr| {
        matches!(x, Expr::Call(Func::Sin | Func::Cos | Func::Tanh, _)) || is_alternating_sign(x)
    };
    let const_at_least = |x: &Expr, k: f64| {
        !x.has_n() && interval::eval(x, Iv::point(1.0)).is_some_and(|i| i.lo >= k)
    };
    match e {
        Expr::Num(r) => r.sign() != Ordering::Less,
        Expr::E | Expr::Pi => true,
        Expr::Call(Func::Abs | Func::Exp | Func::Sqrt | Func::Cosh, _) => true,
        Expr::Pow(a, k) => interval::const_int(k).is_some_and(|k| k % 2 == 0) || nonneg(a),
        Expr::Mul(a, b) | Expr::Div(a, b) => nonneg(a) && nonneg(b),
        // c + u or u + c with c >= 1 and u in [-1, 1], or a sum of non-negative terms.
        Expr::Add(a, b) => {
            (nonneg(a) && nonneg(b))
                || (const_at_least(a, 1.0) && bounded_unit(b))
                || (const_at_least(b, 1.0) && bounded_unit(a))
        }
        // c - u with c >= 1 and u in [-1, 1].
        Expr::Sub(a, b) => const_at_least(a, 1.0) && bounded_unit(b),
        _ => false,
    }
}

/// A period T > 0 (in the real variable x = n) of `h`, when every occurrence of n sits in an
/// argument sin(αn + β)/cos(αn + β) whose frequencies are all rational (T = 2πM) or all
/// rational multiples of π (T = 2M).
fn period(h: &Expr) -> Option<Expr> {
    let mut rats: Vec<Rat> = Vec::new();
    let mut pis: Vec<Rat> = Vec::new();
    fn walk(e: &Expr, rats: &mut Vec<Rat>, pis: &mut Vec<Rat>) -> bool {
        match e {
            Expr::N => false,
            Expr::Num(_) | Expr::E | Expr::Pi | Expr::Param(_) => true,
            Expr::Call(Func::Sin | Func::Cos, a) if a.has_n() => match trig_linear(e) {
                Some((_, l)) if l.pin.is_zero() => {
                    rats.push(l.n);
                    true
                }
                Some((_, l)) => {
                    pis.push(l.pin);
                    true
                }
                None => {
                    let _ = a;
                    false
                }
            },
            Expr::Neg(a) | Expr::Fact(a) | Expr::DFact(a) | Expr::Call(_, a) => walk(a, rats, pis),
            Expr::Add(a, b)
            | Expr::Sub(a, b)
            | Expr::Mul(a, b)
            | Expr::Div(a, b)
            | Expr::Pow(a, b) => walk(a, rats, pis) && walk(b, rats, pis),
        }
    }
    if !walk(h, &mut rats, &mut pis) {
        return None;
    }
    let gcd = |a: i128, b: i128| {
        let (mut a, mut b) = (a.abs(), b.abs());
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    // M with M·f integer for every frequency f = a/b: M = lcm(b)/gcd(a).
    let m = |fs: &[Rat]| -> Option<Rat> {
        let mut l: i128 = 1;
        let mut g: i128 = 0;
        for f in fs {
            l = l.checked_mul(f.den() / gcd(l, f.den()))?;
            g = gcd(g, f.num());
        }
        (g != 0 && l < 1 << 20).then(|| Rat::new(l, g))
    };
    match (rats.is_empty(), pis.is_empty()) {
        (false, true) => {
            let m = m(&rats)?;
            Some(Expr::Mul(
                Box::new(Expr::Num(m * Rat::int(2))),
                Box::new(Expr::Pi),
            ))
        }
        (true, false) => Some(Expr::Num(m(&pis)? * Rat::int(2))),
        _ => None,
    }
}

/// Boxes evaluated at most by [`pairing_bound`].
const PAIRING_BUDGET: usize = 60_000;

/// A certified c > 0 with h(x) + h(x+1) + … + h(x+k−1) ≥ c for every real x, trying k = 2, 3, 4.
pub fn pairing_bound(h: &Expr) -> Option<(usize, f64)> {
    let t = interval::eval(&period(h)?, Iv::point(1.0))?;
    let t_hi = t.hi;
    for k in 2..=4usize {
        let shifts: Vec<Expr> = (0..k)
            .map(|j| {
                h.subst_n(&Expr::Add(
                    Box::new(Expr::N),
                    Box::new(Expr::Num(Rat::int(j as i128))),
                ))
            })
            .collect();
        let f = |x: Iv| -> Option<Iv> {
            let mut acc = Iv::point(0.0);
            for s in &shifts {
                acc = acc.add(interval::eval(s, x)?)?;
            }
            Some(acc)
        };
        let pieces = 256;
        let mut stack: Vec<(f64, f64)> = (0..pieces)
            .rev()
            .map(|i| {
                (
                    t_hi * i as f64 / pieces as f64,
                    t_hi * (i + 1) as f64 / pieces as f64,
                )
            })
            .collect();
        let mut best = f64::INFINITY;
        let mut evals = 0;
        let mut ok = true;
        while let Some((a, b)) = stack.pop() {
            evals += 1;
            if evals > PAIRING_BUDGET {
                ok = false;
                break;
            }
            // The box is widened by an ulp on both sides (its ends were rounded).
            let x = Iv {
                lo: a.next_down(),
                hi: b.next_up(),
            };
            match f(x) {
                Some(v) if v.lo > 0.0 => best = best.min(v.lo),
                _ if b - a < 1e-9 * t_hi => {
                    ok = false;
                    break;
                }
                _ => {
                    let m = 0.5 * (a + b);
                    stack.push((m, b));
                    stack.push((a, m));
                }
            }
        }
        if ok && best.is_finite() {
            return Some((k, best));
        }
    }
    None
}

/// The sign of g_n − g_{n+1} for all large n (`Greater`: eventually decreasing, `Equal`: constant),
/// from the leading term of its expansion; `None` when that is not found.
pub fn monotonicity(g: &Expr) -> Option<Ordering> {
    let d = Expr::Sub(Box::new(g.clone()), Box::new(g.shifted()));
    let s = expand_until(&d, |s| !s.terms.is_empty() || s.err.is_none()).ok()?;
    match s.terms.first() {
        None => Some(Ordering::Equal),
        Some(t) => t.c.sign().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn norm(src: &str) -> String {
        normalize_signs(&parse(src).unwrap()).to_string()
    }

    #[test]
    fn sign_patterns_become_minus_one_to_the_n() {
        assert_eq!(norm("cos(pi*n)"), "(^ -1 n)");
        assert_eq!(norm("(-1)^(n+1)"), "(- (^ -1 n))");
        assert_eq!(norm("(-1)^(2*n)"), "1");
        assert_eq!(norm("sin(pi*n)"), "0");
        assert_eq!(norm("(-1/2)^n"), "(* (^ -1 n) (^ (- (/ (- 1) 2)) n))");
        assert_eq!(norm("sin(n)"), "(sin n)");
    }

    #[test]
    fn pairing_bounds_are_certified() {
        let (k, c) = pairing_bound(&parse("sin(n)^2").unwrap()).unwrap();
        // min over x of sin²x + sin²(x+1) = 1 − |cos 1| = 0.4597…
        assert_eq!(k, 2);
        assert!(c > 0.3 && c <= 1.0 - 1f64.cos(), "{c}");
        let (_, c) = pairing_bound(&parse("abs(sin(n))").unwrap()).unwrap();
        assert!(c > 0.5 && c <= 1f64.sin(), "{c}");
        assert!(pairing_bound(&parse("1 + cos(n)").unwrap()).is_some());
        // sin²(πn) vanishes at every integer: no bound.
        assert!(pairing_bound(&parse("sin(pi*n)^2").unwrap()).is_none());
    }

    #[test]
    fn monotone_envelopes() {
        assert_eq!(
            monotonicity(&parse("1/n").unwrap()),
            Some(Ordering::Greater)
        );
        assert_eq!(monotonicity(&parse("n").unwrap()), Some(Ordering::Less));
        assert_eq!(
            monotonicity(&parse("1/ln(n)").unwrap()),
            Some(Ordering::Greater)
        );
    }
}
