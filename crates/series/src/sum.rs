//! The value of a convergent positive series with a rigorous enclosure.
//!
//! Supported: terms that are exactly a_n = c · n^(−p) · (ln n)^(−q) (the asymptotic expansion
//! has one term and no remainder) with p > 1, q = 0 or p = 1, q > 1 — the p-series and the
//! Bertrand series, including the note's counterexample Σ 1/(n ln² n). Then f(x) = c x^(−p)
//! (ln x)^(−q) is positive, decreasing and convex on (1, ∞) (a product of positive, decreasing,
//! convex factors), and with F(A) = ∫_A^∞ f:
//!
//! - midpoint rule (convex f): f(n) ≤ ∫_{n−½}^{n+½} f, so Σ_{n≥N} f(n) ≤ F(N − ½);
//! - trapezoid rule (convex f): ∫_n^{n+1} f ≤ (f(n) + f(n+1))/2, so Σ_{n≥N} f(n) ≥ F(N) + f(N)/2;
//! - F(A) = c A^(1−p)/(p − 1) (q = 0) and F(A) = c (ln A)^(1−q)/(q − 1) (p = 1).
//!
//! The value is Σ_{n0≤n<N} a_n + [F(N) + f(N)/2, F(N − ½)], every term and the tail enclosed
//! by [`crate::interval`] (outward rounding) and the partial sum accumulated exactly in
//! double-double (TwoSum), so the printed enclosure is a proof. N doubles from 1024 until the
//! enclosure is narrow enough for the requested digits or N reaches 2^21; then the enclosure
//! is returned as wide as it is.

use crate::asymptotic::expand;
use crate::interval::{self, Iv};
use crate::rat::Rat;
use crate::{Convergence, Error, Result, Verdict, analyze_expr, parse};

/// A certified enclosure of Σ_{n≥n0} a_n.
#[derive(Clone, Debug, PartialEq)]
pub struct SumValue {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
    /// Terms summed explicitly (n0 ≤ n < n0 + terms); the rest is the tail enclosure.
    pub terms: u64,
    /// Correct significant digits of [`SumValue::value`] guaranteed by the enclosure.
    pub digits: u32,
    /// The value rounded to `digits` significant digits.
    pub value: String,
    /// How the tail was enclosed.
    pub method: String,
}

/// Largest number of terms summed explicitly.
pub const MAX_TERMS: u64 = 1 << 21;

/// Exact running sum s + t (TwoSum), with a bound on the rounding of the `t` part.
#[derive(Default)]
struct DoubleDouble {
    s: f64,
    t: f64,
    count: u64,
}

impl DoubleDouble {
    fn add(&mut self, x: f64) {
        let s = self.s + x;
        let bp = s - self.s;
        let err = (self.s - (s - bp)) + (x - bp);
        self.s = s;
        self.t += err;
        self.count += 1;
    }

    /// An interval containing the exact sum of the added numbers.
    fn enclosure(&self) -> Iv {
        let v = self.s + self.t;
        // Each addition into t errs by at most ulp(t)/2 <= 2^-53 |t| <= 2^-106 |s|-ish; bound
        // the total generously.
        let slack = (self.count as f64 + 4.0) * 2f64.powi(-100) * self.s.abs()
            + 2.0 * f64::EPSILON * self.t.abs();
        Iv {
            lo: (v - slack).next_down(),
            hi: (v + slack).next_up(),
        }
    }
}

/// The tail family: c · n^(−p) · (ln n)^(−q).
struct Family {
    c: Iv,
    p: Rat,
    q: Rat,
}

impl Family {
    fn f(&self, x: Iv) -> Option<Iv> {
        let mut v = self.c.mul(x.powf(rat_iv(-self.p))?)?;
        if !self.q.is_zero() {
            v = v.mul(x.ln()?.powf(rat_iv(-self.q))?)?;
        }
        Some(v)
    }

    /// F(A) = ∫_A^∞ f.
    fn tail_integral(&self, a: Iv) -> Option<Iv> {
        if self.q.is_zero() {
            let pm1 = rat_iv(self.p - Rat::ONE);
            self.c.mul(a.powf(pm1.neg())?)?.div(pm1)
        } else {
            let qm1 = rat_iv(self.q - Rat::ONE);
            self.c.mul(a.ln()?.powf(qm1.neg())?)?.div(qm1)
        }
    }

    fn describe(&self) -> String {
        if self.q.is_zero() {
            format!("c/n^{}", self.p)
        } else {
            format!("c/(n (ln n)^{})", self.q)
        }
    }
}

fn rat_iv(r: Rat) -> Iv {
    let v = r.to_f64();
    if r.is_integer() {
        Iv::point(v)
    } else {
        Iv {
            lo: v.next_down(),
            hi: v.next_up(),
        }
    }
}

fn unsupported(why: &str) -> Error {
    Error::Unsupported(format!("--sum: {why}"))
}

fn family_of(src_expr: &crate::Expr) -> Result<Family> {
    let s = expand(src_expr)?;
    let [t] = s.terms.as_slice() else {
        return Err(unsupported(
            "the value is computed only for terms that are exactly c/n^p (p > 1) or c/(n ln(n)^q) (q > 1)",
        ));
    };
    if s.err.is_some() {
        return Err(unsupported(
            "the value is computed only for terms that are exactly c/n^p (p > 1) or c/(n ln(n)^q) (q > 1)",
        ));
    }
    let lm =
        t.m.as_log_mono()
            .ok_or_else(|| unsupported("not a power of n and ln n"))?;
    if lm.0[2..].iter().any(|r| !r.is_zero()) {
        return Err(unsupported("iterated logarithms are not supported"));
    }
    let (p, q) = (-lm.0[0], -lm.0[1]);
    let ok = (p > Rat::ONE && q.is_zero()) || (p == Rat::ONE && q > Rat::ONE);
    if !ok {
        return Err(unsupported(
            "the value is computed only for c/n^p (p > 1) and c/(n ln(n)^q) (q > 1)",
        ));
    }
    let c = match t.c.as_rat() {
        Some(r) => rat_iv(r),
        None => {
            // Same certified relative error bound as the constant-sign test (1e-14).
            let v = t.c.to_f64();
            Iv {
                lo: v - v.abs() * 1e-13,
                hi: v + v.abs() * 1e-13,
            }
        }
    };
    if c.lo <= 0.0 {
        return Err(unsupported("the leading coefficient is not positive"));
    }
    Ok(Family { c, p, q })
}

/// Significant digits of the midpoint guaranteed by [lo, hi], and the midpoint so rounded.
fn digits_of(lo: f64, hi: f64, want: u32) -> (u32, String) {
    let mid = 0.5 * (lo + hi);
    let half = 0.5 * (hi - lo);
    if mid == 0.0 || !mid.is_finite() {
        return (0, format!("{mid}"));
    }
    let mag = mid.abs().log10().floor() as i32;
    let mut d = want.min(16);
    while d > 0 {
        // Rounding to d significant digits errs by 0.5·10^(mag−d+1); with the enclosure's
        // half-width the printed value is within one unit of its last place.
        let unit = 10f64.powi(mag - d as i32 + 1);
        if half <= 0.5 * unit {
            break;
        }
        d -= 1;
    }
    let decimals = (d as i32 - 1 - mag).max(0) as usize;
    (d, format!("{mid:.decimals$}"))
}

/// The value of Σ_{n≥n0} a_n with a certified enclosure, aiming at `digits` significant digits.
///
/// # Errors
/// Malformed or undefined terms as [`crate::analyze`]; [`Error::Unsupported`] when the series
/// is not proved convergent with positive terms or its tail is outside the supported family.
pub fn sum(src: &str, n0: u64, digits: u32) -> Result<SumValue> {
    let expr = parse(src)?;
    let report = analyze_expr(&expr, n0)?;
    if report.verdict != Verdict::Converges || report.convergence != Some(Convergence::Absolute) {
        return Err(unsupported(&format!(
            "the series is not proved convergent with eventually positive terms (verdict: {})",
            report.verdict
        )));
    }
    let fam = family_of(&expr)?;
    let first = n0.max(2);
    // One digit of margin, so that the rounded value keeps `digits` digits.
    let target = 10f64.powi(-(digits.min(15) as i32) - 1);
    let mut n_end = first + 1024;
    loop {
        let mut acc = DoubleDouble::default();
        let mut terms = Vec::new();
        for n in n0..n_end {
            let v = interval::eval(&expr, Iv::point(n as f64))
                .ok_or_else(|| unsupported(&format!("cannot enclose a_{n}")))?;
            terms.push(v);
        }
        // Lower ends and upper ends summed separately (each exactly, then rounded outwards).
        let mut acc_hi = DoubleDouble::default();
        for v in terms.iter().rev() {
            acc.add(v.lo);
            acc_hi.add(v.hi);
        }
        let partial = Iv {
            lo: acc.enclosure().lo,
            hi: acc_hi.enclosure().hi,
        };
        let nn = Iv::point(n_end as f64);
        let tail_lo = fam
            .tail_integral(nn)
            .and_then(|f| f.add(fam.f(nn)?.mul(Iv::point(0.5))?))
            .ok_or_else(|| unsupported("cannot enclose the tail"))?;
        let tail_hi = fam
            .tail_integral(Iv::point(n_end as f64 - 0.5))
            .ok_or_else(|| unsupported("cannot enclose the tail"))?;
        let lo = partial
            .add(Iv::point(tail_lo.lo))
            .map(|i| i.lo)
            .unwrap_or(f64::NAN);
        let hi = partial
            .add(Iv::point(tail_hi.hi))
            .map(|i| i.hi)
            .unwrap_or(f64::NAN);
        if !(lo.is_finite() && hi.is_finite()) {
            return Err(unsupported("the enclosure is not finite"));
        }
        let mid = 0.5 * (lo + hi);
        let enough = hi - lo <= target * mid.abs().max(1e-300);
        if enough || n_end - n0 >= MAX_TERMS {
            let (d, value) = digits_of(lo, hi, digits);
            let method = format!(
                "partial sum of {} terms plus the tail of {} enclosed by the midpoint and trapezoid rules for a convex decreasing f: [F(N) + f(N)/2, F(N - 1/2)], F(A) = integral_A^inf f, N = {n_end}; interval arithmetic with outward rounding",
                n_end - n0,
                fam.describe()
            );
            return Ok(SumValue {
                lo,
                hi,
                terms: n_end - n0,
                digits: d,
                value,
                method,
            });
        }
        n_end = n0 + 2 * (n_end - n0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basel_is_enclosed() {
        let v = sum("1/n^2", 1, 12).unwrap();
        let z2 = std::f64::consts::PI.powi(2) / 6.0;
        assert!(v.lo <= z2 && z2 <= v.hi, "{v:?}");
        assert!(v.digits >= 12, "{v:?}");
    }

    #[test]
    fn unsupported_families_are_errors() {
        assert!(sum("1/n", 1, 10).is_err());
        assert!(sum("1/(n^2 + 1)", 1, 10).is_err());
    }

    #[test]
    fn digits_never_overstate_the_enclosure() {
        let (d, v) = digits_of(2.10974280119, 2.10974280125, 12);
        assert_eq!(d, 11);
        assert_eq!(v, "2.1097428012");
    }
}
