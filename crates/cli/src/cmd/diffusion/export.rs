//! `kexue diffusion export`: a kexue checkpoint → a diffusers folder.

use std::path::PathBuf;

use anyhow::Context;
use diffusion_nn::diffusers::export;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A diffusers DDPMPipeline folder (model_index.json, unet/, scheduler/).
    Diffusers,
}

/// Arguments of `kexue diffusion export`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Writes OUT/model_index.json, OUT/unet/{config.json, \
diffusion_pytorch_model.safetensors} (EMA weights, diffusers tensor names), \
OUT/scheduler/scheduler_config.json (DDPMScheduler with the checkpoint's betas) and a README; \
covariance heads (train-cov) go to OUT/cov-sn/ and OUT/cov-npr/ as second UNet2DModel folders. \
In Python: DDPMPipeline.from_pretrained(OUT). Only networks trained with --net diffusers-unet \
export (the MLP and kexue's own U-Net have no diffusers counterpart).\n\n\
Example:\n  kexue diffusion train --data digits --net diffusers-unet --out artifacts/du --steps 4000\n  \
kexue diffusion export --ckpt artifacts/du --out artifacts/du-diffusers")]
pub struct ExportArgs {
    /// Checkpoint folder (trained with --net diffusers-unet).
    #[arg(long, value_name = "DIR")]
    ckpt: PathBuf,
    /// New output folder.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "diffusers")]
    format: Format,
    /// Print a JSON summary instead of the sentence.
    #[arg(long)]
    json: bool,
}

/// Runs `kexue diffusion export`.
pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let Format::Diffusers = args.format;
    let report = export::export(&args.ckpt, &args.out)
        .with_context(|| format!("exporting {}", args.ckpt.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}
