//! Products of oscillating factors as trigonometric polynomials in the integer n.
//!
//! A factor built from rationals, +, −, ×, ÷ by a rational, integer powers ≤ 8, (−1)^n and
//! sin/cos of linear arguments αn + β (α = q + pπ, β = r + sπ with rationals q, p, r, s) is
//! rewritten exactly, by cos A cos B = ½cos(A + B) + ½cos(A − B) and sin x = cos(x − π/2),
//! into P(n) = Σ_j c_j cos(ω_j n + φ_j) with rational c_j. On integers n the frequency ω is
//! taken modulo 2π and up to sign: q ≥ 0 and p ∈ [0, 2), and p ∈ [0, 1] when q = 0 (φ flips
//! with the sign). Two normalized frequencies then agree on all integers only when equal
//! (q + pπ ∈ 2πℤ needs q = 0 since π is irrational), and ω ≡ 0 exactly for q = 0, p = 0:
//! those terms form the constant term c₀ of P.
//!
//! With b_n eventually decreasing to 0 and Σ b_n divergent:
//! Σ P(n) b_n = c₀ Σ b_n + Σ (P − c₀)(n) b_n, and the second series converges by Dirichlet's
//! test (|Σ_{k≤N} cos(ωk + φ)| ≤ 1/|sin(ω/2)| for ω ∉ 2πℤ). So the series diverges when c₀ ≠ 0
//! and converges when c₀ = 0 — conditionally when P ≢ 0 on the integers, because
//! |P| ≥ P²/M (M = Σ|c_j| ≥ sup|P|) and P² has a positive constant term (certified the same way),
//! so Σ |a_n| ≥ (1/M) Σ P² b_n diverges.

use crate::expr::{Expr, Func};
use crate::interval::{self, Iv};
use crate::oscillating::{is_alternating_sign, lin};
use crate::rat::Rat;

/// c·cos((q + pπ)·n + r + sπ).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Term {
    c: Rat,
    q: Rat,
    p: Rat,
    r: Rat,
    s: Rat,
}

/// A trigonometric polynomial in n.
#[derive(Clone, Debug, PartialEq)]
pub struct TrigPoly {
    terms: Vec<Term>,
}

/// Most terms kept (the product of k factors with two terms each has 2^k).
const MAX_TERMS: usize = 512;

impl TrigPoly {
    fn constant(c: Rat) -> TrigPoly {
        TrigPoly {
            terms: vec![Term {
                c,
                q: Rat::ZERO,
                p: Rat::ZERO,
                r: Rat::ZERO,
                s: Rat::ZERO,
            }],
        }
    }

    fn scale(mut self, k: Rat) -> TrigPoly {
        for t in &mut self.terms {
            t.c = t.c * k;
        }
        self
    }

    fn add(mut self, o: TrigPoly) -> Option<TrigPoly> {
        self.terms.extend(o.terms);
        (self.terms.len() <= MAX_TERMS).then_some(self)
    }

    fn mul(&self, o: &TrigPoly) -> Option<TrigPoly> {
        if self.terms.len() * o.terms.len() * 2 > MAX_TERMS {
            return None;
        }
        let half = Rat::new(1, 2);
        let mut out = Vec::new();
        for a in &self.terms {
            for b in &o.terms {
                let c = a.c * b.c * half;
                out.push(Term {
                    c,
                    q: a.q + b.q,
                    p: a.p + b.p,
                    r: a.r + b.r,
                    s: a.s + b.s,
                });
                out.push(Term {
                    c,
                    q: a.q - b.q,
                    p: a.p - b.p,
                    r: a.r - b.r,
                    s: a.s - b.s,
                });
            }
        }
        Some(TrigPoly { terms: out }.normalized())
    }

    /// Frequencies modulo 2π and up to sign (module docs).
    fn normalized(mut self) -> TrigPoly {
        for t in &mut self.terms {
            // p mod 2.
            let two = Rat::int(2);
            let k = (t.p / two).floor();
            t.p = t.p - two * Rat::int(k);
            let flip = t.q < Rat::ZERO || (t.q.is_zero() && t.p > Rat::ONE);
            if flip {
                t.q = -t.q;
                t.p = if t.p.is_zero() { t.p } else { two - t.p };
                t.r = -t.r;
                t.s = -t.s;
            }
        }
        self.terms.retain(|t| !t.c.is_zero());
        self
    }

    /// The polynomial of `e`, when `e` is built as the module docs say.
    pub fn of(e: &Expr) -> Option<TrigPoly> {
        let p = match e {
            Expr::Num(r) => TrigPoly::constant(*r),
            Expr::Neg(a) => TrigPoly::of(a)?.scale(-Rat::ONE),
            Expr::Add(a, b) => TrigPoly::of(a)?.add(TrigPoly::of(b)?)?,
            Expr::Sub(a, b) => TrigPoly::of(a)?.add(TrigPoly::of(b)?.scale(-Rat::ONE))?,
            Expr::Mul(a, b) => TrigPoly::of(a)?.mul(&TrigPoly::of(b)?)?,
            Expr::Div(a, b) => {
                let Expr::Num(d) = &**b else { return None };
                if d.is_zero() {
                    return None;
                }
                TrigPoly::of(a)?.scale(Rat::ONE / *d)
            }
            _ if is_alternating_sign(e) => TrigPoly {
                terms: vec![Term {
                    c: Rat::ONE,
                    q: Rat::ZERO,
                    p: Rat::ONE,
                    r: Rat::ZERO,
                    s: Rat::ZERO,
                }],
            },
            Expr::Pow(a, k) => {
                let k = interval::const_int(k)?;
                if !(1..=8).contains(&k) {
                    return None;
                }
                let base = TrigPoly::of(a)?;
                let mut acc = base.clone();
                for _ in 1..k {
                    acc = acc.mul(&base)?;
                }
                acc
            }
            Expr::Call(f @ (Func::Sin | Func::Cos), arg) => {
                let l = lin(arg)?;
                let shift = if *f == Func::Sin {
                    Rat::new(-1, 2)
                } else {
                    Rat::ZERO
                };
                TrigPoly {
                    terms: vec![Term {
                        c: Rat::ONE,
                        q: l.n,
                        p: l.pin,
                        r: l.c,
                        s: l.pi + shift,
                    }],
                }
            }
            _ => return None,
        };
        Some(p.normalized())
    }

    fn is_constant_freq(t: &Term) -> bool {
        t.q.is_zero() && t.p.is_zero()
    }

    /// The constant term: exact when every constant-frequency phase is a multiple of π/2,
    /// else an enclosure.
    pub fn constant_term(&self) -> Option<ConstTerm> {
        let mut exact = Some(Rat::ZERO);
        let mut iv = Iv::point(0.0);
        for t in self.terms.iter().filter(|t| TrigPoly::is_constant_freq(t)) {
            let quarter = t.s * Rat::int(2);
            exact = match exact {
                Some(acc) if t.r.is_zero() && quarter.is_integer() => {
                    // cos(kπ/2) for k = 0, 1, 2, 3 (mod 4).
                    let k = quarter.num().rem_euclid(4);
                    let v = [1, 0, -1, 0][k as usize];
                    Some(acc + t.c * Rat::int(v))
                }
                _ => None,
            };
            iv = iv.add(rat_iv(t.c).mul(phase(t)?.cos()?)?)?;
        }
        Some(match exact {
            Some(r) => ConstTerm::Exact(r),
            None => ConstTerm::Enclosed(iv),
        })
    }

    /// A certified lower bound of |sin(ω/2)| over the non-constant frequencies (> 0, or
    /// `None`), and M = Σ |c_j| ≥ sup |P|.
    pub fn dirichlet(&self) -> Option<(f64, f64)> {
        let mut s_min = f64::INFINITY;
        for t in self.terms.iter().filter(|t| !TrigPoly::is_constant_freq(t)) {
            let half =
                rat_iv(t.q * Rat::new(1, 2)).add(rat_iv(t.p * Rat::new(1, 2)).mul(pi_iv())?)?;
            let s = half.sin()?.abs();
            if s.lo <= 0.0 {
                return None;
            }
            s_min = s_min.min(s.lo);
        }
        let m = self.terms.iter().map(|t| t.c.abs().to_f64()).sum::<f64>() * (1.0 + 1e-12);
        Some((s_min, m))
    }

    /// An upper bound of |Σ_{k=N..M} (P − c₀)(k)| over all N ≤ M: Σ |c_j|/|sin(ω_j/2)| over
    /// the non-constant terms (certified), when every such frequency is off 2πℤ.
    pub fn abel_bound(&self) -> Option<f64> {
        let mut total = Iv::point(0.0);
        for t in self.terms.iter().filter(|t| !TrigPoly::is_constant_freq(t)) {
            let half =
                rat_iv(t.q * Rat::new(1, 2)).add(rat_iv(t.p * Rat::new(1, 2)).mul(pi_iv())?)?;
            let s = half.sin()?.abs();
            if s.lo <= 0.0 {
                return None;
            }
            total = total.add(rat_iv(t.c.abs()).div(Iv::point(s.lo))?)?;
        }
        Some(total.hi)
    }

    /// The non-constant terms as enclosures (c_j, ω_j, φ_j) of c_j·cos(ω_j n + φ_j).
    pub fn waves(&self) -> Option<Vec<(Iv, Iv, Iv)>> {
        self.terms
            .iter()
            .filter(|t| !TrigPoly::is_constant_freq(t))
            .map(|t| {
                let w = rat_iv(t.q).add(rat_iv(t.p).mul(pi_iv())?)?;
                Some((rat_iv(t.c), w, phase(t)?))
            })
            .collect()
    }

    /// Whether P has any non-constant frequency.
    pub fn oscillates(&self) -> bool {
        self.terms.iter().any(|t| !TrigPoly::is_constant_freq(t))
    }

    /// P².
    pub fn square(&self) -> Option<TrigPoly> {
        self.mul(self)
    }

    /// Number of terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Whether there is no term (P ≡ 0 as written).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

/// The constant term of a [`TrigPoly`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConstTerm {
    /// Exactly this rational.
    Exact(Rat),
    /// Somewhere in this interval.
    Enclosed(Iv),
}

impl ConstTerm {
    /// Certified sign: `Some(0)` exactly zero, `Some(±1)`, or `None` when not certified.
    pub fn sign(&self) -> Option<i8> {
        match self {
            ConstTerm::Exact(r) => Some(match r.sign() {
                std::cmp::Ordering::Less => -1,
                std::cmp::Ordering::Equal => 0,
                std::cmp::Ordering::Greater => 1,
            }),
            ConstTerm::Enclosed(i) if i.lo > 0.0 => Some(1),
            ConstTerm::Enclosed(i) if i.hi < 0.0 => Some(-1),
            ConstTerm::Enclosed(_) => None,
        }
    }
}

impl std::fmt::Display for ConstTerm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConstTerm::Exact(r) => write!(f, "{r}"),
            ConstTerm::Enclosed(i) => write!(f, "in [{:.6}, {:.6}]", i.lo, i.hi),
        }
    }
}

fn rat_iv(r: Rat) -> Iv {
    let v = r.to_f64();
    if r.is_integer() && v.abs() < 9.0e15 {
        Iv::point(v)
    } else {
        Iv {
            lo: v.next_down(),
            hi: v.next_up(),
        }
    }
}

fn pi_iv() -> Iv {
    Iv {
        lo: std::f64::consts::PI.next_down(),
        hi: std::f64::consts::PI.next_up(),
    }
}

fn phase(t: &Term) -> Option<Iv> {
    rat_iv(t.r).add(rat_iv(t.s).mul(pi_iv())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn tp(src: &str) -> TrigPoly {
        TrigPoly::of(&parse(src).unwrap()).unwrap()
    }

    #[test]
    fn constant_terms_are_exact_means() {
        assert_eq!(
            tp("sin(n)*cos(n)").constant_term(),
            Some(ConstTerm::Exact(Rat::ZERO))
        );
        assert_eq!(
            tp("sin(n)^2*cos(n)^2").constant_term(),
            Some(ConstTerm::Exact(Rat::new(1, 8)))
        );
        assert_eq!(
            tp("sin(n)^2").constant_term(),
            Some(ConstTerm::Exact(Rat::new(1, 2)))
        );
        assert_eq!(
            tp("(2 + sin(n))*(2 + cos(n))").constant_term(),
            Some(ConstTerm::Exact(Rat::int(4)))
        );
        // sin(n) sin(n + 1) = (cos 1 - cos(2n + 1))/2: mean cos(1)/2.
        let c = tp("sin(n)*sin(n + 1)").constant_term().unwrap();
        let ConstTerm::Enclosed(i) = c else {
            panic!("{c:?}")
        };
        assert!(i.lo <= 0.5 * 1f64.cos() && 0.5 * 1f64.cos() <= i.hi && i.hi - i.lo < 1e-12);
        // (-1)^n cos(pi n) = 1 on the integers.
        assert_eq!(
            tp("(-1)^n*cos(pi*n)").constant_term(),
            Some(ConstTerm::Exact(Rat::ONE))
        );
        // cos(3 pi n) - cos(pi n) = 0 on the integers: same normalized frequency.
        let z = tp("cos(3*pi*n) - cos(pi*n)");
        assert_eq!(z.constant_term(), Some(ConstTerm::Exact(Rat::ZERO)));
    }

    #[test]
    fn dirichlet_bounds_need_frequencies_off_2_pi_z() {
        let (s, m) = tp("sin(n)*cos(n)").dirichlet().unwrap();
        assert!(s > 0.8 && s <= 1f64.sin() && m >= 0.5, "{s} {m}");
        assert!(tp("sin(2*pi*n)*sin(n)").dirichlet().is_some());
        assert!(TrigPoly::of(&parse("abs(sin(n))").unwrap()).is_none());
    }
}
