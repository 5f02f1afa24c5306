//! Integration tests of `diffusion-nn` through its public API.

mod checkpoint;
mod cov;
mod data;
mod diffusers;
mod export;
mod fused;
mod imported;
mod support;
mod train;

use std::path::PathBuf;

use diffusion_nn::train::{ScheduleConfig, ScheduleKind, TrainConfig, TrainSetup};
use diffusion_nn::{EpsNetConfig, MlpConfig};

/// A fresh empty folder under the target dir's tmp (removed first if it exists).
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("diffusion-nn-it")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A tiny MLP on 2-D data with a short schedule: a few steps take milliseconds.
pub fn tiny_setup(steps: u64, checkpoint_every: u64) -> TrainSetup {
    TrainSetup {
        model: EpsNetConfig::Mlp(MlpConfig {
            dim: 2,
            hidden: 16,
            depth: 2,
            time_dim: 8,
        }),
        schedule: ScheduleConfig {
            kind: ScheduleKind::Linear,
            n_timesteps: 100,
        },
        train: TrainConfig {
            steps,
            batch_size: 32,
            checkpoint_every,
            warmup_steps: 2,
            ..TrainConfig::default()
        },
    }
}
