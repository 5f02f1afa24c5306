//! Helpers shared by the training, checkpoint and covariance-head tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use diffusion_nn::checkpoint::{self, CheckpointMeta, Weights};
use diffusion_nn::data::Dataset;
use diffusion_nn::train::{Start, TrainConfig, TrainReport, TrainSetup, train};
use diffusion_nn::{Error, Model, Result};

use super::scratch;

/// Trains (or resumes) `setup` on `data` into `dir` on the CPU, without progress reports.
pub fn fit(setup: &TrainSetup, data: &Dataset, dir: &Path, start: Start) -> Result<TrainReport> {
    train(setup, data, dir, start, &Device::Cpu, &mut |_| {})
}

/// A fresh folder `name` holding a checkpoint of `setup` trained on `data`.
pub fn trained(name: &str, setup: &TrainSetup, data: &Dataset) -> PathBuf {
    let dir = scratch(name);
    fit(setup, data, &dir, Start::Fresh).unwrap();
    dir
}

/// The checkpoint in `dir` with its EMA weights, on the CPU.
pub fn load_ema(dir: &Path) -> (CheckpointMeta, Model) {
    checkpoint::load_model(dir, Weights::Ema, &Device::Cpu).unwrap()
}

/// Every tensor of a safetensors file (the `kexue.step` stamp included) as f32 bit patterns.
pub fn tensor_bits(path: &Path) -> HashMap<String, Vec<u32>> {
    let map: HashMap<String, Tensor> = candle_core::safetensors::load(path, &Device::Cpu).unwrap();
    map.into_iter()
        .map(|(k, t)| {
            let v = t.to_dtype(DType::F32).unwrap().flatten_all().unwrap();
            let bits = v
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .map(|x| x.to_bits())
                .collect();
            (k, bits)
        })
        .collect()
}

/// Fails unless the files `a` and `b` hold the same tensors, bit for bit.
pub fn assert_same_tensors(a: &Path, b: &Path) {
    let (ta, tb) = (tensor_bits(a), tensor_bits(b));
    assert_eq!(ta.len(), tb.len(), "{} vs {}", a.display(), b.display());
    for (name, va) in &ta {
        assert!(
            tb.get(name) == Some(va),
            "{}: tensor {name} differs from {}",
            a.display(),
            b.display()
        );
    }
}

/// Settings under which training blows up at once: Adam moves every weight by about lr per
/// step, and 1e30 overflows f32 activations (no warm-up, no clipping to soften it).
pub fn explode(cfg: &mut TrainConfig) {
    cfg.lr = 1e30;
    cfg.warmup_steps = 0;
    cfg.grad_clip = 0.0;
}

/// Checks that `err` is a non-finite-loss stop at a step ≥ 2 right after the last good
/// checkpoint (written every step), and returns that last good step.
pub fn last_good_after_nan(err: &Error) -> u64 {
    let Error::NonFiniteLoss {
        step, last_good, ..
    } = *err
    else {
        panic!("unexpected error {err}")
    };
    assert!(
        step >= 2 && last_good == step - 1,
        "step {step}, last good {last_good}"
    );
    assert!(err.to_string().contains("non-finite"), "{err}");
    last_good
}

/// Fails if `dir` holds a temporary file of an interrupted write.
pub fn assert_no_temp_files(dir: &Path) {
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.ends_with(".tmp") || n.ends_with(".partial")
        })
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}
