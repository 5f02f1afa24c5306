//! A sampler as data: a list of [`Stage`] coefficient records applied by one loop ([`run`]).
//!
//! Every sampler of the menu is linear in the state and in stored model outputs once the noise
//! levels are fixed, so each stage is
//!
//! ```text
//! [evaluate D_0 = model(y, node)]      (optional; pushes onto the history D_0, D_1, …)
//! y ← c_x · (y or the saved state) + Σ_j coefs[j] · D_j + noise_std · z
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `eval` | evaluate the model at the current state and noise level; the output becomes D_0 |
//! | `save` | copy the current state into the one saved slot before the update (RK-type stages) |
//! | `from_saved` | the update starts from the saved state instead of the current one |
//! | `c_x`, `coefs` | coefficients of the state and of the newest outputs D_0, D_1, … |
//! | `noise` | `Some(σ_z)`: draw z ~ N(0, I) (always drawn, even when σ_z = 0, so recorded noise replays in order) |
//! | `x0_var_weight` | `Some(w)`: per-coordinate noise std √(σ_z² + w² σ̄²_i) with σ̄²_i the covariance head's x₀ posterior variance at the stage's evaluation ([`run_with_head`]) |
//! | `node` | noise level of the state after the stage |
//! | `report` | the stage ends a user-visible step (passed to the `on_step` callback) |
//!
//! The state lives in one of two spaces ([`Space`]): `Ve` is k-diffusion's x_σ = x_0 + σ ε
//! (σ-space samplers), `Vp` is x = α x_0 + s ε with α² + s² = 1 (diffusers' multistep
//! solvers). D_j is ε̂ or x̂₀ ([`Stored`]). The model is always queried as an
//! [`EpsPredictor`] on the VP state with ᾱ = 1/(1 + σ²).

use crate::covariance::{CovKind, CovPredictor};
use crate::{EpsPredictor, Error, NoiseLevel, Result};

/// A noise level of the sampling grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
    /// σ = √(β̄/ᾱ), the variance-exploding noise level (0 = data).
    pub sigma: f64,
    /// Model time input passed as [`NoiseLevel::t`].
    pub t: f64,
    /// Scale of the process state relative to the VP state: x_process = `scale` · x_vp
    /// (1 for discrete VP schedules; √(μ² + σ_t²) of an [`crate::Sde`]).
    pub scale: f64,
}

impl Node {
    /// ᾱ = 1/(1 + σ²).
    pub fn alpha_bar(&self) -> f64 {
        1.0 / (1.0 + self.sigma * self.sigma)
    }

    /// (α, s) = (√ᾱ, √(1 − ᾱ)) of the VP form, computed without cancellation.
    pub fn alpha_sigma(&self) -> (f64, f64) {
        let a = 1.0 / (1.0 + self.sigma * self.sigma).sqrt();
        (a, self.sigma * a)
    }

    /// λ = ln(α/s) = −ln σ (+∞ at σ = 0).
    pub fn lambda(&self) -> f64 {
        -self.sigma.ln()
    }

    fn level(&self) -> NoiseLevel {
        NoiseLevel {
            t: self.t,
            alpha_bar: self.alpha_bar(),
        }
    }
}

/// Space of the state while a plan runs (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// x_σ = x_0 + σ ε.
    Ve,
    /// x = α x_0 + s ε.
    Vp,
}

/// What the history stores for each evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// ε̂.
    Eps,
    /// x̂₀.
    X0,
}

/// One coefficient record (module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Evaluate the model at the current state at this node first.
    pub eval: Option<Node>,
    /// Save the current state before the update.
    pub save: bool,
    /// Start the update from the saved state.
    pub from_saved: bool,
    /// Coefficient of the (current or saved) state.
    pub c_x: f64,
    /// Coefficients of D_0, D_1, … (newest first).
    pub coefs: Vec<f64>,
    /// Std of the added noise; `None` draws nothing.
    pub noise: Option<f64>,
    /// With `noise`: the weight w of x̂₀ in the update, so that the covariance head's
    /// per-coordinate x₀ posterior variance σ̄²_i (clipped to [0, σ²] at the evaluated
    /// node) adds w² σ̄²_i to the noise variance (SN/NPR hybrids; needs `eval`).
    pub x0_var_weight: Option<f64>,
    /// Noise level after the stage.
    pub node: Node,
    /// Whether the stage ends a reported step.
    pub report: bool,
}

impl Stage {
    /// The stage y ← c_x y + Σ coefs D (evaluating first at `eval`), reported, no noise.
    pub fn linear(eval: Option<Node>, c_x: f64, coefs: Vec<f64>, node: Node) -> Self {
        Self {
            eval,
            save: false,
            from_saved: false,
            c_x,
            coefs,
            noise: None,
            x0_var_weight: None,
            node,
            report: true,
        }
    }
}

/// A sampler run as data.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// State space.
    pub space: Space,
    /// History content.
    pub stored: Stored,
    /// The starting noise level (the prior draw lives there).
    pub start: Node,
    /// The stages in order.
    pub stages: Vec<Stage>,
}

impl Plan {
    /// Number of model evaluations.
    pub fn nfe(&self) -> usize {
        self.stages.iter().filter(|s| s.eval.is_some()).count()
    }

    /// The final noise level.
    pub fn end(&self) -> Node {
        self.stages.last().map_or(self.start, |s| s.node)
    }

    fn depth(&self) -> usize {
        self.stages.iter().map(|s| s.coefs.len()).max().unwrap_or(0)
    }
}

/// A source of standard normal draws (an RNG, or recorded noise replayed by tests).
pub trait NoiseSource {
    /// Fills `out` with independent N(0, 1) draws.
    fn fill(&mut self, out: &mut [f64]);
}

/// Standard normal draws from an RNG.
pub struct RngNoise<'a>(pub &'a mut dyn rand::RngCore);

impl NoiseSource for RngNoise<'_> {
    fn fill(&mut self, out: &mut [f64]) {
        crate::standard_normal(&mut *self.0, out);
    }
}

/// What the `on_step` callback sees after each reported step.
#[derive(Debug, Clone, Copy)]
pub struct MenuStep<'a> {
    /// 0-based index of the step.
    pub index: usize,
    /// Noise level reached.
    pub node: Node,
    /// Model evaluations so far.
    pub nfe: usize,
    /// The batch in the process's space at that level (x_process = scale · x_vp).
    pub x: &'a [f64],
}

/// Runs `plan` on the batch `x` (rows of `eps.dim()` values, in the process's space at
/// `plan.start`), overwriting it with the result at `plan.end()`. Returns the NFE.
///
/// # Errors
/// [`Error::Invalid`] for a batch that is not whole rows or a non-finite state (naming the
/// step); the predictor's errors.
pub fn run(
    eps: &dyn EpsPredictor,
    plan: &Plan,
    x: &mut [f64],
    noise: &mut dyn NoiseSource,
    on_step: &mut dyn FnMut(&MenuStep<'_>),
) -> Result<usize> {
    run_with_head(eps, None, plan, x, noise, on_step)
}

/// [`run`] with a covariance head of `kind` for the stages with
/// [`Stage::x0_var_weight`] (SN/NPR hybrids).
///
/// # Errors
/// As [`run`]; [`Error::Invalid`] when such a stage has no head or no evaluation.
pub fn run_with_head(
    eps: &dyn EpsPredictor,
    head: Option<(&dyn CovPredictor, CovKind)>,
    plan: &Plan,
    x: &mut [f64],
    noise: &mut dyn NoiseSource,
    on_step: &mut dyn FnMut(&MenuStep<'_>),
) -> Result<usize> {
    crate::sample::check_rows(x, eps.dim())?;
    let n = x.len();
    let to_space = |node: &Node| -> f64 {
        // Multiplier from the process state to the plan's space.
        match plan.space {
            Space::Vp => 1.0 / node.scale,
            Space::Ve => (1.0 + node.sigma * node.sigma).sqrt() / node.scale,
        }
    };
    let k0 = to_space(&plan.start);
    let mut y: Vec<f64> = x.iter().map(|v| v * k0).collect();
    let mut saved = vec![0.0; n];
    let depth = plan.depth();
    let mut history: std::collections::VecDeque<Vec<f64>> = std::collections::VecDeque::new();
    let mut vp = vec![0.0; n];
    let mut z = vec![0.0; n];
    let mut report_buf = vec![0.0; n];
    let needs_head = plan.stages.iter().any(|s| s.x0_var_weight.is_some());
    if needs_head && head.is_none() {
        return Err(Error::Invalid {
            what: "sampler plan",
            msg: "the SN/NPR variance needs a covariance head".into(),
        });
    }
    let (mut head_out, mut z_std) = if needs_head {
        (vec![0.0; n], vec![0.0; n])
    } else {
        (Vec::new(), Vec::new())
    };
    let mut nfe = 0;
    let mut step_idx = 0;
    for (si, st) in plan.stages.iter().enumerate() {
        if let Some(node) = st.eval {
            let mut out = if history.len() >= depth.max(1) {
                history.pop_back().expect("non-empty")
            } else {
                vec![0.0; n]
            };
            let (alpha, s) = node.alpha_sigma();
            let to_vp = match plan.space {
                Space::Vp => 1.0,
                Space::Ve => alpha,
            };
            for (v, yi) in vp.iter_mut().zip(&y) {
                *v = yi * to_vp;
            }
            eps.predict_eps(&vp, node.level(), &mut out)?;
            nfe += 1;
            if let (Some(w), Some((cov, kind))) = (st.x0_var_weight, head) {
                // Per-coordinate std √(λ² + w² clip(σ̄²_i)) from the head at this node.
                cov.predict_cov(kind, &vp, node.level(), &mut head_out)?;
                let (ab, cap) = (node.alpha_bar(), node.sigma * node.sigma);
                let lambda = st.noise.unwrap_or(0.0);
                for ((zs, &h), &e) in z_std.iter_mut().zip(&head_out).zip(&out) {
                    let v = kind.cov_x0(ab, h, e);
                    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, cap) };
                    *zs = (lambda * lambda + w * w * v).sqrt();
                }
            }
            if plan.stored == Stored::X0 {
                for (o, &v) in out.iter_mut().zip(&vp) {
                    *o = (v - s * *o) / alpha;
                }
            }
            history.push_front(out);
        }
        if st.save {
            saved.copy_from_slice(&y);
        }
        if st.coefs.len() > history.len() {
            return Err(Error::Invalid {
                what: "sampler plan",
                msg: format!(
                    "stage {si} combines {} model outputs but only {} exist",
                    st.coefs.len(),
                    history.len()
                ),
            });
        }
        if let Some(sz) = st.noise {
            noise.fill(&mut z);
            if sz == 0.0 && st.x0_var_weight.is_none() {
                z.fill(0.0);
            }
        }
        let base: &[f64] = if st.from_saved { &saved } else { &y };
        let mut next: Vec<f64> = base.iter().map(|v| st.c_x * v).collect();
        for (c, d) in st.coefs.iter().zip(&history) {
            if *c != 0.0 {
                for (a, b) in next.iter_mut().zip(d) {
                    *a += c * b;
                }
            }
        }
        if st.x0_var_weight.is_some() {
            if st.eval.is_none() {
                return Err(Error::Invalid {
                    what: "sampler plan",
                    msg: format!("stage {si} has an SN/NPR variance but no evaluation"),
                });
            }
            for ((a, b), s) in next.iter_mut().zip(&z).zip(&z_std) {
                *a += s * b;
            }
        } else if let Some(sz) = st.noise {
            for (a, b) in next.iter_mut().zip(&z) {
                *a += sz * b;
            }
        }
        y = next;
        if let Some(bad) = y.iter().position(|v| !v.is_finite()) {
            return Err(Error::Invalid {
                what: "sampler state",
                msg: format!(
                    "non-finite value {} at σ = {:.6} (stage {si}, step {step_idx})",
                    y[bad], st.node.sigma
                ),
            });
        }
        if st.report {
            let k = 1.0 / to_space(&st.node);
            for (r, v) in report_buf.iter_mut().zip(&y) {
                *r = v * k;
            }
            on_step(&MenuStep {
                index: step_idx,
                node: st.node,
                nfe,
                x: &report_buf,
            });
            step_idx += 1;
        }
    }
    let k = 1.0 / to_space(&plan.end());
    for (xi, v) in x.iter_mut().zip(&y) {
        *xi = v * k;
    }
    Ok(nfe)
}
