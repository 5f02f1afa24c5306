//! Sampling trajectories: the sub-sequence 1 ≤ τ_1 < … < τ_K ≤ N of model times.
//!
//! | code | paper | meaning |
//! |---|---|---|
//! | `steps()[k-1]` | τ_k | k-th node, 1-based model time |
//! | `len()` | K | number of model calls |
//! | `pairs()` | (τ_{k−1}, τ_k) | reverse steps in sampling order, the last one is (0, τ_1) |
//!
//! Index 0 (the data) is never stored; it is the implicit target of the last step.
//! Rounding follows the official code exactly (spec §4.3, pitfall 4): the even trajectory
//! accumulates `cur += (N−1)/(K−1)` in f64 and rounds half to even.

use crate::analytic::Gamma;
use crate::{Error, Result, Schedule};

/// Which K-node trajectory a discrete sampler runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrajectoryKind {
    /// Paper-A's even trajectory ([`Trajectory::even`]).
    Even,
    /// DDIM's quadratic trajectory ([`Trajectory::quadratic`]).
    Quad,
    /// The dynamic-programming optimum for Analytic-DDPM given Γ
    /// ([`crate::optimal_trajectory`]).
    Optimal,
}

impl TrajectoryKind {
    /// Every kind, in `--help` order.
    pub const ALL: [TrajectoryKind; 3] = [
        TrajectoryKind::Even,
        TrajectoryKind::Quad,
        TrajectoryKind::Optimal,
    ];

    /// `even`, `quad` or `optimal`.
    pub fn name(self) -> &'static str {
        match self {
            TrajectoryKind::Even => "even",
            TrajectoryKind::Quad => "quad",
            TrajectoryKind::Optimal => "optimal",
        }
    }

    /// Whether building it needs Γ at every n.
    pub fn needs_gamma(self) -> bool {
        self == TrajectoryKind::Optimal
    }

    /// The trajectory of K nodes on `schedule`; `gamma` is read by `Optimal` only.
    ///
    /// # Errors
    /// [`Error::Invalid`] for K outside 1..=N, or (optimal) a Γ the search cannot use.
    pub fn build(self, schedule: &Schedule, k: usize, gamma: &Gamma) -> Result<Trajectory> {
        let n = schedule.n_steps();
        match self {
            TrajectoryKind::Even => Trajectory::even(n, k),
            TrajectoryKind::Quad => Trajectory::quadratic(n, k),
            TrajectoryKind::Optimal => {
                Ok(crate::optimal_trajectory(schedule, gamma, k)?.trajectory)
            }
        }
    }
}

crate::named::named!(TrajectoryKind, "trajectory");

/// A validated, strictly increasing list of model times in 1..=N.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trajectory {
    n_steps: usize,
    steps: Vec<usize>,
}

impl Trajectory {
    /// Paper-A's even trajectory (ET): τ_k = round(1 + (k−1)(N−1)/(K−1)), so τ_1 = 1 and
    /// τ_K = N. K = 1 gives the single node `[N]`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when K < 1 or K > N.
    pub fn even(n_steps: usize, k: usize) -> Result<Self> {
        check_k(n_steps, k)?;
        if k == 1 {
            return Self::from_steps(n_steps, vec![n_steps]);
        }
        let a = (n_steps - 1) as f64 / (k - 1) as f64;
        let mut cur = 1.0f64;
        let mut steps = Vec::with_capacity(k);
        for _ in 0..k {
            steps.push(cur.round_ties_even() as usize);
            cur += a;
        }
        Self::from_steps(n_steps, steps)
    }

    /// DDIM's quadratic trajectory: τ_k = ⌊linspace(0, √(0.8 N), K)_k²⌋ + 1 (0-based model
    /// times shifted to the canonical 1-based index).
    ///
    /// # Errors
    /// [`Error::Invalid`] when K < 1, K > N, or N is too small for K distinct nodes.
    pub fn quadratic(n_steps: usize, k: usize) -> Result<Self> {
        check_k(n_steps, k)?;
        let end = (0.8 * n_steps as f64).sqrt();
        let steps: Vec<usize> = crate::schedule::linspace(0.0, end, k)
            .into_iter()
            .map(|x| (x * x).floor() as usize + 1)
            .collect();
        if let Some(w) = steps.windows(2).find(|w| w[0] >= w[1]) {
            return Err(invalid(format!(
                "the quadratic trajectory with K = {k} on N = {n_steps} repeats node {} \
                 (use fewer steps or the even trajectory)",
                w[0]
            )));
        }
        Self::from_steps(n_steps, steps)
    }

    /// DDIM's uniform stride: `skip = N / K` (integer division), τ_k = 1 + (k−1)·skip.
    ///
    /// # Errors
    /// [`Error::Invalid`] when K < 1 or K > N.
    pub fn uniform(n_steps: usize, k: usize) -> Result<Self> {
        check_k(n_steps, k)?;
        let skip = n_steps / k;
        Self::from_steps(n_steps, (0..k).map(|i| 1 + i * skip).collect())
    }

    /// A user-given list τ_1 < … < τ_K in 1..=N.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the list is empty, not strictly increasing, or has a node
    /// outside 1..=N.
    pub fn from_steps(n_steps: usize, steps: Vec<usize>) -> Result<Self> {
        if steps.is_empty() {
            return Err(invalid("needs K ≥ 1 nodes, got none".to_string()));
        }
        if let Some(&bad) = steps.iter().find(|&&t| t == 0 || t > n_steps) {
            return Err(invalid(format!("node {bad} is outside 1..={n_steps}")));
        }
        if let Some(w) = steps.windows(2).find(|w| w[0] >= w[1]) {
            return Err(invalid(format!(
                "nodes must be strictly increasing, got {} then {}",
                w[0], w[1]
            )));
        }
        Ok(Self { n_steps, steps })
    }

    /// N of the schedule this trajectory was built for.
    pub fn n_steps(&self) -> usize {
        self.n_steps
    }

    /// τ_1..τ_K.
    pub fn steps(&self) -> &[usize] {
        &self.steps
    }

    /// K, the number of model calls.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Always false: a trajectory has K ≥ 1 nodes by construction.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The reverse steps (s, t) in sampling order: (τ_{K−1}, τ_K), …, (τ_1, τ_2), (0, τ_1).
    pub fn pairs(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::with_capacity(self.steps.len());
        for k in (0..self.steps.len()).rev() {
            let s = if k == 0 { 0 } else { self.steps[k - 1] };
            out.push((s, self.steps[k]));
        }
        out
    }
}

fn check_k(n_steps: usize, k: usize) -> Result<()> {
    if k < 1 || k > n_steps {
        return Err(invalid(format!(
            "number of steps K = {k} must be in 1..={n_steps}"
        )));
    }
    Ok(())
}

fn invalid(msg: String) -> Error {
    Error::Invalid {
        what: "trajectory",
        msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn even_matches_official_rounding() {
        // Spec §4.3: Python round-half-even on the accumulated counter.
        let t = Trajectory::even(1000, 10).unwrap();
        assert_eq!(
            t.steps(),
            &[1, 112, 223, 334, 445, 556, 667, 778, 889, 1000]
        );
        let t = Trajectory::even(1000, 25).unwrap();
        assert_eq!(
            t.steps(),
            &[
                1, 43, 84, 126, 168, 209, 251, 292, 334, 376, 417, 459, 500, 542, 584, 625, 667,
                709, 750, 792, 834, 875, 917, 958, 1000
            ]
        );
        assert_eq!(Trajectory::even(4000, 25).unwrap().steps()[12], 2000);
    }

    #[test]
    fn second_nodes_match_table7_inputs() {
        // Spec §10.1: τ_2 of ET for the Table 7 tests.
        for (n, k, tau2) in [
            (1000, 10, 112),
            (1000, 25, 43),
            (1000, 50, 21),
            (1000, 100, 11),
            (4000, 25, 168),
            (4000, 50, 83),
            (4000, 100, 41),
            (4000, 200, 21),
        ] {
            assert_eq!(
                Trajectory::even(n, k).unwrap().steps()[1],
                tau2,
                "N={n} K={k}"
            );
        }
    }

    #[test]
    fn quadratic_and_uniform_match_ddim() {
        let q = Trajectory::quadratic(1000, 10).unwrap();
        assert_eq!(q.steps(), &[1, 10, 40, 89, 159, 247, 356, 484, 633, 801]);
        let u = Trajectory::uniform(1000, 10).unwrap();
        assert_eq!(u.steps(), &[1, 101, 201, 301, 401, 501, 601, 701, 801, 901]);
    }

    #[test]
    fn validation_errors() {
        assert!(Trajectory::even(1000, 0).is_err());
        assert!(Trajectory::even(1000, 1001).is_err());
        assert!(Trajectory::from_steps(10, vec![]).is_err());
        assert!(Trajectory::from_steps(10, vec![1, 3, 3]).is_err());
        assert!(Trajectory::from_steps(10, vec![5, 2]).is_err());
        assert!(Trajectory::from_steps(10, vec![0, 2]).is_err());
        assert!(Trajectory::from_steps(10, vec![2, 11]).is_err());
        assert!(
            Trajectory::quadratic(10, 10).is_err(),
            "duplicates for tiny N"
        );
        assert_eq!(Trajectory::even(1000, 1).unwrap().steps(), &[1000]);
    }

    #[test]
    fn pairs_run_backwards_to_zero() {
        let t = Trajectory::from_steps(10, vec![1, 4, 10]).unwrap();
        assert_eq!(t.pairs(), vec![(4, 10), (1, 4), (0, 1)]);
    }

    proptest! {
        #[test]
        fn even_is_valid_and_spans(n in 1usize..5000, kf in 0.0f64..1.0) {
            let k = 1 + ((n - 1) as f64 * kf) as usize;
            let t = Trajectory::even(n, k).unwrap();
            prop_assert_eq!(t.len(), k);
            prop_assert_eq!(*t.steps().last().unwrap(), n);
            if k > 1 { prop_assert_eq!(t.steps()[0], 1); }
            prop_assert!(t.steps().windows(2).all(|w| w[0] < w[1]));
        }

        #[test]
        fn from_steps_accepts_exactly_increasing_lists(v in proptest::collection::vec(0usize..60, 0..12)) {
            let ok = !v.is_empty()
                && v.iter().all(|&x| (1..=50).contains(&x))
                && v.windows(2).all(|w| w[0] < w[1]);
            prop_assert_eq!(Trajectory::from_steps(50, v).is_ok(), ok);
        }
    }
}
