//! Gauss–Hermite quadrature for expectations under the standard normal law.
//!
//! Nodes x_i are the roots of the physicists' Hermite polynomial H_n, found by Newton's method
//! on the orthonormal recurrence p_j = x √(2/j) p_{j−1} − √((j−1)/j) p_{j−2}, p_0 = π^{−1/4};
//! weights are w_i = 2 / p_n'(x_i)² with p_n' = √(2n) p_{n−1}. Then
//! E_{ε∼N(0,1)} f(ε) ≈ π^{−1/2} Σ_i w_i f(√2 x_i), exact for polynomials of degree < 2n.

/// Nodes and weights of the n-point rule for ∫ e^{−x²} f(x) dx (weights sum to √π).
///
/// The positive roots are bracketed by sign changes of p_n on a grid over [0, √(2n+1)] (the
/// grid is refined until all ⌊n/2⌋ are found) and polished by bisection-safeguarded Newton
/// steps. Intended for n ≤ 500 (p_n grows like e^{x²/2} and must not overflow).
///
/// # Panics
/// If n = 0 or n > 500.
pub fn gauss_hermite(n: usize) -> (Vec<f64>, Vec<f64>) {
    assert!(n > 0 && n <= 500, "gauss_hermite needs 1 ≤ n ≤ 500");
    let nf = n as f64;
    let p0 = std::f64::consts::PI.powf(-0.25);
    // Returns (p_n(z), p_{n−1}(z)).
    let eval = |z: f64| {
        let (mut p1, mut p2) = (p0, 0.0);
        for j in 1..=n {
            let jf = j as f64;
            let p3 = p2;
            p2 = p1;
            p1 = z * (2.0 / jf).sqrt() * p2 - ((jf - 1.0) / jf).sqrt() * p3;
        }
        (p1, p2)
    };
    let zmax = (2.0 * nf + 1.0).sqrt() + 1.0;
    let want = n / 2;
    let mut cells = 16 * n;
    let positive = loop {
        let h = zmax / cells as f64;
        let mut roots = Vec::with_capacity(want);
        // Start just right of 0 so the root at 0 of odd n is not counted.
        let mut a = h * 1e-3;
        let mut fa = eval(a).0;
        for c in 1..=cells {
            let b = c as f64 * h;
            let fb = eval(b).0;
            if fa.signum() != fb.signum() {
                roots.push(polish(&eval, n, a, b, fa));
            }
            a = b;
            fa = fb;
        }
        if roots.len() == want || cells > 1 << 20 {
            break roots;
        }
        cells *= 4;
    };
    assert_eq!(positive.len(), want, "gauss_hermite lost roots");
    let weight = |z: f64| {
        let pp = (2.0 * nf).sqrt() * eval(z).1;
        2.0 / (pp * pp)
    };
    let mut nodes = Vec::with_capacity(n);
    let mut weights = Vec::with_capacity(n);
    for &z in positive.iter().rev() {
        nodes.push(z);
        weights.push(weight(z));
    }
    if n % 2 == 1 {
        nodes.push(0.0);
        weights.push(weight(0.0));
    }
    for &z in &positive {
        nodes.push(-z);
        weights.push(weight(z));
    }
    (nodes, weights)
}

/// A root of p_n in [a, b] (sign change, `fa` = p_n(a)): Newton steps with
/// p_n' = √(2n) p_{n−1} while they stay inside the bracket, bisection otherwise.
fn polish(eval: &impl Fn(f64) -> (f64, f64), n: usize, mut a: f64, mut b: f64, mut fa: f64) -> f64 {
    let scale = (2.0 * n as f64).sqrt();
    let mut z = 0.5 * (a + b);
    for _ in 0..200 {
        let (pn, pn1) = eval(z);
        if pn == 0.0 {
            return z;
        }
        if pn.signum() == fa.signum() {
            a = z;
            fa = pn;
        } else {
            b = z;
        }
        let newton = z - pn / (scale * pn1);
        let next = if newton > a && newton < b {
            newton
        } else {
            0.5 * (a + b)
        };
        if (next - z).abs() <= 4.0 * f64::EPSILON * z.abs().max(1.0) {
            return next;
        }
        z = next;
    }
    z
}

/// An n-point Gauss–Hermite rule computed once, for many expectations under N(0, 1).
#[derive(Debug, Clone, PartialEq)]
pub struct GaussHermite {
    nodes: Vec<f64>,
    weights: Vec<f64>,
}

impl GaussHermite {
    /// The n-point rule ([`gauss_hermite`]).
    ///
    /// # Panics
    /// If n = 0 or n > 500.
    pub fn new(n: usize) -> Self {
        let (nodes, weights) = gauss_hermite(n);
        Self { nodes, weights }
    }

    /// E_{ε∼N(0,1)} f(ε) = π^{−1/2} Σ_i w_i f(√2 x_i).
    pub fn expect(&self, f: impl Fn(f64) -> f64) -> f64 {
        let s: f64 = self
            .nodes
            .iter()
            .zip(&self.weights)
            .map(|(&xi, &wi)| wi * f(std::f64::consts::SQRT_2 * xi))
            .sum();
        s / std::f64::consts::PI.sqrt()
    }
}

/// Nodes and weights of the n-point Gauss–Legendre rule on [−1, 1] (weights sum to 2): roots
/// of P_n by Newton's method from cos(π(i − ¼)/(n + ½)), w_i = 2/((1 − x_i²) P_n'(x_i)²).
///
/// # Panics
/// If n = 0.
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    assert!(n > 0, "gauss_legendre needs n ≥ 1");
    let nf = n as f64;
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    for i in 0..n.div_ceil(2) {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (nf + 0.5)).cos();
        let mut dp = 0.0;
        for _ in 0..100 {
            // P_n(x) and P_n'(x) by the three-term recurrence.
            let (mut p0, mut p1) = (1.0, x);
            for j in 2..=n {
                let jf = j as f64;
                (p0, p1) = (p1, ((2.0 * jf - 1.0) * x * p1 - (jf - 1.0) * p0) / jf);
            }
            let pn = if n == 1 { x } else { p1 };
            let pm = if n == 1 { 1.0 } else { p0 };
            dp = nf * (x * pn - pm) / (x * x - 1.0);
            let dx = pn / dp;
            x -= dx;
            if dx.abs() < 1e-16 {
                break;
            }
        }
        nodes[i] = -x;
        nodes[n - 1 - i] = x;
        let w = 2.0 / ((1.0 - x * x) * dp * dp);
        weights[i] = w;
        weights[n - 1 - i] = w;
    }
    (nodes, weights)
}

/// E_{ε∼N(0,1)} f(ε) by the n-point Gauss–Hermite rule.
///
/// # Panics
/// If n = 0.
pub fn expect_std_normal(n: usize, f: impl Fn(f64) -> f64) -> f64 {
    GaussHermite::new(n).expect(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrates_normal_moments() {
        // Exact for degree < 2n; tolerance 1e-12 relative (sums of n terms).
        for n in [1usize, 2, 5, 20, 200] {
            let m0 = expect_std_normal(n, |_| 1.0);
            assert!((m0 - 1.0).abs() < 1e-12, "n={n}: {m0}");
            if n >= 2 {
                assert!(
                    (expect_std_normal(n, |e| e * e) - 1.0).abs() < 1e-12,
                    "n={n}"
                );
            }
            if n >= 5 {
                assert!(
                    (expect_std_normal(n, |e| e.powi(4)) - 3.0).abs() < 1e-11,
                    "n={n}"
                );
                assert!(
                    (expect_std_normal(n, |e| e.powi(8)) - 105.0).abs() < 1e-9,
                    "n={n}"
                );
            }
        }
        // E cos(ε) = e^{−1/2}, smooth: 40 nodes reach 1e-14.
        let (x, w) = gauss_legendre(8);
        let int = |f: &dyn Fn(f64) -> f64| x.iter().zip(&w).map(|(a, b)| b * f(*a)).sum::<f64>();
        assert!((int(&|_| 1.0) - 2.0).abs() < 1e-14);
        assert!((int(&|t| t.powi(14)) - 2.0 / 15.0).abs() < 1e-14);
        assert!((int(&|t| t.exp()) - (1f64.exp() - (-1f64).exp())).abs() < 1e-14);
        let (x, _) = gauss_legendre(7);
        assert!(x[3].abs() < 1e-15 && x.windows(2).all(|p| p[0] < p[1]));
        assert!((expect_std_normal(40, f64::cos) - (-0.5f64).exp()).abs() < 1e-13);
    }
}
