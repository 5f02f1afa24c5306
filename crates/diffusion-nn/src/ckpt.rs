//! An opened checkpoint ([`Checkpoint`]): the network as a `diffusion::EpsPredictor`, its
//! schedule, Γ under a cache policy ([`GammaPolicy`]), its covariance heads, NELBO decoder,
//! plan settings and data, behind one value that the [`crate::pipeline`] functions take.
//!
//! The network kind is private (today the ε-networks trained by [`crate::train`]), so other
//! kinds can open through the same [`Checkpoint::open`] without changing callers.
//!
//!
//! Example: the crate-level docs.

use std::path::{Path, PathBuf};

use candle_core::Device;
use diffusion::covariance::CovKind;
use diffusion::{Decoder, EpsPredictor, PlanConfig, PlanSettings, Sampler, Schedule};

use crate::checkpoint::{self, CheckpointMeta, Weights};
use crate::cov::{self, CovNet};
use crate::data::{self, DataShape, DataSpec, Dataset};
use crate::model::Model;
use crate::pipeline::{self, GammaFile, Purpose};
use crate::predictor::NetPredictor;
use crate::{DeviceChoice, Error, Result};

/// How to open a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// EMA (default) or raw weights.
    pub weights: Weights,
    /// Device (CPU by default).
    pub device: DeviceChoice,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            weights: Weights::Ema,
            device: DeviceChoice::Cpu,
        }
    }
}

/// Which Γ cache a policy may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// Only a cache estimated with the same M and seed.
    Exact,
    /// Any cache of this checkpoint step.
    Any,
    /// Always estimate.
    Never,
}

/// Where Γ is cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GammaCache {
    /// `gamma.json` in the checkpoint's cache folder ([`Checkpoint::cache_dir`]: beside it,
    /// except for the repository's shipped models).
    Beside,
    /// `gamma.json` in this folder (created when missing).
    In(PathBuf),
    /// Nowhere: estimate every time, write nothing.
    Off,
}

/// How [`Checkpoint::gamma`] gets Γ: from a cache when `reuse` allows, else estimated from
/// `m` training rows with `seed` and written to `cache`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GammaPolicy {
    /// Monte-Carlo rows M of an estimate.
    pub m: usize,
    /// Seed of the row choice and the noise.
    pub seed: u64,
    /// Which cache is good enough.
    pub reuse: Reuse,
    /// Where the cache lives.
    pub cache: GammaCache,
}

impl GammaPolicy {
    /// Estimate from `m` rows with `seed`, read and write no cache.
    pub fn uncached(m: usize, seed: u64) -> Self {
        Self {
            m,
            seed,
            reuse: Reuse::Never,
            cache: GammaCache::Off,
        }
    }
}

/// The network behind a checkpoint (one kind today).
enum Network {
    /// An ε-network trained by kexue (`checkpoint.json` + `model.safetensors`).
    EpsNet { meta: CheckpointMeta, model: Model },
}

/// An opened checkpoint folder (module docs).
pub struct Checkpoint {
    dir: PathBuf,
    device: Device,
    schedule: Schedule,
    net: Network,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("dir", &self.dir)
            .field("step", &self.step())
            .finish_non_exhaustive()
    }
}

impl Checkpoint {
    /// Opens `dir` with the EMA weights on the CPU.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] for a missing or corrupt folder (see
    /// [`checkpoint::load_model`]).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, OpenOptions::default())
    }

    /// Opens `dir` with `options`.
    ///
    /// # Errors
    /// As [`Checkpoint::open`]; [`Error::Config`] for an unavailable device.
    pub fn open_with(dir: impl AsRef<Path>, options: OpenOptions) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let device = crate::device(options.device)?;
        let (meta, model) = checkpoint::load_model(&dir, options.weights, &device)?;
        let schedule = meta.schedule.build()?;
        Ok(Self {
            dir,
            device,
            schedule,
            net: Network::EpsNet { meta, model },
        })
    }

    /// Where caches of this checkpoint (Γ, the default `eval.json`) go: the checkpoint folder
    /// itself, except for a checkpoint shipped in the repository's `models/` folder, whose
    /// caches go to `artifacts/cache/<name>` under the working directory, so the shipped
    /// folder is never written.
    pub fn cache_dir(&self) -> PathBuf {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../models")
            .canonicalize();
        match (shipped, self.dir.canonicalize()) {
            (Ok(models), Ok(dir)) if dir.starts_with(&models) => {
                let name = dir
                    .file_name()
                    .map_or_else(|| "model".into(), |n| n.to_owned());
                Path::new("artifacts/cache").join(name)
            }
            _ => self.dir.clone(),
        }
    }

    /// The folder, as given to `open`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The device the network runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The noise schedule the network was trained with.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The kexue metadata (`checkpoint.json`) of a kexue-trained network.
    pub fn meta(&self) -> Option<&CheckpointMeta> {
        match &self.net {
            Network::EpsNet { meta, .. } => Some(meta),
        }
    }

    /// The kexue ε-network.
    pub fn model(&self) -> Option<&Model> {
        match &self.net {
            Network::EpsNet { model, .. } => Some(model),
        }
    }

    /// Training step of the weights.
    pub fn step(&self) -> u64 {
        match &self.net {
            Network::EpsNet { meta, .. } => meta.step,
        }
    }

    /// Shape of one data row.
    pub fn shape(&self) -> DataShape {
        match &self.net {
            Network::EpsNet { meta, .. } => meta.data.shape,
        }
    }

    /// Row dimension d.
    pub fn dim(&self) -> usize {
        self.shape().dim()
    }

    /// Discrete levels L of the data (`None`: continuous).
    pub fn levels(&self) -> Option<u32> {
        match &self.net {
            Network::EpsNet { meta, .. } => meta.data.levels,
        }
    }

    /// The `--data` spec of the training data.
    pub fn data_spec(&self) -> &str {
        match &self.net {
            Network::EpsNet { meta, .. } => &meta.data.spec,
        }
    }

    /// Number of network parameters.
    pub fn n_params(&self) -> usize {
        match &self.net {
            Network::EpsNet { model, .. } => model.n_params(),
        }
    }

    /// The network as an ε-predictor ([`pipeline::MAX_BATCH`] rows per call).
    pub fn predictor(&self) -> Box<dyn EpsPredictor + '_> {
        self.predictor_batched(pipeline::MAX_BATCH)
    }

    /// The network as an ε-predictor with at most `max_batch` rows per call.
    pub fn predictor_batched(&self, max_batch: usize) -> Box<dyn EpsPredictor + '_> {
        match &self.net {
            Network::EpsNet { model, .. } => Box::new(NetPredictor::new(model, max_batch)),
        }
    }

    /// Loads the training data (train and held-out splits).
    ///
    /// # Errors
    /// Data errors, naming the spec.
    pub fn data(&self) -> Result<Dataset> {
        let spec: DataSpec = self.data_spec().parse()?;
        data::load(&spec)
    }

    /// The first `limit` held-out rows as f64 (all when fewer).
    ///
    /// # Errors
    /// As [`Checkpoint::data`].
    pub fn held_out(&self, limit: usize) -> Result<Vec<f64>> {
        let data = self.data()?;
        let rows = limit.min(data.n_test());
        Ok(data.test[..rows * data.dim()]
            .iter()
            .map(|&v| f64::from(v))
            .collect())
    }

    /// The covariance head of `kind` stored beside the network.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the command that trains a missing head; load errors.
    pub fn cov_head(&self, kind: CovKind) -> Result<CovNet> {
        if !cov::has_head(&self.dir, kind) {
            return Err(Error::checkpoint(
                &self.dir,
                format!(
                    "no {} covariance head here: run `kexue diffusion train-cov --ckpt {} --kind {}`",
                    cov::label(kind),
                    self.dir.display(),
                    kind.name()
                ),
            ));
        }
        match &self.net {
            Network::EpsNet { meta, model } => {
                Ok(cov::load_head(&self.dir, kind, meta, model, &self.device)?.1)
            }
        }
    }

    /// The NELBO decoder: discretised with L levels, or Gaussian; variance β̃_{1|2}.
    pub fn decoder(&self) -> Decoder {
        Decoder::official(&self.schedule, self.levels().map(|l| l as usize))
    }

    /// The plan settings for `purpose` (see [`crate::pipeline`]).
    pub fn plan_settings(&self, purpose: Purpose) -> PlanSettings {
        pipeline::plan_settings(self.levels(), purpose)
    }

    /// The plan of `sampler` for `purpose`.
    pub fn plan_config(&self, sampler: Sampler, purpose: Purpose) -> PlanConfig {
        self.plan_settings(purpose).with(sampler)
    }

    /// Γ_n for every n under `policy`; `true` when it came from a cache. `on_time(i)` follows
    /// an estimate.
    ///
    /// # Errors
    /// M = 0, a malformed cache, data or predictor errors, I/O errors writing the cache.
    pub fn gamma(
        &self,
        policy: &GammaPolicy,
        on_time: &mut dyn FnMut(usize),
    ) -> Result<(GammaFile, bool)> {
        let beside = self.cache_dir();
        let dir = match &policy.cache {
            GammaCache::Beside => Some(beside.as_path()),
            GammaCache::In(d) => Some(d.as_path()),
            GammaCache::Off => None,
        };
        let (step, n) = (self.step(), self.schedule.n_steps());
        if let Some(d) = dir {
            let want = match policy.reuse {
                Reuse::Exact => Some(Some((policy.m, policy.seed))),
                Reuse::Any => Some(None),
                Reuse::Never => None,
            };
            if let Some(want) = want
                && let Some(file) = pipeline::cached_gamma(d, step, n, want)?
            {
                return Ok((file, true));
            }
        }
        let data = self.data()?;
        let file = pipeline::estimate_gamma(self, &data.train, policy.m, policy.seed, on_time)?;
        if let Some(d) = dir {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
            pipeline::save_gamma(d, &file)?;
        }
        Ok((file, false))
    }
}
