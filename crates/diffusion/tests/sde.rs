//! Continuous time (issue 2, spec §5, §10.4): SDE samplers and the PF-ODE likelihood against
//! closed forms, on the exact ε-predictors.
//!
//! For Gaussian data N(m, s²) every SDE here has Gaussian marginals N(μ_t m, v_t) with
//! v_t = μ_t² s² + σ_t², the probability-flow map is x(t) − μ_t m = √(v_t/v_1)(x(1) − μ_1 m)
//! (d/dt ln √v_t = f_t + ½ g_t²/v_t is exactly the drift's slope), and ln p_0 is known.

use diffusion::analytic::Gamma;
use diffusion::exact::{DataLaw, Empirical, Gaussian, GaussianMixture, Rademacher, sample_law};
use diffusion::likelihood::{
    Divergence, LikelihoodConfig, Probe, drift_divergence, log_likelihood,
};
use diffusion::sde::Sde;
use diffusion::solvers::{ContinuousSampler, SolverConfig, Tolerances, sample_continuous};
use diffusion::{EpsPredictor, NoiseLevel, PlanConfig, Sampler, Trajectory, plan, sample};
use rand::SeedableRng;
use rand::rngs::StdRng;

const LN_2PI: f64 = 1.837_877_066_409_345_3;

fn sdes() -> Vec<Sde> {
    vec![
        Sde::from_name("vp").unwrap(),
        Sde::from_name("subvp").unwrap(),
        Sde::ve(0.01, 50.0).unwrap(),
    ]
}

/// ln N(x; m, s²) summed over coordinates of one row.
fn gauss_logpdf(x: &[f64], m: &[f64], s2: &[f64]) -> f64 {
    x.iter()
        .zip(m)
        .zip(s2)
        .map(|((x, m), s2)| -0.5 * (LN_2PI + s2.ln() + (x - m).powi(2) / s2))
        .sum()
}

/// The laboratory ring: 8 equal modes on the circle of radius 2, std 0.1.
fn ring() -> GaussianMixture {
    GaussianMixture::ring(8, 2.0, 0.1).unwrap()
}

fn ring_logpdf(x: &[f64]) -> f64 {
    let logs: Vec<f64> = (0..8)
        .map(|k| {
            let a = 2.0 * std::f64::consts::PI * k as f64 / 8.0;
            let m = [2.0 * a.cos(), 2.0 * a.sin()];
            (1.0f64 / 8.0).ln() + gauss_logpdf(x, &m, &[0.01, 0.01])
        })
        .collect();
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + logs.iter().map(|l| (l - max).exp()).sum::<f64>().ln()
}

#[test]
fn gaussian_ode_likelihood_matches_closed_form() {
    // Issue 2: |ODE ln p − closed form| ≤ 1e-4 nats/dim, for VP, sub-VP and VE, exact trace.
    // The ODE gives ln p_{t_0}(x) = ln p_1(x(1)) + ∫ div; with the exact p_1 = N(μ_1 m, v_1)
    // in place of the prior it must match the closed-form ln p_{t_0} (RK45 at
    // rtol = atol = 1e-6), and for VP/sub-VP also ln p_0 (σ²_{t_0} ≈ 1e-6; not VE, whose
    // σ_min = 0.01 blurs p_{t_0} by a variance of 1e-4). With the N(0, I) prior itself and centred data (m = 0) the prior
    // mismatch is ½|ln v_1| + ½|1/v_1 − 1| x² ≲ 1e-4 as well (VP: v_1 = 1 − 4e-5·(1 − s²)).
    let mut rng = StdRng::seed_from_u64(1);
    for (m, s2) in [
        (vec![0.5, -1.0], vec![0.09, 2.0]),
        (vec![0.0, 0.0], vec![0.09, 2.0]),
    ] {
        let data = Gaussian::new(m.clone(), s2.clone()).unwrap();
        let x = sample_law(&data, &mut rng, 16);
        for sde in sdes() {
            let mut cfg = LikelihoodConfig::new(Divergence::Exact);
            cfg.tol = Tolerances::new(1e-6, 1e-6).unwrap();
            let ll = log_likelihood(&data, &sde, &cfg, &x, &mut rng).unwrap();
            let (mu1, sd1) = (sde.mean_coef(1.0), sde.std(1.0));
            let m1: Vec<f64> = m.iter().map(|v| mu1 * v).collect();
            let v1: Vec<f64> = s2.iter().map(|v| mu1 * mu1 * v + sd1 * sd1).collect();
            let centred = m.iter().all(|&v| v == 0.0);
            let t0 = cfg.t_start;
            let (mu0, sd0) = (sde.mean_coef(t0), sde.std(t0));
            let m0: Vec<f64> = m.iter().map(|v| mu0 * v).collect();
            let v0: Vec<f64> = s2.iter().map(|v| mu0 * mu0 * v + sd0 * sd0).collect();
            for (r, row) in x.chunks(2).enumerate() {
                let want = gauss_logpdf(row, &m, &s2);
                let want_t0 = gauss_logpdf(row, &m0, &v0);
                let x1 = &ll.x_1[2 * r..2 * r + 2];
                let exact_p1 = ll.log_p[r] - ll.prior_log_p[r] + gauss_logpdf(x1, &m1, &v1);
                assert!(
                    (exact_p1 - want_t0).abs() / 2.0 < 1e-4,
                    "{}: {exact_p1} vs {want_t0} (nfe {})",
                    sde.name(),
                    ll.nfe
                );
                assert!(
                    sde.name() == "ve" || (exact_p1 - want).abs() / 2.0 < 1e-4,
                    "{}: {exact_p1} vs {want} (nfe {})",
                    sde.name(),
                    ll.nfe
                );
                if centred && sde.name() != "ve" {
                    let got = ll.log_p[r];
                    assert!(
                        (got - want).abs() / 2.0 < 1e-4,
                        "{}: {got} vs {want}",
                        sde.name()
                    );
                }
            }
            if centred && sde.name() != "ve" {
                let want_nll = -x.chunks(2).map(|r| gauss_logpdf(r, &m, &s2)).sum::<f64>() / 32.0;
                assert!((ll.nll_nats_per_dim() - want_nll).abs() < 1e-4);
                let want_bpd = want_nll / std::f64::consts::LN_2 + 7.0;
                assert!((ll.bits_per_dim(7.0) - want_bpd).abs() < 2e-4);
            }
        }
    }
}

#[test]
fn gmm_ode_likelihood_matches_mixture_density() {
    // Issue 2: RK45 ln p of ring data points vs the exact mixture ln p_0; 1e-3 nats/dim
    // covers ln p_{1e-5} vs ln p_0 (σ² = 1e-6 against component variance 0.01) and the
    // solver at rtol = atol = 1e-6.
    let gmm = ring();
    let mut rng = StdRng::seed_from_u64(2);
    let x = sample_law(&gmm, &mut rng, 12);
    let mut cfg = LikelihoodConfig::new(Divergence::Exact);
    cfg.tol = Tolerances::new(1e-6, 1e-6).unwrap();
    let ll = log_likelihood(&gmm, &Sde::from_name("vp").unwrap(), &cfg, &x, &mut rng).unwrap();
    for (row, lp) in x.chunks(2).zip(&ll.log_p) {
        let want = ring_logpdf(row);
        assert!((lp - want).abs() / 2.0 < 1e-3, "{row:?}: {lp} vs {want}");
    }
    assert_eq!(ll.derivative, diffusion::solvers::Derivative::Exact);
}

#[test]
fn hutchinson_mean_matches_exact_trace() {
    // Rademacher probes give the trace exactly when J is diagonal (Gaussian data), and in
    // general an unbiased estimate with variance 2 Σ_{i≠j} J_ij² (Gaussian probes:
    // 2 Σ_ij J_ij²) per probe; we allow 5 standard errors.
    let sde = Sde::from_name("vp").unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let gauss = Gaussian::new(vec![0.5, -1.0], vec![0.09, 2.0]).unwrap();
    let x = [0.3, 0.1, -2.0, 1.5];
    let exact_cfg = LikelihoodConfig::new(Divergence::Exact);
    let hutch = |n_probes, probe| LikelihoodConfig::new(Divergence::Hutchinson { n_probes, probe });
    let ex = drift_divergence(&gauss, &sde, &exact_cfg, &x, 0.4, &mut rng).unwrap();
    let h1 = drift_divergence(
        &gauss,
        &sde,
        &hutch(1, Probe::Rademacher),
        &x,
        0.4,
        &mut rng,
    )
    .unwrap();
    for (a, b) in ex.iter().zip(&h1) {
        assert!((a - b).abs() < 1e-12 * a.abs().max(1.0), "{a} vs {b}");
    }

    let gmm = ring();
    let x = [1.2, 0.9, -0.4, 0.1, 2.2, -1.9];
    let t = 0.3;
    let ex = drift_divergence(&gmm, &sde, &exact_cfg, &x, t, &mut rng).unwrap();
    // J of the drift's ε-part: k·∂ε̂/∂x with k = ½ g²/σ.
    let k = 0.5 * sde.diffusion2(t) / sde.std(t);
    let level = sde.eps_input(t).1;
    let n = 20_000;
    for probe in [Probe::Rademacher, Probe::Gaussian] {
        let est = drift_divergence(&gmm, &sde, &hutch(n, probe), &x, t, &mut rng).unwrap();
        for (r, row) in x.chunks(2).enumerate() {
            let mut j = [[0.0; 2]; 2];
            for (i, ji) in j.iter_mut().enumerate() {
                let mut e = [0.0; 2];
                e[i] = 1.0;
                gmm.eps_vjp(row, level, &e, ji).unwrap();
            }
            let off = j[0][1].powi(2) + j[1][0].powi(2);
            let var = match probe {
                Probe::Rademacher => 2.0 * off,
                Probe::Gaussian => 2.0 * (off + j[0][0].powi(2) + j[1][1].powi(2)),
            };
            let se = k * (var / n as f64).sqrt();
            assert!(
                (est[r] - ex[r]).abs() < 5.0 * se + 1e-12,
                "{probe:?} row {r}: {} vs {} (se {se})",
                est[r],
                ex[r]
            );
        }
    }
    // And through the whole solve: 64 Rademacher probes per point stay close to exact.
    let pts = sample_law(&gmm, &mut rng, 6);
    let ll_ex = log_likelihood(&gmm, &sde, &exact_cfg, &pts, &mut rng).unwrap();
    let ll_h = log_likelihood(&gmm, &sde, &hutch(64, Probe::Rademacher), &pts, &mut rng).unwrap();
    assert!((ll_ex.nll_nats_per_dim() - ll_h.nll_nats_per_dim()).abs() < 0.05);
}

#[test]
fn exact_vjps_match_finite_differences_and_are_symmetric() {
    // Central differences with h = 1e-5 are accurate to ~1e-9 here; J of an exact ε* is
    // symmetric (the Hessian of a log-density, scaled).
    let laws: Vec<(&str, Box<dyn EpsPredictor>)> = vec![
        (
            "gauss",
            Box::new(Gaussian::new(vec![0.5, -1.0], vec![0.09, 2.0]).unwrap()),
        ),
        ("gmm", Box::new(ring())),
        ("rademacher", Box::new(Rademacher::new(2).unwrap())),
        (
            "empirical",
            Box::new(Empirical::new(vec![0.0, 1.0, 1.0, -1.0, 0.5, 0.5], 2).unwrap()),
        ),
    ];
    let x = [0.7, -0.2, 1.9, 0.4];
    for (name, p) in &laws {
        for ab in [0.9, 0.3, 0.01] {
            let level = NoiseLevel {
                t: 0.0,
                alpha_bar: ab,
            };
            let mut j = [[0.0; 4]; 2];
            for (i, ji) in j.iter_mut().enumerate() {
                let v: Vec<f64> = (0..4).map(|q| f64::from(q % 2 == i)).collect();
                assert!(p.eps_vjp(&x, level, &v, ji).unwrap());
                let h = 1e-5;
                let xp: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a + h * b).collect();
                let xm: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a - h * b).collect();
                let (mut ep, mut em) = ([0.0; 4], [0.0; 4]);
                p.predict_eps(&xp, level, &mut ep).unwrap();
                p.predict_eps(&xm, level, &mut em).unwrap();
                for q in 0..4 {
                    // Row q/2's Jv in coordinate q%2 (J symmetric, so Jv = vᵀJ).
                    let fd = (ep[q] - em[q]) / (2.0 * h);
                    assert!(
                        (ji[q] - fd).abs() < 1e-6 * fd.abs().max(1.0),
                        "{name} ᾱ={ab}: {} vs {fd}",
                        ji[q]
                    );
                }
            }
            for r in 0..2 {
                let (a, b) = (j[0][2 * r + 1], j[1][2 * r]);
                assert!(
                    (a - b).abs() < 1e-10 * a.abs().max(1.0),
                    "{name}: {a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn many_step_ddim_agrees_with_rk45() {
    // Spec §10.4: DDIM (η = 0) with K = N steps on the VP process's own discretisation
    // converges (first order) to the PF-ODE solution. Compare at x_{τ_1} (t = 1/N) on the
    // ring: max error < 0.02 at N = 1000 and at least 3× smaller at N = 4000.
    let gmm = ring();
    let sde = Sde::from_name("vp").unwrap();
    let mut rng = StdRng::seed_from_u64(4);
    let mut x1 = vec![0.0; 2 * 64];
    sde.sample_prior(&mut rng, &mut x1);
    let mut errs = vec![];
    for n in [1000, 4000] {
        let schedule = sde.discretize(n).unwrap();
        let traj = Trajectory::even(n, n).unwrap();
        let steps = plan(
            &schedule,
            &traj,
            &PlanConfig::exact(Sampler::Ddim { eta: 0.0 }),
            &Gamma::unknown(n),
        )
        .unwrap();
        let mut ddim = x1.clone();
        sample(&gmm, &steps[..n - 1], &mut ddim, &mut rng, &mut |_| {}).unwrap();
        let mut ode = x1.clone();
        let mut cfg = SolverConfig::new(ContinuousSampler::OdeRk45, 0);
        cfg.t_end = 1.0 / n as f64;
        cfg.tol = Tolerances::new(1e-9, 1e-9).unwrap();
        let rep = sample_continuous(&gmm, &sde, &cfg, &mut ode, &mut rng).unwrap();
        assert!(rep.nfe > 0);
        let err = ddim
            .iter()
            .zip(&ode)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        errs.push(err);
    }
    assert!(errs[0] < 0.02, "{errs:?}");
    assert!(errs[1] < errs[0] / 3.0, "{errs:?}");
}

/// Max |x(t_end) − exact flow| for an ODE sampler on 1-D Gaussian data.
fn gaussian_flow_error(sde: &Sde, sampler: ContinuousSampler, k: usize) -> (f64, usize) {
    let (m, s2) = (0.5, 0.09);
    let data = Gaussian::isotropic(1, m, s2).unwrap();
    let v = |t: f64| sde.mean_coef(t).powi(2) * s2 + sde.std(t).powi(2);
    let mut rng = StdRng::seed_from_u64(5);
    let mut x = vec![0.0; 32];
    sde.sample_prior(&mut rng, &mut x);
    let start = x.clone();
    let mut cfg = SolverConfig::new(sampler, k);
    cfg.tol = Tolerances::new(1e-9, 1e-9).unwrap();
    let rep = sample_continuous(&data, sde, &cfg, &mut x, &mut rng).unwrap();
    let te = cfg.t_end;
    let scale = (v(te) / v(1.0)).sqrt();
    let err = x
        .iter()
        .zip(&start)
        .map(|(a, x1)| {
            let want = sde.mean_coef(te) * m + scale * (x1 - sde.mean_coef(1.0) * m);
            (a - want).abs()
        })
        .fold(0.0, f64::max);
    (err, rep.nfe)
}

#[test]
fn ode_samplers_converge_at_their_order_on_gaussian_data() {
    // Doubling K divides the error by ≈2 (Euler) or ≈4 (Heun, DPM-Solver++ 2M); we require
    // > 1.6 and > 3 respectively. RK45 at rtol = atol = 1e-9 is within 1e-6 of the exact flow.
    for sde in sdes() {
        for (sampler, k, min_ratio) in [
            (ContinuousSampler::OdeEuler, 200, 1.6),
            (ContinuousSampler::OdeHeun, 50, 3.0),
            (ContinuousSampler::DpmSolverPp, 20, 3.0),
        ] {
            let (e1, n1) = gaussian_flow_error(&sde, sampler, k);
            let (e2, _) = gaussian_flow_error(&sde, sampler, 2 * k);
            assert!(e1 / e2 > min_ratio, "{} {sampler}: {e1} → {e2}", sde.name());
            let per_step = if sampler == ContinuousSampler::OdeHeun {
                2
            } else {
                1
            };
            assert_eq!(n1, per_step * k);
        }
        let (e, nfe) = gaussian_flow_error(&sde, ContinuousSampler::OdeRk45, 0);
        assert!(e < 1e-6, "{}: rk45 error {e} (nfe {nfe})", sde.name());
    }
}

#[test]
fn stochastic_samplers_reproduce_gaussian_marginal() {
    // Issue 2: EM with many steps reproduces the marginal q_{t_end} = N(μ m, v) from
    // x_1 ~ q_1; tolerances are 4 standard errors (mean √(v/M), variance v√(2/M)) plus
    // a 1 % allowance for the O(Δ) discretisation bias; PC likewise.
    let (m, s2) = (0.5, 0.09);
    let data = Gaussian::isotropic(1, m, s2).unwrap();
    let sde = Sde::from_name("vp").unwrap();
    let n_rows = 20_000;
    for (sampler, k) in [
        (ContinuousSampler::EulerMaruyama, 1000),
        (ContinuousSampler::PredictorCorrector, 500),
    ] {
        let mut rng = StdRng::seed_from_u64(6);
        let mut x = vec![0.0; n_rows];
        let (mu1, v1) = (
            sde.mean_coef(1.0),
            sde.mean_coef(1.0).powi(2) * s2 + sde.std(1.0).powi(2),
        );
        for xi in x.iter_mut() {
            let z: f64 = rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut rng);
            *xi = mu1 * m + v1.sqrt() * z;
        }
        let cfg = SolverConfig::new(sampler, k);
        let rep = sample_continuous(&data, &sde, &cfg, &mut x, &mut rng).unwrap();
        let expected_nfe = if sampler == ContinuousSampler::EulerMaruyama {
            k
        } else {
            2 * k
        };
        assert_eq!(rep.nfe, expected_nfe);
        let te = cfg.t_end;
        let (mu, v) = (
            sde.mean_coef(te),
            sde.mean_coef(te).powi(2) * s2 + sde.std(te).powi(2),
        );
        let mean = x.iter().sum::<f64>() / n_rows as f64;
        let var = x.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (n_rows - 1) as f64;
        let se_mean = (v / n_rows as f64).sqrt();
        let se_var = v * (2.0 / n_rows as f64).sqrt();
        assert!(
            (mean - mu * m).abs() < 4.0 * se_mean + 0.01 * m,
            "{sampler}: mean {mean}"
        );
        assert!(
            (var - v).abs() < 4.0 * se_var + 0.01 * v,
            "{sampler}: var {var} vs {v}"
        );
    }
}

#[test]
fn samplers_draw_the_ring_from_the_prior() {
    // Every sampler (and both PC predictors) under VP, sub-VP and VE at K = 100: energy
    // distance to fresh ring data below 0.03 (a sample from the VP prior itself scores ≈ 1.0;
    // fresh data vs fresh data ≈ 0.003 at 1000 rows, measured values 0.001..0.013).
    use diffusion::solvers::PcPredictor;
    let gmm = ring();
    let mut rng = StdRng::seed_from_u64(7);
    let fresh = sample_law(&gmm, &mut rng, 1000);
    for sde in sdes() {
        let runs = ContinuousSampler::ALL
            .into_iter()
            .map(|s| (s, PcPredictor::ReverseDiffusion))
            .chain([(
                ContinuousSampler::PredictorCorrector,
                PcPredictor::EulerMaruyama,
            )]);
        for (sampler, pc_predictor) in runs {
            let mut x = vec![0.0; 2000];
            sde.sample_prior(&mut rng, &mut x);
            let mut cfg = SolverConfig::new(sampler, 100);
            cfg.pc_predictor = pc_predictor;
            let rep = sample_continuous(&gmm, &sde, &cfg, &mut x, &mut rng).unwrap();
            let ed = diffusion::metrics::energy_distance(&x, &fresh, 2);
            assert!(
                ed < 0.03,
                "{} {sampler} {pc_predictor:?}: energy distance {ed} (nfe {})",
                sde.name(),
                rep.nfe
            );
        }
    }
}

/// A predictor that returns NaN, to check the non-finite error.
struct Broken;

impl EpsPredictor for Broken {
    fn dim(&self) -> usize {
        1
    }
    fn predict_eps(&self, _: &[f64], _: NoiseLevel, eps: &mut [f64]) -> diffusion::Result<()> {
        eps.fill(f64::NAN);
        Ok(())
    }
}

#[test]
fn bad_input_gives_clear_errors() {
    let gmm = ring();
    let sde = Sde::from_name("vp").unwrap();
    let mut rng = StdRng::seed_from_u64(8);
    let mut x = vec![0.0; 20];
    sde.sample_prior(&mut rng, &mut x);
    // Fixed-step budget.
    let mut cfg = SolverConfig::new(ContinuousSampler::OdeHeun, 10);
    cfg.max_nfe = 7;
    let err = sample_continuous(&gmm, &sde, &cfg, &mut x.clone(), &mut rng)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("NFE budget of 7") && err.contains("step 3"),
        "{err}"
    );
    // Adaptive budget.
    let mut cfg = SolverConfig::new(ContinuousSampler::OdeRk45, 0);
    cfg.max_nfe = 20;
    let err = sample_continuous(&gmm, &sde, &cfg, &mut x.clone(), &mut rng)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("NFE budget of 20") && err.contains("t = "),
        "{err}"
    );
    // Non-finite state.
    let cfg = SolverConfig::new(ContinuousSampler::OdeEuler, 5);
    let err = sample_continuous(&Broken, &sde, &cfg, &mut [0.5], &mut rng)
        .unwrap_err()
        .to_string();
    assert!(err.contains("non-finite"), "{err}");
    let err = log_likelihood(
        &Broken,
        &sde,
        &LikelihoodConfig::new(Divergence::Hutchinson {
            n_probes: 1,
            probe: Probe::Gaussian,
        }),
        &[0.5],
        &mut rng,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("non-finite"), "{err}");
    // Configuration.
    assert!("euler".parse::<ContinuousSampler>().is_err());
    assert!(Sde::from_name("vpx").is_err());
    assert!(Tolerances::new(-1e-5, 1e-5).is_err());
    let cfg = SolverConfig::new(ContinuousSampler::EulerMaruyama, 0);
    assert!(sample_continuous(&gmm, &sde, &cfg, &mut x.clone(), &mut rng).is_err());
    let mut lcfg = LikelihoodConfig::new(Divergence::Exact);
    lcfg.t_start = 0.0;
    assert!(log_likelihood(&gmm, &sde, &lcfg, &x, &mut rng).is_err());
    assert!(
        log_likelihood(
            &gmm,
            &sde,
            &LikelihoodConfig::new(Divergence::Exact),
            &[f64::NAN, 0.0],
            &mut rng
        )
        .is_err()
    );
}

#[test]
fn finite_difference_fallback_is_labelled_and_close() {
    // A predictor without eps_vjp (like a network) gets central differences: same answer
    // to ~1e-5 on Gaussian data, reported as FiniteDifference.
    struct NoJacobian(Gaussian);
    impl EpsPredictor for NoJacobian {
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn predict_eps(&self, x: &[f64], l: NoiseLevel, e: &mut [f64]) -> diffusion::Result<()> {
            self.0.predict_eps(x, l, e)
        }
    }
    let g = Gaussian::new(vec![0.5, -1.0], vec![0.09, 2.0]).unwrap();
    let sde = Sde::from_name("vp").unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let x = g.clone();
    let pts = sample_law(&x, &mut rng, 4);
    let cfg = LikelihoodConfig::new(Divergence::Exact);
    let a = log_likelihood(&g, &sde, &cfg, &pts, &mut rng).unwrap();
    let b = log_likelihood(&NoJacobian(g.clone()), &sde, &cfg, &pts, &mut rng).unwrap();
    assert_eq!(
        b.derivative,
        diffusion::solvers::Derivative::FiniteDifference
    );
    for (p, q) in a.log_p.iter().zip(&b.log_p) {
        assert!((p - q).abs() < 1e-5, "{p} vs {q}");
    }
    let _ = g.data_dim();
}

#[test]
fn likelihood_reports_its_progress_up_to_t_equals_one() {
    // Issue 20 item 19: the solve reports the time reached and the NFE after every drift
    // evaluation; the last report has the solve's NFE, t = 1 and fraction 1, and t never
    // goes back.
    use diffusion::likelihood::log_likelihood_with_progress;
    let gmm = GaussianMixture::ring(8, 2.0, 0.1).unwrap();
    let sde = Sde::from_name("vp").unwrap();
    let cfg = LikelihoodConfig::new(Divergence::Exact);
    let mut rng = StdRng::seed_from_u64(5);
    let x = sample_law(&gmm, &mut rng, 7);
    let mut seen = Vec::new();
    let ll = log_likelihood_with_progress(&gmm, &sde, &cfg, &x, &mut rng, &mut |p| seen.push(p))
        .unwrap();
    assert_eq!(seen.len(), ll.nfe);
    let last = seen.last().unwrap();
    assert_eq!(
        (last.nfe, last.rows, last.max_nfe),
        (ll.nfe, 7, cfg.max_nfe)
    );
    assert!((last.t - 1.0).abs() < 1e-12, "{}", last.t);
    assert!((last.fraction() - 1.0).abs() < 1e-12);
    assert!(seen[0].fraction() < 1e-6);
    assert!(
        seen.windows(2)
            .all(|w| w[1].t >= w[0].t && w[1].nfe == w[0].nfe + 1)
    );
    // The same numbers as without a callback.
    let mut rng = StdRng::seed_from_u64(5);
    let x2 = sample_law(&gmm, &mut rng, 7);
    let plain = log_likelihood(&gmm, &sde, &cfg, &x2, &mut rng).unwrap();
    assert_eq!(plain.log_p, ll.log_p);
}
