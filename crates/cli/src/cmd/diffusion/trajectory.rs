//! `kexue diffusion trajectory`: the optimal K-step trajectory of Analytic-DDPM by dynamic
//! programming (paper-A §4, spec §6.6), on data laws with a closed-form ε-predictor or on a
//! trained checkpoint.
//!
//! Γ_n is needed at every n = 1..=N: closed form (`gauss`), 200-point Gauss–Hermite quadrature
//! (`rademacher`), Monte Carlo from the exact predictor (`gmm`, paper-A Eq. 8) or the
//! checkpoint's Γ cache (`--ckpt`, estimated and cached when missing). The command
//! prints the optimal path, its cost Σ J, and the NELBO of Analytic-DDPM on it next to the even
//! trajectory's. Both NELBOs use the same data rows and the same noise draws, so their
//! difference is sharp; with exact scores its expectation is ½ (Σ J_even − Σ J_opt) nats/dim.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use diffusion::analytic::{DataRange, Gamma, estimate_gamma};
use diffusion::exact::{DataLaw, Gaussian, GaussianMixture, Rademacher, sample_law};
use diffusion::optimal::{Guard, path_cost};
use diffusion::{
    Decoder, EpsPredictor, PlanConfig, Sampler, Schedule, Trajectory, nelbo, optimal_trajectory,
    plan,
};
use diffusion_nn::checkpoint::{self, Weights};
use diffusion_nn::data::{self, DataSpec};
use diffusion_nn::pipeline::{self, Purpose};
use diffusion_nn::{DeviceChoice, NetPredictor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use super::laws::{self, decoder_variance};

/// Arguments of `kexue diffusion trajectory`.
///
/// Finds the K-node trajectory 1 = τ_1 < … < τ_K = N that minimises the KL of Analytic-DDPM
/// (the DDPM forward process with optimal variances) by dynamic programming over Γ, and
/// compares its NELBO with the even trajectory's.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data law with an exact ε-predictor: `gauss` (1-D N(0.5, 0.09); every trajectory costs
    /// the same), `gmm` (2-D ring of 8 Gaussians, radius 2, std 0.1; Γ by Monte Carlo) or
    /// `rademacher` (1-D ±1; Γ by quadrature).
    #[arg(
        long,
        default_value = "gmm",
        value_name = "LAW",
        conflicts_with = "ckpt"
    )]
    data: String,
    /// A trained checkpoint folder instead of --data: Γ from its cache (or estimated with --m
    /// training rows and cached), NELBO on its held-out rows.
    #[arg(long, value_name = "DIR")]
    ckpt: Option<PathBuf>,
    /// Monte-Carlo rows M for Γ when a checkpoint has no Γ cache yet.
    /// (Γ̂ from too few rows crosses 1 early and leaves the DP no room; digits needs ~1000.)
    #[arg(long, default_value_t = 1000, value_name = "M")]
    m: usize,
    /// Number of sampling steps K (model calls), 1 ≤ K ≤ N.
    #[arg(long, value_name = "K")]
    steps: usize,
    /// Noise schedule: `linear` (Ho et al., scale 1000/N) or `cosine` (Nichol–Dhariwal).
    #[arg(
        long,
        default_value = "linear",
        value_name = "NAME",
        conflicts_with = "ckpt"
    )]
    schedule: String,
    /// Number of diffusion steps N of the schedule.
    #[arg(
        long,
        default_value_t = 1000,
        value_name = "N",
        conflicts_with = "ckpt"
    )]
    total_steps: usize,
    /// Data rows for the NELBO (and for the Monte-Carlo Γ of `gmm`, drawn separately); with
    /// --ckpt, at most this many held-out rows.
    #[arg(long, default_value_t = 10_000, value_name = "M")]
    samples: usize,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed: u64,
    /// Print exactly one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// The most data rows accepted (memory: a few f64 per row and dimension).
const MAX_SAMPLES: usize = 2_000_000;

#[derive(Debug, Serialize)]
struct PathReport {
    trajectory: Vec<usize>,
    cost: f64,
    nelbo: f64,
    nelbo_std_err: f64,
    bits_per_dim: f64,
}

#[derive(Debug, Serialize)]
struct GuardReport {
    first_bad: usize,
    n_bad: usize,
    n_searched: usize,
    k_searched: usize,
    k_tail: usize,
}

impl From<Guard> for GuardReport {
    fn from(g: Guard) -> Self {
        Self {
            first_bad: g.first_bad,
            n_bad: g.n_bad,
            n_searched: g.n_searched,
            k_searched: g.k_searched,
            k_tail: g.k_tail,
        }
    }
}

#[derive(Debug, Serialize)]
struct Report {
    data: String,
    dim: usize,
    schedule: String,
    total_steps: usize,
    steps: usize,
    gamma: String,
    samples: usize,
    seed: u64,
    /// The optimal path τ_1..τ_K.
    trajectory: Vec<usize>,
    /// Σ J along the optimal path (null when undefined: Γ_n > 1 at a node).
    cost: Option<f64>,
    /// The DP's least Σ J over the searched nodes (all of them unless `guard` is set).
    dp_cost: f64,
    /// NELBO of Analytic-DDPM on the optimal path, nats/dim.
    nelbo: f64,
    nelbo_std_err: f64,
    /// The same NELBO in bits/dim.
    bits_per_dim: f64,
    /// The even trajectory with the same sampler.
    even: PathReport,
    /// ½ (Σ J_even − Σ J_opt): the expected NELBO gain, nats/dim.
    predicted_gain: Option<f64>,
    guard: Option<GuardReport>,
    dp_seconds: f64,
}

/// Everything the DP and the two NELBOs need, from a data law or from a checkpoint.
struct Setup<'a> {
    data_name: String,
    schedule_name: String,
    schedule: Schedule,
    predictor: &'a dyn EpsPredictor,
    gamma: Gamma,
    gamma_src: String,
    /// NELBO rows (M × d).
    rows: Vec<f64>,
    config: PlanConfig,
    decoder: Decoder,
}

/// Runs `kexue diffusion trajectory`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.samples < 2 || args.samples > MAX_SAMPLES {
        bail!(
            "--samples must be in 2..={MAX_SAMPLES}, got {}",
            args.samples
        );
    }
    match &args.ckpt {
        Some(dir) => run_ckpt(dir, &args),
        None => run_law(&args),
    }
}

fn check_k(k: usize, n: usize) -> anyhow::Result<()> {
    if k < 1 || k > n {
        bail!("--steps K = {k} must be in 1..={n} (N, the number of diffusion steps)");
    }
    Ok(())
}

/// The exact-score laws of the laboratory.
fn run_law(args: &Args) -> anyhow::Result<()> {
    let schedule =
        laws::schedule(&args.schedule, args.total_steps).context("--schedule/--total-steps")?;
    let n = schedule.n_steps();
    check_k(args.steps, n)?;
    let mut rng = StdRng::seed_from_u64(args.seed);

    // The law, its Γ at every time, and the NELBO settings (as in `kexue diffusion lab`).
    let gauss;
    let gmm;
    let rad;
    let (predictor, law, gamma, gamma_src, range, levels): (
        &dyn EpsPredictor,
        &dyn DataLaw,
        Gamma,
        &'static str,
        DataRange,
        Option<usize>,
    ) = match args.data.as_str() {
        "gauss" => {
            gauss = Gaussian::isotropic(1, 0.5, 0.09)?;
            let g = Gamma::from_fn(&schedule, |ab| gauss.gamma(ab))?;
            (&gauss, &gauss, g, "exact", DataRange::Unbounded, None)
        }
        "rademacher" => {
            rad = Rademacher::new(1)?;
            let g = laws::rademacher_gamma(&rad, &schedule)?;
            let range = DataRange::Bounded { lo: -1.0, hi: 1.0 };
            (&rad, &rad, g, "gauss-hermite-200", range, Some(2))
        }
        "gmm" => {
            gmm = GaussianMixture::ring(8, 2.0, 0.1)?;
            let rows = sample_law(&gmm, &mut rng, args.samples);
            let times: Vec<usize> = (1..=n).collect();
            let bar = progress(n as u64, "Γ monte carlo");
            let g = estimate_gamma(&gmm, &schedule, &rows, &times, 4096, &mut rng, &mut |_| {
                bar.inc(1)
            })?;
            bar.finish_and_clear();
            (&gmm, &gmm, g, "monte-carlo", DataRange::Unbounded, None)
        }
        other => bail!("unknown --data `{other}` (expected gauss, gmm or rademacher)"),
    };
    let variance = decoder_variance(&schedule);
    let decoder = match levels {
        Some(levels) => Decoder::Discretized { levels, variance },
        None => Decoder::Gaussian { variance },
    };
    let rows = sample_law(law, &mut rng, args.samples);
    finish(
        args,
        Setup {
            data_name: args.data.clone(),
            schedule_name: args.schedule.clone(),
            schedule,
            predictor,
            gamma,
            gamma_src: gamma_src.to_string(),
            rows,
            config: PlanConfig {
                data_range: range,
                ..PlanConfig::exact(Sampler::AnalyticDdpm)
            },
            decoder,
        },
    )
}

/// A trained checkpoint: Γ from its cache (`kexue diffusion gamma`), or estimated with `--m`
/// training rows and cached there; NELBO on the first `--samples` held-out rows, with the
/// likelihood settings of `kexue diffusion eval`.
fn run_ckpt(dir: &Path, args: &Args) -> anyhow::Result<()> {
    let device = diffusion_nn::device(DeviceChoice::Cpu)?;
    let (meta, model) = checkpoint::load_model(dir, Weights::Ema, &device)
        .with_context(|| format!("loading checkpoint {}", dir.display()))?;
    let schedule = meta.schedule.build()?;
    check_k(args.steps, schedule.n_steps())?;
    let spec: DataSpec = meta.data.spec.parse()?;
    let data = data::load(&spec).with_context(|| format!("loading data `{spec}`"))?;
    let file = match pipeline::any_cached_gamma(dir, &meta)? {
        Some(file) => file,
        None => {
            if args.m == 0 {
                bail!("--m must be at least 1");
            }
            let n = schedule.n_steps() as u64;
            let bar = progress(n, "Γ estimate");
            let file = pipeline::estimate_gamma(
                &model,
                &meta,
                &schedule,
                &data.train,
                args.m,
                args.seed,
                &mut |i| bar.set_position(i as u64 + 1),
            );
            bar.finish_and_clear();
            let file = file?;
            pipeline::save_gamma(dir, &file).context("writing the Γ cache")?;
            file
        }
    };
    let gamma = file.to_gamma()?;
    let d = model.config().dim();
    let n_test = args.samples.min(data.test.len() / d);
    let rows: Vec<f64> = data.test[..n_test * d].iter().map(|&v| v as f64).collect();
    let variance = decoder_variance(&schedule);
    let decoder = match meta.data.levels {
        Some(levels) => Decoder::Discretized {
            levels: levels as usize,
            variance,
        },
        None => Decoder::Gaussian { variance },
    };
    let predictor = NetPredictor::new(&model, pipeline::MAX_BATCH);
    finish(
        args,
        Setup {
            data_name: format!("{} ({})", meta.data.spec, dir.display()),
            schedule_name: format!("{:?}", meta.schedule.kind).to_lowercase(),
            schedule,
            predictor: &predictor,
            gamma,
            gamma_src: format!(
                "checkpoint cache (M = {}, seed {}, step {})",
                file.m, file.seed, file.checkpoint_step
            ),
            rows,
            config: pipeline::plan_config(&meta, Sampler::AnalyticDdpm, Purpose::Likelihood),
            decoder,
        },
    )
}

/// The DP, both NELBOs and the output.
fn finish(args: &Args, setup: Setup<'_>) -> anyhow::Result<()> {
    let Setup {
        data_name,
        schedule_name,
        schedule,
        predictor,
        gamma,
        gamma_src,
        rows,
        config,
        decoder,
    } = setup;
    let (n, k) = (schedule.n_steps(), args.steps);
    let start = Instant::now();
    let opt = optimal_trajectory(&schedule, &gamma, k).with_context(|| match &args.ckpt {
        Some(dir) => format!(
            "Γ from {gamma_src}; estimate it from more rows with `kexue diffusion gamma --ckpt {} \
             --m 1000 --force`",
            dir.display()
        ),
        None => format!("Γ from {gamma_src}; try more --samples"),
    })?;
    let dp_seconds = start.elapsed().as_secs_f64();
    let even = Trajectory::even(n, k)?;

    // Common random numbers: both trajectories see the same noise draws.
    let noise_seed = args.seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let bar = progress(2 * k as u64, "NELBO");
    let evaluate = |traj: &Trajectory| -> anyhow::Result<PathReport> {
        let steps = plan(&schedule, traj, &config, &gamma)?;
        let mut r = StdRng::seed_from_u64(noise_seed);
        let nb = nelbo(
            predictor,
            &schedule,
            &steps,
            &rows,
            decoder,
            &mut r,
            &mut |_| bar.inc(1),
        )?;
        let cost = path_cost(&schedule, &gamma, traj)?;
        Ok(PathReport {
            trajectory: traj.steps().to_vec(),
            cost,
            nelbo: nb.total,
            nelbo_std_err: nb.std_err,
            bits_per_dim: nb.bits_per_dim(),
        })
    };
    let opt_report = evaluate(&opt.trajectory)?;
    let even_report = evaluate(&even)?;
    bar.finish_and_clear();

    let finite = |v: f64| v.is_finite().then_some(v);
    let report = Report {
        data: data_name,
        dim: predictor.dim(),
        schedule: schedule_name,
        total_steps: n,
        steps: k,
        gamma: gamma_src,
        samples: rows.len() / predictor.dim(),
        seed: args.seed,
        trajectory: opt_report.trajectory,
        cost: finite(opt_report.cost),
        nelbo: opt_report.nelbo,
        nelbo_std_err: opt_report.nelbo_std_err,
        bits_per_dim: opt_report.bits_per_dim,
        predicted_gain: finite(0.5 * (even_report.cost - opt_report.cost)),
        dp_cost: opt.cost,
        even: even_report,
        guard: opt.guard.map(GuardReport::from),
        dp_seconds,
    };

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    use std::io::Write;
    if args.json {
        // serde_json writes non-finite floats as null.
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
    } else {
        print_table(&mut out, &report)?;
    }
    Ok(())
}

fn progress(len: u64, what: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{msg:>14} [{bar:30}] {pos}/{len}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}

fn fmt_cost(v: Option<f64>) -> String {
    v.map_or_else(|| "undefined".to_string(), |v| format!("{v:.6}"))
}

fn fmt_path(p: &[usize]) -> String {
    p.iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_table(out: &mut impl std::io::Write, r: &Report) -> anyhow::Result<()> {
    writeln!(
        out,
        "data {} (d={}), {} schedule N={}, K={}, Γ {} at every n, M={} rows, seed {}",
        r.data, r.dim, r.schedule, r.total_steps, r.steps, r.gamma, r.samples, r.seed
    )?;
    if let Some(g) = &r.guard {
        writeln!(
            out,
            "dp_seg guard: Γ_n > 1 from n = {} on; DP over 1..={} with {} nodes, {} even nodes in the last {} times",
            g.first_bad, g.n_searched, g.k_searched, g.k_tail, g.n_bad
        )?;
    }
    writeln!(
        out,
        "{:<10} {:>14} {:>22} {:>10}",
        "trajectory", "Σ J", "NELBO nats/dim ± se", "bits/dim"
    )?;
    let even_cost = r.even.cost.is_finite().then_some(r.even.cost);
    for (name, cost, nelbo, se, bpd) in [
        ("optimal", r.cost, r.nelbo, r.nelbo_std_err, r.bits_per_dim),
        (
            "even",
            even_cost,
            r.even.nelbo,
            r.even.nelbo_std_err,
            r.even.bits_per_dim,
        ),
    ] {
        writeln!(
            out,
            "{name:<10} {:>14} {:>13.6} ± {se:.6} {bpd:>10.4}",
            fmt_cost(cost),
            nelbo
        )?;
    }
    if let Some(gain) = r.predicted_gain {
        writeln!(
            out,
            "NELBO gain even − optimal: {:.6} measured, {:.6} expected (½ ΔΣJ)",
            r.even.nelbo - r.nelbo,
            gain
        )?;
    }
    writeln!(out, "optimal: {}", fmt_path(&r.trajectory))?;
    writeln!(out, "even:    {}", fmt_path(&r.even.trajectory))?;
    writeln!(out, "dp: {:.3} s", r.dp_seconds)?;
    Ok(())
}
