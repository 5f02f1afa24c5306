//! conv2d 3×3 / 1×1 (padding k/2, stride 1 or 2) as one candle op with hand-written
//! forward, input-gradient, kernel-gradient and bias-gradient kernels.
//!
//! (API first; the fused kernels follow. For now every call runs candle's conv2d.)

use candle_core::{Module, Result, Tensor};
use candle_nn::{Conv2dConfig, VarBuilder};

/// A 2-D convolution layer, a drop-in replacement for [`candle_nn::Conv2d`]: same constructor
/// arguments, same variable names (`weight` `[cout, cin, k, k]`, `bias` `[cout]`).
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    config: Conv2dConfig,
}

impl Conv2d {
    /// A layer from its kernel `[cout, cin/groups, k, k]`, optional bias `[cout]` and config.
    pub fn new(weight: Tensor, bias: Option<Tensor>, config: Conv2dConfig) -> Self {
        Conv2d {
            weight,
            bias,
            config,
        }
    }

    /// The kernel, `[cout, cin/groups, k, k]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `[cout]`.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The convolution's padding, stride, dilation and groups.
    pub fn config(&self) -> &Conv2dConfig {
        &self.config
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        if c.dilation == 1 && c.groups == 1 && c.cudnn_fwd_algo.is_none() {
            conv2d_op(x, &self.weight, self.bias.as_ref(), c.stride, c.padding)
        } else {
            candle_nn::Conv2d::new(self.weight.clone(), self.bias.clone(), *c).forward(x)
        }
    }
}

/// Creates a [`Conv2d`] with variables `weight` `[cout, cin/groups, k, k]` and `bias` `[cout]`
/// through `vb`, with the same initialisation hints as [`candle_nn::conv2d`].
///
/// # Errors
/// Candle errors from the var builder (e.g. a stored tensor of another shape).
pub fn conv2d(
    in_channels: usize,
    out_channels: usize,
    kernel_size: usize,
    cfg: Conv2dConfig,
    vb: VarBuilder,
) -> Result<Conv2d> {
    let inner = candle_nn::conv2d(in_channels, out_channels, kernel_size, cfg, vb)?;
    Ok(Conv2d::new(
        inner.weight().clone(),
        inner.bias().cloned(),
        cfg,
    ))
}

/// `conv2d(x, w) + b` with dilation 1 and one group: `x` `[B, cin, H, W]`, `w` `[cout, cin, k, k]`,
/// `b` `[cout]` → `[B, cout, H', W']` with `H' = (H + 2·padding − k)/stride + 1`.
///
/// Runs the fused kernels (with their backward pass) on contiguous f32 CPU tensors with
/// `k ∈ {1, 3}`, `padding = k/2`, `stride ∈ {1, 2}` while [`crate::enabled`]; anything else runs
/// candle's composed `conv2d` + `broadcast_add`, which gives the same numbers up to rounding.
///
/// # Errors
/// Candle shape errors when the shapes do not fit together.
pub fn conv2d_op(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    composed(x, w, b, stride, padding)
}

/// candle's composed convolution: the fallback and the reference of the tests.
fn composed(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let y = x.conv2d(w, padding, stride, 1, 1)?;
    match b {
        None => Ok(y),
        Some(b) => {
            let n = b.dims1()?;
            y.broadcast_add(&b.reshape((1, n, 1, 1))?)
        }
    }
}
