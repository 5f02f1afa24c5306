//! `kexue probmap`.

/// Arguments of `kexue probmap`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `kexue probmap`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`kexue probmap` is not implemented yet")
}
