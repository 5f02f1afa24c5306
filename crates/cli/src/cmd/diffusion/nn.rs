//! `kexue diffusion {train,train-cov,gamma,sample,eval,demo}`: the neural pipeline.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use diffusion::laws::{self, LawName};
use diffusion::{AnySampler, DrawSpec, PlanSettings, Sampler, ScheduleKind, TrajectoryKind};
use diffusion_nn::checkpoint::{self, Weights};
use diffusion_nn::config::{ScheduleConfig, TrainConfig, TrainOverrides};
use diffusion_nn::cov;
use diffusion_nn::data::{self, DataShape, DataSpec, Dataset};
use diffusion_nn::pipeline::{self, EvalSpec, GammaFile, NetSampler};
use diffusion_nn::train::{self, Start, TrainSetup};
use diffusion_nn::{
    Checkpoint, EpsNetConfig, GammaCache, GammaPolicy, Model, NetKind, OpenOptions, Reuse,
};

use super::{
    DeviceArg, bar, net_sampler_parser, open_law, print_json, schedule_parser, trajectory_parser,
    with_progress, with_steps, with_two_bars,
};

/// Runs a training loop under a bar of `steps` steps showing the smoothed loss and speed.
fn with_train_bar<T>(steps: u64, run: impl FnOnce(&mut dyn FnMut(&train::Progress)) -> T) -> T {
    let pb = bar(
        steps,
        "{bar:30} {pos}/{len} steps {msg} [{elapsed_precise}<{eta_precise}]",
    );
    let out = run(&mut |p| {
        pb.set_position(p.step);
        pb.set_message(format!(
            "loss {:.4} | {:.1} steps/s",
            p.smoothed_loss, p.steps_per_sec
        ));
    });
    pb.finish_and_clear();
    out
}

/// Steps per second of a whole training call.
fn steps_per_sec(report: &train::TrainReport) -> f64 {
    (report.last_step + 1 - report.first_step) as f64 / report.seconds.max(1e-9)
}

fn load_data(spec: &str) -> anyhow::Result<Dataset> {
    let spec: DataSpec = spec.parse()?;
    data::load(&spec).with_context(|| format!("loading data `{spec}`"))
}

/// The flags of the commands that open a checkpoint for Γ, sampling or the NELBO.
#[derive(Debug, clap::Args)]
pub struct NetFlags {
    /// Images for Γ, the NELBO and --energy instead of the checkpoint's own data (needed once
    /// for a diffusers model folder, which holds none; remembered with its Γ cache):
    /// png:FOLDER, cifar10:PATH, mnist:PATH; checked against in_channels × sample_size.
    #[arg(long = "data", value_name = "DATA")]
    data: Option<String>,
    /// Class of a class-conditional diffusers model (num_class_embeds): required for one,
    /// refused for other models.
    #[arg(long = "class", value_name = "N")]
    class: Option<u32>,
}

fn open(
    dir: &Path,
    raw_weights: bool,
    device: DeviceArg,
    net: &NetFlags,
) -> anyhow::Result<Checkpoint> {
    let options = OpenOptions {
        weights: if raw_weights {
            Weights::Raw
        } else {
            Weights::Ema
        },
        device: device.choice(),
        data: net
            .data
            .as_deref()
            .map(str::parse::<DataSpec>)
            .transpose()
            .context("--data")?,
        class: net.class,
    };
    Checkpoint::open_with(dir, options)
        .with_context(|| format!("loading checkpoint {}", dir.display()))
}

/// The training flags shared by `train` and `train-cov`.
#[derive(Debug, clap::Args)]
pub struct TrainFlags {
    /// Total optimisation steps (with --resume: the new total).
    #[arg(long)]
    steps: Option<u64>,
    /// Rows per batch (fixed on --resume).
    #[arg(long, alias = "batch")]
    batch_size: Option<usize>,
    /// AdamW learning rate (fixed on --resume).
    #[arg(long)]
    lr: Option<f64>,
    /// Seed of the initial weights and of every batch (fixed on --resume).
    #[arg(long)]
    seed: Option<u64>,
    /// Write a checkpoint every this many steps.
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// EMA decay of the weights used for sampling (fixed on --resume).
    #[arg(long)]
    ema_decay: Option<f64>,
    /// Maximum global gradient norm, 0 disables clipping (fixed on --resume).
    #[arg(long)]
    grad_clip: Option<f64>,
    /// Continue the run in the output folder; --steps and --checkpoint-every apply, the other
    /// settings must equal the stored ones (an error names the flag that differs).
    #[arg(long)]
    resume: bool,
    /// Device (cuda needs a build with `--features cuda`).
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

impl TrainFlags {
    fn overrides(&self) -> TrainOverrides {
        TrainOverrides {
            steps: self.steps,
            batch_size: self.batch_size,
            lr: self.lr,
            seed: self.seed,
            checkpoint_every: self.checkpoint_every,
            ema_decay: self.ema_decay,
            grad_clip: self.grad_clip,
        }
    }

    fn start(&self) -> Start {
        if self.resume {
            Start::Resume
        } else {
            Start::Fresh
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum NetArg {
    /// U-Net for images, MLP for vectors.
    Auto,
    /// The MLP ε-network.
    Mlp,
    /// The U-Net ε-network (image data only).
    Unet,
    /// diffusers' UNet2DModel (image data only; exportable with `kexue diffusion export`).
    DiffusersUnet,
}

/// Arguments of `kexue diffusion train`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Data: digits (UCI 8×8, shipped), 2-D toys moons | 8gaussians | \
checkerboard | swissroll (generated by seed), or from disk mnist:PATH | fashion:PATH (IDX files, \
a folder or one images file), cifar10:PATH (binary batches), png:PATH (a folder of PNGs).\n\n\
The loss is L_simple with the squared norm summed over dimensions. A checkpoint (checkpoint.json, \
model.safetensors with weights and EMA weights, optim.safetensors) is written atomically every \
--checkpoint-every steps and after the last one. --resume continues bit-identically. A NaN or \
infinite loss stops training with an error and keeps the last good checkpoint.\n\n\
Examples:\n  kexue diffusion train --data digits --out artifacts/digits --steps 4000\n  \
kexue diffusion train --data moons --out artifacts/moons --steps 3000\n  \
kexue diffusion train --out artifacts/digits --resume --steps 6000"
)]
pub struct TrainArgs {
    /// Training data (see below). Optional with --resume (the checkpoint knows it).
    #[arg(long, value_name = "DATA")]
    data: Option<String>,
    /// Output folder for the checkpoint.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    flags: TrainFlags,
    /// TOML file with training settings (the fields of `train` in checkpoint.json); flags win.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Network.
    #[arg(long, value_enum, default_value = "auto")]
    net: NetArg,
    /// MLP hidden width.
    #[arg(long, default_value = "256")]
    hidden: usize,
    /// MLP hidden layers.
    #[arg(long, default_value = "4")]
    depth: usize,
    /// U-Net channels of the first level (levels ×1 and ×2).
    #[arg(long, default_value = "32")]
    base_channels: usize,
    /// With --net diffusers-unet: a diffusers UNet2DModel config.json instead of the default
    /// for the data's image size.
    #[arg(long, value_name = "FILE")]
    unet_config: Option<PathBuf>,
    /// Noise schedule.
    #[arg(long, default_value = "linear", value_parser = schedule_parser())]
    schedule: ScheduleKind,
    /// Number of diffusion timesteps N.
    #[arg(long, default_value = "1000")]
    n_timesteps: usize,
}

fn net_config(args: &TrainArgs, data: &Dataset) -> anyhow::Result<EpsNetConfig> {
    let kind = match args.net {
        NetArg::Auto => NetKind::Auto,
        NetArg::Mlp => NetKind::Mlp,
        NetArg::Unet => NetKind::Unet,
        NetArg::DiffusersUnet => NetKind::DiffusersUnet,
    };
    if let Some(path) = &args.unet_config {
        return diffusion_nn::model::config_from_file(kind, path, data.shape)
            .with_context(|| format!("--unet-config {}", path.display()));
    }
    let (h, d, b) = (args.hidden, args.depth, args.base_channels);
    EpsNetConfig::for_data(kind, data.shape, h, d, b)
        .with_context(|| format!("--net, --data {}", data.spec))
}

/// Runs `kexue diffusion train`.
pub fn train(args: TrainArgs) -> anyhow::Result<()> {
    let device = diffusion_nn::device(args.flags.device.choice())?;
    let overrides = args.flags.overrides();
    let (setup, data) = if args.flags.resume {
        let (setup, spec) = train::resume_setup(&args.out, &overrides)?;
        (setup, load_data(args.data.as_deref().unwrap_or(&spec))?)
    } else {
        let Some(spec) = &args.data else {
            bail!("--data is required (unless --resume)")
        };
        if checkpoint::exists(&args.out) {
            bail!(
                "{} already holds a checkpoint: resume it with --resume or choose another --out",
                args.out.display()
            );
        }
        let data = load_data(spec)?;
        let mut train = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                TrainConfig::from_toml(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => TrainConfig::default(),
        };
        overrides.apply(&mut train);
        let setup = TrainSetup {
            model: net_config(&args, &data)?,
            schedule: ScheduleConfig {
                kind: args.schedule,
                n_timesteps: args.n_timesteps,
            },
            train,
        };
        (setup, data)
    };
    let params = Model::new(&setup.model, 0, &diffusion_nn::Device::Cpu)?.n_params();
    eprintln!(
        "training {} ({} parameters) on {} ({} train rows of {}) for {} steps, batch {}",
        setup.model.label(),
        params,
        data.spec,
        data.n_train(),
        data.dim(),
        setup.train.steps,
        setup.train.batch_size
    );
    let report = with_train_bar(setup.train.steps, |on_step| {
        train::train(
            &setup,
            &data,
            &args.out,
            args.flags.start(),
            &device,
            on_step,
        )
    });
    let report = report.with_context(|| format!("training into {}", args.out.display()))?;
    println!(
        "trained steps {}..{} in {:.1}s ({:.1} steps/s), smoothed loss {:.4}; checkpoint {} (step {})",
        report.first_step,
        report.last_step,
        report.seconds,
        steps_per_sec(&report),
        report.smoothed_loss,
        args.out.display(),
        report.last_step
    );
    Ok(())
}

/// Which covariance head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum KindArg {
    /// SN-DPM: h ≈ E[ε⊙ε | x_t].
    Sn,
    /// NPR-DPM: g ≈ E[(ε − ε̂)⊙² | x_t] around the frozen ε-network.
    Npr,
}

/// Arguments of `kexue diffusion train-cov`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Trains the covariance head of SN-DPM (--kind sn: h ≈ E[ε⊙ε | x_t]) or NPR-DPM \
(--kind npr: g ≈ E[(ε − ε̂)⊙² | x_t]) for the checkpoint in --ckpt, with its ε-network (EMA \
weights) frozen: a second network of the same architecture with a softplus output, loss \
‖head − target‖² summed over dimensions, on the checkpoint's own training data. The same loop \
as `train` (defaults: 2000 steps, batch 128, lr 1e-3, seed 0, a head every 500 steps, EMA \
0.999): AdamW, warm-up, gradient clipping, EMA, atomic checkpoints (cov-KIND.json, \
cov-KIND.safetensors with the EMA weights, cov-KIND.train.safetensors for --resume), \
bit-identical --resume, and a NaN or infinite loss stops with the last good head kept. The head \
records which ε-weights it belongs to; sample/eval refuse a head trained against other \
weights.\n\n\
Examples:\n  kexue diffusion train-cov --ckpt artifacts/digits --kind sn --steps 1500\n  \
kexue diffusion train-cov --ckpt artifacts/digits --kind sn --resume --steps 3000\n  \
kexue diffusion sample --ckpt artifacts/digits --sampler sn-ddpm --steps 10"
)]
pub struct TrainCovArgs {
    /// Checkpoint folder of the ε-network (the head is written beside it).
    #[arg(long, value_name = "DIR")]
    ckpt: PathBuf,
    /// Which head.
    #[arg(long, value_enum)]
    kind: KindArg,
    #[command(flatten)]
    flags: TrainFlags,
    /// Print a JSON summary instead of the sentence.
    #[arg(long)]
    json: bool,
}

/// Runs `kexue diffusion train-cov`.
pub fn train_cov(args: TrainCovArgs) -> anyhow::Result<()> {
    let kind = match args.kind {
        KindArg::Sn => diffusion::CovKind::Sn,
        KindArg::Npr => diffusion::CovKind::Npr,
    };
    let device = diffusion_nn::device(args.flags.device.choice())?;
    let eps_meta = checkpoint::read_meta(&args.ckpt)?;
    let start = args.flags.start();
    let train = cov::head_train_config(&args.ckpt, kind, &args.flags.overrides(), start)?;
    let data = load_data(&eps_meta.data.spec)?;
    if !args.json {
        eprintln!(
            "training the {} head of {} ({} train rows of {}) for {} steps, batch {}",
            cov::label(kind),
            args.ckpt.display(),
            data.n_train(),
            data.dim(),
            train.steps,
            train.batch_size
        );
    }
    let report = with_train_bar(train.steps, |on_step| {
        cov::train_cov(kind, &train, &args.ckpt, &data, start, &device, on_step)
    });
    let report = report.with_context(|| {
        format!(
            "training the {} head in {}",
            cov::label(kind),
            args.ckpt.display()
        )
    })?;
    let out = cov::HeadReport::new(&args.ckpt, kind, &report);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{out}");
    }
    Ok(())
}

/// Γ of `ck` under `policy` with a bar over the timesteps of an estimate.
fn gamma_with_bar(ck: &Checkpoint, policy: &GammaPolicy) -> anyhow::Result<(GammaFile, bool)> {
    let n = ck.schedule().n_steps() as u64;
    Ok(with_steps(n, "Γ", |on_time| ck.gamma(policy, on_time))?)
}

/// Arguments of `kexue diffusion gamma`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Γ_n = (1/M) Σ_m ‖ε_θ(x_n^(m), n)‖²/d with x_n = √ᾱ_n x_0 + √β̄_n ε, for \
every n = 1..N, from M training rows (paper-A Eq. 8). The result is cached as gamma.json next to \
the checkpoint (for the repository's shipped models/: in artifacts/cache/NAME, the shipped folder \
is never written) and reused by sample/eval while checkpoint step, M and seed match.\n\n\
Example:\n  kexue diffusion gamma --ckpt artifacts/digits --m 100"
)]
pub struct GammaArgs {
    /// Checkpoint folder.
    #[arg(long, value_name = "DIR")]
    ckpt: PathBuf,
    /// Monte-Carlo sample size M (training rows).
    #[arg(long, default_value = "100")]
    m: usize,
    /// Seed of the row choice and the noise.
    #[arg(long, default_value = "0")]
    seed: u64,
    /// Recompute even if a matching cache exists.
    #[arg(long)]
    force: bool,
    /// Print the result as JSON ({"m", "seed", "checkpoint_step", "gamma": [Γ_1..Γ_N], …}).
    #[arg(long)]
    json: bool,
    /// Device.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    #[command(flatten)]
    net: NetFlags,
}

/// Runs `kexue diffusion gamma`.
pub fn gamma(args: GammaArgs) -> anyhow::Result<()> {
    let ck = open(&args.ckpt, false, args.device, &args.net)?;
    let policy = GammaPolicy {
        m: args.m,
        seed: args.seed,
        reuse: if args.force {
            Reuse::Never
        } else {
            Reuse::Exact
        },
        cache: GammaCache::Beside,
    };
    let (file, cached) = gamma_with_bar(&ck, &policy)?;
    if args.json {
        return print_json(&file);
    }
    let above = file.gamma.iter().filter(|&&g| g > 1.0).count();
    println!(
        "{} Γ for N = {} with M = {} (checkpoint step {}, {:.1}s): {}; {} values above 1; {}",
        if cached { "cached" } else { "estimated" },
        file.n_timesteps,
        file.m,
        file.checkpoint_step,
        file.seconds,
        file.summary(),
        above,
        ck.cache_dir().join(pipeline::GAMMA_FILE).display()
    );
    Ok(())
}

/// Arguments of `kexue diffusion sample`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Discrete samplers run on the --trajectory of K steps (even, quad or the DP \
optimum); continuous ones on the checkpoint's schedule read as a VP SDE (they report their NFE). \
--data LAW replaces the checkpoint by an exact ε-predictor on the linear schedule with N = 1000 \
and also prints the energy distance to fresh data. Analytic samplers use Γ from the cache next \
to the checkpoint (estimated with --m rows first if missing). sn-* and npr-* (SN-/NPR-DPM, spec \
§7) take per-dimension variances λ² + γ²·clip(σ̄²(x_t)) from the covariance head beside the \
checkpoint (made by `kexue diffusion train-cov --ckpt DIR --kind sn|npr`), or from the exact \
head of --data gauss|gmm. Discrete data: x̂_0 clipped to [−1, 1], last step returns the mean, \
σ² of the step into x_1 clipped at one quantisation level.\n\n\
Example:\n  kexue diffusion sample --ckpt models/digits --sampler analytic-ddpm --steps 10 \
--png grid.png"
)]
pub struct SampleArgs {
    /// Checkpoint folder: a kexue checkpoint, a diffusers model folder or a diffusers
    /// pipeline folder.
    #[arg(long, value_name = "DIR", required_unless_present = "data")]
    ckpt: Option<PathBuf>,
    /// Without --ckpt: a data law with an exact ε-predictor (gauss, gmm, rademacher). With
    /// --ckpt: the images for Γ and --energy (png:FOLDER, cifar10:PATH, mnist:PATH; needed
    /// once for a diffusers folder, which holds none).
    #[arg(long, value_name = "LAW|DATA")]
    data: Option<String>,
    /// Mixture for `--data gmm` (JSON, as in `lab`).
    #[arg(long, value_name = "FILE", requires = "data", conflicts_with = "ckpt")]
    gmm_file: Option<PathBuf>,
    /// Class of a class-conditional diffusers model (num_class_embeds).
    #[arg(long = "class", value_name = "N", requires = "ckpt")]
    class: Option<u32>,
    /// Sampler.
    #[arg(long, value_parser = net_sampler_parser())]
    sampler: NetSampler,
    /// Number of steps K (1 ≤ K ≤ N; for ode-rk45 ignored, the step size is adaptive).
    #[arg(long, value_name = "K")]
    steps: usize,
    /// Trajectory of the discrete samplers.
    #[arg(long, default_value = "even", value_parser = trajectory_parser())]
    trajectory: TrajectoryKind,
    /// η in [0, 1] of ddim / analytic-ddim / sn-ddim / npr-ddim (default 0) and of the menu's
    /// euler-ancestral / dpm2-ancestral / dpm-solver++-sde (default 1).
    #[arg(long, allow_negative_numbers = true)]
    eta: Option<f64>,
    /// Menu samplers: σ grid (`default`: the schedule's σ at the spaced timesteps, `karras`:
    /// Karras et al.'s ρ = 7 grid, `logsnr`: uniform in log-SNR).
    #[arg(long, value_name = "KIND")]
    sigmas: Option<diffusion::menu::SigmaKind>,
    /// Menu samplers: timestep spacing of the discrete schedule (leading, trailing, linspace).
    #[arg(long, value_name = "SPACING")]
    spacing: Option<diffusion::menu::Spacing>,
    /// Menu samplers: solver order (e.g. 1–3 for unipc / deis, 1–4 for lms).
    #[arg(long)]
    order: Option<usize>,
    /// euler-ancestral / dpm-solver++-sde: noise variance `handcrafted` (default), `analytic`
    /// (Analytic-DPM's optimal variance from Γ), `sn` or `npr` (per-coordinate, from the
    /// covariance head beside the checkpoint or the exact head of --data gauss|gmm).
    #[arg(long, value_name = "KIND")]
    variance: Option<diffusion::menu::MenuVariance>,
    /// Number of samples.
    #[arg(long, alias = "n", default_value = "64", value_name = "N")]
    samples: usize,
    /// PNG to write (image grid, or scatter plot for 2-D data).
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
    /// Also write the samples as a NumPy f32 array.
    #[arg(long, value_name = "FILE")]
    npy: Option<PathBuf>,
    /// Seed of x_N and the noise.
    #[arg(long, default_value = "0")]
    seed: u64,
    /// M for Γ when no cache exists.
    #[arg(long, default_value = "100")]
    m: usize,
    /// Use the raw weights instead of the EMA weights.
    #[arg(long)]
    raw_weights: bool,
    /// With --ckpt: also print the energy distance between the samples and (up to 1000 rows of)
    /// the held-out split, a sample-quality proxy (0 for equal laws; FID is not available).
    #[arg(long)]
    energy: bool,
    /// Print one JSON object (summary, energy distance, files) instead of the sentence.
    #[arg(long)]
    json: bool,
    /// Device.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

/// `--sampler` with `--eta` and the menu's `--sigmas/--spacing/--order` applied.
fn sampler_of(args: &SampleArgs) -> anyhow::Result<NetSampler> {
    let NetSampler::Core(sampler) = args.sampler else {
        if args.eta.is_some() || args.sigmas.is_some() || args.spacing.is_some() {
            bail!("learned-ddpm takes none of --eta, --sigmas, --spacing");
        }
        return Ok(args.sampler);
    };
    let sampler = match args.eta {
        Some(eta) => sampler.with_eta(eta).context("--eta")?,
        None => sampler,
    };
    let options = diffusion::draw::MenuOptions {
        sigmas: args.sigmas,
        spacing: args.spacing,
        order: args.order,
        variance: args.variance,
    };
    Ok(NetSampler::Core(sampler.with_menu_options(options)?))
}

/// Runs `kexue diffusion sample`.
pub fn sample(args: SampleArgs) -> anyhow::Result<()> {
    if args.samples == 0 {
        bail!("--samples must be ≥ 1");
    }
    for path in args.png.iter().chain(args.npy.iter()) {
        diffusion_nn::output::check_writable(path)?;
    }
    if let Some(png) = &args.png {
        diffusion_nn::output::check_png_path(png)?;
    }
    let sampler = sampler_of(&args)?;
    let spec = DrawSpec {
        sampler: match sampler {
            NetSampler::Core(s) => s,
            NetSampler::LearnedDdpm => AnySampler::Discrete(Sampler::DdpmTilde),
        },
        steps: args.steps,
        trajectory: args.trajectory,
        n: args.samples,
        seed: args.seed,
        settings: PlanSettings::EXACT,
    };
    let started = Instant::now();
    let (draw, shape, reference) = match (&args.ckpt, &args.data) {
        (Some(dir), data) => {
            let net = NetFlags {
                data: data.clone(),
                class: args.class,
            };
            let ck = open(dir, args.raw_weights, args.device, &net)?;
            check_png(&args, ck.shape())?;
            let n = ck.schedule().n_steps() as u64;
            let run = with_two_bars((n, "Γ"), (args.steps as u64, "sampling"), |g, st| {
                pipeline::sample_checkpoint(&ck, sampler, &spec, args.m, args.energy, g, st)
            })
            .with_context(|| format!("sampler {sampler}"))?;
            let reference = run.energy_distance.map(|ed| (ed, "the held-out split"));
            let draw = run.draw;
            (draw, ck.shape(), reference)
        }
        (None, Some(name)) => {
            let name: LawName = name.parse().map_err(|_| {
                anyhow::anyhow!(
                    "--data {name}: without --ckpt, --data is a law with an exact ε-predictor \
                     (gauss, gmm, rademacher)"
                )
            })?;
            if sampler == NetSampler::LearnedDdpm {
                bail!("learned-ddpm needs a --ckpt diffusers model with a learned variance");
            }
            let law = open_law(name, args.gmm_file.as_deref())?;
            diffusion_nn::output::check_memory("samples", args.samples, law.dim(), 4)?;
            let shape = DataShape::Vector { dim: law.dim() };
            check_png(&args, shape)?;
            let schedule = diffusion::Schedule::linear(1000)?;
            let run = with_steps(args.steps as u64, "sampling", |on| {
                laws::sample_law_run(&law, &schedule, &spec, args.m, on)
            })
            .with_context(|| format!("sampler {}", spec.sampler))?;
            (run.draw, shape, Some((run.energy_distance, "fresh data")))
        }
        _ => bail!("give either --ckpt DIR or --data LAW"),
    };
    if let Some(png) = &args.png {
        diffusion_nn::output::write_png(&draw.x, shape, png)?;
    }
    if let Some(npy) = &args.npy {
        diffusion_nn::output::write_npy(&draw.x, shape, npy)?;
    }
    let mut summary = draw.summary(&spec, shape.dim());
    summary.sampler = sampler.to_string();
    let files: Vec<String> = args
        .png
        .iter()
        .chain(args.npy.iter())
        .map(|p| p.display().to_string())
        .collect();
    if args.json {
        let mut v = serde_json::to_value(&summary)?;
        v["energy_distance"] = serde_json::json!(reference.map(|r| r.0));
        v["reference"] = serde_json::json!(reference.map(|r| r.1));
        v["files"] = serde_json::json!(files);
        v["seconds"] = serde_json::json!(started.elapsed().as_secs_f64());
        return print_json(&v);
    }
    println!(
        "{}{}{}",
        summary.sentence(args.trajectory, started.elapsed().as_secs_f64()),
        reference
            .map(|(ed, name)| format!(", energy distance to {name} {ed:.5}"))
            .unwrap_or_default(),
        if files.is_empty() {
            String::new()
        } else {
            format!("; wrote {}", files.join(" and "))
        }
    );
    Ok(())
}

fn check_png(args: &SampleArgs, shape: DataShape) -> anyhow::Result<()> {
    if args.png.is_some() && matches!(shape, DataShape::Vector { dim } if dim != 2) {
        bail!(
            "cannot draw {}-dimensional rows as a PNG (leave out --png, or use --npy)",
            shape.dim()
        );
    }
    Ok(())
}

/// Arguments of `kexue diffusion eval`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "For each sampler × K (on --trajectory, even by default) the NELBO of the held-out \
split in bits/dim (paper-A §6.1: prior KL + per-step KLs with one fresh x_t per row and term + \
discretised-Gaussian decoder with L levels and variance β̃_{1|2}). Only samplers of the DDPM \
forward process have a finite NELBO: ddpm-tilde, ddpm-beta, analytic-ddpm, and sn-ddpm / \
npr-ddpm, whose KL terms use per-dimension variances from the covariance head (train it first \
with `kexue diffusion train-cov`). All samplers of one K see the same x_t draws. The table goes \
to stdout (JSON with --json) and always to --out (default DIR/eval.json): {\"checkpoint\", \
\"data\", \"levels\", \"n_test\", \"gamma_m\", \"rows\": [{\"sampler\", \"steps\", \"bpd\", \
\"std_err\", \"seconds\"}]}.\n\n\
Example:\n  kexue diffusion eval --ckpt artifacts/digits --steps 10,25,50,100"
)]
pub struct EvalArgs {
    /// Checkpoint folder.
    #[arg(long, value_name = "DIR")]
    ckpt: PathBuf,
    /// Trajectory lengths K, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,25,50,100")]
    steps: Vec<usize>,
    /// Samplers, comma-separated (those with a finite NELBO).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ddpm-tilde,ddpm-beta,analytic-ddpm",
        value_parser = net_sampler_parser()
    )]
    samplers: Vec<NetSampler>,
    /// Trajectory (`optimal` is the DP optimum for Analytic-DDPM given Γ, used for every sampler).
    #[arg(long, default_value = "even", value_parser = trajectory_parser())]
    trajectory: TrajectoryKind,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Where to write the JSON (default: eval.json in the checkpoint folder, or in
    /// artifacts/cache/NAME for a checkpoint shipped in the repository's models/).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Use at most this many held-out rows (default: all).
    #[arg(long)]
    limit: Option<usize>,
    /// M for Γ when no cache exists.
    #[arg(long, default_value = "100")]
    m: usize,
    /// Seed of the Monte-Carlo terms.
    #[arg(long, default_value = "0")]
    seed: u64,
    /// Use the raw weights instead of the EMA weights.
    #[arg(long)]
    raw_weights: bool,
    /// Device.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    #[command(flatten)]
    net: NetFlags,
}

/// Runs `kexue diffusion eval`.
pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let samplers: Vec<AnySampler> = args
        .samplers
        .iter()
        .filter_map(|s| match s {
            NetSampler::Core(s) => Some(*s),
            NetSampler::LearnedDdpm => None,
        })
        .collect();
    pipeline::check_eval_samplers(&samplers)?;
    if let Some(out) = &args.out {
        diffusion_nn::output::check_writable(out)?;
    }
    let ck = open(&args.ckpt, args.raw_weights, args.device, &args.net)?;
    let spec = EvalSpec {
        samplers,
        ks: args.steps.clone(),
        trajectory: args.trajectory,
        limit: args.limit,
        seed: args.seed,
        learned_ddpm: args.samplers.contains(&NetSampler::LearnedDdpm),
    };
    let pb = bar(
        ((spec.samplers.len() + usize::from(spec.learned_ddpm)) * spec.ks.len()) as u64,
        "NELBO {bar:30} {pos}/{len} rows {msg}",
    );
    let run = with_steps(ck.schedule().n_steps() as u64, "Γ", |on_gamma| {
        pipeline::eval(
            &ck,
            &spec,
            args.m,
            args.out.as_deref(),
            on_gamma,
            &mut |r| {
                pb.inc(1);
                pb.set_message(format!("{} K={}: {:.3}", r.sampler, r.steps, r.bpd));
            },
        )
    });
    pb.finish_and_clear();
    let (report, out) = run?;
    let json = serde_json::to_string_pretty(&report)?;
    if args.json {
        println!("{json}");
    } else {
        print!("{}", report.table());
        println!("wrote {}", out.display());
    }
    Ok(())
}

/// Arguments of `kexue diffusion demo`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Uses the digits checkpoint shipped with kexue (an MLP ε-network trained \
with `kexue diffusion train --data digits --net mlp`), estimates Γ, writes a PNG grid of 64 \
samples per sampler at K = 10 and K = 100, and the NELBO table (bits/dim on the 359 held-out \
digits) for K = 10, 25, 50, 100. Nothing is downloaded; the shipped checkpoint is not modified \
(Γ is cached in --out).\n\n\
The checkpoint is looked up in $KEXUE_MODELS/digits (when KEXUE_MODELS is set), then \
models/digits under the working directory, then the copy compiled into the binary, unpacked \
once to $XDG_CACHE_HOME/kexue/models/digits (default ~/.cache/kexue/models/digits)."
)]
pub struct DemoArgs {
    /// Checkpoint folder (default: the shipped digits checkpoint, looked up as below).
    #[arg(long, value_name = "DIR")]
    ckpt: Option<PathBuf>,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "artifacts/demo")]
    out: PathBuf,
    /// Monte-Carlo rows M for Γ.
    #[arg(long, default_value = "100")]
    m: usize,
    /// Seed.
    #[arg(long, default_value = "0")]
    seed: u64,
    /// Device.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

/// Runs `kexue diffusion demo`.
pub fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = match &args.ckpt {
        Some(dir) => dir.clone(),
        None => diffusion_nn::shipped::digits_dir()?,
    };
    let ck = open(
        &dir,
        false,
        args.device,
        &NetFlags {
            data: None,
            class: None,
        },
    )?;
    println!(
        "checkpoint {} (step {}, {} parameters, data {}, N = {})",
        dir.display(),
        ck.step(),
        ck.n_params(),
        ck.data_spec(),
        ck.schedule().n_steps()
    );
    let run = with_progress(|p| pipeline::demo(&ck, &args.out, args.m, args.seed, p))
        .with_context(|| format!("demo into {}", args.out.display()))?;
    let (gamma, cached) = &run.gamma;
    println!(
        "Γ ({} with M = {} in {:.1}s): {}",
        if *cached { "cached" } else { "estimated" },
        gamma.m,
        gamma.seconds,
        gamma.summary()
    );
    println!(
        "wrote {} sample grids (64 samples each, K = 10 and 100)",
        run.grids.len()
    );
    print!("{}", run.eval.table());
    println!("files in {}:", args.out.display());
    for p in &run.files {
        println!("  {}", p.display());
    }
    println!("demo finished in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}
