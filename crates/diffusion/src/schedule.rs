//! Noise schedules of the discrete forward process.
//!
//! A [`Schedule`] holds the per-step variances β_1..β_N of
//! q(x_n | x_{n−1}) = N(√(1−β_n) x_{n−1}, β_n I) and everything derived from them.
//!
//! | code | paper | meaning |
//! |---|---|---|
//! | `betas()[n]` | β_n | per-step noise variance, `betas()[0] == 0` |
//! | `alpha_bar(n)` | ᾱ_n = ∏_{i≤n}(1−β_i) | cumulative signal variance, ᾱ_0 = 1 |
//! | `beta_bar(n)` | β̄_n = 1 − ᾱ_n | cumulative noise variance, β̄_0 = 0 |
//! | `alpha(s, t)` | α_{t\|s} = ᾱ_t / ᾱ_s | skip signal variance |
//! | `beta(s, t)` | β_{t\|s} = 1 − α_{t\|s} | skip noise variance |
//! | `tilde_beta(s, t)` | β̃_{s\|t} = β_{t\|s} β̄_s / β̄_t | DDPM posterior variance |
//!
//! Arrays have length N+1 and index 0 is the data (spec `diffusion.md` §1).
//!
//! β_{t|s} is never formed as `1 − ratio`: it follows the recurrence
//! β_{i|s} = β_i + (1−β_i) β_{i−1|s}, a sum of positive terms, so it keeps full relative
//! precision even when it is ~1e-4 (spec §2.1). β̄_n is stored the same way.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The named β schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// Ho et al.'s linear β schedule (scaled by 1000/N): [`Schedule::linear`].
    Linear,
    /// Nichol & Dhariwal's cosine schedule: [`Schedule::cosine`].
    Cosine,
}

impl ScheduleKind {
    /// Both kinds.
    pub const ALL: [ScheduleKind; 2] = [ScheduleKind::Linear, ScheduleKind::Cosine];

    /// `linear` or `cosine`.
    pub fn name(self) -> &'static str {
        match self {
            ScheduleKind::Linear => "linear",
            ScheduleKind::Cosine => "cosine",
        }
    }

    /// The schedule of this kind with N steps.
    ///
    /// # Errors
    /// As [`Schedule::linear`] / [`Schedule::cosine`] (e.g. N = 0).
    pub fn build(self, n_steps: usize) -> Result<Schedule> {
        match self {
            ScheduleKind::Linear => Schedule::linear(n_steps),
            ScheduleKind::Cosine => Schedule::cosine(n_steps),
        }
    }
}

crate::named::named!(ScheduleKind, "schedule");

/// A validated noise schedule with N ≥ 1 steps (arrays of length N+1, index 0 = data).
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    betas: Vec<f64>,
    alpha_bar: Vec<f64>,
    beta_bar: Vec<f64>,
}

impl Schedule {
    /// Builds a schedule from β_0..β_N.
    ///
    /// # Errors
    /// [`Error::Invalid`] when there are fewer than 2 entries, `betas[0] != 0`, or some
    /// β_n (n ≥ 1) is not finite or not in (0, 1).
    pub fn from_betas(betas: Vec<f64>) -> Result<Self> {
        if betas.len() < 2 {
            return Err(invalid(format!(
                "need β_0..β_N with N ≥ 1, got {} values",
                betas.len()
            )));
        }
        if betas[0] != 0.0 {
            return Err(invalid(format!(
                "β_0 must be 0 (index 0 is the data), got {}",
                betas[0]
            )));
        }
        if let Some((n, b)) = betas
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, b)| !(b.is_finite() && **b > 0.0 && **b < 1.0))
        {
            return Err(invalid(format!("β_{n} = {b} is not in (0, 1)")));
        }
        let n_steps = betas.len() - 1;
        let mut alpha_bar = Vec::with_capacity(n_steps + 1);
        let mut beta_bar = Vec::with_capacity(n_steps + 1);
        alpha_bar.push(1.0);
        beta_bar.push(0.0);
        for n in 1..=n_steps {
            let a = 1.0 - betas[n];
            alpha_bar.push(alpha_bar[n - 1] * a);
            beta_bar.push(betas[n] + a * beta_bar[n - 1]);
        }
        Ok(Self {
            betas,
            alpha_bar,
            beta_bar,
        })
    }

    /// Builds a schedule from β_1..β_N (prepends the β_0 = 0 sentinel).
    ///
    /// # Errors
    /// As [`Schedule::from_betas`].
    pub fn from_step_betas(step_betas: &[f64]) -> Result<Self> {
        let mut betas = Vec::with_capacity(step_betas.len() + 1);
        betas.push(0.0);
        betas.extend_from_slice(step_betas);
        Self::from_betas(betas)
    }

    /// Ho et al.'s linear schedule: β_{1..N} = linspace(s·1e-4, s·0.02, N) with s = 1000/N.
    ///
    /// # Errors
    /// [`Error::Invalid`] for `n_steps == 0` or so small that β_N ≥ 1 (N ≤ 20).
    pub fn linear(n_steps: usize) -> Result<Self> {
        let scale = 1000.0 / n_steps as f64;
        Self::linear_range(n_steps, scale * 1e-4, scale * 0.02)
    }

    /// β_{1..N} = linspace(`beta_start`, `beta_end`, N), as numpy computes it.
    ///
    /// # Errors
    /// [`Error::Invalid`] for `n_steps == 0` or betas outside (0, 1).
    pub fn linear_range(n_steps: usize, beta_start: f64, beta_end: f64) -> Result<Self> {
        check_n(n_steps)?;
        Self::from_step_betas(&linspace(beta_start, beta_end, n_steps))
    }

    /// Nichol–Dhariwal cosine schedule with offset s = 0.008 and the 0.999 cap.
    ///
    /// # Errors
    /// [`Error::Invalid`] for `n_steps == 0`.
    pub fn cosine(n_steps: usize) -> Result<Self> {
        check_n(n_steps)?;
        let f = |u: f64| {
            ((u + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2)
                .cos()
                .powi(2)
        };
        let n = n_steps as f64;
        let step_betas: Vec<f64> = (0..n_steps)
            .map(|i| (1.0 - f((i + 1) as f64 / n) / f(i as f64 / n)).min(0.999))
            .collect();
        Self::from_step_betas(&step_betas)
    }

    /// VP-SDE (β(τ) = β_min + τ(β_max − β_min) on τ ∈ [0, 1]) discretised with the exact
    /// integral: β_n = 1 − exp(−∫_{(n−1)/N}^{n/N} β(τ) dτ) (code-E `VPSDE.get_schedule`).
    ///
    /// # Errors
    /// [`Error::Invalid`] for `n_steps == 0` or β_min < 0, β_max < β_min, non-finite values.
    pub fn vp_sde(n_steps: usize, beta_min: f64, beta_max: f64) -> Result<Self> {
        check_n(n_steps)?;
        if !(beta_min.is_finite()
            && beta_max.is_finite()
            && beta_min >= 0.0
            && beta_max >= beta_min)
        {
            return Err(invalid(format!(
                "VP-SDE needs 0 ≤ β_min ≤ β_max, got {beta_min}, {beta_max}"
            )));
        }
        let n = n_steps as f64;
        let step_betas: Vec<f64> = (1..=n_steps)
            .map(|k| {
                // ∫_{(k−1)/N}^{k/N} β = β_min/N + (β_max − β_min)(2k − 1)/(2N²)
                let integral =
                    beta_min / n + (beta_max - beta_min) * (2 * k - 1) as f64 / (2.0 * n * n);
                -(-integral).exp_m1()
            })
            .collect();
        Self::from_step_betas(&step_betas)
    }

    /// The blog's continuous schedule ᾱ(u) = exp(−10 u²), u = n/N, sampled on the grid:
    /// β_n = 1 − ᾱ_n/ᾱ_{n−1} = 1 − exp(−10 (2n − 1)/N²).
    ///
    /// # Errors
    /// [`Error::Invalid`] for `n_steps == 0`.
    pub fn quadratic_exp(n_steps: usize) -> Result<Self> {
        check_n(n_steps)?;
        let n2 = (n_steps * n_steps) as f64;
        let step_betas: Vec<f64> = (1..=n_steps)
            .map(|k| -(-10.0 * (2 * k - 1) as f64 / n2).exp_m1())
            .collect();
        Self::from_step_betas(&step_betas)
    }

    /// N, the number of diffusion steps.
    pub fn n_steps(&self) -> usize {
        self.betas.len() - 1
    }

    /// β_0..β_N (β_0 = 0).
    pub fn betas(&self) -> &[f64] {
        &self.betas
    }

    /// ᾱ_n, cumulative signal variance. Panics if n > N.
    pub fn alpha_bar(&self, n: usize) -> f64 {
        self.alpha_bar[n]
    }

    /// β̄_n = 1 − ᾱ_n, computed without cancellation. Panics if n > N.
    pub fn beta_bar(&self, n: usize) -> f64 {
        self.beta_bar[n]
    }

    /// α_{t|s} = ᾱ_t / ᾱ_s for s ≤ t. Panics unless s ≤ t ≤ N.
    pub fn alpha(&self, s: usize, t: usize) -> f64 {
        assert!(s <= t, "alpha(s, t) needs s ≤ t, got s={s}, t={t}");
        self.alpha_bar[t] / self.alpha_bar[s]
    }

    /// β_{t|s} = 1 − α_{t|s} for s ≤ t, summed as positive terms (no cancellation).
    /// O(t − s). Panics unless s ≤ t ≤ N.
    pub fn beta(&self, s: usize, t: usize) -> f64 {
        assert!(s <= t, "beta(s, t) needs s ≤ t, got s={s}, t={t}");
        if s == 0 {
            return self.beta_bar[t];
        }
        self.betas[s + 1..=t]
            .iter()
            .fold(0.0, |acc, &b| b + (1.0 - b) * acc)
    }

    /// β̃_{s|t} = β_{t|s} β̄_s / β̄_t, the variance of q(x_s | x_t, x_0). Zero for s = 0.
    /// Panics unless s < t ≤ N.
    pub fn tilde_beta(&self, s: usize, t: usize) -> f64 {
        assert!(s < t, "tilde_beta(s, t) needs s < t, got s={s}, t={t}");
        self.beta(s, t) * self.beta_bar[s] / self.beta_bar[t]
    }
}

/// numpy's `linspace(start, end, n)` in f64 (endpoints exact).
pub(crate) fn linspace(start: f64, end: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let step = (end - start) / (n - 1) as f64;
            let mut v: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
            v[n - 1] = end;
            v
        }
    }
}

fn check_n(n_steps: usize) -> Result<()> {
    if n_steps == 0 {
        return Err(invalid("a schedule needs N ≥ 1 steps, got 0".to_string()));
    }
    Ok(())
}

fn invalid(msg: String) -> Error {
    Error::Invalid {
        what: "schedule",
        msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Relative closeness with a tolerance in units of f64::EPSILON.
    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(f64::MIN_POSITIVE)
    }

    #[test]
    fn linear_matches_reference_values() {
        // Spec §10.1 (numpy float64); tolerance 1e-12 relative covers the O(N ε) product error.
        let s = Schedule::linear(1000).unwrap();
        assert!(close(s.betas()[1], 1e-4, 1e-15));
        assert!(close(s.betas()[1000], 0.02, 1e-15));
        assert!(close(s.alpha_bar(1), 0.9999, 1e-15));
        assert!(close(s.alpha_bar(1000), 4.035829765375676e-5, 1e-12));
    }

    #[test]
    fn cosine_matches_reference_values() {
        // Spec §10.1; the cos² ratio loses a few ulps, so 1e-10 relative.
        let s = Schedule::cosine(1000).unwrap();
        assert!(close(s.betas()[1], 4.128422482196914e-5, 1e-10));
        assert_eq!(s.betas()[1000], 0.999);
        assert!(close(s.alpha_bar(1), 0.999958715775178, 1e-12));
        assert!(close(s.alpha_bar(1000), 2.4287669070348567e-9, 1e-9));
        let s4 = Schedule::cosine(4000).unwrap();
        assert!(close(s4.betas()[1], 9.865818813681315e-6, 1e-9));
        assert!(close(s4.alpha_bar(4000), 1.5179804688514517e-10, 1e-8));
    }

    #[test]
    fn vp_sde_is_close_to_linear_and_integrates_exactly() {
        // ᾱ_N = exp(−∫_0^1 β) = exp(−(β_min + β_max)/2) exactly; tolerance 1e-12 relative.
        let s = Schedule::vp_sde(1000, 0.1, 20.0).unwrap();
        assert!(close(s.alpha_bar(1000), (-10.05f64).exp(), 1e-12));
        let lin = Schedule::linear(1000).unwrap();
        // Per-step β differ from the linear schedule by O(β²) only.
        for n in [1, 500, 1000] {
            assert!((s.betas()[n] - lin.betas()[n]).abs() < 3e-4, "n={n}");
        }
    }

    #[test]
    fn quadratic_exp_matches_closed_form() {
        let s = Schedule::quadratic_exp(100).unwrap();
        for n in [1, 10, 50, 100] {
            let u = n as f64 / 100.0;
            assert!(close(s.alpha_bar(n), (-10.0 * u * u).exp(), 1e-12), "n={n}");
        }
    }

    #[test]
    fn skip_quantities_are_consistent() {
        // β_{t|s} + α_{t|s} = 1 to a few ulps; β̃ at s = 0 vanishes.
        let s = Schedule::linear(1000).unwrap();
        for (a, b) in [(0, 1), (1, 2), (1, 112), (100, 900), (999, 1000), (0, 1000)] {
            let sum = s.beta(a, b) + s.alpha(a, b);
            assert!((sum - 1.0).abs() < 8.0 * f64::EPSILON, "({a},{b}): {sum}");
        }
        assert_eq!(s.tilde_beta(0, 5), 0.0);
        assert!(close(s.beta(0, 1), 1e-4, 1e-15));
        // Telescoping: α_{t|s} α_{s|r} = α_{t|r}.
        assert!(close(
            s.alpha(10, 500) * s.alpha(500, 900),
            s.alpha(10, 900),
            1e-13
        ));
    }

    #[test]
    fn from_betas_rejects_bad_input() {
        assert!(Schedule::from_betas(vec![0.0]).is_err());
        assert!(Schedule::from_betas(vec![0.1, 0.1]).is_err());
        assert!(Schedule::from_betas(vec![0.0, 1.0]).is_err());
        assert!(Schedule::from_betas(vec![0.0, 0.0]).is_err());
        assert!(Schedule::from_betas(vec![0.0, f64::NAN]).is_err());
        assert!(Schedule::linear(0).is_err());
        assert!(Schedule::linear(10).is_err(), "β_N = 2 for N = 10");
        assert!(Schedule::vp_sde(10, 1.0, 0.5).is_err());
    }

    proptest! {
        #[test]
        fn schedules_are_monotone_and_in_range(n in 1usize..600, kind in 0u8..4) {
            let s = match kind {
                0 => Schedule::linear(n.max(21)),
                1 => Schedule::cosine(n),
                2 => Schedule::vp_sde(n, 0.1, 20.0),
                _ => Schedule::quadratic_exp(n),
            }.unwrap();
            let big_n = s.n_steps();
            for k in 1..=big_n {
                let b = s.betas()[k];
                prop_assert!(b > 0.0 && b < 1.0);
                prop_assert!(s.alpha_bar(k) < s.alpha_bar(k - 1));
                prop_assert!(s.beta_bar(k) > s.beta_bar(k - 1));
                prop_assert!(s.beta_bar(k) <= 1.0);
            }
        }

        #[test]
        fn beta_skip_matches_one_minus_ratio(a in 0usize..999, len in 1usize..400) {
            // Where 1 − α_{t|s} is not tiny the two forms agree to ~1e-12 absolute.
            let s = Schedule::linear(1000).unwrap();
            let b = (a + len).min(1000);
            prop_assume!(a < b);
            let direct = 1.0 - s.alpha(a, b);
            prop_assert!((s.beta(a, b) - direct).abs() < 1e-12);
            prop_assert!(s.tilde_beta(a, b) <= s.beta(a, b));
        }
    }
}
