//! `kexue diffusion {train,gamma,sample,eval,demo}`: the neural pipeline.

/// Arguments of `kexue diffusion train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {}

/// Runs `kexue diffusion train`.
pub fn train(_args: TrainArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kexue diffusion train` is not implemented yet")
}

/// Arguments of `kexue diffusion gamma`.
#[derive(Debug, clap::Args)]
pub struct GammaArgs {}

/// Runs `kexue diffusion gamma`.
pub fn gamma(_args: GammaArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kexue diffusion gamma` is not implemented yet")
}

/// Arguments of `kexue diffusion sample`.
#[derive(Debug, clap::Args)]
pub struct SampleArgs {}

/// Runs `kexue diffusion sample`.
pub fn sample(_args: SampleArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kexue diffusion sample` is not implemented yet")
}

/// Arguments of `kexue diffusion eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {}

/// Runs `kexue diffusion eval`.
pub fn eval(_args: EvalArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kexue diffusion eval` is not implemented yet")
}

/// Arguments of `kexue diffusion demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

/// Runs `kexue diffusion demo`.
pub fn demo(_args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kexue diffusion demo` is not implemented yet")
}
