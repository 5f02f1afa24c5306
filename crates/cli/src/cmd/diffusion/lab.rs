//! `kexue diffusion lab`: every sampler on data laws with a closed-form ε-predictor.
//!
//! For each sampler the lab reports the NELBO (nats/dim, spec §6.7 decoder with variance
//! β̃_{1|2}), the energy distance of generated samples to fresh data samples, the exactly
//! propagated final variance (Gaussian data only) and the wall time. Sampling starts from
//! x_{τ_K} ~ q(x_{τ_K}) (noised fresh data), so only the reverse steps are being compared.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use diffusion::analytic::{DataRange, Gamma, estimate_gamma};
use diffusion::exact::{DataLaw, Rademacher, sample_law};
use diffusion::metrics::energy_distance;
use diffusion::{
    Decoder, FinalStep, Moments, PlanConfig, Sampler, Trajectory, nelbo, plan, propagate_gaussian,
    sample,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use super::laws::{self, Law, decoder_variance};

/// Energy distances use at most this many rows of each sample (the statistic is O(M²)).
const ENERGY_ROWS: usize = 5000;

/// Upper limit of --samples (memory: a few f64 vectors of M·d values).
const MAX_SAMPLES: usize = 2_000_000;

/// Arguments of `kexue diffusion lab`.
///
/// Runs ddpm-tilde, ddpm-beta, analytic-ddpm, ddim and analytic-ddim with the exact
/// ε-predictor of the chosen data law and prints one row per sampler.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Columns: `nelbo` is the negative ELBO in nats/dim (prior KL + per-step \
KLs + decoder with the fixed variance β̃_{1|2} of paper-A; `undefined` for DDIM, whose forward \
family has λ = 0). `energy_distance` compares the samples (started from x_{τ_K} ~ q(x_{τ_K})) \
with fresh data samples; lower is better. `final_var` (gauss only) is the exactly propagated \
variance of the output, to compare with the data variance 0.09. Analytic samplers use Γ_t in \
closed form (gauss), by Gauss-Hermite quadrature (rademacher) or by Monte Carlo from M data \
rows (gmm); their variances are clipped with Eq. 11 only for unbounded data.\n\n\
Examples:\n  kexue diffusion lab --data gauss --steps 10 --json\n  \
kexue diffusion lab --data gmm --steps 25 --schedule cosine"
)]
pub struct Args {
    /// Data law: `gauss` (1-D N(0.5, 0.09)), `gmm` (2-D ring of 8 Gaussians, radius 2, std 0.1,
    /// or the mixture of --gmm-file) or `rademacher` (1-D, ±1 with probability ½ each).
    #[arg(long, default_value = "gmm", value_name = "LAW")]
    data: String,
    /// Number of sampling steps K (model calls), 1 ≤ K ≤ N.
    #[arg(
        long,
        default_value = "10",
        value_name = "K",
        allow_hyphen_values = true
    )]
    steps: String,
    /// Noise schedule: `linear` (Ho et al., scale 1000/N) or `cosine` (Nichol–Dhariwal).
    #[arg(long, default_value = "linear", value_name = "NAME")]
    schedule: String,
    /// Trajectory: `even` (paper-A ET, τ_1 = 1, τ_K = N) or `quad` (DDIM quadratic).
    #[arg(long, default_value = "even", value_name = "NAME")]
    trajectory: String,
    /// Number of diffusion steps N of the schedule.
    #[arg(
        long,
        default_value = "1000",
        value_name = "N",
        allow_hyphen_values = true
    )]
    total_steps: String,
    /// Samples M per sampler (also the number of data rows for the NELBO and for the
    /// Monte-Carlo Γ of `gmm`). Energy distances use at most 5000 of them.
    #[arg(
        long,
        default_value = "5000",
        value_name = "M",
        allow_hyphen_values = true
    )]
    samples: String,
    /// Seed of every random draw.
    #[arg(
        long,
        default_value = "0",
        value_name = "S",
        allow_hyphen_values = true
    )]
    seed: String,
    /// Print exactly one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// The official code's convention: the last step returns its mean (no noise).
    #[arg(long)]
    final_mean: bool,
    /// Mixture for `--data gmm` as JSON {"weights":[…], "means":[[…],…], "stds":[[…],…]}
    /// (diagonal components).
    #[arg(long, value_name = "FILE")]
    gmm_file: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Row {
    sampler: String,
    nelbo: Option<f64>,
    nelbo_std_err: Option<f64>,
    energy_distance: f64,
    final_var: Option<f64>,
    final_mean: Option<f64>,
    seconds: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    data: String,
    steps: usize,
    schedule: String,
    trajectory: String,
    total_steps: usize,
    trajectory_nodes: Vec<usize>,
    samples: usize,
    seed: u64,
    final_step: &'static str,
    gamma: &'static str,
    rows: Vec<Row>,
}

fn parse_count(flag: &str, value: &str) -> anyhow::Result<usize> {
    value
        .trim()
        .parse::<usize>()
        .with_context(|| format!("{flag}: `{value}` is not a non-negative whole number"))
}

/// Runs `kexue diffusion lab`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let total = parse_count("--total-steps", &args.total_steps)?;
    let k = parse_count("--steps", &args.steps)?;
    let m = parse_count("--samples", &args.samples)?;
    let seed: u64 =
        args.seed.trim().parse().with_context(|| {
            format!("--seed: `{}` is not a non-negative whole number", args.seed)
        })?;
    if !(2..=MAX_SAMPLES).contains(&m) {
        bail!("--samples must be in 2..={MAX_SAMPLES}, got {m}");
    }
    let data = Law::from_name(&args.data, args.gmm_file.as_deref())?;
    let schedule = laws::schedule(&args.schedule, total)?;
    let trajectory = match args.trajectory.as_str() {
        "even" => Trajectory::even(total, k),
        "quad" => Trajectory::quadratic(total, k),
        other => bail!("unknown --trajectory `{other}` (expected even or quad)"),
    }?;

    let predictor = data.predictor();
    let dim = predictor.dim();
    // Independent streams per purpose; every sampler sees the same start states, data rows
    // and noise for its NELBO and energy distance (common random numbers), so differences
    // between rows come from the samplers, not from the draws.
    let stream =
        |k: u64| StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(k));
    let mut rng = stream(1);

    // Γ at the trajectory nodes: closed form, quadrature, or Monte Carlo from the predictor.
    let (gamma, gamma_src) = match &data {
        Law::Gauss(g) => (Gamma::from_fn(&schedule, |ab| g.gamma(ab))?, "exact"),
        Law::Rademacher(_) => (
            Gamma::from_pairs(
                total,
                trajectory
                    .steps()
                    .iter()
                    .map(|&t| (t, Rademacher::gamma(schedule.alpha_bar(t), 200))),
            )?,
            "gauss-hermite-200",
        ),
        Law::Gmm(_) => {
            let rows = sample_rows(data.law(), &mut rng, m);
            let g = estimate_gamma(
                predictor,
                &schedule,
                &rows,
                trajectory.steps(),
                4096,
                &mut rng,
                &mut |_| {},
            )?;
            (g, "monte-carlo")
        }
    };
    let (range, decoder) = match data {
        Law::Rademacher(_) => (
            DataRange::Bounded { lo: -1.0, hi: 1.0 },
            Decoder::Discretized {
                levels: 2,
                variance: decoder_variance(&schedule),
            },
        ),
        _ => (
            DataRange::Unbounded,
            Decoder::Gaussian {
                variance: decoder_variance(&schedule),
            },
        ),
    };
    let final_step = if args.final_mean {
        FinalStep::Mean
    } else {
        FinalStep::Sample
    };

    let samplers = Sampler::LAB;
    let bar = indicatif::ProgressBar::new((samplers.len() * 2 * k) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>14} [{bar:30}] {pos}/{len} steps")
            .expect("static template")
            .progress_chars("=> "),
    );
    let fresh = sample_rows(data.law(), &mut stream(4), m.min(ENERGY_ROWS));
    let mut rows = Vec::with_capacity(samplers.len());
    for sampler in samplers {
        bar.set_message(sampler.name());
        let started = Instant::now();
        let cfg = PlanConfig {
            data_range: range,
            final_step,
            ..PlanConfig::exact(sampler)
        };
        let steps = plan(&schedule, &trajectory, &cfg, &gamma)?;

        let mut rng = stream(2);
        // Samples from x_{τ_K} ~ q(x_{τ_K}).
        let t_top = *trajectory.steps().last().expect("K ≥ 1");
        let (sa, sb) = (
            schedule.alpha_bar(t_top).sqrt(),
            schedule.beta_bar(t_top).sqrt(),
        );
        let mut x = sample_rows(data.law(), &mut rng, m);
        let mut noise = vec![0.0; x.len()];
        diffusion::standard_normal(&mut rng, &mut noise);
        for (xi, ni) in x.iter_mut().zip(&noise) {
            *xi = sa * *xi + sb * ni;
        }
        sample(predictor, &steps, &mut x, &mut rng, &mut |_| bar.inc(1))?;
        ensure_finite(&x, &sampler.name())?;
        let ed = energy_distance(&x[..m.min(ENERGY_ROWS) * dim], &fresh, dim);

        let (nelbo_v, nelbo_se) = if sampler.has_likelihood() {
            let mut rng = stream(3);
            let rows_data = sample_rows(data.law(), &mut rng, m);
            let n = nelbo(
                predictor,
                &schedule,
                &steps,
                &rows_data,
                decoder,
                &mut rng,
                &mut |_| bar.inc(1),
            )?;
            (Some(n.total), Some(n.std_err))
        } else {
            bar.inc(k as u64);
            (None, None)
        };

        let (final_var, final_mean) = match &data {
            Law::Gauss(g) => {
                let (ab, bb) = (schedule.alpha_bar(t_top), schedule.beta_bar(t_top));
                let start = Moments {
                    mean: ab.sqrt() * g.mean()[0],
                    var: ab * g.var()[0] + bb,
                };
                let end = propagate_gaussian(g, &steps, &[start])?[0];
                (Some(end.var), Some(end.mean))
            }
            _ => (None, None),
        };
        rows.push(Row {
            sampler: sampler.name(),
            nelbo: nelbo_v,
            nelbo_std_err: nelbo_se,
            energy_distance: ed,
            final_var,
            final_mean,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    bar.finish_and_clear();

    let report = Report {
        data: args.data.clone(),
        steps: k,
        schedule: args.schedule.clone(),
        trajectory: args.trajectory.clone(),
        total_steps: total,
        trajectory_nodes: trajectory.steps().to_vec(),
        samples: m,
        seed,
        final_step: if args.final_mean { "mean" } else { "sample" },
        gamma: gamma_src,
        rows,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        use std::io::Write;
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
    } else {
        print_table(&mut out, &report, dim)?;
    }
    Ok(())
}

fn sample_rows(law: &dyn DataLaw, rng: &mut StdRng, rows: usize) -> Vec<f64> {
    sample_law(law, rng, rows)
}

fn ensure_finite(x: &[f64], sampler: &str) -> anyhow::Result<()> {
    if let Some(v) = x.iter().find(|v| !v.is_finite()) {
        bail!("{sampler} produced a non-finite sample ({v})");
    }
    Ok(())
}

fn print_table(out: &mut impl std::io::Write, r: &Report, dim: usize) -> anyhow::Result<()> {
    writeln!(
        out,
        "data {} (d={dim}), {} schedule N={}, {} trajectory K={}, M={} samples, seed {}, Γ {}, final step: {}",
        r.data,
        r.schedule,
        r.total_steps,
        r.trajectory,
        r.steps,
        r.samples,
        r.seed,
        r.gamma,
        r.final_step
    )?;
    writeln!(
        out,
        "{:<14} {:>22} {:>16} {:>12} {:>9}",
        "sampler", "nelbo (nats/dim)", "energy_distance", "final_var", "seconds"
    )?;
    for row in &r.rows {
        let nelbo = match (row.nelbo, row.nelbo_std_err) {
            (Some(v), Some(se)) => format!("{v:.4} ± {se:.4}"),
            _ => "undefined".to_string(),
        };
        let fv = row
            .final_var
            .map_or_else(|| "-".to_string(), |v| format!("{v:.6}"));
        writeln!(
            out,
            "{:<14} {:>22} {:>16.5} {:>12} {:>9.3}",
            row.sampler, nelbo, row.energy_distance, fv, row.seconds
        )?;
    }
    Ok(())
}
