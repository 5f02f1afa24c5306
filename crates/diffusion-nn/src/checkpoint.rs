//! Checkpoints: a folder with `checkpoint.json` (configuration and step), `model.safetensors`
//! (weights and EMA weights) and, for `--resume`, `optim.safetensors` (AdamW moments).
//!
//! Tensor names (f32, loadable in PyTorch with `safetensors.torch.load_file`):
//!
//! | file | name | meaning |
//! |---|---|---|
//! | `model.safetensors` | `<layer path>.weight`, `<layer path>.bias` | raw weights, e.g. `down.0.res.1.conv1.weight` (`[out, in, 3, 3]`), `layers.0.weight` (`[out, in]`) |
//! | `model.safetensors` | `ema.<same name>` | exponential moving average of the weights (used for sampling) |
//! | `optim.safetensors` | `adam.m.<name>`, `adam.v.<name>` | AdamW first and second moments |
//! | both | `kexue.step` | i64 `[1]`, the step the file belongs to |
//!
//! # Crash-safe layout (generations)
//!
//! Training writes every checkpoint as a complete *generation* folder and switches one pointer
//! file, the same design as `cws train` (`cws::ckpt`):
//!
//! ```text
//! OUT/gen-00000250/{checkpoint.json, model.safetensors, optim.safetensors}
//! OUT/gen-00000500/…
//! OUT/CURRENT          "gen-00000500\n"
//! ```
//!
//! Generation k is written into `OUT/gen-k.partial/` (each file flushed to disk), renamed to
//! `OUT/gen-k` (atomic), then `CURRENT` is replaced by an atomic rename of `CURRENT.tmp`; only
//! then are older generations removed, keeping the previous one. A kill at any moment therefore
//! leaves `CURRENT` naming a complete generation (or no `CURRENT` yet, before the first
//! checkpoint). [`resolve`] follows `CURRENT`, falls back to the newest complete `gen-*` folder
//! when `CURRENT` is missing or names an incomplete folder, and otherwise reads the folder itself:
//! the flat layout of older checkpoints and of the shipped `models/digits` still loads.
//! Covariance heads use the same scheme in a subfolder `cov-<kind>/` ([`crate::cov`]).
//!
//! Files are created with the process umask (normally 0644), not the 0600 of a temporary file.
//! The step stamps are still checked on loading, so a hand-mixed folder is reported instead of
//! silently mixing two steps.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::{ScheduleConfig, TrainConfig};
use crate::data::DataShape;
use crate::model::{EpsNetConfig, Model};
use crate::{Error, Result};

/// Version of the checkpoint layout.
pub const FORMAT: u32 = 1;
/// Name of the JSON file.
pub const META_FILE: &str = "checkpoint.json";
/// Name of the weights file.
pub const MODEL_FILE: &str = "model.safetensors";
/// Name of the optimizer-state file.
pub const OPTIM_FILE: &str = "optim.safetensors";
const STEP_TENSOR: &str = "kexue.step";
/// Name prefix of the EMA weights.
const EMA: &str = "ema.";
/// Name prefixes of the AdamW moments.
const ADAM_M: &str = "adam.m.";
const ADAM_V: &str = "adam.v.";

/// What the data looked like (enough to reload the held-out split and pick the decoder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// The `--data` spec (`digits`, `moons`, `mnist:PATH`, …).
    pub spec: String,
    /// Shape of one row.
    pub shape: DataShape,
    /// Discrete levels L (`None` for continuous data).
    pub levels: Option<u32>,
}

/// The contents of `checkpoint.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Layout version ([`FORMAT`]).
    pub format: u32,
    /// Training steps done.
    pub step: u64,
    /// Network shapes.
    pub model: EpsNetConfig,
    /// Noise schedule.
    pub schedule: ScheduleConfig,
    /// Data description.
    pub data: DataInfo,
    /// Training hyper-parameters.
    pub train: TrainConfig,
    /// Smoothed training loss at `step` (sum over dimensions, mean over the batch).
    pub loss: Option<f64>,
}

/// Which weights to load for inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// The EMA weights (`ema.*`), as used for sampling.
    Ema,
    /// The raw weights.
    Raw,
}

/// Model tensors, EMA tensors and optimizer moments, in the order of [`Model::named_vars`].
#[derive(Debug)]
pub(crate) struct TrainState {
    pub ema: Vec<Tensor>,
    pub adam_m: Vec<Tensor>,
    pub adam_v: Vec<Tensor>,
}

impl TrainState {
    /// The state before step 1: EMA = the initial weights, zero moments.
    pub(crate) fn fresh(vars: &[(String, candle_core::Var)]) -> Result<Self> {
        let mut state = TrainState {
            ema: vec![],
            adam_m: vec![],
            adam_v: vec![],
        };
        for (_, var) in vars {
            state.ema.push(var.as_tensor().detach().copy()?);
            state.adam_m.push(var.as_tensor().detach().zeros_like()?);
            state.adam_v.push(var.as_tensor().detach().zeros_like()?);
        }
        Ok(state)
    }

    /// The state of `vars` as stored: EMA tensors `ema.<name>` from `ema`, moments
    /// `adam.m.<name>` and `adam.v.<name>` from `moments`.
    pub(crate) fn load(
        vars: &[(String, candle_core::Var)],
        ema: &TensorFile,
        moments: &TensorFile,
    ) -> Result<Self> {
        let mut state = TrainState {
            ema: vec![],
            adam_m: vec![],
            adam_v: vec![],
        };
        for (name, var) in vars {
            let like = var.as_tensor();
            state.ema.push(ema.take(&format!("{EMA}{name}"), like)?);
            state
                .adam_m
                .push(moments.take(&format!("{ADAM_M}{name}"), like)?);
            state
                .adam_v
                .push(moments.take(&format!("{ADAM_V}{name}"), like)?);
        }
        Ok(state)
    }

    /// The tensors to store for `vars` (same order as the state), on the CPU.
    pub(crate) fn to_tensors(&self, vars: &[(String, candle_core::Var)]) -> Result<StateTensors> {
        let mut out = StateTensors {
            raw: HashMap::with_capacity(vars.len()),
            ema: HashMap::with_capacity(vars.len()),
            moments: HashMap::with_capacity(2 * vars.len()),
        };
        for (i, (name, var)) in vars.iter().enumerate() {
            out.raw.insert(name.clone(), cpu(var.as_tensor())?);
            out.ema.insert(format!("{EMA}{name}"), cpu(&self.ema[i])?);
            out.moments
                .insert(format!("{ADAM_M}{name}"), cpu(&self.adam_m[i])?);
            out.moments
                .insert(format!("{ADAM_V}{name}"), cpu(&self.adam_v[i])?);
        }
        Ok(out)
    }
}

/// A training state's tensors by kind, named as in the files: raw weights `<name>`, EMA
/// weights `ema.<name>`, AdamW moments `adam.m.<name>` and `adam.v.<name>`.
pub(crate) struct StateTensors {
    pub raw: HashMap<String, Tensor>,
    pub ema: HashMap<String, Tensor>,
    pub moments: HashMap<String, Tensor>,
}

/// Reads and parses the JSON file `file` of `dir`; a missing file is a checkpoint error on
/// `dir` saying `missing`. Returns the file's path with its contents.
pub(crate) fn read_json<T: DeserializeOwned>(
    dir: &Path,
    file: &str,
    missing: impl FnOnce() -> String,
) -> Result<(PathBuf, T)> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::checkpoint(dir, missing())
        } else {
            Error::io(&path, e)
        }
    })?;
    let value = serde_json::from_str(&text)
        .map_err(|e| Error::checkpoint(&path, format!("malformed JSON: {e}")))?;
    Ok((path, value))
}

/// Reads `checkpoint.json` of the checkpoint `dir` (its current generation, see [`resolve`]).
///
/// # Errors
/// [`Error::Checkpoint`] when the folder has no checkpoint or the JSON is malformed.
pub fn read_meta(dir: &Path) -> Result<CheckpointMeta> {
    let (path, meta): (_, CheckpointMeta) = read_json(&resolve(dir), META_FILE, || {
        format!("no {META_FILE} here (not a checkpoint folder)")
    })?;
    check_format(&path, meta.format, FORMAT)?;
    check_model(&path, &meta.model)?;
    Ok(meta)
}

/// A JSON file's layout version `got` must be the one this build reads.
pub(crate) fn check_format(path: &Path, got: u32, want: u32) -> Result<()> {
    if got != want {
        return Err(Error::checkpoint(
            path,
            format!("format {got} (this build reads {want})"),
        ));
    }
    Ok(())
}

/// A JSON file's network configuration must be valid (reported against the file).
pub(crate) fn check_model(path: &Path, model: &EpsNetConfig) -> Result<()> {
    model
        .validate()
        .map_err(|e| Error::checkpoint(path, e.to_string()))
}

/// One safetensors file of a checkpoint, read for loading.
pub(crate) struct TensorFile {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl TensorFile {
    /// Reads `path` and checks that its step stamp is `want`, the step `meta_file` names.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the file is missing (message `file is missing`), corrupt,
    /// has no valid stamp or another step.
    pub(crate) fn open(path: PathBuf, device: &Device, want: u64, meta_file: &str) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::checkpoint(&path, "file is missing"));
        }
        let tensors = candle_core::safetensors::load(&path, device).map_err(|e| {
            Error::checkpoint(&path, format!("corrupt or truncated safetensors: {e}"))
        })?;
        let file = TensorFile { path, tensors };
        let got = file.step()?;
        if got != want {
            return Err(Error::checkpoint(
                &file.path,
                format!("holds step {got} but {meta_file} says {want} (interrupted write?)"),
            ));
        }
        Ok(file)
    }

    fn step(&self) -> Result<u64> {
        let path = &self.path;
        let t = self
            .tensors
            .get(STEP_TENSOR)
            .ok_or_else(|| Error::checkpoint(path, format!("no `{STEP_TENSOR}` tensor")))?;
        let v = t
            .to_dtype(DType::I64)
            .and_then(|t| t.flatten_all()?.to_vec1::<i64>())
            .map_err(|e| Error::checkpoint(path, format!("bad `{STEP_TENSOR}`: {e}")))?;
        match v.as_slice() {
            [s] if *s >= 0 => Ok(*s as u64),
            _ => Err(Error::checkpoint(
                path,
                format!("bad `{STEP_TENSOR}` {v:?}"),
            )),
        }
    }

    /// The tensor `name` as f32, which must have the shape of `like`.
    pub(crate) fn take(&self, name: &str, like: &Tensor) -> Result<Tensor> {
        let path = &self.path;
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| Error::checkpoint(path, format!("tensor `{name}` is missing")))?;
        if t.dims() != like.dims() {
            return Err(Error::checkpoint(
                path,
                format!(
                    "tensor `{name}` has shape {:?}, the configuration expects {:?}",
                    t.dims(),
                    like.dims()
                ),
            ));
        }
        Ok(t.to_dtype(DType::F32)?)
    }

    /// Sets every variable of `model` to this file's tensor of that name: the EMA weights
    /// (`ema.<name>`) or the raw ones (`<name>`).
    pub(crate) fn set_weights(&self, model: &Model, weights: Weights) -> Result<()> {
        for (name, var) in model.named_vars() {
            let key = match weights {
                Weights::Ema => format!("{EMA}{name}"),
                Weights::Raw => name,
            };
            var.set(&self.take(&key, var.as_tensor())?)?;
        }
        Ok(())
    }
}

/// Loads a checkpoint for inference: its metadata and a model holding the chosen weights.
/// `dir` is the checkpoint folder (its current generation is read, see [`resolve`]).
///
/// # Errors
/// [`Error::Checkpoint`] for a missing or corrupt folder, truncated safetensors, missing tensors
/// or tensors whose shape does not match the configuration.
pub fn load_model(
    dir: &Path,
    weights: Weights,
    device: &Device,
) -> Result<(CheckpointMeta, Model)> {
    let dir = resolve(dir);
    let meta = read_meta(&dir)?;
    let model = Model::new(&meta.model, 0, device)?;
    TensorFile::open(dir.join(MODEL_FILE), device, meta.step, META_FILE)?
        .set_weights(&model, weights)?;
    Ok((meta, model))
}

/// Loads everything `--resume` needs: model (raw weights), EMA and AdamW moments.
pub(crate) fn load_train_state(
    dir: &Path,
    device: &Device,
) -> Result<(CheckpointMeta, Model, TrainState)> {
    let dir = resolve(dir);
    let meta = read_meta(&dir)?;
    let model = Model::new(&meta.model, 0, device)?;
    let weights = TensorFile::open(dir.join(MODEL_FILE), device, meta.step, META_FILE)?;
    weights.set_weights(&model, Weights::Raw)?;
    let optim = TensorFile::open(dir.join(OPTIM_FILE), device, meta.step, META_FILE)?;
    let state = TrainState::load(&model.named_vars(), &weights, &optim)?;
    Ok((meta, model, state))
}

/// Writes `bytes`-producing `write` to a temporary file beside `path`, then renames it.
pub(crate) fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = path.with_file_name(format!(".{name}.tmp"));
    if let Err(e) = write(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Writes a whole training checkpoint as a new generation of `dir` (module docs).
pub(crate) fn save(
    dir: &Path,
    meta: &CheckpointMeta,
    model: &Model,
    state: &TrainState,
) -> Result<()> {
    let json = serde_json::to_string_pretty(meta).expect("checkpoint metadata always serialises");
    let StateTensors {
        raw: mut weights,
        ema,
        moments,
    } = state.to_tensors(&model.named_vars())?;
    weights.extend(ema);
    write_generation(
        dir,
        meta.step,
        vec![
            (META_FILE.to_string(), Content::Json(json)),
            (MODEL_FILE.to_string(), Content::Tensors(weights)),
            (OPTIM_FILE.to_string(), Content::Tensors(moments)),
        ],
    )?;
    Ok(())
}

fn cpu(t: &Tensor) -> Result<Tensor> {
    Ok(t.to_device(&Device::Cpu)?)
}

/// Name of the pointer file of a generation folder.
pub const CURRENT: &str = "CURRENT";
const GEN_PREFIX: &str = "gen-";
const PARTIAL: &str = ".partial";

/// One file of a generation.
pub(crate) enum Content {
    /// A JSON document (a newline is appended).
    Json(String),
    /// Tensors, saved as safetensors with the step stamp `kexue.step` added.
    Tensors(HashMap<String, Tensor>),
}

/// Every `gen-<step>` folder of `root` (no partial ones), by step.
fn generations(root: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut gens: Vec<(u64, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let digits = name.strip_prefix(GEN_PREFIX)?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((digits.parse::<u64>().ok()?, e.path()))
        })
        .filter(|(_, p)| p.is_dir())
        .collect();
    gens.sort();
    gens
}

/// The generation `CURRENT` of `root` names, when it holds every file of `files`.
fn current_generation(root: &Path, files: &[&str]) -> Option<PathBuf> {
    let name = std::fs::read_to_string(root.join(CURRENT)).ok()?;
    let name = name.trim();
    if !name.starts_with(GEN_PREFIX) || name.contains(['/', '\\']) {
        return None;
    }
    let g = root.join(name);
    files.iter().all(|f| g.join(f).is_file()).then_some(g)
}

/// The current generation of `root` whose folders hold `files`: the one `CURRENT` names, else
/// the newest complete `gen-*` folder; `None` when there is none.
pub(crate) fn resolve_generation(root: &Path, files: &[&str]) -> Option<PathBuf> {
    current_generation(root, files).or_else(|| {
        generations(root)
            .into_iter()
            .rev()
            .map(|(_, p)| p)
            .find(|p| files.iter().all(|f| p.join(f).is_file()))
    })
}

/// The folder holding the files of the checkpoint `dir`: its current generation (module docs),
/// else `dir` itself (the flat layout, or not a checkpoint at all: loading then says so).
pub fn resolve(dir: &Path) -> PathBuf {
    resolve_generation(dir, &[META_FILE, MODEL_FILE]).unwrap_or_else(|| dir.to_path_buf())
}

/// Whether `dir` holds a checkpoint (a complete generation or a flat `checkpoint.json`).
pub fn exists(dir: &Path) -> bool {
    resolve(dir).join(META_FILE).is_file()
}

fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

fn sync_dir(dir: &Path) {
    // Directory fsync makes the renames durable across power loss; not every platform can open
    // a directory, and a kill (the case this guards) does not need it.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `content` to `path` (new file, flushed to disk), with the permissions `mode` when
/// given (safetensors files are written through a 0600 temporary file).
fn write_content(
    path: &Path,
    step: u64,
    content: Content,
    mode: Option<&std::fs::Permissions>,
) -> Result<()> {
    match content {
        Content::Json(text) => {
            std::fs::write(path, format!("{text}\n")).map_err(|e| Error::io(path, e))?;
        }
        Content::Tensors(mut tensors) => {
            tensors.insert(
                STEP_TENSOR.to_string(),
                Tensor::new(&[step as i64], &Device::Cpu)?,
            );
            candle_core::safetensors::save(&tensors, path)
                .map_err(|e| Error::checkpoint(path, format!("cannot write: {e}")))?;
            if let Some(mode) = mode {
                std::fs::set_permissions(path, mode.clone()).map_err(|e| Error::io(path, e))?;
            }
        }
    }
    sync_file(path)
}

/// Saves `tensors` as a safetensors file at `path` with the mode a new file gets under the
/// process umask (candle writes through a 0600 temporary file).
///
/// # Errors
/// I/O errors.
pub(crate) fn save_safetensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mode = umask_mode(dir)?;
    candle_core::safetensors::save(tensors, path)
        .map_err(|e| Error::checkpoint(path, format!("cannot write: {e}")))?;
    std::fs::set_permissions(path, mode).map_err(|e| Error::io(path, e))
}

/// The permissions a new file in `dir` gets under the process umask.
fn umask_mode(dir: &Path) -> Result<std::fs::Permissions> {
    let probe = dir.join(".mode-probe");
    let file = std::fs::File::create(&probe).map_err(|e| Error::io(&probe, e))?;
    let mode = file
        .metadata()
        .map_err(|e| Error::io(&probe, e))?
        .permissions();
    drop(file);
    let _ = std::fs::remove_file(&probe);
    Ok(mode)
}

/// Writes generation `step` of `root` with `files` (module docs), points `CURRENT` at it and
/// removes generations older than the previous one. Returns the new generation's folder.
pub(crate) fn write_generation(
    root: &Path,
    step: u64,
    files: Vec<(String, Content)>,
) -> Result<PathBuf> {
    let name = format!("{GEN_PREFIX}{step:08}");
    let final_dir = root.join(&name);
    let partial = root.join(format!("{name}{PARTIAL}"));
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| Error::io(&p, e)
    };
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
    }
    std::fs::create_dir_all(&partial).map_err(io(&partial))?;
    let mode = umask_mode(&partial)?;
    let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    for (file, content) in files {
        write_content(&partial.join(file), step, content, Some(&mode))?;
    }
    sync_dir(&partial);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let previous = current_generation(root, &refs);
    if final_dir.exists() {
        if previous.as_deref() == Some(final_dir.as_path()) {
            return Err(Error::checkpoint(
                &final_dir,
                "is the current checkpoint and would be overwritten",
            ));
        }
        std::fs::remove_dir_all(&final_dir).map_err(io(&final_dir))?;
    }
    std::fs::rename(&partial, &final_dir).map_err(io(&final_dir))?;
    sync_dir(root);
    let tmp = root.join(format!("{CURRENT}.tmp"));
    std::fs::write(&tmp, format!("{name}\n")).map_err(io(&tmp))?;
    sync_file(&tmp)?;
    std::fs::rename(&tmp, root.join(CURRENT)).map_err(io(root))?;
    sync_dir(root);
    // Keep the new generation and the previous one; remove the rest and stray partials.
    for (_, p) in generations(root) {
        if p != final_dir && Some(&p) != previous.as_ref() {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.filter_map(|e| e.ok()) {
            let n = e.file_name();
            let n = n.to_string_lossy();
            if n.starts_with(GEN_PREFIX) && n.ends_with(PARTIAL) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(final_dir)
}
