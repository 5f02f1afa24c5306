//! ε-networks: an MLP for low-dimensional data and a small U-Net for images.
//!
//! Both map a batch of flat rows x_t (shape `[B, d]`, f32) and one model time per row
//! (`t ∈ 1..=N`, the discrete time of spec §1) to ε̂ of the same shape. The time enters through a
//! sinusoidal embedding computed on the host (`sin(t·f_i), cos(t·f_i)` with
//! `f_i = 10000^{−i/half}`).
//!
//! | network | layers |
//! |---|---|
//! | [`MlpConfig`] | concat(x, sin_T(t)) → Linear(d+T→H) → SiLU → (depth−1)×(Linear(H→H) → SiLU) → Linear(H→d) |
//! | [`UnetConfig`] | conv3×3 in; per level two ResBlocks (GroupNorm→SiLU→conv3×3, + time bias, GroupNorm→SiLU→conv3×3, 1×1 skip when channels change) and a stride-2 conv down; mirrored up path with concatenated skips and nearest×2 + conv3×3 up; GroupNorm→SiLU→conv3×3 out |
//!
//! The reference shapes of the benchmark are [`MlpConfig::reference`] (215,042 parameters for
//! d=2) and [`UnetConfig::reference`] (599,297 parameters for 8×8×1).
//!
//! Weights are initialised from a seeded RNG (not candle's unseeded one), so a seed fixes the
//! whole training run: weight matrices and convolution kernels ~ U(−1/√fan_in, 1/√fan_in),
//! biases 0, GroupNorm scale 1 and shift 0.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Conv2dConfig, VarBuilder, VarMap};
use fused_ops::conv::Conv2d;
use fused_ops::linear::{Linear, linear, linear_silu};
use fused_ops::norm::{GroupNorm, group_norm_silu};
use fused_ops::shape::upsample_nearest2x;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use crate::diffusers::{UNet2D, UNet2DConfig};
use crate::{Error, Result};

/// Shapes of an ε-network (saved as JSON beside each checkpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EpsNetConfig {
    /// A multilayer perceptron on flat vectors.
    Mlp(MlpConfig),
    /// A U-Net on `channels × height × width` images (rows are flattened CHW).
    Unet(UnetConfig),
    /// diffusers' `UNet2DModel` ([`crate::diffusers::UNet2D`], the network kexue also imports)
    /// on `channels × height × width` images: exportable to diffusers.
    DiffusersUnet(DiffusersUnetConfig),
}

/// Shapes of a diffusers `UNet2DModel` ε-network: its diffusers `config.json` object, which
/// [`crate::diffusers::export`] writes as `unet/config.json`.
///
/// The network's output is ε̂ at diffusers timestep τ = t − 1 for kexue's time t (diffusers
/// counts τ from 0), so an exported folder runs under diffusers' schedulers unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffusersUnetConfig {
    /// Image channels.
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// The `UNet2DModel` configuration (diffusers' `config.json`).
    pub unet: serde_json::Value,
}

impl DiffusersUnetConfig {
    /// The default network for `channels × height × width` images: two levels (32, 64
    /// channels) for images up to 16 pixels a side, three (32, 64, 64) up to 28, four
    /// (32, 64, 128, 128) above; attention (heads of 32 channels) at the lowest resolution and
    /// in the middle block; two ResNets per level, GroupNorm(8), diffusers' positional time
    /// embedding (`flip_sin_to_cos`, `freq_shift` 0).
    ///
    /// | images | levels | parameters |
    /// |---|---|---|
    /// | 8×8×1 (digits) | 32, 64 | see `kexue diffusion train --net diffusers-unet` |
    /// | 28×28×1 (MNIST) | 32, 64, 64 | |
    /// | 32×32×3 (CIFAR-10) | 32, 64, 128, 128 | |
    ///
    /// # Errors
    /// [`Error::Config`] when the image size is not divisible by 2^(levels − 1).
    pub fn default_for(channels: usize, height: usize, width: usize) -> Result<Self> {
        let side = height.max(width);
        let channels_per_level: &[usize] = if side <= 16 {
            &[32, 64]
        } else if side <= 28 {
            &[32, 64, 64]
        } else {
            &[32, 64, 128, 128]
        };
        let levels = channels_per_level.len();
        let down: Vec<&str> = (0..levels)
            .map(|i| {
                if i + 1 == levels {
                    "AttnDownBlock2D"
                } else {
                    "DownBlock2D"
                }
            })
            .collect();
        let up: Vec<&str> = (0..levels)
            .map(|i| if i == 0 { "AttnUpBlock2D" } else { "UpBlock2D" })
            .collect();
        let sample_size = if height == width {
            serde_json::json!(height)
        } else {
            serde_json::json!([height, width])
        };
        let unet = serde_json::json!({
            "_class_name": "UNet2DModel",
            "sample_size": sample_size,
            "in_channels": channels,
            "out_channels": channels,
            "center_input_sample": false,
            "time_embedding_type": "positional",
            "freq_shift": 0,
            "flip_sin_to_cos": true,
            "down_block_types": down,
            "up_block_types": up,
            "block_out_channels": channels_per_level,
            "layers_per_block": 2,
            "mid_block_scale_factor": 1,
            "downsample_padding": 1,
            "downsample_type": "conv",
            "upsample_type": "conv",
            "dropout": 0.0,
            "act_fn": "silu",
            "attention_head_dim": 32,
            "norm_num_groups": 8,
            "attn_norm_num_groups": null,
            "norm_eps": 1e-5,
            "resnet_time_scale_shift": "default",
            "add_attention": true,
            "class_embed_type": null,
            "num_class_embeds": null
        });
        let config = DiffusersUnetConfig {
            channels,
            height,
            width,
            unet,
        };
        config.validate()?;
        Ok(config)
    }

    /// The network of a diffusers `config.json` text (a `UNet2DModel`), checked against images
    /// of `channels × height × width`.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] for an unsupported or malformed configuration (named by `path`);
    /// [`Error::Config`] when it does not fit the images or is not an unconditional ε-network.
    pub fn from_json(
        text: &str,
        path: &std::path::Path,
        channels: usize,
        height: usize,
        width: usize,
    ) -> Result<Self> {
        // Parse first so the error names the file and field.
        UNet2DConfig::from_json(text, path)?;
        let unet: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::checkpoint(path, format!("not valid JSON: {e}")))?;
        let config = DiffusersUnetConfig {
            channels,
            height,
            width,
            unet,
        };
        config.validate()?;
        Ok(config)
    }

    /// The parsed and checked `UNet2DModel` configuration.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] for an unsupported configuration.
    pub fn parse(&self) -> Result<UNet2DConfig> {
        UNet2DConfig::from_json(
            &self.unet.to_string(),
            std::path::Path::new("model.unet (diffusers config)"),
        )
    }

    /// Checks that the network is an unconditional ε-network for these images.
    ///
    /// # Errors
    /// [`Error::Config`] naming what does not fit.
    pub fn validate(&self) -> Result<()> {
        let c = self
            .parse()
            .map_err(|e| Error::config("unet", e.to_string()))?;
        let want = (self.channels, self.height, self.width);
        if (c.in_channels, c.sample_size.0, c.sample_size.1) != want {
            return Err(Error::config(
                "unet",
                format!(
                    "the network takes {}×{}×{} images (in_channels × sample_size), the data are \
                     {}×{}×{}",
                    c.in_channels, c.sample_size.0, c.sample_size.1, want.0, want.1, want.2
                ),
            ));
        }
        if c.out_channels != c.in_channels {
            return Err(Error::config(
                "unet",
                format!(
                    "out_channels {} must equal in_channels {} (kexue trains ε-prediction)",
                    c.out_channels, c.in_channels
                ),
            ));
        }
        if c.num_class_embeds.is_some() || c.center_input_sample {
            return Err(Error::config(
                "unet",
                "kexue trains unconditional networks without center_input_sample",
            ));
        }
        Ok(())
    }

    fn activations_per_row(&self) -> usize {
        let Ok(c) = self.parse() else {
            return 0;
        };
        let mut total = 4 * self.channels * self.height * self.width;
        let per_level = c.layers_per_block * 2 + 2;
        for (i, &ch) in c.block_out_channels.iter().enumerate() {
            let hw = (self.height >> i).max(1) * (self.width >> i).max(1);
            total += 4 * 8 * ch * hw * per_level;
            let attention = c.down.get(i).is_some_and(|k| k.attention)
                || (i + 1 == c.block_out_channels.len() && c.mid_attention);
            if attention {
                total += 3 * c.heads(ch) * hw * hw * per_level;
            }
        }
        total
    }
}

/// Shapes of the MLP ε-network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Data dimension d.
    pub dim: usize,
    /// Hidden width H.
    pub hidden: usize,
    /// Number of hidden Linear+SiLU layers (≥ 1).
    pub depth: usize,
    /// Width T of the sinusoidal time embedding (even).
    pub time_dim: usize,
}

impl MlpConfig {
    /// The benchmark's reference MLP: H=256, depth 4, T=64 (215,042 parameters for d=2).
    pub fn reference(dim: usize) -> Self {
        MlpConfig {
            dim,
            hidden: 256,
            depth: 4,
            time_dim: 64,
        }
    }
}

/// Shapes of the U-Net ε-network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnetConfig {
    /// Image channels (1 for grey, 3 for RGB).
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Channels of the first level.
    pub base_channels: usize,
    /// Channel multiplier per level; `len()` levels, one stride-2 down-sampling between levels.
    pub channel_mult: Vec<usize>,
    /// ResBlocks per level on the way down (the way up has the same number).
    pub num_res_blocks: usize,
    /// Width of the sinusoidal time embedding (even).
    pub time_dim: usize,
    /// Width of the time-embedding MLP output fed to every ResBlock.
    pub temb_dim: usize,
    /// GroupNorm groups (must divide every channel count).
    pub groups: usize,
}

impl UnetConfig {
    /// The benchmark's reference U-Net: base 32, levels ×1 and ×2, two ResBlocks per level,
    /// GroupNorm(8), time embedding 64 → 128 → 128 (599,297 parameters for 8×8×1).
    pub fn reference(channels: usize, height: usize, width: usize) -> Self {
        UnetConfig {
            channels,
            height,
            width,
            base_channels: 32,
            channel_mult: vec![1, 2],
            num_res_blocks: 2,
            time_dim: 64,
            temb_dim: 128,
            groups: 8,
        }
    }
}

/// Which ε-network a training run builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetKind {
    /// The U-Net for images, the MLP for vectors.
    Auto,
    /// The MLP.
    Mlp,
    /// The U-Net (image data only).
    Unet,
    /// diffusers' `UNet2DModel` with [`DiffusersUnetConfig::default_for`] (image data only).
    DiffusersUnet,
}

impl EpsNetConfig {
    /// The reference network of `kind` for rows of `shape`, with the MLP's `hidden` width and
    /// `depth`, or the U-Net's `base_channels`.
    ///
    /// # Errors
    /// [`Error::Config`] for a U-Net on vector data.
    pub fn for_data(
        kind: NetKind,
        shape: crate::data::DataShape,
        hidden: usize,
        depth: usize,
        base_channels: usize,
    ) -> Result<Self> {
        use crate::data::DataShape;
        Ok(match (kind, shape) {
            (
                NetKind::Auto | NetKind::Unet,
                DataShape::Image {
                    channels,
                    height,
                    width,
                },
            ) => EpsNetConfig::Unet(UnetConfig {
                base_channels,
                ..UnetConfig::reference(channels, height, width)
            }),
            (
                NetKind::DiffusersUnet,
                DataShape::Image {
                    channels,
                    height,
                    width,
                },
            ) => EpsNetConfig::DiffusersUnet(DiffusersUnetConfig::default_for(
                channels, height, width,
            )?),
            (NetKind::Unet | NetKind::DiffusersUnet, DataShape::Vector { .. }) => {
                return Err(Error::config(
                    "net",
                    "the U-Net needs image data; this is a vector data set",
                ));
            }
            (NetKind::Auto | NetKind::Mlp, _) => EpsNetConfig::Mlp(MlpConfig {
                hidden,
                depth,
                ..MlpConfig::reference(shape.dim())
            }),
        })
    }

    /// Data dimension d of one row.
    pub fn dim(&self) -> usize {
        match self {
            EpsNetConfig::Mlp(c) => c.dim,
            EpsNetConfig::Unet(c) => c.channels * c.height * c.width,
            EpsNetConfig::DiffusersUnet(c) => c.channels * c.height * c.width,
        }
    }

    /// A short name of the architecture for messages (`MLP`, `U-Net`, `diffusers U-Net`).
    pub fn label(&self) -> &'static str {
        match self {
            EpsNetConfig::Mlp(_) => "MLP",
            EpsNetConfig::Unet(_) => "U-Net",
            EpsNetConfig::DiffusersUnet(_) => "diffusers U-Net",
        }
    }

    /// Checks that the shapes are consistent.
    ///
    /// # Errors
    /// [`Error::Config`] naming the offending field.
    pub fn validate(&self) -> Result<()> {
        match self {
            EpsNetConfig::Mlp(c) => {
                if c.dim == 0 || c.hidden == 0 || c.depth == 0 {
                    return Err(Error::config("mlp", "dim, hidden and depth must be ≥ 1"));
                }
                check_time_dim(c.time_dim)
            }
            EpsNetConfig::Unet(c) => {
                if c.channels == 0 || c.height == 0 || c.width == 0 || c.base_channels == 0 {
                    return Err(Error::config(
                        "unet",
                        "channels, height, width, base must be ≥ 1",
                    ));
                }
                if c.channel_mult.is_empty() || c.channel_mult.contains(&0) {
                    return Err(Error::config(
                        "unet",
                        "channel_mult must be non-empty and positive",
                    ));
                }
                if c.num_res_blocks == 0 || c.temb_dim == 0 || c.groups == 0 {
                    return Err(Error::config(
                        "unet",
                        "num_res_blocks, temb_dim, groups must be ≥ 1",
                    ));
                }
                let scale = 1usize << (c.channel_mult.len() - 1);
                if c.height % scale != 0 || c.width % scale != 0 {
                    return Err(Error::config(
                        "unet",
                        format!(
                            "image {}×{} is not divisible by 2^{} (levels − 1)",
                            c.height,
                            c.width,
                            c.channel_mult.len() - 1
                        ),
                    ));
                }
                for (i, m) in c.channel_mult.iter().enumerate() {
                    let ch = m * c.base_channels;
                    let prev = if i == 0 {
                        c.base_channels
                    } else {
                        c.channel_mult[i - 1] * c.base_channels
                    };
                    for n in [ch, ch + prev, 2 * ch, c.base_channels] {
                        if n % c.groups != 0 {
                            return Err(Error::config(
                                "unet",
                                format!("{} groups do not divide {n} channels", c.groups),
                            ));
                        }
                    }
                }
                check_time_dim(c.time_dim)
            }
            EpsNetConfig::DiffusersUnet(c) => c.validate(),
        }
    }
}

impl EpsNetConfig {
    /// Number of scalar parameters, counted from the layer shapes without allocating them (so a
    /// too large configuration can be refused before it is built).
    ///
    /// # Errors
    /// As [`EpsNet::new`] for an invalid configuration.
    pub fn count_params(&self) -> Result<usize> {
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let backend = ShapeCounter(count.clone());
        let vb = VarBuilder::from_backend(Box::new(backend), DType::F32, Device::Cpu);
        EpsNet::new(self, vb)?;
        Ok(count.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// A rough count of the f32 values one training row keeps alive for the backward pass
    /// (every layer's output, ×4 for the intermediates of normalisation and activations,
    /// attention score matrices included): what the memory of a batch scales with.
    pub fn activations_per_row(&self) -> usize {
        match self {
            EpsNetConfig::Mlp(c) => 4 * (c.dim + c.time_dim + c.depth * c.hidden) + 4 * c.dim,
            EpsNetConfig::Unet(c) => {
                let mut total = 4 * c.channels * c.height * c.width;
                for (i, m) in c.channel_mult.iter().enumerate() {
                    let hw = (c.height >> i).max(1) * (c.width >> i).max(1);
                    total += 4 * 8 * m * c.base_channels * hw * (2 * c.num_res_blocks + 1);
                }
                total
            }
            EpsNetConfig::DiffusersUnet(c) => c.activations_per_row(),
        }
    }
}

/// The network of `--unet-config FILE`: a diffusers `UNet2DModel` `config.json` for images of
/// `shape` (`kind` must be [`NetKind::DiffusersUnet`] or [`NetKind::Auto`]).
///
/// # Errors
/// [`Error::Io`] reading the file; [`Error::Config`] for another network kind, vector data or a
/// configuration that does not fit the images; [`Error::Checkpoint`] naming an unsupported
/// field.
pub fn config_from_file(
    kind: NetKind,
    path: &std::path::Path,
    shape: crate::data::DataShape,
) -> Result<EpsNetConfig> {
    if !matches!(kind, NetKind::DiffusersUnet | NetKind::Auto) {
        return Err(Error::config(
            "net",
            "--unet-config describes a diffusers UNet2DModel: use it with --net diffusers-unet",
        ));
    }
    let crate::data::DataShape::Image {
        channels,
        height,
        width,
    } = shape
    else {
        return Err(Error::config(
            "net",
            "the U-Net needs image data; this is a vector data set",
        ));
    };
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(EpsNetConfig::DiffusersUnet(DiffusersUnetConfig::from_json(
        &text, path, channels, height, width,
    )?))
}

/// A var-builder backend that hands out broadcast zeros (no allocation) and sums the sizes.
struct ShapeCounter(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl candle_nn::var_builder::SimpleBackend for ShapeCounter {
    fn get(
        &self,
        s: candle_core::Shape,
        _: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.0
            .fetch_add(s.elem_count(), std::sync::atomic::Ordering::Relaxed);
        Tensor::zeros((), dtype, dev)?.broadcast_as(s)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("shape counter: `{name}` requested without a shape")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

fn check_time_dim(t: usize) -> Result<()> {
    if t == 0 || !t.is_multiple_of(2) {
        return Err(Error::config(
            "time_dim",
            format!("{t} must be even and ≥ 2"),
        ));
    }
    Ok(())
}

/// Sinusoidal embedding of the model times, shape `[t.len(), dim]`.
///
/// Row b is `[sin(t_b f_0), …, sin(t_b f_{h−1}), cos(t_b f_0), …]` with h = dim/2 and
/// `f_i = exp(−ln(10000)·i/h)`, computed in f64 and cast to f32.
///
/// # Errors
/// Only on device allocation failure.
pub fn sinusoidal_embedding(t: &[f64], dim: usize, device: &Device) -> Result<Tensor> {
    let half = dim / 2;
    let freqs: Vec<f64> = (0..half)
        .map(|i| (-(10000f64.ln()) * i as f64 / half as f64).exp())
        .collect();
    let row = |tb: f64, out: &mut Vec<f32>| {
        out.extend(freqs.iter().map(|f| (tb * f).sin() as f32));
        out.extend(freqs.iter().map(|f| (tb * f).cos() as f32));
    };
    let mut out: Vec<f32> = Vec::with_capacity(t.len() * dim);
    // Rows of integer times (all of training, discrete sampling) are cached process-wide: 2·half
    // f64 sin/cos per row would otherwise cost more than a layer of the MLP.
    let mut cache = EMBEDDING_CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for (b, &tb) in t.iter().enumerate() {
        if b > 0 && t[b - 1] == tb {
            out.extend_from_within((b - 1) * dim..b * dim);
        } else if tb.fract() == 0.0 && (0.0..=EMBEDDING_CACHE_MAX_T).contains(&tb) {
            let cached = cache.entry((dim, tb as u32)).or_insert_with(|| {
                let mut r = Vec::with_capacity(dim);
                row(tb, &mut r);
                r.into_boxed_slice()
            });
            out.extend_from_slice(cached);
        } else {
            row(tb, &mut out);
        }
    }
    drop(cache);
    Ok(Tensor::from_vec(out, (t.len(), dim), device)?)
}

/// Integer times up to this value have their embedding rows cached (at most 4097 rows per width).
const EMBEDDING_CACHE_MAX_T: f64 = 4096.0;

type EmbeddingCache = std::collections::HashMap<(usize, u32), Box<[f32]>>;

static EMBEDDING_CACHE: std::sync::LazyLock<std::sync::Mutex<EmbeddingCache>> =
    std::sync::LazyLock::new(Default::default);

/// The MLP ε-network.
#[derive(Debug)]
pub struct Mlp {
    config: MlpConfig,
    layers: Vec<Linear>,
}

impl Mlp {
    fn new(config: &MlpConfig, vb: VarBuilder) -> Result<Self> {
        let mut layers = Vec::with_capacity(config.depth + 1);
        let mut width = config.dim + config.time_dim;
        for k in 0..config.depth {
            layers.push(linear_silu(
                width,
                config.hidden,
                vb.pp(format!("layers.{k}")),
            )?);
            width = config.hidden;
        }
        layers.push(linear(
            width,
            config.dim,
            vb.pp(format!("layers.{}", config.depth)),
        )?);
        Ok(Mlp {
            config: config.clone(),
            layers,
        })
    }

    fn forward(&self, x: &Tensor, t: &[f64]) -> Result<Tensor> {
        let emb = sinusoidal_embedding(t, self.config.time_dim, x.device())?;
        let mut h = Tensor::cat(&[x, &emb], 1)?;
        // Hidden layers carry their SiLU (fused Linear+bias+SiLU); the last has none.
        for layer in &self.layers {
            h = layer.forward(&h)?;
        }
        Ok(h)
    }
}

fn conv3(cin: usize, cout: usize, stride: usize, vb: VarBuilder) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: 1,
        stride,
        ..Default::default()
    };
    Ok(fused_ops::conv::conv2d(cin, cout, 3, cfg, vb)?)
}

#[derive(Debug)]
struct ResBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    temb_proj: Linear,
    norm2: GroupNorm,
    conv2: Conv2d,
    skip: Option<Conv2d>,
}

impl ResBlock {
    fn new(cin: usize, cout: usize, temb: usize, groups: usize, vb: VarBuilder) -> Result<Self> {
        let skip = if cin == cout {
            None
        } else {
            Some(fused_ops::conv::conv2d(
                cin,
                cout,
                1,
                Default::default(),
                vb.pp("skip"),
            )?)
        };
        Ok(ResBlock {
            norm1: group_norm_silu(groups, cin, 1e-5, vb.pp("norm1"))?,
            conv1: conv3(cin, cout, 1, vb.pp("conv1"))?,
            temb_proj: linear(temb, cout, vb.pp("temb_proj"))?,
            norm2: group_norm_silu(groups, cout, 1e-5, vb.pp("norm2"))?,
            conv2: conv3(cout, cout, 1, vb.pp("conv2"))?,
            skip,
        })
    }

    /// `x`: `[B, cin, H, W]`; `temb_act`: SiLU of the time embedding, `[B, temb]`.
    fn forward(&self, x: &Tensor, temb_act: &Tensor) -> Result<Tensor> {
        // norm1/norm2 are GroupNorm+SiLU in one op.
        // The time bias and the skip are added in the convolutions' output passes at
        // inference; with tracked inputs `forward_add` is conv, broadcast_add, add.
        let bias = self.temb_proj.forward(temb_act)?;
        let h = self
            .conv1
            .forward_add(&self.norm1.forward(x)?, Some(&bias), None)?;
        let skip = match &self.skip {
            Some(conv) => conv.forward(x)?,
            None => x.clone(),
        };
        let h = self
            .conv2
            .forward_add(&self.norm2.forward(&h)?, None, Some(&skip))?;
        Ok(h)
    }
}

#[derive(Debug)]
struct Level {
    res: Vec<ResBlock>,
    /// Down: stride-2 conv after the blocks; up: conv after nearest×2 up-sampling.
    resample: Option<Conv2d>,
}

/// The U-Net ε-network.
#[derive(Debug)]
pub struct Unet {
    config: UnetConfig,
    temb1: Linear,
    temb2: Linear,
    conv_in: Conv2d,
    down: Vec<Level>,
    up: Vec<Level>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Unet {
    fn new(c: &UnetConfig, vb: VarBuilder) -> Result<Self> {
        let temb1 = linear_silu(c.time_dim, c.temb_dim, vb.pp("temb.0"))?;
        // temb.1's output is only used through its SiLU: fused into the layer.
        let temb2 = linear_silu(c.temb_dim, c.temb_dim, vb.pp("temb.1"))?;
        let conv_in = conv3(c.channels, c.base_channels, 1, vb.pp("conv_in"))?;
        let levels = c.channel_mult.len();
        let mut down = Vec::with_capacity(levels);
        let mut skips = Vec::new();
        let mut ch = c.base_channels;
        for (i, m) in c.channel_mult.iter().enumerate() {
            let out = m * c.base_channels;
            let vbl = vb.pp(format!("down.{i}"));
            let mut res = Vec::with_capacity(c.num_res_blocks);
            for j in 0..c.num_res_blocks {
                res.push(ResBlock::new(
                    ch,
                    out,
                    c.temb_dim,
                    c.groups,
                    vbl.pp(format!("res.{j}")),
                )?);
                ch = out;
                skips.push(ch);
            }
            let resample = if i + 1 < levels {
                Some(conv3(ch, ch, 2, vbl.pp("downsample"))?)
            } else {
                None
            };
            down.push(Level { res, resample });
        }
        let mut up = Vec::with_capacity(levels);
        for (i, m) in c.channel_mult.iter().enumerate().rev() {
            let out = m * c.base_channels;
            let vbl = vb.pp(format!("up.{i}"));
            let mut res = Vec::with_capacity(c.num_res_blocks);
            for j in 0..c.num_res_blocks {
                let skip = skips.pop().expect("one skip per down ResBlock");
                res.push(ResBlock::new(
                    ch + skip,
                    out,
                    c.temb_dim,
                    c.groups,
                    vbl.pp(format!("res.{j}")),
                )?);
                ch = out;
            }
            let resample = if i > 0 {
                Some(conv3(ch, ch, 1, vbl.pp("upsample"))?)
            } else {
                None
            };
            up.push(Level { res, resample });
        }
        let norm_out = group_norm_silu(c.groups, ch, 1e-5, vb.pp("norm_out"))?;
        let conv_out = conv3(ch, c.channels, 1, vb.pp("conv_out"))?;
        Ok(Unet {
            config: c.clone(),
            temb1,
            temb2,
            conv_in,
            down,
            up,
            norm_out,
            conv_out,
        })
    }

    fn forward(&self, x: &Tensor, t: &[f64]) -> Result<Tensor> {
        let c = &self.config;
        let b = x.dim(0)?;
        let emb = sinusoidal_embedding(t, c.time_dim, x.device())?;
        // SiLU(temb2(SiLU(temb1(emb)))): both SiLUs fused into their layers.
        let temb_act = self.temb2.forward(&self.temb1.forward(&emb)?)?;
        let mut h = self
            .conv_in
            .forward(&x.reshape((b, c.channels, c.height, c.width))?)?;
        let mut skips = Vec::new();
        for level in &self.down {
            for block in &level.res {
                h = block.forward(&h, &temb_act)?;
                skips.push(h.clone());
            }
            if let Some(conv) = &level.resample {
                h = conv.forward(&h)?;
            }
        }
        for level in &self.up {
            for block in &level.res {
                let skip = skips.pop().expect("one skip per down ResBlock");
                h = block.forward(&Tensor::cat(&[&h, &skip], 1)?, &temb_act)?;
            }
            if let Some(conv) = &level.resample {
                h = conv.forward(&upsample_nearest2x(&h)?)?;
            }
        }
        let h = self.conv_out.forward(&self.norm_out.forward(&h)?)?;
        Ok(h.reshape((b, c.channels * c.height * c.width))?)
    }
}

/// A built ε-network.
#[derive(Debug)]
pub enum EpsNet {
    /// See [`MlpConfig`].
    Mlp(Mlp),
    /// See [`UnetConfig`].
    Unet(Box<Unet>),
    /// See [`DiffusersUnetConfig`].
    DiffusersUnet(Box<UNet2D>),
}

impl EpsNet {
    /// Builds the network's layers, creating their variables through `vb`.
    ///
    /// # Errors
    /// [`Error::Config`] for inconsistent shapes; candle errors from the var builder.
    pub fn new(config: &EpsNetConfig, vb: VarBuilder) -> Result<Self> {
        config.validate()?;
        Ok(match config {
            EpsNetConfig::Mlp(c) => EpsNet::Mlp(Mlp::new(c, vb)?),
            EpsNetConfig::Unet(c) => EpsNet::Unet(Box::new(Unet::new(c, vb)?)),
            EpsNetConfig::DiffusersUnet(c) => {
                EpsNet::DiffusersUnet(Box::new(UNet2D::from_var_builder(&c.parse()?, vb)?))
            }
        })
    }

    /// ε̂(x_t, t).
    ///
    /// # Shapes
    /// `x_t`: `[B, d]` f32; `t`: `B` model times; output `[B, d]`.
    ///
    /// # Errors
    /// Candle shape errors when `x_t` does not have `d` columns or `t.len() != B`.
    pub fn forward(&self, x_t: &Tensor, t: &[f64]) -> Result<Tensor> {
        if x_t.dim(0)? != t.len() {
            return Err(Error::config(
                "time",
                format!("{} times for {} rows", t.len(), x_t.dim(0)?),
            ));
        }
        match self {
            EpsNet::Mlp(m) => m.forward(x_t, t),
            EpsNet::Unet(u) => u.forward(x_t, t),
            EpsNet::DiffusersUnet(u) => {
                let c = u.config();
                let (b, (h, w)) = (t.len(), c.sample_size);
                let x = x_t.reshape((b, c.in_channels, h, w))?;
                // kexue's time t is diffusers' timestep τ = t − 1.
                let tau: Vec<f64> = t.iter().map(|t| t - 1.0).collect();
                Ok(u.forward(&x, &tau, None)?
                    .reshape((b, c.in_channels * h * w))?)
            }
        }
    }
}

/// A network together with its variables (weights), on one device.
pub struct Model {
    config: EpsNetConfig,
    varmap: VarMap,
    net: EpsNet,
    /// The same layers on detached views of the same weight storage (so they see every update
    /// of the variables): nothing they compute is recorded for backpropagation, so inference
    /// keeps no activations alive and its intermediates are freed (and reused) at once.
    untracked: EpsNet,
    device: Device,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("config", &self.config)
            .field("device", &self.device)
            .finish()
    }
}

impl Model {
    /// Builds a network with weights drawn from a seeded RNG (see the module docs).
    ///
    /// # Errors
    /// [`Error::Config`] for inconsistent shapes; candle errors on allocation.
    pub fn new(config: &EpsNetConfig, seed: u64, device: &Device) -> Result<Self> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let net = EpsNet::new(config, vb)?;
        let detached: std::collections::HashMap<String, Tensor> = varmap
            .data()
            .lock()
            .expect("var map lock is never poisoned")
            .iter()
            .map(|(name, var)| (name.clone(), var.as_tensor().detach()))
            .collect();
        let untracked = EpsNet::new(
            config,
            VarBuilder::from_tensors(detached, DType::F32, device),
        )?;
        let model = Model {
            config: config.clone(),
            varmap,
            net,
            untracked,
            device: device.clone(),
        };
        model.reinit(seed)?;
        Ok(model)
    }

    fn reinit(&self, seed: u64) -> Result<()> {
        let mut rng = StdRng::seed_from_u64(seed);
        for (name, var) in self.named_vars() {
            if name.contains("norm") {
                continue; // GroupNorm: candle already sets scale 1, shift 0.
            }
            let dims = var.dims().to_vec();
            let n: usize = dims.iter().product();
            let values: Vec<f32> = if dims.len() >= 2 {
                let fan_in: usize = dims[1..].iter().product();
                let bound = 1.0 / (fan_in as f64).sqrt();
                (0..n)
                    .map(|_| rng.random_range(-bound..bound) as f32)
                    .collect()
            } else {
                vec![0.0; n]
            };
            var.set(&Tensor::from_vec(values, dims, &self.device)?)?;
        }
        Ok(())
    }

    /// The network's shapes.
    pub fn config(&self) -> &EpsNetConfig {
        &self.config
    }

    /// The network.
    pub fn net(&self) -> &EpsNet {
        &self.net
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Every variable with its name, sorted by name (the safetensors tensor names).
    pub fn named_vars(&self) -> Vec<(String, candle_core::Var)> {
        let data = self
            .varmap
            .data()
            .lock()
            .expect("var map lock is never poisoned");
        let mut vars: Vec<(String, candle_core::Var)> =
            data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// Number of scalar parameters.
    pub fn n_params(&self) -> usize {
        self.named_vars().iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// ε̂ for a batch; see [`EpsNet::forward`].
    ///
    /// # Errors
    /// As [`EpsNet::forward`].
    pub fn forward(&self, x_t: &Tensor, t: &[f64]) -> Result<Tensor> {
        self.net.forward(x_t, t)
    }

    /// ε̂ for a batch without recording anything for backpropagation (inference: sampling,
    /// likelihoods). Same numbers as [`Model::forward`]; the result is not connected to the
    /// variables, so no gradient flows from it.
    ///
    /// # Errors
    /// As [`EpsNet::forward`].
    pub fn forward_untracked(&self, x_t: &Tensor, t: &[f64]) -> Result<Tensor> {
        self.untracked.forward(&x_t.detach(), t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_parameter_counts() {
        let dev = Device::Cpu;
        let mlp = Model::new(&EpsNetConfig::Mlp(MlpConfig::reference(2)), 0, &dev).unwrap();
        assert_eq!(mlp.n_params(), 215_042);
        let unet =
            Model::new(&EpsNetConfig::Unet(UnetConfig::reference(1, 8, 8)), 0, &dev).unwrap();
        assert_eq!(unet.n_params(), 599_297);
    }

    #[test]
    fn forward_shapes_and_seeded_init() {
        let dev = Device::Cpu;
        let cfg = EpsNetConfig::Unet(UnetConfig::reference(1, 8, 8));
        let a = Model::new(&cfg, 7, &dev).unwrap();
        let b = Model::new(&cfg, 7, &dev).unwrap();
        let x = Tensor::ones((3, 64), DType::F32, &dev).unwrap();
        let t = [1.0, 500.0, 1000.0];
        let out = |m: &Model| -> Vec<f32> {
            m.forward(&x, &t)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let (ya, yb) = (out(&a), out(&b));
        assert_eq!(ya.len(), 192);
        assert_eq!(ya, yb, "same seed must give identical networks");
        let yc = out(&Model::new(&cfg, 8, &dev).unwrap());
        assert_ne!(ya, yc);
    }

    #[test]
    fn sinusoidal_embedding_cache_and_repeats_agree_with_direct_rows() {
        // Integer times come from the cache, fractional ones are computed, repeated times copy
        // the previous row: all must equal the closed form of each row.
        let t = [7.0, 7.0, 7.5, 4096.0, 4097.0, 7.0, 0.0];
        let e = sinusoidal_embedding(&t, 6, &Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let again = sinusoidal_embedding(&t, 6, &Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(e, again);
        for (row, &tb) in e.iter().zip(&t) {
            let f = [1.0, 10000f64.powf(-1.0 / 3.0), 10000f64.powf(-2.0 / 3.0)];
            let want: Vec<f32> = f
                .iter()
                .map(|f| (tb * f).sin() as f32)
                .chain(f.iter().map(|f| (tb * f).cos() as f32))
                .collect();
            for (g, w) in row.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-6, "t = {tb}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn sinusoidal_embedding_closed_form() {
        let e = sinusoidal_embedding(&[3.0], 4, &Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        // half = 2: f_0 = 1, f_1 = 10000^{-1/2} = 0.01.
        let want = [3f64.sin(), 0.03f64.sin(), 3f64.cos(), 0.03f64.cos()];
        for (g, w) in e[0].iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-6, "{g} vs {w}");
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let mut c = UnetConfig::reference(1, 9, 8);
        assert!(EpsNetConfig::Unet(c.clone()).validate().is_err());
        c.height = 8;
        c.groups = 7;
        assert!(EpsNetConfig::Unet(c).validate().is_err());
        let m = MlpConfig {
            dim: 2,
            hidden: 8,
            depth: 1,
            time_dim: 3,
        };
        assert!(EpsNetConfig::Mlp(m).validate().is_err());
    }
}
