//! Asymptotic expansions at n → ∞ in the scale of [`Mono`]s, with exact coefficients and an
//! explicit error term.
//!
//! A [`Series`] is Σ c_i·m_i + O(err): terms sorted by decreasing growth, every term strictly
//! above `err`. Arithmetic propagates the error term, truncation keeps `order` terms and moves
//! the first dropped monomial into the error, and functions are expanded around their limit:
//!
//! - exp(s): s = (terms → ∞) + c + (terms → 0); the first part becomes a new monomial
//!   exp(Σ c_i t_i) (only log-monomials may appear there: exp of exp is outside the scale), the
//!   constant gives e^c, the small part its Taylor series;
//! - ln(s) = ln c₀ + ln m₀ + ln(1 + u) with s = c₀ m₀ (1 + u), u → 0;
//! - s^r = c₀^r m₀^r (1 + u)^r (binomial series); s^t = exp(t ln s) otherwise;
//! - sin, cos, arctan, sinh, cosh, tanh around their (constant) limits; sin/cos of an unbounded
//!   argument is an oscillation, never guessed;
//! - m! by Stirling's series ln Γ(s+1) = (s+½) ln s − s + ½ ln 2π
//!   plus Σ_{k≤K} B_{2k}/(2k(2k−1) s^{2k−1}) plus O(s^{−2K−1}) (the remainder is bounded by
//!   the first omitted term), and
//!   m!! = 2^{m/2} Γ(m/2+1) · (1 or √(2/π) for even or odd m).
//!
//! When a cancellation leaves only the error term (e − (1+1/n)^n at too low an order), the
//! operation that needs a leading term fails with [`Error::NeedPrecision`] and the caller
//! retries with a higher order (Gruntz's strategy of increasing the series order).

use std::cmp::Ordering;

use crate::constant::Const;
use crate::expr::{Expr, Func};
use crate::rat::{self, Rat};
use crate::scale::Mono;
use crate::{Error, Result};

/// One term c·m.
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    /// Coefficient.
    pub c: Const,
    /// Monomial.
    pub m: Mono,
}

/// Σ terms + O(err); `err = None` means the sum is exact.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Series {
    /// Terms in decreasing order of growth.
    pub terms: Vec<Term>,
    /// Order of the remainder, strictly below every term.
    pub err: Option<Mono>,
}

impl Series {
    /// The exact constant `c`.
    pub fn constant(c: Const) -> Series {
        Series::term(c, Mono::one())
    }

    /// The exact term c·m.
    pub fn term(c: Const, m: Mono) -> Series {
        if c.is_zero() {
            return Series::default();
        }
        Series {
            terms: vec![Term { c, m }],
            err: None,
        }
    }

    /// The value when the series is an exact constant.
    pub fn exact_const(&self) -> Option<Const> {
        if self.err.is_some() {
            return None;
        }
        match self.terms.as_slice() {
            [] => Some(Const::zero()),
            [t] if t.m.is_one() => Some(t.c.clone()),
            _ => None,
        }
    }

    /// Whether this is exactly zero.
    pub fn is_exact_zero(&self) -> bool {
        self.terms.is_empty() && self.err.is_none()
    }

    /// The leading term.
    ///
    /// # Errors
    /// [`Error::NeedPrecision`] when only an error term is left; [`Error::Undefined`] for an
    /// exact zero (`what` names the operation).
    pub fn lead(&self, what: &str) -> Result<&Term> {
        match (self.terms.first(), &self.err) {
            (Some(t), _) => Ok(t),
            (None, Some(_)) => Err(Error::NeedPrecision),
            (None, None) => Err(Error::Undefined(format!("{what} of zero"))),
        }
    }

    fn neg(&self) -> Series {
        Series {
            terms: self
                .terms
                .iter()
                .map(|t| Term {
                    c: t.c.neg(),
                    m: t.m.clone(),
                })
                .collect(),
            err: self.err.clone(),
        }
    }

    /// Multiplies by the non-zero c·m (no change in relative precision).
    fn times(&self, c: &Const, m: &Mono) -> Series {
        Series {
            terms: self
                .terms
                .iter()
                .map(|t| Term {
                    c: t.c.mul(c),
                    m: t.m.mul(m),
                })
                .collect(),
            err: self.err.as_ref().map(|e| e.mul(m)),
        }
    }

    /// The leading term and the relative remainder u with self = c₀ m₀ (1 + u).
    fn split_lead(&self, what: &str) -> Result<(Const, Mono, Series)> {
        let lead = self.lead(what)?.clone();
        let cinv = lead.c.inv()?;
        let minv = lead.m.inv();
        let rest = Series {
            terms: self.terms[1..].to_vec(),
            err: self.err.clone(),
        };
        Ok((lead.c, lead.m, rest.times(&cinv, &minv)))
    }
}

/// Merge sort with a fallible comparator (the standard sort may panic on an inconsistent order,
/// and growth comparisons can fail on uncertified constants).
fn try_sort(v: Vec<Term>) -> Result<Vec<Term>> {
    if v.len() <= 1 {
        return Ok(v);
    }
    let mut v = v;
    let right = v.split_off(v.len() / 2);
    let (a, b) = (try_sort(v)?, try_sort(right)?);
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut ia, mut ib) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let take_a = match (ia.peek(), ib.peek()) {
            (Some(x), Some(y)) => x.m.cmp_growth(&y.m)? != Ordering::Less,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_a { ia.next() } else { ib.next() };
        out.extend(next);
    }
    Ok(out)
}

fn max_err(a: Option<Mono>, b: Option<Mono>) -> Result<Option<Mono>> {
    Ok(match (a, b) {
        (Some(x), Some(y)) => Some(if x.cmp_growth(&y)? == Ordering::Less {
            y
        } else {
            x
        }),
        (x, None) => x,
        (None, y) => y,
    })
}

fn factorial_rat(k: usize) -> Rat {
    (1..=k).fold(Rat::ONE, |acc, i| acc * Rat::int(i as i128))
}

/// Stirling coefficients B_{2k}/(2k(2k−1)), k = 1…8.
const STIRLING: [(i128, i128); 8] = [
    (1, 12),
    (-1, 360),
    (1, 1260),
    (-1, 1680),
    (1, 1188),
    (-691, 360_360),
    (1, 156),
    (-3617, 122_400),
];

/// The expansion engine at a fixed order (number of terms kept per series).
#[derive(Clone, Copy, Debug)]
pub struct Engine {
    /// Terms kept per series and Taylor order.
    pub order: usize,
}

impl Engine {
    fn normalize(&self, terms: Vec<Term>, err: Option<Mono>) -> Result<Series> {
        let sorted = try_sort(terms)?;
        let mut out: Vec<Term> = Vec::with_capacity(sorted.len());
        for t in sorted {
            match out.last_mut() {
                Some(last) if last.m == t.m => last.c = last.c.add(&t.c),
                _ => out.push(t),
            }
        }
        out.retain(|t| !t.c.is_zero());
        let mut err = err;
        if let Some(e) = &err {
            let mut keep = out.len();
            for (i, t) in out.iter().enumerate() {
                if t.m.cmp_growth(e)? != Ordering::Greater {
                    keep = i;
                    break;
                }
            }
            out.truncate(keep);
        }
        if out.len() > self.order {
            let dropped = out[self.order].m.clone();
            out.truncate(self.order);
            err = max_err(err, Some(dropped))?;
        }
        Ok(Series { terms: out, err })
    }

    /// a + b.
    pub fn add(&self, a: &Series, b: &Series) -> Result<Series> {
        let terms = a.terms.iter().chain(b.terms.iter()).cloned().collect();
        self.normalize(terms, max_err(a.err.clone(), b.err.clone())?)
    }

    /// a − b.
    pub fn sub(&self, a: &Series, b: &Series) -> Result<Series> {
        self.add(a, &b.neg())
    }

    /// a · b.
    pub fn mul(&self, a: &Series, b: &Series) -> Result<Series> {
        if a.is_exact_zero() || b.is_exact_zero() {
            return Ok(Series::default());
        }
        let mut err = None;
        for (x, y) in [(a, b), (b, a)] {
            if let Some(ey) = &y.err {
                let scale = match (x.terms.first(), &x.err) {
                    (Some(t), _) => t.m.clone(),
                    (None, Some(ex)) => ex.clone(),
                    (None, None) => continue,
                };
                err = max_err(err, Some(scale.mul(ey)))?;
            }
        }
        let mut terms = Vec::with_capacity(a.terms.len() * b.terms.len());
        for x in &a.terms {
            for y in &b.terms {
                let m = x.m.mul(&y.m);
                if let Some(e) = &err
                    && m.cmp_growth(e)? != Ordering::Greater
                {
                    continue;
                }
                terms.push(Term {
                    c: x.c.mul(&y.c),
                    m,
                });
            }
        }
        self.normalize(terms, err)
    }

    /// Σ_k coef(k) u^k for u → 0, with remainder O(lead(u)^{K+1}).
    fn taylor(&self, u: &Series, coef: &dyn Fn(usize) -> Rat) -> Result<Series> {
        let c0 = Series::constant(Const::rat(coef(0)));
        if u.is_exact_zero() {
            return Ok(c0);
        }
        let lead_m = match (u.terms.first(), &u.err) {
            (Some(t), _) => t.m.clone(),
            (None, Some(e)) => e.clone(),
            (None, None) => return Ok(c0),
        };
        if lead_m.tendency()? != Ordering::Less {
            return Err(Error::NeedPrecision);
        }
        let mut acc = c0;
        let mut pw = u.clone();
        let mut k = 1;
        loop {
            // A step whose exact coefficients overflow i128 is dropped and the series truncated
            // before it: the remainder O(lead(u)^k) stays valid whatever the coefficients are.
            let earlier_overflow = rat::take_overflow();
            let ck = coef(k);
            let step = if ck.is_zero() {
                Ok(acc.clone())
            } else {
                let term = Series {
                    terms: pw
                        .terms
                        .iter()
                        .map(|t| Term {
                            c: t.c.scale(ck),
                            m: t.m.clone(),
                        })
                        .collect(),
                    err: pw.err.clone(),
                };
                self.add(&acc, &term)
            };
            let overflowed = rat::take_overflow();
            if earlier_overflow {
                rat::set_overflow();
            }
            if overflowed {
                let rem = Series {
                    terms: Vec::new(),
                    err: Some(lead_m.pow_rat(Rat::int(k as i128))),
                };
                return self.add(&acc, &rem);
            }
            acc = step?;
            k += 1;
            let next_m = lead_m.pow_rat(Rat::int(k as i128));
            let below = match &acc.err {
                Some(e) => next_m.cmp_growth(e)? != Ordering::Greater,
                None => false,
            };
            if k > self.order || below {
                let rem = Series {
                    terms: Vec::new(),
                    err: Some(next_m),
                };
                return self.add(&acc, &rem);
            }
            let earlier_overflow = rat::take_overflow();
            let next = self.mul(&pw, u);
            let overflowed = rat::take_overflow();
            if earlier_overflow {
                rat::set_overflow();
            }
            if overflowed {
                let rem = Series {
                    terms: Vec::new(),
                    err: Some(next_m),
                };
                return self.add(&acc, &rem);
            }
            pw = next?;
        }
    }

    /// e^s.
    pub fn exp(&self, s: &Series) -> Result<Series> {
        let mut big = Mono::one();
        let mut cst = Const::zero();
        let mut small = Vec::new();
        for t in &s.terms {
            match t.m.tendency()? {
                Ordering::Greater => {
                    let lm = t.m.as_log_mono().ok_or_else(|| {
                        Error::Unsupported("exponential of an exponential".into())
                    })?;
                    big = big.mul(&Mono::exp_of(lm, t.c.clone()));
                }
                Ordering::Equal => cst = cst.add(&t.c),
                Ordering::Less => small.push(t.clone()),
            }
        }
        if let Some(e) = &s.err
            && e.tendency()? != Ordering::Less
        {
            return Err(Error::NeedPrecision);
        }
        let small = Series {
            terms: small,
            err: s.err.clone(),
        };
        let t = self.taylor(&small, &|k| Rat::ONE / factorial_rat(k))?;
        Ok(t.times(&cst.exp()?, &big))
    }

    /// ln s for s eventually positive.
    pub fn ln(&self, s: &Series) -> Result<Series> {
        let (c0, m0, u) = s.split_lead("ln")?;
        if c0.sign()? != Ordering::Greater {
            return Err(Error::Undefined(format!(
                "ln of a quantity that tends to {} (negative for all large n)",
                if m0.tendency()? == Ordering::Greater {
                    "-infinity"
                } else {
                    "a negative value or 0 from below"
                }
            )));
        }
        let mut out = Series::constant(c0.ln()?);
        for (t, a) in m0.entries() {
            let term = Series::term(a.clone(), Mono::from_log_mono(t)?);
            out = self.add(&out, &term)?;
        }
        let l = self.taylor(&u, &|k| {
            if k == 0 {
                Rat::ZERO
            } else {
                let s = if k % 2 == 1 { 1 } else { -1 };
                Rat::new(s, k as i128)
            }
        })?;
        self.add(&out, &l)
    }

    /// s^r for rational r.
    pub fn pow_rat(&self, s: &Series, r: Rat) -> Result<Series> {
        if r.is_zero() {
            return Ok(Series::constant(Const::one()));
        }
        if s.is_exact_zero() {
            return if r.sign() == Ordering::Greater {
                Ok(Series::default())
            } else {
                Err(Error::Undefined("division by zero".into()))
            };
        }
        let (c0, m0, u) = s.split_lead("power")?;
        let c = c0.pow_rat(r).map_err(|e| match e {
            Error::Undefined(_) => Error::Undefined(format!(
                "a quantity that is negative for all large n raised to the power {r}"
            )),
            other => other,
        })?;
        let t = self.taylor(&u, &|k| {
            (0..k).fold(Rat::ONE, |acc, i| acc * (r - Rat::int(i as i128))) / factorial_rat(k)
        })?;
        Ok(t.times(&c, &m0.pow_rat(r)))
    }

    /// base^expo.
    fn pow(&self, base: &Expr, expo: &Expr) -> Result<Series> {
        let e = self.expand(expo)?;
        let b = self.expand(base)?;
        if let Some(c) = e.exact_const()
            && let Some(r) = c.as_rat()
        {
            return self.pow_rat(&b, r);
        }
        if expo.has_n() {
            if let Some(lead) = b.terms.first()
                && lead.c.sign()? == Ordering::Less
            {
                return Err(Error::Oscillation(format!(
                    "({})^({}) alternates in sign",
                    base.infix(),
                    expo.infix()
                )));
            }
            if b.is_exact_zero() {
                if let Some(t) = e.terms.first()
                    && t.m.tendency()? == Ordering::Greater
                    && t.c.sign()? == Ordering::Greater
                {
                    // 0^x = 0 for x > 0.
                    return Ok(Series::default());
                }
                return Err(Error::Unsupported(
                    "0 raised to a power depending on n".into(),
                ));
            }
        }
        let l = self.ln(&b)?;
        self.exp(&self.mul(&e, &l)?)
    }

    /// Constant limit and small remainder of an argument that must stay bounded.
    fn split_bounded(&self, s: &Series, what: &str) -> Result<(Const, Series)> {
        let mut c = Const::zero();
        let mut small = Vec::new();
        for t in &s.terms {
            match t.m.tendency()? {
                Ordering::Greater => {
                    return Err(Error::Oscillation(format!(
                        "{what} of an argument that tends to infinity"
                    )));
                }
                Ordering::Equal => c = c.add(&t.c),
                Ordering::Less => small.push(t.clone()),
            }
        }
        if let Some(e) = &s.err
            && e.tendency()? != Ordering::Less
        {
            return Err(Error::NeedPrecision);
        }
        Ok((
            c,
            Series {
                terms: small,
                err: s.err.clone(),
            },
        ))
    }

    fn sin_cos(&self, s: &Series) -> Result<(Series, Series)> {
        let (c, d) = self.split_bounded(s, "sin/cos")?;
        let sin_d = self.taylor(&d, &|k| {
            if k % 2 == 1 {
                let s = if (k / 2) % 2 == 0 { 1 } else { -1 };
                Rat::int(s) / factorial_rat(k)
            } else {
                Rat::ZERO
            }
        })?;
        let cos_d = self.taylor(&d, &|k| {
            if k % 2 == 0 {
                let s = if (k / 2) % 2 == 0 { 1 } else { -1 };
                Rat::int(s) / factorial_rat(k)
            } else {
                Rat::ZERO
            }
        })?;
        if c.is_zero() {
            return Ok((sin_d, cos_d));
        }
        let (sc, cc) = (Series::constant(c.sin()?), Series::constant(c.cos()?));
        let sin = self.add(&self.mul(&sc, &cos_d)?, &self.mul(&cc, &sin_d)?)?;
        let cos = self.sub(&self.mul(&cc, &cos_d)?, &self.mul(&sc, &sin_d)?)?;
        Ok((sin, cos))
    }

    fn atan_small(&self, u: &Series) -> Result<Series> {
        self.taylor(u, &|k| {
            if k % 2 == 1 {
                Rat::new(if (k / 2) % 2 == 0 { 1 } else { -1 }, k as i128)
            } else {
                Rat::ZERO
            }
        })
    }

    fn atan(&self, s: &Series) -> Result<Series> {
        if s.is_exact_zero() {
            return Ok(Series::default());
        }
        let lead = s.lead("arctan")?;
        if lead.m.tendency()? == Ordering::Greater {
            let half_pi = Const::pi().scale(Rat::new(1, 2));
            let base = if lead.c.sign()? == Ordering::Greater {
                half_pi
            } else {
                half_pi.neg()
            };
            let inv = self.pow_rat(s, Rat::int(-1))?;
            return self.sub(&Series::constant(base), &self.atan_small(&inv)?);
        }
        let (c, d) = self.split_bounded(s, "arctan")?;
        if c.is_zero() {
            return self.atan_small(&d);
        }
        // arctan(c + d) = arctan c + arctan(d / (1 + c (c + d))).
        let cs = Series::constant(c.clone());
        let den = self.add(&Series::constant(Const::one()), &self.mul(&cs, s)?)?;
        let w = self.mul(&d, &self.pow_rat(&den, Rat::int(-1))?)?;
        self.add(&Series::constant(c.atan()?), &self.atan_small(&w)?)
    }

    fn sinh_cosh(&self, s: &Series, odd: bool) -> Result<Series> {
        let tends_to_zero = match s.terms.first() {
            None => true,
            Some(t) => t.m.tendency()? == Ordering::Less,
        };
        if tends_to_zero {
            return self.taylor(s, &|k| {
                if (k % 2 == 1) == odd {
                    Rat::ONE / factorial_rat(k)
                } else {
                    Rat::ZERO
                }
            });
        }
        let a = self.exp(s)?;
        let b = self.exp(&s.neg())?;
        let sum = if odd {
            self.sub(&a, &b)?
        } else {
            self.add(&a, &b)?
        };
        Ok(sum.times(&Const::rat(Rat::new(1, 2)), &Mono::one()))
    }

    fn factorial(&self, s: &Series) -> Result<Series> {
        if let Some(c) = s.exact_const() {
            return match c.as_rat() {
                Some(r) if r.is_integer() && r.num() >= 0 && r.num() <= 33 => Ok(Series::constant(
                    Const::rat(factorial_rat(r.num() as usize)),
                )),
                _ => Err(Error::Unsupported(format!("factorial of the constant {c}"))),
            };
        }
        let lead = s.lead("factorial")?;
        if lead.m.tendency()? != Ordering::Greater || lead.c.sign()? != Ordering::Greater {
            return Err(Error::Unsupported(
                "factorial of an argument that does not tend to +infinity".into(),
            ));
        }
        let k_max = (self.order / 2).clamp(1, STIRLING.len());
        let ln_s = self.ln(s)?;
        let half = Series::constant(Const::rat(Rat::new(1, 2)));
        let mut lg = self.mul(&self.add(s, &half)?, &ln_s)?;
        lg = self.sub(&lg, s)?;
        let half_ln_2pi = Const::rat(Rat::int(2))
            .mul(&Const::pi())
            .ln()?
            .scale(Rat::new(1, 2));
        lg = self.add(&lg, &Series::constant(half_ln_2pi))?;
        for (k, (p, q)) in STIRLING.iter().enumerate().take(k_max) {
            let pw = self.pow_rat(s, Rat::int(1 - 2 * (k as i128 + 1)))?;
            lg = self.add(&lg, &pw.times(&Const::rat(Rat::new(*p, *q)), &Mono::one()))?;
        }
        let rem = lead.m.pow_rat(Rat::int(-(2 * k_max as i128 + 1)));
        lg = self.add(
            &lg,
            &Series {
                terms: Vec::new(),
                err: Some(rem),
            },
        )?;
        self.exp(&lg)
    }

    fn double_factorial(&self, s: &Series) -> Result<Series> {
        // Parity of a·n + b with integers a, b is fixed when a is even.
        let mut a = Rat::ZERO;
        let mut b = Rat::ZERO;
        let n_mono = Mono::level_pow(0, Rat::ONE)?;
        let linear = s.err.is_none()
            && s.terms.iter().all(|t| {
                let ok = t.c.as_rat().is_some_and(|r| r.is_integer());
                if t.m == n_mono {
                    a = t.c.as_rat().unwrap_or(Rat::ZERO);
                } else if t.m.is_one() {
                    b = t.c.as_rat().unwrap_or(Rat::ZERO);
                } else {
                    return false;
                }
                ok
            });
        if !linear || a.num() % 2 != 0 {
            return Err(Error::Unsupported(
                "double factorial of an argument whose parity is not fixed".into(),
            ));
        }
        let odd = b.num() % 2 != 0;
        let half = s.times(&Const::rat(Rat::new(1, 2)), &Mono::one());
        let g = self.factorial(&half)?;
        let ln2 = Series::constant(Const::rat(Rat::int(2)).ln()?);
        let two_pow = self.exp(&self.mul(&half, &ln2)?)?;
        let mut out = self.mul(&g, &two_pow)?;
        if odd {
            let k = Const::rat(Rat::int(2))
                .mul(&Const::pi().inv()?)
                .pow_rat(Rat::new(1, 2))?;
            out = out.times(&k, &Mono::one());
        }
        Ok(out)
    }

    /// The expansion of `e` at n → ∞.
    ///
    /// # Errors
    /// [`Error::NeedPrecision`] (retry with a higher order), [`Error::Undefined`],
    /// [`Error::Unsupported`], [`Error::Oscillation`], [`Error::ZeroEquivalence`].
    pub fn expand(&self, e: &Expr) -> Result<Series> {
        match e {
            Expr::Num(r) => Ok(Series::constant(Const::rat(*r))),
            Expr::N => Ok(Series::term(Const::one(), Mono::level_pow(0, Rat::ONE)?)),
            Expr::E => Ok(Series::constant(Const::e())),
            Expr::Pi => Ok(Series::constant(Const::pi())),
            Expr::Param(name) => Ok(Series::constant(match crate::param::region_of(name) {
                Some(crate::param::Region::Point(c)) => c,
                Some(_) => Const::param(name),
                None => {
                    return Err(Error::Unsupported(format!(
                        "the parameter {name} outside a parameter analysis"
                    )));
                }
            })),
            Expr::Neg(a) => Ok(self.expand(a)?.neg()),
            Expr::Add(a, b) => self.add(&self.expand(a)?, &self.expand(b)?),
            Expr::Sub(a, b) => self.sub(&self.expand(a)?, &self.expand(b)?),
            Expr::Mul(a, b) => self.mul(&self.expand(a)?, &self.expand(b)?),
            Expr::Div(a, b) => {
                let den = self.expand(b)?;
                if den.is_exact_zero() {
                    return Err(Error::Undefined("division by zero".into()));
                }
                self.mul(&self.expand(a)?, &self.pow_rat(&den, Rat::int(-1))?)
            }
            Expr::Pow(a, b) => self.pow(a, b),
            Expr::Fact(a) => self.factorial(&self.expand(a)?),
            Expr::DFact(a) => self.double_factorial(&self.expand(a)?),
            Expr::Call(f, a) => {
                let s = self.expand(a)?;
                match f {
                    Func::Ln => self.ln(&s),
                    Func::Exp => self.exp(&s),
                    Func::Sqrt => self.pow_rat(&s, Rat::new(1, 2)),
                    Func::Sin => Ok(self.sin_cos(&s)?.0),
                    Func::Cos => Ok(self.sin_cos(&s)?.1),
                    Func::Tan => {
                        let (sin, cos) = self.sin_cos(&s)?;
                        self.mul(&sin, &self.pow_rat(&cos, Rat::int(-1))?)
                    }
                    Func::Arctan => self.atan(&s),
                    Func::Sinh => self.sinh_cosh(&s, true),
                    Func::Cosh => self.sinh_cosh(&s, false),
                    Func::Tanh => {
                        let sh = self.sinh_cosh(&s, true)?;
                        let ch = self.sinh_cosh(&s, false)?;
                        self.mul(&sh, &self.pow_rat(&ch, Rat::int(-1))?)
                    }
                    Func::Abs => {
                        if s.is_exact_zero() {
                            return Ok(s);
                        }
                        let lead = s.lead("abs")?;
                        Ok(if lead.c.sign()? == Ordering::Less {
                            s.neg()
                        } else {
                            s
                        })
                    }
                }
            }
        }
    }
}

/// Orders tried in turn when a cancellation needs more terms.
pub const ORDERS: [usize; 5] = [4, 5, 7, 11, 16];

/// Expands `e`, raising the order until the leading term is resolved.
///
/// # Errors
/// As [`Engine::expand`]; [`Error::NeedPrecision`] after the last order.
pub fn expand(e: &Expr) -> Result<Series> {
    expand_until(e, |s| !s.terms.is_empty() || s.err.is_none())
}

/// Expands `e`, raising the order until `done` accepts the series.
///
/// # Errors
/// As [`Engine::expand`]; [`Error::NeedPrecision`] when no order satisfies `done`.
pub fn expand_until(e: &Expr, done: impl Fn(&Series) -> bool) -> Result<Series> {
    for order in ORDERS {
        match (Engine { order }).expand(e) {
            Ok(s) if done(&s) => return Ok(s),
            Ok(_) | Err(Error::NeedPrecision) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(Error::NeedPrecision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn lead_of(src: &str) -> String {
        let s = expand(&parse(src).unwrap()).unwrap();
        let t = &s.terms[0];
        format!("{} * {}", t.c, t.m)
    }

    #[test]
    fn cancellations_are_resolved() {
        assert_eq!(lead_of("n^(1/n) - 1"), "1 * n^-1 (ln n)");
        assert_eq!(lead_of("e - (1+1/n)^n"), "1/2*e * n^-1");
        assert_eq!(lead_of("1 - cos(1/n)"), "1/2 * n^-2");
        assert_eq!(lead_of("sqrt(n+1) - sqrt(n)"), "1/2 * n^(-1/2)");
        assert_eq!(lead_of("1/n - ln(1 + 1/n)"), "1/2 * n^-2");
        assert_eq!(lead_of("sin(1/n) - 1/n"), "-1/6 * n^-3");
    }

    #[test]
    fn stirling_gives_the_classical_constants() {
        assert_eq!(lead_of("n!/(n^n*exp(-n)*sqrt(n))"), "sqrt(pi)*sqrt(2) * 1");
        assert_eq!(lead_of("(2*n)!/(4^n*n!^2)"), "pi^(-1/2) * n^(-1/2)");
        assert_eq!(lead_of("(2*n-1)!!/(2*n)!!"), "pi^(-1/2) * n^(-1/2)");
    }

    #[test]
    fn exponent_identities_are_exact() {
        // (ln n)^(1/ln ln n) = e.
        assert_eq!(lead_of("ln(n)^(1/ln(ln(n)))"), "e * 1");
        assert_eq!(lead_of("n^(-1-1/ln(n))"), "e^(-1) * n^-1");
    }

    #[test]
    fn domain_errors_are_reported() {
        assert!(matches!(
            expand(&parse("ln(-n)").unwrap()),
            Err(Error::Undefined(_))
        ));
        assert!(matches!(
            expand(&parse("sin(n)").unwrap()),
            Err(Error::Oscillation(_))
        ));
        assert!(matches!(
            expand(&parse("(-1)^n").unwrap()),
            Err(Error::Oscillation(_))
        ));
        assert!(matches!(
            expand(&parse("1/(n-n)").unwrap()),
            Err(Error::Undefined(_))
        ));
    }
}
