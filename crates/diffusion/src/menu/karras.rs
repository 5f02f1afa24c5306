//! Karras et al.'s σ-space samplers (EDM, arXiv 2206.00364; k-diffusion) as [`Plan`]s.
//!
//! The state is x_σ = x_0 + σ ε and the probability-flow ODE is dx/dσ = ε̂(x, σ) (the
//! "derivative" d = (x − D(x; σ))/σ of k-diffusion equals ε̂). On nodes σ_0 > … > σ_K:
//!
//! | sampler | step σ → σ' | NFE |
//! |---|---|---|
//! | Euler | x + (σ' − σ̂) ε̂(x̂, σ̂) | K |
//! | Euler-ancestral (η) | x + (σ_d − σ) ε̂ + σ_u z, σ_u = min(σ', η √(σ'²(σ² − σ'²)/σ²)), σ_d = √(σ'² − σ_u²) | K |
//! | Heun | x̂ + h(d₁ + d₂)/2, d₂ = ε̂(x̂ + h d₁, σ'), h = σ' − σ̂; Euler when σ' = 0 | 2K − 1 (σ_K = 0) |
//! | DPM-2 | x̂ + h ε̂(x̂ + (σ_m − σ̂) d₁, σ_m), σ_m = √(σ̂ σ') | 2K − 1 (σ_K = 0) |
//! | DPM-2 ancestral (η) | DPM-2 to σ_d, then + σ_u z | 2K − 1 |
//! | LMS (order q) | x + Σ_j c_j ε̂_{i−j}, c_j = ∫_σ^{σ'} ℓ_j(τ) dτ (Lagrange basis on the last q nodes) | K |
//!
//! Churn (EDM Algorithm 2, for Euler, Heun and DPM-2): when S_tmin ≤ σ ≤ S_tmax,
//! γ = min(S_churn/K, √2 − 1), σ̂ = (1 + γ)σ and x̂ = x + S_noise √(σ̂² − σ²) z before the step;
//! otherwise σ̂ = σ. LMS warms up with orders 1, 2, …, q on its first q − 1 steps.

use super::hybrid::Variance;
use super::plan::{Node, Plan, Space, Stage, Stored};
use super::sigmas::Process;

/// EDM's stochastic churn (S_churn = 0 disables it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Churn {
    /// S_churn ≥ 0: total amount of added noise.
    pub s_churn: f64,
    /// Churn only where σ ≥ S_tmin.
    pub s_tmin: f64,
    /// Churn only where σ ≤ S_tmax.
    pub s_tmax: f64,
    /// Std multiplier S_noise of the churn noise (and of ancestral noise).
    pub s_noise: f64,
}

impl Churn {
    /// No churn, S_noise = 1.
    pub const NONE: Churn = Churn {
        s_churn: 0.0,
        s_tmin: 0.0,
        s_tmax: f64::INFINITY,
        s_noise: 1.0,
    };
}

/// k-diffusion's `get_ancestral_step`: (σ_down, σ_up) for σ → σ' with η.
pub fn ancestral_step(sigma: f64, sigma_next: f64, eta: f64) -> (f64, f64) {
    if eta == 0.0 || sigma_next == 0.0 {
        return (sigma_next, 0.0);
    }
    let up = (eta
        * (sigma_next * sigma_next * (sigma * sigma - sigma_next * sigma_next) / (sigma * sigma))
            .sqrt())
    .min(sigma_next);
    let down = (sigma_next * sigma_next - up * up).sqrt();
    (down, up)
}

fn plan(start: Node, stages: Vec<Stage>) -> Plan {
    Plan {
        space: Space::Ve,
        stored: Stored::Eps,
        start,
        stages,
    }
}

/// Appends the churn stage of step i (if any) and returns the node σ̂ to evaluate at.
fn churn_stage(
    process: &Process<'_>,
    churn: &Churn,
    k: usize,
    node: Node,
    stages: &mut Vec<Stage>,
) -> Node {
    let sigma = node.sigma;
    let gamma = if churn.s_churn > 0.0 && churn.s_tmin <= sigma && sigma <= churn.s_tmax {
        (churn.s_churn / k as f64).min(std::f64::consts::SQRT_2 - 1.0)
    } else {
        0.0
    };
    if gamma <= 0.0 {
        return node;
    }
    let hat = process.node(sigma * (1.0 + gamma));
    stages.push(Stage {
        eval: None,
        save: false,
        from_saved: false,
        x0_var_weight: None,
        c_x: 1.0,
        coefs: Vec::new(),
        noise: Some(churn.s_noise * (hat.sigma * hat.sigma - sigma * sigma).sqrt()),
        node: hat,
        report: false,
    });
    hat
}

/// Euler with optional churn on `grid` (K + 1 nodes).
pub fn euler(process: &Process<'_>, grid: &[Node], churn: &Churn) -> Plan {
    let k = grid.len() - 1;
    let mut stages = Vec::new();
    for w in grid.windows(2) {
        let hat = churn_stage(process, churn, k, w[0], &mut stages);
        stages.push(Stage::linear(
            Some(hat),
            1.0,
            vec![w[1].sigma - hat.sigma],
            w[1],
        ));
    }
    plan(grid[0], stages)
}

/// Euler-ancestral with η (η = 1 is diffusers' `EulerAncestralDiscreteScheduler`). With
/// [`Variance::Analytic`] (Γ as a function of ᾱ) the noise has Analytic-DPM's optimal
/// variance instead, with [`Variance::Head`] the per-coordinate SN/NPR variance (module
/// [`super::hybrid`]).
pub fn euler_ancestral(grid: &[Node], eta: f64, s_noise: f64, variance: Variance<'_>) -> Plan {
    let stages = grid
        .windows(2)
        .map(|w| {
            let (down, up) = ancestral_step(w[0].sigma, w[1].sigma, eta);
            let (std, x0_var_weight) = match variance {
                Variance::Handcrafted => (s_noise * up, None),
                Variance::Analytic(g) => {
                    (super::hybrid::euler_ancestral_std(w[0], down, up, g), None)
                }
                // x_σ' = (σ_d/σ) x + (1 − σ_d/σ) x̂₀ + σ_u z: x̂₀ has weight 1 − σ_d/σ.
                Variance::Head => (up, Some(1.0 - down / w[0].sigma)),
            };
            Stage {
                noise: Some(std),
                x0_var_weight,
                ..Stage::linear(Some(w[0]), 1.0, vec![down - w[0].sigma], w[1])
            }
        })
        .collect();
    plan(grid[0], stages)
}

/// Heun (EDM Algorithm 2) with optional churn; the step into σ = 0 is Euler.
pub fn heun(process: &Process<'_>, grid: &[Node], churn: &Churn) -> Plan {
    let k = grid.len() - 1;
    let mut stages = Vec::new();
    for w in grid.windows(2) {
        let hat = churn_stage(process, churn, k, w[0], &mut stages);
        let h = w[1].sigma - hat.sigma;
        if w[1].sigma == 0.0 {
            stages.push(Stage::linear(Some(hat), 1.0, vec![h], w[1]));
            continue;
        }
        stages.push(Stage {
            save: true,
            ..Stage::linear(Some(hat), 1.0, vec![h], w[1])
        });
        stages.push(Stage {
            from_saved: true,
            ..Stage::linear(Some(w[1]), 1.0, vec![0.5 * h, 0.5 * h], w[1])
        });
    }
    plan(grid[0], stages)
}

/// DPM-2 (k-diffusion `sample_dpm_2`) with optional churn; the step into σ = 0 is Euler.
pub fn dpm2(process: &Process<'_>, grid: &[Node], churn: &Churn) -> Plan {
    let k = grid.len() - 1;
    let mut stages = Vec::new();
    for w in grid.windows(2) {
        let hat = churn_stage(process, churn, k, w[0], &mut stages);
        if w[1].sigma == 0.0 {
            stages.push(Stage::linear(
                Some(hat),
                1.0,
                vec![w[1].sigma - hat.sigma],
                w[1],
            ));
            continue;
        }
        let mid = process.node((0.5 * (hat.sigma.ln() + w[1].sigma.ln())).exp());
        stages.push(Stage {
            save: true,
            ..Stage::linear(Some(hat), 1.0, vec![mid.sigma - hat.sigma], mid)
        });
        stages.push(Stage {
            from_saved: true,
            ..Stage::linear(Some(mid), 1.0, vec![w[1].sigma - hat.sigma], w[1])
        });
    }
    plan(grid[0], stages)
}

/// DPM-2 ancestral with η (k-diffusion `sample_dpm_2_ancestral`).
pub fn dpm2_ancestral(process: &Process<'_>, grid: &[Node], eta: f64, s_noise: f64) -> Plan {
    let mut stages = Vec::new();
    for w in grid.windows(2) {
        let (down, up) = ancestral_step(w[0].sigma, w[1].sigma, eta);
        if down == 0.0 {
            // Into σ = 0 (σ_up = 0 too): an Euler step without noise, as diffusers'
            // KDPM2AncestralDiscreteScheduler (no draw, so recorded noise replays in order).
            stages.push(Stage {
                noise: (up > 0.0).then_some(s_noise * up),
                ..Stage::linear(Some(w[0]), 1.0, vec![down - w[0].sigma], w[1])
            });
            continue;
        }
        let mid = process.node((0.5 * (w[0].sigma.ln() + down.ln())).exp());
        stages.push(Stage {
            save: true,
            ..Stage::linear(Some(w[0]), 1.0, vec![mid.sigma - w[0].sigma], mid)
        });
        stages.push(Stage {
            from_saved: true,
            noise: Some(s_noise * up),
            ..Stage::linear(Some(mid), 1.0, vec![down - w[0].sigma], w[1])
        });
    }
    plan(grid[0], stages)
}

/// ∫_a^b Π_{k≠j} (τ − s_k)/(s_j − s_k) dτ by 3-point Gauss–Legendre (exact for the cubic
/// Lagrange basis of order ≤ 4).
fn lagrange_integral(nodes: &[f64], j: usize, a: f64, b: f64) -> f64 {
    const X: [f64; 3] = [-0.774_596_669_241_483_4, 0.0, 0.774_596_669_241_483_4];
    const W: [f64; 3] = [5.0 / 9.0, 8.0 / 9.0, 5.0 / 9.0];
    let (mid, half) = (0.5 * (a + b), 0.5 * (b - a));
    X.iter()
        .zip(W)
        .map(|(&x, w)| {
            let tau = mid + half * x;
            let p: f64 = nodes
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != j)
                .map(|(_, &s)| (tau - s) / (nodes[j] - s))
                .product();
            w * p
        })
        .sum::<f64>()
        * half
}

/// Linear multistep in σ of order `order` (diffusers' `LMSDiscreteScheduler`, order 4 by
/// default): step i uses the last min(i + 1, order) ε̂.
pub fn lms(grid: &[Node], order: usize) -> Plan {
    let stages = (0..grid.len() - 1)
        .map(|i| {
            let q = order.min(i + 1);
            // nodes[j] is σ_{i−j}, the node of D_j.
            let nodes: Vec<f64> = (0..q).map(|j| grid[i - j].sigma).collect();
            let coefs = (0..q)
                .map(|j| lagrange_integral(&nodes, j, grid[i].sigma, grid[i + 1].sigma))
                .collect();
            Stage::linear(Some(grid[i]), 1.0, coefs, grid[i + 1])
        })
        .collect();
    plan(grid[0], stages)
}
