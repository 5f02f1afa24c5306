//! Export of a kexue ε-checkpoint trained with `--net diffusers-unet` as a diffusers pipeline
//! folder that `diffusers.DDPMPipeline.from_pretrained(DIR)` loads (and kexue re-imports with
//! [`super::load`]):
//!
//! | file | contents |
//! |---|---|
//! | `model_index.json` | `DDPMPipeline` with a `UNet2DModel` and a `DDPMScheduler` |
//! | `unet/config.json` | the network's `UNet2DModel` configuration (stored in `checkpoint.json`) |
//! | `unet/diffusion_pytorch_model.safetensors` | the EMA weights under diffusers' tensor names (the variable names kexue trains under) |
//! | `scheduler/scheduler_config.json` | `DDPMScheduler` with the checkpoint's β_1..β_N as `trained_betas`, ε-prediction, `fixed_small` variance, x̂₀ clipping to [−1, 1] for discrete (image) data |
//! | `cov-<kind>/config.json`, `cov-<kind>/diffusion_pytorch_model.safetensors` | each SN/NPR covariance head of the checkpoint, as a second `UNet2DModel` (its output goes through a softplus, see `README.md`) |
//! | `README.md` | what the folder holds and how the times and heads are read |
//!
//! Times: diffusers' timestep τ ∈ 0..N−1 is kexue's time t = τ + 1, and the network was trained
//! on τ (see [`crate::model::DiffusersUnetConfig`]), so diffusers' schedulers run it unchanged.
//! The folder is written to `OUT.partial` and renamed to `OUT` when complete.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use diffusion::covariance::CovKind;
use serde::Serialize;
use serde_json::json;

use crate::checkpoint::{self, Weights};
use crate::cov;
use crate::model::{EpsNetConfig, Model};
use crate::{Error, Result};

/// The diffusers version whose loaders the export was checked against
/// (`scripts/make_export_fixture.py`).
pub const DIFFUSERS_VERSION: &str = "0.42.1";

/// What [`export`] wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportReport {
    /// The checkpoint folder exported.
    pub checkpoint: String,
    /// Its training step.
    pub step: u64,
    /// The folder written.
    pub out: String,
    /// Parameters of the U-Net.
    pub n_params: usize,
    /// Covariance heads exported (`sn`, `npr`).
    pub heads: Vec<&'static str>,
    /// Every file written, relative to `out`.
    pub files: Vec<String>,
}

impl std::fmt::Display for ExportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exported {} (step {}, {} parameters{}) to {} as a diffusers DDPMPipeline folder",
            self.checkpoint,
            self.step,
            self.n_params,
            if self.heads.is_empty() {
                String::new()
            } else {
                format!(", heads {}", self.heads.join(", "))
            },
            self.out
        )
    }
}

/// The weights of `model` as diffusers tensors (f32, CPU), by variable name.
fn tensors(model: &Model) -> Result<HashMap<String, Tensor>> {
    model
        .named_vars()
        .into_iter()
        .map(|(name, var)| Ok((name, var.as_tensor().to_device(&Device::Cpu)?)))
        .collect()
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("JSON values always serialise");
    std::fs::write(path, format!("{text}\n")).map_err(|e| Error::io(path, e))
}

/// Writes a `UNet2DModel` folder (`config.json` + weights) at `dir`.
fn write_unet(
    dir: &Path,
    config: &serde_json::Value,
    weights: &HashMap<String, Tensor>,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut config = config.clone();
    if let Some(map) = config.as_object_mut() {
        map.insert("_class_name".into(), json!("UNet2DModel"));
        map.insert("_diffusers_version".into(), json!(DIFFUSERS_VERSION));
    }
    write_json(&dir.join("config.json"), &config)?;
    checkpoint::save_safetensors(&dir.join(super::WEIGHTS_FILE), weights)
}

/// The `DDPMScheduler` configuration of a schedule with β_1..β_N = `betas[1..]`.
pub fn scheduler_config(betas: &[f64], clip_sample: bool) -> serde_json::Value {
    let steps = &betas[1..];
    json!({
        "_class_name": "DDPMScheduler",
        "_diffusers_version": DIFFUSERS_VERSION,
        "num_train_timesteps": steps.len(),
        "beta_start": steps[0],
        "beta_end": steps[steps.len() - 1],
        "beta_schedule": "linear",
        "trained_betas": steps,
        "variance_type": "fixed_small",
        "clip_sample": clip_sample,
        "clip_sample_range": 1.0,
        "prediction_type": "epsilon",
        "thresholding": false,
        "timestep_spacing": "leading",
        "steps_offset": 0,
        "rescale_betas_zero_snr": false
    })
}

/// Exports the checkpoint `ckpt` (its EMA weights, and its covariance heads) to the new folder
/// `out` (module docs).
///
/// # Errors
/// [`Error::Config`] when the checkpoint's network is not a diffusers U-Net (only those export)
/// or `out` exists; [`Error::Checkpoint`] for a missing or corrupt checkpoint or head; I/O
/// errors.
pub fn export(ckpt: &Path, out: &Path) -> Result<ExportReport> {
    let meta = checkpoint::read_meta(ckpt)?;
    let EpsNetConfig::DiffusersUnet(net) = &meta.model else {
        return Err(Error::config(
            "export",
            format!(
                "{} holds {}: only U-Nets trained with `kexue diffusion train --net \
                 diffusers-unet` export to diffusers",
                ckpt.display(),
                match meta.model {
                    EpsNetConfig::Mlp(_) => "an MLP",
                    _ => "kexue's own U-Net (no diffusers counterpart)",
                }
            ),
        ));
    };
    if out.exists() {
        return Err(Error::config(
            "out",
            format!(
                "{} already exists: choose a new folder (export never overwrites)",
                out.display()
            ),
        ));
    }
    let device = Device::Cpu;
    let (meta, model) = checkpoint::load_model(ckpt, Weights::Ema, &device)?;
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
    }
    std::fs::create_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
    let mut files = vec![
        "model_index.json".to_string(),
        "unet/config.json".to_string(),
        format!("unet/{}", super::WEIGHTS_FILE),
        "scheduler/scheduler_config.json".to_string(),
    ];
    write_json(
        &partial.join("model_index.json"),
        &json!({
            "_class_name": "DDPMPipeline",
            "_diffusers_version": DIFFUSERS_VERSION,
            "scheduler": ["diffusers", "DDPMScheduler"],
            "unet": ["diffusers", "UNet2DModel"]
        }),
    )?;
    write_unet(&partial.join("unet"), &net.unet, &tensors(&model)?)?;
    let schedule = meta.schedule.build()?;
    let sched_dir = partial.join("scheduler");
    std::fs::create_dir_all(&sched_dir).map_err(|e| Error::io(&sched_dir, e))?;
    write_json(
        &sched_dir.join("scheduler_config.json"),
        &scheduler_config(schedule.betas(), meta.data.levels.is_some()),
    )?;
    let mut heads = Vec::new();
    for kind in [CovKind::Sn, CovKind::Npr] {
        if !cov::has_head(ckpt, kind) {
            continue;
        }
        let (_, head) = cov::load_head(ckpt, kind, &meta, &model, &device)?;
        let name = format!("cov-{}", kind.name());
        write_unet(&partial.join(&name), &net.unet, &tensors(head.model())?)?;
        files.push(format!("{name}/config.json"));
        files.push(format!("{name}/{}", super::WEIGHTS_FILE));
        heads.push(kind.name());
    }
    let mut readme = format!(
        "# {}\n\nExported by `kexue diffusion export` from the kexue checkpoint `{}` (step {}, EMA \
         weights, data `{}`).\n\n- `unet/`, `scheduler/`: a diffusers `DDPMPipeline` \
         (`DDPMPipeline.from_pretrained(\"<this folder>\")`); the U-Net predicts ε at diffusers' \
         timestep τ = t − 1 (kexue's time t).\n",
        out.file_name()
            .map_or_else(|| "export".into(), |n| n.to_string_lossy()),
        ckpt.display(),
        meta.step,
        meta.data.spec
    );
    for k in &heads {
        readme.push_str(&format!(
            "- `cov-{k}/`: the {} covariance head, a second `UNet2DModel` \
             (`UNet2DModel.from_pretrained(\"<this folder>/cov-{k}\")`); the head's value is \
             softplus(output) ≈ {} per pixel.\n",
            k.to_uppercase(),
            if *k == "sn" {
                "E[ε⊙ε | x_t]"
            } else {
                "E[(ε − ε̂)⊙² | x_t]"
            }
        ));
    }
    std::fs::write(partial.join("README.md"), readme)
        .map_err(|e| Error::io(partial.join("README.md"), e))?;
    files.push("README.md".to_string());
    std::fs::rename(&partial, out).map_err(|e| Error::io(out, e))?;
    Ok(ExportReport {
        checkpoint: ckpt.display().to_string(),
        step: meta.step,
        out: out.display().to_string(),
        n_params: model.n_params(),
        heads,
        files,
    })
}
