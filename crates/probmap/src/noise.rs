//! Noise families: the distribution of ε in `p_i = P(argmax_j (mu_j + tau·eps_j) = i)`.
//!
//! Every family is given at scale 1; the scale (temperature) τ lives in [`crate::Map`], which
//! uses `p(mu; τ) = p(mu/τ; 1)`.
//!
//! | code name | meaning |
//! |---|---|
//! | `ln_pdf(z)` | log f(z), the log density |
//! | `ln_cdf(z)` | log F(z), accurate in both tails (log1p of the upper tail near 1) |
//! | `ln_hazard(z)` | log h(z) = log f(z) − log F(z), the reversed hazard (d/dz log F) |
//! | `quantile(p)` | F⁻¹(p) |
//! | `quantile_upper(q)` | F⁻¹(1 − q), accurate for tiny q |
//! | `support()` | (a, b): f vanishes outside [a, b]; ±∞ for unbounded sides |
//! | `kinks()` | points where f (hence the integrands) is not smooth |
//!
//! The families are the closed set [`Family`]; the trait [`Noise`] is what the quadrature engine
//! is generic over, so a user can bring another noise.

use std::f64::consts::LN_2;
use std::fmt;
use std::str::FromStr;

use rand::{Rng, RngCore};

use crate::special;
use crate::{Error, Result};

/// An i.i.d. noise distribution at scale 1.
///
/// Implementations must be continuous distributions (no atoms), with `f = 0` wherever `F = 0`.
pub trait Noise {
    /// Short name, as accepted by `Family::from_str`.
    fn name(&self) -> String;
    /// log f(z).
    fn ln_pdf(&self, z: f64) -> f64;
    /// log F(z), accurate when F(z) is tiny and when it is close to 1.
    fn ln_cdf(&self, z: f64) -> f64;
    /// log h(z) = log f(z) − log F(z), the reversed hazard rate.
    fn ln_hazard(&self, z: f64) -> f64 {
        self.ln_pdf(z) - self.ln_cdf(z)
    }
    /// f(z).
    fn pdf(&self, z: f64) -> f64 {
        self.ln_pdf(z).exp()
    }
    /// F(z).
    fn cdf(&self, z: f64) -> f64 {
        self.ln_cdf(z).exp()
    }
    /// F⁻¹(p) for p ∈ [0, 1].
    fn quantile(&self, p: f64) -> f64;
    /// F⁻¹(1 − q) for q ∈ [0, 1], accurate for tiny q.
    fn quantile_upper(&self, q: f64) -> f64;
    /// The closed support [a, b] (infinite ends allowed).
    fn support(&self) -> (f64, f64) {
        (f64::NEG_INFINITY, f64::INFINITY)
    }
    /// Points where f is not smooth (the quadrature places panel boundaries there).
    fn kinks(&self) -> &[f64] {
        &[]
    }
    /// Whether the tails decay only polynomially (the quadrature then uses finer tail panels).
    fn heavy_tailed(&self) -> bool {
        false
    }
    /// The mode of f: for z above it the reversed hazard decreases.
    fn mode(&self) -> f64 {
        0.0
    }
    /// Width of the density's core: f and F are analytic in a strip of about this half-width
    /// around the real axis (Student-t: √ν for ν < 1, from the poles at z = ±i√ν). Heavy-tailed
    /// quadrature panels near a score are no wider than this.
    fn core_width(&self) -> f64 {
        1.0
    }
    /// One draw of ε. The default inverts the cdf at u drawn from the open interval (0, 1).
    fn sample(&self, rng: &mut dyn RngCore) -> f64 {
        let u = open_unit(rng);
        if u < 0.5 {
            self.quantile(u)
        } else {
            self.quantile_upper(1.0 - u)
        }
    }
}

/// u uniform on the open interval (0, 1), with 53 random bits (never 0, never 1).
pub fn open_unit(rng: &mut dyn RngCore) -> f64 {
    // (k + ½) / 2^53 for k uniform in 0..2^53: symmetric, never an end point.
    let k = rng.next_u64() >> 11;
    (k as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// Standard Gumbel (max-stable): F(z) = exp(−e^{−z}). The map is exactly softmax.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gumbel;

impl Noise for Gumbel {
    fn name(&self) -> String {
        "gumbel".into()
    }
    fn ln_pdf(&self, z: f64) -> f64 {
        -z - (-z).exp()
    }
    fn ln_cdf(&self, z: f64) -> f64 {
        -(-z).exp()
    }
    fn ln_hazard(&self, z: f64) -> f64 {
        -z
    }
    fn quantile(&self, p: f64) -> f64 {
        -(-p.ln()).ln()
    }
    fn quantile_upper(&self, q: f64) -> f64 {
        -(-(-q).ln_1p()).ln()
    }
    fn sample(&self, rng: &mut dyn RngCore) -> f64 {
        // −log E with E ~ Exp(1): avoids the double log of u near 1 (spec §7).
        let e = -open_unit(rng).ln();
        -e.ln()
    }
}

/// Standard normal: F = Φ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gauss;

impl Noise for Gauss {
    fn name(&self) -> String {
        "gauss".into()
    }
    fn ln_pdf(&self, z: f64) -> f64 {
        special::ln_norm_pdf(z)
    }
    fn ln_cdf(&self, z: f64) -> f64 {
        special::ln_norm_cdf(z)
    }
    fn quantile(&self, p: f64) -> f64 {
        special::norm_quantile(p)
    }
    fn quantile_upper(&self, q: f64) -> f64 {
        -special::norm_quantile(q)
    }
    fn sample(&self, rng: &mut dyn RngCore) -> f64 {
        rng.sample(rand_distr::StandardNormal)
    }
}

/// Standard logistic: F(z) = 1/(1 + e^{−z}).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Logistic;

/// log(1 + e^x) without overflow.
fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

impl Noise for Logistic {
    fn name(&self) -> String {
        "logistic".into()
    }
    fn ln_pdf(&self, z: f64) -> f64 {
        -z.abs() - 2.0 * (-z.abs()).exp().ln_1p()
    }
    fn ln_cdf(&self, z: f64) -> f64 {
        -softplus(-z)
    }
    fn ln_hazard(&self, z: f64) -> f64 {
        // f/F = 1 − F = 1/(1 + e^z)
        -softplus(z)
    }
    fn quantile(&self, p: f64) -> f64 {
        p.ln() - (-p).ln_1p()
    }
    fn quantile_upper(&self, q: f64) -> f64 {
        (-q).ln_1p() - q.ln()
    }
}

/// Standard Laplace: f(z) = ½ e^{−|z|}.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Laplace;

impl Noise for Laplace {
    fn name(&self) -> String {
        "laplace".into()
    }
    fn ln_pdf(&self, z: f64) -> f64 {
        -z.abs() - LN_2
    }
    fn ln_cdf(&self, z: f64) -> f64 {
        if z < 0.0 {
            z - LN_2
        } else {
            (-0.5 * (-z).exp()).ln_1p()
        }
    }
    fn quantile(&self, p: f64) -> f64 {
        if p < 0.5 {
            (2.0 * p).ln()
        } else {
            -(2.0 * (1.0 - p)).ln()
        }
    }
    fn quantile_upper(&self, q: f64) -> f64 {
        -self.quantile(q)
    }
    fn kinks(&self) -> &[f64] {
        &[0.0]
    }
}

/// Uniform on [0, 1]. The map is sparse: p_i = 0 when mu_i ≤ max_j mu_j − 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Uniform;

impl Noise for Uniform {
    fn name(&self) -> String {
        "uniform".into()
    }
    fn ln_pdf(&self, z: f64) -> f64 {
        if (0.0..=1.0).contains(&z) {
            0.0
        } else {
            f64::NEG_INFINITY
        }
    }
    fn ln_cdf(&self, z: f64) -> f64 {
        if z <= 0.0 {
            f64::NEG_INFINITY
        } else if z >= 1.0 {
            0.0
        } else {
            z.ln()
        }
    }
    fn quantile(&self, p: f64) -> f64 {
        p.clamp(0.0, 1.0)
    }
    fn quantile_upper(&self, q: f64) -> f64 {
        1.0 - q.clamp(0.0, 1.0)
    }
    fn support(&self) -> (f64, f64) {
        (0.0, 1.0)
    }
    fn kinks(&self) -> &[f64] {
        &[0.0, 1.0]
    }
    fn mode(&self) -> f64 {
        0.0
    }
}

/// Standard exponential on [0, ∞): F(z) = 1 − e^{−z}.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exponential;

impl Noise for Exponential {
    fn name(&self) -> String {
        "exponential".into()
    }
    fn ln_pdf(&self, z: f64) -> f64 {
        if z >= 0.0 { -z } else { f64::NEG_INFINITY }
    }
    fn ln_cdf(&self, z: f64) -> f64 {
        if z <= 0.0 {
            f64::NEG_INFINITY
        } else if z < LN_2 {
            (-(-z).exp_m1()).ln()
        } else {
            (-(-z).exp()).ln_1p()
        }
    }
    fn ln_hazard(&self, z: f64) -> f64 {
        // e^{−z}/(1 − e^{−z}) = 1/(e^z − 1)
        if z > 0.0 {
            -z.exp_m1().ln()
        } else {
            f64::NEG_INFINITY
        }
    }
    fn quantile(&self, p: f64) -> f64 {
        -(-p).ln_1p()
    }
    fn quantile_upper(&self, q: f64) -> f64 {
        -q.ln()
    }
    fn support(&self) -> (f64, f64) {
        (0.0, f64::INFINITY)
    }
    fn kinks(&self) -> &[f64] {
        &[0.0]
    }
}

/// Student's t with ν > 0 degrees of freedom (ν = 1 is Cauchy). Heavy tails: |z|^{−ν−1}.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StudentT {
    nu: f64,
    ln_norm: f64,
}

impl StudentT {
    /// Student's t with `nu` degrees of freedom.
    ///
    /// # Errors
    /// [`Error::InvalidDof`] unless ν is finite and positive.
    pub fn new(nu: f64) -> Result<Self> {
        if !(nu.is_finite() && nu > 0.0) {
            return Err(Error::InvalidDof { value: nu });
        }
        let ln_norm =
            special::ln_gamma_half_ratio(0.5 * nu) - 0.5 * (nu * std::f64::consts::PI).ln();
        Ok(Self { nu, ln_norm })
    }

    /// Degrees of freedom ν.
    pub fn nu(&self) -> f64 {
        self.nu
    }
}

impl Noise for StudentT {
    fn name(&self) -> String {
        format!("student:{}", self.nu)
    }
    fn ln_pdf(&self, z: f64) -> f64 {
        self.ln_norm + special::ln_student_kernel(z, self.nu)
    }
    fn ln_cdf(&self, z: f64) -> f64 {
        special::ln_student_cdf(z, self.nu)
    }
    fn quantile(&self, p: f64) -> f64 {
        if p <= 0.0 {
            return f64::NEG_INFINITY;
        }
        if p >= 1.0 {
            return f64::INFINITY;
        }
        if p > 0.5 {
            return -self.quantile(1.0 - p);
        }
        invert_ln_cdf(self, p.ln())
    }
    fn quantile_upper(&self, q: f64) -> f64 {
        -self.quantile(q)
    }
    fn heavy_tailed(&self) -> bool {
        true
    }
    fn core_width(&self) -> f64 {
        self.nu.sqrt().min(1.0)
    }
    fn sample(&self, rng: &mut dyn RngCore) -> f64 {
        match rand_distr::StudentT::new(self.nu) {
            Ok(d) => rng.sample(d),
            Err(_) => {
                let u = open_unit(rng);
                self.quantile(u)
            }
        }
    }
}

/// Solves log F(x) = ln_p for x ≤ 0 (ln_p ≤ log ½) of a symmetric unimodal family, by
/// bracketing plus safeguarded Newton in x (the derivative of log F is the reversed hazard).
fn invert_ln_cdf(noise: &dyn Noise, ln_p: f64) -> f64 {
    if ln_p >= -LN_2 {
        return 0.0;
    }
    // Bracket: expand the lower end geometrically until F(lo) < p.
    let (mut lo, mut hi) = (-1.0, 0.0);
    while noise.ln_cdf(lo) > ln_p {
        hi = lo;
        lo *= 2.0;
        if lo < -1e300 {
            return f64::NEG_INFINITY;
        }
    }
    let mut x = 0.5 * (lo + hi);
    for _ in 0..200 {
        let r = noise.ln_cdf(x) - ln_p;
        if r > 0.0 {
            hi = x;
        } else {
            lo = x;
        }
        let step = r / noise.ln_hazard(x).exp();
        let mut next = x - step;
        if !(next > lo && next < hi && next.is_finite()) {
            next = 0.5 * (lo + hi);
        }
        if (next - x).abs() <= 1e-15 * x.abs() || hi - lo <= 1e-15 * lo.abs() {
            return next;
        }
        x = next;
    }
    x
}

/// The noise families this crate ships: the one dispatch point for the CLI and the tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Family {
    /// [`Gumbel`]: softmax.
    Gumbel,
    /// [`Gauss`]: the article's numeric example.
    Gauss,
    /// [`Logistic`].
    Logistic,
    /// [`Laplace`].
    Laplace,
    /// [`Uniform`] on [0, 1]: a sparse map.
    Uniform,
    /// [`Exponential`].
    Exponential,
    /// [`StudentT`] with ν degrees of freedom.
    StudentT(StudentT),
}

impl Family {
    /// Every family name `from_str` accepts (Student-t is written `student:ν`).
    pub const NAMES: &'static [&'static str] = &[
        "gumbel",
        "gauss",
        "logistic",
        "laplace",
        "uniform",
        "exponential",
        "student:ν",
    ];

    /// Student's t family with ν degrees of freedom.
    ///
    /// # Errors
    /// [`Error::InvalidDof`] unless ν > 0 and finite.
    pub fn student(nu: f64) -> Result<Self> {
        Ok(Self::StudentT(StudentT::new(nu)?))
    }

    fn inner(&self) -> &dyn Noise {
        match self {
            Family::Gumbel => &Gumbel,
            Family::Gauss => &Gauss,
            Family::Logistic => &Logistic,
            Family::Laplace => &Laplace,
            Family::Uniform => &Uniform,
            Family::Exponential => &Exponential,
            Family::StudentT(t) => t,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner().name())
    }
}

impl FromStr for Family {
    type Err = Error;

    /// Parses `gumbel`, `gauss` (also `gaussian`, `normal`), `logistic`, `laplace`, `uniform`,
    /// `exponential` (also `exp`), `student:ν` (also `t:ν`, `student-t:ν`).
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let (name, param) = match lower.split_once([':', '=']) {
            Some((n, p)) => (n.trim(), Some(p.trim())),
            None => (lower.as_str(), None),
        };
        let family = match name {
            "gumbel" => Family::Gumbel,
            "gauss" | "gaussian" | "normal" => Family::Gauss,
            "logistic" => Family::Logistic,
            "laplace" => Family::Laplace,
            "uniform" => Family::Uniform,
            "exponential" | "exp" => Family::Exponential,
            "student" | "student-t" | "studentt" | "t" => {
                let Some(p) = param else {
                    return Err(Error::MissingDof { name: s.into() });
                };
                let nu: f64 = p.parse().map_err(|_| Error::UnknownFamily {
                    name: s.into(),
                    known: Family::NAMES.join(", "),
                })?;
                return Family::student(nu);
            }
            _ => {
                return Err(Error::UnknownFamily {
                    name: s.into(),
                    known: Family::NAMES.join(", "),
                });
            }
        };
        if param.is_some() {
            return Err(Error::UnknownFamily {
                name: s.into(),
                known: Family::NAMES.join(", "),
            });
        }
        Ok(family)
    }
}

impl Noise for Family {
    fn name(&self) -> String {
        self.inner().name()
    }
    fn ln_pdf(&self, z: f64) -> f64 {
        self.inner().ln_pdf(z)
    }
    fn ln_cdf(&self, z: f64) -> f64 {
        self.inner().ln_cdf(z)
    }
    fn ln_hazard(&self, z: f64) -> f64 {
        self.inner().ln_hazard(z)
    }
    fn quantile(&self, p: f64) -> f64 {
        self.inner().quantile(p)
    }
    fn quantile_upper(&self, q: f64) -> f64 {
        self.inner().quantile_upper(q)
    }
    fn support(&self) -> (f64, f64) {
        self.inner().support()
    }
    fn kinks(&self) -> &[f64] {
        match self {
            Family::Gumbel => Gumbel.kinks(),
            Family::Gauss => Gauss.kinks(),
            Family::Logistic => Logistic.kinks(),
            Family::Laplace => Laplace.kinks(),
            Family::Uniform => Uniform.kinks(),
            Family::Exponential => Exponential.kinks(),
            Family::StudentT(_) => &[],
        }
    }
    fn heavy_tailed(&self) -> bool {
        self.inner().heavy_tailed()
    }
    fn mode(&self) -> f64 {
        self.inner().mode()
    }
    fn core_width(&self) -> f64 {
        self.inner().core_width()
    }
    fn sample(&self, rng: &mut dyn RngCore) -> f64 {
        self.inner().sample(rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Family> {
        vec![
            Family::Gumbel,
            Family::Gauss,
            Family::Logistic,
            Family::Laplace,
            Family::Uniform,
            Family::Exponential,
            Family::student(1.0).unwrap(),
            Family::student(2.5).unwrap(),
            Family::student(30.0).unwrap(),
        ]
    }

    /// The density integrates the cdf: F(b) − F(a) = ∫_a^b f, checked with a fine Simpson rule
    /// on smooth stretches (tolerance 1e-10), and the quantiles invert the cdf (1e-12).
    #[test]
    fn pdf_cdf_quantile_are_consistent() {
        for fam in all() {
            for &(a, b) in &[(-2.5, -0.5), (0.1, 0.9), (0.5, 3.0)] {
                let (lo, hi) = fam.support();
                if a < lo || b > hi {
                    continue;
                }
                let n = 2000;
                let h = (b - a) / n as f64;
                let mut s = fam.pdf(a) + fam.pdf(b);
                for k in 1..n {
                    let w = if k % 2 == 1 { 4.0 } else { 2.0 };
                    s += w * fam.pdf(a + k as f64 * h);
                }
                let integral = s * h / 3.0;
                let diff = fam.cdf(b) - fam.cdf(a);
                assert!((integral - diff).abs() < 1e-10, "{fam} on [{a},{b}]");
            }
            for &p in &[1e-12, 0.01, 0.3, 0.5, 0.8] {
                let x = fam.quantile(p);
                assert!((fam.cdf(x) - p).abs() <= 1e-12 * p.max(1e-3), "{fam} p={p}");
                let y = fam.quantile_upper(p);
                let upper = -(fam.ln_cdf(y)).exp_m1();
                // + 1e-16: near a finite upper end (uniform) F⁻¹(1 − q) is a number close to 1,
                // whose spacing ε limits the absolute accuracy.
                assert!(
                    (upper - p).abs() <= 1e-11 * p + 1e-16,
                    "{fam} upper q={p}: {upper}"
                );
            }
        }
    }

    #[test]
    fn hazard_is_pdf_over_cdf() {
        for fam in all() {
            for &z in &[-3.0, -0.4, 0.2, 0.7, 2.0] {
                let (lo, hi) = fam.support();
                if z <= lo || z >= hi {
                    continue;
                }
                let want = fam.ln_pdf(z) - fam.ln_cdf(z);
                let got = fam.ln_hazard(z);
                assert!(
                    (got - want).abs() < 1e-13 * (1.0 + want.abs()),
                    "{fam} z={z}"
                );
            }
        }
    }

    #[test]
    fn parse_names_and_errors() {
        assert_eq!("gauss".parse::<Family>().unwrap(), Family::Gauss);
        assert_eq!("Normal".parse::<Family>().unwrap(), Family::Gauss);
        assert_eq!("exp".parse::<Family>().unwrap(), Family::Exponential);
        let t: Family = "t:2.5".parse().unwrap();
        assert_eq!(t.to_string(), "student:2.5");
        assert!(matches!(
            "cauchyish".parse::<Family>(),
            Err(Error::UnknownFamily { .. })
        ));
        assert!(matches!(
            "student".parse::<Family>(),
            Err(Error::MissingDof { .. })
        ));
        assert!(matches!(
            "student:0".parse::<Family>(),
            Err(Error::InvalidDof { .. })
        ));
        assert!(matches!(
            "student:-1".parse::<Family>(),
            Err(Error::InvalidDof { .. })
        ));
        assert!(matches!(
            "student:nan".parse::<Family>(),
            Err(Error::InvalidDof { .. })
        ));
    }
}
