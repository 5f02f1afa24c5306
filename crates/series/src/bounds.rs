//! Bounded oscillating factors (spec §5.6): if a_n = b_n · c_n with c_n provably in [m, M],
//! 0 < m ≤ M < ∞ (e.g. 2 + sin n, 2 + (−1)^n), Σ a_n and Σ b_n converge together.
//!
//! The bound is an interval evaluation in which sin, cos, tanh of anything lie in [−1, 1],
//! arctan of anything in [−π/2, π/2] and (−1)^(anything) in [−1, 1]; `n` anywhere else
//! makes the factor unbounded for this purpose. Intervals are widened by a relative 10^-12
//! after each operation to cover `f64` rounding.

use crate::expr::{Expr, Func};

/// A closed interval [lo, hi].
pub type Interval = (f64, f64);

fn widen((lo, hi): Interval) -> Interval {
    (
        lo - lo.abs() * 1e-12 - 1e-300,
        hi + hi.abs() * 1e-12 + 1e-300,
    )
}

/// The range of `e` over all n, if this simple interval evaluation can bound it.
pub fn interval(e: &Expr) -> Option<Interval> {
    let r = match e {
        Expr::N | Expr::Param(_) => return None,
        Expr::Num(r) => (r.to_f64(), r.to_f64()),
        Expr::E => (std::f64::consts::E, std::f64::consts::E),
        Expr::Pi => (std::f64::consts::PI, std::f64::consts::PI),
        Expr::Neg(a) => {
            let (lo, hi) = interval(a)?;
            (-hi, -lo)
        }
        Expr::Add(a, b) => {
            let (a, b) = (interval(a)?, interval(b)?);
            (a.0 + b.0, a.1 + b.1)
        }
        Expr::Sub(a, b) => {
            let (a, b) = (interval(a)?, interval(b)?);
            (a.0 - b.1, a.1 - b.0)
        }
        Expr::Mul(a, b) => mul(interval(a)?, interval(b)?),
        Expr::Div(a, b) => {
            let (lo, hi) = interval(b)?;
            if lo <= 0.0 && hi >= 0.0 {
                return None;
            }
            mul(interval(a)?, (1.0 / hi, 1.0 / lo))
        }
        Expr::Pow(base, expo) => {
            if expo.has_n() {
                let is_minus_one = match &**base {
                    Expr::Neg(x) => matches!(&**x, Expr::Num(r) if r.to_f64() == 1.0),
                    Expr::Num(r) => r.to_f64() == -1.0,
                    _ => false,
                };
                return if is_minus_one {
                    Some((-1.0, 1.0))
                } else {
                    None
                };
            }
            let k = expo.eval(0.0).ok()?;
            pow(interval(base)?, k)?
        }
        Expr::Fact(_) | Expr::DFact(_) => return None,
        Expr::Call(f, a) => match f {
            Func::Sin | Func::Cos | Func::Tanh if a.has_n() => (-1.0, 1.0),
            Func::Arctan if a.has_n() => {
                (-std::f64::consts::FRAC_PI_2, std::f64::consts::FRAC_PI_2)
            }
            _ => {
                let (lo, hi) = interval(a)?;
                match f {
                    Func::Exp => (lo.exp(), hi.exp()),
                    Func::Sqrt if lo >= 0.0 => (lo.sqrt(), hi.sqrt()),
                    Func::Ln if lo > 0.0 => (lo.ln(), hi.ln()),
                    Func::Abs => {
                        if lo >= 0.0 {
                            (lo, hi)
                        } else if hi <= 0.0 {
                            (-hi, -lo)
                        } else {
                            (0.0, hi.max(-lo))
                        }
                    }
                    Func::Arctan => (lo.atan(), hi.atan()),
                    Func::Tanh => (lo.tanh(), hi.tanh()),
                    Func::Sinh => (lo.sinh(), hi.sinh()),
                    _ if lo == hi => {
                        let x = Expr::Call(*f, Box::new(Expr::N)).eval(lo).ok()?;
                        (x, x)
                    }
                    _ => return None,
                }
            }
        },
    };
    let r = widen(r);
    (r.0.is_finite() && r.1.is_finite()).then_some(r)
}

fn mul(a: Interval, b: Interval) -> Interval {
    let c = [a.0 * b.0, a.0 * b.1, a.1 * b.0, a.1 * b.1];
    (
        c.iter().copied().fold(f64::INFINITY, f64::min),
        c.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

fn pow((lo, hi): Interval, k: f64) -> Option<Interval> {
    if k.fract() == 0.0 {
        let (alo, ahi) = if lo >= 0.0 {
            (lo, hi)
        } else if hi <= 0.0 {
            (-hi, -lo)
        } else {
            (0.0, hi.max(-lo))
        };
        let even = (k as i64) % 2 == 0;
        let (plo, phi) = if even || lo >= 0.0 {
            (alo.powf(k.abs()), ahi.powf(k.abs()))
        } else if hi <= 0.0 {
            (-(ahi.powf(k.abs())), -(alo.powf(k.abs())))
        } else {
            (-(lo.abs().powf(k.abs())), hi.powf(k.abs()))
        };
        if k >= 0.0 {
            Some((plo, phi))
        } else if plo > 0.0 || phi < 0.0 {
            Some((1.0 / phi, 1.0 / plo))
        } else {
            None
        }
    } else if lo >= 0.0 {
        if k > 0.0 {
            Some((lo.powf(k), hi.powf(k)))
        } else if lo > 0.0 {
            Some((hi.powf(k), lo.powf(k)))
        } else {
            None
        }
    } else {
        None
    }
}

/// Splits `e` into multiplicative factors, each with `true` when it divides.
pub fn factors(e: &Expr) -> Vec<(Expr, bool)> {
    fn go(e: &Expr, inv: bool, out: &mut Vec<(Expr, bool)>) {
        match e {
            Expr::Mul(a, b) => {
                go(a, inv, out);
                go(b, inv, out);
            }
            Expr::Div(a, b) => {
                go(a, inv, out);
                go(b, !inv, out);
            }
            Expr::Neg(a) => {
                out.push((Expr::Num(crate::rat::Rat::int(-1)), inv));
                go(a, inv, out);
            }
            other => out.push((other.clone(), inv)),
        }
    }
    let mut out = Vec::new();
    go(e, false, &mut out);
    out
}

/// Rebuilds a product from factors.
pub fn product(fs: &[(Expr, bool)]) -> Expr {
    let mut num = Expr::Num(crate::rat::Rat::ONE);
    let mut den: Option<Expr> = None;
    for (f, inv) in fs {
        if *inv {
            den = Some(match den {
                None => f.clone(),
                Some(d) => Expr::Mul(Box::new(d), Box::new(f.clone())),
            });
        } else {
            num = match num {
                Expr::Num(r) if r == crate::rat::Rat::ONE => f.clone(),
                other => Expr::Mul(Box::new(other), Box::new(f.clone())),
            };
        }
    }
    match den {
        None => num,
        Some(d) => Expr::Div(Box::new(num), Box::new(d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    #[test]
    fn bounded_oscillating_factors() {
        let (lo, hi) = interval(&parse("2 + sin(n)").unwrap()).unwrap();
        assert!((lo - 1.0).abs() < 1e-9 && (hi - 3.0).abs() < 1e-9);
        let (lo, hi) = interval(&parse("2 + (-1)^n").unwrap()).unwrap();
        assert!((lo - 1.0).abs() < 1e-9 && (hi - 3.0).abs() < 1e-9);
        let (lo, _) = interval(&parse("sin(n)^2").unwrap()).unwrap();
        assert!(lo <= 0.0);
        assert!(interval(&parse("n + sin(n)").unwrap()).is_none());
    }

    #[test]
    fn factors_round_trip() {
        let e = parse("(2 + sin(n))/(n^2*ln(n))").unwrap();
        let fs = factors(&e);
        assert_eq!(fs.len(), 3);
        assert!(!fs[0].1 && fs[1].1 && fs[2].1);
        assert_eq!(
            product(&fs).to_string(),
            "(/ (+ 2 (sin n)) (* (^ n 2) (ln n)))"
        );
    }
}
