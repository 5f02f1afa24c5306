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
//! Every file is written to a temporary name in the same folder and renamed into place, optimizer
//! first, weights second, JSON last; loading checks that the three steps agree, so an interrupted
//! write is detected instead of silently mixing two steps.

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

/// Reads `checkpoint.json`.
///
/// # Errors
/// [`Error::Checkpoint`] when the folder has no checkpoint or the JSON is malformed.
pub fn read_meta(dir: &Path) -> Result<CheckpointMeta> {
    let (path, meta): (_, CheckpointMeta) = read_json(dir, META_FILE, || {
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
///
/// # Errors
/// [`Error::Checkpoint`] for a missing or corrupt folder, truncated safetensors, missing tensors
/// or tensors whose shape does not match the configuration.
pub fn load_model(
    dir: &Path,
    weights: Weights,
    device: &Device,
) -> Result<(CheckpointMeta, Model)> {
    let meta = read_meta(dir)?;
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
    let meta = read_meta(dir)?;
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

pub(crate) fn save_tensors(path: &Path, tensors: HashMap<String, Tensor>) -> Result<()> {
    write_atomic(path, |tmp| {
        candle_core::safetensors::save(&tensors, tmp)
            .map_err(|e| Error::checkpoint(tmp, format!("cannot write: {e}")))
    })
}

/// Writes a whole training checkpoint atomically (see the module docs for the order).
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
    save_stamped(
        dir,
        meta.step,
        [(OPTIM_FILE, moments), (MODEL_FILE, weights)],
        META_FILE,
        &json,
    )
}

fn cpu(t: &Tensor) -> Result<Tensor> {
    Ok(t.to_device(&Device::Cpu)?)
}

/// Writes tensor files (in the given order, each stamped with `step`) and then the JSON
/// `meta_file`, every one through a temporary file and a rename: the JSON names a step only
/// once all its tensors are in place.
pub(crate) fn save_stamped<const K: usize>(
    dir: &Path,
    step: u64,
    files: [(&str, HashMap<String, Tensor>); K],
    meta_file: &str,
    json: &str,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let stamp = Tensor::new(&[step as i64], &Device::Cpu)?;
    for (name, mut tensors) in files {
        tensors.insert(STEP_TENSOR.to_string(), stamp.clone());
        save_tensors(&dir.join(name), tensors)?;
    }
    let text = format!("{json}\n");
    write_atomic(&dir.join(meta_file), |tmp| {
        std::fs::write(tmp, text).map_err(|e| Error::io(tmp, e))
    })
}
