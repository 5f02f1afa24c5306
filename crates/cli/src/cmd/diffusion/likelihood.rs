//! `kexue diffusion likelihood`.

/// Arguments of `kexue diffusion likelihood`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `kexue diffusion likelihood`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`kexue diffusion likelihood` is not implemented yet")
}
