//! The candle character tagger.
//!
//! ```text
//! ids [B, T] ─ Embedding(V, D) ─ mask ─ Conv1d(D→H, k = window) ─ ReLU ─ mask
//!            ─ Conv1d(H→4, k = out_window) ─ logits [B, T, 4]   (columns in `Tag::ALL` order)
//! ```
//!
//! Padding (id 0) positions are multiplied by 0 after each layer, so a sentence in a padded batch
//! sees exactly the zero padding it sees alone; this is what lets [`crate::infer::FastTagger`]
//! reproduce the model on unpadded runs of any length.
//! Receptive field: `±(window / 2 + out_window / 2)` characters.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, Embedding, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Shape of the tagger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaggerConfig {
    /// Number of ids (characters + padding + unknown).
    pub n_ids: usize,
    /// Character embedding dimension D.
    pub emb_dim: usize,
    /// Hidden channels H.
    pub hidden: usize,
    /// Width of the first convolution (odd).
    pub window: usize,
    /// Width of the output convolution (odd).
    pub out_window: usize,
}

impl TaggerConfig {
    /// Checks the shape.
    ///
    /// # Errors
    /// [`Error::Model`] for a zero size or an even window.
    pub fn validate(&self) -> Result<()> {
        if self.n_ids < 2 || self.emb_dim == 0 || self.hidden == 0 {
            return Err(Error::Model("tagger sizes must be positive".into()));
        }
        if self.window.is_multiple_of(2) || self.out_window.is_multiple_of(2) {
            return Err(Error::Model("convolution windows must be odd".into()));
        }
        Ok(())
    }
}

/// The candle tagger (used for training and as the reference for the fast CPU path).
#[derive(Debug, Clone)]
pub struct Tagger {
    emb: Embedding,
    conv1: Conv1d,
    conv2: Conv1d,
}

/// Names of the weights in `model.safetensors`.
pub mod names {
    /// Embedding table `[n_ids, emb_dim]`.
    pub const EMB: &str = "emb.weight";
    /// First convolution weight `[hidden, emb_dim, window]`.
    pub const W1: &str = "conv1.weight";
    /// First convolution bias `[hidden]`.
    pub const B1: &str = "conv1.bias";
    /// Output convolution weight `[4, hidden, out_window]`.
    pub const W2: &str = "conv2.weight";
    /// Output convolution bias `[4]`.
    pub const B2: &str = "conv2.bias";
}

impl Tagger {
    /// Creates (or loads, depending on `vb`) the tagger.
    ///
    /// # Errors
    /// Invalid config or missing/misshapen weights.
    pub fn new(cfg: &TaggerConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let emb = candle_nn::embedding(cfg.n_ids, cfg.emb_dim, vb.pp("emb"))?;
        let c1 = Conv1dConfig {
            padding: cfg.window / 2,
            ..Default::default()
        };
        let conv1 = candle_nn::conv1d(cfg.emb_dim, cfg.hidden, cfg.window, c1, vb.pp("conv1"))?;
        let c2 = Conv1dConfig {
            padding: cfg.out_window / 2,
            ..Default::default()
        };
        let conv2 = candle_nn::conv1d(cfg.hidden, 4, cfg.out_window, c2, vb.pp("conv2"))?;
        Ok(Tagger { emb, conv1, conv2 })
    }

    /// Logits for a batch of id sequences.
    ///
    /// # Shapes
    /// `ids: [B, T]` (u32, 0 = padding) → `[B, T, 4]` (f32).
    ///
    /// # Errors
    /// Candle errors (wrong dtype or rank).
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let mask = ids.ne(0u32)?.to_dtype(DType::F32)?.unsqueeze(1)?; // [B, 1, T]
        let x = self.emb.forward(ids)?.transpose(1, 2)?.contiguous()?; // [B, D, T]
        let x = x.broadcast_mul(&mask)?;
        let h = self.conv1.forward(&x)?.relu()?.broadcast_mul(&mask)?; // [B, H, T]
        let y = self.conv2.forward(&h)?; // [B, 4, T]
        Ok(y.transpose(1, 2)?.contiguous()?)
    }
}

/// Loads the weights of a saved model as a name → tensor map on the CPU.
///
/// # Errors
/// Malformed safetensors data.
pub fn load_weights(bytes: &[u8]) -> Result<std::collections::HashMap<String, Tensor>> {
    Ok(candle_core::safetensors::load_buffer(bytes, &Device::Cpu)?)
}
