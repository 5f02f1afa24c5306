//! The fixed-step continuous samplers, one function each; the one-step ones are
//! [`LinearStep`] records applied by one loop.

use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};

use super::score::ScoreModel;
use super::{PcPredictor, SolverConfig};
use crate::sde::Sde;
use crate::step::{Step, X0Clip};
use crate::{Error, Result};

/// One step x_t → x_s = `coef_xt`·x_t + `coef_eps`·ε̂(x_t, t) + √`variance`·z on an SDE's
/// continuous times: the crate's one affine step record ([`Step`]) with f64 times and no x̂_0
/// term.
pub type LinearStep = Step<f64>;

/// A continuous-time step with no x̂_0 term (module docs of [`Step`]).
fn linear(sde: &Sde, t: f64, s: f64, coef_xt: f64, coef_eps: f64, variance: f64) -> LinearStep {
    let (mu, sigma) = (sde.mean_coef(t), sde.std(t));
    Step {
        s,
        t,
        alpha_bar_t: mu * mu,
        beta_bar_t: sigma * sigma,
        coef_xt,
        coef_x0: 0.0,
        coef_eps,
        variance,
        lambda2: variance,
        x0_clip: X0Clip::None,
    }
}

impl Step<f64> {
    /// Euler–Maruyama on the reverse SDE with Δ = t − s:
    /// x_s = (1 − Δ f_t) x_t − (Δ g_t²/σ_t) ε̂ + g_t √Δ z.
    pub fn euler_maruyama(sde: &Sde, t: f64, s: f64) -> Self {
        let dt = t - s;
        let g2 = sde.diffusion2(t);
        linear(
            sde,
            t,
            s,
            1.0 - dt * sde.drift_coef(t),
            -dt * g2 / sde.std(t),
            g2 * dt,
        )
    }

    /// Euler on the probability-flow ODE: x_s = (1 − Δ f_t) x_t − (Δ g_t²/(2σ_t)) ε̂.
    pub fn probability_flow_euler(sde: &Sde, t: f64, s: f64) -> Self {
        let dt = t - s;
        linear(
            sde,
            t,
            s,
            1.0 - dt * sde.drift_coef(t),
            -0.5 * dt * sde.diffusion2(t) / sde.std(t),
            0.0,
        )
    }

    /// score-SDE's reverse-diffusion predictor for the kernel x_t = a x_s + G z with
    /// a = μ_t/μ_s, G² = σ_t² − a² σ_s²: x_s = (2 − a) x_t − (G²/σ_t) ε̂ + G z
    /// (for VP, a = √(1 − β_i) and G² = β_i; for VE, a = 1 and G² = σ_t² − σ_s²).
    pub fn reverse_diffusion(sde: &Sde, t: f64, s: f64) -> Self {
        let a = sde.mean_coef(t) / sde.mean_coef(s);
        let (st, ss) = (sde.std(t), sde.std(s));
        let g2 = (st * st - a * a * ss * ss).max(0.0);
        linear(sde, t, s, 2.0 - a, -g2 / st, g2)
    }

    /// The exact solution of the PF-ODE with ε̂ frozen at t, i.e. DDIM (η = 0) and
    /// first-order DPM-Solver: x_s = (μ_s/μ_t) x_t + (σ_s − μ_s σ_t/μ_t) ε̂.
    pub fn frozen_eps(sde: &Sde, t: f64, s: f64) -> Self {
        let r = sde.mean_coef(s) / sde.mean_coef(t);
        linear(sde, t, s, r, sde.std(s) - r * sde.std(t), 0.0)
    }

    /// Std of the added noise, √`variance`.
    pub fn noise_std(&self) -> f64 {
        self.variance.sqrt()
    }
}

/// Whether a step adds its noise or returns its mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Noise {
    Sample,
    Mean,
}

pub(super) fn check_finite(x: &[f64], t: f64, step: usize) -> Result<()> {
    if x.iter().any(|v| !v.is_finite()) {
        return Err(Error::Invalid {
            what: "sampler state",
            msg: format!("non-finite value at t = {t:.6} (step {step})"),
        });
    }
    Ok(())
}

/// Applies one [`LinearStep`] to the batch (one evaluation).
fn apply(
    model: &mut ScoreModel<'_>,
    step: &LinearStep,
    x: &mut [f64],
    eps: &mut [f64],
    noise: Noise,
    rng: &mut dyn RngCore,
) -> Result<()> {
    model.eps(x, step.t, eps)?;
    let sigma = if noise == Noise::Sample {
        step.noise_std()
    } else {
        0.0
    };
    for (xi, &ei) in x.iter_mut().zip(eps.iter()) {
        let mut v = step.coef_xt * *xi + step.coef_eps * ei;
        if sigma > 0.0 {
            let z: f64 = StandardNormal.sample(rng);
            v += sigma * z;
        }
        *xi = v;
    }
    Ok(())
}

/// `em`: Euler–Maruyama on the reverse SDE; the last step returns its mean.
pub(super) fn euler_maruyama(
    model: &mut ScoreModel<'_>,
    grid: &[f64],
    x: &mut [f64],
    rng: &mut dyn RngCore,
) -> Result<()> {
    let k = grid.len() - 1;
    one_step_loop(model, grid, x, rng, |sde, i, t, s| {
        (LinearStep::euler_maruyama(sde, t, s), last_mean(i, k))
    })
}

/// `ode-euler`: Euler on the probability-flow ODE.
pub(super) fn ode_euler(
    model: &mut ScoreModel<'_>,
    grid: &[f64],
    x: &mut [f64],
    rng: &mut dyn RngCore,
) -> Result<()> {
    one_step_loop(model, grid, x, rng, |sde, _, t, s| {
        (LinearStep::probability_flow_euler(sde, t, s), Noise::Mean)
    })
}

/// Applies `step_of(sde, i, t_i, t_{i+1})` for every interval of `grid`.
fn one_step_loop(
    model: &mut ScoreModel<'_>,
    grid: &[f64],
    x: &mut [f64],
    rng: &mut dyn RngCore,
    step_of: impl Fn(&Sde, usize, f64, f64) -> (LinearStep, Noise),
) -> Result<()> {
    let mut eps = vec![0.0; x.len()];
    for i in 0..grid.len() - 1 {
        model.set_step(i);
        let (t, s) = (grid[i], grid[i + 1]);
        let (step, noise) = step_of(model.sde(), i, t, s);
        apply(model, &step, x, &mut eps, noise, rng)?;
        check_finite(x, s, i)?;
    }
    Ok(())
}

/// `pc`: `n_corrector` Langevin steps, then the predictor step; the last step returns its
/// mean.
pub(super) fn predictor_corrector(
    model: &mut ScoreModel<'_>,
    grid: &[f64],
    config: &SolverConfig,
    x: &mut [f64],
    rng: &mut dyn RngCore,
) -> Result<()> {
    let k = grid.len() - 1;
    let mut eps = vec![0.0; x.len()];
    for i in 0..k {
        model.set_step(i);
        let (t, s) = (grid[i], grid[i + 1]);
        for _ in 0..config.n_corrector {
            langevin(model, x, &mut eps, t, s, config.snr, rng)?;
        }
        let sde = model.sde();
        let step = match config.pc_predictor {
            PcPredictor::ReverseDiffusion => LinearStep::reverse_diffusion(sde, t, s),
            PcPredictor::EulerMaruyama => LinearStep::euler_maruyama(sde, t, s),
        };
        apply(model, &step, x, &mut eps, last_mean(i, k), rng)?;
        check_finite(x, s, i)?;
    }
    Ok(())
}

/// `ode-heun`: Heun (explicit trapezoid) on the probability-flow ODE, 2 NFE per step.
pub(super) fn heun(model: &mut ScoreModel<'_>, grid: &[f64], x: &mut [f64]) -> Result<()> {
    let mut d0 = vec![0.0; x.len()];
    let mut x1 = vec![0.0; x.len()];
    let mut d1 = vec![0.0; x.len()];
    for i in 0..grid.len() - 1 {
        model.set_step(i);
        let (t, s) = (grid[i], grid[i + 1]);
        let h = s - t;
        model.pf_drift(x, t, &mut d0)?;
        for ((a, &xi), &d) in x1.iter_mut().zip(x.iter()).zip(&d0) {
            *a = xi + h * d;
        }
        model.pf_drift(&x1, s, &mut d1)?;
        for ((xi, &a), &b) in x.iter_mut().zip(&d0).zip(&d1) {
            *xi += 0.5 * h * (a + b);
        }
        check_finite(x, s, i)?;
    }
    Ok(())
}

fn last_mean(i: usize, k: usize) -> Noise {
    if i + 1 == k {
        Noise::Mean
    } else {
        Noise::Sample
    }
}

/// Langevin corrector at time t (score-SDE `LangevinCorrector`): step size
/// 2·a²·(snr·‖z‖/‖∇log p‖)² with per-row norms averaged over the batch and a = μ_t/μ_s.
fn langevin(
    model: &mut ScoreModel<'_>,
    x: &mut [f64],
    eps: &mut [f64],
    t: f64,
    s: f64,
    snr: f64,
    rng: &mut dyn RngCore,
) -> Result<()> {
    let sde = model.sde();
    let d = model.predictor().dim();
    model.eps(x, t, eps)?;
    let sigma = sde.std(t);
    let z: Vec<f64> = (0..x.len())
        .map(|_| StandardNormal.sample(&mut *rng))
        .collect();
    let rows = (x.len() / d) as f64;
    let mean_norm = |v: &[f64], scale: f64| {
        v.chunks(d)
            .map(|r| r.iter().map(|a| a * a).sum::<f64>().sqrt() * scale)
            .sum::<f64>()
            / rows
    };
    let grad_norm = mean_norm(eps, 1.0 / sigma);
    let noise_norm = mean_norm(&z, 1.0);
    let a = sde.mean_coef(t) / sde.mean_coef(s);
    let step = if grad_norm > 0.0 {
        2.0 * a * a * (snr * noise_norm / grad_norm).powi(2)
    } else {
        0.0
    };
    let noise = (2.0 * step).sqrt();
    for ((xi, &ei), &zi) in x.iter_mut().zip(eps.iter()).zip(&z) {
        *xi += step * (-ei / sigma) + noise * zi;
    }
    Ok(())
}

/// DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) on the nodes `grid`, with the
/// first-order (DDIM) update on the first step and, for fewer than 15 steps, on the last
/// (the paper's `lower_order_final`). With h_i = λ_{t_i} − λ_{t_{i−1}}, r = h_{i−1}/h_i and
/// D = (1 + 1/(2r)) x̂_0^{(i−1)} − (1/(2r)) x̂_0^{(i−2)}:
/// x_{t_i} = (σ_{t_i}/σ_{t_{i−1}}) x_{t_{i−1}} − μ_{t_i}(e^{−h_i} − 1) D.
pub(super) fn dpm_solver_pp_2m(
    model: &mut ScoreModel<'_>,
    grid: &[f64],
    x: &mut [f64],
) -> Result<()> {
    let sde = model.sde();
    let k = grid.len() - 1;
    let mut eps = vec![0.0; x.len()];
    let mut x0_prev: Vec<f64> = Vec::new();
    let mut x0 = vec![0.0; x.len()];
    for i in 0..k {
        model.set_step(i);
        let (t, s) = (grid[i], grid[i + 1]);
        model.eps(x, t, &mut eps)?;
        let (mu_t, sigma_t) = (sde.mean_coef(t), sde.std(t));
        for ((o, &xi), &ei) in x0.iter_mut().zip(x.iter()).zip(&eps) {
            *o = (xi - sigma_t * ei) / mu_t;
        }
        let (mu_s, sigma_s) = (sde.mean_coef(s), sde.std(s));
        let h = sde.lambda(s) - sde.lambda(t);
        let c_x = sigma_s / sigma_t;
        let c_d = -mu_s * (-h).exp_m1();
        let first_order = i == 0 || (k < 15 && i + 1 == k);
        if first_order {
            for (xi, &d) in x.iter_mut().zip(&x0) {
                *xi = c_x * *xi + c_d * d;
            }
        } else {
            let h_prev = sde.lambda(t) - sde.lambda(grid[i - 1]);
            let r = h_prev / h;
            let (w1, w0) = (1.0 + 0.5 / r, -0.5 / r);
            for ((xi, &d1), &d0) in x.iter_mut().zip(&x0).zip(&x0_prev) {
                *xi = c_x * *xi + c_d * (w1 * d1 + w0 * d0);
            }
        }
        check_finite(x, s, i)?;
        std::mem::swap(&mut x0_prev, &mut x0);
        if x0.len() != x.len() {
            x0 = vec![0.0; x.len()];
        }
    }
    Ok(())
}
