//! `config.json` of a diffusers `UNet2DModel`, parsed and checked against what
//! [`super::unet::UNet2D`] implements.
//!
//! Every field diffusers writes is read; a field this crate does not implement, or a value it
//! does not implement, is refused with [`crate::Error::Checkpoint`] naming the file, the field
//! and its value. Fields starting with `_` (`_class_name`, `_diffusers_version`, …) and fields
//! that do not change inference (`dropout`, `num_train_timesteps`) are accepted and ignored.

use std::path::Path;

use serde_json::{Map, Value};

use crate::{Error, Result};

/// The down-block types implemented.
pub const DOWN_BLOCKS: [&str; 3] = ["DownBlock2D", "AttnDownBlock2D", "ResnetDownsampleBlock2D"];
/// The up-block types implemented.
pub const UP_BLOCKS: [&str; 3] = ["UpBlock2D", "AttnUpBlock2D", "ResnetUpsampleBlock2D"];

/// How a down- or up-block changes resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resample {
    /// A stride-2 3×3 convolution down, nearest ×2 and a 3×3 convolution up.
    Conv,
    /// A ResNet block with average pooling (down) or nearest ×2 (up) inside.
    Resnet,
}

/// One level of the U-Net.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockKind {
    /// Self-attention after every ResNet block of the level.
    pub attention: bool,
    /// How the level changes resolution (when it does: not the last level down, not the last
    /// level up).
    pub resample: Resample,
}

/// How the time embedding enters a ResNet block (`resnet_time_scale_shift`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeShift {
    /// `default`: h = GroupNorm(conv1(…) + Linear(temb)).
    Default,
    /// `scale_shift`: h = GroupNorm(conv1(…))·(1 + s) + b with (s, b) = Linear(temb).
    ScaleShift,
}

/// A checked `UNet2DModel` configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct UNet2DConfig {
    /// Image height and width (`sample_size`; a number or `[h, w]`).
    pub sample_size: (usize, usize),
    /// Input channels.
    pub in_channels: usize,
    /// Output channels: `in_channels` (ε, v or x₀), or `2·in_channels` (learned variance).
    pub out_channels: usize,
    /// `center_input_sample`: the network first maps x to 2x − 1.
    pub center_input_sample: bool,
    /// `flip_sin_to_cos`: the time embedding is [cos, sin] instead of [sin, cos].
    pub flip_sin_to_cos: bool,
    /// `freq_shift`: frequencies exp(−ln(10⁴)·i/(half − freq_shift)).
    pub freq_shift: f64,
    /// Down levels (`down_block_types`).
    pub down: Vec<BlockKind>,
    /// Up levels (`up_block_types`, from the lowest resolution up).
    pub up: Vec<BlockKind>,
    /// Channels per level.
    pub block_out_channels: Vec<usize>,
    /// ResNet blocks per down level (up levels have one more).
    pub layers_per_block: usize,
    /// Output scale of the middle block's ResNets and attention.
    pub mid_block_scale_factor: f64,
    /// Padding of the stride-2 down convolution: 1, or 0 (then the input is padded by one zero
    /// row and column at the bottom and right first).
    pub downsample_padding: usize,
    /// Channels per attention head (`None`: one head over all channels).
    pub attention_head_dim: Option<usize>,
    /// GroupNorm groups.
    pub norm_num_groups: usize,
    /// Groups of the middle attention's GroupNorm (`None`: no norm there).
    pub mid_attn_groups: Option<usize>,
    /// GroupNorm ε.
    pub norm_eps: f64,
    /// How the time embedding enters the ResNets.
    pub time_shift: TimeShift,
    /// Whether the middle block has attention (`add_attention`).
    pub mid_attention: bool,
    /// Number of classes of a class-conditional model (`num_class_embeds`).
    pub num_class_embeds: Option<usize>,
}

impl UNet2DConfig {
    /// Reads and checks `config.json`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::Checkpoint`] naming the field and
    /// value of anything unsupported or inconsistent.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text, path)
    }

    /// Parses and checks the text of a `config.json` (`path` is only used in errors).
    ///
    /// # Errors
    /// As [`UNet2DConfig::from_file`].
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::checkpoint(path, format!("not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(Error::checkpoint(path, "expected a JSON object"));
        };
        Fields { map, path }.parse()
    }

    /// Width of the time embedding, 4·`block_out_channels[0]`.
    pub fn time_embed_dim(&self) -> usize {
        4 * self.block_out_channels[0]
    }

    /// Whether the second half of the output is a learned variance (`out_channels` =
    /// 2·`in_channels`).
    pub fn learned_variance(&self) -> bool {
        self.out_channels == 2 * self.in_channels
    }

    /// Length of one image row, `in_channels·height·width`.
    pub fn dim(&self) -> usize {
        self.in_channels * self.sample_size.0 * self.sample_size.1
    }

    /// Attention heads at a level of `channels` channels.
    pub fn heads(&self, channels: usize) -> usize {
        self.attention_head_dim.map_or(1, |d| channels / d)
    }
}

struct Fields<'a> {
    map: Map<String, Value>,
    path: &'a Path,
}

/// Fields read by [`Fields::parse`] or accepted without effect.
const KNOWN: [&str; 31] = [
    "sample_size",
    "in_channels",
    "out_channels",
    "center_input_sample",
    "time_embedding_type",
    "freq_shift",
    "flip_sin_to_cos",
    "down_block_types",
    "up_block_types",
    "mid_block_type",
    "block_out_channels",
    "layers_per_block",
    "mid_block_scale_factor",
    "downsample_padding",
    "downsample_type",
    "upsample_type",
    "dropout",
    "act_fn",
    "attention_head_dim",
    "norm_num_groups",
    "attn_norm_num_groups",
    "norm_eps",
    "resnet_time_scale_shift",
    "add_attention",
    "class_embed_type",
    "num_class_embeds",
    "num_train_timesteps",
    "attention_legacy_order",
    "resnet_skip_time_act",
    "resnet_out_scale_factor",
    "time_embedding_dim",
];

impl Fields<'_> {
    fn err(&self, field: &str, msg: impl std::fmt::Display) -> Error {
        let value = self
            .map
            .get(field)
            .map_or("missing".into(), |v| v.to_string());
        Error::checkpoint(self.path, format!("field `{field}` = {value}: {msg}"))
    }

    fn unsupported(&self, field: &str, supported: &str) -> Error {
        self.err(field, format!("not supported (supported: {supported})"))
    }

    /// The field's value, `None` when it is absent or null.
    fn get(&self, field: &str) -> Option<&Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn usize_or(&self, field: &str, default: usize) -> Result<usize> {
        match self.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| self.err(field, "expected a non-negative integer")),
        }
    }

    fn opt_usize(&self, field: &str) -> Result<Option<usize>> {
        self.get(field).map(|_| self.usize_or(field, 0)).transpose()
    }

    fn f64_or(&self, field: &str, default: f64) -> Result<f64> {
        match self.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| self.err(field, "expected a number")),
        }
    }

    fn bool_or(&self, field: &str, default: bool) -> Result<bool> {
        match self.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.err(field, "expected true or false")),
        }
    }

    fn str_or<'s>(&'s self, field: &str, default: &'s str) -> Result<&'s str> {
        match self.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_str()
                .ok_or_else(|| self.err(field, "expected a string")),
        }
    }

    /// Requires `field` to be `want` (or absent/null, meaning diffusers' default `want`).
    fn require_str(&self, field: &str, default: &str, want: &[&str]) -> Result<()> {
        let v = self.str_or(field, default)?;
        if want.contains(&v) {
            Ok(())
        } else {
            Err(self.unsupported(field, &want.join(", ")))
        }
    }

    fn strings(&self, field: &str, default: &[&str]) -> Result<Vec<String>> {
        match self.get(field) {
            None => Ok(default.iter().map(|s| s.to_string()).collect()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.err(field, "expected a list of strings"))
                })
                .collect(),
            Some(_) => Err(self.err(field, "expected a list of strings")),
        }
    }

    fn parse(self) -> Result<UNet2DConfig> {
        for key in self.map.keys() {
            if !key.starts_with('_') && !KNOWN.contains(&key.as_str()) {
                return Err(self.err(key, "unknown UNet2DModel field, not supported"));
            }
        }
        if let Some(class) = self.get("_class_name").and_then(Value::as_str)
            && class != "UNet2DModel"
        {
            return Err(self.unsupported("_class_name", "UNet2DModel"));
        }
        self.require_str("time_embedding_type", "positional", &["positional"])?;
        self.require_str("act_fn", "silu", &["silu", "swish"])?;
        self.require_str("mid_block_type", "UNetMidBlock2D", &["UNetMidBlock2D"])?;
        if self.get("class_embed_type").is_some() {
            return Err(self.unsupported("class_embed_type", "null (with num_class_embeds)"));
        }
        if self.bool_or("attention_legacy_order", false)? {
            return Err(self.unsupported("attention_legacy_order", "false"));
        }
        if self.bool_or("resnet_skip_time_act", false)? {
            return Err(self.unsupported("resnet_skip_time_act", "false"));
        }
        if self.f64_or("resnet_out_scale_factor", 1.0)? != 1.0 {
            return Err(self.unsupported("resnet_out_scale_factor", "1.0"));
        }
        if self.get("time_embedding_dim").is_some() {
            return Err(self.unsupported("time_embedding_dim", "null"));
        }
        let time_shift = match self.str_or("resnet_time_scale_shift", "default")? {
            "default" => TimeShift::Default,
            "scale_shift" => TimeShift::ScaleShift,
            _ => return Err(self.unsupported("resnet_time_scale_shift", "default, scale_shift")),
        };
        let resample = |field: &str| -> Result<Resample> {
            match self.str_or(field, "conv")? {
                "conv" => Ok(Resample::Conv),
                "resnet" => Ok(Resample::Resnet),
                _ => Err(self.unsupported(field, "conv, resnet")),
            }
        };
        let (down_type, up_type) = (resample("downsample_type")?, resample("upsample_type")?);

        let block_out_channels: Vec<usize> = match self.get("block_out_channels") {
            None => vec![224, 448, 672, 896],
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_u64().map(|n| n as usize))
                .collect::<Option<Vec<_>>>()
                .filter(|v| !v.is_empty() && !v.contains(&0))
                .ok_or_else(|| self.err("block_out_channels", "expected positive integers"))?,
            Some(_) => return Err(self.err("block_out_channels", "expected a list")),
        };
        let down_names = self.strings(
            "down_block_types",
            &[
                "DownBlock2D",
                "AttnDownBlock2D",
                "AttnDownBlock2D",
                "AttnDownBlock2D",
            ],
        )?;
        let up_names = self.strings(
            "up_block_types",
            &[
                "AttnUpBlock2D",
                "AttnUpBlock2D",
                "AttnUpBlock2D",
                "UpBlock2D",
            ],
        )?;
        let mut down = Vec::new();
        for (i, name) in down_names.iter().enumerate() {
            down.push(match name.as_str() {
                "DownBlock2D" => BlockKind {
                    attention: false,
                    resample: Resample::Conv,
                },
                "AttnDownBlock2D" => BlockKind {
                    attention: true,
                    resample: down_type,
                },
                "ResnetDownsampleBlock2D" => BlockKind {
                    attention: false,
                    resample: Resample::Resnet,
                },
                _ => {
                    return Err(self.err(
                        "down_block_types",
                        format!(
                            "block {i} `{name}` is not supported (supported: {})",
                            DOWN_BLOCKS.join(", ")
                        ),
                    ));
                }
            });
        }
        let mut up = Vec::new();
        for (i, name) in up_names.iter().enumerate() {
            up.push(match name.as_str() {
                "UpBlock2D" => BlockKind {
                    attention: false,
                    resample: Resample::Conv,
                },
                "AttnUpBlock2D" => BlockKind {
                    attention: true,
                    resample: up_type,
                },
                "ResnetUpsampleBlock2D" => BlockKind {
                    attention: false,
                    resample: Resample::Resnet,
                },
                _ => {
                    return Err(self.err(
                        "up_block_types",
                        format!(
                            "block {i} `{name}` is not supported (supported: {})",
                            UP_BLOCKS.join(", ")
                        ),
                    ));
                }
            });
        }
        if down.len() != block_out_channels.len() || up.len() != block_out_channels.len() {
            return Err(self.err(
                "block_out_channels",
                format!(
                    "{} levels, but {} down and {} up block types",
                    block_out_channels.len(),
                    down.len(),
                    up.len()
                ),
            ));
        }

        let sample_size = match self.get("sample_size") {
            Some(Value::Number(n)) => {
                let s = n
                    .as_u64()
                    .ok_or_else(|| self.err("sample_size", "expected a positive integer"))?
                    as usize;
                (s, s)
            }
            Some(Value::Array(a)) if a.len() == 2 => {
                let h = a[0].as_u64();
                let w = a[1].as_u64();
                match (h, w) {
                    (Some(h), Some(w)) => (h as usize, w as usize),
                    _ => return Err(self.err("sample_size", "expected [height, width]")),
                }
            }
            None => return Err(self.err("sample_size", "needed to know the image size")),
            Some(_) => return Err(self.err("sample_size", "expected an integer or [h, w]")),
        };
        let levels = block_out_channels.len();
        let scale = 1usize << (levels - 1);
        if sample_size.0 == 0
            || sample_size.1 == 0
            || !sample_size.0.is_multiple_of(scale)
            || !sample_size.1.is_multiple_of(scale)
        {
            return Err(self.err(
                "sample_size",
                format!("must be a positive multiple of 2^(levels − 1) = {scale}"),
            ));
        }

        let in_channels = self.usize_or("in_channels", 3)?;
        let out_channels = self.usize_or("out_channels", 3)?;
        if in_channels == 0 {
            return Err(self.err("in_channels", "must be ≥ 1"));
        }
        if out_channels != in_channels && out_channels != 2 * in_channels {
            return Err(self.err(
                "out_channels",
                format!("must be in_channels ({in_channels}) or 2·in_channels (learned variance)"),
            ));
        }
        let layers_per_block = self.usize_or("layers_per_block", 2)?;
        if layers_per_block == 0 {
            return Err(self.err("layers_per_block", "must be ≥ 1"));
        }
        let downsample_padding = self.usize_or("downsample_padding", 1)?;
        if downsample_padding > 1 {
            return Err(self.unsupported("downsample_padding", "0, 1"));
        }
        let norm_num_groups = self.usize_or("norm_num_groups", 32)?;
        for &c in &block_out_channels {
            if norm_num_groups == 0 || !c.is_multiple_of(norm_num_groups) {
                return Err(self.err(
                    "norm_num_groups",
                    format!("must divide every entry of block_out_channels (not {c})"),
                ));
            }
        }
        let attention_head_dim = self.opt_usize("attention_head_dim")?;
        if let Some(d) = attention_head_dim {
            for (&c, kind) in block_out_channels.iter().zip(&down) {
                if kind.attention && (d == 0 || !c.is_multiple_of(d)) {
                    return Err(self.err(
                        "attention_head_dim",
                        format!("must divide the channels of attention levels (not {c})"),
                    ));
                }
            }
        }
        let mid_attention = self.bool_or("add_attention", true)?;
        let mid_attn_groups = match self.opt_usize("attn_norm_num_groups")? {
            Some(g) => Some(g),
            None => match time_shift {
                TimeShift::Default => Some(norm_num_groups),
                TimeShift::ScaleShift => None,
            },
        };
        let mid_channels = *block_out_channels.last().expect("non-empty");
        if let Some(g) = mid_attn_groups
            && mid_attention
            && (g == 0 || !mid_channels.is_multiple_of(g))
        {
            return Err(self.err(
                "attn_norm_num_groups",
                format!("must divide {mid_channels} channels"),
            ));
        }
        if mid_attention
            && let Some(d) = attention_head_dim
            && !mid_channels.is_multiple_of(d)
        {
            return Err(self.err(
                "attention_head_dim",
                format!("must divide the middle block's {mid_channels} channels"),
            ));
        }
        let num_class_embeds = self.opt_usize("num_class_embeds")?;
        if num_class_embeds == Some(0) {
            return Err(self.err("num_class_embeds", "must be ≥ 1"));
        }
        let norm_eps = self.f64_or("norm_eps", 1e-5)?;
        if !(norm_eps > 0.0 && norm_eps.is_finite()) {
            return Err(self.err("norm_eps", "must be positive"));
        }
        let freq_shift = self.f64_or("freq_shift", 0.0)?;
        let half = block_out_channels[0] / 2;
        if half == 0 || freq_shift >= half as f64 {
            return Err(self.err(
                "freq_shift",
                format!("must be below half the embedding width {half}"),
            ));
        }
        Ok(UNet2DConfig {
            sample_size,
            in_channels,
            out_channels,
            center_input_sample: self.bool_or("center_input_sample", false)?,
            flip_sin_to_cos: self.bool_or("flip_sin_to_cos", true)?,
            freq_shift,
            down,
            up,
            layers_per_block,
            mid_block_scale_factor: self.f64_or("mid_block_scale_factor", 1.0)?,
            downsample_padding,
            attention_head_dim,
            norm_num_groups,
            mid_attn_groups,
            norm_eps,
            time_shift,
            mid_attention,
            num_class_embeds,
            block_out_channels,
        })
    }
}
