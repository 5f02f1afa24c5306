//! `kexue series`.

/// Arguments of `kexue series`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `kexue series`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`kexue series` is not implemented yet")
}
