//! The configuration records a checkpoint stores (schedule, training hyper-parameters) and
//! the flags that may change them ([`TrainOverrides`]). Shared by [`crate::checkpoint`],
//! [`crate::train`] and [`crate::cov`], which import it and not each other's configs.

use serde::{Deserialize, Serialize};

pub use diffusion::ScheduleKind;

use crate::model::EpsNetConfig;
use crate::{Error, Result};

/// The forward process a network is trained for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleConfig {
    /// Shape of the β schedule.
    pub kind: ScheduleKind,
    /// Number of timesteps N.
    pub n_timesteps: usize,
}

impl ScheduleConfig {
    /// The paper's setting: linear, N = 1000.
    pub const LINEAR_1000: ScheduleConfig = ScheduleConfig {
        kind: ScheduleKind::Linear,
        n_timesteps: 1000,
    };

    /// Builds the schedule.
    ///
    /// # Errors
    /// The `diffusion` crate's validation errors (e.g. N = 0).
    pub fn build(&self) -> Result<diffusion::Schedule> {
        Ok(self.kind.build(self.n_timesteps)?)
    }
}

/// Training hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Total optimisation steps.
    pub steps: u64,
    /// Rows per batch B.
    pub batch_size: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// Linear learning-rate warm-up length in steps (0 = none).
    pub warmup_steps: u64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// AdamW β₁.
    pub beta1: f64,
    /// AdamW β₂.
    pub beta2: f64,
    /// AdamW ε.
    pub adam_eps: f64,
    /// EMA decay μ.
    pub ema_decay: f64,
    /// Maximum global gradient norm (≤ 0 disables clipping).
    pub grad_clip: f64,
    /// Seed of the initial weights and of every batch.
    pub seed: u64,
    /// Write a checkpoint every this many steps (and after the last step).
    pub checkpoint_every: u64,
}

impl Default for TrainConfig {
    /// Settings that train the digits U-Net in a few thousand steps on a CPU.
    fn default() -> Self {
        TrainConfig {
            steps: 2000,
            batch_size: 128,
            lr: 1e-3,
            warmup_steps: 100,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            adam_eps: 1e-8,
            ema_decay: 0.999,
            grad_clip: 1.0,
            seed: 0,
            checkpoint_every: 500,
        }
    }
}

impl TrainConfig {
    /// Parses a TOML file of training settings (any subset of the fields; the rest default).
    ///
    /// # Errors
    /// [`Error::Config`] for malformed TOML or unknown fields.
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::config("training config", e.to_string()))
    }

    /// Checks every field's domain.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &'static str, msg: String| Err(Error::config(what, msg));
        if self.steps == 0 {
            return bad("steps", "must be ≥ 1".to_string());
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be ≥ 1".to_string());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", format!("{} must be a positive number", self.lr));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", format!("{} must be ≥ 0", self.weight_decay));
        }
        for (what, v) in [
            ("beta1", self.beta1),
            ("beta2", self.beta2),
            ("ema_decay", self.ema_decay),
        ] {
            if !(0.0..1.0).contains(&v) {
                return bad(what, format!("{v} must be in [0, 1)"));
            }
        }
        if !(self.adam_eps.is_finite() && self.adam_eps > 0.0) {
            return bad("adam_eps", format!("{} must be positive", self.adam_eps));
        }
        if self.grad_clip.is_nan() {
            return bad("grad_clip", "NaN".to_string());
        }
        if self.checkpoint_every == 0 {
            return bad("checkpoint_every", "must be ≥ 1".to_string());
        }
        Ok(())
    }
}

/// Everything that defines a training run besides the data.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSetup {
    /// Network shapes.
    pub model: EpsNetConfig,
    /// Forward process.
    pub schedule: ScheduleConfig,
    /// Hyper-parameters.
    pub train: TrainConfig,
}

/// Training settings given on the command line (`None`: keep the configured value).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainOverrides {
    /// Total steps.
    pub steps: Option<u64>,
    /// Rows per batch.
    pub batch_size: Option<usize>,
    /// AdamW learning rate.
    pub lr: Option<f64>,
    /// Seed.
    pub seed: Option<u64>,
    /// Checkpoint cadence.
    pub checkpoint_every: Option<u64>,
    /// EMA decay.
    pub ema_decay: Option<f64>,
    /// Gradient clip.
    pub grad_clip: Option<f64>,
}

impl TrainOverrides {
    /// Sets every given value (a fresh run).
    pub fn apply(&self, train: &mut TrainConfig) {
        train.steps = self.steps.unwrap_or(train.steps);
        train.batch_size = self.batch_size.unwrap_or(train.batch_size);
        train.lr = self.lr.unwrap_or(train.lr);
        train.seed = self.seed.unwrap_or(train.seed);
        train.checkpoint_every = self.checkpoint_every.unwrap_or(train.checkpoint_every);
        train.ema_decay = self.ema_decay.unwrap_or(train.ema_decay);
        train.grad_clip = self.grad_clip.unwrap_or(train.grad_clip);
    }

    /// The settings of a resumed run of `what` (ε-network or covariance head alike), stored
    /// as `stored` at step `step`: `steps` (the new total, which must exceed `step`) and
    /// `checkpoint_every` apply; any other value must equal the stored one, since changing it
    /// would break bit-identical resumption.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first flag that differs from the stored setting, or a total
    /// of steps not above `step`.
    pub fn resume(&self, stored: &TrainConfig, step: u64, what: &str) -> Result<TrainConfig> {
        let mut train = stored.clone();
        self.apply_on_resume(&mut train)?;
        if train.steps <= step {
            return Err(Error::config(
                "steps",
                format!("{what} is already at step {step}; pass --steps above it to train further"),
            ));
        }
        Ok(train)
    }

    fn apply_on_resume(&self, train: &mut TrainConfig) -> Result<()> {
        let changed = |flag: &'static str, given: Option<String>, stored: String| match given {
            Some(v) if v != stored => Err(Error::config(
                "resume",
                format!(
                    "{flag} {v} differs from the checkpoint's {stored}; a resumed run keeps \
                     its settings (leave {flag} out, or start a new run)"
                ),
            )),
            _ => Ok(()),
        };
        changed(
            "--batch-size",
            self.batch_size.map(|v| v.to_string()),
            train.batch_size.to_string(),
        )?;
        changed("--lr", self.lr.map(|v| v.to_string()), train.lr.to_string())?;
        changed(
            "--seed",
            self.seed.map(|v| v.to_string()),
            train.seed.to_string(),
        )?;
        changed(
            "--ema-decay",
            self.ema_decay.map(|v| v.to_string()),
            train.ema_decay.to_string(),
        )?;
        changed(
            "--grad-clip",
            self.grad_clip.map(|v| v.to_string()),
            train.grad_clip.to_string(),
        )?;
        train.steps = self.steps.unwrap_or(train.steps);
        train.checkpoint_every = self.checkpoint_every.unwrap_or(train.checkpoint_every);
        Ok(())
    }
}
