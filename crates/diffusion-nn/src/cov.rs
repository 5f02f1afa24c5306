//! Covariance heads of SN-DPM and NPR-DPM (spec §7.1–7.2): a second network, trained with the
//! ε-network frozen, that predicts a per-dimension second moment of the noise given x_t.
//!
//! Paper-E's option of a *second network*: the head has the architecture of the checkpoint's own
//! ε-network ([`EpsNetConfig`] from `checkpoint.json`), fresh weights, and its output goes
//! through a softplus so that it is ≥ 0 like the moments it estimates:
//!
//! | kind | head | target of the regression | loss per row |
//! |---|---|---|---|
//! | `sn` | h(x_t, n) = softplus(f_φ(x_t, n)) | ε⊙ε, whose conditional mean is E[ε⊙ε \| x_t] | ‖h − ε⊙ε‖² |
//! | `npr` | g(x_t, n) = softplus(f_φ(x_t, n)) | (ε − ε̂_θ(x_t, n))⊙², ε̂_θ frozen (EMA weights) | ‖g − (ε − ε̂_θ)⊙²‖² |
//!
//! (spec §7.2: the paper's loss `sos(target − head)`, squared norm summed over dimensions, mean
//! over the batch; the ε term of the paper's loss has no gradient with the ε-network frozen and
//! is left out.) Batches are drawn exactly as in ε-training ([`crate::train`]): row x_0,
//! n ~ U{1..N}, ε ~ N(0, I), x_n = √ᾱ_n x_0 + √β̄_n ε, from an RNG seeded by (seed, step), and
//! the optimisation is the same loop ([`crate::train`]'s AdamW, warm-up, clipping, EMA,
//! checkpoints, bit-identical resume, stop on a non-finite loss).
//!
//! # Files (in the ε-checkpoint folder)
//!
//! A head of `kind` is a generation folder `cov-<kind>/gen-<step>/` with a pointer
//! `cov-<kind>/CURRENT`, written as ε-checkpoints are (crash-safe, see [`crate::checkpoint`]).
//! A head stored flat beside `checkpoint.json` (the shipped `models/digits`, or a head written
//! by an older build) is read when there is no such folder. Each generation holds:
//!
//! | file | contents |
//! |---|---|
//! | `cov-<kind>.json` | [`CovHeadMeta`]: kind, step, network, training settings, and the ε-weights it was trained against (step + hash of the EMA tensors) |
//! | `cov-<kind>.safetensors` | `ema.<name>`: the EMA weights used for sampling, and `kexue.step` |
//! | `cov-<kind>.train.safetensors` | raw weights `<name>`, `adam.m.<name>`, `adam.v.<name>` and `kexue.step`, needed only by `--resume` |
//!
//! Loading checks the step stamps agree, the tensor shapes, and that the ε-weights beside the
//! head are the ones it was trained against. A shipped head needs only the first two files.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use diffusion::NoiseLevel;
use diffusion::covariance::{CovKind, CovPredictor};
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{
    self, CheckpointMeta, Content, StateTensors, TensorFile, TrainState, Weights,
};
use crate::config::{ScheduleConfig, TrainConfig, TrainOverrides};
use crate::data::Dataset;
use crate::model::{EpsNetConfig, Model};
use crate::predictor::predict_rows;
use crate::train::{LoopStart, Noiser, Progress, Start, TrainReport, optimise};
use crate::{Error, Result};

/// Version of the head file layout.
pub const COV_FORMAT: u32 = 1;
/// The output non-linearity recorded in [`CovHeadMeta::output`].
pub const OUTPUT: &str = "softplus";

/// The three file names of a head of `kind`: (JSON, EMA weights, training state).
pub fn head_files(kind: CovKind) -> (String, String, String) {
    let k = kind.name();
    (
        format!("cov-{k}.json"),
        format!("cov-{k}.safetensors"),
        format!("cov-{k}.train.safetensors"),
    )
}

/// The folder a head of `kind` is written to: `dir/cov-<kind>` (of generation folders).
pub fn head_root(dir: &Path, kind: CovKind) -> PathBuf {
    dir.join(format!("cov-{}", kind.name()))
}

/// The folder holding the files of the head of `kind` of the checkpoint `dir`: the current
/// generation under [`head_root`], else `dir` itself when the head's JSON is there (flat
/// layout); `None` when there is no head.
pub fn head_dir(dir: &Path, kind: CovKind) -> Option<PathBuf> {
    let (json, weights, _) = head_files(kind);
    checkpoint::resolve_generation(&head_root(dir, kind), &[&json, &weights])
        .or_else(|| dir.join(&json).is_file().then(|| dir.to_path_buf()))
}

/// Whether `dir` holds a head of `kind`.
pub fn has_head(dir: &Path, kind: CovKind) -> bool {
    head_dir(dir, kind).is_some()
}

/// Which ε-weights a head was trained against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpsPairing {
    /// Training step of the ε-checkpoint.
    pub step: u64,
    /// Which of its weights (`ema`).
    pub weights: String,
    /// [`weights_hash`] of those weights.
    pub hash: String,
}

/// The contents of `cov-<kind>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CovHeadMeta {
    /// Layout version ([`COV_FORMAT`]).
    pub format: u32,
    /// `sn` or `npr`.
    pub kind: String,
    /// Training steps done.
    pub step: u64,
    /// Output non-linearity ([`OUTPUT`]).
    pub output: String,
    /// The head's network shapes (the ε-network's own configuration).
    pub model: EpsNetConfig,
    /// The ε-checkpoint's schedule.
    pub schedule: ScheduleConfig,
    /// The `--data` spec the head was trained on.
    pub data: String,
    /// Training hyper-parameters.
    pub train: TrainConfig,
    /// Smoothed training loss at `step`.
    pub loss: Option<f64>,
    /// The ε-weights the head belongs to.
    pub eps: EpsPairing,
}

fn kind_of(name: &str, path: &Path) -> Result<CovKind> {
    match name {
        "sn" => Ok(CovKind::Sn),
        "npr" => Ok(CovKind::Npr),
        other => Err(Error::checkpoint(
            path,
            format!("unknown head kind `{other}`"),
        )),
    }
}

/// Upper-case label for messages (`SN`, `NPR`).
pub fn label(kind: CovKind) -> &'static str {
    match kind {
        CovKind::Sn => "SN",
        CovKind::Npr => "NPR",
    }
}

/// softplus(x) = ln(1 + eˣ), computed as max(x, 0) + ln(1 + e^{−|x|}) (no overflow).
///
/// # Errors
/// Candle errors.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    let tail = x.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    Ok((x.relu()? + tail)?)
}

/// A covariance head: a network of the ε-network's architecture with a softplus output.
#[derive(Debug)]
pub struct CovNet {
    kind: CovKind,
    model: Model,
}

impl CovNet {
    /// Fresh weights from `seed` (the ε-networks' seeded initialisation).
    ///
    /// # Errors
    /// As [`Model::new`].
    pub fn new(kind: CovKind, config: &EpsNetConfig, seed: u64, device: &Device) -> Result<Self> {
        Ok(CovNet {
            kind,
            model: Model::new(config, seed, device)?,
        })
    }

    /// SN or NPR.
    pub fn kind(&self) -> CovKind {
        self.kind
    }

    /// The underlying network (its raw output is the softplus's argument).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The head, ≥ 0: `[B, d]` for x_t `[B, d]` and B model times.
    ///
    /// # Errors
    /// As [`Model::forward`].
    pub fn forward(&self, x_t: &Tensor, t: &[f64]) -> Result<Tensor> {
        softplus(&self.model.forward(x_t, t)?)
    }
}

/// The architecture of a covariance head for an imported diffusers `UNet2DModel` whose
/// `config.json` text is `config` (`path` names it in errors): the same network as a kexue
/// [`EpsNetConfig::DiffusersUnet`], with one output per input channel (a learned-variance
/// model's second half is not part of the head), unconditional and without input centring,
/// so that [`CovNet::new`] builds it with fresh weights. The building block of training a head
/// against an imported ε-network.
///
/// # Errors
/// [`Error::Checkpoint`] for a configuration kexue does not implement (field named).
pub fn head_config_for_diffusers(config: &str, path: &Path) -> Result<EpsNetConfig> {
    let parsed = crate::diffusers::UNet2DConfig::from_json(config, path)?;
    let mut value: serde_json::Value = serde_json::from_str(config)
        .map_err(|e| Error::checkpoint(path, format!("not valid JSON: {e}")))?;
    if let Some(map) = value.as_object_mut() {
        map.insert("out_channels".into(), parsed.in_channels.into());
        map.insert("center_input_sample".into(), false.into());
        map.remove("num_class_embeds");
        map.remove("class_embed_type");
    }
    let (h, w) = parsed.sample_size;
    let head = crate::model::DiffusersUnetConfig {
        channels: parsed.in_channels,
        height: h,
        width: w,
        unet: value,
    };
    head.validate()?;
    Ok(EpsNetConfig::DiffusersUnet(head))
}

/// FNV-1a (64 bit) over every variable's name and f32 bytes, in name order, as 16 hex digits:
/// identifies a set of weights (equal weights ⇔ equal hash, up to collisions).
///
/// # Errors
/// Candle errors reading the tensors.
pub fn weights_hash(model: &Model) -> Result<String> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for (name, var) in model.named_vars() {
        eat(name.as_bytes());
        for v in var.as_tensor().flatten_all()?.to_vec1::<f32>()? {
            eat(&v.to_le_bytes());
        }
    }
    Ok(format!("{h:016x}"))
}

/// Reads `cov-<kind>.json`.
///
/// # Errors
/// [`Error::Checkpoint`] when it is missing, malformed, of another format or kind.
pub fn read_head_meta(dir: &Path, kind: CovKind) -> Result<CovHeadMeta> {
    let json = head_files(kind).0;
    let at = head_dir(dir, kind).unwrap_or_else(|| dir.to_path_buf());
    let (path, meta): (_, CovHeadMeta) = checkpoint::read_json(&at, &json, || {
        format!(
            "no {} covariance head here ({json} is missing)",
            label(kind)
        )
    })?;
    checkpoint::check_format(&path, meta.format, COV_FORMAT)?;
    if kind_of(&meta.kind, &path)? != kind {
        return Err(Error::checkpoint(
            &path,
            format!("holds a `{}` head, not `{}`", meta.kind, kind.name()),
        ));
    }
    if meta.output != OUTPUT {
        return Err(Error::checkpoint(
            &path,
            format!("output `{}` (this build knows `{OUTPUT}`)", meta.output),
        ));
    }
    checkpoint::check_model(&path, &meta.model)?;
    Ok(meta)
}

/// Checks that a head belongs to the ε-network `eps` of checkpoint `eps_meta`.
fn check_pairing(
    path: &Path,
    head: &CovHeadMeta,
    eps_meta: &CheckpointMeta,
    eps_hash: &str,
) -> Result<()> {
    if head.model.dim() != eps_meta.model.dim() || head.schedule != eps_meta.schedule {
        return Err(Error::checkpoint(
            path,
            format!(
                "head of dimension {} / N = {} does not fit the ε-network (dimension {}, N = {})",
                head.model.dim(),
                head.schedule.n_timesteps,
                eps_meta.model.dim(),
                eps_meta.schedule.n_timesteps
            ),
        ));
    }
    if head.eps.step != eps_meta.step || head.eps.hash != eps_hash {
        return Err(Error::checkpoint(
            path,
            format!(
                "was trained against other ε-weights (step {}, {} hash {}; these are step {}, hash \
                 {eps_hash}): train it again with `kexue diffusion train-cov --kind {}`",
                head.eps.step, head.eps.weights, head.eps.hash, eps_meta.step, head.kind
            ),
        ));
    }
    Ok(())
}

/// Loads the head of `kind` stored beside the ε-checkpoint (`eps_meta`, `eps` = its EMA
/// weights) for sampling, with its EMA weights.
///
/// # Errors
/// [`Error::Checkpoint`] when the head is missing or corrupt, its step stamps disagree, a tensor
/// is missing or has the wrong shape, or it was trained against other ε-weights.
pub fn load_head(
    dir: &Path,
    kind: CovKind,
    eps_meta: &CheckpointMeta,
    eps: &Model,
    device: &Device,
) -> Result<(CovHeadMeta, CovNet)> {
    let meta = read_head_meta(dir, kind)?;
    let dir = &head_dir(dir, kind).unwrap_or_else(|| dir.to_path_buf());
    let (json, weights, _) = head_files(kind);
    check_pairing(&dir.join(&json), &meta, eps_meta, &weights_hash(eps)?)?;
    let net = CovNet::new(kind, &meta.model, 0, device)?;
    TensorFile::open(dir.join(weights), device, meta.step, &json)?
        .set_weights(&net.model, Weights::Ema)?;
    Ok((meta, net))
}

/// Loads what `--resume` needs: metadata, the head with its raw weights, EMA and moments.
fn load_head_train_state(
    dir: &Path,
    kind: CovKind,
    device: &Device,
) -> Result<(CovHeadMeta, CovNet, TrainState)> {
    let meta = read_head_meta(dir, kind)?;
    let dir = &head_dir(dir, kind).unwrap_or_else(|| dir.to_path_buf());
    let (json, weights, train) = head_files(kind);
    let net = CovNet::new(kind, &meta.model, 0, device)?;
    let ema = TensorFile::open(dir.join(weights), device, meta.step, &json)?;
    let tr = TensorFile::open(dir.join(train), device, meta.step, &json).map_err(|e| match e {
        Error::Checkpoint { path, msg } if msg == "file is missing" => Error::checkpoint(
            path,
            "is missing: this head holds EMA weights only and cannot be resumed",
        ),
        other => other,
    })?;
    tr.set_weights(&net.model, Weights::Raw)?;
    let state = TrainState::load(&net.model.named_vars(), &ema, &tr)?;
    Ok((meta, net, state))
}

/// The training settings of a head run: for [`Start::Fresh`] the defaults with `overrides`
/// (no head of `kind` may exist yet), for [`Start::Resume`] the stored head's settings with
/// `overrides` applied as [`TrainOverrides::resume`] (as for ε-networks).
///
/// # Errors
/// [`Error::Checkpoint`] for an existing head on a fresh run or a missing one on resume
/// (naming the command that trains it); [`Error::Config`] for a changed setting or a total of
/// steps not above the stored step.
pub fn head_train_config(
    dir: &Path,
    kind: CovKind,
    overrides: &TrainOverrides,
    start: Start,
) -> Result<TrainConfig> {
    let exists = has_head(dir, kind);
    match start {
        Start::Fresh if exists => Err(Error::checkpoint(
            dir,
            format!(
                "already holds an {} head: continue it with --resume, or remove {}",
                label(kind),
                head_dir(dir, kind)
                    .map_or_else(|| dir.to_path_buf(), |d| d.join(head_files(kind).0))
                    .display()
            ),
        )),
        Start::Fresh => {
            let mut train = TrainConfig::default();
            overrides.apply(&mut train);
            Ok(train)
        }
        Start::Resume if !exists => Err(Error::checkpoint(
            dir,
            format!(
                "--resume: no {} covariance head here: run `kexue diffusion train-cov --ckpt {} \
                 --kind {}`",
                label(kind),
                dir.display(),
                kind.name()
            ),
        )),
        Start::Resume => {
            let head = read_head_meta(dir, kind)?;
            let what = format!("the {} head in {}", label(kind), dir.display());
            overrides.resume(&head.train, head.step, &what)
        }
    }
}

/// What a `train-cov` run did, for reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeadReport {
    /// The ε-checkpoint folder.
    pub checkpoint: String,
    /// `sn` or `npr`.
    pub kind: &'static str,
    /// First step of this run.
    pub first_step: u64,
    /// Last step (the head's step).
    pub last_step: u64,
    /// Wall time.
    pub seconds: f64,
    /// Steps per second.
    pub steps_per_sec: f64,
    /// Smoothed loss at the end.
    pub smoothed_loss: f64,
    /// Parameters of the head.
    pub n_params: usize,
    /// The three head files.
    pub files: Vec<String>,
}

impl HeadReport {
    /// The report of `report`, a run of the `kind` head in `dir` (the files of its current
    /// generation).
    pub fn new(dir: &Path, kind: CovKind, report: &TrainReport) -> Self {
        let (json, weights, train_file) = head_files(kind);
        let at = head_dir(dir, kind).unwrap_or_else(|| head_root(dir, kind));
        Self {
            checkpoint: dir.display().to_string(),
            kind: kind.name(),
            first_step: report.first_step,
            last_step: report.last_step,
            seconds: report.seconds,
            steps_per_sec: (report.last_step + 1 - report.first_step) as f64
                / report.seconds.max(1e-9),
            smoothed_loss: report.smoothed_loss,
            n_params: report.n_params,
            files: [json, weights, train_file]
                .iter()
                .map(|f| at.join(f).display().to_string())
                .collect(),
        }
    }
}

impl std::fmt::Display for HeadReport {
    /// One sentence: head, parameters, steps, time, loss, files.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "trained the {} head ({} parameters) steps {}..{} in {:.1}s ({:.1} steps/s), \
             smoothed loss {:.4}; wrote {}",
            self.kind.to_uppercase(),
            self.n_params,
            self.first_step,
            self.last_step,
            self.seconds,
            self.steps_per_sec,
            self.smoothed_loss,
            self.files.join(", ")
        )
    }
}

/// Trains (or resumes) the head of `kind` for the ε-checkpoint in `dir` (EMA weights, frozen) on
/// `data` (the checkpoint's training data), writing the head files into `dir`.
///
/// # Errors
/// [`Error::Config`] for invalid settings or data that do not fit the network;
/// [`Error::Checkpoint`] when `dir` is not a checkpoint, `Start::Fresh` finds a head of this
/// kind, or `Start::Resume` finds none, a different configuration, or other ε-weights;
/// [`Error::NonFiniteLoss`] as in [`crate::train::train`] (the last good head stays); I/O and
/// candle errors.
pub fn train_cov(
    kind: CovKind,
    cfg: &TrainConfig,
    dir: &Path,
    data: &Dataset,
    start: Start,
    device: &Device,
    on_step: &mut dyn FnMut(&Progress),
) -> Result<TrainReport> {
    cfg.validate()?;
    let eps_meta = checkpoint::read_meta(dir)?;
    // Head, frozen ε-network and their batches must fit (checked before loading anything).
    crate::train::check_run(cfg, &eps_meta.model, eps_meta.schedule.n_timesteps)?;
    let (eps_meta, eps) = checkpoint::load_model(dir, Weights::Ema, device)?;
    if eps_meta.model.dim() != data.dim() {
        return Err(Error::config(
            "data",
            format!(
                "rows of {} values do not fit the network's dimension {}",
                data.dim(),
                eps_meta.model.dim()
            ),
        ));
    }
    if data.n_train() == 0 {
        return Err(Error::config("data", "no training rows"));
    }
    let schedule = eps_meta.schedule.build()?;
    let eps_hash = weights_hash(&eps)?;
    let (json, weights, train_file) = head_files(kind);
    let (net, from) = match start {
        Start::Fresh => {
            if has_head(dir, kind) {
                return Err(Error::checkpoint(
                    dir,
                    format!(
                        "already holds an {} head ({json}): resume it (--resume) or remove it",
                        label(kind)
                    ),
                ));
            }
            let net = CovNet::new(kind, &eps_meta.model, cfg.seed, device)?;
            let from = LoopStart::fresh(&net.model.named_vars())?;
            (net, from)
        }
        Start::Resume => {
            let (meta, net, state) = load_head_train_state(dir, kind, device)?;
            let at = head_dir(dir, kind).unwrap_or_else(|| dir.to_path_buf());
            check_pairing(&at.join(&json), &meta, &eps_meta, &eps_hash)?;
            if meta.model != eps_meta.model || meta.data != data.spec.to_string() {
                return Err(Error::checkpoint(
                    at.join(&json),
                    "was trained with another network or data",
                ));
            }
            (net, LoopStart::resumed(state, meta.step, meta.loss))
        }
    };
    let vars = net.model.named_vars();
    let noiser = Noiser::new(&schedule);
    let mut loss_of = |rng: &mut StdRng| -> Result<Tensor> {
        let batch = noiser.draw(rng, data, cfg.batch_size, device)?;
        let target = match kind {
            CovKind::Sn => batch.eps.sqr()?,
            CovKind::Npr => {
                let eps_hat = eps.forward(&batch.x_t, &batch.times)?.detach();
                (&batch.eps - eps_hat)?.sqr()?
            }
        };
        let head = net.forward(&batch.x_t, &batch.times)?;
        Ok((head - target)?.sqr()?.sum(1)?.mean(0)?)
    };
    let pairing = EpsPairing {
        step: eps_meta.step,
        weights: "ema".to_string(),
        hash: eps_hash.clone(),
    };
    let mut save = |step: u64, smoothed: f64, state: &TrainState| -> Result<()> {
        let meta = CovHeadMeta {
            format: COV_FORMAT,
            kind: kind.name().to_string(),
            step,
            output: OUTPUT.to_string(),
            model: eps_meta.model.clone(),
            schedule: eps_meta.schedule,
            data: data.spec.to_string(),
            train: cfg.clone(),
            loss: Some(smoothed),
            eps: pairing.clone(),
        };
        let StateTensors {
            raw: mut train,
            ema,
            moments,
        } = state.to_tensors(&vars)?;
        train.extend(moments);
        let text = serde_json::to_string_pretty(&meta).expect("head metadata always serialises");
        checkpoint::write_generation(
            &head_root(dir, kind),
            step,
            vec![
                (json.clone(), Content::Json(text)),
                (weights.clone(), Content::Tensors(ema)),
                (train_file.clone(), Content::Tensors(train)),
            ],
        )?;
        Ok(())
    };
    optimise(cfg, &vars, from, &mut loss_of, &mut save, on_step)
}

/// A trained head as a [`diffusion::covariance::CovPredictor`]: f64 rows in, f32 network, f64
/// moments out, at most `max_batch` rows per forward pass.
#[derive(Debug)]
pub struct NetCovPredictor<'a> {
    head: &'a CovNet,
    max_batch: usize,
}

impl<'a> NetCovPredictor<'a> {
    /// A predictor evaluating at most `max_batch` (≥ 1) rows per network call.
    pub fn new(head: &'a CovNet, max_batch: usize) -> Self {
        NetCovPredictor {
            head,
            max_batch: max_batch.max(1),
        }
    }
}

impl CovPredictor for NetCovPredictor<'_> {
    fn cov_dim(&self) -> usize {
        self.head.model.config().dim()
    }

    fn predict_cov(
        &self,
        kind: CovKind,
        x_t: &[f64],
        level: NoiseLevel,
        out: &mut [f64],
    ) -> diffusion::Result<()> {
        if kind != self.head.kind {
            return Err(diffusion::Error::Invalid {
                what: "covariance head",
                msg: format!(
                    "an {} head cannot answer for {}",
                    label(self.head.kind),
                    label(kind)
                ),
            });
        }
        let head = self.head;
        predict_rows(x_t, level, out, &head.model, self.max_batch, |x, t| {
            head.forward(x, t)
        })
    }
}
