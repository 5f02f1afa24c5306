//! Interval arithmetic with outward rounding, used wherever a floating-point number enters a
//! decision (domain of a_n for every n ≥ n0, bounds of oscillating factors, periodic minima).
//!
//! Every result encloses the exact value: after each `+ − × ÷` the bounds move one ulp outwards
//! (round-to-nearest errs by at most half an ulp), and after each libm call (`exp`, `ln`, `sin`,
//! …) by [`LIBM_ULPS`] ulps, which covers glibc's documented maximal errors (≤ 2 ulp for these
//! functions on x86_64). Infinite bounds are allowed (`n ∈ [n0, ∞)`); a product 0 · ∞ at an
//! endpoint is 0 (the usual convention of interval arithmetic on the extended reals). An
//! operation outside its domain, or one whose enclosure is not available, gives `None`.

use crate::expr::{Expr, Func};

/// Ulps added on each side after a libm call.
pub const LIBM_ULPS: usize = 4;

/// A closed interval [lo, hi] of the extended reals, lo ≤ hi.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Iv {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

fn down(x: f64, k: usize) -> f64 {
    let mut x = x;
    for _ in 0..k {
        if x.is_finite() {
            x = x.next_down();
        }
    }
    x
}

fn up(x: f64, k: usize) -> f64 {
    let mut x = x;
    for _ in 0..k {
        if x.is_finite() {
            x = x.next_up();
        }
    }
    x
}

/// The rounded sum and whether it is exact (TwoSum error term 0; infinities count as exact
/// only when an operand is infinite).
fn sum_exact(a: f64, b: f64) -> (f64, bool) {
    let s = a + b;
    if !s.is_finite() {
        return (s, a.is_infinite() || b.is_infinite());
    }
    let bp = s - a;
    let err = (a - (s - bp)) + (b - bp);
    (s, err == 0.0)
}

/// The rounded product (0 · ∞ = 0) and whether it is exact (fused multiply-add error term 0,
/// trusted away from underflow).
fn prod_exact(a: f64, b: f64) -> (f64, bool) {
    if a == 0.0 || b == 0.0 {
        return (0.0, true);
    }
    let p = a * b;
    if !p.is_finite() {
        return (p, a.is_infinite() || b.is_infinite());
    }
    if p.abs() < 1e-290 {
        return (p, false);
    }
    (p, a.mul_add(b, -p) == 0.0)
}

// The arithmetic returns `Option` (division by an interval containing 0, domains), which the
// `std::ops` traits cannot express; hence methods named like them.
#[allow(clippy::should_implement_trait)]
impl Iv {
    /// [lo, hi] as given (callers guarantee an enclosure).
    pub fn new(lo: f64, hi: f64) -> Option<Iv> {
        (!lo.is_nan() && !hi.is_nan() && lo <= hi).then_some(Iv { lo, hi })
    }

    /// The exact point `x`.
    pub fn point(x: f64) -> Iv {
        Iv { lo: x, hi: x }
    }

    /// [lo, hi] moved outwards by `k` ulps.
    fn out(lo: f64, hi: f64, k: usize) -> Option<Iv> {
        Iv::new(down(lo, k), up(hi, k))
    }

    /// Whether 0 lies in the interval.
    pub fn contains_zero(&self) -> bool {
        self.lo <= 0.0 && self.hi >= 0.0
    }

    /// [lo, hi] moved outwards by one ulp, except bounds known to be exact.
    fn out_exact(lo: (f64, bool), hi: (f64, bool)) -> Option<Iv> {
        let l = if lo.1 { lo.0 } else { down(lo.0, 1) };
        let h = if hi.1 { hi.0 } else { up(hi.0, 1) };
        Iv::new(l, h)
    }

    /// Sum.
    pub fn add(self, o: Iv) -> Option<Iv> {
        Iv::out_exact(sum_exact(self.lo, o.lo), sum_exact(self.hi, o.hi))
    }

    /// Difference.
    pub fn sub(self, o: Iv) -> Option<Iv> {
        Iv::out_exact(sum_exact(self.lo, -o.hi), sum_exact(self.hi, -o.lo))
    }

    /// Negation (exact).
    pub fn neg(self) -> Iv {
        Iv {
            lo: -self.hi,
            hi: -self.lo,
        }
    }

    /// Product.
    pub fn mul(self, o: Iv) -> Option<Iv> {
        let pairs = [
            (self.lo, o.lo),
            (self.lo, o.hi),
            (self.hi, o.lo),
            (self.hi, o.hi),
        ];
        let c = pairs.map(|(a, b)| prod_exact(a, b));
        let lo = c.iter().map(|x| x.0).fold(f64::INFINITY, f64::min);
        let hi = c.iter().map(|x| x.0).fold(f64::NEG_INFINITY, f64::max);
        let exact = |v: f64| c.iter().filter(|x| x.0 == v).all(|x| x.1);
        Iv::out_exact((lo, exact(lo)), (hi, exact(hi)))
    }

    /// Reciprocal (`None` when 0 is inside).
    pub fn recip(self) -> Option<Iv> {
        if self.contains_zero() {
            return None;
        }
        Iv::out(1.0 / self.hi, 1.0 / self.lo, 1)
    }

    /// Quotient.
    pub fn div(self, o: Iv) -> Option<Iv> {
        self.mul(o.recip()?)
    }

    /// |x|.
    pub fn abs(self) -> Iv {
        if self.lo >= 0.0 {
            self
        } else if self.hi <= 0.0 {
            self.neg()
        } else {
            Iv {
                lo: 0.0,
                hi: self.hi.max(-self.lo),
            }
        }
    }

    /// x^k for an integer k.
    pub fn powi(self, k: i64) -> Option<Iv> {
        if k == 0 {
            return Some(Iv::point(1.0));
        }
        if k < 0 {
            return self.powi(-k)?.recip();
        }
        if k > 4096 {
            return None;
        }
        let pos = |x: Iv| -> Option<Iv> {
            // x >= 0: repeated multiplication, outward each time.
            let mut acc = Iv::point(1.0);
            let mut b = x;
            let mut e = k;
            while e > 0 {
                if e & 1 == 1 {
                    acc = acc.mul(b)?;
                }
                e >>= 1;
                if e > 0 {
                    b = b.mul(b)?;
                }
            }
            Some(Iv {
                lo: acc.lo.max(0.0),
                hi: acc.hi,
            })
        };
        if self.lo >= 0.0 {
            return pos(self);
        }
        if k % 2 == 0 {
            return pos(self.abs());
        }
        // Odd power: monotone; a negative endpoint v gives −|v|^k.
        let ep = |v: f64| -> Option<Iv> {
            if v >= 0.0 {
                pos(Iv::point(v))
            } else {
                pos(Iv::point(-v)).map(Iv::neg)
            }
        };
        Iv::new(ep(self.lo)?.lo, ep(self.hi)?.hi)
    }

    /// e^x.
    pub fn exp(self) -> Option<Iv> {
        if self.lo == 0.0 && self.hi == 0.0 {
            return Some(Iv::point(1.0));
        }
        Iv::out(self.lo.exp().max(0.0), self.hi.exp(), LIBM_ULPS).map(|i| Iv {
            lo: i.lo.max(0.0),
            hi: i.hi,
        })
    }

    /// ln x (`None` unless x > 0).
    pub fn ln(self) -> Option<Iv> {
        if self.lo <= 0.0 {
            return None;
        }
        if self.lo == 1.0 && self.hi == 1.0 {
            return Some(Iv::point(0.0));
        }
        let l = if self.lo == 1.0 {
            0.0
        } else {
            down(self.lo.ln(), LIBM_ULPS)
        };
        Iv::new(l, up(self.hi.ln(), LIBM_ULPS))
    }

    /// √x (`None` unless x ≥ 0).
    pub fn sqrt(self) -> Option<Iv> {
        if self.lo < 0.0 {
            return None;
        }
        if self.lo == self.hi {
            // sqrt is correctly rounded; the result is exact when it squares back exactly.
            let r = self.lo.sqrt();
            if r.mul_add(r, -self.lo) == 0.0 {
                return Some(Iv::point(r));
            }
        }
        Iv::out(self.lo.sqrt(), self.hi.sqrt(), 1).map(|i| Iv {
            lo: i.lo.max(0.0),
            hi: i.hi,
        })
    }

    /// x^y for x > 0 (as exp(y ln x)).
    pub fn powf(self, y: Iv) -> Option<Iv> {
        self.ln()?.mul(y)?.exp()
    }

    /// sin x.
    pub fn sin(self) -> Option<Iv> {
        self.shifted_cos(-std::f64::consts::FRAC_PI_2)
    }

    /// cos x.
    pub fn cos(self) -> Option<Iv> {
        self.shifted_cos(0.0)
    }

    /// cos(x + s) with s ∈ {0, −π/2} (sin x = cos(x − π/2)); the maxima of cos(x + s) sit at
    /// x = −s + 2kπ and the minima at x = −s + π + 2kπ.
    fn shifted_cos(self, s: f64) -> Option<Iv> {
        let full = Iv { lo: -1.0, hi: 1.0 };
        if !self.lo.is_finite() || !self.hi.is_finite() || self.hi - self.lo >= 6.0 {
            return Some(full);
        }
        let tau = std::f64::consts::TAU;
        let pi = std::f64::consts::PI;
        // Does [lo, hi] (slightly enlarged) contain a point c + 2kπ?
        let hits = |c: f64| {
            let slack = 1e-9 * (1.0 + self.lo.abs().max(self.hi.abs()));
            let k = ((self.lo - slack - c) / tau).ceil();
            c + k * tau <= self.hi + slack
        };
        let f = |x: f64| {
            if s == 0.0 { x.cos() } else { x.sin() }
        };
        // Absolute error of libm at large arguments is below an ulp of 1; add 1e-15 on top.
        let (a, b) = (f(self.lo), f(self.hi));
        let mut lo = down(a.min(b), LIBM_ULPS) - 1e-15;
        let mut hi = up(a.max(b), LIBM_ULPS) + 1e-15;
        if hits(-s) {
            hi = 1.0;
        }
        if hits(-s + pi) {
            lo = -1.0;
        }
        Iv::new(lo.max(-1.0), hi.min(1.0))
    }

    /// arctan x.
    pub fn atan(self) -> Option<Iv> {
        let h = std::f64::consts::FRAC_PI_2;
        Iv::out(self.lo.atan(), self.hi.atan(), LIBM_ULPS).map(|i| Iv {
            lo: i.lo.max(-up(h, 1)),
            hi: i.hi.min(up(h, 1)),
        })
    }

    /// tanh x.
    pub fn tanh(self) -> Option<Iv> {
        Iv::out(self.lo.tanh(), self.hi.tanh(), LIBM_ULPS).map(|i| Iv {
            lo: i.lo.max(-1.0),
            hi: i.hi.min(1.0),
        })
    }

    /// sinh x.
    pub fn sinh(self) -> Option<Iv> {
        Iv::out(self.lo.sinh(), self.hi.sinh(), LIBM_ULPS)
    }

    /// cosh x.
    pub fn cosh(self) -> Option<Iv> {
        let a = self.abs();
        Iv::out(a.lo.cosh().max(1.0), a.hi.cosh(), LIBM_ULPS).map(|i| Iv {
            lo: i.lo.max(1.0),
            hi: i.hi,
        })
    }
}

/// An enclosure of x! for x in `a` (x ≥ 0): Γ(x+1) is increasing for x ≥ 1 and lies in
/// [0.88, 1] on [0, 1].
fn factorial(a: Iv) -> Option<Iv> {
    if a.lo < 0.0 {
        return None;
    }
    let fact_down = |x: f64| -> f64 {
        let k = x.floor();
        if k > 170.0 {
            return f64::MAX;
        }
        let mut p = 1.0f64;
        for i in 2..=(k as u64) {
            p = down(p * i as f64, 1);
        }
        p
    };
    let fact_up = |x: f64| -> f64 {
        let k = x.ceil();
        if k > 170.0 {
            return f64::INFINITY;
        }
        let mut p = 1.0f64;
        for i in 2..=(k as u64) {
            p = up(p * i as f64, 1);
        }
        p
    };
    if a.lo == a.hi && a.lo.fract() == 0.0 {
        // An integer point: 0! = 1! = 1, else the product, rounded outwards.
        return Iv::new(fact_down(a.lo), fact_up(a.lo));
    }
    let lo = if a.lo >= 1.0 { fact_down(a.lo) } else { 0.88 };
    let hi = if a.hi <= 1.0 { 1.0 } else { fact_up(a.hi) };
    Iv::new(lo, hi)
}

/// An enclosure of `e` for the variable `n` ranging over `x`; `None` when the evaluation leaves
/// a domain or cannot be enclosed.
pub fn eval(e: &Expr, x: Iv) -> Option<Iv> {
    Some(match e {
        Expr::N => x,
        Expr::Num(r) => {
            let v = r.to_f64();
            if r.is_integer() && v.abs() < 9.0e15 {
                Iv::point(v)
            } else {
                Iv::out(v, v, 1)?
            }
        }
        Expr::E => Iv::out(std::f64::consts::E, std::f64::consts::E, 1)?,
        Expr::Pi => Iv::out(std::f64::consts::PI, std::f64::consts::PI, 1)?,
        Expr::Param(name) => crate::param::enclosure(name)?,
        Expr::Neg(a) => eval(a, x)?.neg(),
        Expr::Add(a, b) => eval(a, x)?.add(eval(b, x)?)?,
        Expr::Sub(a, b) => eval(a, x)?.sub(eval(b, x)?)?,
        Expr::Mul(a, b) => eval(a, x)?.mul(eval(b, x)?)?,
        Expr::Div(a, b) => eval(a, x)?.div(eval(b, x)?)?,
        Expr::Pow(a, b) => {
            if let Some(k) = const_int(b) {
                return eval(a, x)?.powi(k);
            }
            let ex = eval(b, x)?;
            // An integer exponent known exactly (n at an integer point): exact sign and
            // repeated multiplication instead of exp(y ln x).
            let int_point = (ex.lo == ex.hi && ex.lo.fract() == 0.0 && ex.lo.abs() < 9.0e15)
                .then_some(ex.lo as i64);
            if is_minus_one(a) {
                return Some(match int_point {
                    Some(k) if k % 2 == 0 => Iv::point(1.0),
                    Some(_) => Iv::point(-1.0),
                    None => Iv { lo: -1.0, hi: 1.0 },
                });
            }
            let base = eval(a, x)?;
            if let Some(k) = int_point.filter(|k| k.abs() <= 4096) {
                return base.powi(k);
            }
            if base.lo > 0.0 {
                base.powf(ex)?
            } else if base.lo >= 0.0 && ex.lo > 0.0 {
                // 0^y = 0 for y > 0.
                let pos = Iv {
                    lo: f64::MIN_POSITIVE.min(base.hi),
                    hi: base.hi,
                };
                let v = pos.powf(ex)?;
                Iv { lo: 0.0, hi: v.hi }
            } else {
                return None;
            }
        }
        Expr::Fact(a) => factorial(eval(a, x)?)?,
        Expr::DFact(a) => {
            // m!! ∈ [1, m!] for integers m ≥ −1 (m!! ≤ m! since m! = m!!·(m−1)!!).
            let m = eval(a, x)?;
            if m.lo < -1.0 {
                return None;
            }
            let hi = if m.hi <= 1.0 {
                1.0
            } else {
                factorial(Iv::new(0.0, m.hi)?)?.hi
            };
            Iv::new(1.0, hi.max(1.0))?
        }
        Expr::Call(f, a) => {
            let v = eval(a, x)?;
            match f {
                Func::Ln => v.ln()?,
                Func::Exp => v.exp()?,
                Func::Sqrt => v.sqrt()?,
                Func::Sin => v.sin()?,
                Func::Cos => v.cos()?,
                Func::Tan => {
                    let c = v.cos()?;
                    v.sin()?.div(c)?
                }
                Func::Arctan => v.atan()?,
                Func::Sinh => v.sinh()?,
                Func::Cosh => v.cosh()?,
                Func::Tanh => v.tanh()?,
                Func::Abs => v.abs(),
            }
        }
    })
}

/// The value of a constant integer expression (a literal, possibly negated).
pub fn const_int(e: &Expr) -> Option<i64> {
    match e {
        Expr::Num(r) if r.is_integer() && r.num().abs() < (1 << 62) => Some(r.num() as i64),
        Expr::Neg(a) => const_int(a).map(|k| -k),
        _ => None,
    }
}

/// Whether `e` is the literal −1.
pub fn is_minus_one(e: &Expr) -> bool {
    const_int(e) == Some(-1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn ev(src: &str, lo: f64, hi: f64) -> Option<Iv> {
        eval(&parse(src).unwrap(), Iv::new(lo, hi).unwrap())
    }

    #[test]
    fn enclosures_contain_the_values() {
        let i = ev("n - 5000", 1.0, f64::INFINITY).unwrap();
        assert_eq!(i.lo, -4999.0); // exact: no widening
        assert!(i.hi.is_infinite());
        let i = ev("(n - 5000)^2", 5000.0, 5000.0).unwrap();
        assert_eq!((i.lo, i.hi), (0.0, 0.0));
        let i = ev("sin(n)", 0.0, 0.1).unwrap();
        assert!(i.lo <= 0.0 && i.hi >= 0.1f64.sin() && i.hi < 0.1);
        let i = ev("cos(n)", 3.0, 3.3).unwrap();
        assert_eq!(i.lo, -1.0);
        let i = ev("1 + cos(n)", 0.0, 100.0).unwrap();
        assert!(i.lo <= 0.0 && i.hi >= 2.0);
        assert!(ev("ln(n)", 0.0, 1.0).is_none());
        let i = ev("n!", 3.0, 4.0).unwrap();
        assert!(i.lo <= 6.0 && i.hi >= 24.0);
        let i = ev("exp(-n)", 1.0, f64::INFINITY).unwrap();
        assert!(i.lo == 0.0 && i.hi >= (-1.0f64).exp());
    }

    #[test]
    fn odd_and_even_powers() {
        let i = ev("n^3", -2.0, 1.0).unwrap();
        assert!(i.lo <= -8.0 && i.hi >= 1.0 && i.lo > -8.1);
        let i = ev("n^2", -2.0, 1.0).unwrap();
        assert!(i.lo == 0.0 && i.hi >= 4.0);
        let i = ev("n^-1", 2.0, 4.0).unwrap();
        assert!(i.lo <= 0.25 && i.hi >= 0.5);
    }
}
