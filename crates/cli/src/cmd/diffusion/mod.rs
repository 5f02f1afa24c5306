//! `kexue diffusion …`: the laboratory on exact scores (`lab.rs`) and the neural pipeline
//! (`nn.rs`: train, train-cov, gamma, sample, eval, demo), the ODE likelihood (`likelihood.rs`) and the
//! optimal trajectory (`trajectory.rs`).

mod lab;
mod laws;
mod likelihood;
mod nn;
mod trajectory;

use clap::Subcommand;

/// Arguments of `kexue diffusion`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every sampler on data with a closed-form ε-predictor and compare them.
    Lab(lab::Args),
    /// Train an ε-network.
    Train(nn::TrainArgs),
    /// Train the SN-/NPR-DPM covariance head of a checkpoint (ε-network frozen).
    TrainCov(nn::TrainCovArgs),
    /// Estimate Γ_t (mean squared ε-prediction) for Analytic-DPM from a checkpoint.
    Gamma(nn::GammaArgs),
    /// Draw samples from a checkpoint (or an exact-score law) with a discrete or continuous sampler.
    Sample(nn::SampleArgs),
    /// NELBO in bits/dim on the held-out split for each sampler and step count.
    Eval(nn::EvalArgs),
    /// The README's main job: sample and evaluate the shipped digits checkpoint.
    Demo(nn::DemoArgs),
    /// Exact log-likelihood through the probability-flow ODE.
    Likelihood(likelihood::Args),
    /// Optimal K-step trajectory by dynamic programming (Analytic-DPM).
    Trajectory(trajectory::Args),
}

/// Runs `kexue diffusion`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Lab(a) => lab::run(a),
        Command::Train(a) => nn::train(a),
        Command::TrainCov(a) => nn::train_cov(a),
        Command::Gamma(a) => nn::gamma(a),
        Command::Sample(a) => nn::sample(a),
        Command::Eval(a) => nn::eval(a),
        Command::Demo(a) => nn::demo(a),
        Command::Likelihood(a) => likelihood::run(a),
        Command::Trajectory(a) => trajectory::run(a),
    }
}
