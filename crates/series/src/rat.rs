//! Exact rationals on `i128`.
//!
//! Every operation is checked.
//! On overflow the result is replaced by zero and a thread-local flag is raised; the decider
//! reads the flag at the end of an analysis and answers "unknown" instead of trusting anything
//! computed after the overflow.

use std::cell::Cell;
use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, Div, Mul, Neg, Sub};

thread_local! {
    static OVERFLOW: Cell<bool> = const { Cell::new(false) };
}

/// Clears the overflow flag and returns its previous value.
pub(crate) fn take_overflow() -> bool {
    OVERFLOW.with(|c| c.replace(false))
}

/// Raises the overflow flag (used to restore it after a guarded computation).
pub(crate) fn set_overflow() {
    OVERFLOW.with(|c| c.set(true));
}

fn flag_overflow() -> Rat {
    OVERFLOW.with(|c| c.set(true));
    Rat::ZERO
}

/// An exact rational number `num/den` in lowest terms with `den > 0`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Rat {
    num: i128,
    den: i128,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl Rat {
    /// Zero.
    pub const ZERO: Rat = Rat { num: 0, den: 1 };
    /// One.
    pub const ONE: Rat = Rat { num: 1, den: 1 };

    /// `num/den`, reduced; a zero denominator or an overflow raises the overflow flag.
    pub fn new(num: i128, den: i128) -> Rat {
        if den == 0 || num == i128::MIN || den == i128::MIN {
            return flag_overflow();
        }
        let g = gcd(num, den).max(1);
        let (mut num, mut den) = (num / g, den / g);
        if den < 0 {
            num = -num;
            den = -den;
        }
        Rat { num, den }
    }

    /// The integer `i`.
    pub fn int(i: i128) -> Rat {
        Rat { num: i, den: 1 }
    }

    fn from_checked(num: Option<i128>, den: Option<i128>) -> Rat {
        match (num, den) {
            (Some(n), Some(d)) => Rat::new(n, d),
            _ => flag_overflow(),
        }
    }

    /// Numerator.
    pub fn num(self) -> i128 {
        self.num
    }

    /// Denominator (positive).
    pub fn den(self) -> i128 {
        self.den
    }

    /// Whether this is zero.
    pub fn is_zero(self) -> bool {
        self.num == 0
    }

    /// Whether this is an integer.
    pub fn is_integer(self) -> bool {
        self.den == 1
    }

    /// The sign as an ordering against zero.
    pub fn sign(self) -> Ordering {
        self.num.cmp(&0)
    }

    /// Nearest `f64` (for display and numeric sanity checks only).
    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// Largest integer not above `self`.
    pub fn floor(self) -> i128 {
        self.num.div_euclid(self.den)
    }

    /// `self^k` for an integer `k` (zero to a negative power raises the overflow flag).
    pub fn powi(self, k: i128) -> Rat {
        let base = if k < 0 { Rat::ONE / self } else { self };
        let mut e = k.unsigned_abs();
        let mut acc = Rat::ONE;
        let mut b = base;
        while e > 0 {
            if e & 1 == 1 {
                acc = acc * b;
            }
            e >>= 1;
            if e > 0 {
                b = b * b;
            }
        }
        acc
    }

    /// Absolute value.
    pub fn abs(self) -> Rat {
        Rat {
            num: self.num.abs(),
            den: self.den,
        }
    }
}

impl Default for Rat {
    fn default() -> Rat {
        Rat::ZERO
    }
}

impl From<i64> for Rat {
    fn from(i: i64) -> Rat {
        Rat::int(i as i128)
    }
}

impl Add for Rat {
    type Output = Rat;
    fn add(self, o: Rat) -> Rat {
        let g = gcd(self.den, o.den);
        let l = self.den / g;
        let r = o.den / g;
        let num = self
            .num
            .checked_mul(r)
            .and_then(|a| o.num.checked_mul(l).and_then(|b| a.checked_add(b)));
        Rat::from_checked(num, self.den.checked_mul(r))
    }
}

impl Sub for Rat {
    type Output = Rat;
    fn sub(self, o: Rat) -> Rat {
        self + (-o)
    }
}

impl Neg for Rat {
    type Output = Rat;
    fn neg(self) -> Rat {
        Rat {
            num: -self.num,
            den: self.den,
        }
    }
}

impl Mul for Rat {
    type Output = Rat;
    fn mul(self, o: Rat) -> Rat {
        let g1 = gcd(self.num, o.den).max(1);
        let g2 = gcd(o.num, self.den).max(1);
        let num = (self.num / g1).checked_mul(o.num / g2);
        let den = (self.den / g2).checked_mul(o.den / g1);
        Rat::from_checked(num, den)
    }
}

impl Div for Rat {
    type Output = Rat;
    fn div(self, o: Rat) -> Rat {
        if o.num == 0 {
            return flag_overflow();
        }
        self * Rat {
            num: o.den,
            den: o.num,
        }
        .normalized()
    }
}

impl Rat {
    fn normalized(self) -> Rat {
        Rat::new(self.num, self.den)
    }
}

impl Ord for Rat {
    fn cmp(&self, o: &Rat) -> Ordering {
        match (self.num.checked_mul(o.den), o.num.checked_mul(self.den)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => {
                flag_overflow();
                self.to_f64().total_cmp(&o.to_f64())
            }
        }
    }
}

impl PartialOrd for Rat {
    fn partial_cmp(&self, o: &Rat) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl fmt::Display for Rat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_exact_and_reduced() {
        let a = Rat::new(6, -4);
        assert_eq!((a.num(), a.den()), (-3, 2));
        assert_eq!(a + Rat::new(1, 2), Rat::int(-1));
        assert_eq!(a * Rat::new(2, 3), Rat::int(-1));
        assert_eq!(Rat::new(2, 3).powi(-2), Rat::new(9, 4));
        assert!(Rat::new(1, 3) < Rat::new(1, 2));
        assert_eq!(Rat::new(-7, 2).floor(), -4);
    }

    #[test]
    fn overflow_is_flagged_not_wrapped() {
        take_overflow();
        let big = Rat::int(i128::MAX / 2);
        let _ = big * big;
        assert!(take_overflow());
        assert!(!take_overflow());
    }
}
