//! `kexue diffusion …`: flags → library values → one library call → table or JSON.
//!
//! `exact.rs`: the exact-score experiments (lab, trajectory, likelihood); `nn.rs`: the neural
//! pipeline (train, train-cov, gamma, sample, eval, demo). The work is in `diffusion`
//! (experiments, samplers, laws) and `diffusion-nn` (checkpoints, pipeline); this module only
//! parses flags, drives progress bars from the libraries' callbacks, and prints.

mod exact;
mod export;
mod nn;

use std::path::Path;

use anyhow::Context;
use clap::Subcommand;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use diffusion::experiment::Progress;
use diffusion::laws::{GmmSpec, Law, LawName};
use diffusion::{AnySampler, ScheduleKind, TrajectoryKind};

/// Arguments of `kexue diffusion`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every sampler on data with a closed-form ε-predictor and compare them.
    Lab(exact::LabArgs),
    /// Train an ε-network.
    Train(nn::TrainArgs),
    /// Train the SN-/NPR-DPM covariance head of a checkpoint (ε-network frozen).
    TrainCov(nn::TrainCovArgs),
    /// Estimate Γ_t (mean squared ε-prediction) for Analytic-DPM from a checkpoint.
    Gamma(nn::GammaArgs),
    /// Draw samples from a checkpoint (or an exact-score law) with any sampler.
    Sample(nn::SampleArgs),
    /// NELBO in bits/dim on the held-out split for each sampler and step count.
    Eval(nn::EvalArgs),
    /// Write a checkpoint trained with --net diffusers-unet as a diffusers folder.
    Export(export::ExportArgs),
    /// The README's main job: sample and evaluate the shipped digits checkpoint (an MLP).
    Demo(nn::DemoArgs),
    /// Exact log-likelihood through the probability-flow ODE.
    Likelihood(exact::LikelihoodArgs),
    /// Optimal K-step trajectory by dynamic programming (Analytic-DPM).
    Trajectory(exact::TrajectoryArgs),
}

/// Runs `kexue diffusion`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Lab(a) => exact::lab(a),
        Command::Train(a) => nn::train(a),
        Command::TrainCov(a) => nn::train_cov(a),
        Command::Gamma(a) => nn::gamma(a),
        Command::Sample(a) => nn::sample(a),
        Command::Eval(a) => nn::eval(a),
        Command::Demo(a) => nn::demo(a),
        Command::Export(a) => export::run(a),
        Command::Likelihood(a) => exact::likelihood(a),
        Command::Trajectory(a) => exact::trajectory(a),
    }
}

/// A clap parser accepting exactly `values` (name, help) and turning them into `T`.
fn one_of<T>(values: Vec<(&'static str, &'static str)>) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(
        values
            .into_iter()
            .map(|(n, h)| PossibleValue::new(n).help(h)),
    )
    .map(|s| {
        s.parse::<T>()
            .unwrap_or_else(|_| unreachable!("every possible value parses"))
    })
}

/// `--sampler` of the commands on a checkpoint: [`AnySampler::ALL`] and `learned-ddpm`.
fn net_sampler_parser() -> impl TypedValueParser<Value = diffusion_nn::pipeline::NetSampler> {
    use diffusion_nn::pipeline::NetSampler;
    let mut values: Vec<(&'static str, &'static str)> = AnySampler::ALL
        .iter()
        .map(|s| (s.name(), s.help()))
        .collect();
    values.push((NetSampler::LEARNED_DDPM, NetSampler::LEARNED_HELP));
    one_of(values)
}

/// `--trajectory`.
fn trajectory_parser() -> impl TypedValueParser<Value = TrajectoryKind> {
    one_of(
        TrajectoryKind::ALL
            .iter()
            .map(|k| {
                let help = match k {
                    TrajectoryKind::Even => "paper-A's even trajectory, τ_1 = 1, τ_K = N",
                    TrajectoryKind::Quad => "DDIM's quadratic trajectory",
                    TrajectoryKind::Optimal => "the DP optimum for Analytic-DDPM given Γ",
                };
                (k.name(), help)
            })
            .collect(),
    )
}

/// `--schedule`.
fn schedule_parser() -> impl TypedValueParser<Value = ScheduleKind> {
    one_of(vec![
        ("linear", "Ho et al., β scaled by 1000/N"),
        ("cosine", "Nichol–Dhariwal"),
    ])
}

/// `--data` of the exact-score commands.
fn law_parser() -> impl TypedValueParser<Value = LawName> {
    one_of(vec![
        ("gauss", "1-D N(0.5, 0.09)"),
        (
            "gmm",
            "2-D ring of 8 Gaussians (radius 2, std 0.1), or --gmm-file",
        ),
        ("rademacher", "1-D ±1 with probability ½ each"),
    ])
}

/// The law `name`, with the mixture of `gmm_file` (JSON) for `gmm`.
fn open_law(name: LawName, gmm_file: Option<&Path>) -> anyhow::Result<Law> {
    let spec = match gmm_file {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --gmm-file {}", path.display()))?;
            let spec: GmmSpec = serde_json::from_str(&text)
                .with_context(|| format!("parsing --gmm-file {}", path.display()))?;
            Some(spec)
        }
    };
    Law::new(name, spec).with_context(|| match gmm_file {
        Some(path) => format!("--gmm-file {}", path.display()),
        None => format!("--data {name}"),
    })
}

/// `--device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DeviceArg {
    /// The CPU.
    Cpu,
    /// The first CUDA GPU (needs a build with `--features cuda`).
    Cuda,
}

impl DeviceArg {
    fn choice(self) -> diffusion_nn::DeviceChoice {
        match self {
            DeviceArg::Cpu => diffusion_nn::DeviceChoice::Cpu,
            DeviceArg::Cuda => diffusion_nn::DeviceChoice::Cuda,
        }
    }
}

/// A progress bar on stderr with `template` (`{bar}`, `{pos}`, `{len}`, `{msg}`, …).
fn bar(len: u64, template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Runs `run` with a bar that follows a library's [`Progress`] callback (stage as message),
/// cleared when it returns.
fn with_progress<T>(run: impl FnOnce(&mut dyn FnMut(Progress<'_>)) -> T) -> T {
    let pb = bar(
        0,
        "{msg:>14} [{bar:30}] {pos}/{len} [{elapsed_precise}<{eta_precise}]",
    );
    let out = run(&mut |p| {
        pb.set_length(p.total as u64);
        pb.set_position(p.done as u64);
        if pb.message() != p.stage {
            pb.set_message(p.stage.to_string());
        }
    });
    pb.finish_and_clear();
    out
}

/// Runs `run` with a bar of `len` steps fed by a `FnMut(i)` callback (i = 0-based step done).
fn with_steps<T>(len: u64, what: &str, run: impl FnOnce(&mut dyn FnMut(usize)) -> T) -> T {
    let pb = bar(
        len,
        "{msg} {bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}]",
    );
    pb.set_message(what.to_string());
    let out = run(&mut |i| pb.set_position(i as u64 + 1));
    pb.finish_and_clear();
    out
}

/// Runs `run` with two bars in turn (length, message), each fed by a `FnMut(i)` callback and
/// shown from its first step; both cleared when it returns.
fn with_two_bars<T>(
    first: (u64, &str),
    second: (u64, &str),
    run: impl FnOnce(&mut dyn FnMut(usize), &mut dyn FnMut(usize)) -> T,
) -> T {
    let template = "{msg} {bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}]";
    let bars = [bar(first.0, template), bar(second.0, template)];
    let feed = |pb: &indicatif::ProgressBar, what: &str, i: usize| {
        if pb.message().is_empty() {
            pb.set_message(what.to_string());
        }
        pb.set_position(i as u64 + 1);
    };
    let out = run(&mut |i| feed(&bars[0], first.1, i), &mut |i| {
        feed(&bars[1], second.1, i)
    });
    bars.iter()
        .for_each(indicatif::ProgressBar::finish_and_clear);
    out
}

/// Prints `value` as one line of JSON.
fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}
