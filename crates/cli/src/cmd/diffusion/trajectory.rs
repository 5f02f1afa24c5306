//! `kexue diffusion trajectory`.

/// Arguments of `kexue diffusion trajectory`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `kexue diffusion trajectory`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`kexue diffusion trajectory` is not implemented yet")
}
