//! Sample quality vs NFE on the 2-D ring GMM with exact scores: discrete DDIM (η = 0, even
//! trajectory on the VP process's own N = 1000 schedule), DPM-Solver++ 2M (log-SNR grid) and
//! adaptive RK45 on the probability-flow ODE, plus Euler and Heun for reference.
//!
//! Every sampler starts from the same prior draws, so besides the energy distance to fresh data
//! (noisy at this M: compare with the fresh-vs-fresh rows) the table gives the RMS distance of
//! each sample to the accurate PF-ODE solution from the same start (RK45 at rtol = atol =
//! 1e-10, t_end = 1e-3; for DDIM, whose last step returns x̂_0 at t = 1/N, that solution's
//! x̂_0). Prints a Markdown table.
//!
//! Run: `cargo run --release -p diffusion --example sde_nfe [-- M]` (M samples, default 4000).

use std::time::Instant;

use diffusion::analytic::Gamma;
use diffusion::exact::{GaussianMixture, sample_law};
use diffusion::metrics::energy_distance;
use diffusion::sde::Sde;
use diffusion::solvers::{ContinuousSampler, SolverConfig, Tolerances, sample_continuous};
use diffusion::{EpsPredictor, NoiseLevel, PlanConfig, Sampler, Trajectory, plan, sample};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn rms(a: &[f64], b: &[f64]) -> f64 {
    let rows = (a.len() / 2) as f64;
    (a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / rows).sqrt()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let m: usize = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 4000,
    };
    let gmm = GaussianMixture::ring(8, 2.0, 0.1)?;
    let sde = Sde::from_name("vp")?;
    let mut rng = StdRng::seed_from_u64(0);
    let fresh = sample_law(&gmm, &mut rng, m);
    // Independent data samples: the V-statistic's bias and noise at this M.
    let floors: Vec<f64> = (0..3)
        .map(|_| energy_distance(&sample_law(&gmm, &mut rng, m), &fresh, 2))
        .collect();
    let mut x1 = vec![0.0; 2 * m];
    sde.sample_prior(&mut rng, &mut x1);

    // Reference: the accurate PF-ODE solution at t_end = 1e-3 and its x̂_0 (DDIM's last step).
    let n = 1000;
    let schedule = sde.discretize(n)?;
    let mut x_ref = x1.clone();
    let mut cfg = SolverConfig::new(ContinuousSampler::OdeRk45, 0);
    cfg.tol = Tolerances::new(1e-10, 1e-10)?;
    cfg.max_nfe = 1_000_000;
    let rep_ref = sample_continuous(&gmm, &sde, &cfg, &mut x_ref, &mut rng)?;
    let (ab1, bb1) = (schedule.alpha_bar(1), schedule.beta_bar(1));
    let mut eps = vec![0.0; x_ref.len()];
    gmm.predict_eps(
        &x_ref,
        NoiseLevel {
            t: 1.0,
            alpha_bar: ab1,
        },
        &mut eps,
    )?;
    let x0_ref: Vec<f64> = x_ref
        .iter()
        .zip(&eps)
        .map(|(x, e)| (x - bb1.sqrt() * e) / ab1.sqrt())
        .collect();

    println!("M = {m} samples; reference RK45 used {} NFE.", rep_ref.nfe);
    println!();
    println!("| sampler | setting | NFE | energy distance | RMS to PF-ODE solution | seconds |");
    println!("|---|---|---|---|---|---|");
    for floor in &floors {
        println!("| fresh data vs fresh data | – | – | {floor:.5} | – | – |");
    }
    println!(
        "| exact PF-ODE (reference) | rtol = atol = 1e-10 | {} | {:.5} | 0 | – |",
        rep_ref.nfe,
        energy_distance(&x_ref, &fresh, 2)
    );
    let row = |name: &str, setting: String, nfe: usize, x: &[f64], r: &[f64], secs: f64| {
        println!(
            "| {name} | {setting} | {nfe} | {:.5} | {:.2e} | {secs:.3} |",
            energy_distance(x, &fresh, 2),
            rms(x, r)
        );
    };

    for k in [10, 20, 50, 100, 200] {
        let steps = plan(
            &schedule,
            &Trajectory::even(n, k)?,
            &PlanConfig::exact(Sampler::Ddim { eta: 0.0 }),
            &Gamma::unknown(n),
        )?;
        let mut x = x1.clone();
        let t0 = Instant::now();
        sample(&gmm, &steps, &mut x, &mut rng, &mut |_| {})?;
        let secs = t0.elapsed().as_secs_f64();
        row("DDIM (η = 0)", format!("K = {k}"), k, &x, &x0_ref, secs);
    }
    for k in [10, 20, 50] {
        let mut x = x1.clone();
        let cfg = SolverConfig::new(ContinuousSampler::DpmSolverPp, k);
        let t0 = Instant::now();
        let rep = sample_continuous(&gmm, &sde, &cfg, &mut x, &mut rng)?;
        let secs = t0.elapsed().as_secs_f64();
        row(
            "DPM-Solver++ 2M",
            format!("K = {k}"),
            rep.nfe,
            &x,
            &x_ref,
            secs,
        );
    }
    for tol in [1e-1, 1e-2, 1e-3, 1e-5] {
        let mut x = x1.clone();
        let mut cfg = SolverConfig::new(ContinuousSampler::OdeRk45, 0);
        cfg.tol = Tolerances::new(tol, tol)?;
        let t0 = Instant::now();
        let rep = sample_continuous(&gmm, &sde, &cfg, &mut x, &mut rng)?;
        let secs = t0.elapsed().as_secs_f64();
        row(
            "RK45",
            format!("rtol = atol = {tol:e}"),
            rep.nfe,
            &x,
            &x_ref,
            secs,
        );
    }
    for (sampler, k) in [
        (ContinuousSampler::OdeEuler, 50),
        (ContinuousSampler::OdeHeun, 25),
    ] {
        let mut x = x1.clone();
        let cfg = SolverConfig::new(sampler, k);
        let t0 = Instant::now();
        let rep = sample_continuous(&gmm, &sde, &cfg, &mut x, &mut rng)?;
        let secs = t0.elapsed().as_secs_f64();
        row(
            sampler.name(),
            format!("K = {k}"),
            rep.nfe,
            &x,
            &x_ref,
            secs,
        );
    }
    Ok(())
}
