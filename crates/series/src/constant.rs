//! Exact real constants: finite sums `Σ q_i · Π atom^r` with rational `q_i` and `r`.
//!
//! | atom | meaning |
//! |---|---|
//! | `E` | e |
//! | `Pi` | π |
//! | `Prime(p)` | the prime (or unfactored integer) `p`, kept only with exponent in (0, 1) |
//! | `LnPrime(p)` | ln p |
//! | `LnPi` | ln π |
//! | `Opaque` | any other positive constant (sin 1, ln ln 2, …), known by a label and an `f64` value |
//!
//! The representation is canonical for products, so identities such as e·e^{−1} = 1,
//! √2·√2 = 2 or e − e = 0 are exact.
//! Atoms are treated as independent; a true identity that is not seen (sin²1 + cos²1 − 1) is
//! never turned into a wrong sign: [`Const::sign`] certifies the sign of a sum only when its
//! value is far from zero relative to the rounding error bound of the evaluation, and
//! otherwise reports a zero-equivalence failure.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use crate::rat::Rat;
use crate::{Error, Result};

/// A constant building block; see the module table.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Atom {
    /// e.
    E,
    /// π.
    Pi,
    /// An integer base (normally prime) with a fractional exponent.
    Prime(u64),
    /// ln p.
    LnPrime(u64),
    /// ln π.
    LnPi,
    /// A positive constant known only numerically: label and `f64::to_bits` of the value.
    Opaque(String, u64),
    /// The real parameter of a parameter analysis (any sign; see [`crate::param`]).
    Param(String),
    /// ln |p| for the parameter p.
    LnParam(String),
}

type Prod = Vec<(Atom, Rat)>;

/// An exact constant; see the module documentation.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Const {
    terms: BTreeMap<Prod, Rat>,
}

/// Relative margin used when certifying the sign of a sum of evaluated terms: the `f64`
/// rounding error of evaluating a handful of atoms is below 1e-14 relative, so a margin of 1e-9
/// leaves five orders of magnitude of slack.
const SIGN_MARGIN: f64 = 1e-9;

fn atom_value(a: &Atom) -> f64 {
    match a {
        Atom::E => std::f64::consts::E,
        Atom::Pi => std::f64::consts::PI,
        Atom::Prime(p) => *p as f64,
        Atom::LnPrime(p) => (*p as f64).ln(),
        Atom::LnPi => std::f64::consts::PI.ln(),
        Atom::Opaque(_, bits) => f64::from_bits(*bits),
        Atom::Param(_) | Atom::LnParam(_) => f64::NAN,
    }
}

/// Factors `m > 0` into (prime, multiplicity) by trial division up to 10^6; a leftover cofactor
/// is returned as if prime (that only loses identities, never correctness). `None` when the
/// cofactor does not fit in `u64`.
fn factor(mut m: u128) -> Option<Vec<(u64, i128)>> {
    let mut out = Vec::new();
    let mut p: u128 = 2;
    while p * p <= m && p < 1_000_000 {
        let mut k = 0;
        while m.is_multiple_of(p) {
            m /= p;
            k += 1;
        }
        if k > 0 {
            out.push((p as u64, k));
        }
        p += if p == 2 { 1 } else { 2 };
    }
    if m > 1 {
        out.push((u64::try_from(m).ok()?, 1));
    }
    Some(out)
}

/// Adds the prime factorisation of |q|^r to `map`; `false` if q cannot be factored.
fn add_prime_powers(map: &mut BTreeMap<Atom, Rat>, q: Rat, r: Rat) -> bool {
    for (m, k) in [(q.num(), Rat::ONE), (q.den(), -Rat::ONE)] {
        let Some(fs) = factor(m.unsigned_abs()) else {
            return false;
        };
        for (p, mult) in fs {
            let e = map.entry(Atom::Prime(p)).or_insert(Rat::ZERO);
            *e = *e + Rat::int(mult) * k * r;
        }
    }
    true
}

/// Runs `f`; `None` if it overflowed (the overflow flag is left as it was before).
fn guarded(f: impl FnOnce() -> Rat) -> Option<Rat> {
    let earlier = crate::rat::take_overflow();
    let v = f();
    let overflowed = crate::rat::take_overflow();
    if earlier {
        crate::rat::set_overflow();
    }
    (!overflowed).then_some(v)
}

/// (qa·Πa)·(qb·Πb) as a coefficient and a normalised product.
fn mul_terms(qa: Rat, a: &Prod, qb: Rat, b: &Prod) -> (Rat, Prod) {
    let mut map: BTreeMap<Atom, Rat> = BTreeMap::new();
    for (atom, r) in a.iter().chain(b.iter()) {
        let e = map.entry(atom.clone()).or_insert(Rat::ZERO);
        *e = *e + *r;
    }
    if let Some(q) = guarded(|| qa * qb) {
        return normalize_prod_from(map, q);
    }
    // The rational product overflows: move both coefficients into prime atoms.
    let sign = if (qa.sign() == Ordering::Less) != (qb.sign() == Ordering::Less) {
        -Rat::ONE
    } else {
        Rat::ONE
    };
    if add_prime_powers(&mut map, qa, Rat::ONE) && add_prime_powers(&mut map, qb, Rat::ONE) {
        normalize_prod_from(map, sign)
    } else {
        (qa * qb, Vec::new()) // raises the overflow flag: the analysis answers "unknown"
    }
}

fn normalize_prod(map: BTreeMap<Atom, Rat>) -> (Rat, Prod) {
    normalize_prod_from(map, Rat::ONE)
}

fn normalize_prod_from(map: BTreeMap<Atom, Rat>, start: Rat) -> (Rat, Prod) {
    let mut coef = start;
    let mut out = Vec::new();
    for (atom, r) in map {
        let r = if let Atom::Prime(p) = atom {
            // Move the integer part of the exponent into the coefficient when it fits in i128;
            // otherwise keep it in the atom (10^1000 stays 2^1000·5^1000).
            let fl = r.floor();
            match guarded(|| coef * Rat::int(p as i128).powi(fl)) {
                Some(c) => {
                    coef = c;
                    r - Rat::int(fl)
                }
                None => r,
            }
        } else {
            r
        };
        if !r.is_zero() {
            out.push((atom, r));
        }
    }
    (coef, out)
}

impl Const {
    /// Zero.
    pub fn zero() -> Const {
        Const::default()
    }

    /// One.
    pub fn one() -> Const {
        Const::rat(Rat::ONE)
    }

    /// A rational constant.
    pub fn rat(q: Rat) -> Const {
        let mut terms = BTreeMap::new();
        if !q.is_zero() {
            terms.insert(Vec::new(), q);
        }
        Const { terms }
    }

    /// `atom^r`.
    pub fn atom(a: Atom, r: Rat) -> Const {
        let mut map = BTreeMap::new();
        map.insert(a, r);
        let (q, prod) = normalize_prod(map);
        let mut c = Const::zero();
        c.push(prod, q);
        c
    }

    /// e.
    pub fn e() -> Const {
        Const::atom(Atom::E, Rat::ONE)
    }

    /// π.
    pub fn pi() -> Const {
        Const::atom(Atom::Pi, Rat::ONE)
    }

    /// A positive constant known only by value; fails when the value is not finite or too close
    /// to zero to be told apart from it.
    pub fn opaque(label: String, value: f64) -> Result<Const> {
        if !value.is_finite() {
            return Err(Error::Unsupported(format!(
                "{label} is not a finite constant"
            )));
        }
        if value.abs() < SIGN_MARGIN {
            return Err(Error::ZeroEquivalence(label));
        }
        let atom = Atom::Opaque(label, value.abs().to_bits());
        let c = Const::atom(atom, Rat::ONE);
        Ok(if value < 0.0 { c.neg() } else { c })
    }

    fn push(&mut self, prod: Prod, q: Rat) {
        if q.is_zero() {
            return;
        }
        let e = self.terms.entry(prod).or_insert(Rat::ZERO);
        *e = *e + q;
        if e.is_zero() {
            self.terms.retain(|_, v| !v.is_zero());
        }
    }

    /// Whether this is exactly zero.
    pub fn is_zero(&self) -> bool {
        self.terms.is_empty()
    }

    /// The rational value, when the constant is rational.
    pub fn as_rat(&self) -> Option<Rat> {
        match self.terms.len() {
            0 => Some(Rat::ZERO),
            1 => {
                let (p, q) = self.terms.iter().next()?;
                p.is_empty().then_some(*q)
            }
            _ => None,
        }
    }

    fn single(&self) -> Option<(Rat, &Prod)> {
        if self.terms.len() == 1 {
            self.terms.iter().next().map(|(p, q)| (*q, p))
        } else {
            None
        }
    }

    /// Sum.
    pub fn add(&self, o: &Const) -> Const {
        if let (Some(a), Some(b)) = (self.as_rat(), o.as_rat()) {
            return Const::rat(a + b);
        }
        let mut c = self.clone();
        for (p, q) in &o.terms {
            c.push(p.clone(), *q);
        }
        c
    }

    /// Difference.
    pub fn sub(&self, o: &Const) -> Const {
        self.add(&o.neg())
    }

    /// Negation.
    pub fn neg(&self) -> Const {
        Const {
            terms: self.terms.iter().map(|(p, q)| (p.clone(), -*q)).collect(),
        }
    }

    /// Product.
    pub fn mul(&self, o: &Const) -> Const {
        // Fast paths: most coefficients are rational.
        match (self.as_rat(), o.as_rat()) {
            (Some(a), Some(b)) => return Const::rat(a * b),
            (Some(a), None) => return o.scale(a),
            (None, Some(b)) => return self.scale(b),
            (None, None) => {}
        }
        let mut c = Const::zero();
        for (pa, qa) in &self.terms {
            for (pb, qb) in &o.terms {
                let (q, prod) = mul_terms(*qa, pa, *qb, pb);
                c.push(prod, q);
            }
        }
        c
    }

    /// Product with a rational.
    pub fn scale(&self, r: Rat) -> Const {
        if r.is_zero() {
            return Const::zero();
        }
        Const {
            terms: self
                .terms
                .iter()
                .map(|(p, q)| (p.clone(), *q * r))
                .collect(),
        }
    }

    /// Numerical value (display, sanity checks and certified signs only).
    pub fn to_f64(&self) -> f64 {
        self.terms.iter().map(|(p, q)| term_value(p, *q)).sum()
    }

    /// The certified sign.
    ///
    /// # Errors
    /// [`Error::ZeroEquivalence`] when a sum of several terms cannot be told apart from zero.
    pub fn sign(&self) -> Result<Ordering> {
        if self.terms.is_empty() {
            return Ok(Ordering::Equal);
        }
        if self.has_param() {
            return self.param_sign();
        }
        if let Some((q, _)) = self.single() {
            // Every atom is positive, so the sign is the sign of the rational coefficient.
            return Ok(q.sign());
        }
        if let Some(s) = self.ln_prime_sign() {
            return Ok(s);
        }
        let vals: Vec<f64> = self.terms.iter().map(|(p, q)| term_value(p, *q)).collect();
        let sum: f64 = vals.iter().sum();
        let bound: f64 = vals.iter().map(|v| v.abs()).sum::<f64>() * SIGN_MARGIN;
        if sum.is_finite() && sum.abs() > bound {
            Ok(sum.partial_cmp(&0.0).unwrap_or(Ordering::Equal))
        } else {
            Err(Error::ZeroEquivalence(self.to_string()))
        }
    }

    /// The exact sign of Σ q_i ln p_i (rational q_i, integers p_i): with D the common
    /// denominator and a_i = D q_i, it is the sign of Π p_i^{a_i} − 1, compared in big-integer
    /// arithmetic (so ln(999999999/10^9) < 0 is exact, where a float sum of the nine-digit
    /// logarithms cannot tell it from 0). `None` for other constants or very large exponents.
    fn ln_prime_sign(&self) -> Option<Ordering> {
        let mut den: i128 = 1;
        let mut items = Vec::new();
        for (prod, q) in &self.terms {
            let [(Atom::LnPrime(p), r)] = prod.as_slice() else {
                return None;
            };
            if *r != Rat::ONE {
                return None;
            }
            items.push((*p, *q));
            let g = gcd_i128(den, q.den());
            den = den.checked_mul(q.den() / g)?;
        }
        let (mut num, mut dnm) = (vec![1u64], vec![1u64]);
        let mut budget: i128 = 20_000;
        for (p, q) in items {
            let a = q.num().checked_mul(den / q.den())?;
            budget -= a.abs();
            if budget < 0 {
                return None;
            }
            let target = if a > 0 { &mut num } else { &mut dnm };
            for _ in 0..a.abs() {
                big_mul_small(target, p);
            }
        }
        Some(big_cmp(&num, &dnm))
    }

    /// The parameter p as a constant.
    pub fn param(name: &str) -> Const {
        Const::atom(Atom::Param(name.to_string()), Rat::ONE)
    }

    /// Whether the parameter occurs.
    pub fn has_param(&self) -> bool {
        self.terms.keys().any(|p| {
            p.iter()
                .any(|(a, _)| matches!(a, Atom::Param(_) | Atom::LnParam(_)))
        })
    }

    /// Sign of a·X + b with X = p or X = ln|p| and parameter-free a ≠ 0, b, over the current
    /// parameter region (may request a split, see [`crate::param`]).
    fn param_sign(&self) -> Result<Ordering> {
        let unsupported = || {
            Error::Unsupported(format!(
                "the constant {self} is not of the form a*p + b or a*ln|p| + b in the parameter"
            ))
        };
        let (mut a, mut b) = (Const::zero(), Const::zero());
        let mut kind: Option<Atom> = None;
        for (prod, q) in &self.terms {
            let params: Vec<&(Atom, Rat)> = prod
                .iter()
                .filter(|(at, _)| matches!(at, Atom::Param(_) | Atom::LnParam(_)))
                .collect();
            match params.as_slice() {
                [] => b.push(prod.clone(), *q),
                [(at, r)] if *r == Rat::ONE => {
                    if kind.as_ref().is_some_and(|k| k != at) {
                        return Err(unsupported());
                    }
                    kind = Some(at.clone());
                    let rest: Prod = prod.iter().filter(|(x, _)| x != at).cloned().collect();
                    a.push(rest, *q);
                }
                _ => return Err(unsupported()),
            }
        }
        let Some(kind) = kind else {
            return b.sign();
        };
        if a.is_zero() {
            return b.sign();
        }
        let sa = a.sign()?;
        // a·X + b = a·(X − X0) with X0 = −b/a.
        let x0 = b.neg().mul(&a.inv()?);
        let s = match kind {
            Atom::Param(name) => crate::param::sign_around(&name, &x0, true)?,
            Atom::LnParam(name) => match Const::param(&name).sign()? {
                // ln p − X0 has the sign of p − e^X0.
                Ordering::Greater => crate::param::sign_around(&name, &x0.exp()?, true)?,
                // ln(−p) − X0 has the sign of −p − e^X0, decreasing in p.
                Ordering::Less => crate::param::sign_around(&name, &x0.exp()?.neg(), false)?,
                Ordering::Equal => return Err(unsupported()),
            },
            _ => return Err(unsupported()),
        };
        Ok(if sa == Ordering::Greater {
            s
        } else {
            s.reverse()
        })
    }

    /// Compares two constants by certified sign of their difference.
    pub fn cmp_const(&self, o: &Const) -> Result<Ordering> {
        if let (Some(a), Some(b)) = (self.as_rat(), o.as_rat()) {
            return Ok(a.cmp(&b));
        }
        self.sub(o).sign()
    }

    /// `self^r` for rational `r`.
    ///
    /// # Errors
    /// A negative base with a non-integer exponent, or zero to a negative power.
    pub fn pow_rat(&self, r: Rat) -> Result<Const> {
        if r.is_zero() {
            return Ok(Const::one());
        }
        if self.is_zero() {
            return if r.sign() == Ordering::Greater {
                Ok(Const::zero())
            } else {
                Err(Error::Undefined("division by zero".into()))
            };
        }
        if let Some((q, prod)) = self.single() {
            let mut map: BTreeMap<Atom, Rat> = BTreeMap::new();
            for (a, e) in prod {
                map.insert(a.clone(), *e * r);
            }
            let mut coef = Rat::ONE;
            let exact_power = if r.is_integer() {
                guarded(|| q.powi(r.num()))
            } else {
                None
            };
            if let Some(c) = exact_power {
                coef = c;
            } else {
                if r.is_integer() && q.sign() == Ordering::Less && r.num() % 2 != 0 {
                    coef = -Rat::ONE;
                }
                if q.sign() == Ordering::Less && !r.is_integer() {
                    return Err(Error::Undefined(format!(
                        "negative constant {self} to the power {r}"
                    )));
                }
                if !add_prime_powers(&mut map, q, r) {
                    return Const::opaque(
                        format!("({self})^({r})"),
                        self.to_f64().powf(r.to_f64()),
                    );
                }
            }
            let (k, prod) = normalize_prod_from(map, coef);
            let mut c = Const::zero();
            c.push(prod, k);
            return Ok(c);
        }
        if r.is_integer() && r.num() >= 0 && r.num() <= 16 {
            let mut acc = Const::one();
            for _ in 0..r.num() {
                acc = acc.mul(self);
            }
            return Ok(acc);
        }
        let v = self.to_f64();
        if v <= 0.0 && !r.is_integer() {
            return Err(Error::Undefined(format!(
                "negative constant {self} to the power {r}"
            )));
        }
        self.sign()?;
        Const::opaque(format!("({self})^({r})"), v.powf(r.to_f64()))
    }

    /// Multiplicative inverse.
    ///
    /// # Errors
    /// Division by zero.
    pub fn inv(&self) -> Result<Const> {
        self.pow_rat(Rat::int(-1))
    }

    /// Natural logarithm of a positive constant.
    ///
    /// # Errors
    /// A constant that is not certified positive.
    pub fn ln(&self) -> Result<Const> {
        if self.sign()? != Ordering::Greater {
            return Err(Error::Undefined(format!(
                "ln of the non-positive constant {self}"
            )));
        }
        let Some((q, prod)) = self.single() else {
            return Const::opaque(format!("ln({self})"), self.to_f64().ln());
        };
        let mut out = Const::zero();
        let mut primes = BTreeMap::new();
        if !add_prime_powers(&mut primes, q, Rat::ONE) {
            return Const::opaque(format!("ln({self})"), self.to_f64().ln());
        }
        for (a, mult) in primes {
            if let Atom::Prime(p) = a {
                out = out.add(&Const::atom(Atom::LnPrime(p), Rat::ONE).scale(mult));
            }
        }
        for (a, r) in prod {
            let l = match a {
                // self > 0 was checked, so ln self = ln|q| + Σ r ln|atom|.
                Atom::Param(name) => Const::atom(Atom::LnParam(name.clone()), Rat::ONE),
                Atom::E => Const::one(),
                Atom::Pi => Const::atom(Atom::LnPi, Rat::ONE),
                Atom::Prime(p) => Const::atom(Atom::LnPrime(*p), Rat::ONE),
                other => {
                    let v = atom_value(other).ln();
                    Const::opaque(format!("ln({})", AtomDisplay(other)), v)?
                }
            };
            out = out.add(&l.scale(*r));
        }
        Ok(out)
    }

    /// e^self.
    ///
    /// # Errors
    /// Overflowing values.
    pub fn exp(&self) -> Result<Const> {
        let mut out = Const::one();
        for (prod, q) in &self.terms {
            let f = match prod.as_slice() {
                [] => Const::atom(Atom::E, *q),
                [(Atom::LnPrime(p), r)] if *r == Rat::ONE => Const::atom(Atom::Prime(*p), *q),
                [(Atom::LnPi, r)] if *r == Rat::ONE => Const::atom(Atom::Pi, *q),
                [(Atom::LnParam(name), r)] if *r == Rat::ONE => {
                    // |p|^q.
                    let p = Const::atom(Atom::Param(name.clone()), *q);
                    match Const::param(name).sign()? {
                        Ordering::Greater => p,
                        Ordering::Less if q.is_integer() => {
                            if q.num() % 2 == 0 {
                                p
                            } else {
                                p.neg()
                            }
                        }
                        _ => {
                            return Err(Error::Unsupported(format!(
                                "|{name}|^{q} for a negative parameter"
                            )));
                        }
                    }
                }
                _ => {
                    let v = term_value(prod, *q).exp();
                    let mut single = Const::zero();
                    single.push(prod.clone(), *q);
                    Const::opaque(format!("exp({single})"), v)?
                }
            };
            out = out.mul(&f);
        }
        Ok(out)
    }

    /// If `self = q·π` with rational `q`, returns `q`.
    fn pi_multiple(&self) -> Option<Rat> {
        if self.is_zero() {
            return Some(Rat::ZERO);
        }
        let (q, prod) = self.single()?;
        (prod.as_slice() == [(Atom::Pi, Rat::ONE)]).then_some(q)
    }

    /// sin, exact at rational multiples of π with denominators 1, 2, 3, 4, 6.
    pub fn sin(&self) -> Result<Const> {
        if let Some(q) = self.pi_multiple()
            && let Some(c) = sin_pi(q)
        {
            return Ok(c);
        }
        Const::opaque(format!("sin({self})"), self.to_f64().sin())
    }

    /// cos, exact at rational multiples of π with denominators 1, 2, 3, 4, 6.
    pub fn cos(&self) -> Result<Const> {
        if let Some(q) = self.pi_multiple()
            && let Some(c) = sin_pi(q + Rat::new(1, 2))
        {
            return Ok(c);
        }
        Const::opaque(format!("cos({self})"), self.to_f64().cos())
    }

    /// arctan, exact at 0 and ±1.
    pub fn atan(&self) -> Result<Const> {
        match self.as_rat() {
            Some(q) if q.is_zero() => Ok(Const::zero()),
            Some(q) if q.abs() == Rat::ONE => Ok(Const::pi().scale(Rat::new(1, 4) * q)),
            _ => Const::opaque(format!("arctan({self})"), self.to_f64().atan()),
        }
    }
}

fn gcd_i128(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// `x *= m` for a little-endian base-2^64 natural number.
fn big_mul_small(x: &mut Vec<u64>, m: u64) {
    let mut carry: u128 = 0;
    for limb in x.iter_mut() {
        let v = (*limb as u128) * (m as u128) + carry;
        *limb = v as u64;
        carry = v >> 64;
    }
    if carry > 0 {
        x.push(carry as u64);
    }
}

fn big_cmp(a: &[u64], b: &[u64]) -> Ordering {
    let trim = |x: &[u64]| x.iter().rposition(|&l| l != 0).map_or(0, |i| i + 1);
    let (la, lb) = (trim(a), trim(b));
    if la != lb {
        return la.cmp(&lb);
    }
    for i in (0..la).rev() {
        match a[i].cmp(&b[i]) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

fn sin_pi(q: Rat) -> Option<Const> {
    // Reduce q modulo 2.
    let two = Rat::int(2);
    let k = (q / two).floor();
    let q = q - two * Rat::int(k);
    let (sign, q) = if q >= Rat::ONE {
        (-1, q - Rat::ONE)
    } else {
        (1, q)
    };
    // Now q in [0, 1): sin(qπ) >= 0.
    let q = if q > Rat::new(1, 2) { Rat::ONE - q } else { q };
    let v = match (q.num(), q.den()) {
        (0, _) => Const::zero(),
        (1, 2) => Const::one(),
        (1, 6) => Const::rat(Rat::new(1, 2)),
        (1, 4) => Const::atom(Atom::Prime(2), Rat::new(1, 2)).scale(Rat::new(1, 2)),
        (1, 3) => Const::atom(Atom::Prime(3), Rat::new(1, 2)).scale(Rat::new(1, 2)),
        _ => return None,
    };
    Some(if sign < 0 { v.neg() } else { v })
}

fn term_value(p: &Prod, q: Rat) -> f64 {
    p.iter().fold(q.to_f64(), |acc, (a, r)| {
        acc * atom_value(a).powf(r.to_f64())
    })
}

struct AtomDisplay<'a>(&'a Atom);

impl fmt::Display for AtomDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Atom::E => write!(f, "e"),
            Atom::Pi => write!(f, "pi"),
            Atom::Prime(p) => write!(f, "{p}"),
            Atom::LnPrime(p) => write!(f, "ln({p})"),
            Atom::LnPi => write!(f, "ln(pi)"),
            Atom::Opaque(label, _) => write!(f, "[{label}]"),
            Atom::Param(name) => write!(f, "{name}"),
            Atom::LnParam(name) => write!(f, "ln(abs({name}))"),
        }
    }
}

impl fmt::Display for Const {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.terms.is_empty() {
            return write!(f, "0");
        }
        let many = self.terms.len() > 1;
        if many {
            write!(f, "(")?;
        }
        for (i, (prod, q)) in self.terms.iter().rev().enumerate() {
            let mut q = *q;
            if i > 0 {
                if q.sign() == Ordering::Less {
                    write!(f, " - ")?;
                    q = -q;
                } else {
                    write!(f, " + ")?;
                }
            }
            let mut parts: Vec<String> = Vec::new();
            if prod.is_empty() || q != Rat::ONE {
                if q == -Rat::ONE && !prod.is_empty() {
                    write!(f, "-")?;
                } else {
                    parts.push(q.to_string());
                }
            }
            for (a, r) in prod {
                let base = AtomDisplay(a).to_string();
                if *r == Rat::ONE {
                    parts.push(base);
                } else if *r == Rat::new(1, 2) {
                    parts.push(format!("sqrt({base})"));
                } else {
                    parts.push(format!("{base}^({r})"));
                }
            }
            write!(f, "{}", parts.join("*"))?;
        }
        if many {
            write!(f, ")")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_are_canonical() {
        let s2 = Const::rat(Rat::int(2)).pow_rat(Rat::new(1, 2)).unwrap();
        assert_eq!(s2.mul(&s2), Const::rat(Rat::int(2)));
        let e = Const::e();
        assert_eq!(e.mul(&e.inv().unwrap()), Const::one());
        assert!(e.sub(&e).is_zero());
        let sqrt8 = Const::rat(Rat::int(8)).pow_rat(Rat::new(1, 2)).unwrap();
        assert_eq!(sqrt8, s2.scale(Rat::int(2)));
    }

    #[test]
    fn huge_integer_powers_stay_exact() {
        let small = Const::rat(Rat::int(10)).pow_rat(Rat::int(-50)).unwrap();
        assert_eq!(small.mul(&Const::one()), small);
        assert_eq!(small.sign().unwrap(), Ordering::Greater);
        let big = Const::rat(Rat::int(10)).pow_rat(Rat::int(1000)).unwrap();
        assert_eq!(big.sign().unwrap(), Ordering::Greater);
        let back = big.mul(&Const::rat(Rat::int(10)).pow_rat(Rat::int(-1000)).unwrap());
        assert_eq!(back, Const::one());
        let neg = Const::rat(Rat::int(-3)).pow_rat(Rat::int(301)).unwrap();
        assert_eq!(neg.sign().unwrap(), Ordering::Less);
    }

    #[test]
    fn ln_and_exp_are_inverse_on_atoms() {
        let c = Const::rat(Rat::new(12, 5)).mul(&Const::pi());
        let back = c.ln().unwrap().exp().unwrap();
        assert_eq!(back, c);
        assert_eq!(Const::e().ln().unwrap(), Const::one());
    }

    #[test]
    fn signs_are_certified() {
        let ln2_minus_1 = Const::rat(Rat::int(2)).ln().unwrap().sub(&Const::one());
        assert_eq!(ln2_minus_1.sign().unwrap(), Ordering::Less);
        let ln3_minus_1 = Const::rat(Rat::int(3)).ln().unwrap().sub(&Const::one());
        assert_eq!(ln3_minus_1.sign().unwrap(), Ordering::Greater);
        // sin(1)^2 + cos(1)^2 - 1 is zero but not recognised: the sign must not be guessed.
        let one = Const::one();
        let s = one.sin().unwrap();
        let c = one.cos().unwrap();
        let z = s.mul(&s).add(&c.mul(&c)).sub(&one);
        assert!(z.sign().is_err());
    }

    #[test]
    fn logarithms_of_rationals_near_one_have_exact_signs() {
        // Issue 20 item 14: 0.999999999^n was unknown (the float sum of the prime logarithms of
        // 999999999/10^9 cannot be told from 0).
        let near = Const::rat(Rat::new(999_999_999, 1_000_000_000))
            .ln()
            .unwrap();
        assert_eq!(near.sign().unwrap(), Ordering::Less);
        let above = Const::rat(Rat::new(1_000_000_000_001, 1_000_000_000_000))
            .ln()
            .unwrap();
        assert_eq!(above.sign().unwrap(), Ordering::Greater);
    }

    #[test]
    fn trig_special_values_are_exact() {
        assert!(Const::pi().sin().unwrap().is_zero());
        assert_eq!(Const::pi().cos().unwrap(), Const::rat(Rat::int(-1)));
        let half = Const::pi().scale(Rat::new(1, 6)).sin().unwrap();
        assert_eq!(half, Const::rat(Rat::new(1, 2)));
        assert_eq!(
            Const::one().atan().unwrap(),
            Const::pi().scale(Rat::new(1, 4))
        );
    }
}
