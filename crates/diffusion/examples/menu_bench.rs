//! The sampler menu on the exact-score laboratory: RMS distance to the exact probability-flow
//! ODE solution from the same prior draws, and energy distance to fresh data, at NFE 5, 10,
//! 20 and 50, for every menu sampler and the crate's existing DPM-Solver++(2M) (log-SNR grid,
//! `solvers::sample_continuous`), on three exact GMM laws: the 2-D ring (8 modes), a
//! two-moons-like mixture (2 × 8 modes) and a d = 64 mixture of 10 Gaussians.
//!
//! Each sampler runs on diffusers' default linear schedule (T = 1000) with its default grid
//! and the largest step count K whose NFE does not exceed the target (PNDM needs ≥ 13).
//! The reference of each run is RK45 (rtol = atol = 1e-9) on dx_σ/dσ = ε*(x_σ/√(1+σ²)) from
//! the sampler's first node to its last (σ = 0, or σ_min for DEIS, PNDM and 2M). Stochastic
//! samplers (ancestral, SDE) have no RMS. Mean ± standard deviation over seeds.
//!
//! With the grid argument `logsnr`, every sampler instead runs on the existing 2M's own
//! process and grid (the schedule's VP SDE from t = 1 to 1e-3, nodes uniform in λ; PNDM and
//! the Karras rows are skipped), so all rows share start, end and reference.
//! The `+ analytic variance` rows use Analytic-DPM's optimal variance with Γ estimated on
//! 4000 fresh data rows per level.
//!
//! The `+ SN/NPR covariance` rows use the per-coordinate variance of the law's exact SN/NPR
//! covariance head (`menu::sample_menu_hybrid`).
//!
//! Run: `cargo run --release -p diffusion --example menu_bench [-- M SEEDS GRID]`
//! (M samples per seed, default 1000; seeds default 3; GRID `default` or `logsnr`);
//! `MENU_BENCH_ONLY=a,b` keeps the rows whose label contains one of the given strings.

use std::collections::HashMap;

use diffusion::exact::{GaussianMixture, sample_law};
use diffusion::menu::{
    MenuConfig, MenuSampler, MenuVariance, Process, SigmaKind, plan, sample_menu,
    sample_menu_analytic, sample_menu_hybrid,
};
use diffusion::metrics::energy_distance;
use diffusion::sde::Sde;
use diffusion::solvers::{ContinuousSampler, SolverConfig, Tolerances, dopri5, sample_continuous};
use diffusion::{EpsPredictor, NoiseLevel, Schedule};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

type BoxError = Box<dyn std::error::Error>;

fn moons() -> Result<GaussianMixture, BoxError> {
    let mut means = Vec::new();
    for i in 0..8 {
        let a = std::f64::consts::PI * i as f64 / 7.0;
        means.push(vec![a.cos(), a.sin()]);
        means.push(vec![1.0 - a.cos(), 0.5 - a.sin()]);
    }
    let n = means.len();
    Ok(GaussianMixture::new(
        vec![1.0; n],
        means,
        vec![vec![0.1, 0.1]; n],
    )?)
}

fn gmm64() -> Result<GaussianMixture, BoxError> {
    let mut rng = StdRng::seed_from_u64(42);
    let means: Vec<Vec<f64>> = (0..10)
        .map(|_| {
            (0..64)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    1.5 * z
                })
                .collect::<Vec<f64>>()
        })
        .collect();
    Ok(GaussianMixture::new(
        vec![1.0; 10],
        means,
        vec![vec![0.3; 64]; 10],
    )?)
}

/// Exact PF-ODE flow in σ-space from (σ_a, scale_a) to (σ_b, scale_b) (process states). The
/// exact ε* is undefined at σ = 0, so a flow to the data stops at σ = 1e-7 (|Δx| ≈ 1e-7 |ε*|; ᾱ = 1/(1 + σ²) must stay below 1).
fn flow(
    law: &dyn EpsPredictor,
    x: &[f64],
    a: (f64, f64),
    b: (f64, f64),
) -> Result<Vec<f64>, BoxError> {
    let mut y: Vec<f64> = x
        .iter()
        .map(|v| v * (1.0 + a.0 * a.0).sqrt() / a.1)
        .collect();
    let mut buf = vec![0.0; y.len()];
    dopri5(
        &mut |sigma: f64, y: &[f64], dy: &mut [f64]| {
            let c = (1.0 + sigma * sigma).sqrt();
            for (o, v) in buf.iter_mut().zip(y) {
                *o = v / c;
            }
            law.predict_eps(
                &buf,
                NoiseLevel {
                    t: 0.0,
                    alpha_bar: 1.0 / (c * c),
                },
                dy,
            )
        },
        a.0,
        b.0.max(1e-7),
        &mut y,
        Tolerances::new(1e-9, 1e-9)?,
        100_000_000,
    )?;
    Ok(y.iter()
        .map(|v| v * b.1 / (1.0 + b.0 * b.0).sqrt())
        .collect())
}

fn rms(a: &[f64], b: &[f64], dim: usize) -> f64 {
    let rows = (a.len() / dim) as f64;
    (a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / rows).sqrt()
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var.sqrt())
}

/// A row of the table: a label and how to build the menu config for K steps (None = the
/// existing DPM-Solver++ 2M).
struct Variant {
    label: &'static str,
    build: Option<fn(usize) -> MenuConfig>,
    /// Run with Analytic-DPM's optimal variance (Γ by Monte Carlo on fresh data).
    analytic: bool,
}

fn variants() -> Vec<Variant> {
    fn m(s: MenuSampler, k: usize) -> MenuConfig {
        MenuConfig::new(s, k)
    }
    fn hybrid(s: MenuSampler, k: usize, variance: MenuVariance) -> MenuConfig {
        MenuConfig {
            variance,
            ..MenuConfig::new(s, k)
        }
    }
    vec![
        Variant {
            label: "dpm-solver++ 2M (existing, log-SNR grid)",
            analytic: false,
            build: None,
        },
        Variant {
            label: "euler",
            analytic: false,
            build: Some(|k| m(MenuSampler::Euler, k)),
        },
        Variant {
            label: "euler (karras σ)",
            analytic: false,
            build: Some(|k| {
                let mut c = m(MenuSampler::Euler, k);
                c.sigmas = diffusion::menu::SigmaKind::Karras;
                c
            }),
        },
        Variant {
            label: "euler-ancestral",
            analytic: false,
            build: Some(|k| m(MenuSampler::EulerAncestral, k)),
        },
        Variant {
            label: "heun",
            analytic: false,
            build: Some(|k| m(MenuSampler::Heun, k)),
        },
        Variant {
            label: "heun (karras σ)",
            analytic: false,
            build: Some(|k| {
                let mut c = m(MenuSampler::Heun, k);
                c.sigmas = diffusion::menu::SigmaKind::Karras;
                c
            }),
        },
        Variant {
            label: "dpm2",
            analytic: false,
            build: Some(|k| m(MenuSampler::Dpm2, k)),
        },
        Variant {
            label: "dpm2-ancestral",
            analytic: false,
            build: Some(|k| m(MenuSampler::Dpm2Ancestral, k)),
        },
        Variant {
            label: "dpm-solver++-2s",
            analytic: false,
            build: Some(|k| m(MenuSampler::DpmSolverPp2s, k)),
        },
        Variant {
            label: "dpm-solver++-3m --order 2 (2M)",
            analytic: false,
            build: Some(|k| {
                let mut c = m(MenuSampler::DpmSolverPp3m, k);
                c.order = Some(2);
                c
            }),
        },
        Variant {
            label: "dpm-solver++-3m",
            analytic: false,
            build: Some(|k| m(MenuSampler::DpmSolverPp3m, k)),
        },
        Variant {
            label: "dpm-solver++-3m (karras σ)",
            analytic: false,
            build: Some(|k| {
                let mut c = m(MenuSampler::DpmSolverPp3m, k);
                c.sigmas = diffusion::menu::SigmaKind::Karras;
                c
            }),
        },
        Variant {
            label: "dpm-solver++-sde",
            analytic: false,
            build: Some(|k| m(MenuSampler::DpmSolverPpSde, k)),
        },
        Variant {
            label: "unipc (bh2, order 2)",
            analytic: false,
            build: Some(|k| m(MenuSampler::UniPc, k)),
        },
        Variant {
            label: "unipc (bh2, order 3)",
            analytic: false,
            build: Some(|k| {
                let mut c = m(MenuSampler::UniPc, k);
                c.order = Some(3);
                c
            }),
        },
        Variant {
            label: "unipc (bh1, order 3)",
            analytic: false,
            build: Some(|k| {
                let mut c = m(MenuSampler::UniPc, k);
                c.order = Some(3);
                c.unipc = diffusion::menu::UniPcVariant::Bh1;
                c
            }),
        },
        Variant {
            label: "deis (order 2)",
            analytic: false,
            build: Some(|k| m(MenuSampler::Deis, k)),
        },
        Variant {
            label: "deis (order 3)",
            analytic: false,
            build: Some(|k| {
                let mut c = m(MenuSampler::Deis, k);
                c.order = Some(3);
                c
            }),
        },
        Variant {
            label: "pndm",
            analytic: false,
            build: Some(|k| m(MenuSampler::Pndm, k)),
        },
        Variant {
            label: "euler-ancestral + analytic variance",
            analytic: true,
            build: Some(|k| m(MenuSampler::EulerAncestral, k)),
        },
        Variant {
            label: "dpm-solver++-sde + analytic variance",
            analytic: true,
            build: Some(|k| m(MenuSampler::DpmSolverPpSde, k)),
        },
        Variant {
            label: "euler-ancestral + SN covariance",
            analytic: false,
            build: Some(|k| hybrid(MenuSampler::EulerAncestral, k, MenuVariance::Sn)),
        },
        Variant {
            label: "euler-ancestral + NPR covariance",
            analytic: false,
            build: Some(|k| hybrid(MenuSampler::EulerAncestral, k, MenuVariance::Npr)),
        },
        Variant {
            label: "dpm-solver++-sde + SN covariance",
            analytic: false,
            build: Some(|k| hybrid(MenuSampler::DpmSolverPpSde, k, MenuVariance::Sn)),
        },
        Variant {
            label: "dpm-solver++-sde + NPR covariance",
            analytic: false,
            build: Some(|k| hybrid(MenuSampler::DpmSolverPpSde, k, MenuVariance::Npr)),
        },
        Variant {
            label: "lms",
            analytic: false,
            build: Some(|k| m(MenuSampler::Lms, k)),
        },
    ]
}

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let m: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let n_seeds: u64 = args.next().map_or(Ok(3), |a| a.parse())?;
    let grid: SigmaKind = args.next().map_or(Ok(SigmaKind::Default), |a| a.parse())?;
    let schedule = Schedule::linear(1000)?;
    let sde = Sde::from_schedule(&schedule);
    // `default`: diffusers' grids on the discrete schedule. `logsnr`: every sampler on the
    // existing 2M's own process and grid (the schedule's VP SDE, t ∈ [1e-3, 1], uniform λ).
    let process = if grid == SigmaKind::Default {
        Process::Discrete(&schedule)
    } else {
        Process::Continuous {
            sde: &sde,
            time_scale: 1000.0,
            t_end: 1e-3,
        }
    };
    let configure = |mut c: MenuConfig| {
        if grid != SigmaKind::Default {
            c.sigmas = grid;
        }
        c
    };
    let laws: Vec<(&str, GaussianMixture)> = vec![
        (
            "2-D ring (8 modes, std 0.1)",
            GaussianMixture::ring(8, 2.0, 0.1)?,
        ),
        ("two moons (16 modes, std 0.1)", moons()?),
        ("d = 64 mixture (10 modes, std 0.3)", gmm64()?),
    ];
    let targets = [5usize, 10, 20, 50];
    println!(
        "Grid: {grid}. M = {m} samples per seed, {n_seeds} seeds; cells: RMS to the exact PF-ODE solution / energy distance to fresh data (mean ± sd)."
    );
    for (law_name, law) in &laws {
        let d = EpsPredictor::dim(law);
        let mut priors = Vec::new();
        let mut fresh = Vec::new();
        let mut floors = Vec::new();
        for seed in 0..n_seeds {
            let mut rng = StdRng::seed_from_u64(1000 + seed);
            let f = sample_law(law, &mut rng, m);
            floors.push(energy_distance(&sample_law(law, &mut rng, m), &f, d));
            fresh.push(f);
            let mut x = vec![0.0; m * d];
            diffusion::standard_normal(&mut rng, &mut x);
            priors.push(x);
        }
        let (fm, fs) = mean_sd(&floors);
        println!();
        println!("### {law_name}");
        println!();
        println!("Energy distance of fresh data to fresh data: {fm:.2e} ± {fs:.1e}.");
        println!();
        println!("| sampler | NFE 5 | NFE 10 | NFE 20 | NFE 50 |");
        println!("|---|---|---|---|---|");
        let mut refs: HashMap<(u64, u64, u64), Vec<f64>> = HashMap::new();
        let mut best: Vec<Vec<(f64, String)>> = vec![Vec::new(); targets.len()];
        let mut best_ed: Vec<Vec<(f64, String)>> = vec![Vec::new(); targets.len()];
        // Γ(ᾱ) = E‖ε*‖²/d by Monte Carlo on 4000 fresh rows (cached per level).
        let gamma_cache = std::cell::RefCell::new(HashMap::<u64, f64>::new());
        let gamma = |ab: f64| -> f64 {
            *gamma_cache
                .borrow_mut()
                .entry(ab.to_bits())
                .or_insert_with(|| {
                    let mut rng = StdRng::seed_from_u64(ab.to_bits());
                    let x0 = sample_law(law, &mut rng, 4000);
                    let mut xt = vec![0.0; x0.len()];
                    diffusion::standard_normal(&mut rng, &mut xt);
                    for (v, &a) in xt.iter_mut().zip(&x0) {
                        *v = ab.sqrt() * a + (1.0 - ab).sqrt() * *v;
                    }
                    let mut e = vec![0.0; xt.len()];
                    law.predict_eps(
                        &xt,
                        NoiseLevel {
                            t: 0.0,
                            alpha_bar: ab,
                        },
                        &mut e,
                    )
                    .expect("levels are inside (0, 1)");
                    e.iter().map(|v| v * v).sum::<f64>() / e.len() as f64
                })
        };
        for v in variants() {
            if grid != SigmaKind::Default && v.label.contains("karras") {
                continue;
            }
            if let Ok(only) = std::env::var("MENU_BENCH_ONLY")
                && !only.split(',').any(|o| v.label.contains(o))
            {
                continue;
            }
            let mut cells = Vec::new();
            for (ti, &target) in targets.iter().enumerate() {
                // Largest K within the budget.
                let mut chosen = None;
                for k in 1..=target {
                    match v.build {
                        Some(b) => {
                            if let Ok(p) = plan(process, &configure(b(k)))
                                && p.nfe() <= target
                            {
                                chosen = Some((k, p.nfe(), p.start, p.end()));
                            }
                        }
                        None => {
                            if k == target {
                                let s = |t: f64| (sde.std(t) / sde.mean_coef(t), 1.0);
                                chosen = Some((
                                    k,
                                    k,
                                    diffusion::menu::Node {
                                        sigma: s(1.0).0,
                                        t: 0.0,
                                        scale: 1.0,
                                    },
                                    diffusion::menu::Node {
                                        sigma: s(1e-3).0,
                                        t: 0.0,
                                        scale: 1.0,
                                    },
                                ));
                            }
                        }
                    }
                }
                let Some((k, nfe, start, end)) = chosen else {
                    cells.push("–".to_string());
                    continue;
                };
                let mut rmss = Vec::new();
                let mut eds = Vec::new();
                let mut stochastic = false;
                for seed in 0..n_seeds as usize {
                    let mut x = priors[seed].clone();
                    let mut rng = StdRng::seed_from_u64(7 + seed as u64);
                    match v.build {
                        Some(b) => {
                            let cfg = configure(b(k));
                            stochastic = cfg.sampler.takes_eta();
                            if v.analytic {
                                sample_menu_analytic(
                                    law,
                                    process,
                                    &cfg,
                                    &gamma,
                                    &mut x,
                                    &mut rng,
                                    &mut |_| {},
                                )?;
                            } else if cfg.variance != MenuVariance::Handcrafted {
                                // SN/NPR: the law's exact covariance head.
                                sample_menu_hybrid(
                                    law,
                                    Some(law),
                                    None,
                                    process,
                                    &cfg,
                                    &mut x,
                                    &mut rng,
                                    &mut |_| {},
                                )?;
                            } else {
                                sample_menu(law, process, &cfg, &mut x, &mut rng, &mut |_| {})?;
                            }
                        }
                        None => {
                            let cfg = SolverConfig::new(ContinuousSampler::DpmSolverPp, k);
                            sample_continuous(law, &sde, &cfg, &mut x, &mut rng)?;
                        }
                    }
                    eds.push(energy_distance(&x, &fresh[seed], d));
                    if !stochastic {
                        let key = (seed as u64, start.sigma.to_bits(), end.sigma.to_bits());
                        let r = match refs.entry(key) {
                            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                            std::collections::hash_map::Entry::Vacant(e) => e.insert(flow(
                                law,
                                &priors[seed],
                                (start.sigma, start.scale),
                                (end.sigma, end.scale),
                            )?),
                        };
                        rmss.push(rms(&x, r, d));
                    }
                }
                let (em, es) = mean_sd(&eds);
                best_ed[ti].push((em, v.label.to_string()));
                let cell = if stochastic {
                    format!("– / {em:.2e} ± {es:.0e}")
                } else {
                    let (rm, rs) = mean_sd(&rmss);
                    best[ti].push((rm, v.label.to_string()));
                    format!("{rm:.2e} ± {rs:.0e} / {em:.2e} ± {es:.0e}")
                };
                cells.push(if nfe == target {
                    cell
                } else {
                    format!("{cell} (NFE {nfe})")
                });
            }
            println!("| {} | {} |", v.label, cells.join(" | "));
        }
        println!();
        for (ti, &target) in targets.iter().enumerate() {
            let pick = |v: &mut Vec<(f64, String)>| {
                v.sort_by(|a, b| a.0.total_cmp(&b.0));
                v.iter()
                    .take(2)
                    .map(|(e, n)| format!("{n} ({e:.2e})"))
                    .collect::<Vec<_>>()
                    .join(", then ")
            };
            println!(
                "- NFE {target}: lowest RMS {}; lowest energy distance {}.",
                pick(&mut best[ti]),
                pick(&mut best_ed[ti])
            );
        }
    }
    Ok(())
}
