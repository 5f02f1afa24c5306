//! Gauss–Legendre rules on [−1, 1], computed by Newton's method on the three-term recurrence.

/// An m-point Gauss–Legendre rule on [−1, 1]: exact for polynomials of degree ≤ 2m − 1.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussLegendre {
    nodes: Vec<f64>,
    weights: Vec<f64>,
}

impl GaussLegendre {
    /// The m-point rule (m ≥ 1).
    pub fn new(m: usize) -> Self {
        let m = m.max(1);
        let mut nodes = vec![0.0; m];
        let mut weights = vec![0.0; m];
        let mf = m as f64;
        for i in 0..m.div_ceil(2) {
            // Tricomi's initial guess for the i-th largest root.
            let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (mf + 0.5)).cos();
            let mut dp = 1.0;
            for _ in 0..100 {
                let (p, d) = legendre(m, x);
                dp = d;
                let dx = p / d;
                x -= dx;
                if dx.abs() < 1e-16 {
                    break;
                }
            }
            let (_, d) = legendre(m, x);
            if d != 0.0 {
                dp = d;
            }
            let w = 2.0 / ((1.0 - x * x) * dp * dp);
            nodes[i] = -x;
            nodes[m - 1 - i] = x;
            weights[i] = w;
            weights[m - 1 - i] = w;
        }
        if m % 2 == 1 {
            nodes[m / 2] = 0.0;
        }
        Self { nodes, weights }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false (a rule has at least one point).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Nodes and weights mapped to [a, b], in increasing order.
    pub fn on(&self, a: f64, b: f64) -> impl Iterator<Item = (f64, f64)> + '_ {
        let c = 0.5 * (a + b);
        let h = 0.5 * (b - a);
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(move |(&x, &w)| (c + h * x, h * w))
    }
}

/// (P_m(x), P_m'(x)).
fn legendre(m: usize, x: f64) -> (f64, f64) {
    let mut p0 = 1.0;
    let mut p1 = x;
    if m == 0 {
        return (1.0, 0.0);
    }
    for k in 2..=m {
        let kf = k as f64;
        let p2 = ((2.0 * kf - 1.0) * x * p1 - (kf - 1.0) * p0) / kf;
        p0 = p1;
        p1 = p2;
    }
    let d = m as f64 * (x * p1 - p0) / (x * x - 1.0);
    (p1, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrates_polynomials_exactly() {
        for m in [1, 2, 5, 16, 33, 64] {
            let rule = GaussLegendre::new(m);
            for deg in 0..(2 * m) {
                let got: f64 = rule.on(0.0, 2.0).map(|(x, w)| w * x.powi(deg as i32)).sum();
                let want = 2f64.powi(deg as i32 + 1) / (deg as f64 + 1.0);
                assert!(
                    (got - want).abs() <= 64.0 * f64::EPSILON * want,
                    "m={m} deg={deg}: {got} vs {want}"
                );
            }
        }
    }
}
