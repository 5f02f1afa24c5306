//! `kexue`: one binary over the workspace's libraries.
//!
//! Each domain lives in `cmd/<domain>.rs` with a `clap::Args` struct and a
//! `run(args) -> anyhow::Result<()>` that turns flags into library values and calls the library.
//! Errors are printed once, on one line, with their whole context chain; the exit code is 2.

mod cmd;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// candle allocates a fresh buffer for every intermediate tensor; glibc's malloc hands large
// freed buffers back to the kernel and page-faults them in again on the next training step.
// mimalloc keeps them: U-Net train steps ~8–11 % faster (BENCHMARKS.md, "Fused CPU kernels").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Research notes turned into software: diffusion models, a dictionary-trained Chinese word
/// segmenter, probability maps from reparameterisation and a positive-series convergence decider.
#[derive(Debug, Parser)]
#[command(name = "kexue", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Diffusion models: exact-score laboratory, training, sampling, evaluation.
    Diffusion(cmd::diffusion::Args),
    /// Chinese word segmentation trained from a dictionary alone.
    Cws(cmd::cws::Args),
    /// Probability maps p_i = P(argmax_j(mu_j + eps_j) = i) for i.i.d. noise.
    Probmap(cmd::probmap::Args),
    /// Decide convergence of a positive series sum a_n, with the reason.
    Series(cmd::series::Args),
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Diffusion(args) => cmd::diffusion::run(args),
        Command::Cws(args) => cmd::cws::run(args),
        Command::Probmap(args) => cmd::probmap::run(args),
        Command::Series(args) => cmd::series::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = std::io::stdout().flush();
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// A closed stdout (`kexue … | head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `println!` panics when stdout is closed (`kexue … | head`); every command prints that way,
/// so the one place to treat it as the success it is — like a returned `BrokenPipe` above —
/// is a panic hook. Any other panic keeps the default report.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}
