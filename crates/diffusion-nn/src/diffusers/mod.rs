//! Pretrained diffusers `UNet2DModel` folders: load a model someone else trained and run
//! kexue's samplers, Γ estimation and NELBO on it (the training-free setting of Analytic-DPM,
//! arXiv:2201.06503, whose experiments use exactly such models: DDPM CIFAR10, DDIM CelebA,
//! improved-DDPM ImageNet64).
//!
//! # Folder layouts ([`detect`])
//! - a **model folder**: `config.json` (a `UNet2DModel`) and
//!   `diffusion_pytorch_model.safetensors`, optionally `scheduler_config.json` beside them
//!   (without it, diffusers' `DDPMScheduler()` defaults are used: [`SchedulerConfig::ddpm_default`]);
//! - a **pipeline folder**: `model_index.json`, `unet/` (a model folder) and
//!   `scheduler/scheduler_config.json` (what `DDPMPipeline.save_pretrained` writes, and how
//!   `google/ddpm-cifar10-32` and its siblings are published).
//!
//! A folder with only `diffusion_pytorch_model.bin` is refused with the one-line Python command
//! that converts it; latent pipelines (a `vae`/`vqvae` component) and conditional U-Nets
//! (`UNet2DConditionModel`) are refused by name.
//!
//! # What is implemented ([`config`])
//! Block types `DownBlock2D`, `AttnDownBlock2D`, `ResnetDownsampleBlock2D`, `UpBlock2D`,
//! `AttnUpBlock2D`, `ResnetUpsampleBlock2D`, the `UNetMidBlock2D` with or without attention;
//! `resnet_time_scale_shift` `default` | `scale_shift`; `positional` time embedding with
//! `flip_sin_to_cos` and `freq_shift`; `norm_num_groups`, `norm_eps`, `attention_head_dim`,
//! `layers_per_block`, `downsample_padding` 0 | 1, `downsample_type`/`upsample_type`,
//! `mid_block_scale_factor`, `center_input_sample`, `num_class_embeds` (class-conditional),
//! `out_channels` = `in_channels` or 2·`in_channels` (learned variance). Anything else (cross
//! attention, skip/NCSN++ blocks, fourier or learned time embeddings, other activations, …) is
//! an [`crate::Error::Checkpoint`] naming the field and its value.
//!
//! # Times
//! diffusers' timestep τ ∈ 0..N−1 is kexue's time t = τ + 1 (kexue keeps index 0 for the data).
//! [`SchedulerConfig::schedule`] reproduces diffusers' f32 `alphas_cumprod` bit for bit and
//! [`SchedulerConfig::trajectory`] its `set_timesteps(K)` nodes (see [`scheduler`]).
//!
//! # Predictions
//! [`EpsView`] is the network as a [`diffusion::EpsPredictor`] whatever it predicts: with
//! x_t = √ᾱ x₀ + √(1−ᾱ) ε at the queried level,
//!
//! | `prediction_type` | network output | ε̂ |
//! |---|---|---|
//! | `epsilon` | ε̂ | ε̂ |
//! | `v_prediction` | v̂ = √ᾱ ε − √(1−ᾱ) x₀ | √ᾱ v̂ + √(1−ᾱ) x_t |
//! | `sample` | x̂₀ | (x_t − √ᾱ x̂₀)/√(1−ᾱ) |
//!
//! computed in f64 from the f32 output (exact algebra, no approximation). For a learned-variance
//! model the first `in_channels` output channels are used, and the second half (improved DDPM's
//! v ∈ [−1, 1]) is available from [`EpsView::predict_eps_and_variance`]; with
//! [`learned_range_variance`] it gives the reverse variance of the step, for a `learned-ddpm`
//! sampler through [`diffusion::sample_with_variance`].
//!
//! # Wiring it into a command
//! ```no_run
//! use diffusion::analytic::Gamma;
//! use diffusion::{Sampler, plan};
//! use diffusion_nn::Device;
//! use diffusion_nn::diffusers::{self, ClassLabels, EpsView};
//! use rand::SeedableRng;
//!
//! let dir = std::path::Path::new("ddpm-cifar10-32");
//! assert!(diffusers::detect(dir).is_some()); // else: a kexue checkpoint
//! let pre = diffusers::load(dir, &Device::Cpu)?;
//! let schedule = pre.scheduler.schedule()?;
//! let trajectory = pre.scheduler.trajectory(10)?;
//! let config = pre.scheduler.plan_config(Sampler::Ddim { eta: 0.0 });
//! let steps = plan(&schedule, &trajectory, &config, &Gamma::unknown(schedule.n_steps()))?;
//! let eps = EpsView::new(&pre.unet, pre.scheduler.prediction_type, ClassLabels::None, 16)?;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let mut x = vec![0.0; 4 * pre.unet.config().dim()];
//! diffusion::standard_normal(&mut rng, &mut x);
//! diffusion::sample(&eps, &steps, &mut x, &mut rng, &mut |_| {})?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//! Γ estimation, NELBO and trajectories take `&eps` like any other predictor; user images are
//! checked against the model with [`check_images`] first.

pub mod config;
pub mod export;
pub mod predictor;
pub mod scheduler;
pub mod unet;
mod weights;

use std::path::{Path, PathBuf};

use candle_core::Device;
use serde_json::Value;

pub use config::UNet2DConfig;
pub use predictor::{ClassLabels, EpsView};
pub use scheduler::{PredictionType, SchedulerConfig, learned_range_variance};
pub use unet::UNet2D;

use crate::data::DataShape;
use crate::{Error, Result};

/// The weights file read.
pub const WEIGHTS_FILE: &str = "diffusion_pytorch_model.safetensors";

/// Which diffusers layout a folder has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// `config.json` + weights (+ optional `scheduler_config.json`) in the folder itself.
    Model,
    /// `model_index.json` with `unet/` and `scheduler/` subfolders.
    Pipeline,
}

/// Where the scheduler settings came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchedulerSource {
    /// This `scheduler_config.json`.
    File(PathBuf),
    /// No scheduler in the folder: diffusers' `DDPMScheduler()` defaults.
    Default,
}

/// A loaded folder.
#[derive(Debug)]
pub struct Pretrained {
    /// The layout found.
    pub layout: Layout,
    /// The network.
    pub unet: UNet2D,
    /// The scheduler it was trained with.
    pub scheduler: SchedulerConfig,
    /// Where [`Pretrained::scheduler`] came from.
    pub scheduler_source: SchedulerSource,
}

/// The diffusers layout of `dir`, or `None` when it is not a diffusers folder (no
/// `model_index.json`, no `config.json`): then it may be a kexue checkpoint.
pub fn detect(dir: &Path) -> Option<Layout> {
    if dir.join("model_index.json").is_file() {
        Some(Layout::Pipeline)
    } else if dir.join("config.json").is_file() {
        Some(Layout::Model)
    } else {
        None
    }
}

/// Loads a model or pipeline folder onto `device`.
///
/// # Errors
/// [`Error::Checkpoint`] when the folder is not a diffusers folder, a component is
/// unsupported, weights are missing (`.bin` only: with the command converting them), a
/// configuration field is unsupported (named with its value), or any tensor is missing,
/// unexpected or mis-shaped (all named in one message); [`Error::Io`] on read failures.
pub fn load(dir: &Path, device: &Device) -> Result<Pretrained> {
    let layout = detect(dir).ok_or_else(|| {
        Error::checkpoint(
            dir,
            "not a diffusers folder: expected config.json + diffusion_pytorch_model.safetensors, \
             or model_index.json with unet/ and scheduler/",
        )
    })?;
    let (unet_dir, scheduler_file) = match layout {
        Layout::Model => (dir.to_path_buf(), dir.join("scheduler_config.json")),
        Layout::Pipeline => {
            check_model_index(&dir.join("model_index.json"))?;
            let sched = dir.join("scheduler").join("scheduler_config.json");
            if !sched.is_file() {
                return Err(Error::checkpoint(
                    dir,
                    "pipeline folder without scheduler/scheduler_config.json",
                ));
            }
            (dir.join("unet"), sched)
        }
    };
    let config = UNet2DConfig::from_file(&unet_dir.join("config.json"))?;
    let weights_path = weights_file(&unet_dir)?;
    let weights = weights::Weights::load(&weights_path, device)?;
    let unet = UNet2D::from_weights(&config, weights, device)?;
    let (scheduler, scheduler_source) = if scheduler_file.is_file() {
        (
            SchedulerConfig::from_file(&scheduler_file)?,
            SchedulerSource::File(scheduler_file),
        )
    } else {
        (SchedulerConfig::ddpm_default(), SchedulerSource::Default)
    };
    Ok(Pretrained {
        layout,
        unet,
        scheduler,
        scheduler_source,
    })
}

/// Builds a network from a config and a safetensors file directly (no folder conventions).
///
/// # Errors
/// As [`load`].
pub fn load_unet(config: &UNet2DConfig, safetensors: &Path, device: &Device) -> Result<UNet2D> {
    let weights = weights::Weights::load(safetensors, device)?;
    UNet2D::from_weights(config, weights, device)
}

fn check_model_index(path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| Error::checkpoint(path, format!("not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(Error::checkpoint(path, "expected a JSON object"));
    };
    for latent in ["vae", "vqvae"] {
        if let Some(v) = map.get(latent).filter(|v| !v.is_null()) {
            return Err(Error::checkpoint(
                path,
                format!("component `{latent}` = {v}: latent diffusion pipelines are not supported"),
            ));
        }
    }
    match map.get("unet") {
        Some(Value::Array(a)) if a.get(1).and_then(Value::as_str) == Some("UNet2DModel") => Ok(()),
        Some(v) => Err(Error::checkpoint(
            path,
            format!(
                "component `unet` = {v}: not supported (supported: [\"diffusers\", \"UNet2DModel\"])"
            ),
        )),
        None => Err(Error::checkpoint(path, "no `unet` component")),
    }
}

fn weights_file(dir: &Path) -> Result<PathBuf> {
    let st = dir.join(WEIGHTS_FILE);
    if st.is_file() {
        return Ok(st);
    }
    let bin = dir.join("diffusion_pytorch_model.bin");
    if bin.is_file() {
        return Err(Error::checkpoint(
            dir,
            format!(
                "only PyTorch pickle weights (diffusion_pytorch_model.bin), which kexue does not read; \
                 convert them once with: python -c \"from diffusers import UNet2DModel; \
                 UNet2DModel.from_pretrained('{0}').save_pretrained('{0}', safe_serialization=True)\"",
                dir.display()
            ),
        ));
    }
    if dir.join(format!("{WEIGHTS_FILE}.index.json")).is_file() {
        return Err(Error::checkpoint(
            dir,
            "sharded safetensors weights are not supported",
        ));
    }
    Err(Error::checkpoint(dir, format!("no {WEIGHTS_FILE}")))
}

/// Checks that images of `shape` fit the model: `in_channels` channels of `sample_size`.
///
/// # Errors
/// [`Error::Config`] naming both shapes (and what to change) when they differ, or when the data
/// are not images.
pub fn check_images(config: &UNet2DConfig, shape: &DataShape) -> Result<()> {
    let (h, w) = config.sample_size;
    let want = format!("{}×{h}×{w} (in_channels × sample_size)", config.in_channels);
    match *shape {
        DataShape::Image {
            channels,
            height,
            width,
        } => {
            if channels != config.in_channels {
                return Err(Error::config(
                    "data",
                    format!(
                        "the images have {channels} channel(s), the model takes {}: images are \
                         {channels}×{height}×{width}, the model wants {want}",
                        config.in_channels
                    ),
                ));
            }
            if (height, width) != (h, w) {
                return Err(Error::config(
                    "data",
                    format!(
                        "the images are {height}×{width} pixels, the model's sample_size is {h}×{w}: \
                         images are {channels}×{height}×{width}, the model wants {want}"
                    ),
                ));
            }
            Ok(())
        }
        DataShape::Vector { dim } => Err(Error::config(
            "data",
            format!("the data are vectors of {dim}, the model wants images of {want}"),
        )),
    }
}
