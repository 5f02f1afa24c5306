//! `kexue cws`.

/// Arguments of `kexue cws`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `kexue cws`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`kexue cws` is not implemented yet")
}
