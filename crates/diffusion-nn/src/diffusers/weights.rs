//! The tensors of `diffusion_pytorch_model.safetensors`, handed out by diffusers' names with
//! every missing, unexpected and mis-shaped tensor collected into one error.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::{Error, Result};

/// A name → tensor map that records which names the network asked for.
#[derive(Debug)]
pub(crate) struct Weights {
    map: HashMap<String, Tensor>,
    path: PathBuf,
    used: RefCell<BTreeSet<String>>,
    problems: RefCell<Vec<String>>,
    device: Device,
}

impl Weights {
    /// Reads a safetensors file onto `device` (every tensor converted to f32).
    pub(crate) fn load(path: &Path, device: &Device) -> Result<Self> {
        let map = candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| Error::checkpoint(path, format!("cannot read safetensors: {e}")))?;
        Self::from_map(map, path, device)
    }

    /// Wraps tensors already in memory (`path` names their source in errors).
    pub(crate) fn from_map(
        map: HashMap<String, Tensor>,
        path: &Path,
        device: &Device,
    ) -> Result<Self> {
        Ok(Weights {
            map,
            path: path.to_path_buf(),
            used: RefCell::new(BTreeSet::new()),
            problems: RefCell::new(Vec::new()),
            device: device.clone(),
        })
    }

    /// The tensor `name` of shape `shape` in f32 on the device. A missing or mis-shaped tensor
    /// is recorded (reported by [`Weights::finish`]) and zeros stand in for it, so that one
    /// pass over the network finds every problem.
    pub(crate) fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.get_any(&[name], shape)
    }

    /// As [`Weights::get`], trying each name in turn (the first is the current diffusers name,
    /// the others older spellings of the same tensor).
    pub(crate) fn get_any(&self, names: &[&str], shape: &[usize]) -> Result<Tensor> {
        let found = names.iter().find_map(|n| self.map.get(*n).map(|t| (*n, t)));
        let Some((name, t)) = found else {
            self.problems
                .borrow_mut()
                .push(format!("missing `{}` of shape {shape:?}", names[0]));
            return Ok(Tensor::zeros(shape, DType::F32, &self.device)?);
        };
        self.used.borrow_mut().insert(name.to_string());
        if t.dims() != shape {
            self.problems.borrow_mut().push(format!(
                "`{name}` has shape {:?}, expected {shape:?}",
                t.dims()
            ));
            return Ok(Tensor::zeros(shape, DType::F32, &self.device)?);
        }
        Ok(t.to_dtype(DType::F32)?.to_device(&self.device)?)
    }

    /// Number of scalar values in the tensors used so far.
    pub(crate) fn n_used_values(&self) -> usize {
        self.used
            .borrow()
            .iter()
            .map(|n| self.map[n].elem_count())
            .sum()
    }

    /// Succeeds when every tensor asked for was present with its shape and no tensor was left
    /// unused; otherwise one [`Error::Checkpoint`] listing every problem.
    pub(crate) fn finish(self) -> Result<()> {
        let used = self.used.into_inner();
        let mut problems = self.problems.into_inner();
        let mut unexpected: Vec<(&String, &Tensor)> = self
            .map
            .iter()
            .filter(|(k, _)| !used.contains(*k))
            .collect();
        unexpected.sort_by(|a, b| a.0.cmp(b.0));
        for (name, t) in unexpected {
            problems.push(format!("unexpected `{name}` of shape {:?}", t.dims()));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::checkpoint(
                &self.path,
                format!(
                    "the weights do not fit config.json ({} problems):\n  {}",
                    problems.len(),
                    problems.join("\n  ")
                ),
            ))
        }
    }
}
