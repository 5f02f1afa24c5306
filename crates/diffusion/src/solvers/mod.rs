//! Samplers of the continuous-time reverse process (spec §5.4, §5.5) on any [`EpsPredictor`].
//!
//! | [`ContinuousSampler`] | what it integrates | NFE |
//! |---|---|---|
//! | `em` | reverse SDE dx = [f_t x − g_t² ∇log p_t] dt + g_t dw̄, Euler–Maruyama | K |
//! | `pc` | predictor (reverse diffusion or EM) + `n_corrector` Langevin steps with `snr` | K(1 + n_corrector) |
//! | `ode-euler` | probability-flow ODE dx/dt = f_t x − ½ g_t² ∇log p_t, Euler | K |
//! | `ode-heun` | the same ODE, Heun (explicit trapezoid) | 2K |
//! | `ode-rk45` | the same ODE, adaptive Dormand–Prince 5(4) with rtol/atol ([`dopri5`]) | 2 + 6·(steps tried) |
//! | `dpm-solver++` | the same ODE in λ = ln(μ/σ), data prediction, 2M multistep (Lu et al. 2022, arXiv 2211.01095) | K |
//!
//! Time runs from t = 1 (prior) down to `t_end` (1e-3 by default, as in score-SDE). The
//! score comes from the ε-predictor through [`Sde::eps_input`]: ∇log p_t(x) = −ε̂/σ_t.
//! One-step samplers are coefficient data ([`LinearStep`] = [`crate::Step`]`<f64>`, the crate's one affine step record: x_s = a·x_t + b·ε̂ + σ·z) applied by
//! one loop; Heun, RK45 and DPM-Solver++ compose the same drift.
//! Stochastic samplers return the mean of their last step (score-SDE's `denoise`).
//!
//! # Example
//!
//! DPM-Solver++ with 20 NFE on the laboratory's ring, exact scores, VP SDE:
//!
//! ```
//! use diffusion::exact::GaussianMixture;
//! use diffusion::sde::Sde;
//! use diffusion::solvers::{ContinuousSampler, SolverConfig, sample_continuous};
//! use rand::SeedableRng;
//!
//! let gmm = GaussianMixture::ring(8, 2.0, 0.1)?;
//! let sde = Sde::from_name("vp")?;
//! let sampler: ContinuousSampler = "dpm-solver++".parse()?;
//! let config = SolverConfig::new(sampler, 20);
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let mut x = vec![0.0; 2 * 500];
//! sde.sample_prior(&mut rng, &mut x);
//! let report = sample_continuous(&gmm, &sde, &config, &mut x, &mut rng)?;
//! assert_eq!(report.nfe, 20);
//! // Every sample lands near the circle of radius 2.
//! assert!(x.chunks(2).all(|r| (r[0].hypot(r[1]) - 2.0).abs() < 0.6));
//! # Ok::<(), diffusion::Error>(())
//! ```
//!
//! The predictor is queried with `NoiseLevel { t, alpha_bar }` at the continuous time t.
//! A network trained on a discrete schedule is wrapped in [`Retimed`] (the one re-timing),
//! which gives it the training step matching each requested ᾱ under any SDE (VP, sub-VP,
//! VE); the exact predictors read only ᾱ and work with every SDE as they are.
//!
//! Files: this module (the sampler set, settings, time grid and the dispatch),
//! `score` ([`ScoreModel`], [`Retimed`]), `ode` ([`dopri5`]), `steps` (one function per
//! fixed-step sampler, on [`LinearStep`] records).

mod ode;
mod score;
mod steps;

use rand::RngCore;

pub use ode::{OdeStats, Rhs, Tolerances, dopri5};
pub use score::{ClippedX0, Derivative, Retimed, ScoreModel};
pub use steps::LinearStep;

use crate::sample::check_rows;
use crate::sde::Sde;
use crate::{EpsPredictor, Error, Result};

/// The closed set of continuous-time samplers (CLI names in [`ContinuousSampler::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContinuousSampler {
    /// Reverse-SDE Euler–Maruyama (`em`).
    EulerMaruyama,
    /// Predictor–corrector with a Langevin corrector (`pc`).
    PredictorCorrector,
    /// Probability-flow ODE, Euler (`ode-euler`).
    OdeEuler,
    /// Probability-flow ODE, Heun (`ode-heun`).
    OdeHeun,
    /// Probability-flow ODE, adaptive Dormand–Prince RK45 (`ode-rk45`).
    OdeRk45,
    /// DPM-Solver++ 2M (`dpm-solver++`).
    DpmSolverPp,
}

impl ContinuousSampler {
    /// Every sampler, in CLI order.
    pub const ALL: [ContinuousSampler; 6] = [
        ContinuousSampler::EulerMaruyama,
        ContinuousSampler::PredictorCorrector,
        ContinuousSampler::OdeEuler,
        ContinuousSampler::OdeHeun,
        ContinuousSampler::OdeRk45,
        ContinuousSampler::DpmSolverPp,
    ];

    /// `em`, `pc`, `ode-euler`, `ode-heun`, `ode-rk45` or `dpm-solver++`.
    pub fn name(self) -> &'static str {
        match self {
            ContinuousSampler::EulerMaruyama => "em",
            ContinuousSampler::PredictorCorrector => "pc",
            ContinuousSampler::OdeEuler => "ode-euler",
            ContinuousSampler::OdeHeun => "ode-heun",
            ContinuousSampler::OdeRk45 => "ode-rk45",
            ContinuousSampler::DpmSolverPp => "dpm-solver++",
        }
    }

    /// Whether the sampler draws noise (EM and PC).
    pub fn is_stochastic(self) -> bool {
        matches!(
            self,
            ContinuousSampler::EulerMaruyama | ContinuousSampler::PredictorCorrector
        )
    }
}

crate::named::named!(ContinuousSampler, "sampler");

/// Spacing of the K + 1 time nodes from 1 down to `t_end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeGrid {
    /// Uniform in t (score-SDE).
    Uniform,
    /// Uniform in λ_t = ln(μ_t/σ_t) (DPM-Solver's "logSNR" spacing).
    LogSnr,
}

/// The predictor of the PC sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcPredictor {
    /// Reverse diffusion (score-SDE's default): the discretised reverse kernel.
    ReverseDiffusion,
    /// Euler–Maruyama on the reverse SDE.
    EulerMaruyama,
}

/// Everything that shapes a continuous-time sampling run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolverConfig {
    /// Which sampler.
    pub sampler: ContinuousSampler,
    /// Number of steps K of the fixed-step samplers (ignored by RK45).
    pub n_steps: usize,
    /// Last time node (> 0; 1e-3 by default).
    pub t_end: f64,
    /// Spacing of the time nodes of the fixed-step samplers.
    pub grid: TimeGrid,
    /// RK45 tolerances (1e-5 / 1e-5 by default, as score-SDE's black-box sampler).
    pub tol: Tolerances,
    /// Most predictor calls allowed; exceeding it is an error naming the time reached.
    pub max_nfe: usize,
    /// Langevin corrector signal-to-noise ratio (0.16 by default).
    pub snr: f64,
    /// Langevin steps per PC step (1 by default).
    pub n_corrector: usize,
    /// Predictor of the PC sampler.
    pub pc_predictor: PcPredictor,
}

impl SolverConfig {
    /// Defaults: t_end = 1e-3, uniform grid (log-SNR grid for DPM-Solver++), rtol = atol =
    /// 1e-5, max_nfe = 100 000, snr = 0.16, one reverse-diffusion + Langevin step.
    pub fn new(sampler: ContinuousSampler, n_steps: usize) -> Self {
        Self {
            sampler,
            n_steps,
            t_end: 1e-3,
            grid: if sampler == ContinuousSampler::DpmSolverPp {
                TimeGrid::LogSnr
            } else {
                TimeGrid::Uniform
            },
            tol: Tolerances::new(1e-5, 1e-5).expect("positive constants"),
            max_nfe: 100_000,
            snr: 0.16,
            n_corrector: 1,
            pc_predictor: PcPredictor::ReverseDiffusion,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| {
            Err(Error::Invalid {
                what: "sampler config",
                msg,
            })
        };
        if !(self.t_end > 0.0 && self.t_end < 1.0) {
            return bad(format!("t_end = {} must lie in (0, 1)", self.t_end));
        }
        if self.sampler != ContinuousSampler::OdeRk45 && self.n_steps == 0 {
            return bad("the number of steps must be ≥ 1".into());
        }
        if !(self.snr.is_finite() && self.snr > 0.0) {
            return bad(format!("snr = {} must be positive", self.snr));
        }
        if self.max_nfe == 0 {
            return bad("the NFE budget must be ≥ 1".into());
        }
        Ok(())
    }
}

/// What a sampling run cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SampleReport {
    /// Number of function (predictor) evaluations on the batch.
    pub nfe: usize,
    /// Steps taken (accepted steps for RK45).
    pub n_steps: usize,
    /// Rejected steps (RK45 only).
    pub n_rejected: usize,
}

/// The K + 1 nodes 1 = t_0 > … > t_K = `t_end`.
pub fn time_grid(sde: &Sde, grid: TimeGrid, n_steps: usize, t_end: f64) -> Vec<f64> {
    let k = n_steps as f64;
    match grid {
        TimeGrid::Uniform => (0..=n_steps)
            .map(|i| 1.0 + (t_end - 1.0) * i as f64 / k)
            .collect(),
        TimeGrid::LogSnr => {
            let (l0, l1) = (sde.lambda(1.0), sde.lambda(t_end));
            (0..=n_steps)
                .map(|i| match i {
                    0 => 1.0,
                    i if i == n_steps => t_end,
                    i => sde.t_of_lambda(l0 + (l1 - l0) * i as f64 / k, t_end, 1.0),
                })
                .collect()
        }
    }
}

/// Runs `config.sampler` on the batch `x` (rows of `predictor.dim()` values), which must hold
/// draws from the prior at t = 1 (see [`Sde::sample_prior`]); `x` is overwritten with the
/// samples at `t_end`.
///
/// # Errors
/// [`Error::Invalid`] for a bad configuration or batch, an exceeded NFE budget (naming the
/// time and step reached), a non-finite state, or an RK45 step-size underflow; the
/// predictor's errors.
pub fn sample_continuous(
    predictor: &dyn EpsPredictor,
    sde: &Sde,
    config: &SolverConfig,
    x: &mut [f64],
    rng: &mut dyn RngCore,
) -> Result<SampleReport> {
    config.validate()?;
    check_rows(x, predictor.dim())?;
    steps::check_finite(x, 1.0, 0)?;
    let mut model = ScoreModel::new(predictor, sde, config.max_nfe);
    let grid = time_grid(sde, config.grid, config.n_steps, config.t_end);
    let mut report = SampleReport {
        n_steps: config.n_steps,
        ..SampleReport::default()
    };
    match config.sampler {
        ContinuousSampler::EulerMaruyama => steps::euler_maruyama(&mut model, &grid, x, rng)?,
        ContinuousSampler::OdeEuler => steps::ode_euler(&mut model, &grid, x, rng)?,
        ContinuousSampler::PredictorCorrector => {
            steps::predictor_corrector(&mut model, &grid, config, x, rng)?
        }
        ContinuousSampler::OdeHeun => steps::heun(&mut model, &grid, x)?,
        ContinuousSampler::OdeRk45 => {
            let stats = dopri5(
                &mut |t, y, dy| model.pf_drift(y, t, dy),
                1.0,
                config.t_end,
                x,
                config.tol,
                config.max_nfe,
            )?;
            report.n_steps = stats.n_accepted;
            report.n_rejected = stats.n_rejected;
        }
        ContinuousSampler::DpmSolverPp => steps::dpm_solver_pp_2m(&mut model, &grid, x)?,
    }
    report.nfe = model.nfe();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoiseLevel;

    use proptest::prelude::*;

    proptest! {
        /// With the true noise (ε̂ = ε), the DDIM step maps x_t = μ_t x_0 + σ_t ε exactly to
        /// x_s = μ_s x_0 + σ_s ε for every SDE (the step is the exact PF-ODE solution when ε̂
        /// is constant along it); 1e-9 relative to the magnitudes involved.
        #[test]
        fn ddim_step_is_exact_for_the_true_noise(
            kind in 0usize..3,
            p1 in 0.01f64..1.0,
            p2 in 1.0f64..30.0,
            u in 0.001f64..0.999,
            frac in 0.0f64..1.0,
            x0 in -3.0f64..3.0,
            e in -3.0f64..3.0,
        ) {
            let sde = match kind {
                0 => Sde::vp(p1, p2).unwrap(),
                1 => Sde::sub_vp(p1, p2).unwrap(),
                _ => Sde::ve(p1, p1 + p2).unwrap(),
            };
            let t = u;
            let s = 1e-4 + frac * (t - 1e-4);
            prop_assume!(s < t);
            let x_t = sde.mean_coef(t) * x0 + sde.std(t) * e;
            let step = LinearStep::frozen_eps(&sde, t, s);
            let got = step.coef_xt * x_t + step.coef_eps * e;
            let want = sde.mean_coef(s) * x0 + sde.std(s) * e;
            let scale = 1.0 + x_t.abs() + want.abs() + sde.std(t) * e.abs() / sde.mean_coef(t);
            prop_assert!((got - want).abs() <= 1e-9 * scale, "{got} vs {want}");
        }

        /// The reverse-diffusion step's noise variance is the forward kernel's
        /// G² = σ_t² − (μ_t/μ_s)² σ_s² ≥ 0 (β_i for VP, σ_t² − σ_s² for VE).
        #[test]
        fn reverse_diffusion_noise_is_the_kernel_variance(
            u in 0.01f64..1.0,
            frac in 0.0f64..1.0,
        ) {
            let t = u;
            let s = frac * t * 0.999;
            let vp = Sde::vp(0.1, 20.0).unwrap();
            let step = LinearStep::reverse_diffusion(&vp, t, s);
            let beta = 1.0 - (vp.log_alpha_bar(t) - vp.log_alpha_bar(s)).exp();
            prop_assert!((step.variance - beta).abs() <= 1e-12);
            let ve = Sde::ve(0.01, 50.0).unwrap();
            let step = LinearStep::reverse_diffusion(&ve, t, s);
            let want = ve.std(t).powi(2) - ve.std(s).powi(2);
            prop_assert!((step.variance - want).abs() <= 1e-9 * want.max(1e-12));
            prop_assert_eq!(step.coef_xt, 1.0);
        }
    }

    #[test]
    fn retimed_queries_the_training_step() {
        // At ᾱ = ᾱ_n the model time is n (1e-9), between steps it interpolates ln ᾱ, and it
        // clamps outside [ᾱ_N, 1].
        struct Probe(std::cell::Cell<f64>);
        impl EpsPredictor for Probe {
            fn dim(&self) -> usize {
                1
            }
            fn predict_eps(&self, _: &[f64], l: NoiseLevel, e: &mut [f64]) -> Result<()> {
                self.0.set(l.t);
                e.fill(l.alpha_bar);
                Ok(())
            }
        }
        let sched = crate::Schedule::cosine(100).unwrap();
        let probe = Probe(std::cell::Cell::new(-1.0));
        let r = Retimed::new(&probe, &sched);
        let mut e = [0.0];
        for n in [1usize, 2, 37, 99, 100] {
            let ab = sched.alpha_bar(n);
            r.predict_eps(
                &[0.0],
                NoiseLevel {
                    t: -5.0,
                    alpha_bar: ab,
                },
                &mut e,
            )
            .unwrap();
            assert!(
                (probe.0.get() - n as f64).abs() < 1e-9,
                "{n}: {}",
                probe.0.get()
            );
            assert_eq!(e[0], ab);
        }
        let mid = (0.5 * (sched.alpha_bar(10).ln() + sched.alpha_bar(11).ln())).exp();
        assert!((r.model_time(mid) - 10.5).abs() < 1e-9);
        assert_eq!(r.model_time(1.0), 0.0);
        assert_eq!(r.model_time(1e-30), 100.0);
        // A VE SDE on a VP-trained network: times stay inside the training range.
        let ve = Sde::ve(0.01, 50.0).unwrap();
        for t in [1e-3, 0.5, 1.0] {
            let m = r.model_time(ve.eps_input(t).1.alpha_bar);
            assert!((0.0..=100.0).contains(&m));
        }
    }

    #[test]
    fn names_round_trip() {
        for s in ContinuousSampler::ALL {
            assert_eq!(s.name().parse::<ContinuousSampler>().unwrap(), s);
        }
        assert!("ode-rk4".parse::<ContinuousSampler>().is_err());
    }

    #[test]
    fn dopri5_solves_exponential_and_oscillator() {
        // y' = −2y from 0 to 1 and the harmonic oscillator over one period, both directions;
        // with rtol = atol = 1e-10 the global error is below 1e-8.
        let tol = Tolerances::new(1e-10, 1e-10).unwrap();
        let mut y = [1.0];
        let st = dopri5(
            &mut |_, y, d| {
                d[0] = -2.0 * y[0];
                Ok(())
            },
            0.0,
            1.0,
            &mut y,
            tol,
            100_000,
        )
        .unwrap();
        assert!((y[0] - (-2f64).exp()).abs() < 1e-8, "{y:?} {st:?}");
        assert_eq!(st.nfe, 2 + 6 * (st.n_accepted + st.n_rejected));
        let mut z = [1.0, 0.0];
        let two_pi = 2.0 * std::f64::consts::PI;
        dopri5(
            &mut |_, y, d| {
                d[0] = y[1];
                d[1] = -y[0];
                Ok(())
            },
            two_pi,
            0.0,
            &mut z,
            tol,
            100_000,
        )
        .unwrap();
        assert!((z[0] - 1.0).abs() < 1e-8 && z[1].abs() < 1e-8, "{z:?}");
    }

    #[test]
    fn dopri5_budget_error_names_the_time() {
        let tol = Tolerances::new(1e-12, 1e-12).unwrap();
        let mut y = [1.0];
        let err = dopri5(
            &mut |t, _, d| {
                d[0] = (50.0 * t).sin();
                Ok(())
            },
            0.0,
            10.0,
            &mut y,
            tol,
            50,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("NFE budget of 50") && err.contains("t = "),
            "{err}"
        );
        assert!(Tolerances::new(0.0, 1e-5).is_err());
        assert!(Tolerances::new(1e-5, -1.0).is_err());
        assert!(Tolerances::new(f64::NAN, 1e-5).is_err());
    }
}
