//! `kexue diffusion {train,gamma,sample,eval,demo}`: the neural pipeline.
//!
//! Flags become `diffusion_nn` values here; the library does the work and reports progress
//! through callbacks, which drive indicatif bars on stderr. Results go to stdout (tables, or
//! JSON with `--json`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use diffusion::analytic::{Gamma, estimate_gamma};
use diffusion::covariance::{CovConfig, CovKind, CovSampler, sample_cov};
use diffusion::exact::sample_law;
use diffusion::metrics::energy_distance;
use diffusion::sde::Sde;
use diffusion::solvers::{ContinuousSampler, SolverConfig, sample_continuous};
use diffusion::{EpsPredictor, Sampler, Schedule, Trajectory, optimal_trajectory};
use diffusion_nn::checkpoint::{self, CheckpointMeta, Weights};
use diffusion_nn::cov;
use diffusion_nn::data::{self, DataShape, DataSpec, Dataset};
use diffusion_nn::pipeline::{self, EvalRow, EvalSampler, GammaFile};
use diffusion_nn::train::{self, ScheduleConfig, ScheduleKind, Start, TrainConfig, TrainSetup};
use diffusion_nn::{DeviceChoice, EpsNetConfig, MlpConfig, Model, NetPredictor, UnetConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::laws::Law;
use serde::Serialize;

/// The checkpoint shipped with the repository (trained with `kexue diffusion train --data digits`).
const SHIPPED_CKPT: &str = "models/digits";

fn bar(len: u64, template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .expect("static progress template")
            .progress_chars("=> "),
    );
    bar
}

/// Runs `run` with a progress bar on stderr that is cleared when it returns.
fn with_bar<T>(len: u64, template: &str, run: impl FnOnce(&indicatif::ProgressBar) -> T) -> T {
    let pb = bar(len, template);
    let out = run(&pb);
    pb.finish_and_clear();
    out
}

/// Runs a training loop (`run` gets the per-step callback) under a bar of `steps` steps that
/// shows the smoothed loss and the speed.
fn with_train_bar<T>(steps: u64, run: impl FnOnce(&mut dyn FnMut(&train::Progress)) -> T) -> T {
    with_bar(
        steps,
        "{bar:30} {pos}/{len} steps {msg} [{elapsed_precise}<{eta_precise}]",
        |pb| {
            run(&mut |p| {
                pb.set_position(p.step);
                pb.set_message(format!(
                    "loss {:.4} | {:.1} steps/s",
                    p.smoothed_loss, p.steps_per_sec
                ));
            })
        },
    )
}

/// Steps per second of a whole training call.
fn steps_per_sec(report: &train::TrainReport) -> f64 {
    (report.last_step + 1 - report.first_step) as f64 / report.seconds.max(1e-9)
}

/// Training settings given as flags (`None`: keep the configured value).
#[derive(Debug, Default)]
struct TrainFlags {
    steps: Option<u64>,
    batch_size: Option<usize>,
    lr: Option<f64>,
    seed: Option<u64>,
    checkpoint_every: Option<u64>,
    ema_decay: Option<f64>,
    grad_clip: Option<f64>,
}

impl TrainFlags {
    /// Only the flags that may change on `--resume`.
    fn resumable(steps: Option<u64>, checkpoint_every: Option<u64>) -> Self {
        TrainFlags {
            steps,
            checkpoint_every,
            ..Self::default()
        }
    }

    fn apply(&self, train: &mut TrainConfig) {
        train.steps = self.steps.unwrap_or(train.steps);
        train.batch_size = self.batch_size.unwrap_or(train.batch_size);
        train.lr = self.lr.unwrap_or(train.lr);
        train.seed = self.seed.unwrap_or(train.seed);
        train.checkpoint_every = self.checkpoint_every.unwrap_or(train.checkpoint_every);
        train.ema_decay = self.ema_decay.unwrap_or(train.ema_decay);
        train.grad_clip = self.grad_clip.unwrap_or(train.grad_clip);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DeviceArg {
    Cpu,
    Cuda,
}

fn open_device(arg: DeviceArg) -> anyhow::Result<diffusion_nn::Device> {
    Ok(diffusion_nn::device(match arg {
        DeviceArg::Cpu => DeviceChoice::Cpu,
        DeviceArg::Cuda => DeviceChoice::Cuda,
    })?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum NetArg {
    /// U-Net for images, MLP for vectors.
    Auto,
    /// The MLP ε-network.
    Mlp,
    /// The U-Net ε-network (image data only).
    Unet,
}

/// Which K-node trajectory the discrete samplers run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TrajectoryArg {
    /// Paper-A's even trajectory τ_k = round(1 + (N−1)(k−1)/(K−1)).
    Even,
    /// DDIM's quadratic trajectory.
    Quad,
    /// The dynamic-programming optimum for Analytic-DDPM given Γ (paper-A §4).
    Optimal,
}

impl TrajectoryArg {
    fn name(self) -> &'static str {
        match self {
            TrajectoryArg::Even => "even",
            TrajectoryArg::Quad => "quad",
            TrajectoryArg::Optimal => "optimal",
        }
    }

    /// The trajectory of K nodes; `optimal` needs Γ at every n.
    fn build(self, schedule: &Schedule, k: usize, gamma: &Gamma) -> anyhow::Result<Trajectory> {
        let n = schedule.n_steps();
        Ok(match self {
            TrajectoryArg::Even => Trajectory::even(n, k)?,
            TrajectoryArg::Quad => Trajectory::quadratic(n, k)?,
            TrajectoryArg::Optimal => {
                optimal_trajectory(schedule, gamma, k)
                    .context("--trajectory optimal")?
                    .trajectory
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ScheduleArg {
    Linear,
    Cosine,
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
    /// Total optimisation steps (with --resume: the new total).
    #[arg(long)]
    steps: Option<u64>,
    /// Rows per batch.
    #[arg(long)]
    batch_size: Option<usize>,
    /// AdamW learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Seed of the initial weights and of every batch.
    #[arg(long)]
    seed: Option<u64>,
    /// Write a checkpoint every this many steps.
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// EMA decay of the weights used for sampling.
    #[arg(long)]
    ema_decay: Option<f64>,
    /// Maximum global gradient norm (0 disables clipping).
    #[arg(long)]
    grad_clip: Option<f64>,
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
    /// Noise schedule.
    #[arg(long, value_enum, default_value = "linear")]
    schedule: ScheduleArg,
    /// Number of diffusion timesteps N.
    #[arg(long, default_value = "1000")]
    n_timesteps: usize,
    /// Continue the checkpoint in --out.
    #[arg(long)]
    resume: bool,
    /// Device (cuda needs a build with `--features cuda`).
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

fn net_config(args: &TrainArgs, data: &Dataset) -> anyhow::Result<EpsNetConfig> {
    let image = match data.shape {
        DataShape::Image {
            channels,
            height,
            width,
        } => Some((channels, height, width)),
        DataShape::Vector { .. } => None,
    };
    Ok(match (args.net, image) {
        (NetArg::Auto | NetArg::Unet, Some((c, h, w))) => EpsNetConfig::Unet(UnetConfig {
            base_channels: args.base_channels,
            ..UnetConfig::reference(c, h, w)
        }),
        (NetArg::Unet, None) => bail!(
            "--net unet needs image data; `{}` is a vector data set",
            data.spec
        ),
        (NetArg::Auto | NetArg::Mlp, _) => EpsNetConfig::Mlp(MlpConfig {
            hidden: args.hidden,
            depth: args.depth,
            ..MlpConfig::reference(data.dim())
        }),
    })
}

fn load_data(spec: &str) -> anyhow::Result<Dataset> {
    let spec: DataSpec = spec.parse()?;
    data::load(&spec).with_context(|| format!("loading data `{spec}`"))
}

/// Runs `kexue diffusion train`.
pub fn train(args: TrainArgs) -> anyhow::Result<()> {
    let device = open_device(args.device)?;
    let (setup, data, start) = if args.resume {
        let meta = checkpoint::read_meta(&args.out)?;
        let spec = args.data.clone().unwrap_or_else(|| meta.data.spec.clone());
        let data = load_data(&spec)?;
        let mut train = meta.train.clone();
        TrainFlags::resumable(args.steps, args.checkpoint_every).apply(&mut train);
        if train.steps <= meta.step {
            bail!(
                "{} is already at step {}; pass --steps above it to train further",
                args.out.display(),
                meta.step
            );
        }
        (
            TrainSetup {
                model: meta.model,
                schedule: meta.schedule,
                train,
            },
            data,
            Start::Resume,
        )
    } else {
        let Some(spec) = &args.data else {
            bail!("--data is required (unless --resume)")
        };
        if args.out.join(checkpoint::META_FILE).exists() {
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
        TrainFlags {
            steps: args.steps,
            batch_size: args.batch_size,
            lr: args.lr,
            seed: args.seed,
            checkpoint_every: args.checkpoint_every,
            ema_decay: args.ema_decay,
            grad_clip: args.grad_clip,
        }
        .apply(&mut train);
        let schedule = ScheduleConfig {
            kind: match args.schedule {
                ScheduleArg::Linear => ScheduleKind::Linear,
                ScheduleArg::Cosine => ScheduleKind::Cosine,
            },
            n_timesteps: args.n_timesteps,
        };
        (
            TrainSetup {
                model: net_config(&args, &data)?,
                schedule,
                train,
            },
            data,
            Start::Fresh,
        )
    };
    let params = Model::new(&setup.model, 0, &diffusion_nn::Device::Cpu)?.n_params();
    eprintln!(
        "training {} ({} parameters) on {} ({} train rows of {}) for {} steps, batch {}",
        match setup.model {
            EpsNetConfig::Mlp(_) => "MLP",
            EpsNetConfig::Unet(_) => "U-Net",
        },
        params,
        data.spec,
        data.n_train(),
        data.dim(),
        setup.train.steps,
        setup.train.batch_size
    );
    let report = with_train_bar(setup.train.steps, |on_step| {
        train::train(&setup, &data, &args.out, start, &device, on_step)
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

impl KindArg {
    fn kind(self) -> CovKind {
        match self {
            KindArg::Sn => CovKind::Sn,
            KindArg::Npr => CovKind::Npr,
        }
    }
}

/// The command that makes a missing head.
fn train_cov_hint(dir: &Path, kind: CovKind) -> String {
    format!(
        "no {} covariance head in {}: run `kexue diffusion train-cov --ckpt {} --kind {}`",
        cov::label(kind),
        dir.display(),
        dir.display(),
        kind.name()
    )
}

/// Arguments of `kexue diffusion train-cov`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Trains the covariance head of SN-DPM (--kind sn: h ≈ E[ε⊙ε | x_t]) or NPR-DPM \
(--kind npr: g ≈ E[(ε − ε̂)⊙² | x_t]) for the checkpoint in --ckpt, with its ε-network (EMA \
weights) frozen: a second network of the same architecture with a softplus output, loss \
‖head − target‖² summed over dimensions, on the checkpoint's own training data. The same loop \
as `train`: AdamW, warm-up, gradient clipping, EMA, atomic checkpoints every --checkpoint-every \
steps (cov-KIND.json, cov-KIND.safetensors with the EMA weights, cov-KIND.train.safetensors for \
--resume), bit-identical --resume, and a NaN or infinite loss stops with the last good head \
kept. The head records which ε-weights it belongs to; sample/eval refuse a head trained against \
other weights.\n\n\
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
    /// Total optimisation steps (with --resume: the new total; default 2000).
    #[arg(long)]
    steps: Option<u64>,
    /// Rows per batch (default 128).
    #[arg(long, alias = "batch")]
    batch_size: Option<usize>,
    /// AdamW learning rate (default 1e-3).
    #[arg(long)]
    lr: Option<f64>,
    /// Seed of the initial weights and of every batch (default 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Write the head every this many steps (default 500).
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// EMA decay of the weights used for sampling (default 0.999).
    #[arg(long)]
    ema_decay: Option<f64>,
    /// Continue the head in --ckpt.
    #[arg(long)]
    resume: bool,
    /// Print a JSON summary instead of the sentence.
    #[arg(long)]
    json: bool,
    /// Device (cuda needs a build with `--features cuda`).
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

#[derive(Debug, Serialize)]
struct TrainCovReport {
    checkpoint: String,
    kind: &'static str,
    first_step: u64,
    last_step: u64,
    seconds: f64,
    steps_per_sec: f64,
    smoothed_loss: f64,
    n_params: usize,
    files: Vec<String>,
}

/// Runs `kexue diffusion train-cov`.
pub fn train_cov(args: TrainCovArgs) -> anyhow::Result<()> {
    let kind = args.kind.kind();
    let device = open_device(args.device)?;
    let eps_meta = checkpoint::read_meta(&args.ckpt)?;
    let (train, start) = if args.resume {
        if !cov::has_head(&args.ckpt, kind) {
            bail!("--resume: {}", train_cov_hint(&args.ckpt, kind));
        }
        let head = cov::read_head_meta(&args.ckpt, kind)?;
        let mut train = head.train.clone();
        TrainFlags::resumable(args.steps, args.checkpoint_every).apply(&mut train);
        if train.steps <= head.step {
            bail!(
                "the {} head in {} is already at step {}; pass --steps above it to train further",
                cov::label(kind),
                args.ckpt.display(),
                head.step
            );
        }
        for (flag, given) in [
            ("--batch-size", args.batch_size.is_some()),
            ("--lr", args.lr.is_some()),
            ("--seed", args.seed.is_some()),
            ("--ema-decay", args.ema_decay.is_some()),
        ] {
            if given {
                bail!("{flag} cannot change with --resume (the head keeps its settings)");
            }
        }
        (train, Start::Resume)
    } else {
        if cov::has_head(&args.ckpt, kind) {
            bail!(
                "{} already holds an {} head: continue it with --resume, or remove {}",
                args.ckpt.display(),
                cov::label(kind),
                args.ckpt.join(cov::head_files(kind).0).display()
            );
        }
        let mut train = TrainConfig::default();
        TrainFlags {
            steps: args.steps,
            batch_size: args.batch_size,
            lr: args.lr,
            seed: args.seed,
            checkpoint_every: args.checkpoint_every,
            ema_decay: args.ema_decay,
            grad_clip: None,
        }
        .apply(&mut train);
        (train, Start::Fresh)
    };
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
    let (json, weights, train_file) = cov::head_files(kind);
    let out = TrainCovReport {
        checkpoint: args.ckpt.display().to_string(),
        kind: kind.name(),
        first_step: report.first_step,
        last_step: report.last_step,
        seconds: report.seconds,
        steps_per_sec: steps_per_sec(&report),
        smoothed_loss: report.smoothed_loss,
        n_params: report.n_params,
        files: [json, weights, train_file]
            .iter()
            .map(|f| args.ckpt.join(f).display().to_string())
            .collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "trained the {} head ({} parameters) steps {}..{} in {:.1}s ({:.1} steps/s), smoothed \
             loss {:.4}; wrote {}",
            cov::label(kind),
            out.n_params,
            out.first_step,
            out.last_step,
            out.seconds,
            out.steps_per_sec,
            out.smoothed_loss,
            out.files.join(", ")
        );
    }
    Ok(())
}

/// A loaded checkpoint with what every command needs.
struct Loaded {
    meta: CheckpointMeta,
    model: Model,
    schedule: diffusion::Schedule,
}

fn load_ckpt(dir: &Path, weights: Weights, device: DeviceArg) -> anyhow::Result<Loaded> {
    let device = open_device(device)?;
    let (meta, model) = checkpoint::load_model(dir, weights, &device)?;
    let schedule = meta.schedule.build()?;
    Ok(Loaded {
        meta,
        model,
        schedule,
    })
}

/// The covariance head of `kind` beside the checkpoint, or an error naming the command that
/// makes it.
fn load_head(
    ck: &Loaded,
    dir: &Path,
    kind: CovKind,
    device: DeviceArg,
) -> anyhow::Result<cov::CovNet> {
    if !cov::has_head(dir, kind) {
        bail!("{}", train_cov_hint(dir, kind));
    }
    let device = open_device(device)?;
    let (_, head) = cov::load_head(dir, kind, &ck.meta, &ck.model, &device)?;
    Ok(head)
}

/// Γ from `cache_dir`'s cache if it matches (m, seed, step), else estimated and cached there.
fn gamma_for(
    ck: &Loaded,
    cache_dir: &Path,
    m: usize,
    seed: u64,
    reuse: Reuse,
) -> anyhow::Result<(GammaFile, bool)> {
    let cached = match reuse {
        Reuse::Exact => pipeline::cached_gamma(cache_dir, &ck.meta, m, seed)?,
        Reuse::Any => pipeline::any_cached_gamma(cache_dir, &ck.meta)?,
        Reuse::Never => None,
    };
    if let Some(file) = cached {
        return Ok((file, true));
    }
    let data = load_data(&ck.meta.data.spec)?;
    let n = ck.schedule.n_steps() as u64;
    let pb = bar(
        n,
        "Γ {bar:30} {pos}/{len} timesteps [{elapsed_precise}<{eta_precise}]",
    );
    let file = pipeline::estimate_gamma(
        &ck.model,
        &ck.meta,
        &ck.schedule,
        &data.train,
        m,
        seed,
        &mut |i| pb.set_position(i as u64 + 1),
    );
    pb.finish_and_clear();
    let file = file?;
    std::fs::create_dir_all(cache_dir)
        .with_context(|| format!("creating {}", cache_dir.display()))?;
    pipeline::save_gamma(cache_dir, &file).context("writing the Γ cache")?;
    Ok((file, false))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reuse {
    /// Only a cache with the same m and seed.
    Exact,
    /// Any cache of this checkpoint step.
    Any,
    /// Always estimate.
    Never,
}

fn gamma_summary(file: &GammaFile) -> String {
    let at = |n: usize| file.gamma.get(n - 1).copied().unwrap_or(f64::NAN);
    let n = file.gamma.len();
    let mut picks = vec![1, 10, 100, n / 2, n];
    picks.retain(|&k| k >= 1 && k <= n);
    picks.dedup();
    picks
        .iter()
        .map(|&k| format!("Γ_{k} = {:.4}", at(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Arguments of `kexue diffusion gamma`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Γ_n = (1/M) Σ_m ‖ε_θ(x_n^(m), n)‖²/d with x_n = √ᾱ_n x_0 + √β̄_n ε, for \
every n = 1..N, from M training rows (paper-A Eq. 8). The result is cached as gamma.json next to \
the checkpoint and reused by sample/eval while checkpoint step, M and seed match.\n\n\
Example:\n  kexue diffusion gamma --ckpt models/digits --m 100"
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
}

/// Runs `kexue diffusion gamma`.
pub fn gamma(args: GammaArgs) -> anyhow::Result<()> {
    let ck = load_ckpt(&args.ckpt, Weights::Ema, args.device)?;
    let reuse = if args.force {
        Reuse::Never
    } else {
        Reuse::Exact
    };
    let (file, cached) = gamma_for(&ck, &args.ckpt, args.m, args.seed, reuse)?;
    if args.json {
        println!("{}", serde_json::to_string(&file)?);
        return Ok(());
    }
    let above = file.gamma.iter().filter(|&&g| g > 1.0).count();
    println!(
        "{} Γ for N = {} with M = {} (checkpoint step {}, {:.1}s): {}; {} values above 1; {}",
        if cached { "cached" } else { "estimated" },
        file.n_timesteps,
        file.m,
        file.checkpoint_step,
        file.seconds,
        gamma_summary(&file),
        above,
        args.ckpt.join(pipeline::GAMMA_FILE).display()
    );
    Ok(())
}

fn parse_sampler(name: &str, eta: f64) -> anyhow::Result<Sampler> {
    let sampler = Sampler::from_name(name)?;
    if !(0.0..=1.0).contains(&eta) {
        bail!("--eta {eta} is outside [0, 1]");
    }
    Ok(match sampler {
        Sampler::Ddim { .. } => Sampler::Ddim { eta },
        Sampler::AnalyticDdim { .. } => Sampler::AnalyticDdim { eta },
        other => other,
    })
}

fn check_k(k: usize, schedule: &diffusion::Schedule) -> anyhow::Result<()> {
    let n = schedule.n_steps();
    if k == 0 || k > n {
        bail!(
            "--steps {k} is out of range: the checkpoint has N = {n} timesteps (need 1 ≤ K ≤ {n})"
        );
    }
    Ok(())
}

fn check_writable(path: &Path) -> anyhow::Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        bail!(
            "cannot write {}: folder {} does not exist",
            path.display(),
            parent.display()
        );
    }
    if path.is_dir() {
        bail!("cannot write {}: it is a folder", path.display());
    }
    Ok(())
}

/// Arguments of `kexue diffusion sample`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Samplers: ddpm-beta (σ² = β), ddpm-tilde (σ² = β̃), analytic-ddpm, \
ddim (η = --eta, default 0), analytic-ddim on the --trajectory of K steps (even, quad or the DP \
optimum); continuous em, pc, ode-euler, ode-heun, ode-rk45, dpm-solver++ on the checkpoint's \
schedule read as a VP SDE (they report their NFE). --data gauss|gmm|rademacher replaces the \
checkpoint by an exact ε-predictor and also prints the energy distance to fresh data. \
Analytic samplers use Γ from the cache next to the checkpoint (estimated with --m rows first \
if missing). sn-ddpm, sn-ddim, npr-ddpm, npr-ddim (SN-/NPR-DPM, spec §7) take the means of \
ddpm-tilde / ddim (η = 0) and per-dimension variances λ² + γ²·clip(σ̄²(x_t)) from the covariance \
head beside the checkpoint (made by `kexue diffusion train-cov --ckpt DIR --kind sn|npr`), or \
from the exact head of --data gauss|gmm. Discrete data: x̂_0 clipped to [−1, 1], last step returns the mean, σ² of the step \
into x_1 clipped at one quantisation level.\n\n\
Example:\n  kexue diffusion sample --ckpt models/digits --sampler analytic-ddpm --steps 10 \
--png grid.png"
)]
pub struct SampleArgs {
    /// Checkpoint folder.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "data",
        conflicts_with = "data"
    )]
    ckpt: Option<PathBuf>,
    /// Instead of a checkpoint, a data law with an exact ε-predictor: gauss (1-D N(0.5, 0.09)),
    /// gmm (2-D ring of 8 Gaussians) or rademacher (±1), on the linear schedule with N = 1000.
    #[arg(long, value_name = "LAW")]
    data: Option<String>,
    /// Sampler name: discrete ddpm-beta | ddpm-tilde | analytic-ddpm | ddim | analytic-ddim,
    /// covariance sn-ddpm | sn-ddim | npr-ddpm | npr-ddim, or continuous em | pc | ode-euler |
    /// ode-heun | ode-rk45 | dpm-solver++.
    #[arg(long)]
    sampler: String,
    /// Number of steps K (1 ≤ K ≤ N; for ode-rk45 ignored, the step size is adaptive).
    #[arg(long, value_name = "K")]
    steps: usize,
    /// Trajectory of the discrete samplers.
    #[arg(long, value_enum, default_value = "even")]
    trajectory: TrajectoryArg,
    /// η of ddim / analytic-ddim, in [0, 1].
    #[arg(long, default_value = "0")]
    eta: f64,
    /// Number of samples.
    #[arg(long, default_value = "64")]
    n: usize,
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
    /// Device.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

fn weights(raw: bool) -> Weights {
    if raw { Weights::Raw } else { Weights::Ema }
}

/// A sampler of either family.
#[derive(Debug, Clone, Copy)]
enum AnySampler {
    Discrete(Sampler),
    Continuous(ContinuousSampler),
    /// SN-/NPR-DPM: per-dimension variances from a covariance head.
    Covariance(CovSampler),
}

fn parse_any_sampler(name: &str, eta: f64) -> anyhow::Result<AnySampler> {
    if let Ok(c) = name.parse::<ContinuousSampler>() {
        return Ok(AnySampler::Continuous(c));
    }
    if let Ok(c) = CovSampler::from_name(name) {
        return Ok(AnySampler::Covariance(c));
    }
    parse_sampler(name, eta)
        .map(AnySampler::Discrete)
        .map_err(|_| {
            anyhow::anyhow!(
                "unknown sampler `{name}` (expected ddpm-beta, ddpm-tilde, analytic-ddpm, ddim, \
             analytic-ddim, sn-ddpm, sn-ddim, npr-ddpm, npr-ddim, em, pc, ode-euler, ode-heun, \
             ode-rk45 or dpm-solver++)"
            )
        })
}

/// Runs `kexue diffusion sample`.
pub fn sample(args: SampleArgs) -> anyhow::Result<()> {
    let sampler = parse_any_sampler(&args.sampler, args.eta)?;
    if args.n == 0 {
        bail!("--n must be ≥ 1");
    }
    for path in args.png.iter().chain(args.npy.iter()) {
        check_writable(path)?;
    }
    match (&args.ckpt, &args.data) {
        (Some(dir), None) => sample_ckpt(&args, dir, sampler),
        (None, Some(law)) => sample_law_cmd(&args, law, sampler),
        _ => bail!("give either --ckpt DIR or --data LAW"),
    }
}

/// Runs a discrete-time sampler named `name` (`run` gets the per-step callback) under a bar
/// of `--steps` steps; returns the samples and the words that describe the run.
fn sample_on_trajectory(
    args: &SampleArgs,
    name: String,
    run: impl FnOnce(&mut dyn FnMut(usize)) -> diffusion_nn::Result<Vec<f64>>,
) -> anyhow::Result<(Vec<f64>, String)> {
    let x = with_bar(
        args.steps as u64,
        "sampling {bar:30} {pos}/{len} steps [{elapsed_precise}]",
        |pb| run(&mut |i| pb.set_position(i as u64 + 1)),
    )?;
    let what = format!(
        "{name} on the {} trajectory of {} steps",
        args.trajectory.name(),
        args.steps
    );
    Ok((x, what))
}

fn sample_ckpt(args: &SampleArgs, dir: &Path, sampler: AnySampler) -> anyhow::Result<()> {
    let ck = load_ckpt(dir, weights(args.raw_weights), args.device)?;
    check_k(args.steps, &ck.schedule)?;
    if args.png.is_some() && matches!(ck.meta.data.shape, DataShape::Vector { dim } if dim != 2) {
        bail!(
            "cannot draw {}-dimensional rows as a PNG (leave out --png, or use --npy)",
            ck.meta.data.shape.dim()
        );
    }
    let started = Instant::now();
    let (x, what) = match sampler {
        AnySampler::Discrete(sampler) => {
            let needs_gamma = sampler.is_analytic() || args.trajectory == TrajectoryArg::Optimal;
            // The DP needs a Γ̂ that stays ≤ 1 long enough: take the cache only with the same M.
            let reuse = if args.trajectory == TrajectoryArg::Optimal {
                Reuse::Exact
            } else {
                Reuse::Any
            };
            let gamma = if needs_gamma {
                gamma_for(&ck, dir, args.m, 0, reuse)?.0.to_gamma()?
            } else {
                Gamma::unknown(ck.schedule.n_steps())
            };
            let trajectory = args.trajectory.build(&ck.schedule, args.steps, &gamma)?;
            sample_on_trajectory(args, sampler.name(), |on_step| {
                pipeline::sample(
                    &ck.model,
                    &ck.meta,
                    &ck.schedule,
                    &gamma,
                    sampler,
                    &trajectory,
                    args.n,
                    args.seed,
                    on_step,
                )
            })?
        }
        AnySampler::Covariance(c) => {
            let head = load_head(&ck, dir, c.kind, args.device)?;
            let gamma = if args.trajectory == TrajectoryArg::Optimal {
                gamma_for(&ck, dir, args.m, 0, Reuse::Exact)?.0.to_gamma()?
            } else {
                Gamma::unknown(ck.schedule.n_steps())
            };
            let trajectory = args.trajectory.build(&ck.schedule, args.steps, &gamma)?;
            sample_on_trajectory(args, c.name(), |on_step| {
                pipeline::sample_cov(
                    &ck.model,
                    &head,
                    &ck.meta,
                    &ck.schedule,
                    c,
                    &trajectory,
                    args.n,
                    args.seed,
                    on_step,
                )
            })?
        }
        AnySampler::Continuous(c) => {
            let net = NetPredictor::new(&ck.model, pipeline::MAX_BATCH);
            let sde = Sde::from_schedule(&ck.schedule);
            let mut config = SolverConfig::new(c, args.steps);
            config.time_scale = ck.schedule.n_steps() as f64;
            run_continuous(&net, &sde, &config, args)?
        }
    };
    if let Some(png) = &args.png {
        diffusion_nn::output::write_png(&x, ck.meta.data.shape, png)?;
    }
    if let Some(npy) = &args.npy {
        diffusion_nn::output::write_npy(&x, ck.meta.data.shape, npy)?;
    }
    let held_out = if args.energy {
        let data = load_data(&ck.meta.data.spec)?;
        let d = data.dim();
        let rows = data.n_test().min(1000);
        if rows < 2 {
            bail!("--energy: {} has fewer than 2 held-out rows", data.spec);
        }
        Some(
            data.test[..rows * d]
                .iter()
                .map(|&v| v as f64)
                .collect::<Vec<f64>>(),
        )
    } else {
        None
    };
    report_samples(
        args,
        &x,
        ck.meta.data.shape.dim(),
        &what,
        started,
        held_out.as_deref().map(|h| (h, "the held-out split")),
    );
    Ok(())
}

fn run_continuous(
    predictor: &dyn EpsPredictor,
    sde: &Sde,
    config: &SolverConfig,
    args: &SampleArgs,
) -> anyhow::Result<(Vec<f64>, String)> {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut x = vec![0.0; args.n * predictor.dim()];
    diffusion::standard_normal(&mut rng, &mut x);
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message(format!("sampling with {}", config.sampler.name()));
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let report = sample_continuous(predictor, sde, config, &mut x, &mut rng);
    spinner.finish_and_clear();
    let report = report.with_context(|| format!("sampler {}", config.sampler.name()))?;
    let what = format!(
        "{} ({} steps, NFE {})",
        config.sampler.name(),
        report.n_steps,
        report.nfe
    );
    Ok((x, what))
}

fn sample_law_cmd(args: &SampleArgs, name: &str, sampler: AnySampler) -> anyhow::Result<()> {
    let law = Law::from_name(name, None)?;
    let predictor = law.predictor();
    let dim = predictor.dim();
    let schedule = Schedule::linear(1000)?;
    check_k(args.steps, &schedule)?;
    if args.png.is_some() && dim != 2 {
        bail!("cannot draw {dim}-dimensional rows as a PNG (leave out --png, or use --npy)");
    }
    let shape = DataShape::Vector { dim };
    let mut rng = StdRng::seed_from_u64(args.seed ^ 0x5eed);
    let fresh = sample_law(law.law(), &mut rng, args.n.clamp(2, 2000));
    let started = Instant::now();
    let (x, what) = match sampler {
        AnySampler::Discrete(sampler) => {
            let needs_gamma = sampler.is_analytic() || args.trajectory == TrajectoryArg::Optimal;
            let gamma = match &law {
                _ if !needs_gamma => Gamma::unknown(schedule.n_steps()),
                Law::Gauss(g) => Gamma::from_fn(&schedule, |ab| g.gamma(ab))?,
                Law::Rademacher(r) => super::laws::rademacher_gamma(r, &schedule)?,
                Law::Gmm(_) => {
                    let rows = sample_law(law.law(), &mut rng, args.m.max(2));
                    let times: Vec<usize> = (1..=schedule.n_steps()).collect();
                    estimate_gamma(
                        predictor,
                        &schedule,
                        &rows,
                        &times,
                        4096,
                        &mut rng,
                        &mut |_| {},
                    )?
                }
            };
            let trajectory = args.trajectory.build(&schedule, args.steps, &gamma)?;
            let steps = diffusion::plan(
                &schedule,
                &trajectory,
                &diffusion::PlanConfig::exact(sampler),
                &gamma,
            )?;
            let mut x = vec![0.0; args.n * dim];
            diffusion::standard_normal(&mut rng, &mut x);
            diffusion::sample(predictor, &steps, &mut x, &mut rng, &mut |_| {})?;
            let what = format!(
                "{} on the {} trajectory of {} steps",
                sampler.name(),
                args.trajectory.name(),
                args.steps
            );
            (x, what)
        }
        AnySampler::Covariance(c) => {
            let Some(cov) = law.cov_predictor() else {
                bail!(
                    "{} has no exact covariance head for --data {name}",
                    c.name()
                );
            };
            let trajectory = args.trajectory.build(
                &schedule,
                args.steps,
                &Gamma::unknown(schedule.n_steps()),
            )?;
            let plan_cfg = diffusion::PlanConfig::exact(c.mean_sampler());
            let steps = diffusion::plan(
                &schedule,
                &trajectory,
                &plan_cfg,
                &Gamma::unknown(schedule.n_steps()),
            )?;
            let cfg = CovConfig::from_plan(&schedule, c.kind, &plan_cfg);
            let mut x = vec![0.0; args.n * dim];
            diffusion::standard_normal(&mut rng, &mut x);
            sample_cov(predictor, cov, &cfg, &steps, &mut x, &mut rng, &mut |_| {})?;
            let what = format!(
                "{} on the {} trajectory of {} steps",
                c.name(),
                args.trajectory.name(),
                args.steps
            );
            (x, what)
        }
        AnySampler::Continuous(c) => {
            let sde = Sde::from_schedule(&schedule);
            let mut config = SolverConfig::new(c, args.steps);
            config.time_scale = schedule.n_steps() as f64;
            run_continuous(predictor, &sde, &config, args)?
        }
    };
    if let Some(png) = &args.png {
        diffusion_nn::output::write_png(&x, shape, png)?;
    }
    if let Some(npy) = &args.npy {
        diffusion_nn::output::write_npy(&x, shape, npy)?;
    }
    report_samples(args, &x, dim, &what, started, Some((&fresh, "fresh data")));
    Ok(())
}

/// One summary line: what ran, per-dimension mean and variance, and (for exact laws) the
/// energy distance to fresh data.
fn report_samples(
    args: &SampleArgs,
    x: &[f64],
    dim: usize,
    what: &str,
    started: Instant,
    reference: Option<(&[f64], &str)>,
) {
    let rows = x.len() / dim;
    let mean: Vec<f64> = (0..dim)
        .map(|j| x.iter().skip(j).step_by(dim).sum::<f64>() / rows as f64)
        .collect();
    let var: Vec<f64> = (0..dim)
        .map(|j| {
            x.iter()
                .skip(j)
                .step_by(dim)
                .map(|v| (v - mean[j]).powi(2))
                .sum::<f64>()
                / rows as f64
        })
        .collect();
    let fmt = |v: &[f64]| {
        let shown: Vec<String> = v.iter().take(4).map(|a| format!("{a:.4}")).collect();
        let more = if v.len() > 4 { ", …" } else { "" };
        format!("[{}{more}]", shown.join(", "))
    };
    let ed = reference
        .map(|(r, name)| {
            format!(
                ", energy distance to {name} {:.5}",
                energy_distance(x, r, dim)
            )
        })
        .unwrap_or_default();
    let files: Vec<String> = args
        .png
        .iter()
        .chain(args.npy.iter())
        .map(|p| p.display().to_string())
        .collect();
    println!(
        "{} samples with {what} ({:.2}s): mean {}, variance {}{ed}{}",
        args.n,
        started.elapsed().as_secs_f64(),
        fmt(&mean),
        fmt(&var),
        if files.is_empty() {
            String::new()
        } else {
            format!("; wrote {}", files.join(" and "))
        }
    );
}

/// Arguments of `kexue diffusion eval`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "For each sampler × K (on --trajectory, even by default) the NELBO of the held-out \
split in bits/dim (paper-A §6.1: prior KL + per-step KLs with one fresh x_t per row and term + \
discretised-Gaussian decoder with L levels and variance β̃_{1|2}). Only samplers of the DDPM \
forward process have a finite NELBO: ddpm-tilde, ddpm-beta, analytic-ddpm, and sn-ddpm / \
npr-ddpm, whose KL terms use per-dimension variances from the covariance head (train it first \
with `kexue diffusion train-cov`). All samplers of one K see the same x_t draws. The table goes to stdout (JSON with --json) and always to \
--out (default DIR/eval.json): {\"checkpoint\", \"data\", \"levels\", \"n_test\", \"gamma_m\", \
\"rows\": [{\"sampler\", \"steps\", \"bpd\", \"std_err\", \"seconds\"}]}.\n\n\
Example:\n  kexue diffusion eval --ckpt models/digits --steps 10,25,50,100"
)]
pub struct EvalArgs {
    /// Checkpoint folder.
    #[arg(long, value_name = "DIR")]
    ckpt: PathBuf,
    /// Trajectory lengths K, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,25,50,100")]
    steps: Vec<usize>,
    /// Samplers, comma-separated (ddpm-tilde, ddpm-beta, analytic-ddpm, sn-ddpm, npr-ddpm).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ddpm-tilde,ddpm-beta,analytic-ddpm"
    )]
    samplers: Vec<String>,
    /// Trajectory (`optimal` is the DP optimum for Analytic-DDPM given Γ, used for every sampler).
    #[arg(long, value_enum, default_value = "even")]
    trajectory: TrajectoryArg,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Where to write the JSON (default: eval.json in the checkpoint folder).
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
}

#[derive(Debug, Serialize)]
struct EvalReport {
    checkpoint: String,
    checkpoint_step: u64,
    data: String,
    levels: Option<u32>,
    n_test: usize,
    gamma_m: usize,
    unit: &'static str,
    trajectory: &'static str,
    rows: Vec<EvalRow>,
}

fn eval_table(report: &EvalReport, ks: &[usize]) -> String {
    let mut samplers: Vec<&str> = Vec::new();
    for r in &report.rows {
        if !samplers.contains(&r.sampler.as_str()) {
            samplers.push(&r.sampler);
        }
    }
    let mut out = format!(
        "NELBO ({}) on the held-out split of {} ({} rows), {} trajectory, checkpoint step {}\n",
        report.unit, report.data, report.n_test, report.trajectory, report.checkpoint_step
    );
    out += &format!("| {:<14} |", "sampler");
    for k in ks {
        out += &format!(" {:>8} |", format!("K={k}"));
    }
    out += &format!("\n|{}|", "-".repeat(16));
    for _ in ks {
        out += &format!("{}|", "-".repeat(10));
    }
    out.push('\n');
    for s in samplers {
        out += &format!("| {s:<14} |");
        for &k in ks {
            match report.rows.iter().find(|r| r.sampler == s && r.steps == k) {
                Some(r) => out += &format!(" {:>8.3} |", r.bpd),
                None => out += &format!(" {:>8} |", "-"),
            }
        }
        out.push('\n');
    }
    out
}

#[allow(clippy::too_many_arguments)] // mirrors the eval flags
fn run_eval(
    ck: &Loaded,
    ckpt_dir: &Path,
    gamma: &GammaFile,
    samplers: &[EvalSampler<'_>],
    ks: &[usize],
    kind: TrajectoryArg,
    limit: Option<usize>,
    seed: u64,
) -> anyhow::Result<EvalReport> {
    let data = load_data(&ck.meta.data.spec)?;
    let d = data.dim();
    let n_test = limit.unwrap_or(usize::MAX).min(data.n_test());
    let test = &data.test[..n_test * d];
    let pb = bar(
        (samplers.len() * ks.len()) as u64,
        "NELBO {bar:30} {pos}/{len} rows {msg}",
    );
    let g = gamma.to_gamma()?;
    let trajectories = ks
        .iter()
        .map(|&k| kind.build(&ck.schedule, k, &g))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let rows = pipeline::nelbo_table(
        &ck.model,
        &ck.meta,
        &ck.schedule,
        &g,
        test,
        samplers,
        &trajectories,
        seed,
        &mut |r| {
            pb.inc(1);
            pb.set_message(format!("{} K={}: {:.3}", r.sampler, r.steps, r.bpd));
        },
    );
    pb.finish_and_clear();
    Ok(EvalReport {
        checkpoint: ckpt_dir.display().to_string(),
        checkpoint_step: ck.meta.step,
        data: ck.meta.data.spec.clone(),
        levels: ck.meta.data.levels,
        n_test,
        gamma_m: gamma.m,
        unit: if ck.meta.data.levels.is_some() {
            "bits/dim"
        } else {
            "bits/dim, continuous density"
        },
        trajectory: kind.name(),
        rows: rows?,
    })
}

/// Runs `kexue diffusion eval`.
pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let mut samplers: Vec<Sampler> = Vec::new();
    let mut cov_samplers: Vec<CovSampler> = Vec::new();
    for name in &args.samplers {
        match CovSampler::from_name(name) {
            Ok(c) if c.ddim_eta.is_some() => bail!(
                "{name} has no finite NELBO (its forward process has λ = 0); use sn-ddpm or npr-ddpm"
            ),
            Ok(c) => cov_samplers.push(c),
            Err(_) => {
                let s = parse_sampler(name, 0.0).map_err(|_| {
                    anyhow::anyhow!(
                        "unknown sampler `{name}` for eval (expected ddpm-tilde, ddpm-beta, \
                         analytic-ddpm, sn-ddpm or npr-ddpm)"
                    )
                })?;
                if !s.has_likelihood() {
                    bail!(
                        "{} has no finite NELBO (its forward process has λ = 0); use ddpm-tilde, ddpm-beta, analytic-ddpm, sn-ddpm or npr-ddpm",
                        s.name()
                    );
                }
                samplers.push(s);
            }
        }
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.ckpt.join("eval.json"));
    check_writable(&out)?;
    let ck = load_ckpt(&args.ckpt, weights(args.raw_weights), args.device)?;
    for &k in &args.steps {
        check_k(k, &ck.schedule)?;
    }
    let heads = cov_samplers
        .iter()
        .map(|c| load_head(&ck, &args.ckpt, c.kind, args.device))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut all: Vec<EvalSampler<'_>> = samplers.iter().map(|&s| EvalSampler::Scalar(s)).collect();
    all.extend(
        cov_samplers
            .iter()
            .zip(&heads)
            .map(|(&c, h)| EvalSampler::Cov(c, h)),
    );
    let (gamma, _) = gamma_for(&ck, &args.ckpt, args.m, 0, Reuse::Any)?;
    let report = run_eval(
        &ck,
        &args.ckpt,
        &gamma,
        &all,
        &args.steps,
        args.trajectory,
        args.limit,
        args.seed,
    )?;
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(&out, format!("{json}\n"))
        .with_context(|| format!("writing {}", out.display()))?;
    if args.json {
        println!("{json}");
    } else {
        print!("{}", eval_table(&report, &args.steps));
        println!("wrote {}", out.display());
    }
    Ok(())
}

/// Arguments of `kexue diffusion demo`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Uses the digits checkpoint shipped in models/digits (a U-Net trained \
with `kexue diffusion train --data digits`), estimates Γ, writes a PNG grid of 64 samples per \
sampler at K = 10 and K = 100, and the NELBO table (bits/dim on the 359 held-out digits) for \
K = 10, 25, 50, 100. Nothing is downloaded; the shipped checkpoint is not modified."
)]
pub struct DemoArgs {
    /// Checkpoint folder (default: the shipped models/digits).
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

fn shipped_ckpt() -> PathBuf {
    let local = PathBuf::from(SHIPPED_CKPT);
    if local.join(checkpoint::META_FILE).is_file() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(SHIPPED_CKPT)
}

/// Runs `kexue diffusion demo`.
pub fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let ckpt = args.ckpt.clone().unwrap_or_else(shipped_ckpt);
    let ck = load_ckpt(&ckpt, Weights::Ema, args.device)
        .with_context(|| format!("loading the demo checkpoint {}", ckpt.display()))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    println!(
        "checkpoint {} (step {}, {} parameters, data {}, N = {})",
        ckpt.display(),
        ck.meta.step,
        ck.model.n_params(),
        ck.meta.data.spec,
        ck.schedule.n_steps()
    );
    let (gamma, cached) = gamma_for(&ck, &args.out, args.m, args.seed, Reuse::Exact)?;
    println!(
        "Γ ({} with M = {} in {:.1}s): {}",
        if cached { "cached" } else { "estimated" },
        gamma.m,
        gamma.seconds,
        gamma_summary(&gamma)
    );
    let g = gamma.to_gamma()?;
    let mut written = Vec::new();
    let samplers = [
        Sampler::DdpmBeta,
        Sampler::DdpmTilde,
        Sampler::AnalyticDdpm,
        Sampler::Ddim { eta: 0.0 },
        Sampler::AnalyticDdim { eta: 0.0 },
    ];
    for k in [10usize, 100] {
        check_k(k, &ck.schedule)?;
        let trajectory = Trajectory::even(ck.schedule.n_steps(), k)?;
        for sampler in samplers {
            let path = args.out.join(format!("{}-k{k}.png", sampler.name()));
            let pb = bar(k as u64, "sampling {bar:30} {pos}/{len} steps {msg}");
            pb.set_message(sampler.name());
            let x = pipeline::sample(
                &ck.model,
                &ck.meta,
                &ck.schedule,
                &g,
                sampler,
                &trajectory,
                64,
                args.seed,
                &mut |i| pb.set_position(i as u64 + 1),
            );
            pb.finish_and_clear();
            diffusion_nn::output::write_png(&x?, ck.meta.data.shape, &path)?;
            written.push(path);
        }
    }
    println!(
        "wrote {} sample grids (64 samples each, K = 10 and 100)",
        written.len()
    );
    let ks = [10usize, 25, 50, 100];
    let report = run_eval(
        &ck,
        &ckpt,
        &gamma,
        &[
            EvalSampler::Scalar(Sampler::DdpmTilde),
            EvalSampler::Scalar(Sampler::DdpmBeta),
            EvalSampler::Scalar(Sampler::AnalyticDdpm),
        ],
        &ks,
        TrajectoryArg::Even,
        None,
        args.seed,
    )?;
    let table = eval_table(&report, &ks);
    print!("{table}");
    let json_path = args.out.join("eval.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    let md_path = args.out.join("nelbo.md");
    std::fs::write(&md_path, &table).with_context(|| format!("writing {}", md_path.display()))?;
    println!("files in {}:", args.out.display());
    for p in written
        .iter()
        .chain([&json_path, &md_path, &args.out.join(pipeline::GAMMA_FILE)])
    {
        println!("  {}", p.display());
    }
    println!("demo finished in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}
