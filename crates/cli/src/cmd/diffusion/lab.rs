//! `kexue diffusion lab`.

/// Arguments of `kexue diffusion lab`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `kexue diffusion lab`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`kexue diffusion lab` is not implemented yet")
}
