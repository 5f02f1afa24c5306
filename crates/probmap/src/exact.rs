//! Shared-node quadrature: all p_i (and Jacobian products) of one score vector in O(n·Q).
//!
//! With `d_j = mu_j − M ≤ 0` (M = max mu) and `y = x − M` the winner's value relative to M,
//!
//! ```text
//! p_i = ∫ f(y − d_i) Π_{j≠i} F(y − d_j) dy = ∫ h(y − d_i) G(y) dy,
//! G(y) = Π_j F(y − d_j)   (cdf of the max),   h = f / F   (reversed hazard).
//! ```
//!
//! G is shared by every i, so one pass over j per node gives `log G` and a second pass gives
//! every integrand `exp(log h(y − d_i) + log G)`: O(n) per node, O(n·Q) per vector.
//!
//! **Panels.** The break points are the quantiles of the max: the y where
//! G(y) = v for a fixed list of levels v (graded geometrically towards both tails), found by
//! safeguarded Newton on `log G` (slope Σ h), plus `d_j + kink` for the non-smooth points of the
//! noise (Laplace, uniform, exponential), plus the finite support ends. Each panel gets the same
//! m-point Gauss–Legendre rule. The mass cut off at an unbounded end is `tail` (default 1e-16),
//! and every integrand is ≥ 0 with Σ_i integrand_i = G', so each p_i loses at most that much.
//!
//! **Error estimate.** [`Quadrature::evaluate`] also runs the m/2-point rule on the same
//! panels; the reported error is `max_i |p_i(m) − p_i(m/2)| + |Σ p − mass| + cut-off mass`,
//! a pessimistic bound for the m-point result (the m/2 rule is the worse of the two).
//!
//! **Jacobian** (integrating the exact derivative, not differentiating the rule):
//! `J_ik = −∫ h(y−d_i) h(y−d_k) G dy` for i ≠ k, `J_ii = −Σ_{k≠i} J_ik`;
//! and `(J v)_i = ∫ G h_i (v_i H − S) dy` with `H = Σ_k h_k`, `S = Σ_k h_k v_k` in O(n·Q).
//! J is symmetric, so the VJP equals the JVP.

use crate::gauss_legendre::GaussLegendre;
use crate::noise::Noise;
use crate::{Error, Result};

/// Tuning of the shared-node quadrature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuadConfig {
    /// Gauss–Legendre points per panel (m ≥ 2).
    pub nodes_per_panel: usize,
    /// Probability mass cut off at each unbounded end of the max's distribution, in (0, 1e-3].
    pub tail: f64,
    /// At most this many distinct top scores contribute kink break points.
    pub max_kink_scores: usize,
    /// Panel density: 1 = the default grading; 2 splits every panel in two, and so on.
    pub refine: usize,
    /// Which list of tail levels places the panel break points.
    pub grading: Grading,
}

/// How densely the panel break points (quantiles of the max) are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grading {
    /// About 25 panels for light tails, 50 for polynomial tails: the 1e-12 setting.
    Fine,
    /// About 12 panels: enough for ≈1e-10 with light tails, at a quarter of the cost.
    Coarse,
}

impl QuadConfig {
    /// Settings for ≤ 1e-12 absolute error on every p_i (the crate default).
    pub const ACCURATE: QuadConfig = QuadConfig {
        nodes_per_panel: 16,
        tail: 1e-16,
        max_kink_scores: 256,
        refine: 1,
        grading: Grading::Fine,
    };

    /// Cheaper settings (about 1e-10 absolute error for light-tailed noise on the reference
    /// vectors, error estimate ≈ 1e-6), e.g. for training: a quarter of the nodes.
    pub const FAST: QuadConfig = QuadConfig {
        nodes_per_panel: 8,
        tail: 1e-10,
        max_kink_scores: 32,
        refine: 1,
        grading: Grading::Coarse,
    };

    pub(crate) fn validate(&self) -> Result<()> {
        if self.nodes_per_panel < 2 || self.nodes_per_panel > 512 {
            return Err(Error::InvalidConfig {
                msg: format!(
                    "nodes_per_panel must be in 2..=512, got {}",
                    self.nodes_per_panel
                ),
            });
        }
        if !(self.tail > 0.0 && self.tail <= 1e-3) {
            return Err(Error::InvalidConfig {
                msg: format!("tail must be in (0, 1e-3], got {}", self.tail),
            });
        }
        if self.refine == 0 || self.refine > 64 {
            return Err(Error::InvalidConfig {
                msg: format!("refine must be in 1..=64, got {}", self.refine),
            });
        }
        Ok(())
    }
}

impl Default for QuadConfig {
    fn default() -> Self {
        Self::ACCURATE
    }
}

/// Quadrature result with its error estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The probabilities, in the order of the input scores (not renormalised).
    pub p: Vec<f64>,
    /// Estimated bound on `max_i |p_i − exact p_i|`.
    pub error: f64,
    /// Number of quadrature nodes used (Q).
    pub nodes: usize,
}

// Levels v of G(y) = v used as panel break points. Light tails need few panels; polynomial
// tails (Student-t) get one panel per decade of tail mass.
const LIGHT_LOWER: &[f64] = &[1e-12, 1e-8, 1e-5, 1e-3, 0.02, 0.1, 0.3, 0.55, 0.8];
const LIGHT_UPPER: &[f64] = &[0.05, 5e-3, 3e-4, 1e-6, 1e-9, 1e-12];
const COARSE_LOWER: &[f64] = &[1e-7, 1e-4, 0.01, 0.1, 0.3, 0.6, 0.85];
const COARSE_UPPER: &[f64] = &[0.04, 2e-3, 1e-5, 1e-8];
const HEAVY_LOWER: &[f64] = &[
    1e-15, 1e-14, 1e-13, 1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 3e-3, 0.01,
    0.03, 0.07, 0.15, 0.3, 0.45, 0.6, 0.75, 0.88,
];
const HEAVY_UPPER: &[f64] = &[
    0.06, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 3e-7, 1e-7, 3e-8, 1e-8, 3e-9,
    1e-9, 3e-10, 1e-10, 3e-11, 1e-11, 3e-12, 1e-12, 3e-13, 1e-13, 1e-14, 1e-15,
];

/// The quadrature engine for one configuration (holds the Gauss–Legendre rules).
#[derive(Debug, Clone, PartialEq)]
pub struct Quadrature {
    config: QuadConfig,
    rule: GaussLegendre,
    half: GaussLegendre,
}

/// Scores sorted in decreasing order, relative to the maximum.
struct Sorted {
    /// d[k] = mu[order[k]] − M, decreasing, d[0] = 0.
    d: Vec<f64>,
    order: Vec<usize>,
}

impl Sorted {
    fn new(mu: &[f64]) -> Self {
        let mut order: Vec<usize> = (0..mu.len()).collect();
        order.sort_by(|&a, &b| mu[b].total_cmp(&mu[a]));
        let m = mu[order[0]];
        let d = order.iter().map(|&k| mu[k] - m).collect();
        Self { d, order }
    }
}

/// Panel break points, and the mass beyond them that is shared out analytically.
struct Panels {
    /// Increasing; the first and last are the integration limits.
    pts: Vec<f64>,
    far: Far,
}

/// Heavy tails whose cut-off level lies too far out (Student ν = 0.001 keeps a quarter of its
/// mass beyond |z| = 1e300): the mass of the max below the first point (`lower`) and above the
/// last (`upper`) is shared equally by all classes. There |y| ≥ 1e16·(1 + |d_min|), every
/// shift d_j is negligible, and each class's share of the density g of the max is
/// `h_i / Σ_k h_k = (1 + r_i)/n`; `rel_lower`, `rel_upper` are max_i |r_i| at the two limits
/// (|r_i| shrinks like |d_min|/|y| beyond them), so p_i is off by at most
/// `(lower·rel_lower + upper·rel_upper)/n`.
#[derive(Debug, Clone, Copy, Default)]
struct Far {
    lower: f64,
    upper: f64,
    rel_lower: f64,
    rel_upper: f64,
}

impl Far {
    fn share(&self, n: usize) -> f64 {
        (self.lower + self.upper) / n as f64
    }

    fn error(&self, n: usize) -> f64 {
        (self.lower * self.rel_lower + self.upper * self.rel_upper) / n as f64
    }
}

/// Per-node scratch: log F(y − d_j) for the prefix where it is not ≈ 0.
struct Scratch {
    ln_f: Vec<f64>,
    ln_h: Vec<f64>,
}

/// What one node contributes: weight, log G, and log h for the prefix of sorted classes whose
/// contribution does not underflow (the rest contribute exactly 0 in f64).
struct Node<'a> {
    w: f64,
    ln_g: f64,
    ln_h: &'a [f64],
}

impl Quadrature {
    /// An engine with the given configuration.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for out-of-range settings.
    pub fn new(config: QuadConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            rule: GaussLegendre::new(config.nodes_per_panel),
            half: GaussLegendre::new(config.nodes_per_panel / 2),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &QuadConfig {
        &self.config
    }

    /// p for scores `mu` (already divided by the scale), without the error estimate.
    /// `mu` must be non-empty and finite (checked by the caller).
    pub fn probs(&self, noise: &dyn Noise, mu: &[f64]) -> Vec<f64> {
        if mu.len() == 1 {
            return vec![1.0];
        }
        let s = Sorted::new(mu);
        let panels = self.breaks(noise, &s.d);
        let sorted = self.integrate_probs(noise, &s.d, &panels, &self.rule);
        unsort(&sorted, &s.order)
    }

    /// p with an error estimate (runs the m/2-point rule on the same panels as well).
    pub fn evaluate(&self, noise: &dyn Noise, mu: &[f64]) -> Evaluation {
        let n = mu.len();
        if n == 1 {
            return Evaluation {
                p: vec![1.0],
                error: 0.0,
                nodes: 0,
            };
        }
        let s = Sorted::new(mu);
        let panels = self.breaks(noise, &s.d);
        let p = self.integrate_probs(noise, &s.d, &panels, &self.rule);
        let coarse = self.integrate_probs(noise, &s.d, &panels, &self.half);
        let diff = p
            .iter()
            .zip(&coarse)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let (lo, hi) = noise.support();
        let far = panels.far;
        // an unbounded end is either cut at the level `tail` or shared out analytically
        let lo_cut = if lo.is_finite() || far.lower > 0.0 {
            0.0
        } else {
            self.config.tail
        };
        let hi_cut = if hi.is_finite() || far.upper > 0.0 {
            0.0
        } else {
            self.config.tail
        };
        let mass = 1.0 - lo_cut - hi_cut;
        let sum: f64 = p.iter().sum();
        let error = diff + (sum - mass).abs() + lo_cut + hi_cut + far.error(n);
        Evaluation {
            // NaN (a score range beyond f64) must not pass for a small error
            error: if error.is_nan() { f64::INFINITY } else { error },
            p: unsort(&p, &s.order),
            nodes: (panels.pts.len() - 1) * self.rule.len(),
        }
    }

    /// The full Jacobian ∂p_i/∂mu_k (row i, column k), O(n²·Q); symmetric with zero row sums.
    pub fn jacobian(&self, noise: &dyn Noise, mu: &[f64]) -> Vec<Vec<f64>> {
        let n = mu.len();
        if n == 1 {
            return vec![vec![0.0]];
        }
        let s = Sorted::new(mu);
        // The far tails (heavy noise) are left out: there h ≲ 1/|y| ≤ 1e-16.
        let panels = self.breaks(noise, &s.d);
        let mut jac = vec![vec![0.0; n]; n];
        let mut h = vec![0.0; n];
        self.for_each_node(noise, &s.d, &panels.pts, &self.rule, |node| {
            let len = node.ln_h.len();
            let root = 0.5 * node.ln_g + 0.5 * node.w.ln();
            for (hk, &lh) in h.iter_mut().zip(node.ln_h) {
                // sqrt(w G) h_k so that the product of two is w G h_i h_k.
                *hk = (lh + root).exp();
            }
            for i in 0..len {
                if h[i] == 0.0 {
                    continue;
                }
                let (row_i, hi) = (&mut jac[i], h[i]);
                for k in (i + 1)..len {
                    row_i[k] -= hi * h[k];
                }
            }
        });
        // Mirror the upper triangle (sorted order), set the diagonal from the zero row sums.
        #[allow(clippy::needless_range_loop)] // reads jac[i][k] while writing jac[k][i]
        for i in 0..n {
            for k in (i + 1)..n {
                jac[k][i] = jac[i][k];
            }
        }
        for (i, row) in jac.iter_mut().enumerate() {
            let off: f64 = row
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != i)
                .map(|(_, x)| x)
                .sum();
            row[i] = -off;
        }
        let mut out = vec![vec![0.0; n]; n];
        for (a, &oa) in s.order.iter().enumerate() {
            for (b, &ob) in s.order.iter().enumerate() {
                out[oa][ob] = jac[a][b];
            }
        }
        out
    }

    /// J v in O(n·Q) (equal to vᵀ J because J is symmetric).
    pub fn jvp(&self, noise: &dyn Noise, mu: &[f64], v: &[f64]) -> Vec<f64> {
        let n = mu.len();
        if n == 1 {
            return vec![0.0];
        }
        let s = Sorted::new(mu);
        let vs: Vec<f64> = s.order.iter().map(|&k| v[k]).collect();
        let panels = self.breaks(noise, &s.d);
        let mut out = vec![0.0; n];
        let mut h = vec![0.0; n];
        self.for_each_node(noise, &s.d, &panels.pts, &self.rule, |node| {
            let len = node.ln_h.len();
            let (mut big_h, mut big_s) = (0.0, 0.0);
            for k in 0..len {
                h[k] = node.ln_h[k].exp();
                big_h += h[k];
                big_s += h[k] * vs[k];
            }
            let wg = node.w * node.ln_g.exp();
            for k in 0..len {
                out[k] += wg * h[k] * (vs[k] * big_h - big_s);
            }
        });
        unsort(&out, &s.order)
    }

    fn integrate_probs(
        &self,
        noise: &dyn Noise,
        d: &[f64],
        panels: &Panels,
        rule: &GaussLegendre,
    ) -> Vec<f64> {
        let mut p = vec![panels.far.share(d.len()); d.len()];
        self.for_each_node(noise, d, &panels.pts, rule, |node| {
            let shift = node.ln_g + node.w.ln();
            for (pi, &lh) in p.iter_mut().zip(node.ln_h) {
                *pi += (lh + shift).exp();
            }
        });
        p
    }

    /// Visits every quadrature node with log G and the log hazards of the sorted classes.
    fn for_each_node(
        &self,
        noise: &dyn Noise,
        d: &[f64],
        breaks: &[f64],
        rule: &GaussLegendre,
        mut visit: impl FnMut(Node<'_>),
    ) {
        let n = d.len();
        let mode = noise.mode();
        let mut scratch = Scratch {
            ln_f: vec![0.0; n],
            ln_h: vec![0.0; n],
        };
        for pair in breaks.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b <= a {
                continue;
            }
            for (y, w) in rule.on(a, b) {
                let (ln_g, k_stop) = ln_g_prefix(noise, d, y, &mut scratch.ln_f);
                if !ln_g.is_finite() {
                    continue;
                }
                let cut = ln_g + w.ln();
                let mut len = n;
                for (i, &di) in d.iter().enumerate() {
                    let z = y - di;
                    // past k_stop, log F(z) > −1e-17: log h = log f to within that
                    let ln_f = if i < k_stop { scratch.ln_f[i] } else { 0.0 };
                    let lh = noise.ln_pdf(z) - ln_f;
                    scratch.ln_h[i] = lh;
                    // Beyond the mode the reversed hazard decreases along the sorted classes,
                    // so once a contribution underflows all later ones do as well.
                    if z > mode && lh + cut < -760.0 {
                        len = i + 1;
                        break;
                    }
                }
                visit(Node {
                    w,
                    ln_g,
                    ln_h: &scratch.ln_h[..len],
                });
            }
        }
    }

    /// Panel break points in y, increasing, first and last are the integration limits.
    fn breaks(&self, noise: &dyn Noise, d: &[f64]) -> Panels {
        let n = d.len();
        let (a, b) = noise.support();
        let tail = self.config.tail;
        let heavy = noise.heavy_tailed();
        let mut far = Far::default();
        // Heavy tails: integrate no further out than |y| = far_y, where the shifts d_j no
        // longer matter, and share out the rest (see `Far`).
        let far_y = (1e16 * (1.0 - d[n - 1])).min(1e300);
        let (a, b) = if heavy {
            (a.max(-far_y), b.min(far_y))
        } else {
            (a, b)
        };
        let lo = if a.is_finite() && !heavy {
            a
        } else if heavy && ln_g_and_slope(noise, d, a).0 >= tail.ln() {
            far.lower = ln_g_and_slope(noise, d, a).0.exp();
            far.rel_lower = share_deviation(noise, d, a);
            a
        } else {
            solve_level(noise, d, tail.ln(), a, b)
        };
        let hi = if b.is_finite() && !heavy {
            b
        } else if heavy && -ln_g_and_slope(noise, d, b).0.exp_m1() >= tail {
            far.upper = -ln_g_and_slope(noise, d, b).0.exp_m1();
            far.rel_upper = share_deviation(noise, d, b);
            b
        } else {
            solve_level(noise, d, (-tail).ln_1p(), lo, b)
        };
        let (lower, upper) = match (self.config.grading, noise.heavy_tailed()) {
            (Grading::Coarse, _) => (COARSE_LOWER, COARSE_UPPER),
            (Grading::Fine, true) => (HEAVY_LOWER, HEAVY_UPPER),
            (Grading::Fine, false) => (LIGHT_LOWER, LIGHT_UPPER),
        };
        let mut pts = vec![lo, hi];
        for &v in lower.iter().filter(|&&v| v > tail) {
            pts.push(solve_level(noise, d, v.ln(), lo, hi));
        }
        for &t in upper.iter().filter(|&&t| t > tail) {
            pts.push(solve_level(noise, d, (-t).ln_1p(), lo, hi));
        }
        let kinks = noise.kinks();
        if !kinks.is_empty() {
            let mut distinct = 0;
            let mut prev = f64::NAN;
            for &dj in d {
                if dj == prev {
                    continue;
                }
                prev = dj;
                distinct += 1;
                if distinct > self.config.max_kink_scores {
                    break;
                }
                for &k in kinks {
                    let y = dj + k;
                    if y > lo && y < hi {
                        pts.push(y);
                    }
                }
                if n > 1 && dj + kinks.iter().fold(f64::INFINITY, |m, &k| m.min(k)) < lo - 1e3 {
                    break;
                }
            }
        }
        let mut centers = Vec::new();
        if heavy {
            // With polynomial tails a low score still wins with visible probability, and its
            // integrand is a bump of width ~1 (√ν for ν < 1) around y = d_j, possibly far from
            // the bulk of the max (Cauchy, mu = (0, 50): p_0 = 0.0127 from a bump at y = −50),
            // with power-law flanks. Such scores are the centers of a graded mesh below.
            let mut distinct = 0;
            let mut prev = f64::NAN;
            let mut scratch = vec![0.0; n];
            for &dj in d {
                if dj == prev {
                    continue;
                }
                prev = dj;
                distinct += 1;
                if distinct > 32 {
                    break;
                }
                // G(d_j) bounds the mass of the bump (the others must all be below d_j).
                if ln_g_prefix(noise, d, dj, &mut scratch).0 < tail.ln() {
                    continue;
                }
                if dj.is_finite() {
                    centers.push(dj);
                }
            }
        }
        pts.retain(|y| y.is_finite() && *y >= lo && *y <= hi);
        pts.sort_by(f64::total_cmp);
        pts.dedup_by(|b, a| (*b - *a).abs() <= 1e-13 * (1.0 + a.abs()));
        if heavy {
            // the top score is always a center: the tails of G are power laws in |y|
            centers.push(0.0);
            centers.sort_by(f64::total_cmp);
            centers.dedup();
            pts.extend(centers.iter().filter(|&&c| c > lo && c < hi));
            pts.sort_by(f64::total_cmp);
            pts.dedup_by(|b, a| (*b - *a).abs() <= 1e-13 * (1.0 + a.abs()));
            let pts = graded_mesh(&pts, &centers, 0.5 * noise.core_width());
            return self.refined(pts, far);
        }
        // Polynomial tails (Student ν < 1) make a decade of mass span many decades of y; keep
        // every tail panel within a factor 3 in |y| so the rule sees a smooth power law.
        let mut graded = Vec::with_capacity(pts.len());
        for pair in pts.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            graded.push(a);
            let (near, far) = (a.abs().min(b.abs()), a.abs().max(b.abs()));
            if a * b > 0.0 && near >= 2.0 && far > 3.0 * near {
                let steps = ((far / near).ln() / 3f64.ln()).ceil() as usize;
                let ratio = (far / near).powf(1.0 / steps as f64);
                let sign = a.signum();
                let mut inner: Vec<f64> = (1..steps)
                    .map(|s| sign * near * ratio.powi(s as i32))
                    .collect();
                inner.sort_by(f64::total_cmp);
                graded.extend(inner);
            }
        }
        graded.push(*pts.last().expect("at least lo and hi"));
        self.refined(graded, far)
    }

    /// Splits every panel into `refine` equal parts.
    fn refined(&self, mut pts: Vec<f64>, far: Far) -> Panels {
        if self.config.refine > 1 {
            let r = self.config.refine;
            let mut fine = Vec::with_capacity(pts.len() * r);
            for pair in pts.windows(2) {
                for s in 0..r {
                    fine.push(pair[0] + (pair[1] - pair[0]) * s as f64 / r as f64);
                }
            }
            fine.push(*pts.last().expect("at least lo and hi"));
            pts = fine;
        }
        Panels { pts, far }
    }
}

/// Subdivides the panels between `pts` (increasing; every center is one of them) so that each
/// panel is no wider than its distance to the nearest center, and no narrower than `core`:
/// a power law |y − c|^{−α} then varies by at most 2^α across a panel, which a 16-point
/// Gauss–Legendre rule integrates to ~1e-19 relative (Bernstein ellipse ρ = 3 + √8), and the
/// core of every bump is resolved.
fn graded_mesh(pts: &[f64], centers: &[f64], core: f64) -> Vec<f64> {
    // a hard cap against pathological inputs (33 centers × 2 sides × log2(1e316/core) ≈ 70k)
    const MAX_POINTS: usize = 400_000;
    let mut out = Vec::with_capacity(pts.len() * 4);
    for pair in pts.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        out.push(a);
        // nearest centers at or left of a and at or right of b (none lies inside (a, b))
        let k = centers.partition_point(|&c| c <= a);
        let left = k.checked_sub(1).map(|i| centers[i]);
        let right = centers.get(centers.partition_point(|&c| c < b)).copied();
        let mut x = a;
        while out.len() < MAX_POINTS {
            let wl = left.map_or(f64::INFINITY, |c| (x - c).max(core));
            let wr = right.map_or(f64::INFINITY, |c| (0.5 * (c - x)).max(core));
            let w = wl.min(wr);
            // the last piece may be up to 1.25 w wide
            if x + 1.25 * w >= b {
                break;
            }
            x += w;
            out.push(x);
        }
    }
    out.push(*pts.last().expect("at least two points"));
    out
}

/// max_i |n·h(y − d_i)/Σ_k h(y − d_k) − 1|: how far the classes' shares of the density of the
/// max at y are from equal (1 when they cannot be compared).
fn share_deviation(noise: &dyn Noise, d: &[f64], y: f64) -> f64 {
    let lh: Vec<f64> = d.iter().map(|&dj| noise.ln_hazard(y - dj)).collect();
    let top = lh.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return 1.0;
    }
    let sum: f64 = lh.iter().map(|&l| (l - top).exp()).sum();
    let n = d.len() as f64;
    let dev = lh
        .iter()
        .map(|&l| (n * (l - top).exp() / sum - 1.0).abs())
        .fold(0.0, f64::max);
    if dev.is_nan() { 1.0 } else { dev }
}

fn unsort(sorted: &[f64], order: &[usize]) -> Vec<f64> {
    let mut out = vec![0.0; sorted.len()];
    for (k, &i) in order.iter().enumerate() {
        out[i] = sorted[k];
    }
    out
}

/// log G(y) = Σ_j log F(y − d_j) over the sorted scores, stopping once the remaining terms
/// (each closer to 0 than the current one) cannot add up to 1e-17. Returns log G and the
/// length of the prefix whose log F were stored in `buf`.
fn ln_g_prefix(noise: &dyn Noise, d: &[f64], y: f64, buf: &mut [f64]) -> (f64, usize) {
    let n = d.len();
    let mut sum = 0.0;
    for j in 0..n {
        let lf = noise.ln_cdf(y - d[j]);
        buf[j] = lf;
        sum += lf;
        if lf == f64::NEG_INFINITY {
            return (lf, j + 1);
        }
        if lf * ((n - j) as f64) > -1e-17 {
            return (sum, j + 1);
        }
    }
    (sum, n)
}

/// (log G(y), d log G/dy = Σ_j h(y − d_j)).
fn ln_g_and_slope(noise: &dyn Noise, d: &[f64], y: f64) -> (f64, f64) {
    let n = d.len();
    let mut sum = 0.0;
    let mut slope = 0.0;
    for (j, &dj) in d.iter().enumerate() {
        let z = y - dj;
        let lf = noise.ln_cdf(z);
        if lf == f64::NEG_INFINITY {
            return (lf, f64::INFINITY);
        }
        sum += lf;
        slope += (noise.ln_pdf(z) - lf).exp();
        if lf * ((n - j) as f64) > -1e-17 {
            break;
        }
    }
    (sum, slope)
}

/// F⁻¹(e^{ln_p}), using the upper-tail quantile when e^{ln_p} is close to 1.
fn quantile_ln(noise: &dyn Noise, ln_p: f64) -> f64 {
    if ln_p < -std::f64::consts::LN_2 {
        noise.quantile(ln_p.exp())
    } else {
        noise.quantile_upper(-ln_p.exp_m1())
    }
}

/// The y in [lo, hi] with log G(y) = target (approximately: break points need not be exact).
fn solve_level(noise: &dyn Noise, d: &[f64], target: f64, lo: f64, hi: f64) -> f64 {
    let n = d.len() as f64;
    // G(y) ≤ F(y) and G(y) ≥ F(y)^n bracket the root.
    let mut a = quantile_ln(noise, target).max(lo);
    let mut b = quantile_ln(noise, target / n).min(hi);
    if !(a.is_finite() && b.is_finite()) || a >= b {
        return if a.is_finite() { a } else { b };
    }
    let mut y = b;
    for _ in 0..60 {
        let (lg, slope) = ln_g_and_slope(noise, d, y);
        let r = lg - target;
        if r.abs() <= 1e-3 * target.abs() {
            return y;
        }
        if r > 0.0 {
            b = y;
        } else {
            a = y;
        }
        let mut next = y - r / slope;
        if !(next > a && next < b && next.is_finite()) {
            next = 0.5 * (a + b);
        }
        if (b - a) <= 1e-12 * (1.0 + a.abs().max(b.abs())) {
            return next;
        }
        y = next;
    }
    y
}
