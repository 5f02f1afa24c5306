//! Closed forms (and exact finite algorithms) for particular noises, with their derivations.
//!
//! All take scores at scale 1 (divide by the temperature first).
//!
//! * **Gumbel → softmax** (the article): with u = e^{−x}, G(x) = exp(−u Z), Z = Σ e^{mu_j} and
//!   h(z) = e^{−z}, so p_i = e^{mu_i} ∫_0^∞ e^{−uZ} du = e^{mu_i}/Z. [`softmax`].
//! * **Exponential**: every F(x − mu_j) vanishes for x < M, so put x ≥ M, s = e^{−x} = e^{−M} t:
//!   p_i = r_i ∫_0^1 Π_{j≠i} (1 − r_j t) dt with r_j = e^{mu_j − M}. The integrand is a
//!   polynomial of degree n − 1, so Gauss–Legendre with ⌈n/2⌉ points is exact. (Expanding into
//!   elementary symmetric polynomials would be an alternating sum that cancels catastrophically.)
//!   [`exponential`]; for n = 2, p_max = 1 − e^{−|d|}/2.
//! * **Uniform [0, 1]**: p_i = ∫ 1[0 ≤ x − mu_i ≤ 1] Π_{j≠i} clamp(x − mu_j, 0, 1) dx is piecewise
//!   polynomial with breaks at mu_j and mu_j + 1; on each piece it has degree ≤ n − 1, so
//!   Gauss–Legendre with ⌈n/2⌉ points per piece is exact. [`uniform`]; for n = 2 and
//!   d = mu_1 − mu_2: 0, (1+d)²/2, 1 − (1−d)²/2, 1 on d ≤ −1, [−1, 0], [0, 1], ≥ 1.
//! * **n = 2** for any noise: p_1 = P(eps_2 − eps_1 < d), the cdf of the difference of two noises.
//!   Normal: Φ(d/√2) ([`gauss_pair`]). Laplace: the difference has density (1 + |t|) e^{−|t|}/4,
//!   so p_1 = 1 − (2 + d) e^{−d}/4 for d ≥ 0 ([`laplace_pair`]). Cauchy (Student ν = 1): the
//!   difference is Cauchy with scale 2, p_1 = ½ + atan(d/2)/π ([`cauchy_pair`]).
//! * **Gumbel-min** (F(z) = 1 − exp(−e^{z})), inclusion–exclusion over the product:
//!   p_i = Σ_{A ⊆ {1..n}∖{i}} (−1)^{|A|} w_i / (w_i + Σ_{j∈A} w_j), w_j = e^{−mu_j}; 2^{n−1} alternating
//!   terms, for reference values with n ≤ 12 only ([`gumbel_min`]).

use crate::gauss_legendre::GaussLegendre;

/// softmax(mu) = exp(mu_i − M)/Σ_j exp(mu_j − M) (the max is subtracted before exp).
pub fn softmax(mu: &[f64]) -> Vec<f64> {
    let m = mu.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut p: Vec<f64> = mu.iter().map(|&x| (x - m).exp()).collect();
    let z: f64 = p.iter().sum();
    for x in &mut p {
        *x /= z;
    }
    p
}

/// Softmax Jacobian diag(p) − p pᵀ.
pub fn softmax_jacobian(p: &[f64]) -> Vec<Vec<f64>> {
    let n = p.len();
    (0..n)
        .map(|i| {
            (0..n)
                .map(|k| {
                    if i == k {
                        p[i] - p[i] * p[k]
                    } else {
                        -p[i] * p[k]
                    }
                })
                .collect()
        })
        .collect()
}

/// Softmax JVP p ⊙ (v − ⟨p, v⟩).
pub fn softmax_jvp(p: &[f64], v: &[f64]) -> Vec<f64> {
    let pv: f64 = p.iter().zip(v).map(|(a, b)| a * b).sum();
    p.iter().zip(v).map(|(pi, vi)| pi * (vi - pv)).collect()
}

/// Exponential-noise map, exact (Gauss–Legendre in t with ⌈n/2⌉ points), O(n²).
pub fn exponential(mu: &[f64]) -> Vec<f64> {
    let n = mu.len();
    let m = mu.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let r: Vec<f64> = mu.iter().map(|&x| (x - m).exp()).collect();
    let rule = GaussLegendre::new(n.div_ceil(2));
    (0..n)
        .map(|i| {
            let integral: f64 = rule
                .on(0.0, 1.0)
                .map(|(t, w)| {
                    let prod: f64 = r
                        .iter()
                        .enumerate()
                        .filter(|&(j, _)| j != i)
                        .map(|(_, &rj)| 1.0 - rj * t)
                        .product();
                    w * prod
                })
                .sum();
            r[i] * integral
        })
        .collect()
}

/// Uniform[0, 1]-noise map, exact (piecewise Gauss–Legendre), O(n³): for reference use.
pub fn uniform(mu: &[f64]) -> Vec<f64> {
    let n = mu.len();
    let m = mu.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let rule = GaussLegendre::new(n.div_ceil(2).max(1));
    let mut cuts: Vec<f64> = mu
        .iter()
        .flat_map(|&x| [x, x + 1.0])
        .filter(|&x| x > m && x < m + 1.0)
        .collect();
    cuts.push(m);
    cuts.push(m + 1.0);
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    (0..n)
        .map(|i| {
            let mut total = 0.0;
            for pair in cuts.windows(2) {
                // the winner's value x must also lie in [mu_i, mu_i + 1]
                let a = pair[0].max(mu[i]);
                let b = pair[1].min(mu[i] + 1.0);
                if b <= a {
                    continue;
                }
                total += rule
                    .on(a, b)
                    .map(|(x, w)| {
                        let prod: f64 = mu
                            .iter()
                            .enumerate()
                            .filter(|&(j, _)| j != i)
                            .map(|(_, &mj)| (x - mj).clamp(0.0, 1.0))
                            .product();
                        w * prod
                    })
                    .sum::<f64>();
            }
            total
        })
        .collect()
}

/// Normal noise, n = 2: `[p_0, p_1] = [Φ((mu_0 − mu_1)/√2), Φ((mu_1 − mu_0)/√2)]`.
pub fn gauss_pair(mu0: f64, mu1: f64) -> [f64; 2] {
    let d = (mu0 - mu1) / std::f64::consts::SQRT_2;
    // Φ(d) = ½ erfc(−d/√2), both halves from erfc so neither loses digits to cancellation
    let p0 = 0.5 * libm::erfc(-d / std::f64::consts::SQRT_2);
    let p1 = 0.5 * libm::erfc(d / std::f64::consts::SQRT_2);
    [p0, p1]
}

/// Laplace noise, n = 2: p_0 = 1 − (2 + d) e^{−d}/4 for d = mu_0 − mu_1 ≥ 0 (mirror for d < 0).
pub fn laplace_pair(mu0: f64, mu1: f64) -> [f64; 2] {
    let d = (mu0 - mu1).abs();
    let small = (2.0 + d) * (-d).exp() / 4.0;
    if mu0 >= mu1 {
        [1.0 - small, small]
    } else {
        [small, 1.0 - small]
    }
}

/// Cauchy noise (Student ν = 1), n = 2: p_0 = ½ + atan(d/2)/π, d = mu_0 − mu_1.
pub fn cauchy_pair(mu0: f64, mu1: f64) -> [f64; 2] {
    let d = (mu0 - mu1).abs();
    // ½ − atan(d/2)/π = atan(2/d)/π for d > 0, without cancellation
    let small = if d == 0.0 {
        0.5
    } else {
        (2.0 / d).atan() / std::f64::consts::PI
    };
    if mu0 >= mu1 {
        [1.0 - small, small]
    } else {
        [small, 1.0 - small]
    }
}

/// Gumbel-min noise (F(z) = 1 − exp(−e^z)) by inclusion–exclusion; n ≤ 20 (2^{n−1} terms).
pub fn gumbel_min(mu: &[f64]) -> Vec<f64> {
    let n = mu.len();
    let m = mu.iter().copied().fold(f64::INFINITY, f64::min);
    // w_j = e^{−mu_j}, scaled by e^{m} (the ratio is scale free)
    let w: Vec<f64> = mu.iter().map(|&x| (m - x).exp()).collect();
    (0..n)
        .map(|i| {
            let others: Vec<f64> = (0..n).filter(|&j| j != i).map(|j| w[j]).collect();
            let mut total = 0.0;
            for mask in 0u32..(1u32 << others.len()) {
                let mut s = w[i];
                for (k, &wk) in others.iter().enumerate() {
                    if mask & (1 << k) != 0 {
                        s += wk;
                    }
                }
                let sign = if mask.count_ones() % 2 == 0 {
                    1.0
                } else {
                    -1.0
                };
                total += sign * w[i] / s;
            }
            total
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_table_values() {
        // spec §10 (10 significant digits)
        let close =
            |a: &[f64], b: &[f64], tol: f64| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol);
        assert!(close(
            &softmax(&[1.0, 2.0, 3.0]),
            &[0.09003057317, 0.2447284711, 0.6652409558],
            1e-10
        ));
        assert!(close(
            &exponential(&[1.0, 2.0, 3.0]),
            &[0.05936979689, 0.1756418759, 0.7649883273],
            1e-10
        ));
        let e = (-1f64).exp() / 2.0;
        assert!(close(&exponential(&[0.0, 1.0]), &[e, 1.0 - e], 1e-15));
        assert!(close(&uniform(&[0.0, 0.5]), &[0.125, 0.875], 1e-15));
        assert!(close(
            &uniform(&[0.0, 0.25, 0.5]),
            &[7.0 / 96.0, 25.0 / 96.0, 2.0 / 3.0],
            1e-15
        ));
        assert!(close(
            &uniform(&[0.0, 0.5, 1.0]),
            &[0.0, 0.125, 0.875],
            1e-15
        ));
        assert!(close(&uniform(&[0.0, 0.5, 1.5]), &[0.0, 0.0, 1.0], 1e-15));
        assert!(close(
            &gumbel_min(&[1.0, 2.0, 3.0]),
            &[0.05338529917, 0.2447284711, 0.7018862298],
            1e-10
        ));
        assert!(close(
            &gauss_pair(0.0, 1.0),
            &[0.2397500611, 0.7602499389],
            1e-10
        ));
    }

    #[test]
    fn exponential_is_stable_for_many_classes() {
        // 200 classes: the symmetric-polynomial expansion would be garbage here.
        let mu: Vec<f64> = (0..200).map(|k| (k as f64 * 0.37).sin() * 3.0).collect();
        let p = exponential(&mu);
        let s: f64 = p.iter().sum();
        assert!((s - 1.0).abs() < 1e-13, "sum {s}");
        assert!(p.iter().all(|&x| x > 0.0));
    }

    #[test]
    fn pairs_agree_with_uniform_formula() {
        for &d in &[-1.5, -0.7, -0.2, 0.0, 0.3, 0.9, 2.0] {
            let p = uniform(&[d, 0.0]);
            let want = if d <= -1.0 {
                0.0
            } else if d <= 0.0 {
                (1.0 + d) * (1.0 + d) / 2.0
            } else if d <= 1.0 {
                1.0 - (1.0 - d) * (1.0 - d) / 2.0
            } else {
                1.0
            };
            assert!((p[0] - want).abs() < 1e-15, "d={d}");
        }
    }
}
