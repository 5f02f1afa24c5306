//! The asymptotic scale at n → ∞.
//!
//! Notation: ln_0 n = n, ln_1 n = ln n, ln_{k+1} n = ln(ln_k n); `SLOTS` levels are kept.
//!
//! | type | meaning |
//! |---|---|
//! | [`LogMono`] `[a_0, …, a_5]` | the log-monomial Π_k (ln_k n)^{a_k}, exact rational exponents |
//! | [`Mono`] `{t_i: c_i}` | the monomial exp(Σ c_i · t_i) over log-monomials t_i → ∞ |
//!
//! Every monomial of the engine is a `Mono`: n^a (ln n)^b is exp(a·ln_1 n + b·ln_2 n), so
//! its map has the keys `unit(1)` and `unit(2)`; 2^n is exp(ln 2 · n), with key `unit(0)`.
//! Log-monomials are ordered by growth, which for them is lexicographic order of the
//! exponent vector; monomials are ordered by the sign of the leading coefficient of the
//! quotient's exponent (a Hardy-field comparison: everything here is eventually monotone).

use std::cmp::Ordering;
use std::fmt;

use crate::constant::Const;
use crate::rat::Rat;
use crate::{Error, Result};

/// Number of levels: n, ln n, ln ln n, ln_3 n, ln_4 n, ln_5 n.
pub const SLOTS: usize = 6;

/// Π_k (ln_k n)^{a_k}; see the module table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct LogMono(pub [Rat; SLOTS]);

impl LogMono {
    /// The constant 1.
    pub const ONE: LogMono = LogMono([Rat::ZERO; SLOTS]);

    /// ln_k n.
    pub fn unit(k: usize) -> LogMono {
        let mut a = [Rat::ZERO; SLOTS];
        a[k] = Rat::ONE;
        LogMono(a)
    }

    /// Growth: `Greater` when it tends to infinity, `Less` when to zero.
    pub fn tendency(&self) -> Ordering {
        self.0
            .iter()
            .map(|r| r.sign())
            .find(|s| *s != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    }

    /// Index of the first non-zero exponent.
    pub fn first_slot(&self) -> Option<usize> {
        self.0.iter().position(|r| !r.is_zero())
    }

    /// Deepest slot with a non-zero exponent.
    pub fn depth(&self) -> Option<usize> {
        self.0.iter().rposition(|r| !r.is_zero())
    }
}

impl Ord for LogMono {
    fn cmp(&self, o: &LogMono) -> Ordering {
        for k in 0..SLOTS {
            match self.0[k].cmp(&o.0[k]) {
                Ordering::Equal => continue,
                other => return other,
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for LogMono {
    fn partial_cmp(&self, o: &LogMono) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// Name of ln_k n.
pub fn level_name(k: usize) -> String {
    match k {
        0 => "n".into(),
        1 => "ln n".into(),
        2 => "ln ln n".into(),
        _ => format!("ln_{k} n"),
    }
}

impl fmt::Display for LogMono {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (k, a) in self.0.iter().enumerate() {
            if a.is_zero() {
                continue;
            }
            let base = if k == 0 {
                "n".to_string()
            } else {
                format!("({})", level_name(k))
            };
            if *a == Rat::ONE {
                parts.push(base);
            } else if a.is_integer() {
                parts.push(format!("{base}^{a}"));
            } else {
                parts.push(format!("{base}^({a})"));
            }
        }
        if parts.is_empty() {
            write!(f, "1")
        } else {
            write!(f, "{}", parts.join(" "))
        }
    }
}

/// exp(Σ c_i · t_i); see the module table. Keys are sorted by decreasing growth and tend to
/// infinity; coefficients are non-zero.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Mono {
    log: Vec<(LogMono, Const)>,
}

impl Mono {
    /// The constant monomial 1.
    pub fn one() -> Mono {
        Mono::default()
    }

    /// exp(c · t) for a log-monomial `t → ∞`.
    pub fn exp_of(t: LogMono, c: Const) -> Mono {
        let mut m = Mono::one();
        m.add_entry(t, c);
        m
    }

    /// (ln_k n)^r.
    pub fn level_pow(k: usize, r: Rat) -> Result<Mono> {
        if k + 1 >= SLOTS {
            return Err(Error::Unsupported("logarithms nested too deeply".into()));
        }
        Ok(Mono::exp_of(LogMono::unit(k + 1), Const::rat(r)))
    }

    /// The log-monomial `t` as a monomial.
    ///
    /// # Errors
    /// When `t` involves the deepest level, whose logarithm is outside the scale.
    pub fn from_log_mono(t: &LogMono) -> Result<Mono> {
        let mut m = Mono::one();
        for (k, a) in t.0.iter().enumerate() {
            if a.is_zero() {
                continue;
            }
            if k + 1 >= SLOTS {
                return Err(Error::Unsupported("logarithms nested too deeply".into()));
            }
            m.add_entry(LogMono::unit(k + 1), Const::rat(*a));
        }
        Ok(m)
    }

    /// The entries (t_i, c_i), largest t first.
    pub fn entries(&self) -> &[(LogMono, Const)] {
        &self.log
    }

    fn add_entry(&mut self, t: LogMono, c: Const) {
        match self.log.binary_search_by(|(k, _)| t.cmp(k)) {
            Ok(i) => {
                let sum = self.log[i].1.add(&c);
                if sum.is_zero() {
                    self.log.remove(i);
                } else {
                    self.log[i].1 = sum;
                }
            }
            Err(i) => {
                if !c.is_zero() {
                    self.log.insert(i, (t, c));
                }
            }
        }
    }

    /// Product.
    pub fn mul(&self, o: &Mono) -> Mono {
        let mut m = self.clone();
        for (t, c) in &o.log {
            m.add_entry(*t, c.clone());
        }
        m
    }

    /// `self^c`.
    pub fn pow(&self, c: &Const) -> Mono {
        let mut m = Mono::one();
        for (t, a) in &self.log {
            m.add_entry(*t, a.mul(c));
        }
        m
    }

    /// `self^r`.
    pub fn pow_rat(&self, r: Rat) -> Mono {
        self.pow(&Const::rat(r))
    }

    /// Inverse.
    pub fn inv(&self) -> Mono {
        self.pow_rat(Rat::int(-1))
    }

    /// Whether this is the constant 1.
    pub fn is_one(&self) -> bool {
        self.log.is_empty()
    }

    /// `Greater` if it tends to infinity, `Equal` if it is 1, `Less` if it tends to zero.
    ///
    /// # Errors
    /// When the sign of the leading coefficient cannot be certified.
    pub fn tendency(&self) -> Result<Ordering> {
        match self.log.first() {
            None => Ok(Ordering::Equal),
            Some((_, c)) => c.sign(),
        }
    }

    /// Growth comparison.
    ///
    /// # Errors
    /// When the sign of the leading coefficient of the quotient cannot be certified.
    pub fn cmp_growth(&self, o: &Mono) -> Result<Ordering> {
        // The quotient's leading entry is the largest key where the coefficients differ.
        let (a, b) = (&self.log, &o.log);
        let (mut i, mut j) = (0, 0);
        loop {
            match (a.get(i), b.get(j)) {
                (None, None) => return Ok(Ordering::Equal),
                (Some((_, ca)), None) => return ca.sign(),
                (None, Some((_, cb))) => return Ok(cb.sign()?.reverse()),
                (Some((ta, ca)), Some((tb, cb))) => match ta.cmp(tb) {
                    Ordering::Greater => return ca.sign(),
                    Ordering::Less => return Ok(cb.sign()?.reverse()),
                    Ordering::Equal => {
                        let c = ca.cmp_const(cb)?;
                        if c != Ordering::Equal {
                            return Ok(c);
                        }
                        i += 1;
                        j += 1;
                    }
                },
            }
        }
    }

    /// Numerical value at `x` (numeric cross-checks only; needs ln_k x > 0 at every level used).
    pub fn to_f64_at(&self, x: f64) -> f64 {
        let mut levels = [x; SLOTS];
        for k in 1..SLOTS {
            levels[k] = levels[k - 1].ln();
        }
        let expo: f64 = self
            .log
            .iter()
            .map(|(t, c)| {
                let tv: f64 =
                    t.0.iter()
                        .zip(levels)
                        .map(|(a, l)| l.powf(a.to_f64()))
                        .product();
                c.to_f64() * tv
            })
            .sum();
        expo.exp()
    }

    /// The log-monomial this monomial equals, if it has only rational powers of ln_k n.
    pub fn as_log_mono(&self) -> Option<LogMono> {
        let mut a = [Rat::ZERO; SLOTS];
        for (t, c) in &self.log {
            let k = t.first_slot()?;
            if *t != LogMono::unit(k) || k == 0 {
                return None;
            }
            a[k - 1] = c.as_rat()?;
        }
        Some(LogMono(a))
    }
}

impl fmt::Display for Mono {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut exp_part: Vec<String> = Vec::new();
        let mut pow_part: Vec<String> = Vec::new();
        for (t, c) in &self.log {
            let is_level = t
                .first_slot()
                .is_some_and(|k| k > 0 && *t == LogMono::unit(k));
            if is_level {
                let k = t.first_slot().unwrap_or(1) - 1;
                let base = if k == 0 {
                    "n".to_string()
                } else {
                    format!("({})", level_name(k))
                };
                match c.as_rat() {
                    Some(r) if r == Rat::ONE => pow_part.push(base),
                    Some(r) if r.is_integer() => pow_part.push(format!("{base}^{r}")),
                    _ => pow_part.push(format!("{base}^({c})")),
                }
            } else {
                match c.as_rat() {
                    Some(r) if r == Rat::ONE => exp_part.push(t.to_string()),
                    Some(r) if r == -Rat::ONE => exp_part.push(format!("-{t}")),
                    _ => exp_part.push(format!("{c} {t}")),
                }
            }
        }
        let mut parts = Vec::new();
        if !exp_part.is_empty() {
            parts.push(format!(
                "exp({})",
                exp_part.join(" + ").replace("+ -", "- ")
            ));
        }
        parts.extend(pow_part);
        if parts.is_empty() {
            write!(f, "1")
        } else {
            write!(f, "{}", parts.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_order_follows_the_log_scale() {
        let n2 = Mono::level_pow(0, Rat::int(2)).unwrap();
        let n_ln = Mono::level_pow(0, Rat::int(2))
            .unwrap()
            .mul(&Mono::level_pow(1, Rat::int(-5)).unwrap());
        assert_eq!(n2.cmp_growth(&n_ln).unwrap(), Ordering::Greater);
        let exp_sqrt_ln = Mono::exp_of(
            LogMono([
                Rat::ZERO,
                Rat::new(1, 2),
                Rat::ZERO,
                Rat::ZERO,
                Rat::ZERO,
                Rat::ZERO,
            ]),
            Const::one(),
        );
        let n_eps = Mono::level_pow(0, Rat::new(1, 100)).unwrap();
        // e^{sqrt(ln n)} is below every positive power of n.
        assert_eq!(exp_sqrt_ln.cmp_growth(&n_eps).unwrap(), Ordering::Less);
        assert_eq!(n2.as_log_mono().unwrap().0[0], Rat::int(2));
        assert_eq!(n_ln.to_string(), "n^2 (ln n)^-5");
    }
}
