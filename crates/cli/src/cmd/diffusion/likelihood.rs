//! `kexue diffusion likelihood`: exact log-likelihood through the probability-flow ODE.
//!
//! Flags become a `diffusion::likelihood::LikelihoodConfig`; the library integrates the
//! PF-ODE and its divergence with RK45. With `--data` the ε-predictor is the law's exact ε*
//! and the closed-form density is printed beside the ODE value; with `--ckpt` it is the
//! network, on the checkpoint's own DDPM schedule read as a VP SDE.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use diffusion::exact::sample_law;
use diffusion::likelihood::{
    Dequantization, Divergence, LikelihoodConfig, LogLikelihood, Probe, log_likelihood,
};
use diffusion::sde::Sde;
use diffusion::solvers::{Derivative, Retimed, Tolerances};
use diffusion_nn::checkpoint::{self, Weights};
use diffusion_nn::data::{self, DataSpec};
use diffusion_nn::{Device, NetPredictor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use super::laws::Law;

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
pub struct Args {
    /// Data law with an exact ε-predictor: `gauss` (1-D N(0.5, 0.09)) or `gmm` (2-D ring of
    /// 8 Gaussians, radius 2, std 0.1). Points are fresh draws from it.
    #[arg(long, value_name = "LAW")]
    data: Option<String>,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ProbeArg {
    /// ±1 coordinates.
    Rademacher,
    /// N(0, 1) coordinates.
    Gaussian,
}

#[derive(Debug, Serialize)]
struct Report {
    data: String,
    sde: String,
    samples: usize,
    dim: usize,
    nll_nats_per_dim: f64,
    bits_per_dim: f64,
    bpd_offset: f64,
    nfe: usize,
    steps: usize,
    /// Exact divergence (full trace with analytic Jacobian products).
    exact: bool,
    divergence: &'static str,
    probes: Option<usize>,
    derivative: &'static str,
    closed_form_nll_nats_per_dim: Option<f64>,
    abs_error_nats_per_dim: Option<f64>,
    rtol: f64,
    atol: f64,
    t_start: f64,
    seconds: f64,
}

/// Runs `kexue diffusion likelihood`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let tol = Tolerances::new(args.rtol, args.atol)?;
    if args.samples == 0 {
        bail!("--samples must be at least 1");
    }
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
    config.tol = tol;
    config.max_nfe = args.max_nfe;
    config.t_start = args.t_start;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let start = Instant::now();
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message("integrating the probability-flow ODE");
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));

    let (name, sde_name, ll, offset, closed) = match (&args.data, &args.ckpt) {
        (Some(_), Some(_)) => bail!("give either --data or --ckpt, not both"),
        (None, None) => bail!("give --data gauss|gmm or --ckpt DIR"),
        (Some(law), None) => {
            let sde = Sde::from_name(args.sde.as_deref().unwrap_or("vp"))?;
            // Only laws with a density: the closed form is printed beside the ODE value.
            let law = match law.as_str() {
                "gauss" | "gmm" => Law::from_name(law, None)?,
                other => bail!("unknown --data `{other}` (expected gauss or gmm)"),
            };
            let x = sample_law(law.law(), &mut rng, args.samples);
            let predictor = law.predictor();
            let ll = log_likelihood(predictor, &sde, &config, &x, &mut rng)
                .context("likelihood through the probability-flow ODE")?;
            let d = predictor.dim();
            let closed = -x
                .chunks(d)
                .map(|r| law.log_density(r).expect("gauss and gmm have densities"))
                .sum::<f64>()
                / x.len() as f64;
            let name = args.data.clone().unwrap_or_default();
            (name, sde.name().to_string(), ll, 0.0, Some(closed))
        }
        (None, Some(dir)) => {
            let (meta, model) = checkpoint::load_model(dir, Weights::Ema, &Device::Cpu)
                .with_context(|| format!("loading checkpoint {}", dir.display()))?;
            let schedule = meta.schedule.build()?;
            // The network's own process unless --sde asks for another; `Retimed` gives the
            // network the time input of each requested ᾱ either way.
            let sde = match &args.sde {
                None => Sde::from_schedule(&schedule),
                Some(name) => Sde::from_name(name)?,
            };
            let spec: DataSpec = meta.data.spec.parse()?;
            let set = data::load(&spec).with_context(|| format!("loading data `{spec}`"))?;
            let d = set.dim();
            let m = args.samples.min(set.n_test());
            let rows: Vec<f64> = set.test[..m * d].iter().map(|&v| f64::from(v)).collect();
            let (x, offset) = match set.levels {
                Some(levels) => {
                    let deq = Dequantization::centred(levels, -1.0, 1.0)?;
                    let ks: Vec<u32> = rows.iter().map(|&v| deq.level_of(v)).collect();
                    (deq.dequantize(&ks, &mut rng)?, deq.offset_bits())
                }
                None => (rows, 0.0),
            };
            let net = NetPredictor::new(&model, 4096);
            let predictor = Retimed::new(&net, &schedule);
            let ll = log_likelihood(&predictor, &sde, &config, &x, &mut rng)
                .context("likelihood through the probability-flow ODE")?;
            (
                format!("ckpt:{} ({})", dir.display(), meta.data.spec),
                sde.name().to_string(),
                ll,
                offset,
                None,
            )
        }
    };
    spinner.finish_and_clear();
    let report = make_report(&args, name, sde_name, &ll, offset, closed, start);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_text(&report);
    }
    Ok(())
}

fn make_report(
    args: &Args,
    data: String,
    sde: String,
    ll: &LogLikelihood,
    offset: f64,
    closed: Option<f64>,
    start: Instant,
) -> Report {
    let nll = ll.nll_nats_per_dim();
    let (divergence, probes) = match args.hutchinson {
        None => ("exact-trace", None),
        Some(n) => ("hutchinson", Some(n)),
    };
    Report {
        data,
        sde,
        samples: ll.log_p.len(),
        dim: ll.dim,
        nll_nats_per_dim: nll,
        bits_per_dim: ll.bits_per_dim(offset),
        bpd_offset: offset,
        nfe: ll.nfe,
        steps: ll.n_steps,
        exact: probes.is_none() && ll.derivative == Derivative::Exact,
        divergence,
        probes,
        derivative: match ll.derivative {
            Derivative::Exact => "analytic",
            Derivative::FiniteDifference => "finite-difference",
        },
        closed_form_nll_nats_per_dim: closed,
        abs_error_nats_per_dim: closed.map(|c| (c - nll).abs()),
        rtol: args.rtol,
        atol: args.atol,
        t_start: args.t_start,
        seconds: start.elapsed().as_secs_f64(),
    }
}

fn print_text(r: &Report) {
    println!(
        "data {} ({} points, d = {}), SDE {}",
        r.data, r.samples, r.dim, r.sde
    );
    println!(
        "NLL {:.6} nats/dim = {:.6} bits/dim (offset {:.4})",
        r.nll_nats_per_dim, r.bits_per_dim, r.bpd_offset
    );
    if let (Some(c), Some(e)) = (r.closed_form_nll_nats_per_dim, r.abs_error_nats_per_dim) {
        println!("closed form {c:.6} nats/dim, |ODE − closed form| = {e:.2e}");
    }
    let div = match r.probes {
        Some(n) => format!("Hutchinson, {n} probes"),
        None => "exact trace".to_string(),
    };
    println!(
        "NFE {} ({} steps, rtol {:e}, atol {:e}), divergence: {div}, Jacobian: {}, {:.2} s",
        r.nfe, r.steps, r.rtol, r.atol, r.derivative, r.seconds
    );
}
