//! Multistep and singlestep solvers in the VP space as [`Plan`]s: DPM-Solver++ (2S, 2M/3M,
//! SDE-2M with η), UniPC (bh1/bh2), DEIS and PNDM, following diffusers 0.42 step for step.
//!
//! Notation on the nodes n_0, …, n_K: α = √ᾱ, s = √(1 − ᾱ), λ = ln(α/s) = −ln σ, and for a
//! step s₀ → t: h = λ_t − λ_{s₀}, so e^{−h} = σ_t/σ_{s₀} (VE σ ratio; 0 at the data).
//! D_j are the model outputs (x̂₀ for DPM-Solver++ and UniPC, ε̂ for DEIS and PNDM) of the
//! previous evaluations, newest first.
//!
//! | sampler | update (first order) | warm-up and final steps | NFE |
//! |---|---|---|---|
//! | DPM-Solver++ 2M/3M (Lu et al., arXiv 2211.01095) | x_t = (s_t/s₀) x + α_t(1 − e^{−h}) x̂₀ | orders 1, 2, … up to q; last step first order (final σ = 0); second-to-last ≤ 2 when K < 15 | K |
//! | SDE-DPM-Solver++ 2M (η) | x_t = (s_t/s₀)e^{−ηh} x + α_t(1 − e^{−(1+η)h}) D + s_t √(1 − e^{−2ηh}) z | as 2M | K |
//! | DPM-Solver++ 2S (singlestep) | pairs of steps: first order to the middle node, then the second-order update from the saved start | orders [1, 2]×…, ending [1, 1] (K even) or [1] | K |
//! | UniPC bh1/bh2 (Zhao et al., arXiv 2302.04867) | predictor UniP of order p, then corrector UniC at the next node reusing its evaluation | orders min(q, i + 1, K − i); no corrector after the last step | K |
//! | DEIS (Zhang & Chen, arXiv 2204.13902) | x_t = (α_t/α₀) x − s_t(e^h − 1) ε̂; higher orders integrate the Lagrange polynomial of ε̂ in ln ρ, ρ = σ | orders 1, 2, … up to q; last two lowered when K < 15; ends at the schedule's σ_min | K |
//! | PNDM (Liu et al., arXiv 2202.09778) | three pseudo-Runge–Kutta steps (4 evaluations each), then 4th-order pseudo-linear multistep | ends at ᾱ of train step 0 (diffusers' `set_alpha_to_one = False`) | K + 9 |

use super::hybrid::Variance;
use super::plan::{Node, Plan, Space, Stage, Stored};
use crate::Schedule;

/// Builds stages whose coefficients refer to evaluations by their running id.
struct Builder {
    stages: Vec<Stage>,
    n_evals: usize,
}

impl Builder {
    fn new() -> Self {
        Self {
            stages: Vec::new(),
            n_evals: 0,
        }
    }

    /// Registers the evaluation of the next stage and returns its id.
    fn eval(&mut self) -> usize {
        self.n_evals += 1;
        self.n_evals - 1
    }

    /// Coefficient vector (newest first) from (eval id, coefficient) pairs.
    fn coefs(&self, terms: &[(usize, f64)]) -> Vec<f64> {
        let depth = terms
            .iter()
            .map(|(id, _)| self.n_evals - id)
            .max()
            .unwrap_or(0);
        let mut c = vec![0.0; depth];
        for &(id, v) in terms {
            c[self.n_evals - 1 - id] += v;
        }
        c
    }

    fn finish(self, start: Node, stored: Stored) -> Plan {
        Plan {
            space: Space::Vp,
            stored,
            start,
            stages: self.stages,
        }
    }
}

/// e^{−h} for the step s → t (σ_t/σ_s).
fn em(s: &Node, t: &Node) -> f64 {
    t.sigma / s.sigma
}

/// λ_a − λ_b.
fn dl(a: &Node, b: &Node) -> f64 {
    b.sigma.ln() - a.sigma.ln()
}

/// DPM-Solver++ multistep of order `order` (1–3) with η (0 = ODE, 1 = diffusers'
/// `sde-dpmsolver++`); orders above 2 need η = 0. With [`Variance::Analytic`] (Γ as a
/// function of ᾱ) the noise of η > 0 has Analytic-DPM's optimal variance, with
/// [`Variance::Head`] the per-coordinate SN/NPR variance (module [`super::hybrid`]).
pub fn dpm_solver_pp_multistep(
    grid: &[Node],
    order: usize,
    eta: f64,
    variance: Variance<'_>,
) -> Plan {
    let k = grid.len() - 1;
    let mut b = Builder::new();
    let final_zero = grid[k].sigma == 0.0;
    for i in 0..k {
        let (s0, t) = (grid[i], grid[i + 1]);
        let id = b.eval();
        let mut q = order.min(i + 1);
        if i + 1 == k && (k < 15 || final_zero) {
            q = 1;
        }
        if i + 2 == k && k < 15 {
            q = q.min(2);
        }
        let (at, st) = t.alpha_sigma();
        let (_, ss) = s0.alpha_sigma();
        let e = em(&s0, &t);
        let (c_x, a, noise, x0_var_weight) = if eta > 0.0 {
            // e^{−ηh} = e^η, e^{−(1+η)h} = e^{1+η} with e = e^{−h}.
            let a = at * (1.0 - e.powf(1.0 + eta));
            let lambda = st * (1.0 - e.powf(2.0 * eta)).max(0.0).sqrt();
            let (std, w) = match variance {
                Variance::Handcrafted => (lambda, None),
                Variance::Analytic(g) => (super::hybrid::ddim_family_std(lambda, a, s0, g), None),
                Variance::Head => (lambda, Some(a)),
            };
            (st / ss * e.powf(eta), a, Some(std), w)
        } else {
            (st / ss, at * (1.0 - e), None, None)
        };
        let terms = match q {
            1 => vec![(id, a)],
            2 => {
                let r0 = dl(&s0, &grid[i - 1]) / dl(&t, &s0);
                vec![(id, a + 0.5 * a / r0), (id - 1, -0.5 * a / r0)]
            }
            _ => {
                let h = dl(&t, &s0);
                let (r0, r1) = (
                    dl(&s0, &grid[i - 1]) / h,
                    dl(&grid[i - 1], &grid[i - 2]) / h,
                );
                let emh = e - 1.0;
                let cb = at * (emh / h + 1.0);
                let cc = at * ((emh + h) / (h * h) - 0.5);
                // D1_0 = (m0 − m1)/r0, D1_1 = (m1 − m2)/r1; D1 = D1_0 + r0/(r0+r1)(D1_0 − D1_1);
                // D2 = (D1_0 − D1_1)/(r0 + r1); x = … + a m0 + cb D1 − cc D2.
                let d10 = [1.0 / r0, -1.0 / r0, 0.0];
                let d11 = [0.0, 1.0 / r1, -1.0 / r1];
                let w = r0 / (r0 + r1);
                let mut c = [a, 0.0, 0.0];
                for j in 0..3 {
                    let u = d10[j] - d11[j];
                    c[j] += cb * (d10[j] + w * u) - cc * u / (r0 + r1);
                }
                vec![(id, c[0]), (id - 1, c[1]), (id - 2, c[2])]
            }
        };
        let coefs = b.coefs(&terms);
        b.stages.push(Stage {
            noise,
            x0_var_weight,
            ..Stage::linear(Some(s0), c_x, coefs, t)
        });
    }
    b.finish(grid[0], Stored::X0)
}

/// diffusers' `get_order_list` of the singlestep solver of order 2 with `lower_order_final`,
/// the last step first order when the final σ is 0.
fn singlestep_orders(k: usize, final_zero: bool) -> Vec<usize> {
    let mut o: Vec<usize> = if k.is_multiple_of(2) {
        let mut v: Vec<usize> = (0..k / 2 - 1).flat_map(|_| [1, 2]).collect();
        v.extend([1, 1]);
        v
    } else {
        let mut v: Vec<usize> = (0..k / 2).flat_map(|_| [1, 2]).collect();
        v.push(1);
        v
    };
    if final_zero {
        o[k - 1] = 1;
    }
    o
}

/// DPM-Solver++ 2S (diffusers' `DPMSolverSinglestepScheduler`, order 2, midpoint).
pub fn dpm_solver_pp_2s(grid: &[Node]) -> Plan {
    let k = grid.len() - 1;
    let orders = singlestep_orders(k, grid[k].sigma == 0.0);
    let mut b = Builder::new();
    for i in 0..k {
        let t = grid[i + 1];
        let (at, st) = t.alpha_sigma();
        let id = b.eval();
        let stage = if orders[i] == 1 {
            let (_, ss) = grid[i].alpha_sigma();
            let a = at * (1.0 - em(&grid[i], &t));
            Stage {
                save: true,
                ..Stage::linear(Some(grid[i]), st / ss, b.coefs(&[(id, a)]), t)
            }
        } else {
            let (s0, s1) = (grid[i], grid[i - 1]);
            let (_, ss1) = s1.alpha_sigma();
            let a = at * (1.0 - em(&s1, &t));
            let r0 = dl(&s0, &s1) / dl(&t, &s1);
            Stage {
                from_saved: true,
                ..Stage::linear(
                    Some(s0),
                    st / ss1,
                    b.coefs(&[(id - 1, a - 0.5 * a / r0), (id, 0.5 * a / r0)]),
                    t,
                )
            }
        };
        b.stages.push(stage);
    }
    b.finish(grid[0], Stored::X0)
}

/// UniPC's B(h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UniPcVariant {
    /// B(h) = h.
    Bh1,
    /// B(h) = e^h − 1.
    Bh2,
}

/// Solves the small dense system `a x = b` by Gaussian elimination with partial pivoting.
#[allow(clippy::needless_range_loop)] // a dense n × n kernel
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .expect("n ≥ 1");
        a.swap(c, p);
        b.swap(c, p);
        for r in c + 1..n {
            let f = a[r][c] / a[c][c];
            for k in c..n {
                a[r][k] -= f * a[c][k];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    x
}

/// The (R, b) system of UniPC for order `p`, ratios `rks` (the last one 1) and hh = −h.
fn unipc_system(rks: &[f64], hh: f64, b_h: f64, p: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let h_phi_1 = hh.exp_m1();
    let mut h_phi_k = h_phi_1 / hh - 1.0;
    let mut fact = 1.0;
    let mut r = Vec::new();
    let mut b = Vec::new();
    for i in 1..=p {
        r.push(rks.iter().map(|x| x.powi(i as i32 - 1)).collect());
        b.push(h_phi_k * fact / b_h);
        fact *= (i + 1) as f64;
        h_phi_k = h_phi_k / hh - 1.0 / fact;
    }
    (r, b)
}

/// Whether UniPC corrects its last step (UniPC paper's final UniC; diffusers never does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UniPcFinal {
    /// No corrector after the last step (diffusers; K NFE).
    Skip,
    /// One more evaluation at the final node and a UniC step there (K + 1 NFE; the final
    /// node must have σ > 0).
    Correct,
}

/// The UniC stage correcting the state at node i (whose model output has id `ids[i]`) from
/// the saved state at node i − 1, with the order p of the predictor that produced it.
fn unic_stage(
    b: &Builder,
    grid: &[Node],
    ids: &[usize],
    i: usize,
    p: usize,
    variant: UniPcVariant,
) -> Stage {
    let (prev, this) = (grid[i - 1], grid[i]);
    let id = ids[i];
    let h = dl(&this, &prev);
    let hh = -h;
    let b_h = match variant {
        UniPcVariant::Bh1 => hh,
        UniPcVariant::Bh2 => hh.exp_m1(),
    };
    let (at, st) = this.alpha_sigma();
    let (_, sp) = prev.alpha_sigma();
    let m0 = ids[i - 1];
    let mut rks = Vec::new();
    let mut d1s: Vec<(usize, f64)> = Vec::new(); // (eval id of m_k, r_k)
    for kk in 1..p {
        let rk = dl(&grid[i - 1 - kk], &prev) / h;
        rks.push(rk);
        d1s.push((ids[i - 1 - kk], rk));
    }
    rks.push(1.0);
    let rhos = if p == 1 {
        vec![0.5]
    } else {
        let (r, bb) = unipc_system(&rks, hh, b_h, p);
        solve(r, bb)
    };
    // x_t = (s_t/s_0) x − α_t(e^{−h} − 1) m0 − α_t B(h) (Σ_k ρ_k (m_k − m0)/r_k + ρ_last (m_t − m0)).
    let f = -at * b_h;
    let mut terms = vec![(m0, -at * hh.exp_m1())];
    for (j, &(mid, rk)) in d1s.iter().enumerate() {
        terms.push((mid, f * rhos[j] / rk));
        terms.push((m0, -f * rhos[j] / rk));
    }
    let last = rhos[rhos.len() - 1];
    terms.push((id, f * last));
    terms.push((m0, -f * last));
    Stage {
        from_saved: true,
        report: false,
        ..Stage::linear(Some(this), st / sp, b.coefs(&terms), this)
    }
}

/// UniPC with x̂₀ prediction (diffusers' `UniPCMultistepScheduler`, `predict_x0 = True`):
/// predictor UniP of order p_i = min(q, i + 1, K − i) from node i, corrector UniC (order
/// p_{i−1}) at every node i ≥ 1 reusing the evaluation there; `last` decides whether the
/// final node is corrected too.
pub fn unipc(grid: &[Node], order: usize, variant: UniPcVariant, last: UniPcFinal) -> Plan {
    let k = grid.len() - 1;
    let mut b = Builder::new();
    let mut prev_order = 0;
    let mut ids: Vec<usize> = Vec::new(); // eval id at node i
    for i in 0..k {
        let id = b.eval();
        ids.push(id);
        let s0 = grid[i];
        if i > 0 {
            let stage = unic_stage(&b, grid, &ids, i, prev_order, variant);
            b.stages.push(stage);
        }
        // UniP of order p from node i to node i + 1.
        let p = order.min(k - i).min(i + 1);
        prev_order = p;
        let t = grid[i + 1];
        let (at, st) = t.alpha_sigma();
        let (_, ss) = s0.alpha_sigma();
        let e = em(&s0, &t);
        // hh = −h; e^{hh} − 1 = e − 1 stays finite when σ_t = 0.
        let mut terms = vec![(id, -at * (e - 1.0))];
        if p > 1 {
            let h = dl(&t, &s0);
            let hh = -h;
            let b_h = match variant {
                UniPcVariant::Bh1 => hh,
                UniPcVariant::Bh2 => hh.exp_m1(),
            };
            let mut rks = Vec::new();
            let mut d1s = Vec::new();
            for kk in 1..p {
                let rk = dl(&grid[i - kk], &s0) / h;
                rks.push(rk);
                d1s.push((ids[i - kk], rk));
            }
            rks.push(1.0);
            let rhos = if p == 2 {
                vec![0.5]
            } else {
                let (r, bb) = unipc_system(&rks, hh, b_h, p);
                let r: Vec<Vec<f64>> = r[..p - 1].iter().map(|row| row[..p - 1].to_vec()).collect();
                solve(r, bb[..p - 1].to_vec())
            };
            let f = -at * b_h;
            for (j, &(mid, rk)) in d1s.iter().enumerate() {
                terms.push((mid, f * rhos[j] / rk));
                terms.push((id, -f * rhos[j] / rk));
            }
        }
        let coefs = b.coefs(&terms);
        let eval = if i == 0 { Some(s0) } else { None };
        b.stages.push(Stage {
            save: true,
            ..Stage::linear(eval, st / ss, coefs, t)
        });
    }
    if last == UniPcFinal::Correct {
        ids.push(b.eval());
        let stage = unic_stage(&b, grid, &ids, k, prev_order, variant);
        b.stages.push(Stage {
            report: true,
            ..stage
        });
    }
    b.finish(grid[0], Stored::X0)
}

/// DEIS (diffusers' `DEISMultistepScheduler`, `logrho`) of order 1–3 on ε̂.
pub fn deis(grid: &[Node], order: usize) -> Plan {
    let k = grid.len() - 1;
    let mut b = Builder::new();
    let ln = f64::ln;
    for i in 0..k {
        let id = b.eval();
        let (s0, t) = (grid[i], grid[i + 1]);
        let mut q = order.min(i + 1);
        if k < 15 && i + 1 == k {
            q = 1;
        }
        if k < 15 && i + 2 == k {
            q = q.min(2);
        }
        let (at, st) = t.alpha_sigma();
        let (a0, _) = s0.alpha_sigma();
        let (rt, r0) = (t.sigma, s0.sigma);
        let terms = match q {
            1 => vec![(id, -st * (s0.sigma / t.sigma - 1.0))],
            2 => {
                let r1 = grid[i - 1].sigma;
                let ind = |t: f64, b: f64, c: f64| t * (-ln(c) + ln(t) - 1.0) / (ln(b) - ln(c));
                let c1 = ind(rt, r0, r1) - ind(r0, r0, r1);
                let c2 = ind(rt, r1, r0) - ind(r0, r1, r0);
                vec![(id, at * c1), (id - 1, at * c2)]
            }
            _ => {
                let (r1, r2) = (grid[i - 1].sigma, grid[i - 2].sigma);
                let ind = |t: f64, b: f64, c: f64, d: f64| {
                    let num = t
                        * (ln(c) * (ln(d) - ln(t) + 1.0) - ln(d) * ln(t) + ln(d) + ln(t).powi(2)
                            - 2.0 * ln(t)
                            + 2.0);
                    num / ((ln(b) - ln(c)) * (ln(b) - ln(d)))
                };
                let c1 = ind(rt, r0, r1, r2) - ind(r0, r0, r1, r2);
                let c2 = ind(rt, r1, r2, r0) - ind(r0, r1, r2, r0);
                let c3 = ind(rt, r2, r0, r1) - ind(r0, r2, r0, r1);
                vec![(id, at * c1), (id - 1, at * c2), (id - 2, at * c3)]
            }
        };
        let coefs = b.coefs(&terms);
        b.stages.push(Stage::linear(Some(s0), at / a0, coefs, t));
    }
    b.finish(grid[0], Stored::Eps)
}

/// PNDM (diffusers' `PNDMScheduler` defaults: pseudo-Runge–Kutta warm-up, `leading` spacing
/// with `offset`, final ᾱ = ᾱ of train step 0). Needs K ≥ 4 and K ≤ N.
pub fn pndm(schedule: &Schedule, k: usize, offset: usize) -> Plan {
    let n_train = schedule.n_steps();
    let ratio = n_train / k;
    // ᾱ of a diffusers train step (−1 = the final ᾱ of train step 0).
    let node = |ts: i64| -> Node {
        let n = if ts < 0 { 1 } else { ts as usize + 1 };
        Node {
            sigma: (schedule.beta_bar(n) / schedule.alpha_bar(n)).sqrt(),
            t: n as f64,
            scale: 1.0,
        }
    };
    let ab = |ts: i64| node(ts).alpha_bar();
    // x_prev = a x − c e from ts to prev (diffusers' `_get_prev_sample`).
    let transfer = |ts: i64, prev: i64| -> (f64, f64) {
        let (at, ap) = (ab(ts), ab(prev));
        let denom = at * (1.0 - ap).sqrt() + (at * (1.0 - at) * ap).sqrt();
        ((ap / at).sqrt(), (ap - at) / denom)
    };
    let base: Vec<i64> = (0..k).map(|i| (i * ratio + offset) as i64).collect();
    let half = (n_train / k / 2) as i64;
    // prk_timesteps as diffusers builds them.
    let mut prk: Vec<i64> = Vec::new();
    for &t in &base[k - 4..] {
        prk.push(t);
        prk.push(t + half);
    }
    prk.pop();
    let mut rep: Vec<i64> = prk.iter().flat_map(|&t| [t, t]).collect();
    rep.remove(0);
    rep.pop();
    rep.reverse();
    let mut b = Builder::new();
    let mut ets: Vec<usize> = Vec::new();
    let mut group: Vec<usize> = Vec::new();
    for (c, &passed) in rep.iter().enumerate() {
        let id = b.eval();
        let diff = if c % 2 == 1 { 0 } else { half };
        let prev = passed - diff;
        let t_base = rep[c / 4 * 4];
        let (a, cm) = transfer(t_base, prev);
        let phase = c % 4;
        if phase == 0 {
            ets.push(id);
            group.clear();
        }
        group.push(id);
        let terms: Vec<(usize, f64)> = if phase == 3 {
            let w = [1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0];
            group.iter().zip(w).map(|(&g, w)| (g, -cm * w)).collect()
        } else {
            vec![(id, -cm)]
        };
        let coefs = b.coefs(&terms);
        b.stages.push(Stage {
            save: phase == 0,
            from_saved: true,
            ..Stage::linear(Some(node(passed)), a, coefs, node(prev))
        });
    }
    for &ts in base[..k - 3].iter().rev() {
        let id = b.eval();
        ets.push(id);
        let n = ets.len();
        let prev = ts - ratio as i64;
        let (a, cm) = transfer(ts, prev);
        let w = [55.0 / 24.0, -59.0 / 24.0, 37.0 / 24.0, -9.0 / 24.0];
        let terms: Vec<(usize, f64)> = (0..4).map(|j| (ets[n - 1 - j], -cm * w[j])).collect();
        let coefs = b.coefs(&terms);
        b.stages
            .push(Stage::linear(Some(node(ts)), a, coefs, node(prev)));
    }
    b.finish(node(base[k - 1]), Stored::Eps)
}
