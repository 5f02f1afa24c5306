//! `kexue diffusion {lab,trajectory,likelihood}`: experiments on laws with exact ε-predictors
//! (and, for trajectory and likelihood, on a checkpoint).

use std::path::PathBuf;

use anyhow::{Context, bail};
use diffusion::draw::MenuOptions;
use diffusion::experiment::{self, LabSpec};
use diffusion::laws::LawName;
use diffusion::likelihood::{self, Divergence, LikelihoodConfig, LikelihoodProgress, Probe};
use diffusion::menu::{MenuVariance, SigmaKind, Spacing};
use diffusion::solvers::Tolerances;
use diffusion::{AnySampler, ScheduleKind, Sde, TrajectoryKind};
use diffusion_nn::pipeline;
use diffusion_nn::{Checkpoint, GammaCache, GammaPolicy, OpenOptions, Reuse};

use super::{
    DeviceArg, law_parser, open_law, print_json, schedule_parser, trajectory_parser, with_progress,
};

/// Arguments of `kexue diffusion lab`.
///
/// Runs ddpm-tilde, ddpm-beta, analytic-ddpm, ddim and analytic-ddim (or the --samplers
/// given, the few-step menu included) with the exact ε-predictor of the chosen data law and
/// prints one row per sampler.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Columns: `nelbo` is the negative ELBO in nats/dim (prior KL + per-step \
KLs + decoder with the fixed variance β̃_{1|2} of paper-A; `undefined` for DDIM, whose forward \
family has λ = 0). `energy_distance` compares the samples (started from x_{τ_K} ~ q(x_{τ_K})) \
with fresh data samples (the unbiased U-statistic: 0 on average for equal laws, so it can be \
slightly negative); lower is better. `final_var` (gauss only) is the exactly propagated \
variance of the output, to compare with the data variance 0.09. Analytic samplers use Γ_t in \
closed form (gauss), by Gauss-Hermite quadrature (rademacher) or by Monte Carlo from M data \
rows (gmm with more than 3 dimensions); their variances are clipped with Eq. 11 only for \
unbounded data.\n\n\
Menu samplers (euler, heun, unipc, …) run K steps on diffusers' grid of the schedule from \
x ~ q at their first node and report their NFE; their nelbo is undefined, their final_var \
(gauss) exact. --sigmas/--spacing/--order apply to every menu sampler listed, --eta to those \
with η, --variance to euler-ancestral and dpm-solver++-sde: `analytic` replaces their noise by \
Analytic-DPM's optimal variance (Γ of the law in closed form or by quadrature), `sn`/`npr` by \
the per-coordinate variance of the law's exact SN/NPR covariance head (gauss, gmm).\n\n\
Examples:\n  kexue diffusion lab --data gauss --steps 10 --json\n  \
kexue diffusion lab --data gmm --steps 25 --schedule cosine\n  \
kexue diffusion lab --data gmm --steps 10 --samplers unipc,deis,euler-ancestral --sigmas karras\n  \
kexue diffusion lab --data gauss --steps 10 --samplers euler-ancestral --variance analytic"
)]
pub struct LabArgs {
    /// Data law.
    #[arg(long, default_value = "gmm", value_name = "LAW", value_parser = law_parser())]
    data: LawName,
    /// Number of sampling steps K (model calls), 1 ≤ K ≤ N.
    #[arg(long, default_value_t = 10, value_name = "K")]
    steps: usize,
    /// Noise schedule.
    #[arg(long, default_value = "linear", value_parser = schedule_parser())]
    schedule: ScheduleKind,
    /// Trajectory (`even` or `quad`; the lab has Γ at the nodes only).
    #[arg(long, default_value = "even", value_parser = trajectory_parser())]
    trajectory: TrajectoryKind,
    /// Number of diffusion steps N of the schedule.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    total_steps: usize,
    /// Samples M per sampler (also the number of data rows for the NELBO and for the
    /// Monte-Carlo Γ of `gmm`). Energy distances use at most 5000 of them.
    #[arg(long, default_value_t = 5000, value_name = "M")]
    samples: usize,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed: u64,
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
    /// Samplers, comma-separated (discrete and menu samplers; default: the five discrete).
    #[arg(long, value_delimiter = ',', value_parser = lab_sampler_parser(), value_name = "LIST")]
    samplers: Vec<AnySampler>,
    /// η in [0, 1] of the listed samplers that take one: ddim / analytic-ddim (default 0),
    /// euler-ancestral / dpm2-ancestral / dpm-solver++-sde (default 1).
    #[arg(long, allow_negative_numbers = true)]
    eta: Option<f64>,
    /// Menu samplers: σ grid (`default`, `karras`, `logsnr`).
    #[arg(long, value_name = "KIND")]
    sigmas: Option<SigmaKind>,
    /// Menu samplers: timestep spacing (leading, trailing, linspace).
    #[arg(long, value_name = "SPACING")]
    spacing: Option<Spacing>,
    /// Menu samplers: solver order (e.g. 1–3 for unipc / deis, 1–4 for lms).
    #[arg(long)]
    order: Option<usize>,
    /// euler-ancestral / dpm-solver++-sde: noise variance `handcrafted` (default),
    /// `analytic` (Analytic-DPM's optimal variance from Γ), `sn` or `npr` (per-coordinate,
    /// from the law's exact covariance head).
    #[arg(long, value_name = "KIND")]
    variance: Option<MenuVariance>,
}

/// `lab --samplers`: the discrete samplers and the menu (the lab runs no continuous or
/// covariance sampler).
fn lab_sampler_parser() -> impl clap::builder::TypedValueParser<Value = AnySampler> {
    super::one_of(
        AnySampler::ALL
            .iter()
            .filter(|s| matches!(s, AnySampler::Discrete(_) | AnySampler::Menu(_)))
            .map(|s| (s.name(), s.help()))
            .collect(),
    )
}

/// Runs `kexue diffusion lab`.
pub fn lab(args: LabArgs) -> anyhow::Result<()> {
    let law = open_law(args.data, args.gmm_file.as_deref())?;
    let spec = LabSpec {
        schedule: args.schedule,
        total_steps: args.total_steps,
        steps: args.steps,
        trajectory: args.trajectory,
        samples: args.samples,
        seed: args.seed,
        final_mean: args.final_mean,
        samplers: experiment::configure_samplers(
            if args.samplers.is_empty() {
                &LabSpec::DEFAULT_SAMPLERS
            } else {
                &args.samplers
            },
            args.eta,
            MenuOptions {
                sigmas: args.sigmas,
                spacing: args.spacing,
                order: args.order,
                variance: args.variance,
            },
        )?,
    };
    diffusion_nn::output::check_memory("samples", args.samples, law.dim(), 4)?;
    let report = with_progress(|p| experiment::lab(&law, &spec, p))?;
    if args.json {
        return print_json(&report);
    }
    print!("{}", report.table(law.dim()));
    Ok(())
}

/// Arguments of `kexue diffusion trajectory`.
///
/// Finds the K-node trajectory 1 = τ_1 < … < τ_K = N that minimises the KL of Analytic-DDPM
/// (the DDPM forward process with optimal variances) by dynamic programming over Γ, and
/// compares its NELBO with the even trajectory's (same data rows and noise draws, so the
/// difference is sharp; with exact scores its expectation is ½ (Σ J_even − Σ J_opt)).
#[derive(Debug, clap::Args)]
pub struct TrajectoryArgs {
    /// Data law with an exact ε-predictor (Γ: closed form for gauss, where every trajectory
    /// costs the same; Monte Carlo for gmm; quadrature for rademacher).
    #[arg(long, default_value = "gmm", value_name = "LAW", conflicts_with = "ckpt",
          value_parser = law_parser())]
    data: LawName,
    /// Mixture for `--data gmm` (JSON, as in `lab`).
    #[arg(long, value_name = "FILE", conflicts_with = "ckpt")]
    gmm_file: Option<PathBuf>,
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
    /// Noise schedule.
    #[arg(long, default_value = "linear", conflicts_with = "ckpt",
          value_parser = schedule_parser())]
    schedule: ScheduleKind,
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
    /// Device of the network (--ckpt).
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    /// Class of a class-conditional diffusers model (--ckpt).
    #[arg(long = "class", value_name = "N", requires = "ckpt")]
    class: Option<u32>,
}

/// Runs `kexue diffusion trajectory`.
pub fn trajectory(args: TrajectoryArgs) -> anyhow::Result<()> {
    let report = match &args.ckpt {
        Some(dir) => {
            let options = OpenOptions {
                device: args.device.choice(),
                class: args.class,
                ..OpenOptions::default()
            };
            let ck = Checkpoint::open_with(dir, options)
                .with_context(|| format!("loading checkpoint {}", dir.display()))?;
            let policy = GammaPolicy {
                m: args.m,
                seed: args.seed,
                reuse: Reuse::Any,
                cache: GammaCache::Beside,
            };
            with_progress(|p| {
                pipeline::trajectories(&ck, args.steps, &policy, args.samples, args.seed, p)
            })
            .with_context(|| {
                format!(
                    "estimate Γ from more rows with `kexue diffusion gamma --ckpt {} --m 1000 \
                     --force`",
                    dir.display()
                )
            })?
        }
        None => {
            let law = open_law(args.data, args.gmm_file.as_deref())?;
            diffusion_nn::output::check_memory("samples", args.samples, law.dim(), 4)?;
            with_progress(|p| {
                let setup = experiment::law_trajectories(
                    &law,
                    args.schedule,
                    args.total_steps,
                    args.samples,
                    args.seed,
                    p,
                )?;
                experiment::compare_trajectories(setup, args.steps, p)
            })?
        }
    };
    if args.json {
        // serde_json writes non-finite floats as null.
        return print_json(&report);
    }
    print!("{report}");
    Ok(())
}

/// Arguments of `kexue diffusion likelihood`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "ln p(x) = ln p_1(x(1)) + ∫ ∇·f̃ dt along the probability-flow ODE \
dx/dt = f_t x − ½ g_t² ∇log p_t, solved from t_0 to 1 with adaptive Dormand–Prince (spec §5.6). \
The divergence is the exact trace (d Jacobian products; analytic for --data, central \
differences for a network) unless --hutchinson N asks for N fixed random probes per point.\n\n\
Examples:\n  kexue diffusion likelihood --data gauss\n  \
kexue diffusion likelihood --data gmm --hutchinson 16 --json\n  \
kexue diffusion likelihood --ckpt models/digits --samples 50"
)]
pub struct LikelihoodArgs {
    /// Data law with an exact ε-predictor and a density: `gauss` or `gmm`. Points are fresh
    /// draws from it.
    #[arg(long, value_name = "LAW", value_parser = law_parser())]
    data: Option<LawName>,
    /// Mixture for `--data gmm` (JSON, as in `lab`).
    #[arg(long, value_name = "FILE")]
    gmm_file: Option<PathBuf>,
    /// Checkpoint folder of a trained ε-network: evaluates its held-out rows (dequantised
    /// when the data is discrete; bits/dim then include the bin offset).
    #[arg(long, value_name = "DIR")]
    ckpt: Option<PathBuf>,
    /// SDE: `vp` (β 0.1..20), `subvp` or `ve` (σ 0.01..50). Default: `vp` for --data, the
    /// checkpoint's own DDPM schedule read as a VP SDE for --ckpt (another SDE re-times the
    /// network: it is queried at the training step with the same ᾱ).
    #[arg(long, value_name = "NAME")]
    sde: Option<String>,
    /// Hutchinson trace estimator with N probes per point instead of the exact trace.
    #[arg(long, value_name = "N")]
    hutchinson: Option<usize>,
    /// Probe distribution for --hutchinson.
    #[arg(long, value_enum, default_value = "rademacher")]
    probe: ProbeArg,
    /// Number of data points.
    #[arg(long, default_value_t = 100, value_name = "M")]
    samples: usize,
    /// Relative tolerance of the ODE solver (> 0).
    #[arg(long, default_value_t = 1e-5, allow_hyphen_values = true)]
    rtol: f64,
    /// Absolute tolerance of the ODE solver (> 0).
    #[arg(long, default_value_t = 1e-5, allow_hyphen_values = true)]
    atol: f64,
    /// Most drift evaluations allowed before giving up.
    #[arg(long, default_value_t = 20_000, value_name = "N")]
    max_nfe: usize,
    /// Start time t_0 of the ODE, in (0, 1).
    #[arg(long, default_value_t = 1e-5, allow_hyphen_values = true)]
    t_start: f64,
    /// Seed of the data draws, dequantisation noise and probes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print exactly one JSON object.
    #[arg(long)]
    json: bool,
    /// Device of the network (--ckpt).
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    /// Class of a class-conditional diffusers model (--ckpt).
    #[arg(long = "class", value_name = "N", requires = "ckpt")]
    class: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ProbeArg {
    /// ±1 coordinates.
    Rademacher,
    /// N(0, 1) coordinates.
    Gaussian,
}

/// Runs `kexue diffusion likelihood`.
pub fn likelihood(args: LikelihoodArgs) -> anyhow::Result<()> {
    let divergence = match args.hutchinson {
        None => Divergence::Exact,
        Some(0) => bail!("--hutchinson needs at least 1 probe"),
        Some(n) => Divergence::Hutchinson {
            n_probes: n,
            probe: match args.probe {
                ProbeArg::Rademacher => Probe::Rademacher,
                ProbeArg::Gaussian => Probe::Gaussian,
            },
        },
    };
    let mut config = LikelihoodConfig::new(divergence);
    config.tol = Tolerances::new(args.rtol, args.atol)?;
    config.max_nfe = args.max_nfe;
    config.t_start = args.t_start;
    if args.samples == 0 {
        bail!("--samples must be at least 1");
    }
    let sde = args.sde.as_deref().map(Sde::from_name).transpose()?;
    // One ODE solve for the whole batch: the bar follows ln t from t_0 to 1 (about uniform in
    // cost for the adaptive solver) with the NFE spent.
    let pb = super::bar(
        1000,
        "PF-ODE {msg} [{bar:30}] {percent:>3}% [{elapsed_precise}<{eta_precise}]",
    );
    let mut on_progress = |p: LikelihoodProgress| {
        let pos = (p.fraction() * 1000.0) as u64;
        if pos != pb.position() || p.nfe.is_multiple_of(50) {
            pb.set_position(pos);
            pb.set_message(format!(
                "{} rows, t = {:.2e}, NFE {}/{}",
                p.rows, p.t, p.nfe, p.max_nfe
            ));
        }
    };
    let report = match (args.data, &args.ckpt) {
        (Some(name), None) => {
            let law = open_law(name, args.gmm_file.as_deref())?;
            diffusion_nn::output::check_memory(
                "samples",
                args.samples,
                law.dim(),
                pipeline::LIKELIHOOD_COPIES,
            )?;
            let sde = match sde {
                Some(sde) => sde,
                None => Sde::from_name("vp")?,
            };
            likelihood::law_likelihood_with_progress(
                &law,
                &sde,
                &config,
                args.samples,
                args.seed,
                &mut on_progress,
            )
            .context("likelihood through the probability-flow ODE")?
        }
        (None, Some(dir)) => {
            let options = OpenOptions {
                device: args.device.choice(),
                class: args.class,
                ..OpenOptions::default()
            };
            let ck = Checkpoint::open_with(dir, options)
                .with_context(|| format!("loading checkpoint {}", dir.display()))?;
            pipeline::likelihood_with_progress(
                &ck,
                sde,
                &config,
                args.samples,
                args.seed,
                &mut on_progress,
            )
            .context("likelihood through the probability-flow ODE")?
        }
        (Some(_), Some(_)) => bail!("give either --data or --ckpt, not both"),
        (None, None) => bail!("give --data gauss|gmm or --ckpt DIR"),
    };
    pb.finish_and_clear();
    if args.json {
        return print_json(&report);
    }
    print!("{report}");
    Ok(())
}
