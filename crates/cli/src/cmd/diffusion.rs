//! `kexue diffusion`.

/// Arguments of `kexue diffusion`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `kexue diffusion`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`kexue diffusion` is not implemented yet")
}
