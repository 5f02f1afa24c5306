//! The value of a convergent series with a rigorous enclosure.
//!
//! The value is Σ_{n0≤n<N} a_n + (an enclosure of the tail Σ_{n≥N} a_n). Every term is enclosed
//! by [`crate::interval`] (outward rounding), the lower and upper ends are summed exactly in
//! double-double (TwoSum) and rounded outwards, and the tail enclosure is proved by one of the
//! methods below. N grows until the enclosure is narrow enough for the requested digits or the
//! method's last N is reached; the enclosure is then returned as wide as it is (its `digits`
//! says how many significant digits it guarantees). A series without a proved tail bound has
//! no value: [`Error::Unsupported`], never a number without a proof.
//!
//! | method | terms | tail enclosure (n ≥ N) |
//! |---|---|---|
//! | integral test | exactly c·n^(−p) (p > 1) or c/(n (ln n)^q) (q > 1) | f convex decreasing: [F(N) + f(N)/2, F(N − ½)], F(A) = ∫_A^∞ f |
//! | integral test with power bounds | exactly c·n^(−p)(ln n)^(−q), p > 1, q ≠ 0 | q > 0: [∫_N^{N²} with (ln x)^(−q) ≥ (2 ln N)^(−q), ∫_{N−½}^∞ with (ln x)^(−q) ≤ (ln(N−½))^(−q)]; q = −s < 0: (ln N)^s ≤ (ln x)^s ≤ (ln N)^s (x/N)^(s/ln N) (ln ln is concave), so the tail is between ∫_N^∞ (ln N)^s x^(−p) and ∫_{N−½}^∞ of the power majorant |
//! | ratio test | products of constants, c^(αn+β), (αn+β)^r, (αn+β)!, (2n+β)!!, n^n (and powers) | a_{n+1}/a_n ∈ [r₋, r₊] ⊂ [0, 1) for all n ≥ N: a_N·[1/(1 − r₋), 1/(1 − r₊)] |
//! | alternating series | σ·(−1)^n·b_n with b completely monotone (structurally) | Euler transform with a signed remainder (below) |
//! | comparison | h_n·b_n, h a bounded oscillating factor in [m, M], b_n > 0 one of the above | [m, M]·(tail of b) |
//!
//! **Ratio bound.** a_{n+1}/a_n is a product of factor ratios: c^α for c^(αn+β),
//! (1 + 1/(n + s))^r for (n + s)^r, Π_m (αn + β + m) for (αn+β)!, and (n+1)·E_n for n^n with
//! E_n = (1 + 1/n)^n ∈ [(1 + 1/N)^N, e). Linear factors with the same shift cancel exactly; the
//! rest is written as (n + s₀)^S · Π (1 + (s − s₀)/(n + s₀))^(e_s) (S = Σ e_s ≤ 0), where n
//! occurs once in each factor, so one interval evaluation over n ∈ [N, ∞) encloses the ratio
//! for every n ≥ N. Then a_N r₋^k ≤ a_{N+k} ≤ a_N r₊^k.
//!
//! **Alternating remainder.** With T = Σ_{k≥0} (−1)^k b_{N+k} and Δb_n = b_n − b_{n+1},
//! T = (b_N + T(Δb))/2 (sum the two series termwise), hence
//! T = Σ_{j<J} (Δ^j b)_N / 2^{j+1} + T(Δ^J b)/2^J. When b is completely monotone on [N, ∞)
//! every Δ^J b is non-negative and decreasing to 0, so T(Δ^J b) ∈ [0, (Δ^J b)_N] (Leibniz).
//! J = 1 is the classical |R_N| ≤ b_N bracket halved; J = 24 gives the full f64 precision after
//! a few dozen terms. Complete monotonicity is proved structurally: n, positive constants, sums,
//! √, powers in (0, 1] and ln (where > 1) of Bernstein functions are Bernstein; x^(−r) (r > 0),
//! e^(−x) and c^(−x) (c > 1) of a Bernstein function, products and sums of completely
//! monotone functions are completely monotone.

use std::collections::BTreeMap;

use crate::asymptotic::expand;
use crate::bounds;
use crate::expr::{Expr, Func};
use crate::interval::{self, Iv};
use crate::oscillating::{self, is_alternating_sign};
use crate::rat::Rat;
use crate::trigpoly::{ConstTerm, TrigPoly};
use crate::{Error, Result, Verdict, analyze_expr, parse};

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
    /// The tail method: "integral test", "ratio test", "alternating series", or
    /// "comparison (bounded factor) + <inner method>".
    pub test: String,
    /// The enclosure of the tail Σ_{n≥n0+terms} a_n.
    pub tail: (f64, f64),
    /// How the tail was enclosed, in words.
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

/// The integral-test family: c · n^(−p) · (ln n)^(−q).
#[derive(Clone, Debug)]
struct Family {
    c: Iv,
    p: Rat,
    q: Rat,
}

impl Family {
    /// f(x) / c.
    fn unit(&self, x: Iv) -> Option<Iv> {
        let mut v = x.powf(rat_iv(-self.p))?;
        if !self.q.is_zero() {
            v = v.mul(x.ln()?.powf(rat_iv(-self.q))?)?;
        }
        Some(v)
    }

    /// ∫_A^∞ f / c.
    fn unit_integral(&self, a: Iv) -> Option<Iv> {
        if self.q.is_zero() {
            let pm1 = rat_iv(self.p - Rat::ONE);
            a.powf(pm1.neg())?.div(pm1)
        } else {
            let qm1 = rat_iv(self.q - Rat::ONE);
            a.ln()?.powf(qm1.neg())?.div(qm1)
        }
    }

    /// The tail Σ_{n≥N} f(n) (N ≥ 2).
    fn tail(&self, n: u64) -> Option<Iv> {
        if self.is_power_log() {
            return self.power_log_tail(n);
        }
        let nn = Iv::point(n as f64);
        let lo = self
            .unit_integral(nn)?
            .add(self.unit(nn)?.mul(Iv::point(0.5))?)?;
        let hi = self.unit_integral(Iv::point(n as f64 - 0.5))?;
        self.c.mul(Iv::new(lo.lo, hi.hi)?)
    }

    fn describe(&self) -> String {
        if self.is_power_log() {
            return format!(
                "c/(n^{} (ln n)^{}) bounded by power majorants/minorants (see the crate docs)",
                self.p, self.q
            );
        }
        if self.q.is_zero() {
            format!("c/n^{}", self.p)
        } else {
            format!("c/(n (ln n)^{})", self.q)
        }
    }

    /// p > 1 and q ≠ 0: no closed-form tail integral.
    fn is_power_log(&self) -> bool {
        self.p > Rat::ONE && !self.q.is_zero()
    }

    /// The tail of c·n^(−p)(ln n)^(−q), p > 1, q ≠ 0, N ≥ 3 (module docs).
    fn power_log_tail(&self, n: u64) -> Option<Iv> {
        let nn = Iv::point(n as f64);
        let half = Iv::point(n as f64 - 0.5);
        let one = Iv::point(1.0);
        let pm1 = rat_iv(self.p - Rat::ONE);
        let ln_n = nn.ln()?;
        let (lo, hi) = if self.q > Rat::ZERO {
            // Upper: ∫_{N−½}^∞ f ≤ (ln(N−½))^(−q)·(N−½)^(1−p)/(p−1).
            let hi = half
                .ln()?
                .powf(rat_iv(-self.q))?
                .mul(half.powf(pm1.neg())?)?
                .div(pm1)?;
            // Lower: ∫_N^{N²} f ≥ (2 ln N)^(−q)·(N^(1−p) − N^(2(1−p)))/(p−1).
            let a = nn.powf(pm1.neg())?;
            let lo = ln_n
                .mul(Iv::point(2.0))?
                .powf(rat_iv(-self.q))?
                .mul(a.sub(a.mul(a)?)?)?
                .div(pm1)?;
            (lo.lo.max(0.0), hi.hi)
        } else {
            // s = −q > 0: (ln x)^s ≤ (ln N)^s (x/N)^(s/ln N) for x ≥ N (ln ln is concave), so
            // f ≤ A·x^(−p') with p' = p − s/ln N, A = c-free (ln N)^s N^(−s/ln N).
            let sv = rat_iv(-self.q);
            let e = sv.div(ln_n)?;
            let pp = rat_iv(self.p).sub(e)?;
            let ppm1 = pp.sub(one)?;
            if ppm1.lo <= 0.0 {
                return None;
            }
            let a = ln_n.powf(sv)?.mul(nn.powf(e.neg())?)?;
            let hi = a.mul(half.powf(ppm1.neg())?)?.div(ppm1)?;
            // Lower: (ln x)^s ≥ (ln N)^s on [N, ∞): ∫_N^∞ ≥ (ln N)^s N^(1−p)/(p−1).
            let lo = ln_n.powf(sv)?.mul(nn.powf(pm1.neg())?)?.div(pm1)?;
            (lo.lo, hi.hi)
        };
        self.c.mul(Iv::new(lo, hi)?)
    }
}

/// a_{n+1}/a_n = K · Π (n + s)^(e_s) · E_n^(epow) (see the module docs).
#[derive(Clone, Debug)]
struct RatioForm {
    k: Iv,
    lin: BTreeMap<Rat, Rat>,
    epow: Rat,
}

impl RatioForm {
    fn one() -> RatioForm {
        RatioForm {
            k: Iv::point(1.0),
            lin: BTreeMap::new(),
            epow: Rat::ZERO,
        }
    }

    fn mul(mut self, o: RatioForm) -> Option<RatioForm> {
        self.k = self.k.mul(o.k)?;
        for (s, e) in o.lin {
            let v = self.lin.entry(s).or_insert(Rat::ZERO);
            *v = *v + e;
        }
        self.lin.retain(|_, e| !e.is_zero());
        self.epow = self.epow + o.epow;
        Some(self)
    }

    fn pow(mut self, r: Rat) -> Option<RatioForm> {
        self.k = if r.is_integer() {
            self.k.powi(i64::try_from(r.num()).ok()?)?
        } else {
            self.k.powf(rat_iv(r))?
        };
        for e in self.lin.values_mut() {
            *e = *e * r;
        }
        self.epow = self.epow * r;
        Some(self)
    }

    /// (n + s)^e.
    fn linear(s: Rat, e: Rat) -> RatioForm {
        let mut r = RatioForm::one();
        r.lin.insert(s, e);
        r
    }

    /// An enclosure of the ratio for every n ≥ N (`None` if it is unbounded).
    fn enclose(&self, n: u64) -> Option<Iv> {
        let nf = n as f64;
        let mut v = self.k;
        let total = self.lin.values().fold(Rat::ZERO, |a, &e| a + e);
        if total > Rat::ZERO {
            return None;
        }
        if let Some((&s0, _)) = self.lin.iter().next() {
            // x = 1/(n + s0) ∈ (0, 1/(N + s0)].
            let base = Iv::point(nf).add(rat_iv(s0))?;
            if base.lo <= 0.0 {
                return None;
            }
            let x = Iv::new(0.0, base.recip()?.hi)?;
            if total < Rat::ZERO {
                // (n + s0)^S = x^(−S) ∈ [0, (N + s0)^S].
                let top = base.powf(rat_iv(total))?.hi;
                v = v.mul(Iv::new(0.0, top)?)?;
            }
            for (&s, &e) in &self.lin {
                if s == s0 {
                    continue;
                }
                // (n + s)/(n + s0) = 1 + (s − s0)·x.
                let f = Iv::point(1.0).add(rat_iv(s - s0).mul(x)?)?;
                if f.lo <= 0.0 {
                    return None;
                }
                v = v.mul(f.powf(rat_iv(e))?)?;
            }
        }
        if !self.epow.is_zero() {
            // E_n = (1 + 1/n)^n increases to e.
            let lo = Iv::point(1.0)
                .add(Iv::point(nf).recip()?)?
                .powf(Iv::point(nf))?
                .lo;
            let hi = std::f64::consts::E.next_up();
            v = v.mul(Iv::new(lo, hi)?.powf(rat_iv(self.epow))?)?;
        }
        Some(v)
    }
}

/// How the tail of a positive b_n (or of a_n itself) is enclosed.
#[derive(Clone, Debug)]
enum Method {
    Integral(Family),
    Ratio {
        b: Expr,
        form: RatioForm,
    },
    Alternating {
        sign: f64,
        b: Expr,
    },
    Bounded {
        h: Iv,
        names: String,
        inner: Box<Method>,
    },
    /// a_n = P(n)·b_n, P a trigonometric polynomial with constant term c0 and Abel bound
    /// `abel` on the partial sums of P − c0, b completely monotone: tail = c0·(tail of b)
    /// + [−abel·b_N, abel·b_N].
    Dirichlet {
        c0: Iv,
        abel: f64,
        waves: Vec<(Iv, Iv, Iv)>,
        b: Expr,
        inner: Option<Box<Method>>,
        names: String,
    },
}

/// Summations by parts in the Abel tail of a trigonometric factor.
const ABEL_STEPS: usize = 8;

/// Σ_{n≥N} (Σ_j c_j cos(ω_j n + φ_j))·b_n for a completely monotone b tending to 0: for each
/// term t_0 = c cos(ωn + φ), J summations by parts with the exact antidifference
/// T_{i+1}(n) = c_{i+1} cos(ωn + φ_{i+1}), c_{i+1} = c_i/(2 sin(ω/2)), φ_{i+1} = φ_i + ω/2 − π/2
/// (T(n) − T(n−1) = t(n)) give Σ t_0 b = −Σ_{i<J} T_{i+1}(N−1)(Δ^i b)_N + Σ_{n≥N} T_J(n)(Δ^J b)_n,
/// and Abel's inequality bounds the last sum by |c_J|/|sin(ω/2)|·(Δ^J b)_N (Δ^J b ≥ 0 decreasing).
fn abel_tail(waves: &[(Iv, Iv, Iv)], b: &Expr, n: u64) -> Option<Iv> {
    let mut d: Vec<Iv> = (0..=ABEL_STEPS as u64)
        .map(|i| interval::eval(b, Iv::point((n + i) as f64)))
        .collect::<Option<_>>()?;
    let mut diffs = Vec::with_capacity(ABEL_STEPS + 1);
    for _ in 0..=ABEL_STEPS {
        diffs.push(d[0]);
        d = d
            .windows(2)
            .map(|w| w[0].sub(w[1]))
            .collect::<Option<_>>()?;
    }
    let half = Iv::point(0.5);
    let half_pi = Iv {
        lo: std::f64::consts::FRAC_PI_2.next_down(),
        hi: std::f64::consts::FRAC_PI_2.next_up(),
    };
    let m = Iv::point((n - 1) as f64);
    let mut total = Iv::point(0.0);
    for &(c, w, phi) in waves {
        let s2 = w.mul(half)?.sin()?;
        if s2.contains_zero() {
            return None;
        }
        let step = w.mul(half)?.sub(half_pi)?;
        let (mut coef, mut ph) = (c, phi);
        for dib in diffs.iter().take(ABEL_STEPS) {
            coef = coef.div(s2.mul(Iv::point(2.0))?)?;
            ph = ph.add(step)?;
            let t = coef.mul(w.mul(m)?.add(ph)?.cos()?)?;
            total = total.sub(t.mul(*dib)?)?;
        }
        let r = coef
            .abs()
            .div(s2.abs())?
            .mul(Iv::point(diffs[ABEL_STEPS].hi.max(0.0)))?
            .hi;
        total = total.add(Iv::new(-r, r)?)?;
    }
    Some(total)
}

/// Terms J of the Euler transform of the alternating tail.
const EULER_TERMS: usize = 24;

impl Method {
    /// The tail Σ_{n≥N} a_n.
    fn tail(&self, n: u64) -> Option<Iv> {
        match self {
            Method::Integral(f) => f.tail(n),
            Method::Ratio { b, form } => {
                let r = form.enclose(n)?;
                if r.lo < 0.0 || r.hi >= 1.0 {
                    return None;
                }
                let bn = interval::eval(b, Iv::point(n as f64))?;
                let one = Iv::point(1.0);
                let lo = one.div(one.sub(Iv::point(r.lo))?)?.lo;
                let hi = one.div(one.sub(Iv::point(r.hi))?)?.hi;
                bn.mul(Iv::new(lo, hi)?)
            }
            Method::Alternating { sign, b } => {
                let mut d: Vec<Iv> = (0..=EULER_TERMS as u64)
                    .map(|i| interval::eval(b, Iv::point((n + i) as f64)))
                    .collect::<Option<_>>()?;
                let mut s = Iv::point(0.0);
                let mut scale = 0.5;
                for _ in 0..EULER_TERMS {
                    s = s.add(d[0].mul(Iv::point(scale))?)?;
                    d = d
                        .windows(2)
                        .map(|w| w[0].sub(w[1]))
                        .collect::<Option<_>>()?;
                    scale *= 0.5;
                }
                // Remainder T(Δ^J b)/2^J ∈ [0, (Δ^J b)_N / 2^J].
                let rem = Iv::new(0.0, d[0].hi.max(0.0) * 2.0 * scale)?;
                let t = s.add(rem)?;
                let parity = if n.is_multiple_of(2) { 1.0 } else { -1.0 };
                Some(if sign * parity > 0.0 { t } else { t.neg() })
            }
            Method::Bounded { h, inner, .. } => h.mul(inner.tail(n)?),
            Method::Dirichlet {
                c0,
                waves,
                b,
                inner,
                ..
            } => {
                let osc = abel_tail(waves, b, n)?;
                match inner {
                    Some(m) => c0.mul(m.tail(n)?)?.add(osc),
                    None => Some(osc),
                }
            }
        }
    }

    fn test(&self) -> String {
        match self {
            Method::Integral(f) if f.is_power_log() => "integral test (power bounds)".into(),
            Method::Integral(_) => "integral test".into(),
            Method::Ratio { .. } => "ratio test".into(),
            Method::Alternating { .. } => "alternating series".into(),
            Method::Bounded { inner, .. } => {
                format!("comparison (bounded factor) + {}", inner.test())
            }
            Method::Dirichlet { inner, .. } => match inner {
                Some(m) => format!("Abel summation (trigonometric factor) + {}", m.test()),
                None => "Abel summation (trigonometric factor)".into(),
            },
        }
    }

    fn describe(&self, n: u64) -> String {
        match self {
            Method::Integral(f) => format!(
                "the tail of {} enclosed by the midpoint and trapezoid rules for a convex decreasing f: [F(N) + f(N)/2, F(N - 1/2)], F(A) = integral_A^inf f, N = {n}",
                f.describe()
            ),
            Method::Ratio { form, .. } => {
                let r = form.enclose(n);
                let r = r.map_or("?".into(), |r| format!("[{:.6e}, {:.6e}]", r.lo, r.hi));
                format!(
                    "a_(n+1)/a_n lies in {r} < 1 for every n >= N = {n} (exact cancellation of the linear factors, one interval evaluation over [N, inf)), so the tail lies in a_N·[1/(1 - r_lo), 1/(1 - r_hi)]"
                )
            }
            Method::Alternating { .. } => format!(
                "a_n = ±(-1)^n b_n with b completely monotone on [N, inf) (structural proof); the tail is ±(-1)^N T with T = sum_(j<{EULER_TERMS}) (Delta^j b)_N/2^(j+1) + R, 0 <= R <= (Delta^{EULER_TERMS} b)_N/2^{EULER_TERMS} (Euler transform; Leibniz bracket on the completely monotone differences), N = {n}"
            ),
            Method::Dirichlet {
                c0,
                abel,
                inner,
                names,
                ..
            } => format!(
                "a_n = P(n)·b_n with P = {names} a trigonometric polynomial (constant term c0 in [{:.6}, {:.6}]) and b completely monotone on [N, inf) (structural proof), so b decreases to 0; the partial sums of P - c0 over any range are at most {:.6} in absolute value (sum |c_j|/|sin(w_j/2)|, interval arithmetic), so sum_(n>=N) (P(n) - c0) b_n is enclosed by {ABEL_STEPS} summations by parts with the exact antidifferences of cos(w n + phi) (explicit boundary terms T_(i+1)(N-1)·(Delta^i b)_N) and Abel's inequality on the rest (|.| <= |c_J|/|sin(w/2)|·(Delta^J b)_N; a single step would give {:.6}·b_N){}",
                c0.lo,
                c0.hi,
                abel,
                abel,
                match inner {
                    Some(m) => format!("; plus c0 times the tail of b: {}", m.describe(n)),
                    None => ", and c0 = 0".into(),
                }
            ),
            Method::Bounded { h, names, inner } => format!(
                "a_n = h_n·b_n with h_n = {names} in [{:.6}, {:.6}] and b_n > 0, so the tail lies in [{:.6}, {:.6}] times the tail of b: {}",
                h.lo,
                h.hi,
                h.lo,
                h.hi,
                inner.describe(n)
            ),
        }
    }

    /// The N tried, in increasing order.
    fn schedule(&self, n0: u64) -> Vec<u64> {
        let (start, end) = match self {
            Method::Integral(_) => (1024, MAX_TERMS),
            Method::Ratio { .. } => (8, 1 << 12),
            Method::Alternating { .. } => (32, 1 << 16),
            Method::Bounded { inner, .. } => return inner.schedule(n0),
            Method::Dirichlet { inner: Some(m), .. } => return m.schedule(n0),
            // J summations by parts: the error is ~(Δ^J b)_N, tiny after a few hundred terms.
            Method::Dirichlet { inner: None, .. } => (64, 1 << 14),
        };
        let first = n0.max(2);
        let mut out = Vec::new();
        let mut k = start;
        while k <= end {
            out.push(first.saturating_add(k));
            k *= 2;
        }
        out
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

fn unsupported(why: &str) -> Error {
    Error::Unsupported(format!("--sum: {why}"))
}

const FAMILY_ONLY: &str = "not exactly c/(n^p ln(n)^q) with p > 1, or p = 1 and q > 1";

/// The integral-test family, when `e` is exactly c·n^(−p)(ln n)^(−q) with p > 1, q = 0 or
/// p = 1, q > 1.
fn family_of(e: &Expr) -> std::result::Result<Family, String> {
    let s = expand(e).map_err(|e| e.to_string())?;
    let [t] = s.terms.as_slice() else {
        return Err(FAMILY_ONLY.into());
    };
    if s.err.is_some() {
        return Err(FAMILY_ONLY.into());
    }
    let lm =
        t.m.as_log_mono()
            .ok_or_else(|| "not a power of n and ln n".to_string())?;
    if lm.0[2..].iter().any(|r| !r.is_zero()) {
        return Err("iterated logarithms have no closed-form tail integral here".into());
    }
    let (p, q) = (-lm.0[0], -lm.0[1]);
    let ok = p > Rat::ONE || (p == Rat::ONE && q > Rat::ONE);
    if !ok {
        return Err(FAMILY_ONLY.into());
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
    if c.contains_zero() {
        return Err("the leading coefficient has no certified sign".into());
    }
    Ok(Family { c, p, q })
}

/// The ratio form of one factor f^(±1).
fn factor_ratio(f: &Expr) -> Option<RatioForm> {
    if !f.has_n() {
        return Some(RatioForm::one());
    }
    let lin_n = |e: &Expr| -> Option<(Rat, Rat)> {
        let l = oscillating::lin(e)?;
        (l.pi.is_zero() && l.pin.is_zero() && l.n > Rat::ZERO).then_some((l.n, l.c))
    };
    match f {
        // (n + s): ratio (n + s + 1)/(n + s).
        Expr::N => {
            RatioForm::linear(Rat::ONE, Rat::ONE).mul(RatioForm::linear(Rat::ZERO, -Rat::ONE))
        }
        Expr::Add(..) | Expr::Sub(..) => {
            let (a, b) = lin_n(f)?;
            let s = b / a;
            RatioForm::linear(s + Rat::ONE, Rat::ONE).mul(RatioForm::linear(s, -Rat::ONE))
        }
        Expr::Mul(a, b) => factor_ratio(a)?.mul(factor_ratio(b)?),
        Expr::Div(a, b) => factor_ratio(a)?.mul(factor_ratio(b)?.pow(-Rat::ONE)?),
        Expr::Pow(base, ex) if !ex.has_n() => {
            let r = rat_of(ex)?;
            factor_ratio(base)?.pow(r)
        }
        Expr::Pow(base, ex) if **base == Expr::N && **ex == Expr::N => {
            // (n+1)^(n+1)/n^n = (n + 1)·(1 + 1/n)^n.
            let mut r = RatioForm::linear(Rat::ONE, Rat::ONE);
            r.epow = Rat::ONE;
            Some(r)
        }
        Expr::Pow(base, ex) if !base.has_n() => {
            // c^(αn+β): ratio c^α.
            let (a, _) = lin_n(ex).or_else(|| {
                let l = oscillating::lin(ex)?;
                (l.pi.is_zero() && l.pin.is_zero()).then_some((l.n, l.c))
            })?;
            let c = interval::eval(base, Iv::point(1.0))?;
            if c.lo <= 0.0 {
                return None;
            }
            let mut r = RatioForm::one();
            r.k = c.powf(rat_iv(a))?;
            Some(r)
        }
        Expr::Call(Func::Exp, ex) => {
            let l = oscillating::lin(ex)?;
            if !(l.pi.is_zero() && l.pin.is_zero()) {
                return None;
            }
            let mut r = RatioForm::one();
            r.k = rat_iv(l.n).exp()?;
            Some(r)
        }
        Expr::Call(Func::Sqrt, a) => factor_ratio(a)?.pow(Rat::new(1, 2)),
        Expr::Fact(a) => {
            // (αn+β)! with a positive integer α: ratio Π_{m=1..α} (αn + β + m).
            let (al, be) = lin_n(a)?;
            if !al.is_integer() || !be.is_integer() || al > Rat::int(16) {
                return None;
            }
            let mut r = RatioForm::one();
            r.k = rat_iv(al).powi(i64::try_from(al.num()).ok()?)?;
            for m in 1..=al.num() {
                r = r.mul(RatioForm::linear((be + Rat::int(m)) / al, Rat::ONE))?;
            }
            Some(r)
        }
        Expr::DFact(a) => {
            // (2n+β)!!: ratio 2n + β + 2.
            let (al, be) = lin_n(a)?;
            if al != Rat::int(2) || !be.is_integer() {
                return None;
            }
            let mut r = RatioForm::linear((be + Rat::int(2)) / al, Rat::ONE);
            r.k = Iv::point(2.0);
            Some(r)
        }
        _ => None,
    }
}

fn rat_of(e: &Expr) -> Option<Rat> {
    let l = oscillating::lin(e)?;
    (l.n.is_zero() && l.pi.is_zero() && l.pin.is_zero()).then_some(l.c)
}

/// Structural classes on [lo, ∞) (module docs): Bernstein (≥ 0, increasing, completely
/// monotone derivative), completely monotone (> 0), reciprocal of completely monotone (> 0).
#[derive(Clone, Copy, Debug, Default)]
struct Class {
    bern: bool,
    cm: bool,
    rcm: bool,
    pos_const: bool,
}

fn class(e: &Expr, lo: f64) -> Class {
    if !e.has_n() {
        let pos = interval::eval(e, Iv::point(1.0)).is_some_and(|v| v.lo > 0.0);
        return Class {
            bern: pos,
            cm: pos,
            rcm: pos,
            pos_const: pos,
        };
    }
    let positive_at_lo = || interval::eval(e, Iv::point(lo)).is_some_and(|v| v.lo > 0.0);
    let bern = |ok: bool| Class {
        bern: ok,
        rcm: ok && positive_at_lo(),
        ..Class::default()
    };
    match e {
        Expr::N => bern(lo >= 0.0),
        Expr::Add(a, b) => {
            let (x, y) = (class(a, lo), class(b, lo));
            let mut c = bern(x.bern && y.bern);
            c.cm = x.cm && y.cm;
            c
        }
        Expr::Mul(a, b) => {
            let (x, y) = (class(a, lo), class(b, lo));
            let b_ = (x.pos_const && y.bern) || (y.pos_const && x.bern);
            Class {
                bern: b_,
                cm: x.cm && y.cm,
                rcm: x.rcm && y.rcm,
                pos_const: false,
            }
        }
        Expr::Div(a, b) => {
            let (x, y) = (class(a, lo), class(b, lo));
            Class {
                bern: x.bern && y.pos_const,
                cm: x.cm && y.rcm,
                rcm: x.rcm && y.cm,
                pos_const: false,
            }
        }
        Expr::Pow(a, k) if !k.has_n() => {
            let Some(r) = rat_of(k) else {
                return Class::default();
            };
            let x = class(a, lo);
            let int = r.is_integer();
            let pos = r > Rat::ZERO;
            let mut c = bern(x.bern && pos && r <= Rat::ONE);
            // B^r (B > 0 Bernstein, any r) and (1/CM)^k: reciprocal CM for r > 0, CM for r < 0;
            // CM^k: CM for k > 0, reciprocal CM for k < 0.
            let base_rcm = x.rcm && (x.bern || int);
            c.rcm |= (pos && base_rcm) || (!pos && int && x.cm);
            c.cm = (!pos && base_rcm) || (pos && int && x.cm);
            c
        }
        Expr::Pow(c, x) if !c.has_n() => {
            let Some(cv) = interval::eval(c, Iv::point(1.0)) else {
                return Class::default();
            };
            let (neg, inner) = match &**x {
                Expr::Neg(y) => (true, &**y),
                y => (false, y),
            };
            let ib = class(inner, lo).bern;
            let grows = (cv.lo > 1.0 && !neg) || (cv.hi < 1.0 && cv.lo > 0.0 && neg);
            let decays = (cv.lo > 1.0 && neg) || (cv.hi < 1.0 && cv.lo > 0.0 && !neg);
            Class {
                rcm: ib && grows,
                cm: ib && decays,
                ..Class::default()
            }
        }
        Expr::Call(Func::Exp, x) => {
            let (neg, inner) = match &**x {
                Expr::Neg(y) => (true, &**y),
                y => (false, y),
            };
            let ib = class(inner, lo).bern;
            Class {
                rcm: ib && !neg,
                cm: ib && neg,
                ..Class::default()
            }
        }
        Expr::Call(Func::Sqrt, a) => bern(class(a, lo).bern),
        Expr::Call(Func::Ln, a) => {
            let above_one = interval::eval(a, Iv::point(lo)).is_some_and(|v| v.lo > 1.0);
            bern(class(a, lo).bern && above_one)
        }
        _ => Class::default(),
    }
}

/// Factors with `true` when they divide (as [`bounds::factors`]).
type Factors = Vec<(Expr, bool)>;

/// Splits a_n into its oscillating factors (those whose expansion oscillates) and the rest.
fn split_oscillating(e: &Expr) -> (Factors, Factors) {
    bounds::factors(e)
        .into_iter()
        .partition(|(f, _)| f.has_n() && matches!(expand(f), Err(Error::Oscillation(_))))
}

/// The tail method for a positive b_n (no oscillating factor).
fn positive_method(b: &Expr) -> std::result::Result<Method, String> {
    let fam = family_of(b);
    if let Ok(f) = fam {
        return Ok(Method::Integral(f));
    }
    let ratio = bounds::factors(b)
        .iter()
        .try_fold(RatioForm::one(), |acc, (f, inv)| {
            let r = factor_ratio(f)?;
            acc.mul(if *inv { r.pow(-Rat::ONE)? } else { r })
        });
    if let Some(form) = ratio {
        let total = form.lin.values().fold(Rat::ZERO, |a, &e| a + e);
        let geometric = total < Rat::ZERO || form.k.hi < 1.0 || !form.epow.is_zero();
        if geometric {
            return Ok(Method::Ratio { b: b.clone(), form });
        }
    }
    Err(format!(
        "integral test: {}; ratio test: a_(n+1)/a_n is not a product of the supported factor ratios, or does not stay below 1",
        fam.err().unwrap_or_default()
    ))
}

fn choose_method(e: &Expr) -> std::result::Result<Method, String> {
    let normalized = oscillating::normalize_signs(e);
    let (osc, rest) = split_oscillating(&normalized);
    if osc.is_empty() {
        return positive_method(e);
    }
    // Alternating: exactly one (−1)^n and a completely monotone rest.
    if let [(f, false)] = osc.as_slice()
        && is_alternating_sign(f)
    {
        let mut sign = 1.0;
        let mut kept = Vec::new();
        for (g, inv) in rest {
            match interval::eval(&g, Iv::point(1.0)) {
                Some(v) if !g.has_n() && v.hi < 0.0 => {
                    sign = -sign;
                    kept.push((Expr::Neg(Box::new(g)), inv));
                }
                _ => kept.push((g, inv)),
            }
        }
        let b = bounds::product(&kept);
        if class(&b, 16.0).cm {
            return Ok(Method::Alternating { sign, b });
        }
        return Err(format!(
            "alternating series: no structural proof that b_n = {} is completely monotone, so no rigorous remainder bound",
            b.infix()
        ));
    }
    // Abel summation: a trigonometric polynomial times a completely monotone b_n.
    let osc_product = bounds::product(&osc);
    let b = bounds::product(&rest);
    if let Some(p) = TrigPoly::of(&osc_product)
        && let (Some(c0), Some(abel)) = (p.constant_term(), p.abel_bound())
        && class(&b, 16.0).cm
    {
        let c0 = match c0 {
            ConstTerm::Exact(r) => rat_iv(r),
            ConstTerm::Enclosed(i) => i,
        };
        let exact_zero = c0.lo == 0.0 && c0.hi == 0.0;
        let inner = if exact_zero {
            None
        } else {
            positive_method(&b).ok().map(Box::new)
        };
        if exact_zero || inner.is_some() {
            return Ok(Method::Dirichlet {
                c0,
                abel,
                waves: p
                    .waves()
                    .ok_or("trigonometric factor: cannot enclose the frequencies")?,
                b,
                inner,
                names: osc_product.infix(),
            });
        }
    }
    // Comparison: bounded oscillating factors times a positive b_n with a known tail.
    let mut h = Iv::point(1.0);
    let mut names = Vec::new();
    for (f, inv) in &osc {
        let Some((lo, hi)) = bounds::interval(f) else {
            return Err(format!(
                "the oscillating factor {} is not bounded",
                f.infix()
            ));
        };
        let mut r = Iv::new(lo, hi).ok_or("empty bound")?;
        if *inv {
            r = r
                .recip()
                .ok_or_else(|| format!("the factor {} can vanish", f.infix()))?;
        }
        h = h.mul(r).ok_or("bound overflow")?;
        names.push(if *inv {
            format!("1/({})", f.infix())
        } else {
            f.infix()
        });
    }
    let b = bounds::product(&rest);
    let positive =
        (2..66).all(|n| interval::eval(&b, Iv::point(n as f64)).is_some_and(|v| v.lo > 0.0));
    if !positive {
        return Err("the factor without oscillation is not positive".into());
    }
    let inner = positive_method(&b)?;
    Ok(Method::Bounded {
        h,
        names: names.join("·"),
        inner: Box::new(inner),
    })
}

/// Significant digits of the midpoint guaranteed by [lo, hi], and the midpoint so rounded.
fn digits_of(lo: f64, hi: f64, want: u32) -> (u32, String) {
    if lo <= 0.0 && hi >= 0.0 {
        // No significant digit: say how small the value is instead.
        return (0, format!("0 ± {:.1e}", lo.abs().max(hi.abs())));
    }
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
/// is not proved convergent or no rigorous tail bound is available (the message says which
/// methods were tried and why they do not apply).
pub fn sum(src: &str, n0: u64, digits: u32) -> Result<SumValue> {
    let expr = parse(src)?;
    let report = analyze_expr(&expr, n0)?;
    if report.verdict != Verdict::Converges {
        return Err(unsupported(&format!(
            "the series is not proved convergent (verdict: {})",
            report.verdict
        )));
    }
    // A leading minus: the value of the negated series.
    if let Expr::Neg(inner) = &expr {
        let v = sum_with(inner, n0, digits)?;
        let (d, value) = digits_of(-v.hi, -v.lo, digits);
        return Ok(SumValue {
            lo: -v.hi,
            hi: -v.lo,
            digits: d,
            value,
            tail: (-v.tail.1, -v.tail.0),
            method: format!("minus the value of sum {}: {}", inner.infix(), v.method),
            ..v
        });
    }
    sum_with(&expr, n0, digits)
}

fn sum_with(expr: &Expr, n0: u64, digits: u32) -> Result<SumValue> {
    let method = choose_method(expr)
        .map_err(|why| unsupported(&format!("no rigorous tail bound is available ({why})")))?;
    // One digit of margin, so that the rounded value keeps `digits` digits.
    let target = 10f64.powi(-(digits.min(15) as i32) - 1);
    let mut acc_lo = DoubleDouble::default();
    let mut acc_hi = DoubleDouble::default();
    let mut next = n0;
    let mut best: Option<SumValue> = None;
    'outer: for n_end in method.schedule(n0) {
        while next < n_end {
            let Some(v) = interval::eval(expr, Iv::point(next as f64)) else {
                break 'outer;
            };
            acc_lo.add(v.lo);
            acc_hi.add(v.hi);
            next += 1;
        }
        let Some(tail) = method.tail(n_end) else {
            continue;
        };
        let (plo, phi) = (acc_lo.enclosure().lo, acc_hi.enclosure().hi);
        let lo = Iv::point(plo).add(Iv::point(tail.lo)).map(|i| i.lo);
        let hi = Iv::point(phi).add(Iv::point(tail.hi)).map(|i| i.hi);
        let (Some(lo), Some(hi)) = (lo, hi) else {
            continue;
        };
        if !(lo.is_finite() && hi.is_finite()) {
            continue;
        }
        let width = hi - lo;
        if best.as_ref().is_some_and(|b| b.hi - b.lo <= width) {
            // No progress (the partial sum's rounding dominates): stop.
            break;
        }
        let (d, value) = digits_of(lo, hi, digits);
        best = Some(SumValue {
            lo,
            hi,
            terms: n_end - n0,
            digits: d,
            value,
            test: method.test(),
            tail: (tail.lo, tail.hi),
            method: format!(
                "partial sum of {} terms in interval arithmetic plus {}",
                n_end - n0,
                method.describe(n_end)
            ),
        });
        let mid = 0.5 * (lo + hi);
        if width <= target * mid.abs().max(1e-300) {
            break;
        }
    }
    best.ok_or_else(|| unsupported("the tail bound could not be evaluated at any N tried"))
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
        assert_eq!(v.test, "integral test");
    }

    #[test]
    fn no_tail_bound_is_an_error() {
        assert!(sum("1/n", 1, 10).is_err());
        assert!(sum("1/(n^2 + 1)", 1, 10).is_err());
    }

    #[test]
    fn an_enclosure_around_zero_has_no_digits() {
        // Σ cos(πn/3)/n = −ln(2 sin(π/6)) = 0.
        let v = sum("cos(pi*n/3)/n", 1, 10).unwrap();
        assert!(v.lo <= 0.0 && v.hi >= 0.0 && v.hi - v.lo < 1e-12, "{v:?}");
        assert_eq!(v.digits, 0);
        assert!(v.value.starts_with("0 ± "), "{v:?}");
    }

    #[test]
    fn digits_never_overstate_the_enclosure() {
        let (d, v) = digits_of(2.10974280119, 2.10974280125, 12);
        assert_eq!(d, 11);
        assert_eq!(v, "2.1097428012");
    }

    #[test]
    fn ratio_forms_cancel_linear_factors() {
        // n!/n^n: ratio (1 + 1/n)^(-n) in [1/e, (1 + 1/N)^(-N)].
        let f = factor_ratio(&parse("n!").unwrap()).unwrap();
        let g = factor_ratio(&parse("n^n").unwrap()).unwrap();
        let r = f.mul(g.pow(-Rat::ONE).unwrap()).unwrap();
        assert!(r.lin.is_empty(), "{r:?}");
        let i = r.enclose(10).unwrap();
        let e = std::f64::consts::E;
        assert!(
            i.lo <= 1.0 / e && i.hi >= (1.1f64).powi(-10) && i.hi < 0.39,
            "{i:?}"
        );
    }

    #[test]
    fn completely_monotone_classes() {
        for src in [
            "1/n",
            "1/sqrt(n)",
            "1/ln(n)",
            "1/(n*ln(n))",
            "n^(-3/2)",
            "exp(-n)",
            "2^(-n)",
        ] {
            assert!(class(&parse(src).unwrap(), 16.0).cm, "{src}");
        }
        for src in [
            "1/(n^2 + 1)",
            "n/(n^2 + 1)",
            "sin(n)/n",
            "1/n - 1/n^2",
            "n",
            "n!",
        ] {
            assert!(!class(&parse(src).unwrap(), 16.0).cm, "{src}");
        }
    }
}
