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
//! ([`crate::exact::Gaussian::gamma`]), a Monte-Carlo estimate on the laboratory's laws, or a
//! network's Γ table ([`crate::analytic::Gamma`]) interpolated in ᾱ.

use super::plan::Node;

/// Γ clipped to [0, 1] (Jensen's bound; estimates may leave it).
fn clip(g: f64) -> f64 {
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
