//! Analytic-variance hybrids: Analytic-DPM's optimal reverse variance (Bao et al., arXiv
//! 2201.06503, Theorem 1; spec §6.2) inside the menu's stochastic samplers.
//!
//! Euler-ancestral and first-order SDE-DPM-Solver++ are steps of the DDIM family: with
//! x = α x̂₀ + s ε̂ at the source level, the VP update to the target level t is
//! x_t = α_t x̂₀ + √(β̄_t − λ²) ε̂ + λ z. Their mean is the optimal one when ε̂ = ε*, and
//! Theorem 1 gives the variance that matches E tr Cov[x_t | x_source]/d:
//!
//! σ*² = λ² + γ² σ̄², γ = α_t − √(β̄_t − λ²)·α/s, σ̄² = (s²/α²)(1 − Γ) = σ²(1 − Γ),
//!
//! with Γ = E‖ε*‖²/d at the source level. The handcrafted λ² is the lower bound of σ*²
//! (Theorem 2), which is why ancestral samplers under-disperse at few steps; the hybrid keeps
//! the mean and replaces λ by σ* (Γ clipped to [0, 1], so λ² ≤ σ*² ≤ λ² + γ²σ², Eq. 11).
//! In σ-space (Euler-ancestral, σ → σ' with σ_d, σ_u) this reads
//! σ*²_σ = σ_u² + (σ − σ_d)²(1 − Γ). Noise is added at every step, the last one included
//! (for Gaussian data the chain is then exact: every step matches the moments of q).
//!
//! Γ comes from the caller as a function of ᾱ: the exact Γ of a Gaussian law
//! ([`crate::exact::Gaussian::gamma`]), quadrature on the laboratory's laws
//! ([`crate::laws::Law::gamma_at`]), or a network's Γ table ([`crate::analytic::Gamma`])
//! interpolated in ᾱ ([`gamma_of_table`]).
//!
//! With a covariance head (SN-/NPR-DPM, [`crate::covariance`]) the same steps take a
//! per-coordinate variance instead: with the step's x̂₀-weight w (γ above in the VP space,
//! 1 − σ_d/σ in σ-space) and the head's posterior variance σ̄²_i(x) of x₀ at the source level,
//! clipped to [0, σ²] (Eq. 11), the noise std of coordinate i is √(λ² + w² σ̄²_i(x))
//! ([`Variance::Head`]; [`super::plan::Stage::x0_var_weight`]).

use super::plan::Node;
use crate::Schedule;
use crate::analytic::Gamma;

/// The variance of the stochastic menu samplers' noise.
#[derive(Clone, Copy)]
pub enum Variance<'a> {
    /// The sampler's own (λ, the lower bound of Theorem 2).
    Handcrafted,
    /// Analytic-DPM's optimal scalar variance with Γ as a function of ᾱ.
    Analytic(&'a dyn Fn(f64) -> f64),
    /// Per-coordinate variance from a covariance head supplied when the plan runs.
    Head,
}

impl std::fmt::Debug for Variance<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Variance::Handcrafted => "Handcrafted",
            Variance::Analytic(_) => "Analytic",
            Variance::Head => "Head",
        })
    }
}

/// Γ as a function of ᾱ from a table Γ_n of a discrete schedule: linear interpolation in ᾱ
/// between the neighbouring times (ᾱ_n decreases in n); the end values beyond the table.
/// NaN where a needed Γ_n is unknown (the hybrid then falls back to the handcrafted
/// variance, [`clip`] reading NaN as Γ = 1).
pub fn gamma_of_table<'a>(schedule: &'a Schedule, gamma: &'a Gamma) -> impl Fn(f64) -> f64 + 'a {
    move |ab: f64| {
        let n = schedule.n_steps();
        let get = |k: usize| gamma.get(k).unwrap_or(f64::NAN);
        if ab >= schedule.alpha_bar(1) {
            return get(1);
        }
        if ab <= schedule.alpha_bar(n) {
            return get(n);
        }
        // First k with ᾱ_k ≤ ab (k ≥ 2 here).
        let (mut lo, mut hi) = (1, n);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if schedule.alpha_bar(mid) > ab {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let (a0, a1) = (schedule.alpha_bar(lo), schedule.alpha_bar(hi));
        let u = (a0 - ab) / (a0 - a1);
        (1.0 - u) * get(lo) + u * get(hi)
    }
}

/// Γ clipped to [0, 1] (Jensen's bound; estimates may leave it); NaN reads as 1.
pub fn clip(g: f64) -> f64 {
    if g.is_nan() { 1.0 } else { g.clamp(0.0, 1.0) }
}

/// Std (σ-space) of the Euler-ancestral step from `node` with (σ_d, σ_u) under Analytic-DPM.
pub fn euler_ancestral_std(
    node: Node,
    sigma_down: f64,
    sigma_up: f64,
    gamma: &dyn Fn(f64) -> f64,
) -> f64 {
    let g = clip(gamma(node.alpha_bar()));
    (sigma_up * sigma_up + (node.sigma - sigma_down).powi(2) * (1.0 - g)).sqrt()
}

/// Std (VP space) of a DDIM-family step with handcrafted std λ and x̂₀-weight γ from the
/// source `node` under Analytic-DPM.
pub fn ddim_family_std(
    lambda: f64,
    gamma_coef: f64,
    node: Node,
    gamma: &dyn Fn(f64) -> f64,
) -> f64 {
    let g = clip(gamma(node.alpha_bar()));
    (lambda * lambda + gamma_coef * gamma_coef * node.sigma * node.sigma * (1.0 - g)).sqrt()
}
