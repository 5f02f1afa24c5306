//! Optimal trajectory of Analytic-DPM by dynamic programming (paper-A §4, Theorem 3, App. B;
//! spec §6.6).
//!
//! With the optimal reverse variances, the KL between the strided forward process and its
//! reverse is (d/2) Σ_{k=2}^{K} J(τ_{k−1}, τ_k) + c, where c does not depend on the trajectory
//! because τ_1 = 1 and τ_K = N are fixed. For the DDPM forward family (Corollary 4)
//!
//! J(s, t) = log(1 − β_{t|s} Γ_t / β̄_t),  1 ≤ s < t ≤ N,
//!
//! which differs from log(σ*²_{s|t} / β̃_{s|t}) by terms that telescope along every path. The
//! least-cost path with K nodes from 1 to N is found by dynamic programming over
//! (node, number of nodes so far) in O(K·N²) time and O(K·N) memory; the N×N cost matrix is
//! never stored.
//!
//! | code | paper | meaning |
//! |---|---|---|
//! | `step_cost(…)` | J(s, t) | per-step cost, nats per dimension ×2 |
//! | `path_cost(…)` | Σ_{k≥2} J(τ_{k−1}, τ_k) | trajectory cost |
//! | `Guard` | `_split` of `dp_seg` | where Γ_t > 1 (or unknown) cuts the search |
//!
//! Γ_t > 1 is impossible for the exact ε-predictor (Jensen) but happens for estimated Γ, and
//! makes J undefined. Following the official `dp_seg` (spec §6.6, pitfall 8), the tail after
//! the first bad Γ is excluded from the search and filled with evenly spaced nodes; see
//! [`Guard::new`]. Unknown (not estimated) Γ_t counts as bad as well. A Monte-Carlo Γ̂_t
//! above 1 by at most [`crate::analytic::GAMMA_SE_TOLERANCE`] of its standard errors is
//! noise around a true Γ_t ≤ 1 and is used as Γ_t = 1 ([`Gamma::usable`]).
//!
//! Nodes are the model times 1..=N of [`crate::Trajectory`] (index 0, the data, is the
//! implicit target of the last step and takes no part in the search).

use crate::analytic::Gamma;
use crate::{Error, Result, Schedule, Trajectory};

/// J(s, t) = log(1 − β_{t|s} Γ_t / β̄_t) for one step 1 ≤ s < t ≤ N (Corollary 4 of paper-A).
///
/// NaN when the argument of the log is not positive (Γ_t > β̄_t/β_{t|s}).
///
/// # Panics
/// Unless 1 ≤ s < t ≤ N.
pub fn step_cost(schedule: &Schedule, s: usize, t: usize, gamma_t: f64) -> f64 {
    assert!(
        1 <= s && s < t,
        "step_cost needs 1 ≤ s < t, got s={s}, t={t}"
    );
    cost_terms(
        schedule.alpha(s, t),
        schedule.beta(s, t),
        schedule.beta_bar(s),
        schedule.beta_bar(t),
        gamma_t,
    )
}

/// J from α_{t|s}, β_{t|s}, β̄_s, β̄_t and Γ_t, without cancellation.
///
/// Long steps from small s make 1 − β_{t|s}Γ_t/β̄_t tiny (≈ β̄_1 α_{N|1} ~ 1e-8 for N = 100),
/// where `1 − x` would lose most digits. With β̄_t − β_{t|s} = α_{t|s} β̄_s (spec §10.4) the
/// argument is (α_{t|s} β̄_s + β_{t|s}(1 − Γ_t))/β̄_t, a sum of non-negative terms for Γ_t ≤ 1.
/// Short steps (x < ½) use ln_1p(−x), which keeps the tiny J's relative precision.
fn cost_terms(alpha_ts: f64, beta_ts: f64, beta_bar_s: f64, beta_bar_t: f64, gamma_t: f64) -> f64 {
    let x = beta_ts * gamma_t / beta_bar_t;
    if x < 0.5 {
        return (-x).ln_1p();
    }
    let arg = alpha_ts * beta_bar_s + beta_ts * (1.0 - gamma_t);
    if arg > 0.0 {
        (arg / beta_bar_t).ln()
    } else {
        f64::NAN
    }
}

/// Σ_{k=2}^{K} J(τ_{k−1}, τ_k) along `trajectory` (0 for K = 1), Γ as
/// [`Gamma::usable`] gives it. NaN when a step's cost is undefined (Γ_t > 1 beyond its
/// error at a node).
///
/// # Errors
/// [`Error::Invalid`] when the trajectory or Γ belong to another N, or Γ is unknown at a node
/// τ_k with k ≥ 2.
pub fn path_cost(schedule: &Schedule, gamma: &Gamma, trajectory: &Trajectory) -> Result<f64> {
    check_n(schedule, gamma)?;
    if trajectory.n_steps() != schedule.n_steps() {
        return Err(invalid(format!(
            "trajectory built for N = {} but the schedule has N = {}",
            trajectory.n_steps(),
            schedule.n_steps()
        )));
    }
    let mut total = 0.0;
    for w in trajectory.steps().windows(2) {
        let g = gamma.require(w[1])?;
        total += step_cost(schedule, w[0], w[1], gamma.usable(w[1]).unwrap_or(g));
    }
    Ok(total)
}

/// A least-cost path of the generic solver [`min_cost_path`].
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// Nodes 1 = τ_1 < … < τ_K = n.
    pub nodes: Vec<usize>,
    /// Σ_{k≥2} cost(τ_{k−1}, τ_k), summed in path order.
    pub cost: f64,
}

/// The least-cost path with exactly `k` nodes 1 = τ_1 < τ_2 < … < τ_k = `n` where a step
/// s → t costs c(s, t) (Algorithm 1 of Watson et al., as in paper-A App. B).
///
/// `cost_row(t, row)` is called exactly once for every t in 2..=n (in increasing order) and
/// must fill `row[s]` = c(s, t) for 1 ≤ s < t (`row` has length t; `row[0]` is ignored).
/// Filling a whole row at once lets a caller share work between the steps into t (e.g. the
/// running product α_{t|s} of [`optimal_trajectory`]), and keeps memory at O(k·n): only the
/// cost table C(node, k) and the argmin table are stored, never the n×n costs.
/// NaN and +∞ costs mark forbidden steps. Time O(k·n²) at worst; only (node, k) pairs that can
/// still reach n with the remaining nodes are visited, so k close to 1 or to n is cheaper.
/// Ties keep the largest predecessor s.
///
/// # Errors
/// [`Error::Invalid`] when k = 0, k > n, k = 1 < n (one node cannot be both 1 and n), or every
/// path has a forbidden step.
#[allow(non_snake_case)] // C and D are the cost and argmin tables of Algorithm 1.
pub fn min_cost_path(
    n: usize,
    k: usize,
    mut cost_row: impl FnMut(usize, &mut [f64]),
) -> Result<Path> {
    if k == 0 || k > n {
        return Err(invalid(format!("K = {k} nodes must be in 1..={n}")));
    }
    if k == 1 {
        if n == 1 {
            return Ok(Path {
                nodes: vec![1],
                cost: 0.0,
            });
        }
        return Err(invalid(format!(
            "a single node cannot both start at 1 and end at {n}"
        )));
    }
    // C[t·(k+1) + j]: least cost of a path 1 → t with j nodes; D: its predecessor of t.
    // Node-major layout so the inner loop over j runs over contiguous memory.
    let stride = k + 1;
    let mut C = vec![f64::INFINITY; (n + 1) * stride];
    let mut D = vec![0u32; (n + 1) * stride];
    C[stride + 1] = 0.0;
    let mut row = vec![0.0; n];
    for t in 2..=n {
        cost_row(t, &mut row[..t]);
        // t can be the j-th node iff j ≤ t and the k − j later nodes fit into t+1..=n.
        let j_lo = 2.max((k + t).saturating_sub(n));
        let (head, tail) = C.split_at_mut(t * stride);
        let c_t = &mut tail[..stride];
        let d_t = &mut D[t * stride..(t + 1) * stride];
        for s in (1..t).rev() {
            let j_hi = k.min(s + 1).min(t);
            if j_lo > j_hi {
                continue;
            }
            let c = row[s];
            if c.is_nan() || c == f64::INFINITY {
                continue;
            }
            let c_s = &head[s * stride..(s + 1) * stride];
            for j in j_lo..=j_hi {
                let v = c_s[j - 1] + c;
                if v < c_t[j] {
                    c_t[j] = v;
                    d_t[j] = s as u32;
                }
            }
        }
    }
    let cost = C[n * stride + k];
    if !cost.is_finite() {
        return Err(invalid(format!(
            "no path with {k} nodes from 1 to {n} has finite cost"
        )));
    }
    let mut nodes = vec![0; k];
    nodes[k - 1] = n;
    for j in (2..=k).rev() {
        nodes[j - 2] = D[nodes[j - 1] * stride + j] as usize;
    }
    debug_assert_eq!(nodes[0], 1);
    Ok(Path { nodes, cost })
}

/// The `dp_seg` split (spec §6.6, code `_split`) that keeps the search away from bad Γ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guard {
    /// First n with Γ_n > 1 or unknown.
    pub first_bad: usize,
    /// Length of the excluded tail, 2·(N − first_bad + 1).
    pub n_bad: usize,
    /// The DP searches nodes 1..=`n_searched` (N1 = N − n_bad).
    pub n_searched: usize,
    /// Nodes placed by the DP (K1).
    pub k_searched: usize,
    /// Evenly spaced nodes in the tail (K2 = K − K1), the last one at N.
    pub k_tail: usize,
}

impl Guard {
    /// The split for N steps, K nodes and the first bad time `first_bad` ≤ N:
    /// n_bad = 2(N − first_bad + 1), N1 = N − n_bad, K1 = ⌈(1 − 0.8·n_bad/N)·K⌉, K2 = K − K1;
    /// then K1 ≤ N1, K2 ≤ n_bad and K2 ≥ 1 are enforced in that order, as the official code
    /// does.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the split leaves no room: N1 < 1 (Γ is bad from N/2 on or
    /// earlier), or K1 < 1 or K1 > N1 after the adjustments.
    ///
    /// # Panics
    /// Unless 1 ≤ `first_bad` ≤ N.
    pub fn new(n_steps: usize, k: usize, first_bad: usize) -> Result<Self> {
        assert!(
            (1..=n_steps).contains(&first_bad),
            "first_bad must be in 1..=N"
        );
        let n_bad = 2 * (n_steps - first_bad + 1);
        let no_room = || {
            let bad = n_steps - first_bad + 1;
            invalid(format!(
                "Γ_n > 1 or unknown from n = {first_bad} on (the last {bad} of N = {n_steps} \
                 times); the dp_seg guard keeps the DP below N − 2·{bad}, which leaves too few \
                 times to place K = {k} nodes (re-estimate Γ with more data)"
            ))
        };
        if n_bad >= n_steps {
            return Err(no_room());
        }
        let n1 = n_steps - n_bad;
        let ratio = n_bad as f64 / n_steps as f64;
        let mut k1 = ((1.0 - 0.8 * ratio) * k as f64).ceil() as usize;
        k1 = k1.min(k);
        let mut k2 = k - k1;
        if k1 > n1 {
            k1 = n1;
            k2 = k - k1;
        }
        if k2 > n_bad {
            k2 = n_bad;
            k1 = k - k2;
        }
        if k2 == 0 {
            k2 = 1;
            k1 = k - 1;
        }
        if k1 < 1 || k1 > n1 {
            return Err(no_room());
        }
        Ok(Self {
            first_bad,
            n_bad,
            n_searched: n1,
            k_searched: k1,
            k_tail: k2,
        })
    }

    /// The tail nodes round(N − (n_bad/K2)·i) for i = K2−1, …, 0 (rounding half to even, as
    /// Python's `round`); strictly increasing, all above N1, the last one N.
    pub fn tail(&self, n_steps: usize) -> Vec<usize> {
        let gap = self.n_bad as f64 / self.k_tail as f64;
        (0..self.k_tail)
            .rev()
            .map(|i| (n_steps as f64 - gap * i as f64).round_ties_even() as usize)
            .collect()
    }
}

/// The optimal trajectory and how it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimalTrajectory {
    /// τ_1 = 1 < … < τ_K = N.
    pub trajectory: Trajectory,
    /// Least Σ J over the searched nodes 1..=N1 (over the whole path when `guard` is None).
    pub cost: f64,
    /// The `dp_seg` split, when some Γ_n was > 1 or unknown.
    pub guard: Option<Guard>,
}

/// The K-node trajectory 1 = τ_1 < … < τ_K = N minimising Σ J(τ_{k−1}, τ_k) for the DDPM
/// forward process with Analytic-DPM's optimal variances (`--trajectory optimal`).
///
/// K = 1 gives the single node N (no step has a cost). When some Γ_n is > 1, NaN or unknown,
/// the search is cut by [`Guard`]. Costs are computed on the fly in f64: for each t the steps into t are
/// visited with s decreasing, and β_{t|s−1} = β_s + (1 − β_s) β_{t|s} is accumulated as a sum
/// of positive terms, so short steps keep full relative precision. N = 1000, any K: well
/// under a second in release builds.
///
/// # Errors
/// [`Error::Invalid`] when Γ was built for another N, K is outside 1..=N, or the guard leaves
/// no room (see [`Guard::new`]).
pub fn optimal_trajectory(
    schedule: &Schedule,
    gamma: &Gamma,
    k: usize,
) -> Result<OptimalTrajectory> {
    check_n(schedule, gamma)?;
    let n = schedule.n_steps();
    // Validates 1 ≤ K ≤ N with the trajectory's own message.
    let even = Trajectory::even(n, k)?;
    if k == 1 {
        return Ok(OptimalTrajectory {
            trajectory: even,
            cost: 0.0,
            guard: None,
        });
    }
    let first_bad = (1..=n).find(|&t| gamma.usable(t).is_none());
    let guard = match first_bad {
        Some(b) => Some(Guard::new(n, k, b)?),
        None => None,
    };
    let (n1, k1) = guard.map_or((n, k), |g| (g.n_searched, g.k_searched));
    let betas = schedule.betas();
    let mut path = if k1 == 1 {
        Path {
            nodes: vec![1],
            cost: 0.0,
        }
    } else {
        min_cost_path(n1, k1, |t, row| {
            // Γ_t ≤ 1 for every t ≤ N1 < first_bad, so every cost is finite.
            let gamma_t = gamma
                .usable(t)
                .expect("Γ is usable before the first bad time");
            let (alpha_bar_t, beta_bar_t) = (schedule.alpha_bar(t), schedule.beta_bar(t));
            let mut beta_ts = betas[t];
            for s in (1..t).rev() {
                let alpha_ts = alpha_bar_t / schedule.alpha_bar(s);
                row[s] = cost_terms(alpha_ts, beta_ts, schedule.beta_bar(s), beta_bar_t, gamma_t);
                beta_ts = betas[s] + (1.0 - betas[s]) * beta_ts;
            }
        })?
    };
    if let Some(g) = guard {
        path.nodes.extend(g.tail(n));
    }
    Ok(OptimalTrajectory {
        trajectory: Trajectory::from_steps(n, path.nodes)?,
        cost: path.cost,
        guard,
    })
}

fn check_n(schedule: &Schedule, gamma: &Gamma) -> Result<()> {
    if gamma.n_steps() != schedule.n_steps() {
        return Err(invalid(format!(
            "Γ has N = {} but the schedule has N = {}",
            gamma.n_steps(),
            schedule.n_steps()
        )));
    }
    Ok(())
}

fn invalid(msg: String) -> Error {
    Error::Invalid {
        what: "optimal trajectory",
        msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_matches_the_official_split() {
        // Hand-evaluated from spec §6.6: N = 1000, first bad Γ at 900 → n_bad = 202,
        // N1 = 798, K1 = ⌈(1 − 0.8·0.202)·10⌉ = ⌈8.384⌉ = 9, K2 = 1, tail = [1000].
        let g = Guard::new(1000, 10, 900).unwrap();
        assert_eq!(
            (g.n_bad, g.n_searched, g.k_searched, g.k_tail),
            (202, 798, 9, 1)
        );
        assert_eq!(g.tail(1000), vec![1000]);
        // First bad at 701: n_bad = 600, N1 = 400, K1 = ⌈0.52·50⌉ = 26, K2 = 24; the tail
        // rounds 1000 − 25·i half to even.
        let g = Guard::new(1000, 50, 701).unwrap();
        assert_eq!(
            (g.n_bad, g.n_searched, g.k_searched, g.k_tail),
            (600, 400, 26, 24)
        );
        let tail = g.tail(1000);
        assert_eq!(tail.len(), 24);
        assert_eq!(tail[0], 425);
        assert_eq!(*tail.last().unwrap(), 1000);
        // Only the last time bad: n_bad = 2, K1 = ⌈0.9984·K⌉ = K, then K2 = 0 → 1.
        let g = Guard::new(1000, 100, 1000).unwrap();
        assert_eq!((g.n_searched, g.k_searched, g.k_tail), (998, 99, 1));
        // K1 > N1: N = 10, bad from 8 → n_bad = 6, N1 = 4, K = 8: K1 = ⌈0.52·8⌉ = 5 > 4 → 4.
        let g = Guard::new(10, 8, 8).unwrap();
        assert_eq!((g.n_searched, g.k_searched, g.k_tail), (4, 4, 4));
        // Bad from the middle on leaves nothing to search.
        assert!(Guard::new(1000, 10, 500).is_err());
        assert!(Guard::new(1000, 10, 400).is_err());
    }

    #[test]
    fn min_cost_path_rejects_impossible_shapes() {
        let zero = |_: usize, row: &mut [f64]| row.fill(0.0);
        assert!(min_cost_path(5, 0, zero).is_err());
        assert!(min_cost_path(5, 6, zero).is_err());
        assert!(min_cost_path(5, 1, zero).is_err());
        assert_eq!(min_cost_path(1, 1, zero).unwrap().nodes, vec![1]);
        assert_eq!(min_cost_path(4, 4, zero).unwrap().nodes, vec![1, 2, 3, 4]);
        // Every step forbidden.
        let nan = |_: usize, row: &mut [f64]| row.fill(f64::NAN);
        assert!(min_cost_path(6, 3, nan).is_err());
    }

    #[test]
    fn guard_error_counts_the_bad_tail_within_n() {
        // Γ bad from n = 467 of N = 1000: 534 bad times; the guard's doubled tail (1068) is
        // more than N and must not be reported as a count of times.
        let err = Guard::new(1000, 5, 467).unwrap_err().to_string();
        assert!(err.contains("the last 534 of N = 1000 times"), "{err}");
        assert!(!err.contains("1068"), "{err}");
    }
}
