//! Special functions needed by the noise families, all in f64.
//!
//! | function | meaning | accuracy (relative, measured against mpmath in the tests) |
//! |---|---|---|
//! | [`ln_norm_cdf`] | `log Φ(z)` for every finite z | ~1e-15, also deep in the left tail |
//! | [`ln_gamma`] | `log Γ(x)`, x > 0 | ~1e-15 (Lanczos, g = 7) |
//! | [`ln_student_cdf`] | `log F_ν(z)` of Student's t | ~1e-14 (continued fraction of I_x(a, b)) |
//!
//! `log Φ` is computed from `erfc` for moderate arguments and from the asymptotic series of the
//! Mills ratio for z < −20, where `erfc` would underflow (Φ(−38.5) = 0 in f64).
//! `log F` near 1 is always computed as `log1p(−tail)` so that `Σ_j log F` over many classes keeps
//! its relative accuracy when every factor is close to 1.

use std::f64::consts::{LN_2, PI, SQRT_2};

/// `½ log(2π)`.
pub const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// `log Φ(z)`, the logarithm of the standard normal cdf, accurate in both tails.
pub fn ln_norm_cdf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    if z > 0.0 {
        // Φ(z) = 1 − Φ(−z); Φ(−z) is tiny for large z, so log1p keeps all digits.
        let t = 0.5 * libm::erfc(z / SQRT_2);
        if t < 1e-9 {
            // log1p(−t) = −t − t²/2 − …; the next term is below 1e-27 relative.
            -t - 0.5 * t * t
        } else {
            (-t).ln_1p()
        }
    } else if z > -20.0 {
        (0.5 * libm::erfc(-z / SQRT_2)).ln()
    } else {
        // Φ(z) = φ(z)/|z| · (1 − 1/z² + 3/z⁴ − 15/z⁶ + …); the terms shrink quickly for |z| ≥ 20
        // (the 12th is below 1e-19), so the truncated series is exact to rounding.
        let z2 = z * z;
        let mut term = 1.0;
        let mut sum = 1.0;
        for k in 1..=12 {
            term *= -((2 * k - 1) as f64) / z2;
            sum += term;
        }
        -0.5 * z2 - LN_SQRT_2PI - (-z).ln() + sum.ln()
    }
}

/// `log φ(z)`, the logarithm of the standard normal density.
pub fn ln_norm_pdf(z: f64) -> f64 {
    -0.5 * z * z - LN_SQRT_2PI
}

/// Standard normal quantile Φ⁻¹(p) for p in (0, 1); `±∞` at the ends, NaN outside.
pub fn norm_quantile(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    if p > 0.5 {
        return -norm_quantile_ln(norm_ln_complement(p));
    }
    norm_quantile_ln(p.ln())
}

/// `log(1 − p)` written so that the normal quantile of the upper half stays accurate.
fn norm_ln_complement(p: f64) -> f64 {
    (-p).ln_1p()
}

/// Φ⁻¹(e^{ln_p}) for ln_p ≤ log ½ (lower half): the Abramowitz–Stegun 26.2.23 start
/// (|error| < 4.5e-4), then Newton on `log Φ(x) = ln_p`, which is concave, so the iteration
/// converges monotonically.
pub fn norm_quantile_ln(ln_p: f64) -> f64 {
    if ln_p == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if ln_p >= 0.0 {
        return f64::INFINITY;
    }
    if ln_p > -LN_2 {
        // Upper half: Φ⁻¹(p) = −Φ⁻¹(1 − p), with 1 − p = −expm1(ln_p) exact.
        return -norm_quantile_ln((-(ln_p.exp_m1())).ln());
    }
    let t = (-2.0 * ln_p).sqrt();
    let mut x = -(t
        - (2.515_517 + 0.802_853 * t + 0.010_328 * t * t)
            / (1.0 + 1.432_788 * t + 0.189_269 * t * t + 0.001_308 * t * t * t));
    for _ in 0..50 {
        let lf = ln_norm_cdf(x);
        let hazard = (ln_norm_pdf(x) - lf).exp();
        let step = (lf - ln_p) / hazard;
        x -= step;
        if step.abs() <= 1e-15 * (1.0 + x.abs()) {
            break;
        }
    }
    x
}

/// `log Γ(x)` for x > 0 (Lanczos approximation with g = 7, nine terms; reflection for x < ½).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Γ(x)Γ(1 − x) = π / sin(πx)
        return (PI / (PI * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (k, c) in C.iter().enumerate().skip(1) {
        a += c / (x + k as f64);
    }
    LN_SQRT_2PI + (x + 0.5) * t.ln() - t + a.ln()
}

/// `log B(a, b)`.
pub fn ln_beta(a: f64, b: f64) -> f64 {
    // B(a, ½) for large a (Student-t with large ν): log Γ(a) − log Γ(a + ½) loses all digits
    // to cancellation when both are ~a·log a.
    if b == 0.5 && a > 50.0 {
        return 0.5 * PI.ln() - ln_gamma_half_ratio(a);
    }
    if a == 0.5 && b > 50.0 {
        return 0.5 * PI.ln() - ln_gamma_half_ratio(b);
    }
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// `log Γ(x + ½) − log Γ(x)`, without cancellation for large x (asymptotic series for x > 50,
/// relative truncation error below 1e-18 there, checked against mpmath).
pub fn ln_gamma_half_ratio(x: f64) -> f64 {
    if x <= 50.0 {
        return ln_gamma(x + 0.5) - ln_gamma(x);
    }
    // ½ log x − 1/(8x) + 1/(192x³) − 1/(640x⁵) + 17/(14336x⁷)
    let r = 1.0 / x;
    let r2 = r * r;
    0.5 * x.ln() + r * (-1.0 / 8.0 + r2 * (1.0 / 192.0 + r2 * (-1.0 / 640.0 + r2 * 17.0 / 14336.0)))
}

/// Continued fraction of the regularized incomplete beta function (modified Lentz), valid and
/// quickly convergent for x < (a + 1)/(a + b + 2).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut f = d;
    for m in 1..=400 {
        let m = m as f64;
        let m2 = 2.0 * m;
        // even step
        let num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + num * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + num / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        f *= d * c;
        // odd step
        let num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + num * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + num / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    f
}

/// `log I_x(a, b)` of the regularized incomplete beta function, given both x and y = 1 − x
/// (the caller often knows y without cancellation).
pub fn ln_beta_inc(a: f64, b: f64, x: f64, y: f64) -> f64 {
    if x <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if y <= 0.0 {
        return 0.0;
    }
    let ln_front = a * x.ln() + b * y.ln() - ln_beta(a, b);
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front - a.ln() + beta_cf(a, b, x).ln()
    } else {
        // I_x(a, b) = 1 − I_y(b, a)
        let comp = (ln_front - b.ln()).exp() * beta_cf(b, a, y);
        (-comp).ln_1p()
    }
}

/// `log F_ν(z)` for Student's t with ν > 0 degrees of freedom.
///
/// F(z) = ½ I_{ν/(ν+z²)}(ν/2, ½) for z < 0, and 1 − that for z ≥ 0.
pub fn ln_student_cdf(z: f64, nu: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    if z == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if z == f64::INFINITY {
        return 0.0;
    }
    let z2 = z * z;
    if z2 * 1e-17 > nu {
        // x = ν/(ν + z²) < 1e-17 (and z² may overflow): I_x(a, ½) = x^a/(a B(a, ½)) · (1 + O(x)),
        // with log x = log ν − 2 log|z| computed without squaring z. Matters for ν ≪ 1, whose
        // cdf at z = −1e300 is still far from 0 (ν = 0.001: F ≈ 0.25).
        let a = 0.5 * nu;
        let ln_x = nu.ln() - 2.0 * z.abs().ln();
        let ln_half_tail = a * ln_x - ln_beta(a, 0.5) - a.ln() - LN_2;
        return if z < 0.0 {
            ln_half_tail
        } else {
            (-ln_half_tail.exp()).ln_1p()
        };
    }
    let (x, y) = if z2 < nu {
        (nu / (nu + z2), z2 / (nu + z2))
    } else {
        let r = nu / z2;
        (r / (1.0 + r), 1.0 / (1.0 + r))
    };
    let ln_half_tail = ln_beta_inc(0.5 * nu, 0.5, x, y) - LN_2;
    if z < 0.0 {
        ln_half_tail
    } else {
        (-ln_half_tail.exp()).ln_1p()
    }
}

/// `log f_ν(z)`, the Student-t log density.
pub fn ln_student_pdf(z: f64, nu: f64) -> f64 {
    ln_gamma_half_ratio(0.5 * nu) - 0.5 * (nu * PI).ln() + ln_student_kernel(z, nu)
}

/// `−(ν+1)/2 · log(1 + z²/ν)`, the z-dependent part of the Student-t log density, also for
/// |z| beyond 1e154 where z² overflows.
pub fn ln_student_kernel(z: f64, nu: f64) -> f64 {
    let az = z.abs();
    let ln1p = if az < 1e100 {
        (z * z / nu).ln_1p()
    } else {
        // log(1 + z²/ν) = 2 log|z| − log ν + log1p(ν/z²), and ν/z² is below rounding here
        // unless ν is huge, in which case the first branch would not overflow anyway.
        2.0 * az.ln() - nu.ln() + (nu / az / az).ln_1p()
    };
    -0.5 * (nu + 1.0) * ln1p
}

#[cfg(test)]
// reference values are quoted with all the digits mpmath printed
#[allow(clippy::excessive_precision, clippy::approx_constant)]
mod tests {
    use super::*;

    // Reference values from mpmath 1.3 at 30 digits (`mp.log(mp.ncdf(z))`, `mp.loggamma`,
    // Student-t cdf via `mp.betainc(..., regularized=True)`).
    #[test]
    fn ln_norm_cdf_matches_mpmath() {
        let cases = [
            (0.0, -0.693_147_180_559_945_3),
            (1.0, -0.172_753_779_023_449_89),
            (-1.0, -1.841_021_645_009_263_5),
            (-10.0, -53.231_285_150_512_471),
            (-19.9, -201.917_167_707_332_6),
            (-25.0, -316.639_408_008_020_26),
            (-40.0, -804.608_442_013_753_79),
            (8.0, -6.220_960_574_271_785_8e-16),
        ];
        for (z, want) in cases {
            let got = ln_norm_cdf(z);
            // erfc(z/√2) turns the rounding of z/√2 into a relative error of about z²·ε
            // in the upper tail, hence 1e-14 at z = 8.
            assert!(
                (got - want).abs() <= 1e-14 * want.abs(),
                "z={z}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn norm_quantile_inverts_cdf() {
        for &p in &[1e-300, 1e-20, 1e-5, 0.01, 0.3, 0.5, 0.7, 0.99, 1.0 - 1e-12] {
            let x = norm_quantile(p);
            let back = ln_norm_cdf(x).exp();
            assert!((back - p).abs() <= 1e-13 * p, "p={p}: x={x} back={back}");
        }
        assert!(norm_quantile(0.5).abs() < 1e-16);
    }

    #[test]
    fn ln_gamma_matches_known_values() {
        // Γ(1) = Γ(2) = 1, Γ(½) = √π, Γ(10) = 9!
        let cases = [
            (1.0, 0.0),
            (2.0, 0.0),
            (0.5, 0.5 * PI.ln()),
            (10.0, 362_880f64.ln()),
            (0.1, 2.252_712_651_734_205_9),
        ];
        for (x, want) in cases {
            let got = ln_gamma(x);
            assert!((got - want).abs() < 1e-14 * (1.0 + want.abs()), "x={x}");
        }
    }

    /// Issue 20 item 5: for ν ≪ 1 much of the mass lies beyond |z| = 1e154, where z² overflows
    /// (ν = 0.001: F(−1e300) = 0.25); the cdf was 0 and the log density −∞ there.
    /// References: mpmath 1.3 at 40 digits (`log(betainc(ν/2, ½, 0, ν/(ν+z²))/2)`, loggamma).
    #[test]
    fn student_cdf_and_pdf_far_out_and_for_tiny_nu() {
        let cases = [
            // (z, ν, log F, log f)
            (
                -1e300,
                0.001,
                -1.3880693223449709928,
                -699.07135249954081328,
            ),
            (-1e200, 0.01, -5.3282338640978287365, -470.45042264889505686),
            (-1e20, 0.1, -5.4789276355090531433, -53.833214588384012452),
            (-1.0, 0.001, -0.69729404447792661411, -7.6055493233456026127),
            (
                -0.01,
                0.001,
                -0.69345818970737759992,
                -4.1954203012903993135,
            ),
            (0.5, 0.001, -0.68970460711543761151, -6.9132067523337925449),
            (
                1e300,
                0.001,
                -0.28709111812869136742,
                -699.07135249954081328,
            ),
            (-1e160, 3.0, -1105.1431211980973284, -1472.4581237884765281),
            (-1e10, 0.5, -12.650171595741751611, -36.369169706242153761),
        ];
        for (z, nu, ln_f_cdf, ln_f_pdf) in cases {
            let got = ln_student_cdf(z, nu);
            assert!(
                (got - ln_f_cdf).abs() <= 1e-13 * ln_f_cdf.abs(),
                "cdf z={z} ν={nu}: {got} vs {ln_f_cdf}"
            );
            let got = ln_student_pdf(z, nu);
            assert!(
                (got - ln_f_pdf).abs() <= 1e-13 * ln_f_pdf.abs(),
                "pdf z={z} ν={nu}: {got} vs {ln_f_pdf}"
            );
        }
    }

    /// log Γ(x + ½) − log Γ(x) and the Student-t density for large ν: computed as a difference
    /// of two log Γ ≈ x log x it lost about log10(x log x) digits (ν = 1e10: 1e-6 relative).
    /// References: mpmath 1.3, 40 digits.
    #[test]
    fn large_nu_has_no_cancellation() {
        let ratios = [
            (10.0, 1.138797739322294022),
            (60.0, 2.0450889718883623656),
            (5000.0, 4.25857159570816038),
            (5e9, 11.166351874665255765),
        ];
        for (x, want) in ratios {
            let got = ln_gamma_half_ratio(x);
            assert!((got - want).abs() <= 2e-15 * want, "x={x}: {got} vs {want}");
        }
        for (z, nu, want) in [
            (0.0, 1e10, -0.91893853322967274178),
            (3.0, 1e6, -5.4189230333059220431),
        ] {
            let got = ln_student_pdf(z, nu);
            assert!(
                (got - want).abs() <= 1e-14 * want.abs(),
                "z={z} ν={nu}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn student_cdf_closed_forms() {
        // ν = 1 (Cauchy): F(z) = ½ + atan(z)/π; ν = 2: F(z) = ½ + z / (2√(2 + z²)).
        for &z in &[-1e6f64, -30.0, -3.0, -0.5, 0.0, 0.25, 2.0, 40.0] {
            let cauchy = 0.5 + z.atan() / PI;
            let cauchy_ln = if z < -1.0 {
                // ½ + atan(z)/π = atan(−1/z)/π for z < 0, without cancellation
                ((-1.0 / z).atan() / PI).ln()
            } else {
                cauchy.ln()
            };
            let got = ln_student_cdf(z, 1.0);
            assert!(
                (got - cauchy_ln).abs() <= 1e-14 * (1.0 + cauchy_ln.abs()),
                "cauchy z={z}: {got} vs {cauchy_ln}"
            );
            let t2 = 0.5 + z / (2.0 * (2.0 + z * z).sqrt());
            if t2 > 1e-6 {
                let got = ln_student_cdf(z, 2.0).exp();
                assert!((got - t2).abs() <= 1e-14, "t2 z={z}: {got} vs {t2}");
            }
        }
    }
}
