//! An opened checkpoint ([`Checkpoint`]): the network as a `diffusion::EpsPredictor`, its
//! schedule, Γ under a cache policy ([`GammaPolicy`]), its covariance heads, NELBO decoder,
//! plan settings and data, behind one value that the [`crate::pipeline`] functions take.
//!
//! The network kind is private: an ε-network trained by [`crate::train`] (a folder with
//! `checkpoint.json`), or a pretrained diffusers `UNet2DModel` folder (model or pipeline layout,
//! see [`crate::diffusers`]), detected from the files. An imported folder holds no data: Γ,
//! NELBO, likelihood and energy distances take images given with [`OpenOptions::data`] (checked
//! against `in_channels` × `sample_size`); the data of a Γ cache are remembered with it, so a
//! later command on the same folder finds them. Caches of an imported folder go to
//! `artifacts/cache/NAME-HASH` under the working directory ([`Checkpoint::cache_dir`]): the
//! model folder is never written.
//!
//! Example: the crate-level docs.

use std::path::{Path, PathBuf};

use candle_core::Device;
use diffusion::covariance::CovKind;
use diffusion::{Decoder, EpsPredictor, PlanConfig, PlanSettings, Sampler, Schedule};

use crate::checkpoint::{self, CheckpointMeta, Weights};
use crate::cov::{self, CovNet};
use crate::data::{self, DataShape, DataSpec, Dataset};
use crate::diffusers::{self, ClassLabels, EpsView, Pretrained};
use crate::model::Model;
use crate::pipeline::{self, GammaFile, Purpose};
use crate::predictor::NetPredictor;
use crate::{DeviceChoice, Error, Result};

/// How to open a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// EMA (default) or raw weights (a diffusers folder has one set: `Raw` is refused).
    pub weights: Weights,
    /// Device (CPU by default).
    pub device: DeviceChoice,
    /// Data for Γ, NELBO, likelihood and energy distances instead of the checkpoint's own
    /// (needed once for an imported diffusers folder, which holds none; see the module docs).
    pub data: Option<DataSpec>,
    /// The class of a class-conditional model (`num_class_embeds`), required for one and
    /// refused for any other.
    pub class: Option<u32>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            weights: Weights::Ema,
            device: DeviceChoice::Cpu,
            data: None,
            class: None,
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

/// The network behind a checkpoint.
#[allow(clippy::large_enum_variant)] // one value per opened checkpoint
enum Network {
    /// An ε-network trained by kexue (`checkpoint.json` + `model.safetensors`).
    EpsNet { meta: CheckpointMeta, model: Model },
    /// A pretrained diffusers `UNet2DModel` with its scheduler and the class to condition on.
    Diffusers {
        pre: Box<Pretrained>,
        labels: ClassLabels,
    },
}

/// An opened checkpoint folder (module docs).
pub struct Checkpoint {
    dir: PathBuf,
    device: Device,
    schedule: Schedule,
    net: Network,
    /// Data given at open (or remembered by the Γ cache of an imported folder).
    data: Option<DataSpec>,
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
        if diffusers::detect(&dir).is_some() {
            return Self::open_diffusers(dir, device, options);
        }
        if let Some(c) = options.class {
            if !dir.join(checkpoint::META_FILE).is_file() {
                // Let the loader name what is missing.
                checkpoint::load_model(&dir, options.weights, &device)?;
            }
            return Err(Error::config(
                "class",
                format!(
                    "--class {c}: {} is a kexue checkpoint, which is not class-conditional",
                    dir.display()
                ),
            ));
        }
        let (meta, model) = checkpoint::load_model(&dir, options.weights, &device)?;
        let schedule = meta.schedule.build()?;
        let ck = Self {
            dir,
            device,
            schedule,
            net: Network::EpsNet { meta, model },
            data: options.data,
        };
        if ck.data.is_some() {
            ck.check_shape(&ck.data()?.shape)?;
        }
        Ok(ck)
    }

    fn open_diffusers(dir: PathBuf, device: Device, options: OpenOptions) -> Result<Self> {
        if options.weights == Weights::Raw {
            return Err(Error::config(
                "weights",
                format!(
                    "{} is a diffusers folder, which has one set of weights: leave out --raw-weights",
                    dir.display()
                ),
            ));
        }
        let pre = diffusers::load(&dir, &device)?;
        let schedule = pre.scheduler.schedule()?;
        let n_classes = pre.unet.config().num_class_embeds;
        let labels = match (n_classes, options.class) {
            (None, None) => ClassLabels::None,
            (Some(n), None) => {
                return Err(Error::config(
                    "class",
                    format!(
                        "{} is class-conditional ({n} classes, num_class_embeds): give --class N \
                         with N in 0..{n}",
                        dir.display()
                    ),
                ));
            }
            (None, Some(c)) => {
                return Err(Error::config(
                    "class",
                    format!(
                        "--class {c}: {} is not class-conditional (no num_class_embeds)",
                        dir.display()
                    ),
                ));
            }
            (Some(n), Some(c)) if c as usize >= n => {
                return Err(Error::config(
                    "class",
                    format!(
                        "--class {c} is outside 0..{n} ({} has {n} classes)",
                        dir.display()
                    ),
                ));
            }
            (Some(_), Some(c)) => ClassLabels::All(c),
        };
        let mut ck = Self {
            dir,
            device,
            schedule,
            net: Network::Diffusers {
                pre: Box::new(pre),
                labels,
            },
            data: options.data,
        };
        match &ck.data {
            Some(_) => {
                ck.check_shape(&ck.data()?.shape)?;
            }
            None => ck.data = ck.remembered_data(),
        }
        Ok(ck)
    }

    /// The data recorded in this folder's Γ cache (imported folders).
    fn remembered_data(&self) -> Option<DataSpec> {
        let path = self.cache_dir().join(pipeline::GAMMA_FILE);
        let text = std::fs::read_to_string(path).ok()?;
        let file: GammaFile = serde_json::from_str(&text).ok()?;
        file.data?.parse().ok()
    }

    /// Checks data of `shape` against the network.
    fn check_shape(&self, shape: &DataShape) -> Result<()> {
        match &self.net {
            Network::Diffusers { pre, .. } => diffusers::check_images(pre.unet.config(), shape),
            Network::EpsNet { meta, .. } if meta.data.shape != *shape => Err(Error::config(
                "data",
                format!(
                    "rows of shape {shape:?}, the checkpoint was trained on {:?}",
                    meta.data.shape
                ),
            )),
            Network::EpsNet { .. } => Ok(()),
        }
    }

    /// The data a Γ of this checkpoint is estimated from, as recorded in its cache: `None`
    /// for a kexue checkpoint's own training data.
    pub(crate) fn gamma_data_tag(&self) -> Option<String> {
        (self.is_imported() || self.data.is_some()).then(|| self.data_spec())
    }

    /// Whether the network is an imported diffusers folder.
    pub fn is_imported(&self) -> bool {
        matches!(self.net, Network::Diffusers { .. })
    }

    /// The diffusers model and scheduler of an imported folder.
    pub fn pretrained(&self) -> Option<&Pretrained> {
        match &self.net {
            Network::Diffusers { pre, .. } => Some(pre),
            Network::EpsNet { .. } => None,
        }
    }

    /// The network as an ε-predictor that also reads its learned-variance output (improved
    /// DDPM's v ∈ [−1, 1]): `None` unless the network is an imported model with
    /// `out_channels` = 2·`in_channels`.
    pub fn learned_variance(&self, max_batch: usize) -> Option<EpsView<'_>> {
        match &self.net {
            Network::Diffusers { pre, labels } if pre.unet.config().learned_variance() => Some(
                EpsView::new_checked(&pre.unet, pre.scheduler.prediction_type, labels, max_batch),
            ),
            _ => None,
        }
    }

    /// Where caches of this checkpoint (Γ, the default `eval.json`) go: the checkpoint folder
    /// itself, except for a checkpoint shipped in the repository's `models/` folder, whose
    /// caches go to `artifacts/cache/<name>` under the working directory, so the shipped
    /// folder is never written.
    pub fn cache_dir(&self) -> PathBuf {
        if let Network::Diffusers { labels, .. } = &self.net {
            return imported_cache_dir(&self.dir, labels);
        }
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
            Network::Diffusers { .. } => None,
        }
    }

    /// The kexue ε-network.
    pub fn model(&self) -> Option<&Model> {
        match &self.net {
            Network::EpsNet { model, .. } => Some(model),
            Network::Diffusers { .. } => None,
        }
    }

    /// Training step of the weights (0 for an imported folder).
    pub fn step(&self) -> u64 {
        match &self.net {
            Network::EpsNet { meta, .. } => meta.step,
            Network::Diffusers { .. } => 0,
        }
    }

    /// Shape of one data row.
    pub fn shape(&self) -> DataShape {
        match &self.net {
            Network::EpsNet { meta, .. } => meta.data.shape,
            Network::Diffusers { pre, .. } => {
                let c = pre.unet.config();
                DataShape::Image {
                    channels: c.in_channels,
                    height: c.sample_size.0,
                    width: c.sample_size.1,
                }
            }
        }
    }

    /// The schedule's name (`linear`, `cosine`, or the diffusers `beta_schedule`).
    pub fn schedule_name(&self) -> String {
        match &self.net {
            Network::EpsNet { meta, .. } => meta.schedule.kind.to_string(),
            Network::Diffusers { pre, .. } => pre.scheduler.beta_schedule.name().to_string(),
        }
    }

    /// Row dimension d.
    pub fn dim(&self) -> usize {
        self.shape().dim()
    }

    /// Discrete levels L of the data (`None`: continuous; 256 for an imported image model
    /// unless its data say otherwise).
    pub fn levels(&self) -> Option<u32> {
        match (&self.net, &self.data) {
            (_, Some(spec)) => spec.levels(),
            (Network::EpsNet { meta, .. }, None) => meta.data.levels,
            (Network::Diffusers { .. }, None) => Some(256),
        }
    }

    /// The `--data` spec of the data (the training data of a kexue checkpoint unless other
    /// data were given; empty for an imported folder without data).
    pub fn data_spec(&self) -> String {
        match (&self.net, &self.data) {
            (_, Some(spec)) => spec.to_string(),
            (Network::EpsNet { meta, .. }, None) => meta.data.spec.clone(),
            (Network::Diffusers { .. }, None) => String::new(),
        }
    }

    /// Number of network parameters.
    pub fn n_params(&self) -> usize {
        match &self.net {
            Network::EpsNet { model, .. } => model.n_params(),
            Network::Diffusers { pre, .. } => pre.unet.n_params(),
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
            Network::Diffusers { pre, labels } => Box::new(EpsView::new_checked(
                &pre.unet,
                pre.scheduler.prediction_type,
                labels,
                max_batch,
            )),
        }
    }

    /// Loads the data (train and held-out splits), checked against the network.
    ///
    /// # Errors
    /// Data errors, naming the spec; [`Error::Config`] for an imported folder without data,
    /// or data of another shape than the network's.
    pub fn data(&self) -> Result<Dataset> {
        let spec: DataSpec = match (&self.data, &self.net) {
            (Some(spec), _) => spec.clone(),
            (None, Network::EpsNet { meta, .. }) => meta.data.spec.parse()?,
            (None, Network::Diffusers { .. }) => {
                let (c, h, w) = match self.shape() {
                    DataShape::Image {
                        channels,
                        height,
                        width,
                    } => (channels, height, width),
                    DataShape::Vector { dim } => (1, 1, dim),
                };
                return Err(Error::config(
                    "data",
                    format!(
                        "{} is a diffusers model folder, which holds no data: give {c}×{h}×{w} \
                         images with --data png:FOLDER (or cifar10:PATH, mnist:PATH), e.g. \
                         `kexue diffusion gamma --ckpt {} --data png:FOLDER`; the data of a Γ \
                         cache are remembered for later commands on this folder",
                        self.dir.display(),
                        self.dir.display()
                    ),
                ));
            }
        };
        let data = data::load(&spec)?;
        self.check_shape(&data.shape)?;
        Ok(data)
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
        if self.is_imported() {
            return Err(Error::checkpoint(
                &self.dir,
                format!(
                    "a diffusers model has no {} covariance head: train one with `kexue diffusion \
                     train-cov --ckpt {} --kind {} --data png:FOLDER`, or use a sampler without \
                     a head (analytic-ddpm, learned-ddpm for a learned-variance model, …)",
                    cov::label(kind),
                    self.dir.display(),
                    kind.name()
                ),
            ));
        }
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
            Network::Diffusers { .. } => Err(Error::checkpoint(&self.dir, "no covariance head")),
        }
    }

    /// The NELBO decoder: discretised with L levels, or Gaussian; variance β̃_{1|2}.
    pub fn decoder(&self) -> Decoder {
        Decoder::official(&self.schedule, self.levels().map(|l| l as usize))
    }

    /// The plan settings for `purpose` (see [`crate::pipeline`]); an imported model clips x̂₀
    /// as its scheduler does (`clip_sample`, `clip_sample_range`) and uses the network's ε̂
    /// next to a clipped x̂₀, as diffusers' schedulers do.
    pub fn plan_settings(&self, purpose: Purpose) -> PlanSettings {
        let mut settings = pipeline::plan_settings(self.levels(), purpose);
        if let Network::Diffusers { pre, .. } = &self.net {
            settings.x0_clip = pre.scheduler.x0_clip();
            settings.eps_form = diffusion::EpsForm::Predicted;
        }
        settings
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
                && file.data == self.gamma_data_tag()
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

/// `artifacts/cache/NAME-HASH[-classC]` under the working directory for an imported folder:
/// HASH (FNV-1a, 64 bits) covers the canonical folder path and the size and modification time
/// of its weights, so two folders of one name, or new weights in the same folder, never share
/// a Γ cache.
fn imported_cache_dir(dir: &Path, labels: &ClassLabels) -> PathBuf {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut key = canonical.display().to_string();
    for weights in [
        dir.join(diffusers::WEIGHTS_FILE),
        dir.join("unet").join(diffusers::WEIGHTS_FILE),
    ] {
        if let Ok(m) = std::fs::metadata(&weights) {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            key += &format!("|{}|{mtime}", m.len());
        }
    }
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let name = canonical
        .file_name()
        .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    let class = match labels {
        ClassLabels::All(c) => format!("-class{c}"),
        _ => String::new(),
    };
    Path::new("artifacts/cache").join(format!("{name}-{:08x}{class}", hash >> 32))
}
