//! diffusers' `UNet2DModel` in candle, built from a [`UNet2DConfig`] and loaded by diffusers'
//! tensor names.
//!
//! | part | layers (diffusers names) |
//! |---|---|
//! | time | sinusoidal embedding of τ (`time_proj`) → `time_embedding.linear_1` → SiLU → `time_embedding.linear_2` (+ `class_embedding[label]`) → SiLU, fed to every ResNet |
//! | in | `conv_in` 3×3 |
//! | down level i | `down_blocks.i.resnets.j` (+ `attentions.j`) for j < `layers_per_block`, then `downsamplers.0` (not on the last level) |
//! | middle | `mid_block.resnets.0`, `mid_block.attentions.0` (when `add_attention`), `mid_block.resnets.1` |
//! | up level i | `up_blocks.i.resnets.j` on [h, skip] (+ `attentions.j`) for j ≤ `layers_per_block`, then `upsamplers.0` (not on the last level) |
//! | out | `conv_norm_out` → SiLU → `conv_out` 3×3 |
//!
//! A ResNet (`ResnetBlock2D`) is GroupNorm → SiLU → [resample] → conv3×3 → time term →
//! GroupNorm → SiLU → conv3×3, plus the (1×1-projected, resampled) input, divided by its output
//! scale; the time term is a channel bias (`default`) or a scale and shift after the second
//! GroupNorm (`scale_shift`). Attention is GroupNorm → q, k, v (1×1) → softmax(qᵀk/√d) per head →
//! `to_out.0` (1×1) + input, divided by its output scale; the older names `query`, `key`,
//! `value`, `proj_attn` are read too.
//!
//! On the CPU the convolutions, GroupNorms (+SiLU), linear layers and nearest ×2 up-sampling run
//! through `fused-ops` (which falls back to candle's ops elsewhere); attention is three 1×1
//! convolutions, two batched matrix products and candle's softmax, with no transposed copies
//! (q, k, v of a head are laid out next to each other by the loader).

use candle_core::{Device, Module, Tensor};
use candle_nn::Conv2dConfig;
use fused_ops::conv::Conv2d;
use fused_ops::linear::{Activation, Linear};
use fused_ops::norm::GroupNorm;
use fused_ops::shape::upsample_nearest2x;

use super::config::{Resample, TimeShift, UNet2DConfig};
use super::weights::Weights;
use crate::{Error, Result};

/// Where the network's tensors come from, by diffusers name: a loaded file ([`Weights`]) or
/// trainable variables ([`VarSource`]).
pub(crate) trait Source {
    /// The tensor of the first name found in `names` (current name first, older spellings
    /// after), of shape `shape`.
    fn get_any(&self, names: &[&str], shape: &[usize]) -> Result<Tensor>;
    /// The tensor `name` of shape `shape`.
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.get_any(&[name], shape)
    }
    /// Number of scalar values handed out so far.
    fn n_used_values(&self) -> usize;
    /// Whether the tensors may change after construction (variables updated in place by an
    /// optimiser or a checkpoint load): then nothing may be precomputed from them.
    fn live(&self) -> bool;
}

impl Source for Weights {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        Weights::get(self, name, shape)
    }
    fn get_any(&self, names: &[&str], shape: &[usize]) -> Result<Tensor> {
        Weights::get_any(self, names, shape)
    }
    fn n_used_values(&self) -> usize {
        Weights::n_used_values(self)
    }
    fn live(&self) -> bool {
        false
    }
}

/// Tensors created (or looked up) through a candle [`candle_nn::VarBuilder`] under their
/// diffusers names: a trainable network whose variable names are the names of
/// `diffusion_pytorch_model.safetensors`. GroupNorm scales start at 1, everything else at 0
/// (the caller draws the initial weights).
pub(crate) struct VarSource<'a> {
    vb: candle_nn::VarBuilder<'a>,
    used: std::cell::Cell<usize>,
}

impl<'a> VarSource<'a> {
    pub(crate) fn new(vb: candle_nn::VarBuilder<'a>) -> Self {
        VarSource {
            vb,
            used: std::cell::Cell::new(0),
        }
    }
}

impl Source for VarSource<'_> {
    fn get_any(&self, names: &[&str], shape: &[usize]) -> Result<Tensor> {
        let name = names[0];
        let is_norm_scale = name.ends_with(".weight")
            && (name.contains(".norm") || name.contains("norm_out") || name.contains("group_norm"));
        let init = candle_nn::Init::Const(if is_norm_scale { 1.0 } else { 0.0 });
        self.used
            .set(self.used.get() + shape.iter().product::<usize>());
        Ok(self.vb.get_with_hints(shape, name, init)?)
    }
    fn n_used_values(&self) -> usize {
        self.used.get()
    }
    fn live(&self) -> bool {
        true
    }
}

fn conv(
    w: &dyn Source,
    p: &str,
    cin: usize,
    cout: usize,
    k: usize,
    cfg: Conv2dConfig,
) -> Result<Conv2d> {
    let weight = w.get(&format!("{p}.weight"), &[cout, cin, k, k])?;
    let bias = w.get(&format!("{p}.bias"), &[cout])?;
    Ok(Conv2d::new(weight, Some(bias), cfg))
}

fn conv3(w: &dyn Source, p: &str, cin: usize, cout: usize) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: 1,
        ..Default::default()
    };
    conv(w, p, cin, cout, 3, cfg)
}

fn linear(w: &dyn Source, p: &str, cin: usize, cout: usize, act: Activation) -> Result<Linear> {
    let weight = w.get(&format!("{p}.weight"), &[cout, cin])?;
    let bias = w.get(&format!("{p}.bias"), &[cout])?;
    Ok(Linear::new(weight, Some(bias)).with_activation(act))
}

fn norm(
    w: &dyn Source,
    p: &str,
    groups: usize,
    c: usize,
    eps: f64,
    act: Activation,
) -> Result<GroupNorm> {
    let weight = w.get(&format!("{p}.weight"), &[c])?;
    let bias = w.get(&format!("{p}.bias"), &[c])?;
    Ok(GroupNorm::new(weight, bias, groups, eps)?.with_activation(act))
}

/// Resolution change inside a ResNet block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    None,
    /// 2×2 average pooling of both branches.
    Down,
    /// Nearest ×2 of both branches.
    Up,
}

#[derive(Debug)]
struct Resnet {
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Linear,
    norm2: GroupNorm,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
    inner: Inner,
    shift: TimeShift,
    out_scale: f64,
}

impl Resnet {
    #[allow(clippy::too_many_arguments)]
    fn new(
        w: &dyn Source,
        p: &str,
        c: &UNet2DConfig,
        cin: usize,
        cout: usize,
        inner: Inner,
        out_scale: f64,
    ) -> Result<Self> {
        let (g, eps, temb) = (c.norm_num_groups, c.norm_eps, c.time_embed_dim());
        let (proj_out, norm2_act) = match c.time_shift {
            TimeShift::Default => (cout, Activation::Silu),
            TimeShift::ScaleShift => (2 * cout, Activation::Identity),
        };
        let shortcut = if cin != cout {
            Some(conv(
                w,
                &format!("{p}.conv_shortcut"),
                cin,
                cout,
                1,
                Default::default(),
            )?)
        } else {
            None
        };
        Ok(Resnet {
            norm1: norm(w, &format!("{p}.norm1"), g, cin, eps, Activation::Silu)?,
            conv1: conv3(w, &format!("{p}.conv1"), cin, cout)?,
            time_emb_proj: linear(
                w,
                &format!("{p}.time_emb_proj"),
                temb,
                proj_out,
                Activation::Identity,
            )?,
            norm2: norm(w, &format!("{p}.norm2"), g, cout, eps, norm2_act)?,
            conv2: conv3(w, &format!("{p}.conv2"), cout, cout)?,
            shortcut,
            inner,
            shift: c.time_shift,
            out_scale,
        })
    }

    /// `x` `[B, cin, H, W]`, `temb_act` = SiLU(emb) `[B, temb]`.
    fn forward(&self, x: &Tensor, temb_act: &Tensor) -> Result<Tensor> {
        let h = self.norm1.forward(x)?;
        let (x, h) = match self.inner {
            Inner::None => (x.clone(), h),
            Inner::Down => (x.avg_pool2d(2)?, h.avg_pool2d(2)?),
            Inner::Up => (upsample_nearest2x(x)?, upsample_nearest2x(&h)?),
        };
        let t = self.time_emb_proj.forward(temb_act)?;
        let h = match self.shift {
            TimeShift::Default => {
                self.norm2
                    .forward(&self.conv1.forward_add(&h, Some(&t), None)?)?
            }
            TimeShift::ScaleShift => {
                let cout = t.dim(1)? / 2;
                let scale = (t.narrow(1, 0, cout)? + 1.0)?.unsqueeze(2)?.unsqueeze(3)?;
                let shift = t.narrow(1, cout, cout)?.unsqueeze(2)?.unsqueeze(3)?;
                let h = self.norm2.forward(&self.conv1.forward(&h)?)?;
                candle_nn::ops::silu(&h.broadcast_mul(&scale)?.broadcast_add(&shift)?)?
            }
        };
        let skip = match &self.shortcut {
            Some(c) => c.forward(&x)?,
            None => x,
        };
        if self.out_scale == 1.0 {
            Ok(self.conv2.forward_add(&h, None, Some(&skip))?)
        } else {
            Ok(((self.conv2.forward(&h)? + skip)? / self.out_scale)?)
        }
    }
}

#[derive(Debug)]
struct Attention {
    norm: Option<GroupNorm>,
    /// q (pre-scaled by 1/√d), k, v as one 1×1 convolution, channels ordered head by head:
    /// [q_h, k_h, v_h] for h = 0..heads.
    qkv: Qkv,
    out: Conv2d,
    heads: usize,
    out_scale: f64,
}

/// The attention's q, k, v projection: fused once (fixed weights), or fused at every call from
/// the separate variables (live weights: training, or weights set after construction).
#[derive(Debug)]
enum Qkv {
    Fused(Conv2d),
    Live {
        /// (weight `[c, c]`, bias `[c]`) of q, k, v.
        parts: [(Tensor, Tensor); 3],
        heads: usize,
    },
}

/// One 1×1 convolution computing q·(1/√d), k, v, channels ordered head by head.
fn fuse_qkv(parts: &[(Tensor, Tensor); 3], heads: usize) -> Result<Conv2d> {
    let c = parts[0].1.dim(0)?;
    let d = c / heads;
    let scale = 1.0 / (d as f64).sqrt();
    let q = ((&parts[0].0 * scale)?, (&parts[0].1 * scale)?);
    let all = [&q, &parts[1], &parts[2]];
    let mut ws = Vec::with_capacity(3 * heads);
    let mut bs = Vec::with_capacity(3 * heads);
    for h in 0..heads {
        for (m, b) in all {
            ws.push(m.narrow(0, h * d, d)?);
            bs.push(b.narrow(0, h * d, d)?);
        }
    }
    let qkv_w = Tensor::cat(&ws, 0)?
        .reshape((3 * c, c, 1, 1))?
        .contiguous()?;
    Ok(Conv2d::new(
        qkv_w,
        Some(Tensor::cat(&bs, 0)?),
        Default::default(),
    ))
}

impl Attention {
    fn new(
        w: &dyn Source,
        p: &str,
        c: usize,
        heads: usize,
        groups: Option<usize>,
        eps: f64,
        out_scale: f64,
    ) -> Result<Self> {
        let norm = groups
            .map(|g| {
                norm(
                    w,
                    &format!("{p}.group_norm"),
                    g,
                    c,
                    eps,
                    Activation::Identity,
                )
            })
            .transpose()?;
        let get = |new: &str, old: &str, shape: &[usize]| {
            w.get_any(&[&format!("{p}.{new}"), &format!("{p}.{old}")], shape)
        };
        let parts = [
            (
                get("to_q.weight", "query.weight", &[c, c])?,
                get("to_q.bias", "query.bias", &[c])?,
            ),
            (
                get("to_k.weight", "key.weight", &[c, c])?,
                get("to_k.bias", "key.bias", &[c])?,
            ),
            (
                get("to_v.weight", "value.weight", &[c, c])?,
                get("to_v.bias", "value.bias", &[c])?,
            ),
        ];
        let qkv = if w.live() {
            Qkv::Live { parts, heads }
        } else {
            Qkv::Fused(fuse_qkv(&parts, heads)?)
        };
        let out_w = get("to_out.0.weight", "proj_attn.weight", &[c, c])?.reshape((c, c, 1, 1))?;
        let out_b = get("to_out.0.bias", "proj_attn.bias", &[c])?;
        Ok(Attention {
            norm,
            qkv,
            out: Conv2d::new(out_w, Some(out_b), Default::default()),
            heads,
            out_scale,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, hh, ww) = x.dims4()?;
        let n = hh * ww;
        let d = c / self.heads;
        let h = match &self.norm {
            Some(norm) => norm.forward(x)?,
            None => x.clone(),
        };
        // [B·heads, 3, d, HW]: per head, q, k and v as d × HW matrices.
        let qkv = match &self.qkv {
            Qkv::Fused(conv) => conv.forward(&h)?,
            Qkv::Live { parts, heads } => fuse_qkv(parts, *heads)?.forward(&h)?,
        };
        let qkv = qkv.reshape((b * self.heads, 3, d, n))?;
        let q = qkv.narrow(1, 0, 1)?.squeeze(1)?;
        let k = qkv.narrow(1, 1, 1)?.squeeze(1)?;
        let v = qkv.narrow(1, 2, 1)?.squeeze(1)?;
        // Scores [B·heads, HW (queries), HW (keys)] = qᵀk (q carries 1/√d).
        let scores = q.t()?.matmul(&k)?;
        // candle's fused last-dimension softmax has no backward pass: while training (tracked
        // scores) the composed one is used, which autograd differentiates.
        let p = if scores.track_op() {
            candle_nn::ops::softmax(&scores, candle_core::D::Minus1)?
        } else {
            candle_nn::ops::softmax_last_dim(&scores)?
        };
        // Output [B·heads, d, HW] = v·pᵀ: channel head·d + j, as diffusers splits heads.
        let o = v.matmul(&p.t()?)?.reshape((b, c, hh, ww))?;
        if self.out_scale == 1.0 {
            Ok(self.out.forward_add(&o, None, Some(x))?)
        } else {
            Ok(((self.out.forward(&o)? + x)? / self.out_scale)?)
        }
    }
}

#[derive(Debug)]
enum Down {
    /// Stride-2 3×3 convolution with padding 1, or 0 after a bottom/right zero pad.
    Conv(Conv2d, usize),
    Resnet(Box<Resnet>),
}

#[derive(Debug)]
enum Up {
    Conv(Conv2d),
    Resnet(Box<Resnet>),
}

#[derive(Debug)]
struct DownLevel {
    resnets: Vec<Resnet>,
    attentions: Vec<Attention>,
    down: Option<Down>,
}

#[derive(Debug)]
struct UpLevel {
    resnets: Vec<Resnet>,
    attentions: Vec<Attention>,
    up: Option<Up>,
}

/// A diffusers `UNet2DModel` with its weights, for inference.
#[derive(Debug)]
pub struct UNet2D {
    config: UNet2DConfig,
    conv_in: Conv2d,
    linear_1: Linear,
    linear_2: Linear,
    class_embedding: Option<Tensor>,
    down: Vec<DownLevel>,
    mid: (Resnet, Option<Attention>, Resnet),
    up: Vec<UpLevel>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    device: Device,
    n_params: usize,
}

impl UNet2D {
    /// Builds the network of `config` from `weights`; every tensor must be used and match.
    pub(crate) fn from_weights(config: &UNet2DConfig, w: Weights, device: &Device) -> Result<Self> {
        let net = Self::build(config, &w, device)?;
        w.finish()?;
        Ok(net)
    }

    /// Builds a trainable network of `config` whose weights are variables of `vb` named as in
    /// diffusers (`conv_in.weight`, `down_blocks.0.resnets.0.conv1.weight`, …): the network of
    /// a kexue ε-checkpoint with `"kind": "diffusers-unet"`. The weights may be changed in place
    /// after construction (optimiser steps, checkpoint loads); every forward pass uses them as
    /// they are then.
    ///
    /// # Errors
    /// Candle errors from the var builder (e.g. a tensor of another shape under a name).
    pub(crate) fn from_var_builder(
        config: &UNet2DConfig,
        vb: candle_nn::VarBuilder,
    ) -> Result<Self> {
        let device = vb.device().clone();
        Self::build(config, &VarSource::new(vb), &device)
    }

    fn build(config: &UNet2DConfig, w: &dyn Source, device: &Device) -> Result<Self> {
        let c = config;
        let boc = &c.block_out_channels;
        let levels = boc.len();
        let temb = c.time_embed_dim();
        let conv_in = conv3(w, "conv_in", c.in_channels, boc[0])?;
        let linear_1 = linear(w, "time_embedding.linear_1", boc[0], temb, Activation::Silu)?;
        // Without a class embedding to add, the SiLU every ResNet applies to the embedding is
        // fused into linear_2.
        let act2 = if c.num_class_embeds.is_some() {
            Activation::Identity
        } else {
            Activation::Silu
        };
        let linear_2 = linear(w, "time_embedding.linear_2", temb, temb, act2)?;
        let class_embedding = c
            .num_class_embeds
            .map(|n| w.get("class_embedding.weight", &[n, temb]))
            .transpose()?;

        let attention = |p: &str, ch: usize, groups: Option<usize>, scale: f64| {
            Attention::new(w, p, ch, c.heads(ch), groups, c.norm_eps, scale)
        };
        let mut down = Vec::with_capacity(levels);
        let mut out = boc[0];
        for (i, kind) in c.down.iter().enumerate() {
            let input = out;
            out = boc[i];
            let p = format!("down_blocks.{i}");
            let mut resnets = Vec::new();
            let mut attentions = Vec::new();
            for j in 0..c.layers_per_block {
                let cin = if j == 0 { input } else { out };
                resnets.push(Resnet::new(
                    w,
                    &format!("{p}.resnets.{j}"),
                    c,
                    cin,
                    out,
                    Inner::None,
                    1.0,
                )?);
                if kind.attention {
                    attentions.push(attention(
                        &format!("{p}.attentions.{j}"),
                        out,
                        Some(c.norm_num_groups),
                        1.0,
                    )?);
                }
            }
            let down_op = if i + 1 == levels {
                None
            } else {
                let q = format!("{p}.downsamplers.0");
                Some(match kind.resample {
                    Resample::Conv => {
                        let cfg = Conv2dConfig {
                            padding: c.downsample_padding,
                            stride: 2,
                            ..Default::default()
                        };
                        Down::Conv(
                            conv(w, &format!("{q}.conv"), out, out, 3, cfg)?,
                            c.downsample_padding,
                        )
                    }
                    Resample::Resnet => {
                        Down::Resnet(Box::new(Resnet::new(w, &q, c, out, out, Inner::Down, 1.0)?))
                    }
                })
            };
            down.push(DownLevel {
                resnets,
                attentions,
                down: down_op,
            });
        }

        let mc = boc[levels - 1];
        let ms = c.mid_block_scale_factor;
        let mid = (
            Resnet::new(w, "mid_block.resnets.0", c, mc, mc, Inner::None, ms)?,
            if c.mid_attention {
                Some(attention(
                    "mid_block.attentions.0",
                    mc,
                    c.mid_attn_groups,
                    ms,
                )?)
            } else {
                None
            },
            Resnet::new(w, "mid_block.resnets.1", c, mc, mc, Inner::None, ms)?,
        );

        let rev: Vec<usize> = boc.iter().rev().copied().collect();
        let mut up = Vec::with_capacity(levels);
        let mut out = rev[0];
        for (i, kind) in c.up.iter().enumerate() {
            let prev = out;
            out = rev[i];
            let input = rev[(i + 1).min(levels - 1)];
            let p = format!("up_blocks.{i}");
            let n = c.layers_per_block + 1;
            let mut resnets = Vec::new();
            let mut attentions = Vec::new();
            for j in 0..n {
                let skip = if j + 1 == n { input } else { out };
                let cin = if j == 0 { prev } else { out };
                resnets.push(Resnet::new(
                    w,
                    &format!("{p}.resnets.{j}"),
                    c,
                    cin + skip,
                    out,
                    Inner::None,
                    1.0,
                )?);
                if kind.attention {
                    attentions.push(attention(
                        &format!("{p}.attentions.{j}"),
                        out,
                        Some(c.norm_num_groups),
                        1.0,
                    )?);
                }
            }
            let up_op = if i + 1 == levels {
                None
            } else {
                let q = format!("{p}.upsamplers.0");
                Some(match kind.resample {
                    Resample::Conv => Up::Conv(conv3(w, &format!("{q}.conv"), out, out)?),
                    Resample::Resnet => {
                        Up::Resnet(Box::new(Resnet::new(w, &q, c, out, out, Inner::Up, 1.0)?))
                    }
                })
            };
            up.push(UpLevel {
                resnets,
                attentions,
                up: up_op,
            });
        }
        let norm_out = norm(
            w,
            "conv_norm_out",
            c.norm_num_groups,
            boc[0],
            c.norm_eps,
            Activation::Silu,
        )?;
        let conv_out = conv3(w, "conv_out", boc[0], c.out_channels)?;
        let n_params = w.n_used_values();
        Ok(UNet2D {
            config: c.clone(),
            conv_in,
            linear_1,
            linear_2,
            class_embedding,
            down,
            mid,
            up,
            norm_out,
            conv_out,
            device: device.clone(),
            n_params,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &UNet2DConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Number of scalar parameters (as diffusers counts them).
    pub fn n_params(&self) -> usize {
        self.n_params
    }

    /// The network's output for a batch at diffusers timesteps τ (0-based, one per image:
    /// kexue's time t is τ + 1) and, for a class-conditional model, one class label per image.
    ///
    /// # Shapes
    /// `x` `[B, in_channels, H, W]` f32 with (H, W) = `sample_size`; output
    /// `[B, out_channels, H, W]`.
    ///
    /// # Errors
    /// [`Error::Config`] when `timesteps` or `class_labels` do not have B entries, a label is
    /// out of range, labels are missing for a class-conditional model or given to an
    /// unconditional one; candle errors for an `x` of the wrong shape.
    pub fn forward(
        &self,
        x: &Tensor,
        timesteps: &[f64],
        class_labels: Option<&[u32]>,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (b, ch, h, w) = x.dims4()?;
        if (ch, h, w) != (c.in_channels, c.sample_size.0, c.sample_size.1) {
            return Err(Error::config(
                "input",
                format!(
                    "images of {ch}×{h}×{w}, the model takes {}×{}×{}",
                    c.in_channels, c.sample_size.0, c.sample_size.1
                ),
            ));
        }
        if timesteps.len() != b {
            return Err(Error::config(
                "time",
                format!("{} timesteps for {b} images", timesteps.len()),
            ));
        }
        let x = if c.center_input_sample {
            ((x * 2.0)? - 1.0)?
        } else {
            x.clone()
        };
        let t_emb = timestep_embedding(
            timesteps,
            c.block_out_channels[0],
            c.flip_sin_to_cos,
            c.freq_shift,
            &self.device,
        )?;
        let emb = self.linear_2.forward(&self.linear_1.forward(&t_emb)?)?;
        let temb_act = match (&self.class_embedding, class_labels) {
            (None, None) => emb,
            (Some(table), Some(labels)) => {
                let n = table.dim(0)?;
                if labels.len() != b {
                    return Err(Error::config(
                        "class",
                        format!("{} labels for {b} images", labels.len()),
                    ));
                }
                if let Some(&bad) = labels.iter().find(|&&l| l as usize >= n) {
                    return Err(Error::config(
                        "class",
                        format!("label {bad} is outside 0..{n}"),
                    ));
                }
                let idx = Tensor::from_slice(labels, b, &self.device)?;
                candle_nn::ops::silu(&(emb + table.index_select(&idx, 0)?)?)?
            }
            (Some(table), None) => {
                return Err(Error::config(
                    "class",
                    format!(
                        "the model is class-conditional ({} classes): give a class label",
                        table.dim(0)?
                    ),
                ));
            }
            (None, Some(_)) => {
                return Err(Error::config(
                    "class",
                    "the model is not class-conditional: give no class label",
                ));
            }
        };

        let mut h = self.conv_in.forward(&x)?;
        let mut skips = vec![h.clone()];
        for level in &self.down {
            for (j, resnet) in level.resnets.iter().enumerate() {
                h = resnet.forward(&h, &temb_act)?;
                if let Some(attn) = level.attentions.get(j) {
                    h = attn.forward(&h)?;
                }
                skips.push(h.clone());
            }
            match &level.down {
                None => {}
                Some(Down::Conv(conv, pad)) => {
                    if *pad == 0 {
                        h = h.pad_with_zeros(2, 0, 1)?.pad_with_zeros(3, 0, 1)?;
                    }
                    h = conv.forward(&h)?;
                    skips.push(h.clone());
                }
                Some(Down::Resnet(r)) => {
                    h = r.forward(&h, &temb_act)?;
                    skips.push(h.clone());
                }
            }
        }
        h = self.mid.0.forward(&h, &temb_act)?;
        if let Some(attn) = &self.mid.1 {
            h = attn.forward(&h)?;
        }
        h = self.mid.2.forward(&h, &temb_act)?;
        for level in &self.up {
            for (j, resnet) in level.resnets.iter().enumerate() {
                let skip = skips.pop().expect("one skip per down output");
                h = resnet.forward(&Tensor::cat(&[&h, &skip], 1)?, &temb_act)?;
                if let Some(attn) = level.attentions.get(j) {
                    h = attn.forward(&h)?;
                }
            }
            match &level.up {
                None => {}
                Some(Up::Conv(conv)) => h = conv.forward(&upsample_nearest2x(&h)?)?,
                Some(Up::Resnet(r)) => h = r.forward(&h, &temb_act)?,
            }
        }
        Ok(self.conv_out.forward(&self.norm_out.forward(&h)?)?)
    }
}

/// diffusers' `get_timestep_embedding` in f32, as PyTorch computes it: frequencies
/// f_i = exp(−ln(10⁴)·i/(half − shift)) and arguments τ·f_i rounded to f32 (so the embedding
/// matches to f32 rounding even at τ ≈ 1000, where an f64 argument would differ by ~1e-4),
/// then [sin, cos] or, with `flip`, [cos, sin]; an odd width gets a zero last column.
///
/// # Shapes
/// Output `[timesteps.len(), dim]`.
///
/// # Errors
/// Only on device allocation failure.
pub fn timestep_embedding(
    timesteps: &[f64],
    dim: usize,
    flip: bool,
    shift: f64,
    device: &Device,
) -> Result<Tensor> {
    let half = dim / 2;
    let ln = -(10000f64.ln() as f32);
    let denom = (half as f64 - shift) as f32;
    let freqs: Vec<f32> = (0..half)
        .map(|i| (((ln * i as f32) / denom) as f64).exp() as f32)
        .collect();
    let mut out = Vec::with_capacity(timesteps.len() * dim);
    for &t in timesteps {
        let args: Vec<f64> = freqs.iter().map(|&f| ((t as f32) * f) as f64).collect();
        let sin = args.iter().map(|a| a.sin() as f32);
        let cos = args.iter().map(|a| a.cos() as f32);
        if flip {
            out.extend(cos.chain(sin));
        } else {
            out.extend(sin.chain(cos));
        }
        if dim % 2 == 1 {
            out.push(0.0);
        }
    }
    Ok(Tensor::from_vec(out, (timesteps.len(), dim), device)?)
}
