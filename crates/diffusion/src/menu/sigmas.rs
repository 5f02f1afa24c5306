//! Noise-level grids of the menu: diffusers' `timestep_spacing` (leading / trailing /
//! linspace), Karras et al.'s σ schedule with `rho`, and zero-terminal-SNR rescaling.
//!
//! | code | symbol | meaning |
//! |---|---|---|
//! | `train_sigmas(s)[i]` | σ_i = √(β̄_{i+1}/ᾱ_{i+1}) | σ of diffusers' 0-based train step i (canonical n = i + 1) |
//! | `log_uniform(σ_min, σ_max, K)` | exp(linspace(ln σ_max, ln σ_min, K)) | uniform in λ = −ln σ (log-SNR) |
//! | `karras(σ_min, σ_max, ρ, K)` | (σ_max^{1/ρ} + u(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, u = linspace(0, 1, K) | EDM's schedule (arXiv 2206.00364, Eq. 5) |
//! | [`Process::node`] | (σ, t, c) | the model time of a σ and the scale of the process state |
//!
//! Timesteps follow diffusers 0.42 exactly (Lin et al., arXiv 2305.08891, Table 2, for the
//! three spacings); [`NoiseLevel::t`](crate::NoiseLevel) receives the canonical 1-based time
//! n = i + 1 of a diffusers timestep i.

use std::fmt;
use std::str::FromStr;

use super::plan::Node;
use crate::sde::Sde;
use crate::{Error, Result, Schedule};

/// diffusers' `timestep_spacing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spacing {
    /// `linspace(0, T − 1, K)` (rounded for integer-time solvers).
    Linspace,
    /// `arange(K) · (T // K) + steps_offset`.
    Leading,
    /// `round(arange(T, 0, −T/K)) − 1`.
    Trailing,
}

impl Spacing {
    /// `linspace`, `leading` or `trailing`.
    pub fn name(self) -> &'static str {
        match self {
            Spacing::Linspace => "linspace",
            Spacing::Leading => "leading",
            Spacing::Trailing => "trailing",
        }
    }
}

impl fmt::Display for Spacing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Spacing {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "linspace" => Ok(Spacing::Linspace),
            "leading" => Ok(Spacing::Leading),
            "trailing" => Ok(Spacing::Trailing),
            _ => Err(Error::Invalid {
                what: "spacing",
                msg: format!(
                    "unknown timestep spacing `{s}` (expected leading, trailing or linspace)"
                ),
            }),
        }
    }
}

/// Which σ values the grid uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigmaKind {
    /// The schedule's own σ at the spaced timesteps (continuous: uniform in t).
    Default,
    /// Karras et al.'s σ schedule between the schedule's σ_min and σ_max.
    Karras,
    /// Uniform in λ = −ln σ (the log-SNR grid of DPM-Solver; diffusers' `use_lu_lambdas`).
    LogSnr,
}

impl SigmaKind {
    /// `default` or `karras`.
    pub fn name(self) -> &'static str {
        match self {
            SigmaKind::Default => "default",
            SigmaKind::Karras => "karras",
            SigmaKind::LogSnr => "logsnr",
        }
    }
}

impl fmt::Display for SigmaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SigmaKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "default" => Ok(SigmaKind::Default),
            "karras" => Ok(SigmaKind::Karras),
            "logsnr" => Ok(SigmaKind::LogSnr),
            _ => Err(Error::Invalid {
                what: "sigmas",
                msg: format!("unknown σ schedule `{s}` (expected default, karras or logsnr)"),
            }),
        }
    }
}

/// The diffusion process the menu samples: a discrete VP schedule (diffusers' view) or an
/// [`Sde`] on t ∈ [t_end, 1].
#[derive(Debug, Clone, Copy)]
pub enum Process<'a> {
    /// A discrete schedule with N train steps.
    Discrete(&'a Schedule),
    /// A continuous SDE; the model time is t · `time_scale`; grids stop at `t_end`.
    Continuous {
        /// The SDE.
        sde: &'a Sde,
        /// Model time per unit t.
        time_scale: f64,
        /// Last time node (> 0).
        t_end: f64,
    },
}

impl<'a> From<&'a Schedule> for Process<'a> {
    fn from(s: &'a Schedule) -> Self {
        Process::Discrete(s)
    }
}

/// σ of diffusers' 0-based train steps: σ_i = √(β̄_{i+1}/ᾱ_{i+1}), i = 0..N−1.
pub fn train_sigmas(schedule: &Schedule) -> Vec<f64> {
    (1..=schedule.n_steps())
        .map(|n| (schedule.beta_bar(n) / schedule.alpha_bar(n)).sqrt())
        .collect()
}

/// numpy's `interp(t, arange(len), table)` (clamped at the ends).
fn interp(t: f64, table: &[f64]) -> f64 {
    let last = table.len() - 1;
    if t <= 0.0 {
        return table[0];
    }
    if t >= last as f64 {
        return table[last];
    }
    let i = t.floor() as usize;
    let w = t - i as f64;
    // numpy computes slope·(x − x_i) + y_i.
    (table[i + 1] - table[i]) * w + table[i]
}

/// diffusers' `_sigma_to_t`: the fractional train step of σ by linear interpolation of ln σ.
pub fn sigma_to_t(sigma: f64, log_sigmas: &[f64]) -> f64 {
    let ls = sigma.max(1e-10).ln();
    let n = log_sigmas.len();
    // low_idx: last index with log_sigmas[i] ≤ ln σ (table increases), clipped to n − 2.
    let count = log_sigmas.iter().filter(|&&l| ls - l >= 0.0).count();
    let low = count.saturating_sub(1).min(n - 2);
    let (lo, hi) = (log_sigmas[low], log_sigmas[low + 1]);
    let w = ((lo - ls) / (lo - hi)).clamp(0.0, 1.0);
    (1.0 - w) * low as f64 + w * (low + 1) as f64
}

/// Karras et al.'s K noise levels from σ_max down to σ_min.
pub fn karras(sigma_min: f64, sigma_max: f64, rho: f64, k: usize) -> Vec<f64> {
    let (lo, hi) = (sigma_min.powf(1.0 / rho), sigma_max.powf(1.0 / rho));
    crate::schedule::linspace(0.0, 1.0, k)
        .into_iter()
        .map(|u| (hi + u * (lo - hi)).powf(rho))
        .collect()
}

/// K noise levels from σ_max down to σ_min, uniform in ln σ.
pub fn log_uniform(sigma_min: f64, sigma_max: f64, k: usize) -> Vec<f64> {
    crate::schedule::linspace(sigma_max.ln(), sigma_min.ln(), k)
        .into_iter()
        .map(f64::exp)
        .collect()
}

/// The σ levels of a non-default kind between σ_min and σ_max.
fn levels(kind: SigmaKind, sigma_min: f64, sigma_max: f64, rho: f64, k: usize) -> Vec<f64> {
    match kind {
        SigmaKind::LogSnr => log_uniform(sigma_min, sigma_max, k),
        _ => karras(sigma_min, sigma_max, rho, k),
    }
}

/// diffusers' float timesteps of the σ-space schedulers (Euler, Heun, LMS): K values, descending.
pub fn karras_family_timesteps(
    n_train: usize,
    k: usize,
    spacing: Spacing,
    offset: usize,
) -> Vec<f64> {
    let t = n_train as f64;
    match spacing {
        Spacing::Linspace => {
            let mut v = crate::schedule::linspace(0.0, t - 1.0, k);
            v.reverse();
            v
        }
        Spacing::Leading => {
            let ratio = n_train / k;
            (0..k).rev().map(|i| (i * ratio + offset) as f64).collect()
        }
        Spacing::Trailing => trailing(t, t / k as f64),
    }
}

/// `round(arange(T, 0, −ratio)) − 1` as numpy computes it (half to even).
fn trailing(start: f64, ratio: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut i = 0usize;
    loop {
        let v = start - i as f64 * ratio;
        if v <= 0.0 {
            break;
        }
        out.push(v.round_ties_even() - 1.0);
        i += 1;
    }
    out
}

/// diffusers' integer timesteps of the multistep solvers (DPM-Solver++, UniPC, DEIS): K
/// values, descending.
pub fn multistep_timesteps(n_train: usize, k: usize, spacing: Spacing, offset: usize) -> Vec<f64> {
    let t = n_train as f64;
    match spacing {
        Spacing::Linspace => {
            let v = crate::schedule::linspace(0.0, t - 1.0, k + 1);
            v.iter()
                .rev()
                .take(k)
                .map(|x| x.round_ties_even())
                .collect()
        }
        Spacing::Leading => {
            let ratio = n_train / (k + 1);
            (1..=k).rev().map(|i| (i * ratio + offset) as f64).collect()
        }
        Spacing::Trailing => trailing(t, t / k as f64),
    }
}

/// Zero-terminal-SNR rescaling (Lin et al., arXiv 2305.08891, Algorithm 1): √ᾱ_n is shifted
/// and scaled so that √ᾱ_N = 0 while √ᾱ_1 is kept. ᾱ_N = 0 has no finite σ, so it is then
/// set to 2⁻²⁴ as diffusers' Euler scheduler does — or, when that would exceed ᾱ_{N−1} (it
/// does for the linear schedule, whose rescaled ᾱ_{N−1} ≈ 4e-9: diffusers then has a
/// non-monotone table, σ_{N−1} > σ_N), to ᾱ_{N−1}/2 so that the schedule stays valid.
///
/// # Errors
/// [`Error::Invalid`] for N < 2 (nothing to rescale).
pub fn rescale_zero_terminal_snr(schedule: &Schedule) -> Result<Schedule> {
    let n = schedule.n_steps();
    if n < 2 {
        return Err(Error::Invalid {
            what: "schedule",
            msg: "zero-terminal-SNR rescaling needs N ≥ 2".into(),
        });
    }
    let sq: Vec<f64> = (1..=n).map(|i| schedule.alpha_bar(i).sqrt()).collect();
    let (a0, at) = (sq[0], sq[n - 1]);
    let mut ab: Vec<f64> = sq
        .iter()
        .map(|s| ((s - at) * a0 / (a0 - at)).powi(2))
        .collect();
    ab[n - 1] = 2f64.powi(-24).min(0.5 * ab[n - 2]);
    let mut prev = 1.0;
    let betas: Vec<f64> = ab
        .iter()
        .map(|&a| {
            let b = 1.0 - a / prev;
            prev = a;
            b
        })
        .collect();
    Schedule::from_step_betas(&betas)
}

impl Process<'_> {
    /// The node of noise level σ (σ = 0 is the data, model time 0).
    pub fn node(&self, sigma: f64) -> Node {
        if sigma == 0.0 {
            return Node {
                sigma,
                t: 0.0,
                scale: 1.0,
            };
        }
        match *self {
            Process::Discrete(s) => {
                let logs: Vec<f64> = train_sigmas(s).iter().map(|v| v.ln()).collect();
                Node {
                    sigma,
                    t: sigma_to_t(sigma, &logs) + 1.0,
                    scale: 1.0,
                }
            }
            Process::Continuous {
                sde, time_scale, ..
            } => {
                let t = sde.t_of_lambda(-sigma.ln(), 0.0, 1.0);
                self.node_at_time(sde, t, time_scale, sigma)
            }
        }
    }

    fn node_at_time(&self, sde: &Sde, t: f64, time_scale: f64, sigma: f64) -> Node {
        let (c, _) = sde.eps_input(t);
        Node {
            sigma,
            t: t * time_scale,
            scale: c,
        }
    }

    /// Node at a diffusers train time i (fractional allowed) of a σ table.
    fn discrete_node(sigmas: &[f64], i: f64) -> Node {
        Node {
            sigma: interp(i, sigmas),
            t: i + 1.0,
            scale: 1.0,
        }
    }

    /// The K + 1 nodes of a σ-space sampler (Euler family): K levels then σ = 0 for a
    /// discrete schedule (diffusers' `final_sigmas_type = "zero"`); K + 1 levels from t = 1 to
    /// `t_end` for an SDE.
    pub fn karras_family_grid(
        &self,
        k: usize,
        kind: SigmaKind,
        rho: f64,
        spacing: Spacing,
        offset: usize,
    ) -> Vec<Node> {
        match *self {
            Process::Discrete(s) => {
                let sigmas = train_sigmas(s);
                let ts = karras_family_timesteps(s.n_steps(), k, spacing, offset);
                let mut nodes: Vec<Node> = match kind {
                    SigmaKind::Default => ts
                        .iter()
                        .map(|&t| Self::discrete_node(&sigmas, t))
                        .collect(),
                    SigmaKind::Karras | SigmaKind::LogSnr => {
                        let lo = interp(*ts.last().expect("K ≥ 1"), &sigmas);
                        let hi = interp(ts[0], &sigmas);
                        levels(kind, lo, hi, rho, k)
                            .into_iter()
                            .map(|sg| self.node(sg))
                            .collect()
                    }
                };
                nodes.push(self.node(0.0));
                nodes
            }
            Process::Continuous { .. } => self.continuous_grid(k, kind, rho),
        }
    }

    /// The nodes of the VP multistep solvers: K integer timesteps then the final level
    /// (σ = 0, or the schedule's σ_min for `final_min`).
    pub fn multistep_grid(
        &self,
        k: usize,
        kind: SigmaKind,
        rho: f64,
        spacing: Spacing,
        offset: usize,
        final_min: bool,
    ) -> Vec<Node> {
        match *self {
            Process::Discrete(s) => {
                let sigmas = train_sigmas(s);
                let mut nodes: Vec<Node> = match kind {
                    SigmaKind::Default => multistep_timesteps(s.n_steps(), k, spacing, offset)
                        .into_iter()
                        .map(|t| Self::discrete_node(&sigmas, t))
                        .collect(),
                    SigmaKind::Karras | SigmaKind::LogSnr => {
                        let logs: Vec<f64> = sigmas.iter().map(|v| v.ln()).collect();
                        levels(kind, sigmas[0], sigmas[sigmas.len() - 1], rho, k)
                            .into_iter()
                            .map(|sg| Node {
                                sigma: sg,
                                t: sigma_to_t(sg, &logs).round_ties_even() + 1.0,
                                scale: 1.0,
                            })
                            .collect()
                    }
                };
                nodes.push(if final_min {
                    Self::discrete_node(&sigmas, 0.0)
                } else {
                    self.node(0.0)
                });
                nodes
            }
            Process::Continuous { .. } => self.continuous_grid(k, kind, rho),
        }
    }

    /// K + 1 nodes from t = 1 to t_end: uniform in t, or Karras in σ.
    fn continuous_grid(&self, k: usize, kind: SigmaKind, rho: f64) -> Vec<Node> {
        let Process::Continuous {
            sde,
            time_scale,
            t_end,
        } = *self
        else {
            unreachable!("continuous_grid is only called on SDEs")
        };
        let sigma_of = |t: f64| sde.std(t) / sde.mean_coef(t);
        match kind {
            SigmaKind::Default => crate::schedule::linspace(1.0, t_end, k + 1)
                .into_iter()
                .map(|t| self.node_at_time(sde, t, time_scale, sigma_of(t)))
                .collect(),
            SigmaKind::Karras | SigmaKind::LogSnr => {
                levels(kind, sigma_of(t_end), sigma_of(1.0), rho, k + 1)
                    .into_iter()
                    .map(|sg| self.node(sg))
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spacings_match_diffusers() {
        // Values printed by diffusers 0.42 (EulerDiscreteScheduler / DPMSolverMultistepScheduler,
        // T = 1000, K = 10).
        assert_eq!(
            karras_family_timesteps(1000, 10, Spacing::Leading, 1),
            vec![
                901.0, 801.0, 701.0, 601.0, 501.0, 401.0, 301.0, 201.0, 101.0, 1.0
            ]
        );
        assert_eq!(
            karras_family_timesteps(1000, 10, Spacing::Trailing, 0),
            vec![
                999.0, 899.0, 799.0, 699.0, 599.0, 499.0, 399.0, 299.0, 199.0, 99.0
            ]
        );
        assert_eq!(
            multistep_timesteps(1000, 10, Spacing::Linspace, 0),
            vec![
                999.0, 899.0, 799.0, 699.0, 599.0, 500.0, 400.0, 300.0, 200.0, 100.0
            ]
        );
        let lin = karras_family_timesteps(1000, 10, Spacing::Linspace, 0);
        assert_eq!(lin[0], 999.0);
        assert_eq!(lin[9], 0.0);
    }

    #[test]
    fn karras_hits_the_ends() {
        let s = karras(0.03, 80.0, 7.0, 8);
        assert!((s[0] - 80.0).abs() < 1e-12 && (s[7] - 0.03).abs() < 1e-14);
        assert!(s.windows(2).all(|w| w[0] > w[1]));
    }

    #[test]
    fn sigma_to_t_inverts_the_table() {
        let s = Schedule::linear(1000).unwrap();
        let sig = train_sigmas(&s);
        let logs: Vec<f64> = sig.iter().map(|v| v.ln()).collect();
        for i in [0usize, 1, 17, 500, 998, 999] {
            assert!((sigma_to_t(sig[i], &logs) - i as f64).abs() < 1e-9, "{i}");
        }
    }

    #[test]
    fn zero_terminal_snr_keeps_first_and_zeroes_last() {
        let s = Schedule::linear(1000).unwrap();
        let r = rescale_zero_terminal_snr(&s).unwrap();
        assert!((r.alpha_bar(1) - s.alpha_bar(1)).abs() < 1e-12);
        // Rescaled ᾱ_999 ≈ 4e-9 < 2⁻²⁴, so ᾱ_N is half of it (doc comment).
        assert!(r.alpha_bar(1000) < 1e-8 && r.alpha_bar(1000) > 0.0);
        let cos = rescale_zero_terminal_snr(&Schedule::cosine(1000).unwrap()).unwrap();
        assert!(cos.alpha_bar(1000) <= 2f64.powi(-24));
        assert!((1..1000).all(|n| r.alpha_bar(n + 1) < r.alpha_bar(n)));
    }
}
